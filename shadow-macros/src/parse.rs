//! Parses the attribute's arguments into [`Args`]. Every error is spanned at the offending token
//! and names the argument it was reading with the forms it takes ([`forms`]): never a bare
//! "expected identifier". An unknown key lists the valid ones (and the closest); a value without
//! its key says which key it looks like; a repeated key is rejected in one place ([`set_once`]).
//! `src/fuzz.rs` checks these properties over generated and mutated inputs.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Ident, Lit, LitStr, Path, Token};

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

/// An expression argument; a parse error says what the key takes.
fn parse_expr(input: ParseStream, key: &str) -> syn::Result<Expr> {
    if input.is_empty() || input.peek(Token![,]) {
        return Err(takes(key, input.span()));
    }
    parse_whole(input, key)
}

/// A `T` parsed from `input`, all of it: syn leaves tokens it could not use inside a group of
/// the value (`(a [b c])`) for a bare "unexpected token" at the very end, which names no
/// argument; here they are an error for `key`, at the value.
fn parse_whole<T: syn::parse::Parse + quote::ToTokens>(
    input: ParseStream,
    key: &str,
) -> syn::Result<T> {
    use syn::parse::discouraged::Speculative;
    fn count(ts: TokenStream) -> usize {
        ts.into_iter()
            .map(|t| match t {
                TokenTree::Group(g) => 1 + count(g.stream()),
                _ => 1,
            })
            .sum()
    }
    let start = input.span();
    let fork = input.fork();
    let value: T = fork.parse().map_err(|e| takes_expr(key, &e))?;
    let mut consumed = TokenStream::new();
    let mut cursor = input.cursor();
    while cursor != fork.cursor() {
        let Some((tt, next)) = cursor.token_tree() else {
            break;
        };
        consumed.extend([tt]);
        cursor = next;
    }
    input.advance_to(&fork);
    if count(consumed) != count(value.to_token_stream()) {
        return Err(syn::Error::new(
            start,
            format!(
                "`{key}` takes {} (the value does not parse: tokens are left over inside its brackets)",
                forms(key)
            ),
        ));
    }
    Ok(value)
}

/// One of `words` (`mode = inline`); a string of one of them says to drop the quotes.
fn parse_word(input: ParseStream, key: &str, words: &[&str]) -> syn::Result<Ident> {
    let listed = || {
        let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
        match quoted.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    };
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        let v = lit.value();
        let fix = if words.contains(&v.as_str()) {
            format!("write `{key} = {v}`, without quotes")
        } else {
            format!("write one of {} without quotes", listed())
        };
        return Err(syn::Error::new(
            lit.span(),
            format!("`{key}` takes a word, not a string: {fix}"),
        ));
    }
    let id = input
        .call(Ident::parse_any)
        .map_err(|e| takes(key, e.span()))?;
    let word = id.to_string();
    if !words.contains(&word.as_str()) {
        let what = match key {
            "mode" => "mode",
            "order" => "order",
            "writes" => "write mode",
            "errors" => "error policy",
            other => other,
        };
        return Err(syn::Error::new(
            id.span(),
            format!("unknown {what} `{word}`; expected {}", listed()),
        ));
    }
    Ok(id)
}

/// A string literal for `key`; anything else says how to write it (`timeout = 150` ->
/// `timeout = "150ms"`).
fn parse_string(input: ParseStream, key: &str) -> syn::Result<LitStr> {
    if input.peek(LitStr) {
        return input.parse();
    }
    let span = input.span();
    let text = input
        .fork()
        .parse::<TokenTree>()
        .map(|t| t.to_string())
        .unwrap_or_default();
    let found = input.fork().parse::<Lit>().ok();
    let fix = match (&found, key) {
        (Some(Lit::Int(i)), "timeout") if i.suffix().is_empty() => {
            format!(
                "; write the number and its unit inside the quotes: `timeout = \"{}ms\"`",
                i.base10_digits()
            )
        }
        (Some(Lit::Int(i)), "timeout") => format!(
            "; write it in quotes: `timeout = \"{}{}\"`",
            i.base10_digits(),
            i.suffix()
        ),
        _ if input.peek(Ident::peek_any) && key != "timeout" && key != "deadline" => {
            format!("; write it in quotes: `{key} = \"{text}\"`")
        }
        _ => String::new(),
    };
    Err(syn::Error::new(
        span,
        format!("`{key}` takes {}{fix}", forms(key)),
    ))
}

