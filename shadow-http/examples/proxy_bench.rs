//! The speed benchmark's two halves (driven by `shadow-http/bench/load.sh`):
//!
//! - `serve --role ROLE --listen ADDR`: a pricing service on loopback. `primary` and `identical`
//!   spend about 50 µs of CPU per request and answer the same JSON; `slow` answers the same
//!   after sleeping 50 ms; `cpu50` spends 50x the CPU (2.5 ms) first; `hang` never answers.
//! - `load --target ADDR --rps N --connections C --seconds S`: an open-loop client: request `i`
//!   is due at `i / N` seconds, spread over `C` keep-alive connections; latency is measured from
//!   when a request was due (a slow answer delays the ones behind it on its connection, and that
//!   shows), so there is no coordinated omission. Prints one line: offered, answered, errors,
//!   throughput, p50, p99, p999 (µs).
//!
//! ```sh
//! cargo run --release -p shadow-http --example proxy_bench -- serve --role primary --listen 127.0.0.1:9001
//! cargo run --release -p shadow-http --example proxy_bench -- load --target 127.0.0.1:9001 --rps 2000 --connections 64 --seconds 15
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

/// Six dependent multiply/xor/rotate rounds per step, as the overhead bench's function.
fn work(x: u64, steps: u64) -> u64 {
    let mut h = x ^ 0x9E37_79B9_7F4A_7C15;
    for i in 0..steps {
        h = (h ^ i).wrapping_mul(0xBF58_476D_1CE4_E5B9).rotate_left(17);
    }
    std::hint::black_box(h)
}

/// Steps of [`work`] in one microsecond on this machine.
fn steps_per_us() -> u64 {
    let t = Instant::now();
    work(1, 20_000_000);
    (20_000_000.0 / t.elapsed().as_micros().max(1) as f64) as u64
}

async fn handle(
    req: Request<Incoming>,
    role: &'static str,
    steps: u64,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let n: u64 = req
        .uri()
        .path()
        .rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    match role {
        "hang" => std::future::pending::<()>().await,
        "slow" => tokio::time::sleep(Duration::from_millis(50)).await,
        "cpu50" => {
            work(n, steps * 49);
        }
        _ => {}
    }
    let v = work(n, steps);
    let body = format!(
        r#"{{"item":{n},"cents":{},"currency":"EUR","check":"{v:016x}"}}"#,
        1000 + n % 977
    );
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    Ok(r)
}

fn serve(role: &'static str, listen: SocketAddr) {
    let steps = steps_per_us() * 50;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await.expect("bind");
        eprintln!("serving {role} on {listen} ({steps} steps = 50 us)");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| handle(req, role, steps));
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
}

/// One connection's share of the schedule.
async fn connection(
    target: SocketAddr,
    c: u64,
    conns: u64,
    rps: u64,
    total: u64,
    t0: tokio::time::Instant,
    end: tokio::time::Instant,
) -> (Vec<(u64, u64)>, u64, u64) {
    let mut lat = Vec::new();
    let (mut errors, mut offered) = (0u64, 0u64);
    let mut sender = None;
    let mut i = c;
    while i < total {
        let due = t0 + Duration::from_nanos(i * 1_000_000_000 / rps);
        tokio::time::sleep_until(due).await;
        offered += 1;
        if sender.is_none() {
            let Ok(stream) = tokio::net::TcpStream::connect(target).await else {
                errors += 1;
                i += conns;
                continue;
            };
            let _ = stream.set_nodelay(true);
            match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
                Ok((s, conn)) => {
                    tokio::spawn(conn);
                    sender = Some(s);
                }
                Err(_) => {
                    errors += 1;
                    i += conns;
                    continue;
                }
            }
        }
        let s = sender.as_mut().expect("connected above");
        let req = Request::get(format!("/price/{i}"))
            .header("host", "bench")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let answer = tokio::time::timeout_at(end, async {
            let resp = s.send_request(req).await.ok()?;
            let ok = resp.status().is_success();
            let body = resp.into_body().collect().await.ok()?;
            (ok && !body.to_bytes().is_empty()).then_some(())
        })
        .await;
        match answer {
            Ok(Some(())) => lat.push((
                (due - t0).as_nanos() as u64,
                due.elapsed().as_nanos() as u64,
            )),
            Ok(None) => {
                errors += 1;
                sender = None;
            }
            // Past the run's end (and its grace): the rest of this connection's schedule is
            // offered and unanswered.
            Err(_) => {
                let rest = (total - i).div_ceil(conns) - 1;
                return (lat, errors + rest + 1, offered + rest);
            }
        }
        i += conns;
    }
    (lat, errors, offered)
}

