//! The report: what a [`Scanner`] found, per experiment, with verdicts. This is also the
//! document that `parallel-run report --json` prints; its field names are stable (format
//! [`REPORT_VERSION`]), and fields are added, never renamed.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::scan::{Experiment, Malformed, Point, Scanner, Summary};

/// The version of the `--json` document.
pub const REPORT_VERSION: u32 = 1;

/// Outcomes that count as a comparison (the match rate's denominator).
pub const JUDGED: [&str; 9] = [
    "match",
    "acceptable",
    "mismatch",
    "ignored",
    "noise",
    "candidate_panic",
    "comparator_panic",
    "timeout",
    "write_refused",
];
/// Judged outcomes that count as agreeing (the match rate's numerator).
pub const AGREEING: [&str; 4] = ["match", "acceptable", "ignored", "noise"];

/// What the report is computed against.
///
/// ```
/// let o = shadow_cli::ReportOptions::default();
/// assert_eq!((o.target_percent, o.top), (99.9, 10));
/// ```
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// The match rate an experiment needs to be READY, in percent.
    pub target_percent: f64,
    /// Signature groups and paths listed per experiment.
    pub top: usize,
    /// "Now", in milliseconds since the Unix epoch, for overdue deadlines.
    pub now_ms: u64,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            target_percent: 99.9,
            top: 10,
            now_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        }
    }
}

/// The whole report (`--json` prints it as is).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// [`REPORT_VERSION`].
    pub version: u32,
    /// When the report was made (ms since the Unix epoch).
    pub generated_at_ms: u64,
    /// The target match rate, percent.
    pub target_percent: f64,
    /// The inputs, as given (`-` is `<stdin>`).
    pub files: Vec<String>,
    /// Bytes read.
    pub bytes: u64,
    /// Non-empty lines read.
    pub lines: u64,
    /// Lines used: discrepancy and summary lines that are not malformed. Zero means the input
    /// held nothing to report on (the command then exits with status 1).
    pub used_lines: u64,
    /// Lines with a `kind` other than `discrepancy` or `summary` (skipped).
    pub other_kinds: u64,
    /// Lines that could not be used.
    pub malformed: MalformedLines,
    /// One entry per experiment, by name.
    pub experiments: Vec<ExperimentReport>,
}

/// Malformed lines: how many, and the first [`MALFORMED_KEPT`](crate::scan::MALFORMED_KEPT).
#[derive(Clone, Debug, Serialize)]
pub struct MalformedLines {
    /// How many lines were malformed.
    pub count: u64,
    /// The first ones, with file and line number.
    pub first: Vec<Malformed>,
}

/// READY, NOT READY or UNKNOWN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// The match rate is at or above the target.
    #[serde(rename = "READY")]
    Ready,
    /// The match rate is below the target.
    #[serde(rename = "NOT READY")]
    NotReady,
    /// No summary line, or no judged call: the number of calls is unknown.
    #[serde(rename = "UNKNOWN")]
    Unknown,
}

impl Verdict {
    /// The label printed.
    ///
    /// ```
    /// assert_eq!(shadow_cli::Verdict::NotReady.label(), "NOT READY");
    /// ```
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Ready => "READY",
            Verdict::NotReady => "NOT READY",
            Verdict::Unknown => "UNKNOWN",
        }
    }
}