/// `name = "..."`: not empty, no control characters (it is part of environment variable names,
/// metric labels and log lines).
fn parse_name(input: ParseStream) -> syn::Result<LitStr> {
    let lit = parse_string(input, "name")?;
    let v = lit.value();
    if v.trim().is_empty() {
        return Err(syn::Error::new(lit.span(), "`name` must not be empty"));
    }
    if let Some((at, c)) = v.char_indices().find(|(_, c)| c.is_control()) {
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "`name` must not contain control characters, found {c:?} at byte {at}: the name is part of the \
                 experiment's environment variable, its metric labels and every log line"
            ),
        ));
    }
    Ok(lit)
}

/// A `true` / `false` literal for `key`.
fn parse_bool(input: ParseStream, key: &str) -> syn::Result<bool> {
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        return Err(syn::Error::new(
            lit.span(),
            format!("`{key}` takes `true` or `false` without quotes"),
        ));
    }
    let b: syn::LitBool = input.parse().map_err(|e| takes(key, e.span()))?;
    Ok(b.value)
}

/// `{ "key": value, ... }`: string keys, each once.
fn parse_context(input: ParseStream) -> syn::Result<Vec<(LitStr, Expr)>> {
    if !input.peek(syn::token::Brace) {
        return Err(takes("context", input.span()));
    }
    let body;
    syn::braced!(body in input);
    let mut pairs: Vec<(LitStr, Expr)> = Vec::new();
    while !body.is_empty() {
        let k: LitStr = body.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                format!(
                    "a `context` key is a string literal; `context` takes {}",
                    forms("context")
                ),
            )
        })?;
        let name = k.value();
        if name.is_empty() {
            return Err(syn::Error::new(
                k.span(),
                "a `context` key must not be empty",
            ));
        }
        if pairs.iter().any(|(seen, _)| seen.value() == name) {
            return Err(syn::Error::new(
                k.span(),
                format!("`context` key {name:?} is given twice; give each key once"),
            ));
        }
        body.parse::<Token![:]>().map_err(|e| {
            syn::Error::new(
                e.span(),
                format!("expected `:` after the `context` key {name:?}: `{{ {name:?}: value }}`"),
            )
        })?;
        if body.is_empty() || body.peek(Token![,]) {
            return Err(syn::Error::new(
                body.span(),
                format!("the `context` key {name:?} needs a value: `{{ {name:?}: value }}`"),
            ));
        }
        let v: Expr = parse_whole(&body, "context")?;
        pairs.push((k, v));
        if body.is_empty() {
            break;
        }
        body.parse::<Token![,]>().map_err(|e| {
            syn::Error::new(
                e.span(),
                format!("expected `,` after the value of the `context` key {name:?}"),
            )
        })?;
    }
    Ok(pairs)
}

/// Stores a value the first time its key appears; a second time is an error at the second key.
fn set_once<T>(slot: &mut Option<Spanned<T>>, key: &Ident, value: T) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            key.span(),
            format!("`{key}` is set more than once; give it once"),
        ));
    }
    *slot = Some(Spanned {
        key: key.span(),
        value,
    });
    Ok(())
}

