//! Configuration from the environment. The environment is read once per process, so each case
//! re-runs this test binary as a child with the variables set and one `child_*` test selected;
//! the child asserts and the parent checks that it passed.

mod common;

use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use parallel_run::{parallel_run, Outcome};

const CHILD: &str = "PARALLEL_RUN_TEST_CHILD";

fn run_child(test: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env_remove("PARALLEL_RUN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "child {test} with {env:?} failed:\n{text}"
    );
    assert!(
        text.contains("1 passed"),
        "child {test} did not run:\n{text}"
    );
    text
}

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

#[parallel_run(candidate = rated_v2, mode = inline, sample = 0.0)]
fn rated(x: u32) -> u32 {
    x
}

fn rated_v2(x: u32) -> u32 {
    x
}

#[parallel_run(candidate = plain_v2, mode = inline)]
fn plain(x: u32) -> u32 {
    x
}

fn plain_v2(x: u32) -> u32 {
    x
}

fn counts(name: &str) -> parallel_run::ExperimentSnapshot {
    assert!(parallel_run::wait_idle(Duration::from_secs(20)));
    parallel_run::snapshot::experiment(name).unwrap()
}

#[test]
fn child_kill_switch_off() {
    if !is_child() {
        return;
    }
    for i in 0..100 {
        assert_eq!(plain(i), i);
    }
    let s = counts("env_config::plain");
    assert_eq!(s.shadowed, 0);
    assert_eq!(s.counts.get(Outcome::Disabled), 100);
    // The switch can be flipped while the process runs.
    parallel_run::set_global_enabled(true);
    assert_eq!(plain(7), 7);
    assert_eq!(counts("env_config::plain").counts.get(Outcome::Match), 1);
}

#[test]
fn kill_switch_off_disables_every_experiment() {
    run_child("child_kill_switch_off", &[("PARALLEL_RUN", "off")]);
    run_child("child_kill_switch_off", &[("PARALLEL_RUN", "FALSE")]);
}

#[test]
fn child_experiment_rate_from_env() {
    if !is_child() {
        return;
    }
    for i in 0..50 {
        assert_eq!(rated(i), i);
        assert_eq!(plain(i), i);
    }
    let r = counts("env_config::rated");
    assert_eq!(
        r.shadowed, 50,
        "the variable raised the attribute's rate 0 to 1"
    );
    assert_eq!(r.sample_rate, 1.0);
    let p = counts("env_config::plain");
    assert_eq!(p.shadowed, 0, "the variable turned this experiment off");
    assert!(!p.enabled);
    assert_eq!(p.counts.get(Outcome::Disabled), 50);
}

#[test]
fn per_experiment_variables_override_the_attribute() {
    run_child(
        "child_experiment_rate_from_env",
        &[
            ("PARALLEL_RUN__ENV_CONFIG__RATED", "100%"),
            ("PARALLEL_RUN__ENV_CONFIG__PLAIN", "off"),
        ],
    );
    run_child(
        "child_experiment_rate_from_env",
        &[
            ("PARALLEL_RUN__ENV_CONFIG__RATED", "sample=1"),
            ("PARALLEL_RUN__ENV_CONFIG__PLAIN", "sample=1,enabled=no"),
        ],
    );
}

#[test]
fn child_bad_values_warn_once_and_turn_shadowing_off() {
    if !is_child() {
        return;
    }
    let cap = common::capture();
    for i in 0..20 {
        assert_eq!(plain(i), i);
        assert_eq!(rated(i), i);
    }
    assert_eq!(counts("env_config::plain").shadowed, 0);
    assert_eq!(counts("env_config::rated").shadowed, 0);
    let expected_var = std::env::var("EXPECT_VAR").unwrap();
    let expected_value = std::env::var("EXPECT_VALUE").unwrap();
    let warnings: Vec<_> = cap
        .events()
        .into_iter()
        .filter(|e| e.level == tracing::Level::WARN && e.target == "parallel_run")
        .collect();
    assert_eq!(warnings.len(), 1, "exactly one warning: {warnings:?}");
    let w = &warnings[0].text;
    assert!(w.contains(&format!("variable={expected_var}")), "{w}");
    assert!(w.contains(&format!("value={expected_value}")), "{w}");
    assert!(w.contains("shadowing off"), "{w}");
}

#[test]
fn bad_values_are_warned_about_once_and_fall_back_to_off() {
    // A bad kill switch turns everything off.
    run_child(
        "child_bad_values_warn_once_and_turn_shadowing_off",
        &[
            ("PARALLEL_RUN", "maybe"),
            ("EXPECT_VAR", "PARALLEL_RUN"),
            ("EXPECT_VALUE", "maybe"),
        ],
    );
    // A bad per-experiment value turns that experiment off (the other one has rate 0 anyway).
    for bad in ["1.5", "lots", "-0.1", "rate=0.5"] {
        run_child(
            "child_bad_values_warn_once_and_turn_shadowing_off",
            &[
                ("PARALLEL_RUN__ENV_CONFIG__PLAIN", bad),
                ("EXPECT_VAR", "PARALLEL_RUN__ENV_CONFIG__PLAIN"),
                ("EXPECT_VALUE", bad),
            ],
        );
    }
}

