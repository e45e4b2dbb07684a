//! The plain-text report (the default output).

use std::fmt::Write as _;

use crate::report::{ExperimentReport, Report, SideLatency, Verdict};

/// `1234567` → `1,234,567`.
///
/// ```
/// assert_eq!(shadow_cli::text::thousands(1234567), "1,234,567");
/// assert_eq!(shadow_cli::text::thousands(12), "12");
/// ```
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A percentage with as many decimals as it needs to not look like the target when it is not
/// (`99.95`, `98.42`, `100`).
///
/// ```
/// assert_eq!(shadow_cli::text::percent(98.4167), "98.42%");
/// assert_eq!(shadow_cli::text::percent(100.0), "100%");
/// assert_eq!(shadow_cli::text::percent(99.9), "99.9%");
/// ```
pub fn percent(p: f64) -> String {
    let s = format!("{p:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}%")
}

/// The verdict sentence: `match rate 98.42% < 99.9% over 4,000 compared calls`, with the
/// calls counted in all when some were not compared (`of 16,000 calls`).
///
/// ```
/// let mut s = shadow_cli::Scanner::new();
/// s.line("f", 1, br#"{"experiment":"e","outcome":"mismatch"}"#);
/// let r = shadow_cli::Report::build(&s, &Default::default(), vec![]);
/// assert!(shadow_cli::text::headline(&r.experiments[0], 99.9).contains("no summary line"));
/// ```
pub fn headline(e: &ExperimentReport, target: f64) -> String {
    match (e.match_rate_percent, e.calls) {
        (Some(rate), Some(calls)) => {
            let cmp = if e.verdict == Verdict::Ready {
                ">="
            } else {
                "<"
            };
            let all = match e.total_calls {
                Some(all) if all > calls => format!(" of {} calls", thousands(all)),
                _ => String::new(),
            };
            format!(
                "match rate {} {cmp} {} over {} compared calls{all}",
                percent(rate),
                percent(target),
                thousands(calls),
            )
        }
        (_, Some(_)) => "no call judged yet: calls unknown".to_owned(),
        _ => "no summary line in the log: calls unknown".to_owned(),
    }
}

/// Renders the report as text.
///
/// ```
/// let s = shadow_cli::Scanner::new();
/// let r = shadow_cli::Report::build(&s, &Default::default(), vec!["a.jsonl".into()]);
/// assert!(shadow_cli::text::render(&r).contains("no experiment"));
/// ```
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "parallel-run report: {} file{}, {}, {} line{}",
        r.files.len(),
        if r.files.len() == 1 { "" } else { "s" },
        megabytes(r.bytes),
        thousands(r.lines),
        if r.lines == 1 { "" } else { "s" },
    );
    if r.malformed.count > 0 {
        let _ = write!(o, ", {} malformed", thousands(r.malformed.count));
    }
    let _ = writeln!(o, "; target {}", percent(r.target_percent));
    if r.experiments.is_empty() {
        o.push_str("\nno experiment in the input\n");
    }
    for e in &r.experiments {
        o.push('\n');
        experiment(&mut o, e, r.target_percent);
    }
    if r.other_kinds > 0 {
        let _ = writeln!(
            o,
            "\n{} lines of another kind skipped",
            thousands(r.other_kinds)
        );
    }
    if r.malformed.count > 0 {
        let _ = writeln!(
            o,
            "\nmalformed lines: {} (first {} listed)",
            thousands(r.malformed.count),
            r.malformed.first.len()
        );
        for m in &r.malformed.first {
            let _ = writeln!(o, "  {}:{}: {}", m.file, m.line, m.reason);
        }
    }
    o
}

fn megabytes(b: u64) -> String {
    if b < 1_000_000 {
        format!("{} bytes", thousands(b))
    } else {
        format!("{:.1} MB", b as f64 / 1e6)
    }
}

fn counts<'a>(m: impl IntoIterator<Item = (&'a String, &'a u64)>) -> String {
    let v: Vec<_> = m
        .into_iter()
        .map(|(k, n)| format!("{k} {}", thousands(*n)))
        .collect();
    v.join(", ")
}

