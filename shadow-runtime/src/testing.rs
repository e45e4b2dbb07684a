//! Differential tests before production: run an annotated function over many inputs in
//! `cargo test`, with its experiment forced on (every call shadowed, strict, inline, no circuit
//! breaker), and get every input whose candidate disagrees, with the same diff production would
//! log.
//!
//! ```
//! use shadow_runtime::testing::differential;
//! # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
//! #     "docs::round", 0.01, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst);
//! # fn round(x: i64) -> i64 {
//! #     let p = EXP.decide().map(|c| c.with_candidate(move || (x + 5) / 10 * 10 + i64::from(x % 10 == 5)));
//! #     let out = (x + 5) / 10 * 10;
//! #     if let Some(p) = p { p.finish_detached(out, shadow_runtime::DefaultComparator, shadow_runtime::manual::NoProbes); }
//! #     out
//! # }
//! // `round` is `#[parallel_run(candidate = round_v2)] fn round(x: i64) -> i64`.
//! let report = differential("docs::round", 0..100i64, |x| round(*x));
//! assert_eq!(report.compared, 100);
//! assert_eq!(report.failures.len(), 10); // 5, 15, 25, ...: the rewrite rounds those differently
//! assert!(report.failures[0].message.contains("mismatch"));
//! // In a test: `report.assert_all_match()` fails it with the whole list.
//! ```

use std::fmt::Debug;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::live;

/// One input whose run did not end in agreement.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The input, rendered with `Debug`.
    pub input: String,
    /// The strict-mode message (experiment, both values, the diff), or the primary's panic.
    pub message: String,
}

/// What [`differential`] found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The experiment.
    pub experiment: String,
    /// Inputs run.
    pub inputs: usize,
    /// Inputs whose call was actually shadowed and judged (`run_if` or a full cap can skip some).
    pub compared: usize,
    /// Inputs that disagreed, or whose primary panicked.
    pub failures: Vec<Failure>,
}

impl Report {
    /// Fails (panics) with every failure listed, if there is any, or if no input was compared.
    ///
    /// ```
    /// let ok = shadow_runtime::testing::Report { experiment: "x".into(), inputs: 1, compared: 1, failures: vec![] };
    /// ok.assert_all_match();
    /// ```
    pub fn assert_all_match(&self) {
        if self.compared == 0 {
            panic!(
                "differential test of `{}`: no input was compared",
                self.experiment
            );
        }
        if !self.failures.is_empty() {
            let mut msg = format!(
                "differential test of `{}`: {} of {} inputs disagree\n",
                self.experiment,
                self.failures.len(),
                self.inputs
            );
            for f in &self.failures {
                msg.push_str(&format!("\n--- input {}\n{}\n", f.input, f.message));
            }
            panic!("{msg}");
        }
    }
}

