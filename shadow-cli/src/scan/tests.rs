use super::*;

fn sig(outcome: &str, detail: &str) -> String {
    let mut s = String::new();
    derived_signature(outcome, detail, &mut s);
    s
}

#[test]
fn debug_diff_gives_field_names() {
    let d = "  Payment {\n-     net: 10,\n+     net: 11,\n      fee: 1,\n-     gross: 3,\n+     gross: 4,\n  }";
    assert_eq!(sig("mismatch", d), "fields: gross, net");
}

#[test]
fn other_details_give_outcome_and_shape() {
    assert_eq!(
        sig("candidate_panic", "index 17 out of range for len 3\nmore"),
        "candidate_panic: index # out of range for len #"
    );
    assert_eq!(
        sig("mismatch", "primary:   Quote(10)\ncandidate: Quote(11)"),
        "mismatch: primary:   Quote(#)"
    );
    assert_eq!(sig("timeout", ""), "timeout");
    assert_eq!(sig("mismatch", "- Ok(3)\n+ Err(\"x\")"), "mismatch: Ok(#)");
}

#[test]
fn structural_detail_gives_paths() {
    let d = "$.lines[2].amount: 30.0 -> 31.0\n$.total: 1 -> 2";
    let p: Vec<_> = structural_paths(d).collect();
    assert_eq!(p, ["$.lines[2].amount", "$.total"]);
}

#[test]
fn normalise_leaves_odd_brackets() {
    assert_eq!(normalise_path("$.a[]"), "$.a[]");
    assert_eq!(normalise_path("$.a[1x]"), "$.a[1x]");
    assert_eq!(normalise_path("$[0][10]"), "$[*][*]");
    assert_eq!(normalise_path("$.a["), "$.a[");
}

#[test]
fn last_summary_per_run_wins_by_time_then_order() {
    let mut s = Scanner::new();
    s.line(
        "f",
        1,
        br#"{"kind":"summary","run":"r","experiment":"e","at_ms":20,"outcomes":{"match":5}}"#,
    );
    s.line(
        "f",
        2,
        br#"{"kind":"summary","run":"r","experiment":"e","at_ms":10,"outcomes":{"match":2}}"#,
    );
    s.line(
        "f",
        3,
        br#"{"kind":"summary","run":"r","experiment":"e","at_ms":20,"outcomes":{"match":6}}"#,
    );
    let r = &s.experiments["e"].runs["r"];
    assert_eq!(r.outcomes, [("match".to_owned(), 6)]);
}

#[test]
fn escaped_strings_and_numeric_keys_are_read() {
    let mut s = Scanner::new();
    s.line(
        "f",
        1,
        br#"{"experiment":"e\u0041","outcome":"mismatch","key":42,"primary_us":1.5e3}"#,
    );
    let e = &s.experiments["eA"];
    assert_eq!(e.primary_us, [1500]);
    assert_eq!(e.groups["mismatch"].key.as_deref(), Some("42"));
}

#[test]
fn excerpt_cuts_long_details() {
    let d: String = (0..10).map(|i| format!("line {i}\n")).collect();
    let e = excerpt(&d);
    assert!(e.starts_with("line 0\n"));
    assert!(e.ends_with("(4 more lines)"));
    assert_eq!(cut("ééé", 2), "éé...");
}
