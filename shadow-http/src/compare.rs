//! Comparing two responses through the runtime's structural comparator: each [`Exchange`] becomes
//! one JSON document, `{"status": .., "headers": {..}, "body": ..}`, and
//! [`Structural`] diffs the two with the route's path rules
//! (`ignore`, float tolerance, `unordered`, `within`, `nfc`, `trim`, ...). Paths therefore read
//! `$.status`, `$.headers.content-type`, `$.body.lines[2].amount`, and noise cancellation learns
//! them as it learns a function's.
//!
//! | body (after `Content-Encoding`: gzip, deflate, br) | becomes |
//! |---|---|
//! | JSON (`application/json`, `*/*+json`) that parses | the JSON value: `$.body.total` |
//! | text (`text/*`, XML, JavaScript, form data, or JSON that does not parse) | its differing lines, by the primary's line number, after aligning the two texts (a longest common subsequence): `$.body.12`; a line only the candidate has: `$.body.12+1` |
//! | anything else | `{"length": n, "xxh3": "…"}` |
//!
//! Headers named in [`DEFAULT_IGNORED_HEADERS`] (and hop-by-hop ones) are left out before
//! comparing, so a differing `Date` or request id is a match, not an acceptable difference;
//! [`HttpComparator::compare_header`] takes one off that list and
//! [`HttpComparator::ignore_header`] adds one.
//!
//! ```
//! use shadow_http::{compare::HttpComparator, Exchange};
//! use shadow_runtime::{structural::Structural, Comparator, Verdict};
//!
//! let cmp = HttpComparator::new().with_rules(Structural::new().ignore("$.body.quoted_at"));
//! let json = [("content-type", "application/json")];
//! let a = Exchange::new(200, json, r#"{"price": 10.5, "quoted_at": 1}"#);
//! let b = Exchange::new(200, json, r#"{"price": 10.25, "quoted_at": 2}"#);
//! assert_eq!(cmp.compare(&a, &b), Verdict::mismatch("$.body.price: 10.5 -> 10.25"));
//! ```

use std::borrow::Cow;
use std::io::Read;

use http::HeaderName;
use serde_json::{Map, Value};
use shadow_runtime::structural::Structural;
use shadow_runtime::{Comparator, Verdict};

use crate::exchange::Exchange;

/// Response headers left out of the comparison by default: they differ between two correct
/// responses (dates, servers, request and trace ids, timings, caches), or are about the
/// connection and the encoding (the bodies are compared decoded).
pub const DEFAULT_IGNORED_HEADERS: [&str; 31] = [
    "date",
    "server",
    "age",
    "expires",
    "last-modified",
    "etag",
    "via",
    "alt-svc",
    "content-length",
    "content-encoding",
    "vary",
    "x-request-id",
    "request-id",
    "x-correlation-id",
    "x-trace-id",
    "traceparent",
    "tracestate",
    "x-amzn-trace-id",
    "x-amzn-requestid",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-cloud-trace-context",
    "x-runtime",
    "x-response-time",
    "server-timing",
    "x-served-by",
    "x-cache",
    "x-cache-hits",
    "cf-ray",
];

/// Decoded bodies larger than this are compared by their wire bytes' length and hash.
pub const DEFAULT_DECODE_LIMIT: usize = 16 << 20;

/// The comparator of HTTP responses: status, headers (without the ignored ones), and bodies by
/// content type, through [`Structural`] and its path rules. See the [module docs](self).
///
/// ```
/// use shadow_http::{compare::HttpComparator, Exchange};
/// use shadow_runtime::Comparator;
/// let cmp = HttpComparator::new();
/// let a = Exchange::new(200, [("date", "Mon, 01 Jan 2026 00:00:00 GMT")], "ok");
/// let b = Exchange::new(200, [("date", "Mon, 01 Jan 2026 00:00:01 GMT")], "ok");
/// assert!(cmp.compare(&a, &b).is_match());
/// ```
#[derive(Debug, Clone)]
pub struct HttpComparator {
    rules: Structural,
    ignored: Vec<HeaderName>,
    headers: bool,
    decode_limit: usize,
}

