use super::*;
use proptest::prelude::*;
use serde_json::json;

#[test]
fn paths_name_nested_fields_elements_and_missing_keys() {
    let d = Structural::new().diff(
        &json!({"id": 1, "lines": [{"amount": 10}, {"amount": 20}], "note": null}),
        &json!({"id": 1, "lines": [{"amount": 10}, {"amount": 21}], "extra": true}),
    );
    let got: Vec<String> = d.entries.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        vec![
            "$.extra: (missing) -> true",
            "$.lines[1].amount: 20 -> 21",
            "$.note: null -> (missing)"
        ]
    );
}

#[test]
fn ignore_patterns_with_wildcards() {
    let c = Structural::new().ignore("$.lines[*].note").ignore("$.*.at");
    let d = c.diff(
        &json!({"lines": [{"note": "a", "x": 1}], "meta": {"at": 1}}),
        &json!({"lines": [{"note": "b", "x": 1}], "meta": {"at": 2}}),
    );
    assert!(d.entries.is_empty());
    assert_eq!(d.ignored, vec!["$.lines[0].note", "$.meta.at"]);
}

#[test]
fn unordered_sequences_and_trimmed_strings() {
    let c = Structural::new().unordered("$.tags").trim("$.name");
    let d = c.diff(
        &json!({"tags": [1, 2, 2], "name": " x "}),
        &json!({"tags": [2, 1, 2], "name": "x"}),
    );
    assert!(d.entries.is_empty(), "{d:?}");
    let d = c.diff(&json!({"tags": [1, 2]}), &json!({"tags": [2, 3]}));
    let got: Vec<String> = d.entries.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        vec!["$.tags.*: 1 -> (missing)", "$.tags.*: (missing) -> 3"]
    );
}

#[test]
fn the_comparator_reports_acceptable_and_mismatch() {
    #[derive(Serialize, PartialEq)]
    struct P {
        cents: f64,
        at: u64,
    }
    let c = Structural::new().float_tolerance(0.01, 0.0).ignore("$.at");
    assert_eq!(
        c.compare(&P { cents: 1.0, at: 1 }, &P { cents: 1.0, at: 1 }),
        Verdict::Match
    );
    assert!(matches!(
        c.compare(
            &P { cents: 1.0, at: 1 },
            &P {
                cents: 1.005,
                at: 2
            }
        ),
        Verdict::Acceptable { .. }
    ));
    assert_eq!(
        c.compare(&P { cents: 1.0, at: 1 }, &P { cents: 1.5, at: 1 }),
        Verdict::mismatch("$.cents: 1.0 -> 1.5")
    );
}

#[test]
fn within_tolerates_close_timestamps_in_either_form() {
    let c = Structural::new()
        .within("$.at", Duration::from_millis(250))
        .within("$.*.ms", Duration::from_secs(2));
    let d = c.diff(
        &json!({"at": "2026-11-27T10:00:00.000Z", "x": {"ms": 1_795_773_600_000u64}}),
        &json!({"at": "2026-11-27T11:00:00.250+01:00", "x": {"ms": 1_795_773_601_999u64}}),
    );
    assert!(d.entries.is_empty(), "{d:?}");
    assert_eq!(d.tolerated, vec!["$.at", "$.x.ms"]);
    // A string against a number of milliseconds: the same instant.
    let d = c.diff(
        &json!({"at": "2026-11-27T10:00:00.100Z"}),
        &json!({"at": 1_795_773_600_000i64}),
    );
    assert_eq!(d.tolerated, vec!["$.at"]);
    // Too far apart, not timestamps, or outside the pattern: compared as usual.
    for (a, b) in [
        (
            json!({"at": "2026-11-27T10:00:00Z"}),
            json!({"at": "2026-11-27T10:00:00.251Z"}),
        ),
        (json!({"at": "soon"}), json!({"at": "later"})),
        (json!({"at": true}), json!({"at": false})),
        (json!({"other": 1}), json!({"other": 2})),
    ] {
        let d = c.diff(&a, &b);
        assert_eq!(d.entries.len(), 1, "{a} {b}");
        assert!(d.tolerated.is_empty());
    }
    // The largest tolerance of the matching patterns applies.
    let c = Structural::new()
        .within("$.at", Duration::from_millis(1))
        .within("$.*", Duration::from_secs(1));
    assert_eq!(
        c.diff(&json!({"at": 0}), &json!({"at": 900})).tolerated,
        vec!["$.at"]
    );
}