/// `candidate = path` or `candidate = [path, path, ...]` (distinct paths).
fn parse_candidates(input: ParseStream) -> syn::Result<Vec<Path>> {
    let path = |input: ParseStream| -> syn::Result<Path> {
        if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            return Err(syn::Error::new(
                lit.span(),
                format!(
                    "`candidate` takes a path, not a string: write `candidate = {}`",
                    lit.value()
                ),
            ));
        }
        if !(input.peek(Ident::peek_any) || input.peek(Token![::]) || input.peek(Token![<])) {
            return Err(takes("candidate", input.span()));
        }
        let p: Path = parse_whole(input, "candidate")?;
        if input.peek(syn::token::Paren) {
            return Err(syn::Error::new(
                input.span(),
                format!(
                    "`candidate` takes the function's path without arguments: write `candidate = {}` (it is called with this function's arguments)",
                    crate::validate::path_text(&p)
                ),
            ));
        }
        Ok(p)
    };
    if !input.peek(syn::token::Bracket) {
        return Ok(vec![path(input)?]);
    }
    let body;
    let bracket = syn::bracketed!(body in input);
    let list = syn::punctuated::Punctuated::<Path, Token![,]>::parse_terminated_with(&body, path)
        .map_err(|e| {
        if e.to_string().contains("`candidate`") {
            e
        } else {
            syn::Error::new(
                e.span(),
                format!(
                    "expected `,` between the candidates of the list; `candidate` takes {}",
                    forms("candidate")
                ),
            )
        }
    })?;
    if list.is_empty() {
        return Err(syn::Error::new(
            bracket.span.join(),
            "`candidate` needs at least one function: `candidate = [process_v2, process_v3]`",
        ));
    }
    let mut seen: Vec<String> = Vec::new();
    for p in &list {
        let text = crate::validate::path_text(p);
        if seen.contains(&text) {
            return Err(syn::Error::new_spanned(
                p,
                format!("candidate `{text}` is listed twice"),
            ));
        }
        seen.push(text);
    }
    Ok(list.into_iter().collect())
}

/// A literal without a type suffix (`1_000u8`, `0.5f64`): the macro gives the runtime its own
/// types, so a suffix is at best ignored and at worst misleading.
fn no_suffix(lit: &Lit, key: &str) -> syn::Result<()> {
    let (suffix, digits) = match lit {
        Lit::Int(i) => (i.suffix(), i.base10_digits()),
        Lit::Float(f) => (f.suffix(), f.base10_digits()),
        _ => return Ok(()),
    };
    if suffix.is_empty() {
        return Ok(());
    }
    Err(syn::Error::new(
        lit.span(),
        format!("`{key}` takes a plain number, without a type suffix: write `{key} = {digits}`"),
    ))
}

/// A positive integer literal (`max_in_flight`, `min_samples`).
fn parse_count(input: ParseStream, key: &str) -> syn::Result<u64> {
    let example = if key == "min_samples" { "10_000" } else { "64" };
    if input.peek(Token![-]) {
        let minus: Token![-] = input.parse()?;
        let rest: Option<Lit> = input.parse().ok();
        return Err(syn::Error::new_spanned(
            quote::quote!(#minus #rest),
            format!("`{key}` must be a positive integer (at least 1), such as `{key} = {example}`"),
        ));
    }
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        return Err(syn::Error::new(
            lit.span(),
            format!("`{key}` takes an integer, not a string: `{key} = {example}`"),
        ));
    }
    let lit: Lit = input.parse().map_err(|e| takes(key, e.span()))?;
    let Lit::Int(int) = &lit else {
        return Err(syn::Error::new(
            lit.span(),
            format!("`{key}` takes a whole number, such as `{key} = {example}`"),
        ));
    };
    no_suffix(&lit, key)?;
    let n: u64 = int.base10_parse().map_err(|_| {
        syn::Error::new(
            int.span(),
            format!(
                "`{key} = {}` is too large: `{key}` takes an integer from 1 to {}",
                int.base10_digits(),
                u64::MAX
            ),
        )
    })?;
    if n == 0 {
        let why = if key == "max_in_flight" {
            " (to turn shadowing off, use `sample = 0` or the environment)"
        } else {
            ""
        };
        return Err(syn::Error::new(
            int.span(),
            format!("`{key}` must be at least 1{why}"),
        ));
    }
    Ok(n)
}

