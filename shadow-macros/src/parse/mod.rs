//! Parses the attribute's arguments into [`Args`]. Every error is spanned at the offending token
//! and names the argument it was reading with the forms it takes ([`forms`]): never a bare
//! "expected identifier". An unknown key lists the valid ones (and the closest); a value without
//! its key says which key it looks like; a repeated key is rejected in one place ([`set_once`]).
//! `src/fuzz.rs` checks these properties over generated and mutated inputs.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Ident, Lit, LitStr, Path, Token};

mod values;

use values::*;

/// The keys the attribute accepts, in the order the docs list them.
pub(crate) const KEYS: &[&str] = &[
    "candidate",
    "compare",
    "name",
    "sample",
    "mode",
    "runtime",
    "order",
    "timeout",
    "max_in_flight",
    "sample_by",
    "run_if",
    "ignore",
    "strict",
    "errors",
    "panics",
    "context",
    "before",
    "on_outcome",
    "cpu_time",
    "clean",
    "writes",
    "idempotency_key",
    "min_match_rate",
    "min_samples",
    "deadline",
    "record_inputs",
    "noise",
    "crate",
];

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Detached,
    Inline,
}

/// `writes = refuse | dry_run | separate`: how the shadow side must treat writes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writes {
    Refuse,
    DryRun,
    Separate,
}

/// `runtime = lane | caller`: where a detached `async fn`'s candidate runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Runtime {
    Lane,
    Caller,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    PrimaryFirst,
    Random,
}

/// A value together with the span of its key, for errors that concern the whole argument.
pub(crate) struct Spanned<T> {
    pub key: Span,
    pub value: T,
}

#[derive(Default)]
pub(crate) struct Args {
    /// One path, or a list `[v2, v3]` (several candidates).
    pub candidate: Option<Spanned<Vec<Path>>>,
    pub compare: Option<Spanned<Expr>>,
    pub name: Option<Spanned<LitStr>>,
    pub sample: Option<Spanned<f64>>,
    pub mode: Option<Spanned<Mode>>,
    pub runtime: Option<Spanned<Runtime>>,
    pub order: Option<Spanned<Order>>,
    pub krate: Option<Spanned<Path>>,
    pub timeout_ms: Option<Spanned<u64>>,
    pub max_in_flight: Option<Spanned<u64>>,
    pub sample_by: Option<Spanned<Expr>>,
    pub run_if: Option<Spanned<Expr>>,
    pub ignore: Option<Spanned<Vec<Expr>>>,
    pub strict: Option<Spanned<bool>>,
    pub errors: Option<Spanned<Ident>>,
    /// `panics = compare`.
    pub compare_panics: Option<Spanned<bool>>,
    pub context: Option<Spanned<Vec<(LitStr, Expr)>>>,
    pub before: Option<Spanned<Expr>>,
    pub on_outcome: Option<Spanned<Expr>>,
    pub cpu_time: Option<Spanned<bool>>,
    pub clean: Option<Spanned<Expr>>,
    pub writes: Option<Spanned<Writes>>,
    pub idempotency_key: Option<Spanned<Expr>>,
    pub min_match_rate: Option<Spanned<f64>>,
    pub min_samples: Option<Spanned<u64>>,
    /// `deadline = "2026-12-31"`, in days since 1970-01-01, with the literal.
    pub deadline: Option<Spanned<(i64, LitStr)>>,
    pub record_inputs: Option<Spanned<bool>>,
    pub noise: Option<Spanned<f64>>,
}

/// 2000-01-01 in days since 1970-01-01: the earliest `deadline` accepted. An experiment is
/// overdue after its deadline, so an earlier date is always a typo (`"0000-01-01"`, `"0206-12-31"`).
const EARLIEST_DEADLINE: i64 = 10_957;

