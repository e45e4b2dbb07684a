//! The cutover: the ramp (what share of calls the candidate serves), the promotion gate that
//! guards it, and the experiment's deadline.
//!
//! **Ramp.** `PARALLEL_RUN__<NAME>=ramp=10%` (or [`live::set_ramp`](crate::live::set_ramp)) makes
//! the candidate serve that share of calls, decided per call (sticky by the `sample_by` key when
//! the attribute gives one). On a served call the roles swap: the candidate's result is returned
//! and the legacy code runs as the shadow (in shadow context, sampled at the experiment's rate)
//! and is compared, so validation goes on during the ramp. The kill switch, the experiment's
//! `enabled = off` and an open circuit breaker all send every call back to the legacy code.
//!
//! **Promotion gate.** With `min_match_rate` and `min_samples` (attribute or environment), a ramp
//! above 0% is refused (every call is served by the legacy code; warned once; visible in the
//! snapshot as [`GateStatus::Refused`]) until the match rate measured over the gate window (the
//! last `gate_window`, 1 hour by default) reaches `min_match_rate` over at least `min_samples`
//! compared calls. It then opens by itself. If the rate falls below `min_match_rate` while
//! ramping, the ramp falls back to 0% ([`GateStatus::FellBack`]) and stays there until the ramp
//! is set again ([`live::set_ramp`](crate::live::set_ramp), [`reload_from_env`](crate::live::reload_from_env)).
//! The gate's rate counts match, acceptable, ignored and noise as good; mismatch, candidate panic,
//! timeout and refused write as bad.
//!
//! **Fleet-wide gate.** With `gate_source = "prometheus"` (feature `fleet-gate`,
//! [`config::prometheus`](crate::decide::config::prometheus)) the gate's good and compared counts
//! are not this process's: they are the last reading of a Prometheus query over every instance
//! (refreshed on a thread of its own, at the same wall-clock instants on every instance), and the
//! rules above apply to them, falling back included, so the instances open, refuse and fall
//! back together. While there is no reading younger than the server's `max_age` (Prometheus
//! unreachable, a bad answer, not asked yet) the gate is [`GateStatus::Unavailable`]: the legacy
//! code serves every call, a warning is given once per outage (and an info line when readings
//! come back), and the snapshot shows the last reading and error with their ages. A fresh reading
//! re-evaluates the gate: it opens again by itself if the fleet meets the criteria.
//!
//! **Deadline.** `deadline = "2026-12-31"` time-boxes the parallel run: once the day is over (UTC)
//! the experiment is *overdue*: a warning at its first call and every hour, the gauge
//! `parallel_run_overdue{experiment}` at 1, and `overdue` in the snapshot and the report.
//!
//! ```
//! use shadow_runtime::cutover::{days_from_civil, parse_date};
//! assert_eq!(parse_date("1970-01-02"), Ok(1));
//! assert_eq!(days_from_civil(2026, 12, 31), parse_date("2026-12-31").unwrap());
//! assert!(parse_date("2026-02-30").is_err());
//! ```

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::record::outcome::Outcome;

/// Success criteria of an experiment: what its measured match rate must reach before a ramp above
/// 0% is allowed.
///
/// ```
/// let c = shadow_runtime::cutover::Criteria { min_match_rate: 0.999, min_samples: 10_000, window: std::time::Duration::from_secs(3600) };
/// assert!(c.met(9_990, 10_000));
/// assert!(!c.met(999, 1_000)); // too few samples
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Criteria {
    /// The lowest acceptable match rate, `0.0..=1.0`.
    pub min_match_rate: f64,
    /// The fewest compared calls in the window before the rate counts.
    pub min_samples: u64,
    /// How far back the gate looks.
    pub window: Duration,
}

/// Default gate window.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(3600);

impl Criteria {
    /// Whether `good` out of `total` compared calls meet the criteria.
    pub fn met(&self, good: u64, total: u64) -> bool {
        total >= self.min_samples.max(1) && good as f64 >= self.min_match_rate * total as f64
    }
}

/// Where the promotion gate stands.
///
/// ```
/// use shadow_runtime::cutover::GateStatus;
/// assert_eq!(GateStatus::NoRamp.as_str(), "no_ramp");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GateStatus {
    /// No ramp requested: the legacy code serves every call.
    NoRamp,
    /// The requested ramp is in force (criteria met, or none declared).
    Open,
    /// A ramp is requested but the criteria are not met yet: the legacy code serves every call.
    Refused {
        /// The measured rate over the window (`None`: nothing compared yet).
        rate: Option<f64>,
        /// Compared calls in the window.
        samples: u64,
    },
    /// The rate fell below the criteria while ramping: back to 0% until the ramp is set again.
    FellBack {
        /// The rate that made it fall back.
        rate: f64,
        /// Compared calls in the window then.
        samples: u64,
    },
    /// The fleet-wide gate (`gate_source = "prometheus"`) has no fresh reading (Prometheus
    /// unreachable, a bad or stale answer): the ramp is refused, the legacy code serves every
    /// call, until a fresh reading says otherwise.
    Unavailable {
        /// The age of the last reading (`None`: none yet).
        age: Option<Duration>,
    },
}

