//! Skipped calls never allocate: after an experiment's first call (which registers it and, once
//! per thread, creates that thread's counter block), a call with the kill switch off and a
//! sampled-out call allocate nothing, not even the copies of the arguments a detached candidate
//! would need. Nor does a shed call, nor a shadowed inline call whose two sides match.
//!
//! `allocation-counter`'s global allocator counts the allocations of the current thread only, so
//! the test harness's other threads and the library's worker pool cannot disturb the counts. The
//! binary holds a single `#[test]` because the kill switch is process-wide.

use std::time::Duration;

use allocation_counter::measure;
use parallel_run::{parallel_run, Outcome};

/// The allocations `f` makes on this thread (`allocation-counter` installs a counting global
/// allocator that counts per thread).
fn allocations_in(f: impl FnOnce()) -> u64 {
    measure(f).count_total
}

// Detached mode (the default) with borrowed arguments: a shadowed call copies the slice into a
// `Vec` and the string into a `String` for the candidate. A skipped call must not.
#[parallel_run(candidate = total_v2, name = "alloc::kill_switch")]
fn total(prices: &[u64], currency: &str) -> u64 {
    let _ = currency;
    prices.iter().sum()
}

fn total_v2(prices: &[u64], currency: &str) -> u64 {
    let _ = currency;
    let mut sum = 0;
    for p in prices {
        sum += p;
    }
    sum
}

// The smallest rate the attribute takes that is not 0 (rate 0 counts calls as `Disabled`, not
// `SampledOut`): a threshold of 18 out of 2^64, so in practice every call is sampled out.
#[parallel_run(
    candidate = words_v2,
    sample = 0.000000000000000001,
    name = "alloc::sampled_out"
)]
fn words(text: &str, extra: Vec<u8>) -> usize {
    text.split_whitespace().count() + extra.len()
}

fn words_v2(text: &str, extra: Vec<u8>) -> usize {
    text.split(' ').filter(|w| !w.is_empty()).count() + extra.len()
}

#[parallel_run(candidate = double_v2, mode = inline, name = "alloc::inline_match")]
fn double(x: u64) -> u64 {
    x * 2
}

fn double_v2(x: u64) -> u64 {
    x + x
}

static HOLD: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[parallel_run(candidate = held_v2, max_in_flight = 1, name = "alloc::shed")]
fn held(text: &str) -> usize {
    text.len()
}

/// Holds the experiment's only slot while the test holds `HOLD`.
fn held_v2(text: &str) -> usize {
    let _g = HOLD.lock().unwrap_or_else(|e| e.into_inner());
    text.len()
}

const N: u64 = 10_000;

#[test]
fn skipped_calls_do_not_allocate() {
    let prices = [1u64, 2, 3, 4];

    // The allocator counts what this thread allocates.
    assert_eq!(
        allocations_in(|| drop(std::hint::black_box(vec![1u8]))),
        1,
        "the counting allocator counts"
    );

    // --- Kill switch off. ------------------------------------------------------------------
    parallel_run::set_global_enabled(false);
    // Warm-up: the experiment's first call registers it; the thread's first call of any
    // experiment creates its counter block.
    assert_eq!(total(&prices, "EUR"), 10);

    let mut sum = 0u64;
    let allocated = allocations_in(|| {
        for i in 0..N {
            sum += total(&prices[..(i % 5) as usize], "EUR");
        }
    });
    parallel_run::set_global_enabled(true);

    assert_eq!(allocated, 0, "{N} calls with the kill switch off allocated");
    // Prefixes of length 0..=4 of [1, 2, 3, 4] sum to 0, 1, 3, 6, 10: 20 per 5 calls.
    assert_eq!(sum, N / 5 * 20);
    let s = parallel_run::snapshot::experiment("alloc::kill_switch").unwrap();
    assert_eq!(s.counts.get(Outcome::Disabled), N + 1);
    assert_eq!(s.shadowed, 0);

    // --- Sampled out. ----------------------------------------------------------------------
    assert_eq!(words("warm up", Vec::new()), 2);

    let text = "one two  three";
    let mut sum = 0usize;
    let allocated = allocations_in(|| {
        for _ in 0..N {
            // An empty `Vec` does not allocate; the attribute's copy for the candidate would
            // only clone it, so pass it by value to exercise the by-value argument path too.
            sum += words(text, Vec::new());
        }
    });

    assert_eq!(allocated, 0, "{N} sampled-out calls allocated");
    assert_eq!(sum, 3 * N as usize);
    let s = parallel_run::snapshot::experiment("alloc::sampled_out").unwrap();
    assert_eq!(s.counts.get(Outcome::SampledOut), N + 1);
    assert_eq!(s.shadowed, 0);

    // --- A shadowed inline call whose sides match. ------------------------------------------
    assert_eq!(double(1), 2);
    let mut sum = 0u64;
    let allocated = allocations_in(|| {
        for i in 0..N {
            sum += double(i);
        }
    });
    assert_eq!(allocated, 0, "{N} matching inline shadowed calls allocated");
    assert_eq!(sum, N * (N - 1));
    let s = parallel_run::snapshot::experiment("alloc::inline_match").unwrap();
    assert_eq!(s.counts.get(Outcome::Match), N + 1);

    // --- Shed calls: the only slot is held. ---------------------------------------------------
    let hold = HOLD.lock().unwrap();
    assert_eq!(held("holds the slot"), 14); // its candidate blocks on the pool
    let mut sum = 0usize;
    let allocated = allocations_in(|| {
        for _ in 0..N {
            sum += held("shed"); // detached: a shadowed call would copy the &str to a String
        }
    });
    drop(hold);
    assert_eq!(
        allocated,
        0,
        "{N} shed calls allocated: {:?}",
        parallel_run::snapshot::experiment("alloc::shed")
    );
    assert_eq!(sum, 4 * N as usize);
    assert!(parallel_run::wait_idle(Duration::from_secs(10)));
    let s = parallel_run::snapshot::experiment("alloc::shed").unwrap();
    assert_eq!(s.counts.get(Outcome::Shed), N);
    assert_eq!(s.counts.get(Outcome::Match), 1);

    // --- Control: a shadowed detached call does allocate (the argument copies, the job). ----
    let allocated = allocations_in(|| assert_eq!(total(&prices, "EUR"), 10));
    assert!(allocated > 0, "a shadowed call was expected to allocate");
    assert!(parallel_run::wait_idle(Duration::from_secs(10)));
    let s = parallel_run::snapshot::experiment("alloc::kill_switch").unwrap();
    assert_eq!(s.counts.get(Outcome::Match), 1);
    assert_eq!(s.lost(), 0);
}
