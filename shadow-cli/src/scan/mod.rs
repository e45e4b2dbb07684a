//! Reading discrepancy logs: one JSON object per line, deserialised into a borrowed struct (no
//! `serde_json::Value`, no copy of a string that is not kept) and folded into a [`Scanner`].
//!
//! A line is a *summary* when its `kind` is `"summary"`, a *discrepancy* when its `kind` is
//! `"discrepancy"` or absent (logs written before format v1 have no `kind`), and is counted as
//! an other kind and skipped otherwise. Every field but `experiment` (and `outcome` on a
//! discrepancy) is optional.
//!
//! The lines are untrusted: nothing in them can make the scanner panic or a count wrap. A count
//! must be a whole number in `0..2^64`; a line whose counts cannot be right (a negative or
//! fractional count, an outcome named twice, outcome counts that add up past `2^64 - 1`, a ramp
//! outside `0..=1`) is counted as malformed, with its file and line, like a line that is not JSON.
//! A UTF-8 byte order mark before the first line is skipped, and gzip input (one member or
//! several concatenated, as `logrotate` and `gzip` write them) is decompressed on the fly.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufRead, Read as _};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::report::{AGREEING, JUDGED};

mod line;
#[cfg(test)]
mod tests;

use line::*;

/// The first two bytes of a gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// A UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How many malformed lines are kept with their file and line number.
pub const MALFORMED_KEPT: usize = 20;
/// Lines of detail kept as a signature group's example.
const EXAMPLE_LINES: usize = 6;
/// Longest example line and derived signature kept, in characters.
const EXAMPLE_LINE_CHARS: usize = 200;
const SIGNATURE_CHARS: usize = 160;

// ---------------------------------------------------------------------------------------------
// What is kept.

/// A line that could not be used, with where it is.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Malformed {
    /// The file as given on the command line (`-` is `<stdin>`).
    pub file: String,
    /// 1-based line number in that file.
    pub line: u64,
    /// Why it was not used.
    pub reason: String,
}

/// The last summary line of one run of one experiment.
#[derive(Clone, Debug, Default)]
pub(crate) struct Summary {
    pub at_ms: u64,
    /// Position among all lines read, to break ties of `at_ms`.
    pub seq: u64,
    /// Where the line is, to name it if the report cannot add it to the other runs.
    pub file: String,
    pub line: u64,
    pub outcomes: Vec<(String, u64)>,
    /// The sum of `outcomes` (it fits in a `u64`: checked when the line was read).
    pub total: u64,
    pub primary_us_sum: Option<u64>,
    pub candidate_us_sum: Option<u64>,
    pub timed: Option<u64>,
    pub deadline: Option<String>,
    pub overdue: Option<bool>,
    pub ramp: Option<f64>,
    pub gate: Option<String>,
    pub noisy_paths: Vec<String>,
}

/// One signature group while scanning.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub count: u64,
    pub outcome: String,
    pub key: Option<String>,
    pub detail: String,
}

/// One summary line of a run, for the match rate over time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Point {
    pub at_ms: u64,
    pub seq: u64,
    /// Index into [`Experiment::run_names`].
    pub run: u32,
    /// Judged calls and agreeing calls so far in that run (cumulative, as the line says).
    pub judged: u64,
    pub agreeing: u64,
}

/// Everything kept about one experiment.
#[derive(Clone, Debug, Default)]
pub(crate) struct Experiment {
    pub discrepancies: u64,
    pub outcomes: HashMap<String, u64>,
    pub groups: HashMap<String, Group>,
    pub paths: HashMap<String, u64>,
    pub served_by: HashMap<String, u64>,
    pub primary_us: Vec<u64>,
    pub candidate_us: Vec<u64>,
    /// The latest summary per run (`""` for summaries without `run`).
    pub runs: HashMap<String, Summary>,
    /// Every summary line, in reading order.
    pub history: Vec<Point>,
    /// The runs of `history`, by index, and the index of each name.
    pub run_names: Vec<String>,
    pub run_index: HashMap<String, u32>,
}