impl GateStatus {
    /// `"no_ramp"`, `"open"`, `"refused"`, `"fell_back"` or `"unavailable"`.
    ///
    /// ```
    /// use shadow_runtime::cutover::GateStatus;
    /// assert_eq!(GateStatus::Unavailable { age: None }.as_str(), "unavailable");
    /// ```
    pub fn as_str(&self) -> &'static str {
        Self::NAMES[self.index()]
    }

    /// Every status's name, in [`index`](Self::index) order (the `status` label of
    /// `parallel_run_gate_status`).
    pub(crate) const NAMES: [&'static str; 5] =
        ["no_ramp", "open", "refused", "fell_back", "unavailable"];

    /// This status's place in [`NAMES`](Self::NAMES).
    pub(crate) fn index(&self) -> usize {
        match self {
            GateStatus::NoRamp => 0,
            GateStatus::Open => 1,
            GateStatus::Refused { .. } => 2,
            GateStatus::FellBack { .. } => 3,
            GateStatus::Unavailable { .. } => 4,
        }
    }
}

const BUCKETS: usize = 6;

/// The gate's rolling window: `BUCKETS` time buckets of `window / BUCKETS` each.
#[derive(Debug, Clone)]
struct Window {
    origin: Instant,
    /// `(bucket number, good, total)`.
    buckets: [(u64, u64, u64); BUCKETS],
}

impl Window {
    fn new(now: Instant) -> Self {
        Window {
            origin: now,
            buckets: [(u64::MAX, 0, 0); BUCKETS],
        }
    }

    fn bucket_of(&self, now: Instant, window: Duration) -> u64 {
        let len = (window / BUCKETS as u32).max(Duration::from_millis(1));
        (now.saturating_duration_since(self.origin).as_nanos() / len.as_nanos()) as u64
    }

    fn add(&mut self, now: Instant, window: Duration, good: bool) {
        let n = self.bucket_of(now, window);
        let slot = &mut self.buckets[(n % BUCKETS as u64) as usize];
        if slot.0 != n {
            *slot = (n, 0, 0);
        }
        slot.1 += u64::from(good);
        slot.2 += 1;
    }

    fn totals(&self, now: Instant, window: Duration) -> (u64, u64) {
        let n = self.bucket_of(now, window);
        self.buckets
            .iter()
            .filter(|(b, _, _)| *b != u64::MAX && *b + BUCKETS as u64 > n && *b <= n)
            .fold((0, 0), |(g, t), (_, bg, bt)| (g + bg, t + bt))
    }
}

/// What changed, for the experiment to log and re-publish its gate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Change {
    Opened,
    Refused,
    FellBack,
}

/// The fleet-wide gate's source began or ended an outage (no fresh reading), to be logged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Outage {
    Began,
    Ended,
}

/// One answer of the fleet-wide source: the fleet's agreeing and compared calls in the gate
/// window, and when they were read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FleetReading {
    pub(crate) good: u64,
    pub(crate) compared: u64,
    pub(crate) at: Instant,
}

/// What the fleet-wide source knows now.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FleetUpdate {
    /// The last good reading.
    pub(crate) last: Option<FleetReading>,
    /// The last failure since that reading, and when.
    pub(crate) error: Option<(String, Instant)>,
    /// A reading older than this is stale.
    pub(crate) max_age: Duration,
}

/// The fleet-wide source of one experiment's gate.
#[derive(Debug, Clone)]
struct Fleet {
    /// Since when the gate uses it (before the first reading, a grace of `max_age`).
    since: Instant,
    now: FleetUpdate,
    /// An outage was reported (warned once).
    outage: bool,
}

impl Fleet {
    /// The reading's `(good, compared)` if it is fresh, else the age of the last one.
    fn fresh(&self, now: Instant) -> Result<(u64, u64), Option<Duration>> {
        match self.now.last {
            Some(r) if now.saturating_duration_since(r.at) <= self.now.max_age => {
                Ok((r.good.min(r.compared), r.compared))
            }
            Some(r) => Err(Some(now.saturating_duration_since(r.at))),
            None => Err(None),
        }
    }
}

