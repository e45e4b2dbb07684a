//! Running the candidate and judging it: inline (sync and async), or detached on the shadow lane
//! (its runtime for async candidates, its worker pool for sync ones; or, with `runtime = caller`,
//! the caller's tokio runtime). The call's concurrency slot (and lane place) were taken when it
//! was decided; every path enforces the experiment's timeout (a candidate that ends after its
//! deadline is a `timeout`, however it ran), catches the candidate's and the comparator's panics,
//! and resolves the call's ticket exactly once.

use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use crate::clock::Stamp;

use crate::compare::{debug_diff, panic_message, Comparator, Verdict};
use crate::context::Run;
use crate::experiment::{Experiment, Phase, RunSlot, ShadowCall, Ticket};
use crate::isolation::{quietly, take_location};
use crate::lane::Admission;
use crate::outcome::{Discrepancy, Outcome};
use crate::timer::Deadline;

type PanicPayload = Box<dyn std::any::Any + Send + 'static>;

/// What the runtime may ask of a result value beyond comparing it: a `Debug` rendering for
/// discrepancy records, and whether it is an `Err` (a candidate `Err` where the primary returned
/// `Ok` counts as a failure for the circuit breaker). The attribute generates one per function
/// with [`Probes`]; hand-written integrations can pass [`NoProbes`].
pub trait Probe<T: ?Sized> {
    /// The value rendered with `{:#?}`, if its type implements `Debug`.
    fn debug(&self, v: &T) -> Option<String>;
    /// Whether the value is an `Err`.
    fn is_err(&self, v: &T) -> bool;
    /// What a mismatch without a diff says when its two values render identically: the
    /// comparator (or `PartialEq`, see [`ByPartialEq`]) called different what no rendering shows.
    ///
    /// ```
    /// use shadow_runtime::exec::{NoProbes, Probe};
    /// assert!(Probe::<u8>::same_rendering(&NoProbes).contains("render identically"));
    /// ```
    fn same_rendering(&self) -> &'static str {
        "the comparator found the values different, although they render identically (return a diff from the comparator, `Verdict::mismatch(..)`, to say why)"
    }
}

/// [`Probe`]s for a comparison by `PartialEq` (the attribute's default comparator): two values
/// that render identically yet differ are explained as such (`NaN != NaN`).
///
/// ```
/// use shadow_runtime::exec::{ByPartialEq, NoProbes, Probe};
/// let p = ByPartialEq(NoProbes);
/// assert_eq!(
///     Probe::<f64>::same_rendering(&p),
///     "values are not equal under PartialEq although they render identically (NaN?)"
/// );
/// ```
pub struct ByPartialEq<P>(pub P);

impl<T: ?Sized, P: Probe<T>> Probe<T> for ByPartialEq<P> {
    fn debug(&self, v: &T) -> Option<String> {
        self.0.debug(v)
    }
    fn is_err(&self, v: &T) -> bool {
        self.0.is_err(v)
    }
    fn same_rendering(&self) -> &'static str {
        "values are not equal under PartialEq although they render identically (NaN?)"
    }
}

/// A [`Probe`] from two closures.
///
/// ```
/// use shadow_runtime::exec::{Probe, Probes};
/// let p = Probes { debug: |v: &Result<u8, ()>| Some(format!("{v:?}")), is_err: |v: &Result<u8, ()>| v.is_err() };
/// assert!(p.is_err(&Err(())));
/// assert_eq!(p.debug(&Ok(1)).as_deref(), Some("Ok(1)"));
/// ```
pub struct Probes<D, E> {
    /// Renders a value.
    pub debug: D,
    /// Tells an `Err`.
    pub is_err: E,
}

impl<T: ?Sized, D, E> Probe<T> for Probes<D, E>
where
    D: Fn(&T) -> Option<String>,
    E: Fn(&T) -> bool,
{
    fn debug(&self, v: &T) -> Option<String> {
        (self.debug)(v)
    }
    fn is_err(&self, v: &T) -> bool {
        (self.is_err)(v)
    }
}

/// No `Debug` rendering and no error detection.
///
/// ```
/// use shadow_runtime::exec::{NoProbes, Probe};
/// assert_eq!(Probe::<u8>::debug(&NoProbes, &1), None);
/// ```
pub struct NoProbes;

impl<T: ?Sized> Probe<T> for NoProbes {
    fn debug(&self, _: &T) -> Option<String> {
        None
    }
    fn is_err(&self, _: &T) -> bool {
        false
    }
}

/// How long one side took: wall time, and the thread's CPU time where it was measured (sync code
/// of an experiment with `cpu_time` on: an `async` side may hop threads between polls).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Took {
    pub(crate) wall: Duration,
    pub(crate) cpu: Option<Duration>,
}

/// This thread's CPU time now, when the experiment measures it.
#[inline]
fn cpu_now(exp: &'static Experiment) -> Option<Duration> {
    if exp.cpu_time() {
        cpu_time::ThreadTime::try_now()
            .ok()
            .map(|t| t.as_duration())
    } else {
        None
    }
}

/// This thread's CPU time since `start` (from [`cpu_now`] on the same thread).
#[inline]
fn cpu_since(start: Option<Duration>) -> Option<Duration> {
    let start = start?;
    cpu_time::ThreadTime::try_now()
        .ok()?
        .as_duration()
        .checked_sub(start)
}

/// How a shadow run ended.
enum Ran<T> {
    Value(T),
    Panicked(PanicPayload),
    TimedOut,
    /// It attempted production writes, refused by `guard_write`: how many, and the first target.
    Refused(u32, &'static str),
}

/// A shadowed call with its candidate attached, waiting for the primary to finish.
/// Created by [`ShadowCall::with_candidate`] or [`ShadowCall::with_candidate_async`]; dropped
/// unfinished, it records [`Outcome::PrimaryPanic`] or [`Outcome::Cancelled`].
///
/// ```
/// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
/// #     "docs::pending", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
/// let pending = EXP.decide().unwrap().with_candidate(|| 3);
/// drop(pending); // the primary never finished
/// let s = shadow_runtime::snapshot::experiment("docs::pending").unwrap();
/// assert_eq!(s.counts.get(shadow_runtime::Outcome::Cancelled), 1);
/// ```
pub struct Pending<F, T> {
    ticket: Ticket,
    candidate: Option<F>,
    /// The candidate serves this call (a ramp): it runs in the caller, the legacy code is the
    /// shadow.
    served: bool,
    /// The other side is compared (always, unless a served call was not sampled).
    shadowed: bool,
    /// A second run of the primary, to learn its noise: a `NoiseFn<T>` or a `NoiseFuture<T>`.
    noise: Option<Box<dyn std::any::Any + Send>>,
    /// The candidate's run when it went before the primary (`order = random`).
    early: Option<Box<(Ran<T>, Took)>>,
    primary_start: Stamp,
    /// The thread's CPU time when the primary started (sync, `cpu_time` on).
    primary_cpu: Option<Duration>,
    /// The shadow run's concurrency slot, held until the shadow side ends.
    slot: Option<RunSlot>,
    /// The detached candidate's place on the shadow lane.
    admission: Option<Admission>,
}

impl ShadowCall {
    /// Attaches a sync candidate. With `order = random` in inline mode, a coin toss may run it
    /// right now, before the primary. Starts the primary's clock.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::attach", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// let pending = EXP.decide().unwrap().with_candidate(|| 2 + 2);
    /// pending.finish_inline(&4, &shadow_runtime::DefaultComparator, shadow_runtime::exec::NoProbes);
    /// ```
    pub fn with_candidate<F, T>(self, candidate: F) -> Pending<F, T>
    where
        F: FnOnce() -> T,
    {
        let first = self.candidate_first;
        let mut p = Pending::new(self, candidate);
        if first {
            let f = p.candidate.take().expect("attached above");
            let exp = p.ticket.exp;
            let key = p.ticket.key();
            let (ran, took, end) = run_sync(exp, p.primary_start, key, f);
            p.ticket.candidate_first = true;
            p.slot = None; // the candidate has ended
            p.primary_start = end;
            p.early = Some(Box::new((ran, took)));
        }
        p.primary_cpu = cpu_now(p.ticket.exp);
        p
    }

