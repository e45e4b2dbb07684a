//! The HTML report: one self-contained page (inline CSS and SVG, no script, no external
//! resource). Every string that comes from a log is escaped.

use std::fmt::Write as _;

use crate::report::{format_utc, ExperimentReport, Report, TrendPoint, Verdict, AGREEING, JUDGED};
use crate::text::{headline, percent, thousands};

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

/// Where a rate scale starts: 99%, 95% or 90% when every value is at or above it (a bar from 0
/// would draw 98.4% and 99.9% alike), else 0. A scale that does not start at 0 says so under
/// its chart.
///
/// ```
/// assert_eq!(shadow_cli::html::scale_start(98.4), 95.0);
/// assert_eq!(shadow_cli::html::scale_start(42.0), 0.0);
/// ```
pub fn scale_start(lowest: f64) -> f64 {
    [99.0, 95.0, 90.0]
        .into_iter()
        .find(|lo| lowest >= *lo)
        .unwrap_or(0.0)
}

/// Where the trend's rate axis starts: the highest of 99.5, 99, 98, 95, 90, 80, 50 and 0 that
/// leaves some room under the lowest value.
fn trend_start(lowest: f64) -> f64 {
    let below = lowest - ((100.0 - lowest) * 0.1).max(0.01);
    [99.5, 99.0, 98.0, 95.0, 90.0, 80.0, 50.0]
        .into_iter()
        .find(|lo| below >= *lo)
        .unwrap_or(0.0)
}

fn zoom_note(o: &mut String, lo: f64) {
    if lo > 0.0 {
        let _ = write!(
            o,
            "<div class=\"axis zoom\">The scale starts at {}, not at 0.</div>",
            percent(lo)
        );
    }
}

/// The match rate as a bar on a zoomed scale, with the target as a dashed line.
fn rate_bar(o: &mut String, rate: f64, target: f64, colour: &str) {
    let lo = scale_start(rate.min(target));
    let (x0, w) = (10.0, W - 20.0);
    let x = |v: f64| x0 + (v.clamp(lo, 100.0) - lo) / (100.0 - lo) * w;
    let _ = write!(
        o,
        "<svg viewBox=\"0 0 {W} 76\" role=\"img\" aria-label=\"match rate {} against target {}\">\
         <rect x=\"{x0}\" y=\"24\" width=\"{w}\" height=\"22\" rx=\"4\" fill=\"#eaeef2\"/>\
         <rect x=\"{x0}\" y=\"24\" width=\"{:.1}\" height=\"22\" rx=\"4\" fill=\"{colour}\"/>\
         <line x1=\"{tx:.1}\" x2=\"{tx:.1}\" y1=\"16\" y2=\"52\" stroke=\"#1f2328\" stroke-width=\"2\" stroke-dasharray=\"4 3\"/>\
         <text x=\"{tx:.1}\" y=\"13\" text-anchor=\"{anchor}\">target {}</text>\
         <text x=\"{x0}\" y=\"68\">{}</text><text x=\"{}\" y=\"68\" text-anchor=\"end\">100%</text></svg>",
        percent(rate),
        percent(target),
        x(rate) - x0,
        percent(target),
        percent(lo),
        W - 10.0,
        tx = x(target),
        anchor = if x(target) > W - 120.0 { "end" } else { "middle" },
    );
    zoom_note(o, lo);
}

/// Agreeing outcomes first, then the failures, so that the red part reads from the right.
fn bar_order() -> impl Iterator<Item = &'static &'static str> {
    AGREEING
        .iter()
        .chain(JUDGED.iter().filter(|k| !AGREEING.contains(k)))
}

