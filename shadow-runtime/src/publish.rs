//! Publishing discrepancies: the [`Publisher`] trait, and [`JsonLinesLog`], a discrepancy log that
//! writes one JSON line per mismatch or candidate panic from a background thread (bounded queue,
//! never blocks the caller, counts what it drops, rotates by size).
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

use crate::outcome::Discrepancy;

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

pub(crate) fn publish(exp: &'static crate::Experiment, d: &Discrepancy) {
    let list = PUBLISHERS.read().unwrap_or_else(|e| e.into_inner()).clone();
    for p in list {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::isolation::quietly(|| p.publish(d))
        }));
        if let Err(e) = r {
            crate::observe::internal_error(exp, "publisher", &crate::compare::panic_message(&*e));
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

/// The paths of a structural diff: the detail's lines of the form `$.path: a -> b`, as written by
/// [`Structural`](crate::structural::Structural) and the typed comparators. Empty for any other
/// diff.
///
/// ```
/// let p = shadow_runtime::publish::diff_paths("$.fee: 39 -> 38\n$.lines[2].net: 1 -> 2");
/// assert_eq!(p, ["$.fee", "$.lines[2].net"]);
/// assert!(shadow_runtime::publish::diff_paths("  gross legacy 1 rewrite 2").is_empty());
/// ```
pub fn diff_paths(detail: &str) -> Vec<&str> {
    detail
        .lines()
        .filter(|l| l.starts_with('$') && l.contains(" -> "))
        .filter_map(|l| l.split_once(": ").map(|(p, _)| p))
        .collect()
}

/// A path with its sequence indices written `[*]`: `$.lines[3].at` → `$.lines[*].at`. Diff
/// signatures and the learned noise use it.
///
/// ```
/// assert_eq!(shadow_runtime::publish::path_pattern("$.lines[3].at[12]"), "$.lines[*].at[*]");
/// ```
pub fn path_pattern(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        match rest.find(']') {
            Some(j) if j > 0 && rest[..j].bytes().all(|b| b.is_ascii_digit()) => {
                out.push('*');
                rest = &rest[j..];
            }
            _ => {}
        }
    }
    out.push_str(rest);
    out
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
/// #   served_by_candidate: false, key: Some("c-1".into()), inputs: None };
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
/// `ramp_requested`, `gate`, `gate_detail`, `deadline`, `overdue`. The log writes one per
/// experiment every 10 seconds and at each [`JsonLinesLog::flush`].
///
/// ```
/// for s in shadow_runtime::snapshot() {
///     let line = shadow_runtime::publish::summary_json(&s);
///     assert_eq!(line["kind"], "summary");
/// }
/// ```
pub fn summary_json(s: &crate::ExperimentSnapshot) -> Value {
    let outcomes: Map<String, Value> = s
        .counts
        .iter()
        .map(|(o, n)| (o.as_str().to_owned(), Value::from(n)))
        .collect();
    let gate_detail = match s.gate {
        crate::cutover::GateStatus::Refused { rate, samples } => Some(format!(
            "refused: match rate {} over {samples} samples",
            rate.map_or("n/a".to_owned(), |r| format!("{:.3}%", r * 100.0))
        )),
        crate::cutover::GateStatus::FellBack { rate, samples } => Some(format!(
            "fell back: match rate {:.3}% over {samples} samples",
            rate * 100.0
        )),
        _ => None,
    };
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
        "min_match_rate": s.criteria.map(|c| c.min_match_rate),
        "deadline": s.deadline,
        "overdue": s.overdue,
        "noisy_paths": s.noisy_paths.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        "noise_runs": s.noise_runs,
    })
}

enum Msg {
    Line(String),
    Flush(SyncSender<()>),
}

/// A JSON-lines discrepancy log written by a background thread. Cloning shares the log.
#[derive(Clone)]
pub struct JsonLinesLog {
    tx: SyncSender<Msg>,
    dropped: Arc<AtomicU64>,
    max_bytes: Arc<AtomicU64>,
}

impl JsonLinesLog {
    /// Opens (appends to) `path`, with a queue of 4096 lines and rotation at 64 MiB (the full
    /// file becomes `path.1`, the previous `path.1` is replaced).
    ///
    /// ```
    /// # let p = std::env::temp_dir().join(format!("pr-open-{}.jsonl", std::process::id()));
    /// let log = shadow_runtime::publish::JsonLinesLog::open(&p).unwrap();
    /// assert_eq!(log.dropped(), 0);
    /// ```
    pub fn open(path: impl AsRef<Path>) -> io::Result<JsonLinesLog> {
        Self::with_queue(path, 4096)
    }

