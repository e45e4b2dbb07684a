//! What a snapshot shows of one experiment, read from its state.

use std::sync::atomic::Ordering::Relaxed;

use crate::decide::sampling::{slot, Skip};
use crate::record::outcome::Outcome;
use crate::record::view::{ExperimentSnapshot, FleetSnapshot, OutcomeCounts, ShedReasons};

use super::Experiment;

/// The snapshot of one experiment now.
pub(crate) fn view(exp: &'static Experiment) -> ExperimentSnapshot {
    let st = exp.state();
    // Decided first, then the outcomes, then opened: a call decided meanwhile shows in
    // the counts and as opened, never as lost.
    let closed = exp.total(slot::CLOSED);
    let mut counts = [0u64; Outcome::ALL.len()];
    for o in Outcome::ALL {
        counts[o.index()] = exp.outcome_total(o);
    }
    let opened = exp.total(slot::OPENED);
    let in_flight = opened.saturating_sub(closed);
    for (which, outcome) in Skip::ALL {
        counts[outcome.index()] += exp.skipped(which);
    }
    let shed = ShedReasons {
        max_in_flight: exp.skipped(Skip::ShedCap),
        lane_queue: exp.skipped(Skip::ShedQueue),
        lane_budget: exp.skipped(Skip::ShedBudget),
        late: st.shed_late.load(Relaxed),
    };
    let setting = exp.setting();
    let (breaker, breaker_trips, _) = super::breaker_view(exp);
    let (ramp_effective, gate, gate_measured, fleet) = {
        let c = st.cutover.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        let fleet = c.fleet().map(|f| FleetSnapshot {
            reading: f.last.map(|r| (r.good.min(r.compared), r.compared)),
            age: f.last.map(|r| now.saturating_duration_since(r.at)),
            error: f
                .error
                .as_ref()
                .map(|(e, at)| (e.clone(), now.saturating_duration_since(*at))),
            max_age: f.max_age,
        });
        (
            c.effective(),
            c.status(),
            c.measured(crate::run::timer::coarse_now()),
            fleet,
        )
    };
    ExperimentSnapshot {
        name: exp.name(),
        enabled: setting.enabled,
        sample_rate: setting.sample,
        timeout: setting.timeout,
        max_in_flight: setting.max_in_flight,
        running: st.running.held(),
        peak_running: st.running.peak(),
        breaker,
        breaker_trips,
        internal_errors: st.obs.internal_errors(),
        // Shed before anything was prepared: shadowed (sampled), never started.
        shadowed: opened + shed.total() - shed.late,
        shed,
        abandoned: st.abandoned.load(Relaxed),
        in_flight,
        counts: OutcomeCounts(counts),
        discrepancies: st
            .retained
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
        ramp: setting.ramp,
        ramp_effective,
        gate,
        criteria: setting.criteria,
        gate_measured,
        gate_source: setting.gate_source,
        fleet,
        served_by_candidate: st.served.load(Relaxed),
        deadline: setting.deadline.map(crate::decide::cutover::format_date),
        overdue: crate::decide::cutover::overdue(setting.deadline, crate::decide::cutover::today()),
        writes: exp.writes(),
        primary_us_sum: exp.total(slot::PRIMARY_US),
        candidate_us_sum: exp.total(slot::CANDIDATE_US),
        timed: exp.total(slot::TIMED),
        noisy_paths: st.noise.paths(),
        noise_clocks: st.noise.clocks(),
        noise_runs: st.noise.runs().0,
        noise_confirmations: st.noise.runs().1,
    }
}
