//! Publishing discrepancies: the [`Publisher`] trait, and [`JsonLinesLog`], a discrepancy log that
//! writes one JSON line per mismatch or candidate panic from a background thread (bounded queue,
//! never blocks the caller, counts what it drops, rotates by size). The log writes only files it
//! owns: [`JsonLinesLog::open`] refuses a device, a pipe, a link, a missing directory or someone
//! else's file with an [`OpenError`] that says what to do.
//!
//! ```
//! use shadow_runtime::publish::{add_publisher, JsonLinesLog};
//! let dir = std::env::temp_dir().join(format!("pr-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let log = JsonLinesLog::open(dir.join("discrepancies.jsonl")).unwrap().max_bytes(10 << 20);
//! add_publisher(log.clone());
//! // ... calls of annotated functions ...
//! log.flush();
//! ```

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, RwLock};
use std::time::UNIX_EPOCH;

use serde_json::{json, Map, Value};

use crate::record::outcome::Discrepancy;

mod log;

pub use log::{JsonLinesLog, OpenError};

/// Receives every retained-kind outcome (mismatch, candidate panic, comparator panic) as it is
/// recorded, off the caller's path in detached mode. Must not block for long: a slow sink should
/// queue, as [`JsonLinesLog`] does. A panic inside `publish` is caught and reported as an internal
/// error of helper `publisher`.
///
/// ```
/// struct Count(std::sync::atomic::AtomicU64);
/// impl shadow_runtime::publish::Publisher for Count {
///     fn publish(&self, _: &shadow_runtime::Discrepancy) {
///         self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///     }
/// }
/// shadow_runtime::publish::add_publisher(std::sync::Arc::new(Count(Default::default())));
/// ```
pub trait Publisher: Send + Sync + 'static {
    /// Publishes one discrepancy.
    fn publish(&self, d: &Discrepancy);
}

impl<P: Publisher> Publisher for Arc<P> {
    fn publish(&self, d: &Discrepancy) {
        (**self).publish(d)
    }
}

type Shared = Arc<dyn Publisher>;
static PUBLISHERS: RwLock<Vec<Shared>> = RwLock::new(Vec::new());

/// Adds a publisher for every experiment of the process.
///
/// ```
/// # struct Nop;
/// # impl shadow_runtime::publish::Publisher for Nop { fn publish(&self, _: &shadow_runtime::Discrepancy) {} }
/// shadow_runtime::publish::add_publisher(Nop);
/// ```
pub fn add_publisher(p: impl Publisher) {
    PUBLISHERS
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .push(Arc::new(p));
}

pub(crate) fn publish(obs: &crate::record::observe::Instruments, d: &Discrepancy) {
    let list = PUBLISHERS.read().unwrap_or_else(|e| e.into_inner()).clone();
    for p in list {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::run::isolation::quietly(|| p.publish(d))
        }));
        if let Err(e) = r {
            crate::record::observe::internal_error(
                obs,
                "publisher",
                &crate::judge::compare::panic_message(&*e),
            );
        }
    }
}

/// The log format's version, written in every line as `"v"`.
pub const FORMAT_VERSION: u64 = 1;

/// This process's run id in log lines: `<pid>-<start ms since the epoch>`. Summary lines carry
/// cumulative counts per run, so a report takes the last summary of each run and adds runs up.
///
/// ```
/// let id = shadow_runtime::publish::run_id();
/// assert!(id.starts_with(&format!("{}-", std::process::id())));
/// ```
pub fn run_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| format!("{}-{}", std::process::id(), now_ms()))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |t| t.as_millis() as u64)
}

pub use crate::judge::paths::{diff_paths, path_pattern};

/// Where the log's summary lines come from: the snapshot of every experiment, registered by the
/// experiment layer at the first call (nothing to summarise before it).
static SUMMARIES: std::sync::OnceLock<fn() -> Vec<crate::record::view::ExperimentSnapshot>> =
    std::sync::OnceLock::new();

/// Registers the source of the log's summary lines (the first registration stays).
pub(crate) fn summaries_from(source: fn() -> Vec<crate::record::view::ExperimentSnapshot>) {
    let _ = SUMMARIES.set(source);
}

