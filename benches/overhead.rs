//! What `#[parallel_run]` costs the caller, against hand-written baselines, in one run.
//!
//! ```text
//! cargo bench --bench overhead
//! ```
//!
//! | row | function | baseline |
//! |---|---|---|
//! | `plain` | the work function, no attribute | - |
//! | `kill_switch_off` | annotated (detached, sample 1.0), `set_global_enabled(false)` | `plain` |
//! | `sampled_out` | annotated, `sample = 0.000001` | `plain` |
//! | `plain_chained`, `kill_switch_off_chained`, `sampled_out_chained` | the same three, each call on the previous call's result (latency rather than throughput) | `plain_chained` |
//! | `sticky_sampled_out` (+ `_chained`) | annotated with `sample_by = x` (XXH3 of 8 bytes), `sample = 0.000001` | `plain` (`plain_chained`) |
//! | `breaker_open` (+ `_chained`) | annotated, circuit breaker open (opened in `main`) | `plain` (`plain_chained`) |
//! | `ramp_half_sampled_out` | annotated, a 50% ramp (half the calls served by the candidate, the same work), sample 1e-6 | `plain` |
//! | `both_back_to_back` | the work function, then its copy (the candidate), by hand | - |
//! | `inline_shadow` | annotated, `mode = inline`, sample 1.0, `PartialEq` comparator | `both_back_to_back` |
//! | `shed_detached` | annotated, detached, `max_in_flight = 1` and its one slot held: every call is shed | `sampled_out` |
//! | `plain_async` | the work function as an `async fn`, awaited in a tokio runtime | - |
//! | `detached_async_caller` | annotated `async fn`, detached on the shadow lane, sample 1.0 (caller's side only; every call spawns: caps and lane bounds raised for the row, the lane drained between bursts, any shed call reported) | `plain_async` |
//! | `report_100mb` | `parallel-run report` (read, aggregate, render as text) over a ~100 MB synthetic discrepancy log, in MB/s | - |
//! | `eq_1k` | `PartialEq` on two equal invoices of ~1 KB (serialised) | - |
//! | `typed_eq_1k` | `typed::diff` (`#[derive(ShadowCompare)]`) on the same pair | `eq_1k` |
//! | `typed_cmp_eq_1k` | the `Typed` comparator on the same pair | `eq_1k` |
//! | `structural_eq_1k` | the `Structural` comparator on the same pair | `eq_1k` |
//! | `eq_1k_one_off` | `PartialEq` on two invoices differing in one field (the last one compared) | - |
//! | `typed_1k_one_off` | `typed::diff` on that pair | `eq_1k_one_off` |
//! | `typed_cmp_1k_one_off` | the `Typed` comparator on that pair (the diff and the verdict's text) | `eq_1k_one_off` |
//! | `structural_1k_one_off` | the `Structural` comparator on that pair | `eq_1k_one_off` |
//!
//! An argument that does not start with `-` filters the rows, as criterion's does: only the rows
//! whose names contain it (or one of its `|`-separated parts, as criterion reads a regex), and
//! their baselines, run (`cargo bench --bench overhead -- 1k`,
//! `cargo bench --bench overhead -- 'inline_shadow|shed'`).
//!
//! Each row is first measured by criterion (`iter_custom` over a loop of calls on distinct
//! inputs). Criterion measures the rows one after the other, seconds apart, so on a shared machine
//! a load change between a row and its baseline shows up as overhead. The closing table therefore
//! also measures every row again in short bursts (about 0.5 ms, shorter than a scheduler time
//! slice), interleaved round after round, and takes for each row the 20th percentile of its bursts
//! (being descheduled or sharing a core only ever adds time, so a low quantile is the undisturbed
//! speed); `delta` is the difference of those, and is the number to compare with the targets.
//! Criterion's own medians are shown beside it. The table and the experiments' counters
//! (including the detached candidates shed beyond 1024 in flight) go to stderr at the end.
//!
//! Then the bench runs itself again in a child process with a Prometheus recorder
//! (`metrics-exporter-prometheus`) installed, for the rows `both_back_to_back`, `inline_shadow`
//! and `detached_async_caller` (`*_prometheus` in the closing table): a global recorder cannot
//! be removed once installed, so the rows without one must run in a process that never had one.
//! A thread runs the recorder's upkeep every 5 s, as `PrometheusBuilder::install` does in a service.
//!
//! The `report_100mb` row runs last, outside criterion: it writes
//! `target/parallel-run/bench-100mb.jsonl` once (reused while its size fits), reads it twice with
//! `shadow_cli::report_files` and prints the faster pass (the first one also warms the page cache).
//!
//! Allocation counts are asserted by `tests/alloc.rs`, not here (a counting global allocator
//! would count, and slow, every row).

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{Bencher, Criterion};
use parallel_run::structural::Structural;
use parallel_run::typed::{self, Typed};
use parallel_run::{parallel_run, Comparator, Outcome, ShadowCompare};
use serde::Serialize;