/// One experiment.
#[derive(Clone, Debug, Serialize)]
pub struct ExperimentReport {
    /// The experiment's name.
    pub name: String,
    /// The verdict against the target.
    pub verdict: Verdict,
    /// Judged (compared) calls, summed over the runs' last summaries; `None` without summaries.
    /// The match rate is over these.
    pub calls: Option<u64>,
    /// Every call the summaries counted, compared or not (sampled out, disabled, shed, ...).
    pub total_calls: Option<u64>,
    /// Agreeing judged calls (match, acceptable, ignored, noise).
    pub agreeing: Option<u64>,
    /// `agreeing / calls` in percent; `None` when unknown or no call was judged.
    pub match_rate_percent: Option<f64>,
    /// Runs (processes) with a summary line.
    pub runs: u64,
    /// Outcome counts from the summaries (every label, known or not), summed over runs.
    pub outcomes: BTreeMap<String, u64>,
    /// Discrepancy lines in the log.
    pub discrepancies: u64,
    /// Discrepancy lines by outcome.
    pub discrepancy_outcomes: BTreeMap<String, u64>,
    /// Discrepancy lines by `served_by`, when present.
    pub served_by: BTreeMap<String, u64>,
    /// The latest summary's deadline, as written.
    pub deadline: Option<String>,
    /// The deadline has passed at report time, or a summary said `overdue`.
    pub overdue: bool,
    /// The latest summary's ramp (fraction of calls served by the candidate).
    pub ramp: Option<f64>,
    /// The latest summary's gate decision.
    pub gate: Option<String>,
    /// Noisy paths named by the runs' last summaries.
    pub noisy_paths: Vec<String>,
    /// Distinct signatures.
    pub signature_count: u64,
    /// The `top` largest signature groups, by count.
    pub signatures: Vec<SignatureGroup>,
    /// The `top` paths differing most often (lines, per normalised path).
    pub top_paths: Vec<PathCount>,
    /// Latency of both sides.
    pub latency: Latency,
    /// The match rate over time, from the summary lines (empty without summaries).
    pub trend: Vec<TrendPoint>,
}

/// The match rate in one stretch of time: the calls judged between the summary lines that
/// fall in it (summed over runs), and the rate over all calls judged up to its end.
#[derive(Clone, Debug, Serialize)]
pub struct TrendPoint {
    /// The stretch's end (the last summary line in it), ms since the Unix epoch.
    pub at_ms: u64,
    /// Calls judged in the stretch.
    pub compared: u64,
    /// Agreeing calls among them.
    pub agreeing: u64,
    /// `agreeing / compared`, percent; `None` when nothing was judged in the stretch.
    pub rate_percent: Option<f64>,
    /// The match rate over every call judged up to `at_ms`, percent.
    pub cumulative_percent: Option<f64>,
}

/// Discrepancies with the same diff signature.
#[derive(Clone, Debug, Serialize)]
pub struct SignatureGroup {
    /// Sorted normalised paths (`$.lines[*].amount, $.total`), `fields: a, b` for a `Debug`
    /// line diff, else `outcome: first line of detail` with digits as `#`.
    pub signature: String,
    /// Discrepancy lines with it.
    pub count: u64,
    /// `count` over the experiment's discrepancy lines, percent.
    pub share_percent: f64,
    /// The first example's outcome.
    pub outcome: String,
    /// The first example's sampling key.
    pub example_key: Option<String>,
    /// The first lines of the first example's detail.
    pub example_detail: String,
}

/// A normalised path and the discrepancy lines it differs in.
#[derive(Clone, Debug, Serialize)]
pub struct PathCount {
    /// `$.lines[*].amount`.
    pub path: String,
    /// Lines.
    pub count: u64,
}

/// Latency of the primary and the candidate.
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    /// The primary (legacy) side.
    pub primary: SideLatency,
    /// The candidate (rewrite).
    pub candidate: SideLatency,
}

/// One side's latency, in microseconds. Two populations: the percentiles are over the
/// discrepancy lines (`samples` of them), the mean over every timed call of the summaries
/// (`timed_calls` of them).
#[derive(Clone, Debug, Default, Serialize)]
pub struct SideLatency {
    /// Discrepancy lines with a duration for this side.
    pub samples: u64,
    /// Calls the mean is over (the summaries' `timed`, summed over runs).
    pub timed_calls: Option<u64>,
    /// Percentiles over those lines (nearest rank).
    pub p50_us: Option<u64>,
    /// 95th percentile.
    pub p95_us: Option<u64>,
    /// 99th percentile.
    pub p99_us: Option<u64>,
    /// Mean over every timed call, from the summaries' sums.
    pub mean_us: Option<f64>,
}

