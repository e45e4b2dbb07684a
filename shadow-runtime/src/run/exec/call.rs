//! Running a whole call, both sides: inline or detached, sync or async, with the primary serving
//! or (a ramp) the candidate.

use super::*;

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
    /// let out = p.run_inline(|| 4, &shadow_runtime::DefaultComparator, shadow_runtime::manual::NoProbes);
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
        crate::run::context::within(ctx.as_mut(), primary)
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
            return crate::run::context::within(ctx.as_mut(), f);
        }
        let served = {
            let _active = self.enter_primary();
            crate::run::context::within(ctx.as_mut(), f)
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
    /// let out = p.run_detached(|| 7, |v: &i32| *v, shadow_runtime::DefaultComparator, shadow_runtime::manual::NoProbes);
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
        if let Err(job) = crate::run::pool::try_submit(Box::new(job)) {
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
    /// assert_eq!(p.run_inline_async(async { 5 }, &shadow_runtime::DefaultComparator, shadow_runtime::manual::NoProbes).await, 5);
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
            inner: crate::run::context::scoped(served_context(exp, self.ticket.key()), primary),
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
            return crate::run::context::scoped(ctx, f).await;
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
    ///     let out = p.run_detached_async(async { 1 }, |v: &i32| *v, shadow_runtime::DefaultComparator, shadow_runtime::manual::NoProbes).await;
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
        if !crate::run::lane::available() {
            return shed_late(ticket);
        }
        let task = async move {
            let start = Stamp::now();
            let (ran, took, _) = run_async(exp, start, key, f, inline_deadline(exp, start)).await;
            drop(slot);
            judge_panicked(ticket, &panic, ran, primary_time, took, &probes);
        };
        let _ = crate::run::lane::spawn(self.admission.take(), task);
    }
}

/// Judges a served call: the legacy code's shadow run against the candidate's served result,
/// compared (and recorded) with the legacy code as the primary, as on every other call.
pub(super) fn judge_served<T, C, P>(
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
