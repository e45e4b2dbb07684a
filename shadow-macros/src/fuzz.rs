//! The macros never panic, whatever they are given (issue 11, item 6): a property test over
//! generated token trees and mutated valid inputs, run through `parse` → `validate` → `expand`
//! (and the derive's `attr` → `expand`) at the `proc_macro2` level. Every input must yield code
//! (that parses) or `compile_error!`s spanned at a token of the input; the only error allowed at
//! the call site is a missing `candidate`, which concerns the whole attribute.

use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};

use proc_macro2::{Span, TokenStream, TokenTree};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::{derive, expand};

fn words() -> Vec<&'static str> {
    crate::parse::KEYS
        .iter()
        .chain(OTHER_WORDS)
        .copied()
        .collect()
}

/// What the generator and the mutations draw words from: every key the attribute accepts
/// ([`crate::parse::KEYS`]) and these, the values the keys take and tokens that commonly appear
/// in expressions and paths.
const OTHER_WORDS: &[&str] = &[
    "inline",
    "detached",
    "random",
    "primary_first",
    "refuse",
    "dry_run",
    "separate",
    "match",
    "variant",
    "true",
    "false",
    "f2",
    "quote",
    "quote_v2",
    "x",
    "self",
    "Self",
    "super",
    "Typed",
    "typed",
    "impl",
    "dyn",
    "fn",
    "async",
    "move",
    "as",
    "u8",
    "u64",
    "String",
    "Box",
    "Vec",
    "_",
    "mut",
    "ref",
    "where",
    "let",
    "if",
    "else",
];

/// Other tokens: literals of every kind and punctuation.
const ATOMS: &[&str] = &[
    "\"150ms\"",
    "\"1h\"",
    "\"1.5s\"",
    "\"1e3ms\"",
    "\"2026-12-31\"",
    "\"0000-01-01\"",
    "\"\"",
    "\"a\\nb\"",
    "\"a\\0b\"",
    "\"x\"",
    "\"::parallel_run\"",
    "0",
    "1",
    "0.5",
    "1.5",
    "-1",
    "64",
    "1_000u8",
    "0.5f64",
    "99999999999999999999",
    "1e3",
    "'c'",
    "b\"x\"",
    "r\"raw\"",
    "'a",
    "=",
    ",",
    "::",
    ":",
    "|",
    "||",
    "&",
    "&&",
    "*",
    "+",
    "-",
    "<",
    ">",
    "==",
    "!",
    "?",
    ".",
    ";",
    "@",
    "%",
    "=>",
    "->",
    "#",
    "$",
    "..",
    "'static",
];

/// Valid argument lists, to mutate.
const VALID_ARGS: &[&str] = &[
    "candidate = quote_v2",
    "candidate = Self::quote_v2, mode = inline, order = random",
    "candidate = [v2, v3], name = \"x::y\", sample = 0.25",
    "candidate = f2, timeout = \"150ms\", max_in_flight = 16, sample_by = x % 1000, run_if = x > 1",
    "candidate = f2, mode = inline, compare = |a, b| a == b, ignore = [same, |p: &u32, c: &u32| p == c]",
    "candidate = f2, errors = variant, before = warm(x), context = { \"id\": x + 1, \"r\": \"eu\" }",
    "candidate = f2, writes = dry_run, idempotency_key = x * 10, min_match_rate = 0.999, min_samples = 10_000",
    "candidate = f2, deadline = \"2026-12-31\", record_inputs = true, noise = 0.05, cpu_time = true",
    "candidate = f2, clean = show, on_outcome = hook, strict = true, crate = \"::my::parallel_run\"",
    "candidate = f2, compare = parallel_run::typed::Typed",
];

/// Items to put the attribute on (and, mutated, items that are not quite functions).
const ITEMS: &[&str] = &[
    "fn quote(x: u32) -> u32 { x }",
    "async fn fetch(id: u32, tag: &str) -> Result<String, E> { Ok(tag.into()) }",
    "fn m(&self, (a, b): (u8, u8), _: u8) -> Quote { self.q(a, b) }",
    "fn g<T: Clone + Send + 'static>(xs: &[T], t: T) -> T where T: Debug { t }",
    "fn inl(buf: &mut Vec<u8>, s: impl Into<String>) -> &str { \"\" }",
    "fn b() -> Box<dyn Debug> { todo!() }",
    "const fn c() -> u8 { 1 }",
    "pub(crate) unsafe extern \"C\" fn e(x: i32) -> i32 { x }",
    "fn d(s: &dyn Shape) -> Cow<'_, str> { todo!() }",
    "struct S;",
    "fn no_body();",
];

/// Structs to put mutated `#[shadow(...)]` attributes on.
const DERIVE_INPUTS: &[&str] = &[
    "#[derive(ShadowCompare)] struct A { #[shadow(tolerance = 0.005, relative = 1e-9)] a: f64, #[shadow(within = \"2s\")] t: u64, #[shadow(ignore)] i: String }",
    "#[derive(ShadowCompare)] #[shadow(crate = \"::p\")] enum E { A { #[shadow(sensitive, trim, nfc)] s: String }, B(#[shadow(unordered)] Vec<u8>), C }",
    "#[derive(ShadowCompare)] struct T<X>(#[shadow(eq)] X, #[shadow(missing_as_null, missing_as_empty)] Value);",
];

