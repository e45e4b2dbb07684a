//! One instance of a small service for the fleet-wide gate's end-to-end run
//! (`scripts/fleet-e2e.sh`): it calls an annotated function at a steady rate, exports the
//! library's metrics for Prometheus, and says what its promotion gate sees.
//!
//! ```text
//! PARALLEL_RUN_CONFIG=fleet.toml cargo run --example fleet_service -- --port 9101 --name a \
//!     --rate 400 --regress-file /tmp/regress
//! ```
//!
//! - `GET /metrics`: the Prometheus text format (`metrics-exporter-prometheus`, no listener of
//!   its own: this server renders it).
//! - `GET /state`: the experiment's summary line (`publish::summary_json`: gate, gate source,
//!   the fleet's last reading, ramp, served calls) with `instance`, `compared` (this
//!   instance's compared calls so far), `wrong_served` (wrong answers callers got from the
//!   regressed rewrite while it served) and `at_ms`.
//!
//! The function `fleet::quote` has a candidate that agrees with it until the file named by
//! `--regress-file` exists: then one call in five disagrees (the rewrite regressed), until the
//! file is removed. Calls are sampled sticky by key (`sample_by`), so with the same
//! configuration file every instance decides a key the same way. Everything else (the ramp, the
//! gate, its source) comes from the configuration file that `PARALLEL_RUN_CONFIG` names.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parallel_run::{parallel_run, Outcome};
use tracing_subscriber::prelude::*;

static REGRESSED: AtomicBool = AtomicBool::new(false);
/// Wrong answers callers got: the regressed rewrite serving its share of the ramp.
static WRONG: AtomicU64 = AtomicU64::new(0);

/// The legacy quote.
#[parallel_run(candidate = quote_v2, mode = inline, sample_by = key, name = "fleet::quote")]
fn quote(key: u64) -> u64 {
    key * 3 + 1
}

/// The rewrite: right, unless it regressed.
fn quote_v2(key: u64) -> u64 {
    if REGRESSED.load(Relaxed) && key % 5 == 0 {
        key * 3
    } else {
        key + key + key + 1
    }
}

struct Args {
    port: u16,
    name: String,
    rate: u64,
    regress_file: Option<std::path::PathBuf>,
}

fn args() -> Args {
    let mut a = Args {
        port: 9101,
        name: "a".into(),
        rate: 400,
        regress_file: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => a.port = value.parse().expect("--port N"),
            "--name" => a.name = value,
            "--rate" => a.rate = value.parse().expect("--rate calls/s"),
            "--regress-file" => a.regress_file = Some(value.into()),
            _ => panic!("unknown flag {flag} (--port, --name, --rate, --regress-file)"),
        }
    }
    a
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn state(name: &str) -> String {
    let Some(s) = parallel_run::snapshot::experiment("fleet::quote") else {
        return format!(r#"{{"instance":"{name}","gate":null}}"#);
    };
    let compared: u64 = [
        Outcome::Match,
        Outcome::Acceptable,
        Outcome::Ignored,
        Outcome::Noise,
        Outcome::Mismatch,
        Outcome::CandidatePanic,
        Outcome::Timeout,
        Outcome::WriteRefused,
    ]
    .iter()
    .map(|o| s.counts.get(*o))
    .sum();
    let mut line = parallel_run::publish::summary_json(&s);
    line["instance"] = name.into();
    line["compared"] = compared.into();
    line["wrong_served"] = WRONG.load(Relaxed).into();
    line["at_ms"] = now_ms().into();
    line.to_string()
}

fn main() {
    let args = args();
    // The library's lines (the gate opening, refusing, Prometheus unreachable), not the one per
    // discrepancy.
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(tracing_subscriber::EnvFilter::new("parallel_run=info"))
                .with_filter(tracing_subscriber::filter::filter_fn(|m| {
                    m.fields().field("outcome").is_none()
                })),
        )
        .try_init();
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("the only recorder");

    if let Some(file) = args.regress_file.clone() {
        std::thread::spawn(move || loop {
            REGRESSED.store(file.exists(), Relaxed);
            std::thread::sleep(Duration::from_millis(100));
        });
    }
    let rate = args.rate.max(1);
    std::thread::spawn(move || {
        let start = Instant::now();
        for i in 0u64.. {
            // Keys repeat across instances: sticky sampling decides each one alike everywhere.
            let key = i % 100_000;
            if quote(key) != key * 3 + 1 {
                WRONG.fetch_add(1, Relaxed);
            }
            let due = start + Duration::from_micros(i * 1_000_000 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    });

    let listener = TcpListener::bind(("127.0.0.1", args.port)).expect("the port");
    eprintln!(
        "fleet_service {} on 127.0.0.1:{} ({} calls/s)",
        args.name, args.port, rate
    );
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        let mut line = String::new();
        let mut reader = BufReader::new(match conn.try_clone() {
            Ok(c) => c,
            Err(_) => continue,
        });
        if reader.read_line(&mut line).is_err() {
            continue;
        }
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).map_or(true, |n| n == 0) || h == "\r\n" {
                break;
            }
        }
        let (status, kind, body) = match line.split_whitespace().nth(1) {
            Some("/metrics") => {
                metrics.run_upkeep();
                ("200 OK", "text/plain; version=0.0.4", metrics.render())
            }
            Some("/state") => ("200 OK", "application/json", state(&args.name)),
            _ => (
                "404 Not Found",
                "text/plain",
                "try /metrics or /state\n".into(),
            ),
        };
        let _ = write!(
            conn,
            "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }
}
