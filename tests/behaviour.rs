//! Behaviour of `#[parallel_run]` seen from a user's crate: what the caller gets back, what is
//! counted, and that the candidate never hurts the caller.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parallel_run::{parallel_run, Comparator, ExperimentSnapshot, Outcome, Verdict};

fn settled(name: &str) -> ExperimentSnapshot {
    assert!(
        parallel_run::wait_idle(Duration::from_secs(20)),
        "candidates did not finish"
    );
    let s = parallel_run::snapshot::experiment(name).unwrap_or_else(|| panic!("{name} never ran"));
    assert_eq!(s.lost(), 0, "accounting lost calls: {s:?}");
    s
}

// ---------------------------------------------------------------- sync, detached (worker pool)

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    cents: u64,
}

#[parallel_run(candidate = total_v2)]
fn total(items: &[Item], currency: &str) -> String {
    format!("{} {currency}", items.iter().map(|i| i.cents).sum::<u64>())
}

fn total_v2(items: &[Item], currency: &str) -> String {
    let sum: u64 = items.iter().map(|i| i.cents).sum();
    // The rewrite forgets the currency on large totals.
    if sum > 1000 {
        format!("{sum}")
    } else {
        format!("{sum} {currency}")
    }
}

#[test]
fn sync_detached_counts_matches_and_mismatches_and_returns_the_primary() {
    for i in 0..10u64 {
        let items = vec![Item { cents: i * 200 }, Item { cents: 1 }];
        assert_eq!(total(&items, "EUR"), format!("{} EUR", i * 200 + 1));
    }
    let s = settled("behaviour::total");
    // sums 1, 201, ..., 1801: above 1000 from i = 6 on.
    assert_eq!(s.shadowed, 10);
    assert_eq!(s.counts.get(Outcome::Match), 5);
    assert_eq!(s.counts.get(Outcome::Mismatch), 5);
    assert_eq!(s.match_rate(), Some(0.5));
    // Workers finish in any order: find the record of the call with a sum of 1201.
    let d = s
        .discrepancies
        .iter()
        .find(|d| d.detail.contains("1201"))
        .expect("the 1201 mismatch is retained");
    assert_eq!(d.outcome, Outcome::Mismatch);
    assert!(d.detail.contains("primary:   \"1201 EUR\""), "{}", d.detail);
    assert!(d.detail.contains("candidate: \"1201\""), "{}", d.detail);
    assert_eq!(d.primary.as_deref(), Some("\"1201 EUR\""));
}

static SLOW_GATE: Mutex<()> = Mutex::new(());

#[parallel_run(candidate = gated_v2)]
fn gated(x: u32) -> u32 {
    x + 1
}

fn gated_v2(x: u32) -> u32 {
    // Blocks until the test releases the gate: the caller must not wait for this.
    let _g = SLOW_GATE.lock().unwrap();
    x + 1
}

#[test]
fn sync_detached_caller_does_not_wait_for_the_candidate() {
    let gate = SLOW_GATE.lock().unwrap();
    assert_eq!(gated(1), 2);
    assert_eq!(gated(2), 3);
    let s = parallel_run::snapshot::experiment("behaviour::gated").unwrap();
    assert_eq!(
        s.in_flight, 2,
        "both candidates are still blocked, yet the calls returned"
    );
    drop(gate);
    let s = settled("behaviour::gated");
    assert_eq!(s.counts.get(Outcome::Match), 2);
}

// ---------------------------------------------------------------- isolation

#[derive(Debug, Clone, PartialEq)]
pub enum PayError {
    Declined(String),
}

#[parallel_run(candidate = charge_v2)]
fn charge(cents: i64) -> Result<i64, PayError> {
    if cents < 0 {
        return Err(PayError::Declined("negative".into()));
    }
    Ok(cents)
}

fn charge_v2(cents: i64) -> Result<i64, PayError> {
    if cents == 13 {
        panic!("unlucky amount");
    }
    if cents < 0 {
        return Err(PayError::Declined("negative".into()));
    }
    Ok(cents)
}

