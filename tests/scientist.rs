//! Scientist parity: `ignore` rules.

mod common;

use std::time::Duration;

use parallel_run::{parallel_run, Outcome};

fn settled(name: &str) -> parallel_run::ExperimentSnapshot {
    assert!(parallel_run::wait_idle(Duration::from_secs(20)));
    let s = parallel_run::snapshot::experiment(name).unwrap();
    assert_eq!(s.lost(), 0, "{s:?}");
    s
}

#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    cents: i64,
    note: String,
}

fn notes_differ(p: &Quote, c: &Quote) -> bool {
    p.cents == c.cents && p.note != c.note
}

fn panicking_rule(p: &Quote, _: &Quote) -> bool {
    if p.cents == 13 {
        panic!("rule bug");
    }
    false
}

#[parallel_run(
    candidate = quote_v2,
    mode = inline,
    ignore = [panicking_rule, notes_differ, |p: &Quote, c: &Quote| (p.cents - c.cents).abs() == 1000]
)]
fn quote(cents: i64) -> Quote {
    Quote {
        cents,
        note: "legacy".into(),
    }
}

fn quote_v2(cents: i64) -> Quote {
    match cents {
        1 => Quote {
            cents,
            note: "rewrite".into(),
        }, // ignored by notes_differ
        2 => Quote {
            cents: 1002,
            note: "legacy".into(),
        }, // ignored by the closure
        13 => Quote {
            cents: 14,
            note: "legacy".into(),
        }, // the first rule panics: still a mismatch
        3 => Quote {
            cents: 4,
            note: "legacy".into(),
        }, // a real mismatch
        _ => Quote {
            cents,
            note: "legacy".into(),
        },
    }
}

#[test]
fn ignore_rules_turn_known_differences_into_their_own_outcome() {
    let cap = common::capture();
    for c in [0, 1, 2, 3, 13] {
        assert_eq!(
            quote(c),
            Quote {
                cents: c,
                note: "legacy".into()
            }
        );
    }
    let s = settled("scientist::quote");
    assert_eq!(s.counts.get(Outcome::Match), 1);
    assert_eq!(s.counts.get(Outcome::Ignored), 2);
    assert_eq!(s.counts.get(Outcome::Mismatch), 2);
    // Ignored differences count as agreement in the rate (as in the promotion gate and the
    // report): 1 match + 2 ignored over 5 compared.
    assert_eq!(s.match_rate(), Some(3.0 / 5.0));
    // The panicking rule was reported, with the helper it came from, and counted as "no".
    let reports: Vec<_> = cap
        .events()
        .into_iter()
        .filter(|e| e.text.contains("helper=ignore") && e.text.contains("rule bug"))
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
}

// ---------------------------------------------------------------- comparing failures

#[derive(Debug, Clone, PartialEq)]
pub enum PayError {
    Declined(String),
    Timeout(u32),
}

/// A comparator that says yes to everything: the Ok-vs-Err rule must still win.
#[parallel_run(candidate = lax_v2, mode = inline, compare = |_: &Result<u32, PayError>, _: &Result<u32, PayError>| true)]
fn lax(x: u32) -> Result<u32, PayError> {
    if x == 0 {
        Err(PayError::Declined("zero".into()))
    } else {
        Ok(x)
    }
}

fn lax_v2(x: u32) -> Result<u32, PayError> {
    if x == 1 {
        Err(PayError::Timeout(5))
    } else {
        Ok(x)
    }
}

#[test]
fn one_side_failing_is_always_a_mismatch() {
    assert_eq!(lax(1), Ok(1)); // candidate Err, primary Ok
    assert_eq!(lax(0), Err(PayError::Declined("zero".into()))); // primary Err, candidate Ok
    assert_eq!(lax(2), Ok(2));
    let s = settled("scientist::lax");
    assert_eq!(s.counts.get(Outcome::Mismatch), 2);
    assert_eq!(s.counts.get(Outcome::Match), 1);
    let details: Vec<&str> = s.discrepancies.iter().map(|d| d.detail.as_str()).collect();
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("the candidate returned Err, the primary Ok")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("the primary returned Err, the candidate Ok")),
        "{details:?}"
    );
}

fn pay_v2(x: u32) -> Result<u32, PayError> {
    match x {
        0 => Err(PayError::Declined("different words".into())),
        1 => Err(PayError::Declined("different words".into())),
        _ => Ok(x),
    }
}

fn pay_legacy(x: u32) -> Result<u32, PayError> {
    match x {
        0 => Err(PayError::Declined("insufficient funds".into())),
        1 => Err(PayError::Timeout(30)),
        _ => Ok(x),
    }
}

#[parallel_run(candidate = pay_v2, mode = inline)]
fn pay_compare(x: u32) -> Result<u32, PayError> {
    pay_legacy(x)
}

#[parallel_run(candidate = pay_v2, mode = inline, errors = variant)]
fn pay_variant(x: u32) -> Result<u32, PayError> {
    pay_legacy(x)
}

