//! With a real recorder installed (metrics-exporter-prometheus), a matching inline shadowed call
//! allocates nothing on the caller's thread once its experiment's histograms are registered:
//! its duration samples are counted in the thread's buckets, and the timer thread hands them to
//! the recorder. Every sample still reaches it: the histograms' counts equal the calls.
//!
//! `allocation-counter` counts the allocations of the current thread only, so the timer thread's
//! recording (the exporter allocates as it stores samples) is not counted. A binary of its own:
//! a global recorder cannot be removed once installed.

use std::time::{Duration, Instant};

use parallel_run::{parallel_run, Outcome};

#[parallel_run(candidate = double_v2, mode = inline, name = "alloc_recorder::inline")]
fn double(x: u64) -> u64 {
    x * 2
}

fn double_v2(x: u64) -> u64 {
    x + x
}

/// The value of the sample line `name{experiment="alloc_recorder::inline"}` in `text`.
fn sample(text: &str, name: &str) -> Option<u64> {
    let prefix = format!("{name}{{experiment=\"alloc_recorder::inline\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn a_matching_inline_call_allocates_nothing_with_a_prometheus_recorder() {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("one recorder per test binary");
    const BATCH: u64 = 10_000;
    let mut calls = 0u64;
    // The experiment's first calls register it and record on the spot (through the recorder's
    // registry) until the timer thread registers its histograms, within about a second; from
    // then on a batch of calls allocates nothing.
    let until = Instant::now() + Duration::from_secs(20);
    let allocated = loop {
        let allocated = allocation_counter::measure(|| {
            for i in 0..BATCH {
                assert_eq!(double(i), i * 2);
            }
        })
        .count_total;
        calls += BATCH;
        if allocated == 0 || Instant::now() > until {
            break allocated;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        allocated, 0,
        "{BATCH} matching inline calls still allocated after 20 s"
    );

    assert!(parallel_run::wait_idle(Duration::from_secs(20)));
    let s = parallel_run::snapshot::experiment("alloc_recorder::inline").unwrap();
    assert_eq!(s.counts.get(Outcome::Match), calls, "every call matched");
    parallel_run::snapshot::publish_metrics();
    let text = handle.render();
    for side in ["primary", "candidate"] {
        let name = format!("parallel_run_{side}_duration_seconds_count");
        assert_eq!(
            sample(&text, &name),
            Some(calls),
            "{name}: one sample per call\n{text}"
        );
    }
}
