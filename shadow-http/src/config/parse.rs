//! The parser of the proxy's keys: `[proxy]`, each route's own keys and `[routes.compare]`,
//! with the file, line and key of every mistake (the experiment keys are the runtime's to check).

use std::net::SocketAddr;
use std::path::PathBuf;

use http::HeaderName;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use shadow_runtime::config::file::{KEYS, ROUTE_KEYS};

use super::{CompareConfig, Config, ExperimentConfig, Problem, RouteConfig};
use crate::route::{PathMatch, SampleBy, WritePolicy, DEFAULT_MAX_BODY};

type Val<'a> = Spanned<DeValue<'a>>;

pub(super) struct Parser<'t> {
    pub(super) text: &'t str,
    pub(super) file: &'t str,
    pub(super) problems: Vec<Problem>,
}

const PROXY_KEYS: [&str; 8] = [
    "listen",
    "admin",
    "primary",
    "candidate",
    "log",
    "marker_header",
    "drain",
    "max_body",
];
/// An experiment's keys a route takes: the runtime's, less those the proxy cannot honour (it
/// always serves the primary: no ramp, so no gate source; `strict` and `cpu_time` are for
/// functions). `ramp = 0` is still accepted (checked apart).
fn setting_keys() -> Vec<&'static str> {
    const NOT_ON_ROUTES: [&str; 4] = ["ramp", "cpu_time", "strict", "gate_source"];
    KEYS.iter()
        .copied()
        .filter(|k| !NOT_ON_ROUTES.contains(k))
        .collect()
}
const COMPARE_KEYS: [&str; 14] = [
    "ignore",
    "unordered",
    "trim",
    "nfc",
    "redact",
    "missing_as_null",
    "missing_as_empty",
    "float_tolerance",
    "float_relative",
    "within",
    "ignore_headers",
    "compare_headers",
    "headers",
    "strict",
];

impl<'t> Parser<'t> {
    fn problem(&mut self, span: std::ops::Range<usize>, key: &str, message: impl Into<String>) {
        self.problems
            .push(Problem::at(self.file, self.text, span.start, key, message));
    }

    fn unknown(&mut self, span: std::ops::Range<usize>, key: &str, name: &str, allowed: &[&str]) {
        let hint = closest(name, allowed)
            .map(|c| format!("did you mean `{c}`? "))
            .unwrap_or_default();
        self.problem(
            span,
            key,
            format!("unknown key; {hint}allowed here: {}", allowed.join(", ")),
        );
    }

    pub(super) fn document(&mut self, doc: &DeTable<'_>) -> Config {
        let mut c = Config::default();
        let mut max_body = DEFAULT_MAX_BODY;
        // [defaults] and [proxy] first: routes inherit from them.
        for (k, v) in doc.iter() {
            match k.get_ref().as_ref() {
                "defaults" => {
                    if let Some(t) = self.table(v, "defaults") {
                        for (k2, _) in t.iter() {
                            let key = format!("defaults.{}", k2.get_ref());
                            let name = k2.get_ref().as_ref();
                            // Their values are the runtime's to check.
                            let settings = setting_keys();
                            if !settings.contains(&name) {
                                self.unknown(k2.span(), &key, name, &settings);
                            }
                        }
                    }
                }
                "proxy" => {
                    if let Some(t) = self.table(v, "proxy") {
                        for (k2, v2) in t.iter() {
                            let key = format!("proxy.{}", k2.get_ref());
                            self.proxy_key(
                                &mut c,
                                &mut max_body,
                                k2.get_ref(),
                                v2,
                                &key,
                                k2.span(),
                            );
                        }
                    }
                }
                _ => {}
            }
        }
        for (k, v) in doc.iter() {
            match k.get_ref().as_ref() {
                "defaults" | "proxy" => {}
                "routes" => match v.get_ref() {
                    DeValue::Array(a) => {
                        for (i, r) in a.iter().enumerate() {
                            let key = format!("routes[{i}]");
                            if let Some(rc) = self.route(r, &key, max_body) {
                                if c.routes.iter().any(|o| o.name == rc.name) {
                                    self.problem(r.span(), &format!("{key}.name"), format!("the route name {:?} is given twice: each route is its own experiment", rc.name));
                                }
                                c.routes.push(rc);
                            }
                        }
                    }
                    _ => self.problem(
                        v.span(),
                        "routes",
                        "write each route as a `[[routes]]` table",
                    ),
                },
                "experiments" => {
                    if let Some(t) = self.table(v, "experiments") {
                        for (name, e) in t.iter() {
                            let key = format!("experiments.{:?}", name.get_ref().as_ref());
                            if self.table(e, &key).is_some() {
                                c.experiments.push(ExperimentConfig {
                                    name: name.get_ref().to_string(),
                                    settings: String::new(),
                                    strict: None,
                                });
                            }
                        }
                    }
                }
                other => self.unknown(
                    k.span(),
                    other,
                    other,
                    &["proxy", "defaults", "routes", "experiments"],
                ),
            }
        }
        c
    }

