//! Finishing a call the generated code started: the candidate after the primary, inline (sync
//! and async) or detached on the shadow lane.

use super::*;

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
    /// p.finish_inline(&1, &shadow_runtime::DefaultComparator, shadow_runtime::manual::NoProbes); // does not panic
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
    /// p.finish_detached(7, shadow_runtime::DefaultComparator, shadow_runtime::manual::NoProbes);
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
                crate::run::pool::worker_stuck()
            });
            let (ran, took, _) = run_sync(exp, start, key, f);
            // The candidate has ended: its slot is free before the outcome is visible.
            drop(slot);
            let Some(t) = job.finish(exp, crate::run::pool::worker_unstuck) else {
                return;
            };
            let verdict = noise_sync(exp, &primary, &ran, &compare, &probes, noise);
            let compare = Replay::new(&compare, verdict);
            // Not strict (checked before queueing): nothing to fail.
            let _ = judge(t, &primary, ran, primary_time, took, &compare, &probes);
        };
        if let Err(job) = crate::run::pool::try_submit(Box::new(job)) {
            job(false);
        }
    }
}

/// The shortest wait on the lane that makes a candidate stale.
pub(super) const STALE_AFTER: Duration = Duration::from_secs(1);

/// Whether a detached candidate that waited `waited` on the lane before starting is stale: it
/// waited longer than its timeout and [`STALE_AFTER`]. The lane is behind; it is shed rather than
/// run, since a comparison made that late may no longer be fair (the data it reads changed).
pub(super) fn stale(timeout: Option<Duration>, waited: Duration) -> bool {
    timeout.is_some_and(|t| waited > t.max(STALE_AFTER))
}

/// A detached candidate's ticket, shared by its run and its deadline: whichever comes first
/// resolves the call ([`crate::sync::claim`], model-checked by `tests/loom`).
pub(super) type SharedJob = Arc<crate::sync::claim::Claim<Ticket>>;

/// Puts a started detached candidate's ticket under watch: at `start + timeout` the timer thread
/// resolves the call as [`Outcome::Timeout`] if the candidate has not ended, marks it abandoned
/// (it keeps its slot until it really ends) and calls `on_abandon`.
pub(super) fn watch(
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
        crate::run::timer::Deadline::armed(start.instant() + t, move || {
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
pub(super) struct WatchedJob {
    job: SharedJob,
    deadline: Option<crate::run::timer::Deadline>,
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
pub(super) fn timed_out(ticket: Ticket, primary_time: Took, timeout: Duration) {
    let took = Took::new(timeout, None);
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
    /// let probes = shadow_runtime::manual::Probes { debug: |v: &i32| Some(v.to_string()), is_err: |_: &i32| false };
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
pub(super) fn inline_deadline(
    exp: &'static Experiment,
    start: Stamp,
) -> Option<crate::run::timer::Deadline> {
    exp.timeout()
        .map(|t| crate::run::timer::Deadline::new(start.instant() + t))
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
    ///     p.finish_detached_async(1, shadow_runtime::DefaultComparator, shadow_runtime::manual::NoProbes).await;
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
        if on_caller.is_none() && !crate::run::lane::available() {
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
                let _ = crate::run::lane::spawn(self.admission.take(), task);
            }
        }
    }
}
