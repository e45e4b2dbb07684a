//! The configuration file: `PARALLEL_RUN_CONFIG=/etc/parallel-run.toml`, one file for every
//! instance of a fleet (a mounted ConfigMap, say), re-read when it changes under the process.
//!
//! ```toml
//! [experiments."payments::process"]
//! sample = "25%"
//! ramp = "10%"                 # the rewrite serves one call in ten (if the gate allows it)
//! min_match_rate = 0.999       # the promotion gate
//! min_samples = 1000
//! timeout = "150ms"
//! max_in_flight = 32
//! breaker_ratio = 0.5
//! strict = false
//! deadline = 2026-12-31
//! gate_source = "local"        # or "prometheus": the fleet-wide gate (feature fleet-gate)
//!
//! [prometheus]                 # the fleet-wide gate's server (optional; see config::prometheus)
//! url = "http://prometheus.monitoring:9090"
//! refresh = "15s"
//!
//! [[routes]]                   # the HTTP proxy's routes: each is the experiment it names
//! name = "pricing::quote"
//! sample = "10%"
//! ```
//!
//! Every key of an experiment's environment variable (`PARALLEL_RUN__<NAME>=key=value,...`) is a
//! key here, with the same meaning and the same checks, plus `strict`. `[defaults]` holds
//! settings every route takes unless it sets its own; `[proxy]` and the routes' own keys
//! (`path`, `methods`, `compare`, ...) belong to the proxy, which checks them. `[prometheus]`
//! names the server of the fleet-wide gate ([`super::prometheus`]); its keys are checked here.
//!
//! **Precedence**, per key: the live API ([`crate::live`]), then this file, then the environment
//! variable, then the attribute. The file outranks the environment because it is the one that
//! changes while the fleet runs: a value fixed at start-up must not hide an operator's ramp.
//!
//! **Reloads.** The runtime's timer thread looks at the file once a second (its length, time
//! and inode) and re-reads it when it changed. A good file is applied to every experiment it
//! names, and to those it no longer names (back to environment and attribute), each atomically
//! (one experiment's keys change together, at one call boundary). A bad file (a TOML error, an
//! unknown key, a bad value) changes nothing: the last good configuration stays, and the problems
//! are warned about once per content, each naming the file, the line and the key. A file that is
//! bad or missing when the process starts leaves every experiment off (the legacy code serves)
//! until a good one appears.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::{parse_setting, prometheus, Setting};

/// The variable that names the configuration file.
pub const ENV_CONFIG: &str = "PARALLEL_RUN_CONFIG";

/// The keys of an experiment, in the file as in its environment variable.
pub const KEYS: [&str; 18] = [
    "enabled",
    "sample",
    "timeout",
    "max_in_flight",
    "cpu_time",
    "breaker",
    "breaker_ratio",
    "breaker_min_calls",
    "breaker_window",
    "breaker_cooldown",
    "breaker_probes",
    "ramp",
    "min_match_rate",
    "min_samples",
    "gate_window",
    "deadline",
    "strict",
    "gate_source",
];

