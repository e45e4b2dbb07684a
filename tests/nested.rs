//! A shadow never multiplies load: a call made inside a shadow run (a candidate calling an
//! annotated helper, the legacy code shadowing a ramp, anything on the shadow lane) or inside the
//! same experiment's primary (recursion) runs its served side only, starts no shadow of its own,
//! and is counted as `nested`, never as a shadowed call of its experiment.

mod common;

use std::time::Duration;

use parallel_run::{live, parallel_run, ExperimentSnapshot, Outcome};

fn settled(name: &str) -> ExperimentSnapshot {
    assert!(
        parallel_run::wait_idle(Duration::from_secs(30)),
        "candidates did not finish"
    );
    let s = parallel_run::snapshot::experiment(name).unwrap_or_else(|| panic!("{name} never ran"));
    assert_eq!(s.lost(), 0, "accounting lost calls: {s:?}");
    s
}

/// Calls `fib(n)` makes in all, itself included.
fn calls_of_fib(n: u64) -> u64 {
    if n < 2 {
        1
    } else {
        1 + calls_of_fib(n - 1) + calls_of_fib(n - 2)
    }
}

fn fib_iter(n: u64) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        (a, b) = (b, a + b);
    }
    a
}

// ------------------------------------------------------------------------------ recursion

#[parallel_run(candidate = fib_iter, mode = inline)]
fn fib_inline(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib_inline(n - 1) + fib_inline(n - 2)
    }
}

#[parallel_run(candidate = fib_iter)]
fn fib_detached(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib_detached(n - 1) + fib_detached(n - 2)
    }
}

#[test]
fn recursion_shadows_only_the_outermost_call() {
    for _ in 0..3 {
        assert_eq!(fib_inline(15), 610);
        assert_eq!(fib_detached(15), 610);
    }
    for name in ["nested::fib_inline", "nested::fib_detached"] {
        let s = settled(name);
        assert_eq!(
            s.shadowed, 3,
            "{name}: exactly one shadow per outer call: {s:?}"
        );
        assert_eq!(s.counts.get(Outcome::Match), 3, "{name}");
        assert_eq!(
            s.counts.get(Outcome::Nested),
            3 * (calls_of_fib(15) - 1),
            "{name}"
        );
        assert_eq!(s.calls(), 3 * calls_of_fib(15), "{name}");
        assert_eq!(s.match_rate(), Some(1.0));
    }
}

async fn fib_async_iter(n: u64) -> u64 {
    fib_iter(n)
}

#[parallel_run(candidate = fib_async_iter, mode = inline)]
async fn fib_async(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        Box::pin(fib_async(n - 1)).await + Box::pin(fib_async(n - 2)).await
    }
}

#[test]
fn async_recursion_shadows_only_the_outermost_call_across_awaits() {
    let rt = common::multi_thread_runtime();
    rt.block_on(async {
        for _ in 0..2 {
            assert_eq!(fib_async(12).await, 144);
        }
    });
    let s = settled("nested::fib_async");
    assert_eq!(s.shadowed, 2, "{s:?}");
    assert_eq!(s.counts.get(Outcome::Match), 2);
    assert_eq!(s.counts.get(Outcome::Nested), 2 * (calls_of_fib(12) - 1));
}

// ------------------------------------------------------ a candidate calling an annotated helper

#[parallel_run(candidate = tax_v2)]
fn tax(cents: u64) -> u64 {
    cents / 10
}

fn tax_v2(cents: u64) -> u64 {
    cents / 10
}

#[parallel_run(candidate = total_v2)]
fn total(cents: u64) -> u64 {
    cents + cents / 10
}

/// The rewrite reuses the (annotated) legacy helper.
fn total_v2(cents: u64) -> u64 {
    cents + tax(cents)
}

#[parallel_run(candidate = total_async_v2)]
async fn total_async(cents: u64) -> u64 {
    cents + cents / 10
}

async fn total_async_v2(cents: u64) -> u64 {
    cents + tax(cents)
}

#[test]
fn a_helper_called_by_candidates_counts_only_production_calls_as_shadowed() {
    // 40 production calls of the helper itself.
    for i in 0..40 {
        assert_eq!(tax(i * 10), i);
    }
    assert!(parallel_run::wait_idle(Duration::from_secs(30)));
    // 60 calls whose candidates (detached: on the lane's pool and runtime) call the helper.
    for i in 0..30 {
        assert_eq!(total(i * 10), i * 11);
    }
    let rt = common::multi_thread_runtime();
    rt.block_on(async {
        for i in 0..30 {
            assert_eq!(total_async(i * 10).await, i * 11);
        }
        parallel_run::snapshot::idle().await;
    });
    let t = settled("nested::total");
    let ta = settled("nested::total_async");
    let ran = t.counts.get(Outcome::Match) + ta.counts.get(Outcome::Match);
    assert_eq!(ran, 60, "{t:?} {ta:?}");
    let h = settled("nested::tax");
    assert_eq!(h.shadowed, 40, "only production calls are shadowed: {h:?}");
    assert_eq!(h.counts.get(Outcome::Match), 40);
    assert_eq!(
        h.counts.get(Outcome::Nested),
        ran,
        "each candidate's call is nested"
    );
    assert_eq!(h.match_rate(), Some(1.0));
}

// ------------------------------------------------ the legacy code shadowing a ramp

#[parallel_run(candidate = lookup_v2)]
fn lookup(id: u64) -> u64 {
    id * 3
}

fn lookup_v2(id: u64) -> u64 {
    id * 3
}

#[parallel_run(candidate = quote_v2, mode = inline)]
fn quote(id: u64) -> u64 {
    lookup(id) + 1 // the legacy code calls an annotated lookup
}

fn quote_v2(id: u64) -> u64 {
    id * 3 + 1
}

#[test]
fn the_legacy_code_running_as_the_shadow_of_a_ramp_starts_no_shadow() {
    live::set_ramp("nested::quote", 1.0).unwrap();
    for i in 0..25 {
        assert_eq!(quote(i), i * 3 + 1);
    }
    let q = settled("nested::quote");
    assert_eq!(q.served_by_candidate, 25);
    assert_eq!(q.counts.get(Outcome::Match), 25);
    let l = settled("nested::lookup");
    assert_eq!(l.shadowed, 0, "{l:?}");
    assert_eq!(l.counts.get(Outcome::Nested), 25);
}
