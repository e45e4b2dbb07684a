//! The reverse proxy with real servers on 127.0.0.1: every case of issue 14, each checking the
//! accounting invariant and that the client got the primary's answer byte for byte.

mod common;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use shadow_http::route::NotCompared;
use shadow_runtime::Outcome;

fn json(req: Request<Incoming>) -> impl std::future::Future<Output = http::Response<UpBody>> {
    let path = req.uri().path().to_owned();
    async move {
        response(
            200,
            &[("content-type", "application/json"), ("x-version", "1")],
            price(&path),
        )
    }
}

#[test]
fn an_identical_candidate_matches_and_the_client_gets_the_primary_s_bytes() {
    run(async {
        let primary = upstream(json).await;
        let candidate = upstream(json).await;
        let proxy = proxy(
            "[[routes]]\nname = \"t::identical\"\n",
            &primary,
            &candidate,
        )
        .await;
        let c = client();
        for i in 0..40 {
            let seen = same_as_direct(&c, primary.addr, proxy.addr(), |a| {
                get(a, &format!("/prices/sku{i}"))
            })
            .await;
            assert_eq!(seen.body, price(&format!("/prices/sku{i}")));
            pace(i).await;
        }
        idle().await;
        let s = accounted("t::identical");
        assert_eq!(count(&s, Outcome::Match), 40, "{:?}", s.counts);
        assert_eq!(candidate.requests.load(Relaxed), 40);
        proxy.shutdown().await;
    });
}

#[test]
fn a_slow_candidate_times_out_and_the_client_never_waits_for_it() {
    run(async {
        let primary = upstream(json).await;
        let candidate = upstream(|req| async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            json(req).await
        })
        .await;
        let proxy = proxy(
            "[[routes]]\nname = \"t::slow\"\ntimeout = \"100ms\"\n",
            &primary,
            &candidate,
        )
        .await;
        let c = client();
        gets(&c, primary.addr, proxy.addr(), 10).await;
        idle().await;
        let s = accounted("t::slow");
        assert_eq!(count(&s, Outcome::Timeout), 10, "{:?}", s.counts);
        proxy.shutdown().await;
    });
}

#[test]
fn a_hanging_candidate_is_cut_off_at_its_timeout_and_gives_its_slots_back() {
    run(async {
        let primary = upstream(json).await;
        let candidate = upstream(|_req| async move { std::future::pending().await }).await;
        let proxy = proxy(
            "[[routes]]\nname = \"t::hang\"\ntimeout = \"100ms\"\nmax_in_flight = 8\n",
            &primary,
            &candidate,
        )
        .await;
        let c = client();
        gets(&c, primary.addr, proxy.addr(), 6).await;
        idle().await;
        let s = accounted("t::hang");
        assert_eq!(count(&s, Outcome::Timeout), 6, "{:?}", s.counts);
        // The candidates' requests were dropped at the deadline: their slots are free again.
        while accounted("t::hang").running > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        proxy.shutdown().await;
    });
}

#[test]
fn a_candidate_crashing_mid_response_is_a_failed_mismatch() {
    run(async {
        let primary = upstream(json).await;
        let candidate = upstream(|_req| async move {
            let (mut tx, body) = http_body_util::channel::Channel::<Bytes, std::io::Error>::new(2);
            tokio::spawn(async move {
                let _ = tx.send_data(Bytes::from_static(b"{\"sku\":")).await;
                tx.abort(std::io::Error::other("the rewrite crashed"));
            });
            let mut r = http::Response::new(body.boxed());
            r.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            r
        })
        .await;
        let proxy = proxy("[[routes]]\nname = \"t::crash\"\n", &primary, &candidate).await;
        let c = client();
        gets(&c, primary.addr, proxy.addr(), 5).await;
        idle().await;
        let s = accounted("t::crash");
        assert_eq!(count(&s, Outcome::Mismatch), 5, "{:?}", s.counts);
        let d = &s.discrepancies[0];
        assert!(
            d.candidate.as_deref().unwrap_or("").contains("broke off"),
            "{d:?}"
        );
        proxy.shutdown().await;
    });
}

