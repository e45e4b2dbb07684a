//! Chaos: candidates that panic, fail, hang, crawl and hog memory cannot hurt the caller.
//!
//! ```text
//! cargo run --release --example chaos             # the proof; exits non-zero if it does not hold
//! cargo run --release --example chaos -- --breaker  # the same with the default circuit breakers
//! ```
//!
//! A service-like workload calls ten annotated functions, each its own experiment shadowed on
//! every call (`sample = 1.0`, the default). Each primary is correct: about 20 µs of CPU computing
//! a pure function of its input. Each candidate is broken in one way:
//!
//! | kind  | the candidate                                                                   |
//! |-------|---------------------------------------------------------------------------------|
//! | panic | panics on 7 calls in 8                                                          |
//! | error | returns `Err` where the primary returns `Ok`                                    |
//! | hang  | never finishes: `std::future::pending` (async), parks its thread forever (sync) |
//! | slow  | about 50x the primary: waits 1 ms more (async), spins 50x the work (sync)       |
//! | alloc | fills a fresh 4 MiB buffer per call (the async one holds it across a 1 ms wait) |
//!
//! 64 tasks on a tokio multi-thread runtime call the five `async fn`s (candidates detached on the
//! runtime), and 4 std threads call the five sync functions (candidates detached on the library's
//! worker pool), with a short think time between calls. The workload runs twice in the same
//! process: first with the kill switch off (`set_global_enabled(false)`) as the baseline, then on.
//!
//! Every candidate has a `timeout` and a `max_in_flight` cap, so the hung ones stay bounded: an
//! async candidate is cancelled at its timeout; a sync one cannot be stopped, so the call is
//! resolved as `timeout` while the candidate keeps its slot (and its pool worker) forever. That
//! is why the sync hang has `max_in_flight = 1`: each hung sync candidate pins one of the pool's
//! workers, and the cap is what keeps it from taking all of them.
//!
//! The circuit breakers are disabled by default here, so that every sampled call really runs its
//! faulty candidate (with the defaults, the panic, error and hang candidates would be switched
//! off after about 20 failures, which would prove less); `--breaker` keeps the defaults.
//!
//! What to expect: the callers' median latency barely moves (the shadowed call adds a decision,
//! a copy of the arguments and a spawn or a queue push). The tail moves more on a small machine:
//! the slow and allocating candidates burn CPU at 100% sampling on the same cores as the callers,
//! and the caps bound how many run at once, not the CPU they take. That is the price of running
//! the rewrite beside production code, and the reason for `sample`.
//!
//! It prints, per experiment, the outcome counts, the accounting, the concurrency peak against the
//! cap and the callers' latency with shadowing off and on; then the peak RSS and the overall
//! latency. It exits non-zero if any caller got something other than what the primary alone
//! computes, if an experiment lost a call or counted a different number of calls than were made,
//! if a candidate ran while shadowing was off, if a cap was exceeded, or if a call was still in
//! flight after the timeouts. Candidate panics are caught and counted, never printed: stderr
//! stays empty.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use parallel_run::{parallel_run, BreakerConfig, ExperimentSnapshot, Outcome};

/// Concurrent async callers, as request handlers in a service.
const ASYNC_CALLERS: usize = 64;
const CALLS_PER_ASYNC_CALLER: usize = 500;
/// Threads calling the sync functions.
const SYNC_CALLERS: usize = 4;
const CALLS_PER_SYNC_CALLER: usize = 2_500;
/// Pause between two calls of one caller: the service is busy, not saturated.
const ASYNC_THINK: Duration = Duration::from_millis(1);
const SYNC_THINK: Duration = Duration::from_micros(250);
/// Rounds of [`work`] in a primary: about 20 µs.
const ROUNDS: u32 = 12_000;
/// How much slower the slow sync candidate is.
const SLOWDOWN: u32 = 50;
/// What the allocating candidates fill per call.
const ALLOC_BYTES: usize = 4 << 20;
/// How long `wait_idle` may take after the shadowed run.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

// ------------------------------------------------------------------------------------ the work

/// The pure function every primary computes: a chain of dependent multiplies, ~1.7 ns a round.
fn work(x: u64, rounds: u32) -> u64 {
    let mut h = std::hint::black_box(x);
    for _ in 0..rounds {
        h = (h ^ (h >> 31))
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(17);
    }
    h
}