/// Calls `call` on every input with experiment `name` forced on: sampled at 100%, strict (so a
/// mismatch or candidate panic fails the call, in the caller, after it was recorded), circuit
/// breaker off. `call` invokes the annotated function (for an `async fn`, block on it). The
/// experiment's settings are restored afterwards, and the global kill switch is left alone.
///
/// See the [module docs](self) for an example.
pub fn differential<I: Debug, R>(
    name: &str,
    inputs: impl IntoIterator<Item = I>,
    mut call: impl FnMut(&I) -> R,
) -> Report {
    // Saved settings of the functions with that name that have run already; the others get
    // their attribute's and the environment's settings back.
    let saved: Vec<_> = crate::experiment::registry()
        .into_iter()
        .filter(|e| e.name() == name)
        .map(|e| (e, e.setting()))
        .collect();
    let _ = live::set_enabled(name, true);
    let _ = live::set_sample_rate(name, 1.0);
    let _ = live::set_strict(name, Some(true));
    let _ = live::set_breaker(
        name,
        crate::decide::breaker::BreakerConfig {
            enabled: false,
            ..Default::default()
        },
    );
    let shadowed = || crate::snapshot::experiment(name).map_or(0, |s| s.shadowed);
    let mut report = Report {
        experiment: name.to_owned(),
        ..Report::default()
    };
    for input in inputs {
        report.inputs += 1;
        let n = shadowed();
        // Quiet: every failure is collected in the report instead of printed by the panic hook.
        crate::run::isolation::install_hook();
        let r = catch_unwind(AssertUnwindSafe(|| {
            crate::run::isolation::quietly(|| {
                let _ = call(&input);
            })
        }));
        if shadowed() > n {
            report.compared += 1;
        }
        if let Err(p) = r {
            report.failures.push(Failure {
                input: format!("{input:?}"),
                message: crate::judge::compare::panic_message(&*p),
            });
        }
    }
    crate::decide::config::forget(name, &["enabled", "sample", "strict", "breaker"]);
    for exp in crate::experiment::registry()
        .into_iter()
        .filter(|e| e.name() == name)
    {
        let restored = saved
            .iter()
            .find(|(e, _)| std::ptr::eq(*e, exp))
            .map(|(_, s)| *s)
            .unwrap_or_else(|| crate::decide::config::experiment_setting(name, exp.defaults()));
        exp.update(false, |s| *s = restored);
    }
    report
}

/// What [`replay`] found: the recorded inputs it read, and the [`Report`] of running them again.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// The run of the recorded inputs through the annotated function (strict, every call
    /// shadowed): the inputs that still disagree are in `report.failures`.
    pub report: Report,
    /// Discrepancy lines of the experiment with recorded inputs.
    pub recorded: usize,
    /// Discrepancy lines of the experiment without inputs (recorded before `record_inputs`).
    pub without_inputs: usize,
    /// Lines that could not be used, as `path:line: why` (not JSON, or inputs of another shape).
    pub unreadable: Vec<String>,
}

impl Replay {
    /// Fails (panics) unless at least one recorded input was replayed, every line was readable,
    /// and every replayed input now agrees: the regression test of fixed production
    /// discrepancies.
    ///
    /// ```
    /// let r = shadow_runtime::testing::Replay {
    ///     report: shadow_runtime::testing::Report { experiment: "x".into(), inputs: 1, compared: 1, failures: vec![] },
    ///     recorded: 1, without_inputs: 0, unreadable: vec![],
    /// };
    /// r.assert_all_match();
    /// ```
    pub fn assert_all_match(&self) {
        if !self.unreadable.is_empty() {
            panic!(
                "replay of `{}`: {} unreadable line(s):\n{}",
                self.report.experiment,
                self.unreadable.len(),
                self.unreadable.join("\n")
            );
        }
        if self.recorded == 0 {
            panic!(
                "replay of `{}`: the log holds no recorded inputs for it ({} discrepancy line(s) without inputs; set `record_inputs = true`)",
                self.report.experiment, self.without_inputs
            );
        }
        self.report.assert_all_match();
    }
}

