//! A typed diff of equal values allocates nothing: paths live on the stack and are rendered only
//! for a difference. `allocation-counter`'s global allocator counts this thread's allocations
//! (as in `tests/alloc.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use parallel_run::typed::{self, Typed};
use parallel_run::{Comparator, ShadowCompare, Verdict};

#[derive(Clone, ShadowCompare)]
struct Line {
    sku: String,
    #[shadow(tolerance = 0.005)]
    amount: f64,
    #[shadow(eq)]
    code: std::net::Ipv4Addr,
}

#[derive(Clone, ShadowCompare)]
enum Status {
    Paid {
        at: SystemTime,
    },
    #[allow(dead_code)]
    Pending,
}

#[derive(Clone, ShadowCompare)]
struct Invoice {
    id: u64,
    lines: Vec<Line>,
    status: Status,
    #[shadow(unordered)]
    tags: Vec<String>,
    fx: BTreeMap<String, f64>,
    seen: HashMap<u32, Option<Box<str>>>,
    set: HashSet<u8>,
    #[shadow(within = "1s")]
    took: Duration,
    #[shadow(sensitive, trim, nfc)]
    name: String,
    #[shadow(ignore)]
    trace: (u8, char, bool),
}

#[test]
fn equal_values_allocate_nothing() {
    let a = Invoice {
        id: 1,
        lines: (0..20)
            .map(|i| Line {
                sku: format!("sku-{i}"),
                amount: f64::from(i),
                code: [10, 0, 0, i as u8].into(),
            })
            .collect(),
        status: Status::Paid {
            at: SystemTime::now(),
        },
        tags: vec!["a".into(), "b".into()],
        fx: [("EUR".to_owned(), 1.0), ("USD".to_owned(), 1.1)].into(),
        seen: [(1, None), (2, Some("x".into()))].into(),
        set: [1, 2, 3].into(),
        took: Duration::from_millis(3),
        name: "Ren\u{e9}e".into(),
        trace: (1, 'x', true),
    };
    let b = a.clone();
    let mut out = None;
    let allocated =
        allocation_counter::measure(|| out = Some((typed::diff(&a, &b), Typed.compare(&a, &b))))
            .count_total;
    assert_eq!(allocated, 0, "allocations for equal values");
    let (d, verdict) = out.unwrap();
    assert!(d.is_empty());
    assert_eq!(verdict, Verdict::Match);
}
