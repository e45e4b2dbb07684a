//! Running the candidate and judging it: inline (sync and async), detached on the caller's tokio
//! runtime, detached on the worker pool. Every path catches the candidate's and the comparator's
//! panics and resolves the call's [`Ticket`] exactly once.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use crate::compare::{debug_diff, panic_message, Comparator, Verdict};
use crate::experiment::{Phase, ShadowCall, Ticket};
use crate::isolation::{quietly, take_location};
use crate::outcome::{Discrepancy, Outcome};

/// At most this many shadowed calls of one experiment may be in flight before a detached
/// candidate is shed instead of started; bounds tasks and memory when a candidate hangs.
pub(crate) const MAX_IN_FLIGHT: u64 = 1024;

type PanicPayload = Box<dyn std::any::Any + Send + 'static>;

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
    /// The candidate's result when it ran before the primary (`order = random`).
    early: Option<(Result<T, PanicPayload>, Duration)>,
    primary_start: Instant,
}

impl ShadowCall {
    /// Attaches a sync candidate. With `order = random` in inline mode, a coin toss may run it
    /// right now, before the primary. Starts the primary's clock.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::attach", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// let pending = EXP.decide().unwrap().with_candidate(|| 2 + 2);
    /// pending.finish_inline(&4, &shadow_runtime::DefaultComparator, |_: &i32| None);
    /// ```
    pub fn with_candidate<F, T>(self, candidate: F) -> Pending<F, T>
    where
        F: FnOnce() -> T,
    {
        let mut p = Pending::new(self.ticket, candidate);
        if self.candidate_first {
            let f = p.candidate.take().expect("attached above");
            let (result, took, end) = run_sync(p.primary_start, f);
            p.early = Some((result, took));
            p.primary_start = end;
        }
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
    /// pending.finish_inline_async(&4, &shadow_runtime::DefaultComparator, |_: &i32| None).await;
    /// # });
    /// ```
    pub async fn with_candidate_async<F, T>(self, candidate: F) -> Pending<F, T>
    where
        F: Future<Output = T>,
    {
        let first = self.candidate_first;
        let mut p = Pending::new(self.ticket, candidate);
        if first {
            let f = p.candidate.take().expect("attached above");
            let (result, took, end) = run_async(p.primary_start, f).await;
            p.early = Some((result, took));
            p.primary_start = end;
        }
        p
    }
}

impl<F, T> Pending<F, T> {
    fn new(ticket: Ticket, candidate: F) -> Self {
        Pending {
            ticket,
            candidate: Some(candidate),
            early: None,
            primary_start: Instant::now(),
        }
    }

    /// The primary's wall time, and the instant it ended (reused as the candidate's start by
    /// inline mode: every clock read costs ~25 ns on a VM).
    fn primary_done(&mut self) -> (Duration, Instant) {
        self.ticket.phase = Phase::Candidate;
        let end = Instant::now();
        (end - self.primary_start, end)
    }

    fn take_ticket(&mut self) -> Ticket {
        // Moves the ticket out, leaving a resolved placeholder that records nothing on drop.
        let placeholder = Ticket {
            exp: self.ticket.exp,
            phase: Phase::Candidate,
            done: true,
        };
        std::mem::replace(&mut self.ticket, placeholder)
    }

