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
}

impl GateStatus {
    /// `"no_ramp"`, `"open"`, `"refused"` or `"fell_back"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            GateStatus::NoRamp => "no_ramp",
            GateStatus::Open => "open",
            GateStatus::Refused { .. } => "refused",
            GateStatus::FellBack { .. } => "fell_back",
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

    /// `(good, total)` in the window now.
    pub(crate) fn measured(&self, now: Instant) -> (u64, u64) {
        match self.criteria {
            Some(c) => self.window.totals(now, c.window),
            None => self.window.totals(now, DEFAULT_WINDOW),
        }
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
        if self.requested > 0.0 && self.criteria.is_some() {
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
                Some(c) => {
                    let (good, total) = self.window.totals(now, c.window);
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
mod tests {
    use super::*;

    fn crit(rate: f64, n: u64) -> Option<Criteria> {
        Some(Criteria {
            min_match_rate: rate,
            min_samples: n,
            window: Duration::from_secs(60),
        })
    }

    #[test]
    fn no_criteria_means_the_ramp_applies_at_once() {
        let now = Instant::now();
        let mut c = Cutover::new(now);
        assert_eq!(c.configure(0.1, None, true, now), Some(Change::Opened));
        assert_eq!(c.effective(), 0.1);
        assert_eq!(c.configure(0.0, None, true, now), None);
        assert_eq!(c.status(), GateStatus::NoRamp);
    }

    #[test]
    fn refused_until_met_then_open_then_falls_back_and_latches() {
        let now = Instant::now();
        let mut c = Cutover::new(now);
        for _ in 0..90 {
            c.on_outcome(Outcome::Match, now);
        }
        for _ in 0..10 {
            c.on_outcome(Outcome::Mismatch, now);
        }
        assert_eq!(
            c.configure(0.5, crit(0.95, 100), true, now),
            Some(Change::Refused)
        );
        assert_eq!(c.effective(), 0.0);
        assert!(matches!(
            c.status(),
            GateStatus::Refused { samples: 100, .. }
        ));
        // Warned once: a second evaluation says nothing new.
        assert_eq!(c.on_outcome(Outcome::Mismatch, now), None);
        // A new version: fresh window, good results open the gate.
        c.reset_window(now);
        let mut opened = None;
        for _ in 0..100 {
            opened = opened.or(c.on_outcome(Outcome::Match, now));
        }
        assert_eq!(opened, Some(Change::Opened));
        assert_eq!(c.effective(), 0.5);
        // Mismatches while ramping: falls back, and stays there.
        let mut fell = None;
        for _ in 0..10 {
            fell = fell.or(c.on_outcome(Outcome::Mismatch, now));
        }
        assert_eq!(fell, Some(Change::FellBack));
        assert_eq!(c.effective(), 0.0);
        for _ in 0..1000 {
            c.on_outcome(Outcome::Match, now);
        }
        assert!(matches!(c.status(), GateStatus::FellBack { .. }));
        // Setting the ramp again re-evaluates (the rate is back above 95%).
        assert_eq!(
            c.configure(0.5, crit(0.95, 100), true, now),
            Some(Change::Opened)
        );
    }

    #[test]
    fn the_window_forgets_old_buckets() {
        let t0 = Instant::now();
        let mut c = Cutover::new(t0);
        c.configure(0.1, crit(0.99, 10), true, t0);
        for _ in 0..10 {
            c.on_outcome(Outcome::Mismatch, t0);
        }
        assert_eq!(c.measured(t0), (0, 10));
        let later = t0 + Duration::from_secs(61);
        assert_eq!(c.measured(later), (0, 0));
        for _ in 0..10 {
            c.on_outcome(Outcome::Match, later);
        }
        assert_eq!(c.status(), GateStatus::Open);
    }

    #[test]
    fn dates_round_trip_and_overdue_starts_the_next_day() {
        for s in [
            "1970-01-01",
            "2000-02-29",
            "2026-12-31",
            "2400-02-29",
            "1969-12-31",
        ] {
            assert_eq!(format_date(parse_date(s).unwrap()), s);
        }
        assert!(parse_date("2100-02-29").is_err());
        assert!(parse_date("2026-13-01").is_err());
        assert!(parse_date("2026-1-01").is_err());
        let d = parse_date("2026-12-31").unwrap();
        assert!(!overdue(Some(d), d));
        assert!(overdue(Some(d), d + 1));
        assert!(!overdue(None, d + 1));
    }
}