#[test]
fn nfc_tolerates_differences_of_normalisation_only() {
    let c = Structural::new()
        .nfc("$.name")
        .nfc("$.padded")
        .trim("$.padded");
    let d = c.diff(
        &json!({"name": "Ren\u{e9}e", "padded": " Z\u{fc}rich"}),
        &json!({"name": "Rene\u{301}e", "padded": "Zu\u{308}rich  "}),
    );
    assert!(d.entries.is_empty(), "{d:?}");
    assert_eq!(d.tolerated, vec!["$.name", "$.padded"]);
    // A real difference is still one; a path without `nfc` compares code points.
    let d = c.diff(&json!({"name": "Ren\u{e9}e"}), &json!({"name": "Rena"}));
    assert_eq!(d.entries.len(), 1);
    let d = Structural::new().diff(&json!("\u{e9}"), &json!("e\u{301}"));
    assert_eq!(d.entries[0].to_string(), "$: \"\u{e9}\" -> \"e\u{301}\"");
}

#[test]
fn a_missing_key_counts_as_null_or_empty_only_where_asked() {
    let c = Structural::new()
        .missing_as_null("$.address")
        .missing_as_empty("$.*.tags");
    let a = json!({"address": null, "item": {"tags": []}, "other": null});
    let b = json!({"item": {}});
    let d = c.diff(&a, &b);
    assert_eq!(d.tolerated, ["$.address", "$.item.tags"]);
    // Outside the patterns a missing key is a difference, as before.
    let got: Vec<String> = d.entries.iter().map(ToString::to_string).collect();
    assert_eq!(got, ["$.other: null -> (missing)"]);
    // Only absence is forgiven: a value against a missing key, `null` against a value, or
    // `null` where the pattern asks for empty collections still differ.
    for (a, b) in [
        (json!({"address": "Main St"}), json!({})),
        (json!({"address": null}), json!({"address": "Main St"})),
        (json!({"item": {"tags": null}}), json!({"item": {}})),
    ] {
        assert_eq!(c.diff(&a, &b).entries.len(), 1, "{a} {b}");
    }
    // `ignore` wins where both apply; the comparator calls a forgiven difference acceptable.
    let d = c.clone().ignore("$.address").diff(&a, &b);
    assert_eq!(d.ignored, ["$.address"]);
    #[derive(Serialize, PartialEq)]
    struct User {
        #[serde(skip_serializing_if = "Option::is_none")]
        address: Option<String>,
    }
    #[derive(Serialize, PartialEq)]
    struct UserV2 {
        address: Option<String>,
    }
    let (old, new) = (
        serde_json::to_value(User { address: None }).unwrap(),
        serde_json::to_value(UserV2 { address: None }).unwrap(),
    );
    assert!(Structural::new().diff(&old, &new).entries.len() == 1);
    assert_eq!(
        c.diff(&old, &new).verdict(),
        Verdict::acceptable("within tolerance at $.address")
    );
}

#[test]
fn large_integers_a_unit_apart_differ() {
    // Both are the same `f64`; the difference is still 1.
    let d = Structural::new().diff(
        &json!(55_412_965_755_426_284i64),
        &json!(55_412_965_755_426_285i64),
    );
    assert_eq!(d.entries.len(), 1, "{d:?}");
    let d = Structural::new()
        .float_tolerance(1.0, 0.0)
        .diff(&json!(u64::MAX), &json!(u64::MAX - 1));
    assert_eq!(d.tolerated, vec!["$"]);
}

