//! The reverse proxy: [`ParallelRunLayer`] in front of a remote primary,
//! mirroring to a remote candidate, on hyper 1 (HTTP/1.1, keep-alive). Clients get the primary's
//! responses, unchanged (status, headers less hop-by-hop ones, body bytes); no `Date` is added.
//! An admin port serves `/metrics` (Prometheus text: the runtime's metrics and the proxy's),
//! `/health` (`ok`, or 503 `draining` during a shutdown) and `/routes` (each route's counts as
//! JSON). A graceful shutdown stops accepting, lets in-flight requests finish, waits for the
//! candidates still running (up to `drain`), and flushes the discrepancy log.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = shadow_http::proxy::Config::from_toml_file("parallel-run.toml")?;
//! config.listen = "127.0.0.1:8080".parse()?; // what `--listen` sets
//! let summary = shadow_http::proxy::run(config).await?; // until Ctrl-C or SIGTERM
//! println!("{summary}");
//! # Ok(()) }
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use metrics_exporter_prometheus::PrometheusHandle;
use shadow_runtime::publish::JsonLinesLog;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::{Layer, Service};

pub use crate::config::Config;
use crate::exchange::is_hop_by_hop;
use crate::layer::{chain, client, Base};
use crate::route::Route;
use crate::{Candidate, ParallelRunLayer, ParallelRunService, RequestBody, ResponseBody};

/// Why the proxy could not start.
#[derive(Debug)]
pub enum ProxyError {
    /// Something the configuration lacks or gets wrong.
    Config(String),
    /// A listener could not be bound.
    Bind(SocketAddr, std::io::Error),
    /// The discrepancy log could not be opened.
    Log(String),
}

impl std::fmt::Display for ProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxyError::Config(m) => f.write_str(m),
            ProxyError::Bind(a, e) => write!(f, "cannot listen on {a}: {e}"),
            ProxyError::Log(m) => write!(f, "the discrepancy log: {m}"),
        }
    }
}

impl std::error::Error for ProxyError {}

/// The primary's side of the proxy: forwards a request to the primary's base URL (its `Host`
/// set to the primary's authority, hop-by-hop headers dropped). The primary's second runs
/// (noise cancellation) go through a client of their own, whose connections live on the shadow
/// lane, so that they take nothing from the callers' threads.
#[derive(Clone)]
pub struct Forward {
    base: Arc<Base>,
    client: Client<HttpConnector, RequestBody<Incoming>>,
    shadow: Client<HttpConnector, RequestBody<Incoming>>,
}

impl Forward {
    /// Forwards to `base_url` (`http://host:port[/prefix]`).
    ///
    /// ```
    /// assert!(shadow_http::proxy::Forward::new("http://127.0.0.1:9001").is_ok());
    /// ```
    pub fn new(base_url: &str) -> Result<Forward, String> {
        Ok(Forward {
            base: Arc::new(Base::parse(base_url)?),
            client: client(),
            shadow: client(),
        })
    }
}

impl Service<Request<RequestBody<Incoming>>> for Forward {
    type Response = Response<Incoming>;
    type Error = hyper_util::client::legacy::Error;
    type Future = hyper_util::client::legacy::ResponseFuture;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<RequestBody<Incoming>>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        self.base.aim(&mut parts);
        let client = if shadow_runtime::in_shadow() {
            &self.shadow
        } else {
            &self.client
        };
        client.request(Request::from_parts(parts, body))
    }
}

/// Removes hop-by-hop headers, and those a `Connection` header names.
fn strip_hop_by_hop(h: &mut HeaderMap) {
    let named: Vec<String> = h
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    for n in named {
        h.remove(n.as_str());
    }
    let hop: Vec<_> = h.keys().filter(|n| is_hop_by_hop(n)).cloned().collect();
    for n in hop {
        h.remove(n);
    }
}

type FrontBody = Either<ResponseBody<Incoming>, Full<Bytes>>;

/// The hyper service of the listening port: the layer over [`Forward`], a `502 Bad Gateway` of
/// its own when the primary cannot be reached.
#[derive(Clone)]
struct Front {
    svc: ParallelRunService<Forward>,
}

impl hyper::service::Service<Request<Incoming>> for Front {
    type Response = Response<FrontBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<FrontBody>, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let mut svc = self.svc.clone();
        Box::pin(async move {
            match svc.call(req).await {
                Ok(resp) => {
                    let (mut parts, body) = resp.into_parts();
                    strip_hop_by_hop(&mut parts.headers);
                    Ok(Response::from_parts(parts, Either::Left(body)))
                }
                Err(e) => {
                    let mut r = Response::new(Either::Right(Full::new(Bytes::from(format!(
                        "parallel-run proxy: the primary did not answer: {}\n",
                        chain(&e)
                    )))));
                    *r.status_mut() = StatusCode::BAD_GATEWAY;
                    r.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; charset=utf-8"),
                    );
                    Ok(r)
                }
            }
        })
    }
}