#[test]
fn a_candidate_answering_500_is_a_mismatch_at_the_status() {
    run(async {
        let primary = upstream(json).await;
        let candidate =
            upstream(
                |_req| async move { response(500, &[("content-type", "text/plain")], "boom") },
            )
            .await;
        let proxy = proxy("[[routes]]\nname = \"t::500\"\n", &primary, &candidate).await;
        let c = client();
        gets(&c, primary.addr, proxy.addr(), 5).await;
        idle().await;
        let s = accounted("t::500");
        assert_eq!(count(&s, Outcome::Mismatch), 5, "{:?}", s.counts);
        proxy.shutdown().await;
    });
}

#[test]
fn a_candidate_that_closes_connections_is_a_mismatch_and_the_client_is_served() {
    run(async {
        let primary = upstream(json).await;
        let candidate = closing_upstream().await;
        let proxy = proxy("[[routes]]\nname = \"t::closing\"\n", &primary, &candidate).await;
        let c = client();
        gets(&c, primary.addr, proxy.addr(), 5).await;
        idle().await;
        let s = accounted("t::closing");
        assert_eq!(count(&s, Outcome::Mismatch), 5, "{:?}", s.counts);
        assert!(candidate.connections.load(Relaxed) >= 5);
        proxy.shutdown().await;
    });
}

#[test]
fn a_candidate_with_a_different_json_body_is_a_mismatch_at_its_path() {
    run(async {
        let primary = upstream(json).await;
        let candidate = upstream(|req: Request<Incoming>| async move {
            let path = req.uri().path().to_owned();
            let body = price(&path).replace(".50", ".49");
            response(
                200,
                &[("content-type", "application/json"), ("x-version", "1")],
                body,
            )
        })
        .await;
        let proxy = proxy("[[routes]]\nname = \"t::json\"\n", &primary, &candidate).await;
        let c = client();
        same_as_direct(&c, primary.addr, proxy.addr(), |a| get(a, "/p/abc")).await;
        idle().await;
        let s = accounted("t::json");
        assert_eq!(count(&s, Outcome::Mismatch), 1, "{:?}", s.counts);
        assert_eq!(s.discrepancies[0].detail, "$.body.price: 3.5 -> 3.49");
        proxy.shutdown().await;
    });
}

#[test]
fn a_body_over_the_limit_streams_on_and_is_not_compared() {
    run(async {
        let big = Bytes::from(vec![b'x'; 3 << 20]);
        let b2 = big.clone();
        let primary = upstream(move |_req| {
            let b = b2.clone();
            async move { response(200, &[("content-type", "application/octet-stream")], b) }
        })
        .await;
        let candidate = upstream(json).await;
        let proxy = proxy(
            "[[routes]]\nname = \"t::huge\"\nmax_body = \"1MiB\"\n",
            &primary,
            &candidate,
        )
        .await;
        let c = client();
        for _ in 0..3 {
            let seen = same_as_direct(&c, primary.addr, proxy.addr(), |a| get(a, "/big")).await;
            assert_eq!(seen.body, big);
        }
        idle().await;
        let s = accounted("t::huge");
        assert_eq!(count(&s, Outcome::Cancelled), 3, "{:?}", s.counts);
        let h = shadow_http::route::stats("t::huge").unwrap();
        assert_eq!(h.not_compared(NotCompared::BodyLimit), 3);
        assert_eq!(
            candidate.requests.load(Relaxed),
            0,
            "the candidate is not asked what cannot be compared"
        );
        proxy.shutdown().await;
    });
}