    /// Attaches an async candidate (a future not yet polled). With `order = random` in inline mode,
    /// a coin toss may await it right now, before the primary. Starts the primary's clock.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::attach_async", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// let pending = EXP.decide().unwrap().with_candidate_async(async { 2 + 2 }).await;
    /// pending.finish_inline_async(&4, &shadow_runtime::DefaultComparator, shadow_runtime::exec::NoProbes).await;
    /// # });
    /// ```
    pub async fn with_candidate_async<F, T>(self, candidate: F) -> Pending<F, T>
    where
        F: Future<Output = T>,
    {
        let first = self.candidate_first;
        let mut p = Pending::new(self, candidate);
        if first {
            let f = p.candidate.take().expect("attached above");
            let exp = p.ticket.exp;
            let key = p.ticket.key();
            let start = p.primary_start;
            let (ran, took, end) = run_async(exp, start, key, f, inline_deadline(exp, start)).await;
            p.ticket.candidate_first = true;
            p.slot = None; // the candidate has ended
            p.primary_start = end;
            p.early = Some(Box::new((ran, took)));
        }
        p
    }
}

impl<F, T> Pending<F, T> {
    fn new(call: ShadowCall, candidate: F) -> Self {
        Pending {
            ticket: call.ticket,
            candidate: Some(candidate),
            served: call.served,
            shadowed: call.shadowed,
            noise: None,
            early: None,
            // A served call that is not compared measures nothing: no clock read.
            primary_start: if call.shadowed {
                Stamp::now()
            } else {
                Stamp::UNSET
            },
            primary_cpu: None,
            slot: call.slot,
            admission: call.admission,
        }
    }

    /// The primary's wall time, and the instant it ended (reused as the candidate's start by
    /// inline mode: every clock read costs ~25 ns on a VM).
    fn primary_done(&mut self) -> (Took, Stamp) {
        self.ticket.phase = Phase::Candidate;
        let end = Stamp::now();
        let took = Took {
            wall: end.since(self.primary_start),
            cpu: cpu_since(self.primary_cpu),
        };
        (took, end)
    }

    fn take_ticket(&mut self) -> Ticket {
        // Moves the ticket out, leaving a resolved placeholder that records nothing on drop.
        let placeholder = Ticket::new(self.ticket.exp, Phase::Candidate, true);
        std::mem::replace(&mut self.ticket, placeholder)
    }

    /// Judges an inline run.
    fn conclude<C, P>(
        mut self,
        primary: &T,
        (ran, took): (Ran<T>, Took),
        primary_time: Took,
        compare: &C,
        probes: &P,
    ) where
        C: Comparator<T> + ?Sized,
        P: Probe<T>,
    {
        let exp = self.ticket.exp;
        let failure = judge(
            self.take_ticket(),
            primary,
            ran,
            primary_time,
            took,
            compare,
            probes,
        );
        fail_if_strict(exp, failure);
    }

    /// Marks this thread as inside the experiment's primary (a recursive call starts no shadow).
    fn enter_primary(&self) -> crate::experiment::ActivePrimary {
        self.ticket.exp.enter_primary()
    }
}

/// Sheds a call whose shadow was already prepared: the lane could not take it after all, or it
/// waited in the lane's queue past its timeout.
fn shed_late(ticket: Ticket) {
    ticket.exp.state().shed_late.fetch_add(1, Relaxed);
    ticket.resolve(Outcome::Shed, None, None);
}

impl<F, T> Pending<F, T>
where
    F: FnOnce() -> T,
{
    /// Runs the candidate now (unless it already ran first), then compares and records. A sync
    /// candidate cannot be interrupted: past the timeout its result is discarded and the call
    /// counts as [`Outcome::Timeout`].
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::inline", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// let p = EXP.decide().unwrap().with_candidate(|| -> i32 { panic!("candidate bug") });
    /// p.finish_inline(&1, &shadow_runtime::DefaultComparator, shadow_runtime::exec::NoProbes); // does not panic
    /// let snap = shadow_runtime::snapshot::experiment("docs::inline").unwrap();
    /// assert_eq!(snap.counts.get(shadow_runtime::Outcome::CandidatePanic), 1);
    /// ```
    pub fn finish_inline<C, P>(mut self, primary: &T, compare: &C, probes: P)
    where
        C: Comparator<T> + ?Sized,
        P: Probe<T>,
    {
        let (primary_time, end) = self.primary_done();
        let exp = self.ticket.exp;
        let key = self.ticket.key();
        let run = match (self.early.take(), self.candidate.take()) {
            (Some(early), _) => *early,
            (None, Some(f)) => {
                let (ran, took, _) = run_sync(exp, end, key, f);
                self.slot = None; // the candidate has ended
                (ran, took)
            }
            (None, None) => unreachable!("a candidate is attached or has run"),
        };
        self.conclude(primary, run, primary_time, compare, &probes);
    }
}

impl<F, T> Pending<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    /// Queues the candidate on the shadow lane's worker pool with a copy of the primary's result
    /// and returns at once; the comparison happens on the pool. The call's place on the lane was
    /// taken when it was decided (a full lane sheds it then, before anything was copied). Past
    /// the timeout, counted from when the candidate starts, the call is resolved as
    /// [`Outcome::Timeout`] by the timer thread; the candidate, which cannot be stopped, keeps
    /// its slot until it ends (and its worker is replaced meanwhile). A candidate that waited in
    /// the queue longer than its timeout and a second is shed instead of started: the lane is
    /// behind.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::detached", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst);
    /// let p = EXP.decide().unwrap().with_candidate(|| 7);
    /// p.finish_detached(7, shadow_runtime::DefaultComparator, shadow_runtime::exec::NoProbes);
    /// assert!(shadow_runtime::wait_idle(std::time::Duration::from_secs(10)));
    /// let snap = shadow_runtime::snapshot::experiment("docs::detached").unwrap();
    /// assert_eq!(snap.counts.get(shadow_runtime::Outcome::Match), 1);
    /// ```
    pub fn finish_detached<C, P>(mut self, primary: T, compare: C, probes: P)
    where
        C: Comparator<T> + Send + 'static,
        P: Probe<T> + Send + 'static,
    {
        let exp = self.ticket.exp;
        let (primary_time, end) = self.primary_done();
        let f = self
            .candidate
            .take()
            .expect("detached candidates never run first");
        let key = self.ticket.key();
        let noise = self
            .noise
            .take()
            .and_then(|n| n.downcast::<NoiseFn<T>>().ok());
        if exp.is_strict() {
            // Strict mode runs the candidate in the caller, so that a mismatch fails the call
            // (a test) instead of passing silently on another thread; the primary's second
            // run too, so that noise does not fail it.
            let (ran, took, _) = run_sync(exp, end, key, f);
            self.slot = None;
            let verdict = noise_sync(exp, &primary, &ran, &compare, &probes, noise);
            let compare = Replay::new(&compare, verdict);
            return self.conclude(&primary, (ran, took), primary_time, &compare, &probes);
        }
        let ticket = self.take_ticket();
        let slot = self.slot.take();
        let admission = self.admission.take();
        let job = move |run: bool| {
            if let Some(a) = admission {
                a.start();
            }
            let start = Stamp::now();
            let timeout = exp.timeout();
            if !run || stale(timeout, start.since(end)) {
                drop(slot);
                return shed_late(ticket);
            }
            let job = watch(exp, ticket, start, timeout, primary_time, || {
                crate::pool::worker_stuck()
            });
            let (ran, took, _) = run_sync(exp, start, key, f);
            // The candidate has ended: its slot is free before the outcome is visible.
            drop(slot);
            let Some(t) = job.finish(exp, crate::pool::worker_unstuck) else {
                return;
            };
            let verdict = noise_sync(exp, &primary, &ran, &compare, &probes, noise);
            let compare = Replay::new(&compare, verdict);
            // Not strict (checked before queueing): nothing to fail.
            let _ = judge(t, &primary, ran, primary_time, took, &compare, &probes);
        };
        if let Err(job) = crate::pool::try_submit(Box::new(job)) {
            job(false);
        }
    }
}

/// The shortest wait on the lane that makes a candidate stale.
const STALE_AFTER: Duration = Duration::from_secs(1);

/// Whether a detached candidate that waited `waited` on the lane before starting is stale: it
/// waited longer than its timeout and [`STALE_AFTER`]. The lane is behind; it is shed rather than
/// run, since a comparison made that late may no longer be fair (the data it reads changed).
fn stale(timeout: Option<Duration>, waited: Duration) -> bool {
    timeout.is_some_and(|t| waited > t.max(STALE_AFTER))
}

/// A detached candidate's ticket, shared by its run and its deadline: whichever comes first
/// resolves the call ([`crate::sync::claim`], model-checked by `tests/loom`).
type SharedJob = Arc<crate::sync::claim::Claim<Ticket>>;

/// Puts a started detached candidate's ticket under watch: at `start + timeout` the timer thread
/// resolves the call as [`Outcome::Timeout`] if the candidate has not ended, marks it abandoned
/// (it keeps its slot until it really ends) and calls `on_abandon`.
fn watch(
    exp: &'static Experiment,
    ticket: Ticket,
    start: Stamp,
    timeout: Option<Duration>,
    primary_time: Took,
    on_abandon: impl FnOnce() + Send + 'static,
) -> WatchedJob {
    let job: SharedJob = Arc::new(crate::sync::claim::Claim::new(ticket));
    let deadline = timeout.map(|t| {
        let shared = job.clone();
        crate::timer::Deadline::armed(start.instant() + t, move || {
            if let Some(ticket) = shared.expire() {
                exp.state().abandoned.fetch_add(1, Relaxed);
                on_abandon();
                timed_out(ticket, primary_time, t);
            }
        })
    });
    WatchedJob { job, deadline }
}

