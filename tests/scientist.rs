//! Scientist parity: `ignore` rules.

mod common;

use std::time::Duration;

use parallel_run::{parallel_run, Outcome};

fn settled(name: &str) -> parallel_run::ExperimentSnapshot {
    assert!(parallel_run::wait_idle(Duration::from_secs(20)));
    let s = parallel_run::snapshot::experiment(name).unwrap();
    assert_eq!(s.lost(), 0, "{s:?}");
    s
}

#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    cents: i64,
    note: String,
}

fn notes_differ(p: &Quote, c: &Quote) -> bool {
    p.cents == c.cents && p.note != c.note
}

fn panicking_rule(p: &Quote, _: &Quote) -> bool {
    if p.cents == 13 {
        panic!("rule bug");
    }
    false
}

#[parallel_run(
    candidate = quote_v2,
    mode = inline,
    ignore = [panicking_rule, notes_differ, |p: &Quote, c: &Quote| (p.cents - c.cents).abs() == 1000]
)]
fn quote(cents: i64) -> Quote {
    Quote {
        cents,
        note: "legacy".into(),
    }
}

fn quote_v2(cents: i64) -> Quote {
    match cents {
        1 => Quote {
            cents,
            note: "rewrite".into(),
        }, // ignored by notes_differ
        2 => Quote {
            cents: 1002,
            note: "legacy".into(),
        }, // ignored by the closure
        13 => Quote {
            cents: 14,
            note: "legacy".into(),
        }, // the first rule panics: still a mismatch
        3 => Quote {
            cents: 4,
            note: "legacy".into(),
        }, // a real mismatch
        _ => Quote {
            cents,
            note: "legacy".into(),
        },
    }
}

#[test]
fn ignore_rules_turn_known_differences_into_their_own_outcome() {
    let cap = common::capture();
    for c in [0, 1, 2, 3, 13] {
        assert_eq!(
            quote(c),
            Quote {
                cents: c,
                note: "legacy".into()
            }
        );
    }
    let s = settled("scientist::quote");
    assert_eq!(s.counts.get(Outcome::Match), 1);
    assert_eq!(s.counts.get(Outcome::Ignored), 2);
    assert_eq!(s.counts.get(Outcome::Mismatch), 2);
    // Ignored differences are neither matches nor mismatches in the rate.
    assert_eq!(s.match_rate(), Some(1.0 / 3.0));
    // The panicking rule was reported, with the helper it came from, and counted as "no".
    let reports: Vec<_> = cap
        .events()
        .into_iter()
        .filter(|e| e.text.contains("helper=ignore") && e.text.contains("rule bug"))
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
}

// ---------------------------------------------------------------- comparing failures

#[derive(Debug, Clone, PartialEq)]
pub enum PayError {
    Declined(String),
    Timeout(u32),
}

/// A comparator that says yes to everything: the Ok-vs-Err rule must still win.
#[parallel_run(candidate = lax_v2, mode = inline, compare = |_: &Result<u32, PayError>, _: &Result<u32, PayError>| true)]
fn lax(x: u32) -> Result<u32, PayError> {
    if x == 0 {
        Err(PayError::Declined("zero".into()))
    } else {
        Ok(x)
    }
}

fn lax_v2(x: u32) -> Result<u32, PayError> {
    if x == 1 {
        Err(PayError::Timeout(5))
    } else {
        Ok(x)
    }
}

#[test]
fn one_side_failing_is_always_a_mismatch() {
    assert_eq!(lax(1), Ok(1)); // candidate Err, primary Ok
    assert_eq!(lax(0), Err(PayError::Declined("zero".into()))); // primary Err, candidate Ok
    assert_eq!(lax(2), Ok(2));
    let s = settled("scientist::lax");
    assert_eq!(s.counts.get(Outcome::Mismatch), 2);
    assert_eq!(s.counts.get(Outcome::Match), 1);
    let details: Vec<&str> = s.discrepancies.iter().map(|d| d.detail.as_str()).collect();
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("the candidate returned Err, the primary Ok")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("the primary returned Err, the candidate Ok")),
        "{details:?}"
    );
}

fn pay_v2(x: u32) -> Result<u32, PayError> {
    match x {
        0 => Err(PayError::Declined("different words".into())),
        1 => Err(PayError::Declined("different words".into())),
        _ => Ok(x),
    }
}

fn pay_legacy(x: u32) -> Result<u32, PayError> {
    match x {
        0 => Err(PayError::Declined("insufficient funds".into())),
        1 => Err(PayError::Timeout(30)),
        _ => Ok(x),
    }
}

#[parallel_run(candidate = pay_v2, mode = inline)]
fn pay_compare(x: u32) -> Result<u32, PayError> {
    pay_legacy(x)
}

#[parallel_run(candidate = pay_v2, mode = inline, errors = variant)]
fn pay_variant(x: u32) -> Result<u32, PayError> {
    pay_legacy(x)
}

#[parallel_run(candidate = pay_v2, mode = inline, errors = match)]
fn pay_match(x: u32) -> Result<u32, PayError> {
    pay_legacy(x)
}

#[test]
fn the_error_policy_decides_how_two_errors_compare() {
    for x in 0..3 {
        assert_eq!(pay_compare(x), pay_legacy(x));
        assert_eq!(pay_variant(x), pay_legacy(x));
        assert_eq!(pay_match(x), pay_legacy(x));
    }
    let count = |n: &str| {
        let s = settled(n);
        (
            s.counts.get(Outcome::Match),
            s.counts.get(Outcome::Mismatch),
        )
    };
    // compare (default): both error pairs differ in their values.
    assert_eq!(count("scientist::pay_compare"), (1, 2));
    // variant: Declined vs Declined agrees, Timeout vs Declined does not.
    assert_eq!(count("scientist::pay_variant"), (2, 1));
    // match: any two errors agree.
    assert_eq!(count("scientist::pay_match"), (3, 0));
}
