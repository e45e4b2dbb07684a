//! The proxy demo: a legacy pricing API and its rewrite, two real HTTP services on 127.0.0.1,
//! with `parallel-run`'s proxy in front. A bounded client loop sends 3,000 requests through the
//! proxy; every answer is checked against what the legacy service computes on its own. Then the
//! demo prints what the proxy saw per route (match rate, the noise it learned, sheds, the top
//! differences) and the `parallel-run report` over its discrepancy log.
//!
//! ```sh
//! cargo run -p shadow-http --example proxy_demo
//! ```
//!
//! The rewrite has two subtle bugs, each on a share of the calls:
//!
//! - `GET /v1/products/{sku}`: the short name is cut to 28 *bytes* where the legacy service
//!   cuts it to 28 *characters*: only long names with accents or other non-ASCII letters differ.
//! - `GET /v1/quote/{sku}?at=...`: a quote is valid through the customer's local day in Berlin;
//!   the rewrite applies the winter offset (+01:00) all year, so only quotes made in summer
//!   between 22:00 and 23:00 UTC get the wrong day.
//!
//! Both services stamp every answer with a new `request_id` and the time (`quoted_at`, ms): the
//! proxy learns these as noise by asking the legacy service twice on 5% of the requests (and on
//! each not explained yet), as Diffy does, so they never count as mismatches. `POST /v1/orders`
//! is not mirrored: writes are never sent to the rewrite unless a route opts in.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use shadow_runtime::Outcome;

const REQUESTS: u64 = 3_000;
const CONNECTIONS: u64 = 16;
/// The client's rate (open loop: request `i` is sent at `i / RATE` s): a service with room to
/// spare, as production services are; a saturated one would shed most of its shadow work (the
/// shadow lane runs at the lowest OS priority), and say so.
const RATE: u64 = 1_000;

const CONFIG: &str = r#"
[proxy]
max_body = "256KiB"

[defaults]
sample = "100%"
timeout = "2s"
max_in_flight = 256

[[routes]]
name = "pricing::quote"
methods = ["GET"]
pattern = "/v1/quote/*"
sample_by = "query:customer"
noise = 0.05

[[routes]]
name = "pricing::product"
methods = ["GET"]
path = "/v1/products"
noise = 0.05

[routes.compare]
trim = ["$.body.name"]

[[routes]]
name = "pricing::orders"
path = "/v1/orders"
"#;

/// The catalogue: (sku, name, cents).
const PRODUCTS: [(&str, &str, u64); 8] = [
    ("A100", "Espresso beans 1kg", 1_890),
    ("A200", "Schwarzwälder Kirschtorte (ganz)", 3_450),
    ("A300", "Crème brûlée à l'ancienne, 6 pots", 1_275),
    ("A400", "Green tea, loose leaf", 990),
    ("A500", "Ωmega-3 Fischöl Kapseln, 120 Stück", 2_199),
    ("A600", "Oat milk 6x1l", 1_140),
    ("A700", "Smørrebrød mix, 12 pieces", 2_480),
    ("A800", "Dark chocolate 85%", 349),
];

static IDS: AtomicU64 = AtomicU64::new(0x5eed);

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Civil date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    shadow_runtime::cutover::days_from_civil(y, m, d)
}

/// The last Sunday of a month, as a day count.
fn last_sunday(y: i64, m: u32) -> i64 {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let last = days_from_civil(ny, nm, 1) - 1;
    // 1970-01-01 was a Thursday: weekday 0 = Thursday, so Sunday is 3.
    last - (last - 3).rem_euclid(7)
}

/// Berlin's UTC offset in hours at `t` (seconds since the epoch): +2 from the last Sunday of
/// March 01:00 UTC to the last Sunday of October 01:00 UTC, else +1.
fn berlin_offset(t: i64) -> i64 {
    let (y, _, _) = civil(t.div_euclid(86_400));
    let start = last_sunday(y, 3) * 86_400 + 3_600;
    let end = last_sunday(y, 10) * 86_400 + 3_600;
    if (start..end).contains(&t) {
        2
    } else {
        1
    }
}