/// A watched detached candidate ([`watch`]).
struct WatchedJob {
    job: SharedJob,
    deadline: Option<crate::timer::Deadline>,
}

impl WatchedJob {
    /// The candidate has ended: the ticket, unless the deadline resolved the call already (then
    /// the abandonment ends, and `on_return` is called).
    fn finish(self, exp: &'static Experiment, on_return: impl FnOnce()) -> Option<Ticket> {
        let (ticket, abandoned) = self.job.finish();
        if abandoned {
            exp.state().abandoned.fetch_sub(1, Relaxed);
            on_return();
        }
        ticket
    }
}

/// Resolves a call whose candidate passed its deadline (from the timer thread).
fn timed_out(ticket: Ticket, primary_time: Took, timeout: Duration) {
    let took = Took {
        wall: timeout,
        cpu: None,
    };
    settle(ticket, Outcome::Timeout, None, primary_time, took, true);
}

impl<F, T> Pending<F, T>
where
    F: Future<Output = T>,
{
    /// Awaits the candidate now (unless it already ran first; cancelled at the timeout), then
    /// compares and records.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::inline_async", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let p = EXP.decide().unwrap().with_candidate_async(async { 5 }).await;
    /// let probes = shadow_runtime::exec::Probes { debug: |v: &i32| Some(v.to_string()), is_err: |_: &i32| false };
    /// p.finish_inline_async(&6, &shadow_runtime::DefaultComparator, probes).await;
    /// # });
    /// let snap = shadow_runtime::snapshot::experiment("docs::inline_async").unwrap();
    /// assert_eq!(snap.counts.get(shadow_runtime::Outcome::Mismatch), 1);
    /// assert!(snap.discrepancies[0].detail.contains("candidate: 5"));
    /// ```
    pub async fn finish_inline_async<C, P>(mut self, primary: &T, compare: &C, probes: P)
    where
        C: Comparator<T> + ?Sized,
        P: Probe<T>,
    {
        let (primary_time, end) = self.primary_done();
        let exp = self.ticket.exp;
        let key = self.ticket.key();
        let run = match (self.early.take(), self.candidate.take()) {
            (Some(early), _) => *early,
            (None, Some(f)) => {
                let (ran, took, _) = run_async(exp, end, key, f, inline_deadline(exp, end)).await;
                self.slot = None; // the candidate has ended
                (ran, took)
            }
            (None, None) => unreachable!("a candidate is attached or has run"),
        };
        self.conclude(primary, run, primary_time, compare, &probes);
    }
}

/// The deadline of a candidate the caller awaits, started at `start`.
fn inline_deadline(exp: &'static Experiment, start: Stamp) -> Option<crate::timer::Deadline> {
    exp.timeout()
        .map(|t| crate::timer::Deadline::new(start.instant() + t))
}

impl<F, T> Pending<F, T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    /// Spawns the candidate on the shadow lane's runtime (or, with
    /// [`on_caller_runtime`](Experiment::on_caller_runtime), the caller's) with a copy of the
    /// primary's result; the returned future completes at its first poll, so the caller does not
    /// wait for the candidate. Past the timeout, counted from when the candidate starts, the call
    /// is resolved as [`Outcome::Timeout`] and the candidate is cancelled (dropped) at its next
    /// `.await`; one that never yields keeps its slot, and a lane thread, until it returns. A
    /// candidate that waited on the lane longer than its timeout and a second is shed instead of
    /// started.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::spawned", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst);
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(async {
    ///     let p = EXP.decide().unwrap().with_candidate_async(async { 1 }).await;
    ///     p.finish_detached_async(1, shadow_runtime::DefaultComparator, shadow_runtime::exec::NoProbes).await;
    ///     shadow_runtime::snapshot::idle().await;
    /// });
    /// let snap = shadow_runtime::snapshot::experiment("docs::spawned").unwrap();
    /// assert_eq!(snap.counts.get(shadow_runtime::Outcome::Match), 1);
    /// ```
    pub async fn finish_detached_async<C, P>(mut self, primary: T, compare: C, probes: P)
    where
        C: Comparator<T> + Send + 'static,
        P: Probe<T> + Send + 'static,
    {
        let (primary_time, end) = self.primary_done();
        let exp = self.ticket.exp;
        let f = self
            .candidate
            .take()
            .expect("detached candidates never run first");
        let key = self.ticket.key();
        if exp.is_strict() {
            // Strict mode awaits the candidate in the caller (see `finish_detached`), and the
            // primary's second run.
            let (ran, took, _) = run_async(exp, end, key, f, inline_deadline(exp, end)).await;
            self.slot = None;
            let noise = self
                .noise
                .take()
                .and_then(|n| n.downcast::<NoiseFuture<T>>().ok());
            let check = NoiseCheck::new(exp, &primary, &ran, &compare, &probes);
            if let (true, Some(second)) = (check.run, noise) {
                let again = second_run_async(exp, *second).await;
                check.learn(exp, &primary, again, &compare, &probes);
            }
            let compare = Replay::new(&compare, check.verdict);
            return self.conclude(&primary, (ran, took), primary_time, &compare, &probes);
        }
        let on_caller = exp.runs_on_caller_runtime().then(|| {
            tokio::runtime::Handle::try_current()
                .map_err(|_| {
                    let st = exp.state();
                    if !st.warned_no_runtime.swap(true, Relaxed) {
                        tracing::warn!(
                            target: "parallel_run",
                            experiment = exp.name(),
                            "runtime = caller needs a tokio runtime at the call site and there is none; \
                             running this experiment's candidates on the shadow lane (warned once)"
                        );
                    }
                })
                .ok()
        });
        let on_caller = on_caller.flatten();
        if on_caller.is_none() && !crate::lane::available() {
            return shed_late(self.take_ticket());
        }
        let ticket = self.take_ticket();
        let slot = self.slot.take();
        let noise = self
            .noise
            .take()
            .and_then(|n| n.downcast::<NoiseFuture<T>>().ok());
        let task = async move {
            let start = Stamp::now();
            let timeout = exp.timeout();
            if stale(timeout, start.since(end)) {
                drop(slot);
                return shed_late(ticket);
            }
            let mut job = watch(exp, ticket, start, timeout, primary_time, || ());
            let (ran, took, _) = run_async(exp, start, key, f, job.deadline.take()).await;
            // The candidate has ended: its slot is free before the outcome is visible.
            drop(slot);
            let Some(ticket) = job.finish(exp, || ()) else {
                return;
            };
            let check = NoiseCheck::new(exp, &primary, &ran, &compare, &probes);
            if let (true, Some(second)) = (check.run, noise) {
                let again = second_run_async(exp, *second).await;
                check.learn(exp, &primary, again, &compare, &probes);
            }
            let compare = Replay::new(&compare, check.verdict);
            // Not strict (checked above): nothing to fail.
            let _ = judge(ticket, &primary, ran, primary_time, took, &compare, &probes);
        };
        match on_caller {
            Some(handle) => {
                handle.spawn(task);
            }
            None => {
                // Checked available above; the lane's runtime is never torn down.
                let _ = crate::lane::spawn(self.admission.take(), task);
            }
        }
    }
}

impl<F, T> Pending<F, T>
where
    F: FnOnce() -> T,
{
    /// Runs a whole call in inline mode: the `primary` (the legacy code), then the candidate, and
    /// returns the primary's result. When a ramp makes the candidate serve the call, the roles
    /// swap: the candidate runs first and its result is returned, and the legacy code runs as the
    /// shadow (in shadow context) and is compared.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::run_inline", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// let p = EXP.decide().unwrap().with_candidate(|| 2 + 2);
    /// let out = p.run_inline(|| 4, &shadow_runtime::DefaultComparator, shadow_runtime::exec::NoProbes);
    /// assert_eq!(out, 4);
    /// ```
    pub fn run_inline<L, C, P>(self, primary: L, compare: &C, probes: P) -> T
    where
        L: FnOnce() -> T,
        C: Comparator<T> + ?Sized,
        P: Probe<T>,
    {
        if self.served {
            return self.serve(primary, compare, &probes);
        }
        let out = if self.ticket.exp.compares_panics() {
            match catch_unwind(AssertUnwindSafe(|| self.primary_sync(primary))) {
                Ok(v) => v,
                Err(p) => {
                    self.after_primary_panic_inline(&*p, &probes);
                    resume_unwind(p)
                }
            }
        } else {
            self.primary_sync(primary)
        };
        self.finish_inline(&out, compare, probes);
        out
    }

    /// `panics = compare`, inline: the primary panicked; the candidate runs (unless it ran
    /// first) and its outcome is judged against the panic. The caller then gets the panic.
    fn after_primary_panic_inline<P: Probe<T>>(
        mut self,
        panic: &(dyn std::any::Any + Send),
        probes: &P,
    ) {
        let (primary_time, end) = self.primary_done();
        let exp = self.ticket.exp;
        let key = self.ticket.key();
        let (ran, took) = match (self.early.take(), self.candidate.take()) {
            (Some(early), _) => *early,
            (None, Some(f)) => {
                let (ran, took, _) = run_sync(exp, end, key, f);
                (ran, took)
            }
            (None, None) => unreachable!("a candidate is attached or has run"),
        };
        self.slot = None;
        judge_panicked(
            self.take_ticket(),
            &panic_message(panic),
            ran,
            primary_time,
            took,
            probes,
        );
    }

    /// Runs the legacy code as the served side (in a context only to carry an idempotency key),
    /// marked as this experiment's primary (a recursive call starts no shadow).
    fn primary_sync<L: FnOnce() -> T>(&self, primary: L) -> T {
        let mut ctx = served_context(self.ticket.exp, self.ticket.key());
        let _active = self.enter_primary();
        crate::context::within(ctx.as_mut(), primary)
    }

    /// A call the candidate serves: the candidate in the caller (its result is returned; its
    /// panic propagates, as the legacy code's would), then the legacy code as the shadow, inline
    /// (it borrows the caller's arguments), compared as `compare(legacy, candidate)`.
    fn serve<L, C, P>(mut self, legacy: L, compare: &C, probes: &P) -> T
    where
        L: FnOnce() -> T,
        C: Comparator<T> + ?Sized,
        P: Probe<T>,
    {
        let exp = self.ticket.exp;
        let key = self.ticket.key();
        let f = self
            .candidate
            .take()
            .expect("a served candidate never runs first");
        let mut ctx = served_context(exp, key.clone());
        if !self.shadowed {
            return crate::context::within(ctx.as_mut(), f);
        }
        let served = {
            let _active = self.enter_primary();
            crate::context::within(ctx.as_mut(), f)
        };
        let (served_time, end) = self.primary_done();
        let (ran, took, _) = run_sync(exp, end, key, legacy);
        self.slot = None; // the shadow has ended
        let failure = judge_served(
            self.take_ticket(),
            &served,
            ran,
            took,
            served_time,
            compare,
            probes,
        );
        fail_if_strict(exp, failure);
        served
    }
}

impl<F, T> Pending<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    /// Runs a whole call in detached mode: the `primary`, then the candidate on the worker pool
    /// with `copy` of the primary's result ([`finish_detached`](Self::finish_detached)). On a
    /// call the candidate serves (a ramp), the roles swap as in [`run_inline`](Self::run_inline)
    /// and the legacy shadow runs inline: it borrows the caller's arguments.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::run_detached", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst);
    /// let p = EXP.decide().unwrap().with_candidate(|| 7);
    /// let out = p.run_detached(|| 7, |v: &i32| *v, shadow_runtime::DefaultComparator, shadow_runtime::exec::NoProbes);
    /// assert_eq!(out, 7);
    /// # assert!(shadow_runtime::wait_idle(std::time::Duration::from_secs(10)));
    /// ```
    pub fn run_detached<L, K, C, P>(self, primary: L, copy: K, compare: C, probes: P) -> T
    where
        L: FnOnce() -> T,
        K: FnOnce(&T) -> T,
        C: Comparator<T> + Send + 'static,
        P: Probe<T> + Send + 'static,
    {
        if self.served {
            return self.serve(primary, &compare, &probes);
        }
        let out = if self.ticket.exp.compares_panics() {
            match catch_unwind(AssertUnwindSafe(|| self.primary_sync(primary))) {
                Ok(v) => v,
                Err(p) => {
                    self.after_primary_panic_detached(&*p, probes);
                    resume_unwind(p)
                }
            }
        } else {
            self.primary_sync(primary)
        };
        self.finish_detached(copy(&out), compare, probes);
        out
    }

    /// `panics = compare`, detached: the primary panicked; the candidate is queued on the lane
    /// as usual and judged against the panic there. The caller gets the panic at once.
    fn after_primary_panic_detached<P>(mut self, panic: &(dyn std::any::Any + Send), probes: P)
    where
        P: Probe<T> + Send + 'static,
    {
        let (primary_time, end) = self.primary_done();
        let exp = self.ticket.exp;
        let f = self
            .candidate
            .take()
            .expect("detached candidates never run first");
        let key = self.ticket.key();
        let ticket = self.take_ticket();
        let (slot, admission) = (self.slot.take(), self.admission.take());
        let panic = panic_message(panic);
        let job = move |run: bool| {
            if let Some(a) = admission {
                a.start();
            }
            if !run {
                drop(slot);
                return shed_late(ticket);
            }
            let (ran, took, _) = run_sync(exp, end, key, f);
            drop(slot);
            judge_panicked(ticket, &panic, ran, primary_time, took, &probes);
        };
        if let Err(job) = crate::pool::try_submit(Box::new(job)) {
            job(false);
        }
    }
}

