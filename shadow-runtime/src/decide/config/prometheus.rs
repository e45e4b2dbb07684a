//! The fleet-wide gate's settings: where an experiment's promotion gate takes its numbers from
//! (the key `gate_source`), and the Prometheus server it asks when that is `prometheus`.
//!
//! With `gate_source = "prometheus"` (feature `fleet-gate`) the gate does not count the calls of
//! this process: it asks Prometheus how many calls were compared, and how many agreed, over the
//! gate window across every instance that Prometheus scrapes, so the whole fleet opens or refuses
//! a ramp on the same numbers ([`crate::decide::cutover`]). Without the feature,
//! `gate_source = "prometheus"` is a bad value: warned about like any other, the experiment stays
//! on its safe default (the legacy code serves every call).
//!
//! The server: `PARALLEL_RUN_PROMETHEUS_URL=http://prometheus:9090`, or a `[prometheus]` table in
//! the configuration file ([`super::file`]), which wins:
//!
//! ```toml
//! [prometheus]
//! url = "http://prometheus.monitoring:9090"   # plain HTTP; a path prefix is kept
//! refresh = "15s"        # how often the numbers are asked for (default 15s)
//! max_age = "45s"        # an older reading refuses the ramp (default 3 x refresh)
//! timeout = "2s"         # per request (default 2s)
//! # One template for both numbers ({outcomes} is the outcome set) ...
//! query = 'sum(increase(parallel_run_outcomes_total{job="payments",experiment="{experiment}",outcome=~"{outcomes}"}[{window}]))'
//! # ... or two: good_query = '...' and compared_query = '...'
//! ```
//!
//! In a template, `{experiment}` is the experiment's name (escaped for a PromQL string),
//! `{window}` its `gate_window` as a PromQL duration, `{outcomes}` [`GOOD_OUTCOMES`] for the
//! agreeing calls and [`COMPARED_OUTCOMES`] for the compared ones: the outcomes the local gate
//! counts ([`crate::decide::cutover`]). The default template, [`DEFAULT_QUERY`], reads the raw
//! counter `parallel_run_outcomes_total`, so it needs no recording rule. `increase()`
//! extrapolates to the window's edges: both numbers are rounded to whole calls.
//!
//! ```
//! use shadow_runtime::config::prometheus::Server;
//! use std::time::Duration;
//! let s = Server::new("http://127.0.0.1:9090/").unwrap();
//! assert_eq!(s.query_url(), "http://127.0.0.1:9090/api/v1/query");
//! assert_eq!((s.refresh, s.max_age), (Duration::from_secs(15), Duration::from_secs(45)));
//! let (good, compared) = s.queries("payments::process", Duration::from_secs(3600));
//! assert_eq!(good, r#"sum(increase(parallel_run_outcomes_total{experiment="payments::process",outcome=~"match|acceptable|ignored|noise"}[1h]))"#);
//! assert!(compared.contains(r#"outcome=~"match|acceptable|ignored|noise|mismatch|candidate_panic|timeout|write_refused""#));
//! ```

use std::time::Duration;

use super::{clip, parse_duration};

/// Where an experiment's promotion gate takes its match rate and sample count from: the setting
/// `gate_source`.
///
/// ```
/// use shadow_runtime::config::prometheus::GateSource;
/// assert_eq!(GateSource::default(), GateSource::Local);
/// assert_eq!(GateSource::Prometheus.as_str(), "prometheus");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GateSource {
    /// The calls of this process, over its own gate window.
    #[default]
    Local,
    /// A Prometheus query over the whole fleet (feature `fleet-gate`).
    Prometheus,
}

impl GateSource {
    /// `"local"` or `"prometheus"`, as the setting is written.
    ///
    /// ```
    /// assert_eq!(shadow_runtime::config::prometheus::GateSource::Local.as_str(), "local");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            GateSource::Local => "local",
            GateSource::Prometheus => "prometheus",
        }
    }
}

/// Whether this build can ask Prometheus (the `fleet-gate` feature).
///
/// ```
/// let _built_with_it: bool = shadow_runtime::config::prometheus::AVAILABLE;
/// ```
pub const AVAILABLE: bool = cfg!(feature = "fleet-gate");

