//! The shadow lane: where detached candidates run, on execution resources of their own, so that a
//! candidate that burns CPU, blocks or hangs takes nothing from the caller's threads.
//!
//! - **Async candidates** run on the lane's own small tokio runtime (`PARALLEL_RUN_LANE_THREADS`
//!   worker threads, default: a quarter of the cores, at least 2, at most 4), started at the first
//!   detached async call. Its I/O and time drivers are enabled (as far as the application's tokio
//!   features go), so a candidate can `tokio::spawn`, sleep, and open connections there; I/O
//!   objects created on the caller's runtime (a pooled connection, a client) keep working while
//!   that runtime runs. Task-locals of the caller's task do not reach the candidate.
//! - **Sync candidates** run on the lane's worker pool (`pool`).
//! - **Priority**: every lane thread (the runtime's workers and blocking threads, the pool's
//!   workers) runs at the lowest OS priority: `SCHED_IDLE` on Linux (it runs only when a core has
//!   nothing else to run), else nice 19, else the platform's lowest thread priority. A failure is
//!   warned about once and shown in [`LaneSnapshot::priority`].
//! - **Bounds**: a call is admitted to the lane when it is decided, before anything of the shadow
//!   is prepared. It is shed instead (counted, never waiting) when `PARALLEL_RUN_QUEUE` admitted
//!   candidates (default 1024) have not started yet, or when the lane has used up its CPU
//!   budget (`PARALLEL_RUN_LANE_BUDGET`, in cores, default 1: the CPU time of the lane's
//!   threads per second of real time, measured and refilled every 250 ms, with up to one
//!   second of budget banked). Nothing is ever queued without limit. A candidate that hangs
//!   without spinning (parked, waiting) uses no budget; one that spins uses it up, and the
//!   lane then sheds new calls until it is back under budget.
//!
//! Everything that runs on a lane thread is shadow work: [`crate::run::context::in_shadow`] is true
//! there even without a context (a task a candidate spawned), so a write guard refuses and an
//! annotated function called there starts no shadow of its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::decide::sampling::Skip;

/// Threads of the lane's tokio runtime (async candidates).
///
/// ```
/// assert_eq!(shadow_runtime::lane::ENV_LANE_THREADS, "PARALLEL_RUN_LANE_THREADS");
/// ```
pub const ENV_LANE_THREADS: &str = "PARALLEL_RUN_LANE_THREADS";
/// The lane's run-time budget, in cores (`0.5`, `50%`, `2`, or `off`).
///
/// ```
/// assert_eq!(shadow_runtime::lane::ENV_LANE_BUDGET, "PARALLEL_RUN_LANE_BUDGET");
/// ```
pub const ENV_LANE_BUDGET: &str = "PARALLEL_RUN_LANE_BUDGET";

/// The default queue capacity: admitted candidates that have not started yet.
pub const DEFAULT_QUEUE: u64 = 1024;
/// The default budget, in cores.
pub const DEFAULT_BUDGET: f64 = 1.0;
/// How much budget can be banked: one second's worth.
const BURST: Duration = Duration::from_secs(1);

struct Lane {
    /// Admitted candidates that have not started yet (async and sync).
    queued: crate::sync::capacity::Capacity,
    capacity: AtomicU64,
    /// The budget in nanoseconds of run time per second (0: no budget), and what is left of it.
    budget_ns: AtomicU64,
    credit_ns: AtomicI64,
    /// When the credit was last refilled (ns since `epoch`).
    refilled_ns: AtomicU64,
    /// Total run time of candidates on the lane, ns.
    run_ns: AtomicU64,
    /// Admissions refused, by reason.
    refused_queue: AtomicU64,
    refused_budget: AtomicU64,
    /// The settings were read from the environment.
    configured: AtomicBool,
}

