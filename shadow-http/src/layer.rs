//! The tower layer: [`ParallelRunLayer`] wraps the legacy service; each request goes to the
//! [`Route`] that takes it, whose experiment decides (the runtime's `decide_with`: kill switch,
//! sampling, sticky keys, breaker, `max_in_flight`, the lane's queue and budget). A sampled
//! request is copied (method, path, headers, and its body as the primary reads it), the primary's
//! response streams to the client unchanged while its chunks are kept, and when it ends the
//! candidate's request and the comparison are handed to the shadow lane (`Pending::
//! finish_detached_async`): the candidate runs there, at the lowest OS priority, with the route's
//! timeout, and never on the caller's threads.
//!
//! ```text
//! client ──req──▶ ParallelRunService ──req (body copied as read)──▶ legacy service
//!        ◀──resp, frame by frame──────────────────────────────────◀ (chunks kept, ≤ limit)
//!                      │ end of the response
//!                      ▼
//!              shadow lane: candidate.call(copy) ─▶ Exchange ─▶ HttpComparator ─▶ outcome, log
//! ```

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::HOST;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use http_body::Body;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use shadow_runtime::manual::Pending;
use shadow_runtime::{Comparator, Verdict};
use tower::{Layer, Service};

use crate::body::{join, lock, Copied, RequestBody, ResponseBody, Watch};
use crate::compare::HttpComparator;
use crate::exchange::{is_hop_by_hop, Exchange, ExchangeProbe};
use crate::route::{is_safe, NotCompared, Route, WritePolicy, DEFAULT_MARKER_HEADER};

type CandidateFuture = Pin<Box<dyn Future<Output = Exchange> + Send>>;

/// The rewritten side: an in-process service ([`Candidate::service`], the rewritten router) or a
/// remote one ([`Candidate::remote`], a base URL). It gets a copy of each mirrored request, with
/// its body whole, and the marker header.
///
/// ```
/// let c = shadow_http::Candidate::remote("http://127.0.0.1:9002").unwrap();
/// # let _ = c;
/// assert!(shadow_http::Candidate::remote("https://example.invalid").is_err()); // plain HTTP only
/// ```
#[derive(Clone)]
pub struct Candidate(Arc<dyn Call>);

impl std::fmt::Debug for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.describe())
    }
}

trait Call: Send + Sync {
    fn call(&self, req: Request<Full<Bytes>>, limit: usize) -> CandidateFuture;
    fn describe(&self) -> String;
}

struct ServiceCall<S>(Mutex<S>);

impl<S, B> Call for ServiceCall<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Display + Send,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Display,
{
    fn call(&self, req: Request<Full<Bytes>>, limit: usize) -> CandidateFuture {
        let mut svc = lock(&self.0).clone();
        Box::pin(async move {
            if let Err(e) = std::future::poll_fn(|cx| svc.poll_ready(cx)).await {
                return Exchange::failed(format!("the candidate service is not ready: {e}"));
            }
            match svc.call(req).await {
                Ok(resp) => Exchange::read(resp, limit).await,
                Err(e) => Exchange::failed(format!("the candidate service failed: {e}")),
            }
        })
    }
    fn describe(&self) -> String {
        "Candidate::service(..)".to_owned()
    }
}

/// A plain-HTTP base URL: scheme, authority and a path prefix (without its trailing `/`).
#[derive(Debug, Clone)]
pub(crate) struct Base {
    pub(crate) scheme: Scheme,
    pub(crate) authority: Authority,
    pub(crate) prefix: String,
}