/// Parses the value of `gate_source`.
pub(crate) fn parse_gate_source(v: &str) -> Result<GateSource, String> {
    match v.to_ascii_lowercase().as_str() {
        "local" => Ok(GateSource::Local),
        "prometheus" if AVAILABLE => Ok(GateSource::Prometheus),
        "prometheus" => Err(
            "`prometheus` needs the fleet-wide gate, and this program was built without \
             the fleet-gate feature (enable parallel-run's `fleet-gate` feature, or write local)"
                .to_owned(),
        ),
        _ => Err(format!("`{}` is not local or prometheus", clip(v))),
    }
}

/// The variable naming the Prometheus server of the fleet-wide gate (the configuration file's
/// `[prometheus] url` wins over it).
///
/// ```
/// assert_eq!(shadow_runtime::config::prometheus::ENV_PROMETHEUS_URL, "PARALLEL_RUN_PROMETHEUS_URL");
/// ```
pub const ENV_PROMETHEUS_URL: &str = "PARALLEL_RUN_PROMETHEUS_URL";

/// The outcomes that count as agreeing, as a PromQL regex (`{outcomes}` of the good query).
///
/// ```
/// assert_eq!(shadow_runtime::config::prometheus::GOOD_OUTCOMES, "match|acceptable|ignored|noise");
/// ```
pub const GOOD_OUTCOMES: &str = "match|acceptable|ignored|noise";

/// The outcomes that count as compared: the agreeing ones and the failed comparisons
/// (`{outcomes}` of the compared query).
///
/// ```
/// use shadow_runtime::config::prometheus::{COMPARED_OUTCOMES, GOOD_OUTCOMES};
/// assert!(COMPARED_OUTCOMES.starts_with(GOOD_OUTCOMES));
/// assert!(COMPARED_OUTCOMES.ends_with("|mismatch|candidate_panic|timeout|write_refused"));
/// ```
pub const COMPARED_OUTCOMES: &str =
    "match|acceptable|ignored|noise|mismatch|candidate_panic|timeout|write_refused";

/// The default query template: the raw outcome counter summed over every instance.
///
/// ```
/// assert!(shadow_runtime::config::prometheus::DEFAULT_QUERY.starts_with("sum(increase(parallel_run_outcomes_total{"));
/// ```
pub const DEFAULT_QUERY: &str = r#"sum(increase(parallel_run_outcomes_total{experiment="{experiment}",outcome=~"{outcomes}"}[{window}]))"#;

/// How often the fleet's numbers are asked for, by default.
///
/// ```
/// assert_eq!(shadow_runtime::config::prometheus::DEFAULT_REFRESH.as_secs(), 15);
/// ```
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(15);

/// How long a request may take, by default.
///
/// ```
/// assert_eq!(shadow_runtime::config::prometheus::DEFAULT_TIMEOUT.as_secs(), 2);
/// ```
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// The Prometheus server of the fleet-wide gate, and how it is asked.
///
/// ```
/// let s = shadow_runtime::config::prometheus::Server::new("http://prom:9090").unwrap();
/// assert_eq!(s.timeout, shadow_runtime::config::prometheus::DEFAULT_TIMEOUT);
/// assert!(shadow_runtime::config::prometheus::Server::new("prom:9090").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// The server's base URL, without a trailing `/`.
    pub url: String,
    /// The template of the agreeing calls' query.
    pub good_query: String,
    /// The template of the compared calls' query.
    pub compared_query: String,
    /// How often the numbers are asked for.
    pub refresh: Duration,
    /// A reading older than this refuses the ramp (the answer is stale).
    pub max_age: Duration,
    /// How long one request may take.
    pub timeout: Duration,
}

