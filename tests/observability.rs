//! What reaches `metrics` and `tracing`: a counter per experiment and outcome, duration
//! histograms, a `warn` event per mismatch on the `parallel_run` target.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use parallel_run::parallel_run;

#[derive(Default)]
struct Store {
    counters: Mutex<HashMap<String, Arc<AtomicU64>>>,
    histograms: Mutex<HashMap<String, Arc<Mutex<Vec<f64>>>>>,
    /// Each gauge's value, as `f64` bits.
    gauges: Mutex<HashMap<String, Arc<AtomicU64>>>,
    /// The histograms registered from the runtime's timer thread (its handles, used by calls
    /// from then on) rather than at a call.
    on_timer: Mutex<std::collections::HashSet<String>>,
}

struct Cell(Arc<AtomicU64>);
impl metrics::CounterFn for Cell {
    fn increment(&self, v: u64) {
        self.0.fetch_add(v, Ordering::SeqCst);
    }
    fn absolute(&self, v: u64) {
        self.0.fetch_max(v, Ordering::SeqCst);
    }
}

struct Level(Arc<AtomicU64>);
impl metrics::GaugeFn for Level {
    fn increment(&self, v: f64) {
        self.set(f64::from_bits(self.0.load(Ordering::SeqCst)) + v);
    }
    fn decrement(&self, v: f64) {
        self.increment(-v);
    }
    fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::SeqCst);
    }
}

struct Samples(Arc<Mutex<Vec<f64>>>);
impl metrics::HistogramFn for Samples {
    fn record(&self, v: f64) {
        self.0.lock().unwrap().push(v);
    }
}

/// `name{label=value,...}` with labels sorted.
fn render(key: &Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

struct TestRecorder(&'static Store);
impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut m = self.0.counters.lock().unwrap();
        Counter::from_arc(Arc::new(Cell(m.entry(render(key)).or_default().clone())))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let mut m = self.0.gauges.lock().unwrap();
        Gauge::from_arc(Arc::new(Level(m.entry(render(key)).or_default().clone())))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        if std::thread::current().name() == Some("parallel-run-timer") {
            self.0.on_timer.lock().unwrap().insert(render(key));
        }
        let mut m = self.0.histograms.lock().unwrap();
        Histogram::from_arc(Arc::new(Samples(m.entry(render(key)).or_default().clone())))
    }
}

fn store() -> &'static Store {
    static STORE: OnceLock<&'static Store> = OnceLock::new();
    STORE.get_or_init(|| {
        let s: &'static Store = Box::leak(Box::default());
        metrics::set_global_recorder(TestRecorder(s)).expect("one recorder per test binary");
        s
    })
}

fn counter(name: &str) -> u64 {
    store()
        .counters
        .lock()
        .unwrap()
        .get(name)
        .map_or(0, |c| c.load(Ordering::SeqCst))
}

/// A gauge's value (`None`: never set).
fn gauge(name: &str) -> Option<f64> {
    store()
        .gauges
        .lock()
        .unwrap()
        .get(name)
        .map(|g| f64::from_bits(g.load(Ordering::SeqCst)))
}

#[parallel_run(candidate = price_v2, name = "obs.price", sample = 0.5)]
fn price(cents: u64) -> u64 {
    cents
}

fn price_v2(cents: u64) -> u64 {
    if cents % 2 == 0 {
        cents
    } else {
        cents + 1
    }
}

