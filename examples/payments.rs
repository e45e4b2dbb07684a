//! A payments team rewrote its settlement code. The legacy code stays the source of truth; the
//! rewrite runs beside it on every order, off the request path, and every discrepancy is recorded.
//!
//! ```text
//! cargo run --example payments                                      # shadow every payment
//! PARALLEL_RUN=off cargo run --example payments                     # the kill switch
//! PARALLEL_RUN__PAYMENTS__PROCESS=10% cargo run --example payments  # sample one payment in ten
//! PARALLEL_RUN__PAYMENTS__PROCESS=ramp=100% cargo run --example payments  # the rewrite serves
//! PAYMENTS_LOG=/tmp/p.jsonl cargo run --example payments            # the discrepancy log's path
//! ```
//!
//! A bad value (`PARALLEL_RUN=maybe`, `PARALLEL_RUN__PAYMENTS__PROCESS=150%`) is warned about on
//! standard error and turns shadowing off; the configuration printed is the one in force, read
//! from the snapshot.
//!
//! The model: money in integer minor units (cents; JPY has none), an FX conversion into the
//! merchant's settlement currency rounded to that currency's minor units, a percentage fee, and a
//! timestamp. The rewrite has one subtle bug: it rounds ties half-to-even (banker's rounding, the
//! default of the decimal library it switched to) where the legacy code rounds them half-up. Only
//! amounts that land exactly on half a minor unit differ, a couple of orders in a hundred.
//!
//! The example exits non-zero if any caller got something other than what the side that served
//! it computes alone (the legacy code, or the rewrite for the calls a ramp gives it), if the
//! accounting loses a call, or if the candidates do not finish.

use std::fmt;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parallel_run::{parallel_run, Comparator, ExperimentSnapshot, Outcome, Verdict};

#[path = "support/logging.rs"]
mod logging;

/// The match rate a rewrite must reach before the team switches over.
const TARGET: f64 = 0.999;
/// Orders generated (deterministically: the same orders on every run).
const ORDERS: usize = 4_000;
/// Concurrent request handlers, as in a service.
const HANDLERS: usize = 32;
/// How far apart the two `processed_at` timestamps may be: the detached rewrite runs after the
/// legacy code has returned, so its clock reads a little later.
const CLOCK_TOLERANCE_MS: u64 = 250;

// ------------------------------------------------------------------------------------ the domain

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Currency {
    Usd,
    Eur,
    Gbp,
    Jpy,
}

impl Currency {
    /// Digits of the minor unit: cents for most, none for the yen.
    fn decimals(self) -> u32 {
        match self {
            Currency::Jpy => 0,
            _ => 2,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Currency::Usd => "USD",
            Currency::Eur => "EUR",
            Currency::Gbp => "GBP",
            Currency::Jpy => "JPY",
        }
    }
}

/// An amount in integer minor units of its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Money {
    pub(crate) minor: i64,
    pub(crate) currency: Currency,
}

