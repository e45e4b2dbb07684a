//! The JSON-lines discrepancy log: its writer thread (bounded queue, summary lines, rotation by
//! size) and the checks that keep it to files it created.

use super::*;

pub(super) enum Msg {
    Line(String),
    Flush(SyncSender<()>),
}

/// Why [`JsonLinesLog::open`] (or [`create`](JsonLinesLog::create)) refused a path. The log
/// writes only files it owns: a file it creates, or a regular file that already holds a
/// discrepancy log (its first line is one). It never follows a symbolic link, never creates a
/// directory, and never writes to, renames or replaces a device, a named pipe, a socket, a
/// directory or someone else's file; the same holds for the rotation target `path.1`. The
/// message says what to do instead.
///
/// ```
/// use shadow_runtime::publish::{JsonLinesLog, OpenError};
/// match JsonLinesLog::open("/no/such/dir/d.jsonl") {
///     Err(e @ OpenError::MissingDirectory { .. }) => assert!(e.to_string().contains("create it first")),
///     other => panic!("{:?}", other.map(|_| ())),
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// The directory of `path` does not exist: the log does not create directories.
    MissingDirectory {
        /// The log's path.
        path: PathBuf,
    },
    /// `path` exists and is not a regular file (`found`: "a symbolic link", "a named pipe",
    /// "a character device", ...).
    NotAFile {
        /// The log's path.
        path: PathBuf,
        /// What is there.
        found: &'static str,
    },
    /// `path` is a regular file that does not hold a discrepancy log.
    NotALog {
        /// The log's path.
        path: PathBuf,
    },
    /// The rotation target `rotated` (`path.1`) exists and is not a discrepancy log file
    /// (`found` says what it is): rotating would replace it.
    RotationTarget {
        /// The rotation target.
        rotated: PathBuf,
        /// What is there.
        found: &'static str,
    },
    /// Reading, creating or opening `path` failed.
    Io {
        /// The log's path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::MissingDirectory { path } => write!(
                f,
                "cannot open the discrepancy log {}: its directory {} does not exist (the log \
                 never creates directories: create it first, or give a path in an existing one)",
                path.display(),
                path.parent()
                    .map_or("?".into(), |d| d.display().to_string())
            ),
            OpenError::NotAFile { path, found } => write!(
                f,
                "refusing {} as the discrepancy log: it is {found}, not a regular file (the log \
                 writes, rotates and replaces only regular files it owns: give the path of a new \
                 or log file; for a pipe or a device, open it yourself and use \
                 JsonLinesLog::from_writer)",
                path.display()
            ),
            OpenError::NotALog { path } => write!(
                f,
                "refusing {} as the discrepancy log: the file exists and does not hold a \
                 discrepancy log (its first line is not one), and the log would append to it and \
                 rotate it away: give a new path, or move the file",
                path.display()
            ),
            OpenError::RotationTarget { rotated, found } => write!(
                f,
                "refusing the discrepancy log: its rotation target {} exists and is {found}, \
                 which rotation would replace: move it away, or give the log another path",
                rotated.display()
            ),
            OpenError::Io { path, source } => write!(
                f,
                "cannot open the discrepancy log {}: {source}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<OpenError> for io::Error {
    fn from(e: OpenError) -> io::Error {
        let kind = match &e {
            OpenError::MissingDirectory { .. } => io::ErrorKind::NotFound,
            OpenError::Io { source, .. } => source.kind(),
            _ => io::ErrorKind::AlreadyExists,
        };
        io::Error::new(kind, e)
    }
}

/// What a path holds, as far as the log is concerned.
#[derive(Debug, PartialEq)]
pub(super) enum Found {
    Nothing,
    /// A regular file: empty, or holding a discrepancy log.
    Empty(Identity),
    Log(Identity),
}

/// Device and inode (unix): the identity of a file, to notice it was swapped.
pub(super) type Identity = Option<(u64, u64)>;

#[cfg(unix)]
pub(super) fn identity(m: &std::fs::Metadata) -> Identity {
    use std::os::unix::fs::MetadataExt;
    Some((m.dev(), m.ino()))
}

#[cfg(not(unix))]
pub(super) fn identity(_: &std::fs::Metadata) -> Identity {
    None
}

/// What is at `path`, in words, when it is not a regular file.
pub(super) fn what(m: &std::fs::Metadata) -> Option<&'static str> {
    let t = m.file_type();
    if t.is_symlink() {
        return Some("a symbolic link");
    }
    if t.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("a named pipe (FIFO)");
        }
        if t.is_char_device() {
            return Some("a character device");
        }
        if t.is_block_device() {
            return Some("a block device");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    (!t.is_file()).then_some("not a regular file")
}

