//! Cleaning before publishing (Scientist's `clean`): a raw sensitive value never reaches a log
//! line, a discrepancy record, the discrepancy log or a strict-mode message.

mod common;

use std::time::Duration;

use parallel_run::structural::Structural;
use parallel_run::{parallel_run, Outcome};
use serde::Serialize;

const PAN: &str = "4111111111111111";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Charge {
    card: String,
    email: String,
    cents: u64,
}

fn masked(c: &Charge) -> String {
    format!(
        "Charge {{ card: ****{}, email: <redacted>, cents: {} }}",
        &c.card[c.card.len() - 4..],
        c.cents
    )
}

fn charge_legacy(cents: u64) -> Charge {
    Charge {
        card: PAN.into(),
        email: "jane@example.com".into(),
        cents,
    }
}

#[parallel_run(candidate = charge_v2, mode = inline, clean = masked)]
fn charge(cents: u64) -> Charge {
    charge_legacy(cents)
}

fn charge_v2(cents: u64) -> Charge {
    Charge {
        cents: cents + 1,
        ..charge_legacy(cents)
    }
}

#[parallel_run(
    candidate = charge_v2,
    mode = inline,
    compare = Structural::new().redact("$.card").redact("$.email"),
    clean = masked
)]
fn charge_structural(cents: u64) -> Charge {
    charge_legacy(cents)
}

fn panicking_clean(_: &Charge) -> String {
    panic!("cleaner bug")
}

#[parallel_run(candidate = charge_v2, mode = inline, clean = panicking_clean)]
fn charge_bad_clean(cents: u64) -> Charge {
    charge_legacy(cents)
}

#[test]
fn raw_values_never_leave_the_call() {
    let cap = common::capture();
    let dir = std::env::temp_dir().join(format!("parallel-run-clean-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("log.jsonl");
    let _ = std::fs::remove_file(&path);
    let log = parallel_run::publish::JsonLinesLog::open(&path).unwrap();
    parallel_run::publish::add_publisher(log.clone());

    assert_eq!(charge(100), charge_legacy(100));
    assert_eq!(charge_structural(100), charge_legacy(100));
    assert_eq!(charge_bad_clean(100), charge_legacy(100));
    parallel_run::live::set_strict("clean::charge", Some(true)).unwrap();
    let strict = std::panic::catch_unwind(|| charge(7)).unwrap_err();
    let strict = strict.downcast_ref::<String>().unwrap().clone();
    assert!(parallel_run::wait_idle(Duration::from_secs(10)));
    log.flush();

    let mut everything = vec![strict];
    for name in [
        "clean::charge",
        "clean::charge_structural",
        "clean::charge_bad_clean",
    ] {
        let s = parallel_run::snapshot::experiment(name).unwrap();
        assert!(s.counts.get(Outcome::Mismatch) >= 1, "{name}");
        for d in &s.discrepancies {
            everything.push(format!("{d:?}"));
        }
    }
    everything.extend(cap.events().into_iter().map(|e| e.text));
    everything.push(std::fs::read_to_string(&path).unwrap());
    let all = everything.join("\n");
    assert!(!all.contains(PAN), "the card number leaked:\n{all}");
    assert!(
        !all.contains("jane@example.com"),
        "the email leaked:\n{all}"
    );
    // What is shown instead.
    assert!(all.contains("****1111"));
    assert!(
        all.contains("$.cents: 100 -> 101"),
        "the structural diff is there"
    );
    assert!(all.contains("(clean failed)"));
    let bad = parallel_run::snapshot::experiment("clean::charge_bad_clean").unwrap();
    assert!(bad
        .internal_errors
        .iter()
        .any(|(h, n)| *h == "clean" && *n >= 1));
    let _ = std::fs::remove_dir_all(&dir);
}
