//! The proxy's configuration file, `parallel-run.toml`: the proxy's addresses, defaults, and one
//! `[[routes]]` table per route. Every key of an experiment's environment variable
//! (`PARALLEL_RUN__<NAME>`) is a key here, with the same name and meaning, so the same file format
//! also describes the experiments of functions (`[experiments."name"]`, for a fleet's config file).
//!
//! ```toml
//! [proxy]
//! listen = "127.0.0.1:8080"            # where clients connect
//! primary = "http://127.0.0.1:9001"    # the legacy service: its responses are served
//! candidate = "http://127.0.0.1:9002"  # the rewrite: gets a copy of each sampled request
//! admin = "127.0.0.1:9090"             # /metrics (Prometheus), /health, /routes
//! log = "target/parallel-run/proxy.jsonl"   # the discrepancy log (`parallel-run report` reads it)
//! marker_header = "x-parallel-run"     # on every mirrored request
//! drain = "10s"                        # graceful shutdown: how long to wait for candidates
//! max_body = "1MiB"                    # bodies kept for comparison, per route unless it says
//!
//! [defaults]                           # every route's settings unless it sets its own
//! sample = "100%"
//! timeout = "2s"
//!
//! [[routes]]                           # the first route that takes a request gets it
//! name = "pricing::quote"              # the experiment: PARALLEL_RUN__PRICING__QUOTE, metrics, log
//! methods = ["GET"]
//! path = "/v1/quote"                   # a prefix; or pattern = "/v1/customers/*/quote"
//! sample = "25%"
//! sample_by = "header:x-customer-id"   # random | header:NAME | cookie:NAME | path:N | query:NAME
//! max_in_flight = 32
//! breaker_ratio = 0.5
//! noise = 0.05                         # Diffy-style: ask the primary twice, learn its noise
//!
//! [routes.compare]                     # paths in the compared document: $.status, $.headers.x, $.body...
//! ignore = ["$.body.quoted_at"]
//! float_tolerance = 0.005
//! ignore_headers = ["x-build"]
//!
//! [[routes]]
//! name = "orders::create"
//! methods = ["POST"]
//! path = "/v1/orders"
//! writes = "idempotency"               # or "separate"; without it, only GET/HEAD/OPTIONS are mirrored
//! ```
//!
//! | key (route, `[defaults]`, `[experiments.*]`) | value | as in the environment |
//! |---|---|---|
//! | `enabled` | `true` / `false` | `enabled=on` |
//! | `sample` | `0.25`, `"25%"` | `sample=25%` |
//! | `timeout` | `"150ms"`, `"2s"`, `"none"` | `timeout=150ms` |
//! | `max_in_flight` | a positive integer | |
//! | `breaker` | `true` / `false` | |
//! | `breaker_ratio` | a rate | |
//! | `breaker_min_calls`, `breaker_probes` | positive integers | |
//! | `breaker_window`, `breaker_cooldown` | durations | |
//! | `min_match_rate` | a rate | |
//! | `min_samples` | a positive integer | |
//! | `gate_window` | a duration | |
//! | `deadline` | `2026-12-31` (a TOML date or a string), `"none"` | |
//! | `ramp` | a rate (`[experiments.*]`; on a route only 0: the proxy always serves the primary) | |
//! | `strict`, `cpu_time` | `true` / `false` (`[experiments.*]` only) | |
//!
//! | route key | value | default |
//! |---|---|---|
//! | `name` | the experiment's name | required |
//! | `methods` | `["GET", "POST"]` | every method |
//! | `path` / `pattern` | a prefix (`/v1/quote`) / segments with `*` and a last `**` | every path |
//! | `sample_by` | `random`, `header:NAME`, `cookie:NAME`, `path:N`, `query:NAME` | `random` |
//! | `writes` | `read_only`, `separate`, `idempotency` | `read_only` |
//! | `idempotency_header` | a header name | `idempotency-key` |
//! | `max_body` | bytes, or `"512KiB"`, `"1MiB"` | the proxy's `max_body`, 1 MiB |
//! | `noise` | the share of safe requests asked twice | 0 |
//! | `[routes.compare]` | `ignore`, `unordered`, `trim`, `nfc`, `redact`, `missing_as_null`, `missing_as_empty` (lists of paths), `float_tolerance`, `float_relative` (numbers), `within` (a table of path = duration), `ignore_headers`, `compare_headers` (lists), `headers` (`false`: compare no header) | |
//!
//! A mistake is an error at start-up that names the file, the line and the key, and says what
//! is allowed; every mistake of the file is reported at once:
//!
//! ```
//! let err = shadow_http::config::Config::from_toml_str("[[routes]]\nname = \"a\"\nsample = 1.5\n", "proxy.toml").unwrap_err();
//! assert_eq!(err.to_string(), "proxy.toml:3: routes[0].sample: 1.5 is outside 0..=1 (write a rate such as 0.25 or \"25%\")");
//! ```
//!
//! Precedence, per key of a route's experiment: the live API, then the environment
//! (`PARALLEL_RUN__<ROUTE>`), then this file, then the built-in defaults. The file plays the part
//! the attribute plays for a function.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::HeaderName;
use shadow_runtime::structural::Structural;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::compare::HttpComparator;
use crate::route::{
    PathMatch, Route, SampleBy, WritePolicy, DEFAULT_MARKER_HEADER, DEFAULT_MAX_BODY,
};