impl Server {
    /// The server at `url` (`http://host:port`, with a path prefix if any) with the default
    /// queries, refresh, staleness and timeout.
    ///
    /// ```
    /// let e = shadow_runtime::config::prometheus::Server::new("https://prom").unwrap_err();
    /// assert!(e.contains("plain HTTP"), "{e}");
    /// ```
    pub fn new(url: &str) -> Result<Server, String> {
        check_url(url)?;
        Ok(Server {
            url: url.trim().trim_end_matches('/').to_owned(),
            good_query: DEFAULT_QUERY.to_owned(),
            compared_query: DEFAULT_QUERY.to_owned(),
            refresh: DEFAULT_REFRESH,
            max_age: DEFAULT_REFRESH * 3,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The instant-query endpoint.
    ///
    /// ```
    /// let s = shadow_runtime::config::prometheus::Server::new("http://h:9090/prom/").unwrap();
    /// assert_eq!(s.query_url(), "http://h:9090/prom/api/v1/query");
    /// ```
    pub fn query_url(&self) -> String {
        format!("{}/api/v1/query", self.url)
    }

    /// The `(good, compared)` queries of `experiment` over a gate window of `window`.
    ///
    /// ```
    /// let s = shadow_runtime::config::prometheus::Server::new("http://h:9090").unwrap();
    /// let (g, _) = s.queries("a\"b", std::time::Duration::from_millis(1500));
    /// assert!(g.contains(r#"experiment="a\"b""#) && g.ends_with("[1500ms]))"), "{g}");
    /// ```
    pub fn queries(&self, experiment: &str, window: Duration) -> (String, String) {
        (
            render(&self.good_query, experiment, window, GOOD_OUTCOMES),
            render(&self.compared_query, experiment, window, COMPARED_OUTCOMES),
        )
    }
}

/// A template with `{experiment}`, `{window}` and `{outcomes}` filled in.
///
/// ```
/// use shadow_runtime::config::prometheus::render;
/// let q = render("x{e=\"{experiment}\",o=~\"{outcomes}\"}[{window}]", "a::b", std::time::Duration::from_secs(90), "match");
/// assert_eq!(q, "x{e=\"a::b\",o=~\"match\"}[90s]");
/// ```
pub fn render(template: &str, experiment: &str, window: Duration, outcomes: &str) -> String {
    let name = experiment.replace('\\', "\\\\").replace('"', "\\\"");
    template
        .replace("{experiment}", &name)
        .replace("{window}", &promql_duration(window))
        .replace("{outcomes}", outcomes)
}

/// A duration as PromQL writes it: whole hours, minutes or seconds when it is one, else
/// milliseconds (at least `1ms`).
///
/// ```
/// use shadow_runtime::config::prometheus::promql_duration;
/// use std::time::Duration;
/// assert_eq!(promql_duration(Duration::from_secs(7200)), "2h");
/// assert_eq!(promql_duration(Duration::from_secs(120)), "2m");
/// assert_eq!(promql_duration(Duration::from_secs(45)), "45s");
/// assert_eq!(promql_duration(Duration::from_micros(2500)), "2ms");
/// ```
pub fn promql_duration(d: Duration) -> String {
    let ms = d.as_millis().max(1);
    match ms {
        _ if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        _ if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        _ if ms % 1_000 == 0 => format!("{}s", ms / 1_000),
        _ => format!("{ms}ms"),
    }
}

fn check_url(url: &str) -> Result<(), String> {
    let u = url.trim();
    let rest = if let Some(r) = u.strip_prefix("http://") {
        r
    } else if u.starts_with("https://") {
        return Err(format!(
            "`{}`: the fleet-wide gate's client speaks plain HTTP only (no TLS): ask Prometheus \
             over http:// (in the cluster, or through a local proxy)",
            clip(u)
        ));
    } else {
        return Err(format!(
            "`{}` is not a URL such as http://prometheus:9090",
            clip(u)
        ));
    };
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || u.contains(|c: char| c.is_whitespace() || c == '?' || c == '#') {
        return Err(format!(
            "`{}` is not a URL such as http://prometheus:9090",
            clip(u)
        ));
    }
    Ok(())
}

/// The configuration file's `[prometheus]` table, each key checked as it was read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Table {
    url: Option<String>,
    query: Option<String>,
    good_query: Option<String>,
    compared_query: Option<String>,
    refresh: Option<Duration>,
    max_age: Option<Duration>,
    timeout: Option<Duration>,
}

/// The keys of the `[prometheus]` table.
pub(crate) const TABLE_KEYS: [&str; 7] = [
    "url",
    "query",
    "good_query",
    "compared_query",
    "refresh",
    "max_age",
    "timeout",
];

impl Table {
    /// Sets one key from its string value; an error says what is wrong with the value.
    pub(crate) fn set(&mut self, key: &str, v: &str) -> Result<(), String> {
        let template = |v: &str| -> Result<Option<String>, String> {
            match v.trim() {
                "" => Err("a query cannot be empty".to_owned()),
                q => Ok(Some(q.to_owned())),
            }
        };
        match key {
            "url" => {
                check_url(v)?;
                self.url = Some(v.trim().to_owned());
            }
            "query" if !v.contains("{outcomes}") => {
                return Err(
                    "the template needs `{outcomes}` (where the outcome set goes), or give \
                     good_query and compared_query"
                        .to_owned(),
                )
            }
            "query" => self.query = template(v)?,
            "good_query" => self.good_query = template(v)?,
            "compared_query" => self.compared_query = template(v)?,
            "refresh" => self.refresh = Some(parse_duration(v)?),
            "max_age" => self.max_age = Some(parse_duration(v)?),
            "timeout" => self.timeout = Some(parse_duration(v)?),
            _ => {
                return Err(format!(
                    "unknown key; the [prometheus] table's keys are {}",
                    TABLE_KEYS.join(", ")
                ))
            }
        }
        Ok(())
    }

    /// The checks between keys, once the table is read.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.query.is_some() && (self.good_query.is_some() || self.compared_query.is_some()) {
            return Err("give either query or good_query and compared_query, not both".to_owned());
        }
        if self.good_query.is_some() != self.compared_query.is_some() {
            return Err("give good_query and compared_query together".to_owned());
        }
        let refresh = self.refresh.unwrap_or(DEFAULT_REFRESH);
        if let Some(max_age) = self.max_age.filter(|m| *m <= refresh) {
            return Err(format!(
                "max_age ({max_age:?}) must be longer than refresh ({refresh:?}): a reading must \
                 outlive the wait for the next one"
            ));
        }
        Ok(())
    }

