//! The in-process snapshot API: per experiment, the count of every [`Outcome`], the match rate,
//! and the first retained discrepancies. Tests, examples and health endpoints read it.

use std::time::Duration;

use crate::experiment::registry;
use crate::record::outcome::Outcome;

pub use crate::record::outcome::RETAINED;
pub use crate::record::view::{ExperimentSnapshot, OutcomeCounts, ShedReasons};

/// A snapshot of every experiment that has been called at least once in this process, in order
/// of first call. Two functions sharing a `name` appear twice.
///
/// ```
/// for e in shadow_runtime::snapshot() {
///     println!("{}: {:?}", e.name, e.match_rate());
/// }
/// ```
pub fn snapshot() -> Vec<ExperimentSnapshot> {
    crate::experiment::snapshot_all()
}

/// The snapshot of the experiment called `name`; `None` if it has not been called yet. When
/// several functions share the name, their counts are added.
///
/// ```
/// assert!(shadow_runtime::snapshot::experiment("no::such::experiment").is_none());
/// ```
pub fn experiment(name: &str) -> Option<ExperimentSnapshot> {
    snapshot()
        .into_iter()
        .filter(|e| e.name == name)
        .reduce(|mut a, b| {
            for o in Outcome::ALL {
                a.counts.0[o.index()] += b.counts.get(o);
            }
            a.shadowed += b.shadowed;
            a.shed.add(&b.shed);
            a.abandoned += b.abandoned;
            a.served_by_candidate += b.served_by_candidate;
            a.in_flight += b.in_flight;
            a.discrepancies.extend(b.discrepancies);
            a
        })
}

/// Publishes every experiment's counters and gauges to `metrics` now (the outcome totals, shed
/// reasons, in-flight and breaker gauges, the lane's gauges), after recording the duration
/// samples still queued for the histograms. The runtime's timer thread also publishes them once
/// a second; call this before a final scrape, or from a scrape handler.
///
/// ```
/// shadow_runtime::snapshot::publish_metrics();
/// ```
pub fn publish_metrics() {
    crate::record::observe::flush_durations();
    for exp in registry() {
        exp.publish_metrics(false);
    }
    let lane = crate::run::lane::snapshot();
    crate::record::observe::publish_lane(lane.queued, lane.budget_left_seconds);
}

/// Shadowed calls in flight over all experiments (summed on demand: a global counter would
/// cost every shadowed call two more contended read-modify-writes).
fn in_flight() -> u64 {
    registry().into_iter().map(|e| e.in_flight()).sum()
}

/// Blocks until no shadowed call is in flight in any experiment (every detached candidate has
/// been judged), or `timeout` passes; returns whether it got idle. The durations of the calls
/// judged so far are in the histograms when it returns. For tests, examples and graceful
/// shutdown; do not call it from inside an async task (use [`idle`]).
///
/// ```
/// assert!(shadow_runtime::wait_idle(std::time::Duration::from_millis(10)));
/// ```
pub fn wait_idle(timeout: Duration) -> bool {
    let idle = crate::record::idle::wait_until(timeout, || in_flight() == 0);
    // The durations of the calls judged so far reach the histograms before this returns.
    crate::record::observe::flush_durations();
    idle
}

/// Waits (asynchronously) until no shadowed call is in flight, then records the durations
/// queued for the histograms. Wrap it in a timeout if a candidate may hang.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// shadow_runtime::snapshot::idle().await;
/// # });
/// ```
pub async fn idle() {
    crate::record::idle::until(|| in_flight() == 0).await;
    crate::record::observe::flush_durations();
}
