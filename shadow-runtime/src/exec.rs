//! Running the candidate and judging it: inline (sync and async), detached on the caller's tokio
//! runtime, detached on the worker pool. Every path takes a concurrency slot first (none free:
//! the call is shed), enforces the experiment's timeout, catches the candidate's and the
//! comparator's panics, and resolves the call's ticket exactly once.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use crate::compare::{debug_diff, panic_message, Comparator, Verdict};
use crate::context::{Context as ShadowContext, Role};
use crate::experiment::{Experiment, Phase, RunSlot, ShadowCall, Ticket};
use crate::isolation::{quietly, take_location};
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
    /// The candidate's run when it went before the primary (`order = random`); `None` inside
    /// when it could not get a concurrency slot.
    early: Option<Option<(Ran<T>, Took)>>,
    primary_start: Instant,
    /// The thread's CPU time when the primary started (sync, `cpu_time` on).
    primary_cpu: Option<Duration>,
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
        let mut p = Pending::new(self.ticket, candidate, self.served, self.shadowed);
        if self.candidate_first {
            let f = p.candidate.take().expect("attached above");
            let exp = p.ticket.exp;
            let key = p.ticket.key.clone();
            p.early = Some(exp.acquire().map(|_slot| {
                let (ran, took, end) = run_sync(exp, p.primary_start, key, f);
                p.primary_start = end;
                (ran, took)
            }));
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
        let mut p = Pending::new(self.ticket, candidate, self.served, self.shadowed);
        if first {
            let f = p.candidate.take().expect("attached above");
            let exp = p.ticket.exp;
            let key = p.ticket.key.clone();
            p.early = Some(match exp.acquire() {
                Some(_slot) => {
                    let (ran, took, end) = run_async(exp, p.primary_start, key, f).await;
                    p.primary_start = end;
                    Some((ran, took))
                }
                None => None,
            });
        }
        p
    }
}

impl<F, T> Pending<F, T> {
    fn new(ticket: Ticket, candidate: F, served: bool, shadowed: bool) -> Self {
        Pending {
            ticket,
            candidate: Some(candidate),
            served,
            shadowed,
            noise: None,
            early: None,
            // A served call that is not compared measures nothing: no clock read.
            primary_start: if shadowed {
                Instant::now()
            } else {
                crate::timer::coarse_now()
            },
            primary_cpu: None,
        }
    }

    /// The primary's wall time, and the instant it ended (reused as the candidate's start by
    /// inline mode: every clock read costs ~25 ns on a VM).
    fn primary_done(&mut self) -> (Took, Instant) {
        self.ticket.phase = Phase::Candidate;
        let end = Instant::now();
        let took = Took {
            wall: end - self.primary_start,
            cpu: cpu_since(self.primary_cpu),
        };
        (took, end)
    }

    fn take_ticket(&mut self) -> Ticket {
        // Moves the ticket out, leaving a resolved placeholder that records nothing on drop.
        let placeholder = Ticket::new(self.ticket.exp, Phase::Candidate, true);
        std::mem::replace(&mut self.ticket, placeholder)
    }

