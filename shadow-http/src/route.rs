//! Routes: which requests belong to which experiment (method and path), how they are sampled,
//! what may be mirrored, and how their responses are compared. Each route is one experiment of
//! the runtime, with its name, its environment variable (`PARALLEL_RUN__<ROUTE>`), its live API,
//! its outcomes and its lines in the discrepancy log.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use http::{HeaderName, Method, Request};
use shadow_runtime::context::WriteMode;
use shadow_runtime::{Experiment, Mode, Order};

use crate::compare::HttpComparator;
use crate::exchange::SENSITIVE_HEADERS;

/// The default limit on a body kept for comparison: 1 MiB. A primary response past it is
/// streamed on, not compared ([`NotCompared::BodyLimit`]).
pub const DEFAULT_MAX_BODY: usize = 1 << 20;

/// The header a mirrored request carries by default, so that the service receiving it can tell
/// (and switch to a dry run): `x-parallel-run: candidate` on the candidate's copy,
/// `x-parallel-run: noise` on the primary's second run.
pub const DEFAULT_MARKER_HEADER: &str = "x-parallel-run";

/// The header an `idempotency` route forwards (and generates when a request has none).
pub const DEFAULT_IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// Which paths a route takes.
///
/// ```
/// use shadow_http::route::PathMatch;
/// let p = PathMatch::prefix("/v1/quote");
/// assert!(p.matches("/v1/quote") && p.matches("/v1/quote/7") && !p.matches("/v1/quotes"));
/// let q = PathMatch::pattern("/v1/customers/*/quote");
/// assert!(q.matches("/v1/customers/42/quote") && !q.matches("/v1/customers/42/quote/x"));
/// assert!(PathMatch::pattern("/static/**").matches("/static/a/b.css"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// Every path.
    Any,
    /// The path itself and everything under it (`/v1/quote`, `/v1/quote/7`, not `/v1/quotes`;
    /// a prefix ending in `/` is a plain prefix).
    Prefix(String),
    /// Segments, `*` for any one segment, `**` (last) for any rest.
    Pattern(Vec<String>),
}

impl PathMatch {
    /// A prefix (see [`PathMatch::Prefix`]).
    pub fn prefix(p: &str) -> Self {
        PathMatch::Prefix(p.to_owned())
    }

    /// A pattern (see [`PathMatch::Pattern`]).
    pub fn pattern(p: &str) -> Self {
        PathMatch::Pattern(
            p.trim_start_matches('/')
                .split('/')
                .map(str::to_owned)
                .collect(),
        )
    }

    /// Whether `path` is taken.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Any => true,
            PathMatch::Prefix(p) => {
                path.starts_with(p.as_str())
                    && (p.ends_with('/')
                        || path.len() == p.len()
                        || path.as_bytes()[p.len()] == b'/')
            }
            PathMatch::Pattern(segs) => {
                let mut parts = path.trim_start_matches('/').split('/');
                for (i, s) in segs.iter().enumerate() {
                    if s == "**" && i + 1 == segs.len() {
                        return true;
                    }
                    match parts.next() {
                        Some(p) if s == "*" || s == p => {}
                        _ => return false,
                    }
                }
                parts.next().is_none()
            }
        }
    }
}

/// How a route samples: at random, or sticky by a key read from the request, through the
/// runtime's published rule ([`shadow_runtime::sticky::is_sampled`] with the route's name), so a
/// customer is in or out on every instance of a fleet. A request without the key is drawn at
/// random.
///
/// ```
/// use shadow_http::route::SampleBy;
/// assert_eq!(SampleBy::parse("header:x-customer-id"), Ok(SampleBy::Header("x-customer-id".parse().unwrap())));
/// assert_eq!(SampleBy::parse("path:3"), Ok(SampleBy::PathSegment(3)));
/// assert!(SampleBy::parse("body:id").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SampleBy {
    /// A random draw per request.
    Random,
    /// The value of a request header.
    Header(HeaderName),
    /// The value of a cookie.
    Cookie(String),
    /// A segment of the path, counted from 1 (`/v1/customers/42`: segment 3 is `42`).
    PathSegment(usize),
    /// A query parameter's value.
    Query(String),
}

