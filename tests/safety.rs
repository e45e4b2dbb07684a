//! Production safety: timeouts, the concurrency cap, the circuit breaker, sticky sampling,
//! `run_if`, live configuration and the accounting invariant under all of them.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use parallel_run::{live, parallel_run, BreakerState, ExperimentSnapshot, Outcome};

fn settled(name: &str) -> ExperimentSnapshot {
    assert!(
        parallel_run::wait_idle(Duration::from_secs(30)),
        "candidates did not finish"
    );
    let s = parallel_run::snapshot::experiment(name).unwrap_or_else(|| panic!("{name} never ran"));
    assert_eq!(s.lost(), 0, "accounting lost calls: {s:?}");
    s
}

// ---------------------------------------------------------------- timeouts

#[parallel_run(candidate = slow_async_v2, timeout = "50ms")]
async fn slow_async(x: u32) -> u32 {
    x
}

static SLOW_ASYNC_DROPPED: AtomicUsize = AtomicUsize::new(0);

struct CountDrop;
impl Drop for CountDrop {
    fn drop(&mut self) {
        SLOW_ASYNC_DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

async fn slow_async_v2(x: u32) -> u32 {
    let _guard = CountDrop;
    if x > 0 {
        std::future::pending::<()>().await; // never finishes on its own
    }
    x
}

#[test]
fn an_async_candidate_is_cancelled_at_its_timeout() {
    let rt = common::multi_thread_runtime();
    rt.block_on(async {
        assert_eq!(slow_async(0).await, 0);
        for i in 1..=3 {
            assert_eq!(slow_async(i).await, i);
        }
        parallel_run::snapshot::idle().await;
    });
    // The calls are decided at the deadline; the hung futures are dropped right after, on the
    // lane, releasing their slots.
    wait_for("the timed-out candidates to be dropped", || {
        parallel_run::snapshot::experiment("safety::slow_async")
            .unwrap()
            .running
            == 0
    });
    let s = settled("safety::slow_async");
    assert_eq!(s.counts.get(Outcome::Match), 1);
    assert_eq!(s.counts.get(Outcome::Timeout), 3);
    assert_eq!(
        s.counts.get(Outcome::Mismatch),
        0,
        "a timeout is never a mismatch"
    );
    // Cancelled: the hung futures were dropped, their slots released.
    assert_eq!(SLOW_ASYNC_DROPPED.load(Ordering::SeqCst), 4);
    assert_eq!(s.running, 0);
    assert_eq!(s.timeout, Some(Duration::from_millis(50)));
}

static SYNC_GATE: Mutex<()> = Mutex::new(());

#[parallel_run(candidate = slow_sync_v2, timeout = "30ms", max_in_flight = 2)]
fn slow_sync(x: u32) -> u32 {
    x
}

fn slow_sync_v2(x: u32) -> u32 {
    let _g = SYNC_GATE.lock().unwrap();
    x
}

#[test]
fn a_sync_candidate_past_its_timeout_is_abandoned_but_keeps_its_slot() {
    let gate = SYNC_GATE.lock().unwrap();
    assert_eq!(slow_sync(1), 1);
    assert_eq!(slow_sync(2), 2);
    // Both slots are taken by candidates blocked on the gate: the third call is shed.
    assert_eq!(slow_sync(3), 3);
    // The timer resolves the two blocked calls as timed out while they still hold their slots.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let s = parallel_run::snapshot::experiment("safety::slow_sync").unwrap();
        if s.counts.get(Outcome::Timeout) == 2 {
            assert_eq!(
                s.running, 2,
                "abandoned candidates keep their slots until they end"
            );
            assert_eq!(s.in_flight, 0);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no timeout recorded: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(gate);
    let s = settled("safety::slow_sync");
    assert_eq!(s.counts.get(Outcome::Shed), 1);
    assert_eq!(s.counts.get(Outcome::Timeout), 2);
    assert_eq!(s.counts.get(Outcome::Match), 0);
    // The slots come back once the candidates really end.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while parallel_run::snapshot::experiment("safety::slow_sync")
        .unwrap()
        .running
        > 0
    {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(s.peak_running <= 2);
}

// ---------------------------------------------------------------- the concurrency cap

static CAP_GATE: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[parallel_run(candidate = capped_v2, max_in_flight = 3)]
async fn capped(x: u32) -> u32 {
    x
}

async fn capped_v2(x: u32) -> u32 {
    CAP_GATE.notified().await;
    x
}

#[test]
fn the_cap_sheds_without_waiting_and_bounds_running_candidates() {
    let rt = common::multi_thread_runtime();
    rt.block_on(async {
        for i in 0..50 {
            assert_eq!(capped(i).await, i);
        }
        let s = parallel_run::snapshot::experiment("safety::capped").unwrap();
        assert_eq!(s.running, 3);
        assert_eq!(s.counts.get(Outcome::Shed), 47);
        // Release the three held candidates, whenever they are waiting.
        while parallel_run::snapshot::experiment("safety::capped")
            .unwrap()
            .in_flight
            > 0
        {
            CAP_GATE.notify_waiters();
            tokio::task::yield_now().await;
        }
    });
    let s = settled("safety::capped");
    assert_eq!(s.counts.get(Outcome::Match), 3);
    assert_eq!(s.peak_running, 3);
    assert_eq!(s.calls(), 50);
}

// ---------------------------------------------------------------- the circuit breaker

#[parallel_run(candidate = flaky_v2, mode = inline)]
fn flaky(x: u32) -> Result<u32, String> {
    Ok(x)
}

static FLAKY_BROKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

fn flaky_v2(x: u32) -> Result<u32, String> {
    if FLAKY_BROKEN.load(Ordering::SeqCst) {
        Err("backend down".into())
    } else {
        Ok(x)
    }
}

#[test]
fn the_breaker_opens_on_failures_then_half_opens_and_recovers() {
    let name = "safety::flaky";
    let cfg = parallel_run::BreakerConfig {
        min_calls: 10,
        failure_ratio: 0.5,
        cooldown: Duration::from_millis(300),
        probes: 3,
        ..Default::default()
    };
    live::set_breaker(name, cfg).unwrap();

    // 10 candidate errors where the primary succeeded: the breaker opens (at the timer's next
    // tick, which feeds it the runs judged since the last one).
    for i in 0..10 {
        assert_eq!(flaky(i), Ok(i));
    }
    wait_for("the breaker to open", || {
        settled(name).breaker == BreakerState::Open
    });
    let s = settled(name);
    assert_eq!(s.breaker_trips, 1);
    // While open, calls are not shadowed at all.
    for i in 0..100 {
        assert_eq!(flaky(i), Ok(i));
    }
    let s = settled(name);
    assert_eq!(s.counts.get(Outcome::CircuitOpen), 100);
    assert_eq!(s.shadowed, 10);

    // The candidate is fixed; after the cool-down the probes succeed and the breaker closes.
    FLAKY_BROKEN.store(false, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        assert_eq!(flaky(1), Ok(1));
        let s = settled(name);
        if s.breaker == BreakerState::Closed {
            break;
        }
        assert!(
            s.counts.get(Outcome::Match) <= 3,
            "only the probes run while half-open: {s:?}"
        );
        assert!(std::time::Instant::now() < deadline, "never closed: {s:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The three probes, and the last call if the breaker closed just before it.
    let before = settled(name).counts.get(Outcome::Match);
    assert!((3..=4).contains(&before), "{before}");
    assert_eq!(flaky(5), Ok(5));
    assert_eq!(
        settled(name).counts.get(Outcome::Match),
        before + 1,
        "closed: shadowing resumed"
    );
}

// ---------------------------------------------------------------- sticky sampling and run_if

pub struct Order {
    customer_id: u64,
    currency: &'static str,
}

#[parallel_run(candidate = sticky_v2, mode = inline, sample = 0.3, sample_by = order.customer_id)]
fn sticky(order: &Order) -> u64 {
    order.customer_id
}

fn sticky_v2(order: &Order) -> u64 {
    order.customer_id
}

#[test]
fn sticky_sampling_is_a_pure_function_of_the_key() {
    let shadowed =
        || parallel_run::snapshot::experiment("safety::sticky").map_or(0, |s| s.shadowed);
    let mut first: Vec<u64> = Vec::new();
    for round in 0..3 {
        let mut inside = Vec::new();
        for id in 0..1000u64 {
            let before = shadowed();
            assert_eq!(
                sticky(&Order {
                    customer_id: id,
                    currency: "EUR"
                }),
                id
            );
            if shadowed() > before {
                inside.push(id);
            }
        }
        if round == 0 {
            first = inside;
        } else {
            assert_eq!(inside, first, "the same customers every time");
        }
    }
    // The decision is the published function of key, experiment and rate.
    for id in 0..1000u64 {
        assert_eq!(
            first.contains(&id),
            parallel_run::sticky::is_sampled("safety::sticky", &id, 0.3),
            "customer {id}"
        );
    }
    // ~30% of customers: 300 +- 6 sigma (~87).
    assert!((213..=387).contains(&first.len()), "{}", first.len());
    assert_eq!(
        settled("safety::sticky").counts.get(Outcome::SampledOut),
        3 * (1000 - first.len() as u64)
    );
}

#[parallel_run(candidate = eur_only_v2, mode = inline, run_if = order.currency == "EUR")]
fn eur_only(order: &Order) -> u64 {
    order.customer_id
}

fn eur_only_v2(order: &Order) -> u64 {
    order.customer_id
}

#[test]
fn run_if_filters_calls_before_sampling() {
    for (i, c) in ["EUR", "USD", "EUR", "GBP"].into_iter().enumerate() {
        assert_eq!(
            eur_only(&Order {
                customer_id: i as u64,
                currency: c
            }),
            i as u64
        );
    }
    let s = settled("safety::eur_only");
    assert_eq!(s.counts.get(Outcome::Filtered), 2);
    assert_eq!(s.shadowed, 2);
    assert_eq!(s.calls(), 4);
}

// ---------------------------------------------------------------- live configuration

#[parallel_run(candidate = tunable_v2, mode = inline)]
fn tunable(x: u32) -> u32 {
    x
}

fn tunable_v2(x: u32) -> u32 {
    x
}

#[test]
fn live_changes_take_effect_on_the_next_call() {
    let name = "safety::tunable";
    // Before the first call: kept and applied at registration.
    live::set_sample_rate(name, 0.0).unwrap();
    for i in 0..10 {
        tunable(i);
    }
    assert_eq!(settled(name).counts.get(Outcome::Disabled), 10);
    live::set_sample_rate(name, 1.0).unwrap();
    tunable(1);
    assert_eq!(settled(name).shadowed, 1);
    live::set_enabled(name, false).unwrap();
    tunable(2);
    assert_eq!(settled(name).counts.get(Outcome::Disabled), 11);
    live::set_enabled(name, true).unwrap();
    live::set_max_in_flight(name, 7).unwrap();
    live::set_timeout(name, Some(Duration::from_millis(250))).unwrap();
    tunable(3);
    let s = settled(name);
    assert_eq!(s.shadowed, 2);
    assert_eq!(
        (s.max_in_flight, s.timeout),
        (7, Some(Duration::from_millis(250)))
    );
    assert!(live::set_sample_rate(name, -1.0).is_err());
    assert!(live::set_max_in_flight(name, 0).is_err());
}

// ---------------------------------------------------------------- hung sync candidates

static HANG_GATE: Mutex<()> = Mutex::new(());

#[parallel_run(candidate = hung_v2, timeout = "20ms", max_in_flight = 2)]
fn hung(x: u32) -> u32 {
    x
}

static HUNG_STARTED: AtomicUsize = AtomicUsize::new(0);

fn hung_v2(x: u32) -> u32 {
    HUNG_STARTED.fetch_add(1, Ordering::SeqCst);
    let _g = HANG_GATE.lock().unwrap_or_else(|e| e.into_inner());
    x
}

#[parallel_run(candidate = healthy_v2, timeout = "5s")]
fn healthy(x: u32) -> u32 {
    x
}

fn healthy_v2(x: u32) -> u32 {
    x
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_hung_experiment_neither_starves_others_nor_sheds_silently_forever() {
    let hung_name = "safety::hung";
    live::set_breaker(
        hung_name,
        parallel_run::BreakerConfig {
            min_calls: 6,
            failure_ratio: 0.5,
            cooldown: Duration::from_secs(3600),
            ..Default::default()
        },
    )
    .unwrap();
    let gate = HANG_GATE.lock().unwrap();
    // Two candidates start, block, and are abandoned at their deadline, holding the pool's
    // workers (this machine's pool may have as few as one or two). Other tests share the pool:
    // a candidate that waits in its queue past its timeout is shed instead of started, so call
    // until two have started.
    let mut i = 0;
    wait_for("two hung candidates to start", || {
        if HUNG_STARTED.load(Ordering::SeqCst) < 2 {
            i += 1;
            assert_eq!(hung(i), i);
        }
        HUNG_STARTED.load(Ordering::SeqCst) >= 2
    });
    wait_for("two abandoned candidates", || {
        let s = parallel_run::snapshot::experiment(hung_name).unwrap();
        s.counts.get(Outcome::Timeout) == 2 && s.abandoned == 2
    });
    // Every further call is shed: both slots are held by abandoned candidates. That is the
    // candidate's fault, so the breaker counts it and opens instead of shedding quietly forever.
    for i in 0..10 {
        assert_eq!(hung(i), i);
    }
    let s = parallel_run::snapshot::experiment(hung_name).unwrap();
    assert_eq!(s.breaker, BreakerState::Open, "{s:?}");
    assert!(s.counts.get(Outcome::Shed) >= 4);
    assert!(s.counts.get(Outcome::CircuitOpen) >= 1);

    // Another experiment's sync candidates still run: stuck workers were replaced.
    for i in 0..20 {
        assert_eq!(healthy(i), i);
    }
    wait_for("healthy candidates judged", || {
        parallel_run::snapshot::experiment("safety::healthy")
            .unwrap()
            .counts
            .get(Outcome::Match)
            == 20
    });
    let h = settled("safety::healthy");
    assert_eq!(h.counts.get(Outcome::Timeout), 0);
    assert_eq!(h.breaker, BreakerState::Closed);

    drop(gate);
    wait_for("abandoned candidates to end", || {
        parallel_run::snapshot::experiment(hung_name)
            .unwrap()
            .running
            == 0
    });
    assert_eq!(settled(hung_name).lost(), 0);
}
