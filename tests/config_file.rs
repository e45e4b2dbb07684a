//! The configuration file (`PARALLEL_RUN_CONFIG`), rewritten while calls run: a good file is
//! applied to the running experiments, a bad one changes nothing and is warned about once per
//! content with its file, line and key, the live API outranks the file and the file outranks the
//! environment, and a file bad or missing at start-up leaves shadowing off until it is good.
//!
//! The file is found once per process, so each case re-runs this test binary as a child with the
//! variable set and one `child_*` test selected.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parallel_run::parallel_run;

const CHILD: &str = "PARALLEL_RUN_TEST_CHILD";
const NAME: &str = "config_file::priced";

fn run_child(test: &str, file: &Path, env: &[(&str, &str)]) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("PARALLEL_RUN_CONFIG", file)
        .env("CONFIG_FILE", file)
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
    assert!(out.status.success(), "child {test} failed:\n{text}");
    assert!(
        text.contains("1 passed"),
        "child {test} did not run:\n{text}"
    );
}

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

fn scratch(case: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pr-config-{}-{case}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("parallel-run.toml")
}

#[parallel_run(candidate = priced_v2, mode = inline, name = "config_file::priced")]
fn priced(x: u64) -> u64 {
    x * 3
}

fn priced_v2(x: u64) -> u64 {
    x + x + x
}