static LANE: Lane = Lane {
    queued: crate::sync::capacity::Capacity::new(),
    capacity: AtomicU64::new(DEFAULT_QUEUE),
    budget_ns: AtomicU64::new(0),
    credit_ns: AtomicI64::new(0),
    refilled_ns: AtomicU64::new(0),
    run_ns: AtomicU64::new(0),
    refused_queue: AtomicU64::new(0),
    refused_budget: AtomicU64::new(0),
    configured: AtomicBool::new(false),
};

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Reads `PARALLEL_RUN_QUEUE` and `PARALLEL_RUN_LANE_BUDGET` once (live changes win).
fn configure() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Some(n) =
            crate::decide::config::env_usize(crate::decide::config::ENV_QUEUE, 1..=1 << 20)
        {
            LANE.capacity.store(n as u64, Relaxed);
        }
        let budget = read_budget_env();
        set_budget_ns(budget.map(|c| (c * 1e9) as u64).unwrap_or(0));
        LANE.configured.store(true, Relaxed);
    });
}

/// `PARALLEL_RUN_LANE_BUDGET`: `Some(cores)`, or `None` for no budget.
fn read_budget_env() -> Option<f64> {
    let Some(v) = std::env::var_os(ENV_LANE_BUDGET) else {
        return Some(DEFAULT_BUDGET);
    };
    let s = v.to_string_lossy();
    let s = s.trim();
    if s.is_empty() {
        return Some(DEFAULT_BUDGET);
    }
    match parse_budget(s) {
        Ok(b) => b,
        Err(why) => {
            crate::decide::config::warn_bad_value(
                ENV_LANE_BUDGET,
                s,
                &why,
                &format!("the default budget of {DEFAULT_BUDGET} core"),
            );
            Some(DEFAULT_BUDGET)
        }
    }
}

/// A budget: `off`/`none` (no budget), cores (`0.5`, `2`) or a percentage of one core (`50%`).
pub(crate) fn parse_budget(s: &str) -> Result<Option<f64>, String> {
    let s = s.trim();
    if matches!(s.to_ascii_lowercase().as_str(), "off" | "none") {
        return Ok(None);
    }
    let (num, scale) = match s.strip_suffix('%') {
        Some(p) => (p.trim(), 100.0),
        None => (s, 1.0),
    };
    let v: f64 = num.parse().map_err(|_| {
        format!("`{s}` is not a budget: cores such as 0.5 or 2, a share of one core such as 50%, or off")
    })?;
    let v = v / scale;
    if v.is_finite() && (0.001..=1024.0).contains(&v) {
        Ok(Some(v))
    } else {
        Err(format!("budget `{s}` is outside 0.001..=1024 cores"))
    }
}

/// Sets the budget (ns of run time per second, 0: none). Coming from no budget, the full second's
/// worth is available; otherwise what is left (or owed) carries over, at most the new second's
/// worth: a raised budget repays a debt faster, it does not forgive it.
fn set_budget_ns(ns: u64) {
    let full = i64::try_from(ns).unwrap_or(i64::MAX);
    let before = LANE.budget_ns.swap(ns, Relaxed);
    if before == 0 {
        LANE.credit_ns.store(full, Relaxed);
        LANE.refilled_ns.store(now_ns(), Relaxed);
    } else {
        let _ = LANE
            .credit_ns
            .fetch_update(Relaxed, Relaxed, |c| Some(c.min(full)));
    }
}

fn now_ns() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Why the lane refused a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    Queue,
    Budget,
}

impl Refusal {
    pub(crate) fn skip(self) -> Skip {
        match self {
            Refusal::Queue => Skip::ShedQueue,
            Refusal::Budget => Skip::ShedBudget,
        }
    }
}

/// A candidate's place in the lane's queue, from the call's decision until the candidate starts
/// (or the call ends without it): dropped unstarted, it gives the place back.
#[derive(Debug)]
pub(crate) struct Admission {
    live: bool,
}

impl Admission {
    /// The candidate starts: its place in the queue is free.
    pub(crate) fn start(mut self) {
        self.release();
    }

