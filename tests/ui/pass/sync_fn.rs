//! Free sync functions in the default (detached) mode: by-value, `&T`, `&str` and `&[T]`
//! arguments, `Result` and `()` returns, `name`, `sample`, and a `module::v2` candidate path.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use parallel_run::{parallel_run, Outcome};

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    cents: u64,
}

#[parallel_run(candidate = total_v2, name = "ui::total")]
fn total(items: &[Item], currency: &str, discount: u64, rate: &f64) -> u64 {
    let _ = currency;
    let sum: u64 = items.iter().map(|i| i.cents).sum();
    ((sum - discount) as f64 * rate) as u64
}

fn total_v2(items: &[Item], currency: &str, discount: u64, rate: &f64) -> u64 {
    let _ = (currency, rate);
    items.iter().map(|i| i.cents).sum::<u64>() - discount + 1 // always one cent off
}

mod parsing {
    pub fn parse_v2(s: &str) -> Result<u32, String> {
        s.trim().parse().map_err(|_| format!("not a number: {s:?}"))
    }
}

#[parallel_run(candidate = parsing::parse_v2, name = "ui::parse")]
fn parse(s: &str) -> Result<u32, String> {
    let n: u32 = s.trim().parse().map_err(|_| format!("not a number: {s:?}"))?;
    Ok(n)
}

static LOGGED: AtomicU32 = AtomicU32::new(0);

#[parallel_run(candidate = log_v2, name = "ui::log")]
fn log(line: String) {
    let _ = line;
    LOGGED.fetch_add(1, Ordering::SeqCst);
}

fn log_v2(line: String) {
    let _ = line;
}

#[parallel_run(candidate = double_v2, sample = 0.25, name = "ui::sampled")]
fn double(x: u64) -> u64 {
    x * 2
}

fn double_v2(x: u64) -> u64 {
    x << 1
}

fn main() {
    let items = vec![Item { cents: 100 }, Item { cents: 250 }];
    assert_eq!(total(&items, "EUR", 50, &1.0), 300);

    assert_eq!(parse(" 42 "), Ok(42));
    assert_eq!(parse("x"), Err("not a number: \"x\"".to_owned()));

    log("hello".to_owned());
    assert_eq!(LOGGED.load(Ordering::SeqCst), 1);

    for i in 0..1_000 {
        assert_eq!(double(i), i * 2);
    }

    assert!(parallel_run::wait_idle(Duration::from_secs(10)));
    let s = parallel_run::snapshot::experiment("ui::total").unwrap();
    assert_eq!(s.counts.get(Outcome::Mismatch), 1);
    let s = parallel_run::snapshot::experiment("ui::parse").unwrap();
    assert_eq!(s.counts.get(Outcome::Match), 2);
    let s = parallel_run::snapshot::experiment("ui::log").unwrap();
    assert_eq!(s.counts.get(Outcome::Match), 1);
    let s = parallel_run::snapshot::experiment("ui::sampled").unwrap();
    let shadowed = s.counts.get(Outcome::Match);
    assert!(shadowed > 0 && shadowed < 1_000, "shadowed {shadowed} of 1000");
}
