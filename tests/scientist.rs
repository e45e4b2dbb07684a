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