/// The process's Prometheus recorder (installed at the first proxy's start; `None` when the
/// application had installed another recorder).
fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            match metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder() {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(target: "parallel_run", "the proxy's /metrics is off: {e} (another metrics recorder is installed)");
                    None
                }
            }
        })
        .as_ref()
}

/// The admin port's service.
#[derive(Clone)]
struct Admin {
    routes: Arc<Vec<Route>>,
    draining: Arc<AtomicBool>,
}

impl hyper::service::Service<Request<Incoming>> for Admin {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<Full<Bytes>>, Infallible>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let (status, ctype, body) = match req.uri().path() {
            "/health" | "/healthz" => {
                if self.draining.load(Relaxed) {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "text/plain",
                        "draining\n".to_owned(),
                    )
                } else {
                    (StatusCode::OK, "text/plain", "ok\n".to_owned())
                }
            }
            "/metrics" => match prometheus() {
                Some(h) => {
                    shadow_runtime::snapshot::publish_metrics();
                    h.run_upkeep();
                    (StatusCode::OK, "text/plain; version=0.0.4", h.render())
                }
                None => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "another metrics recorder is installed in this process\n".to_owned(),
                ),
            },
            "/routes" => (
                StatusCode::OK,
                "application/json",
                routes_json(&self.routes).to_string(),
            ),
            _ => (
                StatusCode::NOT_FOUND,
                "text/plain",
                "parallel-run proxy admin: /metrics, /health, /routes\n".to_owned(),
            ),
        };
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r.headers_mut()
            .insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ctype));
        std::future::ready(Ok(r))
    }
}

fn routes_json(routes: &[Route]) -> serde_json::Value {
    serde_json::Value::Array(
        routes
            .iter()
            .map(|r| {
                let s = shadow_runtime::snapshot::experiment(r.name());
                let h = crate::route::stats(r.name());
                let mut o = match &s {
                    Some(s) => shadow_runtime::publish::summary_json(s),
                    None => serde_json::json!({ "experiment": r.name() }),
                };
                if let (Some(obj), Some(h)) = (o.as_object_mut(), h) {
                    obj.insert("mirrored".into(), h.mirrored.into());
                    obj.insert(
                        "not_compared".into(),
                        serde_json::Value::Object(
                            h.not_compared
                                .iter()
                                .map(|(r, n)| (r.as_str().to_owned(), (*n).into()))
                                .collect(),
                        ),
                    );
                }
                o
            })
            .collect(),
    )
}

/// A running proxy (see [`Proxy::start`]).
pub struct Proxy {
    addr: SocketAddr,
    admin: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    serving: Vec<tokio::task::JoinHandle<bool>>,
    draining: Arc<AtomicBool>,
    drain: Duration,
    routes: Arc<Vec<Route>>,
    log: Option<JsonLinesLog>,
}

/// What a shutdown found.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Every in-flight request finished within `drain`.
    pub requests_drained: bool,
    /// Every candidate still running finished (or was decided) within `drain`.
    pub candidates_drained: bool,
    /// Per route: its experiment's snapshot and the proxy's counts.
    pub routes: Vec<(
        Option<shadow_runtime::ExperimentSnapshot>,
        Option<crate::route::RouteCounts>,
    )>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "parallel-run proxy stopped: requests drained: {}, candidates drained: {}",
            self.requests_drained, self.candidates_drained
        )?;
        for (s, h) in &self.routes {
            let Some(s) = s else { continue };
            let rate = s
                .match_rate()
                .map_or("-".to_owned(), |r| format!("{:.2}%", r * 100.0));
            write!(
                f,
                "  {}: calls {}, shadowed {}, match rate {rate}, mismatches {}, shed {}, lost {}",
                s.name,
                s.calls(),
                s.shadowed,
                s.counts.get(shadow_runtime::Outcome::Mismatch),
                s.counts.get(shadow_runtime::Outcome::Shed),
                s.lost()
            )?;
            if let Some(h) = h {
                let nc: Vec<String> = h
                    .not_compared
                    .iter()
                    .filter(|(_, n)| *n > 0)
                    .map(|(r, n)| format!("{} {n}", r.as_str()))
                    .collect();
                if !nc.is_empty() {
                    write!(f, ", not compared: {}", nc.join(", "))?;
                }
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ProxyError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| ProxyError::Bind(addr, e))
}

/// Accepts connections until told to stop, then waits (up to `drain`) for them to finish;
/// `true` when they all did.
async fn serve<S, B>(
    listener: TcpListener,
    svc: S,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
) -> bool
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let conn = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .auto_date_header(false)
                    .serve_connection(TokioIo::new(stream), svc.clone());
                let watched = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = watched.await;
                });
            }
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_ok()
}