/// The customer's local date in Berlin: a quote is valid through it.
fn valid_until(t: i64, offset_h: i64) -> String {
    let local = t + offset_h * 3_600;
    let (y, m, d) = civil(local.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

fn product(sku: &str) -> Option<(&'static str, &'static str, u64)> {
    PRODUCTS.iter().copied().find(|(s, _, _)| *s == sku)
}

fn query<'a>(q: Option<&'a str>, key: &str) -> Option<&'a str> {
    q?.split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// The legacy service's answer, but for the noise (request id, time).
fn legacy_fields(path: &str, q: Option<&str>) -> Option<(u16, serde_json::Value)> {
    answer(path, q, false)
}

fn answer(path: &str, q: Option<&str>, rewrite: bool) -> Option<(u16, serde_json::Value)> {
    if let Some(sku) = path.strip_prefix("/v1/products/") {
        let (sku, name, cents) = product(sku)?;
        let short = if rewrite {
            // The bug: 28 bytes (at a character boundary), not 28 characters.
            let mut end = name.len().min(28);
            while !name.is_char_boundary(end) {
                end -= 1;
            }
            name[..end].to_owned()
        } else {
            name.chars().take(28).collect()
        };
        return Some((
            200,
            serde_json::json!({ "sku": sku, "name": name, "short_name": short, "cents": cents }),
        ));
    }
    if let Some(sku) = path.strip_prefix("/v1/quote/") {
        let (sku, _, cents) = product(sku)?;
        let qty: u64 = query(q, "qty").and_then(|v| v.parse().ok()).unwrap_or(1);
        let at: i64 = query(q, "at").and_then(|v| v.parse().ok()).unwrap_or(0);
        let offset = if rewrite { 1 } else { berlin_offset(at) };
        let total = cents * qty;
        return Some((
            200,
            serde_json::json!({
                "sku": sku, "qty": qty, "unit_cents": cents, "total_cents": total,
                "currency": "EUR", "valid_until": valid_until(at, offset),
            }),
        ));
    }
    None
}

async fn service(
    req: Request<Incoming>,
    rewrite: bool,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, mut body) = match (req.method().as_str(), req.uri().path()) {
        ("POST", "/v1/orders") => (201, serde_json::json!({ "order": "accepted" })),
        (_, path) => answer(path, req.uri().query(), rewrite)
            .unwrap_or((404, serde_json::json!({ "error": "not found" }))),
    };
    let id = IDS.fetch_add(1, Relaxed);
    if let Some(o) = body.as_object_mut() {
        o.insert(
            "request_id".into(),
            format!("{:016x}", shadow_runtime::sticky::key_hash(&id, 7)).into(),
        );
        o.insert("quoted_at".into(), now_ms().into());
    }
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
    let h = r.headers_mut();
    h.insert("content-type", "application/json".parse().unwrap());
    h.insert(
        "server",
        if rewrite {
            "pricing-rs/2.0"
        } else {
            "legacy-pricing/1.4"
        }
        .parse()
        .unwrap(),
    );
    h.insert("x-request-id", id.to_string().parse().unwrap());
    Ok(r)
}

async fn start(rewrite: bool) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| service(req, rewrite));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// Request `i` of the run: 45% quotes (at times spread over a summer evening and a winter one),
/// 45% product pages, 10% orders.
fn request(i: u64, proxy: SocketAddr) -> Request<Full<Bytes>> {
    let sku = PRODUCTS[(i % PRODUCTS.len() as u64) as usize].0;
    match i % 20 {
        0 | 1 => Request::post(format!("http://{proxy}/v1/orders"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(format!(
                r#"{{"sku":"{sku}","qty":1}}"#
            ))))
            .unwrap(),
        n if n % 2 == 0 => {
            // 2026-07-14 20:00 UTC (summer) or 2026-01-14 20:00 UTC (winter), plus up to 4 h.
            let base = if (i / 20) % 2 == 0 {
                1_784_059_200
            } else {
                1_768_420_800
            };
            let at = base + ((i * 7_919) % 14_400) as i64;
            Request::get(format!(
                "http://{proxy}/v1/quote/{sku}?qty={}&at={at}&customer=c{}",
                1 + i % 5,
                i % 97
            ))
            .body(Full::new(Bytes::new()))
            .unwrap()
        }
        _ => Request::get(format!("http://{proxy}/v1/products/{sku}"))
            .body(Full::new(Bytes::new()))
            .unwrap(),
    }
}