/// One mistake in a configuration file: where, which key, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file (as given).
    pub file: String,
    /// The line, from 1.
    pub line: usize,
    /// The key, as a path (`routes[2].sample`).
    pub key: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(
                f,
                "{}:{}: {}: {}",
                self.file, self.line, self.key, self.message
            )
        }
    }
}

/// Every mistake found in a configuration (one per line of its `Display`).
///
/// ```
/// let e = shadow_http::config::Config::from_toml_str("[proxy]\nlisten = 8080\n", "p.toml").unwrap_err();
/// assert_eq!(e.problems()[0].line, 2);
/// assert_eq!(e.problems()[0].key, "proxy.listen");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    problems: Vec<Problem>,
}

impl ConfigError {
    /// The mistakes, in the order found.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    fn one(file: &str, line: usize, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            problems: vec![Problem {
                file: file.to_owned(),
                line,
                key: key.to_owned(),
                message: message.into(),
            }],
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// How one route compares, from `[routes.compare]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompareConfig {
    /// `(rule, path)`: `ignore`, `unordered`, `trim`, `nfc`, `redact`, `missing_as_null`,
    /// `missing_as_empty`.
    pub paths: Vec<(String, String)>,
    /// `(path, tolerance)` of `within`.
    pub within: Vec<(String, Duration)>,
    /// `float_tolerance`, `float_relative`.
    pub float: (f64, f64),
    /// Headers added to the ignore list.
    pub ignore_headers: Vec<String>,
    /// Headers taken off the ignore list.
    pub compare_headers: Vec<String>,
    /// `headers = false`: compare no header.
    pub no_headers: bool,
}

impl CompareConfig {
    /// The comparator these rules make.
    pub fn comparator(&self, decode_limit: usize) -> HttpComparator {
        let mut s = Structural::new();
        for (rule, p) in &self.paths {
            s = match rule.as_str() {
                "ignore" => s.ignore(p),
                "unordered" => s.unordered(p),
                "trim" => s.trim(p),
                "nfc" => s.nfc(p),
                "redact" => s.redact(p),
                "missing_as_null" => s.missing_as_null(p),
                "missing_as_empty" => s.missing_as_empty(p),
                _ => s,
            };
        }
        for (p, d) in &self.within {
            s = s.within(p, *d);
        }
        if self.float != (0.0, 0.0) {
            s = s.float_tolerance(self.float.0, self.float.1);
        }
        let mut c = HttpComparator::new()
            .with_rules(s)
            .decode_limit(decode_limit.max(crate::compare::DEFAULT_DECODE_LIMIT));
        for h in &self.ignore_headers {
            c = c.ignore_header(h);
        }
        for h in &self.compare_headers {
            c = c.compare_header(h);
        }
        if self.no_headers {
            c = c.without_headers();
        }
        c
    }
}

/// One route of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteConfig {
    /// Its experiment's name.
    pub name: String,
    /// `methods`; `None`: every method.
    pub methods: Option<Vec<String>>,
    /// `path` or `pattern`.
    pub path: PathMatch,
    /// `sample_by`.
    pub sample_by: SampleBy,
    /// `writes` (and `idempotency_header`).
    pub writes: WritePolicy,
    /// `max_body`, in bytes.
    pub max_body: usize,
    /// `noise`.
    pub noise: f64,
    /// The experiment's settings (the file's `[defaults]` and the route's own keys) in the
    /// environment variable's format, `sample=0.25,timeout=500ms`.
    pub settings: String,
    /// `[routes.compare]`.
    pub compare: CompareConfig,
}

impl RouteConfig {
    /// The route (its experiment is created at the first build of its name in the process).
    pub fn build(&self) -> Route {
        let mut b = Route::builder(&self.name)
            .sample_by(self.sample_by.clone())
            .writes(self.writes.clone())
            .max_body(self.max_body)
            .settings(&self.settings)
            .noise(self.noise)
            .compare(self.compare.comparator(self.max_body));
        if let Some(m) = &self.methods {
            b = b.methods(m.iter().map(String::as_str));
        }
        b = match &self.path {
            PathMatch::Any => b,
            PathMatch::Prefix(p) => b.prefix(p),
            PathMatch::Pattern(segs) => b.pattern(&segs.join("/")),
        };
        b.build()
    }
}

/// An `[experiments."name"]` table: a function's experiment, for a fleet's config file (the
/// proxy reads and checks them, and leaves them to the process that runs those functions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExperimentConfig {
    /// The experiment's name.
    pub name: String,
    /// Its settings in the environment variable's format.
    pub settings: String,
    /// `strict`, if given.
    pub strict: Option<bool>,
}

