//! Emission: `metrics` counters and histograms, `tracing` events. Everything here runs off the
//! caller's path (after the candidate) except nothing: skipped calls are only counted in
//! per-thread counters and published as absolute totals (see [`publish_skips`]).
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `parallel_run_outcomes_total` | counter | `experiment`, `outcome` |
//! | `parallel_run_primary_duration_seconds` | histogram | `experiment` |
//! | `parallel_run_candidate_duration_seconds` | histogram | `experiment` |

use std::sync::atomic::Ordering::Relaxed;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::experiment::Experiment;
use crate::outcome::{Discrepancy, Outcome};
use crate::sampling::Skip;

/// The `tracing` target of every event this crate emits.
pub(crate) const TARGET: &str = "parallel_run";
pub(crate) const OUTCOMES: &str = "parallel_run_outcomes_total";
pub(crate) const PRIMARY_SECONDS: &str = "parallel_run_primary_duration_seconds";
pub(crate) const CANDIDATE_SECONDS: &str = "parallel_run_candidate_duration_seconds";

pub(crate) fn outcome(exp: &'static Experiment, outcome: Outcome, d: Option<&Discrepancy>) {
    let name = exp.name();
    metrics::counter!(OUTCOMES, "experiment" => name, "outcome" => outcome.as_str()).increment(1);
    if let Some(d) = d {
        match outcome {
            Outcome::Mismatch => tracing::warn!(
                target: TARGET,
                experiment = name,
                outcome = outcome.as_str(),
                primary_us = d.primary_duration.as_micros() as u64,
                candidate_us = d.candidate_duration.as_micros() as u64,
                diff = %d.detail,
                "parallel run mismatch in {name}"
            ),
            _ => tracing::warn!(
                target: TARGET,
                experiment = name,
                outcome = outcome.as_str(),
                message_text = %d.detail,
                "parallel run {outcome} in {name}: {}", d.detail
            ),
        }
    }
    maybe_publish_skips(exp);
}

pub(crate) fn acceptable(exp: &'static Experiment, reason: &str) {
    tracing::debug!(target: TARGET, experiment = exp.name(), reason, "acceptable difference");
}

pub(crate) fn durations(exp: &'static Experiment, primary: Duration, candidate: Option<Duration>) {
    let name = exp.name();
    metrics::histogram!(PRIMARY_SECONDS, "experiment" => name).record(primary.as_secs_f64());
    if let Some(c) = candidate {
        metrics::histogram!(CANDIDATE_SECONDS, "experiment" => name).record(c.as_secs_f64());
    }
}

fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// Publishes the skip counters at most once a second per experiment, piggybacking on completed
/// shadowed calls (they run off the caller's path).
fn maybe_publish_skips(exp: &'static Experiment) {
    let st = exp.state();
    let now = now_ms();
    let last = st.last_skip_publish_ms.load(Relaxed);
    if now.saturating_sub(last) >= 1000
        && st
            .last_skip_publish_ms
            .compare_exchange(last, now, Relaxed, Relaxed)
            .is_ok()
    {
        publish_skips(exp);
    }
}

/// Sets the `disabled` and `sampled_out` outcome counters of `exp` to their current totals.
pub(crate) fn publish_skips(exp: &'static Experiment) {
    let st = exp.state();
    let name = exp.name();
    for (which, outcome) in [
        (Skip::Disabled, Outcome::Disabled),
        (Skip::SampledOut, Outcome::SampledOut),
    ] {
        metrics::counter!(OUTCOMES, "experiment" => name, "outcome" => outcome.as_str())
            .absolute(st.skips.read(which) + st.counts[outcome.index()].load(Relaxed));
    }
}
