//! The shadow lane: detached candidates run on threads of their own, never the caller's; what a
//! candidate may rely on there (tokio I/O, timers, objects made on the caller's runtime);
//! timeouts whatever the path; a shed call prepares nothing.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parallel_run::{parallel_run, ExperimentSnapshot, Outcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn settled(name: &str) -> ExperimentSnapshot {
    assert!(
        parallel_run::wait_idle(Duration::from_secs(30)),
        "candidates did not finish"
    );
    let s = parallel_run::snapshot::experiment(name).unwrap_or_else(|| panic!("{name} never ran"));
    assert_eq!(s.lost(), 0, "accounting lost calls: {s:?}");
    s
}

/// Spins for `d` of wall time (CPU-bound, never yields).
fn spin(d: Duration) -> u64 {
    let start = Instant::now();
    let mut h = 0u64;
    while start.elapsed() < d {
        for i in 0..1000u64 {
            h = std::hint::black_box(h.wrapping_mul(31).wrapping_add(i));
        }
    }
    h
}

fn caller_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("caller-worker")
        .enable_all()
        .build()
        .expect("runtime")
}

// ------------------------------------------------------------------ where candidates run

static CPU_THREADS: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[parallel_run(candidate = cpu_heavy_v2)]
async fn cpu_heavy(x: u64) -> u64 {
    x
}

/// CPU-bound and never yielding: on the caller's workers it would take their time.
async fn cpu_heavy_v2(x: u64) -> u64 {
    std::hint::black_box(spin(Duration::from_millis(2)));
    let me = std::thread::current().name().unwrap_or("").to_owned();
    CPU_THREADS.lock().unwrap().push(me);
    x
}

#[test]
fn cpu_bound_async_candidates_run_on_the_lane_not_on_the_callers_workers() {
    let rt = caller_runtime();
    rt.block_on(async {
        for i in 0..20 {
            assert_eq!(cpu_heavy(i).await, i);
        }
        parallel_run::snapshot::idle().await;
    });
    let s = settled("lane::cpu_heavy");
    let threads = CPU_THREADS.lock().unwrap().clone();
    assert_eq!(threads.len() as u64, s.counts.get(Outcome::Match));
    assert!(s.counts.get(Outcome::Match) > 0);
    assert!(
        threads.iter().all(|t| t == "parallel-run-lane"),
        "{threads:?}"
    );
    let lane = parallel_run::lane::snapshot();
    assert!(lane.threads >= 2, "{lane:?}");
    #[cfg(target_os = "linux")]
    assert_eq!(lane.priority, parallel_run::lane::Priority::Idle);
}

// ------------------------------------------------- what a candidate may rely on on the lane

