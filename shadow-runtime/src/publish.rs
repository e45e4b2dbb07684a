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

/// One discrepancy as the log writes it (one JSON object per line).
///
/// ```
/// # use shadow_runtime::{Discrepancy, Outcome};
/// # let d = Discrepancy { experiment: "e", context: vec![("k", "v".into())], outcome: Outcome::Mismatch,
/// #   detail: "diff".into(), primary: Some("1".into()), candidate: Some("2".into()),
/// #   primary_duration: Default::default(), candidate_duration: Default::default(),
/// #   primary_cpu: None, candidate_cpu: None, at: std::time::SystemTime::now() };
/// let line = shadow_runtime::publish::to_json(&d);
/// assert_eq!(line["experiment"], "e");
/// assert_eq!(line["context"]["k"], "v");
/// ```
pub fn to_json(d: &Discrepancy) -> Value {
    let ctx: Map<String, Value> = d
        .context
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
        .collect();
    json!({
        "experiment": d.experiment,
        "outcome": d.outcome.as_str(),
        "at_ms": d.at.duration_since(UNIX_EPOCH).map(|t| t.as_millis() as u64).unwrap_or(0),
        "detail": d.detail,
        "primary": d.primary,
        "candidate": d.candidate,
        "primary_us": d.primary_duration.as_micros() as u64,
        "candidate_us": d.candidate_duration.as_micros() as u64,
        "context": ctx,
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

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) {
        for msg in rx {
            match msg {
                Msg::Line(line) => {
                    if let Err(e) = self.write(&line) {
                        tracing::warn!(target: "parallel_run", error = %e, path = %self.path.display(), "discrepancy log write failed");
                    }
                }
                Msg::Flush(done) => {
                    let _ = self.file.flush();
                    let _ = done.send(());
                }
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
