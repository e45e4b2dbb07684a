//! The runtime's layering, checked on its sources: every module belongs to a layer, a module
//! names (`crate::...`) only modules of lower layers or of its own unit, so no import cycle can
//! form; and no source file grows past the length a reader takes in at once.
//!
//! The table below is the architecture (ARCHITECTURE.md draws it): a new module needs a row, and
//! a row that would have to move up to make an import legal is a design question, not a typo.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `(unit, layer)`: a unit is a module with everything below it. Lower layers never name
/// higher ones.
const LAYERS: &[(&str, u32)] = &[
    // Primitives: the concurrency words, model-checked by loom.
    ("sync", 0),
    // Leaves: time, panics, the shadow context, diff paths, the comparator trait.
    ("run::clock", 1),
    ("run::isolation", 1),
    ("run::timer", 1),
    ("run::context", 1),
    ("judge::time", 1),
    ("judge::compare", 1),
    ("judge::paths", 1),
    // Judge: diffs and noise.
    ("judge::structural", 2),
    ("judge::noise", 2),
    ("judge::typed", 3),
    // The outcome vocabulary every later stage speaks.
    ("record::outcome", 4),
    // Decide: the state machines, sampling, the settings.
    ("decide::breaker", 5),
    ("decide::cutover", 5),
    ("decide::sampling", 5),
    ("decide::sticky", 6),
    ("decide::config", 6),
    // The fleet-wide gate's source: reads the settings, feeds the cutover's readings.
    ("decide::fleet", 7),
    // The shadow lane: its runtime, admission and budget, and its worker pool.
    ("run::lane", 7),
    ("run::pool", 8),
    // The duration samples counted per thread for the histograms (buckets and the timer).
    ("record::pending", 8),
    // Record: emission, the snapshot's types, idle waiters, publishers and the log.
    ("record::observe", 9),
    ("record::view", 9),
    ("record::idle", 9),
    ("record::publish", 10),
    // The experiment: definition plus the state each stage owns.
    ("experiment", 11),
    // The execution paths of a call.
    ("run::exec", 12),
    // The public surface.
    ("manual", 13),
    ("live", 13),
    ("snapshot", 13),
    ("__private", 13),
    ("testing", 14),
    ("", 15),
];

/// Module → the modules it names.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// Folders that only group units (their `mod.rs` declares modules and documents them).
const FOLDERS: &[&str] = &["judge", "decide", "record", "run"];

/// The longest a source file of the runtime may be.
const MAX_LINES: usize = 710;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a source file: `run/exec/mod.rs` → `run::exec`, `lib.rs` → ``.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts.join("::")
}

/// The `crate::a::b::c` paths a source names outside comments.
fn named_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let tail = &rest[i + "crate::".len()..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            out.push(tail[..end].trim_end_matches(':').to_owned());
            rest = &tail[end..];
        }
    }
    out
}

/// The unit a module belongs to: itself or its nearest ancestor in the table.
fn unit_of<'a>(module: &str, layers: &BTreeMap<&'a str, u32>) -> Option<&'a str> {
    let mut m = module;
    loop {
        if let Some((&u, _)) = layers.get_key_value(m) {
            return Some(u);
        }
        m = &m[..m.rfind("::")?];
    }
}