impl Default for HttpComparator {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpComparator {
    /// Status, headers less [`DEFAULT_IGNORED_HEADERS`], bodies exactly.
    ///
    /// ```
    /// let _ = shadow_http::compare::HttpComparator::new();
    /// ```
    pub fn new() -> Self {
        HttpComparator {
            rules: Structural::new(),
            ignored: DEFAULT_IGNORED_HEADERS
                .iter()
                .map(|h| HeaderName::from_static(h))
                .collect(),
            headers: true,
            decode_limit: DEFAULT_DECODE_LIMIT,
        }
    }

    /// The path rules, over the whole document (`$.body.…`, `$.headers.…`, `$.status`).
    ///
    /// ```
    /// use shadow_runtime::structural::Structural;
    /// let _ = shadow_http::compare::HttpComparator::new()
    ///     .with_rules(Structural::new().float_tolerance(0.005, 0.0).unordered("$.body.tags"));
    /// ```
    pub fn with_rules(mut self, rules: Structural) -> Self {
        self.rules = rules;
        self
    }

    /// Leaves header `name` out of the comparison too.
    ///
    /// ```
    /// use shadow_http::{compare::HttpComparator, Exchange};
    /// use shadow_runtime::Comparator;
    /// let cmp = HttpComparator::new().ignore_header("x-build");
    /// assert!(cmp.compare(&Exchange::new(200, [("x-build", "1")], ""), &Exchange::new(200, [("x-build", "2")], "")).is_match());
    /// ```
    pub fn ignore_header(mut self, name: &str) -> Self {
        if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
            if !self.ignored.contains(&n) {
                self.ignored.push(n);
            }
        }
        self
    }

    /// Compares header `name` although it is on the default ignore list.
    ///
    /// ```
    /// use shadow_http::{compare::HttpComparator, Exchange};
    /// use shadow_runtime::Comparator;
    /// let cmp = HttpComparator::new().compare_header("server");
    /// assert!(!cmp.compare(&Exchange::new(200, [("server", "a")], ""), &Exchange::new(200, [("server", "b")], "")).is_match());
    /// ```
    pub fn compare_header(mut self, name: &str) -> Self {
        self.ignored
            .retain(|n| !n.as_str().eq_ignore_ascii_case(name));
        self
    }

    /// Compares no header at all (status and body only).
    ///
    /// ```
    /// let _ = shadow_http::compare::HttpComparator::new().without_headers();
    /// ```
    pub fn without_headers(mut self) -> Self {
        self.headers = false;
        self
    }

    /// Decoded bodies larger than `bytes` are compared by the length and hash of their wire
    /// bytes instead (default [`DEFAULT_DECODE_LIMIT`]).
    ///
    /// ```
    /// let _ = shadow_http::compare::HttpComparator::new().decode_limit(1 << 20);
    /// ```
    pub fn decode_limit(mut self, bytes: usize) -> Self {
        self.decode_limit = bytes;
        self
    }

    fn kept<'e>(&'e self, e: &'e Exchange) -> impl Iterator<Item = &'e (HeaderName, String)> {
        e.headers
            .iter()
            .filter(move |(n, _)| self.headers && !self.ignored.contains(n))
    }

    /// The two documents the comparison diffs (for a look at what is compared).
    ///
    /// ```
    /// use shadow_http::{compare::HttpComparator, Exchange};
    /// let e = Exchange::new(201, [("content-type", "application/json"), ("date", "x")], r#"{"id":7}"#);
    /// let (doc, _) = HttpComparator::new().documents(&e, &e);
    /// assert_eq!(doc, serde_json::json!({"status": 201, "headers": {"content-type": "application/json"}, "body": {"id": 7}}));
    /// ```
    pub fn documents(&self, primary: &Exchange, candidate: &Exchange) -> (Value, Value) {
        let (pb, cb) = bodies(
            body_of(primary, self.decode_limit),
            body_of(candidate, self.decode_limit),
        );
        (self.document(primary, pb), self.document(candidate, cb))
    }