/// Criterion samples per row; its column in the table is the median over the last this-many
/// timings of the row (its measurement phase, after the warm-up).
const SAMPLE_SIZE: usize = 50;
const WARM_UP: Duration = Duration::from_secs(1);
const MEASUREMENT: Duration = Duration::from_secs(3);
/// Interleaved rounds of the closing pass, the length of one burst of calls, and the quantile of
/// the bursts reported per row.
const ROUNDS: usize = 400;
const BURST: Duration = Duration::from_micros(500);
const QUANTILE: f64 = 0.2;

// ---------------------------------------------------------------------------------------------
// The work: a chain of dependent integer operations the optimiser cannot fold away (about 4 ns
// for one call on its own; a loop of independent calls overlaps them, see `plain` in the table).

#[inline(always)]
fn work(x: u64) -> u64 {
    let mut h = black_box(x);
    for i in 0..6u64 {
        h = (h ^ i).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
    }
    h
}

#[inline(never)]
fn plain(x: u64) -> u64 {
    work(x)
}

#[inline(never)]
fn plain_v2(x: u64) -> u64 {
    work(x)
}

#[parallel_run(candidate = plain_v2, name = "bench::kill_switch_off")]
#[inline(never)]
fn annotated_default(x: u64) -> u64 {
    work(x)
}

#[parallel_run(candidate = plain_v2, sample = 0.000001, name = "bench::sampled_out")]
#[inline(never)]
fn annotated_sampled(x: u64) -> u64 {
    work(x)
}

#[parallel_run(
    candidate = plain_v2,
    sample = 0.000001,
    sample_by = x,
    name = "bench::sticky_sampled_out"
)]
#[inline(never)]
fn annotated_sticky(x: u64) -> u64 {
    work(x)
}

/// A ramp of 50% is set in `main`: half the calls are served by the candidate (the same work),
/// and nearly none is compared.
#[parallel_run(
    candidate = plain_v2,
    sample = 0.000001,
    name = "bench::ramp_half"
)]
#[inline(never)]
fn annotated_ramp(x: u64) -> u64 {
    work(x)
}

fn panicking_v2(_: u64) -> u64 {
    panic!("opens the breaker")
}

/// Its breaker is opened in `main` (one failure with `min_calls = 1`, an hour of cool-down).
#[parallel_run(candidate = panicking_v2, mode = inline, name = "bench::breaker_open")]
#[inline(never)]
fn annotated_breaker_open(x: u64) -> u64 {
    work(x)
}

#[parallel_run(candidate = plain_v2, mode = inline, name = "bench::inline_shadow")]
#[inline(never)]
fn annotated_inline(x: u64) -> u64 {
    work(x)
}

#[inline(never)]
fn both_back_to_back(x: u64) -> u64 {
    let p = plain(x);
    let c = plain_v2(x);
    black_box(p == c);
    p
}

#[inline(never)]
async fn plain_async(x: u64) -> u64 {
    work(x)
}

#[inline(never)]
async fn plain_async_v2(x: u64) -> u64 {
    work(x)
}