// ---------------------------------------------------------------- the worker pool

static STARTED: std::sync::Mutex<Option<mpsc::Sender<()>>> = std::sync::Mutex::new(None);
static RELEASE: std::sync::Mutex<Option<mpsc::Receiver<()>>> = std::sync::Mutex::new(None);

#[parallel_run(candidate = pooled_v2)]
fn pooled(x: u32) -> u32 {
    x
}

fn pooled_v2(x: u32) -> u32 {
    if x == 0 {
        // The first candidate occupies the only worker until the test releases it.
        STARTED.lock().unwrap().take().unwrap().send(()).unwrap();
        let rx = RELEASE.lock().unwrap().take().unwrap();
        rx.recv().unwrap();
    }
    x
}

#[test]
fn child_full_pool_sheds_without_blocking() {
    if !is_child() {
        return;
    }
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    *STARTED.lock().unwrap() = Some(started_tx);
    *RELEASE.lock().unwrap() = Some(release_rx);
    assert_eq!(pooled(0), 0);
    started_rx.recv().unwrap(); // the single worker is now busy
    for i in 1..=5 {
        assert_eq!(pooled(i), i); // one fits in the queue (capacity 1), four are shed
    }
    release_tx.send(()).unwrap();
    let s = counts("env_config::pooled");
    assert_eq!(s.counts.get(Outcome::Shed), 4);
    assert_eq!(s.counts.get(Outcome::Match), 2);
    assert_eq!(s.lost(), 0);
}

#[test]
fn full_worker_pool_sheds() {
    run_child(
        "child_full_pool_sheds_without_blocking",
        &[("PARALLEL_RUN_WORKERS", "1"), ("PARALLEL_RUN_QUEUE", "1")],
    );
}

// ---------------------------------------------------------------- panic output

#[parallel_run(candidate = noisy_v2, mode = inline)]
fn noisy(x: u32) -> u32 {
    if x == 0 {
        panic!("the primary's own panic");
    }
    x
}

fn noisy_v2(_: u32) -> u32 {
    panic!("a candidate panic nobody should see on stderr")
}

#[test]
fn child_candidate_panics_are_quiet() {
    if !is_child() {
        return;
    }
    assert_eq!(noisy(1), 1);
    assert!(std::panic::catch_unwind(|| noisy(0)).is_err());
    let s = counts("env_config::noisy");
    assert_eq!(s.counts.get(Outcome::CandidatePanic), 1);
    assert_eq!(s.counts.get(Outcome::PrimaryPanic), 1);
}

#[test]
fn candidate_panics_do_not_reach_the_panic_hook_output() {
    let out = run_child("child_candidate_panics_are_quiet", &[]);
    assert!(!out.contains("nobody should see"), "{out}");
    // Panics outside candidates still go to the previous hook as usual.
    assert!(out.contains("the primary's own panic"), "{out}");
}

// ------------------------------------------------ every helper's panic is as quiet as a candidate's

#[parallel_run(candidate = helpers_v2, mode = inline, run_if = picky(x), name = "env_config::picky")]
fn picky_fn(x: u32) -> u32 {
    x
}

fn helpers_v2(x: u32) -> u32 {
    x
}

fn picky(x: u32) -> bool {
    if x == 0 {
        panic!("a run_if panic nobody should see on stderr");
    }
    true
}

fn shaky_context(x: u32) -> u32 {
    if x == 1 {
        panic!("a context panic nobody should see on stderr");
    }
    x
}

fn shaky_key(x: u32) -> u32 {
    if x == 2 {
        panic!("a sample_by panic nobody should see on stderr");
    }
    x
}

#[parallel_run(
    candidate = helpers_v2,
    mode = inline,
    context = { "x": shaky_context(x) },
    sample_by = shaky_key(x),
    name = "env_config::shaky"
)]
fn shaky(x: u32) -> u32 {
    x
}

#[test]
fn child_helper_panics_are_quiet_and_never_reach_the_caller() {
    if !is_child() {
        return;
    }
    // The very first call's run_if panics: before any shadowed call of any experiment.
    assert_eq!(picky_fn(0), 0);
    assert_eq!(picky_fn(5), 5);
    let s = counts("env_config::picky");
    assert_eq!(s.counts.get(Outcome::Filtered), 1);
    assert_eq!(s.counts.get(Outcome::Match), 1);
    assert_eq!(s.internal_errors, vec![("run_if", 1)]);
    for x in [1, 2, 3] {
        assert_eq!(shaky(x), x, "a helper's panic reached the caller");
    }
    let s = counts("env_config::shaky");
    // x = 1: its context panicked, it was still compared; x = 2: its key panicked, not
    // shadowed; x = 3: fine.
    assert_eq!(s.counts.get(Outcome::Match), 2);
    assert_eq!(s.counts.get(Outcome::Filtered), 1);
    let mut errs = s.internal_errors.clone();
    errs.sort();
    assert_eq!(errs, vec![("context", 1), ("sample_by", 1)]);
}

#[test]
fn helper_panics_do_not_reach_the_panic_hook_output() {
    let out = run_child(
        "child_helper_panics_are_quiet_and_never_reach_the_caller",
        &[],
    );
    assert!(!out.contains("nobody should see on stderr"), "{out}");
}