/// A primary that streams three chunks, the later two only once the test says so, 50 ms apart.
async fn streaming(gate: Arc<tokio::sync::Notify>) -> Upstream {
    upstream(move |_req| {
        let gate = gate.clone();
        async move {
            let (mut tx, body) = http_body_util::channel::Channel::<Bytes, std::io::Error>::new(4);
            tokio::spawn(async move {
                let _ = tx.send_data(Bytes::from_static(b"line 1\n")).await;
                gate.notified().await;
                let _ = tx.send_data(Bytes::from_static(b"line 2\n")).await;
                // Apart, so that they are two writes: a client gone since line 1 makes the
                // second one fail (one write of both could still land in the socket's buffer).
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = tx.send_data(Bytes::from_static(b"line 3\n")).await;
            });
            let mut r = http::Response::new(body.boxed());
            r.headers_mut()
                .insert("content-type", "text/plain".parse().unwrap());
            r
        }
    })
    .await
}

#[test]
fn a_chunked_streaming_response_reaches_the_client_at_once_and_is_compared_whole() {
    run(async {
        let gate = Arc::new(tokio::sync::Notify::new());
        let primary = streaming(gate.clone()).await;
        let candidate = upstream(|_req| async move {
            response(
                200,
                &[("content-type", "text/plain")],
                "line 1\nline 2\nline 3\n",
            )
        })
        .await;
        let proxy = proxy("[[routes]]\nname = \"t::stream\"\n", &primary, &candidate).await;
        let c = client();
        let resp = c.request(get(proxy.addr(), "/s")).await.unwrap();
        assert_eq!(
            resp.headers()
                .get("transfer-encoding")
                .map(|v| v.as_bytes()),
            Some(&b"chunked"[..])
        );
        let mut body = resp.into_body();
        // The first chunk arrives while the primary is still holding the rest back.
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first, "line 1\n");
        gate.notify_one();
        let rest = body.collect().await.unwrap().to_bytes();
        assert_eq!(rest, "line 2\nline 3\n");
        idle().await;
        let s = accounted("t::stream");
        assert_eq!(count(&s, Outcome::Match), 1, "{:?}", s.counts);
        proxy.shutdown().await;
    });
}

#[test]
fn keep_alive_connections_are_reused_on_both_sides() {
    run(async {
        let primary = upstream(json).await;
        let candidate = upstream(json).await;
        let proxy = proxy(
            "[[routes]]\nname = \"t::keepalive\"\n",
            &primary,
            &candidate,
        )
        .await;
        let c = client();
        for i in 0..100 {
            send(&c, get(proxy.addr(), &format!("/p/{i}"))).await;
            pace(i).await;
        }
        idle().await;
        let s = accounted("t::keepalive");
        assert_eq!(count(&s, Outcome::Match), 100, "{:?}", s.counts);
        assert_eq!(
            primary.connections.load(Relaxed),
            1,
            "one pooled connection to the primary"
        );
        assert!(
            candidate.connections.load(Relaxed) <= 10,
            "candidate connections: {}",
            candidate.connections.load(Relaxed)
        );
        proxy.shutdown().await;
    });
}

/// An upstream that echoes the request body's length and what it saw of the marker and the
/// idempotency key, and keeps the bodies it got.
/// What an echo upstream got: the body, the marker header, the idempotency key.
type Got = Arc<Mutex<Vec<(Bytes, Option<String>, Option<String>)>>>;

async fn echo(seen: Got) -> Upstream {
    upstream(move |req: Request<Incoming>| {
        let seen = seen.clone();
        async move {
            let marker = req
                .headers()
                .get("x-parallel-run")
                .map(|v| v.to_str().unwrap().to_owned());
            let key = req
                .headers()
                .get("idempotency-key")
                .map(|v| v.to_str().unwrap().to_owned());
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let out = format!("{{\"got\":{}}}", body.len());
            seen.lock().unwrap().push((body, marker, key));
            response(201, &[("content-type", "application/json")], out)
        }
    })
    .await
}

