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
        (quote!(candidate = f2, timeout = "soon"), "`timeout` \"soon\": not a number and a unit; `timeout` takes a whole number and a unit in a string, such as `timeout = \"150ms\"`, `\"2s\"` or `\"1m\"` (units `us`, `ms`, `s` and `m` for minutes; at least 1ms), or `\"none\"` for no timeout"),
        (quote!(candidate = f2, timeout = "10"), "`timeout` \"10\": needs a unit: write \"10ms\" or \"10s\"; `timeout` takes a whole number and a unit in a string, such as `timeout = \"150ms\"`, `\"2s\"` or `\"1m\"` (units `us`, `ms`, `s` and `m` for minutes; at least 1ms), or `\"none\"` for no timeout"),
        (quote!(candidate = f2, timeout = "500us"), "`timeout` \"500us\": less than 1ms; `timeout` takes a whole number and a unit in a string, such as `timeout = \"150ms\"`, `\"2s\"` or `\"1m\"` (units `us`, `ms`, `s` and `m` for minutes; at least 1ms), or `\"none\"` for no timeout"),
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
        "unknown `parallel_run` argument `comparator`; expected one of: candidate, compare, name, sample, mode, runtime, order, timeout, max_in_flight, sample_by, run_if, ignore, strict, errors, panics, context, before, on_outcome, cpu_time, clean, writes, idempotency_key, min_match_rate, min_samples, deadline, record_inputs, noise, crate"
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
        "`sample` takes a number, not a string: write a fraction such as `sample = 0.1`"
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
        "expected `=` after `candidate`: `candidate = ...`; `candidate` takes the new implementation's path, such as `candidate = process_v2`, `candidate = Self::process_v2` or `candidate = v2::process`, or a list `candidate = [process_v2, process_v3]`"
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

