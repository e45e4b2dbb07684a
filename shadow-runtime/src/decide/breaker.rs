//! The circuit breaker: when an experiment's candidate keeps failing (panics, timeouts, `Err`
//! where the primary returned `Ok`), stop shadowing it for a cool-down, then let a few probe calls
//! through before closing again.
//!
//! ```text
//! Closed --(failures / judged >= ratio over a window, at least min_calls judged)--> Open
//! Open --(cool-down elapsed; the timer thread checks every 250 ms)--> HalfOpen (probes)
//! HalfOpen --(every probe succeeded)--> Closed      HalfOpen --(a probe failed)--> Open
//! ```
//!
//! The decision runs off the caller's path, on the runtime's timer thread: a judged call only
//! counts its outcome (per thread, no lock), and every 250 ms the timer feeds the breaker the runs
//! judged since the last tick. The caller's path only sees the experiment's gate word, which reads
//! "open" while the breaker is not closed.

use std::time::{Duration, Instant};

use crate::record::outcome::Outcome;

/// The outcomes of a candidate run the breaker judges (each a success or a failure).
pub(crate) const JUDGED: [Outcome; 7] = [
    Outcome::Match,
    Outcome::Acceptable,
    Outcome::Ignored,
    Outcome::Noise,
    Outcome::Mismatch,
    Outcome::CandidatePanic,
    Outcome::Timeout,
];

/// Circuit breaker thresholds of one experiment.
///
/// ```
/// let b = shadow_runtime::BreakerConfig::default();
/// assert_eq!((b.min_calls, b.failure_ratio), (20, 0.5));
/// assert_eq!(b.cooldown, std::time::Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    /// Whether the breaker may open at all.
    pub enabled: bool,
    /// The length of the window failures are counted over.
    pub window: Duration,
    /// Judged candidate runs needed in a window before the breaker may open.
    pub min_calls: u32,
    /// Failures over judged runs in the window at which the breaker opens (`0.0..=1.0`).
    pub failure_ratio: f64,
    /// How long the breaker stays open before probing.
    pub cooldown: Duration,
    /// Probe calls let through when half-open; all must succeed to close.
    pub probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            enabled: true,
            window: Duration::from_secs(10),
            min_calls: 20,
            failure_ratio: 0.5,
            cooldown: Duration::from_secs(30),
            probes: 5,
        }
    }
}

/// The breaker's state, as the snapshot shows it.
///
/// ```
/// assert_eq!(shadow_runtime::BreakerState::Closed.as_str(), "closed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Shadowing runs.
    Closed,
    /// Shadowing is stopped; calls count as `circuit_open`.
    Open,
    /// A few probe calls are shadowed to test the candidate again.
    HalfOpen,
}

impl BreakerState {
    /// `"closed"`, `"open"` or `"half_open"`.
    ///
    /// ```
    /// assert_eq!(shadow_runtime::BreakerState::HalfOpen.as_str(), "half_open");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// What the owner must do after feeding a result or a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// Stop shadowing.
    Open,
    /// Let `n` probes through.
    HalfOpen(u32),
    /// Resume shadowing.
    Close,
}

#[derive(Debug)]
pub(crate) struct Breaker {
    /// The thresholds in force (a copy of the experiment's setting, kept here so that feeding a
    /// result takes one lock).
    pub(crate) cfg: BreakerConfig,
    pub(crate) state: BreakerState,
    window_start: Instant,
    judged: u32,
    failures: u32,
    open_until: Instant,
    probe_successes: u32,
    pub(crate) trips: u64,
}

impl Breaker {
    pub(crate) fn new(now: Instant) -> Self {
        Breaker {
            cfg: BreakerConfig::default(),
            state: BreakerState::Closed,
            window_start: now,
            judged: 0,
            failures: 0,
            open_until: now,
            probe_successes: 0,
            trips: 0,
        }
    }

    /// Feeds one judged candidate run.
    pub(crate) fn on_result(&mut self, failure: bool, now: Instant) -> Option<Transition> {
        self.on_results(1, u64::from(failure), now)
    }