#[parallel_run(candidate = plain_async_v2, name = "bench::detached_async")]
#[inline(never)]
async fn annotated_async(x: u64) -> u64 {
    work(x)
}

/// Held for the whole bench: the shed row's one candidate waits on it for ever.
static SHED_HOLD: Mutex<()> = Mutex::new(());

fn held_v2(x: u64) -> u64 {
    let _g = SHED_HOLD.lock().unwrap_or_else(|e| e.into_inner());
    work(x)
}

/// Its only slot is held (by the first call's candidate, in `main`): every call is shed.
#[parallel_run(candidate = held_v2, max_in_flight = 1, name = "bench::shed")]
#[inline(never)]
fn annotated_shed(x: u64) -> u64 {
    work(x)
}

// ---------------------------------------------------------------------------------------------
// Comparing results: a ~1 KB invoice, equal and with one field changed.

#[derive(Clone, PartialEq, Serialize, ShadowCompare)]
struct BenchLine {
    sku: String,
    qty: u32,
    #[shadow(tolerance = 0.005)]
    amount: f64,
    tax: f64,
}

#[derive(Clone, PartialEq, Serialize, ShadowCompare)]
struct BenchInvoice {
    id: u64,
    customer: String,
    currency: String,
    lines: Vec<BenchLine>,
    total: f64,
    paid: bool,
    tags: Vec<String>,
}

/// (primary, an equal copy, a copy whose last line's `tax` differs).
fn invoices() -> &'static (BenchInvoice, BenchInvoice, BenchInvoice) {
    static INVOICES: std::sync::OnceLock<(BenchInvoice, BenchInvoice, BenchInvoice)> =
        std::sync::OnceLock::new();
    INVOICES.get_or_init(|| {
        let a = BenchInvoice {
            id: 4_242,
            customer: "ACME Trading GmbH".into(),
            currency: "EUR".into(),
            lines: (0..14)
                .map(|i| BenchLine {
                    sku: format!("SKU-{i:05}"),
                    qty: i + 1,
                    amount: f64::from(i) * 12.5 + 0.99,
                    tax: f64::from(i) * 2.375,
                })
                .collect(),
            total: 1_234.56,
            paid: true,
            tags: vec!["b2b".into(), "eu".into(), "priority".into()],
        };
        let mut c = a.clone();
        c.lines.last_mut().unwrap().tax += 0.01;
        (a.clone(), a, c)
    })
}

/// The structural comparator of the `structural_*` rows.
fn structural() -> &'static Structural {
    static STRUCTURAL: std::sync::OnceLock<Structural> = std::sync::OnceLock::new();
    STRUCTURAL.get_or_init(|| Structural::new().float_tolerance(0.005, 0.0))
}

/// `n` comparisons of the primary invoice with the equal copy (`differ`: the one-off copy).
#[inline(always)]
fn compare_loop<R>(
    differ: bool,
    n: u64,
    f: impl Fn(&BenchInvoice, &BenchInvoice) -> R,
) -> Duration {
    let (a, same, other) = invoices();
    let b = if differ { other } else { same };
    let start = Instant::now();
    for _ in 0..n {
        black_box(f(black_box(a), black_box(b)));
    }
    start.elapsed()
}

/// Runs `f` with the global kill switch off, then turns it back on.
fn with_kill_switch_off<R>(f: impl FnOnce() -> R) -> R {
    parallel_run::set_global_enabled(false);
    let r = f();
    parallel_run::set_global_enabled(true);
    r
}

// ---------------------------------------------------------------------------------------------
// Timed loops.

/// `n` calls of `f` on distinct inputs.
#[inline(always)]
fn sync_loop(f: impl Fn(u64) -> u64, n: u64) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        black_box(f(black_box(i)));
    }
    start.elapsed()
}