impl Money {
    fn new(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.currency.code();
        match self.currency.decimals() {
            0 => write!(f, "{code} {}", self.minor),
            d => {
                let unit = 10i64.pow(d);
                let (major, minor) = (self.minor / unit, (self.minor % unit).abs());
                write!(f, "{code} {major}.{minor:0w$}", w = d as usize)
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Order {
    id: u64,
    /// What the customer pays, in the shop's currency.
    price: Money,
    /// The merchant's settlement currency.
    settle_in: Currency,
    /// The merchant's fee in basis points (290 = 2.90%).
    fee_bps: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Payment {
    order_id: u64,
    charged: Money,
    /// `charged` converted into the settlement currency.
    gross: Money,
    fee_bps: u32,
    fee: Money,
    /// `gross - fee`: what the merchant receives.
    net: Money,
    processed_at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PayError {
    InvalidAmount(Money),
    UnsupportedPair { from: Currency, to: Currency },
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Stands in for the FX rates service: an async call with about a millisecond of latency.
mod rates {
    use super::{Currency, Currency::*, PayError};

    /// Rates in millionths: 1 unit of `from` buys `rate / 1e6` units of `to`.
    const TABLE: &[(Currency, Currency, u64)] = &[
        (Usd, Eur, 920_000),
        (Usd, Jpy, 151_420_000),
        (Eur, Jpy, 162_350_000),
        (Eur, Usd, 1_085_000),
        (Gbp, Eur, 1_172_500),
        (Gbp, Usd, 1_265_800),
    ];

    pub async fn lookup(from: Currency, to: Currency) -> Result<u64, PayError> {
        if from == to {
            return Ok(1_000_000);
        }
        let rate = TABLE
            .iter()
            .find(|(f, t, _)| (*f, *t) == (from, to))
            .map(|(_, _, r)| *r)
            .ok_or(PayError::UnsupportedPair { from, to })?;
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        Ok(rate)
    }
}

// ------------------------------------------------------------------ the two implementations

/// The legacy code: years in production, the source of truth.
mod legacy {
    use super::*;

    pub async fn process(order: &Order) -> Result<Payment, PayError> {
        if order.price.minor <= 0 {
            return Err(PayError::InvalidAmount(order.price));
        }
        let rate = rates::lookup(order.price.currency, order.settle_in).await?;
        let gross = convert(order.price, order.settle_in, rate);
        let fee = fee(gross, order.fee_bps);
        Ok(Payment {
            order_id: order.id,
            charged: order.price,
            gross,
            fee_bps: order.fee_bps,
            fee,
            net: Money::new(gross.minor - fee.minor, gross.currency),
            processed_at_ms: now_ms(),
        })
    }

    pub fn fee(amount: Money, bps: u32) -> Money {
        let n = amount.minor as u128 * bps as u128;
        Money::new(div_half_up(n, 10_000), amount.currency)
    }

    fn convert(amount: Money, to: Currency, rate_ppm: u64) -> Money {
        let n = amount.minor as u128 * rate_ppm as u128 * 10u128.pow(to.decimals());
        let d = 10u128.pow(amount.currency.decimals()) * 1_000_000;
        Money::new(div_half_up(n, d), to)
    }

    /// `n / d` rounded to the nearest integer, ties up.
    fn div_half_up(n: u128, d: u128) -> i64 {
        ((n + d / 2) / d) as i64
    }
}

/// The rewrite: cleaner, faster, and almost right.
mod rewrite {
    use super::*;

    pub async fn process(order: &Order) -> Result<Payment, PayError> {
        let price = order.price;
        if price.minor <= 0 {
            return Err(PayError::InvalidAmount(price));
        }
        let rate = rates::lookup(price.currency, order.settle_in).await?;
        let gross = Money::new(
            rescale(
                price.minor,
                rate,
                price.currency.decimals(),
                order.settle_in.decimals(),
            ),
            order.settle_in,
        );
        let fee = fee(gross, order.fee_bps);
        Ok(Payment {
            order_id: order.id,
            charged: price,
            gross,
            fee_bps: order.fee_bps,
            fee,
            net: Money::new(gross.minor - fee.minor, gross.currency),
            processed_at_ms: now_ms(),
        })
    }

    pub fn fee(amount: Money, bps: u32) -> Money {
        Money::new(
            round(amount.minor as u128 * bps as u128, 10_000),
            amount.currency,
        )
    }

    /// `amount` minor units of a currency with `from` decimals, times `rate_ppm / 1e6`, in minor
    /// units of a currency with `to` decimals.
    fn rescale(amount: i64, rate_ppm: u64, from: u32, to: u32) -> i64 {
        let n = amount as u128 * rate_ppm as u128 * 10u128.pow(to);
        round(n, 1_000_000 * 10u128.pow(from))
    }

    /// `n / d` rounded to the nearest integer.
    ///
    /// The bug this demo catches: a tie goes to the even neighbour (banker's rounding, the default
    /// of the decimal library the rewrite moved to). The legacy code rounds ties up.
    fn round(n: u128, d: u128) -> i64 {
        let (q, r) = (n / d, n % d);
        let q = match (2 * r).cmp(&d) {
            std::cmp::Ordering::Less => q,
            std::cmp::Ordering::Greater => q + 1,
            std::cmp::Ordering::Equal => q + (q & 1),
        };
        q as i64
    }
}

// ------------------------------------------------------------------- the shadowed functions

/// Settles one order. The legacy body serves the caller; the rewrite runs on the shadow lane's
/// tokio runtime after it (detached mode), gets its own copy of `order`, and is judged by
/// `PaymentComparator`.
#[parallel_run(
    candidate = process_payment_v2,
    compare = PaymentComparator,
    name = "payments::process"
)]
pub(crate) async fn process_payment(order: &Order) -> Result<Payment, PayError> {
    legacy::process(order).await
}

async fn process_payment_v2(order: &Order) -> Result<Payment, PayError> {
    rewrite::process(order).await
}

/// The fee shown at checkout, before the customer pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FeeQuote {
    amount_minor: i64,
    fee_bps: u32,
    fee_minor: i64,
    currency: Currency,
}

fn fee_quote(amount: Money, fee_bps: u32, fee: Money) -> FeeQuote {
    FeeQuote {
        amount_minor: amount.minor,
        fee_bps,
        fee_minor: fee.minor,
        currency: amount.currency,
    }
}

/// A sync function: its detached candidate runs on the library's bounded worker pool. One call in
/// four is shadowed. No `compare`: the default comparator (`PartialEq`) judges it, and the runtime
/// renders a line diff of the two results' `Debug` output for each mismatch.
#[parallel_run(candidate = quote_fee_v2, sample = 0.25)]
pub(crate) fn quote_fee(amount: Money, fee_bps: u32) -> FeeQuote {
    fee_quote(amount, fee_bps, legacy::fee(amount, fee_bps))
}

fn quote_fee_v2(amount: Money, fee_bps: u32) -> FeeQuote {
    fee_quote(amount, fee_bps, rewrite::fee(amount, fee_bps))
}

/// Amounts must be identical; `processed_at` may be a little apart (the rewrite runs later).
struct PaymentComparator;

impl Comparator<Result<Payment, PayError>> for PaymentComparator {
    fn compare(
        &self,
        legacy: &Result<Payment, PayError>,
        rewrite: &Result<Payment, PayError>,
    ) -> Verdict {
        let (Ok(a), Ok(b)) = (legacy, rewrite) else {
            // An error on either side: the same error is a match. Otherwise return no diff of our
            // own and let the runtime render a line diff of both results' `Debug` output.
            return if legacy == rewrite {
                Verdict::Match
            } else {
                Verdict::Mismatch { diff: None }
            };
        };
        let mut diff = String::new();
        for (field, x, y) in [
            ("charged", a.charged, b.charged),
            ("gross", a.gross, b.gross),
            ("fee", a.fee, b.fee),
            ("net", a.net, b.net),
        ] {
            if x != y {
                diff.push_str(&format!("\n  {field:<5}  legacy {x}  rewrite {y}"));
            }
        }
        if a.order_id != b.order_id || a.fee_bps != b.fee_bps || !diff.is_empty() {
            return Verdict::mismatch(format!(
                "order {:05}: {} settled in {}, fee {}.{:02}%{diff}",
                a.order_id,
                a.charged,
                a.gross.currency.code(),
                a.fee_bps / 100,
                a.fee_bps % 100,
            ));
        }
        match a.processed_at_ms.abs_diff(b.processed_at_ms) {
            0 => Verdict::Match,
            d if d <= CLOCK_TOLERANCE_MS => {
                Verdict::acceptable(format!("processed_at {d} ms apart"))
            }
            d => Verdict::mismatch(format!(
                "order {:05}: processed_at {d} ms apart (tolerance {CLOCK_TOLERANCE_MS} ms)",
                a.order_id
            )),
        }
    }
}

// ----------------------------------------------------------------------------------- traffic

/// xorshift64: a fixed seed gives the same orders on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub(crate) fn generate(n: usize) -> Vec<Order> {
    use Currency::*;
    // (shop currency, settlement currency); the last pair has no rate.
    const PAIRS: &[(Currency, Currency)] = &[
        (Usd, Eur),
        (Usd, Jpy),
        (Eur, Jpy),
        (Eur, Usd),
        (Gbp, Eur),
        (Gbp, Usd),
        (Eur, Eur),
        (Usd, Usd),
        (Jpy, Jpy),
        (Jpy, Gbp),
    ];
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    (0..n as u64)
        .map(|id| {
            // One order in a hundred has the unsupported pair, one in 200 a zero amount.
            let (from, to) = match rng.below(100) {
                0..=98 => PAIRS[rng.below(9) as usize],
                _ => PAIRS[9],
            };
            let units = 1 + rng.below(300) as i64;
            let zero = rng.below(200) == 0;
            let minor = match (from, rng.below(4)) {
                _ if zero => 0,
                (Jpy, _) => units * 100 + rng.below(100) as i64,
                (_, 0) => units * 100 + 99, // 12.99
                (_, 1) => units * 100 + 50, // 12.50
                (_, 2) => units * 100,      // 12.00
                _ => 1 + rng.below(50_000) as i64,
            };
            Order {
                id,
                price: Money::new(minor, from),
                settle_in: to,
                fee_bps: [290, 240, 140][rng.below(3) as usize],
            }
        })
        .collect()
}

/// What the handlers saw.
#[derive(Default)]
struct Checked {
    /// Orders whose caller got what neither side computes alone.
    diverged: usize,
    /// Calls whose caller got the rewrite's result where it differs from the legacy one: each
    /// must be a call the rewrite served (a ramp), so at most the snapshot's
    /// `served_by_candidate`.
    rewrite_payments: u64,
    rewrite_quotes: u64,
}

/// The same payment, but for the timestamp (read at different moments).
fn same_payment(a: &Result<Payment, PayError>, b: &Result<Payment, PayError>) -> bool {
    match (a, b) {
        (Ok(a), Ok(b)) => {
            a == &Payment {
                processed_at_ms: a.processed_at_ms,
                ..b.clone()
            }
        }
        (a, b) => a == b,
    }
}

/// One request handler: serves its share of the orders and checks that each caller got exactly
/// what one side computes alone: the legacy code, or the rewrite (during a ramp it serves some
/// calls; which ones is the runtime's choice, so a result is checked against both sides and the
/// rewrite's are counted).
async fn handler(orders: Arc<Vec<Order>>, first: usize) -> Checked {
    let mut c = Checked::default();
    for order in orders.iter().skip(first).step_by(HANDLERS) {
        let quoted = quote_fee(order.price, order.fee_bps);
        let served = process_payment(order).await;

        let mut ok = true;
        if !same_payment(&served, &legacy::process(order).await) {
            if same_payment(&served, &rewrite::process(order).await) {
                c.rewrite_payments += 1;
            } else {
                ok = false;
            }
        }
        let (price, bps) = (order.price, order.fee_bps);
        if quoted != fee_quote(price, bps, legacy::fee(price, bps)) {
            if quoted == fee_quote(price, bps, rewrite::fee(price, bps)) {
                c.rewrite_quotes += 1;
            } else {
                ok = false;
            }
        }
        if !ok {
            eprintln!(
                "order {}: the caller got what neither side computes",
                order.id
            );
            c.diverged += 1;
        }
    }
    c
}

// ------------------------------------------------------------------------------------ report

/// `0.25` as `25%`, `0.999` as `99.9%`.
fn percent(fraction: f64) -> String {
    format!("{:.3}", fraction * 100.0)
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_owned()
        + "%"
}

fn report(snap: Option<ExperimentSnapshot>, name: &str, what: &str) -> bool {
    let Some(s) = snap else {
        println!("{name}: never called");
        return false;
    };
    let c = |o| s.counts.get(o);
    let other = c(Outcome::CandidatePanic)
        + c(Outcome::ComparatorPanic)
        + c(Outcome::PrimaryPanic)
        + c(Outcome::Cancelled);
    println!(
        "\n{name}  ({what}, env {})",
        parallel_run::config::env_var_name(name)
    );
    // The configuration in force, from the snapshot: after the attribute, the environment and
    // any live change (a bad environment value turns the experiment off, with a warning).
    println!(
        "  in force: {}, sample {}, timeout {}, max_in_flight {}, ramp {} ({} requested)",
        match (parallel_run::global_enabled(), s.enabled) {
            (false, _) => "shadowing OFF (the kill switch)",
            (true, true) => "shadowing on",
            (true, false) => "shadowing OFF (the experiment's own setting)",
        },
        percent(s.sample_rate),
        s.timeout
            .map_or_else(|| "none".to_owned(), |t| format!("{t:?}")),
        s.max_in_flight,
        percent(s.ramp_effective),
        percent(s.ramp),
    );
    println!(
        "  calls: {}  shadowed: {}  disabled: {}  sampled out: {}  shed: {}  lost: {}",
        s.calls(),
        s.shadowed,
        c(Outcome::Disabled),
        c(Outcome::SampledOut),
        c(Outcome::Shed),
        s.lost()
    );
    if c(Outcome::Shed) > 0 {
        println!(
            "  shed: sampled, but the candidate was not started ({} candidates already running, or \
             the worker pool's queue full): not compared, the caller unaffected",
            s.max_in_flight
        );
    }
    println!(
        "  matches: {}  acceptable: {}  mismatches: {}  other: {other}  (panics, cancelled)",
        c(Outcome::Match),
        c(Outcome::Acceptable),
        c(Outcome::Mismatch),
    );
    if s.served_by_candidate > 0 {
        println!(
            "  served by the rewrite: {} calls (the ramp)",
            s.served_by_candidate
        );
    }
    match s.match_rate() {
        None if !parallel_run::global_enabled() => {
            println!("  verdict: nothing compared: the kill switch PARALLEL_RUN is off")
        }
        None => println!("  verdict: nothing compared: this experiment is off or sampled out"),
        Some(rate) => {
            let compared = c(Outcome::Match)
                + c(Outcome::Acceptable)
                + c(Outcome::Mismatch)
                + c(Outcome::CandidatePanic);
            let bad = c(Outcome::Mismatch) + c(Outcome::CandidatePanic);
            println!(
                "  match rate: {:.2}%  (target {})",
                rate * 100.0,
                percent(TARGET)
            );
            if rate >= TARGET {
                println!("  verdict: READY: {compared} compared calls at or above the target");
            } else {
                println!(
                    "  verdict: NOT READY: {bad} of {compared} compared calls differ; keep serving the legacy result"
                );
            }
        }
    }

    // The runtime keeps the first few discrepancies (and logs every one through `tracing`,
    // target `parallel_run`). Sorted so that the output is the same from run to run.
    let mut mismatches: Vec<&str> = s
        .discrepancies
        .iter()
        .filter(|d| d.outcome == Outcome::Mismatch)
        .map(|d| d.detail.as_str())
        .collect();
    let retained = mismatches.len();
    mismatches.sort_unstable();
    let mut distinct: Vec<(&str, usize)> = Vec::new();
    for d in mismatches {
        match distinct.last_mut() {
            Some((last, n)) if *last == d => *n += 1,
            _ => distinct.push((d, 1)),
        }
    }
    if !distinct.is_empty() {
        println!(
            "  first mismatches ({} of {retained} retained):",
            distinct.len().min(3)
        );
        for (detail, n) in distinct.iter().take(3) {
            for line in detail.lines() {
                println!("    {line}");
            }
            if *n > 1 {
                println!("    (the same diff {n} times)");
            }
        }
    }
    s.lost() == 0 && s.in_flight == 0
}

/// `pub(crate)`: `tests/examples.rs` runs it in a child process.
pub(crate) fn main() -> ExitCode {
    logging::install();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("tokio runtime");
    let orders = Arc::new(generate(ORDERS));

    // Every mismatch also goes to a JSON-lines discrepancy log (one object per line), written by
    // a background thread; `PAYMENTS_LOG` overrides the path. The log writes only files it owns:
    // a path it cannot use (a device, a pipe, a missing directory, someone else's file) is an
    // error, printed, and the demo runs without a log. Only the default directory is created.
    let log_path = match std::env::var_os("PAYMENTS_LOG") {
        Some(p) => std::path::PathBuf::from(p),
        None => {
            let dir = std::path::Path::new("target/parallel-run");
            let _ = std::fs::create_dir_all(dir);
            dir.join("payments.jsonl")
        }
    };
    // `create`: one run per file (an existing log is emptied; anything else is refused).
    let log = parallel_run::publish::JsonLinesLog::create(&log_path);
    match &log {
        Ok(log) => parallel_run::publish::add_publisher(log.clone()),
        Err(e) => eprintln!("payments: running without a discrepancy log: {e}"),
    }

    let checked = rt.block_on(async {
        let handlers: Vec<_> = (0..HANDLERS)
            .map(|k| tokio::spawn(handler(orders.clone(), k)))
            .collect();
        let mut all = Checked::default();
        for h in handlers {
            let c = h.await.expect("handler panicked");
            all.diverged += c.diverged;
            all.rewrite_payments += c.rewrite_payments;
            all.rewrite_quotes += c.rewrite_quotes;
        }
        all
    });
    // Detached candidates may still be running: wait for them before reading the counts.
    let idle = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), parallel_run::snapshot::idle())
            .await
            .is_ok()
    });

    println!(
        "parallel run: {ORDERS} orders, legacy settlement serves every caller unless a ramp gives some to the rewrite"
    );
    println!(
        "kill switch PARALLEL_RUN: {}",
        if parallel_run::global_enabled() {
            "on"
        } else {
            "OFF (nothing is shadowed)"
        }
    );
    let process = parallel_run::snapshot::experiment("payments::process");
    // Named after its module path: `payments` here, another when a test includes this file.
    let quote_name = concat!(module_path!(), "::quote_fee");
    let quote = parallel_run::snapshot::experiment(quote_name);
    let served = |s: &Option<ExperimentSnapshot>| s.as_ref().map_or(0, |s| s.served_by_candidate);
    let (process_served, quote_served) = (served(&process), served(&quote));
    let mut ok = report(process, "payments::process", "async fn, detached on tokio");
    ok &= report(quote, quote_name, "sync fn, detached on the worker pool");

    println!();
    match &log {
        Ok(log) => {
            log.flush();
            println!(
                "discrepancy log: {} (one JSON object per mismatch; dropped {})",
                log_path.display(),
                log.dropped()
            );
        }
        Err(_) => println!("discrepancy log: not written (see the error above)"),
    }
    // A caller may get the rewrite's result only for a call the rewrite served.
    let mut side_ok = checked.diverged == 0;
    for (name, got, served) in [
        (
            "payments::process",
            checked.rewrite_payments,
            process_served,
        ),
        (quote_name, checked.rewrite_quotes, quote_served),
    ] {
        if got > served {
            println!(
                "{name}: {got} callers got the rewrite's result, but the rewrite served only {served} calls"
            );
            side_ok = false;
        } else if served > 0 {
            println!(
                "{name}: the rewrite served {served} calls (the ramp); {got} of those callers got a result that differs from the legacy one"
            );
        }
    }
    let by_rewrite = process_served + quote_served > 0;
    println!(
        "callers got {}: {}",
        if by_rewrite {
            "the result of the side that served them"
        } else {
            "the legacy result"
        },
        if side_ok {
            format!("{ORDERS} of {ORDERS}")
        } else if checked.diverged > 0 {
            format!("NO, {} orders differ", checked.diverged)
        } else {
            "NO, more rewrite results than calls it served (above)".to_owned()
        }
    );
    if !idle {
        println!("candidates still running after 30 s");
    }
    if side_ok && idle && ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