/// What the primary alone returns for `x`: what every caller must get.
fn expected(x: u64) -> Result<u64, String> {
    Ok(work(x, ROUNDS))
}

/// Fills a fresh buffer of `ALLOC_BYTES` (every page touched, so it is really resident).
fn big_buffer(x: u64) -> Vec<u8> {
    let buf = vec![(x as u8) | 1; ALLOC_BYTES];
    std::hint::black_box(&buf);
    buf
}

/// Candidate executions started, per experiment: none may start while shadowing is off.
static STARTED: [AtomicU64; EXPERIMENTS] = [const { AtomicU64::new(0) }; EXPERIMENTS];

fn started(experiment: usize) {
    STARTED[experiment].fetch_add(1, Relaxed);
}

// ------------------------------------------------------------------------ async experiments

#[parallel_run(candidate = async_panic_v2, timeout = "100ms", max_in_flight = 32)]
async fn async_panic(x: u64) -> u64 {
    work(x, ROUNDS)
}

async fn async_panic_v2(x: u64) -> u64 {
    started(0);
    if x % 8 != 0 {
        panic!("candidate bug: no rate for input {x}");
    }
    work(x, ROUNDS)
}

#[parallel_run(candidate = async_error_v2, timeout = "100ms", max_in_flight = 32)]
async fn async_error(x: u64) -> Result<u64, String> {
    Ok(work(x, ROUNDS))
}

async fn async_error_v2(x: u64) -> Result<u64, String> {
    started(1);
    Err(format!("backend unavailable for input {x}"))
}

#[parallel_run(candidate = async_hang_v2, timeout = "20ms", max_in_flight = 32)]
async fn async_hang(x: u64) -> u64 {
    work(x, ROUNDS)
}

async fn async_hang_v2(_x: u64) -> u64 {
    started(2);
    std::future::pending::<u64>().await
}

#[parallel_run(candidate = async_slow_v2, timeout = "100ms", max_in_flight = 32)]
async fn async_slow(x: u64) -> u64 {
    work(x, ROUNDS)
}

async fn async_slow_v2(x: u64) -> u64 {
    started(3);
    tokio::time::sleep(Duration::from_millis(1)).await; // a slow downstream
    work(x, ROUNDS)
}

#[parallel_run(candidate = async_alloc_v2, timeout = "100ms", max_in_flight = 8)]
async fn async_alloc(x: u64) -> u64 {
    work(x, ROUNDS)
}

async fn async_alloc_v2(x: u64) -> u64 {
    started(4);
    let buf = big_buffer(x);
    tokio::time::sleep(Duration::from_millis(1)).await; // holds the buffer while it waits
    std::hint::black_box(&buf);
    work(x, ROUNDS)
}

// ------------------------------------------------------------------------- sync experiments

#[parallel_run(candidate = sync_panic_v2, timeout = "100ms", max_in_flight = 8)]
fn sync_panic(x: u64) -> u64 {
    work(x, ROUNDS)
}

fn sync_panic_v2(x: u64) -> u64 {
    started(5);
    if x % 8 != 0 {
        panic!("candidate bug: no rate for input {x}");
    }
    work(x, ROUNDS)
}

#[parallel_run(candidate = sync_error_v2, timeout = "100ms", max_in_flight = 8)]
fn sync_error(x: u64) -> Result<u64, String> {
    Ok(work(x, ROUNDS))
}

fn sync_error_v2(x: u64) -> Result<u64, String> {
    started(6);
    Err(format!("backend unavailable for input {x}"))
}

#[parallel_run(candidate = sync_hang_v2, timeout = "20ms", max_in_flight = 1)]
fn sync_hang(x: u64) -> u64 {
    work(x, ROUNDS)
}

fn sync_hang_v2(_x: u64) -> u64 {
    started(7);
    loop {
        std::thread::park(); // nobody ever unparks it
    }
}

#[parallel_run(candidate = sync_slow_v2, timeout = "100ms", max_in_flight = 4)]
fn sync_slow(x: u64) -> u64 {
    work(x, ROUNDS)
}

fn sync_slow_v2(x: u64) -> u64 {
    started(8);
    std::hint::black_box(work(x, ROUNDS * (SLOWDOWN - 1)));
    work(x, ROUNDS)
}