#[test]
fn outcomes_reach_metrics_and_mismatches_reach_tracing() {
    let store = store();
    let cap = common::capture();
    for i in 0..400 {
        assert_eq!(price(i), i);
    }
    assert!(parallel_run::wait_idle(Duration::from_secs(20)));
    parallel_run::snapshot::publish_metrics();
    let s = parallel_run::snapshot::experiment("obs.price").unwrap();

    let m = counter("parallel_run_outcomes_total{experiment=obs.price,outcome=match}");
    let mm = counter("parallel_run_outcomes_total{experiment=obs.price,outcome=mismatch}");
    let out = counter("parallel_run_outcomes_total{experiment=obs.price,outcome=sampled_out}");
    assert_eq!(m, s.counts.get(parallel_run::Outcome::Match));
    assert_eq!(mm, s.counts.get(parallel_run::Outcome::Mismatch));
    assert_eq!(out, s.counts.get(parallel_run::Outcome::SampledOut));
    // A burst of 200 shadowed calls meets the default cap (64 in flight): some are shed.
    let total: u64 = parallel_run::Outcome::ALL
        .iter()
        .map(|o| {
            counter(&format!(
                "parallel_run_outcomes_total{{experiment=obs.price,outcome={o}}}"
            ))
        })
        .sum();
    assert_eq!(total, 400, "every call is in the metrics once");
    for o in parallel_run::Outcome::ALL {
        let name = format!("parallel_run_outcomes_total{{experiment=obs.price,outcome={o}}}");
        assert_eq!(counter(&name), s.counts.get(o), "{o}");
    }
    assert!(m > 0 && mm > 0);

    let hist = store.histograms.lock().unwrap();
    let primary = hist["parallel_run_primary_duration_seconds{experiment=obs.price}"]
        .lock()
        .unwrap()
        .len();
    let candidate = hist["parallel_run_candidate_duration_seconds{experiment=obs.price}"]
        .lock()
        .unwrap()
        .len();
    // Durations are recorded for every candidate that ran (shed calls never ran one).
    let ran = s.shadowed - s.counts.get(parallel_run::Outcome::Shed);
    assert_eq!(primary as u64, ran);
    assert_eq!(candidate as u64, ran);

    let mismatch_events: Vec<_> = cap
        .events()
        .into_iter()
        .filter(|e| e.target == "parallel_run" && e.text.contains("experiment=obs.price"))
        .collect();
    assert_eq!(
        mismatch_events.len() as u64,
        mm,
        "one warn event per mismatch"
    );
    let e = &mismatch_events[0];
    assert_eq!(e.level, tracing::Level::WARN);
    assert!(e.text.contains("outcome=mismatch"), "{}", e.text);
    assert!(e.text.contains("diff=primary:"), "{}", e.text);
}

#[parallel_run(candidate = busy_v2, name = "obs.busy", mode = inline)]
fn busy(x: u64) -> u64 {
    x.wrapping_mul(3)
}

fn busy_v2(x: u64) -> u64 {
    x.wrapping_mul(3)
}

