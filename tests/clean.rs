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

// ------------------------------------------------ redaction by default: #[shadow(sensitive)]

#[derive(Debug, Clone, PartialEq, parallel_run::ShadowCompare)]
pub struct Payout {
    #[shadow(sensitive)]
    iban: String,
    cents: u64,
}

const IBAN: &str = "DE89370400440532013000";

#[parallel_run(candidate = payout_v2, compare = parallel_run::typed::Typed, name = "clean::payout")]
fn payout(cents: u64) -> Payout {
    Payout {
        iban: IBAN.into(),
        cents,
    }
}

fn payout_v2(cents: u64) -> Payout {
    Payout {
        iban: IBAN.replace("DE89", "DE00"),
        cents: cents + 1,
    }
}

#[test]
fn a_sensitive_field_is_masked_in_every_record_without_a_clean_function() {
    let logs = common::capture();
    let dir = std::env::temp_dir().join(format!("pr-clean-sensitive-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = parallel_run::publish::JsonLinesLog::open(dir.join("d.jsonl")).unwrap();
    parallel_run::publish::add_publisher(log.clone());
    assert_eq!(payout(100).iban, IBAN, "the caller gets the raw value");
    assert!(parallel_run::wait_idle(Duration::from_secs(10)));
    log.flush();
    let s = parallel_run::snapshot::experiment("clean::payout").unwrap();
    assert_eq!(s.counts.get(Outcome::Mismatch), 1);
    let d = &s.discrepancies[0];
    assert!(
        d.detail.contains(r#"$.iban: "***" -> "***""#),
        "{}",
        d.detail
    );
    assert!(d.detail.contains("$.cents: 100 -> 101"));
    let everything = format!(
        "{} {:?} {:?} {} {:?}",
        d.detail,
        d.primary,
        d.candidate,
        std::fs::read_to_string(dir.join("d.jsonl")).unwrap(),
        logs.events()
    );
    assert!(d.primary.as_deref().unwrap().contains(r#""iban": "***""#));
    for raw in [IBAN, "DE00370400440532013000", "0532013000"] {
        assert!(!everything.contains(raw), "{raw} leaked");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
