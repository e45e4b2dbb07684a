//! The differential-test helper on the payments example: run the experiment over generated
//! orders in `cargo test`, before a single production call, and get every disagreement.

#[allow(dead_code)]
#[path = "../examples/payments.rs"]
mod payments;

use parallel_run::testing::differential;

/// `differential` changes an experiment's settings for its duration: tests that run it on the
/// same experiment take turns.
static QUOTE_FEE: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn the_rounding_bug_is_found_before_production() {
    let orders = payments::generate(2_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = differential("payments::process", orders.iter(), |order| {
        rt.block_on(payments::process_payment(order))
    });
    assert_eq!(report.inputs, 2_000);
    assert_eq!(
        report.compared, 2_000,
        "every order was shadowed and judged"
    );
    // The rewrite rounds ties half-to-even: a few percent of orders differ, each with its diff.
    assert!(!report.failures.is_empty());
    assert!(report.failures.len() < 200, "{}", report.failures.len());
    let first = &report.failures[0];
    assert!(
        first
            .message
            .contains("experiment `payments::process` failed in strict mode: mismatch"),
        "{}",
        first.message
    );
    assert!(first.input.contains("Order"), "{}", first.input);
    // In a real test suite this is the one line: it fails with the whole list.
    let listed = std::panic::catch_unwind(|| report.assert_all_match()).unwrap_err();
    let listed = listed.downcast_ref::<String>().unwrap();
    assert!(listed.starts_with(&format!(
        "differential test of `payments::process`: {} of 2000 inputs disagree",
        report.failures.len()
    )));

    // The helper restored the experiment: back to lenient, detached shadowing.
    let s = parallel_run::snapshot::experiment("payments::process").unwrap();
    assert_eq!(s.sample_rate, 1.0);
    assert!(s.enabled);
}

#[test]
fn a_candidate_that_agrees_passes() {
    let _turn = QUOTE_FEE.lock().unwrap_or_else(|e| e.into_inner());
    // The fee quote's rewrite has the same bug on amounts that round on a tie; on amounts whose
    // 2.5% fee is exact, it agrees everywhere.
    let inputs: Vec<(i64, u32)> = (1..500).map(|i| (i * 400, 250)).collect();
    let report = differential(
        "differential::payments::quote_fee",
        inputs.iter(),
        |(cents, bps)| {
            payments::quote_fee(
                payments::Money {
                    minor: *cents,
                    currency: payments::Currency::Usd,
                },
                *bps,
            )
        },
    );
    assert_eq!(report.compared, 499);
    report.assert_all_match();
}

#[test]
fn generated_by_a_proptest_strategy() {
    use proptest::prelude::*;
    let _turn = QUOTE_FEE.lock().unwrap_or_else(|e| e.into_inner());
    // Fee quotes over generated amounts at common rates: the rewrite rounds ties (an exact half
    // cent) differently, and among 2000 generated amounts some land on one. The runner is
    // deterministic, so the set found is the same on every run.
    let strategy = (
        1i64..100_000,
        prop_oneof![Just(50u32), Just(250u32), Just(290u32)],
    );
    let report = parallel_run::testing::differential_strategy(
        "differential::payments::quote_fee",
        strategy,
        2_000,
        |(cents, bps)| {
            payments::quote_fee(
                payments::Money {
                    minor: *cents,
                    currency: payments::Currency::Usd,
                },
                *bps,
            )
        },
    );
    assert_eq!(report.compared, 2_000);
    assert!(
        !report.failures.is_empty(),
        "ties exist among 2000 random amounts"
    );
    assert!(report.failures[0].input.starts_with('('));
}
