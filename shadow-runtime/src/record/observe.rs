//! Emission: `metrics` counters, gauges and histograms, `tracing` events.
//!
//! - **Counters** are never touched on a call's path: every outcome is counted in the
//!   experiment's own atomics (skipped and shed calls per thread), and the runtime's timer
//!   thread publishes the totals as absolute values once a second (and
//!   `snapshot::publish_metrics` on demand). Gauges likewise.
//! - **Histograms** (durations) are recorded through handles registered once per experiment: the
//!   timer thread registers them with the recorder in effect there (the global one, or none) and
//!   a call uses them when the same recorder is in effect on its thread (a thread-local recorder
//!   gets its own registration, recorded on the spot). A recorder installed after the first call
//!   is picked up at the next tick. With a real global recorder, a judged call counts its samples
//!   in its thread's buckets and the timer thread records them ([`crate::record::pending`]:
//!   counts exact, each value within 0.39%): within a tick, and before `publish_metrics` and
//!   `wait_idle` return.
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
//! | `parallel_run_ramp_requested_ratio` | gauge | `experiment` (the ramp asked for, in force or not) |
//! | `parallel_run_gate_status` | gauge | `experiment`, `status` (1 for the promotion gate's status, 0 for the others) |
//! | `parallel_run_overdue` | gauge | `experiment` (1 once the experiment's deadline has passed) |
//! | `parallel_run_shed_total` | counter | `experiment`, `reason` (`max_in_flight`, `lane_queue`, `lane_budget`, `late`) |
//! | `parallel_run_in_flight` | gauge | `experiment` (shadowed calls not decided yet) |
//! | `parallel_run_abandoned` | gauge | `experiment` (candidates past their timeout that have not returned) |
//! | `parallel_run_breaker_open` | gauge | `experiment` (1 while the circuit breaker is open or half-open) |
//! | `parallel_run_lane_queued` | gauge | (admitted candidates that have not started) |
//! | `parallel_run_lane_budget_left_seconds` | gauge | (run time left in the lane's budget; negative: overspent, calls are shed) |
//! | `parallel_run_discrepancy_log_dropped_total` | counter | `path` (lines a `JsonLinesLog` dropped, its queue full; published by the log's own thread) |

use std::sync::Mutex;
use std::time::Instant;

use metrics::{Key, Label, Level, Metadata};

use crate::decide::cutover::GateStatus;
use crate::record::outcome::{Discrepancy, Outcome};

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
pub(crate) const RAMP_REQUESTED: &str = "parallel_run_ramp_requested_ratio";
pub(crate) const GATE_STATUS: &str = "parallel_run_gate_status";
pub(crate) const OVERDUE: &str = "parallel_run_overdue";
pub(crate) const SHED: &str = "parallel_run_shed_total";
pub(crate) const IN_FLIGHT: &str = "parallel_run_in_flight";
pub(crate) const ABANDONED: &str = "parallel_run_abandoned";
pub(crate) const BREAKER_OPEN: &str = "parallel_run_breaker_open";
pub(crate) const LANE_QUEUED: &str = "parallel_run_lane_queued";
pub(crate) const LANE_BUDGET_LEFT: &str = "parallel_run_lane_budget_left_seconds";
pub(crate) const LOG_DROPPED: &str = "parallel_run_discrepancy_log_dropped_total";

/// The reasons of `parallel_run_shed_total`, in [`crate::record::view::ShedReasons`] order.
pub(crate) const SHED_REASONS: [&str; 4] = ["max_in_flight", "lane_queue", "lane_budget", "late"];

/// The metric keys of one experiment, built once at its first call so that emitting never
/// allocates (the `counter!` macro builds a label vector per call when a label is not a literal),
/// and its histogram handles.
struct Keys {
    outcomes: [Key; Outcome::ALL.len()],
    primary: Key,
    candidate: Key,
    primary_cpu: Key,
    candidate_cpu: Key,
    served: Key,
    ramp: Key,
    ramp_requested: Key,
    gate: [Key; GateStatus::NAMES.len()],
    overdue: Key,
    shed: [Key; SHED_REASONS.len()],
    in_flight: Key,
    abandoned: Key,
    breaker_open: Key,
    /// Histogram handles per recorder (no recorder, then the global one): at most two ever
    /// seen on the timer thread.
    handles: [std::sync::OnceLock<Handles>; 2],
}

