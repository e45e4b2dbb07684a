//! Noise cancellation: a pure primary runs a second time (after the candidate) on a share of
//! shadowed calls and on every call whose difference the learned noise does not explain yet; the
//! paths where it differs from itself are learned, and a mismatch only at those paths counts as
//! `noise`, not as a mismatch.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};
use std::time::Duration;

use parallel_run::structural::Structural;
use parallel_run::{parallel_run, ExperimentSnapshot, Outcome};
use serde::Serialize;

mod common;

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

// ------------------------------------------------------------------------------------------
// A rewrite identical to the legacy code but for its noise: a request id (different on every
// run) and a millisecond clock, the issue-12 scenario. Deterministic: the ids and the clock's
// ticks come from a seeded generator, so every run sees the same sequence of values (which call
// gets which depends on the threads, and the verdicts must not).

const SEED: u64 = 0x5eed_0012_2026;
static IDS: AtomicU64 = AtomicU64::new(0);
static CLOCK_US: AtomicU64 = AtomicU64::new(0);

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A pseudo-random id, never the same twice (splitmix64 is a bijection).
fn request_id() -> u64 {
    splitmix(SEED ^ IDS.fetch_add(1, Ordering::SeqCst))
}

/// Milliseconds since the epoch on a clock that starts now and ticks 1 to 700 us (seeded) at
/// every read, so that two reads are often a millisecond apart.
fn now_ms() -> u64 {
    static BASE_MS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let base = *BASE_MS.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    });
    let us = CLOCK_US
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
            Some(t + 1 + splitmix(SEED ^ t) % 700)
        })
        .unwrap();
    base + us / 1000
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Priced {
    pub sku: u64,
    pub amount: u64,
    pub request_id: u64,
    pub quoted_at_ms: u64,
    pub lines: Vec<Line>,
}

fn priced(sku: u64, amount: u64, quoted_at_ms: u64) -> Priced {
    Priced {
        sku,
        amount,
        request_id: request_id(),
        quoted_at_ms,
        lines: lines(sku),
    }
}

/// The real bugs of the buggy rewrite: a wrong amount on one call in ten, and a clock an hour
/// off on another one in ten.
fn wrong_amount(x: u64) -> bool {
    x % 10 == 3
}
fn clock_off(x: u64) -> bool {
    x % 10 == 7
}

fn legacy(x: u64) -> Priced {
    priced(x, x * 2, now_ms())
}

fn rewrite(x: u64) -> Priced {
    legacy(x)
}

fn buggy_rewrite(x: u64) -> Priced {
    let amount = if wrong_amount(x) { x * 2 + 1 } else { x * 2 };
    let at = if clock_off(x) {
        now_ms() + 3_600_000
    } else {
        now_ms()
    };
    priced(x, amount, at)
}

#[parallel_run(candidate = rewrite, compare = Structural::new(), noise = 0.05,
    min_match_rate = 0.999, min_samples = 1000, name = "noise::same")]
fn same(x: u64) -> Priced {
    legacy(x)
}

#[parallel_run(candidate = buggy_rewrite, compare = Structural::new(), noise = 0.05,
    min_match_rate = 0.999, min_samples = 1000, name = "noise::bug")]
fn bug(x: u64) -> Priced {
    legacy(x)
}

async fn rewrite_async(x: u64) -> Priced {
    tokio::task::yield_now().await;
    rewrite(x)
}

async fn buggy_rewrite_async(x: u64) -> Priced {
    tokio::task::yield_now().await;
    buggy_rewrite(x)
}

#[parallel_run(candidate = rewrite_async, compare = Structural::new(), noise = 0.05,
    min_match_rate = 0.999, min_samples = 1000, name = "noise::same_async")]
async fn same_async(x: u64) -> Priced {
    tokio::task::yield_now().await;
    legacy(x)
}

#[parallel_run(candidate = buggy_rewrite_async, compare = Structural::new(), noise = 0.05,
    min_match_rate = 0.999, min_samples = 1000, name = "noise::bug_async")]
async fn bug_async(x: u64) -> Priced {
    tokio::task::yield_now().await;
    legacy(x)
}

