//! Recording a decided call: its counters, metrics and events, the retained discrepancies, the
//! circuit breaker, and the upkeep the timer thread does every tick.

use super::*;

impl Experiment {
    /// A user helper of this experiment failed: counted, warned about (rate-limited) and given
    /// to the application's hook ([`crate::record::observe::internal_error`]).
    pub(crate) fn internal_error(&'static self, helper: &'static str, message: &str) {
        crate::record::observe::internal_error(&self.state().obs, helper, message);
    }

    /// An acceptable difference was judged (a `debug` event).
    pub(crate) fn acceptable(&'static self, reason: &str) {
        crate::record::observe::acceptable(&self.state().obs, reason);
    }

    /// Publishes this experiment's counters and gauges ([`crate::record::observe::publish`]).
    pub(crate) fn publish_metrics(&'static self, on_timer: bool) {
        use crate::record::observe::{Totals, SHED_REASONS};
        let st = self.state();
        let mut outcomes = [0u64; Outcome::ALL.len()];
        for o in Outcome::ALL {
            outcomes[o.index()] = self.outcome_total(o);
        }
        for (which, outcome) in Skip::ALL {
            outcomes[outcome.index()] += self.skipped(which);
        }
        let shed: [u64; SHED_REASONS.len()] = [
            self.skipped(Skip::ShedCap),
            self.skipped(Skip::ShedQueue),
            self.skipped(Skip::ShedBudget),
            st.shed_late.load(Relaxed),
        ];
        let (breaker, _, _) = breaker_view(self);
        let (ramp, ramp_requested, gate) = {
            let c = lock(&st.cutover);
            (c.effective(), c.requested(), c.status())
        };
        let totals = Totals {
            outcomes,
            shed,
            in_flight: self.in_flight(),
            abandoned: st.abandoned.load(Relaxed),
            breaker_open: breaker != BreakerState::Closed,
            served: st.served.load(Relaxed),
            ramp,
            ramp_requested,
            gate,
            overdue: crate::decide::cutover::overdue(
                self.setting().deadline,
                crate::decide::cutover::today(),
            ),
        };
        crate::record::observe::publish(&st.obs, &totals, on_timer);
    }

    /// Whether the noise this experiment learned explains every path of a candidate's diff
    /// (`false` for a diff without paths).
    pub(crate) fn noise_explains(&'static self, diff: &str) -> bool {
        self.state()
            .noise
            .explains(&crate::judge::noise::entries(diff))
    }

    /// Records the outcome of a shadowed call (exactly once per [`Ticket`]). `candidate_failed`
    /// feeds the circuit breaker: `Some(true)` for a panic, a timeout or an `Err` where the
    /// primary returned `Ok`; `Some(false)` for a judged run; `None` for outcomes that say
    /// nothing about the candidate.
    pub(crate) fn record(
        &'static self,
        outcome: Outcome,
        discrepancy: Option<Discrepancy>,
        candidate_failed: Option<bool>,
        timed: Option<(&crate::run::clock::Took, &crate::run::clock::Took)>,
    ) {
        use sampling::slot;
        let st = self.state();
        // The durations first: a reader that sees the call decided (`wait_idle`, a snapshot)
        // finds them in the histograms too.
        if let Some((p, c)) = timed {
            crate::record::observe::durations(&st.obs, p, c);
        }
        // The counters, with one lookup of this thread's block. Decided (CLOSED) goes last: a
        // reader that sees the call decided sees its outcome too. The breaker is fed at the
        // timer's next tick, from the counts (no lock here).
        let (p_us, c_us, n) = timed.map_or((0, 0, 0), |(p, c)| (p.wall_us(), c.wall_us(), 1));
        let failed = u64::from(candidate_failed == Some(true));
        // Nothing to retain or publish (the common call): decided in the same batch, last.
        let closed = u64::from(discrepancy.is_none() && !st.gate_tracking.load(Relaxed));
        self.count_all(&[
            (slot::OUTCOMES + outcome.index(), 1),
            (slot::PRIMARY_US, p_us),
            (slot::CANDIDATE_US, c_us),
            (slot::TIMED, n),
            (slot::FAILED, failed),
            (slot::CLOSED, closed),
        ]);
        if discrepancy.is_some() {
            crate::record::observe::outcome(&st.obs, outcome, discrepancy.as_ref());
        }
        if let Some(d) = discrepancy {
            crate::record::publish::publish(&st.obs, &d);
            let mut kept = lock(&st.retained);
            if kept.len() < crate::record::outcome::RETAINED {
                kept.push(d);
            }
        }
        if st.gate_tracking.load(Relaxed) && crate::decide::cutover::gate_sample(outcome).is_some()
        {
            let change = lock(&st.cutover).on_outcome(outcome, crate::run::timer::coarse_now());
            if let Some(c) = change {
                self.gate_changed(st, c);
                self.gate.publish(|| self.effective_gate(st));
            }
        }
        if closed == 0 {
            self.count(slot::CLOSED, 1);
        }
        crate::record::idle::done_one();
    }

