//! Command-line arguments, parsed by hand.

use std::ffi::OsString;
use std::path::PathBuf;

/// The help text (`parallel-run --help`).
pub const HELP: &str = "\
parallel-run: reports on parallel-run discrepancy logs

USAGE:
    parallel-run report [OPTIONS] FILE...

Reads discrepancy logs (JSON lines written by parallel_run::publish::JsonLinesLog; `-` reads
standard input) and prints, per experiment: the match rate against the target and a verdict
(READY, NOT READY, or UNKNOWN when the log has no summary line), outcome counts, deadline, ramp
and gate, the discrepancies grouped by diff signature, the paths that differ most, and the
latency of both sides.

OPTIONS:
    --target PERCENT   match rate needed for READY [default: 99.9]
    --top N            signature groups and paths listed per experiment [default: 10]
    --json             print the report as one JSON document instead of text
    --html FILE        also write a self-contained HTML page to FILE (a new file, or one
                       that is a regular file; never one of the inputs)
    --force            let --html write to something that is not a regular file (a named
                       pipe, a device, a symbolic link's target)
    -h, --help         print this help
    -V, --version      print the version

Gzip logs (such as FILE.1.gz from logrotate, one member or several) are read as they are, and a
UTF-8 byte order mark before the first line is skipped. A line whose counts cannot be right (a
negative count, an outcome named twice, counts that add up past 2^64 - 1) is malformed: malformed
lines are counted and the first 20 listed as FILE:LINE.

EXIT STATUS:
    0 the report was made (whatever the verdicts), 1 an input or output failed or the input
    held no usable line (empty, or every line malformed), 2 bad usage
";

/// What to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Print [`HELP`].
    Help,
    /// Print the version.
    Version,
    /// `report`.
    Report(ReportArgs),
}

/// The arguments of `report`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportArgs {
    /// `--target`, percent.
    pub target_percent: f64,
    /// `--top`.
    pub top: usize,
    /// `--json`.
    pub json: bool,
    /// `--html`.
    pub html: Option<PathBuf>,
    /// `--force`: `--html` may write to something that is not a regular file.
    pub force: bool,
    /// The inputs; `-` is standard input.
    pub files: Vec<PathBuf>,
}

/// Parses the arguments after the program name.
///
/// ```
/// use shadow_cli::args::{parse, Command};
/// let Ok(Command::Report(a)) = parse(["report", "--top=3", "--target", "99.5%", "a.jsonl"].map(Into::into)) else {
///     panic!()
/// };
/// assert_eq!((a.top, a.target_percent, a.files.len()), (3, 99.5, 1));
/// assert!(parse(["report", "--frobnicate", "a"].map(Into::into)).unwrap_err().contains("--frobnicate"));
/// ```
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut it = args.into_iter();
    let Some(cmd) = it.next() else {
        return Err("no command given (try `parallel-run report FILE...`)".to_owned());
    };
    match cmd.to_str() {
        Some("report") => {}
        Some("-h" | "--help" | "help") => return Ok(Command::Help),
        Some("-V" | "--version") => return Ok(Command::Version),
        _ => {
            return Err(format!(
                "unknown command `{}` (the command is `report`)",
                cmd.to_string_lossy()
            ))
        }
    }
    let mut a = ReportArgs {
        target_percent: 99.9,
        top: 10,
        json: false,
        html: None,
        force: false,
        files: Vec::new(),
    };
    let mut only_files = false;
    while let Some(arg) = it.next() {
        let s = arg.to_string_lossy();
        if only_files || s == "-" || !s.starts_with('-') {
            a.files.push(PathBuf::from(arg));
            continue;
        }
        let (flag, inline) = match s.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(OsString::from(v))),
            _ => (s.to_string(), None),
        };
        let mut value = |name: &str| -> Result<OsString, String> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("`{name}` needs a value"))
        };
        match flag.as_str() {
            "--" => only_files = true,
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--json" if inline.is_none() => a.json = true,
            "--force" if inline.is_none() => a.force = true,
            "--target" => {
                let v = value("--target")?;
                let v = v.to_string_lossy();
                a.target_percent = v
                    .trim_end_matches('%')
                    .parse::<f64>()
                    .ok()
                    .filter(|t| *t > 0.0 && *t <= 100.0)
                    .ok_or_else(|| {
                        format!("`--target {v}`: expected a percentage in (0, 100], e.g. 99.9")
                    })?;
            }
            "--top" => {
                let v = value("--top")?;
                let v = v.to_string_lossy();
                a.top = v
                    .parse()
                    .map_err(|_| format!("`--top {v}`: expected a whole number, e.g. 10"))?;
            }
            "--html" => a.html = Some(PathBuf::from(value("--html")?)),
            _ => {
                return Err(format!(
                    "unknown option `{s}` \
                     (options: --target, --top, --json, --html, --force, --help)"
                ))
            }
        }
    }
    if a.files.is_empty() {
        return Err("no input file (give one or more FILEs, or `-` for standard input)".to_owned());
    }
    Ok(Command::Report(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(OsString::from))
    }

    fn report(args: &[&str]) -> ReportArgs {
        match p(args) {
            Ok(Command::Report(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_and_files() {
        let a = report(&[
            "report", "a", "--json", "--html", "o.html", "-", "--", "--b",
        ]);
        assert!(a.json);
        assert!(!a.force);
        assert!(report(&["report", "--force", "a"]).force);
        assert_eq!(a.html, Some(PathBuf::from("o.html")));
        assert_eq!(a.files, ["a", "-", "--b"].map(PathBuf::from));
        assert_eq!(
            report(&["report", "--html=x.html", "f"]).html,
            Some("x.html".into())
        );
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(p(&[]).is_err());
        assert!(p(&["reprot"]).unwrap_err().contains("reprot"));
        assert!(p(&["report"]).unwrap_err().contains("no input"));
        assert!(p(&["report", "--top"])
            .unwrap_err()
            .contains("needs a value"));
        assert!(p(&["report", "--top", "x", "f"])
            .unwrap_err()
            .contains("whole number"));
        assert!(p(&["report", "--target", "0", "f"]).is_err());
        assert!(p(&["report", "--target", "101", "f"]).is_err());
        assert!(p(&["report", "--target", "nan", "f"]).is_err());
        assert!(p(&["report", "--json=1", "f"]).is_err());
        assert!(p(&["report", "--force=yes", "f"]).is_err());
        assert!(p(&["report", "-x", "f"]).unwrap_err().contains("`-x`"));
    }

    #[test]
    fn help_anywhere() {
        assert_eq!(p(&["--help"]), Ok(Command::Help));
        assert_eq!(p(&["report", "-h"]), Ok(Command::Help));
        assert_eq!(p(&["-V"]), Ok(Command::Version));
    }
}