impl Proxy {
    /// Binds the ports and starts serving (on the current tokio runtime): the routes are built
    /// (one experiment each), the discrepancy log opened, the Prometheus recorder installed when
    /// there is an admin port.
    ///
    /// ```
    /// # let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    /// # rt.block_on(async {
    /// let mut c = shadow_http::proxy::Config::new("http://127.0.0.1:9", "http://127.0.0.1:9");
    /// c.listen = "127.0.0.1:0".parse().unwrap();
    /// let proxy = shadow_http::proxy::Proxy::start(c).await.unwrap();
    /// assert_ne!(proxy.addr().port(), 0);
    /// let summary = proxy.shutdown().await;
    /// assert!(summary.requests_drained);
    /// # });
    /// ```
    pub async fn start(config: Config) -> Result<Proxy, ProxyError> {
        let primary = config.primary.as_deref().ok_or_else(|| {
            ProxyError::Config(
                "no primary: give --primary http://host:port (or [proxy] primary in the file)"
                    .into(),
            )
        })?;
        let candidate = config.candidate.as_deref().ok_or_else(|| {
            ProxyError::Config("no candidate: give --candidate http://host:port (or [proxy] candidate in the file)".into())
        })?;
        let forward =
            Forward::new(primary).map_err(|e| ProxyError::Config(format!("primary: {e}")))?;
        let candidate = Candidate::remote(candidate)
            .map_err(|e| ProxyError::Config(format!("candidate: {e}")))?;
        let log = match &config.log {
            Some(path) => {
                let log = JsonLinesLog::open(path).map_err(|e| ProxyError::Log(e.to_string()))?;
                shadow_runtime::publish::add_publisher(log.clone());
                Some(log)
            }
            None => None,
        };
        // The file's experiment keys are applied by the runtime as its configuration file:
        // re-read when it changes, over the environment, under the live API.
        if let Some(path) = &config.source {
            shadow_runtime::config::file::watch(path);
        }
        let routes = config.build_routes();
        let mut layer =
            ParallelRunLayer::new(candidate).marker_header(config.marker_header.clone());
        for r in &routes {
            layer = layer.route(r.clone());
        }
        let front = Front {
            svc: layer.layer(forward),
        };
        let listener = bind(config.listen).await?;
        let addr = listener
            .local_addr()
            .map_err(|e| ProxyError::Bind(config.listen, e))?;
        let (stop, stopped) = watch::channel(false);
        let draining = Arc::new(AtomicBool::new(false));
        let routes = Arc::new(routes);
        let mut serving = vec![tokio::spawn(serve(
            listener,
            front,
            stopped.clone(),
            config.drain,
        ))];
        let mut admin = None;
        if let Some(a) = config.admin {
            let _ = prometheus();
            let l = bind(a).await?;
            admin = Some(l.local_addr().map_err(|e| ProxyError::Bind(a, e))?);
            let svc = Admin {
                routes: routes.clone(),
                draining: draining.clone(),
            };
            serving.push(tokio::spawn(serve(l, svc, stopped, Duration::from_secs(1))));
        }
        tracing::info!(target: "parallel_run", %addr, primary, "parallel-run proxy listening");
        Ok(Proxy {
            addr,
            admin,
            stop,
            serving,
            draining,
            drain: config.drain,
            routes,
            log,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin port's address, if there is one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin
    }

    /// The routes, in order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Stops gracefully: `/health` says `draining`, no new connection is accepted, in-flight
    /// requests finish (up to `drain`), candidates still running finish or are decided (up to
    /// `drain`), the discrepancy log is flushed.
    pub async fn shutdown(self) -> Summary {
        self.draining.store(true, Relaxed);
        let _ = self.stop.send(true);
        let mut requests_drained = true;
        for s in self.serving {
            requests_drained &= s.await.unwrap_or(false);
        }
        let candidates_drained = tokio::time::timeout(self.drain, shadow_runtime::snapshot::idle())
            .await
            .is_ok();
        shadow_runtime::snapshot::publish_metrics();
        if let Some(log) = &self.log {
            log.flush();
        }
        Summary {
            requests_drained,
            candidates_drained,
            routes: self
                .routes
                .iter()
                .map(|r| {
                    (
                        shadow_runtime::snapshot::experiment(r.name()),
                        crate::route::stats(r.name()),
                    )
                })
                .collect(),
        }
    }
}

/// Runs the proxy until Ctrl-C (or, on Unix, SIGTERM), then shuts it down gracefully. This is
/// `parallel-run proxy`: `--listen`, `--primary`, `--candidate`, `--config`, `--admin`, `--log`
/// set the [`Config`]'s fields.
pub async fn run(config: Config) -> Result<Summary, ProxyError> {
    let proxy = Proxy::start(config).await?;
    shutdown_signal().await;
    Ok(proxy.shutdown().await)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