fn post(addr: std::net::SocketAddr, path: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::post(format!("http://{addr}{path}"))
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

#[test]
fn writes_are_mirrored_only_on_routes_that_opt_in_with_the_body_and_the_marker() {
    run(async {
        let (ps, cs) = (
            Arc::new(Mutex::new(Vec::new())),
            Arc::new(Mutex::new(Vec::new())),
        );
        let primary = echo(ps.clone()).await;
        let candidate = echo(cs.clone()).await;
        let toml = "[[routes]]\nname = \"t::writes_separate\"\npath = \"/orders\"\nwrites = \"separate\"\n\n[[routes]]\nname = \"t::writes_refused\"\n";
        let proxy = proxy(toml, &primary, &candidate).await;
        let c = client();
        let body = "{\"sku\":\"A\",\"qty\":2}";
        let seen = send(&c, post(proxy.addr(), "/orders", body)).await;
        assert_eq!((seen.status, &seen.body[..]), (201, &b"{\"got\":19}"[..]));
        send(&c, post(proxy.addr(), "/carts", body)).await;
        idle().await;
        let s = accounted("t::writes_separate");
        assert_eq!(count(&s, Outcome::Match), 1, "{:?}", s.counts);
        let r = accounted("t::writes_refused");
        assert_eq!(
            count(&r, Outcome::Filtered),
            1,
            "a POST on a read-only route is not mirrored: {:?}",
            r.counts
        );
        let cs = cs.lock().unwrap().clone();
        assert_eq!(cs.len(), 1, "the candidate got only the opted-in POST");
        assert_eq!(cs[0].0, body);
        assert_eq!(cs[0].1.as_deref(), Some("candidate"));
        assert!(
            ps.lock().unwrap().iter().all(|(_, m, _)| m.is_none()),
            "the primary's requests are not marked"
        );
        proxy.shutdown().await;
    });
}

#[test]
fn an_idempotency_route_forwards_one_key_to_both_sides_and_makes_one_when_missing() {
    run(async {
        let (ps, cs) = (
            Arc::new(Mutex::new(Vec::new())),
            Arc::new(Mutex::new(Vec::new())),
        );
        let primary = echo(ps.clone()).await;
        let candidate = echo(cs.clone()).await;
        let proxy = proxy(
            "[[routes]]\nname = \"t::idem\"\nwrites = \"idempotency\"\n",
            &primary,
            &candidate,
        )
        .await;
        let c = client();
        send(&c, post(proxy.addr(), "/pay", "{}")).await;
        // The first candidate reaches its server before the second request is sent: the order
        // the assertions below read the candidate's requests in.
        idle().await;
        let mut with_key = post(proxy.addr(), "/pay", "{}");
        with_key
            .headers_mut()
            .insert("idempotency-key", "client-key-7".parse().unwrap());
        send(&c, with_key).await;
        idle().await;
        let s = accounted("t::idem");
        assert_eq!(count(&s, Outcome::Match), 2, "{:?}", s.counts);
        let (ps, cs) = (ps.lock().unwrap().clone(), cs.lock().unwrap().clone());
        let generated = ps[0].2.clone().expect("a generated key");
        assert!(generated.starts_with("pr-"), "{generated}");
        assert_eq!(cs[0].2.as_deref(), Some(generated.as_str()));
        assert_eq!(ps[1].2.as_deref(), Some("client-key-7"));
        assert_eq!(cs[1].2.as_deref(), Some("client-key-7"));
        assert_eq!(
            shadow_http::route::stats("t::idem").unwrap().keys_generated,
            1
        );
        proxy.shutdown().await;
    });
}

fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b).unwrap();
    gz.finish().unwrap()
}