/// Replays production discrepancies as a test: reads the discrepancy log at `log` (written by
/// [`JsonLinesLog`](crate::record::publish::JsonLinesLog) for an experiment with `record_inputs = true`),
/// takes the arguments recorded with each of experiment `name`'s discrepancies, and runs them
/// through `call` (which invokes the annotated function) as [`differential`] does: both the
/// legacy code and the candidate run again, strict, every call compared. Once the candidate is
/// fixed, [`Replay::assert_all_match`] passes; until then it lists each input that still differs
/// with its diff.
///
/// `I` is the arguments as a tuple (`(u64, String)`; `(u64,)` or just `u64` for one argument),
/// deserialised from the recorded JSON array.
///
/// ```
/// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
/// #     "docs::replayed", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
/// # fn half(x: u64) -> u64 {
/// #     let p = EXP.decide().map(|c| c.with_inputs(vec![serde_json::json!(x)]).with_candidate(move || x / 2));
/// #     let out = x / 2;
/// #     match p { Some(p) => p.run_inline(|| out, &shadow_runtime::DefaultComparator, shadow_runtime::manual::NoProbes), None => out }
/// # }
/// let dir = std::env::temp_dir().join(format!("pr-replay-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let log = dir.join("d.jsonl");
/// std::fs::write(&log, r#"{"kind":"discrepancy","experiment":"docs::replayed","outcome":"mismatch","inputs":[7]}"#).unwrap();
/// // `half` is `#[parallel_run(candidate = half_v2, record_inputs = true)] fn half(x: u64) -> u64`.
/// let r = shadow_runtime::testing::replay(&log, "docs::replayed", |x: &u64| half(*x));
/// assert_eq!((r.recorded, r.report.compared), (1, 1));
/// r.assert_all_match(); // the candidate agrees on 7 now
/// ```
pub fn replay<I, R>(
    log: impl AsRef<std::path::Path>,
    name: &str,
    call: impl FnMut(&I) -> R,
) -> Replay
where
    I: serde::de::DeserializeOwned + Debug,
{
    let path = log.as_ref();
    let mut out = Replay::default();
    let mut inputs: Vec<I> = Vec::new();
    match std::fs::read_to_string(path) {
        Err(e) => out.unreadable.push(format!("{}: {e}", path.display())),
        Ok(text) => {
            for (n, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let at = format!("{}:{}", path.display(), n + 1);
                let v: serde_json::Value = match serde_json::from_str(line) {
                    Ok(v) => v,
                    Err(e) => {
                        out.unreadable.push(format!("{at}: not JSON ({e})"));
                        continue;
                    }
                };
                let is_discrepancy = v
                    .get("kind")
                    .is_none_or(|k| k.as_str() == Some("discrepancy"));
                if !is_discrepancy || v.get("experiment").and_then(|e| e.as_str()) != Some(name) {
                    continue;
                }
                let Some(args) = v.get("inputs").filter(|i| !i.is_null()) else {
                    out.without_inputs += 1;
                    continue;
                };
                out.recorded += 1;
                let parsed = serde_json::from_value::<I>(args.clone()).or_else(|e| match args {
                    serde_json::Value::Array(a) if a.len() == 1 => {
                        serde_json::from_value::<I>(a[0].clone())
                    }
                    _ => Err(e),
                });
                match parsed {
                    Ok(i) => inputs.push(i),
                    Err(e) => out.unreadable.push(format!(
                        "{at}: inputs {args} do not fit the replay's type ({e})"
                    )),
                }
            }
        }
    }
    out.report = differential(name, inputs, call);
    out
}

/// [`differential`] over `cases` inputs generated by a proptest `strategy` (cargo feature
/// `proptest`). Failing inputs are reported as generated (not shrunk), each with its diff.
///
/// ```
/// # #[cfg(feature = "proptest")] {
/// use proptest::prelude::*;
/// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
/// #     "docs::abs", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
/// # fn abs(x: i32) -> i32 {
/// #     let p = EXP.decide().map(|c| c.with_candidate(move || x.wrapping_abs()));
/// #     let out = x.wrapping_abs();
/// #     if let Some(p) = p { p.finish_inline(&out, &shadow_runtime::DefaultComparator, shadow_runtime::manual::NoProbes); }
/// #     out
/// # }
/// let report = shadow_runtime::testing::differential_strategy("docs::abs", any::<i32>(), 256, |x| abs(*x));
/// assert_eq!(report.compared, 256);
/// report.assert_all_match();
/// # }
/// ```
#[cfg(feature = "proptest")]
pub fn differential_strategy<S, R>(
    name: &str,
    strategy: S,
    cases: usize,
    call: impl FnMut(&S::Value) -> R,
) -> Report
where
    S: proptest::strategy::Strategy,
    S::Value: Debug,
{
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let inputs =
        (0..cases).filter_map(|_| strategy.new_tree(&mut runner).ok().map(|t| t.current()));
    differential(name, inputs, call)
}
