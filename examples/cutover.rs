//! The cutover, end to end, over two real SQLite databases: a settlement service whose rewrite
//! writes to the database too.
//!
//! `cargo run --example cutover`
//!
//! - Production writes go to `target/parallel-run/cutover-production.db`; shadow writes (the
//!   rewrite while it is compared, the legacy code once the rewrite serves) go to
//!   `cutover-shadow.db` (`writes = separate`, one `context::pick` in the data layer, and a
//!   `guard_write` as the last line of defence).
//! - Phases: shadow only (the rewrite has a rounding bug), a ramp to 10% that the promotion gate
//!   refuses (a rounding bug keeps the match rate under 99.9%), the fix deployed, then 10% → 50% → 100% accepted. Each phase prints who served the
//!   calls, the match rate and the production writes that came from a shadow run (must be 0).
//! - At the end the production database must equal what the legacy code alone would have written;
//!   the example exits non-zero otherwise. The shadow database has one row per call whose shadow
//!   side ran: a call that was shed (sampled, but its shadow side not started because
//!   `max_in_flight` shadow runs were already going or the worker pool's queue was full) wrote
//!   nothing there, and each phase prints its sheds.
//! - The discrepancy log gets a summary line after each phase, so `parallel-run report --html`
//!   draws the match rate over the phases.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use parallel_run::context::{self, WriteMode};
use parallel_run::{live, parallel_run, Outcome};
use rusqlite::{params, Connection};

#[path = "support/logging.rs"]
mod logging;

const EXPERIMENT: &str = "cutover::settle";

#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub id: u64,
    pub customer: u64,
    pub cents: u64,
    /// Tax in basis points.
    pub tax_bps: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    pub order_id: u64,
    pub total_cents: u64,
}

// ---------------------------------------------------------------- the data layer

struct Stores {
    production: Mutex<Connection>,
    shadow: Mutex<Connection>,
}

static STORES: OnceLock<Stores> = OnceLock::new();
/// Production inserts attempted from a shadow run (refused by the guard, or leaked): must stay 0.
static SHADOW_TO_PRODUCTION: AtomicU64 = AtomicU64::new(0);

fn open(path: &PathBuf) -> Connection {
    let _ = std::fs::remove_file(path);
    let c = Connection::open(path).expect("open database");
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;
         CREATE TABLE settlements (order_id INTEGER PRIMARY KEY, total_cents INTEGER NOT NULL);",
    )
    .expect("schema");
    c
}

/// The one function both implementations write through.
fn record_settlement(s: &Settlement) -> Result<(), String> {
    let stores = STORES.get().expect("stores opened");
    let db = match context::write_mode() {
        WriteMode::Production => {
            if let Err(e) = context::guard_write("settlements.insert") {
                SHADOW_TO_PRODUCTION.fetch_add(1, Ordering::Relaxed);
                return Err(e.to_string());
            }
            &stores.production
        }
        // The separate-store pattern: shadow runs write to their own database.
        WriteMode::Separate => &stores.shadow,
        WriteMode::DryRun | WriteMode::Refuse => return Ok(()),
    };
    db.lock()
        .unwrap()
        .execute(
            "INSERT INTO settlements (order_id, total_cents) VALUES (?1, ?2)",
            params![s.order_id as i64, s.total_cents as i64],
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------- the two implementations

/// The legacy settlement: tax rounded half up, in integer arithmetic.
#[parallel_run(
    candidate = settle_v2,
    name = "cutover::settle",
    sample_by = order.customer,
    writes = separate,
    min_match_rate = 0.999,
    min_samples = 500,
    deadline = "2027-03-31",
    max_in_flight = 256,
)]
fn settle(order: Order) -> Result<Settlement, String> {
    let tax = (order.cents * order.tax_bps + 5_000) / 10_000;
    let s = Settlement {
        order_id: order.id,
        total_cents: order.cents + tax,
    };
    record_settlement(&s)?;
    Ok(s)
}

/// Release 1 of the rewrite rounds the tax half to even (banker's rounding) where the legacy code
/// rounds half up: a difference on about one order in a hundred. Release 2 fixes it.
static V2_ROUNDING_BUG: AtomicBool = AtomicBool::new(true);

