//! The fleet-wide promotion gate (`gate_source = "prometheus"`, feature `fleet-gate`) against a
//! real HTTP server on 127.0.0.1: a small fake Prometheus answering `/api/v1/query` with numbers
//! the test sets. The gate opens when the fleet's numbers meet the criteria (whatever this
//! process measured), refuses while there are too few, falls back on a measured drop, and refuses
//! with one warning while the server does not answer, opening again when it does.
//!
//! The configuration file is found once per process: this binary holds one test, which sets it
//! before the first call.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parallel_run::cutover::GateStatus;
use parallel_run::{parallel_run, ExperimentSnapshot};

const NAME: &str = "fleet_gate::priced";

#[parallel_run(candidate = priced_v2, mode = inline, name = "fleet_gate::priced")]
fn priced(x: u64) -> u64 {
    x * 3
}

fn priced_v2(x: u64) -> u64 {
    x + x + x
}

/// What the fake server does with a query.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Answers the agreeing and the compared calls (`increase()` gives floats).
    Answer(f64, f64),
    /// HTTP 503, as a proxy in front of a Prometheus that is down.
    Unavailable,
    /// Reads the request and never answers (the client's timeout).
    Silent,
}

struct FakePrometheus {
    url: String,
    mode: Arc<Mutex<Mode>>,
    /// Every query asked: `(query, time)`.
    asked: Arc<Mutex<Vec<(String, String)>>>,
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

impl FakePrometheus {
    fn start() -> FakePrometheus {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mode = Arc::new(Mutex::new(Mode::Answer(0.0, 0.0)));
        let asked = Arc::new(Mutex::new(Vec::new()));
        let (m, a) = (mode.clone(), asked.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let (m, a) = (m.clone(), a.clone());
                std::thread::spawn(move || Self::serve(conn.unwrap(), &m, &a));
            }
        });
        FakePrometheus { url, mode, asked }
    }

    fn serve(conn: TcpStream, mode: &Mutex<Mode>, asked: &Mutex<Vec<(String, String)>>) {
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                break;
            }
        }
        // GET /api/v1/query?query=...&time=... HTTP/1.1
        let target = line.split_whitespace().nth(1).unwrap_or("");
        let (path, params) = target.split_once('?').unwrap_or((target, ""));
        let param = |k: &str| {
            params
                .split('&')
                .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                .map(unescape)
                .unwrap_or_default()
        };
        let (query, time) = (param("query"), param("time"));
        asked.lock().unwrap().push((query.clone(), time));
        let m = *mode.lock().unwrap();
        let (status, body) = match m {
            _ if path != "/api/v1/query" => ("404 Not Found", "not here".to_owned()),
            Mode::Silent => {
                std::thread::sleep(Duration::from_secs(5));
                return;
            }
            Mode::Unavailable => ("503 Service Unavailable", "down for maintenance".to_owned()),
            Mode::Answer(good, compared) => {
                let v = if query.contains("mismatch") {
                    compared
                } else {
                    good
                };
                (
                    "200 OK",
                    format!(
                        r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{}},"value":[1700000000,"{v}"]}}]}}}}"#
                    ),
                )
            }
        };
        let mut conn = conn;
        let _ = write!(
            conn,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }

    fn set(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }
}

