//! Strict mode (Scientist's `raise_on_mismatches`). One test: the global switch is process-wide.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use parallel_run::{config, parallel_run, Outcome};

#[parallel_run(candidate = double_v2, mode = inline, strict = true)]
fn double(x: i32) -> i32 {
    x * 2
}

fn double_v2(x: i32) -> i32 {
    if x == 3 {
        7
    } else {
        x + x
    }
}

#[parallel_run(candidate = detached_v2)]
fn detached(x: i32) -> i32 {
    x
}

fn detached_v2(x: i32) -> i32 {
    x + i32::from(x > 10)
}

#[parallel_run(candidate = async_v2)]
async fn async_strict(x: i32) -> i32 {
    x
}

async fn async_v2(x: i32) -> i32 {
    if x > 10 {
        panic!("async candidate bug");
    }
    x
}

#[parallel_run(candidate = lenient_v2, mode = inline, strict = false)]
fn lenient(x: i32) -> i32 {
    x
}

fn lenient_v2(x: i32) -> i32 {
    x + 1
}

fn message(r: std::thread::Result<i32>) -> String {
    let p = r.expect_err("strict mode must fail the call");
    p.downcast_ref::<String>().cloned().unwrap_or_default()
}

#[test]
fn strict_mode_fails_the_call_after_recording_it() {
    // The attribute forces it: a mismatch panics in the caller, with both values and the diff.
    assert_eq!(double(2), 4);
    let msg = message(catch_unwind(|| double(3)));
    assert!(
        msg.contains("experiment `strict::double` failed in strict mode: mismatch"),
        "{msg}"
    );
    assert!(
        msg.contains("primary:   6") && msg.contains("candidate: 7"),
        "{msg}"
    );
    // Recorded and published before the failure.
    let s = parallel_run::snapshot::experiment("strict::double").unwrap();
    assert_eq!(
        (
            s.counts.get(Outcome::Match),
            s.counts.get(Outcome::Mismatch)
        ),
        (1, 1)
    );

    // Off by default: a detached mismatch passes (and is counted).
    assert_eq!(detached(11), 11);
    assert!(parallel_run::wait_idle(Duration::from_secs(10)));
    assert_eq!(
        parallel_run::snapshot::experiment("strict::detached")
            .unwrap()
            .counts
            .get(Outcome::Mismatch),
        1
    );

    // The global switch, from the next call on; detached candidates then run in the caller so
    // the failure cannot pass silently on another thread.
    config::set_strict(Some(true));
    assert_eq!(detached(1), 1);
    let msg = message(catch_unwind(|| detached(12)));
    assert!(msg.contains("strict::detached"), "{msg}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let msg = message(catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async_strict(12))
    })));
    assert!(
        msg.contains("candidate_panic") && msg.contains("async candidate bug"),
        "{msg}"
    );
    // An experiment that says `strict = false` stays lenient under the global switch.
    assert_eq!(lenient(1), 1);

    config::set_strict(Some(false));
    assert_eq!(detached(13), 13); // back to off on the very next call
    assert!(parallel_run::wait_idle(Duration::from_secs(10)));
    let s = parallel_run::snapshot::experiment("strict::detached").unwrap();
    assert_eq!(s.counts.get(Outcome::Mismatch), 3);
    assert_eq!(s.lost(), 0);
    config::set_strict(None);
}
