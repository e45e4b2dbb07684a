//! The shadow lane's worker pool, which runs detached candidates of sync functions.
//!
//! A fixed number of threads (`PARALLEL_RUN_WORKERS`, default: available cores, at most 4), at
//! the lane's lowest OS priority, take jobs from one queue. The queue is bounded by the lane's
//! admission ([`crate::run::lane`]: a call gets its place when it is decided, `PARALLEL_RUN_QUEUE`
//! places over the whole lane), and submitting never blocks. Jobs catch their own panics; the
//! worker loop catches anything else, so a worker never dies. A worker stuck in a candidate that
//! timed out is replaced (up to 64 threads in all), so one hung experiment cannot starve the
//! others' candidates; the replacement leaves once the stuck one returns. Every job's run time is
//! charged to the lane's budget.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

/// A queued candidate; called with `true` to run it, `false` to record it as shed.
pub(crate) type Job = Box<dyn FnOnce(bool) + Send + 'static>;

struct Pool {
    queue: Mutex<VecDeque<Job>>,
    ready: Condvar,
    workers: usize,
    /// Workers in their long wait: a submitter wakes one only then. A worker that ran a job
    /// lately looks at the queue every millisecond instead, so that a submit (on the caller's
    /// path) is no system call while candidates keep coming.
    asleep: AtomicUsize,
}

/// How often an idle worker looks at the queue while jobs keep coming, for how many empty looks,
/// and how long its long wait lasts at most (bounding the wait of a job queued at the very moment
/// it fell asleep).
const LOOK_EVERY: Duration = Duration::from_millis(1);
const LOOKS_BEFORE_SLEEP: u32 = 100;
const SLEEP_AT_MOST: Duration = Duration::from_millis(100);

/// A backstop on the queue's length: the lane's admission keeps it far below.
const HARD_CAPACITY: usize = 1 << 20;

static POOL: OnceLock<Option<Pool>> = OnceLock::new();

fn pool() -> Option<&'static Pool> {
    POOL.get_or_init(|| {
        let workers = crate::decide::config::env_usize(crate::decide::config::ENV_WORKERS, 1..=64)
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
                    .min(4)
            });
        Some(Pool {
            queue: Mutex::new(VecDeque::with_capacity(64)),
            ready: Condvar::new(),
            workers,
            asleep: AtomicUsize::new(0),
        })
    })
    .as_ref()
    .filter(|p| start_workers(p))
}

/// Starts the workers once; `false` if not a single one could be started.
fn start_workers(p: &'static Pool) -> bool {
    static STARTED: OnceLock<bool> = OnceLock::new();
    *STARTED.get_or_init(|| (0..p.workers).filter(|_| spawn_worker(p)).count() > 0)
}

/// Worker threads alive, and workers stuck in a candidate that timed out (abandoned: it may never
/// return). The pool keeps `workers + stuck` threads, so that a hung candidate of one experiment
/// cannot starve the others; at most `MAX_THREADS` in all.
static ALIVE: AtomicUsize = AtomicUsize::new(0);
static STUCK: AtomicUsize = AtomicUsize::new(0);
const MAX_THREADS: usize = 64;

fn spawn_worker(p: &'static Pool) -> bool {
    let n = ALIVE.fetch_add(1, Ordering::SeqCst);
    let spawned = std::thread::Builder::new()
        .name(format!("parallel-run-{n}"))
        .spawn(move || worker(p));
    match spawned {
        Ok(_) => true,
        Err(e) => {
            ALIVE.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(target: "parallel_run", error = %e, "could not start a parallel-run worker");
            false
        }
    }
}

/// A running candidate has passed its timeout and is abandoned: start a worker to replace the
/// one it holds.
pub(crate) fn worker_stuck() {
    let stuck = STUCK.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(p) = POOL.get().and_then(|p| p.as_ref()) {
        if ALIVE.load(Ordering::SeqCst) < (p.workers + stuck).min(MAX_THREADS) {
            spawn_worker(p);
        }
    }
}

/// An abandoned candidate has ended after all: its worker is back.
pub(crate) fn worker_unstuck() {
    STUCK.fetch_sub(1, Ordering::SeqCst);
}

fn worker(p: &'static Pool) {
    crate::run::lane::enter_lane_thread();
    loop {
        // A replacement for a stuck worker that came back: one too many now, so leave.
        let target = p.workers + STUCK.load(Ordering::SeqCst);
        if ALIVE.load(Ordering::SeqCst) > target
            && ALIVE
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |a| {
                    (a > target).then(|| a - 1)
                })
                .is_ok()
        {
            return;
        }
        let job = {
            let mut q = p.queue.lock().unwrap_or_else(|e| e.into_inner());
            let mut looks = 0;
            loop {
                if let Some(j) = q.pop_front() {
                    break j;
                }
                looks += 1;
                if looks < LOOKS_BEFORE_SLEEP {
                    q = p
                        .ready
                        .wait_timeout(q, LOOK_EVERY)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                } else {
                    p.asleep.fetch_add(1, Ordering::SeqCst);
                    q = p
                        .ready
                        .wait_timeout(q, SLEEP_AT_MOST)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                    p.asleep.fetch_sub(1, Ordering::SeqCst);
                }
            }
        };
        let _ = catch_unwind(AssertUnwindSafe(move || {
            crate::run::lane::metered(|| job(true))
        }));
    }
}

/// Queues `job` without blocking; hands it back when the queue is full or no worker runs.
pub(crate) fn try_submit(job: Job) -> Result<(), Job> {
    let Some(p) = pool() else { return Err(job) };
    let mut q = p.queue.lock().unwrap_or_else(|e| e.into_inner());
    if q.len() >= HARD_CAPACITY {
        return Err(job);
    }
    q.push_back(job);
    drop(q);
    // A condvar notification is a system call; wake a worker only when one is in its long wait
    // (the others look at the queue within a millisecond).
    if p.asleep.load(Ordering::SeqCst) > 0 {
        p.ready.notify_one();
    }
    Ok(())
}
