//! The shadow lane is bounded: a full queue and a spent CPU budget shed calls (counted, with
//! their reason), nothing is queued without limit, and the budget refills. One test: the lane's
//! queue and budget are process-wide.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use parallel_run::{lane, parallel_run, Outcome};

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

static BLOCK: Mutex<()> = Mutex::new(());
static BLOCKERS_STARTED: AtomicU64 = AtomicU64::new(0);

#[parallel_run(candidate = blocker_v2, timeout = "60s")]
fn blocker(x: u64) -> u64 {
    x
}

/// Holds its lane worker until the test opens the gate.
fn blocker_v2(x: u64) -> u64 {
    BLOCKERS_STARTED.fetch_add(1, Ordering::SeqCst);
    let _g = BLOCK.lock().unwrap_or_else(|e| e.into_inner());
    x
}

/// About 10 ms of CPU at full speed (more in a debug build): the work, not the wall time, is
/// fixed, so that the lane's CPU accounting sees the same amount however the thread is scheduled.
fn burn() -> u64 {
    let mut h = 1u64;
    for i in 0..6_000_000u64 {
        h = std::hint::black_box((h ^ i).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(7));
    }
    h
}

#[parallel_run(candidate = burner_v2)]
fn burner(x: u64) -> u64 {
    x
}

fn burner_v2(x: u64) -> u64 {
    std::hint::black_box(burn());
    x
}

fn snap(name: &str) -> parallel_run::ExperimentSnapshot {
    parallel_run::snapshot::experiment(name).expect("called")
}

#[test]
fn a_full_queue_and_a_spent_budget_shed_with_their_reasons_and_the_budget_refills() {
    // ---- the queue: every worker blocked, then 3 places, then shedding.
    lane::set_budget(None).unwrap();
    lane::set_queue_capacity(3).unwrap();
    let gate = BLOCK.lock().unwrap();
    let mut made = 0;
    // Calls until the workers are all blocked and the queue is full: the pool has a few
    // workers (PARALLEL_RUN_WORKERS), each taking one blocker.
    wait_for("the workers blocked and the queue full", || {
        made += 1;
        assert_eq!(blocker(made), made);
        lane::snapshot().queued == 3 && snap("lane_bounds::blocker").shed.lane_queue > 0
    });
    let workers = BLOCKERS_STARTED.load(Ordering::SeqCst);
    assert!(workers >= 1);
    for _ in 0..20 {
        made += 1;
        assert_eq!(blocker(made), made);
    }
    let s = snap("lane_bounds::blocker");
    assert_eq!(lane::snapshot().queued, 3, "never more than the capacity");
    assert_eq!(
        s.shed.lane_queue,
        made - workers - 3,
        "every call beyond the workers and the queue was shed: {s:?}"
    );
    assert_eq!(s.counts.get(Outcome::Shed), s.shed.lane_queue);
    drop(gate);
    assert!(parallel_run::wait_idle(Duration::from_secs(30)));
    let s = snap("lane_bounds::blocker");
    assert_eq!(s.counts.get(Outcome::Match), workers + 3);
    assert_eq!(s.lost(), 0);
    assert_eq!(lane::snapshot().queued, 0);
    lane::set_queue_capacity(lane::DEFAULT_QUEUE).unwrap();

    // ---- the budget: 2 ms of CPU a second; one candidate burns more than that.
    lane::set_budget(Some(0.002)).unwrap();
    assert_eq!(burner(1), 1);
    assert!(parallel_run::wait_idle(Duration::from_secs(30)));
    wait_for("the budget to be overspent", || {
        lane::snapshot().budget_left_seconds < 0.0
    });
    let before = snap("lane_bounds::burner");
    for i in 0..10 {
        assert_eq!(burner(i), i);
    }
    let s = snap("lane_bounds::burner");
    assert_eq!(
        s.shed.lane_budget - before.shed.lane_budget,
        10,
        "calls are shed while the budget is spent: {s:?}"
    );
    assert_eq!(s.counts.get(Outcome::Match), 1);
    // A raised budget repays the debt faster (it does not forgive it): the refill brings it
    // back above zero, then a call is admitted again.
    lane::set_budget(Some(lane::DEFAULT_BUDGET)).unwrap();
    assert!(lane::snapshot().budget_left_seconds < 0.0);
    wait_for("the budget to refill", || {
        lane::snapshot().budget_left_seconds > 0.0
    });
    assert_eq!(burner(99), 99);
    assert!(parallel_run::wait_idle(Duration::from_secs(30)));
    let s = snap("lane_bounds::burner");
    assert_eq!(s.counts.get(Outcome::Match), 2);
    assert_eq!(s.lost(), 0);
    let lane = lane::snapshot();
    assert!(lane.shed_budget >= 10 && lane.shed_queue >= 1, "{lane:?}");
}