/// Calls `priced` from a thread until dropped, checking every result.
struct Traffic {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Traffic {
    fn start() -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut i = 0u64;
            while !s.load(Relaxed) {
                assert_eq!(priced(i), i * 3);
                i += 1;
                if i % 32 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        Traffic {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("the calls never failed");
        }
    }
}

fn snap() -> ExperimentSnapshot {
    parallel_run::snapshot::experiment(NAME).expect("called")
}

/// Waits (up to 10 s) until the snapshot satisfies `ok`.
fn eventually(what: &str, ok: impl Fn(&ExperimentSnapshot) -> bool) -> ExperimentSnapshot {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let s = parallel_run::snapshot::experiment(NAME);
        if let Some(s) = s.as_ref().filter(|s| ok(s)) {
            return s.clone();
        }
        assert!(Instant::now() < until, "never {what}: {s:#?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn config(url: &str, ramp: &str) -> String {
    format!(
        r#"
[prometheus]
url = "{url}"
refresh = "200ms"
max_age = "1s"
timeout = "300ms"

[experiments."{NAME}"]
ramp = "{ramp}"
min_match_rate = "95%"
min_samples = 100
gate_window = "1m"
gate_source = "prometheus"
"#
    )
}

fn outage_warnings(cap: &common::Capture) -> usize {
    cap.events()
        .iter()
        .filter(|e| e.level == tracing::Level::WARN && e.text.contains("no fresh reading"))
        .count()
}

#[test]
fn the_gate_follows_the_fleet_numbers_and_refuses_while_prometheus_is_silent() {
    let cap = common::capture();
    let prom = FakePrometheus::start();
    let dir = std::env::temp_dir().join(format!("pr-fleet-gate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("parallel-run.toml");
    std::fs::write(&file, config(&prom.url, "50%")).unwrap();
    std::env::set_var("PARALLEL_RUN_CONFIG", &file);
    std::env::remove_var("PARALLEL_RUN");

    // Too few compared calls across the fleet: refused, though every local call matches.
    prom.set(Mode::Answer(10.0, 10.0));
    let traffic = Traffic::start();
    let s = eventually("refused on the fleet's 10 samples", |s| {
        s.gate
            == GateStatus::Refused {
                rate: Some(1.0),
                samples: 10,
            }
    });
    assert_eq!(s.gate_source.as_str(), "prometheus");
    assert_eq!(s.ramp_effective, 0.0);
    let fleet = s.fleet.clone().expect("the fleet's reading");
    assert_eq!((fleet.reading, fleet.error), (Some((10, 10)), None));
    assert_eq!(fleet.max_age, Duration::from_secs(1));
    eventually("more than 100 local matches", |s| {
        s.counts.get(parallel_run::Outcome::Match) > 100
    });
    assert!(matches!(
        snap().gate,
        GateStatus::Refused { samples: 10, .. }
    ));

    // The queries: the raw counter over the gate window, at instants aligned on the refresh.
    {
        let asked = prom.asked.lock().unwrap();
        let good = &asked
            .iter()
            .find(|(q, _)| !q.contains("mismatch"))
            .unwrap()
            .0;
        assert_eq!(
            good,
            &format!(
                r#"sum(increase(parallel_run_outcomes_total{{experiment="{NAME}",outcome=~"match|acceptable|ignored|noise"}}[1m]))"#
            )
        );
        assert!(asked
            .iter()
            .any(|(q, _)| q.contains("|mismatch|candidate_panic|timeout|write_refused\"}[1m]")));
        for (_, time) in asked.iter() {
            let (secs, ms) = time.split_once('.').expect("time=<secs>.<ms>");
            let ms: u64 = secs.parse::<u64>().unwrap() * 1000 + ms.parse::<u64>().unwrap();
            assert_eq!(
                ms % 200,
                0,
                "evaluated at a multiple of the refresh: {time}"
            );
        }
    }

    // The fleet meets the criteria (rounded from increase()'s floats): open; the candidate serves.
    prom.set(Mode::Answer(990.4, 1000.2));
    let s = eventually("open", |s| s.gate == GateStatus::Open);
    assert_eq!((s.ramp_effective, s.gate_measured), (0.5, (990, 1000)));
    let served = s.served_by_candidate;
    eventually("served by the candidate", |s| {
        s.served_by_candidate > served + 10
    });

    // A drop across the fleet: falls back, and stays there when the numbers recover.
    prom.set(Mode::Answer(900.0, 1000.0));
    let s = eventually("fell back", |s| {
        matches!(s.gate, GateStatus::FellBack { .. })
    });
    assert_eq!(
        s.gate,
        GateStatus::FellBack {
            rate: 0.9,
            samples: 1000
        }
    );
    prom.set(Mode::Answer(1000.0, 1000.0));
    std::thread::sleep(Duration::from_millis(600));
    assert!(matches!(snap().gate, GateStatus::FellBack { .. }));
    // Setting the ramp again (the shared file) re-evaluates: open.
    std::fs::write(&file, config(&prom.url, "40%")).unwrap();
    eventually("open again at 40%", |s| {
        s.gate == GateStatus::Open && s.ramp_effective == 0.4
    });
    assert_eq!(outage_warnings(&cap), 0);

    // Prometheus stops answering: refused within max_age (1 s), warned once, the legacy serves.
    prom.set(Mode::Silent);
    let s = eventually("unavailable", |s| {
        matches!(s.gate, GateStatus::Unavailable { .. })
    });
    assert_eq!(s.ramp_effective, 0.0);
    let fleet = s.fleet.clone().unwrap();
    assert!(fleet.age.unwrap() > Duration::from_secs(1), "{fleet:?}");
    let s = eventually("the timeout in the snapshot", |s| {
        s.fleet.as_ref().unwrap().error.is_some()
    });
    let (error, _) = s.fleet.unwrap().error.unwrap();
    assert!(error.contains(&prom.url), "{error}");
    let line = parallel_run::publish::summary_json(&snap());
    assert_eq!(line["gate"], "unavailable");
    assert_eq!(line["gate_source"], "prometheus");
    assert!(line["gate_detail"]
        .as_str()
        .unwrap()
        .starts_with("unavailable: the last reading"));
    assert_eq!(line["fleet"]["good"], 1000);
    let served = snap().served_by_candidate;
    prom.set(Mode::Unavailable);
    std::thread::sleep(Duration::from_millis(1500));
    let s = snap();
    assert!(
        matches!(s.gate, GateStatus::Unavailable { .. }),
        "{:?}",
        s.gate
    );
    assert_eq!(
        s.served_by_candidate, served,
        "the legacy code serves every call"
    );
    assert!(s.fleet.unwrap().error.unwrap().0.contains("HTTP 503"));
    assert_eq!(outage_warnings(&cap), 1, "one warning per outage");

    // It answers again: open by itself (not latched), with an info line.
    prom.set(Mode::Answer(1000.0, 1000.0));
    eventually("open after the outage", |s| s.gate == GateStatus::Open);
    assert!(cap
        .events()
        .iter()
        .any(|e| e.level == tracing::Level::INFO && e.text.contains("reads Prometheus again")));
    assert_eq!(outage_warnings(&cap), 1);
    drop(traffic);
    let _ = std::fs::remove_dir_all(&dir);
}