    fn shed_if_full(&mut self) -> bool {
        let st = self.ticket.exp.state();
        if st.in_flight.load(Relaxed) > MAX_IN_FLIGHT {
            self.take_ticket().resolve(Outcome::Shed, None);
            return true;
        }
        false
    }
}

impl<F, T> Pending<F, T>
where
    F: FnOnce() -> T,
{
    /// Runs the candidate now (unless it already ran first), then compares and records.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::inline", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// let p = EXP.decide().unwrap().with_candidate(|| -> i32 { panic!("candidate bug") });
    /// p.finish_inline(&1, &shadow_runtime::DefaultComparator, |_: &i32| None); // does not panic
    /// let snap = shadow_runtime::snapshot::experiment("docs::inline").unwrap();
    /// assert_eq!(snap.counts.get(shadow_runtime::Outcome::CandidatePanic), 1);
    /// ```
    pub fn finish_inline<C, D>(mut self, primary: &T, compare: &C, debug: D)
    where
        C: Comparator<T> + ?Sized,
        D: Fn(&T) -> Option<String>,
    {
        let (primary_time, end) = self.primary_done();
        let (result, candidate_time) = match (self.early.take(), self.candidate.take()) {
            (Some(early), _) => early,
            (None, Some(f)) => {
                let (result, took, _) = run_sync(end, f);
                (result, took)
            }
            (None, None) => unreachable!("a candidate is attached or has run"),
        };
        judge(
            self.take_ticket(),
            primary,
            result,
            primary_time,
            candidate_time,
            compare,
            &debug,
        );
    }
}

impl<F, T> Pending<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    /// Queues the candidate on the worker pool with a copy of the primary's result and returns at
    /// once; the comparison happens on the pool. A full queue or too many calls in flight sheds
    /// the candidate ([`Outcome::Shed`]).
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::detached", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst);
    /// let p = EXP.decide().unwrap().with_candidate(|| 7);
    /// p.finish_detached(7, shadow_runtime::DefaultComparator, |_: &i32| None);
    /// assert!(shadow_runtime::wait_idle(std::time::Duration::from_secs(10)));
    /// let snap = shadow_runtime::snapshot::experiment("docs::detached").unwrap();
    /// assert_eq!(snap.counts.get(shadow_runtime::Outcome::Match), 1);
    /// ```
    pub fn finish_detached<C, D>(mut self, primary: T, compare: C, debug: D)
    where
        C: Comparator<T> + Send + 'static,
        D: Fn(&T) -> Option<String> + Send + 'static,
    {
        let (primary_time, _) = self.primary_done();
        if self.shed_if_full() {
            return;
        }
        let ticket = self.take_ticket();
        let f = self
            .candidate
            .take()
            .expect("detached candidates never run first");
        let job = move |run: bool| {
            if !run {
                ticket.resolve(Outcome::Shed, None);
                return;
            }
            let (result, candidate_time, _) = run_sync(Instant::now(), f);
            judge(
                ticket,
                &primary,
                result,
                primary_time,
                candidate_time,
                &compare,
                &debug,
            );
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
    /// Awaits the candidate now (unless it already ran first), then compares and records.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::inline_async", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let p = EXP.decide().unwrap().with_candidate_async(async { 5 }).await;
    /// p.finish_inline_async(&6, &shadow_runtime::DefaultComparator, |v: &i32| Some(v.to_string())).await;
    /// # });
    /// let snap = shadow_runtime::snapshot::experiment("docs::inline_async").unwrap();
    /// assert_eq!(snap.counts.get(shadow_runtime::Outcome::Mismatch), 1);
    /// assert!(snap.discrepancies[0].detail.contains("candidate: 5"));
    /// ```
    pub async fn finish_inline_async<C, D>(mut self, primary: &T, compare: &C, debug: D)
    where
        C: Comparator<T> + ?Sized,
        D: Fn(&T) -> Option<String>,
    {
        let (primary_time, end) = self.primary_done();
        let (result, candidate_time) = match (self.early.take(), self.candidate.take()) {
            (Some(early), _) => early,
            (None, Some(f)) => {
                let (result, took, _) = run_async(end, f).await;
                (result, took)
            }
            (None, None) => unreachable!("a candidate is attached or has run"),
        };
        judge(
            self.take_ticket(),
            primary,
            result,
            primary_time,
            candidate_time,
            compare,
            &debug,
        );
    }
}

impl<F, T> Pending<F, T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    /// Spawns the candidate on the current tokio runtime with a copy of the primary's result; the
    /// returned future completes at its first poll, so the caller does not wait for the candidate.
    /// Outside a tokio runtime it warns once per experiment and runs the candidate inline instead.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::spawned", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst);
    /// # let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
    /// rt.block_on(async {
    ///     let p = EXP.decide().unwrap().with_candidate_async(async { 1 }).await;
    ///     p.finish_detached_async(1, shadow_runtime::DefaultComparator, |_: &i32| None).await;
    ///     shadow_runtime::snapshot::idle().await;
    /// });
    /// let snap = shadow_runtime::snapshot::experiment("docs::spawned").unwrap();
    /// assert_eq!(snap.counts.get(shadow_runtime::Outcome::Match), 1);
    /// ```
    pub async fn finish_detached_async<C, D>(mut self, primary: T, compare: C, debug: D)
    where
        C: Comparator<T> + Send + 'static,
        D: Fn(&T) -> Option<String> + Send + 'static,
    {
        let (primary_time, _) = self.primary_done();
        let f = self
            .candidate
            .take()
            .expect("detached candidates never run first");
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                if self.shed_if_full() {
                    return;
                }
                let ticket = self.take_ticket();
                handle.spawn(async move {
                    let (result, candidate_time, _) = run_async(Instant::now(), f).await;
                    judge(
                        ticket,
                        &primary,
                        result,
                        primary_time,
                        candidate_time,
                        &compare,
                        &debug,
                    );
                });
            }
            Err(_) => {
                let st = self.ticket.exp.state();
                if !st.warned_no_runtime.swap(true, Relaxed) {
                    tracing::warn!(
                        target: "parallel_run",
                        experiment = self.ticket.exp.name(),
                        "detached mode needs a tokio runtime at the call site and there is none; \
                         running this experiment's candidate inline (warned once)"
                    );
                }
                let (result, candidate_time, _) = run_async(Instant::now(), f).await;
                judge(
                    self.take_ticket(),
                    &primary,
                    result,
                    primary_time,
                    candidate_time,
                    &compare,
                    &debug,
                );
            }
        }
    }
}

