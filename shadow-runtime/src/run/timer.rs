//! One background thread for everything time-driven: candidate deadlines (waking an async
//! candidate's deadline future, resolving an abandoned sync candidate as timed out) and periodic
//! housekeeping (publishing skip totals, half-opening circuit breakers).
//!
//! It is the runtime's own, so deadlines work whatever executor the caller uses (a tokio runtime
//! without its time driver, or none at all).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

type Callback = Box<dyn FnOnce() + Send + 'static>;

struct Entry {
    at: Instant,
    seq: u64,
    run: Callback,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

struct Timer {
    heap: Mutex<(BinaryHeap<Reverse<Entry>>, u64)>,
    changed: Condvar,
}

/// How often housekeeping runs.
pub(crate) const TICK: Duration = Duration::from_millis(250);

fn timer() -> Option<&'static Timer> {
    static TIMER: OnceLock<Option<&'static Timer>> = OnceLock::new();
    *TIMER.get_or_init(|| {
        let t: &'static Timer = Box::leak(Box::new(Timer {
            heap: Mutex::new((BinaryHeap::new(), 0)),
            changed: Condvar::new(),
        }));
        match std::thread::Builder::new()
            .name("parallel-run-timer".into())
            .spawn(move || run(t))
        {
            Ok(_) => Some(t),
            Err(e) => {
                tracing::warn!(target: "parallel_run", error = %e,
                    "could not start the parallel-run timer thread: candidate timeouts are measured \
                     but not enforced, skip totals are published only by publish_metrics()");
                None
            }
        }
    })
}

fn run(t: &'static Timer) {
    advance_coarse();
    let mut next_tick = Instant::now() + TICK;
    loop {
        let due = {
            let mut g = t.heap.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                let now = Instant::now();
                if now >= next_tick {
                    break None;
                }
                match g.0.peek() {
                    Some(Reverse(e)) if e.at <= now => break g.0.pop().map(|Reverse(e)| e.run),
                    Some(Reverse(e)) => {
                        let wait = e.at.min(next_tick) - now;
                        g = t
                            .changed
                            .wait_timeout(g, wait)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                    None => {
                        g = t
                            .changed
                            .wait_timeout(g, next_tick - now)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                }
            }
        };
        // Callbacks and housekeeping run without the lock; a panic in one is contained.
        match due {
            Some(run) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run));
            }
            None => {
                next_tick = Instant::now() + TICK;
                advance_coarse();
                if let Some(work) = HOUSEKEEPING.get() {
                    let _ = std::panic::catch_unwind(*work);
                }
            }
        }
    }
}

/// The instant the coarse clock counts from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

static COARSE_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static COARSE_RUNNING: AtomicBool = AtomicBool::new(false);

/// A clock that costs one atomic load, advanced by the timer thread every [`TICK`]: for the
/// circuit breaker's windows and cool-downs, where a quarter of a second does not matter and a
/// real clock read (~25 ns on a VM) on every judged call would.
pub(crate) fn coarse_now() -> Instant {
    if COARSE_RUNNING.load(Ordering::Relaxed) {
        epoch() + Duration::from_millis(COARSE_MS.load(Ordering::Relaxed))
    } else {
        Instant::now()
    }
}

fn advance_coarse() {
    COARSE_MS.store(epoch().elapsed().as_millis() as u64, Ordering::Relaxed);
    COARSE_RUNNING.store(true, Ordering::Relaxed);
}

/// Runs `f` on the timer thread at `at` (or soon after). `false` if there is no timer thread.
pub(crate) fn at(at: Instant, f: impl FnOnce() + Send + 'static) -> bool {
    let Some(t) = timer() else { return false };
    let mut g = t.heap.lock().unwrap_or_else(|e| e.into_inner());
    g.1 += 1;
    let seq = g.1;
    let first = g.0.peek().is_none_or(|Reverse(e)| at < e.at);
    g.0.push(Reverse(Entry {
        at,
        seq,
        run: Box::new(f),
    }));
    drop(g);
    if first {
        t.changed.notify_one();
    }
    true
}

/// The housekeeping run every [`TICK`]: registered by the layer that owns the experiments (the
/// timer knows nothing of them).
static HOUSEKEEPING: OnceLock<fn()> = OnceLock::new();

/// Starts the timer thread if it is not running yet, with `housekeeping` to run every [`TICK`]
/// (the first registration stays).
pub(crate) fn start(housekeeping: fn()) {
    let _ = HOUSEKEEPING.set(housekeeping);
    let _ = timer();
}

/// A future that completes at a deadline, driven by the timer thread.
pub(crate) struct Deadline {
    shared: Arc<DeadlineShared>,
    armed: bool,
    at: Instant,
}

struct DeadlineShared {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Deadline {
    /// A deadline armed at its first pending poll.
    pub(crate) fn new(at: Instant) -> Self {
        Deadline {
            shared: Arc::new(DeadlineShared {
                fired: AtomicBool::new(false),
                waker: Mutex::new(None),
            }),
            armed: false,
            at,
        }
    }

    /// A deadline armed now: at `at` the timer thread runs `on_fire`, then completes the future
    /// (whether or not it is being polled).
    pub(crate) fn armed(at: Instant, on_fire: impl FnOnce() + Send + 'static) -> Self {
        let mut d = Deadline::new(at);
        let shared = d.shared.clone();
        d.armed = self::at(at, move || {
            on_fire();
            shared.fire();
        });
        d
    }

    /// When it is due.
    pub(crate) fn at(&self) -> Instant {
        self.at
    }
}

impl DeadlineShared {
    fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        if let Some(w) = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            w.wake();
        }
    }
}

impl Future for Deadline {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.shared.fired.load(Ordering::Acquire) || Instant::now() >= self.at {
            return Poll::Ready(());
        }
        *self.shared.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
        if !self.armed {
            self.armed = true;
            let shared = self.shared.clone();
            let armed = at(self.at, move || shared.fire());
            if !armed {
                // No timer thread: the deadline is checked at each poll of the candidate only.
                return Poll::Pending;
            }
        }
        // Fired between the check and the registration.
        if self.shared.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn callbacks_run_in_deadline_order() {
        let (tx, rx) = mpsc::channel();
        let now = Instant::now();
        for (i, ms) in [(2, 60u64), (0, 20), (1, 40)] {
            let tx = tx.clone();
            assert!(at(now + Duration::from_millis(ms), move || tx
                .send(i)
                .unwrap()));
        }
        let got: Vec<i32> = (0..3)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        assert_eq!(got, vec![0, 1, 2]);
    }

    #[test]
    fn deadline_future_completes() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        // No tokio time driver: the deadline is the runtime's own.
        rt.block_on(Deadline::new(Instant::now() + Duration::from_millis(20)));
    }
}
