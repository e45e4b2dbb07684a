//! What ships in `deploy/` queries only what the library publishes: the Grafana dashboard is
//! JSON, and every metric its panels (and the Prometheus rules) name is in the guide's metrics
//! table or is a recording rule of `deploy/prometheus/`; every metric of that table is a name the
//! runtime's source publishes. With `promtool` on the path (CI installs it), every panel's query
//! must also parse as PromQL. `.ci/run` runs `promtool test rules` on the rules themselves.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const DASHBOARD: &str = "deploy/grafana/parallel-run.json";
const RULES: [&str; 2] = [
    "deploy/prometheus/parallel-run.rules.yml",
    "deploy/prometheus/targets.example.yml",
];
/// The file whose "| metric | kind | labels |" table lists what the library publishes.
const METRICS_TABLE: &str = "docs/guide/observability.md";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The metrics of the table, and which of them are histograms (exported with `_bucket`,
/// `_sum` and `_count` series, or as summaries with `_sum` and `_count`).
fn published() -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut all, mut histograms) = (BTreeSet::new(), BTreeSet::new());
    for line in read(METRICS_TABLE).lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // "", "`name`[, `name`]", "kind", "labels", ""
        if cells.len() < 4 || !cells[1].starts_with("`parallel_run_") {
            continue;
        }
        let kind = cells[2];
        assert!(
            ["counter", "gauge", "histogram"].contains(&kind),
            "{METRICS_TABLE}: unknown kind in {line}"
        );
        for name in cells[1].split(',') {
            let name = name.trim().trim_matches('`').to_owned();
            if kind == "histogram" {
                histograms.insert(name.clone());
            }
            all.insert(name);
        }
    }
    assert!(all.len() >= 15, "the metrics table was not found: {all:?}");
    (all, histograms)
}

/// The recording rules `deploy/prometheus/` defines.
fn recorded() -> BTreeSet<String> {
    let names: BTreeSet<String> = RULES
        .iter()
        .flat_map(|f| {
            read(f)
                .lines()
                .filter_map(|l| {
                    l.trim()
                        .strip_prefix("- record:")
                        .map(|n| n.trim().to_owned())
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(names.len() >= 20, "{names:?}");
    names
}

/// Every word of `text` that names a parallel-run series: a metric (`parallel_run_...`) or a
/// recording rule (`level:parallel_run...:operations`).
fn series_names(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.contains("parallel_run"))
        .map(|w| w.trim_matches(':').to_owned())
        .collect()
}

/// The names in `names` that are neither published nor recorded.
fn unknown(names: &BTreeSet<String>) -> Vec<String> {
    let (all, histograms) = published();
    let rules = recorded();
    names
        .iter()
        .filter(|n| {
            if n.contains(':') {
                return !rules.contains(*n);
            }
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| n.strip_suffix(s).filter(|b| histograms.contains(*b)));
            !all.contains(base.unwrap_or(n))
        })
        .cloned()
        .collect()
}

/// Every string in a JSON document.
fn strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        serde_json::Value::Object(o) => o.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

fn dashboard() -> serde_json::Value {
    serde_json::from_str(&read(DASHBOARD)).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"))
}

/// The dashboard's queries: every panel target's `expr`, and the template variables' queries.
fn queries(d: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        if p["type"] == "row" {
            continue;
        }
        let targets = p["targets"].as_array().expect("a panel has targets");
        assert!(!targets.is_empty(), "panel {} queries nothing", p["title"]);
        for t in targets {
            let expr = t["expr"].as_str().expect("a target has an expr");
            assert!(!expr.trim().is_empty(), "panel {}", p["title"]);
            out.push(expr.to_owned());
        }
    }
    out
}

#[test]
fn the_dashboard_queries_only_published_or_recorded_series() {
    let d = dashboard();
    let mut texts = Vec::new();
    strings(&d, &mut texts);
    let names = series_names(&texts.join("\n"));
    assert!(names.len() >= 25, "{names:?}");
    assert_eq!(unknown(&names), Vec::<String>::new(), "not published");
    // Every panel queries something, through the dashboard's data-source variable.
    let mut ids = BTreeSet::new();
    for p in d["panels"].as_array().unwrap() {
        assert!(ids.insert(p["id"].as_u64().expect("an id")), "duplicate id");
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        }
    }
    assert!(queries(&d).len() >= 20);
}

#[test]
fn the_rules_query_only_published_or_recorded_series() {
    let text: String = RULES.iter().map(|f| read(f)).collect();
    let names = series_names(&text);
    assert!(names.len() >= 30, "{names:?}");
    assert_eq!(unknown(&names), Vec::<String>::new(), "not published");
}

/// The check itself: a query of a metric nobody publishes, or of a rule nobody records, is found.
#[test]
fn a_query_of_an_unpublished_metric_is_caught() {
    let names = series_names(
        r#"sum(rate(parallel_run_outcomes_total[5m])) / parallel_run_made_up_total
           + experiment:parallel_run_made_up:rate5m + parallel_run_primary_duration_seconds_bucket
           + parallel_run_outcomes_total_bucket"#,
    );
    assert_eq!(
        unknown(&names),
        [
            "experiment:parallel_run_made_up:rate5m",
            "parallel_run_made_up_total",
            "parallel_run_outcomes_total_bucket",
        ]
    );
}

/// Every metric of the table is a name the runtime's source spells out (as a string literal).
#[test]
fn every_metric_of_the_table_is_in_the_runtime() {
    fn sources(dir: &Path, out: &mut String) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                sources(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push_str(&std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut src = String::new();
    sources(&root().join("shadow-runtime/src"), &mut src);
    let (all, _) = published();
    let missing: Vec<&String> = all
        .iter()
        .filter(|n| !src.contains(&format!("\"{n}\"")))
        .collect();
    assert!(
        missing.is_empty(),
        "in {METRICS_TABLE} but not in the runtime: {missing:?}"
    );
}

/// Each panel query parses as PromQL: written into a rule file for `promtool check rules`. CI
/// installs promtool; elsewhere this part runs when promtool is on the path.
#[test]
fn the_dashboard_queries_are_promql() {
    let have = std::process::Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is missing in CI (.ci/run installs it)"
        );
        eprintln!("promtool not on the path: the PromQL syntax check is skipped");
        return;
    }
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, q) in queries(&dashboard()).iter().enumerate() {
        // Grafana's variables, as a query would see them once substituted.
        let q = q.replace("$experiment", ".*");
        rules.push_str(&format!(
            "      - record: dashboard:query:{i}\n        expr: {}\n",
            serde_json::Value::String(q)
        ));
    }
    let file = std::env::temp_dir().join(format!("pr-dashboard-{}.rules.yml", std::process::id()));
    std::fs::write(&file, rules).unwrap();
    let out = std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