    /// Feeds `judged` candidate runs, `failures` of which failed (the runs since the last feed;
    /// the runtime feeds the breaker at each tick of its timer).
    pub(crate) fn on_results(
        &mut self,
        judged: u64,
        failures: u64,
        now: Instant,
    ) -> Option<Transition> {
        let cfg = self.cfg;
        let cfg = &cfg;
        let judged = u32::try_from(judged.max(failures)).unwrap_or(u32::MAX);
        let failures = u32::try_from(failures).unwrap_or(u32::MAX);
        match self.state {
            BreakerState::Closed => {
                if !cfg.enabled {
                    return None;
                }
                if now.duration_since(self.window_start) >= cfg.window {
                    self.window_start = now;
                    self.judged = 0;
                    self.failures = 0;
                }
                self.judged = self.judged.saturating_add(judged);
                self.failures = self.failures.saturating_add(failures);
                if self.judged >= cfg.min_calls.max(1)
                    && f64::from(self.failures) >= cfg.failure_ratio * f64::from(self.judged)
                {
                    return Some(self.open(cfg, now));
                }
                None
            }
            BreakerState::HalfOpen if failures > 0 => Some(self.open(cfg, now)),
            BreakerState::HalfOpen => {
                self.probe_successes = self.probe_successes.saturating_add(judged);
                if self.probe_successes >= cfg.probes.max(1) {
                    self.state = BreakerState::Closed;
                    self.window_start = now;
                    self.judged = 0;
                    self.failures = 0;
                    return Some(Transition::Close);
                }
                None
            }
            // Late results of calls started before the breaker opened.
            BreakerState::Open => None,
        }
    }

    /// Called periodically: an open breaker whose cool-down has elapsed half-opens.
    pub(crate) fn on_tick(&mut self, now: Instant) -> Option<Transition> {
        let cfg = self.cfg;
        let cfg = &cfg;
        if self.state == BreakerState::Open && now >= self.open_until {
            if !cfg.enabled {
                self.state = BreakerState::Closed;
                return Some(Transition::Close);
            }
            self.state = BreakerState::HalfOpen;
            self.probe_successes = 0;
            return Some(Transition::HalfOpen(cfg.probes.max(1)));
        }
        None
    }

    /// Opens the breaker now, whatever the counts say (every slot is held by hung candidates).
    pub(crate) fn force_open(&mut self, now: Instant) -> Option<Transition> {
        let cfg = self.cfg;
        (cfg.enabled && self.state != BreakerState::Open).then(|| self.open(&cfg, now))
    }

    fn open(&mut self, cfg: &BreakerConfig, now: Instant) -> Transition {
        self.state = BreakerState::Open;
        self.open_until = now + cfg.cooldown;
        self.trips += 1;
        Transition::Open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BreakerConfig {
        BreakerConfig {
            enabled: true,
            window: Duration::from_secs(10),
            min_calls: 4,
            failure_ratio: 0.5,
            cooldown: Duration::from_secs(5),
            probes: 2,
        }
    }

    #[test]
    fn opens_at_the_ratio_after_min_calls_then_half_opens_and_closes() {
        let c = cfg();
        let t0 = Instant::now();
        let mut b = Breaker::new(t0);
        b.cfg = c;
        assert_eq!(b.on_result(true, t0), None);
        assert_eq!(b.on_result(true, t0), None); // 2 of 2, but fewer than min_calls
        assert_eq!(b.on_result(false, t0), None);
        assert_eq!(b.on_result(false, t0), Some(Transition::Open)); // 2 of 4 = 0.5
        assert_eq!(b.state, BreakerState::Open);
        assert_eq!(b.on_tick(t0 + Duration::from_secs(4)), None);
        assert_eq!(
            b.on_tick(t0 + Duration::from_secs(5)),
            Some(Transition::HalfOpen(2))
        );
        assert_eq!(b.on_result(false, t0), None);
        assert_eq!(b.on_result(false, t0), Some(Transition::Close));
        assert_eq!(b.state, BreakerState::Closed);
        assert_eq!(b.trips, 1);
    }

    #[test]
    fn a_failed_probe_reopens() {
        let c = cfg();
        let t0 = Instant::now();
        let mut b = Breaker::new(t0);
        b.cfg = c;
        for _ in 0..4 {
            b.on_result(true, t0);
        }
        b.on_tick(t0 + Duration::from_secs(6));
        assert_eq!(b.state, BreakerState::HalfOpen);
        assert_eq!(
            b.on_result(true, t0 + Duration::from_secs(6)),
            Some(Transition::Open)
        );
        assert_eq!(b.trips, 2);
    }

    #[test]
    fn failures_in_an_old_window_are_forgotten() {
        let c = cfg();
        let t0 = Instant::now();
        let mut b = Breaker::new(t0);
        b.cfg = c;
        for _ in 0..3 {
            b.on_result(true, t0);
        }
        // The window rolled over: these 4 successes start a fresh count.
        let later = t0 + Duration::from_secs(11);
        for _ in 0..4 {
            assert_eq!(b.on_result(false, later), None);
        }
        assert_eq!(b.state, BreakerState::Closed);
    }

    #[test]
    fn disabled_never_opens() {
        let c = BreakerConfig {
            enabled: false,
            ..cfg()
        };
        let t0 = Instant::now();
        let mut b = Breaker::new(t0);
        b.cfg = c;
        for _ in 0..100 {
            assert_eq!(b.on_result(true, t0), None);
        }
    }
}