/// Judged outcomes as one stacked bar, the others in the legend.
fn outcome_bar(o: &mut String, e: &ExperimentReport) {
    let calls = e.calls.unwrap_or(0).max(1) as f64;
    let _ = write!(
        o,
        "<svg viewBox=\"0 0 {W} 34\" role=\"img\" aria-label=\"outcomes\">"
    );
    let mut x = 10.0;
    for k in bar_order() {
        let n = e.outcomes.get(*k).copied().unwrap_or(0);
        if n == 0 {
            continue;
        }
        // A sliver stays visible: 63 of 4,000 must not vanish.
        let w = (n as f64 / calls * (W - 20.0)).max(2.0);
        let _ = write!(
            o,
            "<rect x=\"{x:.1}\" y=\"6\" width=\"{w:.1}\" height=\"22\" fill=\"{}\"><title>{k}: {}</title></rect>",
            outcome_colour(k),
            thousands(n)
        );
        x += w;
    }
    o.push_str("</svg>");
    let judged = bar_order().filter_map(|k| e.outcomes.get_key_value(*k));
    let others: Vec<String> = e
        .outcomes
        .iter()
        .filter(|(k, _)| !JUDGED.contains(&k.as_str()))
        .map(|(k, n)| format!("{} {}", escape(k), thousands(*n)))
        .collect();
    let extra = if others.is_empty() {
        String::new()
    } else {
        format!(
            "<span class=\"sub\">not compared: {}</span>",
            others.join(", ")
        )
    };
    legend(o, judged, &extra);
}

fn legend<'a>(o: &mut String, items: impl Iterator<Item = (&'a String, &'a u64)>, extra: &str) {
    o.push_str("<div class=\"legend\">");
    for (k, n) in items {
        let _ = write!(
            o,
            "<span><span class=\"sw\" style=\"background:{}\"></span>{} <b>{}</b></span>",
            outcome_colour(k),
            escape(k),
            thousands(*n)
        );
    }
    o.push_str(extra);
    o.push_str("</div>");
}

/// One bar per signature group, the label above it.
fn signature_chart(o: &mut String, e: &ExperimentReport) {
    let max = e
        .signatures
        .iter()
        .map(|g| g.count)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let h = 34 * e.signatures.len() + 4;
    let _ = write!(
        o,
        "<svg viewBox=\"0 0 {W} {h}\" role=\"img\" aria-label=\"discrepancies by signature\">"
    );
    for (i, g) in e.signatures.iter().enumerate() {
        let y = 34 * i;
        let w = (g.count as f64 / max * (W - 200.0)).max(2.0);
        let _ = write!(
            o,
            "<text x=\"10\" y=\"{}\">{}</text><rect x=\"10\" y=\"{}\" width=\"{w:.1}\" height=\"12\" rx=\"2\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{}\">{} ({:.1}%)</text>",
            y + 13,
            short(&g.signature, 100),
            y + 18,
            outcome_colour(&g.outcome),
            w + 16.0,
            y + 29,
            thousands(g.count),
            g.share_percent,
        );
    }
    o.push_str("</svg>");
}

