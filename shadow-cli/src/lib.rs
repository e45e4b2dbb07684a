//! `parallel-run report`: reads the discrepancy logs that `parallel_run::publish::JsonLinesLog`
//! writes and says, per experiment, whether the rewrite is ready: match rate against a target,
//! outcome counts, deadline, discrepancies grouped by diff signature, the paths that differ most
//! and the latency of both sides. As text, as one JSON document (`--json`, see [`Report`]) or as
//! a self-contained HTML page (`--html FILE`).
//!
//! The binary is a thin wrapper around [`run`]; the pieces are public for tests and benchmarks:
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("shadow-cli-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let log = dir.join("d.jsonl");
//! std::fs::write(&log, concat!(
//!     r#"{"experiment":"e","outcome":"mismatch","paths":["$.lines[3].amount"]}"#, "\n",
//!     r#"{"kind":"summary","run":"1","experiment":"e","outcomes":{"match":99,"mismatch":1}}"#, "\n",
//! )).unwrap();
//! let r = shadow_cli::report_files(&[log], &Default::default()).unwrap();
//! let e = &r.experiments[0];
//! assert_eq!((e.calls, e.verdict), (Some(100), shadow_cli::Verdict::NotReady));
//! assert_eq!(e.signatures[0].signature, "$.lines[*].amount");
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod args;
pub mod html;
pub mod progress;
#[cfg(feature = "proxy")]
pub mod proxy;
pub mod report;
pub mod scan;
pub mod synth;
pub mod text;

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

pub use report::{Report, ReportOptions, Verdict};
pub use scan::{normalise_path, Scanner};

/// Runs the command line `args` (without the program name), writing to `out` and `err`, and
/// returns the exit status: 0 done, 1 an input or output failed or no line of the input was
/// usable, 2 bad usage.
///
/// ```
/// let (mut out, mut err) = (Vec::new(), Vec::new());
/// assert_eq!(shadow_cli::run(["report", "--bogus", "x"].map(Into::into), &mut out, &mut err), 2);
/// assert!(String::from_utf8(err).unwrap().contains("--bogus"));
/// assert_eq!(shadow_cli::run(["--help"].map(Into::into), &mut out, &mut Vec::new()), 0);
/// ```
pub fn run(
    args: impl IntoIterator<Item = OsString>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let cmd = match args::parse(args) {
        Ok(c) => c,
        Err(e) => return usage(&e, out, err),
    };
    let done = match cmd {
        args::Command::Report(a) => report_command(&a, out, err),
        #[cfg(feature = "proxy")]
        args::Command::Proxy(a) => proxy::command(&a, out),
    };
    match done {
        Ok(()) => 0,
        Err(msg) => {
            let _ = writeln!(err, "parallel-run: {msg}");
            1
        }
    }
}

/// What clap said instead of a command: help or the version on `out` (exit 0), or a usage error
/// on `err` (exit 2), as `parallel-run: <what is wrong>` and clap's usage line.
fn usage(e: &clap::Error, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let text = e.render().to_string();
    if !e.use_stderr() {
        return match out.write_all(text.as_bytes()) {
            Ok(()) => 0,
            Err(e) => {
                let _ = writeln!(err, "parallel-run: {}", output_error(e));
                1
            }
        };
    }
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    let _ = write!(err, "parallel-run: {text}");
    2
}

fn output_error(e: io::Error) -> String {
    format!("cannot write the report: {e}")
}

fn report_command(
    a: &args::ReportArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), String> {
    let opts = ReportOptions {
        target_percent: a.target_percent,
        top: a.top,
        ..ReportOptions::default()
    };
    let inputs = open_inputs(&a.files)?;
    // Refused before any work: the page must not replace an input or a device.
    if let Some(path) = &a.html {
        check_output(path, a.force, &inputs)?;
    }
    let r = scan(&a.files, inputs, &opts, true)?;
    if a.json {
        let mut doc = serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?;
        doc.push('\n');
        out.write_all(doc.as_bytes()).map_err(output_error)?;
    } else {
        out.write_all(text::render(&r).as_bytes())
            .map_err(output_error)?;
    }
    out.flush().map_err(output_error)?;
    if let Some(path) = &a.html {
        std::fs::write(path, html::render(&r))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        let _ = writeln!(err, "parallel-run: wrote {}", path.display());
    }
    if r.used_lines == 0 {
        return Err(if r.lines == 0 {
            "nothing to report: the input is empty".to_owned()
        } else {
            format!(
                "nothing to report: none of the {} lines read is a usable discrepancy or summary line",
                text::thousands(r.lines)
            )
        });
    }
    Ok(())
}

/// Refuses an `--html` destination that is one of the inputs (even with `--force`), or that
/// exists and is not a regular file (without `--force`).
fn check_output(
    path: &Path,
    force: bool,
    inputs: &[(String, Input, Option<Identity>)],
) -> Result<(), String> {
    let name = path.display();
    let link = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot write {name}: {e}")),
    };
    // Through symbolic links and hard links alike.
    let target = std::fs::metadata(path).ok();
    let same = target
        .as_ref()
        .and_then(identity)
        .is_some_and(|id| inputs.iter().any(|(_, _, input)| *input == Some(id)));
    if same {
        return Err(format!(
            "{name} is one of the inputs: the report never overwrites its input; give --html another file"
        ));
    }
    if force || link.is_file() {
        return Ok(());
    }
    Err(format!(
        "{name} is {}, not a regular file: not written (--force writes to it anyway)",
        kind(&link)
    ))
}

