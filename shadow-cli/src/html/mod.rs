//! The HTML report: one self-contained page (inline CSS and SVG, no script, no external
//! resource). Every string that comes from a log is escaped.

use std::fmt::Write as _;

use crate::report::{format_utc, ExperimentReport, Report, TrendPoint, Verdict, AGREEING, JUDGED};
use crate::text::{headline, percent, thousands};

mod charts;
#[cfg(test)]
mod tests;

pub use charts::scale_start;
use charts::*;

/// The width of every chart's view box; the charts are drawn across the page's width.
const W: f64 = 1200.0;
/// Signature groups whose example is shown expanded.
pub const EXPANDED_EXAMPLES: usize = 3;

/// Escapes `& < > " '` for use in HTML text and attribute values (and in SVG).
///
/// ```
/// assert_eq!(
///     shadow_cli::html::escape("<script>alert('x&y')</script>"),
///     "&lt;script&gt;alert(&#39;x&amp;y&#39;)&lt;/script&gt;"
/// );
/// ```
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn short(s: &str, chars: usize) -> String {
    match s.char_indices().nth(chars) {
        Some((i, _)) => escape(&format!("{}…", &s[..i])),
        None => escape(s),
    }
}

const READY: &str = "#1a7f37";
const NOT_READY: &str = "#cf222e";
const UNKNOWN: &str = "#6e7781";
const PRIMARY: &str = "#0969da";
const CANDIDATE: &str = "#bc4c00";

fn verdict_colour(v: Verdict) -> &'static str {
    match v {
        Verdict::Ready => READY,
        Verdict::NotReady => NOT_READY,
        Verdict::Unknown => UNKNOWN,
    }
}

fn outcome_colour(o: &str) -> &'static str {
    match o {
        "match" => "#2da44e",
        "acceptable" => "#6fdd8b",
        "ignored" => "#aceebb",
        "noise" => "#d1f0d9",
        "mismatch" => "#cf222e",
        "candidate_panic" => "#82071e",
        "comparator_panic" => "#e16f24",
        "timeout" => "#d4a72c",
        "write_refused" => "#8250df",
        _ => "#afb8c1",
    }
}