#[test]
fn candidate_panic_is_caught_and_counted_and_errors_pass_through() {
    assert_eq!(charge(13), Ok(13));
    assert_eq!(charge(-1), Err(PayError::Declined("negative".into())));
    assert_eq!(charge(5), Ok(5));
    let s = settled("behaviour::charge");
    assert_eq!(s.counts.get(Outcome::CandidatePanic), 1);
    // Two equal `Err`s go through the comparator and match.
    assert_eq!(s.counts.get(Outcome::Match), 2);
    let d = s
        .discrepancies
        .iter()
        .find(|d| d.outcome == Outcome::CandidatePanic)
        .unwrap();
    // The message, and where the candidate panicked (seen by the library's panic hook).
    assert!(
        d.detail
            .starts_with("unlucky amount (at tests/behaviour.rs:"),
        "{}",
        d.detail
    );
    assert_eq!(d.candidate, None);
}

#[parallel_run(candidate = explode_v2, mode = inline)]
fn explode(x: u8) -> u8 {
    if x == 0 {
        panic!("primary says no");
    }
    x
}

fn explode_v2(x: u8) -> u8 {
    x
}

#[test]
fn primary_panic_propagates_unchanged_and_is_never_a_mismatch() {
    let err = std::panic::catch_unwind(|| explode(0)).unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"primary says no"));
    assert_eq!(explode(3), 3);
    let s = settled("behaviour::explode");
    assert_eq!(s.counts.get(Outcome::PrimaryPanic), 1);
    assert_eq!(s.counts.get(Outcome::Mismatch), 0);
    assert_eq!(s.counts.get(Outcome::Match), 1);
}

struct PanickyComparator;
impl Comparator<u16> for PanickyComparator {
    fn compare(&self, a: &u16, b: &u16) -> Verdict {
        if *a == 7 {
            panic!("comparator bug");
        }
        (a == b).into()
    }
}

#[parallel_run(candidate = cmp_target_v2, compare = PanickyComparator)]
fn cmp_target(x: u16) -> u16 {
    x
}

fn cmp_target_v2(x: u16) -> u16 {
    x
}

#[test]
fn comparator_panic_is_caught_and_counted_apart() {
    assert_eq!(cmp_target(7), 7);
    assert_eq!(cmp_target(8), 8);
    let s = settled("behaviour::cmp_target");
    assert_eq!(s.counts.get(Outcome::ComparatorPanic), 1);
    assert_eq!(s.counts.get(Outcome::Match), 1);
    // A comparator bug says nothing about the candidate: it is left out of the match rate.
    assert_eq!(s.match_rate(), Some(1.0));
}

// ---------------------------------------------------------------- comparators

#[derive(Debug, Clone, PartialEq)]
pub struct Stamped {
    cents: i64,
    at_ms: u64,
}

#[parallel_run(
    candidate = stamp_v2,
    mode = inline,
    compare = |p: &Stamped, c: &Stamped| {
        if p.cents != c.cents {
            Verdict::mismatch(format!("cents: {} vs {}", p.cents, c.cents))
        } else if p.at_ms.abs_diff(c.at_ms) <= 5 {
            if p.at_ms == c.at_ms { Verdict::Match } else { Verdict::acceptable("clock skew") }
        } else {
            Verdict::mismatch("timestamps too far apart")
        }
    }
)]
fn stamp(cents: i64, at_ms: u64) -> Stamped {
    Stamped { cents, at_ms }
}

fn stamp_v2(cents: i64, at_ms: u64) -> Stamped {
    Stamped {
        cents: if cents == 99 { 100 } else { cents },
        at_ms: at_ms + (cents as u64 % 3),
    }
}

#[test]
fn closure_comparator_distinguishes_match_acceptable_and_mismatch() {
    for c in [3, 4, 5, 99] {
        assert_eq!(
            stamp(c, 1000),
            Stamped {
                cents: c,
                at_ms: 1000
            }
        );
    }
    let s = settled("behaviour::stamp");
    assert_eq!(s.counts.get(Outcome::Match), 1); // 3 % 3 == 0
    assert_eq!(s.counts.get(Outcome::Acceptable), 2); // 4, 5
    assert_eq!(s.counts.get(Outcome::Mismatch), 1); // 99
    assert_eq!(s.discrepancies[0].detail, "cents: 99 vs 100");
    assert_eq!(s.match_rate(), Some(0.75));
}