/// One mistake in a configuration file: where, which key, what is wrong.
///
/// ```
/// let e = shadow_runtime::config::file::parse("[experiments.a]\nsample = 1.5\n", "f.toml").unwrap_err();
/// assert_eq!(e[0].to_string(), "f.toml:2: experiments.a.sample: sampling rate `1.5` is outside 0..=1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, as named.
    pub file: String,
    /// The line, from 1 (0: the file as a whole).
    pub line: usize,
    /// The key, as a path (`experiments."payments::process".sample`); empty for the file.
    pub key: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl Problem {
    /// A mistake at byte `offset` of `text`, the file's content (its line counted from 1).
    ///
    /// ```
    /// use shadow_runtime::config::file::Problem;
    /// let p = Problem::at("f.toml", "a = 1\nb = 2\n", 6, "b", "bad");
    /// assert_eq!(p.to_string(), "f.toml:2: b: bad");
    /// ```
    pub fn at(
        file: &str,
        text: &str,
        offset: usize,
        key: &str,
        message: impl Into<String>,
    ) -> Problem {
        let line = text.as_bytes()[..offset.min(text.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        Problem {
            file: file.to_owned(),
            line,
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.key.is_empty() {
            true => write!(f, "{}:{}: {}", self.file, self.line, self.message),
            false => write!(
                f,
                "{}:{}: {}: {}",
                self.file, self.line, self.key, self.message
            ),
        }
    }
}

/// What a good file says: per experiment, its keys in the environment variable's format
/// (`sample=25%`), in the file's order.
///
/// ```
/// let c = shadow_runtime::config::file::parse(
///     "[defaults]\ntimeout = \"2s\"\n[[routes]]\nname = \"r\"\npath = \"/v1\"\n[experiments.\"a::b\"]\nramp = \"10%\"\nstrict = true\n",
///     "f.toml",
/// ).unwrap();
/// assert_eq!(c.keys("a::b"), ["ramp=10%", "strict=on"]);
/// assert_eq!(c.keys("r"), ["timeout=2s"]);
/// let c = shadow_runtime::config::file::parse(
///     "[defaults]\ntimeout = \"2s\"\nsample = 0.5\n[[routes]]\nname = \"r\"\ntimeout = \"none\"\n", "f.toml").unwrap();
/// assert_eq!(c.keys("r"), ["sample=0.5", "timeout=none"]); // each key once: the route's wins
/// assert!(c.keys("other").is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileConfig {
    experiments: HashMap<String, Vec<String>>,
    prometheus: Option<prometheus::Table>,
}

impl FileConfig {
    /// The keys the file sets for experiment `name`, as `key=value`.
    pub fn keys(&self, name: &str) -> &[String] {
        self.experiments.get(name).map_or(&[], Vec::as_slice)
    }

    /// The experiments the file names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.experiments.keys().map(String::as_str)
    }

    /// `s` with the file's keys for `name` over it.
    pub(crate) fn overlay(&self, name: &str, mut s: Setting) -> Setting {
        for kv in self.keys(name) {
            // Checked when the file was read.
            if let Ok(n) = parse_setting(kv, s) {
                s = n;
            }
        }
        s
    }
}

/// Reads a configuration file's text; `file` names it in the problems. Every problem of the file
/// is reported at once.
///
/// ```
/// use shadow_runtime::config::file::parse;
/// let e = parse("[experiments.a]\nsampel = 1\n[nonsense]\n", "f.toml").unwrap_err();
/// assert_eq!(e.len(), 2);
/// assert!(e[0].message.starts_with("unknown key"), "{}", e[0]);
/// assert_eq!((e[1].line, e[1].key.as_str()), (3, "nonsense"));
/// ```
pub fn parse(text: &str, file: &str) -> Result<FileConfig, Vec<Problem>> {
    let doc = DeTable::parse(text).map_err(|e| {
        let mut p = Problem::at(
            file,
            text,
            e.span().map_or(0, |s| s.start),
            "",
            e.message().trim(),
        );
        if e.span().is_none() {
            p.line = 0;
        }
        vec![p]
    })?;
    let mut p = Reader {
        text,
        file,
        problems: Vec::new(),
    };
    let c = p.document(doc.get_ref());
    if p.problems.is_empty() {
        Ok(c)
    } else {
        Err(p.problems)
    }
}

type Val<'a> = Spanned<DeValue<'a>>;

struct Reader<'t> {
    text: &'t str,
    file: &'t str,
    problems: Vec<Problem>,
}