    /// Judges an inline run, or sheds the call when it got no concurrency slot.
    fn conclude<C, P>(
        mut self,
        primary: &T,
        run: Option<(Ran<T>, Took)>,
        primary_time: Took,
        compare: &C,
        probes: &P,
    ) where
        C: Comparator<T> + ?Sized,
        P: Probe<T>,
    {
        let exp = self.ticket.exp;
        match run {
            Some((ran, took)) => {
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
            None => self.shed(),
        }
    }

    /// Sheds the call. When every slot is held by an abandoned (timed-out, still running)
    /// candidate, the candidate is what stops shadowing, so it counts as a failure for the
    /// circuit breaker: a hung experiment then opens its breaker instead of shedding forever.
    fn shed(&mut self) {
        let st = self.ticket.exp.state();
        let stuck = st.abandoned.load(Relaxed) >= st.max_in_flight.load(Relaxed).max(1);
        self.take_ticket()
            .resolve(Outcome::Shed, None, stuck.then_some(true));
    }
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
        let key = self.ticket.key.clone();
        let run = match (self.early.take(), self.candidate.take()) {
            (Some(early), _) => early,
            (None, Some(f)) => exp.acquire().map(|_slot| {
                let (ran, took, _) = run_sync(exp, end, key, f);
                (ran, took)
            }),
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
    /// Queues the candidate on the worker pool with a copy of the primary's result and returns at
    /// once; the comparison happens on the pool. No free concurrency slot or a full queue sheds
    /// the call ([`Outcome::Shed`]). Past the timeout the call is resolved as
    /// [`Outcome::Timeout`] by the timer thread; the candidate, which cannot be stopped, keeps
    /// its slot until it ends (or never starts, if it was still queued).
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
        if exp.is_strict() {
            // Strict mode runs the candidate in the caller, so that a mismatch fails the call
            // (a test) instead of passing silently on another thread.
            let (primary_time, end) = self.primary_done();
            let f = self
                .candidate
                .take()
                .expect("detached candidates never run first");
            let key = self.ticket.key.clone();
            let run = exp.acquire().map(|_slot| {
                let (ran, took, _) = run_sync(exp, end, key, f);
                (ran, took)
            });
            return self.conclude(&primary, run, primary_time, &compare, &probes);
        }
        let (primary_time, _) = self.primary_done();
        let Some(slot) = exp.acquire() else {
            return self.shed();
        };
        let key = self.ticket.key.clone();
        let shared = Arc::new(Mutex::new(Job {
            ticket: Some(self.take_ticket()),
            started: false,
            abandoned: false,
        }));
        if let Some(timeout) = exp.timeout() {
            let shared = shared.clone();
            crate::timer::at(Instant::now() + timeout, move || {
                let mut job = lock_job(&shared);
                if let Some(t) = job.ticket.take() {
                    // Past its deadline, queued or running: abandoned, holding its slot until
                    // the job ends. A running one also holds a worker: replace it.
                    job.abandoned = true;
                    exp.state().abandoned.fetch_add(1, Relaxed);
                    if job.started {
                        crate::pool::worker_stuck();
                    }
                    drop(job);
                    t.resolve(Outcome::Timeout, None, Some(true));
                }
            });
        }
        let f = self
            .candidate
            .take()
            .expect("detached candidates never run first");
        let noise = self
            .noise
            .take()
            .and_then(|n| n.downcast::<NoiseFn<T>>().ok());
        let job = move |run: bool| {
            {
                let mut job = lock_job(&shared);
                if !run {
                    match job.ticket.take() {
                        Some(t) => {
                            drop(job);
                            t.resolve(Outcome::Shed, None, None);
                        }
                        None => {
                            exp.state().abandoned.fetch_sub(1, Relaxed);
                        }
                    }
                    return;
                }
                if job.ticket.is_none() {
                    // Timed out while queued: never started.
                    exp.state().abandoned.fetch_sub(1, Relaxed);
                    return;
                }
                job.started = true;
            }
            let (ran, took, _) = run_sync(exp, Instant::now(), key, f);
            // The candidate has ended: its slot is free before the outcome is visible.
            drop(slot);
            let mut job = lock_job(&shared);
            if job.abandoned {
                exp.state().abandoned.fetch_sub(1, Relaxed);
                crate::pool::worker_unstuck();
            }
            if let Some(t) = job.ticket.take() {
                drop(job);
                if let Some(second) = noise {
                    let (again, _, _) = run_sync(exp, Instant::now(), None, move || {
                        crate::context::as_second_run(*second)
                    });
                    learn_noise(exp, &primary, again, &compare, &probes);
                }
                // Not strict (checked before queueing): nothing to fail.
                let _ = judge(t, &primary, ran, primary_time, took, &compare, &probes);
            }
        };
        if let Err(job) = crate::pool::try_submit(Box::new(job)) {
            job(false);
        }
    }
}

/// A queued sync candidate's state, shared by the job and its deadline.
struct Job {
    ticket: Option<Ticket>,
    started: bool,
    abandoned: bool,
}

fn lock_job(j: &Mutex<Job>) -> std::sync::MutexGuard<'_, Job> {
    j.lock().unwrap_or_else(|e| e.into_inner())
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
        let key = self.ticket.key.clone();
        let run = match (self.early.take(), self.candidate.take()) {
            (Some(early), _) => early,
            (None, Some(f)) => match exp.acquire() {
                Some(_slot) => {
                    let (ran, took, _) = run_async(exp, end, key, f).await;
                    Some((ran, took))
                }
                None => None,
            },
            (None, None) => unreachable!("a candidate is attached or has run"),
        };
        self.conclude(primary, run, primary_time, compare, &probes);
    }
}