// ---------------------------------------------------------------- inline: &mut and ordering

#[derive(Debug, Clone, PartialEq)]
pub struct Cart {
    lines: Vec<u32>,
}

#[parallel_run(candidate = add_line_v2, mode = inline)]
fn add_line(cart: &mut Cart, line: u32) -> usize {
    cart.lines.push(line);
    cart.lines.len()
}

fn add_line_v2(cart: &mut Cart, line: u32) -> usize {
    cart.lines.push(line);
    cart.lines.push(line); // a bug that would corrupt the caller's cart if it got the real one
    cart.lines.len() - 1
}

#[test]
fn inline_mut_argument_gives_the_candidate_its_own_copy() {
    let mut cart = Cart { lines: vec![] };
    assert_eq!(add_line(&mut cart, 5), 1);
    assert_eq!(add_line(&mut cart, 6), 2);
    assert_eq!(
        cart.lines,
        vec![5, 6],
        "the candidate must not touch the caller's value"
    );
    let s = settled("behaviour::add_line");
    assert_eq!(s.counts.get(Outcome::Match), 2);
}

static ORDER_LOG: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[parallel_run(candidate = coin_v2, mode = inline, order = random)]
fn coin(x: u32) -> u32 {
    ORDER_LOG.lock().unwrap().push("primary");
    x
}

fn coin_v2(x: u32) -> u32 {
    ORDER_LOG.lock().unwrap().push("candidate");
    x
}

#[test]
fn random_order_runs_either_side_first() {
    for i in 0..200 {
        assert_eq!(coin(i), i);
    }
    let log = ORDER_LOG.lock().unwrap();
    let firsts = log.chunks(2).filter(|pair| pair[0] == "candidate").count();
    assert_eq!(log.len(), 400);
    // A fair coin over 200 calls: P(outside 40..=160) is below 1e-17.
    assert!(
        (40..=160).contains(&firsts),
        "candidate ran first {firsts} times of 200"
    );
    assert_eq!(settled("behaviour::coin").counts.get(Outcome::Match), 200);
}

// ---------------------------------------------------------------- methods

#[derive(Clone)]
pub struct Ledger {
    balances: Arc<Mutex<Vec<i64>>>,
}

impl Ledger {
    #[parallel_run(candidate = Self::balance_v2, name = "ledger.balance")]
    fn balance(&self, account: usize) -> i64 {
        self.balances.lock().unwrap()[account]
    }

    fn balance_v2(&self, account: usize) -> i64 {
        self.balances
            .lock()
            .unwrap()
            .get(account)
            .copied()
            .unwrap_or(0)
    }

    #[parallel_run(candidate = Self::owner_v2, mode = inline)]
    fn owner(self: Arc<Self>) -> usize {
        Arc::strong_count(&self)
    }

    fn owner_v2(self: Arc<Self>) -> usize {
        Arc::strong_count(&self)
    }
}

#[test]
fn methods_with_ref_self_and_arc_self() {
    let ledger = Ledger {
        balances: Arc::new(Mutex::new(vec![10, 20])),
    };
    assert_eq!(ledger.balance(1), 20);
    let s = settled("ledger.balance");
    assert_eq!(s.counts.get(Outcome::Match), 1);

    let shared = Arc::new(ledger);
    // The primary sees its own Arc plus the candidate's clone; the candidate, run after, sees
    // only its own: the values differ, which proves each side got its own `self`.
    assert_eq!(shared.clone().owner(), 3);
    let s = settled("behaviour::owner");
    assert_eq!(s.counts.get(Outcome::Mismatch), 1);
}

// ---------------------------------------------------------------- async

#[parallel_run(candidate = quote_v2)]
async fn quote(order_id: u64, region: &str) -> Result<u64, String> {
    tokio::task::yield_now().await;
    if region.is_empty() {
        return Err("no region".into());
    }
    Ok(order_id * 10)
}