#[parallel_run(candidate = sync_alloc_v2, timeout = "100ms", max_in_flight = 4)]
fn sync_alloc(x: u64) -> u64 {
    work(x, ROUNDS)
}

fn sync_alloc_v2(x: u64) -> u64 {
    started(9);
    std::hint::black_box(big_buffer(x));
    work(x, ROUNDS)
}

/// The experiments: name, description. Indices 0..5 are async, 5..10 sync.
const EXPERIMENTS: usize = 10;
const KINDS: usize = 5;
const TABLE: [(&str, &str); EXPERIMENTS] = [
    ("chaos::async_panic", "async, panics on 7 calls in 8"),
    ("chaos::async_error", "async, Err where the primary is Ok"),
    ("chaos::async_hang", "async, never finishes"),
    ("chaos::async_slow", "async, waits 1 ms more (~50x)"),
    ("chaos::async_alloc", "async, 4 MiB held across 1 ms"),
    ("chaos::sync_panic", "sync, panics on 7 calls in 8"),
    ("chaos::sync_error", "sync, Err where the primary is Ok"),
    ("chaos::sync_hang", "sync, parks its thread forever"),
    ("chaos::sync_slow", "sync, 50x the primary's CPU"),
    ("chaos::sync_alloc", "sync, fills 4 MiB per call"),
];

// ------------------------------------------------------------------------------ the workload

/// What the callers saw: per experiment the latency of every call, and every returned value.
#[derive(Default)]
struct Log {
    latency_ns: [Vec<u64>; EXPERIMENTS],
    returned: Vec<(u64, Result<u64, String>)>,
}

impl Log {
    fn record(&mut self, experiment: usize, took: Duration, x: u64, got: Result<u64, String>) {
        self.latency_ns[experiment].push(took.as_nanos() as u64);
        self.returned.push((x, got));
    }

    fn merge(&mut self, other: Log) {
        for (mine, theirs) in self.latency_ns.iter_mut().zip(other.latency_ns) {
            mine.extend(theirs);
        }
        self.returned.extend(other.returned);
    }

    fn calls(&self) -> usize {
        self.returned.len()
    }
}

/// A distinct input per call of a run.
fn input(run: u64, caller: usize, i: usize) -> u64 {
    (run << 48) | ((caller as u64) << 24) | i as u64
}

async fn async_caller(run: u64, caller: usize) -> Log {
    let mut log = Log::default();
    for i in 0..CALLS_PER_ASYNC_CALLER {
        let kind = (caller + i) % KINDS;
        let x = input(run, caller, i);
        let start = Instant::now();
        let got = match kind {
            0 => Ok(async_panic(x).await),
            1 => async_error(x).await,
            2 => Ok(async_hang(x).await),
            3 => Ok(async_slow(x).await),
            _ => Ok(async_alloc(x).await),
        };
        log.record(kind, start.elapsed(), x, got);
        tokio::time::sleep(ASYNC_THINK).await;
    }
    log
}

fn sync_caller(run: u64, caller: usize) -> Log {
    let mut log = Log::default();
    for i in 0..CALLS_PER_SYNC_CALLER {
        let kind = (caller + i) % KINDS;
        // Distinct from the async callers' inputs.
        let x = input(run, ASYNC_CALLERS + caller, i);
        let start = Instant::now();
        let got = match kind {
            0 => Ok(sync_panic(x)),
            1 => sync_error(x),
            2 => Ok(sync_hang(x)),
            3 => Ok(sync_slow(x)),
            _ => Ok(sync_alloc(x)),
        };
        log.record(KINDS + kind, start.elapsed(), x, got);
        std::thread::sleep(SYNC_THINK);
    }
    log
}

/// One run of the whole workload: the sync threads and the async tasks at the same time.
fn run_workload(rt: &tokio::runtime::Runtime, run: u64) -> (Log, Duration) {
    let start = Instant::now();
    let threads: Vec<_> = (0..SYNC_CALLERS)
        .map(|c| std::thread::spawn(move || sync_caller(run, c)))
        .collect();
    let mut log = rt.block_on(async {
        let tasks: Vec<_> = (0..ASYNC_CALLERS)
            .map(|c| tokio::spawn(async_caller(run, c)))
            .collect();
        let mut log = Log::default();
        for t in tasks {
            log.merge(t.await.expect("an async caller panicked"));
        }
        log
    });
    for t in threads {
        log.merge(t.join().expect("a sync caller panicked"));
    }
    (log, start.elapsed())
}