    fn document(&self, e: &Exchange, body: Value) -> Value {
        let mut doc = Map::new();
        if let Some(f) = &e.failure {
            doc.insert("failure".into(), Value::String(f.clone()));
            return Value::Object(doc);
        }
        doc.insert("status".into(), Value::from(e.status.as_u16()));
        let mut headers = Map::new();
        for (n, v) in self.kept(e) {
            match headers.get_mut(n.as_str()) {
                None => {
                    headers.insert(n.as_str().to_owned(), Value::String(v.clone()));
                }
                Some(Value::Array(list)) => list.push(Value::String(v.clone())),
                Some(first) => {
                    let one = first.take();
                    *first = Value::Array(vec![one, Value::String(v.clone())]);
                }
            }
        }
        doc.insert("headers".into(), Value::Object(headers));
        doc.insert("body".into(), body);
        Value::Object(doc)
    }

    /// The cheap case: the same status, kept headers, encoding and wire bytes.
    fn identical(&self, a: &Exchange, b: &Exchange) -> bool {
        a.failure.is_none()
            && b.failure.is_none()
            && !a.truncated
            && !b.truncated
            && a.status == b.status
            && a.body == b.body
            && a.header("content-encoding") == b.header("content-encoding")
            && a.header("content-type") == b.header("content-type")
            && self.kept(a).eq(self.kept(b))
    }
}

impl Comparator<Exchange> for HttpComparator {
    fn compare(&self, primary: &Exchange, candidate: &Exchange) -> Verdict {
        if self.identical(primary, candidate) {
            return Verdict::Match;
        }
        let (a, b) = self.documents(primary, candidate);
        self.rules.diff(&a, &b).verdict()
    }
}

/// A body, read by its content type.
enum Read3 {
    Json(Value),
    Text(String),
    Other(Value),
}

fn body_of(e: &Exchange, limit: usize) -> Read3 {
    if e.truncated {
        return Read3::Other(Value::String(format!(
            "(over the body limit: at least {} bytes)",
            e.body_len
        )));
    }
    let raw = || {
        let mut m = Map::new();
        m.insert("length".into(), Value::from(e.body.len()));
        m.insert(
            "xxh3".into(),
            Value::String(format!("{:016x}", hash(&e.body))),
        );
        m
    };
    let bytes = match decoded(e, limit) {
        Ok(b) => b,
        Err(why) => {
            let mut m = raw();
            m.insert("undecoded".into(), Value::String(why));
            return Read3::Other(Value::Object(m));
        }
    };
    let ctype = e
        .header("content-type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let json = ctype == "application/json" || ctype.ends_with("+json");
    if json {
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            return Read3::Json(v);
        }
    }
    let texty = json
        || ctype.starts_with("text/")
        || ctype.ends_with("+xml")
        || matches!(
            ctype.as_str(),
            "application/xml"
                | "application/javascript"
                | "application/x-www-form-urlencoded"
                | "application/x-ndjson"
        );
    if texty {
        if let Ok(s) = std::str::from_utf8(&bytes) {
            return Read3::Text(s.to_owned());
        }
    }
    let mut m = Map::new();
    m.insert("length".into(), Value::from(bytes.len()));
    m.insert(
        "xxh3".into(),
        Value::String(format!("{:016x}", hash(&bytes))),
    );
    Read3::Other(Value::Object(m))
}

/// Both bodies as values: two texts are aligned line by line first.
fn bodies(a: Read3, b: Read3) -> (Value, Value) {
    match (a, b) {
        (Read3::Text(x), Read3::Text(y)) => {
            let (p, c) = align_lines(&x, &y);
            (Value::Object(p), Value::Object(c))
        }
        (a, b) => (value_of(a), value_of(b)),
    }
}

fn value_of(r: Read3) -> Value {
    match r {
        Read3::Json(v) | Read3::Other(v) => v,
        Read3::Text(t) => Value::Object(
            t.lines()
                .enumerate()
                .map(|(i, l)| ((i + 1).to_string(), Value::String(l.to_owned())))
                .collect(),
        ),
    }
}

/// Cells of the longest-common-subsequence table past which the middle of two texts is paired
/// line by line instead.
const LCS_CELLS: usize = 4_000_000;