/// One experiment's ramp and gate.
#[derive(Debug, Clone)]
pub(crate) struct Cutover {
    requested: f64,
    criteria: Option<Criteria>,
    status: GateStatus,
    window: Window,
    /// Fell back, and stays so until the ramp is set again.
    latched: bool,
    warned_refused: bool,
    /// The fleet-wide source, when the gate uses it instead of the window.
    fleet: Option<Fleet>,
}

/// Whether an outcome counts for the gate: `Some(true)` good, `Some(false)` bad.
pub(crate) fn gate_sample(o: Outcome) -> Option<bool> {
    match o {
        Outcome::Match | Outcome::Acceptable | Outcome::Ignored | Outcome::Noise => Some(true),
        Outcome::Mismatch | Outcome::CandidatePanic | Outcome::Timeout | Outcome::WriteRefused => {
            Some(false)
        }
        _ => None,
    }
}

impl Cutover {
    pub(crate) fn new(now: Instant) -> Self {
        Cutover {
            requested: 0.0,
            criteria: None,
            status: GateStatus::NoRamp,
            window: Window::new(now),
            latched: false,
            warned_refused: false,
            fleet: None,
        }
    }

    /// The ramp in force: the requested share while the gate is open, else 0.
    pub(crate) fn effective(&self) -> f64 {
        match self.status {
            GateStatus::Open => self.requested,
            _ => 0.0,
        }
    }

    pub(crate) fn requested(&self) -> f64 {
        self.requested
    }

    pub(crate) fn status(&self) -> GateStatus {
        self.status
    }

    pub(crate) fn criteria(&self) -> Option<Criteria> {
        self.criteria
    }

    /// `(good, total)` the gate goes by now: the window's, or the fleet's last reading.
    pub(crate) fn measured(&self, now: Instant) -> (u64, u64) {
        if let Some(f) = &self.fleet {
            return f
                .now
                .last
                .map_or((0, 0), |r| (r.good.min(r.compared), r.compared));
        }
        match self.criteria {
            Some(c) => self.window.totals(now, c.window),
            None => self.window.totals(now, DEFAULT_WINDOW),
        }
    }

    /// Whether the gate goes by the fleet-wide source (`gate_source = "prometheus"` with criteria
    /// declared) instead of the window. The caller then configures or feeds it, which evaluates.
    pub(crate) fn use_fleet(&mut self, on: bool, now: Instant) {
        match (on, self.fleet.is_some()) {
            (true, false) => {
                self.fleet = Some(Fleet {
                    since: now,
                    now: FleetUpdate {
                        last: None,
                        error: None,
                        max_age: Duration::MAX,
                    },
                    outage: false,
                })
            }
            (false, true) => self.fleet = None,
            _ => {}
        }
    }

    /// What the fleet-wide source said last, if the gate uses it.
    pub(crate) fn fleet(&self) -> Option<&FleetUpdate> {
        self.fleet.as_ref().map(|f| &f.now)
    }

    /// The fleet-wide source's news (every timer tick): re-evaluates the gate on it. Returns an
    /// outage that began (no fresh reading, after an error or a grace of `max_age` since the
    /// source was taken up) or ended, and the gate's change.
    pub(crate) fn on_fleet(
        &mut self,
        u: FleetUpdate,
        now: Instant,
    ) -> (Option<Outage>, Option<Change>) {
        let Some(f) = self.fleet.as_mut() else {
            return (None, None);
        };
        f.now = u;
        let fresh = f.fresh(now).is_ok();
        let outage = if !fresh
            && !f.outage
            && (f.now.error.is_some() || now.saturating_duration_since(f.since) > f.now.max_age)
        {
            f.outage = true;
            Some(Outage::Began)
        } else if fresh && f.outage {
            f.outage = false;
            Some(Outage::Ended)
        } else {
            None
        };
        (outage, self.evaluate(now))
    }

    /// The settings changed. `fresh`: the ramp was set explicitly (clears a fall-back).
    pub(crate) fn configure(
        &mut self,
        ramp: f64,
        criteria: Option<Criteria>,
        fresh: bool,
        now: Instant,
    ) -> Option<Change> {
        if fresh || ramp != self.requested {
            self.latched = false;
            self.warned_refused = false;
        }
        self.requested = ramp;
        self.criteria = criteria;
        self.evaluate(now)
    }

    /// Forgets the measurements (a new candidate version was deployed).
    pub(crate) fn reset_window(&mut self, now: Instant) -> Option<Change> {
        self.window = Window::new(now);
        self.latched = false;
        self.warned_refused = false;
        self.evaluate(now)
    }

