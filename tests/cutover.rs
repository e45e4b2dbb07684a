//! Safe writes and the cutover: the shadow context across `.await`, the write guard, dry runs,
//! separate stores, idempotency keys, the ramp with its role swap, the promotion gate, the
//! deadline, and several candidates.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use parallel_run::context::{self, WriteMode};
use parallel_run::cutover::GateStatus;
use parallel_run::{live, parallel_run, ExperimentSnapshot, Outcome};

fn settled(name: &str) -> ExperimentSnapshot {
    assert!(parallel_run::wait_idle(Duration::from_secs(30)));
    let s = parallel_run::snapshot::experiment(name).unwrap_or_else(|| panic!("{name} never ran"));
    assert_eq!(s.lost(), 0, "{s:?}");
    s
}

// ---------------------------------------------------------------- context across .await

static SEEN: Mutex<Vec<(&str, bool)>> = Mutex::new(Vec::new());

async fn hop() {
    // Yields to the runtime, so the rest of the future may resume on another worker thread.
    tokio::time::sleep(Duration::from_millis(2)).await;
}

#[parallel_run(candidate = ctx_async_v2, name = "cutover::ctx_async")]
async fn ctx_async(x: u32) -> u32 {
    SEEN.lock().unwrap().push(("primary", context::in_shadow()));
    hop().await;
    SEEN.lock()
        .unwrap()
        .push(("primary after await", context::in_shadow()));
    x
}

async fn ctx_async_v2(x: u32) -> u32 {
    SEEN.lock()
        .unwrap()
        .push(("candidate", context::in_shadow()));
    for _ in 0..3 {
        hop().await;
        SEEN.lock()
            .unwrap()
            .push(("candidate after await", context::in_shadow()));
    }
    // A spawned task does not inherit the call's context, unless wrapped in `context::scope`;
    // spawned from the shadow lane, it runs on the lane, where everything is shadow work.
    let bare = tokio::spawn(async { context::in_shadow() }).await.unwrap();
    let scoped = tokio::spawn(context::scope(async { context::in_shadow() }))
        .await
        .unwrap();
    SEEN.lock().unwrap().push(("spawned", bare));
    SEEN.lock().unwrap().push(("spawned in scope", scoped));
    x
}

#[test]
fn the_shadow_context_holds_across_await_on_a_multi_thread_runtime() {
    let rt = common::multi_thread_runtime();
    rt.block_on(async {
        for i in 0..4 {
            assert_eq!(ctx_async(i).await, i);
        }
        parallel_run::snapshot::idle().await;
    });
    let seen = SEEN.lock().unwrap().clone();
    let count = |what: &str, value: bool| seen.iter().filter(|e| **e == (what, value)).count();
    assert_eq!(count("primary", false), 4);
    assert_eq!(count("primary after await", false), 4);
    assert_eq!(count("candidate", true), 4);
    assert_eq!(count("candidate after await", true), 12);
    assert_eq!(
        count("spawned", true),
        4,
        "documented: a task a lane candidate spawns is on the lane, in shadow"
    );
    assert_eq!(count("spawned in scope", true), 4);
    assert_eq!(seen.len(), 4 * 2 + 4 * 6);
    assert_eq!(settled("cutover::ctx_async").counts.get(Outcome::Match), 4);
}

// ---------------------------------------------------------------- the write guard

static LEDGER: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A data layer: refuses production writes in shadow context.
fn ledger_insert(row: String) -> Result<(), context::WriteRefused> {
    context::guard_write("ledger.insert")?;
    LEDGER.lock().unwrap().push(row);
    Ok(())
}

#[parallel_run(candidate = charge_v2, name = "cutover::charge")]
fn charge(order: u32) -> Result<u32, String> {
    ledger_insert(format!("legacy charge {order}")).map_err(|e| e.to_string())?;
    Ok(order * 100)
}

fn charge_v2(order: u32) -> Result<u32, String> {
    // The rewrite writes too: in shadow context the guard refuses it.
    ledger_insert(format!("v2 charge {order}")).map_err(|e| e.to_string())?;
    Ok(order * 100)
}