impl<F, T> Pending<F, T>
where
    F: Future<Output = T>,
{
    /// The async twin of [`run_inline`](Self::run_inline).
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::run_inline_async", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let p = EXP.decide().unwrap().with_candidate_async(async { 5 }).await;
    /// assert_eq!(p.run_inline_async(async { 5 }, &shadow_runtime::DefaultComparator, shadow_runtime::exec::NoProbes).await, 5);
    /// # });
    /// ```
    pub async fn run_inline_async<L, C, P>(self, primary: L, compare: &C, probes: P) -> T
    where
        L: Future<Output = T>,
        C: Comparator<T> + ?Sized,
        P: Probe<T>,
    {
        if self.served {
            return self
                .serve_async::<L, &C, C, P>(primary, compare, probes)
                .await;
        }
        let out = if self.ticket.exp.compares_panics() {
            match (CatchUnwind {
                inner: self.primary_async(primary),
            })
            .await
            {
                Ok(v) => v,
                Err(p) => {
                    self.after_primary_panic_inline_async(&*p, &probes).await;
                    resume_unwind(p)
                }
            }
        } else {
            self.primary_async(primary).await
        };
        self.finish_inline_async(&out, compare, probes).await;
        out
    }

    /// The async twin of `after_primary_panic_inline`.
    async fn after_primary_panic_inline_async<P: Probe<T>>(
        mut self,
        panic: &(dyn std::any::Any + Send),
        probes: &P,
    ) {
        let (primary_time, end) = self.primary_done();
        let exp = self.ticket.exp;
        let key = self.ticket.key();
        let (ran, took) = match (self.early.take(), self.candidate.take()) {
            (Some(early), _) => *early,
            (None, Some(f)) => {
                let (ran, took, _) = run_async(exp, end, key, f, inline_deadline(exp, end)).await;
                (ran, took)
            }
            (None, None) => unreachable!("a candidate is attached or has run"),
        };
        self.slot = None;
        judge_panicked(
            self.take_ticket(),
            &panic_message(panic),
            ran,
            primary_time,
            took,
            probes,
        );
    }

    /// The async twin of `primary_sync`: the served side, marked as this experiment's primary
    /// on every poll.
    fn primary_async<L: Future<Output = T>>(&self, primary: L) -> ServedSide<L> {
        let exp = self.ticket.exp;
        ServedSide {
            inner: crate::context::scoped(served_context(exp, self.ticket.key()), primary),
            exp,
        }
    }

    /// The async twin of `serve`; the comparator and probes are owned (or a reference, inline)
    /// so that the caller's future needs no more than it did.
    async fn serve_async<L, CR, C, P>(mut self, legacy: L, compare: CR, probes: P) -> T
    where
        L: Future<Output = T>,
        CR: std::borrow::Borrow<C>,
        C: Comparator<T> + ?Sized,
        P: Probe<T>,
    {
        let exp = self.ticket.exp;
        let key = self.ticket.key();
        let f = self
            .candidate
            .take()
            .expect("a served candidate never runs first");
        if !self.shadowed {
            let ctx = served_context(exp, key.clone());
            return crate::context::scoped(ctx, f).await;
        }
        let served = self.primary_async(f).await;
        let (served_time, end) = self.primary_done();
        let (ran, took, _) = run_async(exp, end, key, legacy, inline_deadline(exp, end)).await;
        self.slot = None; // the shadow has ended
        let failure = judge_served(
            self.take_ticket(),
            &served,
            ran,
            took,
            served_time,
            compare.borrow(),
            &probes,
        );
        fail_if_strict(exp, failure);
        served
    }
}