    /// One compared call.
    pub(crate) fn on_outcome(&mut self, o: Outcome, now: Instant) -> Option<Change> {
        let good = gate_sample(o)?;
        let window = self.criteria.map_or(DEFAULT_WINDOW, |c| c.window);
        self.window.add(now, window, good);
        // The fleet-wide gate goes by its readings, evaluated as they come.
        if self.requested > 0.0 && self.criteria.is_some() && self.fleet.is_none() {
            self.evaluate(now)
        } else {
            None
        }
    }

    fn evaluate(&mut self, now: Instant) -> Option<Change> {
        let before = self.status;
        self.status = if self.requested <= 0.0 {
            GateStatus::NoRamp
        } else if self.latched {
            before
        } else {
            match self.criteria {
                None => GateStatus::Open,
                Some(c) => 'gate: {
                    let (good, total) = match &self.fleet {
                        None => self.window.totals(now, c.window),
                        Some(f) => match f.fresh(now) {
                            Ok(t) => t,
                            Err(age) => break 'gate GateStatus::Unavailable { age },
                        },
                    };
                    let rate = (total > 0).then(|| good as f64 / total as f64);
                    match before {
                        // While ramping, only a measured drop closes the gate (not a window that
                        // emptied out).
                        GateStatus::Open
                            if total >= c.min_samples.max(1)
                                && (good as f64) < c.min_match_rate * total as f64 =>
                        {
                            self.latched = true;
                            GateStatus::FellBack {
                                rate: rate.unwrap_or(0.0),
                                samples: total,
                            }
                        }
                        GateStatus::Open => GateStatus::Open,
                        _ if c.met(good, total) => GateStatus::Open,
                        _ => GateStatus::Refused {
                            rate,
                            samples: total,
                        },
                    }
                }
            }
        };
        match (before, self.status) {
            (GateStatus::Open, GateStatus::Open) => None,
            (_, GateStatus::Open) => Some(Change::Opened),
            (_, GateStatus::FellBack { .. }) if !matches!(before, GateStatus::FellBack { .. }) => {
                Some(Change::FellBack)
            }
            (_, GateStatus::Refused { .. }) if !self.warned_refused => {
                self.warned_refused = true;
                Some(Change::Refused)
            }
            _ => None,
        }
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian), Howard Hinnant's algorithm.
///
/// ```
/// assert_eq!(shadow_runtime::cutover::days_from_civil(1970, 1, 1), 0);
/// assert_eq!(shadow_runtime::cutover::days_from_civil(2000, 3, 1), 11_017);
/// ```
pub const fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    crate::judge::time::days_from_civil(y, m as i64, d as i64)
}

/// Parses `YYYY-MM-DD` into days since 1970-01-01, rejecting dates that do not exist.
///
/// ```
/// assert_eq!(shadow_runtime::cutover::parse_date("2026-12-31"), Ok(20_818));
/// assert!(shadow_runtime::cutover::parse_date("31/12/2026").is_err());
/// ```
pub fn parse_date(s: &str) -> Result<i64, String> {
    let bad = || format!("`{s}` is not a date such as 2026-12-31");
    let mut it = s.trim().splitn(3, '-');
    let (y, m, d) = match (it.next(), it.next(), it.next()) {
        (Some(y), Some(m), Some(d)) if y.len() == 4 && m.len() == 2 && d.len() == 2 => (y, m, d),
        _ => return Err(bad()),
    };
    let num = |t: &str| {
        t.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| t.parse::<u32>().ok())
            .flatten()
    };
    let (Some(y), Some(m), Some(d)) = (num(y), num(m), num(d)) else {
        return Err(bad());
    };
    if !(1..=12).contains(&m) {
        return Err(format!("`{s}`: month {m} does not exist"));
    }
    if d == 0 || i64::from(d) > crate::judge::time::days_in_month(i64::from(y), i64::from(m)) {
        return Err(format!("`{s}`: day {d} does not exist in that month"));
    }
    Ok(days_from_civil(i64::from(y), m, d))
}

/// `YYYY-MM-DD` of a day number.
///
/// ```
/// assert_eq!(shadow_runtime::cutover::format_date(20_818), "2026-12-31");
/// ```
pub fn format_date(days: i64) -> String {
    let (y, m, d) = crate::judge::time::civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Today, in days since 1970-01-01 (UTC).
pub(crate) fn today() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| (d.as_secs() / 86_400) as i64)
}

/// Whether a deadline day is over: the experiment is overdue from the day after.
pub(crate) fn overdue(deadline: Option<i64>, today: i64) -> bool {
    deadline.is_some_and(|d| today > d)
}

#[cfg(test)]
mod tests;