/// p50 / p95 / p99 / mean of both sides as paired bars.
fn latency_chart(o: &mut String, e: &ExperimentReport) {
    let (p, c) = (&e.latency.primary, &e.latency.candidate);
    let rows: Vec<(&str, Option<f64>, Option<f64>)> = [
        ("p50", p.p50_us, c.p50_us),
        ("p95", p.p95_us, c.p95_us),
        ("p99", p.p99_us, c.p99_us),
    ]
    .into_iter()
    .map(|(n, a, b)| (n, a.map(|v| v as f64), b.map(|v| v as f64)))
    .chain(std::iter::once(("mean", p.mean_us, c.mean_us)))
    .filter(|(_, a, b)| a.is_some() || b.is_some())
    .collect();
    if rows.is_empty() {
        return;
    }
    let max = rows
        .iter()
        .flat_map(|(_, a, b)| [a.unwrap_or(0.0), b.unwrap_or(0.0)])
        .fold(1.0, f64::max);
    let _ = write!(
        o,
        "<h3>Latency: primary vs candidate</h3><div class=\"legend\"><span><span class=\"sw\" style=\"background:{PRIMARY}\"></span>primary</span>\
         <span><span class=\"sw\" style=\"background:{CANDIDATE}\"></span>candidate</span>\
         <span class=\"sub\">percentiles over the discrepancy lines ({} primary / {} candidate); mean over all timed calls ({}, from the summaries)</span></div>",
        thousands(p.samples),
        thousands(c.samples),
        p.timed_calls.map_or("none".to_owned(), thousands),
    );
    let h = rows.len() * 44 + 4;
    let _ = write!(
        o,
        "<svg viewBox=\"0 0 {W} {h}\" role=\"img\" aria-label=\"latency\">"
    );
    for (i, (name, a, b)) in rows.iter().enumerate() {
        let y = i * 44 + 4;
        let _ = write!(o, "<text x=\"10\" y=\"{}\">{name}</text>", y + 22);
        for (j, (v, colour)) in [(a, PRIMARY), (b, CANDIDATE)].into_iter().enumerate() {
            let Some(v) = v else { continue };
            let yy = y + j * 18;
            let w = (v / max * (W - 200.0)).max(2.0);
            let _ = write!(
                o,
                "<rect x=\"60\" y=\"{yy}\" width=\"{w:.1}\" height=\"15\" rx=\"2\" fill=\"{colour}\"/>\
                 <text x=\"{:.1}\" y=\"{}\">{} µs</text>",
                66.0 + w,
                yy + 12,
                thousands(v.round() as u64)
            );
        }
    }
    o.push_str("</svg>");
}

/// `850 ms`, `1.2 s`, `3 min`, `2.5 h`, `4 d`: a span of time for an axis.
fn span(ms: u64) -> String {
    let s = ms as f64 / 1000.0;
    let (v, unit) = if s < 1.0 {
        return format!("{ms} ms");
    } else if s < 120.0 {
        (s, "s")
    } else if s < 7200.0 {
        (s / 60.0, "min")
    } else if s < 172_800.0 {
        (s / 3600.0, "h")
    } else {
        (s / 86_400.0, "d")
    };
    let t = format!("{v:.1}");
    format!("{} {unit}", t.trim_end_matches(".0"))
}