/// The proxy's configuration: the file's, with whatever the command line sets over it.
///
/// ```
/// use shadow_http::config::Config;
/// let c = Config::from_toml_str(r#"
/// [proxy]
/// primary = "http://127.0.0.1:9001"
/// candidate = "http://127.0.0.1:9002"
///
/// [[routes]]
/// name = "docs::cfg::quote"
/// methods = ["GET"]
/// path = "/v1/quote"
/// sample = "25%"
/// timeout = "500ms"
/// "#, "parallel-run.toml").unwrap();
/// assert_eq!(c.routes[0].settings, "sample=0.25,timeout=500ms");
/// assert_eq!(c.primary.as_deref(), Some("http://127.0.0.1:9001"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where clients connect (`--listen`); default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// The admin port (`--admin`): `/metrics`, `/health`, `/routes`; none by default.
    pub admin: Option<SocketAddr>,
    /// The legacy service's base URL (`--primary`).
    pub primary: Option<String>,
    /// The rewrite's base URL (`--candidate`).
    pub candidate: Option<String>,
    /// The discrepancy log (`--log`).
    pub log: Option<PathBuf>,
    /// The marker header.
    pub marker_header: HeaderName,
    /// How long a graceful shutdown waits for in-flight requests, then candidates.
    pub drain: Duration,
    /// The routes, in order. Empty: one route, `http`, takes every request.
    pub routes: Vec<RouteConfig>,
    /// `[experiments.*]`, checked and kept.
    pub experiments: Vec<ExperimentConfig>,
    /// The file it was read from.
    pub source: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin: None,
            primary: None,
            candidate: None,
            log: None,
            marker_header: HeaderName::from_static(DEFAULT_MARKER_HEADER),
            drain: Duration::from_secs(10),
            routes: Vec::new(),
            experiments: Vec::new(),
            source: None,
        }
    }
}

impl Config {
    /// A configuration without a file: one catch-all route, shadowing every request.
    ///
    /// ```
    /// let c = shadow_http::config::Config::new("http://127.0.0.1:9001", "http://127.0.0.1:9002");
    /// assert!(c.routes.is_empty());
    /// ```
    pub fn new(primary: &str, candidate: &str) -> Config {
        Config {
            primary: Some(primary.to_owned()),
            candidate: Some(candidate.to_owned()),
            ..Config::default()
        }
    }

    /// Reads and checks a configuration file.
    ///
    /// ```
    /// let e = shadow_http::config::Config::from_toml_file("/no/such/parallel-run.toml").unwrap_err();
    /// assert!(e.to_string().starts_with("/no/such/parallel-run.toml:"));
    /// ```
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::one(&name, 0, "", format!("cannot read it: {e}")))?;
        let mut c = Config::from_toml_str(&text, &name)?;
        c.source = Some(path.to_owned());
        Ok(c)
    }

    /// Reads and checks a configuration; `file` names it in errors.
    pub fn from_toml_str(text: &str, file: &str) -> Result<Config, ConfigError> {
        let doc = DeTable::parse(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_of(text, s.start));
            ConfigError::one(file, line, "", e.message().trim().to_owned())
        })?;
        let mut p = Parser {
            text,
            file,
            problems: Vec::new(),
        };
        let c = p.document(doc.get_ref());
        if p.problems.is_empty() {
            Ok(c)
        } else {
            Err(ConfigError {
                problems: p.problems,
            })
        }
    }

    /// The routes, built (their experiments created once per name).
    pub fn build_routes(&self) -> Vec<Route> {
        if self.routes.is_empty() {
            return vec![Route::builder("http").build()];
        }
        self.routes.iter().map(RouteConfig::build).collect()
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

type Val<'a> = Spanned<DeValue<'a>>;

struct Parser<'t> {
    text: &'t str,
    file: &'t str,
    problems: Vec<Problem>,
}

const PROXY_KEYS: [&str; 8] = [
    "listen",
    "admin",
    "primary",
    "candidate",
    "log",
    "marker_header",
    "drain",
    "max_body",
];
const SETTING_KEYS: [&str; 14] = [
    "enabled",
    "sample",
    "timeout",
    "max_in_flight",
    "breaker",
    "breaker_ratio",
    "breaker_min_calls",
    "breaker_probes",
    "breaker_window",
    "breaker_cooldown",
    "min_match_rate",
    "min_samples",
    "gate_window",
    "deadline",
];
const ROUTE_KEYS: [&str; 11] = [
    "name",
    "methods",
    "path",
    "pattern",
    "sample_by",
    "writes",
    "idempotency_header",
    "max_body",
    "noise",
    "compare",
    "ramp",
];
const COMPARE_KEYS: [&str; 14] = [
    "ignore",
    "unordered",
    "trim",
    "nfc",
    "redact",
    "missing_as_null",
    "missing_as_empty",
    "float_tolerance",
    "float_relative",
    "within",
    "ignore_headers",
    "compare_headers",
    "headers",
    "strict",
];

/// The order settings are written in.
const CANONICAL: [&str; 16] = [
    "enabled",
    "sample",
    "timeout",
    "max_in_flight",
    "cpu_time",
    "breaker",
    "breaker_ratio",
    "breaker_min_calls",
    "breaker_probes",
    "breaker_window",
    "breaker_cooldown",
    "ramp",
    "min_match_rate",
    "min_samples",
    "gate_window",
    "deadline",
];