impl<F, T> Pending<F, T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    /// Spawns the candidate on the current tokio runtime with a copy of the primary's result; the
    /// returned future completes at its first poll, so the caller does not wait for the candidate.
    /// The candidate is cancelled at the timeout. Outside a tokio runtime it warns once per
    /// experiment and runs the candidate inline instead.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::spawned", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst);
    /// # let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
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
        let (primary_time, _) = self.primary_done();
        let exp = self.ticket.exp;
        let f = self
            .candidate
            .take()
            .expect("detached candidates never run first");
        let Some(slot) = exp.acquire() else {
            return self.shed();
        };
        let key = self.ticket.key.clone();
        let handle = match tokio::runtime::Handle::try_current() {
            // Strict mode awaits the candidate in the caller (see `finish_detached`).
            Ok(handle) if !exp.is_strict() => handle,
            found => {
                let st = exp.state();
                if found.is_err() && !st.warned_no_runtime.swap(true, Relaxed) {
                    tracing::warn!(
                        target: "parallel_run",
                        experiment = exp.name(),
                        "detached mode needs a tokio runtime at the call site and there is none; \
                         running this experiment's candidate inline (warned once)"
                    );
                }
                let (ran, took, _) = run_async(exp, Instant::now(), key, f).await;
                drop(slot);
                let failure = judge(
                    self.take_ticket(),
                    &primary,
                    ran,
                    primary_time,
                    took,
                    &compare,
                    &probes,
                );
                return fail_if_strict(exp, failure);
            }
        };
        let ticket = self.take_ticket();
        let noise = self
            .noise
            .take()
            .and_then(|n| n.downcast::<NoiseFuture<T>>().ok());
        handle.spawn(async move {
            let (ran, took, _) = run_async(exp, Instant::now(), key, f).await;
            // The candidate has ended: its slot is free before the outcome is visible.
            drop(slot);
            if let Some(second) = noise {
                let second = crate::context::second_run_of(*second);
                let (again, _, _) = run_async(exp, Instant::now(), None, second).await;
                learn_noise(exp, &primary, again, &compare, &probes);
            }
            // Not strict (checked above): nothing to fail.
            let _ = judge(ticket, &primary, ran, primary_time, took, &compare, &probes);
        });
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
        let out = self.primary_sync(primary);
        self.finish_inline(&out, compare, probes);
        out
    }

    /// Runs the legacy code as the served side (in a context only to carry an idempotency key).
    fn primary_sync<L: FnOnce() -> T>(&self, primary: L) -> T {
        let ctx = served_context(self.ticket.exp, self.ticket.key.clone());
        crate::context::within(ctx.as_ref(), primary)
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
        let key = self.ticket.key.clone();
        let f = self
            .candidate
            .take()
            .expect("a served candidate never runs first");
        let ctx = served_context(exp, key.clone());
        let served = crate::context::within(ctx.as_ref(), f);
        if !self.shadowed {
            return served;
        }
        let (served_time, end) = self.primary_done();
        match exp.acquire() {
            None => self.shed(),
            Some(_slot) => {
                let (ran, took, _) = run_sync(exp, end, key, legacy);
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
            }
        }
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
        let out = self.primary_sync(primary);
        self.finish_detached(copy(&out), compare, probes);
        out
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
        let ctx = served_context(self.ticket.exp, self.ticket.key.clone());
        let out = crate::context::scoped(ctx, primary).await;
        self.finish_inline_async(&out, compare, probes).await;
        out
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
        let key = self.ticket.key.clone();
        let f = self
            .candidate
            .take()
            .expect("a served candidate never runs first");
        let ctx = served_context(exp, key.clone());
        let served = crate::context::scoped(ctx, f).await;
        if !self.shadowed {
            return served;
        }
        let (served_time, end) = self.primary_done();
        match exp.acquire() {
            None => self.shed(),
            Some(slot) => {
                let (ran, took, _) = run_async(exp, end, key, legacy).await;
                drop(slot);
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
            }
        }
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
        let ctx = served_context(self.ticket.exp, self.ticket.key.clone());
        let out = crate::context::scoped(ctx, primary).await;
        self.finish_detached_async(copy(&out), compare, probes)
            .await;
        out
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
) -> Option<String>
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
        Ran::TimedOut => {
            crate::observe::durations(ticket.exp, legacy_time, served_time);
            settle(
                ticket,
                Outcome::Timeout,
                None,
                legacy_time,
                served_time,
                false,
            )
        }
        Ran::Panicked(p) => {
            crate::observe::durations(ticket.exp, legacy_time, served_time);
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
            ticket.resolve(Outcome::PrimaryPanic, Some(d), None);
            None
        }
    }
}

