//! The settings in force: publishing them to the mirrors the call path reads, live changes, the
//! cutover's gate and the deadline.

use super::*;

impl Experiment {
    /// Publishes the settings in force: the mirrors read off the caller's path, and the gate.
    pub(crate) fn apply(&self, st: &State) {
        self.apply_fresh(st, false)
    }

    /// [`apply`](Self::apply); `fresh`: the ramp was set explicitly (clears a gate fall-back).
    pub(crate) fn apply_fresh(&self, st: &State, fresh: bool) {
        let s = *lock(&st.setting);
        if s.ramp > 0.0 && self.no_ramp && !st.warned_no_ramp.swap(true, Relaxed) {
            tracing::warn!(
                target: "parallel_run",
                experiment = self.name,
                "{} is one of several candidates of a function: it is compared but never serves, so its ramp ({}) is ignored",
                self.name,
                s.ramp
            );
        }
        st.gate_tracking
            .store(s.ramp > 0.0 || s.criteria.is_some(), Relaxed);
        let change = {
            let now = crate::run::timer::coarse_now();
            let mut cut = lock(&st.cutover);
            cut.use_fleet(Self::fleet_gate(&s).is_some(), now);
            cut.configure(s.ramp, s.criteria, fresh, now)
        };
        if let Some(c) = change {
            self.gate_changed(st, c);
        }
        lock(&st.breaker).cfg = s.breaker;
        st.breaker_on.store(s.breaker.enabled, Relaxed);
        st.timeout_us.store(
            s.timeout.map_or(0, |d| d.as_micros().max(1) as u64),
            Relaxed,
        );
        st.max_in_flight.store(s.max_in_flight, Relaxed);
        st.cpu_time.store(s.cpu_time, Relaxed);
        st.strict_live.store(
            match s.strict {
                None => 0,
                Some(true) => 1,
                Some(false) => 2,
            },
            Relaxed,
        );
        self.gate.publish(|| self.effective_gate(st));
    }

    /// Changes the settings in force (live API, environment reload). `fresh`: the ramp was set
    /// explicitly.
    pub(crate) fn update(&'static self, fresh: bool, f: impl FnOnce(&mut Setting)) {
        let st = self.state();
        f(&mut lock(&st.setting));
        self.apply_fresh(st, fresh);
    }

    /// Replaces the settings in force with `f(current)` under the setting's lock (a reload of the
    /// configuration file); a ramp that changed is a fresh one.
    pub(crate) fn replace_setting(&'static self, f: impl FnOnce(Setting) -> Setting) {
        let st = self.state();
        let fresh = {
            let mut cur = lock(&st.setting);
            let new = f(*cur);
            let fresh = new.ramp != cur.ramp;
            *cur = new;
            fresh
        };
        self.apply_fresh(st, fresh);
    }

    /// The gate window of the fleet-wide gate, when the settings use it (`gate_source =
    /// "prometheus"` and criteria declared).
    fn fleet_gate(s: &Setting) -> Option<Duration> {
        s.criteria
            .filter(|_| s.gate_source == config::prometheus::GateSource::Prometheus)
            .map(|c| c.window)
    }

    /// Feeds the fleet-wide gate its source's news (the timer thread, every tick; never waits on
    /// the network): logs an outage once as it begins and ends, re-publishes a changed gate.
    pub(super) fn fleet_tick(&'static self, now: Instant) {
        let st = self.state();
        let Some(window) = Self::fleet_gate(&lock(&st.setting)) else {
            return;
        };
        let update = crate::decide::fleet::want(self.name, window);
        let (outage, change, moved) = {
            let mut cut = lock(&st.cutover);
            let before = (cut.effective(), cut.status());
            let (o, c) = cut.on_fleet(update, now);
            (o, c, before != (cut.effective(), cut.status()))
        };
        if let Some(o) = outage {
            self.outage_changed(st, o, now);
        }
        if let Some(c) = change {
            self.gate_changed(st, c);
        }
        if moved {
            self.gate.publish(|| self.effective_gate(st));
        }
    }

