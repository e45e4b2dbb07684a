use super::*;
use serde_json::json;

fn lines(d: &Diff) -> Vec<String> {
    d.entries.iter().map(ToString::to_string).collect()
}

#[test]
fn leaves_render_naturally() {
    assert_eq!(lines(&diff(&1u8, &2)), ["$: 1 -> 2"]);
    assert_eq!(
        lines(&diff(&-1i128, &(1i128 << 100))),
        [format!("$: -1 -> \"{}\"", 1i128 << 100)]
    );
    assert_eq!(lines(&diff(&1.5f64, &2.0)), ["$: 1.5 -> 2.0"]);
    assert_eq!(lines(&diff(&f64::NAN, &1.0)), ["$: null -> 1.0"]);
    assert!(diff(&f64::NAN, &f64::NAN).is_empty());
    assert_eq!(lines(&diff(&true, &false)), ["$: true -> false"]);
    assert_eq!(lines(&diff(&'a', &'b')), [r#"$: "a" -> "b""#]);
    assert_eq!(lines(&diff("x", "y")), [r#"$: "x" -> "y""#]);
    assert_eq!(
        lines(&diff(&Duration::from_millis(1500), &Duration::from_secs(2))),
        [r#"$: "1.5s" -> "2s""#]
    );
    let t = UNIX_EPOCH + Duration::from_millis(1_795_773_600_123);
    assert_eq!(
        lines(&diff(&t, &(t + Duration::from_secs(1)))),
        [r#"$: "2026-11-27T10:00:00.123Z" -> "2026-11-27T10:00:01.123Z""#]
    );
    assert!(diff(&(), &()).is_empty());
}

#[test]
fn options_results_and_pointers() {
    assert_eq!(lines(&diff(&Some(1), &None)), ["$: 1 -> null"]);
    assert_eq!(lines(&diff(&Some(1), &Some(2))), ["$: 1 -> 2"]);
    let ok: Result<u8, String> = Ok(1);
    assert_eq!(lines(&diff(&ok, &Ok(2))), ["$.Ok: 1 -> 2"]);
    assert_eq!(lines(&diff(&ok, &Err("e".into()))), [r#"$: "Ok" -> "Err""#]);
    assert_eq!(
        lines(&diff(
            &Box::new(Rc::new(Arc::new(1))),
            &Box::new(Rc::new(Arc::new(2)))
        )),
        ["$: 1 -> 2"]
    );
    assert_eq!(
        lines(&diff(&Cow::Borrowed("a"), &Cow::Owned("b".to_owned()))),
        [r#"$: "a" -> "b""#]
    );
}

#[test]
fn sequences_maps_sets_and_tuples() {
    assert_eq!(
        lines(&diff(&vec![1, 2], &vec![1, 3, 4])),
        ["$[1]: 2 -> 3", "$[2]: (missing) -> 4"]
    );
    assert_eq!(lines(&diff(&[1, 2], &[2, 2])), ["$[0]: 1 -> 2"]);
    assert_eq!(
        lines(&diff(
            &VecDeque::from([vec![1]]),
            &VecDeque::from([vec![2]])
        )),
        ["$[0][0]: 1 -> 2"]
    );
    let m = |v: &[(&'static str, i32)]| v.iter().copied().collect::<BTreeMap<_, _>>();
    assert_eq!(
        lines(&diff(&m(&[("a", 1), ("b", 2)]), &m(&[("b", 3), ("c", 4)]))),
        ["$.a: 1 -> (missing)", "$.b: 2 -> 3", "$.c: (missing) -> 4"]
    );
    let h = |v: &[(u32, i32)]| v.iter().copied().collect::<HashMap<_, _>>();
    assert_eq!(
        lines(&diff(
            &h(&[(1, 1), (2, 2), (3, 3), (9, 9)]),
            &h(&[(2, 0), (3, 0), (4, 4), (9, 9)])
        )),
        [
            "$.1: 1 -> (missing)",
            "$.2: 2 -> 0",
            "$.3: 3 -> 0",
            "$.4: (missing) -> 4"
        ]
    );
    let s = |v: &[u8]| v.iter().copied().collect::<BTreeSet<_>>();
    assert_eq!(
        lines(&diff(&s(&[1, 2, 3]), &s(&[2, 3, 4]))),
        ["$.*: 1 -> (missing)", "$.*: (missing) -> 4"]
    );
    let hs = |v: &[u8]| v.iter().copied().collect::<HashSet<_>>();
    assert!(diff(&hs(&[1, 2, 3]), &hs(&[3, 2, 1])).is_empty());
    assert_eq!(
        lines(&diff(&hs(&[1, 2, 3, 5]), &hs(&[2, 6, 4, 3]))),
        [
            "$.*: 1 -> (missing)",
            "$.*: 5 -> (missing)",
            "$.*: (missing) -> 4",
            "$.*: (missing) -> 6"
        ]
    );
    assert_eq!(
        lines(&diff(&(1, "a", 2.5), &(1, "b", 2.5))),
        [r#"$[1]: "a" -> "b""#]
    );
    // A whole element one side lacks is rendered whole.
    assert_eq!(
        lines(&diff(&vec![], &vec![(1, vec!["x"])])),
        [r#"$[0]: (missing) -> [1,["x"]]"#]
    );
}

/// Runs `shadow_diff` at a root with options.
fn diff_at<T: ShadowCompare + ?Sized>(a: &T, b: &T, at: At<'_>) -> Diff {
    let mut d = Diff::default();
    a.shadow_diff(b, &at, &mut Sink::new(&mut d));
    d
}

#[test]
fn options_tolerate_and_mask() {
    let root = At::root();
    let t = root.field("t").tolerance(0.01, 0.0);
    let d = diff_at(&vec![1.0, 2.0], &vec![1.005, 2.5], t);
    assert_eq!(d.tolerated, ["$.t[0]"]);
    assert_eq!(lines(&d), ["$.t[1]: 2.0 -> 2.5"]);
    // Relative, on integers too.
    let d = diff_at(&1000u32, &1001, At::root().tolerance(0.0, 0.001));
    assert_eq!(d.tolerated, ["$"]);
    // Within, on integers (ms), durations, times and RFC 3339 strings.
    let w = At::root().within(Duration::from_secs(2));
    assert_eq!(diff_at(&1_000i64, &3_000, w).tolerated, ["$"]);
    assert_eq!(lines(&diff_at(&1_000i64, &3_001, w)), ["$: 1000 -> 3001"]);
    assert_eq!(
        diff_at(&Duration::ZERO, &Duration::from_secs(2), w).tolerated,
        ["$"]
    );
    let t0 = SystemTime::now();
    assert_eq!(
        diff_at(&t0, &(t0 + Duration::from_millis(1999)), w).tolerated,
        ["$"]
    );
    assert_eq!(
        diff_at(&(t0 + Duration::from_millis(1999)), &t0, w).tolerated,
        ["$"]
    );
    assert_eq!(
        diff_at(&t0, &(t0 + Duration::from_secs(3)), w)
            .entries
            .len(),
        1
    );
    assert_eq!(
        diff_at("2026-11-27T10:00:00Z", "2026-11-27T12:00:01+02:00", w).tolerated,
        ["$"]
    );
    assert_eq!(diff_at("soon", "later", w).entries.len(), 1);
    // Trim and NFC.
    assert_eq!(diff_at(" a ", "a", At::root().trim()).tolerated, ["$"]);
    assert_eq!(
        diff_at("\u{e9}", "e\u{301}", At::root().nfc()).tolerated,
        ["$"]
    );
    assert_eq!(diff_at("\u{e9}", "e\u{301}", At::root()).entries.len(), 1);
    // Sensitive: every value below is masked, a missing side stays missing.
    let d = diff_at(
        &vec![(1, "4111")],
        &vec![(1, "4242"), (2, "x")],
        At::root().sensitive(),
    );
    assert_eq!(
        lines(&d),
        [r#"$[0][1]: "***" -> "***""#, r#"$[1]: (missing) -> "***""#]
    );
    // Ignore: recorded once, at the ignored place.
    let root = At::root();
    let ig = root.field("meta").ignore();
    let d = diff_at(&vec![1, 2, 3], &vec![4, 5], ig);
    assert!(d.entries.is_empty());
    assert_eq!(d.ignored, ["$.meta"]);
}

#[test]
fn unordered_sequences_are_multisets() {
    let u = At::root().unordered();
    assert!(diff_at(&vec![1, 2, 2], &vec![2, 1, 2], u).is_empty());
    assert_eq!(
        lines(&diff_at(&vec![1, 2], &vec![2, 3], u)),
        ["$.*: 1 -> (missing)", "$.*: (missing) -> 3"]
    );
    // Pairs within tolerance are tolerated at the element's own path.
    let d = diff_at(&vec![1.0, 5.0], &vec![5.0, 1.001], u.tolerance(0.01, 0.0));
    assert!(d.entries.is_empty());
    assert_eq!(d.tolerated, ["$.*"]);
    // `unordered` stops at the first sequence: the elements' own sequences keep their order.
    assert_eq!(
        lines(&diff_at(&vec![vec![1, 2]], &vec![vec![2, 1]], u)),
        ["$.*: [1,2] -> (missing)", "$.*: (missing) -> [2,1]"]
    );
}

#[test]
fn the_comparator_gives_match_acceptable_and_mismatch() {
    assert_eq!(Typed.compare(&vec![1], &vec![1]), Verdict::Match);
    assert_eq!(
        Typed.compare(&vec![1, 2], &vec![1, 3]),
        Verdict::mismatch("$[1]: 2 -> 3")
    );
    assert_eq!(
        Typed.compare(&BTreeMap::from([("a", 1)]), &BTreeMap::from([("a", 2)])),
        Verdict::mismatch("$.a: 1 -> 2")
    );
}

#[test]
fn derive_helpers() {
    use super::__derive::*;
    #[derive(PartialEq, Debug)]
    struct Foreign(u8);
    let mut d = Diff::default();
    Foreign(1).eq_diff(&Foreign(2), &At::root().field("f"), &mut Sink::new(&mut d));
    assert_eq!(lines(&d), [r#"$.f: "Foreign(1)" -> "Foreign(2)""#]);
    assert_eq!(
        object([("a", json!(1)), ("b", variant("V", array([json!(2)])))]),
        json!({"a": 1, "b": {"V": [2]}})
    );
    let mut d = Diff::default();
    variants(&At::root(), &mut Sink::new(&mut d), "Paid", "Refunded");
    assert_eq!(lines(&d), [r#"$: "Paid" -> "Refunded""#]);
}

#[test]
fn same_is_exact_equality_with_the_diffs_semantics() {
    assert!(f64::NAN.shadow_same(&f64::NAN) && f32::NAN.shadow_same(&f32::NAN));
    assert!((-0.0f64).shadow_same(&0.0) && !1.0f64.shadow_same(&f64::NAN));
    assert!("a".shadow_same("a") && !" a".shadow_same("a"));
    assert!(Some(vec![1, 2]).shadow_same(&Some(vec![1, 2])));
    assert!(!vec![1, 2].shadow_same(&vec![2, 1]) && !vec![1].shadow_same(&vec![1, 1]));
    let (ok, err): (Result<u8, u8>, Result<u8, u8>) = (Ok(1), Err(1));
    assert!(ok.shadow_same(&Ok(1)) && !ok.shadow_same(&err));
    let h = |v: &[(u32, f64)]| v.iter().copied().collect::<HashMap<_, _>>();
    assert!(h(&[(1, f64::NAN), (2, 0.0)]).shadow_same(&h(&[(2, -0.0), (1, f64::NAN)])));
    assert!(!h(&[(1, 1.0)]).shadow_same(&h(&[(2, 1.0)])));
    let m = |v: &[(&'static str, u8)]| v.iter().copied().collect::<BTreeMap<_, _>>();
    assert!(m(&[("a", 1)]).shadow_same(&m(&[("a", 1)])));
    assert!(!m(&[("a", 1)]).shadow_same(&m(&[("b", 1)])));
    assert!(HashSet::from([1, 2]).shadow_same(&HashSet::from([2, 1])));
    assert!(!BTreeSet::from([1, 2]).shadow_same(&BTreeSet::from([1, 3])));
    assert!((1, "a", f64::NAN).shadow_same(&(1, "a", f64::NAN)));
    assert!(Box::new([Arc::new(1)]).shadow_same(&Box::new([Arc::new(1)])));
    // An unordered sequence in another order is not the same, yet differs in nothing: the
    // walk decides.
    let u = At::root().unordered();
    assert!(!vec![1, 2].shadow_same(&vec![2, 1]));
    assert!(diff_at(&vec![1, 2], &vec![2, 1], u).is_empty());
}

#[test]
fn a_hand_written_impl_without_shadow_same_is_walked() {
    struct Celsius(f64);
    impl ShadowCompare for Celsius {
        fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
            self.0.shadow_diff(&other.0, &at.tolerance(0.5, 0.0), sink);
        }
        fn shadow_value(&self) -> Value {
            self.0.shadow_value()
        }
    }
    assert!(!Celsius(1.0).shadow_same(&Celsius(1.0)));
    assert!(!vec![Celsius(1.0)].shadow_same(&vec![Celsius(1.0)]));
    assert!(diff(&vec![Celsius(1.0)], &vec![Celsius(1.0)]).is_empty());
    assert_eq!(diff(&Celsius(1.0), &Celsius(1.25)).tolerated, ["$"]);
    assert_eq!(
        Typed.compare(&Some(Celsius(1.0)), &Some(Celsius(3.0))),
        Verdict::mismatch("$: 1.0 -> 3.0")
    );
    assert_eq!(
        Typed.compare(&(Celsius(2.0),), &(Celsius(2.0),)),
        Verdict::Match
    );
}

#[test]
fn json_values_have_structurals_paths() {
    // Issue 12, item 7: a `Value` inside a derived type needed `#[shadow(eq)]`, so every
    // difference under it was one entry at the field, shown as a `Debug` string.
    let a = json!({"id": 1, "address": {"city": "Paris", "zip": "75001"}, "lines": [1, 2], "note": null});
    let b = json!({"id": 1, "address": {"city": "Lyon", "zip": "75001"}, "lines": [1, 3, 4], "extra": true});
    assert_eq!(
        lines(&diff(&a, &b)),
        [
            r#"$.address.city: "Paris" -> "Lyon""#,
            "$.extra: (missing) -> true",
            "$.lines[1]: 2 -> 3",
            "$.lines[2]: (missing) -> 4",
            "$.note: null -> (missing)",
        ]
    );
    assert_eq!(
        diff(&a, &b),
        crate::judge::structural::Structural::new().diff(&a, &b)
    );
    // A value of another kind is one entry with both values.
    assert_eq!(
        lines(&diff(&json!({"a": [1]}), &json!({"a": {"x": 1}}))),
        [r#"$.a: [1] -> {"x":1}"#]
    );
    assert!(diff(&a, &a.clone()).is_empty() && a.shadow_same(&a.clone()));
    // 1 and 1.0 are the same number, told apart only by their type: tolerated, as Structural does.
    assert_eq!(diff(&json!(1), &json!(1.0)).tolerated, ["$"]);
}

#[test]
fn json_values_take_the_options() {
    let d = diff_at(
        &json!({"x": 1.0, "s": " a"}),
        &json!({"x": 1.004, "s": "a"}),
        At::root().tolerance(0.01, 0.0).trim(),
    );
    assert_eq!(d.tolerated, ["$.s", "$.x"]);
    let w = At::root().within(Duration::from_secs(2));
    assert_eq!(
        diff_at(
            &json!({"at": 1_000}),
            &json!({"at": "1970-01-01T00:00:02Z"}),
            w
        )
        .tolerated,
        ["$.at"]
    );
    let u = At::root().unordered();
    assert!(diff_at(&json!([1, 2, 2]), &json!([2, 1, 2]), u).is_empty());
    assert_eq!(
        lines(&diff_at(&json!([1]), &json!([2]), u)),
        ["$.*: 1 -> (missing)", "$.*: (missing) -> 2"]
    );
    let d = diff_at(
        &json!({"card": {"pan": "4111"}}),
        &json!({"card": {"pan": "4242"}}),
        At::root().sensitive(),
    );
    assert_eq!(lines(&d), [r#"$.card.pan: "***" -> "***""#]);
    let root = At::root();
    let d = diff_at(
        &json!({"a": 1, "b": 2}),
        &json!({"a": 2}),
        root.field("meta").ignore(),
    );
    assert!(d.entries.is_empty());
    assert_eq!(d.ignored, ["$.meta"]);
}

#[test]
fn a_missing_key_can_count_as_null_or_empty() {
    let a = json!({"id": 1, "address": null, "tags": [], "meta": {}, "nick": "x"});
    let b = json!({"id": 1});
    // By default every missing key is a difference.
    assert_eq!(diff(&a, &b).entries.len(), 4);
    let d = diff_at(&a, &b, At::root().missing_as_null());
    assert_eq!(d.tolerated, ["$.address"]);
    assert_eq!(
        lines(&d),
        [
            r#"$.meta: {} -> (missing)"#,
            r#"$.nick: "x" -> (missing)"#,
            "$.tags: [] -> (missing)"
        ]
    );
    let d = diff_at(&a, &b, At::root().missing_as_null().missing_as_empty());
    assert_eq!(d.tolerated, ["$.address", "$.meta", "$.tags"]);
    // A real value against a missing key still differs, on either side, and so does a value
    // against `null`: only absence is forgiven.
    assert_eq!(lines(&d), [r#"$.nick: "x" -> (missing)"#]);
    let d = diff_at(
        &json!({"a": null}),
        &json!({"a": 1}),
        At::root().missing_as_null(),
    );
    assert_eq!(lines(&d), ["$.a: null -> 1"]);
    // In maps too: a `None` (or an empty `Vec`) against a missing key.
    let m = |v: &[(&'static str, Option<u8>)]| v.iter().copied().collect::<BTreeMap<_, _>>();
    let d = diff_at(
        &m(&[("a", None), ("b", Some(1))]),
        &m(&[]),
        At::root().missing_as_null(),
    );
    assert_eq!(d.tolerated, ["$.a"]);
    assert_eq!(lines(&d), ["$.b: 1 -> (missing)"]);
    let h = |v: &[(u8, Vec<u8>)]| v.iter().cloned().collect::<HashMap<_, _>>();
    let d = diff_at(
        &h(&[]),
        &h(&[(1, vec![]), (2, vec![2])]),
        At::root().missing_as_empty(),
    );
    assert_eq!(d.tolerated, ["$.1"]);
    assert_eq!(lines(&d), ["$.2: (missing) -> [2]"]);
}

#[test]
fn probes_count_without_recording() {
    assert_eq!(probe(&vec![1, 2], &vec![1, 3], &At::root()), (1, 0));
    assert_eq!(probe(&1.0, &1.001, &At::root().tolerance(0.1, 0.0)), (0, 1));
    assert_eq!(probe(&1, &2, &At::root().ignore()), (0, 1));
}

fn json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        any::<i32>().prop_map(|n| json!(n)),
        "[a-c]{0,3}".prop_map(Value::String),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
        Just(json!([])),
        Just(json!({})),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-d]", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A few random edits of `v`: values replaced, keys removed or added, elements dropped.
fn edited(v: &Value, seed: u64) -> Value {
    let mut state = seed | 1;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n.max(1)
    };
    fn walk(v: &mut Value, next: &mut dyn FnMut(u64) -> u64) {
        match v {
            Value::Object(m) => {
                let keys: Vec<String> = m.keys().cloned().collect();
                for k in keys {
                    match next(6) {
                        0 => {
                            m.remove(&k);
                        }
                        1 => {
                            m.insert(k, Value::Null);
                        }
                        _ => walk(m.get_mut(&k).unwrap(), next),
                    }
                }
                if next(4) == 0 {
                    m.insert("z".into(), json!([]));
                }
            }
            Value::Array(a) => {
                if !a.is_empty() && next(5) == 0 {
                    a.pop();
                }
                for x in a.iter_mut() {
                    walk(x, next);
                }
            }
            other => {
                if next(4) == 0 {
                    *other = json!(next(3));
                }
            }
        }
    }
    let mut w = v.clone();
    walk(&mut w, &mut next);
    w
}

proptest::proptest! {
    /// The typed diff of two JSON values is Structural's: entries (paths and values, in
    /// order), tolerated and ignored paths, for unrelated values and for edited copies.
    #[test]
    fn typed_and_structural_agree_on_json(a in json(), b in json(), seed in proptest::prelude::any::<u64>()) {
        let s = crate::judge::structural::Structural::new();
        proptest::prop_assert_eq!(diff(&a, &b), s.diff(&a, &b));
        let e = edited(&a, seed);
        proptest::prop_assert_eq!(diff(&a, &e), s.diff(&a, &e));
        proptest::prop_assert_eq!(diff(&e, &a), s.diff(&e, &a));
        // With missing keys forgiven as `null` or empty everywhere (Structural's patterns for
        // every depth the generator reaches), they still agree.
        let mut forgiving = crate::judge::structural::Structural::new();
        for depth in 1..=5 {
            let p = format!("${}", ".*".repeat(depth));
            forgiving = forgiving.missing_as_null(&p).missing_as_empty(&p);
        }
        let at = At::root().missing_as_null().missing_as_empty();
        proptest::prop_assert_eq!(diff_at(&a, &e, at), forgiving.diff(&a, &e));
        proptest::prop_assert_eq!(diff_at(&e, &a, at), forgiving.diff(&e, &a));
    }
}