#[test]
fn a_candidate_that_is_the_function_itself_is_refused() {
    // Issue 11, item 1: `candidate = <the function>` multiplied every call's load.
    for (args, item) in [
        (
            quote!(candidate = quote),
            quote!(
                fn quote(x: u32) -> u32 {
                    x
                }
            ),
        ),
        (
            quote!(candidate = self::quote),
            quote!(
                fn quote(x: u32) -> u32 {
                    x
                }
            ),
        ),
        (
            quote!(candidate = r#quote),
            quote!(
                fn quote(x: u32) -> u32 {
                    x
                }
            ),
        ),
        (
            quote!(candidate = [quote_v2, quote]),
            quote!(
                fn quote(x: u32) -> u32 {
                    x
                }
            ),
        ),
        (
            quote!(candidate = Self::quote),
            quote!(
                fn quote(&self, x: u32) -> u32 {
                    x
                }
            ),
        ),
        (
            quote!(candidate = Self::quote::<T>),
            quote!(
                fn quote<T>(x: T) -> T {
                    x
                }
            ),
        ),
        (
            quote!(candidate = Self::make),
            quote!(
                fn make() -> Self {
                    Self
                }
            ),
        ),
    ] {
        let e = error(args.clone(), item);
        assert!(e.contains("is this function itself"), "{args}: {e}");
    }
    let e = error(
        quote!(candidate = quote),
        quote!(
            fn quote(x: u32) -> u32 {
                x
            }
        ),
    );
    assert!(
        e.contains("name the new implementation, e.g. `candidate = quote_v2`"),
        "{e}"
    );
    // Another function of the same name: a method's or an associated function's `quote` (which
    // name a free function), a path into another module.
    for (args, item) in [
        (
            quote!(candidate = quote),
            quote!(
                fn quote(&self, x: u32) -> u32 {
                    x
                }
            ),
        ),
        (
            quote!(candidate = self::quote),
            quote!(
                fn quote(self: Arc<Self>) -> u32 {
                    1
                }
            ),
        ),
        (
            quote!(candidate = make),
            quote!(
                fn make() -> Self {
                    Self
                }
            ),
        ),
        (
            quote!(candidate = v2::quote),
            quote!(
                fn quote(x: u32) -> u32 {
                    x
                }
            ),
        ),
        (
            quote!(candidate = crate::v2::quote),
            quote!(
                fn quote(x: u32) -> u32 {
                    x
                }
            ),
        ),
        (
            quote!(candidate = ::v2::quote),
            quote!(
                fn quote(x: u32) -> u32 {
                    x
                }
            ),
        ),
        (
            quote!(candidate = Self::quote_v2),
            quote!(
                fn quote(&self) -> u32 {
                    1
                }
            ),
        ),
    ] {
        let f: syn::ItemFn = syn::parse2(item).unwrap();
        let parsed = parse::parse(args.clone()).unwrap();
        assert!(validate::validate(parsed, f).is_ok(), "{args}");
    }
}

/// The error `parse` reports for these arguments (written as source text: some cases, such as
/// `1_000u8`, are easier to read that way).
fn parse_error(args: &str) -> String {
    match parse::parse(tokens(args)) {
        Ok(_) => panic!("expected an error for `{args}`"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn parse_errors_say_what_to_write() {
    // Issue 11, item 3: each of these left a user with a bare "expected identifier",
    // "invalid digit found in string", "needs a unit" or nothing at all.
    const T: &str = "`timeout` takes a whole number and a unit in a string, such as `timeout = \"150ms\"`, `\"2s\"` or `\"1m\"` (units `us`, `ms`, `s` and `m` for minutes; at least 1ms), or `\"none\"` for no timeout";
    for (args, message) in [
        ("0.5", "expected an argument `key = value`, found a number alone: write `sample = 0.5` for the fraction of calls shadowed (or `max_in_flight = 8`, `noise = 0.05`)"),
        ("quote_v2", "`quote_v2` has no key: to name the new implementation, write `candidate = quote_v2`"),
        ("candidate = f2, sampel = 0.5", "unknown `parallel_run` argument `sampel`; did you mean `sample`?"),
        ("candidate = f2, max_in_flight = -1", "`max_in_flight` must be a positive integer (at least 1), such as `max_in_flight = 64`"),
        ("candidate = f2, max_in_flight = 99999999999999999999", "`max_in_flight = 99999999999999999999` is too large: `max_in_flight` takes an integer from 1 to 18446744073709551615"),
        ("candidate = f2, max_in_flight = 1_000u8", "`max_in_flight` takes a plain number, without a type suffix: write `max_in_flight = 1000`"),
        ("candidate = f2, sample = 0.5f64", "`sample` takes a plain number, without a type suffix: write `sample = 0.5`"),
        ("candidate = f2, sample = 50%", "`sample` takes a fraction, not a percentage: write `sample = 0.5`"),
        ("candidate = f2, mode = \"inline\"", "`mode` takes a word, not a string: write `mode = inline`, without quotes"),
        ("candidate = f2, errors = \"match\"", "`errors` takes a word, not a string: write `errors = match`, without quotes"),
        ("candidate = f2, timeout = 150", &format!("{T}; write the number and its unit inside the quotes: `timeout = \"150ms\"`")),
        ("candidate = f2, timeout = \"1h\"", &format!("`timeout` \"1h\": unknown unit `h` (the largest unit is `m`): write \"60m\"; {T}")),
        ("candidate = f2, timeout = \"1.5s\"", &format!("`timeout` \"1.5s\": a fraction is not accepted: write \"1500ms\"; {T}")),
        ("candidate = f2, timeout = \"1e3ms\"", &format!("`timeout` \"1e3ms\": an exponent is not accepted: write \"1s\"; {T}")),
        ("candidate = f2, timeout = \"18446744073709551615m\"", &format!("`timeout` \"18446744073709551615m\": too long; {T}")),
        ("candidate = f2, name = \"a\\nb\"", "`name` must not contain control characters, found '\\n' at byte 1: the name is part of the experiment's environment variable, its metric labels and every log line"),
        ("candidate = f2, name = \"a\\0b\"", "`name` must not contain control characters, found '\\0' at byte 1: the name is part of the experiment's environment variable, its metric labels and every log line"),
        ("candidate = f2, context = { \"id\": 1, \"id\": 2 }", "`context` key \"id\" is given twice; give each key once"),
        ("candidate = f2, deadline = \"0000-01-01\"", "`deadline` \"0000-01-01\" is before 2000-01-01: a deadline is the day the experiment should be decided by, such as \"2026-12-31\"; a date that far back is a typo"),
        ("candidate = \"f2\"", "`candidate` takes a path, not a string: write `candidate = f2`"),
        ("candidate = f2(x)", "`candidate` takes the function's path without arguments: write `candidate = f2` (it is called with this function's arguments)"),
    ] {
        let got = parse_error(args);
        assert!(got.starts_with(message), "`{args}`:\n got: {got}\nwant: {message}");
    }
    // The latest accepted deadline forms still parse.
    assert!(parse::parse(tokens("candidate = f2, deadline = \"2000-01-01\"")).is_ok());
}

#[test]
fn every_parse_error_names_its_argument() {
    // A malformed value for each key: the error starts by naming the key (or, for a key's
    // missing `=`, names it right after).
    let bad_values = [
        "",
        "=",
        "[",
        "1 2",
        "\"x\" y",
        ",",
        "!",
        "'a",
        "@",
        "{ \"k\" }",
        "-",
        "1.0e",
        "b\"x\"",
    ];
    for key in parse::KEYS {
        for value in bad_values {
            let args = format!("candidate = f2, {key} = {value}");
            let args = if *key == "candidate" {
                format!("candidate = {value}")
            } else {
                args
            };
            let Ok(t) = args.parse::<TokenStream>() else {
                continue;
            };
            if let Err(e) = parse::parse(t) {
                let e = e.to_string();
                assert!(e.contains(&format!("`{key}`")), "`{args}`: {e}");
            }
        }
    }
}

#[test]
fn detached_mode_says_when_a_type_cannot_be_copied() {
    // Issue 11, item 3: these failed with E0515 over the attribute, errors inside the runtime's
    // `copier`, or a suggestion to bound an argument by the runtime's private traits.
    for (args, item, message) in [
        (quote!(candidate = f2), quote!(fn f(s: &str) -> &str { s }), "`-> &str` borrows, and detached mode compares the result off the caller's path"),
        (quote!(candidate = f2), quote!(fn f(s: &[u8]) -> Option<&[u8]> { None }), "`-> Option<&[u8]>` borrows"),
        (quote!(candidate = f2), quote!(fn f<'a>(s: &'a str) -> Cow<'a, str> { s.into() }), "`-> Cow<'a, str>` borrows"),
        (quote!(candidate = f2), quote!(fn f(s: &dyn Shape) -> u32 { 1 }), "`s: &dyn Shape` cannot be copied for the detached candidate: a trait object has no owned copy"),
        (quote!(candidate = f2), quote!(fn f() -> Box<dyn Debug> { todo!() }), "`-> Box<dyn Debug>` cannot be copied"),
        (quote!(candidate = f2), quote!(fn f() -> Result<(), Box<dyn Error + Send + Sync>> { todo!() }), "`Box<dyn Error + Send + Sync>` in `-> Result<(), Box<dyn Error + Send + Sync>>` cannot be copied"),
        (quote!(candidate = f2), quote!(fn f(x: impl Into<String>) {}), "argument `x` of type `impl Into<String>` is not known to be `Clone + Send + 'static`"),
        (quote!(candidate = f2), quote!(fn f<T: AsRef<str> + Clone>(x: T) {}), "argument `x` of type `T` is not known to be `Send + 'static`"),
        (quote!(candidate = f2), quote!(fn f<T>(x: &T) where T: Display {}), "argument `x` of type `T` is not known to be `Clone + Send + 'static`"),
        (quote!(candidate = f2, mode = inline), quote!(fn f(x: impl Into<String>) {}), "argument `x` of type `impl Into<String>` is not known to be `Clone`, and the candidate gets its own copy of it: write `impl Into<String> + Clone`"),
    ] {
        let e = error(args, item.clone());
        assert!(e.starts_with(message), "{item}:\n got: {e}\nwant: {message}");
    }
    // What is fine: static borrows, inline mode, bounds that suffice, a trait of the user's
    // (whose supertraits may provide `Clone`), a box of one, a function pointer result.
    for (args, item) in [
        (
            quote!(candidate = f2),
            quote!(
                fn f(b: bool) -> &'static str {
                    ""
                }
            ),
        ),
        (
            quote!(candidate = f2, mode = inline),
            quote!(
                fn f(s: &str) -> &str {
                    s
                }
            ),
        ),
        (
            quote!(candidate = f2, mode = inline),
            quote!(
                fn f(s: &dyn Shape) -> Box<dyn Debug> {
                    todo!()
                }
            ),
        ),
        (
            quote!(candidate = f2),
            quote!(
                fn f(x: impl Into<String> + Clone + Send + 'static) {}
            ),
        ),
        (
            quote!(candidate = f2),
            quote!(
                fn f<T: Copy + Send + Any>(x: T) {}
            ),
        ),
        (
            quote!(candidate = f2),
            quote!(
                fn f<T: Snapshot>(x: T) {}
            ),
        ),
        (
            quote!(candidate = f2),
            quote!(
                fn f() -> Box<dyn Plan> {
                    todo!()
                }
            ),
        ),
        (
            quote!(candidate = f2),
            quote!(
                fn f() -> fn(&str) -> &str {
                    todo!()
                }
            ),
        ),
        (
            quote!(candidate = f2, mode = inline),
            quote!(
                fn f<T: Clone>(x: T, y: &mut T) {}
            ),
        ),
    ] {
        let f: syn::ItemFn = syn::parse2(item.clone()).unwrap();
        let parsed = parse::parse(args).unwrap();
        if let Err(e) = validate::validate(parsed, f) {
            panic!("{item}: {e}");
        }
    }
}

#[test]
fn tokens_left_over_inside_a_value_name_the_argument() {
    // Found by the property test: syn reports them only at the end, as "unexpected token".
    let e = parse_error(r#"candidate = f2, before = (a [b c]), context = { "id": 1 }"#);
    assert!(
        e.starts_with("`before` takes an expression run before the candidate"),
        "{e}"
    );
    assert!(
        e.ends_with("(the value does not parse: tokens are left over inside its brackets)"),
        "{e}"
    );
}