    fn release(&mut self) {
        if std::mem::take(&mut self.live) {
            LANE.queued.give_back();
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.release();
    }
}

/// Admits one candidate to the lane, or says why not. Reads two atomics and makes one
/// read-modify-write; never blocks.
pub(crate) fn admit() -> Result<Admission, Refusal> {
    if !LANE.configured.load(Relaxed) {
        configure();
    }
    if LANE.budget_ns.load(Relaxed) > 0 && LANE.credit_ns.load(Relaxed) <= 0 {
        LANE.refused_budget.fetch_add(1, Relaxed);
        return Err(Refusal::Budget);
    }
    if !LANE.queued.try_take(LANE.capacity.load(Relaxed)) {
        LANE.refused_queue.fetch_add(1, Relaxed);
        return Err(Refusal::Queue);
    }
    Ok(Admission { live: true })
}

/// Charges `ns` of candidate run time to the lane's budget.
fn charge(ns: u64) {
    LANE.run_ns.fetch_add(ns, Relaxed);
    if LANE.budget_ns.load(Relaxed) > 0 {
        LANE.credit_ns
            .fetch_sub(i64::try_from(ns).unwrap_or(i64::MAX), Relaxed);
    }
}

/// One lane thread, for the budget: its CPU time is charged as it accrues.
struct LaneThread {
    /// The thread's id, to read its CPU time from `/proc` (Linux); `None` elsewhere, where
    /// each run's CPU time is measured by the thread itself ([`metered`]).
    tid: Option<u32>,
    /// The thread's CPU time charged so far, ns.
    charged_ns: AtomicU64,
}

/// Every live lane thread; the timer thread charges their CPU time at each tick.
static THREADS: Mutex<Vec<std::sync::Arc<LaneThread>>> = Mutex::new(Vec::new());

/// This thread's entry in [`THREADS`], removed when the thread exits.
struct Registered(std::sync::Arc<LaneThread>);

impl Drop for Registered {
    fn drop(&mut self) {
        THREADS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|t| !std::sync::Arc::ptr_eq(t, &self.0));
    }
}

thread_local! {
    static ME: std::cell::OnceCell<Registered> = const { std::cell::OnceCell::new() };
}

/// This thread's id (Linux: from `/proc/thread-self`).
fn own_tid() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// A lane thread's CPU time so far, ns (Linux: `/proc/self/task/<tid>/schedstat`).
fn thread_cpu_ns(tid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Registers the current thread as a lane thread for the budget.
fn register_thread() {
    let tid = own_tid();
    let me = std::sync::Arc::new(LaneThread {
        tid,
        charged_ns: AtomicU64::new(tid.and_then(thread_cpu_ns).unwrap_or(0)),
    });
    if ME
        .try_with(|m| m.set(Registered(me.clone())).is_ok())
        .unwrap_or(false)
    {
        THREADS.lock().unwrap_or_else(|e| e.into_inner()).push(me);
    }
}

/// Runs `f` (a candidate's poll or job). Where the timer thread cannot read a lane thread's CPU
/// time (not Linux), the thread measures `f`'s CPU time itself and charges it.
pub(crate) fn metered<R>(f: impl FnOnce() -> R) -> R {
    let by_timer = ME
        .try_with(|m| m.get().is_some_and(|r| r.0.tid.is_some()))
        .unwrap_or(false);
    if by_timer {
        return f();
    }
    let start = cpu_time::ThreadTime::try_now().ok();
    let r = f();
    if let Some(d) = start.map(|t| t.elapsed()) {
        charge(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }
    r
}

/// Charges the lane threads' CPU time since the last tick, and refills the budget for the time
/// since the last refill (the timer thread, every tick).
pub(crate) fn tick() {
    let threads = THREADS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for t in threads {
        if let Some(cpu) = t.tid.and_then(thread_cpu_ns) {
            let before = t.charged_ns.swap(cpu, Relaxed);
            charge(cpu.saturating_sub(before));
        }
    }
    let budget = LANE.budget_ns.load(Relaxed);
    let now = now_ns();
    let last = LANE.refilled_ns.swap(now, Relaxed);
    if budget == 0 {
        return;
    }
    let elapsed = now.saturating_sub(last);
    // budget ns per second * elapsed seconds, in u128 so that nothing overflows.
    let add = (u128::from(budget) * u128::from(elapsed) / 1_000_000_000) as i64;
    let cap = (u128::from(budget) * BURST.as_nanos() / 1_000_000_000) as i64;
    let _ = LANE
        .credit_ns
        .fetch_update(Relaxed, Relaxed, |c| Some(c.saturating_add(add).min(cap)));
}

// ------------------------------------------------------------------------------ lane threads

/// What lowering the lane threads' priority achieved: 0 not tried yet, then a [`Priority`].
static PRIORITY: AtomicU8 = AtomicU8::new(0);

/// The OS priority the lane's threads run at.
///
/// ```
/// assert_eq!(shadow_runtime::lane::Priority::Idle.as_str(), "sched_idle");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// No lane thread has started yet.
    NotStarted,
    /// Linux `SCHED_IDLE`: a lane thread runs only when its core has nothing else to run.
    Idle,
    /// The lowest priority of the normal policy (nice 19 on Unix).
    Lowest,
    /// The priority could not be lowered (warned once): lane threads compete with the caller's.
    Unchanged,
}

impl Priority {
    /// `"not_started"`, `"sched_idle"`, `"lowest"` or `"unchanged"`.
    ///
    /// ```
    /// assert_eq!(shadow_runtime::lane::Priority::Unchanged.as_str(), "unchanged");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::NotStarted => "not_started",
            Priority::Idle => "sched_idle",
            Priority::Lowest => "lowest",
            Priority::Unchanged => "unchanged",
        }
    }

    fn from_u8(v: u8) -> Priority {
        match v {
            1 => Priority::Idle,
            2 => Priority::Lowest,
            3 => Priority::Unchanged,
            _ => Priority::NotStarted,
        }
    }
}