/// Settings in the environment variable's format, in the order given, each key once.
#[derive(Debug, Clone, Default)]
struct Spec(Vec<(&'static str, String)>);

impl Spec {
    fn set(&mut self, key: &'static str, v: String) {
        self.0.retain(|(k, _)| *k != key);
        self.0.push((key, v));
    }

    fn over(&self, defaults: &Spec) -> Spec {
        let mut out = defaults.clone();
        for (k, v) in &self.0 {
            out.set(k, v.clone());
        }
        out
    }

    /// `key=value,...` in [`CANONICAL`] order.
    fn render(&self) -> String {
        let mut v = self.0.clone();
        v.sort_by_key(|(k, _)| CANONICAL.iter().position(|c| c == k));
        v.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl<'t> Parser<'t> {
    fn problem(&mut self, span: std::ops::Range<usize>, key: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.to_owned(),
            line: line_of(self.text, span.start),
            key: key.to_owned(),
            message: message.into(),
        });
    }

    fn unknown(&mut self, span: std::ops::Range<usize>, key: &str, name: &str, allowed: &[&str]) {
        let hint = closest(name, allowed)
            .map(|c| format!("did you mean `{c}`? "))
            .unwrap_or_default();
        self.problem(
            span,
            key,
            format!("unknown key; {hint}allowed here: {}", allowed.join(", ")),
        );
    }

    fn document(&mut self, doc: &DeTable<'_>) -> Config {
        let mut c = Config::default();
        let mut defaults = Spec::default();
        let mut max_body = DEFAULT_MAX_BODY;
        // [defaults] and [proxy] first: routes inherit from them.
        for (k, v) in doc.iter() {
            match k.get_ref().as_ref() {
                "defaults" => {
                    if let Some(t) = self.table(v, "defaults") {
                        for (k2, v2) in t.iter() {
                            let key = format!("defaults.{}", k2.get_ref());
                            let name = k2.get_ref().as_ref();
                            if SETTING_KEYS.contains(&name) {
                                self.setting(&mut defaults, name, v2, &key);
                            } else {
                                self.unknown(k2.span(), &key, name, &SETTING_KEYS);
                            }
                        }
                    }
                }
                "proxy" => {
                    if let Some(t) = self.table(v, "proxy") {
                        for (k2, v2) in t.iter() {
                            let key = format!("proxy.{}", k2.get_ref());
                            self.proxy_key(
                                &mut c,
                                &mut max_body,
                                k2.get_ref(),
                                v2,
                                &key,
                                k2.span(),
                            );
                        }
                    }
                }
                _ => {}
            }
        }
        for (k, v) in doc.iter() {
            match k.get_ref().as_ref() {
                "defaults" | "proxy" => {}
                "routes" => match v.get_ref() {
                    DeValue::Array(a) => {
                        for (i, r) in a.iter().enumerate() {
                            let key = format!("routes[{i}]");
                            if let Some(rc) = self.route(r, &key, &defaults, max_body) {
                                if c.routes.iter().any(|o| o.name == rc.name) {
                                    self.problem(r.span(), &format!("{key}.name"), format!("the route name {:?} is given twice: each route is its own experiment", rc.name));
                                }
                                c.routes.push(rc);
                            }
                        }
                    }
                    _ => self.problem(
                        v.span(),
                        "routes",
                        "write each route as a `[[routes]]` table",
                    ),
                },
                "experiments" => {
                    if let Some(t) = self.table(v, "experiments") {
                        for (name, e) in t.iter() {
                            let key = format!("experiments.{:?}", name.get_ref().as_ref());
                            if let Some(ec) = self.experiment(name.get_ref(), e, &key, &defaults) {
                                c.experiments.push(ec);
                            }
                        }
                    }
                }
                other => self.unknown(
                    k.span(),
                    other,
                    other,
                    &["proxy", "defaults", "routes", "experiments"],
                ),
            }
        }
        c
    }

    fn table<'v, 'a>(&mut self, v: &'v Val<'a>, key: &str) -> Option<&'v DeTable<'a>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                self.problem(
                    v.span(),
                    key,
                    format!("expected a table, found a {}", other.type_str()),
                );
                None
            }
        }
    }

    fn string<'v>(&mut self, v: &'v Val<'_>, key: &str, what: &str) -> Option<&'v str> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.as_ref()),
            other => {
                self.problem(
                    v.span(),
                    key,
                    format!("expected {what} (a string), found a {}", other.type_str()),
                );
                None
            }
        }
    }

    fn strings(&mut self, v: &Val<'_>, key: &str, what: &str) -> Option<Vec<String>> {
        let DeValue::Array(a) = v.get_ref() else {
            self.problem(
                v.span(),
                key,
                format!("expected a list of {what}, such as [\"...\"]"),
            );
            return None;
        };
        let mut out = Vec::new();
        for (i, item) in a.iter().enumerate() {
            let k = format!("{key}[{i}]");
            out.push(self.string(item, &k, what)?.to_owned());
        }
        Some(out)
    }

    fn boolean(&mut self, v: &Val<'_>, key: &str) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                self.problem(
                    v.span(),
                    key,
                    format!("expected true or false, found a {}", other.type_str()),
                );
                None
            }
        }
    }

    fn number(&mut self, v: &Val<'_>, key: &str) -> Option<f64> {
        match v.get_ref() {
            DeValue::Float(f) => f.as_str().replace('_', "").parse().ok(),
            DeValue::Integer(i) => i
                .as_str()
                .replace('_', "")
                .parse::<i64>()
                .ok()
                .map(|n| n as f64),
            other => {
                self.problem(
                    v.span(),
                    key,
                    format!("expected a number, found a {}", other.type_str()),
                );
                None
            }
        }
    }

    fn rate(&mut self, v: &Val<'_>, key: &str) -> Option<f64> {
        const HOW: &str = "(write a rate such as 0.25 or \"25%\")";
        let (r, shown) = match v.get_ref() {
            DeValue::String(s) => {
                let t = s.trim();
                let parsed = match t.strip_suffix('%') {
                    Some(p) => p.trim().parse::<f64>().ok().map(|x| x / 100.0),
                    None => t.parse::<f64>().ok(),
                };
                match parsed {
                    Some(x) if !t.starts_with('-') => (x, format!("{s:?}")),
                    _ => {
                        self.problem(v.span(), key, format!("{s:?} is not a rate {HOW}"));
                        return None;
                    }
                }
            }
            DeValue::Float(f) => (
                f.as_str().parse().unwrap_or(f64::NAN),
                f.as_str().to_owned(),
            ),
            DeValue::Integer(i) => (
                i.as_str().parse::<f64>().unwrap_or(f64::NAN),
                i.as_str().to_owned(),
            ),
            other => {
                self.problem(
                    v.span(),
                    key,
                    format!("expected a rate, found a {} {HOW}", other.type_str()),
                );
                return None;
            }
        };
        if r.is_finite() && (0.0..=1.0).contains(&r) && !(r == 0.0 && shown.starts_with('-')) {
            Some(r)
        } else {
            self.problem(v.span(), key, format!("{shown} is outside 0..=1 {HOW}"));
            None
        }
    }

    fn positive(&mut self, v: &Val<'_>, key: &str) -> Option<u64> {
        match v.get_ref() {
            DeValue::Integer(i) => match i.as_str().replace('_', "").parse::<u64>() {
                Ok(n) if n > 0 && i.radix() == 10 => Some(n),
                _ => {
                    self.problem(
                        v.span(),
                        key,
                        format!("{} is not a positive integer", i.as_str()),
                    );
                    None
                }
            },
            other => {
                self.problem(
                    v.span(),
                    key,
                    format!("expected a positive integer, found a {}", other.type_str()),
                );
                None
            }
        }
    }

    fn duration(&mut self, v: &Val<'_>, key: &str, none_ok: bool) -> Option<Option<String>> {
        let s = self.string(v, key, "a duration such as \"150ms\" or \"2s\"")?;
        let s = s.trim().to_owned();
        if none_ok && (s == "none" || s == "off") {
            return Some(None);
        }
        match shadow_runtime::config::parse_duration(&s) {
            Ok(_) => Some(Some(s)),
            Err(e) => {
                let also = if none_ok { ", or \"none\"" } else { "" };
                self.problem(v.span(), key, format!("{e} (units us, ms, s, m{also})"));
                None
            }
        }
    }

    fn size(&mut self, v: &Val<'_>, key: &str) -> Option<usize> {
        let bad = "expected a size: bytes (65536), or \"512KiB\", \"1MiB\", \"64KB\"";
        match v.get_ref() {
            DeValue::Integer(_) => self.positive(v, key).map(|n| n as usize),
            DeValue::String(s) => {
                let t = s.trim();
                let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
                let (num, unit) = t.split_at(split);
                let mult: Option<u64> = match unit.trim() {
                    "" | "B" => Some(1),
                    "KiB" => Some(1 << 10),
                    "MiB" => Some(1 << 20),
                    "GiB" => Some(1 << 30),
                    "KB" | "kB" => Some(1_000),
                    "MB" => Some(1_000_000),
                    "GB" => Some(1_000_000_000),
                    _ => None,
                };
                match (num.parse::<u64>(), mult) {
                    (Ok(n), Some(m)) if n > 0 => {
                        n.checked_mul(m).map(|b| b as usize).or_else(|| {
                            self.problem(v.span(), key, format!("{s:?} is too large"));
                            None
                        })
                    }
                    _ => {
                        self.problem(v.span(), key, format!("{s:?}: {bad}"));
                        None
                    }
                }
            }
            other => {
                self.problem(
                    v.span(),
                    key,
                    format!("{bad}; found a {}", other.type_str()),
                );
                None
            }
        }
    }

    fn date(&mut self, v: &Val<'_>, key: &str) -> Option<String> {
        let text = match v.get_ref() {
            DeValue::Datetime(d) if d.time.is_none() && d.offset.is_none() => d.to_string(),
            DeValue::String(s) => s.trim().to_owned(),
            other => {
                self.problem(
                    v.span(),
                    key,
                    format!(
                        "expected a date such as 2026-12-31, found a {}",
                        other.type_str()
                    ),
                );
                return None;
            }
        };
        if text == "none" || text == "off" {
            return Some("off".into());
        }
        match shadow_runtime::cutover::parse_date(&text) {
            Ok(_) => Some(text),
            Err(e) => {
                self.problem(v.span(), key, format!("{text:?}: {e}"));
                None
            }
        }
    }

    /// One setting key of an experiment (route, `[defaults]`, `[experiments.*]`).
    fn setting(&mut self, spec: &mut Spec, name: &str, v: &Val<'_>, key: &str) {
        let onoff = |b: bool| if b { "on" } else { "off" }.to_owned();
        let k: &'static str = match SETTING_KEYS
            .iter()
            .chain(["ramp", "cpu_time"].iter())
            .find(|k| **k == name)
        {
            Some(k) => k,
            None => return,
        };
        let value = match k {
            "enabled" | "breaker" | "cpu_time" => self.boolean(v, key).map(onoff),
            "sample" | "breaker_ratio" | "min_match_rate" | "ramp" => {
                self.rate(v, key).map(|r| r.to_string())
            }
            "max_in_flight" | "breaker_min_calls" | "breaker_probes" | "min_samples" => {
                self.positive(v, key).map(|n| n.to_string())
            }
            "timeout" => self
                .duration(v, key, true)
                .map(|d| d.unwrap_or_else(|| "none".into())),
            "breaker_window" | "breaker_cooldown" | "gate_window" => {
                self.duration(v, key, false).map(|d| d.unwrap_or_default())
            }
            "deadline" => self.date(v, key),
            _ => None,
        };
        if let Some(value) = value {
            spec.set(k, value);
        }
    }

    fn proxy_key(
        &mut self,
        c: &mut Config,
        max_body: &mut usize,
        name: &str,
        v: &Val<'_>,
        key: &str,
        kspan: std::ops::Range<usize>,
    ) {
        match name {
            "listen" | "admin" => {
                if let Some(s) = self.string(v, key, "an address such as \"127.0.0.1:8080\"") {
                    match s.trim().parse::<SocketAddr>() {
                        Ok(a) if name == "listen" => c.listen = a,
                        Ok(a) => c.admin = Some(a),
                        Err(_) => self.problem(
                            v.span(),
                            key,
                            format!("{s:?} is not an address such as \"127.0.0.1:8080\""),
                        ),
                    }
                }
            }
            "primary" | "candidate" => {
                if let Some(s) = self.string(v, key, "a base URL such as \"http://127.0.0.1:9001\"")
                {
                    match crate::layer::Base::parse(s) {
                        Ok(_) if name == "primary" => c.primary = Some(s.trim().to_owned()),
                        Ok(_) => c.candidate = Some(s.trim().to_owned()),
                        Err(e) => self.problem(v.span(), key, e),
                    }
                }
            }
            "log" => {
                if let Some(s) = self.string(v, key, "a file path") {
                    c.log = Some(PathBuf::from(s));
                }
            }
            "marker_header" => {
                if let Some(s) = self.string(v, key, "a header name") {
                    match HeaderName::from_bytes(s.trim().as_bytes()) {
                        Ok(h) => c.marker_header = h,
                        Err(_) => {
                            self.problem(v.span(), key, format!("{s:?} is not a header name"))
                        }
                    }
                }
            }
            "drain" => {
                if let Some(Some(d)) = self.duration(v, key, false) {
                    c.drain = shadow_runtime::config::parse_duration(&d).unwrap_or(c.drain);
                }
            }
            "max_body" => {
                if let Some(n) = self.size(v, key) {
                    *max_body = n;
                }
            }
            other => self.unknown(kspan, key, other, &PROXY_KEYS),
        }
    }

    fn route(
        &mut self,
        r: &Val<'_>,
        key: &str,
        defaults: &Spec,
        max_body: usize,
    ) -> Option<RouteConfig> {
        let t = self.table(r, key)?;
        let before = self.problems.len();
        let mut rc = RouteConfig {
            name: String::new(),
            methods: None,
            path: PathMatch::Any,
            sample_by: SampleBy::Random,
            writes: WritePolicy::ReadOnly,
            max_body,
            noise: 0.0,
            settings: String::new(),
            compare: CompareConfig::default(),
        };
        let mut spec = Spec::default();
        let mut idem_header: Option<HeaderName> = None;
        let mut has_path = false;
        for (k, v) in t.iter() {
            let name = k.get_ref().as_ref();
            let kk = format!("{key}.{name}");
            match name {
                "name" => {
                    if let Some(s) = self.string(v, &kk, "the experiment's name") {
                        if s.trim().is_empty() || s.chars().any(char::is_control) {
                            self.problem(v.span(), &kk, "a name is not empty and has no control characters");
                        }
                        rc.name = s.to_owned();
                    }
                }
                "methods" => {
                    if let Some(list) = self.strings(v, &kk, "methods") {
                        let mut ms = Vec::new();
                        for m in list {
                            let up = m.trim().to_ascii_uppercase();
                            if http::Method::from_bytes(up.as_bytes()).is_err() || up.is_empty() {
                                self.problem(v.span(), &kk, format!("{m:?} is not an HTTP method"));
                            }
                            ms.push(up);
                        }
                        rc.methods = Some(ms);
                    }
                }
                "path" | "pattern" => {
                    if has_path {
                        self.problem(v.span(), &kk, "give one of `path` (a prefix) and `pattern`");
                    }
                    has_path = true;
                    if let Some(s) = self.string(v, &kk, "a path starting with /") {
                        if !s.starts_with('/') {
                            self.problem(v.span(), &kk, format!("{s:?} does not start with /"));
                        } else if name == "path" {
                            rc.path = PathMatch::prefix(s);
                        } else {
                            let segs: Vec<&str> = s.trim_start_matches('/').split('/').collect();
                            if segs.iter().take(segs.len().saturating_sub(1)).any(|p| *p == "**") {
                                self.problem(v.span(), &kk, "`**` may only be the last segment");
                            }
                            rc.path = PathMatch::pattern(s);
                        }
                    }
                }
                "sample_by" => {
                    if let Some(s) = self.string(v, &kk, "a sampling key") {
                        match SampleBy::parse(s) {
                            Ok(b) => rc.sample_by = b,
                            Err(e) => self.problem(v.span(), &kk, e),
                        }
                    }
                }
                "writes" => {
                    if let Some(s) = self.string(v, &kk, "a write policy") {
                        match WritePolicy::parse(s) {
                            Ok(w) => rc.writes = w,
                            Err(e) => self.problem(v.span(), &kk, e),
                        }
                    }
                }
                "idempotency_header" => {
                    if let Some(s) = self.string(v, &kk, "a header name") {
                        match HeaderName::from_bytes(s.trim().as_bytes()) {
                            Ok(h) => idem_header = Some(h),
                            Err(_) => self.problem(v.span(), &kk, format!("{s:?} is not a header name")),
                        }
                    }
                }
                "max_body" => {
                    if let Some(n) = self.size(v, &kk) {
                        rc.max_body = n;
                    }
                }
                "noise" => {
                    if let Some(r) = self.rate(v, &kk) {
                        rc.noise = r;
                    }
                }
                "ramp" => {
                    if let Some(r) = self.rate(v, &kk) {
                        if r > 0.0 {
                            self.problem(v.span(), &kk, "a ramp is not supported on proxy routes yet: the proxy always serves the primary's response (write 0, or leave it out)");
                        }
                    }
                }
                "compare" => {
                    if let Some(ct) = self.table(v, &kk) {
                        self.compare(ct, &kk, &mut rc.compare);
                    }
                }
                "strict" | "cpu_time" => self.problem(k.span(), &kk, format!("`{name}` is for functions' experiments (`[experiments.\"name\"]`), not proxy routes")),
                n if SETTING_KEYS.contains(&n) => self.setting(&mut spec, n, v, &kk),
                other => {
                    let allowed: Vec<&str> = ROUTE_KEYS.iter().chain(SETTING_KEYS.iter()).copied().collect();
                    self.unknown(k.span(), &kk, other, &allowed);
                }
            }
        }
        if rc.name.is_empty() && !t.iter().any(|(k, _)| k.get_ref().as_ref() == "name") {
            self.problem(
                r.span(),
                &format!("{key}.name"),
                "a route needs a `name` (its experiment's, e.g. \"pricing::quote\")",
            );
        }
        if let Some(h) = idem_header {
            match rc.writes {
                WritePolicy::Idempotency(_) => rc.writes = WritePolicy::Idempotency(h),
                _ => self.problem(
                    r.span(),
                    &format!("{key}.idempotency_header"),
                    "goes with writes = \"idempotency\"",
                ),
            }
        }
        rc.settings = spec.over(defaults).render();
        (self.problems.len() == before).then_some(rc)
    }

    fn compare(&mut self, t: &DeTable<'_>, key: &str, out: &mut CompareConfig) {
        for (k, v) in t.iter() {
            let name = k.get_ref().as_ref();
            let kk = format!("{key}.{name}");
            match name {
                "ignore" | "unordered" | "trim" | "nfc" | "redact" | "missing_as_null"
                | "missing_as_empty" => {
                    if let Some(list) = self.strings(v, &kk, "paths such as \"$.body.items\"") {
                        for p in list {
                            match check_path(&p) {
                                Ok(()) => out.paths.push((name.to_owned(), p)),
                                Err(e) => self.problem(v.span(), &kk, e),
                            }
                        }
                    }
                }
                "float_tolerance" | "float_relative" => {
                    if let Some(x) = self.number(v, &kk) {
                        if !(x.is_finite() && x >= 0.0) {
                            self.problem(
                                v.span(),
                                &kk,
                                format!("{x} is not a non-negative number"),
                            );
                        } else if name == "float_tolerance" {
                            out.float.0 = x;
                        } else {
                            out.float.1 = x;
                        }
                    }
                }
                "within" => {
                    if let Some(wt) = self.table(v, &kk) {
                        for (p, d) in wt.iter() {
                            let pk = format!("{kk}.{:?}", p.get_ref().as_ref());
                            if let Err(e) = check_path(p.get_ref()) {
                                self.problem(p.span(), &pk, e);
                                continue;
                            }
                            if let Some(Some(s)) = self.duration(d, &pk, false) {
                                if let Ok(dur) = shadow_runtime::config::parse_duration(&s) {
                                    out.within.push((p.get_ref().to_string(), dur));
                                }
                            }
                        }
                    }
                }
                "ignore_headers" | "compare_headers" => {
                    if let Some(list) = self.strings(v, &kk, "header names") {
                        for h in list {
                            if HeaderName::from_bytes(h.trim().as_bytes()).is_err() {
                                self.problem(v.span(), &kk, format!("{h:?} is not a header name"));
                            } else if name == "ignore_headers" {
                                out.ignore_headers.push(h.trim().to_ascii_lowercase());
                            } else {
                                out.compare_headers.push(h.trim().to_ascii_lowercase());
                            }
                        }
                    }
                }
                "headers" => {
                    if let Some(b) = self.boolean(v, &kk) {
                        out.no_headers = !b;
                    }
                }
                other => {
                    let allowed: Vec<&str> = COMPARE_KEYS
                        .iter()
                        .copied()
                        .filter(|k| *k != "strict")
                        .collect();
                    self.unknown(k.span(), &kk, other, &allowed);
                }
            }
        }
    }

    fn experiment(
        &mut self,
        name: &str,
        v: &Val<'_>,
        key: &str,
        defaults: &Spec,
    ) -> Option<ExperimentConfig> {
        let t = self.table(v, key)?;
        let before = self.problems.len();
        let mut spec = Spec::default();
        let mut strict = None;
        for (k, v2) in t.iter() {
            let n = k.get_ref().as_ref();
            let kk = format!("{key}.{n}");
            match n {
                "strict" => strict = self.boolean(v2, &kk),
                "ramp" | "cpu_time" => self.setting(&mut spec, n, v2, &kk),
                n if SETTING_KEYS.contains(&n) => self.setting(&mut spec, n, v2, &kk),
                other => {
                    let allowed: Vec<&str> = SETTING_KEYS
                        .iter()
                        .chain(["ramp", "cpu_time", "strict"].iter())
                        .copied()
                        .collect();
                    self.unknown(k.span(), &kk, other, &allowed);
                }
            }
        }
        (self.problems.len() == before).then(|| ExperimentConfig {
            name: name.to_owned(),
            settings: spec.over(defaults).render(),
            strict,
        })
    }
}