#[test]
fn diff_verdicts() {
    assert_eq!(Diff::default().verdict(), Verdict::Match);
    let d = Diff {
        tolerated: vec!["$.a".into()],
        ignored: vec!["$.b".into(), "$.c".into()],
        ..Diff::default()
    };
    assert_eq!(
        d.verdict(),
        Verdict::acceptable("within tolerance at $.a; ignored paths $.b, $.c")
    );
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(|n| json!(n)),
        "[a-z]{0,6}".prop_map(Value::String),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-d]", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The paths of every leaf of `v`.
fn leaves(v: &Value, path: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                path.push(Seg::Key(k.clone()));
                leaves(x, path, out);
                path.pop();
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                path.push(Seg::Idx(i));
                leaves(x, path, out);
                path.pop();
            }
        }
        _ => out.push(path.clone()),
    }
}

fn set(v: &mut Value, path: &[Seg], new: Value) {
    match path.split_first() {
        None => *v = new,
        Some((Seg::Key(k), rest)) => set(v.get_mut(k.as_str()).unwrap(), rest, new),
        Some((Seg::Idx(i), rest)) => set(v.get_mut(*i).unwrap(), rest, new),
    }
}

proptest! {
    #[test]
    fn equal_values_have_no_diff(v in value()) {
        let d = Structural::new().diff(&v, &v.clone());
        prop_assert_eq!(d, Diff::default());
    }

    #[test]
    fn one_changed_leaf_gives_exactly_its_path(v in value(), pick in any::<prop::sample::Index>()) {
        let mut paths = Vec::new();
        leaves(&v, &mut Vec::new(), &mut paths);
        let path = pick.get(&paths).clone();
        let mut w = v.clone();
        // A value no generated leaf can be.
        set(&mut w, &path, json!("changed!"));
        let d = Structural::new().diff(&v, &w);
        prop_assert_eq!(d.entries.len(), 1);
        prop_assert_eq!(&d.entries[0].path, &render_path(&path));
        prop_assert_eq!(d.entries[0].candidate.clone(), Some(json!("changed!")));
    }

    #[test]
    fn within_is_symmetric_and_exact_at_its_bound(a in -(1i64 << 50)..(1i64 << 50), gap in 0i64..10_000, tol in 0u64..10_000) {
        let c = Structural::new().within("$", Duration::from_millis(tol));
        let b = a + gap;
        let ab = c.diff(&json!(a), &json!(b));
        let ba = c.diff(&json!(b), &json!(a));
        prop_assert_eq!(&ab.tolerated, &ba.tolerated);
        prop_assert_eq!(ab.entries.len(), ba.entries.len());
        prop_assert_eq!(ab.entries.is_empty(), gap.unsigned_abs() <= tol);
    }

    #[test]
    fn nfc_and_nfd_forms_are_tolerated(s in "[a-zA-Z\u{e0}-\u{ff} ]{0,8}") {
        use unicode_normalization::UnicodeNormalization;
        let nfd: String = s.nfd().collect();
        let d = Structural::new().nfc("$").diff(&json!(s), &json!(nfd));
        prop_assert!(d.entries.is_empty());
    }

    #[test]
    fn tolerance_is_symmetric(a in -1e6f64..1e6, b in -1e6f64..1e6, abs in 0f64..10.0, rel in 0f64..0.1) {
        let c = Structural::new().float_tolerance(abs, rel);
        let ab = c.diff(&json!(a), &json!(b));
        let ba = c.diff(&json!(b), &json!(a));
        prop_assert_eq!(ab.entries.is_empty(), ba.entries.is_empty());
        prop_assert_eq!(ab.tolerated.is_empty(), ba.tolerated.is_empty());
    }
}
