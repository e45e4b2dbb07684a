//! Every argument that takes an expression takes any expression (issue 11, item 2): binary
//! operators, casts, method chains, closures, blocks, `match`, references and macro calls, for
//! `run_if`, `before`, `sample_by`, `context`, `idempotency_key`, `compare`, `ignore`, `clean` and
//! `on_outcome`. Before the fix, `sample_by = x % 1000` expanded to `&x % 1000` and failed with
//! "expected `&_`, found `u32`". Each function runs once below and its outcome is checked.

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

use parallel_run::outcome::OutcomeRecord;
use parallel_run::{parallel_run, Comparator, DefaultComparator, Outcome, Verdict};

/// What `before` added up, and how many outcomes the hooks saw.
static BEFORE: AtomicU32 = AtomicU32::new(0);
static HOOKED: AtomicU32 = AtomicU32::new(0);

fn warm(n: u32) {
    BEFORE.fetch_add(n, SeqCst);
}

fn hook(_: &OutcomeRecord) {
    HOOKED.fetch_add(1, SeqCst);
}

fn show(v: &u32) -> String {
    format!("<{v}>")
}

fn same_parity(a: &u32, b: &u32) -> bool {
    a % 2 == b % 2
}

fn plus_one(x: u32) -> u32 {
    x + 1
}

fn same(x: u32) -> u32 {
    x
}

// ------------------------------------------------------------- binary operators and casts

#[parallel_run(
    name = "expr::operators",
    candidate = plus_one,
    mode = inline,
    run_if = x + 1 > 1 && x as u64 % 2 == 0,
    sample_by = x % 1000,
    context = { "next": x + 1, "wide": x as u64 * 10 },
    idempotency_key = x * 10 + 3 as u32,
    before = warm(x * 2 + 1),
    compare = |a, b| a % 7 == b % 7 || a + 1 == *b && false,
    ignore = [|a: &u32, b: &u32| a + 1 == *b],
    clean = show,
    on_outcome = hook,
)]
fn operators(x: u32) -> u32 {
    x
}

// ------------------------------------------------------------------------ method chains

struct Name(String);

impl Name {
    fn key(&self) -> String {
        self.0.trim().to_lowercase()
    }
}

fn greet_v2(name: &Name) -> String {
    format!("hi {}", name.0.trim())
}

#[parallel_run(
    name = "expr::greet",
    candidate = greet_v2,
    mode = inline,
    run_if = name.0.trim().starts_with('a'),
    sample_by = name.key().as_str().to_owned(),
    context = { "len": name.0.trim().len(), "upper": name.0.to_uppercase() },
    idempotency_key = name.key().replace('a', "A"),
    before = warm(name.0.chars().count() as u32),
    compare = parallel_run::structural::Structural::new().trim("$"),
    clean = [render_string as fn(&String) -> String][0],
    on_outcome = Some(hook as fn(&OutcomeRecord)).unwrap(),
)]
fn greet(name: &Name) -> String {
    format!("hi {}", name.0.trim())
}

fn render_string(v: &String) -> String {
    v.clone()
}

// ----------------------------------------------------------------------------- closures

#[parallel_run(
    name = "expr::closures",
    candidate = plus_one,
    mode = inline,
    run_if = (|| x > 0)(),
    sample_by = (|| x % 10)(),
    context = { "twice": (|v: u32| v * 2)(x) },
    idempotency_key = (|| format!("k{x}"))(),
    before = || warm(x),
    compare = |a: &u32, b: &u32| a == b,
    ignore = [|a: &u32, b: &u32| *b == a + 1],
    clean = |v: &u32| format!("[{v}]"),
    on_outcome = |_r: &OutcomeRecord| {
        HOOKED.fetch_add(1, SeqCst);
    },
)]
fn closures(x: u32) -> u32 {
    x
}

// ------------------------------------------------------------------------------- blocks

#[parallel_run(
    name = "expr::blocks",
    candidate = same,
    mode = inline,
    run_if = { let y = x * 2; y > 0 },
    sample_by = { let k = x / 2; k },
    context = { "b": { x + 1 } },
    idempotency_key = { let base = x * 10; base + 1 },
    before = { warm(1); },
    compare = { let c = DefaultComparator; c },
    ignore = [{ let r = same_parity; r }],
    clean = { let f = show; f },
    on_outcome = { let h = hook; h },
)]
fn blocks(x: u32) -> u32 {
    x
}

// -------------------------------------------------------------------------------- match

