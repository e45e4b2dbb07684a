//! What the report's integration tests share: a temp directory per test, log files written into
//! it, the library's report and the binary's output.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use shadow_cli::{report_files, Report, ReportOptions};

/// A fresh directory for one test, removed when dropped.
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `shadow-cli-<suite>-<pid>-<test>` under the system's temp directory, empty.
pub fn dir(suite: &str, test: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("shadow-cli-{suite}-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TempDir(d)
}

/// Writes `lines` (each ended by a newline) to `dir/name`.
pub fn write(dir: &Path, name: &str, lines: &[&str]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p
}

/// The library's report over `files`, default options.
pub fn report(files: &[PathBuf]) -> Report {
    report_files(files, &ReportOptions::default()).unwrap()
}

/// The `parallel-run` binary with `args`, standard input closed.
pub fn bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_parallel-run"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}