/// What each key takes, for the errors that say so: "`{key}` takes {forms}".
fn forms(key: &str) -> &'static str {
    match key {
        "candidate" => "the new implementation's path, such as `candidate = process_v2`, `candidate = Self::process_v2` or `candidate = v2::process`, or a list `candidate = [process_v2, process_v3]`",
        "compare" => "a comparator: a unit struct (`compare = PaymentComparator`), a value (`compare = Structural::new()`) or a closure (`compare = |primary, candidate| primary.id == candidate.id`)",
        "name" => "a string literal, such as `name = \"payments::process\"`",
        "sample" => "a number between 0 and 1, the fraction of calls shadowed, such as `sample = 0.25`",
        "mode" => "`detached` or `inline`, such as `mode = inline`",
        "runtime" => "`lane` or `caller` (where a detached `async fn`'s candidate runs), such as `runtime = caller`",
        "order" => "`primary_first` or `random`, such as `order = random`",
        "timeout" => TIMEOUT_FORMS,
        "max_in_flight" => "a positive integer, such as `max_in_flight = 64`",
        "sample_by" => "an expression over the arguments whose value is an integer, a string or bytes, such as `sample_by = order.customer_id`",
        "run_if" => "a `bool` expression over the arguments, such as `run_if = order.currency == \"EUR\"`",
        "ignore" => "a list of rules `fn(&T, &T) -> bool`, such as `ignore = [same_total, |primary, candidate| primary.id == candidate.id]`",
        "strict" | "cpu_time" | "record_inputs" => "`true` or `false`",
        "errors" => "`compare`, `match` or `variant`, such as `errors = variant`",
        "panics" => "`propagate` or `compare` (whether a primary panic is compared with the candidate's outcome), such as `panics = compare`",
        "context" => "`{ \"key\": value, ... }` with string keys, such as `context = { \"order_id\": order.id }`",
        "before" => "an expression run before the candidate, such as `before = warm_cache(&order)` or `before = || warm_cache(&order)`",
        "on_outcome" => "a function `fn(&OutcomeRecord)`, such as `on_outcome = log_outcome`, or a closure without captures",
        "clean" => "a function `fn(&T) -> String` that renders results, such as `clean = mask_card`",
        "writes" => "`refuse`, `dry_run` or `separate`, such as `writes = dry_run`",
        "idempotency_key" => "an expression whose value implements `Display`, such as `idempotency_key = order.id`",
        "min_match_rate" => "a number between 0 and 1, such as `min_match_rate = 0.999`",
        "min_samples" => "a positive integer, such as `min_samples = 10_000`",
        "deadline" => "a date string `YYYY-MM-DD`, such as `deadline = \"2026-12-31\"`",
        "noise" => "a number between 0 and 1, the share of shadowed calls whose primary runs twice, such as `noise = 0.05`",
        "crate" => "a path in a string, such as `crate = \"::my_reexport::parallel_run\"`",
        _ => "a value",
    }
}

/// "`key` takes ..." at `span`.
fn takes(key: &str, span: Span) -> syn::Error {
    syn::Error::new(span, format!("`{key}` takes {}", forms(key)))
}

/// "`key` takes ...", with the parser's own words when they add something (inside an
/// expression: "expected an expression" after `x >`).
fn takes_expr(key: &str, e: &syn::Error) -> syn::Error {
    syn::Error::new(
        e.span(),
        format!(
            "`{key}` takes {} (the expression does not parse: {e})",
            forms(key)
        ),
    )
}

pub(crate) fn parse(tokens: TokenStream) -> syn::Result<Args> {
    // Parsed inside a group whose span is the last token's: an error at the end of the arguments
    // ("expected `=`", an expression cut short) then points there, not at the whole attribute.
    let last = tokens
        .clone()
        .into_iter()
        .last()
        .map_or_else(Span::call_site, |t| t.span());
    let mut group = proc_macro2::Group::new(proc_macro2::Delimiter::Parenthesis, tokens);
    group.set_span(last);
    Parser::parse2(
        |input: ParseStream| {
            let content;
            syn::parenthesized!(content in input);
            parse_args(&content)
        },
        TokenTree::Group(group).into(),
    )
}

