//! Command-line arguments, parsed by `clap` (derive).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Printed after the commands or the options of `--help`.
const NOTES: &str = "\
`report` reads discrepancy logs (JSON lines written by parallel_run::publish::JsonLinesLog; `-`
reads standard input) and prints, per experiment: the match rate against the target and a verdict
(READY, NOT READY, or UNKNOWN when the log has no summary line), outcome counts, deadline, ramp
and gate, the discrepancies grouped by diff signature, the paths that differ most, and the
latency of both sides.

Gzip logs (such as FILE.1.gz from logrotate, one member or several) are read as they are, and a
UTF-8 byte order mark before the first line is skipped. A line whose counts cannot be right (a
negative count, an outcome named twice, counts that add up past 2^64 - 1) is malformed: malformed
lines are counted and the first 20 listed as FILE:LINE.

Exit status:
    0 the report was made (whatever the verdicts), 1 an input or output failed or the input
    held no usable line (empty, or every line malformed), 2 bad usage";

/// The command line: `parallel-run report [OPTIONS] FILE...`.
#[derive(Clone, Debug, PartialEq, Parser)]
#[command(
    name = "parallel-run",
    version,
    about = "parallel-run: reports on parallel-run discrepancy logs",
    subcommand_required = true,
    arg_required_else_help = false,
    propagate_version = true,
    after_help = NOTES
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Clone, Debug, PartialEq, Subcommand)]
pub enum Command {
    /// `report`: says, per experiment, whether the rewrite is ready.
    #[command(
        about = "Says, per experiment, whether the rewrite is ready",
        after_help = NOTES,
        // `parallel-run report -V` prints `parallel-run 0.1.0`, as `parallel-run -V` does.
        display_name = "parallel-run"
    )]
    Report(ReportArgs),
}

/// The arguments of `report`.
#[derive(Clone, Debug, PartialEq, Args)]
pub struct ReportArgs {
    /// Match rate needed for READY, in percent (99.9 or 99.9%)
    #[arg(long = "target", value_name = "PERCENT", default_value = "99.9", value_parser = percent)]
    pub target_percent: f64,
    /// Signature groups and paths listed per experiment
    #[arg(long, value_name = "N", default_value = "10", value_parser = whole_number)]
    pub top: usize,
    /// Print the report as one JSON document instead of text
    #[arg(long)]
    pub json: bool,
    /// Also write a self-contained HTML page to FILE (never one of the inputs)
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Let --html write to what is not a regular file (a pipe, a device, a link)
    #[arg(long)]
    pub force: bool,
    /// Discrepancy logs (also gzip); `-` is standard input
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

/// `--target`: a percentage in (0, 100], with or without `%`.
fn percent(v: &str) -> Result<f64, String> {
    v.trim_end_matches('%')
        .parse::<f64>()
        .ok()
        .filter(|t| *t > 0.0 && *t <= 100.0)
        .ok_or_else(|| "expected a percentage in (0, 100], e.g. 99.9".to_owned())
}

/// `--top`: a whole number.
fn whole_number(v: &str) -> Result<usize, String> {
    v.parse()
        .map_err(|_| "expected a whole number, e.g. 10".to_owned())
}

/// Parses the arguments after the program name. `--help` and `--version` come back as errors
/// of kind [`clap::error::ErrorKind::DisplayHelp`] and `DisplayVersion`, as clap reports them:
/// [`run`](crate::run) prints them and exits 0.
///
/// ```
/// use shadow_cli::args::{parse, Command};
/// let Command::Report(a) = parse(["report", "--top=3", "--target", "99.5%", "a.jsonl"].map(Into::into)).unwrap();
/// assert_eq!((a.top, a.target_percent, a.files.len()), (3, 99.5, 1));
/// let e = parse(["report", "--frobnicate", "a"].map(Into::into)).unwrap_err();
/// assert!(e.to_string().contains("--frobnicate"));
/// ```
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, clap::Error> {
    let argv = std::iter::once(OsString::from("parallel-run")).chain(args);
    Cli::try_parse_from(argv).map(|cli| cli.command)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn p(args: &[&str]) -> Result<Command, clap::Error> {
        parse(args.iter().map(OsString::from))
    }

    fn report(args: &[&str]) -> ReportArgs {
        match p(args) {
            Ok(Command::Report(a)) => a,
            Err(e) => panic!("{e}"),
        }
    }

    fn error(args: &[&str]) -> String {
        p(args).unwrap_err().to_string()
    }

    #[test]
    fn the_command_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
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
        let d = report(&["report", "f"]);
        assert_eq!(
            (d.target_percent, d.top, d.json, d.html),
            (99.9, 10, false, None)
        );
        assert_eq!(
            report(&["report", "--target=100", "f"]).target_percent,
            100.0
        );
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(error(&[]).contains("subcommand"));
        assert!(error(&["reprot"]).contains("reprot"));
        assert!(error(&["report"]).contains("<FILE>"));
        assert!(error(&["report", "--top"]).contains("--top"));
        assert!(error(&["report", "--top", "x", "f"]).contains("whole number"));
        for bad in ["0", "101", "nan", "-5"] {
            assert!(
                p(&["report", "--target", bad, "f"]).is_err(),
                "--target {bad}"
            );
        }
        assert!(error(&["report", "--target", "0", "f"]).contains("percentage"));
        assert!(error(&["report", "--json=1", "f"]).contains("--json"));
        assert!(p(&["report", "--force=yes", "f"]).is_err());
        assert!(error(&["report", "-x", "f"]).contains("'-x'"));
    }

    #[test]
    fn help_and_version_anywhere() {
        for args in [
            &["--help"][..],
            &["help"],
            &["report", "-h"],
            &["report", "f", "--help"],
        ] {
            assert_eq!(
                p(args).unwrap_err().kind(),
                ErrorKind::DisplayHelp,
                "{args:?}"
            );
        }
        for args in [&["-V"][..], &["--version"], &["report", "-V"]] {
            assert_eq!(
                p(args).unwrap_err().kind(),
                ErrorKind::DisplayVersion,
                "{args:?}"
            );
        }
    }
}