/// Marks the current thread as a lane thread and lowers its OS priority. Every lane thread calls
/// it when it starts.
pub(crate) fn enter_lane_thread() {
    crate::run::context::mark_lane_thread();
    register_thread();
    let got = lower_priority();
    let prev = PRIORITY.swap(got as u8, Relaxed);
    if got == Priority::Unchanged && prev != Priority::Unchanged as u8 {
        tracing::warn!(
            target: "parallel_run",
            "could not lower the priority of the parallel-run shadow lane's threads: candidates \
             compete with the caller's threads for CPU (the lane's queue and budget still bound them)"
        );
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn lower_priority() -> Priority {
    use thread_priority::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadPriority, ThreadSchedulePolicy,
    };
    let id = thread_native_id();
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if set_thread_priority_and_policy(id, ThreadPriority::Min, idle).is_ok() {
        return Priority::Idle;
    }
    let other = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other);
    if set_thread_priority_and_policy(id, ThreadPriority::Min, other).is_ok() {
        return Priority::Lowest;
    }
    Priority::Unchanged
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn lower_priority() -> Priority {
    match thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min) {
        Ok(()) => Priority::Lowest,
        Err(_) => Priority::Unchanged,
    }
}

// --------------------------------------------------------------------------- the async lane

/// Worker threads of the lane's runtime: `PARALLEL_RUN_LANE_THREADS`, else a quarter of the
/// cores, at least 2 (so that one candidate that never yields does not stop the others) and at
/// most 4.
fn lane_threads() -> usize {
    crate::decide::config::env_usize(ENV_LANE_THREADS, 1..=64).unwrap_or_else(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores / 4).clamp(2, 4)
    })
}

struct AsyncLane {
    handle: tokio::runtime::Handle,
    threads: usize,
    /// Where callers hand their candidates to the lane's dispatcher (a lock-free channel).
    inbox: std::sync::mpsc::Sender<Task>,
}

/// A candidate's task on its way to the lane.
type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The dispatcher is in its long wait: a caller that hands it a candidate wakes it.
static DISPATCHER_ASLEEP: AtomicBool = AtomicBool::new(false);
static WAKE_DISPATCHER: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// How often the dispatcher looks at its inbox while candidates keep coming, and how long it goes
/// on looking after the last one before it waits to be woken.
const DISPATCH_EVERY: Duration = Duration::from_millis(1);
const DISPATCH_ACTIVE_FOR: u32 = 100;
/// The longest a candidate handed over at the very moment the dispatcher fell asleep waits.
const DISPATCH_NAP: Duration = Duration::from_millis(100);

