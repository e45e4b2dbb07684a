//! Strict mode with the application's own failure: `config::on_strict_failure` turns the
//! discrepancy into the panic payload (a process-wide hook: a test binary of its own).

use parallel_run::parallel_run;

#[derive(Debug, PartialEq)]
struct RewriteDisagrees {
    experiment: &'static str,
    outcome: parallel_run::Outcome,
}

#[parallel_run(candidate = wrong, mode = inline, strict = true)]
fn total(x: u64) -> u64 {
    x * 2
}

fn wrong(x: u64) -> u64 {
    x * 2 + u64::from(x == 7)
}

#[test]
fn a_strict_mismatch_fails_with_the_applications_payload() {
    parallel_run::config::on_strict_failure(|d| {
        Box::new(RewriteDisagrees {
            experiment: d.experiment,
            outcome: d.outcome,
        })
    });
    assert_eq!(total(3), 6);
    let p = std::panic::catch_unwind(|| total(7)).expect_err("strict: the mismatch fails the call");
    let got = p
        .downcast::<RewriteDisagrees>()
        .expect("the application's payload");
    assert_eq!(
        *got,
        RewriteDisagrees {
            experiment: "strict_hook::total",
            outcome: parallel_run::Outcome::Mismatch
        }
    );
    // Without a hook: the library's message, both sides and the diff.
    parallel_run::config::clear_strict_failure();
    let p = std::panic::catch_unwind(|| total(7)).expect_err("strict");
    let msg = message(&*p);
    assert!(msg.contains("failed in strict mode: mismatch"), "{msg}");
    let s = parallel_run::snapshot::experiment("strict_hook::total").unwrap();
    assert_eq!(
        s.counts.get(parallel_run::Outcome::Mismatch),
        2,
        "recorded first"
    );
}

/// A panic payload as text.
fn message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}
