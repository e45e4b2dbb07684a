//! `#[derive(ShadowCompare)]` on every shape, with every field attribute and generics, and its
//! comparator through the attribute (`compare = parallel_run::typed::Typed`).

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime};

use parallel_run::typed::{self, Typed};
use parallel_run::{parallel_run, Comparator, Outcome, ShadowCompare, Verdict};

/// Another crate's type: no `ShadowCompare`, only `PartialEq + Debug`.
#[derive(Debug, Clone, PartialEq)]
pub struct Foreign(u8);

#[derive(Debug, Clone, ShadowCompare)]
pub struct Line<T> {
    sku: String,
    #[shadow(tolerance = 0.005, relative = 1e-9)]
    amount: f64,
    extra: T,
}

#[derive(Debug, Clone, ShadowCompare)]
pub enum Status {
    Pending,
    Paid { at: SystemTime },
    Refunded(i64),
    Split(u8, u8),
}

#[derive(Debug, Clone, ShadowCompare)]
pub struct Cents(i64);

#[derive(Debug, Clone, ShadowCompare)]
pub struct Unit;

#[derive(Debug, Clone, ShadowCompare)]
pub struct Order<'a, T: Clone>
where
    T: std::fmt::Debug,
{
    lines: Vec<Line<T>>,
    status: Status,
    total: Cents,
    unit: Unit,
    tuple: (u8, &'a str),
    #[shadow(within = "2s")]
    latency: Duration,
    #[shadow(within = "150ms")]
    at_ms: u64,
    #[shadow(ignore)]
    trace: String,
    #[shadow(ignore, eq)]
    ignored_foreign: Foreign,
    #[shadow(unordered)]
    tags: Vec<String>,
    set: HashSet<u32>,
    map: BTreeMap<String, Option<Box<u32>>>,
    #[shadow(sensitive)]
    card: String,
    #[shadow(eq)]
    foreign: Foreign,
    #[shadow(trim, nfc)]
    name: String,
}

fn order(amount: f64) -> Order<'static, bool> {
    Order {
        lines: vec![Line { sku: "A".into(), amount, extra: true }],
        status: Status::Split(1, 2),
        total: Cents(1),
        unit: Unit,
        tuple: (1, "a"),
        latency: Duration::from_millis(5),
        at_ms: 1,
        trace: "t".into(),
        ignored_foreign: Foreign(1),
        tags: vec!["x".into()],
        set: [1, 2].into(),
        map: [("k".to_owned(), Some(Box::new(1)))].into(),
        card: "4111".into(),
        foreign: Foreign(1),
        name: "n".into(),
    }
}

#[parallel_run(candidate = price_v2, compare = parallel_run::typed::Typed, mode = inline, name = "ui::derive")]
fn price(amount: f64) -> Order<'static, bool> {
    order(amount)
}

fn price_v2(amount: f64) -> Order<'static, bool> {
    order(amount + 0.001)
}

fn main() {
    assert_eq!(Typed.compare(&order(1.0), &order(1.0)), Verdict::Match);
    assert!(typed::diff(&order(1.0), &order(2.0)).entries.len() == 1);
    let _ = (Status::Pending, Status::Paid { at: SystemTime::now() }, Status::Refunded(1));

    price(1.0);
    let s = parallel_run::snapshot::experiment("ui::derive").unwrap();
    assert_eq!(s.counts.get(Outcome::Acceptable), 1);
}