const CSS: &str = "
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#1f2328;background:#f6f8fa}
main{padding:24px 32px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:20px;margin:0;word-break:break-all}
h2 code{font-size:20px}
h3{font-size:15px;margin:22px 0 8px;color:#57606a;text-transform:uppercase;letter-spacing:.04em}
.sub{color:#57606a}
.card{background:#fff;border:1px solid #d0d7de;border-radius:10px;padding:20px 22px;margin:18px 0;border-top:6px solid var(--c)}
.pill{display:inline-block;padding:3px 12px;border-radius:999px;color:#fff;font-weight:700;font-size:14px;letter-spacing:.03em;background:var(--c);white-space:nowrap}
.head{display:flex;align-items:center;flex-wrap:wrap}
.head>*{margin-right:14px}
.big{font-size:30px;font-weight:700;color:var(--c)}
.meta{display:flex;flex-wrap:wrap;margin:10px 0 0;color:#57606a}
.meta>span{margin-right:22px}
.meta b{color:#1f2328}
.overdue{color:#fff;background:#cf222e;border-radius:4px;padding:0 6px;font-weight:700}
table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:5px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
th{color:#57606a;font-weight:600;font-size:13px}
.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap;width:1%}
code,pre{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#f6f8fa;border-radius:6px;padding:8px 10px;margin:6px 0 0;white-space:pre-wrap;word-break:break-all}
code{word-break:break-all}
summary{cursor:pointer;color:#0969da}
svg{display:block;width:100%;height:auto;margin:6px 0}
.axis{font-size:13px;color:#57606a;margin:2px 0 0}
.zoom{color:#9a6700;font-weight:600}
svg text{font:14px system-ui,sans-serif;fill:#1f2328}
.legend{display:flex;flex-wrap:wrap;font-size:13px}
.legend>span{margin-right:16px}
.sw{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.overview td{vertical-align:middle}
a{color:#0969da;text-decoration:none}
footer{color:#57606a;font-size:13px;margin:30px 0}
";

/// Renders the report as one self-contained HTML page.
///
/// ```
/// let mut s = shadow_cli::Scanner::new();
/// s.line("f", 1, br#"{"experiment":"<b>e</b>","outcome":"mismatch"}"#);
/// let r = shadow_cli::Report::build(&s, &Default::default(), vec!["f".into()]);
/// let page = shadow_cli::html::render(&r);
/// assert!(page.contains("&lt;b&gt;e&lt;/b&gt;") && !page.contains("<b>e</b>"));
/// ```
pub fn render(r: &Report) -> String {
    let mut o = String::with_capacity(64 << 10);
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    o.push_str("<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">");
    o.push_str("<title>parallel-run report</title><style>");
    o.push_str(CSS);
    o.push_str("</style></head><body><main>\n");
    let _ = writeln!(
        o,
        "<h1>parallel-run report</h1><div class=\"sub\">{} · target match rate <b>{}</b> · {} · {} lines from {}</div>",
        crate::report::format_utc(r.generated_at_ms),
        percent(r.target_percent),
        mb(r.bytes),
        thousands(r.lines),
        escape(&r.files.join(", ")),
    );

    if r.experiments.is_empty() {
        o.push_str(
            "<div class=\"card\" style=\"--c:#6e7781\"><h2>No experiment in the input</h2></div>\n",
        );
    } else {
        overview(&mut o, r);
    }
    for (i, e) in r.experiments.iter().enumerate() {
        experiment(&mut o, i, e, r.target_percent);
    }
    if r.malformed.count > 0 {
        let _ = write!(
            o,
            "<div class=\"card\" style=\"--c:#d4a72c\"><h2>{} malformed line{}</h2>\
             <p class=\"sub\">Not JSON, not an object, or without <code>experiment</code> / \
             <code>outcome</code>. The first {} are listed.</p><table><tr><th>file:line</th><th>reason</th></tr>",
            thousands(r.malformed.count),
            if r.malformed.count == 1 { "" } else { "s" },
            r.malformed.first.len()
        );
        for m in &r.malformed.first {
            let _ = write!(
                o,
                "<tr><td><code>{}:{}</code></td><td>{}</td></tr>",
                escape(&m.file),
                m.line,
                escape(&m.reason)
            );
        }
        o.push_str("</table></div>\n");
    }
    o.push_str(
        "<footer>Calls and match rates come from the last summary line of each run, summed over \
         runs, and the match rate over time from every summary line; signatures, paths and latency \
         percentiles from the discrepancy lines, latency means from the summaries.</footer>\n",
    );
    o.push_str("</main></body></html>\n");
    o
}

fn mb(b: u64) -> String {
    if b < 1_000_000 {
        format!("{} bytes", thousands(b))
    } else {
        format!("{:.1} MB", b as f64 / 1e6)
    }
}

fn overview(o: &mut String, r: &Report) {
    o.push_str("<div class=\"card overview\" style=\"--c:#0969da\"><table><tr><th>experiment</th><th>verdict</th><th class=\"n\">match rate</th><th class=\"n\">compared calls</th><th class=\"n\">discrepancies</th><th>deadline</th></tr>");
    for (i, e) in r.experiments.iter().enumerate() {
        let _ = write!(
            o,
            "<tr><td><a href=\"#exp-{i}\"><code>{}</code></a></td><td><span class=\"pill\" style=\"--c:{}\">{}</span></td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            escape(&e.name),
            verdict_colour(e.verdict),
            e.verdict.label(),
            e.match_rate_percent.map_or("–".to_owned(), percent),
            e.calls.map_or("unknown".to_owned(), thousands),
            thousands(e.discrepancies),
            deadline(e),
        );
    }
    o.push_str("</table></div>\n");
}

fn deadline(e: &ExperimentReport) -> String {
    let d = e.deadline.as_deref().map(escape).unwrap_or_default();
    if e.overdue {
        format!("{d} <span class=\"overdue\">OVERDUE</span>")
    } else {
        d
    }
}

fn experiment(o: &mut String, i: usize, e: &ExperimentReport, target: f64) {
    let c = verdict_colour(e.verdict);
    let _ = write!(
        o,
        "<section class=\"card\" id=\"exp-{i}\" style=\"--c:{c}\"><div class=\"head\"><span class=\"pill\">{}</span><h2><code>{}</code></h2></div>",
        e.verdict.label(),
        escape(&e.name)
    );
    let _ = write!(o, "<div class=\"head\" style=\"margin-top:10px\">");
    match e.match_rate_percent {
        Some(rate) => {
            let _ = write!(o, "<span class=\"big\">{}</span>", percent(rate));
        }
        None => o.push_str("<span class=\"big\">?</span>"),
    }
    let _ = write!(o, "<span>{}", escape(&headline(e, target)));
    if let (Some(calls), Some(agree)) = (e.calls, e.agreeing) {
        if calls > agree {
            let _ = write!(o, " · <b>{}</b> did not agree", thousands(calls - agree));
        }
    }
    o.push_str("</span></div>");

    let mut meta = Vec::new();
    if e.deadline.is_some() || e.overdue {
        meta.push(format!("deadline <b>{}</b>", deadline(e)));
    }
    if let Some(r) = e.ramp {
        meta.push(format!("ramp <b>{}</b>", percent(r * 100.0)));
    }
    if let Some(g) = &e.gate {
        meta.push(format!("gate <b>{}</b>", escape(g)));
    }
    if e.runs > 0 {
        meta.push(format!("runs <b>{}</b>", e.runs));
    }
    meta.push(format!(
        "discrepancies in the log <b>{}</b>",
        thousands(e.discrepancies)
    ));
    let _ = write!(
        o,
        "<div class=\"meta\"><span>{}</span></div>",
        meta.join("</span><span>")
    );
    if !e.noisy_paths.is_empty() {
        let paths: Vec<String> = e
            .noisy_paths
            .iter()
            .map(|p| format!("<code>{}</code>", escape(p)))
            .collect();
        let _ = write!(
            o,
            "<div class=\"meta\">noisy paths:&nbsp;{}</div>",
            paths.join(", ")
        );
    }

    if let Some(rate) = e.match_rate_percent {
        o.push_str("<h3>Match rate against the target</h3>");
        rate_bar(o, rate, target, c);
    }
    if !e.trend.is_empty() {
        o.push_str("<h3>Match rate over time</h3>");
        trend_chart(o, &e.trend, target);
    }
    if e.calls.is_some_and(|n| n > 0) {
        o.push_str("<h3>Outcomes</h3>");
        outcome_bar(o, e);
    } else if e.discrepancies > 0 {
        o.push_str("<h3>Discrepancies by outcome</h3>");
        legend(o, e.discrepancy_outcomes.iter(), "");
    }

    if !e.signatures.is_empty() {
        let _ = write!(
            o,
            "<h3>Discrepancies by diff signature ({} of {})</h3>",
            e.signatures.len(),
            e.signature_count
        );
        signature_chart(o, e);
        o.push_str("<table><tr><th class=\"n\">count</th><th class=\"n\">share</th><th>signature and one example</th></tr>");
        for (n, g) in e.signatures.iter().enumerate() {
            let open = if n < EXPANDED_EXAMPLES { " open" } else { "" };
            let key = g
                .example_key
                .as_deref()
                .map(|k| format!("key <code>{}</code>, ", escape(k)))
                .unwrap_or_default();
            let _ = write!(
                o,
                "<tr><td class=\"n\">{}</td><td class=\"n\">{:.1}%</td><td><code>{}</code>\
                 <details{open}><summary>example: {key}{}</summary><pre>{}</pre></details></td></tr>",
                thousands(g.count),
                g.share_percent,
                escape(&g.signature),
                escape(&g.outcome),
                escape(&g.example_detail),
            );
        }
        o.push_str("</table>");
    }
    if !e.top_paths.is_empty() {
        o.push_str("<h3>Paths that differ most</h3><table><tr><th class=\"n\">count</th><th>path</th></tr>");
        for p in &e.top_paths {
            let _ = write!(
                o,
                "<tr><td class=\"n\">{}</td><td><code>{}</code></td></tr>",
                thousands(p.count),
                escape(&p.path)
            );
        }
        o.push_str("</table>");
    }
    latency_chart(o, e);
    o.push_str("</section>\n");
}