/// `n` calls of `f`, each on the previous one's result: the latency of one call, as a call site
/// that uses the result sees it (the loop above measures throughput, where independent calls
/// overlap and any loop-carried dependency inside the function, such as incrementing one counter,
/// becomes the bottleneck).
#[inline(always)]
fn chain_loop(f: impl Fn(u64) -> u64, n: u64) -> Duration {
    let start = Instant::now();
    let mut x = black_box(n);
    for _ in 0..n {
        x = f(x);
    }
    black_box(x);
    start.elapsed()
}

/// Detached calls shed during the timed loops of `detached_async_caller` (there should be none).
static DETACHED_SHED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// `n` awaited calls inside `rt.block_on`: the bench thread is the caller, the shadow lane runs
/// the spawned candidates. Detached: only calls that really spawn are measured (the lane is
/// drained before the burst, outside the timing, and a shed call is counted and reported).
fn async_loop(rt: &tokio::runtime::Runtime, detached: bool, n: u64) -> Duration {
    rt.block_on(async {
        if detached {
            // The lane drained (outside the timing): every call of the burst can spawn.
            while parallel_run::snapshot::experiment("bench::detached_async")
                .is_some_and(|s| s.in_flight > 0)
            {
                std::thread::sleep(Duration::from_micros(50));
            }
            let shed = || {
                parallel_run::snapshot::experiment("bench::detached_async")
                    .map_or(0, |s| s.counts.get(Outcome::Shed))
            };
            let before = shed();
            let start = Instant::now();
            for i in 0..n {
                black_box(annotated_async(black_box(i)).await);
            }
            let elapsed = start.elapsed();
            DETACHED_SHED.fetch_add(shed() - before, std::sync::atomic::Ordering::Relaxed);
            elapsed
        } else {
            let start = Instant::now();
            for i in 0..n {
                black_box(plain_async(black_box(i)).await);
            }
            start.elapsed()
        }
    })
}

type Runner<'a> = Box<dyn Fn(u64) -> Duration + 'a>;

