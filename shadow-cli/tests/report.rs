//! `parallel-run report` from the outside: the library on small logs in a temp dir, and the
//! binary itself.

use std::process::{Command, Output, Stdio};

use serde_json::Value;
mod common;

use common::{bin, dir, report, write};
use shadow_cli::{report_files, ReportOptions, Verdict};

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn mismatch(key: &str, paths: &[&str]) -> String {
    let paths: Vec<String> = paths.iter().map(|p| format!("\"{p}\"")).collect();
    format!(
        r#"{{"v":1,"kind":"discrepancy","run":"r1","experiment":"pay","outcome":"mismatch","at_ms":1,"key":"{key}","detail":"diff of {key}","paths":[{}],"primary_us":100,"candidate_us":200}}"#,
        paths.join(",")
    )
}

fn summary(run: &str, exp: &str, at_ms: u64, outcomes: &str) -> String {
    format!(
        r#"{{"v":1,"kind":"summary","run":"{run}","experiment":"{exp}","at_ms":{at_ms},"outcomes":{outcomes}}}"#
    )
}

#[test]
fn groups_by_signature_with_array_indices_normalised() {
    let d = dir("report", "groups");
    let lines = [
        mismatch("k1", &["$.lines[3].amount", "$.total"]),
        mismatch("k2", &["$.total", "$.lines[0].amount"]),
        // Two indices of one array are one path in the signature.
        mismatch(
            "k3",
            &["$.lines[12].amount", "$.lines[3].amount", "$.total"],
        ),
        mismatch("k4", &["$.fee"]),
    ];
    let f = write(
        &d,
        "a.jsonl",
        &lines.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let r = report(&[f]);
    let e = &r.experiments[0];
    assert_eq!(e.discrepancies, 4);
    assert_eq!(e.signature_count, 2);
    let g = &e.signatures[0];
    assert_eq!(g.signature, "$.lines[*].amount, $.total");
    assert_eq!(g.count, 3);
    assert!((g.share_percent - 75.0).abs() < 1e-9);
    assert_eq!(g.example_key.as_deref(), Some("k1"));
    assert_eq!(g.example_detail, "diff of k1");
    assert_eq!(e.signatures[1].signature, "$.fee");
    let paths: Vec<(&str, u64)> = e
        .top_paths
        .iter()
        .map(|p| (p.path.as_str(), p.count))
        .collect();
    assert_eq!(
        paths,
        [("$.lines[*].amount", 3), ("$.total", 3), ("$.fee", 1)]
    );
    assert_eq!(e.latency.primary.p50_us, Some(100));
    assert_eq!(e.latency.candidate.p99_us, Some(200));

    // --top 1 keeps the largest group only.
    let r = report_files(
        &[d.join("a.jsonl")],
        &ReportOptions {
            top: 1,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.experiments[0].signatures.len(), 1);
    assert_eq!(r.experiments[0].signature_count, 2);
}

#[test]
fn signatures_without_paths_come_from_the_detail() {
    let d = dir("report", "derived");
    let f = write(
        &d,
        "a.jsonl",
        &[
            r#"{"experiment":"q","outcome":"mismatch","detail":"  Quote {\n-     cents: 10,\n+     cents: 11,\n  }"}"#,
            r#"{"experiment":"q","outcome":"mismatch","detail":"  Quote {\n-     cents: 20,\n+     cents: 23,\n  }"}"#,
            r#"{"experiment":"q","outcome":"candidate_panic","detail":"index 7 out of range for slice of length 3"}"#,
            r#"{"experiment":"q","outcome":"candidate_panic","detail":"index 12 out of range for slice of length 4"}"#,
            r#"{"experiment":"q","outcome":"timeout","paths":[]}"#,
        ],
    );
    let r = report(&[f]);
    let sigs: Vec<(&str, u64)> = r.experiments[0]
        .signatures
        .iter()
        .map(|g| (g.signature.as_str(), g.count))
        .collect();
    assert_eq!(
        sigs,
        [
            (
                "candidate_panic: index # out of range for slice of length #",
                2
            ),
            ("fields: cents", 2),
            ("timeout", 1)
        ]
    );
}

#[test]
fn match_rate_uses_the_last_summary_per_run_summed_over_runs_and_files() {
    let d = dir("report", "summaries");
    let a = write(
        &d,
        "a.jsonl",
        &[
            &summary("r1", "pay", 1000, r#"{"match":10,"mismatch":0}"#),
            &mismatch("k", &["$.x"]),
            &summary(
                "r1",
                "pay",
                2000,
                r#"{"match":100,"acceptable":0,"mismatch":0,"sampled_out":5000}"#,
            ),
        ],
    );
    let b = write(
        &d,
        "b.jsonl",
        &[
            &summary(
                "r2",
                "pay",
                1500,
                r#"{"match":800,"acceptable":99,"mismatch":1}"#,
            ),
            // An older summary of r1 read later: not the last one of r1.
            &summary("r1", "pay", 500, r#"{"match":5,"mismatch":5}"#),
        ],
    );
    let r = report(&[a.clone(), b.clone()]);
    let e = &r.experiments[0];
    assert_eq!(e.runs, 2);
    assert_eq!(e.calls, Some(1000));
    assert_eq!(e.agreeing, Some(999));
    assert_eq!(e.outcomes["sampled_out"], 5000);
    assert!((e.match_rate_percent.unwrap() - 99.9).abs() < 1e-9);
    assert_eq!(e.verdict, Verdict::Ready);

    let strict = report_files(
        &[a, b],
        &ReportOptions {
            target_percent: 99.95,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(strict.experiments[0].verdict, Verdict::NotReady);
}

#[test]
fn every_judged_outcome_counts_and_unknown_labels_are_kept() {
    let d = dir("report", "judged");
    let f = write(
        &d,
        "a.jsonl",
        &[&summary(
            "r",
            "e",
            1,
            r#"{"match":90,"acceptable":2,"ignored":2,"noise":1,"mismatch":1,"candidate_panic":1,"comparator_panic":1,"timeout":1,"write_refused":1,"shed":50,"brand_new":7}"#,
        )],
    );
    let e = &report(&[f]).experiments[0];
    assert_eq!(e.calls, Some(100));
    assert_eq!(e.agreeing, Some(95));
    assert_eq!(e.outcomes["brand_new"], 7);
    assert_eq!(e.verdict, Verdict::NotReady);
}

#[test]
fn without_summaries_the_verdict_is_unknown() {
    let d = dir("report", "unknown");
    let f = write(
        &d,
        "a.jsonl",
        &[&mismatch("k", &["$.a[1]"]), &mismatch("k", &["$.a[2]"])],
    );
    let r = report(std::slice::from_ref(&f));
    let e = &r.experiments[0];
    assert_eq!(e.verdict, Verdict::Unknown);
    assert_eq!((e.calls, e.match_rate_percent), (None, None));
    assert_eq!(e.signatures[0].signature, "$.a[*]");
    assert_eq!(e.signatures[0].count, 2);

    let out = bin(&["report", f.to_str().unwrap()]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("== pay: UNKNOWN"), "{text}");
    assert!(text.contains("calls unknown"), "{text}");
}

#[test]
fn old_format_lines_are_accepted() {
    let d = dir("report", "old");
    // What JsonLinesLog wrote before format v1: no v, kind, run, paths, key or served_by.
    let f = write(
        &d,
        "old.jsonl",
        &[
            r#"{"experiment":"payments::process","outcome":"mismatch","at_ms":1795756828501,"detail":"$.gross.minor: 29187 -> 29186\n$.net.minor: 28778 -> 28777","primary":"P","candidate":"C","primary_us":2293,"candidate_us":2500,"context":{"merchant":"m-1"}}"#,
            r#"{"experiment":"payments::process","outcome":"candidate_panic","at_ms":1795756828502,"detail":"boom","primary":null,"candidate":null,"primary_us":10,"candidate_us":0,"context":{}}"#,
        ],
    );
    let r = report(&[f]);
    assert_eq!(r.malformed.count, 0);
    let e = &r.experiments[0];
    assert_eq!(e.discrepancies, 2);
    assert_eq!(e.discrepancy_outcomes["candidate_panic"], 1);
    // Paths are recovered from a structural diff's text.
    assert_eq!(e.signatures[0].signature, "$.gross.minor, $.net.minor");
    assert_eq!(e.top_paths.len(), 2);
    assert_eq!(e.verdict, Verdict::Unknown);
}

#[test]
fn malformed_lines_are_counted_with_their_line_numbers() {
    let d = dir("report", "malformed");
    let f = write(
        &d,
        "m.jsonl",
        &[
            &mismatch("k", &["$.a"]),                   // 1
            "this is not json",                         // 2
            "",                                         // 3 empty: ignored
            "[1,2,3]",                                  // 4
            r#"{"outcome":"mismatch"}"#,                // 5
            r#"{"experiment":"pay"}"#,                  // 6
            "   ",                                      // 7 blank: ignored
            &mismatch("k", &["$.a"]),                   // 8
            r#"{"experiment":"pay","outcome":"mism"#,   // 9 cut off
            r#"{"kind":"summary","outcomes":{"m":1}}"#, // 10
            r#"{"kind":"heartbeat","experiment":"x"}"#, // 11 another kind: skipped
        ],
    );
    let r = report(std::slice::from_ref(&f));
    let lines: Vec<u64> = r.malformed.first.iter().map(|m| m.line).collect();
    assert_eq!(lines, [2, 4, 5, 6, 9, 10]);
    assert_eq!(r.malformed.count, 6);
    assert_eq!(r.other_kinds, 1);
    assert_eq!(r.lines, 9);
    assert_eq!(r.experiments.len(), 1);
    assert_eq!(r.experiments[0].discrepancies, 2);

    let out = bin(&["report", f.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("malformed lines: 6"), "{text}");
    assert!(
        text.contains(&format!("{}:4: not a JSON object", f.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("{}:2: not JSON", f.display())),
        "{text}"
    );
}

#[test]
fn only_the_first_twenty_malformed_lines_are_listed() {
    let d = dir("report", "many-malformed");
    let bad: Vec<&str> = vec!["nope"; 25];
    let f = write(&d, "m.jsonl", &bad);
    let r = report(&[f]);
    assert_eq!(r.malformed.count, 25);
    assert_eq!(r.malformed.first.len(), 20);
    assert_eq!(r.malformed.first[19].line, 20);
}

#[test]
fn deadlines_are_overdue_when_past_or_flagged() {
    let d = dir("report", "deadline");
    let line = |exp: &str, extra: &str| {
        format!(
            r#"{{"kind":"summary","run":"r","experiment":"{exp}","outcomes":{{"match":1}}{extra}}}"#
        )
    };
    let f = write(
        &d,
        "a.jsonl",
        &[
            &line("past", r#","deadline":"2000-01-01""#),
            &line(
                "future",
                r#","deadline":"2999-12-31","ramp":0.25,"gate":"open","noisy_paths":["$.t"]"#,
            ),
            &line("flagged", r#","deadline":"2999-12-31","overdue":true"#),
        ],
    );
    let r = report(&[f]);
    let get = |n: &str| r.experiments.iter().find(|e| e.name == n).unwrap();
    assert!(get("past").overdue);
    assert!(get("flagged").overdue);
    let future = get("future");
    assert!(!future.overdue);
    assert_eq!(future.deadline.as_deref(), Some("2999-12-31"));
    assert_eq!(future.ramp, Some(0.25));
    assert_eq!(future.gate.as_deref(), Some("open"));
    assert_eq!(future.noisy_paths, ["$.t"]);
}

#[test]
fn json_output_parses_and_has_the_numbers() {
    let d = dir("report", "json");
    let f = write(
        &d,
        "a.jsonl",
        &[
            &mismatch("k1", &["$.lines[0].a"]),
            &mismatch("k2", &["$.lines[1].a"]),
            &summary("r1", "pay", 1, r#"{"match":98,"mismatch":2}"#),
            "garbage",
        ],
    );
    let out = bin(&["report", "--json", "--target", "99", f.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).expect("one JSON document");
    assert_eq!(v["version"], 1);
    assert_eq!(v["target_percent"], 99.0);
    assert_eq!(v["malformed"]["count"], 1);
    assert_eq!(v["malformed"]["first"][0]["line"], 4);
    let e = &v["experiments"][0];
    assert_eq!(e["name"], "pay");
    assert_eq!(e["verdict"], "NOT READY");
    assert_eq!(e["calls"], 100);
    assert_eq!(e["match_rate_percent"], 98.0);
    assert_eq!(e["outcomes"]["mismatch"], 2);
    assert_eq!(e["discrepancies"], 2);
    assert_eq!(e["signatures"][0]["signature"], "$.lines[*].a");
    assert_eq!(e["signatures"][0]["count"], 2);
    assert_eq!(e["signatures"][0]["example_key"], "k1");
    assert_eq!(e["top_paths"][0]["path"], "$.lines[*].a");
    assert_eq!(e["latency"]["primary"]["p95_us"], 100);
    assert_eq!(e["latency"]["candidate"]["samples"], 2);
}

#[test]
fn html_is_self_contained_and_escapes_the_log() {
    let d = dir("report", "html");
    let f = write(
        &d,
        "a.jsonl",
        &[
            r#"{"experiment":"<script>alert(1)</script>","outcome":"mismatch","key":"<img src=x onerror=alert(2)>","detail":"</pre><script>alert(3)</script>","paths":["$.a[0]<script>"]}"#,
            r#"{"kind":"summary","run":"r","experiment":"<script>alert(1)</script>","outcomes":{"match":5,"mismatch":1,"<script>":1},"gate":"<b>x</b>","deadline":"<i>"}"#,
            r#"{"experiment":"fine","outcome":"mismatch","paths":["$.x"],"primary_us":5,"candidate_us":7}"#,
            r#"{"kind":"summary","run":"r","experiment":"fine","outcomes":{"match":100000}}"#,
        ],
    );
    let html = d.join("out.html");
    let out = bin(&[
        "report",
        "--html",
        html.to_str().unwrap(),
        f.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("== fine: READY"));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(
        !page.contains("<script"),
        "a script tag from the log got through"
    );
    assert!(!page.contains("<img"));
    assert!(!page.contains("<b>x</b>"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("&lt;img src=x onerror=alert(2)&gt;"));
    assert!(page.contains("<svg"));
    assert!(page.contains("READY") && page.contains("NOT READY"));
    // Nothing loaded from elsewhere.
    for external in ["http://", "https://", "<link", "@import", "url("] {
        assert!(!page.contains(external), "found {external}");
    }
}

#[test]
fn stdin_is_read_for_a_dash() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_parallel-run"))
        .args(["report", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = format!("{}\nnot json\n", mismatch("k", &["$.a"]));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["files"][0], "<stdin>");
    assert_eq!(v["experiments"][0]["discrepancies"], 1);
    assert_eq!(v["malformed"]["first"][0]["file"], "<stdin>");
    assert_eq!(v["malformed"]["first"][0]["line"], 2);
}

#[test]
fn bad_usage_fails_with_a_message_and_no_panic() {
    let d = dir("report", "usage");
    let f = write(&d, "a.jsonl", &[&mismatch("k", &["$.a"])]);
    let f = f.to_str().unwrap();

    let out = bin(&["report", "--frobnicate", f]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unexpected argument '--frobnicate'"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());

    for args in [
        &["report"][..],
        &["report", "--top", "many", f],
        &["report", "--target", "150", f],
        &["report", f, "--html"],
        &["summarise", f],
        &[],
    ] {
        let out = bin(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).starts_with("parallel-run: "), "{args:?}");
    }

    let missing = d.join("missing.jsonl");
    let out = bin(&["report", f, missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing.jsonl"), "{}", stderr(&out));
    assert!(
        stdout(&out).is_empty(),
        "nothing is reported when an input is missing"
    );

    let out = bin(&["report", d.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("directory"));

    let out = bin(&["report", "--html", "/nonexistent-dir/x.html", f]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("x.html"));

    // Each names what is wrong: the value, the option, the missing argument or command.
    for (args, says) in [
        (
            &["report", "--top", "many", f][..],
            "'many' for '--top <N>'",
        ),
        (
            &["report", "--target", "150", f],
            "'150' for '--target <PERCENT>'",
        ),
        (&["report", f, "--html"], "'--html <FILE>'"),
        (&["report"], "<FILE>"),
        (&["summarise", f], "'summarise'"),
        (&[], "requires a subcommand"),
    ] {
        assert!(stderr(&bin(args)).contains(says), "{args:?}");
    }

    for out in [
        bin(&["--help"]),
        bin(&["report", "--help"]),
        bin(&["help", "report"]),
    ] {
        assert!(out.status.success());
        assert!(stdout(&out).contains("Usage: parallel-run"));
        assert!(stdout(&out).contains("Exit status"));
    }
    let out = bin(&["report", "--help"]);
    for option in ["--target", "--top", "--json", "--html", "--force"] {
        assert!(stdout(&out).contains(option), "{option}");
    }
    let out = bin(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out),
        format!("parallel-run {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn binary_text_report_has_the_headline() {
    let d = dir("report", "text");
    let f = write(
        &d,
        "a.jsonl",
        &[
            &mismatch("order-17", &["$.gross.minor", "$.net.minor"]),
            &summary("r1", "pay", 1, r#"{"match":3937,"mismatch":63}"#),
        ],
    );
    let out = bin(&["report", f.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(
        text.contains("== pay: NOT READY  match rate 98.42% < 99.9% over 4,000 compared calls"),
        "{text}"
    );
    assert!(text.contains("$.gross.minor, $.net.minor"), "{text}");
    assert!(text.contains("e.g. key order-17"), "{text}");
}