/// The lane's dispatcher: takes the candidates callers hand over and spawns them on the lane's
/// runtime. A spawn from outside a tokio runtime wakes one of its parked workers (a system
/// call, about half a microsecond, on the caller's path, every call); this way a caller only
/// queues the task, and wakes the dispatcher only when it has been idle for a while. A candidate
/// starts at most a millisecond later.
async fn dispatch(inbox: std::sync::mpsc::Receiver<Task>) {
    let mut quiet = 0;
    loop {
        let mut any = false;
        while let Ok(task) = inbox.try_recv() {
            tokio::spawn(task);
            any = true;
        }
        quiet = if any { 0 } else { quiet + 1 };
        if quiet < DISPATCH_ACTIVE_FOR {
            tokio::time::sleep(DISPATCH_EVERY).await;
            continue;
        }
        DISPATCHER_ASLEEP.store(true, std::sync::atomic::Ordering::SeqCst);
        // A candidate handed over just before the flag was visible is seen by the next round;
        // the nap bounds the wait of one handed over in between.
        let _ = tokio::time::timeout(DISPATCH_NAP, WAKE_DISPATCHER.notified()).await;
        DISPATCHER_ASLEEP.store(false, std::sync::atomic::Ordering::SeqCst);
        quiet = 0;
    }
}

static RUNTIME: OnceLock<Option<AsyncLane>> = OnceLock::new();
static RUNTIME_KEEP: Mutex<Option<tokio::runtime::Runtime>> = Mutex::new(None);

fn runtime() -> Option<&'static AsyncLane> {
    RUNTIME
        .get_or_init(|| {
            let threads = lane_threads();
            let built = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("parallel-run-lane")
                .on_thread_start(enter_lane_thread)
                .enable_all()
                .build();
            match built {
                Ok(rt) => {
                    let (tx, rx) = std::sync::mpsc::channel();
                    rt.spawn(dispatch(rx));
                    let handle = rt.handle().clone();
                    // Kept for the process's lifetime: dropping a runtime blocks on its threads.
                    *RUNTIME_KEEP.lock().unwrap_or_else(|e| e.into_inner()) = Some(rt);
                    Some(AsyncLane {
                        handle,
                        threads,
                        inbox: tx,
                    })
                }
                Err(e) => {
                    tracing::warn!(target: "parallel_run", error = %e,
                        "could not start the parallel-run shadow lane's runtime: detached async \
                         candidates are shed");
                    None
                }
            }
        })
        .as_ref()
}

pin_project_lite::pin_project! {
    /// A lane task: frees its queue place at the first poll, charges every poll's run time to the
    /// budget.
    struct Metered<F> {
        #[pin]
        inner: F,
        admission: Option<Admission>,
    }
}

impl<F: Future<Output = ()>> Future for Metered<F> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if let Some(a) = this.admission.take() {
            a.start();
        }
        let inner = this.inner;
        metered(|| inner.poll(cx))
    }
}

/// Whether the lane's runtime runs (starting it if needed).
pub(crate) fn available() -> bool {
    runtime().is_some()
}

/// A handle to the lane's runtime (starting it if needed).
pub(crate) fn handle() -> Option<tokio::runtime::Handle> {
    runtime().map(|lane| lane.handle.clone())
}

/// Runs `task` on the lane's runtime. `Err(task)` back when the runtime could not be started.
pub(crate) fn spawn<F>(admission: Option<Admission>, task: F) -> Result<(), F>
where
    F: Future<Output = ()> + Send + 'static,
{
    let Some(lane) = runtime() else {
        return Err(task);
    };
    let task: Task = Box::pin(Metered {
        inner: task,
        admission,
    });
    // A send fails only if the dispatcher is gone, which it never is (the runtime lives as long
    // as the process); the task is then dropped and its call recorded as cancelled.
    let _ = lane.inbox.send(task);
    if DISPATCHER_ASLEEP.load(std::sync::atomic::Ordering::SeqCst) {
        WAKE_DISPATCHER.notify_one();
    }
    Ok(())
}

// ----------------------------------------------------------------------------- live settings

