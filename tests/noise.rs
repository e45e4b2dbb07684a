//! Noise cancellation: a pure primary runs a second time on a share of shadowed calls; the paths
//! where it differs from itself are learned, and a mismatch only at those paths counts as
//! `noise`, not as a mismatch.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parallel_run::structural::Structural;
use parallel_run::{parallel_run, Outcome};
use serde::Serialize;

static SEQ: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub sku: u64,
    pub trace: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quote {
    pub amount: u64,
    /// Different on every run of either implementation: noise.
    pub request_id: u64,
    pub lines: Vec<Line>,
}

fn lines(x: u64) -> Vec<Line> {
    (0..2)
        .map(|i| Line {
            sku: x + i,
            trace: SEQ.fetch_add(1, Ordering::Relaxed),
        })
        .collect()
}

#[parallel_run(candidate = quote_v2, compare = Structural::new(), noise = 1.0, name = "noise::quote")]
fn quote(x: u64) -> Quote {
    Quote {
        amount: x * 2,
        request_id: SEQ.fetch_add(1, Ordering::Relaxed),
        lines: lines(x),
    }
}

fn quote_v2(x: u64) -> Quote {
    Quote {
        amount: if x == 13 { x * 2 + 1 } else { x * 2 },
        request_id: SEQ.fetch_add(1, Ordering::Relaxed),
        lines: lines(x),
    }
}

#[parallel_run(candidate = quote_v2, compare = Structural::new(), name = "noise::without")]
fn without(x: u64) -> Quote {
    quote_body(x)
}

fn quote_body(x: u64) -> Quote {
    Quote {
        amount: x * 2,
        request_id: SEQ.fetch_add(1, Ordering::Relaxed),
        lines: lines(x),
    }
}

#[test]
fn differences_where_the_primary_differs_from_itself_are_noise() {
    for x in 0..20 {
        assert_eq!(quote(x).amount, x * 2);
        assert_eq!(without(x).amount, x * 2);
    }
    assert!(parallel_run::wait_idle(Duration::from_secs(30)));
    let s = parallel_run::snapshot::experiment("noise::quote").unwrap();
    assert_eq!(s.lost(), 0);
    assert_eq!(s.noise_runs, 20);
    let learned: Vec<&str> = s.noisy_paths.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(learned, ["$.lines[*].trace", "$.request_id"]);
    assert_eq!(s.counts.get(Outcome::Noise), 19);
    // A real difference next to the noise is still a mismatch.
    assert_eq!(s.counts.get(Outcome::Mismatch), 1);
    assert!(s.discrepancies[0].detail.contains("$.amount: 26 -> 27"));
    assert_eq!(s.match_rate(), Some(19.0 / 20.0));
    // Without `noise`, every call is a mismatch.
    let w = parallel_run::snapshot::experiment("noise::without").unwrap();
    assert_eq!(w.counts.get(Outcome::Mismatch), 20);
    assert!(w.noisy_paths.is_empty());
    let line = parallel_run::publish::summary_json(&s);
    assert_eq!(
        line["noisy_paths"],
        serde_json::json!(["$.lines[*].trace", "$.request_id"])
    );
}

// A "pure" primary that writes: its second run is refused and reported, never applied.
#[parallel_run(candidate = impure_v2, noise = 1.0, name = "noise::impure")]
fn impure(x: u64) -> u64 {
    let _ = parallel_run::guard_write("audit.insert");
    x
}

fn impure_v2(x: u64) -> u64 {
    x
}

#[test]
fn a_second_run_that_writes_is_refused_and_reported() {
    assert_eq!(impure(5), 5);
    assert!(parallel_run::wait_idle(Duration::from_secs(10)));
    let s = parallel_run::snapshot::experiment("noise::impure").unwrap();
    assert_eq!(s.counts.get(Outcome::Match), 1);
    assert_eq!(s.internal_errors, vec![("noise", 1)]);
}