#[test]
fn gzip_bodies_are_decoded_before_comparing() {
    run(async {
        let primary = upstream(|req: Request<Incoming>| async move {
            let body = gzip(price(req.uri().path()).as_bytes());
            response(
                200,
                &[
                    ("content-type", "application/json"),
                    ("content-encoding", "gzip"),
                ],
                body,
            )
        })
        .await;
        // The rewrite answers without compression: the same prices, but one bug.
        let candidate = upstream(|req: Request<Incoming>| async move {
            let path = req.uri().path().to_owned();
            let body = if path.ends_with("bug") {
                price(&path).replace("EUR", "USD")
            } else {
                price(&path)
            };
            response(200, &[("content-type", "application/json")], body)
        })
        .await;
        let proxy = proxy("[[routes]]\nname = \"t::gzip\"\n", &primary, &candidate).await;
        let c = client();
        for p in ["/p/a", "/p/b", "/p/bug"] {
            let seen = same_as_direct(&c, primary.addr, proxy.addr(), |a| get(a, p)).await;
            assert_eq!(
                seen.body,
                gzip(price(p).as_bytes()),
                "the client gets the gzip bytes"
            );
        }
        idle().await;
        let s = accounted("t::gzip");
        assert_eq!(
            (count(&s, Outcome::Match), count(&s, Outcome::Mismatch)),
            (2, 1),
            "{:?}",
            s.counts
        );
        assert_eq!(
            s.discrepancies[0].detail,
            "$.body.currency: \"EUR\" -> \"USD\""
        );
        proxy.shutdown().await;
    });
}

#[test]
fn a_client_that_goes_away_mid_response_cancels_the_comparison() {
    run(async {
        let gate = Arc::new(tokio::sync::Notify::new());
        let primary = streaming(gate.clone()).await;
        let candidate = upstream(json).await;
        let proxy = proxy("[[routes]]\nname = \"t::gone\"\n", &primary, &candidate).await;
        let c = client();
        let resp = c.request(get(proxy.addr(), "/s")).await.unwrap();
        let mut body = resp.into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first, "line 1\n");
        drop(body);
        drop(c);
        // The proxy sees the client gone when it writes the next chunk.
        gate.notify_one();
        loop {
            let s = accounted("t::gone");
            if s.counts.get(Outcome::Cancelled) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            shadow_http::route::stats("t::gone")
                .unwrap()
                .not_compared(NotCompared::ClientGone),
            1
        );
        assert_eq!(candidate.requests.load(Relaxed), 0);
        proxy.shutdown().await;
    });
}

#[test]
fn a_client_that_goes_away_mid_request_body_is_never_mirrored() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    run(async {
        let primary = upstream(|req: Request<Incoming>| async move {
            let got = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes().len())
                .unwrap_or(0);
            response(200, &[], format!("{got}"))
        })
        .await;
        let candidate = upstream(json).await;
        let proxy = proxy(
            "[[routes]]\nname = \"t::halfbody\"\nwrites = \"separate\"\n",
            &primary,
            &candidate,
        )
        .await;
        let mut s = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
        s.write_all(b"POST /o HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n0123456789")
            .await
            .unwrap();
        // Half the request, then the client is gone.
        s.shutdown().await.unwrap();
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut sink)).await;
        drop(s);
        loop {
            let snap = accounted("t::halfbody");
            if snap.calls() == 1 && snap.in_flight == 0 {
                assert_eq!(snap.counts.get(Outcome::Cancelled), 1, "{:?}", snap.counts);
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(candidate.requests.load(Relaxed), 0);
        proxy.shutdown().await;
    });
}

