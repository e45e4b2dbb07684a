//! Structural diffs of any `Serialize` type: every difference as a path (`$.lines[3].amount`)
//! with the primary's and the candidate's values, with ignored paths, float tolerances,
//! timestamp tolerances, order-insensitive sequences, trimmed and Unicode-normalised strings, and
//! missing keys that count as `null` or as empty collections where asked.
//!
//! ```
//! use serde::Serialize;
//! use shadow_runtime::{Comparator, Verdict};
//! use shadow_runtime::structural::Structural;
//!
//! #[derive(Serialize, PartialEq)]
//! struct Line { sku: String, amount: f64 }
//! #[derive(Serialize, PartialEq)]
//! struct Invoice { id: u64, lines: Vec<Line>, generated_at: u64 }
//!
//! let cmp = Structural::new().ignore("$.generated_at").float_tolerance(0.005, 0.0);
//! let a = Invoice { id: 1, lines: vec![Line { sku: "A".into(), amount: 10.0 }], generated_at: 1 };
//! let b = Invoice { id: 1, lines: vec![Line { sku: "A".into(), amount: 10.5 }], generated_at: 2 };
//! match cmp.compare(&a, &b) {
//!     Verdict::Mismatch { diff: Some(d) } => assert_eq!(d, "$.lines[0].amount: 10.0 -> 10.5"),
//!     other => panic!("{other:?}"),
//! }
//! ```
//!
//! Paths: `$` is the value, `.name` a field or map key, `[3]` a sequence element. Patterns use
//! the same syntax with `*` for any one segment: `$.lines[*].note`, `$.*.updated_at`.
//!
//! For types you own, `#[derive(ShadowCompare)]` and [`typed`](crate::judge::typed) give the same
//! diffs (same [`Diff`], same paths) without serialising, configured per field.

use std::borrow::Cow;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use unicode_normalization::UnicodeNormalization;

use crate::judge::compare::{Comparator, Verdict};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Idx(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PSeg {
    Key(String),
    Idx(usize),
    Any,
}

/// A path pattern such as `$.lines[*].amount`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern(Vec<PSeg>);

impl Pattern {
    /// Parses a pattern; panics with a clear message on a malformed one (patterns are written
    /// by the programmer, once, at set-up).
    fn parse(p: &str) -> Pattern {
        let rest = p
            .strip_prefix('$')
            .unwrap_or_else(|| panic!("path pattern {p:?} must start with `$`"));
        let mut segs = Vec::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '.' => {
                    let mut name = String::new();
                    while let Some(&n) = chars.peek() {
                        if n == '.' || n == '[' {
                            break;
                        }
                        name.push(n);
                        chars.next();
                    }
                    assert!(!name.is_empty(), "empty field name in path pattern {p:?}");
                    segs.push(if name == "*" {
                        PSeg::Any
                    } else {
                        PSeg::Key(name)
                    });
                }
                '[' => {
                    let mut inner = String::new();
                    for n in chars.by_ref() {
                        if n == ']' {
                            break;
                        }
                        inner.push(n);
                    }
                    segs.push(if inner == "*" {
                        PSeg::Any
                    } else {
                        PSeg::Idx(inner.parse().unwrap_or_else(|_| {
                            panic!("`[{inner}]` in path pattern {p:?} is not an index or `[*]`")
                        }))
                    });
                }
                other => panic!("unexpected {other:?} in path pattern {p:?}"),
            }
        }
        Pattern(segs)
    }

    fn matches(&self, path: &[Seg]) -> bool {
        self.0.len() == path.len()
            && self.0.iter().zip(path).all(|(p, s)| match (p, s) {
                (PSeg::Any, _) => true,
                (PSeg::Key(a), Seg::Key(b)) => a == b,
                (PSeg::Idx(a), Seg::Idx(b)) => a == b,
                _ => false,
            })
    }
}

