//! The tower layer with in-process services: the candidate runs in shadow context (on the shadow
//! lane), sees the route's write policy and idempotency key, and the caller gets the legacy
//! response.

mod common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::{accounted, count, idle, run};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use shadow_http::route::{Route, WritePolicy};
use shadow_http::{Candidate, ParallelRunLayer, RequestBody};
use shadow_runtime::context::WriteMode;
use shadow_runtime::Outcome;
use tower::{Layer, Service};

#[derive(Debug, Clone, Default, PartialEq)]
struct Seen {
    in_shadow: bool,
    writes: Option<WriteMode>,
    key: Option<String>,
    marker: Option<String>,
    body: Bytes,
    thread: String,
    path: String,
    header_key: Option<String>,
}

fn seen_now<B>(req: &Request<B>, body: Bytes) -> Seen {
    Seen {
        in_shadow: shadow_runtime::in_shadow(),
        writes: shadow_runtime::in_shadow().then(shadow_runtime::context::write_mode),
        key: shadow_runtime::context::idempotency_key().map(|k| k.to_string()),
        marker: req
            .headers()
            .get("x-parallel-run")
            .map(|v| v.to_str().unwrap().to_owned()),
        body,
        thread: std::thread::current().name().unwrap_or("").to_owned(),
        path: req.uri().path().to_owned(),
        header_key: req
            .headers()
            .get("idempotency-key")
            .map(|v| v.to_str().unwrap().to_owned()),
    }
}

#[test]
fn an_in_process_candidate_runs_in_shadow_context_with_the_route_s_policy() {
    run(async {
        let legacy_seen = Arc::new(Mutex::new(Vec::new()));
        let cand_seen = Arc::new(Mutex::new(Vec::new()));
        let ls = legacy_seen.clone();
        let legacy = tower::service_fn(move |req: Request<RequestBody<Full<Bytes>>>| {
            let ls = ls.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = body.collect().await.unwrap().to_bytes();
                let r = Request::from_parts(parts, ());
                ls.lock().unwrap().push(seen_now(&r, body.clone()));
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(format!(
                    "stored {}",
                    body.len()
                )))))
            }
        });
        let cs = cand_seen.clone();
        let rewrite = tower::service_fn(move |req: Request<Full<Bytes>>| {
            let cs = cs.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = body.collect().await.unwrap().to_bytes();
                let r = Request::from_parts(parts, ());
                cs.lock().unwrap().push(seen_now(&r, body.clone()));
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(format!(
                    "stored {}",
                    body.len()
                )))))
            }
        });
        let mut svc = ParallelRunLayer::new(Candidate::service(rewrite))
            .route(
                Route::builder("l::separate")
                    .prefix("/orders")
                    .writes(WritePolicy::Separate)
                    .build(),
            )
            .route(
                Route::builder("l::idem")
                    .prefix("/pay")
                    .writes(WritePolicy::Idempotency("idempotency-key".parse().unwrap()))
                    .build(),
            )
            .layer(legacy);
        for path in ["/orders", "/pay"] {
            let req = Request::post(path)
                .body(Full::new(Bytes::from_static(b"{\"qty\":3}")))
                .unwrap();
            let resp = svc.call(req).await.unwrap();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body, "stored 9");
        }
        idle().await;
        assert_eq!(count(&accounted("l::separate"), Outcome::Match), 1);
        assert_eq!(count(&accounted("l::idem"), Outcome::Match), 1);
        let (l, c) = (
            legacy_seen.lock().unwrap().clone(),
            cand_seen.lock().unwrap().clone(),
        );
        assert!(
            l.iter().all(|s| !s.in_shadow && s.marker.is_none()),
            "{l:?}"
        );
        // The candidates ran concurrently on the lane: find each by its path.
        let at = |p: &str| {
            c.iter()
                .find(|s| s.path == p)
                .cloned()
                .unwrap_or_else(|| panic!("no candidate call of {p}: {c:?}"))
        };
        assert_eq!(at("/orders").writes, Some(WriteMode::Separate));
        assert_eq!(at("/pay").writes, Some(WriteMode::Refuse));
        assert!(
            c.iter().all(|s| s.in_shadow
                && s.marker.as_deref() == Some("candidate")
                && s.body == "{\"qty\":3}"),
            "{c:?}"
        );
        // The key the layer generated for the idempotency route: the same on both sides.
        let key = at("/pay")
            .key
            .expect("the idempotency key in the shadow context");
        assert!(key.starts_with("pr-"), "{key}");
        let legacy_pay = l
            .iter()
            .find(|s| s.path == "/pay")
            .expect("the legacy /pay call");
        assert_eq!(legacy_pay.header_key.as_deref(), Some(key.as_str()));
        assert_eq!(at("/pay").header_key.as_deref(), Some(key.as_str()));
        assert_eq!(at("/orders").key, None);
        assert!(
            c.iter().all(|s| s.thread.starts_with("parallel-run")),
            "candidates run on the shadow lane: {c:?}"
        );
    });
}

#[test]
fn requests_no_route_takes_are_passed_through_uncounted() {
    run(async {
        let legacy = tower::service_fn(|_req: Request<RequestBody<Full<Bytes>>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"legacy"))))
        });
        let rewrite = tower::service_fn(|_req: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"rewrite"))))
        });
        let mut svc = ParallelRunLayer::new(Candidate::service(rewrite))
            .route(Route::builder("l::only_api").prefix("/api").build())
            .layer(legacy);
        let resp = svc
            .call(
                Request::get("/static/app.js")
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            resp.into_body().collect().await.unwrap().to_bytes(),
            "legacy"
        );
        let resp = svc
            .call(
                Request::get("/api/x")
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            resp.into_body().collect().await.unwrap().to_bytes(),
            "legacy"
        );
        idle().await;
        let s = accounted("l::only_api");
        assert_eq!((s.calls(), count(&s, Outcome::Mismatch)), (1, 1));
    });
}