impl SampleBy {
    /// Parses `random`, `header:NAME`, `cookie:NAME`, `path:N` or `query:NAME`.
    pub fn parse(s: &str) -> Result<SampleBy, String> {
        let s = s.trim();
        if s == "random" {
            return Ok(SampleBy::Random);
        }
        let bad = || {
            format!(
                "`{s}` is not a sampling key: write `random`, `header:NAME`, `cookie:NAME`, `path:N` (a segment, from 1) or `query:NAME`"
            )
        };
        let (kind, arg) = s.split_once(':').ok_or_else(bad)?;
        let arg = arg.trim();
        match kind.trim() {
            "header" => HeaderName::from_bytes(arg.as_bytes())
                .map(SampleBy::Header)
                .map_err(|_| format!("`{arg}` is not a header name")),
            "cookie" if !arg.is_empty() => Ok(SampleBy::Cookie(arg.to_owned())),
            "query" if !arg.is_empty() => Ok(SampleBy::Query(arg.to_owned())),
            "path" => match arg.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(SampleBy::PathSegment(n)),
                _ => Err(format!("path:{arg}: the segment is a number from 1")),
            },
            _ => Err(bad()),
        }
    }

    /// The key's bytes in `req`, if it has one.
    pub fn key<'r, B>(&self, req: &'r Request<B>) -> Option<&'r [u8]> {
        match self {
            SampleBy::Random => None,
            SampleBy::Header(h) => req.headers().get(h).map(|v| v.as_bytes()),
            SampleBy::Cookie(name) => req
                .headers()
                .get_all(http::header::COOKIE)
                .iter()
                .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
                .find_map(|pair| {
                    let pair = pair.trim_ascii();
                    let eq = pair.iter().position(|b| *b == b'=')?;
                    (pair[..eq].trim_ascii() == name.as_bytes())
                        .then(|| pair[eq + 1..].trim_ascii())
                }),
            SampleBy::PathSegment(n) => req
                .uri()
                .path()
                .trim_start_matches('/')
                .split('/')
                .nth(n - 1)
                .filter(|s| !s.is_empty())
                .map(str::as_bytes),
            SampleBy::Query(name) => req.uri().query()?.split('&').find_map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k == name).then_some(v.as_bytes())
            }),
        }
    }

    /// Whether the key is a secret that must not be written in a record (a cookie, a sensitive
    /// header): records then carry its hash.
    fn secret(&self) -> bool {
        match self {
            SampleBy::Cookie(_) => true,
            SampleBy::Header(h) => SENSITIVE_HEADERS.contains(&h.as_str()),
            _ => false,
        }
    }

    /// The key as records show it: as it is, or `#` and its hash when it is a secret.
    pub(crate) fn key_text(&self, key: &[u8], seed: u64) -> String {
        if self.secret() {
            format!("#{:016x}", shadow_runtime::sticky::key_hash(key, seed))
        } else {
            String::from_utf8_lossy(key).into_owned()
        }
    }
}

/// Which requests other than `GET`, `HEAD` and `OPTIONS` a route mirrors (the seed's rule: never
/// shadow-write to production).
///
/// ```
/// use shadow_http::route::WritePolicy;
/// assert_eq!(WritePolicy::parse("separate"), Ok(WritePolicy::Separate));
/// assert!(WritePolicy::parse("yes").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WritePolicy {
    /// Only safe methods are mirrored; any other request counts as `filtered`.
    ReadOnly,
    /// Every method is mirrored: the candidate has its own store. In-process candidates see
    /// [`WriteMode::Separate`] through the shadow context.
    Separate,
    /// Every method is mirrored with an idempotency key in this header, the request's own or
    /// one the layer generates and forwards to both sides; in-process candidates see it through
    /// [`shadow_runtime::context::idempotency_key`].
    Idempotency(HeaderName),
}