/// The duration histograms of one experiment, registered with the recorder at `recorder`.
struct Handles {
    recorder: usize,
    /// Its index in [`HANDLES`]: how a thread's buckets name their histograms.
    id: u32,
    /// Whether its samples go through the threads' buckets: the recorder is a real one (not the
    /// no-op recorder in effect when none is installed, for which recording costs nothing).
    batched: bool,
    primary: metrics::Histogram,
    candidate: metrics::Histogram,
    primary_cpu: metrics::Histogram,
    candidate_cpu: metrics::Histogram,
}

/// Every set of handles the timer thread registered, by [`Handles::id`]: how a thread's buckets
/// find their histograms.
static HANDLES: Mutex<Vec<&'static Handles>> = Mutex::new(Vec::new());

impl Handles {
    /// The histogram of a sample's kind ([`crate::record::pending::KINDS`]).
    fn of_kind(&self, kind: u32) -> &metrics::Histogram {
        match kind & 3 {
            0 => &self.primary,
            1 => &self.candidate,
            2 => &self.primary_cpu,
            _ => &self.candidate_cpu,
        }
    }

    /// Records one call's samples (nanoseconds, by kind) on the spot.
    fn record_now(&self, samples: [Option<u64>; crate::record::pending::KINDS]) {
        for (kind, ns) in (0..).zip(samples) {
            if let Some(ns) = ns {
                self.of_kind(kind).record(secs(ns));
            }
        }
    }
}

/// The identity of the recorder in effect on this thread (its address).
fn recorder_in_effect() -> usize {
    metrics::with_recorder(|r| r as *const dyn metrics::Recorder as *const () as usize)
}

impl Keys {
    fn new(name: &'static str) -> Self {
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
            ramp_requested: Key::from_parts(RAMP_REQUESTED, vec![exp.clone()]),
            gate: GateStatus::NAMES.map(|g| {
                Key::from_parts(
                    GATE_STATUS,
                    vec![exp.clone(), Label::from_static_parts("status", g)],
                )
            }),
            overdue: Key::from_parts(OVERDUE, vec![exp.clone()]),
            shed: SHED_REASONS.map(|r| {
                Key::from_parts(
                    SHED,
                    vec![exp.clone(), Label::from_static_parts("reason", r)],
                )
            }),
            in_flight: Key::from_parts(IN_FLIGHT, vec![exp.clone()]),
            abandoned: Key::from_parts(ABANDONED, vec![exp.clone()]),
            breaker_open: Key::from_parts(BREAKER_OPEN, vec![exp.clone()]),
            candidate: Key::from_parts(CANDIDATE_SECONDS, vec![exp]),
            handles: [std::sync::OnceLock::new(), std::sync::OnceLock::new()],
        }
    }

    /// The key of a sample's kind's histogram (as [`Handles::of_kind`]).
    fn of_kind(&self, kind: u32) -> &Key {
        match kind & 3 {
            0 => &self.primary,
            1 => &self.candidate,
            2 => &self.primary_cpu,
            _ => &self.candidate_cpu,
        }
    }

    /// The handles registered with the recorder in effect on this thread, if any.
    fn cached(&self, recorder: usize) -> Option<&Handles> {
        self.handles
            .iter()
            .filter_map(std::sync::OnceLock::get)
            .find(|h| h.recorder == recorder)
    }

    /// Registers the histograms with the recorder in effect, once per recorder (the timer
    /// thread, where no thread-local recorder is ever in effect).
    fn refresh(&'static self) {
        let recorder = recorder_in_effect();
        if self.cached(recorder).is_some() {
            return;
        }
        let mut all = HANDLES.lock().unwrap_or_else(|e| e.into_inner());
        let Ok(id) = u32::try_from(all.len()) else {
            return;
        };
        if let Some(free) = self.handles.iter().find(|h| h.get().is_none()) {
            let h = free.get_or_init(|| Handles {
                recorder,
                id,
                // The no-op recorder is a unit struct; a real one holds its storage.
                batched: metrics::with_recorder(|r| std::mem::size_of_val(r) != 0),
                primary: histogram(&self.primary),
                candidate: histogram(&self.candidate),
                primary_cpu: histogram(&self.primary_cpu),
                candidate_cpu: histogram(&self.candidate_cpu),
            });
            if h.id == id {
                all.push(h);
            }
        }
    }
}