fn parse_args(input: ParseStream) -> syn::Result<Args> {
    let mut args = Args::default();
    while !input.is_empty() {
        let key = parse_key(input)?;
        let key_name = key.to_string();
        input.parse::<Token![=]>().map_err(|e| {
            syn::Error::new(
                e.span(),
                format!(
                    "expected `=` after `{key_name}`: `{key_name} = ...`; `{key_name}` takes {}",
                    forms(&key_name)
                ),
            )
        })?;
        let k = key_name.as_str();
        if input.is_empty() || input.peek(Token![,]) {
            return Err(syn::Error::new(
                input.span(),
                format!("`{k} =` needs a value; `{k}` takes {}", forms(k)),
            ));
        }
        match k {
            "candidate" => set_once(&mut args.candidate, &key, parse_candidates(input)?)?,
            "compare" => set_once(&mut args.compare, &key, parse_expr(input, k)?)?,
            "sample_by" => set_once(&mut args.sample_by, &key, parse_expr(input, k)?)?,
            "run_if" => set_once(&mut args.run_if, &key, parse_expr(input, k)?)?,
            "before" => set_once(&mut args.before, &key, parse_expr(input, k)?)?,
            "on_outcome" => set_once(&mut args.on_outcome, &key, parse_expr(input, k)?)?,
            "clean" => set_once(&mut args.clean, &key, parse_expr(input, k)?)?,
            "idempotency_key" => set_once(&mut args.idempotency_key, &key, parse_expr(input, k)?)?,
            "sample" => set_once(&mut args.sample, &key, parse_fraction(input, k)?)?,
            "noise" => set_once(&mut args.noise, &key, parse_fraction(input, k)?)?,
            "min_match_rate" => {
                set_once(&mut args.min_match_rate, &key, parse_fraction(input, k)?)?
            }
            "max_in_flight" => set_once(&mut args.max_in_flight, &key, parse_count(input, k)?)?,
            "min_samples" => set_once(&mut args.min_samples, &key, parse_count(input, k)?)?,
            "strict" => set_once(&mut args.strict, &key, parse_bool(input, k)?)?,
            "cpu_time" => set_once(&mut args.cpu_time, &key, parse_bool(input, k)?)?,
            "record_inputs" => set_once(&mut args.record_inputs, &key, parse_bool(input, k)?)?,
            "name" => set_once(&mut args.name, &key, parse_name(input)?)?,
            "deadline" => {
                let lit = parse_string(input, k)?;
                let days = parse_date(&lit.value()).map_err(|e| syn::Error::new(lit.span(), e))?;
                if days < EARLIEST_DEADLINE {
                    return Err(syn::Error::new(
                        lit.span(),
                        format!(
                            "`deadline` {:?} is before 2000-01-01: a deadline is the day the experiment should be decided by, such as \"2026-12-31\"; a date that far back is a typo",
                            lit.value()
                        ),
                    ));
                }
                set_once(&mut args.deadline, &key, (days, lit))?
            }
            "timeout" => {
                let lit = parse_string(input, k)?;
                let ms = parse_timeout(&lit.value()).map_err(|e| syn::Error::new(lit.span(), e))?;
                set_once(&mut args.timeout_ms, &key, ms)?
            }
            "crate" => {
                let lit = parse_string(input, k)?;
                let path = lit.parse::<Path>().map_err(|_| {
                    syn::Error::new(lit.span(), "`crate` must be a path such as \"parallel_run\" or \"::my_reexport::parallel_run\"")
                })?;
                set_once(&mut args.krate, &key, path)?
            }
            "runtime" => {
                let runtime = match parse_word(input, k, &["lane", "caller"])?
                    .to_string()
                    .as_str()
                {
                    "caller" => Runtime::Caller,
                    _ => Runtime::Lane,
                };
                set_once(&mut args.runtime, &key, runtime)?
            }
            "mode" => {
                let mode = match parse_word(input, k, &["detached", "inline"])?
                    .to_string()
                    .as_str()
                {
                    "inline" => Mode::Inline,
                    _ => Mode::Detached,
                };
                set_once(&mut args.mode, &key, mode)?
            }
            "order" => {
                let order = match parse_word(input, k, &["primary_first", "random"])?
                    .to_string()
                    .as_str()
                {
                    "random" => Order::Random,
                    _ => Order::PrimaryFirst,
                };
                set_once(&mut args.order, &key, order)?
            }
            "writes" => {
                let w = match parse_word(input, k, &["refuse", "dry_run", "separate"])?
                    .to_string()
                    .as_str()
                {
                    "dry_run" => Writes::DryRun,
                    "separate" => Writes::Separate,
                    _ => Writes::Refuse,
                };
                set_once(&mut args.writes, &key, w)?
            }
            "errors" => {
                let id = parse_word(input, k, &["compare", "match", "variant"])?;
                set_once(&mut args.errors, &key, id)?
            }
            "panics" => {
                let compare = parse_word(input, k, &["propagate", "compare"])? == "compare";
                set_once(&mut args.compare_panics, &key, compare)?
            }
            "context" => set_once(&mut args.context, &key, parse_context(input)?)?,
            "ignore" => {
                if !input.peek(syn::token::Bracket) {
                    return Err(takes(k, input.span()));
                }
                let list: syn::ExprArray = parse_whole(input, k)?;
                if list.elems.is_empty() {
                    return Err(syn::Error::new(
                        list.bracket_token.span.join(),
                        format!("`ignore` needs at least one rule; it takes {}", forms(k)),
                    ));
                }
                set_once(&mut args.ignore, &key, list.elems.into_iter().collect())?
            }
            _ => {
                return Err(syn::Error::new(
                    key.span(),
                    format!("`{k}` is not handled; expected one of: {}", KEYS.join(", ")),
                ))
            }
        }
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>().map_err(|e| {
            syn::Error::new(
                e.span(),
                format!(
                    "expected `,` or the end of the arguments after `{k} = ...`; `{k}` takes {}",
                    forms(k)
                ),
            )
        })?;
    }
    Ok(args)
}