impl<F, T> Pending<F, T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    /// The async twin of [`run_detached`](Self::run_detached): the candidate is spawned on the
    /// current tokio runtime; on a served call the legacy shadow is awaited in the caller.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::run_detached_async", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst);
    /// # let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
    /// rt.block_on(async {
    ///     let p = EXP.decide().unwrap().with_candidate_async(async { 1 }).await;
    ///     let out = p.run_detached_async(async { 1 }, |v: &i32| *v, shadow_runtime::DefaultComparator, shadow_runtime::exec::NoProbes).await;
    ///     assert_eq!(out, 1);
    ///     shadow_runtime::snapshot::idle().await;
    /// });
    /// ```
    pub async fn run_detached_async<L, K, C, P>(
        self,
        primary: L,
        copy: K,
        compare: C,
        probes: P,
    ) -> T
    where
        L: Future<Output = T>,
        K: FnOnce(&T) -> T,
        C: Comparator<T> + Send + 'static,
        P: Probe<T> + Send + 'static,
    {
        if self.served {
            return self
                .serve_async::<L, C, C, P>(primary, compare, probes)
                .await;
        }
        let out = if self.ticket.exp.compares_panics() {
            match (CatchUnwind {
                inner: self.primary_async(primary),
            })
            .await
            {
                Ok(v) => v,
                Err(p) => {
                    self.after_primary_panic_detached_async(&*p, probes);
                    resume_unwind(p)
                }
            }
        } else {
            self.primary_async(primary).await
        };
        self.finish_detached_async(copy(&out), compare, probes)
            .await;
        out
    }

    /// The async twin of `after_primary_panic_detached`: the candidate goes to the lane.
    fn after_primary_panic_detached_async<P>(
        mut self,
        panic: &(dyn std::any::Any + Send),
        probes: P,
    ) where
        P: Probe<T> + Send + 'static,
    {
        let (primary_time, _) = self.primary_done();
        let exp = self.ticket.exp;
        let f = self
            .candidate
            .take()
            .expect("detached candidates never run first");
        let key = self.ticket.key();
        let ticket = self.take_ticket();
        let slot = self.slot.take();
        let panic = panic_message(panic);
        if !crate::lane::available() {
            return shed_late(ticket);
        }
        let task = async move {
            let start = Stamp::now();
            let (ran, took, _) = run_async(exp, start, key, f, inline_deadline(exp, start)).await;
            drop(slot);
            judge_panicked(ticket, &panic, ran, primary_time, took, &probes);
        };
        let _ = crate::lane::spawn(self.admission.take(), task);
    }
}

/// Judges a served call: the legacy code's shadow run against the candidate's served result,
/// compared (and recorded) with the legacy code as the primary, as on every other call.
fn judge_served<T, C, P>(
    mut ticket: Ticket,
    served: &T,
    legacy: Ran<T>,
    legacy_time: Took,
    served_time: Took,
    compare: &C,
    probes: &P,
) -> Failure
where
    C: Comparator<T> + ?Sized,
    P: Probe<T>,
{
    match legacy {
        Ran::Value(l) => judge(
            ticket,
            &l,
            Ran::Value(served),
            legacy_time,
            served_time,
            compare,
            probes,
        ),
        Ran::Refused(n, first) => judge(
            ticket,
            served,
            Ran::<&T>::Refused(n, first),
            legacy_time,
            served_time,
            compare,
            probes,
        ),
        Ran::TimedOut => settle(
            ticket,
            Outcome::Timeout,
            None,
            legacy_time,
            served_time,
            false,
        ),
        Ran::Panicked(p) => {
            let detail = format!(
                "the legacy code panicked in its shadow run (the candidate served the call): {}",
                panic_detail(&*p)
            );
            let candidate = render(ticket.exp, probes, served);
            notify(
                &ticket,
                Outcome::PrimaryPanic,
                Some(&detail),
                legacy_time,
                served_time,
            );
            let d = discrepancy(
                &mut ticket,
                Outcome::PrimaryPanic,
                detail,
                None,
                candidate,
                legacy_time,
                served_time,
            );
            ticket.resolve_timed(
                Outcome::PrimaryPanic,
                Some(d),
                None,
                &legacy_time,
                &served_time,
            );
            None
        }
    }
}

/// A second run of a sync primary (`None`: the candidate left no copies of the arguments).
type NoiseFn<T> = Box<dyn FnOnce() -> Option<T> + Send>;
/// A second run of an async primary: makes its future, which need not be `Send` (it is polled on
/// one blocking thread, [`second_run_async`]).
type NoiseFuture<T> = Box<dyn FnOnce() -> Option<LocalFuture<T>> + Send>;
type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl<F, T: 'static> Pending<F, T> {
    /// Attaches a second run of the (pure) primary, for noise cancellation. The runtime makes it
    /// off the caller's path, after the candidate, when the experiment's `noise` rate draws the
    /// call or when the candidate's difference is not explained by the noise learned so far;
    /// where the two runs of the primary differ is learned as noise
    /// ([noise cancellation](crate::noise)).
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::with_noise", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst).with_noise(1.0);
    /// let p = EXP.decide().unwrap().with_candidate(|| 1).with_noise(|| 1);
    /// let out = p.run_detached(|| 1, |v: &i32| *v, shadow_runtime::DefaultComparator, shadow_runtime::exec::NoProbes);
    /// # assert!(shadow_runtime::wait_idle(std::time::Duration::from_secs(10)));
    /// assert_eq!(shadow_runtime::snapshot::experiment("docs::with_noise").unwrap().noise_runs, 1);
    /// ```
    pub fn with_noise(self, second_run: impl FnOnce() -> T + Send + 'static) -> Self {
        let f: NoiseFn<T> = Box::new(move || Some(second_run()));
        self.attach_noise(Box::new(f))
    }

    /// [`with_noise`](Self::with_noise), the second run's inputs being the copies the candidate
    /// left in `keep` (the attribute's expansion: the candidate's copies of the arguments serve
    /// both, so nothing more is copied on the caller's path). Without them (the candidate did
    /// not return), the second run is not made.
    ///
    /// ```
    /// use shadow_runtime::noise::Keep;
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::with_noise_kept", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst).with_noise(1.0);
    /// let keep = Keep::new();
    /// let put = keep.share();
    /// let input = String::from("abc");
    /// let copy = input.clone();
    /// let p = EXP.decide().unwrap()
    ///     .with_candidate(move || { let n = copy.len(); put.put(copy); n })
    ///     .with_noise_kept(keep, |copy: String| copy.len());
    /// p.run_detached(|| input.len(), |v: &usize| *v, shadow_runtime::DefaultComparator, shadow_runtime::exec::NoProbes);
    /// # assert!(shadow_runtime::wait_idle(std::time::Duration::from_secs(10)));
    /// assert_eq!(shadow_runtime::snapshot::experiment("docs::with_noise_kept").unwrap().noise_runs, 1);
    /// ```
    pub fn with_noise_kept<A: Send + 'static>(
        self,
        keep: crate::noise::Keep<A>,
        second_run: impl FnOnce(A) -> T + Send + 'static,
    ) -> Self {
        let f: NoiseFn<T> = Box::new(move || keep.take().map(second_run));
        self.attach_noise(Box::new(f))
    }

    /// The async twin of [`with_noise`](Self::with_noise): `second_run` makes the second run's
    /// future. That future need not be `Send` (it is polled on one blocking thread of the
    /// runtime that judges the call), so an `async fn` can make it by calling itself.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::with_noise_async", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst).with_noise(1.0);
    /// # let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
    /// rt.block_on(async {
    ///     let p = EXP.decide().unwrap().with_candidate_async(async { 1 }).await;
    ///     let p = p.with_noise_async(|| async { 1 });
    ///     p.run_detached_async(async { 1 }, |v: &i32| *v, shadow_runtime::DefaultComparator, shadow_runtime::exec::NoProbes).await;
    ///     shadow_runtime::snapshot::idle().await;
    /// });
    /// assert_eq!(shadow_runtime::snapshot::experiment("docs::with_noise_async").unwrap().noise_runs, 1);
    /// ```
    pub fn with_noise_async<G, Fut>(self, second_run: G) -> Self
    where
        G: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
    {
        let f: NoiseFuture<T> = Box::new(move || Some(Box::pin(second_run()) as LocalFuture<T>));
        self.attach_noise(Box::new(f))
    }

    /// The async twin of [`with_noise_kept`](Self::with_noise_kept).
    ///
    /// ```
    /// use shadow_runtime::noise::Keep;
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::with_noise_kept_async", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst).with_noise(1.0);
    /// # let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
    /// rt.block_on(async {
    ///     let keep = Keep::new();
    ///     let put = keep.share();
    ///     let p = EXP.decide().unwrap().with_candidate_async(async move { put.put(3u8); 3u8 }).await;
    ///     let p = p.with_noise_kept_async(keep, |x: u8| async move { x });
    ///     p.run_detached_async(async { 3u8 }, |v: &u8| *v, shadow_runtime::DefaultComparator, shadow_runtime::exec::NoProbes).await;
    ///     shadow_runtime::snapshot::idle().await;
    /// });
    /// assert_eq!(shadow_runtime::snapshot::experiment("docs::with_noise_kept_async").unwrap().noise_runs, 1);
    /// ```
    pub fn with_noise_kept_async<A, G, Fut>(
        self,
        keep: crate::noise::Keep<A>,
        second_run: G,
    ) -> Self
    where
        A: Send + 'static,
        G: FnOnce(A) -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
    {
        let f: NoiseFuture<T> = Box::new(move || {
            keep.take()
                .map(|a| Box::pin(second_run(a)) as LocalFuture<T>)
        });
        self.attach_noise(Box::new(f))
    }

    fn attach_noise(mut self, second_run: Box<dyn std::any::Any + Send>) -> Self {
        // A call the candidate serves has no primary to run again.
        if !self.served {
            self.noise = Some(second_run);
        }
        self
    }
}