    fn table<'v, 'a>(&mut self, v: &'v Val<'a>, key: &str) -> Option<&'v DeTable<'a>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                self.problem(
                    v.span(),
                    key,
                    format!("expected a table, found a {}", other.type_str()),
                );
                None
            }
        }
    }

    fn string<'v>(&mut self, v: &'v Val<'_>, key: &str, what: &str) -> Option<&'v str> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.as_ref()),
            other => {
                self.problem(
                    v.span(),
                    key,
                    format!("expected {what} (a string), found a {}", other.type_str()),
                );
                None
            }
        }
    }

    fn strings(&mut self, v: &Val<'_>, key: &str, what: &str) -> Option<Vec<String>> {
        let DeValue::Array(a) = v.get_ref() else {
            self.problem(
                v.span(),
                key,
                format!("expected a list of {what}, such as [\"...\"]"),
            );
            return None;
        };
        let mut out = Vec::new();
        for (i, item) in a.iter().enumerate() {
            let k = format!("{key}[{i}]");
            out.push(self.string(item, &k, what)?.to_owned());
        }
        Some(out)
    }

    fn boolean(&mut self, v: &Val<'_>, key: &str) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                self.problem(
                    v.span(),
                    key,
                    format!("expected true or false, found a {}", other.type_str()),
                );
                None
            }
        }
    }

    fn number(&mut self, v: &Val<'_>, key: &str) -> Option<f64> {
        match v.get_ref() {
            DeValue::Float(f) => f.as_str().replace('_', "").parse().ok(),
            DeValue::Integer(i) => i
                .as_str()
                .replace('_', "")
                .parse::<i64>()
                .ok()
                .map(|n| n as f64),
            other => {
                self.problem(
                    v.span(),
                    key,
                    format!("expected a number, found a {}", other.type_str()),
                );
                None
            }
        }
    }

    fn rate(&mut self, v: &Val<'_>, key: &str) -> Option<f64> {
        const HOW: &str = "(write a rate such as 0.25 or \"25%\")";
        let (r, shown) = match v.get_ref() {
            DeValue::String(s) => {
                let t = s.trim();
                let parsed = match t.strip_suffix('%') {
                    Some(p) => p.trim().parse::<f64>().ok().map(|x| x / 100.0),
                    None => t.parse::<f64>().ok(),
                };
                match parsed {
                    Some(x) if !t.starts_with('-') => (x, format!("{s:?}")),
                    _ => {
                        self.problem(v.span(), key, format!("{s:?} is not a rate {HOW}"));
                        return None;
                    }
                }
            }
            DeValue::Float(f) => (
                f.as_str().parse().unwrap_or(f64::NAN),
                f.as_str().to_owned(),
            ),
            DeValue::Integer(i) => (
                i.as_str().parse::<f64>().unwrap_or(f64::NAN),
                i.as_str().to_owned(),
            ),
            other => {
                self.problem(
                    v.span(),
                    key,
                    format!("expected a rate, found a {} {HOW}", other.type_str()),
                );
                return None;
            }
        };
        if r.is_finite() && (0.0..=1.0).contains(&r) && !(r == 0.0 && shown.starts_with('-')) {
            Some(r)
        } else {
            self.problem(v.span(), key, format!("{shown} is outside 0..=1 {HOW}"));
            None
        }
    }

    fn positive(&mut self, v: &Val<'_>, key: &str) -> Option<u64> {
        match v.get_ref() {
            DeValue::Integer(i) => match i.as_str().replace('_', "").parse::<u64>() {
                Ok(n) if n > 0 && i.radix() == 10 => Some(n),
                _ => {
                    self.problem(
                        v.span(),
                        key,
                        format!("{} is not a positive integer", i.as_str()),
                    );
                    None
                }
            },
            other => {
                self.problem(
                    v.span(),
                    key,
                    format!("expected a positive integer, found a {}", other.type_str()),
                );
                None
            }
        }
    }

    fn duration(&mut self, v: &Val<'_>, key: &str, none_ok: bool) -> Option<Option<String>> {
        let s = self.string(v, key, "a duration such as \"150ms\" or \"2s\"")?;
        let s = s.trim().to_owned();
        if none_ok && (s == "none" || s == "off") {
            return Some(None);
        }
        match shadow_runtime::config::parse_duration(&s) {
            Ok(_) => Some(Some(s)),
            Err(e) => {
                let also = if none_ok { ", or \"none\"" } else { "" };
                self.problem(v.span(), key, format!("{e} (units us, ms, s, m{also})"));
                None
            }
        }
    }

    fn size(&mut self, v: &Val<'_>, key: &str) -> Option<usize> {
        let bad = "expected a size: bytes (65536), or \"512KiB\", \"1MiB\", \"64KB\"";
        match v.get_ref() {
            DeValue::Integer(_) => self.positive(v, key).map(|n| n as usize),
            DeValue::String(s) => {
                let t = s.trim();
                let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
                let (num, unit) = t.split_at(split);
                let mult: Option<u64> = match unit.trim() {
                    "" | "B" => Some(1),
                    "KiB" => Some(1 << 10),
                    "MiB" => Some(1 << 20),
                    "GiB" => Some(1 << 30),
                    "KB" | "kB" => Some(1_000),
                    "MB" => Some(1_000_000),
                    "GB" => Some(1_000_000_000),
                    _ => None,
                };
                match (num.parse::<u64>(), mult) {
                    (Ok(n), Some(m)) if n > 0 => {
                        n.checked_mul(m).map(|b| b as usize).or_else(|| {
                            self.problem(v.span(), key, format!("{s:?} is too large"));
                            None
                        })
                    }
                    _ => {
                        self.problem(v.span(), key, format!("{s:?}: {bad}"));
                        None
                    }
                }
            }
            other => {
                self.problem(
                    v.span(),
                    key,
                    format!("{bad}; found a {}", other.type_str()),
                );
                None
            }
        }
    }

    fn proxy_key(
        &mut self,
        c: &mut Config,
        max_body: &mut usize,
        name: &str,
        v: &Val<'_>,
        key: &str,
        kspan: std::ops::Range<usize>,
    ) {
        match name {
            "listen" | "admin" => {
                if let Some(s) = self.string(v, key, "an address such as \"127.0.0.1:8080\"") {
                    match s.trim().parse::<SocketAddr>() {
                        Ok(a) if name == "listen" => c.listen = a,
                        Ok(a) => c.admin = Some(a),
                        Err(_) => self.problem(
                            v.span(),
                            key,
                            format!("{s:?} is not an address such as \"127.0.0.1:8080\""),
                        ),
                    }
                }
            }
            "primary" | "candidate" => {
                if let Some(s) = self.string(v, key, "a base URL such as \"http://127.0.0.1:9001\"")
                {
                    match crate::layer::Base::parse(s) {
                        Ok(_) if name == "primary" => c.primary = Some(s.trim().to_owned()),
                        Ok(_) => c.candidate = Some(s.trim().to_owned()),
                        Err(e) => self.problem(v.span(), key, e),
                    }
                }
            }
            "log" => {
                if let Some(s) = self.string(v, key, "a file path") {
                    c.log = Some(PathBuf::from(s));
                }
            }
            "marker_header" => {
                if let Some(s) = self.string(v, key, "a header name") {
                    match HeaderName::from_bytes(s.trim().as_bytes()) {
                        Ok(h) => c.marker_header = h,
                        Err(_) => {
                            self.problem(v.span(), key, format!("{s:?} is not a header name"))
                        }
                    }
                }
            }
            "drain" => {
                if let Some(Some(d)) = self.duration(v, key, false) {
                    c.drain = shadow_runtime::config::parse_duration(&d).unwrap_or(c.drain);
                }
            }
            "max_body" => {
                if let Some(n) = self.size(v, key) {
                    *max_body = n;
                }
            }
            other => self.unknown(kspan, key, other, &PROXY_KEYS),
        }
    }

    fn route(&mut self, r: &Val<'_>, key: &str, max_body: usize) -> Option<RouteConfig> {
        let t = self.table(r, key)?;
        let before = self.problems.len();
        let mut rc = RouteConfig {
            name: String::new(),
            methods: None,
            path: PathMatch::Any,
            sample_by: SampleBy::Random,
            writes: WritePolicy::ReadOnly,
            max_body,
            noise: 0.0,
            settings: String::new(),
            compare: CompareConfig::default(),
        };
        let mut idem_header: Option<HeaderName> = None;
        let mut has_path = false;
        for (k, v) in t.iter() {
            let name = k.get_ref().as_ref();
            let kk = format!("{key}.{name}");
            match name {
                "name" => {
                    if let Some(s) = self.string(v, &kk, "the experiment's name") {
                        if s.trim().is_empty() || s.chars().any(char::is_control) {
                            self.problem(v.span(), &kk, "a name is not empty and has no control characters");
                        }
                        rc.name = s.to_owned();
                    }
                }
                "methods" => {
                    if let Some(list) = self.strings(v, &kk, "methods") {
                        let mut ms = Vec::new();
                        for m in list {
                            let up = m.trim().to_ascii_uppercase();
                            if http::Method::from_bytes(up.as_bytes()).is_err() || up.is_empty() {
                                self.problem(v.span(), &kk, format!("{m:?} is not an HTTP method"));
                            }
                            ms.push(up);
                        }
                        rc.methods = Some(ms);
                    }
                }
                "path" | "pattern" => {
                    if has_path {
                        self.problem(v.span(), &kk, "give one of `path` (a prefix) and `pattern`");
                    }
                    has_path = true;
                    if let Some(s) = self.string(v, &kk, "a path starting with /") {
                        if !s.starts_with('/') {
                            self.problem(v.span(), &kk, format!("{s:?} does not start with /"));
                        } else if name == "path" {
                            rc.path = PathMatch::prefix(s);
                        } else {
                            let segs: Vec<&str> = s.trim_start_matches('/').split('/').collect();
                            if segs.iter().take(segs.len().saturating_sub(1)).any(|p| *p == "**") {
                                self.problem(v.span(), &kk, "`**` may only be the last segment");
                            }
                            rc.path = PathMatch::pattern(s);
                        }
                    }
                }
                "sample_by" => {
                    if let Some(s) = self.string(v, &kk, "a sampling key") {
                        match SampleBy::parse(s) {
                            Ok(b) => rc.sample_by = b,
                            Err(e) => self.problem(v.span(), &kk, e),
                        }
                    }
                }
                "writes" => {
                    if let Some(s) = self.string(v, &kk, "a write policy") {
                        match WritePolicy::parse(s) {
                            Ok(w) => rc.writes = w,
                            Err(e) => self.problem(v.span(), &kk, e),
                        }
                    }
                }
                "idempotency_header" => {
                    if let Some(s) = self.string(v, &kk, "a header name") {
                        match HeaderName::from_bytes(s.trim().as_bytes()) {
                            Ok(h) => idem_header = Some(h),
                            Err(_) => self.problem(v.span(), &kk, format!("{s:?} is not a header name")),
                        }
                    }
                }
                "max_body" => {
                    if let Some(n) = self.size(v, &kk) {
                        rc.max_body = n;
                    }
                }
                "noise" => {
                    if let Some(r) = self.rate(v, &kk) {
                        rc.noise = r;
                    }
                }
                "ramp" => {
                    if let Some(r) = self.rate(v, &kk) {
                        if r > 0.0 {
                            self.problem(v.span(), &kk, "a ramp is not supported on proxy routes yet: the proxy always serves the primary's response (write 0, or leave it out)");
                        }
                    }
                }
                "compare" => {
                    if let Some(ct) = self.table(v, &kk) {
                        self.compare(ct, &kk, &mut rc.compare);
                    }
                }
                "strict" | "cpu_time" => self.problem(k.span(), &kk, format!("`{name}` is for functions' experiments (`[experiments.\"name\"]`), not proxy routes")),
                // Its values are the runtime's to check (`Config::from_toml_str`).
                n if setting_keys().contains(&n) => {}
                other => {
                    let allowed: Vec<&str> = ROUTE_KEYS.iter().copied().chain(["ramp"]).chain(setting_keys()).collect();
                    self.unknown(k.span(), &kk, other, &allowed);
                }
            }
        }
        if rc.name.is_empty() && !t.iter().any(|(k, _)| k.get_ref().as_ref() == "name") {
            self.problem(
                r.span(),
                &format!("{key}.name"),
                "a route needs a `name` (its experiment's, e.g. \"pricing::quote\")",
            );
        }
        if let Some(h) = idem_header {
            match rc.writes {
                WritePolicy::Idempotency(_) => rc.writes = WritePolicy::Idempotency(h),
                _ => self.problem(
                    r.span(),
                    &format!("{key}.idempotency_header"),
                    "goes with writes = \"idempotency\"",
                ),
            }
        }
        (self.problems.len() == before).then_some(rc)
    }

    fn compare(&mut self, t: &DeTable<'_>, key: &str, out: &mut CompareConfig) {
        for (k, v) in t.iter() {
            let name = k.get_ref().as_ref();
            let kk = format!("{key}.{name}");
            match name {
                "ignore" | "unordered" | "trim" | "nfc" | "redact" | "missing_as_null"
                | "missing_as_empty" => {
                    if let Some(list) = self.strings(v, &kk, "paths such as \"$.body.items\"") {
                        for p in list {
                            match check_path(&p) {
                                Ok(()) => out.paths.push((name.to_owned(), p)),
                                Err(e) => self.problem(v.span(), &kk, e),
                            }
                        }
                    }
                }
                "float_tolerance" | "float_relative" => {
                    if let Some(x) = self.number(v, &kk) {
                        if !(x.is_finite() && x >= 0.0) {
                            self.problem(
                                v.span(),
                                &kk,
                                format!("{x} is not a non-negative number"),
                            );
                        } else if name == "float_tolerance" {
                            out.float.0 = x;
                        } else {
                            out.float.1 = x;
                        }
                    }
                }
                "within" => {
                    if let Some(wt) = self.table(v, &kk) {
                        for (p, d) in wt.iter() {
                            let pk = format!("{kk}.{:?}", p.get_ref().as_ref());
                            if let Err(e) = check_path(p.get_ref()) {
                                self.problem(p.span(), &pk, e);
                                continue;
                            }
                            if let Some(Some(s)) = self.duration(d, &pk, false) {
                                if let Ok(dur) = shadow_runtime::config::parse_duration(&s) {
                                    out.within.push((p.get_ref().to_string(), dur));
                                }
                            }
                        }
                    }
                }
                "ignore_headers" | "compare_headers" => {
                    if let Some(list) = self.strings(v, &kk, "header names") {
                        for h in list {
                            if HeaderName::from_bytes(h.trim().as_bytes()).is_err() {
                                self.problem(v.span(), &kk, format!("{h:?} is not a header name"));
                            } else if name == "ignore_headers" {
                                out.ignore_headers.push(h.trim().to_ascii_lowercase());
                            } else {
                                out.compare_headers.push(h.trim().to_ascii_lowercase());
                            }
                        }
                    }
                }
                "headers" => {
                    if let Some(b) = self.boolean(v, &kk) {
                        out.no_headers = !b;
                    }
                }
                other => {
                    let allowed: Vec<&str> = COMPARE_KEYS
                        .iter()
                        .copied()
                        .filter(|k| *k != "strict")
                        .collect();
                    self.unknown(k.span(), &kk, other, &allowed);
                }
            }
        }
    }
}

