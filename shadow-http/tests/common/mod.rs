//! Real servers on 127.0.0.1 (ephemeral ports), a keep-alive client, the proxy in front, and the
//! checks every test makes: the accounting invariant, and the primary's response through the
//! proxy byte for byte the same as a direct call.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use shadow_runtime::{ExperimentSnapshot, Outcome};

pub type UpBody = BoxBody<Bytes, std::io::Error>;
pub type Handler = Arc<
    dyn Fn(Request<Incoming>) -> Pin<Box<dyn Future<Output = Response<UpBody>> + Send>>
        + Send
        + Sync,
>;

/// Every test runs within this.
pub const BOUND: Duration = Duration::from_secs(30);

pub fn full(b: impl Into<Bytes>) -> UpBody {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

pub fn response(status: u16, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Response<UpBody> {
    let mut r = Response::new(full(body));
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
    for (n, v) in headers {
        r.headers_mut().append(
            http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    r
}

/// A test upstream: its address, and how many connections and requests it accepted.
pub struct Upstream {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicU64>,
    pub requests: Arc<AtomicU64>,
}

impl Upstream {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Starts an HTTP/1.1 server on 127.0.0.1 (no `Date` header added, so that two answers can be
/// compared byte for byte).
pub async fn upstream<F, Fut>(handler: F) -> Upstream
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<UpBody>> + Send + 'static,
{
    let handler: Handler = Arc::new(move |r| Box::pin(handler(r)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicU64::new(0));
    let requests = Arc::new(AtomicU64::new(0));
    let (c, n) = (connections.clone(), requests.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            c.fetch_add(1, Relaxed);
            let handler = handler.clone();
            let n = n.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    n.fetch_add(1, Relaxed);
                    let h = handler.clone();
                    async move { Ok::<_, Infallible>(h(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .auto_date_header(false)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Upstream {
        addr,
        connections,
        requests,
    }
}

/// A server that accepts connections and closes each at once, before any answer.
pub async fn closing_upstream() -> Upstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicU64::new(0));
    let c = connections.clone();
    tokio::spawn(async move {
        loop {
            if let Ok((s, _)) = listener.accept().await {
                c.fetch_add(1, Relaxed);
                drop(s);
            }
        }
    });
    Upstream {
        addr,
        connections,
        requests: Arc::new(AtomicU64::new(0)),
    }
}

/// What a client saw: status, headers (less hop-by-hop ones, in order), body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Bytes,
}

pub type TestClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

pub fn client() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub async fn send(c: &TestClient, req: Request<Full<Bytes>>) -> Seen {
    let resp = c.request(req).await.expect("a response");
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .filter(|(n, _)| {
            !matches!(
                n.as_str(),
                "connection" | "keep-alive" | "transfer-encoding"
            )
        })
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect();
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("a whole body")
        .to_bytes();
    Seen {
        status,
        headers,
        body,
    }
}

pub fn get(addr: SocketAddr, path: &str) -> Request<Full<Bytes>> {
    Request::get(format!("http://{addr}{path}"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// The same request, sent directly and through the proxy: the answers must be identical.
pub async fn same_as_direct(
    c: &TestClient,
    direct: SocketAddr,
    proxy: SocketAddr,
    make: impl Fn(SocketAddr) -> Request<Full<Bytes>>,
) -> Seen {
    let d = send(c, make(direct)).await;
    let p = send(c, make(proxy)).await;
    assert_eq!(p, d, "the proxy's answer differs from the primary's own");
    p
}

/// `GET /p/0` .. `/p/{n-1}` through the proxy, each answer checked against a direct call.
pub async fn gets(c: &TestClient, primary: SocketAddr, proxy: SocketAddr, n: usize) {
    for i in 0..n {
        same_as_direct(c, primary, proxy, |a| get(a, &format!("/p/{i}"))).await;
    }
}

/// Waits until nothing is in flight (bounded).
pub async fn idle() {
    tokio::time::timeout(BOUND, shadow_runtime::snapshot::idle())
        .await
        .expect("candidates still in flight after 30 s");
}

/// Every 10 requests, waits for the candidates: the shadow lane runs at the lowest priority,
/// behind the test's own busy threads, and a test that outran it would see calls shed
/// (`max_in_flight`), where it counts exact outcomes.
pub async fn pace(i: usize) {
    if i % 10 == 9 {
        idle().await;
    }
}

/// The experiment's snapshot, after checking that nothing was lost:
/// `calls == Σ outcomes + in_flight` and `shadowed == in_flight + decided`.
pub fn accounted(name: &str) -> ExperimentSnapshot {
    let s = shadow_runtime::snapshot::experiment(name)
        .unwrap_or_else(|| panic!("no experiment {name}"));
    assert_eq!(s.lost(), 0, "{name}: lost calls: {:?}", s.counts);
    assert_eq!(s.calls(), s.counts.total() + s.in_flight, "{name}");
    s
}

pub fn count(s: &ExperimentSnapshot, o: Outcome) -> u64 {
    s.counts.get(o)
}

/// The proxy on 127.0.0.1 (ephemeral port) in front of `primary`, mirroring to `candidate`.
pub async fn proxy(
    toml: &str,
    primary: &Upstream,
    candidate: &Upstream,
) -> shadow_http::proxy::Proxy {
    let mut c =
        shadow_http::proxy::Config::from_toml_str(toml, "test.toml").expect("a valid config");
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.primary = Some(primary.url());
    c.candidate = Some(candidate.url());
    c.drain = Duration::from_secs(5);
    shadow_http::proxy::Proxy::start(c)
        .await
        .expect("the proxy starts")
}

/// Runs a test body on a multi-threaded runtime, bounded in time.
pub fn run<F: Future<Output = ()> + Send + 'static>(f: F) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        tokio::time::timeout(BOUND, f)
            .await
            .expect("the test took longer than 30 s");
    });
}

/// The JSON "pricing" body both sides answer in most tests.
pub fn price(path: &str) -> String {
    let sku = path.rsplit('/').next().unwrap_or("");
    format!(
        r#"{{"sku":"{sku}","price":{}.50,"currency":"EUR"}}"#,
        sku.len()
    )
}
