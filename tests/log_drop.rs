//! The discrepancy log never blocks the caller: when the disk (here, a pipe nobody reads) stalls
//! the writer, the bounded queue fills, further lines are dropped and counted, and the caller
//! goes on. Unix only (a FIFO stands in for a stalled disk). `JsonLinesLog::open` refuses a
//! FIFO (it owns regular files only, which it may rotate): the test opens the pipe itself and
//! hands it to `JsonLinesLog::from_writer`, as a user logging into a pipe would. The drops
//! also reach a real Prometheus recorder as `parallel_run_discrepancy_log_dropped_total{path}`.
#![cfg(unix)]

use std::io::Read;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use parallel_run::publish::{JsonLinesLog, Publisher};
use parallel_run::{Discrepancy, Outcome};

fn discrepancy(i: usize) -> Discrepancy {
    Discrepancy {
        experiment: "log_drop::stalled",
        context: vec![("i", i.to_string())],
        outcome: Outcome::Mismatch,
        detail: format!("$.padding: {} -> 0", "x".repeat(1000)),
        primary: Some(i.to_string()),
        candidate: Some("0".into()),
        primary_duration: Duration::ZERO,
        candidate_duration: Duration::ZERO,
        primary_cpu: None,
        candidate_cpu: None,
        at: SystemTime::now(),
        served_by_candidate: false,
        candidate_ran_first: false,
        key: None,
        inputs: None,
    }
}

#[test]
fn a_stalled_writer_drops_and_counts_lines_without_blocking_the_caller() {
    let dir = std::env::temp_dir().join(format!("pr-log-drop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("stalled.jsonl");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("mkfifo unavailable: skipped");
        return;
    }
    // The reader opens the pipe (opening blocks until the log opens the other end), then reads
    // nothing until told to: the writer stalls once the pipe's buffer (64 KiB) is full.
    let (go, wait) = mpsc::channel::<()>();
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || {
        let mut f = std::fs::File::open(&reader_path).unwrap();
        wait.recv().unwrap();
        let mut all = String::new();
        f.read_to_string(&mut all).unwrap();
        all
    });
    // Blocks until the reader has opened its end.
    let pipe = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("the only recorder of this test binary");
    let log = JsonLinesLog::from_writer(pipe, 8).unwrap();
    // A file log publishes its series at 0 from the start, labelled with its path.
    let file = dir.join("quiet.jsonl");
    let quiet = JsonLinesLog::open(&file).unwrap();
    quiet.flush();
    let quiet_series = format!(
        "parallel_run_discrepancy_log_dropped_total{{path=\"{}\"}}",
        file.display()
    );
    assert_eq!(
        sample(&prometheus.render(), &quiet_series),
        Some(0),
        "{}",
        prometheus.render()
    );

    let sent = 2_000;
    for i in 0..sent {
        log.publish(&discrepancy(i)); // never blocks: a full queue drops the line
    }
    let dropped = log.dropped() as usize;
    // ~1.2 KB per line: the pipe holds ~50 lines, the queue 8, the writer one in hand.
    assert!(dropped >= sent - 200, "dropped {dropped} of {sent}");

    // The disk comes back: everything that was not dropped is written, intact.
    go.send(()).unwrap();
    log.flush();
    // Published at the flush, after the last drop: the metric says what `dropped()` says.
    let writer_series = "parallel_run_discrepancy_log_dropped_total{path=\"(writer)\"}";
    assert_eq!(
        sample(&prometheus.render(), writer_series),
        Some(dropped as u64),
        "{}",
        prometheus.render()
    );
    drop(log);
    let text = reader.join().unwrap();
    let written: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("whole JSON lines"))
        .filter(|v: &serde_json::Value| v["kind"] == "discrepancy")
        .collect();
    assert_eq!(written.len() + dropped, sent);
    // In order, with no line torn by the stall.
    let ids: Vec<usize> = written
        .iter()
        .map(|v| v["context"]["i"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The value of `series` (name and labels, exactly as rendered) in a Prometheus text exposition.
fn sample(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("a whole number"))
}