/// A fraction literal in `0..=1` (`0.25`, `1`, `0`) for `key` (`sample`, `min_match_rate`, `noise`).
fn parse_fraction(input: ParseStream, key: &str) -> syn::Result<f64> {
    let example = match key {
        "min_match_rate" => "0.999",
        "noise" => "0.05",
        _ => "0.1",
    };
    if input.peek(Token![-]) {
        let minus: Token![-] = input.parse()?;
        let rest: Option<Lit> = input.parse().ok();
        return Err(syn::Error::new_spanned(
            quote::quote!(#minus #rest),
            format!("`{key}` must be between 0 and 1 (a fraction of calls), such as `{key} = {example}`"),
        ));
    }
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        return Err(syn::Error::new(
            lit.span(),
            format!("`{key}` takes a number, not a string: write a fraction such as `{key} = {example}`"),
        ));
    }
    let lit: Lit = input.parse().map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("`{key}` must be a number between 0 and 1, such as `{key} = {example}`"),
        )
    })?;
    let (value, span) = match &lit {
        Lit::Float(f) => (f.base10_parse::<f64>()?, f.span()),
        Lit::Int(i) => (i.base10_parse::<f64>()?, i.span()),
        other => {
            return Err(syn::Error::new(
                other.span(),
                format!("`{key}` must be a number between 0 and 1, such as `{key} = {example}`"),
            ))
        }
    };
    no_suffix(&lit, key)?;
    if input.peek(Token![%]) {
        let pct: Token![%] = input.parse()?;
        return Err(syn::Error::new_spanned(
            quote::quote!(#lit #pct),
            format!(
                "`{key}` takes a fraction, not a percentage: write `{key} = {}`",
                value / 100.0
            ),
        ));
    }
    if !(0.0..=1.0).contains(&value) {
        return Err(syn::Error::new(
            span,
            format!("`{key}` must be between 0 and 1 (a fraction of calls), found {value}"),
        ));
    }
    Ok(value)
}

/// A `YYYY-MM-DD` date that exists, in days since 1970-01-01 (Howard Hinnant's
/// `days_from_civil`). The runtime parses environment values by the same rules
/// (`shadow_runtime::cutover::parse_date`); the macro cannot depend on the runtime crate.
fn parse_date(s: &str) -> Result<i64, String> {
    let bad = || format!("`deadline` must be a date such as \"2026-12-31\", found {s:?}");
    let parts: Vec<&str> = s.trim().split('-').collect();
    let [y, m, d] = parts[..] else {
        return Err(bad());
    };
    if y.len() != 4
        || m.len() != 2
        || d.len() != 2
        || !(y.to_owned() + m + d).bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let (y, m, d): (i64, i64, i64) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let len = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(format!("`deadline` {s:?}: month {m} does not exist")),
    };
    if d < 1 || d > len {
        return Err(format!(
            "`deadline` {s:?}: day {d} does not exist in that month"
        ));
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Ok(era * 146_097 + doe - 719_468)
}

/// What `timeout` accepts, for its errors.
const TIMEOUT_FORMS: &str = "a whole number and a unit in a string, such as `timeout = \"150ms\"`, `\"2s\"` or `\"1m\"` (units `us`, `ms`, `s` and `m` for minutes; at least 1ms), or `\"none\"` for no timeout";

/// The units of a `timeout`, with their length in microseconds. The runtime reads environment
/// values with the same table (`shadow_runtime::config::parse_duration`); the macro cannot depend
/// on the runtime crate.
const TIMEOUT_UNITS: &[(&str, u64)] = &[
    ("us", 1),
    ("µs", 1),
    ("ms", 1_000),
    ("s", 1_000_000),
    ("m", 60_000_000),
    ("min", 60_000_000),
];