    /// `s` with the table's keys over it.
    fn over(&self, mut s: Server) -> Server {
        if let Some(q) = &self.query {
            s.good_query = q.clone();
            s.compared_query = q.clone();
        }
        if let (Some(g), Some(c)) = (&self.good_query, &self.compared_query) {
            s.good_query = g.clone();
            s.compared_query = c.clone();
        }
        if let Some(r) = self.refresh {
            s.refresh = r;
            s.max_age = r * 3;
        }
        s.max_age = self.max_age.unwrap_or(s.max_age);
        s.timeout = self.timeout.unwrap_or(s.timeout);
        s
    }
}

/// The Prometheus server in force: the configuration file's `[prometheus]` table over
/// [`ENV_PROMETHEUS_URL`] (read again at every call: a reloaded file applies at the next refresh).
/// An error says what is missing or wrong.
///
/// ```
/// # if std::env::var_os("PARALLEL_RUN_PROMETHEUS_URL").is_none() && std::env::var_os("PARALLEL_RUN_CONFIG").is_none() {
/// let e = shadow_runtime::config::prometheus::server().unwrap_err();
/// assert!(e.contains("PARALLEL_RUN_PROMETHEUS_URL"), "{e}");
/// # }
/// ```
pub fn server() -> Result<Server, String> {
    let table = super::file::prometheus_table().unwrap_or_default();
    let env = std::env::var(ENV_PROMETHEUS_URL)
        .ok()
        .filter(|u| !u.trim().is_empty());
    let server = match (&table.url, env) {
        (Some(u), _) => Server::new(u)?,
        (None, Some(u)) => Server::new(&u).map_err(|e| format!("{ENV_PROMETHEUS_URL}: {e}"))?,
        (None, None) => {
            return Err(format!(
                "no Prometheus server: set {ENV_PROMETHEUS_URL}, or `url` in the [prometheus] \
                 table of the configuration file"
            ))
        }
    };
    Ok(table.over(server))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_checks_its_keys_and_their_combinations() {
        let mut t = Table::default();
        assert!(t.set("url", "ftp://x").is_err());
        assert!(t.set("url", "http://").is_err());
        t.set("url", "http://127.0.0.1:9090").unwrap();
        assert!(t.set("query", "sum(x)").unwrap_err().contains("{outcomes}"));
        assert!(t.set("refresh", "soon").is_err());
        assert!(t.set("nonsense", "1").unwrap_err().contains("unknown key"));
        t.set("refresh", "2s").unwrap();
        t.set("max_age", "2s").unwrap();
        assert!(t.check().unwrap_err().contains("longer than refresh"));
        t.set("max_age", "5s").unwrap();
        t.set("good_query", "g").unwrap();
        assert!(t.check().unwrap_err().contains("together"));
        t.set("compared_query", "c").unwrap();
        assert_eq!(t.check(), Ok(()));
        t.set("query", "q{outcomes}").unwrap();
        assert!(t.check().unwrap_err().contains("not both"));
        t.query = None;
        let s = t.over(Server::new("http://h").unwrap());
        assert_eq!(
            (s.good_query.as_str(), s.compared_query.as_str()),
            ("g", "c")
        );
        assert_eq!(
            (s.refresh, s.max_age),
            (Duration::from_secs(2), Duration::from_secs(5))
        );
        // refresh alone: max_age follows it.
        let mut t = Table::default();
        t.set("refresh", "1s").unwrap();
        let s = t.over(Server::new("http://h").unwrap());
        assert_eq!(s.max_age, Duration::from_secs(3));
    }

    #[test]
    fn the_file_checks_the_table_and_gate_source() {
        let text = "[prometheus]\nurl = \"http://p:9090\"\nrefresh = \"5s\"\nquery = 'sum(x{e=\"{experiment}\",o=~\"{outcomes}\"}[{window}])'\n\
                    [experiments.a]\ngate_source = \"prometheus\"\nmin_samples = 10\n";
        let parsed = super::super::file::parse(text, "f.toml");
        assert_eq!(parsed.is_ok(), AVAILABLE, "{parsed:?}");
        match parsed {
            Ok(c) => {
                assert_eq!(c.keys("a"), ["gate_source=prometheus", "min_samples=10"]);
            }
            Err(e) => {
                assert_eq!(e.len(), 1, "{e:?}");
                assert_eq!(
                    (e[0].line, e[0].key.as_str()),
                    (6, "experiments.a.gate_source")
                );
                assert!(
                    e[0].message
                        .contains("built without the fleet-gate feature"),
                    "{}",
                    e[0]
                );
            }
        }
        let e = super::super::file::parse(
            "[prometheus]\nurl = \"https://p\"\nrefresh = 5\nbogus = \"1\"\n[experiments.a]\ngate_source = \"fleet\"\n",
            "f.toml",
        )
        .unwrap_err();
        let mut e = e;
        e.sort_by_key(|p| p.line);
        let got: Vec<(usize, &str)> = e.iter().map(|p| (p.line, p.key.as_str())).collect();
        assert_eq!(
            got,
            [
                (2, "prometheus.url"),
                (3, "prometheus.refresh"),
                (4, "prometheus.bogus"),
                (6, "experiments.a.gate_source")
            ],
            "{e:?}"
        );
        assert!(e[1].message.contains("as a string"), "{}", e[1]);
        let e = super::super::file::parse(
            "[prometheus]\nrefresh = \"5s\"\nmax_age = \"5s\"\n",
            "f.toml",
        )
        .unwrap_err();
        assert!(e[0].message.contains("longer than refresh"), "{}", e[0]);
    }

    #[test]
    fn gate_source_parses_and_needs_the_feature_for_prometheus() {
        assert_eq!(parse_gate_source("local"), Ok(GateSource::Local));
        assert!(parse_gate_source("fleet").is_err());
        // In the environment's format: without the feature a bad value, warned like any other
        // (the experiment then stays off: the legacy code serves).
        let d = super::super::Setting::defaults(1.0, None, 1);
        let env = super::super::parse_setting("gate_source=prometheus,min_samples=5", d);
        assert_eq!(env.is_ok(), AVAILABLE, "{env:?}");
        if let Err(e) = env {
            assert!(
                e.starts_with("gate_source: `prometheus` needs the fleet-wide gate"),
                "{e}"
            );
        }
        match parse_gate_source("Prometheus") {
            Ok(g) => assert!(AVAILABLE && g == GateSource::Prometheus),
            Err(e) => assert!(
                !AVAILABLE && e.contains("built without the fleet-gate feature"),
                "{e}"
            ),
        }
    }
}
