//! The guide's pages (`docs/guide/*.md`) are read in two places: on GitHub as they are, and in
//! rustdoc as the modules of `parallel_run::guide` (the attribute's page as the `parallel_run`
//! macro's documentation), with the link definitions of `src/guide.rs` read first. These tests
//! keep the two in step: every page is declared, linked from the README and from the crate's
//! landing page; every link between pages has a GitHub target that exists (the file, and the
//! heading for a `#section`) and the same target in rustdoc; and the README's Quickstart is, to
//! the byte, the landing page's, which runs as a doctest.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: impl AsRef<Path>) -> String {
    let path = root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The pages, by file stem (`modes` for `docs/guide/modes.md`), sorted.
fn pages() -> Vec<String> {
    let mut pages: Vec<String> = std::fs::read_dir(root().join("docs/guide"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    assert!(pages.len() >= 10, "{pages:?}");
    pages
}

/// Where rustdoc shows a page.
fn rustdoc_path(page: &str) -> String {
    if page == "attribute" {
        "macro@crate::parallel_run".to_owned()
    } else {
        format!("crate::guide::{page}")
    }
}

/// The markdown without fenced code blocks and inline code spans, where nothing is a link.
fn prose(md: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in md.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut in_code = false;
        for c in line.chars() {
            if c == '`' {
                in_code = !in_code;
                out.push('`');
            } else if !in_code {
                out.push(c);
            }
        }
        out.push('\n');
    }
    out
}

/// `[label]: target` lines of a page.
fn definitions(md: &str) -> Vec<(String, String)> {
    prose(md)
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix('[')?;
            let (label, target) = rest.split_once("]: ")?;
            Some((label.to_owned(), target.trim().to_owned()))
        })
        .collect()
}

/// The reference labels a page uses without backticks: `[text][label]` and `[label]`.
fn page_labels_used(md: &str) -> BTreeSet<String> {
    let text = prose(md);
    let mut used = BTreeSet::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('[') || !l.contains("]: "))
    {
        let b = line.as_bytes();
        let mut i = 0;
        while let Some(open) = line[i..].find('[').map(|o| o + i) {
            let Some(close) = line[open..].find(']').map(|c| c + open) else {
                break;
            };
            let inner = &line[open + 1..close];
            let next = b.get(close + 1).copied();
            if next == Some(b'[') {
                if let Some(end) = line[close + 1..].find(']').map(|e| e + close + 1) {
                    used.insert(line[close + 2..end].to_owned());
                    i = end + 1;
                    continue;
                }
            } else if next != Some(b'(')
                && !inner.starts_with('`')
                && !inner.is_empty()
                && inner
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                used.insert(inner.to_owned());
            }
            i = close + 1;
        }
    }
    used
}

/// GitHub's (and rustdoc's) id of a heading.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn headings(md: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for line in md.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.insert(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// The crate's `//!` documentation, as markdown.
fn landing_page() -> String {
    read("src/lib.rs")
        .lines()
        .filter_map(|l| {
            l.strip_prefix("//! ")
                .or_else(|| (l == "//!").then_some(""))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The first fenced block of `lang` after `from` in `md`.
fn block<'a>(md: &'a str, from: &str, lang: &str) -> &'a str {
    let start = md.find(from).unwrap_or_else(|| panic!("no {from:?}"));
    let fence = format!("```{lang}\n");
    let open = md[start..]
        .find(&fence)
        .unwrap_or_else(|| panic!("no {fence:?} after {from:?}"))
        + start
        + fence.len();
    let close = md[open..].find("```").unwrap() + open;
    &md[open..close]
}

#[test]
fn every_page_is_declared_for_rustdoc_and_linked_from_the_readme_and_the_landing_page() {
    let guide = read("src/guide.rs");
    let lib = read("src/lib.rs");
    let readme = read("README.md");
    let landing = landing_page();
    for page in pages() {
        if page == "attribute" {
            assert!(
                lib.contains("#[doc = include_str!(\"../docs/guide/attribute.md\")]"),
                "src/lib.rs must include docs/guide/attribute.md on the parallel_run macro"
            );
            assert!(
                landing.contains("](macro@parallel_run)"),
                "landing page: no link to the attribute's page"
            );
        } else {
            assert!(
                guide.contains(&format!("page!({page});")),
                "src/guide.rs: no `page!({page});`"
            );
            assert!(
                landing.contains(&format!("[`guide::{page}`]")),
                "src/lib.rs: the landing page's table has no row for [`guide::{page}`]"
            );
        }
        assert!(
            readme.contains(&format!("](docs/guide/{page}.md)")),
            "README.md: the guide table has no row for docs/guide/{page}.md"
        );
    }
    for declared in guide
        .match_indices("\npage!(")
        .map(|(i, _)| &guide[i + 7..])
    {
        let name = &declared[..declared.find(')').unwrap()];
        assert!(
            pages().iter().any(|p| p == name),
            "page!({name}) has no docs/guide/{name}.md"
        );
    }
}

#[test]
fn links_between_pages_resolve_on_github_and_in_rustdoc() {
    let guide = read("src/guide.rs");
    for page in pages() {
        let md = read(format!("docs/guide/{page}.md"));
        let defs = definitions(&md);
        for (label, target) in &defs {
            if target.starts_with("http") {
                continue;
            }
            let (file, fragment) = match target.split_once('#') {
                Some((f, s)) => (f, Some(s)),
                None => (target.as_str(), None),
            };
            let other = file
                .strip_suffix(".md")
                .unwrap_or_else(|| panic!("{page}.md: [{label}]: {target} is not a page"));
            let other_md = read(format!("docs/guide/{file}"));
            if let Some(fragment) = fragment {
                assert!(
                    headings(&other_md).contains(fragment),
                    "{page}.md: [{label}]: {target}: {file} has no heading #{fragment}"
                );
            }
            let rustdoc = format!(
                "\"[{label}]: {}{}\\n\",",
                rustdoc_path(other),
                fragment.map(|f| format!("#{f}")).unwrap_or_default()
            );
            assert!(
                guide.contains(&rustdoc),
                "{page}.md defines [{label}]: {target}; src/guide.rs's links!() needs {rustdoc}"
            );
        }
        for label in page_labels_used(&md) {
            assert!(
                defs.iter().any(|(l, _)| *l == label),
                "{page}.md uses [{label}] without defining it (GitHub needs `[{label}]: page.md`)"
            );
        }
    }
}

#[test]
fn the_readme_quickstart_is_the_landing_page_quickstart() {
    let readme = read("README.md");
    let landing = landing_page();
    for lang in ["toml", "rust", "text"] {
        assert_eq!(
            block(&readme, "## Quickstart", lang),
            block(&landing, "## Quickstart", lang),
            "README.md's Quickstart ```{lang} block differs from src/lib.rs's (the doctest)"
        );
    }
    let toml = block(&readme, "## Quickstart", "toml");
    assert!(toml.contains("parallel-run = { path = "), "{toml}");
    assert!(
        toml.contains(r#"features = ["macros", "rt-multi-thread"]"#),
        "{toml}"
    );
}

#[test]
fn the_readme_stays_a_five_minute_read_and_keeps_its_two_commands() {
    let readme = read("README.md");
    assert!(
        readme.lines().count() <= 200,
        "README.md has {} lines",
        readme.lines().count()
    );
    let commands = block(&readme, "# parallel-run", "sh");
    assert!(
        commands.starts_with("cargo run --example payments "),
        "{commands}"
    );
    assert!(commands.contains("\ncargo test --workspace "), "{commands}");
}
