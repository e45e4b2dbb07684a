//! Hung async candidates with no timeout: when they hold every slot for a whole breaker window,
//! the breaker opens and one warning says why. Its own test binary: the hung calls stay in
//! flight for ever, so nothing here may wait for the process to be idle.

mod common;

use std::time::{Duration, Instant};

use parallel_run::{live, parallel_run, Outcome};

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn caller_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

// ------------------------------------------- hung candidates without a timeout trip the breaker

#[parallel_run(candidate = hung_forever_v2, max_in_flight = 2)]
async fn hung_forever(x: u64) -> u64 {
    x
}

async fn hung_forever_v2(_: u64) -> u64 {
    std::future::pending().await
}

#[test]
fn hung_async_candidates_with_no_timeout_open_the_breaker_and_warn_once() {
    let cap = common::capture();
    let name = "lane_hung::hung_forever";
    live::set_timeout(name, None).unwrap();
    live::set_breaker(
        name,
        parallel_run::BreakerConfig {
            window: Duration::from_millis(300),
            cooldown: Duration::from_secs(3600),
            ..Default::default()
        },
    )
    .unwrap();
    let rt = caller_runtime();
    rt.block_on(async {
        for i in 0..5 {
            assert_eq!(hung_forever(i).await, i);
        }
    });
    // Both slots are held for ever; nothing is decided for a whole breaker window.
    wait_for("the breaker to open", || {
        parallel_run::snapshot::experiment(name).unwrap().breaker
            == parallel_run::BreakerState::Open
    });
    rt.block_on(async {
        for i in 0..5 {
            assert_eq!(hung_forever(i).await, i);
        }
    });
    let s = parallel_run::snapshot::experiment(name).unwrap();
    assert_eq!(s.timeout, None);
    assert_eq!(s.running, 2);
    assert_eq!(s.in_flight, 2, "the two hung calls are never decided");
    assert_eq!(s.counts.get(Outcome::Shed), 3);
    assert_eq!(s.counts.get(Outcome::CircuitOpen), 5);
    assert_eq!(s.breaker_trips, 1);
    let warnings: Vec<_> = cap
        .events()
        .into_iter()
        .filter(|e| {
            e.level == tracing::Level::WARN && e.text.contains(name) && e.text.contains("hang")
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}
