//! The cutover example accounts for every call it sheds: each phase prints its sheds, and the
//! closing lines say that the shadow database misses exactly the shed calls' rows (a shed call's
//! shadow side never ran, so it wrote nothing) while every call whose shadow side ran wrote its
//! row. The example's `main` runs in a child process (the environment is read once per process)
//! with one concurrency slot, so that calls are really shed, in a directory of its own.

#[allow(dead_code)]
#[path = "../examples/cutover.rs"]
mod cutover;

use std::process::Command;

const CHILD: &str = "PARALLEL_RUN_CUTOVER_CHILD";

/// Not a test of its own: the child's entry point.
#[test]
fn cutover_main() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    cutover::main();
    std::process::exit(0);
}

/// The number after `word ` at the start of `line`'s trimmed text (`shed 12 (...)` → 12).
fn count_after(line: &str, word: &str) -> Option<u64> {
    let rest = line.trim_start().strip_prefix(word)?.trim_start();
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[test]
fn the_shadow_database_misses_exactly_the_calls_that_were_shed() {
    let dir = std::env::temp_dir().join(format!("pr-cutover-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "cutover_main", "--nocapture", "--test-threads=1"])
        .current_dir(&dir)
        .env(CHILD, "1")
        .env("PARALLEL_RUN__CUTOVER__SETTLE", "max_in_flight=1")
        .env_remove("PARALLEL_RUN")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("PASS: production equals what the legacy code alone would have written"),
        "{stdout}"
    );

    // One `shed N` line per phase.
    let sheds: Vec<u64> = stdout
        .lines()
        .filter_map(|l| count_after(l, "shed"))
        .collect();
    assert_eq!(sheds.len(), 6, "{stdout}");
    let total: u64 = sheds.iter().sum();
    assert!(
        total > 0,
        "one concurrency slot sheds some calls:\n{stdout}"
    );

    // "shadow database: N of M calls have no row: K were shed (...) ...; every call whose shadow
    // side ran wrote its row"
    let line = stdout
        .lines()
        .find(|l| l.starts_with("shadow database: ") && l.contains(" calls have no row: "))
        .unwrap_or_else(|| panic!("no shadow database line:\n{stdout}"));
    let missing = count_after(line, "shadow database:").unwrap();
    let shed = count_after(&line[line.find("have no row:").unwrap()..], "have no row:").unwrap();
    assert_eq!(missing, total, "{line}");
    assert_eq!(shed, total, "{line}");
    assert!(
        line.ends_with("; every call whose shadow side ran wrote its row"),
        "{line}"
    );
}