/// A second run of a sync primary.
type NoiseFn<T> = Box<dyn FnOnce() -> T + Send>;
/// A second run of an async primary.
type NoiseFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<F, T: 'static> Pending<F, T> {
    /// Whether this call's primary should run a second time to learn its noise (the
    /// experiment's `noise` rate; never on a call the candidate serves).
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::noise_due", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst);
    /// let p = EXP.decide().unwrap().with_candidate(|| 1);
    /// assert!(!p.noise_due()); // no `noise` declared
    /// # drop(p);
    /// ```
    pub fn noise_due(&self) -> bool {
        !self.served && self.ticket.exp.noise_rate() > 0.0 && self.ticket.exp.noise_due()
    }

    /// Attaches a second run of the (pure) primary, made off the caller's path after the
    /// candidate; where the two runs of the primary differ is learned as noise.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::with_noise", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst).with_noise(1.0);
    /// let p = EXP.decide().unwrap().with_candidate(|| 1).with_noise(|| 1);
    /// let out = p.run_detached(|| 1, |v: &i32| *v, shadow_runtime::DefaultComparator, shadow_runtime::exec::NoProbes);
    /// # assert!(shadow_runtime::wait_idle(std::time::Duration::from_secs(10)));
    /// assert_eq!(shadow_runtime::snapshot::experiment("docs::with_noise").unwrap().noise_runs, 1);
    /// ```
    pub fn with_noise(mut self, second_run: impl FnOnce() -> T + Send + 'static) -> Self {
        let f: NoiseFn<T> = Box::new(second_run);
        self.noise = Some(Box::new(f));
        self
    }

    /// The async twin of [`with_noise`](Self::with_noise).
    pub fn with_noise_async(
        mut self,
        second_run: impl Future<Output = T> + Send + 'static,
    ) -> Self {
        let f: NoiseFuture<T> = Box::pin(second_run);
        self.noise = Some(Box::new(f));
        self
    }
}

/// What a second run of the primary says about its noise: the paths where the two runs differ
/// are learned. A second run that fails, or differs without paths, is reported (helper `noise`).
fn learn_noise<T, C, P>(
    exp: &'static Experiment,
    primary: &T,
    second: Ran<T>,
    compare: &C,
    probes: &P,
) where
    C: Comparator<T> + ?Sized,
    P: Probe<T>,
{
    exp.state().noise_runs.fetch_add(1, Relaxed);
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
            return crate::observe::internal_error(exp, "noise", "the primary's second run timed out")
        }
        Ran::Refused(_, first) => {
            return crate::observe::internal_error(
                exp,
                "noise",
                &format!("the primary's second run attempted a production write (`{first}`): it is not pure; refused"),
            )
        }
    };
    match catch_unwind(AssertUnwindSafe(|| {
        quietly(|| compare.compare(primary, &again))
    })) {
        Ok(Verdict::Mismatch { diff }) => {
            let detail = diff.unwrap_or_else(|| {
                match (render(exp, probes, primary), render(exp, probes, &again)) {
                    (Some(a), Some(b)) => debug_diff(&a, &b),
                    _ => String::new(),
                }
            });
            let paths = crate::publish::diff_paths(&detail);
            if paths.is_empty() {
                crate::observe::internal_error(
                    exp,
                    "noise",
                    "the primary differs from itself, but the comparator's diff names no paths (use a structural or typed comparator) to learn from",
                );
            } else {
                exp.learn_noise(&paths);
            }
        }
        Ok(_) => {}
        Err(p) => crate::observe::internal_error(exp, "comparator", &panic_message(&*p)),
    }
}

/// Runs a sync candidate that started at `start`; returns how it ended, its wall time and the
/// instant it ended. A sync candidate cannot be interrupted: past the timeout its result is
/// discarded.
fn run_sync<T>(
    exp: &'static Experiment,
    start: Instant,
    key: Option<Arc<str>>,
    f: impl FnOnce() -> T,
) -> (Ran<T>, Took, Instant) {
    let ctx = shadow_context(exp, key);
    let cpu = cpu_now(exp);
    let r = catch_unwind(AssertUnwindSafe(|| ctx.enter(|| quietly(f))));
    let cpu = cpu_since(cpu);
    let end = Instant::now();
    let wall = end - start;
    let ran = match r {
        _ if exp.timeout().is_some_and(|t| wall > t) => Ran::TimedOut,
        _ if ctx.refused().is_some() => {
            let (n, first) = ctx.refused().unwrap_or((0, "?"));
            Ran::Refused(n, first)
        }
        Ok(v) => Ran::Value(v),
        Err(p) => Ran::Panicked(p),
    };
    (ran, Took { wall, cpu }, end)
}