/// Folds log lines into per-experiment totals. Feed it with [`read`](Scanner::read) (a whole
/// reader) or [`line`](Scanner::line) (one line), then build a [`Report`](crate::Report).
///
/// ```
/// let mut s = shadow_cli::Scanner::new();
/// let log = br#"{"experiment":"e","outcome":"mismatch","paths":["$.a[2]"]}
/// not json
/// "#;
/// s.read("mem.jsonl", &log[..], |_| {}).unwrap();
/// assert_eq!(s.lines(), 2);
/// assert_eq!(s.malformed()[0].line, 2);
/// ```
#[derive(Debug, Default)]
pub struct Scanner {
    pub(crate) experiments: HashMap<String, Experiment>,
    pub(crate) malformed: u64,
    pub(crate) malformed_kept: Vec<Malformed>,
    pub(crate) other_kinds: u64,
    used: u64,
    lines: u64,
    bytes: u64,
    seq: u64,
    // Reused per line.
    norm: Vec<String>,
    sig: String,
}

impl Scanner {
    /// An empty scanner.
    ///
    /// ```
    /// assert_eq!(shadow_cli::Scanner::new().lines(), 0);
    /// ```
    pub fn new() -> Scanner {
        Scanner::default()
    }

    /// Non-empty lines seen.
    ///
    /// ```
    /// let mut s = shadow_cli::Scanner::new();
    /// s.line("f", 1, b"");
    /// assert_eq!(s.lines(), 0);
    /// ```
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Bytes read by [`read`](Scanner::read).
    ///
    /// ```
    /// let mut s = shadow_cli::Scanner::new();
    /// s.read("f", &b"\n\n"[..], |_| {}).unwrap();
    /// assert_eq!(s.bytes(), 2);
    /// ```
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Lines that were used: discrepancy and summary lines that are not malformed.
    ///
    /// ```
    /// let mut s = shadow_cli::Scanner::new();
    /// s.line("f", 1, br#"{"experiment":"e","outcome":"mismatch"}"#);
    /// s.line("f", 2, b"not json");
    /// assert_eq!(s.used(), 1);
    /// ```
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Lines that could not be used (not JSON, not an object, no `experiment` or `outcome`,
    /// counts that cannot be right).
    ///
    /// ```
    /// let mut s = shadow_cli::Scanner::new();
    /// s.line("f", 1, br#"{"outcome":"mismatch"}"#);
    /// assert_eq!(s.malformed_count(), 1);
    /// ```
    pub fn malformed_count(&self) -> u64 {
        self.malformed
    }

    /// The first [`MALFORMED_KEPT`] malformed lines, in reading order.
    ///
    /// ```
    /// let mut s = shadow_cli::Scanner::new();
    /// s.line("f", 7, b"[1]");
    /// assert_eq!(s.malformed()[0].line, 7);
    /// ```
    pub fn malformed(&self) -> &[Malformed] {
        &self.malformed_kept
    }

    /// Reads every line of `r` (named `file` in messages), calling `progress` with the bytes
    /// taken from `r` as they are read. Gzip input (from its first two bytes, whatever the file
    /// is called; one member or several concatenated) is decompressed. Only an I/O error of `r`
    /// fails; a bad line is counted, and so is gzip data that is corrupt or cut off (the lines
    /// before it are kept, the rest of that input is skipped).
    ///
    /// ```
    /// let mut s = shadow_cli::Scanner::new();
    /// let mut seen = 0;
    /// s.read("f", &b"{}\n"[..], |n| seen += n).unwrap();
    /// assert_eq!(seen, 3);
    /// ```
    pub fn read(
        &mut self,
        file: &str,
        r: impl io::Read,
        mut progress: impl FnMut(u64),
    ) -> io::Result<()> {
        let mut input = Counted {
            inner: r,
            progress: &mut progress,
            failed: false,
        };
        let mut head = [0u8; 2];
        let mut got = 0;
        while got < head.len() {
            match input.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let gzip = head[..got] == GZIP_MAGIC;
        let whole = io::Read::chain(&head[..got], &mut input);
        let done = if gzip {
            let members =
                flate2::bufread::MultiGzDecoder::new(io::BufReader::with_capacity(1 << 20, whole));
            self.lines_of(file, io::BufReader::with_capacity(1 << 20, members))
        } else {
            self.lines_of(file, io::BufReader::with_capacity(1 << 20, whole))
        };
        match done {
            Ok(()) => Ok(()),
            // The decompressor's own complaint, not the input's: count it, keep what was read.
            Err((lineno, e)) if gzip && !input.failed => {
                self.lines += 1;
                self.bad(
                    file,
                    lineno,
                    format!(
                        "gzip data is corrupt or cut off ({e}): the rest of this input is not read"
                    ),
                );
                Ok(())
            }
            Err((_, e)) => Err(e),
        }
    }

    /// Folds every line of `r` in; on an error, the line number it happened at.
    fn lines_of(&mut self, file: &str, mut r: impl BufRead) -> Result<(), (u64, io::Error)> {
        let mut buf = Vec::with_capacity(64 << 10);
        let mut lineno = 0u64;
        loop {
            buf.clear();
            let n = r.read_until(b'\n', &mut buf).map_err(|e| (lineno + 1, e))?;
            if n == 0 {
                return Ok(());
            }
            lineno += 1;
            self.bytes += n as u64;
            self.line(file, lineno, &buf);
        }
    }

    /// Folds one line (with or without its newline) in. A UTF-8 byte order mark at the start of
    /// line 1 is skipped.
    ///
    /// ```
    /// let mut s = shadow_cli::Scanner::new();
    /// s.line("f", 1, br#"{"experiment":"e","outcome":"timeout"}"#);
    /// s.line("g", 1, "\u{feff}{\"experiment\":\"e\",\"outcome\":\"timeout\"}".as_bytes());
    /// assert_eq!((s.malformed_count(), s.used()), (0, 2));
    /// ```
    pub fn line(&mut self, file: &str, lineno: u64, bytes: &[u8]) {
        let bytes = if lineno == 1 {
            bytes.strip_prefix(BOM).unwrap_or(bytes)
        } else {
            bytes
        };
        let bytes = bytes.trim_ascii();
        if bytes.is_empty() {
            return;
        }
        self.lines += 1;
        self.seq += 1;
        if bytes[0] != b'{' {
            let reason = if serde_json::from_slice::<de::IgnoredAny>(bytes).is_ok() {
                "not a JSON object".to_owned()
            } else {
                "not JSON".to_owned()
            };
            return self.bad(file, lineno, reason);
        }
        let line: Line<'_> = match serde_json::from_slice(bytes) {
            Ok(l) => l,
            Err(e) => return self.bad(file, lineno, format!("invalid: {e}")),
        };
        let Some(exp) = text(&line.experiment) else {
            return self.bad(file, lineno, "no `experiment`".to_owned());
        };
        match text(&line.kind) {
            Some("summary") => match self.summary(file, lineno, exp, &line) {
                Ok(()) => self.used += 1,
                Err(why) => self.bad(file, lineno, why),
            },
            None | Some("discrepancy") => match text(&line.outcome) {
                Some(outcome) => {
                    self.discrepancy(exp, outcome, &line);
                    self.used += 1;
                }
                None => self.bad(file, lineno, "no `outcome`".to_owned()),
            },
            Some(_) => self.other_kinds += 1,
        }
    }

    fn bad(&mut self, file: &str, line: u64, reason: String) {
        self.malformed += 1;
        if self.malformed_kept.len() < MALFORMED_KEPT {
            self.malformed_kept.push(Malformed {
                file: file.to_owned(),
                line,
                reason,
            });
        }
    }

    fn experiment(&mut self, name: &str) -> &mut Experiment {
        if !self.experiments.contains_key(name) {
            self.experiments
                .insert(name.to_owned(), Experiment::default());
        }
        self.experiments.get_mut(name).expect("just inserted")
    }

    fn summary(
        &mut self,
        file: &str,
        lineno: u64,
        exp: &str,
        line: &Line<'_>,
    ) -> Result<(), String> {
        let counts = check_summary(line)?;
        let at_ms = line.at_ms.map_or(0, |n| n.0);
        let seq = self.seq;
        let run = text(&line.run).unwrap_or("");
        let e = self.experiment(exp);
        let index = match e.run_index.get(run) {
            Some(&i) => i,
            None => {
                let i = u32::try_from(e.run_names.len()).map_err(|_| "too many runs".to_owned())?;
                e.run_names.push(run.to_owned());
                e.run_index.insert(run.to_owned(), i);
                i
            }
        };
        e.history.push(Point {
            at_ms,
            seq,
            run: index,
            judged: counts.judged,
            agreeing: counts.agreeing,
        });
        if let Some(old) = e.runs.get(run) {
            if (old.at_ms, old.seq) > (at_ms, seq) {
                return Ok(());
            }
        }
        let s = Summary {
            at_ms,
            seq,
            file: file.to_owned(),
            line: lineno,
            outcomes: line
                .outcomes
                .as_ref()
                .map(|c| c.0.iter().map(|(k, n)| (k.0.to_string(), n.0)).collect())
                .unwrap_or_default(),
            total: counts.total,
            primary_us_sum: line.primary_us_sum.map(|n| n.0),
            candidate_us_sum: line.candidate_us_sum.map(|n| n.0),
            timed: line.timed.map(|n| n.0),
            deadline: text(&line.deadline).map(str::to_owned),
            overdue: line.overdue,
            ramp: line.ramp,
            gate: text(&line.gate).map(str::to_owned),
            noisy_paths: line
                .noisy_paths
                .iter()
                .flatten()
                .map(|p| p.0.to_string())
                .collect(),
        };
        e.runs.insert(run.to_owned(), s);
        Ok(())
    }

    fn discrepancy(&mut self, exp: &str, outcome: &str, line: &Line<'_>) {
        let detail = text(&line.detail).unwrap_or("");
        // The signature: normalised paths, else derived from the detail.
        self.norm.clear();
        self.sig.clear();
        let given = line.paths.as_deref().unwrap_or(&[]);
        if !given.is_empty() {
            self.norm.extend(given.iter().map(|p| normalise_path(&p.0)));
        } else {
            self.norm
                .extend(structural_paths(detail).map(normalise_path));
        }
        let has_paths = !self.norm.is_empty();
        if has_paths {
            self.norm.sort_unstable();
            self.norm.dedup();
            for (i, p) in self.norm.iter().enumerate() {
                if i > 0 {
                    self.sig.push_str(", ");
                }
                self.sig.push_str(p);
            }
        } else {
            derived_signature(outcome, detail, &mut self.sig);
        }

        let (norm, sig) = (
            std::mem::take(&mut self.norm),
            std::mem::take(&mut self.sig),
        );
        let e = self.experiment(exp);
        e.discrepancies += 1;
        bump(&mut e.outcomes, outcome);
        if let Some(s) = text(&line.served_by) {
            bump(&mut e.served_by, s);
        }
        for p in &norm {
            bump(&mut e.paths, p);
        }
        if let Some(g) = e.groups.get_mut(sig.as_str()) {
            g.count += 1;
        } else {
            e.groups.insert(
                sig.clone(),
                Group {
                    count: 1,
                    outcome: outcome.to_owned(),
                    key: line.key.as_ref().map(|k| k.0.to_string()),
                    detail: excerpt(detail),
                },
            );
        }
        if let Some(us) = line.primary_us {
            e.primary_us.push(us.0);
        }
        if let Some(us) = line.candidate_us {
            e.candidate_us.push(us.0);
        }
        self.norm = norm;
        self.sig = sig;
    }
}

/// A summary line's totals: every outcome, the judged ones, the agreeing ones.
struct LineCounts {
    total: u64,
    judged: u64,
    agreeing: u64,
}

/// What makes a summary line impossible: an outcome named twice, counts that add up past
/// `u64::MAX` (no process counts that many calls), a ramp outside `0..=1`.
fn check_summary(line: &Line<'_>) -> Result<LineCounts, String> {
    if let Some(r) = line.ramp {
        if !(0.0..=1.0).contains(&r) {
            return Err(format!("ramp {r} is outside 0..=1"));
        }
    }
    let counts = line.outcomes.as_ref().map_or(&[][..], |c| &c.0[..]);
    let mut names: Vec<&str> = counts.iter().map(|(k, _)| &*k.0).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("outcome `{}` is given twice", cut(w[0], 60)));
    }
    let mut c = LineCounts {
        total: 0,
        judged: 0,
        agreeing: 0,
    };
    for (k, n) in counts {
        c.total = c.total.checked_add(n.0).ok_or_else(|| {
            "the outcome counts add up past 2^64 - 1: they cannot be right".to_owned()
        })?;
        // Both are at most the total, which did not overflow.
        if JUDGED.contains(&&*k.0) {
            c.judged += n.0;
        }
        if AGREEING.contains(&&*k.0) {
            c.agreeing += n.0;
        }
    }
    Ok(c)
}