/// How many returned values differ from what the primary alone computes (checked on all cores,
/// after the run, so that the check does not load the measured workload).
fn differing(logs: &[&Log]) -> usize {
    let all: Vec<&(u64, Result<u64, String>)> =
        logs.iter().flat_map(|l| l.returned.iter()).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = all.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = all
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || part.iter().filter(|(x, got)| *got != expected(*x)).count())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

// ------------------------------------------------------------------------------------ report

/// The peak resident set size of the process (`VmHWM`), if the platform reports it.
fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(format!("{:.1} MiB", kb as f64 / 1024.0))
}

/// `(p50, p99)` of `ns`, in µs.
fn percentiles(ns: &[u64]) -> (f64, f64) {
    if ns.is_empty() {
        return (0.0, 0.0);
    }
    let mut v = ns.to_vec();
    v.sort_unstable();
    let at = |p: usize| v[(v.len() * p / 100).min(v.len() - 1)] as f64 / 1000.0;
    (at(50), at(99))
}

fn latency_line(off: &[u64], on: &[u64]) -> String {
    let (off50, off99) = percentiles(off);
    let (on50, on99) = percentiles(on);
    format!("p50 {off50:>6.1} -> {on50:>6.1} µs   p99 {off99:>7.1} -> {on99:>7.1} µs")
}

/// The outcomes with a non-zero count, `name count` separated by two spaces.
fn outcomes(s: &ExperimentSnapshot) -> String {
    s.counts
        .iter()
        .filter(|&(_, n)| n > 0)
        .map(|(o, n)| format!("{o} {n}"))
        .collect::<Vec<_>>()
        .join("  ")
}

// ------------------------------------------------------------------------------ the load run
//
// A real HTTP/1.1 service on 127.0.0.1 (hyper on a tokio runtime with 2 worker threads), whose
// handler computes a price with about 50 µs of CPU through an annotated `async fn`, and an
// open-loop client (its own runtime) that sends 2,000 requests a second over 64 keep-alive
// connections. Latency is measured from each request's scheduled send time, so a slow service
// shows as latency (no coordinated omission). Four scenarios, each `--load-seconds` long,
// repeated `--load-runs` times, medians compared with shadowing off:
//
// | scenario  | the candidate                                                          |
// |-----------|------------------------------------------------------------------------|
// | off       | (the kill switch is off)                                               |
// | identical | the same computation                                                   |
// | cpu50     | 50x the primary's CPU in one poll: an `async fn` that never yields     |
// | hang      | never finishes (`std::future::pending`), with the default timeout      |
//
// The caller must not notice: throughput at least 0.95x and client p99 at most 1.5x of `off` in
// every scenario; the library must say what it shed and why; the hung candidate must open the
// breaker with one warning.

/// Rounds of [`work`] per request: about 50 µs.
const LOAD_ROUNDS: u32 = 30_000;
const LOAD_RPS: u64 = 2_000;
const LOAD_CONNECTIONS: u64 = 64;
const MIN_THROUGHPUT_RATIO: f64 = 0.95;
const MAX_P99_RATIO: f64 = 1.5;

#[parallel_run(candidate = load_identical_v2)]
async fn load_identical(n: u64) -> u64 {
    work(n, LOAD_ROUNDS)
}

async fn load_identical_v2(n: u64) -> u64 {
    work(n, LOAD_ROUNDS)
}

#[parallel_run(candidate = load_cpu50_v2)]
async fn load_cpu50(n: u64) -> u64 {
    work(n, LOAD_ROUNDS)
}

/// 50x the primary's CPU, all of it in one poll: an async candidate that never yields.
async fn load_cpu50_v2(n: u64) -> u64 {
    std::hint::black_box(work(n, LOAD_ROUNDS * (SLOWDOWN - 1)));
    work(n, LOAD_ROUNDS)
}

#[parallel_run(candidate = load_hang_v2)]
async fn load_hang(n: u64) -> u64 {
    work(n, LOAD_ROUNDS)
}

async fn load_hang_v2(_n: u64) -> u64 {
    std::future::pending::<u64>().await
}

const LOAD_SCENARIOS: [(&str, &str); 4] = [
    ("off", ""),
    ("identical", "chaos::load_identical"),
    ("cpu50", "chaos::load_cpu50"),
    ("hang", "chaos::load_hang"),
];