fn render_path(path: &[Seg]) -> String {
    let mut s = String::from("$");
    for seg in path {
        match seg {
            Seg::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Seg::Idx(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// One difference: where, and both sides (`None`: absent on that side).
#[derive(Debug, Clone, PartialEq)]
pub struct DiffEntry {
    /// `$.lines[3].amount`.
    pub path: String,
    /// The primary's value there.
    pub primary: Option<Value>,
    /// The candidate's value there.
    pub candidate: Option<Value>,
}

impl std::fmt::Display for DiffEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<Value>| {
            v.as_ref()
                .map_or_else(|| "(missing)".to_owned(), Value::to_string)
        };
        write!(
            f,
            "{}: {} -> {}",
            self.path,
            show(&self.primary),
            show(&self.candidate)
        )
    }
}

/// What [`Structural::diff`] (or [`typed::diff`](crate::judge::typed::diff)) found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    /// Differences that count.
    pub entries: Vec<DiffEntry>,
    /// Paths that differed within a tolerance or only after normalisation.
    pub tolerated: Vec<String>,
    /// Paths that differed but are ignored.
    pub ignored: Vec<String>,
}

impl Diff {
    /// No difference at all: no entries, nothing tolerated, nothing ignored.
    ///
    /// ```
    /// assert!(shadow_runtime::structural::Diff::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.tolerated.is_empty() && self.ignored.is_empty()
    }

    /// The verdict this diff stands for: a [`Verdict::Mismatch`] whose text is one line per
    /// entry (`$.path: primary -> candidate`, the entry's `Display`) when there are entries;
    /// else [`Verdict::Acceptable`] naming the tolerated and ignored paths; else
    /// [`Verdict::Match`].
    ///
    /// ```
    /// use shadow_runtime::structural::{Diff, DiffEntry};
    /// use shadow_runtime::Verdict;
    ///
    /// let mut d = Diff { tolerated: vec!["$.total".into()], ..Diff::default() };
    /// assert_eq!(d.verdict(), Verdict::acceptable("within tolerance at $.total"));
    /// d.entries.push(DiffEntry { path: "$.id".into(), primary: Some(1.into()), candidate: Some(2.into()) });
    /// assert_eq!(d.verdict(), Verdict::mismatch("$.id: 1 -> 2"));
    /// ```
    pub fn verdict(&self) -> Verdict {
        if !self.entries.is_empty() {
            let lines: Vec<String> = self.entries.iter().map(ToString::to_string).collect();
            return Verdict::mismatch(lines.join("\n"));
        }
        let mut why = Vec::new();
        if !self.tolerated.is_empty() {
            why.push(format!("within tolerance at {}", self.tolerated.join(", ")));
        }
        if !self.ignored.is_empty() {
            why.push(format!("ignored paths {}", self.ignored.join(", ")));
        }
        if why.is_empty() {
            Verdict::Match
        } else {
            Verdict::acceptable(why.join("; "))
        }
    }
}

/// A comparator (and differ) for `Serialize` types. See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct Structural {
    ignore: Vec<Pattern>,
    unordered: Vec<Pattern>,
    trim: Vec<Pattern>,
    redact: Vec<Pattern>,
    within: Vec<(Pattern, Duration)>,
    nfc: Vec<Pattern>,
    missing_null: Vec<Pattern>,
    missing_empty: Vec<Pattern>,
    abs_tol: f64,
    rel_tol: f64,
}

impl Structural {
    /// Exact comparison of every path.
    ///
    /// ```
    /// let _ = shadow_runtime::structural::Structural::new();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Ignores differences at paths matching `pattern` (`$.generated_at`, `$.lines[*].note`).
    ///
    /// ```
    /// let c = shadow_runtime::structural::Structural::new().ignore("$.*.updated_at");
    /// # let _ = c;
    /// ```
    pub fn ignore(mut self, pattern: &str) -> Self {
        self.ignore.push(Pattern::parse(pattern));
        self
    }

    /// Numbers within `abs` of each other, or within `rel` times the larger magnitude, count as
    /// equal (a tolerated difference). Symmetric in its two sides.
    ///
    /// ```
    /// let c = shadow_runtime::structural::Structural::new().float_tolerance(0.005, 1e-9);
    /// # let _ = c;
    /// ```
    pub fn float_tolerance(mut self, abs: f64, rel: f64) -> Self {
        self.abs_tol = abs.abs();
        self.rel_tol = rel.abs();
        self
    }

    /// Compares the sequences at paths matching `pattern` as multisets (order does not matter).
    ///
    /// ```
    /// let c = shadow_runtime::structural::Structural::new().unordered("$.tags");
    /// # let _ = c;
    /// ```
    pub fn unordered(mut self, pattern: &str) -> Self {
        self.unordered.push(Pattern::parse(pattern));
        self
    }