/// An argument's key: one of [`KEYS`]. Anything else says what it looks like: a value without
/// its key (`#[parallel_run(0.5)]`, `#[parallel_run(process_v2)]`), or a misspelt key.
fn parse_key(input: ParseStream) -> syn::Result<Ident> {
    let valid = || KEYS.join(", ");
    if input.peek(Ident::peek_any) {
        let fork = input.fork();
        let key = fork.call(Ident::parse_any)?;
        let name = key.to_string();
        if KEYS.contains(&name.as_str()) && !fork.peek(Token![::]) {
            input.call(Ident::parse_any)?;
            return Ok(key);
        }
        if fork.peek(Token![=]) && !fork.peek(Token![==]) {
            let guess = closest(&name)
                .map(|k| format!("did you mean `{k}`? "))
                .unwrap_or_default();
            return Err(syn::Error::new(
                key.span(),
                format!(
                    "unknown `parallel_run` argument `{name}`; {guess}expected one of: {}",
                    valid()
                ),
            ));
        }
        if matches!(name.as_str(), "true" | "false") {
            return Err(syn::Error::new(
                key.span(),
                format!("`{name}` has no key: write `strict = {name}` (or `cpu_time`, `record_inputs`); arguments are `key = value`, with the keys: {}", valid()),
            ));
        }
        // A bare path: most likely the candidate.
        let path: Path = input.parse().map_err(|_| {
            syn::Error::new(
                key.span(),
                format!(
                    "expected an argument `key = value`, found `{name}`; the keys are: {}",
                    valid()
                ),
            )
        })?;
        let text = crate::validate::path_text(&path);
        return Err(syn::Error::new_spanned(
            &path,
            format!(
                "`{text}` has no key: to name the new implementation, write `candidate = {text}`; arguments are `key = value`, with the keys: {}",
                valid()
            ),
        ));
    }
    let span = input.span();
    let guess = if input.peek(Lit) {
        match input.parse::<Lit>()? {
            Lit::Float(_) | Lit::Int(_) => {
                "a number alone: write `sample = 0.5` for the fraction of calls shadowed (or `max_in_flight = 8`, `noise = 0.05`)".to_owned()
            }
            Lit::Str(s) => format!(
                "a string alone: write `name = {:?}` for the experiment's name (or `timeout`, `deadline`)",
                s.value()
            ),
            _ => "a value alone".to_owned(),
        }
    } else if input.peek(syn::token::Bracket) {
        "a list alone: write `candidate = [v2, v3]` or `ignore = [rule, ...]`".to_owned()
    } else if input.peek(syn::token::Brace) {
        "a block alone: write `context = { \"key\": value }`".to_owned()
    } else if input.peek(Token![|]) || input.peek(Token![||]) {
        "a closure alone: write `compare = |primary, candidate| ...`".to_owned()
    } else {
        match input.parse::<TokenTree>() {
            Ok(t) => format!("`{t}`"),
            Err(_) => "nothing".to_owned(),
        }
    };
    Err(syn::Error::new(
        span,
        format!(
            "expected an argument `key = value`, found {guess}; the keys are: {}",
            valid()
        ),
    ))
}

/// The key closest to `name` (a typo: at most two edits, or the same letters in another case).
fn closest(name: &str) -> Option<&'static str> {
    fn distance(a: &str, b: &str) -> usize {
        let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.iter().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let here = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(here + 1);
                prev = here;
            }
        }
        row[b.len()]
    }
    let lower = name.to_lowercase();
    KEYS.iter()
        .map(|k| (distance(&lower, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}