static QUOTE_GATE: tokio::sync::Notify = tokio::sync::Notify::const_new();
static QUOTE_STARTED: AtomicUsize = AtomicUsize::new(0);

async fn quote_v2(order_id: u64, region: &str) -> Result<u64, String> {
    QUOTE_STARTED.fetch_add(1, Ordering::SeqCst);
    QUOTE_GATE.notified().await;
    if region.is_empty() {
        return Err("no region".into());
    }
    Ok(order_id * 10 + u64::from(region == "EU"))
}

#[test]
fn async_detached_returns_before_the_candidate_finishes() {
    let rt = common::multi_thread_runtime();
    rt.block_on(async {
        assert_eq!(quote(1, "US").await, Ok(10));
        assert_eq!(quote(2, "EU").await, Ok(20));
        assert_eq!(quote(3, "").await, Err("no region".into()));
        let s = parallel_run::snapshot::experiment("behaviour::quote").unwrap();
        assert_eq!(
            s.in_flight, 3,
            "the callers got their answers while candidates wait"
        );
        while QUOTE_STARTED.load(Ordering::SeqCst) < 3 {
            tokio::task::yield_now().await;
        }
        QUOTE_GATE.notify_waiters();
        parallel_run::snapshot::idle().await;
    });
    let s = settled("behaviour::quote");
    assert_eq!(s.counts.get(Outcome::Match), 2);
    assert_eq!(s.counts.get(Outcome::Mismatch), 1);
}

#[parallel_run(candidate = async_boom_v2)]
async fn async_boom(x: u8) -> u8 {
    x
}

async fn async_boom_v2(x: u8) -> u8 {
    tokio::task::yield_now().await;
    if x > 1 {
        panic!("async candidate panicked");
    }
    x
}

#[test]
fn async_candidate_panic_is_caught() {
    let rt = common::multi_thread_runtime();
    rt.block_on(async {
        assert_eq!(async_boom(1).await, 1);
        assert_eq!(async_boom(2).await, 2);
        parallel_run::snapshot::idle().await;
    });
    let s = settled("behaviour::async_boom");
    assert_eq!(s.counts.get(Outcome::CandidatePanic), 1);
    assert_eq!(s.counts.get(Outcome::Match), 1);
}

#[parallel_run(candidate = no_rt_v2)]
async fn no_rt(x: u32) -> u32 {
    x * 2
}

/// The thread each `no_rt_v2` ran on.
static NO_RT_THREADS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

async fn no_rt_v2(x: u32) -> u32 {
    let me = std::thread::current().name().unwrap_or("").to_owned();
    NO_RT_THREADS.lock().unwrap().push(me);
    x + x
}

#[test]
fn async_detached_without_a_tokio_runtime_runs_on_the_shadow_lane() {
    let cap = common::capture();
    for i in 0..3 {
        assert_eq!(common::block_on(no_rt(i)), i * 2);
    }
    assert!(parallel_run::wait_idle(Duration::from_secs(10)));
    let s = parallel_run::snapshot::experiment("behaviour::no_rt").unwrap();
    assert_eq!(s.counts.get(Outcome::Match), 3);
    assert_eq!(s.in_flight, 0);
    // The caller had no tokio runtime: the candidates ran on the lane's own threads.
    let threads = NO_RT_THREADS.lock().unwrap().clone();
    assert_eq!(threads.len(), 3);
    assert!(
        threads.iter().all(|t| t == "parallel-run-lane"),
        "{threads:?}"
    );
    // Nothing to warn about: the lane needs no runtime at the call site.
    assert!(
        cap.events()
            .iter()
            .all(|e| !(e.text.contains("behaviour::no_rt") && e.level == tracing::Level::WARN)),
        "{:?}",
        cap.events()
    );
}

#[parallel_run(candidate = cancel_me_v2)]
async fn cancel_me(x: u32) -> u32 {
    std::future::pending::<()>().await;
    x
}

async fn cancel_me_v2(x: u32) -> u32 {
    x
}

