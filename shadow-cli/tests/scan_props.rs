//! Property tests: no line, however random or cut short, panics the scanner, the report or its
//! renderings, and every line read is counted exactly once (used, malformed or another kind).

use proptest::prelude::*;
use shadow_cli::{html, text, Report, ReportOptions, Scanner};

/// Lines the log really writes, with counts anywhere in `u64`.
fn valid_line() -> impl Strategy<Value = String> {
    let count = prop_oneof![
        Just(0u64),
        0u64..1_000_000,
        Just(u64::MAX),
        Just(1u64 << 63),
        any::<u64>()
    ];
    prop_oneof![
        (
            "[a-z:]{1,12}",
            "(r1|r2|r3)",
            count.clone(),
            count.clone(),
            count.clone(),
            any::<u64>()
        )
            .prop_map(|(exp, run, m, x, t, at)| format!(
                r#"{{"v":1,"kind":"summary","run":"{run}","experiment":"{exp}","at_ms":{at},"outcomes":{{"match":{m},"mismatch":{x},"sampled_out":{t}}},"timed":{t},"primary_us_sum":{m},"candidate_us_sum":{x},"ramp":0.5,"deadline":"2026-02-30","noisy_paths":["$.t"]}}"#
            )),
        ("[a-z:]{1,12}", "[$a-z.\\[\\]0-9]{0,20}", count.clone(), count).prop_map(
            |(exp, path, p, c)| format!(
                r#"{{"v":1,"kind":"discrepancy","experiment":"{exp}","outcome":"mismatch","paths":["{path}"],"detail":"{path}: 1 -> 2\n-   f: 1,","primary_us":{p},"candidate_us":{c},"key":{p}}}"#
            )
        ),
    ]
}

fn render_all(s: &Scanner) {
    let r = Report::build(s, &ReportOptions::default(), vec!["f".into()]);
    let _ = text::render(&r);
    let _ = html::render(&r);
    let _ = serde_json::to_string(&r).unwrap();
    for e in &r.experiments {
        if let (Some(c), Some(t), Some(a)) = (e.calls, e.total_calls, e.agreeing) {
            assert!(a <= c && c <= t, "{a} {c} {t}");
        }
    }
}

fn accounted(s: &Scanner) {
    assert_eq!(
        s.lines(),
        s.used() + s.malformed_count() + Report::build(s, &Default::default(), vec![]).other_kinds
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(lines in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..20)) {
        let mut s = Scanner::new();
        for (i, l) in lines.iter().enumerate() {
            s.line("f", i as u64 + 1, l);
        }
        accounted(&s);
        render_all(&s);
    }

    #[test]
    fn random_json_ish_text_never_panics(lines in prop::collection::vec("[{}\\[\\]\":,a-z0-9.eE+-]{0,80}", 0..20)) {
        let mut s = Scanner::new();
        for (i, l) in lines.iter().enumerate() {
            s.line("f", i as u64 + 1, l.as_bytes());
        }
        accounted(&s);
        render_all(&s);
    }

    #[test]
    fn valid_and_truncated_lines_never_panic(
        lines in prop::collection::vec((valid_line(), any::<prop::sample::Index>(), any::<bool>()), 1..30)
    ) {
        let mut s = Scanner::new();
        let mut input = Vec::new();
        for (line, cut, whole) in &lines {
            let b = line.as_bytes();
            let b = if *whole { b } else { &b[..cut.index(b.len() + 1)] };
            input.extend_from_slice(b);
            input.push(b'\n');
        }
        s.read("f", &input[..], |_| {}).unwrap();
        accounted(&s);
        render_all(&s);
    }

    #[test]
    fn random_gzip_looking_input_never_panics(tail in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut input = vec![0x1f, 0x8b];
        input.extend(tail);
        let mut s = Scanner::new();
        s.read("f.gz", &input[..], |_| {}).unwrap();
        accounted(&s);
        render_all(&s);
    }
}