impl WritePolicy {
    /// Parses `read_only` (or `none`), `separate` or `idempotency`.
    pub fn parse(s: &str) -> Result<WritePolicy, String> {
        match s.trim() {
            "read_only" | "none" => Ok(WritePolicy::ReadOnly),
            "separate" => Ok(WritePolicy::Separate),
            "idempotency" => Ok(WritePolicy::Idempotency(HeaderName::from_static(
                DEFAULT_IDEMPOTENCY_HEADER,
            ))),
            other => Err(format!(
                "`{other}` is not a write policy: write `read_only`, `separate` (the candidate has its own store) or `idempotency` (an idempotency key goes to both)"
            )),
        }
    }

    /// The policy's name.
    pub fn as_str(&self) -> &'static str {
        match self {
            WritePolicy::ReadOnly => "read_only",
            WritePolicy::Separate => "separate",
            WritePolicy::Idempotency(_) => "idempotency",
        }
    }
}

/// Whether a method is mirrored on every route: `GET`, `HEAD`, `OPTIONS`.
pub fn is_safe(m: &Method) -> bool {
    *m == Method::GET || *m == Method::HEAD || *m == Method::OPTIONS
}

/// Why a sampled request was not compared. Each is counted per route ([`RouteStats`], metric
/// `parallel_run_http_not_compared_total{experiment, reason}`); the runtime counts the call as
/// `cancelled` (not in the match rate), and the candidate is not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotCompared {
    /// The primary's response body went past the route's limit (it streamed on to the client).
    BodyLimit,
    /// The request's body could not be copied whole (past the limit, or the primary answered
    /// before reading it all).
    RequestBody,
    /// The primary failed: an error instead of a response, or a body that broke off.
    PrimaryError,
    /// The client went away before the primary's response had been streamed to it.
    ClientGone,
}

impl NotCompared {
    /// Every reason.
    pub const ALL: [NotCompared; 4] = [
        NotCompared::BodyLimit,
        NotCompared::RequestBody,
        NotCompared::PrimaryError,
        NotCompared::ClientGone,
    ];

    /// The reason's name, as in the metric's `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            NotCompared::BodyLimit => "body_limit",
            NotCompared::RequestBody => "request_body",
            NotCompared::PrimaryError => "primary_error",
            NotCompared::ClientGone => "client_gone",
        }
    }
}

/// What the layer counted for one route, besides the runtime's outcomes.
///
/// ```
/// let s = shadow_http::route::stats("no::such::route");
/// assert!(s.is_none());
/// ```
#[derive(Debug, Default)]
pub struct RouteStats {
    not_compared: [AtomicU64; 4],
    mirrored: AtomicU64,
    keys_generated: AtomicU64,
}

/// A route's counts at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteCounts {
    /// The route's (and its experiment's) name.
    pub route: &'static str,
    /// Requests whose candidate copy was handed to the shadow lane.
    pub mirrored: u64,
    /// Idempotency keys the layer generated (requests of an `idempotency` route without one).
    pub keys_generated: u64,
    /// Sampled requests not compared, by reason ([`NotCompared::ALL`]'s order).
    pub not_compared: [(NotCompared, u64); 4],
}

impl RouteCounts {
    /// The count for one reason.
    pub fn not_compared(&self, why: NotCompared) -> u64 {
        self.not_compared
            .iter()
            .find(|(r, _)| *r == why)
            .map_or(0, |(_, n)| *n)
    }
}

impl RouteStats {
    pub(crate) fn not_compared(&self, route: &'static str, why: NotCompared) {
        let i = NotCompared::ALL.iter().position(|r| *r == why).unwrap_or(0);
        self.not_compared[i].fetch_add(1, Relaxed);
        metrics::counter!("parallel_run_http_not_compared_total", "experiment" => route, "reason" => why.as_str())
            .increment(1);
    }

    pub(crate) fn mirrored(&self) {
        self.mirrored.fetch_add(1, Relaxed);
    }

    pub(crate) fn key_generated(&self) {
        self.keys_generated.fetch_add(1, Relaxed);
    }