const CALLS: u64 = 2_000;
/// Calls between two waits for the shadow lane: fewer than `max_in_flight` (64), so that no call
/// is shed and every one of the 2,000 is compared.
const BATCH: u64 = 40;

/// Every discrepancy line published, as the discrepancy log would write it.
static LOGGED: Mutex<Vec<serde_json::Value>> = Mutex::new(Vec::new());

struct Collect;
impl parallel_run::publish::Publisher for Collect {
    fn publish(&self, d: &parallel_run::Discrepancy) {
        LOGGED
            .lock()
            .unwrap()
            .push(parallel_run::publish::to_json(d));
    }
}

fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        parallel_run::publish::add_publisher(Collect);
        // The lane's CPU budget would shed calls on a loaded machine: every call must be compared.
        parallel_run::lane::set_budget(None).unwrap();
    });
}

/// The report (`parallel-run report`) of experiment `name` over its discrepancy lines and its
/// summary line: what a team would read before a cutover.
fn report(s: &ExperimentSnapshot) -> (shadow_cli::Verdict, u64, u64, Option<u64>) {
    let mut scan = shadow_cli::Scanner::new();
    let mut n = 0;
    for line in LOGGED.lock().unwrap().iter() {
        if line["experiment"] == s.name {
            n += 1;
            scan.line("log", n, line.to_string().as_bytes());
        }
    }
    let summary = parallel_run::publish::summary_json(s).to_string();
    scan.line("log", n + 1, summary.as_bytes());
    let r = shadow_cli::Report::build(&scan, &Default::default(), vec!["log".into()]);
    let e = r.experiments.iter().find(|e| e.name == s.name).unwrap();
    let mismatch = e.outcomes.get("mismatch").copied().unwrap_or(0);
    (e.verdict, mismatch, e.discrepancies, e.calls)
}

/// Checks what every scenario must show, and returns the snapshot.
fn settled(name: &str) -> ExperimentSnapshot {
    let s = parallel_run::snapshot::experiment(name).unwrap();
    assert_eq!(s.lost(), 0);
    assert_eq!(s.in_flight, 0);
    assert_eq!(s.shed.total(), 0, "{name}: every call is compared");
    assert_eq!(s.calls(), CALLS);
    assert!(s.internal_errors.is_empty(), "{:?}", s.internal_errors);
    // A second run happened, and the noise was learned: the id and the clock (a clock path).
    assert!(s.noise_runs >= s.noise_confirmations && s.noise_confirmations > 0);
    let learned: Vec<&str> = s.noisy_paths.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        learned,
        ["$.lines[*].trace", "$.quoted_at_ms", "$.request_id"]
    );
    let clocks: Vec<&str> = s.noise_clocks.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(clocks, ["$.quoted_at_ms"]);
    s
}

/// The identical rewrite: 2,000 calls, 0 mismatches, READY, for the gate and for the report.
fn assert_identical(name: &str) {
    let s = settled(name);
    // Every call differs at `$.request_id` at least: each one is noise, none a mismatch.
    assert_eq!(s.counts.get(Outcome::Noise), CALLS);
    assert_eq!(s.counts.get(Outcome::Mismatch), 0);
    assert!(s.discrepancies.is_empty());
    assert_eq!(s.match_rate(), Some(1.0));
    assert_eq!(s.gate_measured, (CALLS, CALLS));
    let (verdict, mismatch, lines, compared) = report(&s);
    assert_eq!(verdict, shadow_cli::Verdict::Ready);
    assert_eq!((mismatch, lines, compared), (0, 0, Some(CALLS)));
    // The promotion gate lets a ramp through.
    parallel_run::live::set_ramp(name, 0.1).unwrap();
    let s = parallel_run::snapshot::experiment(name).unwrap();
    assert_eq!(s.gate, parallel_run::cutover::GateStatus::Open);
}

