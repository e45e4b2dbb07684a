//! `compare = SomeComparator` (a unit struct), `compare = |a, b| ...` closures returning `bool`
//! and `Verdict`, in detached and inline modes, on a result type that is not `PartialEq`.

use std::time::Duration;

use parallel_run::{parallel_run, Comparator, Outcome, Verdict};

#[derive(Debug, Clone)]
pub struct Quote {
    cents: i64,
    at_ms: u64,
}

pub struct QuoteComparator;

impl Comparator<Quote> for QuoteComparator {
    fn compare(&self, primary: &Quote, candidate: &Quote) -> Verdict {
        if primary.cents != candidate.cents {
            return Verdict::mismatch(format!("cents: {} vs {}", primary.cents, candidate.cents));
        }
        if primary.at_ms != candidate.at_ms {
            return Verdict::acceptable("timestamps differ");
        }
        Verdict::Match
    }
}

#[parallel_run(candidate = quote_v2, compare = QuoteComparator, name = "ui::quote")]
fn quote(cents: i64) -> Quote {
    Quote { cents, at_ms: 1 }
}

fn quote_v2(cents: i64) -> Quote {
    Quote { cents, at_ms: 2 }
}

#[parallel_run(candidate = quote_v2, compare = |a, b| a.cents == b.cents, name = "ui::quote_bool")]
fn quote_bool(cents: i64) -> Quote {
    Quote { cents, at_ms: 1 }
}

#[parallel_run(
    candidate = quote_v2,
    mode = inline,
    compare = |a: &Quote, b: &Quote| if a.cents == b.cents { Verdict::Match } else { Verdict::mismatch("cents") },
    name = "ui::quote_verdict",
)]
fn quote_verdict(cents: i64) -> Quote {
    Quote { cents: cents + 1, at_ms: 1 }
}

fn main() {
    assert_eq!(quote(5).cents, 5);
    assert_eq!(quote_bool(5).cents, 5);
    assert_eq!(quote_verdict(5).cents, 6);

    assert!(parallel_run::wait_idle(Duration::from_secs(10)));
    let get = |name: &str, o: Outcome| parallel_run::snapshot::experiment(name).unwrap().counts.get(o);
    assert_eq!(get("ui::quote", Outcome::Acceptable), 1);
    assert_eq!(get("ui::quote_bool", Outcome::Match), 1);
    assert_eq!(get("ui::quote_verdict", Outcome::Mismatch), 1);
}
