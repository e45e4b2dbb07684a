//! Annotated functions built with `parallel-run/no-shadow`.

use std::sync::atomic::{AtomicUsize, Ordering};

use parallel_run::parallel_run;

/// How many times any candidate ran.
pub static CANDIDATE_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Sync, detached, every call sampled.
#[parallel_run(candidate = total_v2, name = "no_shadow::total")]
pub fn total(items: &[u64]) -> u64 {
    items.iter().sum()
}

fn total_v2(items: &[u64]) -> u64 {
    CANDIDATE_RUNS.fetch_add(1, Ordering::SeqCst);
    items.iter().sum()
}

/// Inline, with a candidate that panics.
#[parallel_run(candidate = risky_v2, mode = inline, name = "no_shadow::risky")]
pub fn risky(x: u32) -> u32 {
    x
}

fn risky_v2(_: u32) -> u32 {
    CANDIDATE_RUNS.fetch_add(1, Ordering::SeqCst);
    panic!("never runs when compiled out")
}