fn tokens(s: &str) -> Option<TokenStream> {
    s.parse().ok()
}

/// A token tree as source text: atoms and words, and groups of them, a few levels deep.
fn tree() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        3 => proptest::sample::select(words()).prop_map(str::to_owned),
        2 => proptest::sample::select(ATOMS).prop_map(str::to_owned),
    ];
    leaf.prop_recursive(3, 40, 6, |inner| {
        (
            proptest::sample::select(&["()", "[]", "{}", ""][..]),
            proptest::collection::vec(inner, 0..6),
        )
            .prop_map(|(delims, parts)| {
                let body = parts.join(" ");
                match delims {
                    "" => body,
                    d => format!("{}{body}{}", &d[..1], &d[1..]),
                }
            })
    })
}

/// One mutation of a flat token list.
#[derive(Debug, Clone)]
enum Edit {
    /// The value of the argument at this index (of a `key = value, ...` list) replaced.
    Value(usize, String),
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Replace(usize, String),
    Insert(usize, String),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let word = prop_oneof![
        proptest::sample::select(words()).prop_map(str::to_owned),
        proptest::sample::select(ATOMS).prop_map(str::to_owned),
        tree(),
    ];
    prop_oneof![
        3 => (any::<usize>(), tree()).prop_map(|(i, v)| Edit::Value(i, v)),
        1 => any::<usize>().prop_map(Edit::Delete),
        1 => any::<usize>().prop_map(Edit::Duplicate),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        1 => (any::<usize>(), word.clone()).prop_map(|(i, w)| Edit::Replace(i, w)),
        1 => (any::<usize>(), word).prop_map(|(i, w)| Edit::Insert(i, w)),
        1 => any::<usize>().prop_map(Edit::Truncate),
    ]
}

/// `source`'s top-level tokens with the edits applied (groups are kept whole: a mutation inside
/// one comes from replacing it with a generated tree).
fn mutate(source: &str, edits: &[Edit]) -> String {
    let mut toks: Vec<String> = tokens(source)
        .map(|t| t.into_iter().map(|t| t.to_string()).collect())
        .unwrap_or_default();
    for e in edits {
        let n = toks.len().max(1);
        match e {
            Edit::Delete(i) if !toks.is_empty() => {
                toks.remove(i % n);
            }
            Edit::Duplicate(i) if !toks.is_empty() => {
                let t = toks[i % n].clone();
                toks.insert(i % n, t);
            }
            Edit::Swap(a, b) if !toks.is_empty() => toks.swap(a % n, b % n),
            Edit::Replace(i, w) if !toks.is_empty() => toks[i % n] = w.clone(),
            Edit::Insert(i, w) => toks.insert(i % (toks.len() + 1), w.clone()),
            Edit::Truncate(i) => toks.truncate(i % (toks.len() + 1)),
            Edit::Value(i, v) => {
                // The `=` tokens mark the values: replace what follows the i-th one, up to the
                // next top-level `,`.
                let eqs: Vec<usize> = (0..toks.len()).filter(|&k| toks[k] == "=").collect();
                if let Some(&at) = eqs.get(i % eqs.len().max(1)) {
                    let end = (at + 1..toks.len())
                        .find(|&k| toks[k] == ",")
                        .unwrap_or(toks.len());
                    toks.splice(at + 1..end, [v.clone()]);
                }
            }
            _ => {}
        }
    }
    toks.join(" ")
}

/// The byte ranges of every token of `ts`, groups' delimiters included.
fn ranges(ts: &TokenStream, out: &mut Vec<Range<usize>>) {
    for t in ts.clone() {
        out.push(t.span().byte_range());
        if let TokenTree::Group(g) = &t {
            out.push(g.span_open().byte_range());
            out.push(g.span_close().byte_range());
            ranges(&g.stream(), out);
        }
    }
}

/// Each `compile_error!` of `out`: its message and the spans of its tokens.
fn compile_errors(out: &TokenStream) -> Vec<(String, Vec<Span>)> {
    let toks: Vec<TokenTree> = out.clone().into_iter().collect();
    let mut found = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        let TokenTree::Ident(id) = t else { continue };
        if id != "compile_error" {
            continue;
        }
        if let Some(TokenTree::Group(g)) = toks.get(i + 2) {
            let message = g.stream().to_string();
            found.push((message, vec![id.span(), g.span()]));
        }
    }
    found
}

/// syn's own messages, which name neither the argument nor what it takes: none may reach a user.
const BARE: &[&str] = &[
    "expected `,`",
    "expected `=`",
    "expected literal",
    "expected string literal",
    "expected integer literal",
    "expected curly braces",
    "expected square brackets",
    "expected parentheses",
    "expected an expression",
    "unexpected token",
];