/// An echo server on 127.0.0.1: a real one, on std threads, outside every tokio runtime.
fn echo_server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut buf = [0u8; 4];
                while stream.read_exact(&mut buf).is_ok() {
                    // The server answers with the number plus one.
                    let n = u32::from_be_bytes(buf) + 1;
                    if stream.write_all(&n.to_be_bytes()).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

type Conn = Arc<tokio::sync::Mutex<tokio::net::TcpStream>>;

async fn ask(conn: &mut tokio::net::TcpStream, x: u32) -> u32 {
    conn.write_all(&x.to_be_bytes()).await.expect("write");
    let mut b = [0u8; 4];
    conn.read_exact(&mut b).await.expect("read");
    u32::from_be_bytes(b)
}

#[parallel_run(candidate = remote_succ_v2)]
async fn remote_succ(conn: Conn, x: u32) -> u32 {
    let _ = conn;
    x + 1
}

/// Uses a connection the caller's runtime opened (registered with the caller's I/O driver).
async fn remote_succ_v2(conn: Conn, x: u32) -> u32 {
    let mut c = conn.lock().await;
    ask(&mut c, x).await
}

#[parallel_run(candidate = fresh_succ_v2)]
async fn fresh_succ(addr: std::net::SocketAddr, x: u32) -> u32 {
    let _ = addr;
    x + 1
}

/// Opens its own connection and sleeps on a tokio timer: the lane's drivers.
async fn fresh_succ_v2(addr: std::net::SocketAddr, x: u32) -> u32 {
    tokio::time::sleep(Duration::from_millis(1)).await;
    let mut c = tokio::net::TcpStream::connect(addr).await.expect("connect");
    ask(&mut c, x).await
}

#[test]
fn tokio_io_and_timers_work_on_the_lane_and_so_do_connections_made_on_the_callers_runtime() {
    let addr = echo_server();
    let rt = caller_runtime();
    rt.block_on(async {
        let conn: Conn = Arc::new(tokio::sync::Mutex::new(
            tokio::net::TcpStream::connect(addr).await.expect("connect"),
        ));
        for i in 0..10 {
            assert_eq!(remote_succ(conn.clone(), i).await, i + 1);
            assert_eq!(fresh_succ(addr, i).await, i + 1);
        }
        parallel_run::snapshot::idle().await;
    });
    for name in ["lane::remote_succ", "lane::fresh_succ"] {
        let s = settled(name);
        assert_eq!(s.counts.get(Outcome::Match), 10, "{name}: {s:?}");
        assert_eq!(s.counts.get(Outcome::CandidatePanic), 0, "{name}");
    }
}

// ------------------------------------------------------------------ timeouts are real

#[parallel_run(candidate = late_async_v2, timeout = "5ms")]
async fn late_async(x: u64) -> u64 {
    x
}

/// Finishes well past its deadline, all in one poll: nothing can interrupt it.
async fn late_async_v2(x: u64) -> u64 {
    std::hint::black_box(spin(Duration::from_millis(30)));
    x
}

#[parallel_run(candidate = late_async_inline_v2, timeout = "5ms", mode = inline)]
async fn late_async_inline(x: u64) -> u64 {
    x
}

async fn late_async_inline_v2(x: u64) -> u64 {
    std::hint::black_box(spin(Duration::from_millis(30)));
    x
}

#[parallel_run(candidate = late_sync_v2, timeout = "5ms")]
fn late_sync(x: u64) -> u64 {
    x
}

fn late_sync_v2(x: u64) -> u64 {
    std::hint::black_box(spin(Duration::from_millis(30)));
    x
}

#[parallel_run(candidate = late_sync_inline_v2, timeout = "5ms", mode = inline)]
fn late_sync_inline(x: u64) -> u64 {
    x
}

fn late_sync_inline_v2(x: u64) -> u64 {
    std::hint::black_box(spin(Duration::from_millis(30)));
    x
}

#[test]
fn a_candidate_that_ends_after_its_deadline_is_a_timeout_on_every_path() {
    let rt = caller_runtime();
    rt.block_on(async {
        for i in 0..3 {
            assert_eq!(late_async(i).await, i);
            assert_eq!(late_async_inline(i).await, i);
        }
        parallel_run::snapshot::idle().await;
    });
    for i in 0..3 {
        assert_eq!(late_sync(i), i);
        assert_eq!(late_sync_inline(i), i);
        // One detached sync candidate at a time, so that none waits in the lane's queue.
        assert!(parallel_run::wait_idle(Duration::from_secs(10)));
    }
    for name in [
        "lane::late_async",
        "lane::late_async_inline",
        "lane::late_sync",
        "lane::late_sync_inline",
    ] {
        let s = settled(name);
        assert_eq!(s.counts.get(Outcome::Timeout), 3, "{name}: {s:?}");
        assert_eq!(
            s.counts.get(Outcome::Match),
            0,
            "{name}: a late result is not compared"
        );
        assert_eq!(s.timeout, Some(Duration::from_millis(5)));
    }
}

#[parallel_run(candidate = untimed_v2)]
fn untimed(x: u64) -> u64 {
    x
}

fn untimed_v2(x: u64) -> u64 {
    x
}

#[test]
fn an_experiment_that_sets_no_timeout_gets_the_default_one() {
    assert_eq!(untimed(1), 1);
    let s = settled("lane::untimed");
    assert_eq!(
        s.timeout,
        Some(Duration::from_millis(
            parallel_run::manual::DEFAULT_TIMEOUT_MS
        ))
    );
    assert_eq!(s.counts.get(Outcome::Match), 1);
}

// ---------------------------------------------------------- a shed call prepares nothing

static CLONES: AtomicUsize = AtomicUsize::new(0);
static CONTEXTS: AtomicUsize = AtomicUsize::new(0);
static GATE: Mutex<()> = Mutex::new(());

#[derive(Debug, PartialEq)]
struct Order(u64);

impl Clone for Order {
    fn clone(&self) -> Self {
        CLONES.fetch_add(1, Ordering::SeqCst);
        Order(self.0)
    }
}

fn context_value(o: &Order) -> u64 {
    CONTEXTS.fetch_add(1, Ordering::SeqCst);
    o.0
}

#[parallel_run(candidate = gated_v2, max_in_flight = 1, context = { "order": context_value(&order) })]
fn gated(order: Order) -> u64 {
    order.0
}

fn gated_v2(order: Order) -> u64 {
    let _g = GATE.lock().unwrap_or_else(|e| e.into_inner());
    order.0
}

#[test]
fn a_shed_call_copies_no_argument_and_evaluates_no_context() {
    let gate = GATE.lock().unwrap();
    assert_eq!(gated(Order(1)), 1); // takes the only slot, and blocks on the gate
    let (clones, contexts) = (
        CLONES.load(Ordering::SeqCst),
        CONTEXTS.load(Ordering::SeqCst),
    );
    assert_eq!((clones, contexts), (1, 1));
    for i in 2..52 {
        assert_eq!(gated(Order(i)), i);
    }
    assert_eq!(
        CLONES.load(Ordering::SeqCst),
        clones,
        "a shed call copied its argument"
    );
    assert_eq!(
        CONTEXTS.load(Ordering::SeqCst),
        contexts,
        "a shed call evaluated its context"
    );
    drop(gate);
    let s = settled("lane::gated");
    assert_eq!(s.counts.get(Outcome::Shed), 50);
    assert_eq!(s.shed.max_in_flight, 50);
    assert_eq!(s.counts.get(Outcome::Match), 1);
    assert_eq!(s.shadowed, 51);
    // Every slot taken was given back, and no refused attempt gave one back.
    assert_eq!((s.running, s.peak_running), (0, 1));
}

// ------------------------------------------------------- runtime = caller: the old way, on request

static CALLER_THREADS: Mutex<Vec<(String, bool)>> = Mutex::new(Vec::new());

#[parallel_run(candidate = on_callers_v2, runtime = caller)]
async fn on_callers(x: u64) -> u64 {
    x
}

async fn on_callers_v2(x: u64) -> u64 {
    let me = std::thread::current().name().unwrap_or("").to_owned();
    // A task the candidate spawns there is not shadow work unless carried by `scope`.
    let spawned = tokio::spawn(async { parallel_run::in_shadow() })
        .await
        .unwrap();
    CALLER_THREADS.lock().unwrap().push((me, spawned));
    x
}

#[test]
fn runtime_caller_spawns_the_candidate_on_the_callers_runtime() {
    let rt = caller_runtime();
    rt.block_on(async {
        for i in 0..5 {
            assert_eq!(on_callers(i).await, i);
        }
        parallel_run::snapshot::idle().await;
    });
    let s = settled("lane::on_callers");
    assert_eq!(s.counts.get(Outcome::Match), 5);
    let seen = CALLER_THREADS.lock().unwrap().clone();
    assert_eq!(seen.len(), 5);
    assert!(
        seen.iter()
            .all(|(t, spawned)| t == "caller-worker" && !spawned),
        "{seen:?}"
    );
}