    /// Compares strings at paths matching `pattern` after trimming surrounding whitespace.
    ///
    /// ```
    /// let c = shadow_runtime::structural::Structural::new().trim("$.name");
    /// # let _ = c;
    /// ```
    pub fn trim(mut self, pattern: &str) -> Self {
        self.trim.push(Pattern::parse(pattern));
        self
    }

    /// Masks values at (and under) paths matching `pattern` in every reported difference:
    /// `"***"` instead of the value. For card numbers, emails, tokens.
    ///
    /// ```
    /// use shadow_runtime::structural::Structural;
    /// let c = Structural::new().redact("$.card");
    /// let d = c.diff(&serde_json::json!({"card": {"pan": "4111"}}), &serde_json::json!({"card": {"pan": "4242"}}));
    /// assert_eq!(d.entries[0].to_string(), r#"$.card.pan: "***" -> "***""#);
    /// ```
    pub fn redact(mut self, pattern: &str) -> Self {
        self.redact.push(Pattern::parse(pattern));
        self
    }

    /// Timestamps at paths matching `pattern` that are at most `tolerance` apart count as equal
    /// (a tolerated difference). A timestamp is either an RFC 3339 string
    /// (`"2026-11-27T10:00:00.123Z"`, `"2026-11-27T12:00:00+02:00"`; fractions to the
    /// nanosecond) or a number, read as milliseconds since the Unix epoch (`1795773600123`;
    /// fractions allowed). The two sides may mix the forms. Values that are not timestamps are
    /// compared as usual; when several patterns match a path, the largest tolerance applies.
    ///
    /// ```
    /// use shadow_runtime::structural::Structural;
    /// use std::time::Duration;
    ///
    /// let c = Structural::new().within("$.at", Duration::from_millis(250));
    /// let d = c.diff(
    ///     &serde_json::json!({"at": "2026-11-27T10:00:00.100Z"}),
    ///     &serde_json::json!({"at": "2026-11-27T12:00:00.300+02:00"}),
    /// );
    /// assert!(d.entries.is_empty());
    /// assert_eq!(d.tolerated, vec!["$.at"]);
    /// ```
    pub fn within(mut self, pattern: &str, tolerance: Duration) -> Self {
        self.within.push((Pattern::parse(pattern), tolerance));
        self
    }

    /// Compares strings at paths matching `pattern` after Unicode NFC normalisation, so that
    /// `"é"` precomposed (U+00E9) and `"e"` + U+0301 are the same. A difference that vanishes
    /// once normalised is tolerated. Combines with [`trim`](Self::trim).
    ///
    /// ```
    /// use shadow_runtime::structural::Structural;
    ///
    /// let d = Structural::new().nfc("$.name").diff(
    ///     &serde_json::json!({"name": "Ren\u{e9}e"}),
    ///     &serde_json::json!({"name": "Rene\u{301}e"}),
    /// );
    /// assert!(d.entries.is_empty());
    /// assert_eq!(d.tolerated, vec!["$.name"]);
    /// ```
    pub fn nfc(mut self, pattern: &str) -> Self {
        self.nfc.push(Pattern::parse(pattern));
        self
    }

    /// A key that one side lacks, at a path matching `pattern`, where the other side holds `null`,
    /// is a tolerated difference rather than a mismatch: for clients that read an absent field
    /// and `null` alike. Unlike [`ignore`](Self::ignore), any other change at the path still
    /// counts (a value against a missing key, a value against `null`).
    ///
    /// ```
    /// use serde_json::json;
    /// use shadow_runtime::structural::Structural;
    ///
    /// let c = Structural::new().missing_as_null("$.address");
    /// let d = c.diff(&json!({"id": 1, "address": null}), &json!({"id": 1}));
    /// assert!(d.entries.is_empty());
    /// assert_eq!(d.tolerated, ["$.address"]);
    /// // A real address against a missing one is still a difference.
    /// let d = c.diff(&json!({"address": "Main St"}), &json!({}));
    /// assert_eq!(d.entries[0].to_string(), r#"$.address: "Main St" -> (missing)"#);
    /// ```
    pub fn missing_as_null(mut self, pattern: &str) -> Self {
        self.missing_null.push(Pattern::parse(pattern));
        self
    }

