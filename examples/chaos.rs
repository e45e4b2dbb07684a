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

fn main() {
    let breakers = std::env::args().any(|a| a == "--breaker");
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

    if failures.is_empty() {
        println!("verdict: PASS");
    } else {
        println!("verdict: FAIL");
        for f in &failures {
            println!("  {f}");
        }
        std::process::exit(1);
    }
}
