//! The ramp and gate state machines: the local window, the fleet-wide readings, and dates.

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

fn reading(good: u64, compared: u64, at: Instant) -> FleetUpdate {
    FleetUpdate {
        last: Some(FleetReading { good, compared, at }),
        error: None,
        max_age: Duration::from_secs(3),
    }
}

#[test]
fn the_fleet_reading_opens_refuses_and_falls_back_instead_of_the_window() {
    let t0 = Instant::now();
    let mut c = Cutover::new(t0);
    c.use_fleet(true, t0);
    // Not read yet: unavailable, no warning in the grace period.
    assert_eq!(c.configure(0.5, crit(0.95, 100), true, t0), None);
    assert_eq!(c.status(), GateStatus::Unavailable { age: None });
    // Local results do not count.
    for _ in 0..1000 {
        assert_eq!(c.on_outcome(Outcome::Match, t0), None);
    }
    assert_eq!(
        c.on_fleet(reading(80, 99, t0), t0),
        (None, Some(Change::Refused))
    );
    assert_eq!(
        c.status(),
        GateStatus::Refused {
            rate: Some(80.0 / 99.0),
            samples: 99
        }
    );
    assert_eq!(c.measured(t0), (80, 99));
    assert_eq!(
        c.on_fleet(reading(99, 100, t0), t0),
        (None, Some(Change::Opened))
    );
    assert_eq!(c.effective(), 0.5);
    // A drop measured over the fleet falls back and latches, whatever comes next.
    let t1 = t0 + Duration::from_secs(1);
    assert_eq!(
        c.on_fleet(reading(900, 1000, t1), t1),
        (None, Some(Change::FellBack))
    );
    assert!(matches!(
        c.status(),
        GateStatus::FellBack { samples: 1000, .. }
    ));
    assert_eq!(c.on_fleet(reading(1000, 1000, t1), t1), (None, None));
    assert_eq!(c.effective(), 0.0);
    // Setting the ramp again re-evaluates on the fleet's numbers.
    assert_eq!(
        c.configure(0.5, crit(0.95, 100), true, t1),
        Some(Change::Opened)
    );
    // Back to the local source: the window (1000 matches) decides.
    c.use_fleet(false, t1);
    assert_eq!(c.configure(0.5, crit(0.95, 100), false, t1), None);
    assert_eq!(
        (c.status(), c.measured(t1)),
        (GateStatus::Open, (1000, 1000))
    );
}

#[test]
fn a_stale_or_missing_fleet_reading_refuses_and_reports_one_outage() {
    let t0 = Instant::now();
    let mut c = Cutover::new(t0);
    c.use_fleet(true, t0);
    c.configure(0.2, crit(0.99, 10), true, t0);
    assert_eq!(
        c.on_fleet(reading(10, 10, t0), t0),
        (None, Some(Change::Opened))
    );
    // Older than max_age (3 s): unavailable, whether or not an error was seen.
    let t4 = t0 + Duration::from_secs(4);
    assert_eq!(
        c.on_fleet(reading(10, 10, t0), t4),
        (Some(Outage::Began), None)
    );
    let age = Some(Duration::from_secs(4));
    assert_eq!(
        (c.status(), c.effective()),
        (GateStatus::Unavailable { age }, 0.0)
    );
    let mut failing = reading(10, 10, t0);
    failing.error = Some(("connection refused".into(), t4));
    assert_eq!(c.on_fleet(failing.clone(), t4), (None, None));
    assert_eq!(
        c.fleet().unwrap().error.as_ref().unwrap().0,
        "connection refused"
    );
    // A fresh reading ends the outage and reopens by itself (not latched).
    assert_eq!(
        c.on_fleet(reading(10, 10, t4), t4),
        (Some(Outage::Ended), Some(Change::Opened))
    );
    // One failed refresh with a reading still fresh: still open, no outage.
    let t5 = t4 + Duration::from_secs(1);
    failing.last = Some(FleetReading {
        good: 10,
        compared: 10,
        at: t4,
    });
    assert_eq!(c.on_fleet(failing.clone(), t5), (None, None));
    assert_eq!(c.status(), GateStatus::Open);
    // Never read and the server fails at once: the outage begins without waiting.
    let mut d = Cutover::new(t0);
    d.use_fleet(true, t0);
    d.configure(0.2, crit(0.99, 10), true, t0);
    failing.last = None;
    assert_eq!(d.on_fleet(failing, t0), (Some(Outage::Began), None));
    // Never read, no error: the outage begins after max_age.
    let mut e = Cutover::new(t0);
    e.use_fleet(true, t0);
    let none = FleetUpdate {
        last: None,
        error: None,
        max_age: Duration::from_secs(3),
    };
    assert_eq!(
        e.on_fleet(none.clone(), t0 + Duration::from_secs(2)),
        (None, None)
    );
    assert_eq!(e.on_fleet(none, t4), (Some(Outage::Began), None));
    assert_eq!(e.status(), GateStatus::NoRamp);
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