/// A timeout literal in whole milliseconds: a whole number and a unit from [`TIMEOUT_UNITS`]
/// (`"150ms"`, `"2s"`), or `"none"` (0: no timeout). Other forms get an error that says what to
/// write instead (`"1.5s"` -> `"1500ms"`, `"1h"` -> `"60m"`).
fn parse_timeout(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let bad = |why: String| format!("`timeout` {s:?}: {why}; `timeout` takes {TIMEOUT_FORMS}");
    if t.is_empty() {
        return Err(bad("empty".into()));
    }
    match t {
        "none" => return Ok(0),
        "off" | "never" | "no" => return Err(bad("write \"none\" for no timeout".into())),
        _ => {}
    }
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, rest) = t.split_at(digits);
    if num.is_empty() {
        let why = if t.starts_with('-') {
            "a timeout cannot be negative".to_owned()
        } else {
            "not a number and a unit".to_owned()
        };
        return Err(bad(why));
    }
    let unit = rest.trim();
    let micros_per = |u: &str| {
        TIMEOUT_UNITS
            .iter()
            .find(|(name, _)| *name == u)
            .map(|(_, m)| *m)
    };
    // A fraction or an exponent ("1.5s", "1e3ms"): say which whole number it is.
    if unit.starts_with('.') || unit.starts_with('e') || unit.starts_with('E') {
        let split = unit
            .find(|c: char| c.is_alphabetic() && c != 'e' && c != 'E')
            .or_else(|| unit.rfind(|c: char| c.is_ascii_digit()).map(|i| i + 1))
            .unwrap_or(unit.len());
        let (tail, u) = unit.split_at(split);
        let what = if unit.starts_with('.') {
            "a fraction"
        } else {
            "an exponent"
        };
        let exact = format!("{num}{tail}")
            .parse::<f64>()
            .ok()
            .zip(micros_per(u.trim()))
            .map(|(v, per)| v * per as f64)
            .filter(|m| m.is_finite() && m.fract() == 0.0 && *m >= 1_000.0 && *m < 1e18)
            .map(|m| format!(": write {:?}", whole(m as u64)))
            .unwrap_or_default();
        return Err(bad(format!("{what} is not accepted{exact}")));
    }
    let n: u64 = num
        .parse()
        .map_err(|_| bad("the number is too large".into()))?;
    let Some(per) = micros_per(unit) else {
        let why = match unit {
            "" => format!("needs a unit: write \"{n}ms\" or \"{n}s\""),
            "h" | "hr" | "hour" | "hours" => format!(
                "unknown unit `{unit}` (the largest unit is `m`): write \"{}m\"",
                n.saturating_mul(60)
            ),
            "sec" | "secs" | "second" | "seconds" => {
                format!("unknown unit `{unit}`: write \"{n}s\"")
            }
            "mins" | "minute" | "minutes" => format!("unknown unit `{unit}`: write \"{n}m\""),
            "ns" => "unknown unit `ns` (a timeout is at least 1ms)".to_owned(),
            other => format!("unknown unit `{other}`"),
        };
        return Err(bad(why));
    };
    let micros = n.checked_mul(per).ok_or_else(|| bad("too long".into()))?;
    if micros < 1_000 {
        return Err(bad("less than 1ms".into()));
    }
    Ok(micros / 1_000)
}

/// `micros` in the largest unit that holds it exactly (`1500000` -> `1500ms`).
fn whole(micros: u64) -> String {
    match TIMEOUT_UNITS
        .iter()
        .filter(|(name, per)| *name != "µs" && *name != "min" && micros % per == 0)
        .max_by_key(|(_, per)| *per)
    {
        Some((name, per)) => format!("{}{name}", micros / per),
        None => format!("{micros}us"),
    }
}