    fn counts(&self, route: &'static str) -> RouteCounts {
        RouteCounts {
            route,
            mirrored: self.mirrored.load(Relaxed),
            keys_generated: self.keys_generated.load(Relaxed),
            not_compared: std::array::from_fn(|i| {
                (NotCompared::ALL[i], self.not_compared[i].load(Relaxed))
            }),
        }
    }
}

struct Registered {
    exp: &'static Experiment,
    stats: &'static RouteStats,
    spec: String,
}

static ROUTES: Mutex<Option<HashMap<&'static str, Registered>>> = Mutex::new(None);

/// The layer's counts for route `name` (`None` before it is built).
pub fn stats(name: &str) -> Option<RouteCounts> {
    let routes = crate::body::lock(&ROUTES);
    let (k, r) = routes.as_ref()?.get_key_value(name)?;
    Some(r.stats.counts(k))
}

/// The counts of every route built so far, by name.
///
/// ```
/// let _ = shadow_http::route::all_stats();
/// ```
pub fn all_stats() -> Vec<RouteCounts> {
    let routes = crate::body::lock(&ROUTES);
    let mut v: Vec<RouteCounts> = routes
        .iter()
        .flat_map(|m| m.iter())
        .map(|(k, r)| r.stats.counts(k))
        .collect();
    v.sort_by_key(|c| c.route);
    v
}

/// One route: its experiment, the requests it takes, and how they are mirrored and compared.
/// Built with [`Route::builder`].
///
/// ```
/// use shadow_http::route::{Route, SampleBy};
/// let r = Route::builder("docs::quote")
///     .methods(["GET"])
///     .prefix("/v1/quote")
///     .sample_by(SampleBy::Header("x-customer-id".parse().unwrap()))
///     .settings("sample=50%,timeout=250ms")
///     .build();
/// assert_eq!(r.name(), "docs::quote");
/// assert!(r.takes(&http::Method::GET, "/v1/quote/7"));
/// assert!(!r.takes(&http::Method::GET, "/v2/quote"));
/// ```
#[derive(Clone)]
pub struct Route {
    pub(crate) name: &'static str,
    pub(crate) exp: &'static Experiment,
    pub(crate) methods: Option<Vec<Method>>,
    pub(crate) path: PathMatch,
    pub(crate) sample_by: SampleBy,
    pub(crate) writes: WritePolicy,
    pub(crate) max_body: usize,
    pub(crate) noise: bool,
    pub(crate) compare: Arc<HttpComparator>,
    pub(crate) stats: &'static RouteStats,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("name", &self.name)
            .field("methods", &self.methods)
            .field("path", &self.path)
            .field("sample_by", &self.sample_by)
            .field("writes", &self.writes)
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

impl Route {
    /// Starts a route named `name` (its experiment's name): every method and path, sampled at
    /// random at 100%, read-only, bodies up to [`DEFAULT_MAX_BODY`], compared by
    /// [`HttpComparator::new`].
    pub fn builder(name: &str) -> RouteBuilder {
        RouteBuilder {
            name: name.to_owned(),
            methods: None,
            path: PathMatch::Any,
            sample_by: SampleBy::Random,
            writes: WritePolicy::ReadOnly,
            max_body: DEFAULT_MAX_BODY,
            settings: String::new(),
            noise: 0.0,
            compare: HttpComparator::new(),
        }
    }

    /// The route's (and its experiment's) name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The route's experiment.
    pub fn experiment(&self) -> &'static Experiment {
        self.exp
    }

    /// Whether the route takes a request with this method and path.
    pub fn takes(&self, method: &Method, path: &str) -> bool {
        self.methods.as_ref().is_none_or(|m| m.contains(method)) && self.path.matches(path)
    }
}

/// Builds a [`Route`].
///
/// ```
/// let r = shadow_http::route::Route::builder("docs::builder").pattern("/v1/*/items").build();
/// assert!(r.takes(&http::Method::POST, "/v1/a/items"));
/// ```
#[derive(Debug, Clone)]
pub struct RouteBuilder {
    name: String,
    methods: Option<Vec<Method>>,
    path: PathMatch,
    sample_by: SampleBy,
    writes: WritePolicy,
    max_body: usize,
    settings: String,
    noise: f64,
    compare: HttpComparator,
}