#[test]
fn a_production_write_from_the_shadow_is_refused_and_counted() {
    for i in 0..10 {
        assert_eq!(charge(i), Ok(i * 100));
    }
    let s = settled("cutover::charge");
    assert_eq!(s.counts.get(Outcome::WriteRefused), 10);
    assert_eq!(
        s.counts.get(Outcome::Mismatch),
        0,
        "refusals are not compared"
    );
    let ledger = LEDGER.lock().unwrap().clone();
    assert_eq!(ledger.len(), 10);
    assert!(ledger.iter().all(|r| r.starts_with("legacy")), "{ledger:?}");
    assert!(s.discrepancies[0].detail.contains("`ledger.insert`"));
    assert_eq!(s.writes, WriteMode::Refuse);
}

// ---------------------------------------------------------------- dry run and separate store

static DRY: Mutex<Vec<(u32, bool, WriteMode)>> = Mutex::new(Vec::new());

#[parallel_run(candidate = dry_v2, writes = dry_run, mode = inline, name = "cutover::dry")]
fn dry(x: u32) -> u32 {
    DRY.lock()
        .unwrap()
        .push((x, context::is_dry_run(), context::write_mode()));
    x
}

fn dry_v2(x: u32) -> u32 {
    DRY.lock()
        .unwrap()
        .push((x + 1000, context::is_dry_run(), context::write_mode()));
    x
}

#[test]
fn a_dry_run_candidate_sees_the_flag_and_the_primary_does_not() {
    assert_eq!(dry(1), 1);
    assert_eq!(
        DRY.lock().unwrap().clone(),
        vec![
            (1, false, WriteMode::Production),
            (1001, true, WriteMode::DryRun)
        ]
    );
}

struct Stores {
    production: Mutex<BTreeMap<u32, u32>>,
    shadow: Mutex<BTreeMap<u32, u32>>,
}

static STORES: Stores = Stores {
    production: Mutex::new(BTreeMap::new()),
    shadow: Mutex::new(BTreeMap::new()),
};

fn save(id: u32, v: u32) {
    // The separate-store pattern: one line picks the handle.
    context::pick(&STORES.production, &STORES.shadow)
        .lock()
        .unwrap()
        .insert(id, v);
}

#[parallel_run(candidate = store_v2, writes = separate, name = "cutover::store")]
fn store(id: u32) -> u32 {
    save(id, id * 2);
    id * 2
}

fn store_v2(id: u32) -> u32 {
    save(id, id * 2 + u32::from(id == 3)); // a bug on id 3: visible in the shadow store
    id * 2
}

#[test]
fn a_separate_store_receives_the_shadow_writes() {
    for id in 1..=5 {
        store(id);
    }
    settled("cutover::store");
    let prod = STORES.production.lock().unwrap().clone();
    let shadow = STORES.shadow.lock().unwrap().clone();
    assert_eq!(prod, (1..=5).map(|i| (i, i * 2)).collect());
    assert_eq!(shadow.len(), 5);
    assert_eq!(shadow[&3], 7);
    // Comparing the stores finds what the results did not show.
    let differ: Vec<u32> = prod
        .keys()
        .filter(|k| prod[k] != shadow[k])
        .copied()
        .collect();
    assert_eq!(differ, [3]);
}

// ---------------------------------------------------------------- idempotency keys

static PAYMENTS: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

/// A store with idempotency: the first write of a key wins, later ones are no-ops.
fn pay_once(who: &str) -> bool {
    let key = context::idempotency_key().expect("both sides see the key");
    let mut p = PAYMENTS.lock().unwrap();
    if p.contains_key(&*key) {
        return false;
    }
    p.insert(key.to_string(), who.to_owned());
    true
}

#[parallel_run(candidate = pay_v2, idempotency_key = format!("pay-{order}"), writes = separate, mode = inline, name = "cutover::pay")]
fn pay(order: u32) -> u32 {
    pay_once("legacy");
    order
}