/// Sets the lane's queue capacity: admitted candidates that have not started yet, over all
/// experiments (`PARALLEL_RUN_QUEUE`). Takes effect on the next call.
///
/// ```
/// shadow_runtime::lane::set_queue_capacity(2048).unwrap();
/// assert_eq!(shadow_runtime::lane::snapshot().queue_capacity, 2048);
/// assert!(shadow_runtime::lane::set_queue_capacity(0).is_err());
/// # shadow_runtime::lane::set_queue_capacity(shadow_runtime::lane::DEFAULT_QUEUE).unwrap();
/// ```
pub fn set_queue_capacity(n: u64) -> Result<(), crate::decide::config::ConfigError> {
    if n == 0 {
        return Err(crate::decide::config::ConfigError::new(
            "the lane's queue capacity must be at least 1",
        ));
    }
    configure();
    LANE.capacity.store(n, Relaxed);
    Ok(())
}

/// Sets the lane's run-time budget in cores (`Some(0.5)`: candidates may run half a core's
/// worth of time per second; `None`: no budget). Takes effect on the next call.
///
/// ```
/// shadow_runtime::lane::set_budget(Some(0.25)).unwrap();
/// assert_eq!(shadow_runtime::lane::snapshot().budget_cores, Some(0.25));
/// assert!(shadow_runtime::lane::set_budget(Some(-1.0)).is_err());
/// # shadow_runtime::lane::set_budget(Some(shadow_runtime::lane::DEFAULT_BUDGET)).unwrap();
/// ```
pub fn set_budget(cores: Option<f64>) -> Result<(), crate::decide::config::ConfigError> {
    let ns = match cores {
        None => 0,
        Some(c) if c.is_finite() && (0.001..=1024.0).contains(&c) => (c * 1e9) as u64,
        Some(c) => {
            return Err(crate::decide::config::ConfigError::new(format!(
                "a lane budget of {c} cores is outside 0.001..=1024"
            )))
        }
    };
    configure();
    set_budget_ns(ns);
    Ok(())
}

// ---------------------------------------------------------------------------------- snapshot

/// The shadow lane's state, for dashboards and tests.
///
/// ```
/// let lane = shadow_runtime::lane::snapshot();
/// assert!(lane.queued <= lane.queue_capacity);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LaneSnapshot {
    /// Worker threads of the lane's runtime (0 before the first detached async candidate).
    pub threads: usize,
    /// Admitted candidates that have not started yet.
    pub queued: u64,
    /// The queue's capacity.
    pub queue_capacity: u64,
    /// The budget in cores, `None` for no budget.
    pub budget_cores: Option<f64>,
    /// What is left of the budget now, in seconds of run time (negative: overspent; calls are
    /// shed until the refill brings it back above zero).
    pub budget_left_seconds: f64,
    /// Total run time of candidates on the lane.
    pub run_time: Duration,
    /// Candidates refused because the queue was full.
    pub shed_queue: u64,
    /// Candidates refused because the budget was spent.
    pub shed_budget: u64,
    /// The OS priority of the lane's threads.
    pub priority: Priority,
}

/// The lane's state now.
///
/// ```
/// println!("{:?}", shadow_runtime::lane::snapshot().priority);
/// ```
pub fn snapshot() -> LaneSnapshot {
    let budget = LANE.budget_ns.load(Relaxed);
    LaneSnapshot {
        threads: RUNTIME
            .get()
            .and_then(|r| r.as_ref())
            .map_or(0, |r| r.threads),
        queued: LANE.queued.held(),
        queue_capacity: LANE.capacity.load(Relaxed),
        budget_cores: (budget > 0).then(|| budget as f64 / 1e9),
        budget_left_seconds: LANE.credit_ns.load(Relaxed) as f64 / 1e9,
        run_time: Duration::from_nanos(LANE.run_ns.load(Relaxed)),
        shed_queue: LANE.refused_queue.load(Relaxed),
        shed_budget: LANE.refused_budget.load(Relaxed),
        priority: Priority::from_u8(PRIORITY.load(Relaxed)),
    }
}

#[cfg(test)]
mod tests;