fn settle_v2(order: Order) -> Result<Settlement, String> {
    let exact = order.cents as f64 * order.tax_bps as f64 / 10_000.0;
    let tax = if V2_ROUNDING_BUG.load(Ordering::Relaxed) {
        exact.round_ties_even()
    } else {
        (exact + 0.5).floor()
    } as u64;
    let s = Settlement {
        order_id: order.id,
        total_cents: order.cents + tax,
    };
    record_settlement(&s)?;
    Ok(s)
}

/// What the legacy code alone would have written for an order.
fn legacy_total(o: &Order) -> u64 {
    o.cents + (o.cents * o.tax_bps + 5_000) / 10_000
}

fn order(id: u64) -> Order {
    // A deterministic spread of amounts, customers and tax rates.
    let h = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16;
    Order {
        id,
        customer: (h >> 8) % 997,
        cents: 100 + (h >> 20) % 50_000,
        tax_bps: [0, 500, 700, 1_900, 2_000][(h % 5) as usize],
    }
}

// ---------------------------------------------------------------- the phases

#[derive(Clone, Copy, Default)]
struct Totals {
    calls: u64,
    served_by_candidate: u64,
    good: u64,
    compared: u64,
    shed: u64,
}

fn totals() -> Totals {
    let Some(s) = parallel_run::snapshot::experiment(EXPERIMENT) else {
        return Totals::default();
    };
    let good = s.counts.get(Outcome::Match) + s.counts.get(Outcome::Acceptable);
    Totals {
        calls: s.calls(),
        shed: s.counts.get(Outcome::Shed),
        served_by_candidate: s.served_by_candidate,
        good,
        compared: good
            + s.counts.get(Outcome::Mismatch)
            + s.counts.get(Outcome::CandidatePanic)
            + s.counts.get(Outcome::WriteRefused),
    }
}

fn phase(
    title: &str,
    next_id: &mut u64,
    n: u64,
    log: Option<&parallel_run::publish::JsonLinesLog>,
) {
    let before = totals();
    for _ in 0..n {
        let o = order(*next_id);
        *next_id += 1;
        let got = settle(o.clone()).expect("settled");
        assert_eq!(got.total_cents, legacy_total(&o), "order {}", o.id);
    }
    assert!(parallel_run::wait_idle(Duration::from_secs(60)));
    if let Some(log) = log {
        log.flush(); // a summary line per phase: the report's match rate over time
    }
    let after = totals();
    let s = parallel_run::snapshot::experiment(EXPERIMENT).expect("ran");
    let compared = after.compared - before.compared;
    let rate = if compared > 0 {
        format!(
            "{:.2}%",
            (after.good - before.good) as f64 * 100.0 / compared as f64
        )
    } else {
        "n/a".into()
    };
    let served_v2 = after.served_by_candidate - before.served_by_candidate;
    let gate = match s.gate {
        parallel_run::cutover::GateStatus::Refused { rate, samples } => format!(
            "refused (match rate {} over {samples} samples < 99.9%)",
            rate.map_or("n/a".into(), |r| format!("{:.2}%", r * 100.0))
        ),
        g => g.as_str().to_owned(),
    };
    println!("{title}");
    println!(
        "  calls {:>5}   served by legacy {:>5}   by rewrite {:>5}   match rate {rate:>8}   ramp {:>3.0}% of {:>3.0}% requested   gate: {gate}",
        after.calls - before.calls,
        n - served_v2,
        served_v2,
        s.ramp_effective * 100.0,
        s.ramp * 100.0,
    );
    println!(
        "  shed {} (shadow side not started: not compared, no shadow row)   production writes from shadow: {}",
        after.shed - before.shed,
        SHADOW_TO_PRODUCTION.load(Ordering::Relaxed) + s.counts.get(Outcome::WriteRefused)
    );
}

