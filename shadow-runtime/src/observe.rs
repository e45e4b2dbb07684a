//! Emission: `metrics` counters and histograms, `tracing` events. Everything here runs off the
//! caller's path: outcomes of shadowed calls are emitted where they are judged, and skipped calls,
//! which the hot path only counts per thread, are published as absolute totals once a second by the
//! runtime's timer thread (and by `snapshot::publish_metrics`).
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `parallel_run_outcomes_total` | counter | `experiment`, `outcome` |
//! | `parallel_run_primary_duration_seconds` | histogram | `experiment` |
//! | `parallel_run_candidate_duration_seconds` | histogram | `experiment` |
//! | `parallel_run_primary_cpu_seconds`, `parallel_run_candidate_cpu_seconds` | histogram | `experiment` (sync, `cpu_time` on) |
//! | `parallel_run_internal_errors_total` | counter | `experiment`, `helper` |
//! | `parallel_run_served_by_candidate_total` | counter | `experiment` (calls the candidate served: the ramp) |
//! | `parallel_run_ramp_ratio` | gauge | `experiment` (the ramp in force, 0 while the gate refuses it) |
//! | `parallel_run_overdue` | gauge | `experiment` (1 once the experiment's deadline has passed) |

use std::sync::atomic::Ordering::Relaxed;

use metrics::{Key, Label, Level, Metadata};

use crate::experiment::Experiment;
use crate::outcome::{Discrepancy, Outcome};
use crate::sampling::Skip;

/// The `tracing` target of every event this crate emits.
pub(crate) const TARGET: &str = "parallel_run";
pub(crate) const OUTCOMES: &str = "parallel_run_outcomes_total";
pub(crate) const PRIMARY_SECONDS: &str = "parallel_run_primary_duration_seconds";
pub(crate) const CANDIDATE_SECONDS: &str = "parallel_run_candidate_duration_seconds";
pub(crate) const PRIMARY_CPU_SECONDS: &str = "parallel_run_primary_cpu_seconds";
pub(crate) const CANDIDATE_CPU_SECONDS: &str = "parallel_run_candidate_cpu_seconds";
pub(crate) const INTERNAL_ERRORS: &str = "parallel_run_internal_errors_total";
pub(crate) const SERVED: &str = "parallel_run_served_by_candidate_total";
pub(crate) const RAMP: &str = "parallel_run_ramp_ratio";
pub(crate) const OVERDUE: &str = "parallel_run_overdue";

/// The metric keys of one experiment, built once at its first call so that emitting never
/// allocates (the `counter!` macro builds a label vector per call when a label is not a literal).
pub(crate) struct Keys {
    outcomes: [Key; Outcome::ALL.len()],
    primary: Key,
    candidate: Key,
    primary_cpu: Key,
    candidate_cpu: Key,
    served: Key,
    ramp: Key,
    overdue: Key,
}

impl Keys {
    pub(crate) fn new(name: &'static str) -> Self {
        let exp = Label::from_static_parts("experiment", name);
        Keys {
            outcomes: Outcome::ALL.map(|o| {
                Key::from_parts(
                    OUTCOMES,
                    vec![exp.clone(), Label::from_static_parts("outcome", o.as_str())],
                )
            }),
            primary: Key::from_parts(PRIMARY_SECONDS, vec![exp.clone()]),
            primary_cpu: Key::from_parts(PRIMARY_CPU_SECONDS, vec![exp.clone()]),
            candidate_cpu: Key::from_parts(CANDIDATE_CPU_SECONDS, vec![exp.clone()]),
            served: Key::from_parts(SERVED, vec![exp.clone()]),
            ramp: Key::from_parts(RAMP, vec![exp.clone()]),
            overdue: Key::from_parts(OVERDUE, vec![exp.clone()]),
            candidate: Key::from_parts(CANDIDATE_SECONDS, vec![exp]),
        }
    }
}

static META: Metadata<'static> = Metadata::new(TARGET, Level::INFO, Some(module_path!()));

fn counter(key: &Key) -> metrics::Counter {
    metrics::with_recorder(|r| r.register_counter(key, &META))
}

fn histogram(key: &Key) -> metrics::Histogram {
    metrics::with_recorder(|r| r.register_histogram(key, &META))
}