    pub(super) fn transition(&'static self, t: Transition) {
        let st = self.state();
        match t {
            Transition::Open => {
                self.probes.grant(0);
                tracing::warn!(
                    target: "parallel_run",
                    experiment = self.name,
                    "circuit breaker of {} opened: its candidate failed too often; shadowing stops for the cool-down",
                    self.name
                );
            }
            Transition::HalfOpen(n) => {
                self.probes.grant(n);
                tracing::info!(target: "parallel_run", experiment = self.name, probes = n, "circuit breaker half-open");
            }
            Transition::Close => {
                self.probes.grant(0);
                tracing::info!(target: "parallel_run", experiment = self.name, "circuit breaker closed");
            }
        }
        self.apply(st);
    }

    /// Periodic work on the timer thread: half-open breakers whose cool-down has passed, the
    /// deadline warning, hung candidates, the fleet-wide gate's readings.
    pub(super) fn tick(&'static self, now: Instant) {
        let st = self.state();
        self.feed_breaker();
        let t = lock(&st.breaker).on_tick(now);
        if let Some(t) = t {
            self.transition(t);
        }
        self.check_deadline(now);
        self.watch_hung(now);
        self.fleet_tick(now);
    }

    /// Feeds the circuit breaker the candidate runs judged since its last feed (from the timer
    /// thread: a judged call counts its outcome per thread and takes no lock).
    pub(crate) fn feed_breaker(&'static self) {
        let st = self.state();
        let judged: u64 = crate::decide::breaker::JUDGED
            .iter()
            .map(|o| self.outcome_total(*o))
            .sum();
        let failed = self.total(sampling::slot::FAILED);
        let (dj, df) = {
            let mut fed = lock(&st.breaker_fed);
            let d = (judged.saturating_sub(fed.0), failed.saturating_sub(fed.1));
            *fed = (judged.max(fed.0), failed.max(fed.1));
            d
        };
        if dj == 0 && df == 0 {
            return;
        }
        let t = lock(&st.breaker).on_results(dj, df, crate::run::timer::coarse_now());
        if let Some(t) = t {
            self.transition(t);
        }
    }

    /// Every slot held, and no shadowed call decided for a whole circuit-breaker window (10 s by
    /// default): the candidates hang (an experiment with `timeout = "none"`, or candidates that
    /// never return even after their timeout). Warned once; the circuit breaker opens; calls shed
    /// meanwhile count as failures.
    pub(super) fn watch_hung(&'static self, now: Instant) {
        let st = self.state();
        let cap = st.max_in_flight.load(Relaxed).max(1);
        let decided = self.total(sampling::slot::CLOSED);
        let mut w = lock(&st.hung_watch);
        if st.running.held() < cap || decided != w.0 {
            *w = (decided, None);
            st.hung.store(false, Relaxed);
            return;
        }
        let since = *w.1.get_or_insert(now);
        drop(w);
        let window = lock(&st.breaker).cfg.window;
        if now.saturating_duration_since(since) < window || st.hung.swap(true, Relaxed) {
            return;
        }
        if !st.warned_stuck.swap(true, Relaxed) {
            tracing::warn!(
                target: "parallel_run",
                experiment = self.name,
                "every concurrency slot of {} ({cap}) has been held for {:?} with no candidate finishing: \
                 the candidates hang; calls are shed and the circuit breaker opens (warned once)",
                self.name,
                window
            );
        }
        let t = lock(&st.breaker).force_open(crate::run::timer::coarse_now());
        if let Some(t) = t {
            self.transition(t);
        }
    }
}