impl Base {
    pub(crate) fn parse(url: &str) -> Result<Base, String> {
        let uri: Uri = url
            .trim()
            .parse()
            .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(format!(
                    "`{url}`: only plain http:// upstreams are supported, not {other}://"
                ))
            }
            None => return Err(format!("`{url}` has no scheme: write http://{url}")),
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| format!("`{url}` has no host"))?;
        if uri.query().is_some() {
            return Err(format!("`{url}`: a base URL takes no query"));
        }
        Ok(Base {
            scheme: Scheme::HTTP,
            authority,
            prefix: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    /// The upstream URI of a request's path and query.
    pub(crate) fn uri(&self, pq: Option<&PathAndQuery>) -> Uri {
        let pq = pq.map_or("/", PathAndQuery::as_str);
        let full = format!("{}{}", self.prefix, pq);
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(full)
            .build()
            .unwrap_or_default()
    }

    /// Points a request at this upstream: its URI, and `Host` set to the upstream's authority.
    pub(crate) fn aim(&self, parts: &mut http::request::Parts) {
        parts.uri = self.uri(parts.uri.path_and_query());
        if let Ok(v) = HeaderValue::from_str(self.authority.as_str()) {
            parts.headers.insert(HOST, v);
        }
    }
}

impl std::fmt::Display for Base {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority, self.prefix)
    }
}

/// An HTTP/1 client whose connections are made (and driven) on the runtime that first uses
/// them: the shadow lane's, for the candidate's and the second runs' requests.
pub(crate) fn client<B>() -> Client<HttpConnector, B>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.enforce_http(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(std::time::Duration::from_secs(30))
        .build(connector)
}

struct RemoteCall {
    client: Client<HttpConnector, Full<Bytes>>,
    base: Base,
}

impl Call for RemoteCall {
    fn call(&self, req: Request<Full<Bytes>>, limit: usize) -> CandidateFuture {
        let (mut parts, body) = req.into_parts();
        self.base.aim(&mut parts);
        let fut = self.client.request(Request::from_parts(parts, body));
        Box::pin(async move {
            match fut.await {
                Ok(resp) => Exchange::read(resp, limit).await,
                Err(e) => {
                    Exchange::failed(format!("the candidate's request failed: {}", chain(&e)))
                }
            }
        })
    }
    fn describe(&self) -> String {
        format!("Candidate::remote({})", self.base)
    }
}

/// An error and its sources, on one line.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

impl Candidate {
    /// An in-process candidate: a tower service (an axum `Router`, a `service_fn`) that takes the
    /// copied request. It runs on the shadow lane, where `parallel_run::in_shadow()` is true and
    /// the route's write policy is in the shadow context.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body_util::Full;
    /// let svc = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from("v2"))))
    /// });
    /// let _c = shadow_http::Candidate::service(svc);
    /// ```
    pub fn service<S, B>(svc: S) -> Candidate
    where
        S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Display + Send,
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Display,
    {
        Candidate(Arc::new(ServiceCall(Mutex::new(svc))))
    }

    /// A remote candidate at a base URL (`http://host:port`, optionally with a path prefix): a
    /// mirrored request goes to the same path and query under it, with `Host` set to its
    /// authority. Plain HTTP/1.1.
    pub fn remote(base_url: &str) -> Result<Candidate, String> {
        let base = Base::parse(base_url)?;
        Ok(Candidate(Arc::new(RemoteCall {
            client: client(),
            base,
        })))
    }
}

/// The layer: wraps the legacy service, mirrors sampled requests to the [`Candidate`], compares
/// the responses and serves the legacy one, unchanged.
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use shadow_http::{route::Route, Candidate, ParallelRunLayer};
/// use tower::Layer;
///
/// let legacy = tower::service_fn(|_req: http::Request<shadow_http::RequestBody<Full<Bytes>>>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from("v1"))))
/// });
/// let rewrite = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from("v1"))))
/// });
/// let layer = ParallelRunLayer::new(Candidate::service(rewrite))
///     .route(Route::builder("docs::prices").prefix("/prices").build());
/// let _svc = layer.layer(legacy);
/// ```
#[derive(Clone, Debug)]
pub struct ParallelRunLayer {
    routes: Vec<Route>,
    candidate: Candidate,
    marker: HeaderName,
}