#[parallel_run(
    name = "expr::matches",
    candidate = plus_one,
    mode = inline,
    run_if = match x { 0 => false, _ => true },
    sample_by = match x % 2 { 0 => x, _ => x + 1 },
    context = { "parity": match x % 2 { 0 => "even", _ => "odd" } },
    idempotency_key = match x { 0 => 0, n => n * 2 },
    before = match x { 0 => (), _ => warm(1) },
    compare = match x { _ => DefaultComparator },
    ignore = [match 0 { _ => same_parity }, match 1 { _ => |a: &u32, b: &u32| a + 1 == *b }],
    clean = match 0 { _ => show },
    on_outcome = match 0 { _ => hook },
)]
fn matches(x: u32) -> u32 {
    x
}

// --------------------------------------------------------------------------- references

#[parallel_run(
    name = "expr::references",
    candidate = same,
    mode = inline,
    run_if = &x != &0 && *&x > 0,
    sample_by = &x,
    context = { "r": &x, "rr": &&x },
    idempotency_key = &x,
    before = &x,
    compare = &|a: &u32, b: &u32| a == b,
    ignore = [*&same_parity],
    clean = *&show,
    on_outcome = *&hook,
)]
fn references(x: u32) -> u32 {
    x
}

// --------------------------------------------------------------------------- macro calls

macro_rules! comparator {
    () => {
        DefaultComparator
    };
}

macro_rules! pick {
    ($f:expr) => {
        $f
    };
}

#[parallel_run(
    name = "expr::macros",
    candidate = same,
    mode = inline,
    run_if = matches!(x, 1..=100),
    sample_by = format!("u{x}"),
    context = { "m": format!("{x}!"), "v": vec![x, x].len() },
    idempotency_key = format!("charge-{}", x),
    before = warm(pick!(x) * 0 + 1),
    compare = comparator!(),
    ignore = [pick!(same_parity)],
    clean = pick!(show),
    on_outcome = pick!(hook),
)]
fn macros(x: u32) -> u32 {
    x
}

// --------------------------------------------- detached mode, where the comparator travels

#[parallel_run(
    name = "expr::detached",
    candidate = plus_one,
    sample_by = x as u64 * 31 % 1000,
    run_if = x % 2 == 0 || x > 10,
    context = { "k": x + 1 },
    compare = |a: &u32, b: &u32| -> Verdict {
        if a + 1 == *b { Verdict::acceptable("off by one") } else { DefaultComparator.compare(a, b) }
    },
)]
fn detached(x: u32) -> u32 {
    x
}

fn counts(name: &str) -> parallel_run::OutcomeCounts {
    parallel_run::snapshot::experiment(&format!("expr::{name}"))
        .unwrap_or_else(|| panic!("{name} never ran"))
        .counts
}

fn main() {
    assert_eq!(operators(4), 4);
    // 4 % 7 vs 5 % 7 differ: a mismatch, then the `ignore` rule (a + 1 == b) says yes.
    assert_eq!(counts("operators").get(Outcome::Ignored), 1);
    assert_eq!(BEFORE.load(SeqCst), 9, "before = warm(x * 2 + 1) with x = 4");

    assert_eq!(greet(&Name(" ada ".into())), "hi ada");
    assert_eq!(counts("greet").get(Outcome::Match), 1);
    assert_eq!(BEFORE.load(SeqCst), 9 + 5);

    assert_eq!(closures(3), 3);
    assert_eq!(counts("closures").get(Outcome::Ignored), 1);
    assert_eq!(BEFORE.load(SeqCst), 14 + 3, "`before = || warm(x)` calls the closure");

    assert_eq!(blocks(3), 3);
    assert_eq!(counts("blocks").get(Outcome::Match), 1);
    assert_eq!(BEFORE.load(SeqCst), 18);

    assert_eq!(matches(3), 3);
    // 3 vs 4: different parity, so the first rule says no and the second says yes.
    assert_eq!(counts("matches").get(Outcome::Ignored), 1);
    assert_eq!(BEFORE.load(SeqCst), 19);

    assert_eq!(references(3), 3);
    assert_eq!(counts("references").get(Outcome::Match), 1);

    assert_eq!(macros(3), 3);
    assert_eq!(counts("macros").get(Outcome::Match), 1);
    assert_eq!(BEFORE.load(SeqCst), 20);

    assert_eq!(HOOKED.load(SeqCst), 7, "every function's on_outcome ran once");

    assert_eq!(detached(4), 4);
    assert!(parallel_run::wait_idle(std::time::Duration::from_secs(10)));
    assert_eq!(counts("detached").get(Outcome::Acceptable), 1);
}