/// The rows: name, baseline, target (largest acceptable delta, ns), runner.
fn rows(
    rt: &tokio::runtime::Runtime,
) -> Vec<(&'static str, Option<&'static str>, Option<f64>, Runner<'_>)> {
    let rows: Vec<(&'static str, Option<&'static str>, Option<f64>, Runner<'_>)> = vec![
        ("plain", None, None, Box::new(|n| sync_loop(plain, n))),
        (
            "kill_switch_off",
            Some("plain"),
            Some(1.0),
            Box::new(|n| with_kill_switch_off(|| sync_loop(annotated_default, n))),
        ),
        (
            "sampled_out",
            Some("plain"),
            Some(1.0),
            Box::new(|n| sync_loop(annotated_sampled, n)),
        ),
        (
            "plain_chained",
            None,
            None,
            Box::new(|n| chain_loop(plain, n)),
        ),
        (
            "kill_switch_off_chained",
            Some("plain_chained"),
            Some(1.0),
            Box::new(|n| with_kill_switch_off(|| chain_loop(annotated_default, n))),
        ),
        (
            "sampled_out_chained",
            Some("plain_chained"),
            Some(1.0),
            Box::new(|n| chain_loop(annotated_sampled, n)),
        ),
        (
            "sticky_sampled_out",
            Some("plain"),
            Some(5.0),
            Box::new(|n| sync_loop(annotated_sticky, n)),
        ),
        (
            "breaker_open",
            Some("plain"),
            Some(5.0),
            Box::new(|n| sync_loop(annotated_breaker_open, n)),
        ),
        (
            "sticky_sampled_out_chained",
            Some("plain_chained"),
            Some(5.0),
            Box::new(|n| chain_loop(annotated_sticky, n)),
        ),
        (
            "ramp_half_sampled_out",
            Some("plain"),
            None,
            Box::new(|n| sync_loop(annotated_ramp, n)),
        ),
        (
            "ramp_half_sampled_out_chained",
            Some("plain_chained"),
            None,
            Box::new(|n| chain_loop(annotated_ramp, n)),
        ),
        (
            "breaker_open_chained",
            Some("plain_chained"),
            Some(5.0),
            Box::new(|n| chain_loop(annotated_breaker_open, n)),
        ),
        (
            "both_back_to_back",
            None,
            None,
            Box::new(|n| sync_loop(both_back_to_back, n)),
        ),
        (
            "inline_shadow",
            Some("both_back_to_back"),
            Some(80.0),
            Box::new(|n| sync_loop(annotated_inline, n)),
        ),
        (
            "shed_detached",
            Some("sampled_out"),
            Some(20.0),
            Box::new(|n| sync_loop(annotated_shed, n)),
        ),
        (
            "plain_async",
            None,
            None,
            Box::new(move |n| async_loop(rt, false, n)),
        ),
        (
            "detached_async_caller",
            Some("plain_async"),
            Some(300.0),
            Box::new(move |n| async_loop(rt, true, n)),
        ),
        (
            "eq_1k",
            None,
            None,
            Box::new(|n| compare_loop(false, n, |a, b| a == b)),
        ),
        (
            "typed_eq_1k",
            Some("eq_1k"),
            None,
            Box::new(|n| compare_loop(false, n, typed::diff)),
        ),
        (
            "typed_cmp_eq_1k",
            Some("eq_1k"),
            None,
            Box::new(|n| compare_loop(false, n, |a, b| Typed.compare(a, b))),
        ),
        (
            "structural_eq_1k",
            Some("eq_1k"),
            None,
            Box::new(|n| compare_loop(false, n, |a, b| structural().compare(a, b))),
        ),
        (
            "eq_1k_one_off",
            None,
            None,
            Box::new(|n| compare_loop(true, n, |a, b| a == b)),
        ),
        (
            "typed_1k_one_off",
            Some("eq_1k_one_off"),
            None,
            Box::new(|n| compare_loop(true, n, typed::diff)),
        ),
        (
            "typed_cmp_1k_one_off",
            Some("eq_1k_one_off"),
            None,
            Box::new(|n| compare_loop(true, n, |a, b| Typed.compare(a, b))),
        ),
        (
            "structural_1k_one_off",
            Some("eq_1k_one_off"),
            None,
            Box::new(|n| compare_loop(true, n, |a, b| structural().compare(a, b))),
        ),
    ];
    // The child process with a Prometheus recorder runs its own rows.
    let filters: Vec<String> = if prometheus_child() {
        PROMETHEUS_ROWS.iter().map(|r| r.to_string()).collect()
    } else {
        // Arguments that are not flags filter the rows (criterion filters its own pass so too).
        std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .collect()
    };
    if filters.is_empty() {
        return rows;
    }
    let wanted: Vec<&str> = rows
        .iter()
        .filter(|r| {
            filters
                .iter()
                .flat_map(|f| f.split('|'))
                .any(|f| r.0.contains(f))
        })
        .flat_map(|r| [Some(r.0), r.1])
        .flatten()
        .collect();
    rows.into_iter().filter(|r| wanted.contains(&r.0)).collect()
}

// ---------------------------------------------------------------------------------------------
// Criterion.