/// The context a shadow run of `exp` runs in.
fn shadow_context(exp: &'static Experiment, key: Option<Arc<str>>) -> ShadowContext {
    ShadowContext::new(exp.name(), Role::Shadow, exp.writes(), key)
}

/// The context the served side runs in: only needed to carry an idempotency key, and never
/// replacing a shadow context around it (a served side nested in a shadow run stays a shadow).
pub(crate) fn served_context(
    exp: &'static Experiment,
    key: Option<Arc<str>>,
) -> Option<ShadowContext> {
    if key.is_none() || crate::context::in_shadow() {
        return None;
    }
    Some(ShadowContext::new(
        exp.name(),
        Role::Served,
        exp.writes(),
        key,
    ))
}

/// The async twin of [`run_sync`]: the candidate is cancelled (dropped) at the timeout.
async fn run_async<F: Future>(
    exp: &'static Experiment,
    start: Instant,
    key: Option<Arc<str>>,
    f: F,
) -> (Ran<F::Output>, Took, Instant) {
    let ctx = shadow_context(exp, key);
    let deadline = exp.timeout().map(|t| Deadline::new(start + t));
    let ran = Race {
        inner: CatchUnwind {
            inner: crate::context::scoped(Some(ctx.clone()), f),
        },
        deadline,
    }
    .await;
    let ran = match (ran, ctx.refused()) {
        (Ran::TimedOut, _) => Ran::TimedOut,
        (_, Some((n, first))) => Ran::Refused(n, first),
        (ran, None) => ran,
    };
    let end = Instant::now();
    let took = Took {
        wall: end - start,
        cpu: None,
    };
    (ran, took, end)
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
) -> Option<String>
where
    V: std::borrow::Borrow<T>,
    C: Comparator<T> + ?Sized,
    P: Probe<T>,
{
    crate::observe::durations(ticket.exp, primary_duration, candidate_duration);
    let ran = match ran {
        Ran::Value(v) => Ran::Value(v),
        Ran::Panicked(p) => Ran::Panicked(p),
        Ran::TimedOut => Ran::TimedOut,
        Ran::Refused(n, first) => {
            let detail = format!(
                "the shadow run attempted {n} production write(s), first `{first}`: refused, not compared"
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
            notify(
                &ticket,
                Outcome::WriteRefused,
                Some(&d.detail),
                primary_duration,
                candidate_duration,
            );
            let failure = Some(strict_message(&d));
            ticket.resolve(Outcome::WriteRefused, Some(d), None);
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
        Ran::Value(c) if is_err(probes, primary) != is_err(probes, c.borrow()) => {
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
                    && ticket
                        .exp
                        .only_noise(&crate::publish::diff_paths(diff.as_deref().unwrap_or(""))) =>
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
    let failure =
        matches!(outcome, Outcome::Mismatch | Outcome::CandidatePanic).then(|| strict_message(&d));
    ticket.resolve(outcome, Some(d), failed);
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
    Discrepancy {
        context: std::mem::take(&mut ticket.context),
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
        key: ticket.sample_key.take(),
        inputs: ticket.inputs.take().map(|b| *b),
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
) -> Option<String> {
    notify(&ticket, outcome, detail, primary, candidate);
    ticket.resolve(outcome, None, Some(candidate_failed));
    None
}

/// Calls the call's `on_outcome` hook, if any; a panic in it is reported, never propagated.
fn notify(ticket: &Ticket, outcome: Outcome, detail: Option<&str>, primary: Took, candidate: Took) {
    let Some(hook) = ticket.hook else { return };
    let record = crate::outcome::OutcomeRecord {
        experiment: ticket.exp.name(),
        outcome,
        detail: detail.map(str::to_owned),
        primary_duration: primary.wall,
        candidate_duration: candidate.wall,
        primary_cpu: primary.cpu,
        candidate_cpu: candidate.cpu,
        context: ticket.context.clone(),
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

/// Strict mode: fails the call, after its outcome has been recorded and published.
fn fail_if_strict(exp: &'static Experiment, failure: Option<String>) {
    if let Some(msg) = failure {
        if exp.is_strict() {
            panic!("{msg}");
        }
    }
}

// `RunSlot` is held by the closures above for as long as the candidate runs.
const _: fn(RunSlot) = drop;