/// Which scenario the service runs (an index into [`LOAD_SCENARIOS`]).
static SCENARIO: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

async fn price_handler(
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<http_body_util::Full<hyper::body::Bytes>>, std::convert::Infallible> {
    let n: u64 = req
        .uri()
        .path()
        .rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let v = match SCENARIO.load(Relaxed) {
        0 | 1 => load_identical(n).await,
        2 => load_cpu50(n).await,
        _ => load_hang(n).await,
    };
    Ok(hyper::Response::new(http_body_util::Full::new(
        hyper::body::Bytes::from(v.to_string()),
    )))
}

/// Starts the service on 127.0.0.1 (an ephemeral port) on `rt`.
fn start_service(rt: &tokio::runtime::Runtime) -> std::net::SocketAddr {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("local addr");
    rt.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(
                        hyper_util::rt::TokioIo::new(stream),
                        hyper::service::service_fn(price_handler),
                    )
                    .await;
            });
        }
    });
    addr
}

/// What the client saw in one scenario run.
struct LoadResult {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    /// `(input, returned value)` of every response.
    returned: Vec<(u64, u64)>,
    errors: u64,
}

/// One connection's share of the open-loop schedule: request `i` is due at
/// `t0 + (i * CONNECTIONS + c) / RPS`.
async fn load_connection(
    addr: std::net::SocketAddr,
    c: u64,
    t0: tokio::time::Instant,
    seconds: u64,
    run: u64,
) -> (Vec<u64>, Vec<(u64, u64)>, u64) {
    use http_body_util::BodyExt;
    let mut latencies = Vec::new();
    let mut returned = Vec::new();
    let mut errors = 0;
    let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
        return (latencies, returned, 1);
    };
    let _ = stream.set_nodelay(true);
    let Ok((mut sender, conn)) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await
    else {
        return (latencies, returned, 1);
    };
    tokio::spawn(conn);
    let total = LOAD_RPS * seconds / LOAD_CONNECTIONS;
    for i in 0..total {
        let offset = Duration::from_nanos((i * LOAD_CONNECTIONS + c) * 1_000_000_000 / LOAD_RPS);
        let due = t0 + offset;
        tokio::time::sleep_until(due).await;
        let n = (run << 40) | (c << 24) | i;
        let req = hyper::Request::get(format!("/price/{n}"))
            .header(hyper::header::HOST, "127.0.0.1")
            .body(http_body_util::Empty::<hyper::body::Bytes>::new())
            .expect("a request");
        let got = match sender.send_request(req).await {
            Ok(resp) => resp.into_body().collect().await.ok().map(|b| b.to_bytes()),
            Err(_) => None,
        };
        match got.and_then(|b| std::str::from_utf8(&b).ok()?.parse::<u64>().ok()) {
            Some(v) => {
                latencies.push(due.elapsed().as_nanos() as u64);
                returned.push((n, v));
            }
            None => errors += 1,
        }
    }
    (latencies, returned, errors)
}

