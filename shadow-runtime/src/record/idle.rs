//! Waiting for the shadow work in flight to end: the waiters of
//! [`wait_idle`](crate::snapshot::wait_idle) and [`idle`](crate::snapshot::idle), woken after
//! every decided outcome and at every tick of the timer.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

static WAITERS: AtomicUsize = AtomicUsize::new(0);
static IDLE_LOCK: Mutex<()> = Mutex::new(());
static IDLE: Condvar = Condvar::new();
static IDLE_ASYNC: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Called after every decided outcome: wakes the idle waiters, if any. A condvar notification is
/// a system call, so it is skipped when nobody waits (a wake-up missed in the race with a new
/// waiter is made up at the timer's next tick, [`wake_waiters`]).
pub(crate) fn done_one() {
    if WAITERS.load(SeqCst) > 0 {
        let _g = IDLE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        IDLE.notify_all();
        IDLE_ASYNC.notify_waiters();
    }
}

/// Wakes the idle waiters, if any, to look again (the timer thread, every tick): a decided call's
/// count is a plain per-thread store, so a waiter that registered just as the last call was
/// decided may have missed its wake-up.
pub(crate) fn wake_waiters() {
    if WAITERS.load(SeqCst) > 0 {
        let _g = IDLE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        IDLE.notify_all();
        IDLE_ASYNC.notify_waiters();
    }
}

/// Counts a waiter of [`wait_idle`] or [`idle`] while it lives.
struct Waiter;
impl Waiter {
    fn new() -> Self {
        WAITERS.fetch_add(1, SeqCst);
        Waiter
    }
}
impl Drop for Waiter {
    fn drop(&mut self) {
        WAITERS.fetch_sub(1, SeqCst);
    }
}

/// Blocks until `idle()` holds, or `timeout` passes; returns whether it held. `idle` is asked
/// again at every wake-up and at least every 50 ms.
pub(crate) fn wait_until(timeout: Duration, idle: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    let _waiter = Waiter::new();
    let mut g = IDLE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if idle() {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        g = IDLE
            .wait_timeout(g, left.min(Duration::from_millis(50)))
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// Waits (asynchronously) until `idle()` holds, asking again at every wake-up.
pub(crate) async fn until(idle: impl Fn() -> bool) {
    let _waiter = Waiter::new();
    loop {
        let notified = IDLE_ASYNC.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if idle() {
            return;
        }
        notified.await;
    }
}