/// Checks a structural path pattern as `Structural` reads it: `$`, then `.name` or `[n]` / `[*]`.
fn check_path(p: &str) -> Result<(), String> {
    let Some(mut rest) = p.strip_prefix('$') else {
        return Err(format!(
            "{p:?} does not start with `$` (paths read $.body.items[*].price)"
        ));
    };
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return Err(format!("{p:?} has an empty name after `.`"));
            }
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else {
                return Err(format!("{p:?} has a `[` without `]`"));
            };
            let inner = &r[..end];
            if inner != "*" && inner.parse::<usize>().is_err() {
                return Err(format!("{p:?}: `[{inner}]` is not an index or `[*]`"));
            }
            rest = &r[end + 1..];
        } else {
            return Err(format!(
                "{p:?}: expected `.name` or `[index]` after {:?}",
                &p[..p.len() - rest.len()]
            ));
        }
    }
    Ok(())
}

/// The allowed key closest to `name` (by edit distance, at most 2 edits away).
fn closest<'a>(name: &str, allowed: &[&'a str]) -> Option<&'a str> {
    fn dist(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                cur.push(
                    (prev[j] + usize::from(ca != *cb))
                        .min(prev[j + 1] + 1)
                        .min(cur[j] + 1),
                );
            }
            prev = cur;
        }
        prev[b.len()]
    }
    allowed
        .iter()
        .map(|a| (dist(name, a), *a))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}
