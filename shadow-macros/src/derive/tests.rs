//! Expansion snapshots of `#[derive(ShadowCompare)]` (pretty-printed, under `snapshots/`) and the
//! text of every attribute error. Review a changed expansion with
//! `INSTA_UPDATE=always cargo test -p shadow-macros` and `git diff`.

use super::{attr, shadow_compare};

/// Expands the derive on `item`, pretty-prints the result and snapshots it, with the input as
/// the snapshot's description.
macro_rules! assert_expansion {
    ($item:expr $(,)?) => {{
        let item: &str = $item;
        let expansion = pretty(shadow_compare(tokens(item)));
        insta::with_settings!({ description => item, omit_expression => true }, {
            insta::assert_snapshot!(expansion);
        });
    }};
}

use crate::tests::{pretty, tokens};

/// The errors for this input, one per line.
fn errors(item: &str) -> Vec<String> {
    let input: syn::DeriveInput = syn::parse2(tokens(item)).expect("test items parse");
    match attr::model(&input) {
        Ok(_) => panic!("expected an error for {item}"),
        Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn struct_with_every_field_attribute() {
    assert_expansion!(
        r#"struct Payment<T> {
    id: u64,
    #[shadow(tolerance = 0.005, relative = 1e-9)]
    fee: f64,
    #[shadow(within = "250ms")]
    at: SystemTime,
    #[shadow(ignore)]
    trace: String,
    #[shadow(unordered)]
    tags: Vec<T>,
    #[shadow(sensitive)]
    card: String,
    #[shadow(eq)]
    money: foreign::Money,
    #[shadow(trim, nfc)]
    r#name: String,
}"#
    );
}

#[test]
fn tuple_newtype_and_unit_structs() {
    assert_expansion!("struct Pair<'a>(u8, &'a str);");
    assert_expansion!("struct Cents(#[shadow(tolerance = 1)] i64);");
    assert_expansion!("struct Marker;");
}

#[test]
fn enum_of_every_variant_kind() {
    assert_expansion!(
        r#"#[shadow(crate = "::my_reexport::parallel_run")]
enum Status {
    Pending,
    Paid { at_ms: u64, #[shadow(sensitive)] card: String },
    Refunded(i64),
    Split(u8, u8),
}"#
    );
}

#[test]
fn empty_and_single_variant_enums() {
    assert_expansion!("enum Never {}");
    assert_expansion!("enum One { Only { n: u8 } }");
}

#[test]
fn unknown_and_duplicate_keys() {
    assert_eq!(
        errors("struct S { #[shadow(tolerence = 0.1)] x: f64 }"),
        ["unknown `shadow` field attribute `tolerence`; expected one of: ignore, tolerance, relative, within, unordered, trim, nfc, sensitive, missing_as_null, missing_as_empty, eq"]
    );
    assert_eq!(
        errors("struct S { #[shadow(ignore, ignore)] x: f64 }"),
        ["`ignore` is set more than once; give it once"]
    );
    // Across two attributes of the same field too.
    assert_eq!(
        errors("struct S { #[shadow(tolerance = 0.1)] #[shadow(tolerance = 0.2)] x: f64 }"),
        ["`tolerance` is set more than once; give it once"]
    );
    assert_eq!(
        errors("struct S { #[shadow(ignore = true)] x: f64 }"),
        ["`ignore` takes no value: write `#[shadow(ignore)]`"]
    );
    assert_eq!(
        errors("struct S { #[shadow] x: f64 }"),
        ["expected `#[shadow(...)]`, e.g. `#[shadow(ignore)]` or `#[shadow(tolerance = 0.005)]`"]
    );
    assert_eq!(
        errors("struct S { #[shadow(tolerance 0.1)] x: f64 }"),
        ["expected `=` after `tolerance`: `tolerance = ...`"]
    );
}

#[test]
fn bad_values() {
    for (item, message) in [
        (
            r#"struct S { #[shadow(tolerance = "0.1")] x: f64 }"#,
            "`tolerance` must be a number, such as `tolerance = 0.005`",
        ),
        (
            "struct S { #[shadow(relative = big)] x: f64 }",
            "`relative` must be a number, such as `relative = 1e-9`",
        ),
        (
            "struct S { #[shadow(tolerance = -0.1)] x: f64 }",
            "`tolerance` must not be negative: it is the largest difference tolerated",
        ),
        (
            "struct S { #[shadow(tolerance = 1e999)] x: f64 }",
            "`tolerance` must be a finite number",
        ),
        (
            r#"struct S { #[shadow(within = "soon")] x: u64 }"#,
            "`within` must be a duration such as \"150ms\", \"2s\" or \"1m\", found \"soon\"",
        ),
        (
            r#"struct S { #[shadow(within = "2")] x: u64 }"#,
            "`within` needs a unit (ns, us, ms, s, m or h), found \"2\"",
        ),
        (
            r#"struct S { #[shadow(within = "2 days")] x: u64 }"#,
            "unknown unit `days` in `within`; expected ns, us, ms, s, m or h (found \"2 days\")",
        ),
        (
            r#"struct S { #[shadow(within = "0s")] x: u64 }"#,
            "`within` must be more than zero (equal times always match), found \"0s\"",
        ),
        (
            "struct S { #[shadow(within = 2)] x: u64 }",
            "`within` takes a duration in a string, such as `within = \"2s\"`",
        ),
    ] {
        assert_eq!(errors(item), [message], "{item}");
    }
}

#[test]
fn exclusive_keys() {
    assert_eq!(
        errors("struct S { #[shadow(ignore, tolerance = 0.1, trim)] x: f64 }"),
        [
            "`tolerance` cannot be combined with `ignore`: an ignored field is never compared; remove one of them",
            "`trim` cannot be combined with `ignore`: an ignored field is never compared; remove one of them",
        ]
    );
    assert_eq!(
        errors(r#"struct S { #[shadow(eq, within = "1s")] x: f64 }"#),
        ["`within` cannot be combined with `eq`: an `eq` field is compared with `PartialEq` alone; remove one of them"]
    );
    // `ignore` and `eq` go together (a foreign type, ignored), and so do `sensitive` and `eq`.
    let ok: syn::DeriveInput = syn::parse_quote!(
        struct S {
            #[shadow(ignore, eq)]
            x: F,
            #[shadow(sensitive, eq)]
            y: F,
        }
    );
    assert!(attr::model(&ok).is_ok());
}

#[test]
fn every_error_of_the_input_at_once() {
    assert_eq!(
        errors(
            r#"#[shadow(ignore)]
enum E {
    #[shadow(ignore)]
    A { #[shadow(bogus)] x: u8 },
    B(#[shadow(within = "x")] u64),
}"#
        ),
        [
            "`ignore` is a field attribute: put it on a field; on the type, `shadow` accepts: crate",
            "`#[shadow(...)]` does not apply to an enum variant; put it on the variant's fields",
            "unknown `shadow` field attribute `bogus`; expected one of: ignore, tolerance, relative, within, unordered, trim, nfc, sensitive, missing_as_null, missing_as_empty, eq",
            "`within` must be a duration such as \"150ms\", \"2s\" or \"1m\", found \"x\"",
        ]
    );
}

#[test]
fn container_attributes() {
    assert_eq!(
        errors(r#"#[shadow(crate = "not a path")] struct S;"#),
        ["`crate` must be a path such as \"parallel_run\" or \"::my_reexport::parallel_run\""]
    );
    assert_eq!(
        errors(r#"#[shadow(crate = "a", crate = "b")] struct S;"#),
        ["`crate` is set more than once; give it once"]
    );
    assert_eq!(
        errors("#[shadow(rename_all = x)] struct S;"),
        ["unknown `shadow` attribute `rename_all` on the type; expected: crate"]
    );
    assert_eq!(
        errors("union U { a: u8, b: i8 }"),
        ["`ShadowCompare` cannot be derived for a union: which field is live is unknown; implement `ShadowCompare` by hand"]
    );
}

#[test]
fn errors_keep_a_stub_impl() {
    // The error, and an impl with stub bodies so that uses of the type add no errors of their own.
    let out = shadow_compare(tokens(
        r#"#[shadow(crate = "pr")] struct S<T> { #[shadow(tolerance = "x")] x: T }"#,
    ))
    .to_string();
    assert!(out.contains("compile_error"), "{out}");
    assert!(
        out.contains("impl < T > pr :: __private :: typed :: ShadowCompare for S < T >"),
        "{out}"
    );
}

#[test]
fn durations() {
    for (s, nanos) in [
        ("1ns", 1),
        ("150us", 150_000),
        ("150µs", 150_000),
        ("150ms", 150_000_000),
        ("2s", 2_000_000_000),
        ("1m", 60_000_000_000),
        ("1min", 60_000_000_000),
        ("1h", 3_600_000_000_000),
        (" 3 s ", 3_000_000_000),
    ] {
        assert_eq!(attr::parse_duration(s), Ok(nanos), "{s}");
    }
    assert!(attr::parse_duration("99999999999h").is_err());
}
