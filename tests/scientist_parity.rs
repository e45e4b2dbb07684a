//! What Scientist's users expect, beyond the basics in `tests/scientist.rs`: the outcome says in
//! which order the two sides ran; two panics can be compared (`panics = compare`).

mod common;

use std::sync::Mutex;
use std::time::Duration;

use parallel_run::{parallel_run, ExperimentSnapshot, Outcome};

fn settled(name: &str) -> ExperimentSnapshot {
    assert!(parallel_run::wait_idle(Duration::from_secs(30)));
    let s = parallel_run::snapshot::experiment(name).unwrap_or_else(|| panic!("{name} never ran"));
    assert_eq!(s.lost(), 0, "{s:?}");
    s
}

// ------------------------------------------------------------------------- the order recorded

static ORDERS: Mutex<Vec<bool>> = Mutex::new(Vec::new());

fn record_order(r: &parallel_run::outcome::OutcomeRecord) {
    ORDERS.lock().unwrap().push(r.candidate_ran_first);
}

#[parallel_run(candidate = off_by_one, mode = inline, order = random, on_outcome = record_order)]
fn shuffled(x: u64) -> u64 {
    x
}

fn off_by_one(x: u64) -> u64 {
    x + 1
}

#[parallel_run(candidate = off_by_one)]
fn detached_order(x: u64) -> u64 {
    x
}

#[test]
fn the_outcome_says_in_which_order_the_sides_ran() {
    for i in 0..200 {
        assert_eq!(shuffled(i), i);
        assert_eq!(detached_order(i), i);
    }
    let orders = ORDERS.lock().unwrap().clone();
    assert_eq!(orders.len(), 200);
    let first = orders.iter().filter(|f| **f).count();
    // A fair coin: both orders, neither always (200 tosses: 6 sigma is ~42).
    assert!(
        (58..=142).contains(&first),
        "{first} of 200 ran the candidate first"
    );
    let s = settled("scientist_parity::shuffled");
    let kept: Vec<bool> = s
        .discrepancies
        .iter()
        .map(|d| d.candidate_ran_first)
        .collect();
    assert!(kept.contains(&true) && kept.contains(&false), "{kept:?}");
    let d = settled("scientist_parity::detached_order");
    assert!(d.discrepancies.iter().all(|d| !d.candidate_ran_first));
}

// -------------------------------------------------------------------------- comparing panics

fn caught_message(f: impl FnOnce() -> u64 + std::panic::UnwindSafe) -> String {
    let p = std::panic::catch_unwind(f).expect_err("the primary's panic reaches the caller");
    message(&*p)
}

fn same_panic(x: u64) -> u64 {
    if x % 3 == 0 {
        panic!("no rate for {x}");
    }
    x
}

fn other_panic(x: u64) -> u64 {
    if x % 3 == 0 {
        panic!("division by zero");
    }
    x
}

#[parallel_run(candidate = same_panic, mode = inline, panics = compare)]
fn alike(x: u64) -> u64 {
    if x % 3 == 0 {
        panic!("no rate for {x}");
    }
    x
}

#[parallel_run(candidate = other_panic, mode = inline, panics = compare)]
fn unalike(x: u64) -> u64 {
    if x % 3 == 0 {
        panic!("no rate for {x}");
    }
    x
}

fn never_panics(x: u64) -> u64 {
    x
}

#[parallel_run(candidate = never_panics, panics = compare)]
fn fixed(x: u64) -> u64 {
    if x % 3 == 0 {
        panic!("no rate for {x}");
    }
    x
}

#[parallel_run(candidate = never_panics)]
fn propagates(x: u64) -> u64 {
    if x % 3 == 0 {
        panic!("no rate for {x}");
    }
    x
}

#[test]
fn panics_compare_judges_the_candidate_against_the_primarys_panic() {
    for x in 1..=9u64 {
        for f in [alike, unalike, fixed, propagates] {
            if x % 3 == 0 {
                // The caller gets the primary's own panic, unchanged, in every mode.
                assert_eq!(caught_message(move || f(x)), format!("no rate for {x}"));
            } else {
                assert_eq!(f(x), x);
            }
        }
    }
    let a = settled("scientist_parity::alike");
    assert_eq!(
        a.counts.get(Outcome::Match),
        9,
        "equal panics are a match: {a:?}"
    );
    let u = settled("scientist_parity::unalike");
    assert_eq!(u.counts.get(Outcome::Match), 6);
    assert_eq!(u.counts.get(Outcome::Mismatch), 3);
    assert!(u.discrepancies[0]
        .detail
        .contains("the candidate panicked: division by zero"));
    // Detached: the candidate ran on the lane after the caller got the panic.
    let f = settled("scientist_parity::fixed");
    assert_eq!(f.counts.get(Outcome::Match), 6);
    assert_eq!(f.counts.get(Outcome::Mismatch), 3);
    assert!(
        f.discrepancies[0]
            .detail
            .contains("the candidate returned a value"),
        "{:?}",
        f.discrepancies[0]
    );
    // The default: a primary panic is counted as such and the candidate does not run.
    let p = settled("scientist_parity::propagates");
    assert_eq!(p.counts.get(Outcome::PrimaryPanic), 3);
    assert_eq!(p.counts.get(Outcome::Match), 6);
}

async fn same_panic_async(x: u64) -> u64 {
    same_panic(x)
}

#[parallel_run(candidate = same_panic_async, panics = compare)]
async fn alike_async(x: u64) -> u64 {
    same_panic(x)
}

#[parallel_run(candidate = same_panic_async, mode = inline, panics = compare)]
async fn alike_async_inline(x: u64) -> u64 {
    same_panic(x)
}

#[test]
fn panics_compare_works_for_async_fns_detached_and_inline() {
    let rt = common::multi_thread_runtime();
    for x in 1..=6u64 {
        for inline in [false, true] {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                rt.block_on(async {
                    if inline {
                        alike_async_inline(x).await
                    } else {
                        alike_async(x).await
                    }
                })
            }));
            match r {
                Ok(v) => assert_eq!(v, x),
                Err(p) => assert_eq!(message(&*p), format!("no rate for {x}")),
            }
        }
    }
    for name in [
        "scientist_parity::alike_async",
        "scientist_parity::alike_async_inline",
    ] {
        let s = settled(name);
        assert_eq!(s.counts.get(Outcome::Match), 6, "{name}: {s:?}");
    }
}

/// A panic payload as text.
fn message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}