impl ParallelRunLayer {
    /// A layer mirroring to `candidate`. Without a [`route`](Self::route), every request belongs
    /// to one catch-all route named `http`.
    pub fn new(candidate: Candidate) -> Self {
        ParallelRunLayer {
            routes: Vec::new(),
            candidate,
            marker: HeaderName::from_static(DEFAULT_MARKER_HEADER),
        }
    }

    /// Adds a route; the first route that takes a request gets it. A request no route takes is
    /// passed through, not counted.
    pub fn route(mut self, route: Route) -> Self {
        self.routes.push(route);
        self
    }

    /// The header that marks mirrored requests (default [`DEFAULT_MARKER_HEADER`]): its value is
    /// `candidate` on the candidate's copy, `noise` on the primary's second run.
    pub fn marker_header(mut self, name: HeaderName) -> Self {
        self.marker = name;
        self
    }

    /// The routes, in order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

impl<S> Layer<S> for ParallelRunLayer {
    type Service = ParallelRunService<S>;

    fn layer(&self, inner: S) -> ParallelRunService<S> {
        let routes = if self.routes.is_empty() {
            vec![Route::builder("http").build()]
        } else {
            self.routes.clone()
        };
        ParallelRunService {
            inner,
            shared: Arc::new(Shared {
                routes: routes.into_iter().map(Arc::new).collect(),
                candidate: self.candidate.clone(),
                marker: self.marker.clone(),
            }),
        }
    }
}

struct Shared {
    routes: Vec<Arc<Route>>,
    candidate: Candidate,
    marker: HeaderName,
}

/// The service [`ParallelRunLayer`] makes. Its responses are the wrapped service's, with the
/// body in a [`ResponseBody`]; the wrapped service gets requests with a [`RequestBody`].
#[derive(Clone)]
pub struct ParallelRunService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for ParallelRunService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParallelRunService")
            .field("routes", &self.shared.routes)
            .finish_non_exhaustive()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, RB> Service<Request<B>> for ParallelRunService<S>
where
    S: Service<Request<RequestBody<B>>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Display + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    RB: Body<Data = Bytes> + Send + 'static,
    RB::Error: Display,
{
    type Response = Response<ResponseBody<RB>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        let route = shared
            .routes
            .iter()
            .find(|r| r.takes(req.method(), req.uri().path()));
        let Some(route) = route else {
            let fut = inner.call(req.map(RequestBody::plain));
            return Box::pin(async move { Ok(fut.await?.map(ResponseBody::new)) });
        };
        let safe = is_safe(req.method());
        let mirrored = safe || route.writes != WritePolicy::ReadOnly;
        let key = route.sample_by.key(&req);
        let call = route.exp.decide_with(
            || mirrored,
            |seed| key.map(|k| shadow_runtime::sticky::key_hash(k, seed)),
        );
        let Some(mut call) = call else {
            let fut = inner.call(req.map(RequestBody::plain));
            return Box::pin(async move { Ok(fut.await?.map(ResponseBody::new)) });
        };
        // Only a sampled request takes a share of the route.
        let route = route.clone();
        // A sampled request: its record's context and key, its idempotency key.
        call = call.with_context(vec![
            ("method", req.method().to_string()),
            ("path", redact_query(req.uri())),
        ]);
        if let Some(k) = key {
            let seed = shadow_runtime::sticky::experiment_seed(route.name);
            call = call.with_sample_key(route.sample_by.key_text(k, seed));
        }
        if let (false, WritePolicy::Idempotency(h)) = (safe, &route.writes) {
            let given = req
                .headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(Arc::<str>::from);
            let k = match given {
                Some(k) => k,
                None => {
                    let k = generate_key();
                    if let Ok(v) = HeaderValue::from_str(&k) {
                        req.headers_mut().insert(h.clone(), v);
                    }
                    route.stats.key_generated();
                    Arc::from(k.as_str())
                }
            };
            call = call.with_idempotency_key(k);
        }
        let copy = (!req.body().is_end_stream()).then(|| Copied::new(route.max_body));
        let (parts, body) = req.into_parts();
        let for_candidate = copy_parts(&parts, &shared.marker, "candidate");
        let body = match &copy {
            Some(c) => RequestBody::copied(body, c.clone()),
            None => RequestBody::plain(body),
        };
        let candidate = {
            let copy = copy.clone();
            let cand = shared.candidate.clone();
            let limit = route.max_body;
            Box::pin(async move {
                let body = copy
                    .as_ref()
                    .and_then(|c| lock(c).bytes())
                    .unwrap_or_default();
                cand.0
                    .call(Request::from_parts(for_candidate, Full::new(body)), limit)
                    .await
            }) as CandidateFuture
        };
        let second = (route.noise && safe).then(|| {
            let parts = copy_parts(&parts, &shared.marker, "noise");
            let svc = inner.clone();
            let copy = copy.clone();
            let limit = route.max_body;
            move || second_run(svc, parts, copy, limit)
        });
        let primary = inner.call(Request::from_parts(parts, body));
        Box::pin(async move {
            let mut pending = call.with_candidate_async(candidate).await;
            if let Some(second) = second {
                pending = pending.with_noise_async(second);
            }
            let resp = match primary.await {
                Ok(r) => r,
                Err(e) => {
                    route
                        .stats
                        .not_compared(route.name, NotCompared::PrimaryError);
                    drop(pending);
                    return Err(e);
                }
            };
            let (parts, body) = resp.into_parts();
            let mut watch = Shadowed {
                pending: Some(pending),
                status: parts.status,
                headers: Exchange::capture_headers(&parts.headers),
                chunks: Vec::new(),
                len: 0,
                copy,
                route: route.clone(),
                finishing: None,
            };
            if body.is_end_stream() {
                // Nothing to stream (HEAD, 204, an empty body): hand over now.
                std::future::poll_fn(|cx| watch.end(cx)).await;
                return Ok(Response::from_parts(parts, ResponseBody::new(body)));
            }
            Ok(Response::from_parts(
                parts,
                ResponseBody::watched(body, Box::new(watch)),
            ))
        })
    }
}

