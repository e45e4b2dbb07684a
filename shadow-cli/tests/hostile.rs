//! `parallel-run report` on hostile input (issue 12, item 2): counts that overflow or cannot add
//! up, outputs that would replace an input or a device, inputs with nothing usable, a byte order
//! mark, gzip logs. The binary is a debug build here, so an unchecked overflow would panic.

use std::io::Write as _;
use std::process::{Command, Output};

mod common;

use common::{bin, dir, report, write};
use shadow_cli::Verdict;

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn summary(run: &str, at_ms: u64, outcomes: &str) -> String {
    format!(
        r#"{{"v":1,"kind":"summary","run":"{run}","experiment":"x","at_ms":{at_ms},"outcomes":{outcomes}}}"#
    )
}

const MISMATCH: &str = r#"{"v":1,"kind":"discrepancy","run":"r1","experiment":"x","outcome":"mismatch","at_ms":1,"paths":["$.a"],"primary_us":10,"candidate_us":20}"#;

#[test]
fn counts_that_overflow_in_one_line_make_it_malformed() {
    let d = dir("hostile", "one-line");
    // The issue's line: in a debug build the old code panicked adding these, in release it
    // printed `UNKNOWN no call judged yet`.
    let f = write(
        &d,
        "a.jsonl",
        &[
            MISMATCH,
            &summary("r1", 1, r#"{"match":18446744073709551615,"mismatch":1}"#),
        ],
    );
    let r = report(std::slice::from_ref(&f));
    assert_eq!(r.malformed.count, 1);
    assert_eq!(r.malformed.first[0].line, 2);
    assert!(
        r.malformed.first[0].reason.contains("2^64"),
        "{:?}",
        r.malformed.first[0]
    );
    let e = &r.experiments[0];
    assert_eq!((e.calls, e.verdict), (None, Verdict::Unknown));

    let out = bin(&["report", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = text(&out);
    assert!(!t.contains("panicked"), "{t}");
    assert!(t.contains(&format!("{}:2: ", f.display())), "{t}");
    assert!(t.contains("no summary line"), "{t}");
}

#[test]
fn runs_whose_sum_overflows_are_not_added_and_the_later_line_is_named() {
    let d = dir("hostile", "two-runs");
    let half = 1u64 << 63;
    let f = write(
        &d,
        "a.jsonl",
        &[
            &summary("r1", 10, &format!(r#"{{"match":{half}}}"#)),
            &summary("r2", 20, &format!(r#"{{"match":{half}}}"#)),
        ],
    );
    let r = report(std::slice::from_ref(&f));
    let e = &r.experiments[0];
    // r1 alone: 2^63 calls, all agreeing; r2's line is refused, with its place.
    assert_eq!(e.calls, Some(half));
    assert_eq!(e.runs, 1);
    assert_eq!(e.verdict, Verdict::Ready);
    assert_eq!(r.malformed.count, 1);
    assert_eq!(r.malformed.first[0].line, 2);
    assert!(r.malformed.first[0].reason.contains("run `r2`"));
    // The sum would have wrapped to 0 calls in release: the text says 2^63.
    let out = bin(&["report", f.to_str().unwrap()]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("over 9,223,372,036,854,775,808 compared calls"),
        "{t}"
    );

    // Two runs of 2^63 - 1 each fit: nothing refused.
    let fits = write(
        &d,
        "b.jsonl",
        &[
            &summary("r1", 10, &format!(r#"{{"match":{}}}"#, half - 1)),
            &summary("r2", 20, &format!(r#"{{"mismatch":{}}}"#, half - 1)),
        ],
    );
    let r = report(&[fits]);
    assert_eq!(r.malformed.count, 0);
    assert_eq!(r.experiments[0].calls, Some(u64::MAX - 1));
}

#[test]
fn impossible_counts_are_malformed() {
    let d = dir("hostile", "impossible");
    let f = write(
        &d,
        "a.jsonl",
        &[
            &summary("r1", 1, r#"{"match":-5}"#),  // 1 negative
            &summary("r2", 1, r#"{"match":2.5}"#), // 2 fractional
            &summary("r3", 1, r#"{"match":18446744073709551616}"#), // 3 2^64
            &summary("r4", 1, r#"{"match":10,"mismatch":1,"match":3}"#), // 4 twice
            r#"{"kind":"summary","run":"r5","experiment":"x","outcomes":{"match":1},"ramp":5}"#, // 5
            r#"{"kind":"summary","run":"r6","experiment":"x","outcomes":{"match":1},"timed":-1}"#, // 6
            r#"{"experiment":"x","outcome":"mismatch","primary_us":-3}"#, // 7 negative duration
            &summary("ok", 1, r#"{"match":7}"#),                          // 8
        ],
    );
    let r = report(&[f]);
    let lines: Vec<u64> = r.malformed.first.iter().map(|m| m.line).collect();
    assert_eq!(lines, [1, 2, 3, 4, 5, 6, 7], "{:?}", r.malformed.first);
    assert!(r.malformed.first[3]
        .reason
        .contains("`match` is given twice"));
    assert!(r.malformed.first[4].reason.contains("ramp 5"));
    // Before, -5 was read as 0, 2.5 as 2, 2^64 as 2^64 - 1 and the twice-named match as 13.
    assert_eq!(r.experiments[0].calls, Some(7));
    assert_eq!(r.experiments[0].runs, 1);
}

#[test]
fn the_page_never_replaces_an_input() {
    let d = dir("hostile", "html-input");
    let f = write(
        &d,
        "c.jsonl",
        &[MISMATCH, &summary("r1", 1, r#"{"match":9}"#)],
    );
    let before = std::fs::read(&f).unwrap();
    let p = f.to_str().unwrap();
    for args in [
        &["report", "--html", p, p][..],
        &["report", "--force", "--html", p, p],
        &["report", "--html", p, "-"],
    ] {
        let out = if args[args.len() - 1] == "-" {
            // The same file as standard input.
            Command::new(env!("CARGO_BIN_EXE_parallel-run"))
                .args(args)
                .stdin(std::fs::File::open(&f).unwrap())
                .output()
                .unwrap()
        } else {
            bin(args)
        };
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("is one of the inputs"),
            "{}",
            text(&out)
        );
        assert!(out.stdout.is_empty(), "refused before any work");
    }
    // Through another name: a hard link and a symbolic link.
    let hard = d.join("hard.html");
    std::fs::hard_link(&f, &hard).unwrap();
    #[cfg(unix)]
    {
        let soft = d.join("soft.html");
        std::os::unix::fs::symlink(&f, &soft).unwrap();
        let out = bin(&["report", "--force", "--html", soft.to_str().unwrap(), p]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    }
    let out = bin(&["report", "--html", hard.to_str().unwrap(), p]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(std::fs::read(&f).unwrap(), before, "the log is intact");

    // Another regular file is written, and replaced on the next run.
    let page = d.join("page.html");
    std::fs::write(&page, "old").unwrap();
    let out = bin(&["report", "--html", page.to_str().unwrap(), p]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(std::fs::read_to_string(&page)
        .unwrap()
        .starts_with("<!DOCTYPE html>"));
}

#[cfg(unix)]
#[test]
fn the_page_is_not_written_to_a_device_a_pipe_or_through_a_link_without_force() {
    use std::os::unix::fs::FileTypeExt;
    let d = dir("hostile", "html-special");
    let f = write(
        &d,
        "c.jsonl",
        &[MISMATCH, &summary("r1", 1, r#"{"match":9}"#)],
    );
    let p = f.to_str().unwrap();

    let out = bin(&["report", "--html", "/dev/null", p]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("a character device"), "{}", text(&out));
    let out = bin(&["report", "--force", "--html", "/dev/null", p]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());

    let sub = d.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let out = bin(&["report", "--html", sub.to_str().unwrap(), p]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("a directory"), "{}", text(&out));

    let target = d.join("elsewhere.html");
    std::fs::write(&target, "keep me").unwrap();
    let link = d.join("link.html");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = bin(&["report", "--html", link.to_str().unwrap(), p]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("a symbolic link"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    let out = bin(&["report", "--force", "--html", link.to_str().unwrap(), p]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(std::fs::read_to_string(&target)
        .unwrap()
        .starts_with("<!DOCTYPE html>"));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());

    let fifo = d.join("pipe.html");
    if Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success())
    {
        let out = bin(&["report", "--html", fifo.to_str().unwrap(), p]);
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out).contains("a named pipe"), "{}", text(&out));
    }
}

#[test]
fn nothing_usable_exits_non_zero() {
    let d = dir("hostile", "unusable");
    let bad = write(
        &d,
        "bad.jsonl",
        &["nope", "[1]", r#"{"outcome":"mismatch"}"#],
    );
    let out = bin(&["report", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("none of the 3 lines"), "{}", text(&out));
    // The report is still printed: it lists what was wrong.
    assert!(text(&out).contains(&format!("{}:1: not JSON", bad.display())));

    let empty = d.join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let out = bin(&["report", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("the input is empty"), "{}", text(&out));

    // One usable line among them is a report.
    let some = write(&d, "some.jsonl", &["nope", MISMATCH]);
    let out = bin(&["report", some.to_str().unwrap(), bad.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let r = report(&[some, bad]);
    assert_eq!((r.used_lines, r.malformed.count), (1, 4));
}

#[test]
fn the_text_says_compared_calls_and_names_both_latency_populations() {
    let d = dir("hostile", "wording");
    let f = write(
        &d,
        "a.jsonl",
        &[
            MISMATCH,
            r#"{"kind":"summary","run":"r1","experiment":"x","at_ms":1,"outcomes":{"match":1003,"mismatch":1,"sampled_out":2996},"timed":1004,"primary_us_sum":100400,"candidate_us_sum":200800}"#,
        ],
    );
    let out = bin(&["report", f.to_str().unwrap()]);
    let t = text(&out);
    assert!(
        t.contains("over 1,004 compared calls of 4,000 calls"),
        "{t}"
    );
    assert!(t.contains("- percentiles over discrepancy lines -"), "{t}");
    assert!(t.contains("- mean over timed -"), "{t}");
    assert!(t.contains("means over all timed calls"), "{t}");
    // primary: p50 10 over 1 line, mean 100 over 1,004 calls.
    let row = t
        .lines()
        .find(|l| l.trim_start().starts_with("primary"))
        .unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cols,
        ["primary", "10", "10", "10", "1", "100", "1,004"],
        "{row}"
    );
    let r = report(&[f]);
    assert_eq!(r.experiments[0].total_calls, Some(4000));
    assert_eq!(r.experiments[0].latency.primary.timed_calls, Some(1004));
}

#[test]
fn a_byte_order_mark_on_line_one_is_skipped() {
    let d = dir("hostile", "bom");
    let p = d.join("bom.jsonl");
    std::fs::write(&p, format!("\u{feff}{MISMATCH}\n{MISMATCH}\n")).unwrap();
    let r = report(&[p]);
    assert_eq!(r.malformed.count, 0, "{:?}", r.malformed.first);
    assert_eq!(r.experiments[0].discrepancies, 2);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn gzip_logs_are_read_as_they_are() {
    let d = dir("hostile", "gzip");
    let first = format!(
        "{MISMATCH}\n{}\n",
        summary("r1", 1, r#"{"match":9,"mismatch":1}"#)
    );
    let second = format!("{MISMATCH}\n{}\n", summary("r2", 2, r#"{"match":10}"#));
    // One member, as logrotate's compress writes it.
    let one = d.join("a.jsonl.1.gz");
    std::fs::write(&one, gzip(first.as_bytes())).unwrap();
    let r = report(std::slice::from_ref(&one));
    assert_eq!(r.malformed.count, 0, "{:?}", r.malformed.first);
    assert_eq!(r.experiments[0].calls, Some(10));
    assert_eq!(r.bytes, first.len() as u64);

    // Two members concatenated (`cat a.gz b.gz`, or gzip appending), under any name.
    let two = d.join("both.log");
    let mut both = gzip(first.as_bytes());
    both.extend(gzip(second.as_bytes()));
    std::fs::write(&two, &both).unwrap();
    let r = report(std::slice::from_ref(&two));
    assert_eq!(r.experiments[0].calls, Some(20));
    assert_eq!(r.experiments[0].discrepancies, 2);

    // Standard input too.
    let out = Command::new(env!("CARGO_BIN_EXE_parallel-run"))
        .args(["report", "--json", "-"])
        .stdin(std::fs::File::open(&two).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["experiments"][0]["calls"], 20);

    // Cut off half-way (a copy taken while gzip was writing): the whole lines before the cut
    // are kept, the cut is one malformed line, and nothing panics.
    let cut = d.join("cut.jsonl.gz");
    let mut big = String::new();
    for i in 0..2000 {
        big.push_str(&MISMATCH.replace("\"$.a\"", &format!("\"$.a{i}\"")));
        big.push('\n');
    }
    let z = gzip(big.as_bytes());
    std::fs::write(&cut, &z[..z.len() / 2]).unwrap();
    let r = report(std::slice::from_ref(&cut));
    let e = &r.experiments[0];
    assert!(
        e.discrepancies > 0 && e.discrepancies < 2000,
        "{}",
        e.discrepancies
    );
    assert_eq!(r.malformed.count, 1);
    assert!(
        r.malformed.first[0].reason.contains("gzip"),
        "{:?}",
        r.malformed.first
    );
    assert_eq!(r.malformed.first[0].line, e.discrepancies + 1);
}
