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

#[test]
fn the_time_axis_says_every_tick_in_the_unit_of_its_whole_span() {
    // Four hours of summaries, one every five minutes.
    let lines: Vec<String> = (0..49u64)
        .map(|i| summary("r1", i * 300_000, (i + 1) * 100, 0))
        .collect();
    let page = render(&report(&lines));
    let svg = trend_svg(&page);
    let ticks: Vec<&str> = svg
        .split("<text ")
        .filter_map(|t| t.split_once('>').map(|(_, rest)| rest))
        .filter_map(|rest| rest.split('<').next())
        .filter(|label| label.starts_with('+'))
        .collect();
    assert_eq!(ticks, ["+0 h", "+1 h", "+2 h", "+3 h", "+4 h"]);
    assert_eq!(charts::span(850), "850 ms");
    assert_eq!(charts::span(90_000), "90 s");
    assert_eq!(charts::span(3_540_000), "59 min");
    assert_eq!(
        charts::span_in(3_540_000, charts::unit_of(14_400_000)),
        "1 h"
    );
}