/// Checks a module graph (`module → modules it names`) against the table: every module has a
/// unit, and every edge between units goes to a lower layer.
fn check(graph: &Graph, layers: &BTreeMap<&str, u32>) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    for (from, targets) in graph {
        let Some(fu) = unit_of(from, layers) else {
            errors.push(format!(
                "module `{from}` has no layer: give it a row in LAYERS"
            ));
            continue;
        };
        for to in targets {
            let Some(tu) = unit_of(to, layers) else {
                errors.push(format!("`{from}` names `{to}`, which has no layer"));
                continue;
            };
            if fu != tu && layers[tu] >= layers[fu] {
                errors.push(format!(
                    "`{from}` (layer {}) names `{to}` (layer {}): a layer may only use lower ones",
                    layers[fu], layers[tu]
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The runtime's module graph, read from its sources.
fn runtime_graph() -> (Graph, Vec<(PathBuf, usize)>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph = BTreeMap::new();
    let mut lengths = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        lengths.push((file.clone(), text.lines().count()));
        let from = module_of(&src, file);
        let mut named = BTreeSet::new();
        for path in named_paths(&text) {
            // The longest prefix that is a module: `crate::run::lane::snapshot` → `run::lane`.
            let segs: Vec<&str> = path.split("::").collect();
            let target = (1..=segs.len())
                .rev()
                .map(|n| segs[..n].join("::"))
                .find(|m| modules.contains(m));
            match target {
                // A name the root re-exports (`crate::Outcome`) hides which layer it comes from.
                None => panic!(
                    "{}: `crate::{path}` names no module; name the item by its module's path",
                    file.display()
                ),
                Some(t) if t == from || t.starts_with(&format!("{from}::")) => {}
                Some(t) => {
                    named.insert(t);
                }
            }
        }
        graph.insert(from, named);
    }
    (graph, lengths)
}

#[test]
fn lower_layers_never_name_higher_ones() {
    let layers: BTreeMap<&str, u32> = LAYERS.iter().copied().collect();
    let (graph, _) = runtime_graph();
    let graph: BTreeMap<_, _> = graph
        .into_iter()
        .filter(|(m, _)| !FOLDERS.contains(&m.as_str()))
        .collect();
    assert!(
        graph.len() > 40,
        "read the sources: {} modules",
        graph.len()
    );
    if let Err(errors) = check(&graph, &layers) {
        panic!(
            "the runtime's layering is broken:\n  {}",
            errors.join("\n  ")
        );
    }
}

#[test]
fn folders_only_group() {
    let (graph, _) = runtime_graph();
    for f in FOLDERS {
        assert!(
            graph[*f].is_empty(),
            "`{f}/mod.rs` names {:?}: a folder's mod.rs only declares and documents its modules",
            graph[*f]
        );
    }
}

#[test]
fn no_source_file_is_too_long() {
    let (_, lengths) = runtime_graph();
    let long: Vec<String> = lengths
        .iter()
        .filter(|(_, n)| *n > MAX_LINES)
        .map(|(f, n)| format!("{} ({n} lines)", f.display()))
        .collect();
    assert!(long.is_empty(), "split these files: {long:?}");
}

#[test]
fn the_checker_finds_a_cycle_and_an_unplaced_module() {
    let layers: BTreeMap<&str, u32> = [("a", 0), ("b", 1)].into_iter().collect();
    let edge = |from: &str, to: &[&str]| {
        (
            from.to_owned(),
            to.iter().map(|t| (*t).to_owned()).collect::<BTreeSet<_>>(),
        )
    };
    // b → a is downward: fine. A module inside a unit may name its unit.
    let ok: BTreeMap<_, _> = [edge("b", &["a"]), edge("a::x", &["a"])]
        .into_iter()
        .collect();
    assert_eq!(check(&ok, &layers), Ok(()));
    // a → b closes a cycle with b → a.
    let cycle: BTreeMap<_, _> = [edge("a", &["b"]), edge("b", &["a"])].into_iter().collect();
    let e = check(&cycle, &layers).unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(e[0].contains("`a` (layer 0) names `b` (layer 1)"), "{e:?}");
    // A module of no unit.
    let stray: BTreeMap<_, _> = [edge("c", &["a"])].into_iter().collect();
    assert!(check(&stray, &layers).unwrap_err()[0].contains("`c` has no layer"));
}

#[test]
fn paths_are_read_outside_comments() {
    let text = "use crate::run::lane::Admission;\n// crate::testing is only mentioned\nlet x = crate::decide::config::env_usize(a);";
    assert_eq!(
        named_paths(text),
        ["run::lane::Admission", "decide::config::env_usize"]
    );
}