#[test]
fn a_dropped_call_is_counted_as_cancelled() {
    let mut fut = Box::pin(cancel_me(1));
    assert!(!common::poll_once(&mut fut));
    drop(fut);
    let s = settled("behaviour::cancel_me");
    assert_eq!(s.counts.get(Outcome::Cancelled), 1);
    assert_eq!(s.counts.get(Outcome::Mismatch), 0);
}

// ---------------------------------------------------------------- sampling and the kill switch

#[parallel_run(candidate = sampled_v2, sample = 0.25, mode = inline)]
fn sampled(x: u32) -> u32 {
    x
}

fn sampled_v2(x: u32) -> u32 {
    x
}

#[test]
fn sample_rate_is_honoured_and_every_call_is_counted_once() {
    let n = 20_000u64;
    for i in 0..n as u32 {
        assert_eq!(sampled(i), i);
    }
    let s = settled("behaviour::sampled");
    assert_eq!(s.calls(), n);
    assert_eq!(s.counts.get(Outcome::SampledOut) + s.shadowed, n);
    // 25% of 20k: sigma ~61, so +-400 is more than 6 sigma.
    assert!(
        (4_600..=5_400).contains(&s.shadowed),
        "shadowed {}",
        s.shadowed
    );
    assert_eq!(s.counts.get(Outcome::Match), s.shadowed);
}

#[test]
fn sampled_out_calls_on_other_threads_are_counted() {
    #[parallel_run(candidate = threads_v2, sample = 0.0)]
    fn threads(x: u32) -> u32 {
        x
    }
    fn threads_v2(x: u32) -> u32 {
        x
    }
    let handles: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(|| (0..500).map(threads).count()))
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 500);
    }
    let s = settled("behaviour::threads");
    // Rate 0 is "off": counted as disabled, never shadowed; threads have exited and their
    // per-thread counters were folded in.
    assert_eq!(s.counts.get(Outcome::Disabled), 2000);
    assert_eq!(s.shadowed, 0);
}

// ---------------------------------------------------------------- shapes

mod v2 {
    pub fn scale<T: Copy + std::ops::Mul<Output = T>>(x: T, k: T) -> T {
        x * k
    }
}

#[parallel_run(candidate = v2::scale, mode = inline)]
fn scale<T: Copy + std::ops::Mul<Output = T> + PartialEq + std::fmt::Debug>(x: T, k: T) -> T {
    x * k
}

#[parallel_run(candidate = record_v2)]
fn record(_: u8, (a, b): (u32, u32)) {
    let _ = a + b;
}

fn record_v2(_: u8, pair: (u32, u32)) {
    let _ = pair;
}

#[test]
fn generic_functions_module_paths_unit_returns_and_patterns() {
    assert_eq!(scale(3u32, 4), 12);
    assert_eq!(scale(1.5f64, 2.0), 3.0);
    record(1, (2, 3));
    let s = settled("behaviour::scale");
    // One experiment per function, shared by every instantiation.
    assert_eq!(s.counts.get(Outcome::Match), 2);
    assert_eq!(settled("behaviour::record").counts.get(Outcome::Match), 1);
}

// ---------------------------------------------------------------- names

#[parallel_run(candidate = dup_a_v2, name = "shared.name", mode = inline)]
fn dup_a(x: u8) -> u8 {
    x
}

fn dup_a_v2(x: u8) -> u8 {
    x
}

#[parallel_run(candidate = dup_b_v2, name = "shared.name", mode = inline)]
fn dup_b(x: u8) -> u8 {
    x
}

fn dup_b_v2(x: u8) -> u8 {
    x
}

#[test]
fn two_functions_with_one_name_are_merged_and_warned_about() {
    let cap = common::capture();
    assert_eq!(dup_a(1), 1);
    assert_eq!(dup_b(2), 2);
    assert_eq!(dup_b(3), 3);
    let s = settled("shared.name");
    assert_eq!(s.counts.get(Outcome::Match), 3);
    let warned = cap
        .events()
        .into_iter()
        .filter(|e| e.text.contains("share the experiment name \"shared.name\""))
        .count();
    assert_eq!(warned, 1);
}