fn bump(m: &mut HashMap<String, u64>, k: &str) {
    match m.get_mut(k) {
        Some(n) => *n += 1,
        None => {
            m.insert(k.to_owned(), 1);
        }
    }
}

/// The first lines of a detail, each cut to a readable length.
fn excerpt(detail: &str) -> String {
    let mut out = String::new();
    let total = detail.lines().count();
    for (i, l) in detail.lines().take(EXAMPLE_LINES).enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&cut(l, EXAMPLE_LINE_CHARS));
    }
    if total > EXAMPLE_LINES {
        let more = total - EXAMPLE_LINES;
        let s = if more == 1 { "" } else { "s" };
        out.push_str(&format!("\n... ({more} more line{s})"));
    }
    out
}

pub(crate) fn cut(s: &str, chars: usize) -> Cow<'_, str> {
    match s.char_indices().nth(chars) {
        Some((i, _)) => Cow::Owned(format!("{}...", &s[..i])),
        None => Cow::Borrowed(s),
    }
}

/// Replaces every array index in a path by `*`: `$.lines[3].amount` → `$.lines[*].amount`.
/// Quoted keys (`$.m["7"]`) are kept.
///
/// ```
/// assert_eq!(shadow_cli::normalise_path("$.lines[3].tax[12]"), "$.lines[*].tax[*]");
/// assert_eq!(shadow_cli::normalise_path("$.m[\"7\"]"), "$.m[\"7\"]");
/// ```
pub fn normalise_path(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    let mut start = 0;
    while i < b.len() {
        if b[i] == b'[' {
            let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits > 0 && b.get(i + 1 + digits) == Some(&b']') {
                out.push_str(&path[start..=i]);
                out.push('*');
                i += 1 + digits;
                start = i;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&path[start..]);
    out
}

/// The paths of a structural diff written as text (`$.a.b: 1 -> 2` per line), for logs that
/// have no `paths` field.
fn structural_paths(detail: &str) -> impl Iterator<Item = &str> {
    detail.lines().filter_map(|l| {
        let l = l.trim_start();
        if !l.starts_with('$') || !l.contains(" -> ") {
            return None;
        }
        l.find(": ").map(|i| &l[..i])
    })
}

/// A signature for a discrepancy without paths: the field names of a `Debug` line diff
/// (`-     cents: 10,`), else the outcome and the first line of detail with digits as `#`.
fn derived_signature(outcome: &str, detail: &str, out: &mut String) {
    let mut fields: Vec<&str> = Vec::new();
    let mut first_changed = None;
    for l in detail.lines() {
        let Some(rest) = l.strip_prefix('-').or_else(|| l.strip_prefix('+')) else {
            continue;
        };
        if !rest.starts_with(' ') {
            continue;
        }
        let rest = rest.trim();
        first_changed.get_or_insert(rest);
        if let Some((name, _)) = rest.split_once(':') {
            if !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
                fields.push(name);
            }
        }
    }
    if !fields.is_empty() {
        fields.sort_unstable();
        fields.dedup();
        out.push_str("fields: ");
        out.push_str(&fields.join(", "));
        return;
    }
    out.push_str(outcome);
    let first = first_changed
        .or_else(|| detail.lines().map(str::trim).find(|l| !l.is_empty()))
        .unwrap_or("");
    if first.is_empty() {
        return;
    }
    out.push_str(": ");
    let mut last_hash = false;
    for c in cut(first, SIGNATURE_CHARS).chars() {
        if c.is_ascii_digit() {
            if !last_hash {
                out.push('#');
            }
            last_hash = true;
        } else {
            out.push(c);
            last_hash = false;
        }
    }
}
