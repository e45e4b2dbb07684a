//! The report's SVG charts: the match-rate bar, the outcomes, the diff signatures, the latency of
//! both sides and the trend over the logs' summaries.

use super::*;

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
pub(super) fn trend_start(lowest: f64) -> f64 {
    let below = lowest - ((100.0 - lowest) * 0.1).max(0.01);
    [99.5, 99.0, 98.0, 95.0, 90.0, 80.0, 50.0]
        .into_iter()
        .find(|lo| below >= *lo)
        .unwrap_or(0.0)
}

pub(super) fn zoom_note(o: &mut String, lo: f64) {
    if lo > 0.0 {
        let _ = write!(
            o,
            "<div class=\"axis zoom\">The scale starts at {}, not at 0.</div>",
            percent(lo)
        );
    }
}

/// The match rate as a bar on a zoomed scale, with the target as a dashed line.
pub(super) fn rate_bar(o: &mut String, rate: f64, target: f64, colour: &str) {
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
pub(super) fn bar_order() -> impl Iterator<Item = &'static &'static str> {
    AGREEING
        .iter()
        .chain(JUDGED.iter().filter(|k| !AGREEING.contains(k)))
}

/// Judged outcomes as one stacked bar, the others in the legend.
pub(super) fn outcome_bar(o: &mut String, e: &ExperimentReport) {
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

pub(super) fn legend<'a>(
    o: &mut String,
    items: impl Iterator<Item = (&'a String, &'a u64)>,
    extra: &str,
) {
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
pub(super) fn signature_chart(o: &mut String, e: &ExperimentReport) {
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
pub(super) fn latency_chart(o: &mut String, e: &ExperimentReport) {
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
pub(super) fn span(ms: u64) -> String {
    span_in(ms, unit_of(ms))
}

/// The unit a span of `ms` is best said in: milliseconds in one of it, and its name.
pub(super) fn unit_of(ms: u64) -> (f64, &'static str) {
    match ms {
        0..1_000 => (1.0, "ms"),
        1_000..120_000 => (1_000.0, "s"),
        120_000..7_200_000 => (60_000.0, "min"),
        7_200_000..172_800_000 => (3_600_000.0, "h"),
        _ => (86_400_000.0, "d"),
    }
}

/// `ms` in the given unit (one decimal at most): the ticks of an axis all in the unit of its
/// whole span, so that they read `+0 h`, `+1 h`, `+1.9 h` rather than `+58.8 min`, `+1.9 h`.
pub(super) fn span_in(ms: u64, (per, unit): (f64, &str)) -> String {
    let t = format!("{:.1}", ms as f64 / per);
    format!("{} {unit}", t.trim_end_matches(".0"))
}

/// The match rate over time as a line chart: a point per stretch of time (the rate of the
/// calls judged in it), the cumulative rate as a dashed line, and the target. The rate axis
/// starts at 0 unless every value is at or above 90% (then at 90%, 95% or 99%, said under the
/// chart).
pub(super) fn trend_chart(o: &mut String, trend: &[TrendPoint], target: f64) {
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
            span_in(t - first, unit_of(last - first))
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