/// What noise cancellation makes of one call before it is judged: the comparison, made once here
/// and replayed to `judge` ([`Replay`]), and whether the primary must run a second time (the
/// `noise` rate drew the call, or its difference is not explained by the learned noise yet).
struct NoiseCheck {
    verdict: Option<std::thread::Result<Verdict>>,
    /// The candidate's difference, read as entries.
    entries: Vec<crate::noise::Entry>,
    run: bool,
    confirm: bool,
}

impl NoiseCheck {
    fn new<T, V, C, P>(
        exp: &'static Experiment,
        primary: &T,
        ran: &Ran<V>,
        compare: &C,
        probes: &P,
    ) -> NoiseCheck
    where
        V: std::borrow::Borrow<T>,
        C: Comparator<T> + ?Sized,
        P: Probe<T>,
    {
        let mut check = NoiseCheck {
            verdict: None,
            entries: Vec::new(),
            run: false,
            confirm: false,
        };
        let Ran::Value(c) = ran else {
            // Nothing compared: nothing to learn from this call.
            return check;
        };
        if exp.noise_rate() <= 0.0 {
            return check;
        }
        // One side failing is a mismatch whatever noise says (`judge` does not compare).
        if is_err(probes, primary) == is_err(probes, c.borrow()) {
            let verdict = catch_unwind(AssertUnwindSafe(|| {
                quietly(|| compare.compare(primary, c.borrow()))
            }));
            if let Ok(Verdict::Mismatch { diff: Some(d) }) = &verdict {
                check.entries = crate::noise::entries(d);
                check.confirm = !check.entries.is_empty()
                    && exp.state().noise.assess(&check.entries) == crate::noise::Assess::Unknown;
            }
            check.verdict = Some(verdict);
        }
        check.run = check.confirm || exp.noise_due();
        check
    }

    /// Learns from the primary's second run (`None`: it was not made).
    fn learn<T, C, P>(
        &self,
        exp: &'static Experiment,
        primary: &T,
        second: Option<Ran<T>>,
        compare: &C,
        probes: &P,
    ) where
        C: Comparator<T> + ?Sized,
        P: Probe<T>,
    {
        let Some(second) = second else { return };
        let noise = &exp.state().noise;
        noise.counted_run(self.confirm);
        let again = match second {
            Ran::Value(v) => v,
            Ran::Panicked(p) => {
                return crate::observe::internal_error(
                    exp,
                    "noise",
                    &format!("the primary's second run panicked: {}", panic_detail(&*p)),
                )
            }
            Ran::TimedOut => {
                return crate::observe::internal_error(
                    exp,
                    "noise",
                    "the primary's second run timed out",
                )
            }
            Ran::Refused(_, first) => {
                return crate::observe::internal_error(
                    exp,
                    "noise",
                    &format!("the primary's second run attempted a production write (`{first}`): it is not pure; refused"),
                )
            }
        };
        let own = match catch_unwind(AssertUnwindSafe(|| {
            quietly(|| compare.compare(primary, &again))
        })) {
            Ok(Verdict::Mismatch { diff }) => {
                let detail = diff.unwrap_or_else(|| {
                    match (render(exp, probes, primary), render(exp, probes, &again)) {
                        (Some(a), Some(b)) => debug_diff(&a, &b),
                        _ => String::new(),
                    }
                });
                let own = crate::noise::entries(&detail);
                if own.is_empty() {
                    return crate::observe::internal_error(
                        exp,
                        "noise",
                        "the primary differs from itself, but the comparator's diff names no paths (use a structural or typed comparator) to learn from",
                    );
                }
                own
            }
            // The primary agreed with itself.
            Ok(_) => Vec::new(),
            Err(p) => {
                return crate::observe::internal_error(exp, "comparator", &panic_message(&*p))
            }
        };
        noise.learn(exp.name(), &own, &self.entries);
    }
}

/// The noise check of a sync call, with its second run made here; the verdict to replay.
fn noise_sync<T, C, P>(
    exp: &'static Experiment,
    primary: &T,
    ran: &Ran<T>,
    compare: &C,
    probes: &P,
    second: Option<Box<NoiseFn<T>>>,
) -> Option<std::thread::Result<Verdict>>
where
    C: Comparator<T> + ?Sized,
    P: Probe<T>,
{
    let check = NoiseCheck::new(exp, primary, ran, compare, probes);
    if let (true, Some(second)) = (check.run, second) {
        let (again, _, _) = run_sync(exp, Stamp::now(), None, move || {
            crate::context::as_second_run(*second)
        });
        check.learn(exp, primary, flatten(again), compare, probes);
    }
    check.verdict
}

/// A second run whose inputs were gone is one not made.
fn flatten<T>(ran: Ran<Option<T>>) -> Option<Ran<T>> {
    Some(match ran {
        Ran::Value(v) => Ran::Value(v?),
        Ran::Panicked(p) => Ran::Panicked(p),
        Ran::TimedOut => Ran::TimedOut,
        Ran::Refused(n, first) => Ran::Refused(n, first),
    })
}

/// Makes an async primary's second run: its future is made and polled on a blocking thread of
/// the runtime judging the call (the shadow lane's, or the caller's with `runtime = caller` or
/// in strict mode), with `Handle::block_on`, so it need not be `Send`. Timed out at the
/// experiment's timeout. `None`: not made (no runtime, or the inputs were gone).
async fn second_run_async<T: Send + 'static>(
    exp: &'static Experiment,
    second: NoiseFuture<T>,
) -> Option<Ran<T>> {
    let handle = tokio::runtime::Handle::try_current()
        .ok()
        .or_else(crate::lane::handle)?;
    let on = handle.clone();
    let run = handle.spawn_blocking(move || {
        let fut = crate::context::second_run_of(second()?);
        let now = Stamp::now();
        let (ran, _, _) = on.block_on(run_async(exp, now, None, fut, inline_deadline(exp, now)));
        Some(ran)
    });
    run.await.ok().flatten()
}

/// The comparator `judge` gets after a [`NoiseCheck`]: the check's verdict (or its panic), once,
/// so the pair is not compared twice; then the comparator itself.
struct Replay<'c, C: ?Sized> {
    inner: &'c C,
    verdict: std::cell::Cell<Option<std::thread::Result<Verdict>>>,
}

impl<'c, C: ?Sized> Replay<'c, C> {
    fn new(inner: &'c C, verdict: Option<std::thread::Result<Verdict>>) -> Self {
        Replay {
            inner,
            verdict: std::cell::Cell::new(verdict),
        }
    }
}

impl<T: ?Sized, C: Comparator<T> + ?Sized> Comparator<T> for Replay<'_, C> {
    fn compare(&self, primary: &T, candidate: &T) -> Verdict {
        match self.verdict.take() {
            Some(Ok(v)) => v,
            // `judge` catches it again and reports the comparator's panic, once.
            Some(Err(p)) => std::panic::resume_unwind(p),
            None => self.inner.compare(primary, candidate),
        }
    }
}

/// Runs a sync candidate that started at `start`; returns how it ended, its wall time and the
/// instant it ended. A sync candidate cannot be interrupted: past the timeout its result is
/// discarded.
fn run_sync<T>(
    exp: &'static Experiment,
    start: Stamp,
    key: Option<Arc<str>>,
    f: impl FnOnce() -> T,
) -> (Ran<T>, Took, Stamp) {
    let mut run = shadow_run(exp, key);
    let cpu = cpu_now(exp);
    let r = catch_unwind(AssertUnwindSafe(|| run.enter(|| quietly(f))));
    let cpu = cpu_since(cpu);
    let end = Stamp::now();
    let wall = end.since(start);
    let ran = match r {
        _ if exp.timeout().is_some_and(|t| wall > t) => Ran::TimedOut,
        _ if run.refused().is_some() => {
            let (n, first) = run.refused().unwrap_or((0, "?"));
            Ran::Refused(n, first)
        }
        Ok(v) => Ran::Value(v),
        Err(p) => Ran::Panicked(p),
    };
    (ran, Took { wall, cpu }, end)
}