/// Longest first line read to recognise a log.
pub(super) const PROBE_BYTES: u64 = 16 << 20;

/// Whether the first line of the regular file at `path` is a discrepancy log line: an object
/// with a string `experiment` and a `kind` (format v1) or an `outcome` (before v1).
pub(super) fn holds_log(path: &Path) -> io::Result<bool> {
    let f = File::open(path)?;
    let mut first =
        serde_json::Deserializer::from_reader(io::BufReader::new(io::Read::take(f, PROBE_BYTES)))
            .into_iter::<Value>();
    Ok(match first.next() {
        Some(Ok(v)) => {
            v.get("experiment").is_some_and(Value::is_string)
                && (matches!(
                    v.get("kind").and_then(Value::as_str),
                    Some("discrepancy" | "summary")
                ) || v.get("outcome").is_some_and(Value::is_string))
        }
        _ => false,
    })
}

/// Looks at `path` without following a link or opening anything but a regular file.
pub(super) fn look(path: &Path) -> Result<Found, (Option<&'static str>, io::Error)> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Found::Nothing),
        Err(e) => Err((None, e)),
        Ok(m) => {
            if let Some(found) = what(&m) {
                return Err((Some(found), io::Error::other(found)));
            }
            let id = identity(&m);
            if m.len() == 0 {
                return Ok(Found::Empty(id));
            }
            match holds_log(path) {
                Ok(true) => Ok(Found::Log(id)),
                Ok(false) => Err((
                    Some("a file that does not hold a discrepancy log"),
                    io::Error::other("not a log"),
                )),
                Err(e) => Err((None, e)),
            }
        }
    }
}

/// `path.1`.
pub(super) fn rotated(path: &Path) -> PathBuf {
    let mut r = path.to_path_buf().into_os_string();
    r.push(".1");
    PathBuf::from(r)
}

/// Opens the log file at `path` if the log owns it (creating it if absent), after checking
/// that rotation will not replace something it does not own. `fresh` empties an existing log.
pub(super) fn open_owned(path: &Path, fresh: bool) -> Result<File, OpenError> {
    let io_err = |source| OpenError::Io {
        path: path.to_path_buf(),
        source,
    };
    let found = look(path).map_err(|(found, source)| match found {
        Some("a file that does not hold a discrepancy log") => OpenError::NotALog {
            path: path.to_path_buf(),
        },
        Some(found) => OpenError::NotAFile {
            path: path.to_path_buf(),
            found,
        },
        None => io_err(source),
    })?;
    let rotated = rotated(path);
    match look(&rotated) {
        Ok(Found::Nothing | Found::Log(_)) => {}
        Ok(Found::Empty(_)) => {
            return Err(OpenError::RotationTarget {
                rotated,
                found: "an empty file (rotation never leaves one)",
            })
        }
        Err((Some(found), _)) => return Err(OpenError::RotationTarget { rotated, found }),
        Err((None, source)) => {
            return Err(OpenError::Io {
                path: rotated,
                source,
            })
        }
    }
    let file = match found {
        // `create_new` fails on anything that appeared there since, a dangling link included.
        Found::Nothing => OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(path)
            .map_err(|e| {
                let missing_dir = e.kind() == io::ErrorKind::NotFound
                    && path
                        .parent()
                        .is_some_and(|d| !d.as_os_str().is_empty() && !d.is_dir());
                if missing_dir {
                    OpenError::MissingDirectory {
                        path: path.to_path_buf(),
                    }
                } else {
                    io_err(e)
                }
            })?,
        Found::Empty(id) | Found::Log(id) => {
            let f = OpenOptions::new().append(true).open(path).map_err(io_err)?;
            // The file opened is the one looked at (not swapped for a link or a device since).
            let m = f.metadata().map_err(io_err)?;
            if !m.is_file() || identity(&m) != id {
                return Err(io_err(io::Error::other(
                    "the file was replaced while the log opened it",
                )));
            }
            if fresh {
                f.set_len(0).map_err(io_err)?;
            }
            f
        }
    };
    Ok(file)
}

/// A JSON-lines discrepancy log written by a background thread. Cloning shares the log.
#[derive(Clone)]
pub struct JsonLinesLog {
    tx: SyncSender<Msg>,
    dropped: Arc<AtomicU64>,
    max_bytes: Arc<AtomicU64>,
}