fn pay_v2(order: u32) -> u32 {
    pay_once("v2");
    order
}

#[test]
fn an_idempotency_key_makes_the_second_write_a_no_op() {
    for order in 0..20 {
        assert_eq!(pay(order), order);
    }
    // Unshadowed calls carry the key too.
    live::set_enabled("cutover::pay", false).unwrap();
    assert_eq!(pay(99), 99);
    live::set_enabled("cutover::pay", true).unwrap();
    let p = PAYMENTS.lock().unwrap().clone();
    assert_eq!(p.len(), 21, "one write per call");
    assert!(p.values().all(|w| w == "legacy"), "{p:?}");
    assert_eq!(p.get("pay-99").map(String::as_str), Some("legacy"));
    assert_eq!(settled("cutover::pay").counts.get(Outcome::Match), 20);
}

// ---------------------------------------------------------------- ramp

static SERVED_LOG: Mutex<Vec<(u64, &str, bool)>> = Mutex::new(Vec::new());

#[parallel_run(candidate = price_v2, sample_by = customer, name = "cutover::price")]
fn price(customer: u64) -> u64 {
    SERVED_LOG
        .lock()
        .unwrap()
        .push((customer, "legacy", context::in_shadow()));
    customer % 7
}

fn price_v2(customer: u64) -> u64 {
    SERVED_LOG
        .lock()
        .unwrap()
        .push((customer, "v2", context::in_shadow()));
    customer % 7
}

/// Who served each customer: the side that ran outside shadow context.
fn servers() -> BTreeMap<u64, &'static str> {
    let log = SERVED_LOG.lock().unwrap();
    let mut out = BTreeMap::new();
    for (c, who, shadow) in log.iter() {
        if !shadow {
            assert!(out.insert(*c, *who).is_none(), "one served side per call");
        }
    }
    out
}

#[test]
fn the_ramp_swaps_roles_sticky_by_key_at_0_10_50_and_100_percent() {
    let run = |share: f64| {
        live::set_ramp("cutover::price", share).unwrap();
        SERVED_LOG.lock().unwrap().clear();
        for c in 0..2000u64 {
            assert_eq!(price(c), c % 7);
        }
        assert!(parallel_run::wait_idle(Duration::from_secs(30)));
        servers()
    };
    let at0 = run(0.0);
    assert!(at0.values().all(|w| *w == "legacy"));
    let at10 = run(0.1);
    let at10b = run(0.1);
    assert_eq!(at10, at10b, "sticky: the same customers are served by v2");
    let n10 = at10.values().filter(|w| **w == "v2").count();
    assert!((120..=280).contains(&n10), "~10% of 2000: {n10}");
    for (c, w) in &at10 {
        assert_eq!(
            *w == "v2",
            parallel_run::sticky::is_served("cutover::price", c, 0.1),
            "the published rule decides customer {c}"
        );
    }
    let at50 = run(0.5);
    let n50 = at50.values().filter(|w| **w == "v2").count();
    assert!((850..=1150).contains(&n50), "~50%: {n50}");
    // Raising the ramp only adds customers.
    assert!(at10
        .iter()
        .filter(|(_, w)| **w == "v2")
        .all(|(c, _)| at50[c] == "v2"));
    let at100 = run(1.0);
    assert!(at100.values().all(|w| *w == "v2"));
    // At 100% the legacy code still runs as the shadow (sample = 1 here) and is compared.
    let log = SERVED_LOG.lock().unwrap().clone();
    assert_eq!(
        log.iter().filter(|(_, w, s)| *w == "legacy" && *s).count(),
        2000
    );
    let s = settled("cutover::price");
    assert_eq!(s.ramp_effective, 1.0);
    assert_eq!(s.gate, GateStatus::Open);
    assert_eq!(s.counts.get(Outcome::Mismatch), 0);
    assert!(s.served_by_candidate >= 2000 + n10 as u64 * 2 + n50 as u64);
    // Turning the experiment off sends every call back to the legacy code.
    live::set_enabled("cutover::price", false).unwrap();
    SERVED_LOG.lock().unwrap().clear();
    price(1);
    assert_eq!(servers()[&1], "legacy");
    live::set_enabled("cutover::price", true).unwrap();
    live::set_ramp("cutover::price", 0.0).unwrap();
}