/// The primary's second run (noise cancellation): the same request again, marked `noise`, on
/// the thread the runtime makes it on (the shadow lane's).
async fn second_run<S, B, RB>(
    mut svc: S,
    parts: http::request::Parts,
    copy: Option<Arc<Mutex<Copied>>>,
    limit: usize,
) -> Exchange
where
    S: Service<Request<RequestBody<B>>, Response = Response<RB>>,
    S::Error: Display,
    RB: Body<Data = Bytes>,
    RB::Error: Display,
{
    let body = copy
        .as_ref()
        .and_then(|c| lock(c).bytes())
        .unwrap_or_default();
    if let Err(e) = std::future::poll_fn(|cx| svc.poll_ready(cx)).await {
        return Exchange::failed(format!("the primary is not ready for its second run: {e}"));
    }
    match svc
        .call(Request::from_parts(parts, RequestBody::replay(body)))
        .await
    {
        Ok(resp) => Exchange::read(resp, limit).await,
        Err(e) => Exchange::failed(format!("the primary's second run failed: {e}")),
    }
}

/// The comparator as the runtime takes it (owned, `Send + 'static`).
struct SharedComparator(Arc<HttpComparator>);

impl Comparator<Exchange> for SharedComparator {
    fn compare(&self, primary: &Exchange, candidate: &Exchange) -> Verdict {
        self.0.compare(primary, candidate)
    }
}

/// A mirrored request while the primary's response streams.
struct Shadowed {
    pending: Option<Pending<CandidateFuture, Exchange>>,
    status: StatusCode,
    headers: Vec<(HeaderName, String)>,
    chunks: Vec<Bytes>,
    len: u64,
    copy: Option<Arc<Mutex<Copied>>>,
    route: Arc<Route>,
    finishing: Option<BoxFuture<()>>,
}

impl Shadowed {
    fn give_up(&mut self, why: NotCompared) {
        if let Some(p) = self.pending.take() {
            self.route.stats.not_compared(self.route.name, why);
            drop(p);
            self.chunks = Vec::new();
        }
    }
}