fn main() {
    let services = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let (legacy, rewrite) = services.block_on(async { (start(false).await, start(true).await) });

    let log = std::path::PathBuf::from("target/parallel-run/proxy_demo.jsonl");
    let _ = std::fs::create_dir_all("target/parallel-run");
    let _ = std::fs::remove_file(&log);
    let mut config = shadow_http::proxy::Config::from_toml_str(CONFIG, "proxy_demo.toml")
        .expect("the demo's config");
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.admin = Some("127.0.0.1:0".parse().unwrap());
    config.primary = Some(format!("http://{legacy}"));
    config.candidate = Some(format!("http://{rewrite}"));
    config.log = Some(log.clone());

    let proxy_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let proxy = proxy_rt
        .block_on(shadow_http::proxy::Proxy::start(config))
        .expect("the proxy starts");
    let addr = proxy.addr();
    println!("parallel-run proxy demo: legacy pricing at {legacy}, its rewrite at {rewrite}, the proxy at {addr} (admin {})", proxy.admin_addr().unwrap());

    // The client: CONNECTIONS keep-alive connections, REQUESTS in all, each answer checked.
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let t0 = Instant::now();
    let (differing, errors, statuses) = client_rt.block_on(async move {
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .build_http::<Full<Bytes>>();
        let t0 = tokio::time::Instant::now();
        let tasks: Vec<_> = (0..CONNECTIONS)
            .map(|c| {
                let client = client.clone();
                tokio::spawn(async move {
                    let (mut differing, mut errors, mut statuses) = (0u64, 0u64, [0u64; 3]);
                    let mut i = c;
                    while i < REQUESTS {
                        tokio::time::sleep_until(t0 + Duration::from_micros(i * 1_000_000 / RATE))
                            .await;
                        let req = request(i, addr);
                        let (path, q) = (
                            req.uri().path().to_owned(),
                            req.uri().query().map(str::to_owned),
                        );
                        let post = req.method() == http::Method::POST;
                        match client.request(req).await {
                            Ok(resp) => {
                                let status = resp.status().as_u16();
                                statuses[usize::from(status == 201)
                                    + 2 * usize::from(status >= 400)] += 1;
                                let body = resp
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                let mut got: serde_json::Value =
                                    serde_json::from_slice(&body).unwrap_or_default();
                                if let Some(o) = got.as_object_mut() {
                                    o.remove("request_id");
                                    o.remove("quoted_at");
                                }
                                let want = if post {
                                    Some((201, serde_json::json!({ "order": "accepted" })))
                                } else {
                                    legacy_fields(&path, q.as_deref())
                                };
                                if want != Some((status, got)) {
                                    differing += 1;
                                }
                            }
                            Err(_) => errors += 1,
                        }
                        i += CONNECTIONS;
                    }
                    (differing, errors, statuses)
                })
            })
            .collect();
        let mut out = (0, 0, [0u64; 3]);
        for t in tasks {
            let (d, e, s) = t.await.expect("a client task");
            out.0 += d;
            out.1 += e;
            for (total, n) in out.2.iter_mut().zip(s) {
                *total += n;
            }
        }
        out
    });
    let took = t0.elapsed();
    let summary = proxy_rt.block_on(proxy.shutdown());
    println!(
        "{REQUESTS} requests at {RATE}/s in {:.2} s over {CONNECTIONS} connections: {} ok, {} created, {} errors; answers that differ from the legacy service's own: {differing}, failed requests: {errors}\n",
        took.as_secs_f64(),
        statuses[0],
        statuses[1],
        statuses[2]
    );
    let mut bad = differing + errors;
    for (snap, counts) in &summary.routes {
        let Some(s) = snap else { continue };
        let rate = s
            .match_rate()
            .map_or("-".into(), |r| format!("{:.2}%", r * 100.0));
        println!(
            "route {}  (env PARALLEL_RUN__{})",
            s.name,
            shadow_runtime::config::env_var_name(s.name).trim_start_matches("PARALLEL_RUN__")
        );
        println!(
            "  calls {}  shadowed {}  match {}  noise {}  mismatch {}  filtered (writes not mirrored) {}  shed {}  timeout {}  lost {}",
            s.calls(),
            s.shadowed,
            s.counts.get(Outcome::Match),
            s.counts.get(Outcome::Noise),
            s.counts.get(Outcome::Mismatch),
            s.counts.get(Outcome::Filtered),
            s.counts.get(Outcome::Shed),
            s.counts.get(Outcome::Timeout),
            s.lost()
        );
        if s.shadowed > 0 {
            println!("  match rate {rate}  (shed: max_in_flight {}, lane queue {}, lane budget {}, late {})", s.shed.max_in_flight, s.shed.lane_queue, s.shed.lane_budget, s.shed.late);
        }
        if let Some(h) = counts {
            let nc: Vec<String> = h
                .not_compared
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(r, n)| format!("{} {n}", r.as_str()))
                .collect();
            if !nc.is_empty() {
                println!("  not compared: {}", nc.join(", "));
            }
        }
        if !s.noisy_paths.is_empty() {
            let paths: Vec<String> = s
                .noisy_paths
                .iter()
                .map(|(p, n)| match s.noise_clocks.iter().find(|(c, _)| c == p) {
                    Some((_, gap)) => format!("{p} (a clock, gap up to {gap:?}, seen {n}x)"),
                    None => format!("{p} (seen {n}x)"),
                })
                .collect();
            println!(
                "  noise learned ({} second runs of the legacy service, {} to confirm): {}",
                s.noise_runs,
                s.noise_confirmations,
                paths.join(", ")
            );
        }
        // The top differences, by the paths that are not noise (a real difference's diff also
        // lists the noisy paths next to it).
        let noisy = |p: &str| {
            s.noisy_paths
                .iter()
                .any(|(n, _)| *n == shadow_runtime::publish::path_pattern(p))
        };
        let mut groups: Vec<(String, u64, String)> = Vec::new();
        for d in &s.discrepancies {
            let real: Vec<&str> = d
                .detail
                .lines()
                .filter(|l| {
                    shadow_runtime::publish::diff_paths(l)
                        .first()
                        .is_some_and(|p| !noisy(p))
                })
                .collect();
            let sig = real
                .iter()
                .flat_map(|l| shadow_runtime::publish::diff_paths(l))
                .map(shadow_runtime::publish::path_pattern)
                .collect::<Vec<_>>()
                .join(", ");
            match groups.iter_mut().find(|g| g.0 == sig) {
                Some(g) => g.1 += 1,
                None => groups.push((sig, 1, real.join("; "))),
            }
        }
        groups.sort_by_key(|g| std::cmp::Reverse(g.1));
        for (sig, n, example) in groups.iter().take(3) {
            println!(
                "  top difference: {sig}  ({n} of the {} retained), e.g. {example}",
                s.discrepancies.len()
            );
        }
        if s.lost() != 0 {
            bad += 1;
        }
        println!();
    }
    println!("the discrepancy log: {}\n", log.display());
    println!("$ parallel-run report {}", log.display());
    let code = shadow_cli::run(
        [
            "report".into(),
            "--top".into(),
            "2".into(),
            log.clone().into_os_string(),
        ],
        &mut std::io::stdout().lock(),
        &mut std::io::stderr(),
    );
    drop(services);
    if bad > 0 || code > 1 {
        eprintln!("FAIL: {differing} answers differ from the legacy service's, {errors} failed, report exit {code}");
        std::process::exit(1);
    }
}