/// What one experiment emits through: its name, its metric keys and histogram handles, and the
/// failures of its helpers (counted per helper, and when each was last warned about). The
/// experiment's state holds one; nothing here knows the experiment.
pub(crate) struct Instruments {
    name: &'static str,
    keys: Keys,
    /// Failures of user helpers (comparator, ignore rules, run_if, before, Debug), per helper.
    internal_errors: Mutex<Vec<(&'static str, u64)>>,
    /// Per helper: when its failure was last warned about, and the failures since.
    helper_warnings: Mutex<Vec<(&'static str, Instant, u64)>>,
}

impl Instruments {
    pub(crate) fn new(name: &'static str) -> Self {
        Instruments {
            name,
            keys: Keys::new(name),
            internal_errors: Mutex::new(Vec::new()),
            helper_warnings: Mutex::new(Vec::new()),
        }
    }

    /// The failures of the experiment's helpers so far, per helper.
    pub(crate) fn internal_errors(&self) -> Vec<(&'static str, u64)> {
        self.internal_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The totals [`publish`] sets the experiment's counters and gauges to.
pub(crate) struct Totals {
    /// Every outcome's count, skipped and shed calls included, by [`Outcome::index`].
    pub(crate) outcomes: [u64; Outcome::ALL.len()],
    /// The shed calls, in [`SHED_REASONS`] order.
    pub(crate) shed: [u64; SHED_REASONS.len()],
    pub(crate) in_flight: u64,
    pub(crate) abandoned: u64,
    pub(crate) breaker_open: bool,
    pub(crate) served: u64,
    pub(crate) ramp: f64,
    /// The ramp asked for (the live API, the file, the environment or the attribute).
    pub(crate) ramp_requested: f64,
    /// The promotion gate's status.
    pub(crate) gate: GateStatus,
    pub(crate) overdue: bool,
}

static META: Metadata<'static> = Metadata::new(TARGET, Level::INFO, Some(module_path!()));

fn counter(key: &Key) -> metrics::Counter {
    metrics::with_recorder(|r| r.register_counter(key, &META))
}

fn histogram(key: &Key) -> metrics::Histogram {
    metrics::with_recorder(|r| r.register_histogram(key, &META))
}

/// The events of a decided outcome (its counter is published by the timer thread).
pub(crate) fn outcome(obs: &Instruments, outcome: Outcome, d: Option<&Discrepancy>) {
    let name = obs.name;
    if let Some(d) = d {
        match outcome {
            Outcome::Mismatch => tracing::warn!(
                target: TARGET,
                experiment = name,
                outcome = outcome.as_str(),
                primary_us = d.primary_duration.as_micros() as u64,
                candidate_us = d.candidate_duration.as_micros() as u64,
                diff = %d.detail,
                context = %crate::record::outcome::render_context(&d.context),
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
pub(crate) fn internal_error(obs: &Instruments, helper: &'static str, message: &str) {
    let name = obs.name;
    {
        let mut errs = obs
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
    // Warned the first time, then at most once a minute (with the count since): a helper that
    // fails on every call must not flood the log. Every failure is counted and given to the hook.
    match helper_warning_due(obs, helper) {
        Some(0) => {
            tracing::warn!(target: TARGET, experiment = name, helper, "parallel run helper `{helper}` of {name} failed: {message}")
        }
        Some(more) => {
            tracing::warn!(target: TARGET, experiment = name, helper, "parallel run helper `{helper}` of {name} failed: {message} ({more} more failures of it since the last warning)")
        }
        None => {
            tracing::debug!(target: TARGET, experiment = name, helper, "parallel run helper `{helper}` of {name} failed: {message}")
        }
    }
    if let Some(hook) = crate::record::outcome::internal_error_hook() {
        let e = crate::record::outcome::InternalError {
            experiment: name,
            helper,
            message: message.to_owned(),
        };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(&e)));
    }
}

/// How often a failing helper is warned about at most.
const HELPER_WARN_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether this failure of `helper` is warned about: `Some(failures since the last warning)`, or
/// `None` while the last warning is less than [`HELPER_WARN_EVERY`] old.
fn helper_warning_due(obs: &Instruments, helper: &'static str) -> Option<u64> {
    let now = crate::run::timer::coarse_now();
    let mut w = obs
        .helper_warnings
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    match w.iter_mut().find(|(h, _, _)| *h == helper) {
        None => {
            w.push((helper, now, 0));
            Some(0)
        }
        Some((_, last, since)) if now.saturating_duration_since(*last) >= HELPER_WARN_EVERY => {
            *last = now;
            Some(std::mem::take(since))
        }
        Some((_, _, since)) => {
            *since += 1;
            None
        }
    }
}

pub(crate) fn acceptable(obs: &Instruments, reason: &str) {
    tracing::debug!(target: TARGET, experiment = obs.name, reason, "acceptable difference");
}

/// Records both sides' durations in the histograms (the sums are counted with the outcome):
/// counted in this thread's buckets when the recorder is a real one, recorded on the spot
/// otherwise.
pub(crate) fn durations(
    obs: &Instruments,
    primary: &crate::run::clock::Took,
    candidate: &crate::run::clock::Took,
) {
    let keys = &obs.keys;
    let samples = [
        Some(primary.wall_ns()),
        Some(candidate.wall_ns()),
        primary.cpu_ns(),
        candidate.cpu_ns(),
    ];
    match keys.cached(recorder_in_effect()) {
        Some(h) if !h.batched => h.record_now(samples),
        Some(h) => {
            if !crate::record::pending::count(h.id, samples) {
                h.record_now(samples);
            }
        }
        // A recorder the timer thread has not registered with yet (installed moments ago, or
        // local to this thread).
        None => {
            for (kind, ns) in (0..).zip(samples) {
                if let Some(ns) = ns {
                    histogram(keys.of_kind(kind)).record(secs(ns));
                }
            }
        }
    }
}

/// Nanoseconds in seconds, as histograms record them.
fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// Records every duration sample counted in the threads' buckets ([`crate::record::pending`])
/// in its histogram: on every tick, and before a reader that needs them all.
pub(crate) fn flush_durations() {
    let all = HANDLES.lock().unwrap_or_else(|e| e.into_inner());
    crate::record::pending::drain(|id, kind, v, n| {
        if let Some(h) = all.get(id as usize) {
            h.of_kind(kind)
                .record_many(v, usize::try_from(n).unwrap_or(usize::MAX));
        }
    });
}

/// Sets the counters and gauges of an experiment to `t`: every outcome's total, the shed
/// reasons, the in-flight, abandoned and breaker gauges, and the cutover's metrics (served
/// calls, the ramp in force and requested, the gate's status, overdue). `on_timer`: called on
/// the timer thread, which also registers the histogram handles with the recorder in effect
/// there.
pub(crate) fn publish(obs: &'static Instruments, t: &Totals, on_timer: bool) {
    let keys = &obs.keys;
    if on_timer {
        keys.refresh();
    }
    for o in Outcome::ALL {
        counter(&keys.outcomes[o.index()]).absolute(t.outcomes[o.index()]);
    }
    for (key, n) in keys.shed.iter().zip(t.shed) {
        counter(key).absolute(n);
    }
    let flag = |on: bool| if on { 1.0 } else { 0.0 };
    gauge(&keys.in_flight).set(t.in_flight as f64);
    gauge(&keys.abandoned).set(t.abandoned as f64);
    gauge(&keys.breaker_open).set(flag(t.breaker_open));
    counter(&keys.served).absolute(t.served);
    gauge(&keys.ramp).set(t.ramp);
    gauge(&keys.ramp_requested).set(t.ramp_requested);
    for (i, key) in keys.gate.iter().enumerate() {
        gauge(key).set(flag(i == t.gate.index()));
    }
    gauge(&keys.overdue).set(flag(t.overdue));
}

fn gauge(key: &Key) -> metrics::Gauge {
    metrics::with_recorder(|r| r.register_gauge(key, &META))
}

/// The key of one discrepancy log's dropped-lines counter (`path`: the file, or `(writer)`).
pub(crate) fn log_dropped_key(path: String) -> Key {
    Key::from_parts(LOG_DROPPED, vec![Label::new("path", path)])
}

/// Publishes a discrepancy log's dropped lines (an absolute total, from the log's thread).
pub(crate) fn log_dropped(key: &Key, dropped: u64) {
    counter(key).absolute(dropped);
}

/// Publishes the shadow lane's gauges.
pub(crate) fn publish_lane(queued: u64, budget_left_seconds: f64) {
    gauge(&Key::from_static_name(LANE_QUEUED)).set(queued as f64);
    gauge(&Key::from_static_name(LANE_BUDGET_LEFT)).set(budget_left_seconds);
}