pub fn main() {
    logging::install();
    let dir = PathBuf::from("target/parallel-run");
    std::fs::create_dir_all(&dir).expect("output directory");
    let prod_path = dir.join("cutover-production.db");
    let shadow_path = dir.join("cutover-shadow.db");
    // The discrepancy log, with summary lines (ramp, gate, deadline) for `parallel-run report`;
    // `create` starts it afresh. It refuses a path it does not own: then the example runs without.
    let log_path = dir.join("cutover.jsonl");
    let log = match parallel_run::publish::JsonLinesLog::create(&log_path) {
        Ok(log) => {
            parallel_run::publish::add_publisher(log.clone());
            Some(log)
        }
        Err(e) => {
            eprintln!("cutover: running without a discrepancy log: {e}");
            None
        }
    };
    let log = log.as_ref();
    let _ = STORES.set(Stores {
        production: Mutex::new(open(&prod_path)),
        shadow: Mutex::new(open(&shadow_path)),
    });

    let mut id = 0;
    phase(
        "1. shadow only: release 1 of the rewrite beside the legacy code",
        &mut id,
        2_000,
        log,
    );
    live::set_ramp(EXPERIMENT, 0.10).expect("ramp");
    phase(
        "2. ramp to 10% requested: the promotion gate refuses it",
        &mut id,
        1_000,
        log,
    );
    V2_ROUNDING_BUG.store(false, Ordering::Relaxed);
    live::reset_gate_window(EXPERIMENT); // release 2 deployed: the gate judges it afresh
    phase(
        "3. release 2 deployed (rounding fixed): the gate measures it, then opens at 10%",
        &mut id,
        1_000,
        log,
    );
    phase("4. ramp 10%", &mut id, 1_000, log);
    live::set_ramp(EXPERIMENT, 0.50).expect("ramp");
    phase("5. ramp 50%", &mut id, 1_000, log);
    live::set_ramp(EXPERIMENT, 1.0).expect("ramp");
    phase(
        "6. ramp 100%: the rewrite serves every call, the legacy code is still compared",
        &mut id,
        1_000,
        log,
    );

    // Verification: production holds exactly what the legacy code alone would have written.
    let stores = STORES.get().expect("stores");
    let prod = stores.production.lock().unwrap();
    let mut stmt = prod
        .prepare("SELECT order_id, total_cents FROM settlements ORDER BY order_id")
        .expect("query");
    let rows: Vec<(u64, u64)> = stmt
        .query_map([], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
        })
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("read");
    let expected: Vec<(u64, u64)> = (0..id).map(|i| (i, legacy_total(&order(i)))).collect();
    let shadow_rows: i64 = stores
        .shadow
        .lock()
        .unwrap()
        .query_row("SELECT COUNT(*) FROM settlements", [], |r| r.get(0))
        .expect("count");
    let s = parallel_run::snapshot::experiment(EXPERIMENT).expect("ran");
    println!();
    println!(
        "production database: {} rows ({}), shadow database: {shadow_rows} rows ({})",
        rows.len(),
        prod_path.display(),
        shadow_path.display()
    );
    // One shadow row per call whose shadow side ran: a shed call's never did.
    let shed = s.counts.get(Outcome::Shed);
    let ran = s.shadowed - shed;
    let missing = s.calls().saturating_sub(shadow_rows as u64);
    if missing == 0 {
        println!(
            "shadow database: a row for each of the {} calls (none was shed)",
            s.calls()
        );
    } else {
        println!(
            "shadow database: {missing} of {} calls have no row: {shed} were shed (sampled, but their shadow side never ran: \
             max_in_flight shadow runs already going or the worker pool's queue full), so they wrote nothing{}",
            s.calls(),
            if shadow_rows as u64 == ran {
                "; every call whose shadow side ran wrote its row"
            } else {
                ""
            }
        );
    }
    println!(
        "deadline {} (overdue: {}), accounting lost: {}",
        s.deadline.as_deref().unwrap_or("none"),
        s.overdue,
        s.lost()
    );
    let leaked = SHADOW_TO_PRODUCTION.load(Ordering::Relaxed) + s.counts.get(Outcome::WriteRefused);
    if rows != expected || leaked != 0 || s.lost() != 0 {
        let first_bad = rows
            .iter()
            .zip(&expected)
            .find(|(a, b)| a != b)
            .map(|(a, b)| format!("{a:?} instead of {b:?}"));
        eprintln!(
            "FAIL: production differs from the legacy-only run ({} rows vs {} expected, first difference: {first_bad:?}), {leaked} production writes from shadow",
            rows.len(),
            expected.len()
        );
        std::process::exit(1);
    }
    println!("PASS: production equals what the legacy code alone would have written");
    if log.is_some() {
        println!(
            "discrepancy log: {} (cargo run -p shadow-cli -- report --html target/parallel-run/cutover.html {})",
            log_path.display(),
            log_path.display()
        );
    }
}