impl Report {
    /// Builds the report from what `scanner` read.
    ///
    /// ```
    /// let mut s = shadow_cli::Scanner::new();
    /// s.line("f", 1, br#"{"kind":"summary","experiment":"e","outcomes":{"match":999,"mismatch":1}}"#);
    /// let r = shadow_cli::Report::build(&s, &Default::default(), vec!["f".into()]);
    /// assert_eq!(r.experiments[0].calls, Some(1000));
    /// assert_eq!(r.experiments[0].verdict, shadow_cli::Verdict::Ready);
    /// ```
    pub fn build(scanner: &Scanner, opts: &ReportOptions, files: Vec<String>) -> Report {
        let mut names: Vec<&String> = scanner.experiments.keys().collect();
        names.sort();
        let mut malformed = MalformedLines {
            count: scanner.malformed_count(),
            first: scanner.malformed().to_vec(),
        };
        let mut used_lines = scanner.used();
        let experiments = names
            .into_iter()
            .map(|name| {
                let (e, refused) = experiment(name, &scanner.experiments[name], opts);
                for m in refused {
                    malformed.count += 1;
                    used_lines = used_lines.saturating_sub(1);
                    if malformed.first.len() < crate::scan::MALFORMED_KEPT {
                        malformed.first.push(m);
                    }
                }
                e
            })
            .collect();
        Report {
            version: REPORT_VERSION,
            generated_at_ms: opts.now_ms,
            target_percent: opts.target_percent,
            files,
            bytes: scanner.bytes(),
            lines: scanner.lines(),
            used_lines,
            other_kinds: scanner.other_kinds,
            malformed,
            experiments,
        }
    }
}

/// The runs' last summaries added up, with checked arithmetic.
#[derive(Default)]
struct Totals {
    outcomes: BTreeMap<String, u64>,
    /// Every outcome of every run added: the other sums are at most this.
    all: u64,
    p_sum: Option<u64>,
    c_sum: Option<u64>,
    timed: u64,
}

impl Totals {
    /// Adds one run's summary, or nothing when a sum would pass `u64::MAX`.
    fn add(&mut self, s: &Summary) -> Result<(), &'static str> {
        const PAST: &str = "past 2^64 - 1: they cannot be right";
        let all = self.all.checked_add(s.total).ok_or(PAST)?;
        let (mut p_sum, mut c_sum, mut timed) = (self.p_sum, self.c_sum, self.timed);
        if let Some(t) = s.timed {
            timed = timed.checked_add(t).ok_or(PAST)?;
            if let Some(p) = s.primary_us_sum {
                p_sum = Some(p_sum.unwrap_or(0).checked_add(p).ok_or(PAST)?);
            }
            if let Some(c) = s.candidate_us_sum {
                c_sum = Some(c_sum.unwrap_or(0).checked_add(c).ok_or(PAST)?);
            }
        }
        // No single outcome can pass `all`, which fits.
        for (k, n) in &s.outcomes {
            *self.outcomes.entry(k.clone()).or_default() += n;
        }
        (self.all, self.p_sum, self.c_sum, self.timed) = (all, p_sum, c_sum, timed);
        Ok(())
    }
}