/// The context a shadow run of `exp` runs in.
fn shadow_run(exp: &'static Experiment, key: Option<Arc<str>>) -> Run {
    Run::shadow(exp.name(), exp.writes(), key)
}

/// The context the served side runs in: only needed to carry an idempotency key, and never
/// replacing a shadow context around it (a served side nested in a shadow run stays a shadow).
pub(crate) fn served_context(exp: &'static Experiment, key: Option<Arc<str>>) -> Option<Run> {
    if key.is_none() || crate::context::in_shadow() {
        return None;
    }
    Some(Run::served(exp.name(), key))
}

/// The async twin of [`run_sync`]: the candidate is cancelled (dropped) at its `deadline`, and
/// one that ended after it (a candidate that runs to completion within one poll cannot be
/// interrupted) counts as timed out too.
async fn run_async<F: Future>(
    exp: &'static Experiment,
    start: Stamp,
    key: Option<Arc<str>>,
    f: F,
    deadline: Option<Deadline>,
) -> (Ran<F::Output>, Took, Stamp) {
    let due = deadline.as_ref().map(Deadline::at);
    let mut side = std::pin::pin!(crate::context::scoped(Some(shadow_run(exp, key)), f));
    let ran = Race {
        inner: CatchUnwind {
            inner: side.as_mut(),
        },
        deadline,
    }
    .await;
    let end = Stamp::now();
    let late = due.is_some_and(|d| Instant::now() > d);
    let ran = match (ran, side.as_ref().get_ref().refused()) {
        (Ran::TimedOut, _) => Ran::TimedOut,
        _ if late => Ran::TimedOut,
        (_, Some((n, first))) => Ran::Refused(n, first),
        (ran, None) => ran,
    };
    let took = Took {
        wall: end.since(start),
        cpu: None,
    };
    (ran, took, end)
}

pin_project_lite::pin_project! {
    /// The served side of a shadowed async call: polled in its context, marked as the
    /// experiment's primary on the polling thread (a recursive call starts no shadow).
    struct ServedSide<F> {
        #[pin]
        inner: crate::context::Scoped<F>,
        exp: &'static Experiment,
    }
}

impl<F: Future> Future for ServedSide<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _active = this.exp.enter_primary();
        this.inner.poll(cx)
    }
}

pin_project_lite::pin_project! {
    /// Catches a panic raised while polling the inner future.
    struct CatchUnwind<F> {
        #[pin]
        inner: F,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, PanicPayload>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.project().inner;
        match catch_unwind(AssertUnwindSafe(move || quietly(|| inner.poll(cx)))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(p) => Poll::Ready(Err(p)),
        }
    }
}

pin_project_lite::pin_project! {
    /// The candidate against its deadline; the candidate is polled first.
    struct Race<F> {
        #[pin]
        inner: CatchUnwind<F>,
        deadline: Option<Deadline>,
    }
}

impl<F: Future> Future for Race<F> {
    type Output = Ran<F::Output>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(r) = this.inner.poll(cx) {
            return Poll::Ready(match r {
                Ok(v) => Ran::Value(v),
                Err(p) => Ran::Panicked(p),
            });
        }
        match this.deadline {
            Some(d) => Pin::new(d).poll(cx).map(|()| Ran::TimedOut),
            None => Poll::Pending,
        }
    }
}

/// Judges a call whose primary panicked (`panics = compare`): a candidate that panics with the
/// same message is a match; one that panics otherwise, or returns, is a mismatch that names both.
fn judge_panicked<T, P: Probe<T>>(
    mut ticket: Ticket,
    primary_panic: &str,
    ran: Ran<T>,
    primary: Took,
    candidate: Took,
    probes: &P,
) {
    let msg_only = |s: &str| s.split(" (at ").next().unwrap_or(s).to_owned();
    let (detail, candidate_text) = match ran {
        Ran::TimedOut => {
            settle(ticket, Outcome::Timeout, None, primary, candidate, true);
            return;
        }
        Ran::Refused(n, first) => {
            let detail = format!(
                "the primary panicked ({primary_panic}); the shadow run attempted {n} production write(s), first `{first}`: refused, not compared"
            );
            let d = discrepancy(
                &mut ticket,
                Outcome::WriteRefused,
                detail,
                None,
                None,
                primary,
                candidate,
            );
            ticket.resolve_timed(Outcome::WriteRefused, Some(d), None, &primary, &candidate);
            return;
        }
        Ran::Panicked(p) => {
            let theirs = panic_detail(&*p);
            if msg_only(&theirs) == msg_only(primary_panic) {
                settle(
                    ticket,
                    Outcome::Match,
                    Some("both panicked alike"),
                    primary,
                    candidate,
                    false,
                );
                return;
            }
            (
                format!("the primary panicked: {primary_panic}\nthe candidate panicked: {theirs}"),
                Some("(panicked)".to_owned()),
            )
        }
        Ran::Value(v) => (
            format!("the primary panicked: {primary_panic}\nthe candidate returned a value"),
            render(ticket.exp, probes, &v),
        ),
    };
    notify(
        &ticket,
        Outcome::Mismatch,
        Some(&detail),
        primary,
        candidate,
    );
    let d = discrepancy(
        &mut ticket,
        Outcome::Mismatch,
        detail,
        Some(format!("(panicked: {})", msg_only(primary_panic))),
        candidate_text,
        primary,
        candidate,
    );
    ticket.resolve_timed(Outcome::Mismatch, Some(d), None, &primary, &candidate);
}

/// The panic's message and, when the hook saw it, where it was raised.
fn panic_detail(p: &(dyn std::any::Any + Send)) -> String {
    let msg = panic_message(p);
    match take_location() {
        Some(at) => format!("{msg} (at {at})"),
        None => msg,
    }
}

/// Renders a value with the probe, treating a panicking `Debug` impl as absent.
fn render<T, P: Probe<T>>(exp: &'static Experiment, probes: &P, v: &T) -> Option<String> {
    match catch_unwind(AssertUnwindSafe(|| quietly(|| probes.debug(v)))) {
        Ok(s) => s,
        Err(p) => {
            crate::observe::internal_error(exp, "debug", &panic_message(&*p));
            None
        }
    }
}

/// Whether each side is an `Err` (one check for both: the common call compares two `Ok`s, or
/// two values that are not results).
#[inline]
fn both_err<T, P: Probe<T>>(probes: &P, a: &T, b: &T) -> (bool, bool) {
    catch_unwind(AssertUnwindSafe(|| (probes.is_err(a), probes.is_err(b))))
        .unwrap_or((false, false))
}

fn is_err<T, P: Probe<T>>(probes: &P, v: &T) -> bool {
    catch_unwind(AssertUnwindSafe(|| probes.is_err(v))).unwrap_or(false)
}