/// What a path is, in words.
fn kind(m: &std::fs::Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_symlink() {
        return "a symbolic link";
    }
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a named pipe";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "something other than a file"
}

/// A file's device and inode: two paths with the same are the same file.
type Identity = (u64, u64);

#[cfg(unix)]
fn identity(m: &std::fs::Metadata) -> Option<Identity> {
    use std::os::unix::fs::MetadataExt;
    Some((m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn identity(_: &std::fs::Metadata) -> Option<Identity> {
    None
}

/// Standard input's identity, when it is a file (`< a.jsonl`).
#[cfg(unix)]
fn stdin_identity() -> Option<Identity> {
    use std::os::fd::AsFd;
    let fd = io::stdin().as_fd().try_clone_to_owned().ok()?;
    identity(&File::from(fd).metadata().ok()?)
}

#[cfg(not(unix))]
fn stdin_identity() -> Option<Identity> {
    None
}

/// Reads every file (`-` is standard input) and builds the report; no progress bar.
///
/// ```
/// let e = shadow_cli::report_files(&["/no/such/file.jsonl"], &Default::default()).unwrap_err();
/// assert!(e.to_string().contains("/no/such/file.jsonl"));
/// ```
pub fn report_files(files: &[impl AsRef<Path>], opts: &ReportOptions) -> io::Result<Report> {
    let files: Vec<PathBuf> = files.iter().map(|f| f.as_ref().to_path_buf()).collect();
    let inputs = open_inputs(&files).map_err(io::Error::other)?;
    scan(&files, inputs, opts, false).map_err(io::Error::other)
}

enum Input {
    Stdin,
    File(File, u64),
}

fn display(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    }
}

/// Opens every input, so that a missing file fails before any work.
fn open_inputs(files: &[PathBuf]) -> Result<Vec<(String, Input, Option<Identity>)>, String> {
    let mut inputs = Vec::with_capacity(files.len());
    for path in files {
        let name = display(path);
        if path.as_os_str() == "-" {
            inputs.push((name, Input::Stdin, stdin_identity()));
            continue;
        }
        let f = File::open(path).map_err(|e| format!("cannot open {name}: {e}"))?;
        let meta = f
            .metadata()
            .map_err(|e| format!("cannot read {name}: {e}"))?;
        if meta.is_dir() {
            return Err(format!("{name} is a directory, not a log file"));
        }
        let id = identity(&meta);
        inputs.push((name, Input::File(f, meta.len()), id));
    }
    Ok(inputs)
}

/// Reads the opened inputs and builds the report.
fn scan(
    files: &[PathBuf],
    inputs: Vec<(String, Input, Option<Identity>)>,
    opts: &ReportOptions,
    bar: bool,
) -> Result<Report, String> {
    let total = inputs
        .iter()
        .map(|(_, i, _)| match i {
            Input::File(_, len) => *len,
            Input::Stdin => 0,
        })
        .fold(0u64, u64::saturating_add);
    let mut progress = progress::Progress::new(total, bar);
    let mut scanner = Scanner::new();
    for (name, input, _) in inputs {
        let r: Box<dyn Read> = match input {
            Input::Stdin => Box::new(io::stdin().lock()),
            Input::File(f, _) => Box::new(f),
        };
        scanner
            .read(&name, r, |n| progress.add(n))
            .map_err(|e| format!("cannot read {name}: {e}"))?;
    }
    progress.finish();
    let names = files.iter().map(|p| display(p)).collect();
    Ok(Report::build(&scanner, opts, names))
}
