//! A typed diff of equal values allocates nothing: paths live on the stack and are rendered only
//! for a difference. A counting global allocator counts this thread's allocations (as in
//! `tests/alloc.rs`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use parallel_run::typed::{self, Typed};
use parallel_run::{Comparator, ShadowCompare, Verdict};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

struct CountingAllocator;

fn count_one() {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn allocations_here() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: every method forwards its arguments unchanged to `System` and returns its result
// unchanged; the only addition is bumping a const-initialised thread-local `Cell<u64>`, which
// neither allocates nor touches the memory being (de)allocated.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller's guarantees for `layout` are passed on to `System` unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: `ptr` was allocated by `System` with `layout`, as the caller guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

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
    let before = allocations_here();
    let d = typed::diff(&a, &b);
    let verdict = Typed.compare(&a, &b);
    let after = allocations_here();
    assert_eq!(after - before, 0, "allocations for equal values");
    assert!(d.is_empty());
    assert_eq!(verdict, Verdict::Match);
}