/// The buggy rewrite: exactly the calls with a real bug are mismatches, in every count.
fn assert_buggy(name: &str) {
    let s = settled(name);
    let amount = (0..CALLS).filter(|x| wrong_amount(*x)).count() as u64;
    let clock = (0..CALLS).filter(|x| clock_off(*x)).count() as u64;
    assert_eq!((amount, clock), (200, 200));
    assert_eq!(s.counts.get(Outcome::Mismatch), amount + clock);
    assert_eq!(s.counts.get(Outcome::Noise), CALLS - amount - clock);
    assert_eq!(s.gate_measured, (CALLS - amount - clock, CALLS));
    // Each retained discrepancy shows its bug (and the noise next to it).
    for d in &s.discrepancies {
        let clock = d
            .detail
            .lines()
            .find_map(|l| l.strip_prefix("$.quoted_at_ms: "))
            .and_then(|v| v.split_once(" -> "))
            .map(|(a, b)| b.parse::<u64>().unwrap() - a.parse::<u64>().unwrap());
        let amount = d.detail.contains("$.amount: ");
        assert!(
            amount != clock.is_some_and(|gap| gap >= 3_600_000),
            "{}",
            d.detail
        );
        assert!(d.detail.contains("$.request_id: "), "{}", d.detail);
    }
    let (verdict, mismatch, lines, compared) = report(&s);
    assert_eq!(verdict, shadow_cli::Verdict::NotReady);
    assert_eq!(
        (mismatch, lines, compared),
        (amount + clock, amount + clock, Some(CALLS))
    );
    // A real bug costs a bounded number of confirmations, not one per mismatch.
    assert!(
        s.noise_confirmations < amount + clock,
        "{} confirmations",
        s.noise_confirmations
    );
    parallel_run::live::set_ramp(name, 0.1).unwrap();
    let s = parallel_run::snapshot::experiment(name).unwrap();
    assert!(matches!(
        s.gate,
        parallel_run::cutover::GateStatus::Refused { .. }
    ));
}

fn run_sync(f: fn(u64) -> Priced) {
    setup();
    for start in (0..CALLS).step_by(BATCH as usize) {
        for x in start..start + BATCH {
            // The caller always gets the legacy result.
            assert_eq!(f(x).amount, x * 2);
        }
        assert!(parallel_run::wait_idle(Duration::from_secs(60)));
    }
}

fn run_async<F: std::future::Future<Output = Priced>>(f: fn(u64) -> F) {
    setup();
    let rt = common::multi_thread_runtime();
    rt.block_on(async {
        for start in (0..CALLS).step_by(BATCH as usize) {
            for x in start..start + BATCH {
                assert_eq!(f(x).await.amount, x * 2);
            }
            tokio::time::timeout(Duration::from_secs(60), parallel_run::snapshot::idle())
                .await
                .unwrap();
        }
    });
}

#[test]
fn an_identical_rewrite_with_noise_has_no_mismatch_and_is_ready() {
    run_sync(same);
    assert_identical("noise::same");
}

#[test]
fn real_bugs_next_to_noise_are_every_one_a_mismatch() {
    run_sync(bug);
    assert_buggy("noise::bug");
}

#[test]
fn an_identical_async_rewrite_with_noise_has_no_mismatch_and_is_ready() {
    run_async(same_async);
    assert_identical("noise::same_async");
}

#[test]
fn real_bugs_next_to_noise_in_an_async_rewrite_are_every_one_a_mismatch() {
    run_async(bug_async);
    assert_buggy("noise::bug_async");
}

// Strict mode (and so `testing::differential`) runs the second run in the caller too: noise
// does not fail a test.
#[parallel_run(candidate = rewrite, compare = Structural::new(), noise = 0.05, name = "noise::strict")]
fn strict(x: u64) -> Priced {
    legacy(x)
}

#[parallel_run(candidate = buggy_rewrite, compare = Structural::new(), noise = 0.05, name = "noise::strict_bug")]
fn strict_bug(x: u64) -> Priced {
    legacy(x)
}

#[test]
fn a_differential_test_of_a_noisy_rewrite_fails_only_on_its_real_bugs() {
    parallel_run::testing::differential("noise::strict", 0..200u64, |x| strict(*x))
        .assert_all_match();
    let r = parallel_run::testing::differential("noise::strict_bug", 0..200u64, |x| strict_bug(*x));
    assert_eq!(r.compared, 200);
    let failed = (0..200u64)
        .filter(|x| wrong_amount(*x) || clock_off(*x))
        .count();
    assert_eq!(r.failures.len(), failed);
    assert_eq!(failed, 40);
}