/// The time from the schedule's start to its last answer, in seconds (latencies are paired with
/// due times: the latest `due + latency`), at least the schedule's length.
fn lat_end(lat: &[(u64, u64)], seconds: u64) -> f64 {
    let end_ns = lat.iter().map(|(due, l)| due + l).max().unwrap_or(0);
    (end_ns as f64 / 1e9).max(seconds as f64)
}

fn load(target: SocketAddr, rps: u64, conns: u64, seconds: u64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let total = rps * seconds;
        let t0 = tokio::time::Instant::now() + Duration::from_millis(100);
        let end = t0 + Duration::from_secs(seconds + 5);
        let tasks: Vec<_> = (0..conns).map(|c| tokio::spawn(connection(target, c, conns, rps, total, t0, end))).collect();
        let (mut lat, mut errors, mut offered): (Vec<(u64, u64)>, u64, u64) = (Vec::new(), 0, 0);
        for t in tasks {
            let (l, e, o) = t.await.expect("a connection task");
            lat.extend(l);
            errors += e;
            offered += o;
        }
        let elapsed = t0.elapsed().as_secs_f64();
        // The run lasts until its last answer: a server that falls behind answers the schedule
        // late, and its throughput is what it answered over that longer time.
        let last = lat_end(&lat, seconds);
        // PROXY_BENCH_SLOWEST=N: the N slowest answers with their due times, on standard error,
        // to see when a tail happens (at a candidate's timeout, at the start, ...).
        if let Some(n) = std::env::var("PROXY_BENCH_SLOWEST").ok().and_then(|n| n.parse::<usize>().ok()) {
            let mut by = lat.clone();
            by.sort_unstable_by_key(|(_, l)| std::cmp::Reverse(*l));
            for (due, l) in by.iter().take(n) {
                eprintln!("slow: due {:.3} s, latency {:.1} ms", *due as f64 / 1e9, *l as f64 / 1e6);
            }
        }
        let mut lat: Vec<u64> = lat.into_iter().map(|(_, l)| l).collect();
        lat.sort_unstable();
        let pct = |p: f64| lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).map_or(0.0, |n| *n as f64 / 1_000.0);
        // Throughput over the schedule's length: answers per second of the offered period.
        let answered = lat.len() as u64;
        println!(
            "offered {offered} answered {answered} errors {errors} rps {:.1} p50_us {:.0} p99_us {:.0} p999_us {:.0} elapsed_s {elapsed:.2}",
            answered as f64 / last,
            pct(0.50),
            pct(0.99),
            pct(0.999)
        );
    });
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let need = |flag: &str| get(flag).unwrap_or_else(|| panic!("{flag} is required"));
    match args.first().map(String::as_str) {
        Some("serve") => {
            let role: &'static str = match need("--role").as_str() {
                "primary" => "primary",
                "identical" => "identical",
                "slow" => "slow",
                "cpu50" => "cpu50",
                "hang" => "hang",
                other => panic!("unknown role {other}"),
            };
            serve(role, need("--listen").parse().expect("an address"));
        }
        Some("load") => load(
            need("--target").parse().expect("an address"),
            need("--rps").parse().expect("a rate"),
            need("--connections").parse().expect("a number"),
            need("--seconds").parse().expect("a number"),
        ),
        _ => eprintln!("usage: proxy_bench serve --role ROLE --listen ADDR | load --target ADDR --rps N --connections C --seconds S"),
    }
}
