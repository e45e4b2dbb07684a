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
//! assert_eq!(err.to_string(), "proxy.toml:3: routes[0].sample: sampling rate `1.5` is outside 0..=1");
//! ```
//!
//! The experiment keys (a route's, `[defaults]`' and `[experiments.*]`') are checked by the
//! runtime's own parser, [`shadow_runtime::config::file`], which reads the same file as
//! `PARALLEL_RUN_CONFIG`; `[defaults]` applies to routes, not to `[experiments.*]`.
//!
//! Precedence, per key of a route's experiment: read from a path
//! ([`Config::from_toml_file`], `parallel-run proxy --config`), the file is the runtime's
//! configuration file ([`shadow_runtime::config::file::watch`]): the live API, then this file
//! (re-read when it changes), then the environment (`PARALLEL_RUN__<ROUTE>`), then the built-in
//! defaults. Read from a string ([`Config::from_toml_str`]), it plays the part the attribute plays
//! for a function: the live API, then the environment, then this text.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::HeaderName;
use shadow_runtime::structural::Structural;
use toml::de::DeTable;

use crate::compare::HttpComparator;
use crate::route::{PathMatch, Route, SampleBy, WritePolicy, DEFAULT_MARKER_HEADER};

/// One mistake in a configuration file: where, which key, what is wrong (the runtime's, which
/// checks the experiment keys of the same file).
pub use shadow_runtime::config::file::Problem;

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
/// assert_eq!(c.routes[0].settings, "sample=25%,timeout=500ms"); // in the environment's format
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
            // Not TOML: the runtime's reader of the same file says where, as it would.
            match shadow_runtime::config::file::parse(text, file) {
                Err(problems) if !problems.is_empty() => ConfigError { problems },
                _ => ConfigError::one(file, 0, "", e.message().trim().to_owned()),
            }
        })?;
        let mut p = Parser {
            text,
            file,
            problems: Vec::new(),
        };
        let mut c = p.document(doc.get_ref());
        // The experiment keys (a route's, `[defaults]`, `[experiments.*]`) are read by the
        // runtime's parser, the one that reads this file as `PARALLEL_RUN_CONFIG`: one format,
        // one set of checks. A mistake both find is reported once, in the proxy's words.
        match shadow_runtime::config::file::parse(text, file) {
            Ok(fc) => {
                for r in &mut c.routes {
                    r.settings = fc.keys(&r.name).join(",");
                }
                for e in &mut c.experiments {
                    let (strict, rest): (Vec<&String>, Vec<&String>) = fc
                        .keys(&e.name)
                        .iter()
                        .partition(|k| k.starts_with("strict="));
                    e.settings = rest
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(",");
                    e.strict = strict.last().map(|k| {
                        matches!(
                            &k["strict=".len()..],
                            "on" | "true" | "yes" | "1" | "enabled"
                        )
                    });
                }
            }
            Err(theirs) => {
                for t in theirs {
                    let known = p.problems.iter().any(|o| {
                        o.line == t.line && (o.key.starts_with(&t.key) || t.key.starts_with(&o.key))
                    });
                    if !known {
                        p.problems.push(t);
                    }
                }
                p.problems.sort_by_key(|q| q.line);
            }
        }
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

mod parse;
#[cfg(test)]
mod tests;

use parse::Parser;