fn experiment(o: &mut String, e: &ExperimentReport, target: f64) {
    let _ = writeln!(
        o,
        "== {}: {}  {}{}",
        e.name,
        e.verdict.label(),
        headline(e, target),
        match e.runs {
            0 | 1 => String::new(),
            n => format!(" ({n} runs)"),
        }
    );
    if !e.outcomes.is_empty() {
        let _ = writeln!(o, "   outcomes: {}", counts(&e.outcomes));
    }
    let mut meta = Vec::new();
    if let Some(d) = &e.deadline {
        meta.push(if e.overdue {
            format!("deadline {d} OVERDUE")
        } else {
            format!("deadline {d}")
        });
    } else if e.overdue {
        meta.push("OVERDUE".to_owned());
    }
    if let Some(ramp) = e.ramp {
        meta.push(format!("ramp {}", percent(ramp * 100.0)));
    }
    if let Some(g) = &e.gate {
        meta.push(format!("gate: {g}"));
    }
    if !meta.is_empty() {
        let _ = writeln!(o, "   {}", meta.join("   "));
    }
    if !e.noisy_paths.is_empty() {
        let _ = writeln!(o, "   noisy paths: {}", e.noisy_paths.join(", "));
    }
    let _ = write!(
        o,
        "   discrepancies in the log: {}",
        thousands(e.discrepancies)
    );
    if e.discrepancies > 0 {
        let _ = write!(o, " ({})", counts(&e.discrepancy_outcomes));
    }
    if !e.served_by.is_empty() {
        let _ = write!(o, "; served by: {}", counts(&e.served_by));
    }
    o.push('\n');
    if e.discrepancies == 0 {
        return;
    }

    let _ = writeln!(
        o,
        "\n   signatures ({} of {})\n     count   share  signature",
        e.signatures.len(),
        e.signature_count
    );
    for g in &e.signatures {
        let _ = writeln!(
            o,
            "   {:>7} {:>6.1}%  {}",
            thousands(g.count),
            g.share_percent,
            g.signature
        );
        let key = g
            .example_key
            .as_deref()
            .map(|k| format!(" key {k}"))
            .unwrap_or_default();
        let _ = writeln!(o, "                   e.g.{key} ({}):", g.outcome);
        for l in g.example_detail.lines() {
            let _ = writeln!(o, "                     {l}");
        }
    }
    if !e.top_paths.is_empty() {
        let _ = writeln!(o, "\n   top paths\n     count  path");
        for p in &e.top_paths {
            let _ = writeln!(o, "   {:>7}  {}", thousands(p.count), p.path);
        }
    }
    let l = &e.latency;
    if l.primary.samples + l.candidate.samples > 0 || l.primary.mean_us.is_some() {
        // Two populations, labelled as such: percentiles over the discrepancy lines, means over
        // every timed call of the summaries.
        let _ = writeln!(
            o,
            "\n   {:<12} {:-^39}   {:-^19}\n   {:<12} {:>9} {:>9} {:>9} {:>9}   {:>9} {:>9}",
            "latency (us)",
            " percentiles over discrepancy lines ",
            " mean over timed ",
            "",
            "p50",
            "p95",
            "p99",
            "lines",
            "mean",
            "calls"
        );
        side(o, "primary", &l.primary);
        side(o, "candidate", &l.candidate);
        let _ = writeln!(
            o,
            "     (percentiles over the discrepancy lines with a duration; means over all timed calls, from the summaries)"
        );
    }
}

fn side(o: &mut String, name: &str, s: &SideLatency) {
    let f = |v: Option<u64>| v.map_or("-".to_owned(), thousands);
    let _ = writeln!(
        o,
        "     {name:<10} {:>9} {:>9} {:>9} {:>9}   {:>9} {:>9}",
        f(s.p50_us),
        f(s.p95_us),
        f(s.p99_us),
        thousands(s.samples),
        s.mean_us
            .map_or("-".to_owned(), |m| thousands(m.round() as u64)),
        f(s.timed_calls),
    );
}