fn run_load(
    client: &tokio::runtime::Runtime,
    addr: std::net::SocketAddr,
    seconds: u64,
    run: u64,
) -> LoadResult {
    client.block_on(async {
        let t0 = tokio::time::Instant::now() + Duration::from_millis(50);
        let tasks: Vec<_> = (0..LOAD_CONNECTIONS)
            .map(|c| tokio::spawn(load_connection(addr, c, t0, seconds, run)))
            .collect();
        let mut latencies = Vec::new();
        let mut returned = Vec::new();
        let mut errors = 0;
        for t in tasks {
            let (l, r, e) = t.await.expect("a client connection panicked");
            latencies.extend(l);
            returned.extend(r);
            errors += e;
        }
        let elapsed = t0.elapsed().as_secs_f64();
        let (p50, p99) = percentiles(&latencies);
        LoadResult {
            rps: returned.len() as f64 / elapsed,
            p50_us: p50,
            p99_us: p99,
            returned,
            errors,
        }
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Counts `warn` events per experiment named in them (and prints them), for the hang scenario's
/// "one warning".
#[derive(Clone, Default)]
struct WarnCounter(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

struct Message(String);
impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl tracing::Subscriber for WarnCounter {
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        *m.level() <= tracing::Level::WARN
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut m = Message(String::new());
        event.record(&mut m);
        self.0.lock().unwrap().push(m.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

impl WarnCounter {
    fn about(&self, what: &str) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.contains(what))
            .cloned()
            .collect()
    }
}

/// The load run; returns its failures.
fn load_run(seconds: u64, runs: u64, warnings: &WarnCounter) -> Vec<String> {
    let mut failures = Vec::new();
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("service")
        .enable_all()
        .build()
        .expect("service runtime");
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("load-client")
        .enable_all()
        .build()
        .expect("client runtime");
    let addr = start_service(&server);
    println!(
        "\nload run: an HTTP service on {addr} (2 tokio workers, ~50 µs of CPU per request), {LOAD_RPS} req/s open loop over {LOAD_CONNECTIONS} keep-alive connections, {seconds} s per scenario, {runs} runs, 100% sampling; medians"
    );
    let mut results: Vec<Vec<LoadResult>> = (0..LOAD_SCENARIOS.len()).map(|_| Vec::new()).collect();

    for run in 0..runs {
        for (i, (scenario, _)) in LOAD_SCENARIOS.iter().enumerate() {
            parallel_run::set_global_enabled(*scenario != "off");
            SCENARIO.store(i, Relaxed);
            let r = run_load(&client, addr, seconds, (run << 4) | i as u64);
            results[i].push(r);
            // Let the lane drain what this scenario left (not the hung candidates: they time out).
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    parallel_run::set_global_enabled(true);
    let rps = |i: usize| median(results[i].iter().map(|r| r.rps).collect());
    let p50 = |i: usize| median(results[i].iter().map(|r| r.p50_us).collect());
    let p99 = |i: usize| median(results[i].iter().map(|r| r.p99_us).collect());
    let (base_rps, base_p99) = (rps(0), p99(0));
    println!("  scenario       rps    x off    p50 µs     p99 µs   x off   library's view");
    for (i, (scenario, name)) in LOAD_SCENARIOS.iter().enumerate() {
        let view = match parallel_run::snapshot::experiment(name) {
            None => "-".to_owned(),
            Some(s) => format!(
                "{}  shed {} (max_in_flight {}, lane queue {}, lane budget {}, late {})  breaker {} ({} trips)  peak running {}/{}",
                outcomes(&s),
                s.counts.get(Outcome::Shed),
                s.shed.max_in_flight,
                s.shed.lane_queue,
                s.shed.lane_budget,
                s.shed.late,
                s.breaker.as_str(),
                s.breaker_trips,
                s.peak_running,
                s.max_in_flight
            ),
        };
        println!(
            "  {scenario:<10} {:>8.0} {:>7.3} {:>9.0} {:>10.0} {:>7.3}   {view}",
            rps(i),
            rps(i) / base_rps,
            p50(i),
            p99(i),
            p99(i) / base_p99
        );
        if rps(i) < MIN_THROUGHPUT_RATIO * base_rps {
            failures.push(format!(
                "load {scenario}: throughput {:.0} req/s is below {MIN_THROUGHPUT_RATIO}x of off ({base_rps:.0})",
                rps(i)
            ));
        }
        if p99(i) > MAX_P99_RATIO * base_p99 {
            failures.push(format!(
                "load {scenario}: client p99 {:.0} µs is above {MAX_P99_RATIO}x of off ({base_p99:.0} µs)",
                p99(i)
            ));
        }
        let errors: u64 = results[i].iter().map(|r| r.errors).sum();
        if errors > 0 {
            failures.push(format!("load {scenario}: {errors} requests failed"));
        }
        let wrong = results[i]
            .iter()
            .flat_map(|r| &r.returned)
            .filter(|(n, v)| *v != work(*n, LOAD_ROUNDS))
            .count();
        if wrong > 0 {
            failures.push(format!(
                "load {scenario}: {wrong} responses differ from what the primary computes"
            ));
        }
    }
    let lane = parallel_run::lane::snapshot();
    println!(
        "  lane: {} threads at priority {}, run time {:.1} s, budget {} core(s), shed by the lane: queue {}, budget {}",
        lane.threads,
        lane.priority.as_str(),
        lane.run_time.as_secs_f64(),
        lane.budget_cores.map_or_else(|| "none".into(), |b| format!("{b}")),
        lane.shed_queue,
        lane.shed_budget
    );
    let cpu = parallel_run::snapshot::experiment("chaos::load_cpu50");
    if cpu.is_some_and(|s| s.counts.get(Outcome::Shed) == 0) {
        failures.push(
            "load cpu50: nothing was shed, though the candidate needs more CPU than the lane has"
                .into(),
        );
    }
    // The hung candidates time out after the default 5 s: wait for that before judging.
    std::thread::sleep(Duration::from_secs(6));
    let trips =
        parallel_run::snapshot::experiment("chaos::load_hang").map_or(0, |s| s.breaker_trips);
    let hang_warnings = warnings.about("chaos::load_hang");
    println!(
        "  hang: breaker opened {trips} time(s), {} warning(s):",
        hang_warnings.len()
    );
    for w in &hang_warnings {
        println!("    warn: {w}");
    }
    if trips == 0 {
        failures.push("load hang: the circuit breaker never opened".into());
    }
    if hang_warnings.len() as u64 != trips {
        failures.push(format!(
            "load hang: {} warnings for {trips} breaker openings (one each expected)",
            hang_warnings.len()
        ));
    }
    failures
}

/// The value after `flag` on the command line, parsed.
fn arg<T: std::str::FromStr>(flag: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let warnings = WarnCounter::default();
    tracing::subscriber::set_global_default(warnings.clone()).expect("one subscriber");
    let breakers = std::env::args().any(|a| a == "--breaker");
    let load_only = std::env::args().any(|a| a == "--load-only");
    let load_seconds: u64 = arg("--load-seconds", 10);
    let load_runs: u64 = arg("--load-runs", 3);
    if load_only {
        let failures = load_run(load_seconds, load_runs, &warnings);
        return verdict(&failures);
    }
    if !breakers {
        for (name, _) in TABLE {
            let off = BreakerConfig {
                enabled: false,
                ..Default::default()
            };
            parallel_run::live::set_breaker(name, off).expect("a valid breaker config");
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("tokio runtime");
    let mut failures: Vec<String> = Vec::new();

    // Run 1: the baseline, with the kill switch off.
    parallel_run::set_global_enabled(false);
    let (off, off_time) = run_workload(&rt, 1);
    let off_started: u64 = STARTED.iter().map(|s| s.load(Relaxed)).sum();
    let off_rss = peak_rss();
    let off_snaps: Vec<Option<ExperimentSnapshot>> = TABLE
        .iter()
        .map(|(name, _)| parallel_run::snapshot::experiment(name))
        .collect();
    if off_started > 0 {
        failures.push(format!(
            "{off_started} candidates started while shadowing was off"
        ));
    }

    // Run 2: shadowing on, every call of every experiment.
    parallel_run::set_global_enabled(true);
    let (on, on_time) = run_workload(&rt, 2);
    let idle_start = Instant::now();
    let idle = parallel_run::wait_idle(IDLE_TIMEOUT);
    let idle_time = idle_start.elapsed();
    if !idle {
        failures.push(format!(
            "calls still in flight {} s after the run",
            IDLE_TIMEOUT.as_secs()
        ));
    }

    println!(
        "chaos: {EXPERIMENTS} experiments with broken candidates, shadowed on every call; the callers must not notice"
    );
    println!(
        "per run: {ASYNC_CALLERS} tokio tasks x {CALLS_PER_ASYNC_CALLER} async calls + {SYNC_CALLERS} threads x {CALLS_PER_SYNC_CALLER} sync calls = {} calls",
        off.calls()
    );
    println!(
        "circuit breakers: {}",
        if breakers {
            "defaults (open at >= 50% failures of >= 20 runs, 30 s cool-down)"
        } else {
            "disabled, so that every call runs its candidate (--breaker: defaults)"
        }
    );
    println!(
        "run 1, shadowing off: {:>6.2} s   candidates started: {off_started}",
        off_time.as_secs_f64()
    );
    println!(
        "run 2, shadowing on:  {:>6.2} s   candidates started: {}",
        on_time.as_secs_f64(),
        STARTED.iter().map(|s| s.load(Relaxed)).sum::<u64>()
    );
    println!(
        "wait_idle after run 2: {} in {:.3} s",
        if idle { "idle" } else { "NOT IDLE" },
        idle_time.as_secs_f64()
    );

    for (i, (name, what)) in TABLE.iter().enumerate() {
        let made_off = off.latency_ns[i].len() as u64;
        let made_on = on.latency_ns[i].len() as u64;
        let Some(s) = parallel_run::snapshot::experiment(name) else {
            println!("\n{name}: never registered");
            failures.push(format!("{name} never registered"));
            continue;
        };
        let timeout = s
            .timeout
            .map_or_else(|| "none".to_owned(), |t| format!("{t:?}"));
        println!(
            "\n{name:<20} {what:<36} timeout {timeout:<6} max_in_flight {}",
            s.max_in_flight
        );
        // A sync candidate past its timeout is resolved (no longer in flight) but keeps its slot
        // until it really ends: the hung one never does.
        let abandoned = if s.running > 0 && s.in_flight == 0 {
            " (abandoned)"
        } else {
            ""
        };
        println!(
            "  calls {} ({made_off} off + {made_on} on)  shadowed {}  shed {}  lost {}  in_flight {}  running {}{abandoned}  peak running {}/{}  breaker {} ({} trips)",
            s.calls(),
            s.shadowed,
            s.counts.get(Outcome::Shed),
            s.lost(),
            s.in_flight,
            s.running,
            s.peak_running,
            s.max_in_flight,
            s.breaker.as_str(),
            s.breaker_trips,
        );
        println!("  outcomes: {}", outcomes(&s));
        println!(
            "  caller latency off -> on: {}   candidate started {}",
            latency_line(&off.latency_ns[i], &on.latency_ns[i]),
            STARTED[i].load(Relaxed)
        );

        if s.lost() != 0 {
            failures.push(format!("{name}: lost {} calls", s.lost()));
        }
        if s.calls() != made_off + made_on {
            failures.push(format!(
                "{name}: counted {} calls, {} were made",
                s.calls(),
                made_off + made_on
            ));
        }
        match &off_snaps[i] {
            Some(o) if o.calls() == made_off && o.counts.get(Outcome::Disabled) == made_off => {}
            _ => failures.push(format!(
                "{name}: the off run was not counted as {made_off} disabled calls"
            )),
        }
        if s.peak_running > s.max_in_flight {
            failures.push(format!(
                "{name}: peak running {} above max_in_flight {}",
                s.peak_running, s.max_in_flight
            ));
        }
    }

    let snaps: Vec<ExperimentSnapshot> = TABLE
        .iter()
        .filter_map(|(name, _)| parallel_run::snapshot::experiment(name))
        .collect();
    let invariant = snaps
        .iter()
        .all(|s| s.lost() == 0 && s.calls() == s.counts.total() + s.in_flight);
    let total_calls = (off.calls() + on.calls()) as u64;
    let counted: u64 = snaps.iter().map(ExperimentSnapshot::calls).sum();
    println!();
    println!(
        "invariant (one outcome per call, lost 0, calls = made): {}  ({counted} counted, {total_calls} made)",
        if invariant && counted == total_calls {
            "holds"
        } else {
            "BROKEN"
        }
    );
    let cap = |name: &str| {
        parallel_run::snapshot::experiment(name).map_or(0, |s| s.max_in_flight as usize)
    };
    let buffers = cap("chaos::async_alloc") + cap("chaos::sync_alloc");
    println!(
        "peak RSS (VmHWM): {} after run 1, {} at the end  (live candidate buffers capped at {buffers} x {} MiB)",
        off_rss.unwrap_or_else(|| "n/a".into()),
        peak_rss().unwrap_or_else(|| "n/a".into()),
        ALLOC_BYTES >> 20
    );
    let all = |log: &Log| log.latency_ns.concat();
    println!(
        "caller latency, all calls, off -> on: {}",
        latency_line(&all(&off), &all(&on))
    );
    let differ = differing(&[&off, &on]);
    println!("primary results differing: {differ}  (of {total_calls})");
    if differ != 0 {
        failures.push(format!(
            "{differ} callers got a value the primary does not return"
        ));
    }

    if load_runs > 0 {
        failures.extend(load_run(load_seconds, load_runs, &warnings));
    }
    verdict(&failures);
}

/// Prints the verdict; exits 1 on a failure.
fn verdict(failures: &[String]) {
    if failures.is_empty() {
        println!("verdict: PASS");
    } else {
        println!("verdict: FAIL");
        for f in failures {
            println!("  {f}");
        }
        std::process::exit(1);
    }
}