// ---------------------------------------------------------------- a served call's discrepancy

#[parallel_run(candidate = round_v2, mode = inline, name = "cutover::round")]
fn round(x: u32) -> u32 {
    x / 10 * 10
}

fn round_v2(x: u32) -> u32 {
    (x + 5) / 10 * 10
}

#[test]
fn a_served_call_returns_the_candidate_and_still_compares_legacy_first() {
    live::set_ramp("cutover::round", 1.0).unwrap();
    assert_eq!(round(15), 20, "the candidate serves");
    live::set_ramp("cutover::round", 0.0).unwrap();
    assert_eq!(round(15), 10, "back to the legacy code");
    let s = settled("cutover::round");
    assert_eq!(s.counts.get(Outcome::Mismatch), 2);
    let served = &s.discrepancies[0];
    assert!(served.served_by_candidate);
    assert_eq!(served.primary.as_deref(), Some("10"), "primary = legacy");
    assert_eq!(served.candidate.as_deref(), Some("20"));
    assert!(!s.discrepancies[1].served_by_candidate);
}

// ---------------------------------------------------------------- the promotion gate

static TAX_BUG: AtomicBool = AtomicBool::new(true);

#[parallel_run(candidate = tax_v2, mode = inline, min_match_rate = 0.95, min_samples = 40, name = "cutover::tax")]
fn tax(cents: u64) -> u64 {
    cents / 5
}

fn tax_v2(cents: u64) -> u64 {
    if TAX_BUG.load(Ordering::SeqCst) && cents % 4 == 0 {
        cents / 5 + 1
    } else {
        cents / 5
    }
}

fn served_now(n: u64) -> u64 {
    let before =
        parallel_run::snapshot::experiment("cutover::tax").map_or(0, |s| s.served_by_candidate);
    for c in 0..n {
        tax(c);
    }
    parallel_run::snapshot::experiment("cutover::tax")
        .unwrap()
        .served_by_candidate
        - before
}

#[test]
fn the_gate_refuses_a_ramp_until_the_rate_is_met_and_falls_back_when_it_drops() {
    let logs = common::capture();
    TAX_BUG.store(true, Ordering::SeqCst);
    tax(1);
    live::set_ramp("cutover::tax", 0.5).unwrap();
    // 25% mismatches: refused, every call is served by the legacy code.
    assert_eq!(served_now(100), 0);
    let s = parallel_run::snapshot::experiment("cutover::tax").unwrap();
    assert!(
        matches!(s.gate, GateStatus::Refused { samples, rate: Some(r) } if samples >= 40 && r < 0.95),
        "{:?}",
        s.gate
    );
    assert_eq!((s.ramp, s.ramp_effective), (0.5, 0.0));
    let refused = logs
        .events()
        .iter()
        .filter(|e| e.text.contains("cutover::tax to 50% refused"))
        .count();
    assert_eq!(refused, 1, "warned once");

    // The fix deploys: a fresh window, and enough matches open the gate by itself.
    TAX_BUG.store(false, Ordering::SeqCst);
    live::reset_gate_window("cutover::tax");
    let served = served_now(400);
    assert!(
        served > 100,
        "the ramp took effect after 40 samples: {served}"
    );
    let s = parallel_run::snapshot::experiment("cutover::tax").unwrap();
    assert_eq!(s.gate, GateStatus::Open);
    assert_eq!(s.ramp_effective, 0.5);

    // The rate drops while ramping: back to 0%, and it stays there.
    TAX_BUG.store(true, Ordering::SeqCst);
    served_now(400);
    let s = parallel_run::snapshot::experiment("cutover::tax").unwrap();
    assert!(
        matches!(s.gate, GateStatus::FellBack { .. }),
        "{:?}",
        s.gate
    );
    assert_eq!(s.ramp_effective, 0.0);
    TAX_BUG.store(false, Ordering::SeqCst);
    assert_eq!(
        served_now(200),
        0,
        "a fall-back latches until the ramp is set again"
    );
    assert!(logs
        .events()
        .iter()
        .any(|e| e.text.contains("cutover::tax fell back from 50% to 0%")));
    live::set_ramp("cutover::tax", 0.0).unwrap();
}