/// Calls `priced` from a thread until dropped, checking every result.
struct Traffic {
    stop: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Traffic {
    fn start() -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(AtomicU64::new(0));
        let (s, c) = (stop.clone(), calls.clone());
        let thread = std::thread::spawn(move || {
            let mut i = 0u64;
            while !s.load(Relaxed) {
                assert_eq!(
                    priced(i),
                    i * 3,
                    "the primary's result, whatever the file says"
                );
                c.fetch_add(1, Relaxed);
                i += 1;
                if i % 64 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        Traffic {
            stop,
            calls,
            thread: Some(thread),
        }
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("the calls never failed");
        }
        assert!(self.calls.load(Relaxed) > 0);
    }
}

fn snap() -> parallel_run::ExperimentSnapshot {
    parallel_run::snapshot::experiment(NAME).expect("called")
}

/// Waits (up to 10 s: the file is looked at once a second) until the snapshot satisfies `ok`.
fn eventually(what: &str, ok: impl Fn(&parallel_run::ExperimentSnapshot) -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let s = parallel_run::snapshot::experiment(NAME);
        if s.as_ref().is_some_and(&ok) {
            return;
        }
        assert!(Instant::now() < until, "{what}: still {s:#?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Writes the file the way a ConfigMap update does: a new file renamed over the old one.
fn rewrite(path: &Path, text: &str) {
    let tmp = path.with_extension("toml.new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn warnings(cap: &common::Capture) -> Vec<String> {
    cap.events()
        .into_iter()
        .filter(|e| e.level == tracing::Level::WARN && e.target == "parallel_run")
        .map(|e| e.text)
        .collect()
}

#[test]
fn child_file_rewritten_while_calls_run() {
    if !is_child() {
        return;
    }
    let cap = common::capture();
    let path = PathBuf::from(std::env::var_os("CONFIG_FILE").unwrap());
    let traffic = Traffic::start();
    // The file says 0 over the environment's 100%.
    eventually("started", |s| s.calls() > 100);
    let s = snap();
    assert_eq!((s.sample_rate, s.shadowed), (0.0, 0), "{s:#?}");

    // A good file, applied while the calls run: every key of the experiment at once.
    rewrite(
        &path,
        "[experiments.\"config_file::priced\"]\nsample = \"100%\"\nmax_in_flight = 7\ntimeout = \"250ms\"\n",
    );
    eventually("the new file applied", |s| s.sample_rate == 1.0);
    let s = snap();
    assert_eq!(s.max_in_flight, 7);
    assert_eq!(s.timeout, Some(Duration::from_millis(250)));
    let shadowed = s.shadowed;
    eventually("shadowed since", |s| s.shadowed > shadowed + 100);

    // A bad file: nothing changes, one warning naming file, line and key of each problem.
    let bad =
        "[experiments.\"config_file::priced\"]\nsample = \"150%\"\nmax_in_flight = 2\nsampel = 1\n";
    rewrite(&path, bad);
    let shown = path.display().to_string();
    let until = Instant::now() + Duration::from_secs(10);
    while warnings(&cap).is_empty() {
        assert!(Instant::now() < until, "the bad file was not warned about");
        std::thread::sleep(Duration::from_millis(50));
    }
    let w = warnings(&cap);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains(&format!("{shown}:2: experiments.\"config_file::priced\".sample: sampling rate `150%` is outside 0..=1")),
        "{}",
        w[0]
    );
    assert!(
        w[0].contains(&format!(
            "{shown}:4: experiments.\"config_file::priced\".sampel: unknown key"
        )),
        "{}",
        w[0]
    );
    assert!(
        w[0].contains("the last good configuration stays in force"),
        "{}",
        w[0]
    );
    // The same bad content written again: no second warning; the settings stay.
    std::thread::sleep(Duration::from_millis(1100));
    rewrite(&path, bad);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(warnings(&cap).len(), 1, "{:?}", warnings(&cap));
    let s = snap();
    assert_eq!((s.sample_rate, s.max_in_flight), (1.0, 7), "{s:#?}");

    // The live API outranks the file, across reloads.
    parallel_run::live::set_sample_rate(NAME, 0.5).unwrap();
    assert_eq!(snap().sample_rate, 0.5);
    rewrite(
        &path,
        "[experiments.\"config_file::priced\"]\nsample = \"100%\"\nmax_in_flight = 9\n",
    );
    eventually("the fixed file applied", |s| s.max_in_flight == 9);
    let s = snap();
    assert_eq!(s.sample_rate, 0.5, "the live change stays over the file");
    assert_eq!(
        s.timeout,
        Some(Duration::from_secs(5)),
        "back to the default"
    );

    // The experiment dropped from the file: back to the environment and the attribute.
    rewrite(&path, "# nothing configured\n");
    eventually("the emptied file applied", |s| s.max_in_flight == 64);
    assert_eq!(snap().sample_rate, 0.5);
    assert_eq!(warnings(&cap).len(), 1, "{:?}", warnings(&cap));
    // The accounting adds up once the calls have stopped (while they run, a snapshot can
    // catch a call between its outcome and its decided count: `lost()` is exact at rest).
    drop(traffic);
    assert!(parallel_run::wait_idle(Duration::from_secs(20)));
    let s = snap();
    assert_eq!(s.lost(), 0, "{s:#?}");
    assert_eq!(s.counts.get(parallel_run::Outcome::Mismatch), 0);
}

#[test]
fn a_good_file_is_applied_while_calls_run_and_a_bad_one_changes_nothing() {
    let path = scratch("rewrite");
    std::fs::write(&path, "[experiments.\"config_file::priced\"]\nsample = 0\n").unwrap();
    run_child(
        "child_file_rewritten_while_calls_run",
        &path,
        &[("PARALLEL_RUN__CONFIG_FILE__PRICED", "sample=100%")],
    );
}

#[test]
fn child_off_until_the_file_is_good() {
    if !is_child() {
        return;
    }
    let cap = common::capture();
    let path = PathBuf::from(std::env::var_os("CONFIG_FILE").unwrap());
    let _traffic = Traffic::start();
    eventually("started", |s| s.calls() > 100);
    let s = snap();
    assert!(!s.enabled, "off while the file has never been good: {s:#?}");
    assert_eq!(s.shadowed, 0);
    let w = warnings(&cap);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("every experiment is off"), "{}", w[0]);
    assert!(
        w[0].contains(&std::env::var("EXPECT").unwrap()),
        "{} lacks {}",
        w[0],
        std::env::var("EXPECT").unwrap()
    );
    rewrite(
        &path,
        "[[routes]]\nname = \"config_file::priced\"\npath = \"/v1\"\nsample = \"100%\"\n",
    );
    eventually("on once the file is good", |s| {
        s.enabled && s.shadowed > 100
    });
}

#[test]
fn a_file_bad_or_missing_at_start_leaves_shadowing_off_until_it_is_good() {
    // Bad: a TOML syntax error on line 2.
    let path = scratch("bad");
    std::fs::write(&path, "[experiments.a]\nsample = = 1\n").unwrap();
    let line = format!("{}:2:", path.display());
    run_child(
        "child_off_until_the_file_is_good",
        &path,
        &[("EXPECT", &line)],
    );
    // Missing: a ConfigMap not mounted yet.
    let path = scratch("missing");
    let _ = std::fs::remove_file(&path);
    let line = format!("{}:0: cannot read it", path.display());
    run_child(
        "child_off_until_the_file_is_good",
        &path,
        &[("EXPECT", &line)],
    );
}