/// Criterion's timings per row: (iterations, elapsed).
static TIMINGS: Mutex<Vec<(&'static str, u64, Duration)>> = Mutex::new(Vec::new());

fn criterion_row(b: &mut Bencher<'_>, row: &'static str, run: &Runner<'_>) {
    b.iter_custom(|iters| {
        let elapsed = run(iters);
        TIMINGS.lock().unwrap().push((row, iters, elapsed));
        elapsed
    });
}

fn criterion_rows(
    c: &mut Criterion,
    rows: &[(&'static str, Option<&str>, Option<f64>, Runner<'_>)],
) {
    let mut g = c.benchmark_group("overhead");
    for (name, _, _, run) in rows {
        g.bench_function(*name, |b| criterion_row(b, name, run));
    }
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// The interleaved pass and the closing table.

/// The `q` quantile of `v` (nearest rank); NaN when empty.
fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn median(v: Vec<f64>) -> f64 {
    quantile(v, 0.5)
}

fn ns_per_call(elapsed: Duration, n: u64) -> f64 {
    elapsed.as_nanos() as f64 / n.max(1) as f64
}

/// Criterion's median ns per call of each row.
fn criterion_medians() -> HashMap<&'static str, f64> {
    let timings = TIMINGS.lock().unwrap();
    let mut by_row: HashMap<&'static str, Vec<f64>> = HashMap::new();
    for &(row, iters, elapsed) in timings.iter() {
        by_row
            .entry(row)
            .or_default()
            .push(ns_per_call(elapsed, iters));
    }
    by_row
        .into_iter()
        .map(|(row, v)| {
            let skip = v.len().saturating_sub(SAMPLE_SIZE);
            (row, median(v[skip..].to_vec()))
        })
        .collect()
}

/// Every row in bursts of about `BURST`, interleaved: per row, its ns/call in every round.
fn interleaved(rows: &[(&'static str, Option<&str>, Option<f64>, Runner<'_>)]) -> Vec<Vec<f64>> {
    // Calibrate the burst length of each row.
    let calls: Vec<u64> = rows
        .iter()
        .map(|(_, _, _, run)| {
            let probe = 2_000;
            run(probe);
            let per_call = ns_per_call(run(probe), probe).max(0.1);
            ((BURST.as_nanos() as f64 / per_call) as u64).max(100)
        })
        .collect();
    let mut out = vec![Vec::with_capacity(ROUNDS); rows.len()];
    for round in 0..ROUNDS {
        // Alternate the order so that no row always runs right after the same neighbour.
        let order: Vec<usize> = if round % 2 == 0 {
            (0..rows.len()).collect()
        } else {
            (0..rows.len()).rev().collect()
        };
        for i in order {
            let n = calls[i];
            out[i].push(ns_per_call((rows[i].3)(n), n));
        }
    }
    out
}

fn print_table(
    rows: &[(&'static str, Option<&str>, Option<f64>, Runner<'_>)],
    rounds: &[Vec<f64>],
) {
    let crit = criterion_medians();
    let index = |name: &str| rows.iter().position(|r| r.0 == name);
    eprintln!();
    eprintln!(
        "{:<22} {:>9} {:>9}  {:<18} {:>9} {:>9}  target",
        "row", "ns/call", "criterion", "baseline", "delta", "crit.delta"
    );
    for (i, (name, base, target, _)) in rows.iter().enumerate() {
        let v = quantile(rounds[i].clone(), QUANTILE);
        let c = crit.get(name).copied().unwrap_or(f64::NAN);
        let Some(b) = base.and_then(index) else {
            eprintln!(
                "{name:<22} {v:>9.2} {c:>9.2}  {:<18} {:>9} {:>9}",
                "-", "-", "-"
            );
            continue;
        };
        let delta = v - quantile(rounds[b].clone(), QUANTILE);
        let crit_delta = c - crit.get(rows[b].0).copied().unwrap_or(f64::NAN);
        let verdict = match target {
            Some(t) if delta <= *t => format!("<= {t} ns: met"),
            Some(t) => format!("<= {t} ns: NOT met"),
            None => "(reported)".to_owned(),
        };
        eprintln!(
            "{name:<22} {v:>9.2} {c:>9.2}  {:<18} {delta:>+9.2} {crit_delta:>+9.2}  {verdict}",
            rows[b].0
        );
    }
    eprintln!(
        "(ns/call: quantile {QUANTILE} over {ROUNDS} interleaved rounds of ~{} us bursts; delta: \
         its difference to the baseline's; criterion: median of criterion's samples)",
        BURST.as_micros()
    );
    eprintln!();
    for name in [
        "bench::kill_switch_off",
        "bench::sampled_out",
        "bench::sticky_sampled_out",
        "bench::breaker_open",
        "bench::inline_shadow",
        "bench::detached_async",
        "bench::shed",
    ] {
        if let Some(s) = parallel_run::snapshot::experiment(name) {
            let c = &s.counts;
            eprintln!(
                "{name:<26} disabled={} sampled_out={} circuit_open={} shadowed={} match={} \
                 mismatch={} shed={} in_flight={} lost={}",
                c.get(Outcome::Disabled),
                c.get(Outcome::SampledOut),
                c.get(Outcome::CircuitOpen),
                s.shadowed,
                c.get(Outcome::Match),
                c.get(Outcome::Mismatch),
                c.get(Outcome::Shed),
                s.in_flight,
                s.lost(),
            );
        }
    }
}

/// Set in the child process that runs [`PROMETHEUS_ROWS`] with a Prometheus recorder.
const PROMETHEUS_ENV: &str = "PARALLEL_RUN_BENCH_PROMETHEUS";
const PROMETHEUS_ROWS: [&str; 3] = [
    "both_back_to_back",
    "inline_shadow",
    "detached_async_caller",
];

fn prometheus_child() -> bool {
    std::env::var_os(PROMETHEUS_ENV).is_some()
}

/// Runs this bench again with a Prometheus recorder installed, for [`PROMETHEUS_ROWS`]; its
/// table goes to stderr, after this process's.
fn prometheus_pass() {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    eprintln!("\n== the same rows with a Prometheus recorder installed (a child process):");
    let status = std::process::Command::new(exe)
        .arg("--bench")
        .env(PROMETHEUS_ENV, "1")
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => eprintln!("the Prometheus pass failed: {other:?}"),
    }
}

