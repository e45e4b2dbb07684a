//! HTTP for [`parallel-run`](https://docs.rs/parallel-run): shadow a rewritten *service* the way
//! the attribute shadows a rewritten function, on the same engine. One engine decides (kill switch,
//! sampling, sticky keys, circuit breaker, `max_in_flight`, the shadow lane's queue and CPU
//! budget), bounds (timeouts, body limits), compares, counts and reports, for functions and for
//! HTTP alike: the same outcomes, environment variables, live API, snapshot, metrics,
//! discrepancy log and `parallel-run report`.
//!
//! - [`ParallelRunLayer`]: a tower layer around the legacy service (an axum `Router`, any
//!   `tower::Service<Request>`). Each sampled request is mirrored to a [`Candidate`] (another
//!   in-process service, or a remote base URL) off the caller's path; the legacy response streams
//!   to the client unchanged and at once, and is kept (up to a limit) for the comparison.
//! - [`proxy`]: a reverse proxy built on that layer (hyper 1), with per-route settings from a TOML
//!   file ([`proxy::Config::from_toml_file`]), graceful shutdown, and `/metrics` (Prometheus) and
//!   `/health` on an admin port.
//! - [`compare::HttpComparator`]: status, headers (less an ignore list: `Date`, `Server`, request
//!   ids, ...), bodies by content type (JSON through the structural comparator and its path
//!   rules, text by lines, anything else by length and hash), `gzip`/`deflate`/`br` decoded first.
//!
//! Write safety: only `GET`, `HEAD` and `OPTIONS` are mirrored unless a route opts in with a
//! [`route::WritePolicy`]; every mirrored request carries a marker header
//! ([`route::DEFAULT_MARKER_HEADER`]). Sensitive headers (`Authorization`, `Cookie`,
//! `Set-Cookie`, ...) never reach a record, a log line or a diff ([`exchange::SENSITIVE_HEADERS`]).
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use shadow_http::{route::Route, Candidate, ParallelRunLayer, RequestBody};
//! use tower::{Layer, Service};
//!
//! let legacy = tower::service_fn(|_req: http::Request<RequestBody<Full<Bytes>>>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from("total: 10"))))
//! });
//! let rewrite = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from("total: 11"))))
//! });
//! let mut svc = ParallelRunLayer::new(Candidate::service(rewrite))
//!     .route(Route::builder("docs::totals").build())
//!     .layer(legacy);
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! rt.block_on(async {
//!     let resp = svc.call(http::Request::new(Full::new(Bytes::new()))).await.unwrap();
//!     let body = resp.into_body().collect().await.unwrap().to_bytes();
//!     assert_eq!(body, "total: 10"); // the legacy answer, always
//!     shadow_runtime::snapshot::idle().await;
//! });
//! let s = shadow_runtime::snapshot::experiment("docs::totals").unwrap();
//! assert_eq!(s.counts.get(shadow_runtime::Outcome::Mismatch), 1);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod body;
pub mod compare;
pub mod config;
pub mod exchange;
pub mod layer;
pub mod proxy;
pub mod route;

pub use body::{RequestBody, ResponseBody};
pub use exchange::Exchange;
pub use layer::{Candidate, ParallelRunLayer, ParallelRunService};
