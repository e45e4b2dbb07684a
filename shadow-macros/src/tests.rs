//! Expansion snapshots (pretty-printed with `prettyplease`, stored under `src/snapshots/`) and the
//! text of every argument and validation error. Review a changed expansion with
//! `INSTA_UPDATE=always cargo test -p shadow-macros` and `git diff`.

use proc_macro2::TokenStream;
use quote::quote;

use crate::{expand, parse, validate};

/// Expands `#[parallel_run(args)] item`, pretty-prints the result and snapshots it, with the
/// input as the snapshot's description.
macro_rules! assert_expansion {
    ($args:expr, $item:expr $(,)?) => {{
        let (args, item): (&str, &str) = ($args, $item);
        let input = format!("#[parallel_run({args})]\n{item}");
        let expansion = pretty(expand::parallel_run(tokens(args), tokens(item)));
        insta::with_settings!({ description => input, omit_expression => true }, {
            insta::assert_snapshot!(expansion);
        });
    }};
}

pub(crate) fn tokens(source: &str) -> TokenStream {
    source.parse().expect("test input tokenizes")
}

/// The tokens as a formatted file (for expansion snapshots; the derive's tests use it too).
pub(crate) fn pretty(tokens: TokenStream) -> String {
    let file: syn::File =
        syn::parse2(tokens.clone()).unwrap_or_else(|e| panic!("not a valid file: {e}\n{tokens}"));
    prettyplease::unparse(&file)
}

/// The error `parse` and `validate` report for these arguments on this function.
fn error(args: TokenStream, item: TokenStream) -> String {
    let item: syn::ItemFn = syn::parse2(item).expect("test functions parse");
    match parse::parse(args).and_then(|a| validate::validate(a, item)) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn sync_detached() {
    assert_expansion!(
        "candidate = total_v2",
        r#"/// Sums the items.
pub fn total(items: &[Item], currency: &str, discount: u64) -> Money {
    let sum: u64 = items.iter().map(|i| i.cents).sum();
    Money::new(sum - discount, currency)
}"#,
    );
}

#[test]
fn async_detached() {
    assert_expansion!(
        r#"candidate = fetch_v2, name = "users::fetch", sample = 0.25"#,
        r#"pub async fn fetch(id: u32, tag: &str) -> Result<User, Error> {
    let row = db::load(id).await?;
    Ok(User::from_row(row, tag))
}"#,
    );
}

#[test]
fn method_ref_self() {
    assert_expansion!(
        "candidate = Self::quote_v2, compare = QuoteComparator",
        r#"fn quote(&self, (from, to): (Currency, Currency), _: u8) -> Quote {
    self.rates.convert(from, to)
}"#,
    );
}

#[test]
fn inline_mut_random_order() {
    assert_expansion!(
        r#"candidate = drain_v2, mode = inline, order = random, compare = |a, b| a.len() == b.len(), crate = "my_reexport::parallel_run""#,
        r#"fn drain(buf: &mut Vec<u8>, limit: usize, owner: String) -> Vec<u8> {
    let n = limit.min(buf.len());
    buf.drain(..n).collect()
}"#,
    );
}

#[test]
fn async_inline_method() {
    assert_expansion!(
        "candidate = Self::refresh_v2, mode = inline",
        r#"async fn refresh(self: Arc<Self>, keys: &[Key]) {
    self.cache.refresh(keys).await
}"#,
    );
}

#[test]
fn production_safety_arguments() {
    assert_expansion!(
        r#"candidate = price_v2, timeout = "150ms", max_in_flight = 16, sample = 0.1, sample_by = order.customer_id, run_if = order.currency == "EUR""#,
        r#"async fn price(order: &Order) -> Result<Price, PriceError> {
    pricing::legacy(order).await
}"#,
    );
}

#[test]
fn ignore_rules_and_strict() {
    assert_expansion!(
        "candidate = total_v2, mode = inline, strict = true, ignore = [same_total, |p: &Money, c: &Money| p.cents == c.cents]",
        "fn total(items: &[Item]) -> Money {\n    Money::sum(items)\n}",
    );
}

#[test]
fn context_before_and_errors() {
    assert_expansion!(
        r#"candidate = charge_v2, errors = variant, before = warm(order), context = { "order_id": order.id, "region": order.region }"#,
        "fn charge(order: &Order) -> Result<Receipt, PayError> {\n    gateway::charge(order)\n}",
    );
}

#[test]
fn noise_sync_method() {
    assert_expansion!(
        "candidate = Self::price_v2, compare = Structural::new(), noise = 0.05",
        "fn price<C: Currency>(&self, cents: u64, currency: &C) -> Quote {\n    self.quote(cents, currency)\n}",
    );
}

#[test]
fn noise_async() {
    assert_expansion!(
        "candidate = fetch_v2, compare = Structural::new(), noise = 0.05",
        "async fn fetch(id: u32, tag: &str) -> User {\n    db::load(id, tag).await\n}",
    );
}

#[test]
fn timeout_and_cap_errors() {
    for (args, message) in [
        (quote!(candidate = f2, timeout = "soon"), "`timeout` must be a duration such as \"150ms\" or \"2s\", found \"soon\""),
        (quote!(candidate = f2, timeout = "10"), "`timeout` needs a unit (us, ms, s or m), found \"10\""),
        (quote!(candidate = f2, timeout = "500us"), "`timeout` must be at least 1ms, found \"500us\""),
        (
            quote!(candidate = f2, max_in_flight = 0),
            "`max_in_flight` must be at least 1 (to turn shadowing off, use `sample = 0` or the environment)",
        ),
    ] {
        assert_eq!(error(args, quote!(fn f() {})), message);
    }
}