fn main() {
    let prometheus = prometheus_child().then(|| {
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .expect("a Prometheus recorder");
        // As a service's exporter does (`install` spawns the same upkeep every 5 s): without it
        // every histogram sample of the run stays queued in the recorder, whose memory then grows
        // by hundreds of MB (page faults on every new block), which no deployment sees.
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("prometheus-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_secs(5));
                upkeep.run_upkeep();
            })
            .expect("the upkeep thread");
        handle
    });
    let mut c = Criterion::default()
        .sample_size(SAMPLE_SIZE)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .nresamples(20_000)
        .configure_from_args();

    // Two workers drain the detached candidates spawned from the bench thread's `block_on`; an
    // experiment sheds beyond 1024 calls in flight, so tasks cannot pile up without bound.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("tokio runtime");

    // Every experiment's first call registers it (and allocates); get that out of the way, and
    // check that every row returns the primary's result.
    assert_eq!(with_kill_switch_off(|| annotated_default(7)), plain(7));
    assert_eq!(annotated_sampled(7), plain(7));
    assert_eq!(annotated_inline(7), plain(7));
    assert_eq!(annotated_sticky(7), plain(7));
    parallel_run::live::set_breaker(
        "bench::breaker_open",
        parallel_run::BreakerConfig {
            min_calls: 1,
            failure_ratio: 0.5,
            cooldown: Duration::from_secs(3600),
            ..Default::default()
        },
    )
    .expect("valid breaker");
    assert_eq!(annotated_breaker_open(7), plain(7));
    assert!(parallel_run::wait_idle(Duration::from_secs(10)));
    // The breaker is fed at the runtime timer's next tick.
    let opened = Instant::now();
    while parallel_run::snapshot::experiment("bench::breaker_open")
        .is_some_and(|s| s.breaker != parallel_run::BreakerState::Open)
        && opened.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        parallel_run::snapshot::experiment("bench::breaker_open").map(|s| s.breaker),
        Some(parallel_run::BreakerState::Open)
    );
    parallel_run::live::set_ramp("bench::ramp_half", 0.5).expect("valid ramp");
    assert_eq!(annotated_ramp(7), plain(7));
    assert_eq!(both_back_to_back(7), plain(7));
    // Every detached async call of the row spawns: no cap, queue or budget stops it.
    parallel_run::live::set_max_in_flight("bench::detached_async", 1 << 40).expect("a cap");
    parallel_run::lane::set_queue_capacity(1 << 40).expect("a capacity");
    parallel_run::lane::set_budget(None).expect("no budget");
    assert_eq!(rt.block_on(annotated_async(7)), plain(7));
    assert_eq!(rt.block_on(plain_async(7)), plain(7));
    // The shed row: its one slot is held for the rest of the bench (no timeout, no breaker, so
    // nothing frees it or turns the calls into `circuit_open`).
    let _hold = SHED_HOLD.lock().unwrap();
    parallel_run::live::set_timeout("bench::shed", None).expect("no timeout");
    parallel_run::live::set_breaker(
        "bench::shed",
        parallel_run::BreakerConfig {
            enabled: false,
            ..Default::default()
        },
    )
    .expect("valid breaker");
    assert_eq!(annotated_shed(7), plain(7));
    assert_eq!(annotated_shed(8), plain(8));
    assert_eq!(
        parallel_run::snapshot::experiment("bench::shed").map(|s| s.counts.get(Outcome::Shed)),
        Some(1)
    );
    let (a, same, other) = invoices();
    assert!(typed::diff(a, same).is_empty());
    assert_eq!(
        typed::diff(a, other).entries[0].to_string(),
        structural()
            .compare(a, other)
            .to_string()
            .trim_start_matches("mismatch:\n")
    );
    eprintln!(
        "invoice for the *_1k rows: {} bytes as JSON",
        serde_json::to_string(a).unwrap().len()
    );

    let rows = rows(&rt);
    criterion_rows(&mut c, &rows);
    c.final_summary();
    if !wait_idle_but_shed() {
        eprintln!("warning: detached candidates still in flight after 30 s");
    }

    let rounds = interleaved(&rows);
    if !wait_idle_but_shed() {
        eprintln!("warning: detached candidates still in flight after 30 s");
    }
    print_table(&rows, &rounds);
    eprintln!(
        "detached_async_caller: {} calls shed during its timed loops",
        DETACHED_SHED.load(std::sync::atomic::Ordering::Relaxed)
    );
    if let Some(handle) = prometheus {
        let text = handle.render();
        eprintln!(
            "Prometheus recorder: {} lines rendered, inline_shadow match counter present: {}",
            text.lines().count(),
            text.contains("experiment=\"bench::inline_shadow\",outcome=\"match\"")
        );
        return;
    }
    prometheus_pass();
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if filters.is_empty() || filters.iter().any(|f| "report_100mb".contains(f.as_str())) {
        report_row();
    }
}

