//! `#[derive(ShadowCompare)]` from outside: paths and values of every shape, each field
//! attribute, the `Typed` comparator's verdicts, one experiment through the attribute, and
//! properties (equal values give no diff, one changed leaf gives exactly its path, tolerances are
//! symmetric, and the derive's paths are `Structural`'s on the same `Serialize` type).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parallel_run::structural::{Diff, Structural};
use parallel_run::typed::{self, Typed};
use parallel_run::{parallel_run, Comparator, Outcome, ShadowCompare, Verdict};
use proptest::prelude::*;
use serde::Serialize;

fn lines(d: &Diff) -> Vec<String> {
    d.entries.iter().map(ToString::to_string).collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, ShadowCompare)]
pub struct Line {
    sku: String,
    qty: u32,
    amount: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ShadowCompare)]
pub enum Status {
    Pending,
    Paid { at_ms: u64, by: String },
    Refunded(i64),
    Split(u8, u8),
}

#[derive(Debug, Clone, PartialEq, Serialize, ShadowCompare)]
pub struct Cents(i64);

#[derive(Debug, Clone, PartialEq, Serialize, ShadowCompare)]
pub struct Pair(u8, String);

#[derive(Debug, Clone, PartialEq, Serialize, ShadowCompare)]
pub struct Marker;

#[derive(Debug, Clone, PartialEq, Serialize, ShadowCompare)]
pub struct Invoice {
    id: u64,
    lines: Vec<Line>,
    status: Status,
    total: Cents,
    pair: Pair,
    marker: Marker,
    tags: BTreeSet<String>,
    fx: BTreeMap<String, f64>,
    note: Option<String>,
    r#type: Box<str>,
}

fn invoice() -> Invoice {
    Invoice {
        id: 7,
        lines: vec![
            Line {
                sku: "A".into(),
                qty: 1,
                amount: 10.0,
            },
            Line {
                sku: "B".into(),
                qty: 2,
                amount: 30.0,
            },
        ],
        status: Status::Paid {
            at_ms: 5,
            by: "card".into(),
        },
        total: Cents(4000),
        pair: Pair(1, "x".into()),
        marker: Marker,
        tags: ["a".to_owned(), "b".to_owned()].into(),
        fx: [("EUR".to_owned(), 1.0), ("USD".to_owned(), 1.1)].into(),
        note: None,
        r#type: "std".into(),
    }
}

#[test]
fn equal_values_have_no_diff() {
    assert!(typed::diff(&invoice(), &invoice()).is_empty());
    assert_eq!(Typed.compare(&invoice(), &invoice()), Verdict::Match);
}

#[test]
fn paths_of_every_shape() {
    let a = invoice();
    let mut b = invoice();
    b.lines[1].amount = 31.0;
    b.lines.push(Line {
        sku: "C".into(),
        qty: 1,
        amount: 1.5,
    });
    b.status = Status::Paid {
        at_ms: 6,
        by: "card".into(),
    };
    b.total = Cents(4001);
    b.pair.1 = "y".into();
    b.tags.insert("c".into());
    b.fx.insert("USD".into(), 1.2);
    b.note = Some("hi".into());
    b.r#type = "alt".into();
    assert_eq!(
        lines(&typed::diff(&a, &b)),
        [
            "$.lines[1].amount: 30.0 -> 31.0",
            r#"$.lines[2]: (missing) -> {"amount":1.5,"qty":1,"sku":"C"}"#,
            "$.status.Paid.at_ms: 5 -> 6",
            "$.total: 4000 -> 4001",
            r#"$.pair[1]: "x" -> "y""#,
            r#"$.tags.*: (missing) -> "c""#,
            "$.fx.USD: 1.1 -> 1.2",
            r#"$.note: null -> "hi""#,
            r#"$.type: "std" -> "alt""#,
        ]
    );
}