#[test]
fn error_keeps_the_function() {
    // One error, and the function unchanged next to it, so that call sites still compile.
    assert_expansion!(
        "candidate = total_v2, sample = 2",
        "fn total(x: u64) -> u64 { x }"
    );
}

#[test]
fn missing_candidate() {
    assert_eq!(
        error(quote!(sample = 0.5), quote!(fn f() {})),
        "missing `candidate`: name the new implementation, e.g. `#[parallel_run(candidate = process_v2)]`"
    );
}

#[test]
fn unknown_key_lists_the_valid_ones() {
    assert_eq!(
        error(quote!(candidate = f2, comparator = C), quote!(fn f() {})),
        "unknown `parallel_run` argument `comparator`; expected one of: candidate, compare, name, sample, mode, order, timeout, max_in_flight, sample_by, run_if, ignore, strict, errors, context, before, on_outcome, cpu_time, clean, writes, idempotency_key, min_match_rate, min_samples, deadline, record_inputs, noise, crate"
    );
}

#[test]
fn duplicate_key() {
    assert_eq!(
        error(
            quote!(candidate = f2, sample = 0.5, candidate = f3),
            quote!(
                fn f() {}
            )
        ),
        "`candidate` is set more than once; give it once"
    );
    assert_eq!(
        error(
            quote!(candidate = f2, mode = inline, mode = inline),
            quote!(
                fn f() {}
            )
        ),
        "`mode` is set more than once; give it once"
    );
}

#[test]
fn sample_range() {
    assert_eq!(
        error(
            quote!(candidate = f2, sample = 1.5),
            quote!(
                fn f() {}
            )
        ),
        "`sample` must be between 0 and 1 (a fraction of calls), found 1.5"
    );
    assert_eq!(
        error(
            quote!(candidate = f2, sample = "half"),
            quote!(
                fn f() {}
            )
        ),
        "`sample` must be a number between 0 and 1, such as `sample = 0.1`"
    );
    for ok in [
        quote!(0),
        quote!(1),
        quote!(0.0),
        quote!(1.0),
        quote!(0.001),
    ] {
        let item: syn::ItemFn = syn::parse_quote!(
            fn f() {}
        );
        let args = parse::parse(quote!(candidate = f2, sample = #ok)).unwrap();
        assert!(validate::validate(args, item).is_ok(), "sample = {ok}");
    }
}

#[test]
fn missing_equals() {
    assert_eq!(
        error(
            quote!(candidate f2),
            quote!(
                fn f() {}
            )
        ),
        "expected `=` after `candidate`: `candidate = ...`"
    );
}

#[test]
fn bad_mode_and_order() {
    assert_eq!(
        error(
            quote!(candidate = f2, mode = background),
            quote!(
                fn f() {}
            )
        ),
        "unknown mode `background`; expected `detached` or `inline`"
    );
    assert_eq!(
        error(
            quote!(candidate = f2, mode = inline, order = last),
            quote!(
                fn f() {}
            )
        ),
        "unknown order `last`; expected `primary_first` or `random`"
    );
    assert_eq!(
        error(
            quote!(candidate = f2, order = random),
            quote!(
                fn f() {}
            )
        ),
        "`order` applies to `mode = inline`: a detached candidate always starts after the primary"
    );
}

#[test]
fn empty_name_and_bad_crate() {
    assert_eq!(
        error(
            quote!(candidate = f2, name = " "),
            quote!(
                fn f() {}
            )
        ),
        "`name` must not be empty"
    );
    assert_eq!(
        error(
            quote!(candidate = f2, crate = "not a path"),
            quote!(
                fn f() {}
            )
        ),
        "`crate` must be a path such as \"parallel_run\" or \"::my_reexport::parallel_run\""
    );
}

#[test]
fn detached_refusals() {
    assert_eq!(
        error(
            quote!(candidate = f2),
            quote!(fn f(n: usize, buf: &mut Vec<u8>) {})
        ),
        "`&mut` argument `buf` cannot go to a detached candidate: it would see the caller's value change under it; use `mode = inline` (the candidate then gets `&mut` to its own copy)"
    );
    assert_eq!(
        error(quote!(candidate = f2), quote!(fn f(x: &impl Debug) {})),
        "`x` is a reference to an `impl Trait` type, which the detached candidate's copy cannot name; use a generic parameter (`fn f<T: Trait>(x: &T)`) or `mode = inline`"
    );
}

#[test]
fn unsupported_functions() {
    assert_eq!(
        error(
            quote!(candidate = f2),
            quote!(
                const fn f() {}
            )
        ),
        "`#[parallel_run]` cannot be used on a `const fn`"
    );
}

#[test]
fn not_a_function() {
    let out = expand::parallel_run(
        quote!(candidate = f2),
        quote!(
            struct S;
        ),
    )
    .to_string();
    assert!(
        out.contains("applies to functions and methods with a body, not to a struct"),
        "{out}"
    );
    let out = expand::parallel_run(
        quote!(candidate = f2),
        quote!(
            fn f();
        ),
    )
    .to_string();
    assert!(
        out.contains("not to an item that is not a function with a body"),
        "{out}"
    );
}