/// The lines where two texts differ, keyed by the primary's line number (1-based); a line only
/// the candidate has is keyed `n+k` (the k-th line inserted after the primary's line n).
fn align_lines(a: &str, b: &str) -> (Map<String, Value>, Map<String, Value>) {
    let (mut p, mut c) = (Map::new(), Map::new());
    if a == b {
        return (p, c);
    }
    let x: Vec<&str> = a.lines().collect();
    let y: Vec<&str> = b.lines().collect();
    let pre = x.iter().zip(&y).take_while(|(l, r)| l == r).count();
    let suf = x[pre..]
        .iter()
        .rev()
        .zip(y[pre..].iter().rev())
        .take_while(|(l, r)| l == r)
        .count();
    let (xm, ym) = (&x[pre..x.len() - suf], &y[pre..y.len() - suf]);
    // Ops over the middle: Some(i) / Some(j) are lines of one side only; (Some, Some) a kept pair.
    let mut ops: Vec<(Option<usize>, Option<usize>)> = Vec::new();
    if xm.len().saturating_mul(ym.len()) <= LCS_CELLS {
        let (n, m) = (xm.len(), ym.len());
        let mut t = vec![0u32; (n + 1) * (m + 1)];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                t[i * (m + 1) + j] = if xm[i] == ym[j] {
                    t[(i + 1) * (m + 1) + j + 1] + 1
                } else {
                    t[(i + 1) * (m + 1) + j].max(t[i * (m + 1) + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && xm[i] == ym[j] {
                ops.push((Some(i), Some(j)));
                i += 1;
                j += 1;
            } else if j < m && (i == n || t[i * (m + 1) + j + 1] >= t[(i + 1) * (m + 1) + j]) {
                ops.push((None, Some(j)));
                j += 1;
            } else {
                ops.push((Some(i), None));
                i += 1;
            }
        }
    } else {
        for k in 0..xm.len().max(ym.len()) {
            ops.push(((k < xm.len()).then_some(k), (k < ym.len()).then_some(k)));
        }
    }
    // Pairs each run of removed lines with the run of added lines next to it.
    let mut k = 0;
    while k < ops.len() {
        if let (Some(i), Some(j)) = ops[k] {
            if xm[i] == ym[j] {
                k += 1;
                continue;
            }
        }
        let start = k;
        while k < ops.len() && !matches!(ops[k], (Some(i), Some(j)) if xm[i] == ym[j]) {
            k += 1;
        }
        let run = &ops[start..k];
        let dels: Vec<usize> = run.iter().filter_map(|o| o.0).collect();
        let adds: Vec<usize> = run.iter().filter_map(|o| o.1).collect();
        // The primary's line before this run (0: before the first line).
        let before = match start {
            0 => pre,
            _ => {
                pre + ops[..start]
                    .iter()
                    .rev()
                    .find_map(|o| o.0)
                    .map_or(0, |i| i + 1)
            }
        };
        for (n, i) in dels.iter().enumerate() {
            let key = (pre + i + 1).to_string();
            p.insert(key.clone(), Value::String(xm[*i].to_owned()));
            if let Some(j) = adds.get(n) {
                c.insert(key, Value::String(ym[*j].to_owned()));
            }
        }
        for (n, j) in adds.iter().enumerate().skip(dels.len()) {
            let key = format!("{}+{}", before + dels.len(), n - dels.len() + 1);
            c.insert(key, Value::String(ym[*j].to_owned()));
        }
    }
    (p, c)
}

/// The XXH3 hash bodies are shown and compared by.
pub(crate) fn hash(bytes: &[u8]) -> u64 {
    shadow_runtime::sticky::key_hash(bytes, 0)
}

/// The body with its `Content-Encoding` undone (gzip, x-gzip, deflate, br, identity; a list is
/// undone last first), at most `limit` bytes.
pub(crate) fn decoded(e: &Exchange, limit: usize) -> Result<Cow<'_, [u8]>, String> {
    let Some(enc) = e.header("content-encoding") else {
        return Ok(Cow::Borrowed(&e.body));
    };
    let mut data: Cow<'_, [u8]> = Cow::Borrowed(&e.body);
    for coding in enc.rsplit(',').map(|c| c.trim().to_ascii_lowercase()) {
        let cap = limit.saturating_add(1) as u64;
        let mut out = Vec::new();
        let read = match coding.as_str() {
            "" | "identity" => continue,
            "gzip" | "x-gzip" => flate2::read::MultiGzDecoder::new(&data[..])
                .take(cap)
                .read_to_end(&mut out),
            "deflate" => {
                let zlib = flate2::read::ZlibDecoder::new(&data[..])
                    .take(cap)
                    .read_to_end(&mut out);
                match zlib {
                    Ok(n) => Ok(n),
                    Err(_) => {
                        out.clear();
                        flate2::read::DeflateDecoder::new(&data[..])
                            .take(cap)
                            .read_to_end(&mut out)
                    }
                }
            }
            "br" => brotli_decompressor::Decompressor::new(&data[..], 4096)
                .take(cap)
                .read_to_end(&mut out),
            other => return Err(format!("content-encoding {other:?} is not decoded")),
        };
        read.map_err(|err| format!("{coding}: {err}"))?;
        if out.len() > limit {
            return Err(format!("decoded body over {limit} bytes"));
        }
        data = Cow::Owned(out);
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(a: &str, b: &str) -> Verdict {
        let t = [("content-type", "text/plain")];
        HttpComparator::new().compare(
            &Exchange::new(200, t, a.to_owned()),
            &Exchange::new(200, t, b.to_owned()),
        )
    }

    #[test]
    fn text_bodies_compare_by_aligned_lines() {
        assert_eq!(text("a\nb\nc", "a\nb\nc"), Verdict::Match);
        assert_eq!(
            text("a\nb\nc", "a\nB\nc"),
            Verdict::mismatch(r#"$.body.2: "b" -> "B""#)
        );
        // An inserted line is one difference, not a shift of every later line.
        assert_eq!(
            text("a\nb\nc\nd", "a\nb\nx\nc\nd"),
            Verdict::mismatch(r#"$.body.2+1: (missing) -> "x""#)
        );
        assert_eq!(
            text("a\nb\nc", "a\nc"),
            Verdict::mismatch(r#"$.body.2: "b" -> (missing)"#)
        );
    }

    #[test]
    fn binary_bodies_compare_by_length_and_hash() {
        let t = [("content-type", "application/octet-stream")];
        let v = HttpComparator::new().compare(
            &Exchange::new(200, t, vec![1u8, 2, 3]),
            &Exchange::new(200, t, vec![1u8, 2, 4]),
        );
        let Verdict::Mismatch { diff: Some(d) } = v else {
            panic!("{v:?}")
        };
        assert!(d.starts_with("$.body.xxh3: "), "{d}");
        assert!(!d.contains("length"), "{d}");
    }

    #[test]
    fn gzip_and_br_are_decoded_before_comparing() {
        use std::io::Write;
        let body = br#"{"a": 1}"#;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(body).unwrap();
        let gz = gz.finish().unwrap();
        let mut br = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
            w.write_all(br#"{"a": 2}"#).unwrap();
        }
        let a = Exchange::new(
            200,
            [
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            gz,
        );
        let b = Exchange::new(
            200,
            [
                ("content-type", "application/json"),
                ("content-encoding", "br"),
            ],
            br,
        );
        assert_eq!(
            HttpComparator::new().compare(&a, &b),
            Verdict::mismatch("$.body.a: 1 -> 2")
        );
        let plain = Exchange::new(200, [("content-type", "application/json")], &body[..]);
        assert_eq!(HttpComparator::new().compare(&a, &plain), Verdict::Match);
    }

    #[test]
    fn status_and_kept_headers_are_compared() {
        let c = HttpComparator::new();
        let v = c.compare(
            &Exchange::new(200, [("x-a", "1"), ("date", "d1")], ""),
            &Exchange::new(500, [("x-a", "2"), ("date", "d2")], ""),
        );
        assert_eq!(
            v,
            Verdict::mismatch("$.headers.x-a: \"1\" -> \"2\"\n$.status: 200 -> 500")
        );
    }
}