impl Reader<'_> {
    fn problem(&mut self, span: std::ops::Range<usize>, key: &str, message: impl Into<String>) {
        self.problems
            .push(Problem::at(self.file, self.text, span.start, key, message));
    }

    fn table<'v, 'a>(&mut self, v: &'v Val<'a>, key: &str) -> Option<&'v DeTable<'a>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                self.problem(v.span(), key, format!("write `{key}` as a table"));
                None
            }
        }
    }

    fn document(&mut self, doc: &DeTable<'_>) -> FileConfig {
        let mut c = FileConfig::default();
        let mut defaults = Vec::new();
        if let Some(v) = doc.get("defaults") {
            if let Some(t) = self.table(v, "defaults") {
                defaults = self.keys(t, "defaults", &[]);
            }
        }
        for (k, v) in doc.iter() {
            match k.get_ref().as_ref() {
                "defaults" | "proxy" => {}
                "prometheus" => c.prometheus = self.prometheus(v),
                "experiments" => {
                    let Some(t) = self.table(v, "experiments") else {
                        continue;
                    };
                    for (name, e) in t.iter() {
                        let key = format!("experiments.{}", quoted(name.get_ref()));
                        if let Some(e) = self.table(e, &key) {
                            let keys = self.keys(e, &key, &[]);
                            self.add(&mut c, name.get_ref(), keys, name.span(), &key);
                        }
                    }
                }
                "routes" => {
                    let DeValue::Array(routes) = v.get_ref() else {
                        self.problem(
                            v.span(),
                            "routes",
                            "write each route as a `[[routes]]` table",
                        );
                        continue;
                    };
                    for (i, r) in routes.iter().enumerate() {
                        let key = format!("routes[{i}]");
                        let Some(t) = self.table(r, &key) else {
                            continue;
                        };
                        let name = match t.get("name").map(|n| n.get_ref()) {
                            Some(DeValue::String(s)) => s.to_string(),
                            _ => {
                                self.problem(
                                    r.span(),
                                    &format!("{key}.name"),
                                    "a route needs `name = \"...\"`: the experiment it is",
                                );
                                continue;
                            }
                        };
                        // The proxy checks the keys that are the route's own. A key the route
                        // sets replaces the default's: each key once, as in the environment.
                        let own = self.keys(t, &key, &ROUTE_KEYS);
                        let name_of = |kv: &String| kv.split('=').next().unwrap_or("").to_owned();
                        let mut keys: Vec<String> = defaults
                            .iter()
                            .filter(|d| !own.iter().any(|o| name_of(o) == name_of(d)))
                            .cloned()
                            .collect();
                        keys.extend(own);
                        self.add(&mut c, &name, keys, r.span(), &key);
                    }
                }
                other => self.problem(
                    k.span(),
                    other,
                    "unknown table (expected experiments, routes, defaults, proxy, prometheus)",
                ),
            }
        }
        c
    }

    fn add(
        &mut self,
        c: &mut FileConfig,
        name: &str,
        keys: Vec<String>,
        span: std::ops::Range<usize>,
        key: &str,
    ) {
        if c.experiments.insert(name.to_owned(), keys).is_some() {
            self.problem(
                span,
                key,
                format!(
                    "{} is configured twice: give each experiment one table",
                    quoted(name)
                ),
            );
        }
    }

    /// The experiment keys of table `t` at `at`, checked; `skip`: keys that belong to someone
    /// else (a route's own).
    fn keys(&mut self, t: &DeTable<'_>, at: &str, skip: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in t.iter() {
            let name = k.get_ref().as_ref();
            let key = format!("{at}.{name}");
            if skip.contains(&name) {
                continue;
            }
            if !KEYS.contains(&name) {
                let also = if skip.is_empty() {
                    ""
                } else {
                    " (or a route's own key)"
                };
                self.problem(
                    k.span(),
                    &key,
                    format!(
                        "unknown key{also}; an experiment's keys are {}",
                        KEYS.join(", ")
                    ),
                );
                continue;
            }
            let Some(value) = self.value(v, &key) else {
                continue;
            };
            let kv = format!("{name}={value}");
            // The environment's checks, on the value alone.
            match parse_setting(&kv, Setting::defaults(1.0, None, 1)) {
                Ok(_) => out.push(kv),
                Err(e) => {
                    let e = e
                        .strip_prefix(&format!("{name}: "))
                        .unwrap_or(&e)
                        .to_owned();
                    self.problem(v.span(), &key, e);
                }
            }
        }
        out
    }

    /// The `[prometheus]` table: strings (a query holds commas) and durations, checked.
    fn prometheus(&mut self, v: &Val<'_>) -> Option<prometheus::Table> {
        let t = self.table(v, "prometheus")?;
        let mut out = prometheus::Table::default();
        let before = self.problems.len();
        for (k, v) in t.iter() {
            let key = format!("prometheus.{}", k.get_ref());
            let result = match v.get_ref() {
                DeValue::String(s) => out.set(k.get_ref(), s),
                _ if !prometheus::TABLE_KEYS.contains(&k.get_ref().as_ref()) => {
                    out.set(k.get_ref(), "")
                }
                _ => Err("write the value as a string (\"15s\", \"http://...\")".to_owned()),
            };
            if let Err(e) = result {
                let span = if e.starts_with("unknown key") {
                    k.span()
                } else {
                    v.span()
                };
                self.problem(span, &key, e);
            }
        }
        if self.problems.len() == before {
            if let Err(e) = out.check() {
                self.problem(v.span(), "prometheus", e);
            }
        }
        Some(out)
    }

    /// A TOML value in the environment's spelling: `true` → `on`, numbers and dates as written.
    fn value(&mut self, v: &Val<'_>, key: &str) -> Option<String> {
        let s = match v.get_ref() {
            DeValue::Boolean(b) => (if *b { "on" } else { "off" }).to_owned(),
            DeValue::Integer(i) => i.as_str().replace('_', ""),
            DeValue::Float(f) => f.as_str().replace('_', ""),
            DeValue::String(s) if s.contains(',') => {
                self.problem(v.span(), key, format!("{s:?}: a value cannot hold a comma"));
                return None;
            }
            DeValue::String(s) => s.trim().to_owned(),
            DeValue::Datetime(d) => d.to_string(),
            DeValue::Array(_) | DeValue::Table(_) => {
                self.problem(
                    v.span(),
                    key,
                    "write a single value (a string, number, boolean or date)",
                );
                return None;
            }
        };
        Some(s)
    }
}