impl RouteBuilder {
    /// Only these methods (by default every method; which of them are mirrored is the write
    /// policy's business).
    pub fn methods<'a>(mut self, methods: impl IntoIterator<Item = &'a str>) -> Self {
        self.methods = Some(
            methods
                .into_iter()
                .filter_map(|m| Method::from_bytes(m.trim().to_ascii_uppercase().as_bytes()).ok())
                .collect(),
        );
        self
    }

    /// Paths under `prefix` ([`PathMatch::Prefix`]).
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.path = PathMatch::prefix(prefix);
        self
    }

    /// Paths matching `pattern` ([`PathMatch::Pattern`]).
    pub fn pattern(mut self, pattern: &str) -> Self {
        self.path = PathMatch::pattern(pattern);
        self
    }

    /// Sticky sampling by a key of the request.
    pub fn sample_by(mut self, by: SampleBy) -> Self {
        self.sample_by = by;
        self
    }

    /// Which other methods are mirrored, and how.
    pub fn writes(mut self, policy: WritePolicy) -> Self {
        self.writes = policy;
        self
    }

    /// The body limit for comparison, in bytes.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// The experiment's settings in the format of its environment variable
    /// (`"sample=10%,timeout=150ms,max_in_flight=32,breaker_ratio=0.3"`): the route's defaults,
    /// under the environment (`PARALLEL_RUN__<ROUTE>`) and the live API.
    pub fn settings(mut self, spec: &str) -> Self {
        self.settings = spec.to_owned();
        self
    }

    /// Noise cancellation: on this share of mirrored safe requests (and on every one whose
    /// difference is not explained yet) the primary is asked a second time, off the caller's
    /// path, and where it differs from itself is learned (the runtime's noise machinery).
    pub fn noise(mut self, share: f64) -> Self {
        self.noise = share;
        self
    }

    /// How responses are compared.
    pub fn compare(mut self, cmp: HttpComparator) -> Self {
        self.compare = cmp;
        self
    }

    /// The route. Its experiment is created once per name in a process: a route built again
    /// under the same name shares it (and keeps the first settings; change them through the
    /// live API), with a warning if the settings differ.
    pub fn build(self) -> Route {
        let spec = format!(
            "{}|{}|{:?}",
            self.settings,
            self.noise,
            self.writes.as_str()
        );
        let mut routes = crate::body::lock(&ROUTES);
        let map = routes.get_or_insert_with(HashMap::new);
        let (name, reg) = match map.get_key_value(self.name.as_str()) {
            Some((k, r)) => {
                if r.spec != spec {
                    tracing::warn!(target: "parallel_run", experiment = *k,
                        "route {k:?} was built before with other settings; its experiment keeps the first ones (change them through the live API)");
                }
                (*k, (r.exp, r.stats))
            }
            None => {
                let name: &'static str = Box::leak(self.name.clone().into_boxed_str());
                let settings: &'static str = Box::leak(self.settings.clone().into_boxed_str());
                let writes = match self.writes {
                    WritePolicy::Separate => WriteMode::Separate,
                    _ => WriteMode::Refuse,
                };
                let mut exp = Experiment::new(name, 1.0, Mode::Detached, Order::PrimaryFirst)
                    .with_writes(writes)
                    .with_noise(self.noise);
                if !settings.is_empty() {
                    exp = exp.with_defaults(settings);
                }
                let exp: &'static Experiment = Box::leak(Box::new(exp));
                let stats: &'static RouteStats = Box::leak(Box::default());
                map.insert(name, Registered { exp, stats, spec });
                (name, (exp, stats))
            }
        };
        Route {
            name,
            exp: reg.0,
            methods: self.methods,
            path: self.path,
            sample_by: self.sample_by,
            writes: self.writes,
            max_body: self.max_body,
            noise: self.noise > 0.0,
            compare: Arc::new(self.compare),
            stats: reg.1,
        }
    }
}