/// One discrepancy as the log writes it (one JSON object per line, format version
/// [`FORMAT_VERSION`]): `v`, `kind` (`"discrepancy"`), `run`, `experiment`, `outcome`, `at_ms`,
/// `key` (the sampling key, or null), `served_by` (`"primary"` or `"candidate"`), `detail`,
/// `paths` (see [`diff_paths`]), `primary`, `candidate` (cleaned renderings), `primary_us`,
/// `candidate_us`, `context`, `inputs` (the arguments, with `record_inputs = true`, else null).
///
/// ```
/// # use shadow_runtime::{Discrepancy, Outcome};
/// # let d = Discrepancy { experiment: "e", context: vec![("k", "v".into())], outcome: Outcome::Mismatch,
/// #   detail: "$.fee: 1 -> 2".into(), primary: Some("1".into()), candidate: Some("2".into()),
/// #   primary_duration: Default::default(), candidate_duration: Default::default(),
/// #   primary_cpu: None, candidate_cpu: None, at: std::time::SystemTime::now(),
/// #   served_by_candidate: false, candidate_ran_first: false, key: Some("c-1".into()), inputs: None };
/// let line = shadow_runtime::publish::to_json(&d);
/// assert_eq!(line["experiment"], "e");
/// assert_eq!(line["context"]["k"], "v");
/// assert_eq!(line["paths"][0], "$.fee");
/// assert_eq!(line["key"], "c-1");
/// ```
pub fn to_json(d: &Discrepancy) -> Value {
    let ctx: Map<String, Value> = d
        .context
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
        .collect();
    json!({
        "v": FORMAT_VERSION,
        "kind": "discrepancy",
        "run": run_id(),
        "experiment": d.experiment,
        "outcome": d.outcome.as_str(),
        "at_ms": d.at.duration_since(UNIX_EPOCH).map(|t| t.as_millis() as u64).unwrap_or(0),
        "key": d.key,
        "served_by": if d.served_by_candidate { "candidate" } else { "primary" },
        "order": if d.candidate_ran_first { "candidate_first" } else { "primary_first" },
        "detail": d.detail,
        "paths": diff_paths(&d.detail),
        "primary": d.primary,
        "candidate": d.candidate,
        "primary_us": d.primary_duration.as_micros() as u64,
        "candidate_us": d.candidate_duration.as_micros() as u64,
        "context": ctx,
        "inputs": d.inputs,
    })
}

/// One experiment's summary line: its cumulative counts since this process started (`kind`
/// `"summary"`): `outcomes` (every label), `shadowed`, `in_flight`, `served_by_candidate`,
/// `primary_us_sum`, `candidate_us_sum`, `timed` (judged calls with both durations), `ramp`,
/// `ramp_requested`, `gate`, `gate_detail`, `gate_source` and `fleet` (the fleet-wide gate's last
/// reading and error: `good`, `compared`, `age_ms`, `error`, `error_age_ms`, `max_age_ms`; null
/// with the local gate), `deadline`, `overdue`, and the learned noise:
/// `noisy_paths`, `noise_runs`, `noise_confirmations`, `noise_clocks_us` (each clock path's
/// largest gap between two runs of the primary, in microseconds). The log writes one per
/// experiment every 10 seconds and at each [`JsonLinesLog::flush`].
///
/// ```
/// for s in shadow_runtime::snapshot() {
///     let line = shadow_runtime::publish::summary_json(&s);
///     assert_eq!(line["kind"], "summary");
/// }
/// ```
pub fn summary_json(s: &crate::record::view::ExperimentSnapshot) -> Value {
    let outcomes: Map<String, Value> = s
        .counts
        .iter()
        .map(|(o, n)| (o.as_str().to_owned(), Value::from(n)))
        .collect();
    let gate_detail = match s.gate {
        crate::decide::cutover::GateStatus::Refused { rate, samples } => Some(format!(
            "refused: match rate {} over {samples} samples",
            rate.map_or("n/a".to_owned(), |r| format!("{:.3}%", r * 100.0))
        )),
        crate::decide::cutover::GateStatus::FellBack { rate, samples } => Some(format!(
            "fell back: match rate {:.3}% over {samples} samples",
            rate * 100.0
        )),
        crate::decide::cutover::GateStatus::Unavailable { age } => Some(format!(
            "unavailable: {}{}",
            age.map_or("no reading from Prometheus yet".to_owned(), |a| format!(
                "the last reading from Prometheus is {:.0}s old",
                a.as_secs_f64()
            )),
            s.fleet
                .as_ref()
                .and_then(|f| f.error.as_ref())
                .map_or(String::new(), |(e, _)| format!(" ({e})"))
        )),
        _ => None,
    };
    let fleet = s.fleet.as_ref().map(|f| {
        json!({
            "good": f.reading.map(|r| r.0),
            "compared": f.reading.map(|r| r.1),
            "age_ms": f.age.map(|a| a.as_millis() as u64),
            "error": f.error.as_ref().map(|e| e.0.as_str()),
            "error_age_ms": f.error.as_ref().map(|e| e.1.as_millis() as u64),
            "max_age_ms": f.max_age.as_millis() as u64,
        })
    });
    json!({
        "v": FORMAT_VERSION,
        "kind": "summary",
        "run": run_id(),
        "experiment": s.name,
        "at_ms": now_ms(),
        "outcomes": outcomes,
        "shadowed": s.shadowed,
        "in_flight": s.in_flight,
        "served_by_candidate": s.served_by_candidate,
        "primary_us_sum": s.primary_us_sum,
        "candidate_us_sum": s.candidate_us_sum,
        "timed": s.timed,
        "ramp": s.ramp_effective,
        "ramp_requested": s.ramp,
        "gate": s.gate.as_str(),
        "gate_detail": gate_detail,
        "gate_source": s.gate_source.as_str(),
        "fleet": fleet,
        "min_match_rate": s.criteria.map(|c| c.min_match_rate),
        "deadline": s.deadline,
        "overdue": s.overdue,
        "noisy_paths": s.noisy_paths.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        "noise_runs": s.noise_runs,
        "noise_confirmations": s.noise_confirmations,
        "noise_clocks_us": s.noise_clocks.iter()
            .map(|(p, gap)| (p.clone(), Value::from(gap.as_micros() as u64)))
            .collect::<Map<String, Value>>(),
    })
}
