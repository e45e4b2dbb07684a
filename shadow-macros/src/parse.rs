//! Parses the attribute's arguments into [`Args`]. Every error is spanned at the offending token;
//! an unknown key lists the valid ones; a repeated key is rejected in one place ([`set_once`]).

use proc_macro2::{Span, TokenStream};
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
    "order",
    "timeout",
    "max_in_flight",
    "sample_by",
    "run_if",
    "ignore",
    "strict",
    "errors",
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
    pub order: Option<Spanned<Order>>,
    pub krate: Option<Spanned<Path>>,
    pub timeout_ms: Option<Spanned<u64>>,
    pub max_in_flight: Option<Spanned<u64>>,
    pub sample_by: Option<Spanned<Expr>>,
    pub run_if: Option<Spanned<Expr>>,
    pub ignore: Option<Spanned<Vec<Expr>>>,
    pub strict: Option<Spanned<bool>>,
    pub errors: Option<Spanned<Ident>>,
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

pub(crate) fn parse(tokens: TokenStream) -> syn::Result<Args> {
    Parser::parse2(parse_args, tokens)
}

fn parse_args(input: ParseStream) -> syn::Result<Args> {
    let mut args = Args::default();
    while !input.is_empty() {
        let key = input.call(Ident::parse_any)?;
        let key_name = key.to_string();
        if !KEYS.contains(&key_name.as_str()) {
            return Err(syn::Error::new(
                key.span(),
                format!(
                    "unknown `parallel_run` argument `{key_name}`; expected one of: {}",
                    KEYS.join(", ")
                ),
            ));
        }
        input.parse::<Token![=]>().map_err(|e| {
            syn::Error::new(
                e.span(),
                format!("expected `=` after `{key_name}`: `{key_name} = ...`"),
            )
        })?;
        match key_name.as_str() {
            "candidate" => set_once(&mut args.candidate, &key, parse_candidates(input)?)?,
            "idempotency_key" => set_once(&mut args.idempotency_key, &key, input.parse::<Expr>()?)?,
            "min_match_rate" => set_once(
                &mut args.min_match_rate,
                &key,
                parse_fraction(input, "min_match_rate")?,
            )?,
            "min_samples" => {
                let lit: syn::LitInt = input.parse().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "`min_samples` takes an integer, such as `min_samples = 10_000`",
                    )
                })?;
                let n: u64 = lit.base10_parse()?;
                if n == 0 {
                    return Err(syn::Error::new(
                        lit.span(),
                        "`min_samples` must be at least 1",
                    ));
                }
                set_once(&mut args.min_samples, &key, n)?
            }
            "deadline" => {
                let lit: LitStr = input.parse().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "`deadline` takes a date string, such as `deadline = \"2026-12-31\"`",
                    )
                })?;
                let days = parse_date(&lit.value()).map_err(|e| syn::Error::new(lit.span(), e))?;
                set_once(&mut args.deadline, &key, (days, lit))?
            }
            "writes" => {
                let id = input.call(Ident::parse_any)?;
                let w = match id.to_string().as_str() {
                    "refuse" => Writes::Refuse,
                    "dry_run" => Writes::DryRun,
                    "separate" => Writes::Separate,
                    other => {
                        return Err(syn::Error::new(
                            id.span(),
                            format!("unknown write mode `{other}`; expected `refuse`, `dry_run` or `separate`"),
                        ))
                    }
                };
                set_once(&mut args.writes, &key, w)?
            }
            "compare" => set_once(&mut args.compare, &key, input.parse::<Expr>()?)?,
            "name" => {
                let lit: LitStr = input.parse()?;
                if lit.value().trim().is_empty() {
                    return Err(syn::Error::new(lit.span(), "`name` must not be empty"));
                }
                set_once(&mut args.name, &key, lit)?
            }
            "sample" => set_once(&mut args.sample, &key, parse_fraction(input, "sample")?)?,
            "noise" => set_once(&mut args.noise, &key, parse_fraction(input, "noise")?)?,
            "timeout" => {
                let lit: LitStr = input.parse()?;
                let ms = parse_timeout(&lit.value()).map_err(|e| syn::Error::new(lit.span(), e))?;
                set_once(&mut args.timeout_ms, &key, ms)?
            }
            "max_in_flight" => {
                let lit: syn::LitInt = input.parse()?;
                let n: u64 = lit.base10_parse()?;
                if n == 0 {
                    return Err(syn::Error::new(
                        lit.span(),
                        "`max_in_flight` must be at least 1 (to turn shadowing off, use `sample = 0` or the environment)",
                    ));
                }
                set_once(&mut args.max_in_flight, &key, n)?
            }
            "sample_by" => set_once(&mut args.sample_by, &key, input.parse::<Expr>()?)?,
            "run_if" => set_once(&mut args.run_if, &key, input.parse::<Expr>()?)?,
            "errors" => {
                let id = input.call(Ident::parse_any)?;
                match id.to_string().as_str() {
                    "compare" | "match" | "variant" => {}
                    other => {
                        return Err(syn::Error::new(
                            id.span(),
                            format!("unknown error policy `{other}`; expected `compare`, `match` or `variant`"),
                        ))
                    }
                }
                set_once(&mut args.errors, &key, id)?
            }
            "before" => set_once(&mut args.before, &key, input.parse::<Expr>()?)?,
            "on_outcome" => set_once(&mut args.on_outcome, &key, input.parse::<Expr>()?)?,
            "clean" => set_once(&mut args.clean, &key, input.parse::<Expr>()?)?,
            "cpu_time" => set_once(&mut args.cpu_time, &key, parse_bool(input, "cpu_time")?)?,
            "record_inputs" => set_once(
                &mut args.record_inputs,
                &key,
                parse_bool(input, "record_inputs")?,
            )?,
            "context" => {
                let body;
                syn::braced!(body in input);
                let mut pairs = Vec::new();
                while !body.is_empty() {
                    let k: LitStr = body.parse().map_err(|e| {
                        syn::Error::new(
                            e.span(),
                            "`context` takes `{ \"key\": value, ... }` with string keys",
                        )
                    })?;
                    body.parse::<Token![:]>()?;
                    let v: Expr = body.parse()?;
                    pairs.push((k, v));
                    if body.is_empty() {
                        break;
                    }
                    body.parse::<Token![,]>()?;
                }
                set_once(&mut args.context, &key, pairs)?
            }
            "strict" => set_once(&mut args.strict, &key, parse_bool(input, "strict")?)?,
            "ignore" => {
                let list: syn::ExprArray = input.parse().map_err(|e| {
                    syn::Error::new(e.span(), "`ignore` takes a list of rules: `ignore = [rule_a, |primary, candidate| ...]`")
                })?;
                if list.elems.is_empty() {
                    return Err(syn::Error::new(
                        list.bracket_token.span.join(),
                        "`ignore` needs at least one rule",
                    ));
                }
                set_once(&mut args.ignore, &key, list.elems.into_iter().collect())?
            }
            "mode" => {
                let id: Ident = input.parse()?;
                let mode = match id.to_string().as_str() {
                    "detached" => Mode::Detached,
                    "inline" => Mode::Inline,
                    other => {
                        return Err(syn::Error::new(
                            id.span(),
                            format!("unknown mode `{other}`; expected `detached` or `inline`"),
                        ))
                    }
                };
                set_once(&mut args.mode, &key, mode)?
            }
            "order" => {
                let id: Ident = input.parse()?;
                let order = match id.to_string().as_str() {
                    "primary_first" => Order::PrimaryFirst,
                    "random" => Order::Random,
                    other => {
                        return Err(syn::Error::new(
                            id.span(),
                            format!(
                                "unknown order `{other}`; expected `primary_first` or `random`"
                            ),
                        ))
                    }
                };
                set_once(&mut args.order, &key, order)?
            }
            "crate" => {
                let lit: LitStr = input.parse()?;
                let path = lit.parse::<Path>().map_err(|_| {
                    syn::Error::new(lit.span(), "`crate` must be a path such as \"parallel_run\" or \"::my_reexport::parallel_run\"")
                })?;
                set_once(&mut args.krate, &key, path)?
            }
            _ => unreachable!("checked against KEYS above"),
        }
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(args)
}