/// One experiment, and the summary lines that could not be added to the other runs' (each
/// fits alone; added up, their counts pass `u64::MAX`).
fn experiment(
    name: &str,
    e: &Experiment,
    opts: &ReportOptions,
) -> (ExperimentReport, Vec<Malformed>) {
    let mut totals = Totals::default();
    let mut refused = Vec::new();
    let mut refused_runs = Vec::new();
    let mut noisy: Vec<String> = Vec::new();
    // In time order, so that the run refused is the same whatever the order of the files.
    let mut runs: Vec<(&String, &Summary)> = e.runs.iter().collect();
    runs.sort_by_key(|(_, s)| (s.at_ms, s.seq));
    for (run, s) in &runs {
        if let Err(why) = totals.add(s) {
            refused_runs.push(run.as_str());
            refused.push(Malformed {
                file: s.file.clone(),
                line: s.line,
                reason: format!(
                    "the counts of run `{}`, added to the other runs' of `{}`, add up {why}",
                    crate::scan::cut(run, 60),
                    crate::scan::cut(name, 60),
                ),
            });
            continue;
        }
        noisy.extend(s.noisy_paths.iter().cloned());
    }
    noisy.sort();
    noisy.dedup();
    let kept: Vec<&Summary> = runs
        .iter()
        .filter(|(r, _)| !refused_runs.contains(&r.as_str()))
        .map(|(_, s)| *s)
        .collect();
    let latest = kept.last().copied();
    let Totals {
        outcomes,
        all,
        p_sum,
        c_sum,
        timed,
    } = totals;

    let has_summary = !kept.is_empty();
    // At most `all`, which fits.
    let count = |set: &[&str]| set.iter().map(|k| outcomes.get(*k).unwrap_or(&0)).sum();
    let calls: Option<u64> = has_summary.then(|| count(&JUDGED));
    let agreeing: Option<u64> = has_summary.then(|| count(&AGREEING));
    let rate = match (agreeing, calls) {
        (Some(a), Some(c)) if c > 0 => Some(a as f64 * 100.0 / c as f64),
        _ => None,
    };
    let verdict = match rate {
        None => Verdict::Unknown,
        // Compared with a little slack so that 999/1000 meets 99.9.
        Some(r) if r + 1e-9 >= opts.target_percent => Verdict::Ready,
        Some(_) => Verdict::NotReady,
    };

    let deadline = latest.and_then(|s| s.deadline.clone());
    let today = (opts.now_ms / 86_400_000) as i64;
    let overdue = kept.iter().any(|s| s.overdue == Some(true))
        || deadline
            .as_deref()
            .and_then(parse_date)
            .is_some_and(|d| d < today);

    let mut groups: Vec<SignatureGroup> = e
        .groups
        .iter()
        .map(|(sig, g)| SignatureGroup {
            signature: sig.clone(),
            count: g.count,
            share_percent: g.count as f64 * 100.0 / e.discrepancies.max(1) as f64,
            outcome: g.outcome.clone(),
            example_key: g.key.clone(),
            example_detail: g.detail.clone(),
        })
        .collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.signature.cmp(&b.signature)));
    groups.truncate(opts.top);
    let mut paths: Vec<PathCount> = e
        .paths
        .iter()
        .map(|(p, &count)| PathCount {
            path: p.clone(),
            count,
        })
        .collect();
    paths.sort_by(|a, b| b.count.cmp(&a.count).then(a.path.cmp(&b.path)));
    paths.truncate(opts.top);

    let mean = |sum: Option<u64>| sum.filter(|_| timed > 0).map(|s| s as f64 / timed as f64);
    let timed_calls = has_summary.then_some(timed);
    let report = ExperimentReport {
        name: name.to_owned(),
        verdict,
        calls,
        total_calls: has_summary.then_some(all),
        agreeing,
        match_rate_percent: rate,
        runs: kept.len() as u64,
        outcomes,
        discrepancies: e.discrepancies,
        discrepancy_outcomes: e.outcomes.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        served_by: e.served_by.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        deadline,
        overdue,
        ramp: latest.and_then(|s| s.ramp),
        gate: latest.and_then(|s| s.gate.clone()),
        noisy_paths: noisy,
        signature_count: e.groups.len() as u64,
        signatures: groups,
        top_paths: paths,
        latency: Latency {
            primary: side(&e.primary_us, mean(p_sum), timed_calls),
            candidate: side(&e.candidate_us, mean(c_sum), timed_calls),
        },
        trend: trend(e, &refused_runs),
    };
    (report, refused)
}

/// At most this many points in a trend: longer histories are bucketed by time.
pub const TREND_POINTS: usize = 60;