/// The match rate over time as a line chart: a point per stretch of time (the rate of the
/// calls judged in it), the cumulative rate as a dashed line, and the target. The rate axis
/// starts at 0 unless every value is at or above 90% (then at 90%, 95% or 99%, said under the
/// chart).
fn trend_chart(o: &mut String, trend: &[TrendPoint], target: f64) {
    let rated = trend.iter().filter(|t| t.rate_percent.is_some()).count();
    if rated < 2 {
        o.push_str(
            "<p class=\"sub\">One summary line with judged calls so far: a trend needs two (the \
             log writes one per experiment every 10 seconds and at each flush).</p>",
        );
        return;
    }
    let lowest = trend
        .iter()
        .flat_map(|t| [t.rate_percent, t.cumulative_percent])
        .flatten()
        .fold(target, f64::min);
    let lo = trend_start(lowest);
    let (first, last) = (trend[0].at_ms, trend[trend.len() - 1].at_ms);
    let (left, right, top, bottom) = (70.0, W - 20.0, 16.0, 236.0);
    let x = |t: u64| {
        if last == first {
            (left + right) / 2.0
        } else {
            left + (t - first) as f64 / (last - first) as f64 * (right - left)
        }
    };
    let y = |v: f64| bottom - (v.clamp(lo, 100.0) - lo) / (100.0 - lo) * (bottom - top);
    let _ = write!(
        o,
        "<div class=\"legend\"><span><span class=\"sw\" style=\"background:{PRIMARY}\"></span>match rate of the calls judged in each stretch</span>\
         <span><span class=\"sw\" style=\"background:#8c959f\"></span>cumulative</span>\
         <span><span class=\"sw\" style=\"background:#1f2328;height:2px;vertical-align:3px\"></span>target {}</span>\
         <span class=\"sub\">{} stretches of time, since the first summary line ({}), over {}</span></div>",
        percent(target),
        trend.len(),
        format_utc(first),
        span(last - first),
    );
    let _ = write!(
        o,
        "<svg class=\"trend\" viewBox=\"0 0 {W} 262\" role=\"img\" aria-label=\"match rate over time, axis from {} to 100%\">",
        percent(lo)
    );
    // The rate axis: four steps from where it starts to 100%.
    for i in 0..=4 {
        let v = lo + (100.0 - lo) * i as f64 / 4.0;
        let _ = write!(
            o,
            "<line x1=\"{left}\" x2=\"{right}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#eaeef2\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 8.0,
            y(v) + 4.0,
            percent(v),
            yy = y(v),
        );
    }
    let _ = write!(
        o,
        "<line x1=\"{left}\" x2=\"{right}\" y1=\"{bottom}\" y2=\"{bottom}\" stroke=\"#8c959f\"/>\
         <line x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{bottom}\" stroke=\"#8c959f\"/>"
    );
    // The time axis: time since the first summary line.
    for i in 0..=4u64 {
        let t = if i == 4 {
            last
        } else {
            first + (last - first) / 4 * i
        };
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            o,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"{anchor}\">+{}</text>",
            x(t),
            bottom + 20.0,
            span(t - first)
        );
    }
    let ty = y(target);
    let _ = write!(
        o,
        "<line class=\"target\" x1=\"{left}\" x2=\"{right}\" y1=\"{ty:.1}\" y2=\"{ty:.1}\" stroke=\"#1f2328\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\
         <text x=\"{}\" y=\"{:.1}\">target {}</text>",
        left + 8.0,
        ty + 16.0,
        percent(target)
    );
    let line = |pick: fn(&TrendPoint) -> Option<f64>| -> String {
        trend
            .iter()
            .filter_map(|t| pick(t).map(|v| format!("{:.1},{:.1}", x(t.at_ms), y(v))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let _ = write!(
        o,
        "<polyline class=\"cumulative\" points=\"{}\" fill=\"none\" stroke=\"#8c959f\" stroke-width=\"2\" stroke-dasharray=\"3 3\"/>\
         <polyline class=\"rate\" points=\"{}\" fill=\"none\" stroke=\"{PRIMARY}\" stroke-width=\"2.5\"/>",
        line(|t| t.cumulative_percent),
        line(|t| t.rate_percent),
    );
    for t in trend {
        let Some(v) = t.rate_percent else { continue };
        let colour = if v + 1e-9 >= target { READY } else { NOT_READY };
        let _ = write!(
            o,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4.5\" fill=\"{colour}\"><title>{}: {} of {} judged calls agree ({}); cumulative {}</title></circle>",
            x(t.at_ms),
            y(v),
            format_utc(t.at_ms),
            thousands(t.agreeing),
            thousands(t.compared),
            percent(v),
            t.cumulative_percent.map_or("–".to_owned(), percent),
        );
    }
    o.push_str("</svg>");
    zoom_note(o, lo);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(lines: &[String]) -> Report {
        let mut s = crate::Scanner::new();
        for (i, l) in lines.iter().enumerate() {
            s.line("f", i as u64 + 1, l.as_bytes());
        }
        Report::build(&s, &Default::default(), vec!["f".into()])
    }

    fn summary(run: &str, at_ms: u64, matches: u64, mismatches: u64) -> String {
        format!(
            r#"{{"kind":"summary","run":"{run}","experiment":"e","at_ms":{at_ms},"outcomes":{{"match":{matches},"mismatch":{mismatches}}}}}"#
        )
    }

    /// The value of attribute `name` of the first element with `class="{class}"`.
    fn attr<'a>(page: &'a str, class: &str, name: &str) -> &'a str {
        let at = page.find(&format!("class=\"{class}\"")).expect(class);
        let el = &page[page[..at].rfind('<').unwrap()..];
        let el = &el[..el.find('>').unwrap()];
        let v = &el[el.find(&format!(" {name}=\"")).expect(name) + name.len() + 3..];
        &v[..v.find('"').unwrap()]
    }

    fn trend_svg(page: &str) -> &str {
        let svg = &page[page.find("class=\"trend\"").expect("a trend chart")..];
        &svg[..svg.find("</svg>").unwrap()]
    }

    #[test]
    fn the_trend_is_a_line_per_stretch_with_the_target() {
        // Cumulative counts per run: 90%, then 100% of the next calls; run r2 joins later.
        let r = report(&[
            summary("r1", 1_000, 90, 10),
            summary("r1", 2_000, 190, 10),
            summary("r2", 2_500, 100, 0),
            summary("r1", 3_000, 290, 10),
        ]);
        let e = &r.experiments[0];
        let rates: Vec<(u64, u64, Option<f64>)> = e
            .trend
            .iter()
            .map(|t| (t.at_ms, t.compared, t.rate_percent))
            .collect();
        assert_eq!(
            rates,
            [
                (1_000, 100, Some(90.0)),
                (2_000, 100, Some(100.0)),
                (2_500, 100, Some(100.0)),
                (3_000, 100, Some(100.0))
            ]
        );
        // The last cumulative rate is the report's match rate.
        let last = e.trend.last().unwrap().cumulative_percent.unwrap();
        assert!((last - e.match_rate_percent.unwrap()).abs() < 1e-9);

        let page = render(&r);
        let svg = trend_svg(&page);
        let points: Vec<(f64, f64)> = attr(svg, "rate", "points")
            .split(' ')
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect();
        assert_eq!(points.len(), 4);
        assert!(
            points.windows(2).all(|w| w[0].0 < w[1].0),
            "time runs left to right"
        );
        // 90% is below the target's line, 100% above it (SVG's y grows downwards).
        let target_y: f64 = attr(svg, "target", "y1").parse().unwrap();
        assert!(
            points[0].1 > target_y && points[1].1 < target_y,
            "{points:?} {target_y}"
        );
        // 90% is the lowest value: the axis starts below it, not at 0, and the page says so.
        assert!(svg.contains("axis from 80% to 100%"));
        assert!(page.contains("The scale starts at 80%, not at 0."));
        assert_eq!(svg.matches("<circle").count(), 4);
        assert!(!page.contains("<script"));
    }

    #[test]
    fn a_low_rate_gets_an_axis_from_zero_and_long_histories_are_bucketed() {
        // 500 summaries, a second apart; half of each stretch's calls agree.
        let lines: Vec<String> = (0..500u64)
            .map(|i| summary("r", 1_000 * i, 5 * i, 5 * i))
            .collect();
        let r = report(&lines);
        let e = &r.experiments[0];
        assert!(
            e.trend.len() <= crate::report::TREND_POINTS,
            "{}",
            e.trend.len()
        );
        assert_eq!(
            e.trend.iter().map(|t| t.compared).sum::<u64>(),
            e.calls.unwrap()
        );
        let page = render(&r);
        let svg = trend_svg(&page);
        assert!(svg.contains("axis from 0% to 100%"));
        assert!(!page[page.find("class=\"trend\"").unwrap()..].contains("not at 0"));
    }

    #[test]
    fn one_summary_is_no_trend_and_the_first_examples_are_open() {
        let mut lines = vec![summary("r", 1, 9, 1)];
        for i in 0..5 {
            lines.push(format!(
                r#"{{"experiment":"e","outcome":"mismatch","paths":["$.f{i}"],"detail":"d{i}"}}"#
            ));
        }
        let page = render(&report(&lines));
        assert!(page.contains("a trend needs two"));
        assert!(!page.contains("class=\"trend\""));
        assert_eq!(page.matches("<details open>").count(), EXPANDED_EXAMPLES);
        assert_eq!(page.matches("<details>").count(), 5 - EXPANDED_EXAMPLES);
        // The full width of the page.
        assert!(!page.contains("max-width:980px"));
    }
}