    /// [`open`](Self::open) with a queue of `lines` entries.
    ///
    /// ```
    /// # let p = std::env::temp_dir().join(format!("pr-queue-{}.jsonl", std::process::id()));
    /// let log = shadow_runtime::publish::JsonLinesLog::with_queue(&p, 128).unwrap();
    /// # let _ = log;
    /// ```
    pub fn with_queue(path: impl AsRef<Path>, lines: usize) -> io::Result<JsonLinesLog> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let (tx, rx) = sync_channel(lines.max(1));
        let max_bytes = Arc::new(AtomicU64::new(64 << 20));
        let writer = Writer {
            path,
            size: file.metadata().map(|m| m.len()).unwrap_or(0),
            file,
            max_bytes: max_bytes.clone(),
        };
        std::thread::Builder::new()
            .name("parallel-run-log".into())
            .spawn(move || writer.run(rx))?;
        Ok(JsonLinesLog {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            max_bytes,
        })
    }

    /// Rotates when the file would grow past `bytes`.
    ///
    /// ```
    /// # let p = std::env::temp_dir().join(format!("pr-max-{}.jsonl", std::process::id()));
    /// let log = shadow_runtime::publish::JsonLinesLog::open(&p).unwrap().max_bytes(1 << 20);
    /// # let _ = log;
    /// ```
    pub fn max_bytes(self, bytes: u64) -> Self {
        self.max_bytes.store(bytes.max(1), Relaxed);
        self
    }

    /// Lines dropped because the queue was full (the caller never waits for the disk).
    ///
    /// ```
    /// # let p = std::env::temp_dir().join(format!("pr-drop-{}.jsonl", std::process::id()));
    /// # let log = shadow_runtime::publish::JsonLinesLog::open(&p).unwrap();
    /// assert_eq!(log.dropped(), 0);
    /// ```
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    /// Waits until every line queued so far is written and flushed.
    ///
    /// ```
    /// # let p = std::env::temp_dir().join(format!("pr-flush-{}.jsonl", std::process::id()));
    /// # let log = shadow_runtime::publish::JsonLinesLog::open(&p).unwrap();
    /// log.flush();
    /// ```
    pub fn flush(&self) {
        let (done_tx, done_rx) = sync_channel(1);
        if self.tx.send(Msg::Flush(done_tx)).is_ok() {
            let _ = done_rx.recv();
        }
    }
}

impl Publisher for JsonLinesLog {
    fn publish(&self, d: &Discrepancy) {
        let line = to_json(d).to_string();
        match self.tx.try_send(Msg::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Relaxed);
            }
        }
    }
}

struct Writer {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: Arc<AtomicU64>,
}

/// How often the log writes summary lines.
const SUMMARY_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) {
        let mut next_summary = std::time::Instant::now() + SUMMARY_EVERY;
        loop {
            let wait = next_summary.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(wait) {
                Ok(Msg::Line(line)) => self.line(&line),
                Ok(Msg::Flush(done)) => {
                    self.summaries();
                    let _ = self.file.flush();
                    let _ = done.send(());
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    self.summaries();
                    return;
                }
            }
            if std::time::Instant::now() >= next_summary {
                self.summaries();
                next_summary = std::time::Instant::now() + SUMMARY_EVERY;
            }
        }
    }

    fn line(&mut self, line: &str) {
        if let Err(e) = self.write(line) {
            tracing::warn!(target: "parallel_run", error = %e, path = %self.path.display(), "discrepancy log write failed");
        }
    }

    /// One summary line per experiment with any call.
    fn summaries(&mut self) {
        for s in crate::snapshot::snapshot() {
            if s.calls() > 0 {
                self.line(&summary_json(&s).to_string());
            }
        }
    }

    fn write(&mut self, line: &str) -> io::Result<()> {
        let len = line.len() as u64 + 1;
        if self.size > 0 && self.size + len > self.max_bytes.load(Relaxed) {
            let mut rotated = self.path.clone().into_os_string();
            rotated.push(".1");
            std::fs::rename(&self.path, &rotated)?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            self.size = 0;
        }
        self.file.write_all(line.as_bytes())?;
        self.file.write_all(b"\n")?;
        self.size += len;
        Ok(())
    }
}