/// The match rate over time: every summary line's counts minus its run's previous line's,
/// summed over runs in up to [`TREND_POINTS`] equal stretches of time.
fn trend(e: &Experiment, refused_runs: &[&str]) -> Vec<TrendPoint> {
    let mut lines: Vec<&Point> = e
        .history
        .iter()
        .filter(|p| !refused_runs.contains(&e.run_names[p.run as usize].as_str()))
        .collect();
    if lines.is_empty() {
        return Vec::new();
    }
    lines.sort_by_key(|p| (p.at_ms, p.seq));
    let (first, last) = (lines[0].at_ms, lines[lines.len() - 1].at_ms);
    let mut times: Vec<u64> = lines.iter().map(|p| p.at_ms).collect();
    times.dedup();
    // A stretch per summary time, or TREND_POINTS equal stretches of time when there are more;
    // a stretch's width is rounded up, so that `last` falls in the last one.
    let width = ((last - first) / TREND_POINTS as u64).saturating_add(1);
    let bucket_of = |at_ms: u64| -> u64 {
        if times.len() <= TREND_POINTS {
            times.partition_point(|t| *t < at_ms) as u64
        } else {
            (at_ms - first) / width
        }
    };
    let mut prev: Vec<(u64, u64)> = vec![(0, 0); e.run_names.len()];
    let (mut judged, mut agreeing) = (0u64, 0u64);
    let mut out: Vec<TrendPoint> = Vec::new();
    let mut current: Option<u64> = None;
    for p in lines {
        let (pj, pa) = prev[p.run as usize];
        // Counts within a run only grow; a line that goes back (out of order, or another process
        // that reused the run id) adds nothing.
        let (Some(dj), Some(da)) = (p.judged.checked_sub(pj), p.agreeing.checked_sub(pa)) else {
            continue;
        };
        let (Some(j), Some(a)) = (judged.checked_add(dj), agreeing.checked_add(da)) else {
            break;
        };
        prev[p.run as usize] = (p.judged, p.agreeing);
        (judged, agreeing) = (j, a);
        let bucket = bucket_of(p.at_ms);
        if current != Some(bucket) {
            current = Some(bucket);
            out.push(TrendPoint {
                at_ms: p.at_ms,
                compared: 0,
                agreeing: 0,
                rate_percent: None,
                cumulative_percent: None,
            });
        }
        let t = out.last_mut().expect("pushed above");
        t.at_ms = p.at_ms;
        // At most the cumulative counts, which fit.
        t.compared += dj;
        t.agreeing += da;
        t.rate_percent = (t.compared > 0).then(|| t.agreeing as f64 * 100.0 / t.compared as f64);
        t.cumulative_percent = (judged > 0).then(|| agreeing as f64 * 100.0 / judged as f64);
    }
    out
}

fn side(samples: &[u64], mean_us: Option<f64>, timed_calls: Option<u64>) -> SideLatency {
    let mut v = samples.to_vec();
    v.sort_unstable();
    SideLatency {
        samples: v.len() as u64,
        timed_calls,
        p50_us: percentile(&v, 50.0),
        p95_us: percentile(&v, 95.0),
        p99_us: percentile(&v, 99.0),
        mean_us,
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Days since 1970-01-01 of a date written `YYYY-MM-DD` (anything after the tenth character,
/// such as a time, is ignored).
///
/// ```
/// assert_eq!(shadow_cli::report::parse_date("1970-01-02"), Some(1));
/// assert_eq!(shadow_cli::report::parse_date("2026-12-31T23:00:00Z"), Some(20818));
/// assert_eq!(shadow_cli::report::parse_date("31.12.2026"), None);
/// ```
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD HH:MM UTC` of a time in ms since the Unix epoch.
///
/// ```
/// assert_eq!(shadow_cli::report::format_utc(86_400_000 + 3_660_000), "1970-01-02 01:01 UTC");
/// ```
pub fn format_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let (h, min) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    // Inverse of days_from_civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 95.0), Some(95));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn dates_round_trip() {
        for days in [0i64, 59, 365, 11_016, 20_818, 40_000] {
            let s = format_utc(days as u64 * 86_400_000);
            assert_eq!(parse_date(&s), Some(days), "{s}");
        }
        assert_eq!(parse_date("2024-13-01"), None);
        assert_eq!(parse_date("2024-1-01x"), None);
    }
}