#[test]
fn sticky_sampling_by_header_follows_the_runtime_s_published_rule() {
    run(async {
        let got = Arc::new(Mutex::new(Vec::new()));
        let primary = upstream(json).await;
        let g = got.clone();
        let candidate = upstream(move |req: Request<Incoming>| {
            let g = g.clone();
            async move {
                let id = req
                    .headers()
                    .get("x-customer-id")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                g.lock().unwrap().push(id);
                json(req).await
            }
        })
        .await;
        let proxy = proxy("[[routes]]\nname = \"t::sticky\"\nsample = \"30%\"\nsample_by = \"header:x-customer-id\"\n", &primary, &candidate).await;
        let c = client();
        for i in 0..200 {
            let mut r = get(proxy.addr(), "/p/x");
            r.headers_mut()
                .insert("x-customer-id", format!("customer-{i}").parse().unwrap());
            send(&c, r).await;
            pace(i).await;
        }
        idle().await;
        let mut expected: Vec<String> = (0..200)
            .map(|i| format!("customer-{i}"))
            .filter(|k| shadow_runtime::sticky::is_sampled("t::sticky", k.as_str(), 0.3))
            .collect();
        let mut got = got.lock().unwrap().clone();
        got.sort();
        expected.sort();
        assert_eq!(got, expected);
        let s = accounted("t::sticky");
        assert_eq!(count(&s, Outcome::SampledOut), 200 - expected.len() as u64);
        assert_eq!(s.discrepancies.len(), 0);
        proxy.shutdown().await;
    });
}

#[test]
fn live_changes_apply_to_the_next_request() {
    run(async {
        let primary = upstream(json).await;
        let candidate = upstream(json).await;
        let proxy = proxy("[[routes]]\nname = \"t::live\"\n", &primary, &candidate).await;
        let c = client();
        send(&c, get(proxy.addr(), "/p/1")).await;
        shadow_runtime::live::set_sample_rate("t::live", 0.0).unwrap();
        send(&c, get(proxy.addr(), "/p/2")).await;
        shadow_runtime::live::set_enabled("t::live", false).unwrap();
        send(&c, get(proxy.addr(), "/p/3")).await;
        shadow_runtime::live::set_enabled("t::live", true).unwrap();
        shadow_runtime::live::set_sample_rate("t::live", 1.0).unwrap();
        send(&c, get(proxy.addr(), "/p/4")).await;
        idle().await;
        let s = accounted("t::live");
        // A rate of 0 and `enabled = off` both count as disabled.
        let counts: Vec<u64> = [Outcome::Match, Outcome::Disabled]
            .iter()
            .map(|o| count(&s, *o))
            .collect();
        assert_eq!(counts, [2, 2], "{:?}", s.counts);
        assert_eq!(candidate.requests.load(Relaxed), 2);
        proxy.shutdown().await;
    });
}

#[test]
fn the_admin_port_serves_health_and_prometheus_metrics() {
    run(async {
        let primary = upstream(json).await;
        let candidate = upstream(json).await;
        let mut cfg = shadow_http::proxy::Config::from_toml_str(
            "[[routes]]\nname = \"t::metrics\"\n",
            "t.toml",
        )
        .unwrap();
        cfg.listen = "127.0.0.1:0".parse().unwrap();
        cfg.admin = Some("127.0.0.1:0".parse().unwrap());
        cfg.primary = Some(primary.url());
        cfg.candidate = Some(candidate.url());
        let proxy = shadow_http::proxy::Proxy::start(cfg).await.unwrap();
        let admin = proxy.admin_addr().unwrap();
        let c = client();
        for i in 0..3 {
            send(&c, get(proxy.addr(), &format!("/p/{i}"))).await;
        }
        idle().await;
        let health = send(&c, get(admin, "/health")).await;
        assert_eq!((health.status, &health.body[..]), (200, &b"ok\n"[..]));
        let m = send(&c, get(admin, "/metrics")).await;
        let text = String::from_utf8(m.body.to_vec()).unwrap();
        assert!(
            text.lines()
                .any(|l| l.starts_with("parallel_run_outcomes_total{")
                    && l.contains("experiment=\"t::metrics\"")
                    && l.contains("outcome=\"match\"")
                    && l.ends_with(" 3")),
            "{text}"
        );
        let routes: serde_json::Value =
            serde_json::from_slice(&send(&c, get(admin, "/routes")).await.body).unwrap();
        assert_eq!(routes[0]["experiment"], "t::metrics");
        assert_eq!(routes[0]["mirrored"], 3);
        proxy.shutdown().await;
    });
}

