//! Production discrepancies become regression tests: `record_inputs = true` writes each
//! discrepancy's arguments into the discrepancy log, and `testing::replay` runs them again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parallel_run::parallel_run;
use parallel_run::publish::{add_publisher, JsonLinesLog};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Currency {
    Eur,
    Jpy,
}

static BUG: AtomicBool = AtomicBool::new(true);

#[parallel_run(candidate = minor_units_v2, record_inputs = true, name = "replay::minor_units")]
fn minor_units(amount: &str, currency: Currency) -> Option<u64> {
    let (whole, frac) = amount.split_once('.').unwrap_or((amount, ""));
    let digits = if currency == Currency::Jpy { 0 } else { 2 };
    let frac: String = frac
        .chars()
        .chain(std::iter::repeat('0'))
        .take(digits)
        .collect();
    format!("{whole}{frac}").parse().ok()
}

fn minor_units_v2(amount: &str, currency: Currency) -> Option<u64> {
    // The rewrite goes through f64: exact for most amounts, off by one cent for some, and it
    // forgets that the yen has no minor unit (until fixed).
    let v: f64 = amount.parse().ok()?;
    let scale = if currency == Currency::Jpy && !BUG.load(Ordering::SeqCst) {
        1.0
    } else {
        100.0
    };
    let exact = if BUG.load(Ordering::SeqCst) {
        (v * scale) as u64
    } else {
        (v * scale).round() as u64
    };
    Some(exact)
}

#[test]
fn recorded_discrepancies_replay_until_the_fix_makes_them_agree() {
    let dir = std::env::temp_dir().join(format!("pr-replay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("discrepancies.jsonl");
    let log = JsonLinesLog::open(&path).unwrap();
    add_publisher(log.clone());

    // "Production": some amounts disagree.
    let traffic = [
        ("10.00", Currency::Eur),
        ("0.29", Currency::Eur),  // 0.29 * 100 = 28.999999999999996
        ("19.99", Currency::Eur), // 1998.9999999999998
        ("500", Currency::Jpy),
        ("1.15", Currency::Eur), // 114.99999999999999
    ];
    for (a, c) in &traffic {
        minor_units(a, c.clone());
    }
    assert!(parallel_run::wait_idle(Duration::from_secs(10)));
    log.flush();
    let text = std::fs::read_to_string(&path).unwrap();
    let recorded: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["kind"] == "discrepancy")
        .collect();
    assert_eq!(recorded.len(), 4, "{text}");
    assert!(recorded
        .iter()
        .any(|v| v["inputs"] == serde_json::json!(["500", "Jpy"])));

    // The production log, copied into the tests (this process's log keeps recording, and the
    // replay's own runs would land in it).
    let fixture = dir.join("fixture.jsonl");
    std::fs::copy(&path, &fixture).unwrap();
    let path = fixture;

    // Before the fix, the replay reproduces every recorded discrepancy.
    let replay = |path: &std::path::Path| {
        parallel_run::testing::replay(
            path,
            "replay::minor_units",
            |(a, c): &(String, Currency)| minor_units(a, c.clone()),
        )
    };
    let before = replay(&path);
    assert_eq!((before.recorded, before.report.compared), (4, 4));
    assert_eq!(before.report.failures.len(), 4);
    assert!(before
        .report
        .failures
        .iter()
        .any(|f| f.input.contains("0.29") && f.message.contains("28")));
    assert!(std::panic::catch_unwind(|| before.assert_all_match()).is_err());

    // The fix: the same recorded inputs now agree, and the replay passes.
    BUG.store(false, Ordering::SeqCst);
    let after = replay(&path);
    assert_eq!(after.report.compared, 4);
    after.assert_all_match();

    // A damaged line is reported with its line number, never a crash.
    std::fs::write(
        dir.join("broken.jsonl"),
        format!("{}\n{{oops\n", text.lines().next().unwrap()),
    )
    .unwrap();
    let broken = replay(&dir.join("broken.jsonl"));
    assert_eq!(broken.unreadable.len(), 1);
    assert!(
        broken.unreadable[0].contains("broken.jsonl:2: not JSON"),
        "{:?}",
        broken.unreadable
    );
    let _ = std::fs::remove_dir_all(&dir);
}