    /// A key that one side lacks, at a path matching `pattern`, where the other side holds an
    /// empty array or object, is a tolerated difference: for a serialiser that skips empty
    /// collections (`skip_serializing_if = "Vec::is_empty"`).
    ///
    /// ```
    /// use serde_json::json;
    /// use shadow_runtime::structural::Structural;
    ///
    /// let c = Structural::new().missing_as_empty("$.lines[*].tags");
    /// let d = c.diff(&json!({"lines": [{"tags": []}]}), &json!({"lines": [{}]}));
    /// assert_eq!(d.tolerated, ["$.lines[0].tags"]);
    /// assert!(d.entries.is_empty());
    /// ```
    pub fn missing_as_empty(mut self, pattern: &str) -> Self {
        self.missing_empty.push(Pattern::parse(pattern));
        self
    }

    /// Whether `present`, at `path` where the other side has no key, counts as absent there.
    fn absent_as(&self, path: &[Seg], present: &Value) -> bool {
        match present {
            Value::Null => Self::any(&self.missing_null, path),
            Value::Array(a) if a.is_empty() => Self::any(&self.missing_empty, path),
            Value::Object(o) if o.is_empty() => Self::any(&self.missing_empty, path),
            _ => false,
        }
    }

    /// The largest `within` tolerance at `path`, if any pattern matches.
    fn within_at(&self, path: &[Seg]) -> Option<Duration> {
        self.within
            .iter()
            .filter(|(p, _)| p.matches(path))
            .map(|(_, d)| *d)
            .max()
    }

    /// `x` and `y` are equal once normalised as the `trim` and `nfc` patterns at `path` say
    /// (and there is such a pattern).
    fn normalised_equal(&self, path: &[Seg], x: &str, y: &str) -> bool {
        let (trim, nfc) = (Self::any(&self.trim, path), Self::any(&self.nfc, path));
        (trim || nfc) && normalise(x, trim, nfc) == normalise(y, trim, nfc)
    }

    fn redacted(&self, path: &[Seg]) -> bool {
        (0..=path.len()).any(|n| Self::any(&self.redact, &path[..n]))
    }

    /// The differences between two values.
    ///
    /// ```
    /// use shadow_runtime::structural::Structural;
    /// let d = Structural::new().diff(&serde_json::json!({"a": [1, 2]}), &serde_json::json!({"a": [1, 3]}));
    /// assert_eq!(d.entries[0].path, "$.a[1]");
    /// ```
    pub fn diff(&self, primary: &Value, candidate: &Value) -> Diff {
        let mut out = Diff::default();
        let mut path = Vec::new();
        self.walk(primary, candidate, &mut path, &mut out);
        out
    }

    fn any(patterns: &[Pattern], path: &[Seg]) -> bool {
        patterns.iter().any(|p| p.matches(path))
    }