#[parallel_run(candidate = pay_v2, mode = inline, errors = match)]
fn pay_match(x: u32) -> Result<u32, PayError> {
    pay_legacy(x)
}

#[test]
fn the_error_policy_decides_how_two_errors_compare() {
    for x in 0..3 {
        assert_eq!(pay_compare(x), pay_legacy(x));
        assert_eq!(pay_variant(x), pay_legacy(x));
        assert_eq!(pay_match(x), pay_legacy(x));
    }
    let count = |n: &str| {
        let s = settled(n);
        (
            s.counts.get(Outcome::Match),
            s.counts.get(Outcome::Mismatch),
        )
    };
    // compare (default): both error pairs differ in their values.
    assert_eq!(count("scientist::pay_compare"), (1, 2));
    // variant: Declined vs Declined agrees, Timeout vs Declined does not.
    assert_eq!(count("scientist::pay_variant"), (2, 1));
    // match: any two errors agree.
    assert_eq!(count("scientist::pay_match"), (3, 0));
}

// ---------------------------------------------------------------- context, before, internal errors

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

pub struct Cart {
    id: u64,
    region: &'static str,
}

static WARMED: AtomicUsize = AtomicUsize::new(0);

fn warm_cache(cart: &Cart) {
    WARMED.fetch_add(1, Ordering::SeqCst);
    if cart.id == 99 {
        panic!("cache warm-up failed");
    }
}

#[parallel_run(
    candidate = checkout_v2,
    mode = inline,
    sample = 0.5,
    sample_by = cart.id,
    before = warm_cache(cart),
    context = { "cart_id": cart.id, "region": cart.region, "experiment_owner": "payments-team" }
)]
fn checkout(cart: &Cart) -> u64 {
    cart.id * 10
}

fn checkout_v2(cart: &Cart) -> u64 {
    cart.id * 10 + u64::from(cart.region == "EU")
}

#[test]
fn context_and_the_before_hook() {
    let cap = common::capture();
    let carts: Vec<Cart> = (0..200)
        .map(|id| Cart {
            id,
            region: if id % 2 == 0 { "EU" } else { "US" },
        })
        .collect();
    for c in &carts {
        assert_eq!(checkout(c), c.id * 10);
    }
    assert_eq!(
        checkout(&Cart {
            id: 99,
            region: "US"
        }),
        990
    ); // a panicking hook: caller unaffected
    let s = settled("scientist::checkout");
    // The hook ran exactly for the shadowed calls (sampling is sticky by id: 99 is counted once
    // more if it is in the sample).
    assert_eq!(WARMED.load(Ordering::SeqCst) as u64, s.shadowed);
    assert!(s.shadowed > 50 && s.shadowed < 150, "{}", s.shadowed);
    // Mismatches (EU carts) carry the call's context, in order.
    let d = &s.discrepancies[0];
    assert_eq!(d.context[0].0, "cart_id");
    assert_eq!(d.context[1], ("region", "EU".to_string()));
    assert_eq!(
        d.context[2],
        ("experiment_owner", "payments-team".to_string())
    );
    let cart_id: u64 = d.context[0].1.parse().unwrap();
    assert_eq!(cart_id % 2, 0);
    let logged = cap
        .events()
        .into_iter()
        .filter(|e| {
            e.text.contains("experiment=scientist::checkout") && e.text.contains("outcome=mismatch")
        })
        .count() as u64;
    assert_eq!(logged, s.counts.get(Outcome::Mismatch));
    assert!(cap
        .events()
        .iter()
        .any(|e| e.text.contains("context=cart_id=")));
    if parallel_run::sticky::is_sampled("scientist::checkout", &99u64, 0.5) {
        assert_eq!(s.internal_errors, vec![("before", 1)]);
    }
}

#[derive(Clone, PartialEq)]
pub struct Fragile(u32);

impl std::fmt::Debug for Fragile {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("Debug impl bug")
    }
}

#[parallel_run(
    candidate = fragile_v2,
    mode = inline,
    run_if = { assert!(x != 7, "run_if bug"); true },
    compare = |a: &Fragile, b: &Fragile| { assert!(a.0 != 5, "comparator bug"); a == b }
)]
fn fragile(x: u32) -> Fragile {
    Fragile(x)
}

fn fragile_v2(x: u32) -> Fragile {
    Fragile(x + u32::from(x == 3))
}