// ---------------------------------------------------------------- deadline

#[parallel_run(candidate = legacy_report_v2, deadline = "2020-01-31", name = "cutover::overdue")]
fn legacy_report(x: u8) -> u8 {
    x
}

fn legacy_report_v2(x: u8) -> u8 {
    x
}

#[parallel_run(candidate = legacy_report_v2, deadline = "2999-12-31", name = "cutover::on_time")]
fn on_time(x: u8) -> u8 {
    x
}

#[test]
fn a_passed_deadline_is_reported_in_the_snapshot_logs_and_summary() {
    let logs = common::capture();
    legacy_report(1);
    on_time(1);
    let s = settled("cutover::overdue");
    assert_eq!(s.deadline.as_deref(), Some("2020-01-31"));
    assert!(s.overdue);
    let s2 = settled("cutover::on_time");
    assert!(!s2.overdue);
    assert!(logs.events().iter().any(|e| e
        .text
        .contains("cutover::overdue is past its deadline 2020-01-31")));
    assert!(!logs
        .events()
        .iter()
        .any(|e| e.text.contains("cutover::on_time is past its deadline")));
    let line = parallel_run::publish::summary_json(&s);
    assert_eq!(line["overdue"], true);
    assert_eq!(line["deadline"], "2020-01-31");
}

// ---------------------------------------------------------------- several candidates

#[parallel_run(candidate = [score_v2, score_v3], name = "cutover::score")]
fn score(x: i64) -> i64 {
    x * 3
}

fn score_v2(x: i64) -> i64 {
    x * 3
}

fn score_v3(x: i64) -> i64 {
    if x == 7 {
        0
    } else {
        x * 3
    }
}

#[test]
fn several_candidates_are_judged_independently() {
    for x in 0..10 {
        assert_eq!(score(x), x * 3);
    }
    let v2 = settled("cutover::score/score_v2");
    let v3 = settled("cutover::score/score_v3");
    assert_eq!(v2.counts.get(Outcome::Match), 10);
    assert_eq!(v3.counts.get(Outcome::Match), 9);
    assert_eq!(
        v3.counts.get(Outcome::Mismatch),
        1,
        "never hidden by v2's match"
    );
    assert!(v3.discrepancies[0].detail.contains("0"));
    // They never serve: a ramp is ignored (with a warning).
    live::set_ramp("cutover::score/score_v3", 1.0).unwrap();
    assert_eq!(score(7), 21);
    assert_eq!(
        parallel_run::snapshot::experiment("cutover::score/score_v3")
            .unwrap()
            .served_by_candidate,
        0
    );
}

// ---------------------------------------------------------------- a shadow that unwraps a refusal

#[parallel_run(candidate = bump_v2, mode = inline, name = "cutover::bump")]
fn bump(x: u32) -> u32 {
    x + 1
}

fn bump_v2(x: u32) -> u32 {
    // Careless code: the refused write's error is unwrapped, so the shadow panics.
    parallel_run::guard_write("counters.update").unwrap();
    x + 1
}

#[test]
fn a_shadow_that_panics_on_a_refused_write_counts_as_a_refusal() {
    assert_eq!(bump(1), 2);
    let s = settled("cutover::bump");
    assert_eq!(s.counts.get(Outcome::WriteRefused), 1);
    assert_eq!(s.counts.get(Outcome::CandidatePanic), 0);
    assert!(s.discrepancies[0].detail.contains("`counters.update`"));
}
