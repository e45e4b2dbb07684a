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

#![warn(missing_docs)]

pub mod args;
pub mod html;
pub mod progress;
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
/// returns the exit status: 0 done, 1 an input or output failed, 2 bad usage.
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
        Err(msg) => {
            let _ = writeln!(err, "parallel-run: {msg}\n(see `parallel-run --help`)");
            return 2;
        }
    };
    let done = match cmd {
        args::Command::Help => out.write_all(args::HELP.as_bytes()).map_err(output_error),
        args::Command::Version => {
            writeln!(out, "parallel-run {}", env!("CARGO_PKG_VERSION")).map_err(output_error)
        }
        args::Command::Report(a) => report_command(&a, out, err),
    };
    match done {
        Ok(()) => 0,
        Err(msg) => {
            let _ = writeln!(err, "parallel-run: {msg}");
            1
        }
    }
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
    let r = scan_inputs(&a.files, &opts, true)?;
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
    Ok(())
}

/// Reads every file (`-` is standard input) and builds the report; no progress bar.
///
/// ```
/// let e = shadow_cli::report_files(&["/no/such/file.jsonl"], &Default::default()).unwrap_err();
/// assert!(e.to_string().contains("/no/such/file.jsonl"));
/// ```
pub fn report_files(files: &[impl AsRef<Path>], opts: &ReportOptions) -> io::Result<Report> {
    let files: Vec<PathBuf> = files.iter().map(|f| f.as_ref().to_path_buf()).collect();
    scan_inputs(&files, opts, false).map_err(io::Error::other)
}

enum Input {
    Stdin,
    File(File),
}

fn display(path: &Path) -> String {
    if path.as_os_str() == "-" {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    }
}

/// Opens every input first, so that a missing file fails before any work, then reads them.
fn scan_inputs(files: &[PathBuf], opts: &ReportOptions, bar: bool) -> Result<Report, String> {
    let mut inputs = Vec::with_capacity(files.len());
    let mut total = 0u64;
    for path in files {
        let name = display(path);
        if path.as_os_str() == "-" {
            inputs.push((name, Input::Stdin));
            continue;
        }
        let f = File::open(path).map_err(|e| format!("cannot open {name}: {e}"))?;
        let meta = f
            .metadata()
            .map_err(|e| format!("cannot read {name}: {e}"))?;
        if meta.is_dir() {
            return Err(format!("{name} is a directory, not a log file"));
        }
        total += meta.len();
        inputs.push((name, Input::File(f)));
    }
    let mut progress = progress::Progress::new(total, bar);
    let mut scanner = Scanner::new();
    for (name, input) in inputs {
        let r: Box<dyn Read> = match input {
            Input::Stdin => Box::new(io::stdin().lock()),
            Input::File(f) => Box::new(f),
        };
        scanner
            .read(&name, r, |n| progress.add(n))
            .map_err(|e| format!("cannot read {name}: {e}"))?;
    }
    progress.finish();
    let names = files.iter().map(|p| display(p)).collect();
    Ok(Report::build(&scanner, opts, names))
}