/// Runs one macro on one input and checks the property; `Err` describes a violation.
fn check(
    label: &str,
    input: &[&TokenStream],
    run: impl FnOnce() -> TokenStream,
    parses: impl Fn(&TokenStream) -> bool,
) -> Result<(), String> {
    let out = catch_unwind(AssertUnwindSafe(run)).map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        format!("{label}: the macro panicked: {msg}")
    })?;
    let errors = compile_errors(&out);
    if errors.is_empty() {
        return if parses(&out) {
            Ok(())
        } else {
            Err(format!(
                "{label}: no error, and the output does not parse:\n{out}"
            ))
        };
    }
    let mut known = Vec::new();
    for ts in input {
        ranges(ts, &mut known);
    }
    let within = |s: &Span| {
        let r = s.byte_range();
        known.iter().any(|k| k.start <= r.start && r.end <= k.end)
    };
    for (message, spans) in errors {
        let text = message.trim_matches('"');
        if BARE
            .iter()
            .any(|b| text == *b || text.starts_with(&format!("{b},")))
            || text.starts_with("expected identifier")
            || text.starts_with("unexpected end of input")
        {
            return Err(format!(
                "{label}: a parser message that names no argument: {message}"
            ));
        }
        let at_call_site = spans.iter().any(|s| s.byte_range() == (0..0));
        if at_call_site {
            if message.contains("missing `candidate`") || message.contains("applies to functions") {
                continue;
            }
            return Err(format!(
                "{label}: an error at the call site, not at a token: {message}"
            ));
        }
        if !spans.iter().all(within) {
            return Err(format!(
                "{label}: an error spanned outside the input: {message}"
            ));
        }
    }
    Ok(())
}

fn attribute(args: &str, item: &str) -> Result<(), String> {
    let (Some(a), Some(i)) = (tokens(args), tokens(item)) else {
        return Ok(()); // not tokens at all: no macro would ever see it
    };
    if syn::parse2::<syn::Item>(i.clone()).is_err() {
        return Ok(()); // rustc hands an attribute only items that parse
    }
    let label = format!("#[parallel_run({args})] {item}");
    check(
        &label,
        &[&a, &i],
        || expand::parallel_run(a.clone(), i.clone()),
        |out| syn::parse2::<syn::File>(out.clone()).is_ok(),
    )
}

/// `cases` per test, or `PARALLEL_RUN_FUZZ_CASES` for a longer search.
fn runner(cases: u32) -> TestRunner {
    let cases = std::env::var("PARALLEL_RUN_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Mostly functions (the attribute's real inputs), sometimes other items.
fn item() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        9 => proptest::sample::select(&ITEMS[..ITEMS.len() - 2]),
        1 => proptest::sample::select(ITEMS),
    ]
}

#[test]
fn the_attribute_never_panics_on_generated_token_trees() {
    // Half the cases behind a valid `candidate`, so that the generated part reaches further.
    let args = prop_oneof![tree(), tree().prop_map(|t| format!("candidate = f2, {t}"))];
    runner(3000)
        .run(&(args, item()), |(args, item)| {
            attribute(&args, item).map_err(TestCaseError::fail)
        })
        .unwrap();
}

#[test]
fn the_attribute_never_panics_on_mutated_valid_arguments() {
    let cases = (
        proptest::sample::select(VALID_ARGS),
        proptest::collection::vec(edit(), 1..4),
        item(),
        proptest::collection::vec(edit(), 0..2),
    );
    runner(4000)
        .run(&cases, |(args, edits, item, item_edits)| {
            let args = mutate(args, &edits);
            // Mostly the item as it is, sometimes mutated too.
            let item = if item_edits.is_empty() {
                item.to_owned()
            } else {
                mutate(item, &item_edits)
            };
            attribute(&args, &item).map_err(TestCaseError::fail)
        })
        .unwrap();
}

#[test]
fn the_derive_never_panics_on_mutated_attributes() {
    let cases = (
        proptest::sample::select(DERIVE_INPUTS),
        proptest::collection::vec(edit(), 1..4),
    );
    runner(1500)
        .run(&cases, |(input, edits)| {
            // Mutate inside the body, where the attributes are: the struct keyword and name stay.
            let source = mutate(input, &edits);
            let Some(ts) = tokens(&source) else {
                return Ok(());
            };
            // rustc hands a derive only a struct, enum or union that parses.
            if syn::parse2::<syn::DeriveInput>(ts.clone()).is_err() {
                return Ok(());
            }
            check(
                &source,
                &[&ts],
                || derive::shadow_compare(ts.clone()),
                |out| syn::parse2::<syn::File>(out.clone()).is_ok(),
            )
            .map_err(TestCaseError::fail)
        })
        .unwrap();
}

#[test]
fn the_property_detects_an_unspanned_error() {
    // The checker itself: an error at the call site, other than a missing candidate, fails it.
    let input = tokens("candidate = f2").unwrap();
    let bad = check(
        "call-site error",
        &[&input],
        || syn::Error::new(Span::call_site(), "oops").to_compile_error(),
        |_| true,
    );
    assert!(bad.is_err());
    let panics = check("panic", &[&input], || panic!("boom"), |_| true);
    assert!(panics.unwrap_err().contains("panicked: boom"));
}
