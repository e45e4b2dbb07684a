//! The proxy's route file read from a path is the runtime's configuration file: its experiment
//! keys outrank a route's environment variable and are re-read when the file changes, a bad edit
//! keeps the last good settings. In a test binary of its own: the watched file is process-wide.

mod common;

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use common::*;
use shadow_runtime::Outcome;

fn json(
    req: http::Request<hyper::body::Incoming>,
) -> impl std::future::Future<Output = http::Response<UpBody>> {
    let path = req.uri().path().to_owned();
    async move { response(200, &[("content-type", "application/json")], price(&path)) }
}

/// Sends one request, waits for its candidate, and returns the route's outcome counts.
async fn one(c: &TestClient, proxy: std::net::SocketAddr, i: u32) -> (u64, u64) {
    send(c, get(proxy, &format!("/p/{i}"))).await;
    idle().await;
    let s = accounted("f::quote");
    (count(&s, Outcome::Match), count(&s, Outcome::Disabled))
}

/// Rewrites the file so that its length changes too (the watcher compares length, time and
/// inode; two writes in one second of a coarse clock still differ in length).
fn write(path: &std::path::Path, sample: &str, pad: usize) {
    let text = format!(
        "[[routes]]\nname = \"f::quote\"\npath = \"/p\"\nsample = {sample}\n{}\n",
        "#".repeat(pad)
    );
    std::fs::write(path, text).unwrap();
}

#[test]
fn the_route_file_outranks_the_environment_and_is_re_read_when_it_changes() {
    // The environment says off; the file says every request.
    std::env::set_var("PARALLEL_RUN__F__QUOTE", "sample=0");
    let dir = std::env::temp_dir().join(format!("parallel-run-route-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("parallel-run.toml");
    write(&path, "1.0", 1);
    run(async move {
        let primary = upstream(json).await;
        let candidate = upstream(json).await;
        let mut cfg = shadow_http::proxy::Config::from_toml_file(&path).unwrap();
        cfg.listen = "127.0.0.1:0".parse().unwrap();
        cfg.primary = Some(primary.url());
        cfg.candidate = Some(candidate.url());
        cfg.drain = Duration::from_secs(5);
        let proxy = shadow_http::proxy::Proxy::start(cfg).await.unwrap();
        let c = client();
        assert_eq!(one(&c, proxy.addr(), 0).await, (1, 0), "the file wins");

        // The operator turns the route off in the file: applied within seconds, no restart.
        write(&path, "0", 2);
        let mut i = 1;
        loop {
            let (matched, disabled) = one(&c, proxy.addr(), i).await;
            if disabled > 0 {
                assert_eq!(
                    matched, i as u64,
                    "every request before the change was shadowed"
                );
                break;
            }
            assert!(i < 100, "the file's change was not applied in 10 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
            i += 1;
        }
        let seen = candidate.requests.load(Relaxed);

        // A bad edit changes nothing: the route stays off (the last good file).
        std::fs::write(&path, "[[routes]]\nname = \"f::quote\"\nsampel = 1.0\n").unwrap();
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let (_, disabled) = one(&c, proxy.addr(), 1_000).await;
        assert!(disabled >= 2);
        assert_eq!(
            candidate.requests.load(Relaxed),
            seen,
            "a bad file turned the route on"
        );
        proxy.shutdown().await;
    });
}