/// The keys of a `[[routes]]` table that are the proxy's own (shadow-http checks them); the
/// others are an experiment's [`KEYS`].
pub const ROUTE_KEYS: [&str; 10] = [
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
];

fn quoted(name: &str) -> String {
    if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        name.to_owned()
    } else {
        format!("{name:?}")
    }
}

// ------------------------------------------------------------------------------------ watching

/// What the process knows of its file.
enum Loaded {
    /// `PARALLEL_RUN_CONFIG` is not set.
    None,
    /// Set, and nothing good was read yet (missing or bad since the start): every experiment off.
    NotYet,
    Good(Arc<FileConfig>),
}

struct Watch {
    path: Option<PathBuf>,
    /// `(length, modified, inode)` when last read.
    seen: Option<(u64, Option<std::time::SystemTime>, u64)>,
    /// The hash of the last content warned about (a bad file is warned about once per content).
    warned: Option<u64>,
    loaded: Loaded,
    /// Read by [`watch`] and not yet applied to the experiments: the next [`poll`] applies it.
    unapplied: bool,
}

static WATCH: Mutex<Option<Watch>> = Mutex::new(None);

fn with_watch<R>(f: impl FnOnce(&mut Watch) -> R) -> R {
    let mut g = WATCH.lock().unwrap_or_else(|e| e.into_inner());
    let w = g.get_or_insert_with(|| {
        let path = std::env::var_os(ENV_CONFIG)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        let mut w = Watch {
            loaded: if path.is_some() {
                Loaded::NotYet
            } else {
                Loaded::None
            },
            path,
            seen: None,
            warned: None,
            unapplied: false,
        };
        refresh(&mut w);
        w
    });
    f(w)
}

/// `s` with the file's keys for `name` over it; off while the file has never been good.
pub(crate) fn overlay(name: &str, s: Setting) -> Setting {
    let loaded = with_watch(|w| match &w.loaded {
        Loaded::None => None,
        Loaded::NotYet => Some(None),
        Loaded::Good(c) => Some(Some(Arc::clone(c))),
    });
    match loaded {
        None => s,
        Some(None) => Setting {
            enabled: false,
            ..s
        },
        Some(Some(c)) => c.overlay(name, s),
    }
}

/// The file's `[prometheus]` table, if the good file in force has one.
pub(crate) fn prometheus_table() -> Option<prometheus::Table> {
    with_watch(|w| match &w.loaded {
        Loaded::Good(c) => c.prometheus.clone(),
        _ => None,
    })
}