#[test]
fn a_graceful_shutdown_waits_for_the_candidates_and_flushes_the_log() {
    run(async {
        let dir = std::env::temp_dir().join(format!("shadow-http-shutdown-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("proxy.jsonl");
        let _ = std::fs::remove_file(&log);
        let primary = upstream(json).await;
        let candidate = upstream(|req: Request<Incoming>| async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let path = req.uri().path().to_owned();
            response(
                200,
                &[("content-type", "application/json"), ("x-version", "2")],
                price(&path),
            )
        })
        .await;
        let mut cfg = shadow_http::proxy::Config::from_toml_str(
            "[[routes]]\nname = \"t::shutdown\"\n",
            "t.toml",
        )
        .unwrap();
        cfg.listen = "127.0.0.1:0".parse().unwrap();
        cfg.primary = Some(primary.url());
        cfg.candidate = Some(candidate.url());
        cfg.log = Some(log.clone());
        let proxy = shadow_http::proxy::Proxy::start(cfg).await.unwrap();
        let c = client();
        for i in 0..4 {
            send(&c, get(proxy.addr(), &format!("/p/{i}"))).await;
        }
        // The candidates are still sleeping: the shutdown waits for them.
        let summary = proxy.shutdown().await;
        assert!(
            summary.requests_drained && summary.candidates_drained,
            "{summary}"
        );
        let s = accounted("t::shutdown");
        assert_eq!(
            (count(&s, Outcome::Mismatch), s.in_flight),
            (4, 0),
            "{:?}",
            s.counts
        );
        let text = std::fs::read_to_string(&log).unwrap();
        let lines = text
            .lines()
            .filter(|l| {
                l.contains("\"experiment\":\"t::shutdown\"")
                    && l.contains("\"kind\":\"discrepancy\"")
            })
            .count();
        assert_eq!(lines, 4, "{text}");
        assert!(
            text.lines().any(|l| l.contains("\"kind\":\"summary\"")),
            "{text}"
        );
        assert!(
            summary
                .to_string()
                .contains("t::shutdown: calls 4, shadowed 4"),
            "{summary}"
        );
    });
}

#[test]
fn an_unreachable_primary_is_a_502_of_the_proxy_and_not_compared() {
    run(async {
        let candidate = upstream(json).await;
        // A port that was just free: nothing listens there.
        let dead = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let primary = Upstream {
            addr: dead,
            connections: Arc::new(AtomicU64::new(0)),
            requests: Arc::new(AtomicU64::new(0)),
        };
        let proxy = proxy(
            "[[routes]]\nname = \"t::dead_primary\"\n",
            &primary,
            &candidate,
        )
        .await;
        let seen = send(&client(), get(proxy.addr(), "/p/1")).await;
        assert_eq!(seen.status, 502);
        idle().await;
        let s = accounted("t::dead_primary");
        assert_eq!(count(&s, Outcome::Cancelled), 1, "{:?}", s.counts);
        assert_eq!(
            shadow_http::route::stats("t::dead_primary")
                .unwrap()
                .not_compared(NotCompared::PrimaryError),
            1
        );
        assert_eq!(candidate.requests.load(Relaxed), 0);
        proxy.shutdown().await;
    });
}

#[test]
fn a_bad_config_file_is_an_error_naming_the_file_the_line_and_the_key() {
    let dir = std::env::temp_dir().join(format!("shadow-http-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("parallel-run.toml");
    std::fs::write(&path, "[proxy]\nprimary = \"http://127.0.0.1:1\"\n\n[[routes]]\nname = \"a\"\nmax_in_flight = 0\n").unwrap();
    let e = shadow_http::proxy::Config::from_toml_file(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:6: routes[0].max_in_flight: `0` is not a positive integer",
            path.display()
        )
    );
}