/// A `true` / `false` literal for `key`.
fn parse_bool(input: ParseStream, key: &str) -> syn::Result<bool> {
    let b: syn::LitBool = input
        .parse()
        .map_err(|e| syn::Error::new(e.span(), format!("`{key}` takes `true` or `false`")))?;
    Ok(b.value)
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
    if !input.peek(syn::token::Bracket) {
        return Ok(vec![input.parse::<Path>()?]);
    }
    let body;
    let bracket = syn::bracketed!(body in input);
    let list = syn::punctuated::Punctuated::<Path, Token![,]>::parse_terminated(&body)?;
    if list.is_empty() {
        return Err(syn::Error::new(
            bracket.span.join(),
            "`candidate` needs at least one function: `candidate = [process_v2, process_v3]`",
        ));
    }
    let mut seen: Vec<String> = Vec::new();
    for p in &list {
        let text = quote::ToTokens::to_token_stream(p).to_string();
        if seen.contains(&text) {
            return Err(syn::Error::new_spanned(
                p,
                format!("candidate `{}` is listed twice", text.replace(' ', "")),
            ));
        }
        seen.push(text);
    }
    Ok(list.into_iter().collect())
}

/// A fraction literal in `0..=1` (`0.25`, `1`, `0`) for `key` (`sample`, `min_match_rate`).
fn parse_fraction(input: ParseStream, key: &str) -> syn::Result<f64> {
    let lit: Lit = input.parse()?;
    let (value, span) = match &lit {
        Lit::Float(f) => (f.base10_parse::<f64>()?, f.span()),
        Lit::Int(i) => (i.base10_parse::<f64>()?, i.span()),
        other => {
            return Err(syn::Error::new(
                other.span(),
                format!("`{key}` must be a number between 0 and 1, such as `{key} = 0.1`"),
            ))
        }
    };
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

/// A timeout literal in whole milliseconds: an integer with a unit, `us`, `ms`, `s` or `m`
/// (`"150ms"`, `"2s"`). The runtime parses environment values by the same rules
/// (`shadow_runtime::config::parse_duration`); the macro cannot depend on the runtime crate.
fn parse_timeout(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        format!("`timeout` must be a duration such as \"150ms\" or \"2s\", found {s:?}")
    })?;
    let micros = match unit.trim() {
        "us" | "µs" => n,
        "ms" => n.saturating_mul(1_000),
        "s" => n.saturating_mul(1_000_000),
        "m" | "min" => n.saturating_mul(60_000_000),
        _ => {
            return Err(format!(
                "`timeout` needs a unit (us, ms, s or m), found {s:?}"
            ))
        }
    };
    if micros < 1_000 {
        return Err(format!("`timeout` must be at least 1ms, found {s:?}"));
    }
    Ok(micros / 1_000)
}
