//! What a snapshot shows of one experiment: [`ExperimentSnapshot`], its [`OutcomeCounts`] and
//! [`ShedReasons`]. The experiment layer fills them in; [`crate::snapshot`] hands them out and
//! the discrepancy log's summary lines are written from them.

use std::time::Duration;

use crate::decide::breaker::BreakerState;
use crate::decide::config::prometheus::GateSource;
use crate::decide::cutover::{Criteria, GateStatus};
use crate::record::outcome::{Discrepancy, Outcome};
use crate::run::context::WriteMode;

/// Counts per outcome.
///
/// ```
/// let c = shadow_runtime::OutcomeCounts::default();
/// assert_eq!(c.get(shadow_runtime::Outcome::Match), 0);
/// assert_eq!(c.total(), 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutcomeCounts(pub(crate) [u64; Outcome::ALL.len()]);

impl OutcomeCounts {
    /// The count of one outcome.
    ///
    /// ```
    /// # let c = shadow_runtime::OutcomeCounts::default();
    /// let mismatches = c.get(shadow_runtime::Outcome::Mismatch);
    /// # assert_eq!(mismatches, 0);
    /// ```
    pub fn get(&self, o: Outcome) -> u64 {
        self.0[o.index()]
    }

    /// The sum over all outcomes.
    ///
    /// ```
    /// # let c = shadow_runtime::OutcomeCounts::default();
    /// assert_eq!(c.total(), 0);
    /// ```
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// `(outcome, count)` pairs in [`Outcome::ALL`] order.
    ///
    /// ```
    /// # let c = shadow_runtime::OutcomeCounts::default();
    /// assert_eq!(c.iter().count(), shadow_runtime::Outcome::ALL.len());
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (Outcome, u64)> + '_ {
        Outcome::ALL.iter().map(move |&o| (o, self.get(o)))
    }
}

/// One experiment's state at the moment of the snapshot.
///
/// ```
/// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
/// #     "docs::snap", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
/// # let p = EXP.decide().unwrap().with_candidate(|| 1);
/// # p.finish_inline(&1, &shadow_runtime::DefaultComparator, shadow_runtime::manual::NoProbes);
/// let s = shadow_runtime::snapshot::experiment("docs::snap").unwrap();
/// assert_eq!((s.shadowed, s.in_flight, s.lost()), (1, 0, 0));
/// assert_eq!(s.match_rate(), Some(1.0));
/// ```
#[derive(Debug, Clone)]
pub struct ExperimentSnapshot {
    /// The experiment's name.
    pub name: &'static str,
    /// Whether the experiment's own setting is on (the global kill switch is separate).
    pub enabled: bool,
    /// The effective sampling rate.
    pub sample_rate: f64,
    /// The candidate timeout in force, if any.
    pub timeout: Option<Duration>,
    /// The cap of concurrent candidate executions.
    pub max_in_flight: u64,
    /// Candidate executions holding a slot now (queued, running, or abandoned after a timeout).
    pub running: u64,
    /// The most candidate executions ever holding a slot at once; never above `max_in_flight`
    /// unless the cap was lowered while they ran.
    pub peak_running: u64,
    /// The circuit breaker's state.
    pub breaker: BreakerState,
    /// How many times the breaker has opened.
    pub breaker_trips: u64,
    /// Failures of user helpers caught by the library, per helper (`comparator`, `ignore`,
    /// `run_if`, `before`, `debug`).
    pub internal_errors: Vec<(&'static str, u64)>,
    /// Calls that were sampled for shadowing and not skipped as nested: their candidate ran (or
    /// runs), or they were shed.
    pub shadowed: u64,
    /// Why the shed calls were shed.
    pub shed: ShedReasons,
    /// Candidate executions past their timeout that have not returned yet (each still holds its
    /// slot: a sync candidate cannot be stopped, an async one that never yields cannot be
    /// dropped).
    pub abandoned: u64,
    /// Shadowed calls whose outcome is not decided yet (a detached candidate still running).
    pub in_flight: u64,
    /// Count per outcome.
    pub counts: OutcomeCounts,
    /// The first [`RETAINED`](crate::snapshot::RETAINED) mismatches and panics.
    pub discrepancies: Vec<Discrepancy>,
    /// The ramp requested: the share of calls the candidate should serve.
    pub ramp: f64,
    /// The ramp in force (0 while the promotion gate refuses it or fell back).
    pub ramp_effective: f64,
    /// Where the promotion gate stands.
    pub gate: GateStatus,
    /// The promotion gate's success criteria, if declared.
    pub criteria: Option<Criteria>,
    /// `(good, compared)` calls the gate goes by now: in this process's gate window, or, with the
    /// fleet-wide gate, in its last reading (`(0, 0)` before the first).
    pub gate_measured: (u64, u64),
    /// Where the promotion gate takes its numbers from (`gate_source`).
    pub gate_source: GateSource,
    /// The fleet-wide gate's last reading and error, while the gate uses it (`gate_source =
    /// "prometheus"` with criteria declared).
    pub fleet: Option<FleetSnapshot>,
    /// Calls the candidate served (ramp).
    pub served_by_candidate: u64,
    /// The deadline (`YYYY-MM-DD`), if any.
    pub deadline: Option<String>,
    /// The deadline has passed.
    pub overdue: bool,
    /// How the shadow side must treat writes.
    pub writes: WriteMode,
    /// Sums of the primary's and the candidate's wall times over judged calls, in microseconds,
    /// and how many calls they cover: the means of both sides.
    pub primary_us_sum: u64,
    /// See `primary_us_sum`.
    pub candidate_us_sum: u64,
    /// See `primary_us_sum`.
    pub timed: u64,
    /// Paths (indices as `[*]`) where the primary differed from itself, learned from its second
    /// runs (the attribute's `noise`), with how often each differed, in path order. A mismatch
    /// only at these paths counts as [`Outcome::Noise`] ([`crate::judge::noise`]).
    pub noisy_paths: Vec<(String, u64)>,
    /// The noisy paths that are clocks (every difference between two runs of the primary was
    /// between two times near now), with the largest gap seen: a candidate's value there is
    /// noise only within it.
    pub noise_clocks: Vec<(String, Duration)>,
    /// Second runs of the primary made (drawn at the `noise` rate, or confirming a difference).
    pub noise_runs: u64,
    /// Of `noise_runs`, those made to confirm a difference the learned noise did not explain.
    pub noise_confirmations: u64,
}

/// What the fleet-wide gate's source said last ([`crate::decide::cutover`]).
///
/// ```
/// # fn f(s: &shadow_runtime::ExperimentSnapshot) {
/// if let Some(fleet) = &s.fleet {
///     match (fleet.reading, &fleet.error) {
///         (_, Some((e, ago))) => println!("Prometheus failed {ago:?} ago: {e}"),
///         (Some((good, compared)), None) => println!("{good} of {compared} agree across the fleet"),
///         (None, None) => println!("not read yet"),
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FleetSnapshot {
    /// The last good reading: `(good, compared)` calls across the fleet in the gate window.
    pub reading: Option<(u64, u64)>,
    /// How old that reading is.
    pub age: Option<Duration>,
    /// The last failure since that reading (unreachable, timeout, a bad answer), and how long
    /// ago it was.
    pub error: Option<(String, Duration)>,
    /// An older reading is stale: the gate is then
    /// [`GateStatus::Unavailable`].
    pub max_age: Duration,
}

/// Why calls were shed (their sum is the `shed` count).
///
/// ```
/// let r = shadow_runtime::snapshot::ShedReasons::default();
/// assert_eq!(r.total(), 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShedReasons {
    /// `max_in_flight` candidates of the experiment held their slots.
    pub max_in_flight: u64,
    /// The shadow lane's queue was full ([`crate::run::lane`]).
    pub lane_queue: u64,
    /// The shadow lane had spent its run-time budget.
    pub lane_budget: u64,
    /// Shed after the shadow was prepared: the candidate waited on the lane longer than its
    /// timeout and a second (the lane is behind), or the lane could not take it after all.
    pub late: u64,
}