impl Watch for Shadowed {
    fn data(&mut self, chunk: &Bytes) -> bool {
        self.len += chunk.len() as u64;
        if self.len > self.route.max_body as u64 {
            self.give_up(NotCompared::BodyLimit);
            return false;
        }
        self.chunks.push(chunk.clone());
        true
    }

    fn end(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(f) = self.finishing.as_mut() {
            let done = f.as_mut().poll(cx);
            if done.is_ready() {
                self.finishing = None;
            }
            return done;
        }
        if self.pending.is_none() {
            return Poll::Ready(());
        }
        let whole = self.copy.as_ref().is_none_or(|c| lock(c).whole());
        if !whole {
            self.give_up(NotCompared::RequestBody);
            return Poll::Ready(());
        }
        let Some(pending) = self.pending.take() else {
            return Poll::Ready(());
        };
        let len = self.len;
        let primary = Exchange {
            status: self.status,
            headers: std::mem::take(&mut self.headers),
            body: join(std::mem::take(&mut self.chunks), len as usize),
            body_len: len,
            truncated: false,
            failure: None,
        };
        self.route.stats.mirrored();
        let mut f: BoxFuture<()> = Box::pin(pending.finish_detached_async(
            primary,
            SharedComparator(self.route.compare.clone()),
            ExchangeProbe,
        ));
        match f.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(()),
            Poll::Pending => {
                // Strict mode: the comparison runs here, and the response ends after it.
                self.finishing = Some(f);
                Poll::Pending
            }
        }
    }

    fn failed(&mut self) {
        self.give_up(NotCompared::PrimaryError);
    }
}

impl Drop for Shadowed {
    fn drop(&mut self) {
        // Dropped before the end: the client went away mid-response (the call is `cancelled`).
        self.give_up(NotCompared::ClientGone);
    }
}

/// The parts of a mirrored request: method, URI, headers less hop-by-hop ones, plus the marker.
fn copy_parts(
    parts: &http::request::Parts,
    marker: &HeaderName,
    role: &'static str,
) -> http::request::Parts {
    let mut headers = HeaderMap::with_capacity(parts.headers.len() + 1);
    for (n, v) in &parts.headers {
        if !is_hop_by_hop(n) {
            headers.append(n.clone(), v.clone());
        }
    }
    headers.insert(marker.clone(), HeaderValue::from_static(role));
    let (mut out, ()) = Request::new(()).into_parts();
    out.method = parts.method.clone();
    out.uri = parts.uri.clone();
    out.headers = headers;
    out
}

/// Query parameters that look like secrets, whose values records never show.
const SECRET_PARAMS: [&str; 10] = [
    "token",
    "access_token",
    "api_key",
    "apikey",
    "key",
    "secret",
    "password",
    "signature",
    "sig",
    "code",
];

/// The request's path and query for records, with secret-looking query values as `***`.
///
/// ```
/// let u: http::Uri = "/v1/quote?sku=A&token=abc".parse().unwrap();
/// assert_eq!(shadow_http::layer::redact_query(&u), "/v1/quote?sku=A&token=***");
/// ```
pub fn redact_query(uri: &Uri) -> String {
    let Some(q) = uri.query() else {
        return uri.path().to_owned();
    };
    let parts: Vec<String> = q
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str()) => {
                format!("{k}=***")
            }
            _ => kv.to_owned(),
        })
        .collect();
    format!("{}?{}", uri.path(), parts.join("&"))
}

/// A fresh idempotency key: `pr-` and 32 hex digits, unique in the process and across
/// processes (the time, the process id and a counter, mixed by XXH3).
fn generate_key() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let seed = u64::from(std::process::id()) << 32 ^ n;
    let a = shadow_runtime::sticky::key_hash(&t, seed);
    let b = shadow_runtime::sticky::key_hash(&n, a);
    format!("pr-{a:016x}{b:016x}")
}
