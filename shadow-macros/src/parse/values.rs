//! The values of the attribute's arguments: expressions, words, strings, names, counts, fractions,
//! dates and timeouts, each refused with a spanned error that says what to write instead.

use super::*;

/// An expression argument; a parse error says what the key takes.
pub(super) fn parse_expr(input: ParseStream, key: &str) -> syn::Result<Expr> {
    if input.is_empty() || input.peek(Token![,]) {
        return Err(takes(key, input.span()));
    }
    parse_whole(input, key)
}

/// A `T` parsed from `input`, all of it: syn leaves tokens it could not use inside a group of
/// the value (`(a [b c])`) for a bare "unexpected token" at the very end, which names no
/// argument; here they are an error for `key`, at the value.
pub(super) fn parse_whole<T: syn::parse::Parse + quote::ToTokens>(
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
pub(super) fn parse_word(input: ParseStream, key: &str, words: &[&str]) -> syn::Result<Ident> {
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
pub(super) fn parse_string(input: ParseStream, key: &str) -> syn::Result<LitStr> {
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
pub(super) fn parse_name(input: ParseStream) -> syn::Result<LitStr> {
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
pub(super) fn parse_bool(input: ParseStream, key: &str) -> syn::Result<bool> {
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
pub(super) fn parse_context(input: ParseStream) -> syn::Result<Vec<(LitStr, Expr)>> {
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
pub(super) fn set_once<T>(slot: &mut Option<Spanned<T>>, key: &Ident, value: T) -> syn::Result<()> {
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
pub(super) fn parse_candidates(input: ParseStream) -> syn::Result<Vec<Path>> {
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
pub(super) fn no_suffix(lit: &Lit, key: &str) -> syn::Result<()> {
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
pub(super) fn parse_count(input: ParseStream, key: &str) -> syn::Result<u64> {
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
pub(super) fn parse_fraction(input: ParseStream, key: &str) -> syn::Result<f64> {
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
pub(super) fn parse_date(s: &str) -> Result<i64, String> {
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
pub(super) const TIMEOUT_FORMS: &str = "a whole number and a unit in a string, such as `timeout = \"150ms\"`, `\"2s\"` or `\"1m\"` (units `us`, `ms`, `s` and `m` for minutes; at least 1ms), or `\"none\"` for no timeout";

/// The units of a `timeout`, with their length in microseconds. The runtime reads environment
/// values with the same table (`shadow_runtime::config::parse_duration`); the macro cannot depend
/// on the runtime crate.
pub(super) const TIMEOUT_UNITS: &[(&str, u64)] = &[
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
pub(super) fn parse_timeout(s: &str) -> Result<u64, String> {
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
pub(super) fn whole(micros: u64) -> String {
    match TIMEOUT_UNITS
        .iter()
        .filter(|(name, per)| *name != "µs" && *name != "min" && micros % per == 0)
        .max_by_key(|(_, per)| *per)
    {
        Some((name, per)) => format!("{}{name}", micros / per),
        None => format!("{micros}us"),
    }
}
