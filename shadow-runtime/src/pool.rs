//! The bounded worker pool that runs detached candidates of sync functions.
//!
//! A fixed number of threads (`PARALLEL_RUN_WORKERS`, default: available cores, at most 4) take
//! jobs from one bounded queue (`PARALLEL_RUN_QUEUE`, default 1024). Submitting never blocks: a full
//! queue hands the job back and the call is counted as shed. Jobs catch their own panics; the
//! worker loop catches anything else, so a worker never dies.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, OnceLock};

/// A queued candidate; called with `true` to run it, `false` to record it as shed.
pub(crate) type Job = Box<dyn FnOnce(bool) + Send + 'static>;

struct Pool {
    queue: Mutex<VecDeque<Job>>,
    ready: Condvar,
    capacity: usize,
    workers: usize,
}

static POOL: OnceLock<Option<Pool>> = OnceLock::new();

fn pool() -> Option<&'static Pool> {
    POOL.get_or_init(|| {
        let workers =
            crate::config::env_usize(crate::config::ENV_WORKERS, 1..=64).unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
                    .min(4)
            });
        let capacity =
            crate::config::env_usize(crate::config::ENV_QUEUE, 1..=1 << 20).unwrap_or(1024);
        Some(Pool {
            queue: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
            ready: Condvar::new(),
            capacity,
            workers,
        })
    })
    .as_ref()
    .filter(|p| start_workers(p))
}

/// Starts the workers once; `false` if not a single one could be started.
fn start_workers(p: &'static Pool) -> bool {
    static STARTED: OnceLock<bool> = OnceLock::new();
    *STARTED.get_or_init(|| {
        let mut started = 0;
        for i in 0..p.workers {
            let spawned = std::thread::Builder::new()
                .name(format!("parallel-run-{i}"))
                .spawn(move || worker(p));
            match spawned {
                Ok(_) => started += 1,
                Err(e) => tracing::warn!(target: "parallel_run", error = %e, "could not start a parallel-run worker"),
            }
        }
        started > 0
    })
}

fn worker(p: &'static Pool) {
    loop {
        let job = {
            let mut q = p.queue.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(j) = q.pop_front() {
                    break j;
                }
                q = p.ready.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        let _ = catch_unwind(AssertUnwindSafe(move || job(true)));
    }
}

/// Queues `job` without blocking; hands it back when the queue is full or no worker runs.
pub(crate) fn try_submit(job: Job) -> Result<(), Job> {
    let Some(p) = pool() else { return Err(job) };
    let mut q = p.queue.lock().unwrap_or_else(|e| e.into_inner());
    if q.len() >= p.capacity {
        return Err(job);
    }
    q.push_back(job);
    drop(q);
    p.ready.notify_one();
    Ok(())
}
