//! The JSON-lines discrepancy log and the `Publisher` trait.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parallel_run::publish::{add_publisher, JsonLinesLog, Publisher};
use parallel_run::{parallel_run, Discrepancy};

#[parallel_run(candidate = price_v2, context = { "sku": sku })]
fn price(sku: &str, cents: u64) -> u64 {
    cents
}

fn price_v2(sku: &str, cents: u64) -> u64 {
    if sku.starts_with("promo") {
        cents - 1
    } else {
        cents
    }
}

struct Panicky;
impl Publisher for Panicky {
    fn publish(&self, _: &Discrepancy) {
        panic!("publisher bug");
    }
}

struct Counting(Arc<AtomicU64>);
impl Publisher for Counting {
    fn publish(&self, _: &Discrepancy) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn mismatches_become_json_lines_and_rotate() {
    let dir = std::env::temp_dir().join(format!("parallel-run-log-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("discrepancies.jsonl");
    let log = JsonLinesLog::open(&path).unwrap().max_bytes(2_000);
    add_publisher(log.clone());
    add_publisher(Panicky); // caught, reported, the others still publish
    let counted = Arc::new(AtomicU64::new(0));
    add_publisher(Counting(counted.clone()));

    for i in 0..40u64 {
        let sku = if i % 2 == 0 {
            format!("promo-{i}")
        } else {
            format!("plain-{i}")
        };
        assert_eq!(price(&sku, 100 + i), 100 + i);
    }
    assert!(parallel_run::wait_idle(Duration::from_secs(10)));
    log.flush();

    assert_eq!(counted.load(Ordering::SeqCst), 20);
    let s = parallel_run::snapshot::experiment("discrepancy_log::price").unwrap();
    assert_eq!(s.internal_errors, vec![("publisher", 20)]);

    // Every mismatch is one JSON line, across the rotated file and the current one.
    let mut lines = Vec::new();
    for file in [dir.join("discrepancies.jsonl.1"), path.clone()] {
        if let Ok(text) = std::fs::read_to_string(&file) {
            lines.extend(text.lines().map(str::to_owned));
        }
    }
    assert!(
        dir.join("discrepancies.jsonl.1").exists(),
        "20 lines of ~200 bytes rotate at 2000"
    );
    assert!(std::fs::metadata(&path).unwrap().len() <= 2_000);
    assert_eq!(log.dropped(), 0);
    let parsed: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    // The flush wrote a summary line: the experiment's cumulative counts for this run, so that a
    // report can compute the match rate (discrepancy lines alone cannot).
    let summary = parsed
        .iter()
        .rev()
        .find(|v| v["kind"] == "summary" && v["experiment"] == "discrepancy_log::price")
        .expect("a summary line after the flush");
    assert_eq!(summary["v"], 1);
    assert_eq!(summary["run"], parallel_run::publish::run_id());
    assert_eq!(summary["outcomes"]["match"], 20);
    assert_eq!(summary["outcomes"]["mismatch"], 20);
    assert_eq!(summary["timed"], 40);
    let discrepancies: Vec<&serde_json::Value> = parsed
        .iter()
        .filter(|v| v["kind"] == "discrepancy")
        .collect();
    // Rotation keeps one previous file: older lines are gone, the recent ones are all there.
    assert!(
        !discrepancies.is_empty() && discrepancies.len() <= 20,
        "{}",
        discrepancies.len()
    );
    for v in discrepancies {
        assert_eq!(v["v"], 1);
        assert_eq!(v["served_by"], "primary");
        assert_eq!(v["experiment"], "discrepancy_log::price");
        assert_eq!(v["outcome"], "mismatch");
        let sku = v["context"]["sku"].as_str().unwrap();
        assert!(sku.starts_with("promo-"), "{sku}");
        let cents: u64 = sku.trim_start_matches("promo-").parse::<u64>().unwrap() + 100;
        assert_eq!(v["primary"], cents.to_string());
        assert_eq!(v["candidate"], (cents - 1).to_string());
        assert!(v["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("primary:   {cents}")));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
