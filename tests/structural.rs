//! The structural comparator through the attribute: path-level diffs in the discrepancy record.

use std::time::Duration;

use parallel_run::structural::Structural;
use parallel_run::{parallel_run, Outcome};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    sku: String,
    amount: f64,
    note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Invoice {
    id: u64,
    lines: Vec<Line>,
    generated_at: u64,
}

fn invoice(id: u64, amounts: &[f64], note: &str, at: u64) -> Invoice {
    Invoice {
        id,
        lines: amounts
            .iter()
            .enumerate()
            .map(|(i, &amount)| Line {
                sku: format!("sku-{i}"),
                amount,
                note: note.into(),
            })
            .collect(),
        generated_at: at,
    }
}

#[parallel_run(
    candidate = bill_v2,
    compare = Structural::new().ignore("$.generated_at").ignore("$.lines[*].note").float_tolerance(0.005, 0.0)
)]
fn bill(id: u64) -> Invoice {
    invoice(id, &[10.0, 20.0, 30.0], "legacy", 1)
}

fn bill_v2(id: u64) -> Invoice {
    match id {
        1 => invoice(id, &[10.0, 20.0, 30.0], "rewrite", 2), // only ignored paths differ
        2 => invoice(id, &[10.0, 20.001, 30.0], "legacy", 1), // within tolerance
        _ => invoice(id, &[10.0, 20.0, 31.0], "legacy", 1),  // $.lines[2].amount
    }
}

#[test]
fn structural_diffs_reach_the_discrepancy_record() {
    for id in 0..4 {
        assert_eq!(bill(id).id, id);
    }
    assert!(parallel_run::wait_idle(Duration::from_secs(10)));
    let s = parallel_run::snapshot::experiment("structural::bill").unwrap();
    assert_eq!(s.counts.get(Outcome::Acceptable), 2);
    assert_eq!(s.counts.get(Outcome::Mismatch), 2);
    for d in &s.discrepancies {
        assert_eq!(d.detail, "$.lines[2].amount: 30.0 -> 31.0");
    }
}