/// Checks a structural path pattern as `Structural` reads it: `$`, then `.name` or `[n]` / `[*]`.
fn check_path(p: &str) -> Result<(), String> {
    let Some(mut rest) = p.strip_prefix('$') else {
        return Err(format!(
            "{p:?} does not start with `$` (paths read $.body.items[*].price)"
        ));
    };
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return Err(format!("{p:?} has an empty name after `.`"));
            }
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else {
                return Err(format!("{p:?} has a `[` without `]`"));
            };
            let inner = &r[..end];
            if inner != "*" && inner.parse::<usize>().is_err() {
                return Err(format!("{p:?}: `[{inner}]` is not an index or `[*]`"));
            }
            rest = &r[end + 1..];
        } else {
            return Err(format!(
                "{p:?}: expected `.name` or `[index]` after {:?}",
                &p[..p.len() - rest.len()]
            ));
        }
    }
    Ok(())
}

/// The allowed key closest to `name` (by edit distance, at most 2 edits away).
fn closest<'a>(name: &str, allowed: &[&'a str]) -> Option<&'a str> {
    fn dist(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                cur.push(
                    (prev[j] + usize::from(ca != *cb))
                        .min(prev[j + 1] + 1)
                        .min(cur[j] + 1),
                );
            }
            prev = cur;
        }
        prev[b.len()]
    }
    allowed
        .iter()
        .map(|a| (dist(name, a), *a))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Config::from_toml_str(text, "f.toml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn every_mistake_is_named_with_file_line_and_key() {
        let e = err("[proxy]\nlisten = \"nope\"\n\n[[routes]]\nname = \"r\"\ntimeout = 150\nsampel = 1\nsample_by = \"body:x\"\n");
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 4, "{e}");
        assert!(
            lines[0].starts_with("f.toml:2: proxy.listen: \"nope\" is not an address"),
            "{e}"
        );
        assert!(
            e.contains("f.toml:6: routes[0].timeout: expected a duration"),
            "{e}"
        );
        assert!(
            e.contains("f.toml:7: routes[0].sampel: unknown key; did you mean `sample`?"),
            "{e}"
        );
        assert!(
            e.contains("f.toml:8: routes[0].sample_by: `body:x` is not a sampling key"),
            "{e}"
        );
    }

    #[test]
    fn defaults_apply_under_a_route_s_own_keys() {
        let c = Config::from_toml_str(
            "[defaults]\nsample = \"50%\"\ntimeout = \"2s\"\n[[routes]]\nname = \"a\"\ntimeout = \"none\"\nbreaker_window = \"5s\"\ndeadline = 2027-01-31\n",
            "f.toml",
        )
        .unwrap();
        assert_eq!(
            c.routes[0].settings,
            "sample=0.5,timeout=none,breaker_window=5s,deadline=2027-01-31"
        );
    }

    #[test]
    fn routes_refuse_what_the_proxy_cannot_do() {
        assert!(err("[[routes]]\nname = \"a\"\nramp = 0.1\n")
            .contains("routes[0].ramp: a ramp is not supported on proxy routes yet"));
        assert!(err("[[routes]]\nname = \"a\"\nstrict = true\n")
            .contains("routes[0].strict: `strict` is for functions' experiments"));
        assert!(err("[proxy]\ncandidate = \"https://x\"\n").contains("only plain http://"));
        assert!(
            err("[[routes]]\nname = \"a\"\n[routes.compare]\nignore = [\"body.x\"]\n")
                .contains("f.toml:4: routes[0].compare.ignore: \"body.x\" does not start with `$`")
        );
        assert!(err("[[routes]]\nmethods = [\"GET\"]\n")
            .contains("routes[0].name: a route needs a `name`"));
    }

    #[test]
    fn the_same_format_describes_functions_experiments() {
        let c = Config::from_toml_str(
            "[experiments.\"payments::process\"]\nsample = 0.1\nramp = \"10%\"\nmin_match_rate = 0.999\nmin_samples = 10_000\nstrict = true\n",
            "f.toml",
        )
        .unwrap();
        assert_eq!(c.experiments[0].name, "payments::process");
        assert_eq!(
            c.experiments[0].settings,
            "sample=0.1,ramp=0.1,min_match_rate=0.999,min_samples=10000"
        );
        assert_eq!(c.experiments[0].strict, Some(true));
    }
}
