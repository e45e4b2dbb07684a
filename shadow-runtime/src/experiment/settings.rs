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
        let change =
            lock(&st.cutover).configure(s.ramp, s.criteria, fresh, crate::run::timer::coarse_now());
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
                "ramp of {} at {pct}%: the candidate now serves that share of calls (match rate {rate} over {total} samples{need})",
                self.name
            ),
            Change::Refused => tracing::warn!(
                target: "parallel_run",
                experiment = self.name,
                "ramp of {} to {pct}% refused by the promotion gate: match rate {rate} over {total} samples{need}; the legacy code serves every call",
                self.name
            ),
            Change::FellBack => tracing::warn!(
                target: "parallel_run",
                experiment = self.name,
                "ramp of {} fell back from {pct}% to 0%: match rate {rate} over {total} samples{need}; set the ramp again to retry",
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
