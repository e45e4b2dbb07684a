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
    /// `proxy`: the reverse proxy in front of a legacy service, mirroring to its rewrite.
    #[cfg(feature = "proxy")]
    #[command(
        about = "Serves a legacy HTTP service's answers while mirroring its traffic to the rewrite",
        after_help = PROXY_NOTES,
        display_name = "parallel-run"
    )]
    Proxy(ProxyArgs),
}

/// Printed after the options of `proxy --help`.
#[cfg(feature = "proxy")]
const PROXY_NOTES: &str = "\
Clients get the primary's answers unchanged; each sampled request also goes to the candidate,
off their path, and the two answers are compared (status, headers less an ignore list, JSON or
text bodies) and recorded as outcomes, metrics and discrepancy-log lines, as for a function. Only
GET, HEAD and OPTIONS are mirrored unless a route opts in (`writes = \"separate\"` or
`\"idempotency\"`).

--config FILE holds the routes (name, methods, path, sample, timeout, ...; see the guide's HTTP
page). Its experiment keys are re-read when the file changes (over PARALLEL_RUN__<ROUTE>, under
the live API). Flags override the file's [proxy] keys. The admin port serves /metrics, /health
and /routes. Ctrl-C or SIGTERM stops accepting, lets in-flight requests and candidates finish (up
to the file's `drain`, 10 s), flushes the log and prints what each route saw.

Exit status:
    0 after a graceful shutdown, 1 when the proxy cannot start (a bad file, a port in use), 2 bad
    usage";

/// The arguments of `proxy`.
#[cfg(feature = "proxy")]
#[derive(Clone, Debug, PartialEq, Args)]
pub struct ProxyArgs {
    /// The route file (TOML): its routes, defaults and proxy tables
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where clients connect (default: the file's, else 127.0.0.1:8080)
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// The legacy service, whose answers clients get (http://host:port)
    #[arg(long, value_name = "URL")]
    pub primary: Option<String>,
    /// The rewrite, which gets a copy of sampled requests (http://host:port)
    #[arg(long, value_name = "URL")]
    pub candidate: Option<String>,
    /// The admin port: /metrics (Prometheus), /health, /routes
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<std::net::SocketAddr>,
    /// The discrepancy log (JSON lines, for `parallel-run report`)
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Worker threads for the clients' connections (default: one per CPU)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
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
/// let Ok(Command::Report(a)) = parse(["report", "--top=3", "--target", "99.5%", "a.jsonl"].map(Into::into)) else {
///     panic!("not a report")
/// };
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
            #[allow(unreachable_patterns)]
            Ok(other) => panic!("{other:?}"),
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

    #[cfg(feature = "proxy")]
    #[test]
    fn proxy_flags() {
        let Ok(Command::Proxy(a)) = p(&[
            "proxy",
            "--listen",
            "127.0.0.1:8081",
            "--primary=http://127.0.0.1:9001",
            "--candidate",
            "http://127.0.0.1:9002",
            "--threads",
            "2",
        ]) else {
            panic!("not a proxy command")
        };
        assert_eq!(a.listen, Some("127.0.0.1:8081".parse().unwrap()));
        assert_eq!(a.primary.as_deref(), Some("http://127.0.0.1:9001"));
        assert_eq!((a.threads, a.config, a.admin), (Some(2), None, None));
        assert!(error(&["proxy", "--listen", "localhost"]).contains("--listen"));
        assert!(error(&["proxy", "--threads", "0"]).contains("--threads"));
        assert!(error(&["proxy", "--frobnicate"]).contains("--frobnicate"));
        assert_eq!(
            p(&["proxy", "--help"]).unwrap_err().kind(),
            ErrorKind::DisplayHelp
        );
    }
}