/// Three threads judge inline calls for a second and a half: long enough for the timer thread to
/// register the histograms (once a second), so that most samples are counted in the threads'
/// buckets, and fast enough for millions of samples between ticks. When the run is idle every
/// judged call has exactly one sample per side, whichever way it went.
#[test]
fn every_judged_call_has_its_durations_once_the_run_is_idle() {
    let store = store();
    let until = std::time::Instant::now() + Duration::from_millis(1500);
    let threads: Vec<_> = (0..3u64)
        .map(|t| {
            std::thread::spawn(move || {
                let mut i = t << 40;
                while std::time::Instant::now() < until {
                    for _ in 0..1000 {
                        assert_eq!(busy(i), i.wrapping_mul(3));
                        i += 1;
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(parallel_run::wait_idle(Duration::from_secs(20)));
    let s = parallel_run::snapshot::experiment("obs.busy").unwrap();
    let judged = s.counts.get(parallel_run::Outcome::Match);
    assert!(judged > 3000, "{judged} calls judged");
    let hist = store.histograms.lock().unwrap();
    for side in ["primary", "candidate"] {
        let samples = hist[&format!("parallel_run_{side}_duration_seconds{{experiment=obs.busy}}")]
            .lock()
            .unwrap()
            .clone();
        assert_eq!(samples.len() as u64, judged, "{side} samples");
        assert!(
            samples.iter().all(|&v| (0.0..1.0).contains(&v)),
            "{side}: a duration out of range"
        );
    }
}

#[parallel_run(candidate = spin_v2, name = "obs.spin", mode = inline)]
fn spin(x: u64) -> u64 {
    x
}

/// Busy for at least [`SPIN`] and up to 125 µs more, by `x`: its durations have a floor the
/// test knows, and are spread wide enough that exact values would almost all differ.
fn spin_v2(x: u64) -> u64 {
    let start = std::time::Instant::now();
    let busy = SPIN + Duration::from_nanos(x % 97 * 1_300);
    while start.elapsed() < busy {
        std::hint::spin_loop();
    }
    x
}

const SPIN: Duration = Duration::from_micros(300);

/// Samples counted in a thread's buckets reach the histogram as the middle of their bucket:
/// within 1/256 of the value, so a candidate that always takes at least 300 µs never shows
/// under 300 µs by more than that; and as few distinct values (buckets 2 µs wide there), each
/// recorded as many times as samples fell in its bucket, with every call counted. Exact values
/// of the candidate's 300–425 µs would almost all differ.
#[test]
fn bucketed_samples_stay_within_a_256th_of_their_value() {
    const KEY: &str = "parallel_run_candidate_duration_seconds{experiment=obs.spin}";
    let store = store();
    // The first call registers the experiment; its histograms get handles at the timer's next
    // publication, and the calls after that count their samples in buckets.
    assert_eq!(spin(0), 0);
    let registered = std::time::Instant::now() + Duration::from_secs(20);
    while !store.on_timer.lock().unwrap().contains(KEY) {
        assert!(
            std::time::Instant::now() < registered,
            "the timer never registered {KEY}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let until = std::time::Instant::now() + Duration::from_millis(600);
    let mut i = 1;
    while std::time::Instant::now() < until {
        assert_eq!(spin(i), i);
        i += 1;
    }
    assert!(parallel_run::wait_idle(Duration::from_secs(20)));
    let s = parallel_run::snapshot::experiment("obs.spin").unwrap();
    let judged = s.counts.get(parallel_run::Outcome::Match);
    assert_eq!(judged, i, "every call judged");
    let hist = store.histograms.lock().unwrap();
    let samples = hist[KEY].lock().unwrap().clone();
    assert_eq!(
        samples.len() as u64,
        judged,
        "one candidate sample per call"
    );
    let floor = SPIN.as_secs_f64() * (1.0 - 1.0 / 256.0);
    let low = samples.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(
        low >= floor,
        "a sample of {low} s, under the candidate's floor of {floor} s"
    );
    let mut distinct = samples.clone();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    assert!(
        distinct.len() * 4 < samples.len(),
        "{} distinct values for {} samples: not counted in buckets",
        distinct.len(),
        samples.len()
    );
}

static FEE_BUG: AtomicBool = AtomicBool::new(true);

#[parallel_run(candidate = fee_v2, mode = inline, min_match_rate = 0.95, min_samples = 40, name = "obs.fee")]
fn fee(cents: u64) -> u64 {
    cents / 10
}

fn fee_v2(cents: u64) -> u64 {
    if FEE_BUG.load(Ordering::SeqCst) && cents % 4 == 0 {
        cents / 10 + 1
    } else {
        cents / 10
    }
}

/// The promotion gate's status, one gauge per status set to 1 for the one in force, and the
/// requested ramp beside the one in force: a dashboard sees a ramp refused, open, and fallen
/// back as the snapshot does.
#[test]
fn the_gate_status_and_the_requested_ramp_reach_metrics() {
    use parallel_run::cutover::GateStatus;
    store();
    let statuses = ["no_ramp", "open", "refused", "fell_back", "unavailable"];
    let check = |want: &str, requested: f64, in_force: f64| {
        parallel_run::snapshot::publish_metrics();
        let s = parallel_run::snapshot::experiment("obs.fee").unwrap();
        assert_eq!(s.gate.as_str(), want, "{:?}", s.gate);
        for status in statuses {
            let v = gauge(&format!(
                "parallel_run_gate_status{{experiment=obs.fee,status={status}}}"
            ));
            assert_eq!(v, Some(if status == want { 1.0 } else { 0.0 }), "{status}");
        }
        let g = |name: &str| gauge(&format!("{name}{{experiment=obs.fee}}"));
        assert_eq!(g("parallel_run_ramp_requested_ratio"), Some(requested));
        assert_eq!(g("parallel_run_ramp_ratio"), Some(in_force));
    };
    fee(1);
    check("no_ramp", 0.0, 0.0);
    // 25% mismatches: the ramp asked for is refused.
    parallel_run::live::set_ramp("obs.fee", 0.5).unwrap();
    for c in 0..100 {
        fee(c);
    }
    check("refused", 0.5, 0.0);
    // Fixed: a fresh window, and the gate opens.
    FEE_BUG.store(false, Ordering::SeqCst);
    parallel_run::live::reset_gate_window("obs.fee");
    for c in 0..200 {
        fee(c);
    }
    check("open", 0.5, 0.5);
    // Regressed while ramping: back to 0%.
    FEE_BUG.store(true, Ordering::SeqCst);
    for c in 0..400 {
        fee(c);
    }
    check("fell_back", 0.5, 0.0);
    assert!(matches!(
        parallel_run::snapshot::experiment("obs.fee").unwrap().gate,
        GateStatus::FellBack { .. }
    ));
}