/// Looks at the file (the timer thread, once a second): `true` when a new good configuration
/// was read, which the experiment layer then applies to every experiment.
pub(crate) fn poll() -> bool {
    with_watch(|w| refresh(w) | std::mem::take(&mut w.unapplied))
}

/// Reads experiments' settings from `path` as [`ENV_CONFIG`] would (with the same precedence,
/// checks and reloads), for a program that takes its file as a flag: `parallel-run proxy
/// --config FILE` calls it with its route file, so a route's `sample` edited in the file takes
/// effect within a second, without a restart. The file is read at once; a bad or missing one is
/// warned about and leaves every experiment off until it is good.
///
/// `PARALLEL_RUN_CONFIG`, when set, names the fleet's file and wins: `watch` then changes
/// nothing, says so in a warning if the paths differ, and returns `false`.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("parallel-run-watch-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("parallel-run.toml");
/// std::fs::write(&path, "[experiments.\"docs::watched\"]\nsample = 0\n").unwrap();
/// assert!(shadow_runtime::config::file::watch(&path));
/// static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
///     "docs::watched", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
/// assert!(EXP.decide().is_none()); // the file's sample = 0 over the attribute's 1.0
/// ```
pub fn watch(path: impl Into<PathBuf>) -> bool {
    let path = path.into();
    let from_env = std::env::var_os(ENV_CONFIG).is_some_and(|p| !p.is_empty());
    with_watch(|w| {
        if from_env {
            if w.path.as_ref() != Some(&path) {
                tracing::warn!(target: "parallel_run", file = %path.display(),
                    "{ENV_CONFIG} names the configuration file; {} is not watched for experiments' settings",
                    path.display());
            }
            return false;
        }
        if w.path.as_ref() == Some(&path) {
            return true;
        }
        w.path = Some(path);
        w.seen = None;
        w.warned = None;
        w.loaded = Loaded::NotYet;
        refresh(w);
        w.unapplied = true;
        true
    })
}

#[cfg(unix)]
fn inode(m: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(m)
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

fn refresh(w: &mut Watch) -> bool {
    let Some(path) = w.path.clone() else {
        return false;
    };
    let shown = path.display().to_string();
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) => {
            w.seen = None;
            return bad(
                w,
                &shown,
                b"\0missing",
                vec![format!("{shown}:0: cannot read it: {e}")],
            );
        }
    };
    let stamp = (meta.len(), meta.modified().ok(), inode(&meta));
    if w.seen == Some(stamp) {
        return false;
    }
    w.seen = Some(stamp);
    let text = match std::fs::read(&path).map(String::from_utf8) {
        Ok(Ok(t)) => t,
        Ok(Err(_)) => {
            return bad(
                w,
                &shown,
                b"\xff",
                vec![format!("{shown}:0: not UTF-8 text")],
            )
        }
        Err(e) => {
            return bad(
                w,
                &shown,
                b"",
                vec![format!("{shown}:0: cannot read it: {e}")],
            )
        }
    };
    match parse(&text, &shown) {
        Ok(c) => {
            let changed = match &w.loaded {
                Loaded::Good(old) => **old != c,
                _ => true,
            };
            w.warned = None;
            if changed {
                tracing::info!(target: "parallel_run", file = %shown, experiments = c.experiments.len(),
                    "parallel-run read its configuration file {shown}");
                w.loaded = Loaded::Good(Arc::new(c));
            }
            changed
        }
        Err(problems) => bad(
            w,
            &shown,
            text.as_bytes(),
            problems.iter().map(Problem::to_string).collect(),
        ),
    }
}

/// A bad file: warned about once per content; nothing changes.
fn bad(w: &mut Watch, shown: &str, content: &[u8], problems: Vec<String>) -> bool {
    let hash = xxhash_rust::xxh3::xxh3_64(content);
    if w.warned != Some(hash) {
        w.warned = Some(hash);
        let keeps = match w.loaded {
            Loaded::Good(_) => "the last good configuration stays in force",
            _ => "every experiment is off until the file is good",
        };
        tracing::warn!(target: "parallel_run", file = %shown,
            "parallel-run's configuration file {shown} is not applied ({keeps}):\n  {}", problems.join("\n  "));
    }
    false
}