    fn outage_changed(&self, st: &State, o: crate::decide::cutover::Outage, now: Instant) {
        let cut = lock(&st.cutover);
        let Some(f) = cut.fleet() else {
            return;
        };
        let age = |at: Instant| format!("{:.1}s", now.saturating_duration_since(at).as_secs_f64());
        let last = f.last.map_or("none yet".to_owned(), |r| {
            format!("{} of {} agreeing, {} old", r.good, r.compared, age(r.at))
        });
        let why = f.error.as_ref().map_or_else(
            || format!("no answer for longer than max_age ({:?})", f.max_age),
            |(e, _)| e.clone(),
        );
        drop(cut);
        match o {
            crate::decide::cutover::Outage::Began => tracing::warn!(
                target: "parallel_run",
                experiment = self.name,
                "the fleet-wide promotion gate of {} has no fresh reading from Prometheus ({why}; last reading: {last}): \
                 any ramp is refused and the legacy code serves every call until Prometheus answers (warned once per outage)",
                self.name
            ),
            crate::decide::cutover::Outage::Ended => tracing::info!(
                target: "parallel_run",
                experiment = self.name,
                "the fleet-wide promotion gate of {} reads Prometheus again ({last})",
                self.name
            ),
        }
    }

    /// Forgets the promotion gate's measurements (a new candidate version was deployed).
    pub(crate) fn reset_gate_window(&'static self) {
        let st = self.state();
        let change = lock(&st.cutover).reset_window(crate::run::timer::coarse_now());
        if let Some(c) = change {
            self.gate_changed(st, c);
        }
        self.gate.publish(|| self.effective_gate(st));
    }

    /// Logs a change of the promotion gate. The caller re-publishes the gate word.
    pub(super) fn gate_changed(&self, st: &State, c: crate::decide::cutover::Change) {
        use crate::decide::cutover::Change;
        let cut = lock(&st.cutover);
        let over = if cut.fleet().is_some() {
            "fleet-wide match rate (Prometheus)"
        } else {
            "match rate"
        };
        let pct = cut.requested() * 100.0;
        let crit = cut.criteria();
        let (good, total) = cut.measured(crate::run::timer::coarse_now());
        let rate = if total > 0 {
            format!("{:.3}%", good as f64 * 100.0 / total as f64)
        } else {
            "n/a".to_owned()
        };
        let need = crit.map_or_else(String::new, |c| {
            format!(
                "; needs >= {:.3}% over >= {} samples",
                c.min_match_rate * 100.0,
                c.min_samples
            )
        });
        drop(cut);
        match c {
            Change::Opened => tracing::info!(
                target: "parallel_run",
                experiment = self.name,
                "ramp of {} at {pct}%: the candidate now serves that share of calls ({over} {rate} over {total} samples{need})",
                self.name
            ),
            Change::Refused => tracing::warn!(
                target: "parallel_run",
                experiment = self.name,
                "ramp of {} to {pct}% refused by the promotion gate: {over} {rate} over {total} samples{need}; the legacy code serves every call",
                self.name
            ),
            Change::FellBack => tracing::warn!(
                target: "parallel_run",
                experiment = self.name,
                "ramp of {} fell back from {pct}% to 0%: {over} {rate} over {total} samples{need}; set the ramp again to retry",
                self.name
            ),
        }
    }

    /// Warns when the deadline has passed: at the first call, then at most once an hour.
    pub(crate) fn check_deadline(&'static self, now: Instant) {
        let st = self.state();
        let deadline = lock(&st.setting).deadline;
        if !crate::decide::cutover::overdue(deadline, crate::decide::cutover::today()) {
            return;
        }
        let mut last = lock(&st.deadline_warned);
        if last.is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(3600)) {
            return;
        }
        *last = Some(now);
        drop(last);
        tracing::warn!(
            target: "parallel_run",
            experiment = self.name,
            deadline = %crate::decide::cutover::format_date(deadline.unwrap_or(0)),
            "parallel run {} is past its deadline {}: decide (promote the candidate, or remove it) and retire the experiment",
            self.name,
            crate::decide::cutover::format_date(deadline.unwrap_or(0))
        );
    }

    pub(crate) fn setting(&'static self) -> Setting {
        *lock(&self.state().setting)
    }
}