impl JsonLinesLog {
    /// Opens (appends to) the log at `path`, with a queue of 4096 lines and rotation at 64 MiB
    /// (the full file becomes `path.1`, replacing the previous `path.1`).
    ///
    /// `path` must be absent (it is created; its directory must exist), an empty regular file,
    /// or a regular file holding a discrepancy log; `path.1` must be absent or hold a
    /// discrepancy log. Anything else is refused with an [`OpenError`] saying why: the log never
    /// follows a symbolic link, creates a directory, or writes to, renames or replaces a device,
    /// a named pipe or someone else's file. For a pipe or a device, use
    /// [`from_writer`](Self::from_writer).
    ///
    /// ```
    /// # let p = std::env::temp_dir().join(format!("pr-open-{}.jsonl", std::process::id()));
    /// let log = shadow_runtime::publish::JsonLinesLog::open(&p).unwrap();
    /// assert_eq!(log.dropped(), 0);
    /// let e = shadow_runtime::publish::JsonLinesLog::open("/dev/null").err().unwrap();
    /// assert!(e.to_string().contains("a character device"));
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<JsonLinesLog, OpenError> {
        Self::with_queue(path, 4096)
    }

    /// [`open`](Self::open), but an existing log is emptied first: one run per file.
    ///
    /// ```
    /// # let p = std::env::temp_dir().join(format!("pr-create-{}.jsonl", std::process::id()));
    /// let log = shadow_runtime::publish::JsonLinesLog::create(&p).unwrap();
    /// log.flush();
    /// assert_eq!(std::fs::metadata(&p).unwrap().len(), 0);
    /// ```
    pub fn create(path: impl AsRef<Path>) -> Result<JsonLinesLog, OpenError> {
        let path = path.as_ref();
        let file = open_owned(path, true)?;
        Self::start(Sink::owned(path, file), 4096).map_err(|source| OpenError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// [`open`](Self::open) with a queue of `lines` entries.
    ///
    /// ```
    /// # let p = std::env::temp_dir().join(format!("pr-queue-{}.jsonl", std::process::id()));
    /// let log = shadow_runtime::publish::JsonLinesLog::with_queue(&p, 128).unwrap();
    /// # let _ = log;
    /// ```
    pub fn with_queue(path: impl AsRef<Path>, lines: usize) -> Result<JsonLinesLog, OpenError> {
        let path = path.as_ref();
        let file = open_owned(path, false)?;
        Self::start(Sink::owned(path, file), lines).map_err(|source| OpenError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// A log written to `w` (a pipe, a socket, standard error, a file you opened) from the same
    /// background thread and bounded queue of `lines` lines. It is never rotated:
    /// [`max_bytes`](Self::max_bytes) does not apply. Fails only if the thread cannot start.
    ///
    /// ```
    /// let log = shadow_runtime::publish::JsonLinesLog::from_writer(std::io::stderr(), 1024).unwrap();
    /// log.flush();
    /// ```
    pub fn from_writer(w: impl Write + Send + 'static, lines: usize) -> io::Result<JsonLinesLog> {
        Self::start(Sink::Stream(Box::new(w)), lines)
    }

    fn start(sink: Sink, lines: usize) -> io::Result<JsonLinesLog> {
        let (tx, rx) = sync_channel(lines.max(1));
        let max_bytes = Arc::new(AtomicU64::new(64 << 20));
        let dropped = Arc::new(AtomicU64::new(0));
        let (size, label) = match &sink {
            Sink::File(f) => (
                f.file.metadata().map_or(0, |m| m.len()),
                f.path.display().to_string(),
            ),
            Sink::Stream(_) => (0, WRITER_PATH.to_owned()),
        };
        let writer = Writer {
            size,
            sink,
            max_bytes: max_bytes.clone(),
            dropped: dropped.clone(),
            dropped_key: crate::record::observe::log_dropped_key(label),
        };
        std::thread::Builder::new()
            .name("parallel-run-log".into())
            .spawn(move || writer.run(rx))?;
        Ok(JsonLinesLog {
            tx,
            dropped,
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

    /// Lines dropped because the queue was full (the caller never waits for the disk). The
    /// log's thread also publishes it as `parallel_run_discrepancy_log_dropped_total{path}`
    /// (the path given, or `(writer)` for [`from_writer`](Self::from_writer)), at 0 from the
    /// start, then once a second and at each [`flush`](Self::flush).
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

/// The log's own file, which it may rotate.
pub(super) struct OwnedFile {
    path: PathBuf,
    file: File,
    /// Rotation was refused once (warned about); the file grows past `max_bytes`.
    rotation_refused: bool,
}

/// Where the lines go.
pub(super) enum Sink {
    File(OwnedFile),
    /// [`JsonLinesLog::from_writer`]: never rotated.
    Stream(Box<dyn Write + Send>),
}

impl Sink {
    fn owned(path: &Path, file: File) -> Sink {
        Sink::File(OwnedFile {
            path: path.to_path_buf(),
            file,
            rotation_refused: false,
        })
    }

    fn out(&mut self) -> &mut dyn Write {
        match self {
            Sink::File(f) => &mut f.file,
            Sink::Stream(w) => w,
        }
    }
}

pub(super) struct Writer {
    sink: Sink,
    size: u64,
    max_bytes: Arc<AtomicU64>,
    /// [`JsonLinesLog::dropped`], published as a metric under `dropped_key`.
    dropped: Arc<AtomicU64>,
    dropped_key: metrics::Key,
}

/// How often the log writes summary lines.
pub(super) const SUMMARY_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
/// How often the log publishes its dropped-lines counter.
const METRIC_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// The `path` label of a [`JsonLinesLog::from_writer`] log's metric.
const WRITER_PATH: &str = "(writer)";

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) {
        let mut next_summary = std::time::Instant::now() + SUMMARY_EVERY;
        // At once: the series exists at 0 before the first drop, so `increase()` sees that one.
        let mut next_metric = std::time::Instant::now();
        loop {
            let now = std::time::Instant::now();
            if now >= next_metric {
                self.publish_dropped();
                next_metric = now + METRIC_EVERY;
            }
            let wait = next_summary.min(next_metric).saturating_duration_since(now);
            match rx.recv_timeout(wait) {
                Ok(Msg::Line(line)) => self.line(&line),
                Ok(Msg::Flush(done)) => {
                    self.summaries();
                    let _ = self.sink.out().flush();
                    self.publish_dropped();
                    let _ = done.send(());
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    self.summaries();
                    let _ = self.sink.out().flush();
                    self.publish_dropped();
                    return;
                }
            }
            if std::time::Instant::now() >= next_summary {
                self.summaries();
                next_summary = std::time::Instant::now() + SUMMARY_EVERY;
            }
        }
    }

    fn publish_dropped(&self) {
        crate::record::observe::log_dropped(&self.dropped_key, self.dropped.load(Relaxed));
    }

    fn line(&mut self, line: &str) {
        if let Err(e) = self.write(line) {
            let path = match &self.sink {
                Sink::File(f) => f.path.display().to_string(),
                Sink::Stream(_) => "(a writer)".to_owned(),
            };
            tracing::warn!(target: "parallel_run", error = %e, path = %path, "discrepancy log write failed");
        }
    }

    /// One summary line per experiment with any call.
    fn summaries(&mut self) {
        let Some(source) = SUMMARIES.get() else {
            return;
        };
        for s in source() {
            if s.calls() > 0 {
                self.line(&summary_json(&s).to_string());
            }
        }
    }

    fn write(&mut self, line: &str) -> io::Result<()> {
        let len = line.len() as u64 + 1;
        if self.size > 0 && self.size.saturating_add(len) > self.max_bytes.load(Relaxed) {
            self.rotate();
        }
        let out = self.sink.out();
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        self.size = self.size.saturating_add(len);
        Ok(())
    }

    /// Renames the full file to `path.1` and starts a new one, if both are still the log's own;
    /// otherwise warns once and keeps appending.
    fn rotate(&mut self) {
        let Sink::File(f) = &mut self.sink else {
            return;
        };
        if f.rotation_refused {
            return;
        }
        let target = rotated(&f.path);
        // The path must still be the file written (not moved away, or swapped for a link).
        let ours = f.file.metadata().ok().and_then(|m| identity(&m));
        let at_path = std::fs::symlink_metadata(&f.path)
            .ok()
            .filter(|m| m.is_file())
            .and_then(|m| identity(&m));
        let refused = match look(&target) {
            _ if cfg!(unix) && (ours.is_none() || at_path != ours) => {
                format!("{} is no longer the file it writes", f.path.display())
            }
            Ok(Found::Nothing | Found::Log(_)) => match std::fs::rename(&f.path, &target) {
                Ok(()) => match OpenOptions::new()
                    .append(true)
                    .create_new(true)
                    .open(&f.path)
                {
                    Ok(new) => {
                        f.file = new;
                        self.size = 0;
                        return;
                    }
                    // Something appeared at the path: keep writing to the renamed file.
                    Err(e) => format!("cannot start a new {}: {e}", f.path.display()),
                },
                Err(e) => format!("cannot rename it to {}: {e}", target.display()),
            },
            Ok(Found::Empty(_)) => {
                format!("{} is an empty file it did not write", target.display())
            }
            Err((Some(found), _)) => format!("{} is {found}", target.display()),
            Err((None, e)) => format!("cannot look at {}: {e}", target.display()),
        };
        f.rotation_refused = true;
        tracing::warn!(
            target: "parallel_run",
            path = %f.path.display(),
            "discrepancy log not rotated ({refused}): it grows past max_bytes; nothing else is replaced"
        );
    }
}