/// Waits until no call is in flight but the shed row's one held call (which never ends).
fn wait_idle_but_shed() -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let in_flight: u64 = parallel_run::snapshot().iter().map(|s| s.in_flight).sum();
        let held = parallel_run::snapshot::experiment("bench::shed").map_or(0, |s| s.in_flight);
        if in_flight <= held {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ---------------------------------------------------------------------------------------------
// The report command's throughput.

/// Size of the synthetic log, and the throughput the command should reach on the 2-core VM.
const REPORT_LOG_BYTES: u64 = 100_000_000;
const REPORT_TARGET_MB_S: f64 = 50.0;

/// `parallel-run report` over a ~100 MB synthetic log: two passes, the faster one printed.
fn report_row() {
    let path = std::path::Path::new("target/parallel-run/bench-100mb.jsonl");
    let size = match shadow_cli::synth::ensure_log(path, REPORT_LOG_BYTES) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("report_100mb: cannot write {}: {e}", path.display());
            return;
        }
    };
    let mut best = Duration::MAX;
    for _ in 0..2 {
        let start = Instant::now();
        let report = shadow_cli::report_files(&[path], &shadow_cli::ReportOptions::default())
            .expect("the synthetic log is readable");
        black_box(shadow_cli::text::render(&report));
        best = best.min(start.elapsed());
    }
    let mb_s = size as f64 / 1e6 / best.as_secs_f64();
    eprintln!();
    eprintln!(
        "{:<22} {mb_s:>9.1} MB/s  ({:.1} MB in {:.3} s, faster of 2 passes; target >= {REPORT_TARGET_MB_S} MB/s: {})",
        "report_100mb",
        size as f64 / 1e6,
        best.as_secs_f64(),
        if mb_s >= REPORT_TARGET_MB_S { "met" } else { "NOT met" },
    );
}
