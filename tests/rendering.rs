//! How results are rendered in discrepancy records and the default diff (issue 11, item 4): one
//! rule for every function, generic or not (`{:#?}`, the masked JSON form only for a type with a
//! `#[shadow(sensitive)]` part), and never two different values that look identical.

use std::fmt::Debug;
use std::time::Duration;

use parallel_run::{parallel_run, Discrepancy, ShadowCompare};

/// The one discrepancy an experiment recorded.
fn the_discrepancy(name: &str) -> Discrepancy {
    assert!(parallel_run::wait_idle(Duration::from_secs(20)));
    let s = parallel_run::snapshot::experiment(name).unwrap_or_else(|| panic!("{name} never ran"));
    assert_eq!(s.discrepancies.len(), 1, "{s:?}");
    s.discrepancies[0].clone()
}

// ------------------------------------------------------------- Some(None) against None

#[parallel_run(candidate = nested_v2, mode = inline, name = "rendering::nested")]
fn nested() -> Option<Option<u8>> {
    Some(None)
}

fn nested_v2() -> Option<Option<u8>> {
    None
}

#[test]
fn some_none_and_none_render_differently() {
    nested();
    let d = the_discrepancy("rendering::nested");
    // Was `null` on both sides: the JSON form of `Option` erases the difference.
    assert_eq!(d.primary.as_deref(), Some("Some(\n    None,\n)"));
    assert_eq!(d.candidate.as_deref(), Some("None"));
    assert_eq!(d.detail, "- Some(\n-     None,\n- )\n+ None");
}

// ------------------------------------------------------- a tuple inside an Option: {:#?}

#[parallel_run(candidate = pair_v2, mode = inline, name = "rendering::pair")]
fn pair() -> Option<(u8, &'static str)> {
    Some((1, "a"))
}

fn pair_v2() -> Option<(u8, &'static str)> {
    Some((1, "b"))
}

#[test]
fn std_types_render_with_pretty_debug() {
    pair();
    let d = the_discrepancy("rendering::pair");
    // Was `[1,"a"]`, the JSON form, where the guide (docs/guide/comparators.md) promises `{:#?}`.
    assert_eq!(d.primary, Some(format!("{:#?}", Some((1, "a")))));
    assert_eq!(d.candidate, Some(format!("{:#?}", Some((1, "b")))));
    assert!(
        d.detail.contains("-         \"a\",\n+         \"b\","),
        "{}",
        d.detail
    );
}

// ------------------------------------------- the same Vec<u8>, generic and non-generic

#[parallel_run(candidate = bytes_v2, mode = inline, name = "rendering::bytes")]
fn bytes(v: Vec<u8>) -> Vec<u8> {
    v
}

fn bytes_v2(mut v: Vec<u8>) -> Vec<u8> {
    v.push(0);
    v
}

#[parallel_run(candidate = generic_v2, mode = inline, name = "rendering::generic")]
fn generic<T: Clone + Debug + PartialEq + Default>(v: Vec<T>) -> Vec<T> {
    v
}

fn generic_v2<T: Clone + Debug + PartialEq + Default>(mut v: Vec<T>) -> Vec<T> {
    v.push(T::default());
    v
}

#[test]
fn generic_and_non_generic_functions_render_alike() {
    bytes(vec![1, 2]);
    generic(vec![1u8, 2]);
    let (a, b) = (
        the_discrepancy("rendering::bytes"),
        the_discrepancy("rendering::generic"),
    );
    // Was `[1,2]` (JSON, `Vec<u8>: ShadowCompare`) against `{:#?}` in the generic function.
    assert_eq!(a.primary, b.primary);
    assert_eq!(a.candidate, b.candidate);
    assert_eq!(a.detail, b.detail);
    assert_eq!(a.primary, Some(format!("{:#?}", vec![1u8, 2])));
}

// ------------------------------------------------ equal renderings of unequal values

#[parallel_run(candidate = ratio_v2, mode = inline, name = "rendering::nan")]
fn ratio() -> f64 {
    f64::NAN
}

fn ratio_v2() -> f64 {
    f64::NAN
}

#[parallel_run(
    candidate = label_v2,
    mode = inline,
    compare = |_: &String, _: &String| false,
    name = "rendering::same_by_comparator"
)]
fn label() -> String {
    "x".into()
}

fn label_v2() -> String {
    "x".into()
}

#[test]
fn values_that_differ_but_render_alike_are_said_to() {
    ratio();
    let d = the_discrepancy("rendering::nan");
    // Was `primary: NaN / candidate: NaN`, with nothing to say why.
    assert_eq!(
        d.detail,
        "values are not equal under PartialEq although they render identically (NaN?); both render as:\nNaN"
    );
    label();
    let d = the_discrepancy("rendering::same_by_comparator");
    assert!(
        d.detail.starts_with(
            "the comparator found the values different, although they render identically"
        ),
        "{}",
        d.detail
    );
}

// ------------------------------------------ derived types: Debug, or masked when sensitive

#[derive(Debug, Clone, PartialEq, ShadowCompare)]
pub struct Line {
    sku: String,
    qty: Option<Option<u32>>,
}

#[parallel_run(candidate = line_v2, mode = inline, name = "rendering::line")]
fn line() -> Line {
    Line {
        sku: "A".into(),
        qty: Some(None),
    }
}

fn line_v2() -> Line {
    Line {
        sku: "A".into(),
        qty: None,
    }
}

#[derive(Debug, Clone, PartialEq, ShadowCompare)]
pub struct Card {
    #[shadow(sensitive)]
    pan: String,
}

#[derive(Debug, Clone, PartialEq, ShadowCompare)]
pub struct Payment {
    card: Card,
    cents: u64,
}

#[parallel_run(candidate = pay_v2, mode = inline, name = "rendering::pay")]
fn pay() -> Payment {
    Payment {
        card: Card {
            pan: "4111111111111111".into(),
        },
        cents: 1,
    }
}

fn pay_v2() -> Payment {
    Payment {
        card: Card {
            pan: "4242424242424242".into(),
        },
        cents: 1,
    }
}

#[test]
fn derived_types_render_with_debug_unless_they_mask() {
    line();
    let d = the_discrepancy("rendering::line");
    // A derived type without a sensitive part: `{:#?}`, which tells `Some(None)` from `None`.
    assert!(
        d.detail
            .contains("-     qty: Some(\n-         None,\n-     ),\n+     qty: None,"),
        "{}",
        d.detail
    );

    pay();
    let d = the_discrepancy("rendering::pay");
    // The card is sensitive one level down: the masked JSON form, on both sides identical, and
    // said to be so, without the card number.
    let all = format!("{d:?}");
    assert!(!all.contains("4111") && !all.contains("4242"), "{all}");
    assert!(
        d.primary.as_deref().unwrap().contains("\"pan\": \"***\""),
        "{all}"
    );
    assert!(
        d.detail.starts_with("values are not equal under PartialEq although they render identically (NaN?); a part shown as \"***\" (`#[shadow(sensitive)]`) may be where they differ"),
        "{}",
        d.detail
    );
}