/// Compares, classifies and records one shadowed call.
/// Returns, for a mismatch or a candidate panic, the message strict mode fails with.
fn judge<T, V, C, P>(
    mut ticket: Ticket,
    primary: &T,
    ran: Ran<V>,
    primary_duration: Took,
    candidate_duration: Took,
    compare: &C,
    probes: &P,
) -> Failure
where
    V: std::borrow::Borrow<T>,
    C: Comparator<T> + ?Sized,
    P: Probe<T>,
{
    let ran = match ran {
        Ran::Value(v) => Ran::Value(v),
        Ran::Panicked(p) => Ran::Panicked(p),
        Ran::TimedOut => Ran::TimedOut,
        Ran::Refused(n, first) => {
            let detail = format!(
                "the shadow run attempted {n} production write(s), first `{first}`: refused, not compared"
            );
            // The hook first: the record takes the call's context.
            notify(
                &ticket,
                Outcome::WriteRefused,
                Some(&detail),
                primary_duration,
                candidate_duration,
            );
            let d = discrepancy(
                &mut ticket,
                Outcome::WriteRefused,
                detail,
                None,
                None,
                primary_duration,
                candidate_duration,
            );
            let failure = strict_failure(ticket.exp, &d);
            ticket.resolve_timed(
                Outcome::WriteRefused,
                Some(d),
                None,
                &primary_duration,
                &candidate_duration,
            );
            return failure;
        }
    };
    let (outcome, detail, candidate_value, failed) = match ran {
        Ran::Refused(..) => unreachable!("handled above"),
        Ran::TimedOut => {
            return settle(
                ticket,
                Outcome::Timeout,
                None,
                primary_duration,
                candidate_duration,
                true,
            );
        }
        Ran::Panicked(p) => (Outcome::CandidatePanic, panic_detail(&*p), None, Some(true)),
        // One side failing while the other returns a value is a mismatch, whatever the
        // comparator would say.
        Ran::Value(c)
            if {
                let (p, c) = both_err(probes, primary, c.borrow());
                p != c
            } =>
        {
            let failed = is_err(probes, c.borrow());
            (Outcome::Mismatch, String::new(), Some(c), Some(failed))
        }
        Ran::Value(c) => match catch_unwind(AssertUnwindSafe(|| {
            quietly(|| compare.compare(primary, c.borrow()))
        })) {
            Ok(Verdict::Match) => {
                return settle(
                    ticket,
                    Outcome::Match,
                    None,
                    primary_duration,
                    candidate_duration,
                    false,
                );
            }
            Ok(Verdict::Acceptable { reason }) => {
                crate::observe::acceptable(ticket.exp, &reason);
                return settle(
                    ticket,
                    Outcome::Acceptable,
                    Some(&reason),
                    primary_duration,
                    candidate_duration,
                    false,
                );
            }
            Ok(Verdict::Ignored { reason }) => {
                tracing::debug!(target: "parallel_run", experiment = ticket.exp.name(), reason = %reason, "ignored difference");
                return settle(
                    ticket,
                    Outcome::Ignored,
                    Some(&reason),
                    primary_duration,
                    candidate_duration,
                    false,
                );
            }
            Ok(Verdict::Mismatch { diff })
                if ticket.exp.noise_rate() > 0.0
                    && crate::noise::explains(ticket.exp, diff.as_deref().unwrap_or("")) =>
            {
                let paths = crate::publish::diff_paths(diff.as_deref().unwrap_or(""));
                let reason = format!("differs only at noisy paths: {}", paths.join(", "));
                return settle(
                    ticket,
                    Outcome::Noise,
                    Some(&reason),
                    primary_duration,
                    candidate_duration,
                    false,
                );
            }
            Ok(Verdict::Mismatch { diff }) => {
                // An `Err` where the primary succeeded is a candidate failure for the breaker.
                let failed = is_err(probes, c.borrow()) && !is_err(probes, primary);
                (
                    Outcome::Mismatch,
                    diff.unwrap_or_default(),
                    Some(c),
                    Some(failed),
                )
            }
            Err(p) => {
                let detail = panic_detail(&*p);
                crate::observe::internal_error(ticket.exp, "comparator", &detail);
                (Outcome::ComparatorPanic, detail, Some(c), None)
            }
        },
    };
    let primary_text = render(ticket.exp, probes, primary);
    let candidate_text = candidate_value
        .as_ref()
        .and_then(|c| render(ticket.exp, probes, c.borrow()));
    let detail = if outcome == Outcome::Mismatch && detail.is_empty() {
        match (&primary_text, &candidate_text) {
            // Two different values must never look identical: say so, with the rendering.
            (Some(p), Some(c)) if p == c => {
                let masked = if p.contains("\"***\"") {
                    "; a part shown as \"***\" (`#[shadow(sensitive)]`) may be where they differ"
                } else {
                    ""
                };
                format!("{}{masked}; both render as:\n{p}", probes.same_rendering())
            }
            (Some(p), Some(c)) => debug_diff(p, c),
            _ => "values differ (the result type does not implement Debug; return a diff from the comparator)".to_owned(),
        }
    } else {
        detail
    };
    let detail = match candidate_value
        .as_ref()
        .map(|c| (is_err(probes, primary), is_err(probes, c.borrow())))
    {
        Some((false, true)) if outcome == Outcome::Mismatch => {
            format!("the candidate returned Err, the primary Ok\n{detail}")
        }
        Some((true, false)) if outcome == Outcome::Mismatch => {
            format!("the primary returned Err, the candidate Ok\n{detail}")
        }
        _ => detail,
    };
    notify(
        &ticket,
        outcome,
        Some(&detail),
        primary_duration,
        candidate_duration,
    );
    let d = discrepancy(
        &mut ticket,
        outcome,
        detail,
        primary_text,
        candidate_text,
        primary_duration,
        candidate_duration,
    );
    let failure = if matches!(outcome, Outcome::Mismatch | Outcome::CandidatePanic) {
        strict_failure(ticket.exp, &d)
    } else {
        None
    };
    ticket.resolve_timed(
        outcome,
        Some(d),
        failed,
        &primary_duration,
        &candidate_duration,
    );
    failure
}

/// The record of one discrepancy of the ticket's call.
fn discrepancy(
    ticket: &mut Ticket,
    outcome: Outcome,
    detail: String,
    primary: Option<String>,
    candidate: Option<String>,
    primary_duration: Took,
    candidate_duration: Took,
) -> Discrepancy {
    let extras = ticket.extras.take().map(|b| *b).unwrap_or_default();
    Discrepancy {
        context: extras.context,
        experiment: ticket.exp.name(),
        outcome,
        detail,
        primary,
        candidate,
        primary_duration: primary_duration.wall,
        candidate_duration: candidate_duration.wall,
        primary_cpu: primary_duration.cpu,
        candidate_cpu: candidate_duration.cpu,
        at: SystemTime::now(),
        served_by_candidate: ticket.served,
        candidate_ran_first: ticket.candidate_first,
        key: extras.sample_key,
        inputs: extras.inputs,
    }
}

/// Records an outcome that keeps no discrepancy record (match, acceptable, ignored, timeout):
/// the hook, then the ticket. Nothing for strict mode to fail on.
fn settle(
    ticket: Ticket,
    outcome: Outcome,
    detail: Option<&str>,
    primary: Took,
    candidate: Took,
    candidate_failed: bool,
) -> Failure {
    notify(&ticket, outcome, detail, primary, candidate);
    ticket.resolve_timed(outcome, None, Some(candidate_failed), &primary, &candidate);
    None
}

/// Calls the call's `on_outcome` hook, if any; a panic in it is reported, never propagated.
#[inline]
fn notify(ticket: &Ticket, outcome: Outcome, detail: Option<&str>, primary: Took, candidate: Took) {
    if ticket.extras.is_some() {
        notify_hook(ticket, outcome, detail, primary, candidate);
    }
}

#[cold]
fn notify_hook(
    ticket: &Ticket,
    outcome: Outcome,
    detail: Option<&str>,
    primary: Took,
    candidate: Took,
) {
    let Some(hook) = ticket.hook() else { return };
    let record = crate::outcome::OutcomeRecord {
        experiment: ticket.exp.name(),
        outcome,
        detail: detail.map(str::to_owned),
        primary_duration: primary.wall,
        candidate_duration: candidate.wall,
        primary_cpu: primary.cpu,
        candidate_cpu: candidate.cpu,
        context: ticket.context().to_vec(),
        candidate_ran_first: ticket.candidate_first,
    };
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| quietly(|| hook(&record)))) {
        crate::observe::internal_error(ticket.exp, "on_outcome", &panic_message(&*p));
    }
}

/// What a strict-mode failure says: the experiment, both sides, and the diff or panic.
fn strict_message(d: &Discrepancy) -> String {
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(no Debug rendering)".into());
    format!(
        "parallel_run: experiment `{}` failed in strict mode: {}\nprimary:   {}\ncandidate: {}\n{}",
        d.experiment,
        d.outcome,
        show(&d.primary),
        if d.outcome == Outcome::CandidatePanic {
            "(panicked)".into()
        } else {
            show(&d.candidate)
        },
        d.detail
    )
}

/// What a call fails with in strict mode, when its outcome is a failure.
type Failure = Option<Box<StrictFailure>>;

pub(crate) struct StrictFailure {
    message: String,
    discrepancy: Discrepancy,
}

/// The failure of a discrepancy, if its experiment is strict (the record is copied only then).
fn strict_failure(exp: &'static Experiment, d: &Discrepancy) -> Failure {
    exp.is_strict().then(|| {
        Box::new(StrictFailure {
            message: strict_message(d),
            discrepancy: d.clone(),
        })
    })
}

/// Strict mode: fails the call, after its outcome has been recorded and published: with the
/// application's payload when it set one ([`crate::config::on_strict_failure`]), else with the
/// library's message.
fn fail_if_strict(exp: &'static Experiment, failure: Failure) {
    let Some(f) = failure else { return };
    if !exp.is_strict() {
        return;
    }
    match crate::config::strict_failure_payload(&f.discrepancy) {
        Some(payload) => std::panic::resume_unwind(payload),
        None => panic!("{}", f.message),
    }
}

// `RunSlot` is held by the closures above for as long as the candidate runs.
const _: fn(RunSlot) = drop;