    fn walk(&self, a: &Value, b: &Value, path: &mut Vec<Seg>, out: &mut Diff) {
        if a == b {
            return;
        }
        if Self::any(&self.ignore, path) {
            out.ignored.push(render_path(path));
            return;
        }
        if let Some(tolerance) = self.within_at(path) {
            if let (Some(x), Some(y)) = (instant(a), instant(b)) {
                if x.abs_diff(y) <= tolerance.as_nanos() {
                    out.tolerated.push(render_path(path));
                    return;
                }
            }
        }
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    path.push(Seg::Key(k.clone()));
                    match (x.get(k), y.get(k)) {
                        (Some(va), Some(vb)) => self.walk(va, vb, path, out),
                        (va, vb) => match va.or(vb) {
                            Some(present)
                                if !Self::any(&self.ignore, path)
                                    && self.absent_as(path, present) =>
                            {
                                out.tolerated.push(render_path(path));
                            }
                            _ => self.leaf(va, vb, path, out),
                        },
                    }
                    path.pop();
                }
            }
            (Value::Array(x), Value::Array(y)) if Self::any(&self.unordered, path) => {
                // As multisets: each element of one side pairs with an equal one of the other.
                let mut rest: Vec<&Value> = y.iter().collect();
                let mut missing = Vec::new();
                for v in x {
                    match rest.iter().position(|w| *w == v) {
                        Some(i) => {
                            rest.swap_remove(i);
                        }
                        None => missing.push(v),
                    }
                }
                path.push(Seg::Key("*".into()));
                for v in missing {
                    self.leaf(Some(v), None, path, out);
                }
                for v in rest {
                    self.leaf(None, Some(v), path, out);
                }
                path.pop();
            }
            (Value::Array(x), Value::Array(y)) => {
                for i in 0..x.len().max(y.len()) {
                    path.push(Seg::Idx(i));
                    match (x.get(i), y.get(i)) {
                        (Some(va), Some(vb)) => self.walk(va, vb, path, out),
                        (va, vb) => self.leaf(va, vb, path, out),
                    }
                    path.pop();
                }
            }
            (Value::Number(x), Value::Number(y)) => {
                let d = number_gap(x, y);
                let (x, y) = (
                    x.as_f64().unwrap_or(f64::NAN),
                    y.as_f64().unwrap_or(f64::NAN),
                );
                if d <= self.abs_tol || d <= self.rel_tol * x.abs().max(y.abs()) {
                    out.tolerated.push(render_path(path));
                } else {
                    self.leaf(Some(a), Some(b), path, out);
                }
            }
            (Value::String(x), Value::String(y)) if self.normalised_equal(path, x, y) => {
                out.tolerated.push(render_path(path));
            }
            _ => self.leaf(Some(a), Some(b), path, out),
        }
    }

    fn leaf(&self, a: Option<&Value>, b: Option<&Value>, path: &[Seg], out: &mut Diff) {
        if Self::any(&self.ignore, path) {
            out.ignored.push(render_path(path));
            return;
        }
        let mask = |v: Option<&Value>| {
            v.map(|v| {
                if self.redacted(path) {
                    Value::String("***".into())
                } else {
                    v.clone()
                }
            })
        };
        out.entries.push(DiffEntry {
            path: render_path(path),
            primary: mask(a),
            candidate: mask(b),
        });
    }
}

impl<T: Serialize + PartialEq> Comparator<T> for Structural {
    fn compare(&self, primary: &T, candidate: &T) -> Verdict {
        if primary == candidate {
            return Verdict::Match; // the equal case stays cheap: no serialisation
        }
        let (a, b) = match (
            serde_json::to_value(primary),
            serde_json::to_value(candidate),
        ) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                return Verdict::mismatch(format!("values differ (not serialisable: {e})"))
            }
        };
        match self.diff(&a, &b).verdict() {
            // PartialEq said no but the serialised forms agree (e.g. NaN, or skipped fields).
            Verdict::Match => Verdict::acceptable("equal once serialised"),
            verdict => verdict,
        }
    }
}

/// How far apart two numbers are: exactly for integers (two large integers a unit apart can
/// be the same `f64`), else as `f64`s.
pub(crate) fn number_gap(x: &serde_json::Number, y: &serde_json::Number) -> f64 {
    let int = |n: &serde_json::Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (int(x), int(y)) {
        (Some(a), Some(b)) => a.abs_diff(b) as f64,
        _ => (x.as_f64().unwrap_or(f64::NAN) - y.as_f64().unwrap_or(f64::NAN)).abs(),
    }
}

/// `s` NFC-normalised and/or trimmed.
pub(crate) fn normalise(s: &str, trim: bool, nfc: bool) -> Cow<'_, str> {
    let s: Cow<'_, str> = if nfc {
        Cow::Owned(s.nfc().collect())
    } else {
        Cow::Borrowed(s)
    };
    match s {
        Cow::Borrowed(b) if trim => Cow::Borrowed(b.trim()),
        Cow::Owned(o) if trim && o.trim().len() != o.len() => Cow::Owned(o.trim().to_owned()),
        s => s,
    }
}

/// The instant a JSON value stands for, in nanoseconds since the Unix epoch: an RFC 3339 string,
/// or a number of milliseconds.
pub(crate) fn instant(v: &Value) -> Option<i128> {
    match v {
        Value::String(s) => crate::judge::time::parse(s),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Some(i128::from(i) * 1_000_000),
            (_, Some(u)) => Some(i128::from(u) * 1_000_000),
            _ => n
                .as_f64()
                .filter(|f| f.is_finite() && f.abs() < 1e20)
                .map(|f| (f * 1e6) as i128),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests;