/// Runs a sync candidate that started at `start`; returns its result, its wall time and the
/// instant it ended.
fn run_sync<T>(
    start: Instant,
    f: impl FnOnce() -> T,
) -> (Result<T, PanicPayload>, Duration, Instant) {
    let r = catch_unwind(AssertUnwindSafe(|| quietly(f)));
    let end = Instant::now();
    (r, end - start, end)
}

/// The async twin of [`run_sync`].
async fn run_async<F: Future>(
    start: Instant,
    f: F,
) -> (Result<F::Output, PanicPayload>, Duration, Instant) {
    let r = CatchUnwind { inner: f }.await;
    let end = Instant::now();
    (r, end - start, end)
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

/// The panic's message and, when the hook saw it, where it was raised.
fn panic_detail(p: &(dyn std::any::Any + Send)) -> String {
    let msg = panic_message(p);
    match take_location() {
        Some(at) => format!("{msg} (at {at})"),
        None => msg,
    }
}

/// Renders a value with the generated `Debug` probe, treating a panicking `Debug` impl as absent.
fn render<T, D: Fn(&T) -> Option<String>>(debug: &D, v: &T) -> Option<String> {
    catch_unwind(AssertUnwindSafe(|| quietly(|| debug(v))))
        .ok()
        .flatten()
}

/// Compares, classifies and records one shadowed call.
fn judge<T, C, D>(
    ticket: Ticket,
    primary: &T,
    candidate: Result<T, PanicPayload>,
    primary_duration: Duration,
    candidate_duration: Duration,
    compare: &C,
    debug: &D,
) where
    C: Comparator<T> + ?Sized,
    D: Fn(&T) -> Option<String>,
{
    crate::observe::durations(ticket.exp, primary_duration, Some(candidate_duration));
    let (outcome, detail, candidate_value) = match candidate {
        Err(p) => (Outcome::CandidatePanic, panic_detail(&*p), None),
        Ok(c) => match catch_unwind(AssertUnwindSafe(|| {
            quietly(|| compare.compare(primary, &c))
        })) {
            Ok(Verdict::Match) => {
                ticket.resolve(Outcome::Match, None);
                return;
            }
            Ok(Verdict::Acceptable { reason }) => {
                crate::observe::acceptable(ticket.exp, &reason);
                ticket.resolve(Outcome::Acceptable, None);
                return;
            }
            Ok(Verdict::Mismatch { diff }) => {
                (Outcome::Mismatch, diff.unwrap_or_default(), Some(c))
            }
            Err(p) => (Outcome::ComparatorPanic, panic_detail(&*p), Some(c)),
        },
    };
    let primary_text = render(debug, primary);
    let candidate_text = candidate_value.as_ref().and_then(|c| render(debug, c));
    let detail = if outcome == Outcome::Mismatch && detail.is_empty() {
        match (&primary_text, &candidate_text) {
            (Some(p), Some(c)) => debug_diff(p, c),
            _ => "values differ (the result type does not implement Debug; return a diff from the comparator)".to_owned(),
        }
    } else {
        detail
    };
    let d = Discrepancy {
        experiment: ticket.exp.name(),
        outcome,
        detail,
        primary: primary_text,
        candidate: candidate_text,
        primary_duration,
        candidate_duration,
        at: SystemTime::now(),
    };
    ticket.resolve(outcome, Some(d));
}