#[test]
fn enums_compare_variants_then_fields() {
    let d = |a: &Status, b: &Status| lines(&typed::diff(a, b));
    assert_eq!(
        d(&Status::Pending, &Status::Refunded(1)),
        [r#"$: "Pending" -> "Refunded""#]
    );
    assert_eq!(
        d(&Status::Refunded(1), &Status::Refunded(2)),
        ["$.Refunded: 1 -> 2"]
    );
    assert_eq!(
        d(&Status::Split(1, 2), &Status::Split(1, 3)),
        ["$.Split[1]: 2 -> 3"]
    );
    assert!(d(&Status::Pending, &Status::Pending).is_empty());
    // A whole variant value, where one side lacks it, is rendered as serde writes it.
    assert_eq!(
        lines(&typed::diff(
            &vec![Status::Pending],
            &vec![Status::Pending, Status::Split(1, 2)]
        )),
        [r#"$[1]: (missing) -> {"Split":[1,2]}"#]
    );
}

/// A type of another crate, without `ShadowCompare`.
mod foreign {
    #[derive(Debug, Clone, PartialEq)]
    pub struct Money {
        pub cents: i64,
        pub currency: &'static str,
    }
}

#[derive(Debug, Clone, ShadowCompare)]
pub struct Payment {
    id: u64,
    #[shadow(tolerance = 0.005)]
    fee: f64,
    #[shadow(relative = 1e-6)]
    rate: f64,
    #[shadow(tolerance = 1)]
    cents: Vec<i64>,
    #[shadow(within = "250ms")]
    processed_at: SystemTime,
    #[shadow(within = "1s")]
    latency: Duration,
    #[shadow(within = "2s")]
    settled_ms: u64,
    #[shadow(within = "1m")]
    stamp: String,
    #[shadow(ignore)]
    trace_id: String,
    #[shadow(unordered)]
    tags: Vec<String>,
    #[shadow(sensitive)]
    card: Option<String>,
    #[shadow(eq)]
    money: foreign::Money,
    #[shadow(trim)]
    name: String,
    #[shadow(nfc)]
    city: String,
}

fn payment() -> Payment {
    Payment {
        id: 1,
        fee: 1.0,
        rate: 1.0,
        cents: vec![100, 200],
        processed_at: UNIX_EPOCH + Duration::from_secs(1_795_773_600),
        latency: Duration::from_millis(10),
        settled_ms: 1_795_773_600_000,
        stamp: "2026-11-27T10:00:00Z".into(),
        trace_id: "t-1".into(),
        tags: vec!["a".into(), "b".into()],
        card: Some("4111 1111 1111 1111".into()),
        money: foreign::Money {
            cents: 5,
            currency: "EUR",
        },
        name: "Ada".into(),
        city: "Z\u{fc}rich".into(),
    }
}

#[test]
fn field_attributes_tolerate_ignore_and_mask() {
    let a = payment();
    let mut b = payment();
    b.fee = 1.004;
    b.rate = 1.000_000_5;
    b.cents = vec![101, 199];
    b.processed_at += Duration::from_millis(250);
    b.latency = Duration::from_millis(900);
    b.settled_ms += 2_000;
    b.stamp = "2026-11-27T11:00:59+01:00".into();
    b.trace_id = "t-2".into();
    b.tags = vec!["b".into(), "a".into()];
    b.name = "  Ada ".into();
    b.city = "Zu\u{308}rich".into();
    let d = typed::diff(&a, &b);
    assert!(d.entries.is_empty(), "{:?}", lines(&d));
    assert_eq!(
        d.tolerated,
        [
            "$.fee",
            "$.rate",
            "$.cents[0]",
            "$.cents[1]",
            "$.processed_at",
            "$.latency",
            "$.settled_ms",
            "$.stamp",
            "$.name",
            "$.city",
        ]
    );
    assert_eq!(d.ignored, ["$.trace_id"]);
    assert_eq!(
        Typed.compare(&a, &b),
        Verdict::acceptable(format!(
            "within tolerance at {}; ignored paths $.trace_id",
            d.tolerated.join(", ")
        ))
    );

    // Past every tolerance: entries, with the sensitive field masked and the `eq` field in Debug.
    let mut c = payment();
    c.fee = 1.006;
    c.processed_at += Duration::from_millis(251);
    c.settled_ms += 2_001;
    c.stamp = "2026-11-27T10:01:01Z".into();
    c.tags = vec!["b".into(), "c".into()];
    c.card = Some("4242 4242 4242 4242".into());
    c.money.cents = 6;
    c.name = "Bob".into();
    let got = lines(&typed::diff(&a, &c));
    assert_eq!(
        got,
        [
            "$.fee: 1.0 -> 1.006",
            r#"$.processed_at: "2026-11-27T10:00:00Z" -> "2026-11-27T10:00:00.251Z""#,
            "$.settled_ms: 1795773600000 -> 1795773602001",
            r#"$.stamp: "2026-11-27T10:00:00Z" -> "2026-11-27T10:01:01Z""#,
            r#"$.tags.*: "a" -> (missing)"#,
            r#"$.tags.*: (missing) -> "c""#,
            r#"$.card: "***" -> "***""#,
            r#"$.money: "Money { cents: 5, currency: \"EUR\" }" -> "Money { cents: 6, currency: \"EUR\" }""#,
            r#"$.name: "Ada" -> "Bob""#,
        ]
    );
    assert_eq!(Typed.compare(&a, &c), Verdict::mismatch(got.join("\n")));
    // Some against None under `sensitive`: both masked, the `null` too.
    c.card = None;
    assert!(lines(&typed::diff(&a, &c)).contains(&r#"$.card: "***" -> "***""#.to_owned()));
}

/// Options reach into nested derived types and containers; a field further down overrides them.
#[test]
fn options_are_inherited_and_overridden() {
    #[derive(ShadowCompare)]
    struct Inner {
        x: f64,
        #[shadow(tolerance = 0.5)]
        y: f64,
        #[shadow(ignore)]
        z: u8,
    }
    #[derive(ShadowCompare)]
    struct Outer {
        #[shadow(tolerance = 0.01)]
        items: Vec<Inner>,
        #[shadow(sensitive)]
        secret: Arc<Inner>,
    }
    let o = |x, y, z| Outer {
        items: vec![Inner { x, y, z }],
        secret: Arc::new(Inner { x, y, z }),
    };
    let d = typed::diff(&o(1.0, 1.0, 0), &o(1.005, 1.4, 1));
    // `secret` has no tolerance of its own; its `y` does.
    assert_eq!(lines(&d), [r#"$.secret.x: "***" -> "***""#]);
    assert_eq!(d.tolerated, ["$.items[0].x", "$.items[0].y", "$.secret.y"]);
    assert_eq!(d.ignored, ["$.items[0].z", "$.secret.z"]);
}

#[test]
fn generics_maps_and_tuples() {
    #[derive(Debug, ShadowCompare)]
    struct Keyed<K: Ord + std::fmt::Display, V>
    where
        V: Clone,
    {
        by_key: BTreeMap<K, V>,
        by_hash: HashMap<u32, (V, bool)>,
        _kind: std::marker::PhantomData<K>,
    }
    let k = |a: i64, b: i64| Keyed {
        by_key: [(3u8, a)].into(),
        by_hash: [(10, (b, true)), (2, (b, false))].into(),
        _kind: std::marker::PhantomData,
    };
    assert!(typed::diff(&k(1, 2), &k(1, 2)).is_empty());
    assert_eq!(
        lines(&typed::diff(&k(1, 2), &k(4, 5))),
        [
            "$.by_key.3: 1 -> 4",
            "$.by_hash.10[0]: 2 -> 5",
            "$.by_hash.2[0]: 2 -> 5"
        ]
    );

    #[derive(ShadowCompare)]
    struct Borrowed<'a, T: ?Sized + 'a> {
        name: &'a str,
        items: &'a [u8],
        value: &'a T,
    }
    let a = Borrowed::<str> {
        name: "a",
        items: &[1, 2],
        value: "v",
    };
    let b = Borrowed::<str> {
        name: "a",
        items: &[1, 3],
        value: "w",
    };
    assert_eq!(
        lines(&typed::diff(&a, &b)),
        ["$.items[1]: 2 -> 3", r#"$.value: "v" -> "w""#]
    );
}

#[test]
fn empty_and_single_variant_enums() {
    #[derive(ShadowCompare)]
    #[allow(dead_code)]
    enum Never {}
    #[derive(ShadowCompare)]
    enum One {
        Only { n: u8 },
    }
    assert_eq!(
        lines(&typed::diff(&One::Only { n: 1 }, &One::Only { n: 2 })),
        ["$.Only.n: 1 -> 2"]
    );
}

// ---------------------------------------------------------------------------------------------
// Through the attribute.

#[derive(Debug, Clone, ShadowCompare)]
pub struct Receipt {
    order: u64,
    #[shadow(tolerance = 0.005)]
    amount: f64,
    #[shadow(within = "250ms")]
    at_ms: u64,
}

#[parallel_run(candidate = settle_v2, compare = parallel_run::typed::Typed, name = "derive::settle")]
fn settle(order: u64) -> Receipt {
    Receipt {
        order,
        amount: 10.0,
        at_ms: 1_000,
    }
}

fn settle_v2(order: u64) -> Receipt {
    match order {
        0 => Receipt {
            order,
            amount: 10.0,
            at_ms: 1_000,
        }, // match
        1 => Receipt {
            order,
            amount: 10.001,
            at_ms: 1_100,
        }, // acceptable
        _ => Receipt {
            order,
            amount: 10.5,
            at_ms: 1_000,
        }, // mismatch
    }
}

#[test]
fn the_typed_comparator_through_the_attribute() {
    for order in 0..3 {
        assert_eq!(settle(order).order, order);
    }
    assert!(parallel_run::wait_idle(Duration::from_secs(10)));
    let s = parallel_run::snapshot::experiment("derive::settle").unwrap();
    assert_eq!(s.counts.get(Outcome::Match), 1);
    assert_eq!(s.counts.get(Outcome::Acceptable), 1);
    assert_eq!(s.counts.get(Outcome::Mismatch), 1);
    assert_eq!(s.discrepancies[0].detail, "$.amount: 10.0 -> 10.5");
}

// ---------------------------------------------------------------------------------------------
// Properties.

#[derive(Debug, Clone, PartialEq, Serialize, ShadowCompare)]
pub struct Shape {
    id: u32,
    name: String,
    flag: bool,
    lines: Vec<Line>,
    totals: BTreeMap<String, i64>,
    maybe: Option<Cents>,
    pair: (i32, String),
    status: Status,
}

fn line() -> impl Strategy<Value = Line> {
    ("[A-C]{1,2}", 0u32..5, -100i32..100).prop_map(|(sku, qty, c)| Line {
        sku,
        qty,
        amount: f64::from(c) / 4.0,
    })
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Pending),
        (0u64..9, "[a-c]{0,2}").prop_map(|(at_ms, by)| Status::Paid { at_ms, by }),
        (-9i64..9).prop_map(Status::Refunded),
        (0u8..3, 0u8..3).prop_map(|(a, b)| Status::Split(a, b)),
    ]
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        any::<u32>(),
        "[a-z]{0,4}",
        any::<bool>(),
        proptest::collection::vec(line(), 0..4),
        proptest::collection::btree_map("[a-d]", -9i64..9, 0..4),
        proptest::option::of(any::<i64>().prop_map(Cents)),
        (any::<i32>(), "[xy]{0,2}"),
        status(),
    )
        .prop_map(
            |(id, name, flag, lines, totals, maybe, pair, status)| Shape {
                id,
                name,
                flag,
                lines,
                totals,
                maybe,
                pair,
                status,
            },
        )
}

/// Changes one leaf of `s`, picked by `pick`, and returns its path.
fn change_one_leaf(s: &mut Shape, pick: prop::sample::Index) -> String {
    let mut leaves: Vec<String> = vec![
        "$.id".into(),
        "$.name".into(),
        "$.flag".into(),
        "$.pair[0]".into(),
        "$.pair[1]".into(),
        "$.maybe".into(),
    ];
    for i in 0..s.lines.len() {
        for f in ["sku", "qty", "amount"] {
            leaves.push(format!("$.lines[{i}].{f}"));
        }
    }
    leaves.extend(s.totals.keys().map(|k| format!("$.totals.{k}")));
    match &s.status {
        Status::Paid { .. } => {
            leaves.extend(["$.status.Paid.at_ms".into(), "$.status.Paid.by".into()])
        }
        Status::Refunded(_) => leaves.push("$.status.Refunded".into()),
        Status::Split(..) => {
            leaves.extend(["$.status.Split[0]".into(), "$.status.Split[1]".into()])
        }
        Status::Pending => {}
    }
    let path = pick.get(&leaves).clone();
    let rest = path.strip_prefix("$.").unwrap();
    match rest {
        "id" => s.id = s.id.wrapping_add(1),
        "name" => s.name.push('!'),
        "flag" => s.flag = !s.flag,
        "pair[0]" => s.pair.0 = s.pair.0.wrapping_add(1),
        "pair[1]" => s.pair.1.push('!'),
        "maybe" => s.maybe = Some(Cents(s.maybe.as_ref().map_or(0, |c| c.0.wrapping_add(1)))),
        "status.Paid.at_ms" | "status.Paid.by" | "status.Refunded" | "status.Split[0]"
        | "status.Split[1]" => match &mut s.status {
            Status::Paid { at_ms, .. } if rest.ends_with("at_ms") => *at_ms += 1,
            Status::Paid { by, .. } => by.push('!'),
            Status::Refunded(n) => *n += 1,
            Status::Split(a, _) if rest.ends_with("[0]") => *a += 1,
            Status::Split(_, b) => *b += 1,
            Status::Pending => unreachable!(),
        },
        _ if rest.starts_with("totals.") => {
            *s.totals.get_mut(&rest["totals.".len()..]).unwrap() += 1;
        }
        _ => {
            let i: usize = rest["lines[".len()..rest.find(']').unwrap()]
                .parse()
                .unwrap();
            let line = &mut s.lines[i];
            match &rest[rest.find('.').unwrap() + 1..] {
                "sku" => line.sku.push('!'),
                "qty" => line.qty += 1,
                _ => line.amount += 1.0,
            }
        }
    }
    path
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

proptest! {
    #[test]
    fn prop_equal_values_give_no_diff(s in shape()) {
        prop_assert!(typed::diff(&s, &s.clone()).is_empty());
    }

    #[test]
    fn prop_one_changed_leaf_gives_exactly_its_path(s in shape(), pick in any::<prop::sample::Index>()) {
        let mut t = s.clone();
        let path = change_one_leaf(&mut t, pick);
        let d = typed::diff(&s, &t);
        prop_assert_eq!(d.entries.len(), 1, "{:?}", lines(&d));
        prop_assert_eq!(&d.entries[0].path, &path);
    }

    #[test]
    fn prop_tolerance_is_symmetric(a in -1e6f64..1e6, b in -1e6f64..1e6, abs in 0f64..10.0, rel in 0f64..0.1) {
        use parallel_run::typed::{At, Sink};
        let at = At::root().tolerance(abs, rel);
        let run = |x: f64, y: f64| {
            let mut d = Diff::default();
            x.shadow_diff(&y, &at, &mut Sink::new(&mut d));
            d
        };
        let (ab, ba) = (run(a, b), run(b, a));
        prop_assert_eq!(ab.entries.len(), ba.entries.len());
        prop_assert_eq!(ab.tolerated, ba.tolerated);
    }

    #[test]
    fn prop_derived_tolerance_is_symmetric(a in -1e3f64..1e3, b in -1e3f64..1e3) {
        #[derive(Debug, ShadowCompare)]
        struct T { #[shadow(tolerance = 0.5, relative = 0.001)] x: f64 }
        let (ab, ba) = (typed::diff(&T { x: a }, &T { x: b }), typed::diff(&T { x: b }, &T { x: a }));
        prop_assert_eq!(ab.entries.len(), ba.entries.len());
        prop_assert_eq!(ab.tolerated, ba.tolerated);
    }

    /// Where both report one difference per changed leaf, the derive and `Structural` name the
    /// same paths (variant changes aside, which the derive reports as one entry by design).
    #[test]
    fn prop_paths_agree_with_structural(s in shape(), t in shape()) {
        let typed_paths = sorted(typed::diff(&s, &t).entries.into_iter().map(|e| e.path).collect());
        let (a, b) = (serde_json::to_value(&s).unwrap(), serde_json::to_value(&t).unwrap());
        let mut structural: Vec<String> = Structural::new().diff(&a, &b).entries.into_iter().map(|e| e.path).collect();
        let mut typed_paths = typed_paths;
        if std::mem::discriminant(&s.status) != std::mem::discriminant(&t.status) {
            // Structural: `$.status` (unit vs data) or `$.status.<Variant>` per side; the derive: `$.status`.
            structural.retain(|p| !p.starts_with("$.status"));
            typed_paths.retain(|p| p != "$.status");
        }
        prop_assert_eq!(sorted(structural), typed_paths);
    }

    #[test]
    fn prop_one_changed_leaf_agrees_with_structural(s in shape(), pick in any::<prop::sample::Index>()) {
        let mut t = s.clone();
        change_one_leaf(&mut t, pick);
        let typed_entries = typed::diff(&s, &t).entries;
        let structural = Structural::new().diff(&serde_json::to_value(&s).unwrap(), &serde_json::to_value(&t).unwrap()).entries;
        // Same path, same rendered values, same line.
        prop_assert_eq!(typed_entries, structural);
    }
}

/// `shadow_same`, which a walk asks of each field and element to skip the equal ones: exact
/// equality with the diff's own semantics (two NaNs are the same), and never `true` where a walk
/// would report anything, at any place and under any option.
mod same {
    use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
    use std::fmt::Debug;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use parallel_run::structural::Diff;
    use parallel_run::typed::{self, At, Sink, Typed};
    use parallel_run::{Comparator, ShadowCompare, Verdict};
    use proptest::prelude::*;

    #[derive(Debug, Clone, PartialEq, ShadowCompare)]
    pub enum Kind {
        A,
        B(f64),
        C { s: String },
    }

    /// A field for every option, and the std implementations with their own shortcuts.
    #[derive(Debug, Clone, PartialEq, ShadowCompare)]
    pub struct Every {
        id: u8,
        #[shadow(tolerance = 0.5)]
        x: f64,
        #[shadow(relative = 0.1)]
        r: f32,
        #[shadow(within = "1s")]
        ms: i64,
        #[shadow(within = "1s")]
        took: Duration,
        #[shadow(within = "1s")]
        stamp: String,
        #[shadow(unordered)]
        bag: Vec<u8>,
        #[shadow(unordered, tolerance = 0.5)]
        floats: Vec<f64>,
        #[shadow(trim, nfc)]
        name: String,
        #[shadow(sensitive)]
        secret: String,
        #[shadow(ignore)]
        trace: Vec<u8>,
        #[shadow(eq)]
        ip: Ipv4Addr,
        maybe: Option<Box<Kind>>,
        res: Result<u8, String>,
        map: HashMap<u8, f64>,
        set: HashSet<u8>,
        tree: BTreeMap<u8, (u8, String)>,
        deque: VecDeque<i128>,
        kind: Kind,
    }

    /// Small domains, so that values collide, differ within the options, or differ for good.
    fn float() -> impl Strategy<Value = f64> + Clone {
        prop_oneof![Just(0.0), Just(-0.0), Just(0.25), Just(1.0), Just(f64::NAN)]
    }

    fn text() -> impl Strategy<Value = String> + Clone {
        prop_oneof![
            Just(""),
            Just("a"),
            Just(" a"),
            Just("a "),
            Just("\u{e9}"),
            Just("e\u{301}"),
            Just("2026-11-27T10:00:00Z"),
            Just("2026-11-27T11:00:00.5+01:00"),
        ]
        .prop_map(String::from)
    }

    fn kind() -> impl Strategy<Value = Kind> + Clone {
        prop_oneof![
            Just(Kind::A),
            float().prop_map(Kind::B),
            text().prop_map(|s| Kind::C { s }),
        ]
    }

    /// Two values of `s`: mostly the same one, else two drawn independently (which may still be
    /// equal).
    fn pair<T: Clone + Debug>(
        s: impl Strategy<Value = T> + Clone,
    ) -> impl Strategy<Value = (T, T)> {
        (s.clone(), s, prop::bool::weighted(0.9)).prop_map(|(x, y, keep)| {
            if keep {
                (x.clone(), x)
            } else {
                (x, y)
            }
        })
    }

    fn small_vec<T: Debug>(
        s: impl Strategy<Value = T> + Clone,
    ) -> impl Strategy<Value = Vec<T>> + Clone {
        proptest::collection::vec(s, 0..3)
    }

    fn every_pair() -> impl Strategy<Value = (Every, Every)> {
        let ms = prop_oneof![Just(0i64), Just(500), Just(1_500), Just(5_000)];
        let took = prop_oneof![Just(0u64), Just(500), Just(3_000)].prop_map(Duration::from_millis);
        let res = prop_oneof![(0u8..2).prop_map(Ok), text().prop_map(Err)];
        (
            (
                pair(0u8..2),
                pair(float()),
                pair(float().prop_map(|f| f as f32)),
                pair(ms),
                pair(took),
                pair(text()),
                pair(small_vec(0u8..3)),
                pair(small_vec(float())),
                pair(text()),
                pair(text()),
            ),
            (
                pair(small_vec(0u8..3)),
                pair((0u8..2).prop_map(|i| Ipv4Addr::new(10, 0, 0, i))),
                pair(proptest::option::of(kind().prop_map(Box::new))),
                pair(res),
                pair(proptest::collection::hash_map(0u8..3, float(), 0..3)),
                pair(proptest::collection::hash_set(0u8..3, 0..3)),
                pair(proptest::collection::btree_map(
                    0u8..3,
                    (0u8..2, text()),
                    0..3,
                )),
                pair(small_vec(-1i128..2).prop_map(VecDeque::from)),
                pair(kind()),
            ),
        )
            .prop_map(
                |(
                    (id, x, r, ms, took, stamp, bag, floats, name, secret),
                    (trace, ip, maybe, res, map, set, tree, deque, kind),
                )| {
                    (
                        Every {
                            id: id.0,
                            x: x.0,
                            r: r.0,
                            ms: ms.0,
                            took: took.0,
                            stamp: stamp.0,
                            bag: bag.0,
                            floats: floats.0,
                            name: name.0,
                            secret: secret.0,
                            trace: trace.0,
                            ip: ip.0,
                            maybe: maybe.0,
                            res: res.0,
                            map: map.0,
                            set: set.0,
                            tree: tree.0,
                            deque: deque.0,
                            kind: kind.0,
                        },
                        Every {
                            id: id.1,
                            x: x.1,
                            r: r.1,
                            ms: ms.1,
                            took: took.1,
                            stamp: stamp.1,
                            bag: bag.1,
                            floats: floats.1,
                            name: name.1,
                            secret: secret.1,
                            trace: trace.1,
                            ip: ip.1,
                            maybe: maybe.1,
                            res: res.1,
                            map: map.1,
                            set: set.1,
                            tree: tree.1,
                            deque: deque.1,
                            kind: kind.1,
                        },
                    )
                },
            )
    }

    /// The diff at `at` (`typed::diff` walks from the root, with no options).
    fn walk<T: ShadowCompare + ?Sized>(a: &T, b: &T, at: &At<'_>) -> Diff {
        let mut d = Diff::default();
        a.shadow_diff(b, at, &mut Sink::new(&mut d));
        d
    }

    /// `same(a, b)` implies an empty walk, at the root and under every option.
    fn same_means_no_diff<T: ShadowCompare + ?Sized>(a: &T, b: &T) -> Result<(), TestCaseError> {
        if !a.shadow_same(b) {
            return Ok(());
        }
        let root = At::root();
        let at = root.field("f");
        let places = [
            root,
            at,
            at.ignore(),
            at.sensitive(),
            at.tolerance(0.5, 0.1),
            at.within(Duration::from_secs(1)),
            at.unordered(),
            at.trim().nfc(),
            at.tolerance(1.0, 1.0)
                .within(Duration::from_secs(9))
                .unordered()
                .trim()
                .nfc()
                .sensitive()
                .ignore(),
        ];
        for place in &places {
            let d = walk(a, b, place);
            prop_assert!(d.is_empty(), "same, yet {d:?} at {place:?}");
        }
        Ok(())
    }

    fn has_nan(v: &impl Debug) -> bool {
        format!("{v:?}").contains("NaN")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn prop_same_is_exact_equality_and_implies_no_diff((a, b) in every_pair()) {
            same_means_no_diff(&a, &b)?;
            // Every field's type on its own, under every option: the derive's walk skips the
            // fields whose `shadow_same` holds, the containers' walks the elements.
            same_means_no_diff(&a.id, &b.id)?;
            same_means_no_diff(&a.x, &b.x)?;
            same_means_no_diff(&a.r, &b.r)?;
            same_means_no_diff(&a.ms, &b.ms)?;
            same_means_no_diff(&a.took, &b.took)?;
            same_means_no_diff(&a.stamp, &b.stamp)?;
            same_means_no_diff(&a.bag, &b.bag)?;
            same_means_no_diff(&a.floats, &b.floats)?;
            same_means_no_diff(&a.name, &b.name)?;
            same_means_no_diff(&a.secret, &b.secret)?;
            same_means_no_diff(&a.trace, &b.trace)?;
            same_means_no_diff(&a.maybe, &b.maybe)?;
            same_means_no_diff(&a.res, &b.res)?;
            same_means_no_diff(&a.map, &b.map)?;
            same_means_no_diff(&a.set, &b.set)?;
            same_means_no_diff(&a.tree, &b.tree)?;
            same_means_no_diff(&a.deque, &b.deque)?;
            same_means_no_diff(&a.kind, &b.kind)?;
            // `PartialEq` equal implies the same, and (NaN aside) the converse.
            if a == b {
                prop_assert!(a.shadow_same(&b));
            }
            if !has_nan(&a) && !has_nan(&b) {
                prop_assert_eq!(a.shadow_same(&b), a == b);
            }
            if a.shadow_same(&b) {
                prop_assert_eq!(Typed.compare(&a, &b), Verdict::Match);
            }
        }

        /// Values equal up to NaN are the same (`PartialEq` says no), and differ in nothing.
        #[test]
        fn prop_nan_is_the_same_as_nan((a, _) in every_pair()) {
            let b = a.clone();
            prop_assert!(a.shadow_same(&b));
            prop_assert!(typed::diff(&a, &b).is_empty());
            prop_assert_eq!(Typed.compare(&a, &b), Verdict::Match);
        }
    }

    #[test]
    fn same_but_for_what_the_options_forgive_is_not_the_same() {
        let base = Every {
            id: 1,
            x: 1.0,
            r: 1.0,
            ms: 0,
            took: Duration::ZERO,
            stamp: "2026-11-27T10:00:00Z".into(),
            bag: vec![1, 2],
            floats: vec![0.25, f64::NAN],
            name: "a".into(),
            secret: "s".into(),
            trace: vec![1],
            ip: Ipv4Addr::LOCALHOST,
            maybe: Some(Box::new(Kind::B(f64::NAN))),
            res: Ok(1),
            map: [(1, -0.0)].into(),
            set: [1, 2].into(),
            tree: [(1, (1, "x".into()))].into(),
            deque: [1, 2].into(),
            kind: Kind::C { s: "c".into() },
        };
        let same = base.clone();
        assert!(base.shadow_same(&same));
        assert_eq!(Typed.compare(&base, &same), Verdict::Match);
        let mut zero = base.clone();
        zero.map.insert(1, 0.0);
        assert!(base.shadow_same(&zero), "-0.0 and 0.0 are equal");

        // Each of these is forgiven by an option, so the walk reports no entry, but it is a
        // tolerated or ignored difference (or, unordered, none at all), not the same value.
        type Change = fn(&mut Every);
        let forgiven: [(&str, Change, &[&str]); 8] = [
            ("x", |e| e.x = 1.25, &["$.x"]),
            ("ms", |e| e.ms = 500, &["$.ms"]),
            ("took", |e| e.took = Duration::from_millis(500), &["$.took"]),
            (
                "stamp",
                |e| e.stamp = "2026-11-27T11:00:00.5+01:00".into(),
                &["$.stamp"],
            ),
            ("bag", |e| e.bag.reverse(), &[]),
            ("floats", |e| e.floats.reverse(), &[]),
            ("name", |e| e.name = " a ".into(), &["$.name"]),
            ("trace", |e| e.trace.push(2), &["$.trace"]),
        ];
        for (field, change, forgiven_at) in forgiven {
            let mut b = base.clone();
            change(&mut b);
            assert!(!base.shadow_same(&b), "{field}");
            let d = typed::diff(&base, &b);
            assert!(d.entries.is_empty(), "{field}: {d:?}");
            let at: Vec<&String> = d.tolerated.iter().chain(&d.ignored).collect();
            assert_eq!(at, forgiven_at, "{field}");
        }
        let mut b = base.clone();
        b.trace.push(2);
        assert_eq!(
            Typed.compare(&base, &b),
            Verdict::acceptable("ignored paths $.trace")
        );
    }
}

/// Issue 12, item 7: a `serde_json::Value` field is walked with `Structural`'s paths (it needed
/// `#[shadow(eq)]`, which reported one difference at the field, as a `Debug` string), and a
/// missing key can count as `null` or as an empty collection, per field, without `ignore`.
mod json_fields {
    use parallel_run::structural::Structural;
    use parallel_run::typed::{self, Typed};
    use parallel_run::{parallel_run, Comparator, Outcome, ShadowCompare, Verdict};
    use serde_json::{json, Value};

    #[derive(Debug, Clone, PartialEq, ShadowCompare)]
    pub struct Response {
        status: u16,
        body: Value,
        #[shadow(missing_as_null)]
        profile: Value,
        #[shadow(missing_as_empty)]
        extras: Value,
    }

    fn response(body: Value, profile: Value, extras: Value) -> Response {
        Response {
            status: 200,
            body,
            profile,
            extras,
        }
    }

    #[test]
    fn differences_inside_a_json_field_have_their_own_paths() {
        let a = response(
            json!({"address": null, "name": "Ada", "tags": ["a"]}),
            json!({}),
            json!({}),
        );
        let b = response(
            json!({"name": "Ada B", "tags": ["a", "b"]}),
            json!({}),
            json!({}),
        );
        let d = typed::diff(&a, &b);
        let lines: Vec<String> = d.entries.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "$.body.address: null -> (missing)",
                r#"$.body.name: "Ada" -> "Ada B""#,
                r#"$.body.tags[1]: (missing) -> "b""#,
            ]
        );
        // The same entries as `Structural` reports on the JSON itself, under `$.body`.
        let s = Structural::new().diff(&a.body, &b.body);
        let structural: Vec<String> = s
            .entries
            .iter()
            .map(|e| format!("$.body{}", &e.to_string()[1..]))
            .collect();
        assert_eq!(lines, structural);
    }

    #[test]
    fn a_missing_key_counts_as_null_or_empty_where_the_field_says_so() {
        let a = response(
            json!({}),
            json!({"phone": null, "email": "a@x"}),
            json!({"tags": [], "meta": {}}),
        );
        let b = response(json!({}), json!({"email": "a@x"}), json!({}));
        let d = typed::diff(&a, &b);
        assert!(d.entries.is_empty(), "{d:?}");
        assert_eq!(
            d.tolerated,
            ["$.profile.phone", "$.extras.meta", "$.extras.tags"]
        );
        assert_eq!(
            Typed.compare(&a, &b),
            Verdict::acceptable(
                "within tolerance at $.profile.phone, $.extras.meta, $.extras.tags"
            )
        );
        // A real change at those paths is still a mismatch (what `ignore` would have hidden), and
        // `body` has no option: its missing `null` counts.
        let c = response(
            json!({"x": null}),
            json!({"email": "b@x"}),
            json!({"tags": ["t"]}),
        );
        let lines: Vec<String> = typed::diff(&c, &b)
            .entries
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "$.body.x: null -> (missing)",
                r#"$.profile.email: "b@x" -> "a@x""#,
                r#"$.extras.tags: ["t"] -> (missing)"#,
            ]
        );
    }

    #[parallel_run(candidate = fetch_v2, compare = Typed, mode = inline, name = "derive::json_fetch")]
    fn fetch(id: u32) -> Response {
        response(
            json!({"id": id, "address": null}),
            json!({"phone": null}),
            json!({}),
        )
    }

    fn fetch_v2(id: u32) -> Response {
        response(json!({"id": id}), json!({}), json!({}))
    }

    #[test]
    fn through_the_attribute_the_log_shows_json_paths() {
        fetch(7);
        let s = parallel_run::snapshot::experiment("derive::json_fetch").unwrap();
        assert_eq!(s.counts.get(Outcome::Mismatch), 1);
        assert_eq!(
            s.discrepancies[0].detail,
            "$.body.address: null -> (missing)"
        );
    }
}