pub(crate) fn outcome(exp: &'static Experiment, outcome: Outcome, d: Option<&Discrepancy>) {
    let name = exp.name();
    counter(&exp.state().keys.outcomes[outcome.index()]).increment(1);
    if let Some(d) = d {
        match outcome {
            Outcome::Mismatch => tracing::warn!(
                target: TARGET,
                experiment = name,
                outcome = outcome.as_str(),
                primary_us = d.primary_duration.as_micros() as u64,
                candidate_us = d.candidate_duration.as_micros() as u64,
                diff = %d.detail,
                context = %crate::outcome::render_context(&d.context),
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
}

/// A user helper (comparator, ignore rule, run_if, before hook, `Debug` impl) failed: count it
/// per experiment and helper, emit a `warn` event tagged with the helper, and tell the
/// application's hook. The caller is never affected.
pub(crate) fn internal_error(exp: &'static Experiment, helper: &'static str, message: &str) {
    let name = exp.name();
    {
        let mut errs = exp
            .state()
            .internal_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match errs.iter_mut().find(|(h, _)| *h == helper) {
            Some((_, n)) => *n += 1,
            None => errs.push((helper, 1)),
        }
    }
    let key = Key::from_parts(
        INTERNAL_ERRORS,
        vec![
            Label::from_static_parts("experiment", name),
            Label::from_static_parts("helper", helper),
        ],
    );
    counter(&key).increment(1);
    tracing::warn!(target: TARGET, experiment = name, helper, "parallel run helper `{helper}` of {name} failed: {message}");
    let hook = INTERNAL_HOOK
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if let Some(hook) = hook {
        let e = crate::outcome::InternalError {
            experiment: name,
            helper,
            message: message.to_owned(),
        };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(&e)));
    }
}

type Hook = std::sync::Arc<dyn Fn(&crate::outcome::InternalError) + Send + Sync>;
static INTERNAL_HOOK: std::sync::RwLock<Option<Hook>> = std::sync::RwLock::new(None);

/// Installs the application's observer of internal errors (replacing any previous one).
pub(crate) fn set_internal_error_hook(hook: Hook) {
    *INTERNAL_HOOK.write().unwrap_or_else(|e| e.into_inner()) = Some(hook);
}

pub(crate) fn acceptable(exp: &'static Experiment, reason: &str) {
    tracing::debug!(target: TARGET, experiment = exp.name(), reason, "acceptable difference");
}

pub(crate) fn durations(
    exp: &'static Experiment,
    primary: crate::exec::Took,
    candidate: crate::exec::Took,
) {
    let st = exp.state();
    st.primary_us_sum
        .fetch_add(primary.wall.as_micros() as u64, Relaxed);
    st.candidate_us_sum
        .fetch_add(candidate.wall.as_micros() as u64, Relaxed);
    st.timed.fetch_add(1, Relaxed);
    let keys = &st.keys;
    histogram(&keys.primary).record(primary.wall.as_secs_f64());
    histogram(&keys.candidate).record(candidate.wall.as_secs_f64());
    if let Some(c) = primary.cpu {
        histogram(&keys.primary_cpu).record(c.as_secs_f64());
    }
    if let Some(c) = candidate.cpu {
        histogram(&keys.candidate_cpu).record(c.as_secs_f64());
    }
}

/// Sets the `disabled` and `sampled_out` outcome counters of `exp` to their current totals, and
/// the cutover's metrics (served calls, ramp, overdue).
pub(crate) fn publish_skips(exp: &'static Experiment) {
    let st = exp.state();
    for (which, outcome) in Skip::ALL {
        counter(&st.keys.outcomes[outcome.index()])
            .absolute(exp.skipped(which) + st.counts[outcome.index()].load(Relaxed));
    }
    counter(&st.keys.served).absolute(st.served.load(Relaxed));
    let ramp = st
        .cutover
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .effective();
    gauge(&st.keys.ramp).set(ramp);
    let deadline = exp.setting().deadline;
    let overdue = crate::cutover::overdue(deadline, crate::cutover::today());
    gauge(&st.keys.overdue).set(if overdue { 1.0 } else { 0.0 });
}

fn gauge(key: &Key) -> metrics::Gauge {
    metrics::with_recorder(|r| r.register_gauge(key, &META))
}