#[test]
fn every_helper_failure_is_caught_tagged_and_observable() {
    static SEEN: Mutex<Vec<(&'static str, String)>> = Mutex::new(Vec::new());
    parallel_run::outcome::on_internal_error(|e| {
        if e.experiment == "scientist::fragile" {
            SEEN.lock().unwrap().push((e.helper, e.message.clone()));
        }
    });
    for x in [1, 3, 5, 7] {
        assert_eq!(fragile(x), Fragile(x)); // the caller never notices
    }
    let s = settled("scientist::fragile");
    assert_eq!(s.counts.get(Outcome::Match), 1); // 1
    assert_eq!(s.counts.get(Outcome::Mismatch), 1); // 3, rendered without Debug
    assert_eq!(s.counts.get(Outcome::ComparatorPanic), 1); // 5
    assert_eq!(s.counts.get(Outcome::Filtered), 1); // 7
    let mut errs = s.internal_errors.clone();
    errs.sort();
    assert_eq!(errs, vec![("comparator", 1), ("debug", 4), ("run_if", 1)]);
    let seen = SEEN.lock().unwrap();
    assert!(
        seen.iter()
            .any(|(h, m)| *h == "run_if" && m.contains("run_if bug")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(h, m)| *h == "comparator" && m.contains("comparator bug")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(h, m)| *h == "debug" && m.contains("Debug impl bug")),
        "{seen:?}"
    );
}

// ---------------------------------------------------------------- the completion hook

/// (outcome, context) per hook call.
type Seen = Vec<(Outcome, Vec<(&'static str, String)>)>;
static HOOKED: Mutex<Seen> = Mutex::new(Vec::new());

fn record_outcome(r: &parallel_run::outcome::OutcomeRecord) {
    HOOKED.lock().unwrap().push((r.outcome, r.context.clone()));
}

#[parallel_run(
    candidate = hooked_v2,
    sample = 0.5,
    sample_by = x,
    on_outcome = record_outcome,
    context = { "x": x }
)]
fn hooked(x: u32) -> u32 {
    x
}

fn hooked_v2(x: u32) -> u32 {
    x + u32::from(x % 3 == 0)
}

#[parallel_run(candidate = hooked_v2, mode = inline, on_outcome = |_| panic!("hook bug"))]
fn bad_hook(x: u32) -> u32 {
    x
}

#[test]
fn the_completion_hook_sees_each_judged_outcome_and_only_those() {
    for x in 0..100 {
        assert_eq!(hooked(x), x);
    }
    let s = settled("scientist::hooked");
    let seen = HOOKED.lock().unwrap();
    // Called once per shadowed call, never for sampled-out ones.
    assert_eq!(seen.len() as u64, s.shadowed);
    assert_eq!(
        seen.iter().filter(|(o, _)| *o == Outcome::Mismatch).count() as u64,
        s.counts.get(Outcome::Mismatch)
    );
    for (outcome, ctx) in seen.iter() {
        let x: u32 = ctx[0].1.parse().unwrap();
        assert_eq!(*outcome == Outcome::Mismatch, x % 3 == 0);
        assert!(parallel_run::sticky::is_sampled(
            "scientist::hooked",
            &x,
            0.5
        ));
    }
    // A panicking hook is reported and never reaches the caller.
    assert_eq!(bad_hook(3), 3);
    assert_eq!(
        settled("scientist::bad_hook").internal_errors,
        vec![("on_outcome", 1)]
    );
}

// ---------------------------------------------------------------- CPU time

static CPU_SEEN: Mutex<Vec<parallel_run::outcome::OutcomeRecord>> = Mutex::new(Vec::new());

fn keep_record(r: &parallel_run::outcome::OutcomeRecord) {
    CPU_SEEN.lock().unwrap().push(r.clone());
}

#[parallel_run(candidate = busy_v2, mode = inline, cpu_time = true, on_outcome = keep_record)]
fn sleepy(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(5)); // wall time, no CPU
    x
}

fn busy_v2(x: u64) -> u64 {
    // Burns CPU until this thread has used at least 1 ms of it.
    let mut acc = x;
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_millis(2) {
        acc = std::hint::black_box(acc.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    std::hint::black_box(acc);
    x
}

#[parallel_run(candidate = async_cpu_v2, mode = inline, cpu_time = true, on_outcome = keep_record)]
async fn async_cpu(x: u64) -> u64 {
    x
}

async fn async_cpu_v2(x: u64) -> u64 {
    x
}

#[test]
fn cpu_time_is_measured_per_side_for_sync_code() {
    assert_eq!(sleepy(1), 1);
    assert_eq!(common::block_on(async_cpu(2)), 2);
    let seen = CPU_SEEN.lock().unwrap();
    let sync = seen
        .iter()
        .find(|r| r.experiment == "scientist::sleepy")
        .unwrap();
    assert!(sync.primary_duration >= Duration::from_millis(5));
    let (p, c) = (sync.primary_cpu.unwrap(), sync.candidate_cpu.unwrap());
    // A sleeping primary uses (almost) no CPU; the busy candidate uses some.
    assert!(
        p < sync.primary_duration / 2,
        "{p:?} of {:?}",
        sync.primary_duration
    );
    assert!(c > Duration::ZERO);
    // Async sides may hop threads: not measured.
    let a = seen
        .iter()
        .find(|r| r.experiment == "scientist::async_cpu")
        .unwrap();
    assert_eq!((a.primary_cpu, a.candidate_cpu), (None, None));
}