impl ShedReasons {
    /// Every shed call.
    ///
    /// ```
    /// let r = shadow_runtime::snapshot::ShedReasons { max_in_flight: 2, late: 1, ..Default::default() };
    /// assert_eq!(r.total(), 3);
    /// ```
    pub fn total(&self) -> u64 {
        self.max_in_flight + self.lane_queue + self.lane_budget + self.late
    }

    pub(crate) fn add(&mut self, o: &ShedReasons) {
        self.max_in_flight += o.max_in_flight;
        self.lane_queue += o.lane_queue;
        self.lane_budget += o.lane_budget;
        self.late += o.late;
    }
}

impl ExperimentSnapshot {
    /// Every call of the function: decided outcomes plus those still in flight.
    ///
    /// ```
    /// # fn f(s: &shadow_runtime::ExperimentSnapshot) {
    /// assert_eq!(s.calls(), s.counts.total() + s.in_flight);
    /// # }
    /// ```
    pub fn calls(&self) -> u64 {
        self.counts.total() + self.in_flight
    }

    /// Shadowed calls not accounted for: `shadowed - in_flight - outcomes of shadowed calls`.
    /// Always 0 at rest unless the library has a bug; examples and tests check it. A snapshot
    /// taken while calls are being recorded can catch one between its outcome and its decided
    /// count, which shows as a small negative value (never a positive one).
    ///
    /// ```
    /// # fn f(s: &shadow_runtime::ExperimentSnapshot) {
    /// assert_eq!(s.lost(), 0);
    /// # }
    /// ```
    pub fn lost(&self) -> i64 {
        let decided: u64 = self
            .counts
            .iter()
            .filter(|(o, _)| {
                !matches!(
                    o,
                    Outcome::Disabled
                        | Outcome::SampledOut
                        | Outcome::Filtered
                        | Outcome::CircuitOpen
                        | Outcome::Nested
                )
            })
            .map(|(_, n)| n)
            .sum();
        self.shadowed as i64 - self.in_flight as i64 - decided as i64
    }

    /// Agreements (match, acceptable, ignored, noise) over compared calls, where a candidate
    /// panic and a refused write count as failed comparisons (the promotion gate and the report
    /// count the same way); `None` before the first comparison. Comparator panics,
    /// shed and cancelled calls are left out: they say nothing about the candidate.
    ///
    /// ```
    /// # fn f(s: &shadow_runtime::ExperimentSnapshot) {
    /// if let Some(rate) = s.match_rate() { println!("{:.3}%", rate * 100.0) }
    /// # }
    /// ```
    pub fn match_rate(&self) -> Option<f64> {
        let good = self.counts.get(Outcome::Match)
            + self.counts.get(Outcome::Acceptable)
            + self.counts.get(Outcome::Ignored)
            + self.counts.get(Outcome::Noise);
        let compared = good
            + self.counts.get(Outcome::Mismatch)
            + self.counts.get(Outcome::CandidatePanic)
            + self.counts.get(Outcome::WriteRefused);
        (compared > 0).then(|| good as f64 / compared as f64)
    }
}
