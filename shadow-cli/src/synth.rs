//! Synthetic discrepancy logs for benchmarks: realistic lines (structural diffs with paths,
//! `Debug` line diffs, panics, timeouts, old-format lines without `kind`) and periodic summary
//! lines with cumulative counters for two runs. Deterministic: the same size gives the same file.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::Path;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const RUNS: [&str; 2] = ["4711-1795756828000", "4712-1795760000000"];
const SUMMARISED: [&str; 2] = ["payments::process", "pricing::quote"];

/// Writes at least `bytes` bytes of synthetic log to `w` (whole lines), returning the bytes
/// written.
///
/// ```
/// let mut v = Vec::new();
/// let n = shadow_cli::synth::write_log(&mut v, 10_000).unwrap();
/// assert_eq!(n as usize, v.len());
/// let mut s = shadow_cli::Scanner::new();
/// s.read("synth", &v[..], |_| {}).unwrap();
/// assert_eq!(s.malformed_count(), 0);
/// ```
pub fn write_log(w: &mut impl Write, bytes: u64) -> io::Result<u64> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut written = 0u64;
    let mut line = String::with_capacity(4096);
    let mut at_ms = 1_795_756_828_000u64;
    // Discrepancies per (run, summarised experiment), for the summaries' cumulative counters.
    let mut disc = [[0u64; 2]; 2];
    let mut n = 0u64;
    while written < bytes {
        n += 1;
        at_ms += 1 + rng.below(20);
        line.clear();
        let run = rng.below(2) as usize;
        match rng.below(10) {
            0..=5 => {
                payments(&mut line, &mut rng, RUNS[run], at_ms, n);
                disc[run][0] += 1;
            }
            6..=8 => {
                pricing(&mut line, &mut rng, RUNS[run], at_ms, n);
                disc[run][1] += 1;
            }
            _ => ledger(&mut line, &mut rng, at_ms, n),
        }
        if n % 2000 == 0 {
            for (r, run) in RUNS.iter().enumerate() {
                for (e, exp) in SUMMARISED.iter().enumerate() {
                    summary(&mut line, run, exp, at_ms, disc[r][e]);
                }
            }
        }
        w.write_all(line.as_bytes())?;
        written += line.len() as u64;
    }
    Ok(written)
}

/// Writes the log to `path` unless a file of the right size is already there, returning its size.
///
/// ```no_run
/// let n = shadow_cli::synth::ensure_log("target/parallel-run/bench.jsonl", 100_000_000).unwrap();
/// assert!(n >= 100_000_000);
/// ```
pub fn ensure_log(path: impl AsRef<Path>, bytes: u64) -> io::Result<u64> {
    let path = path.as_ref();
    if let Ok(m) = fs::metadata(path) {
        // Lines are at most a few KB, so a file this size was written for this target.
        if m.len() >= bytes && m.len() < bytes + (64 << 10) {
            return Ok(m.len());
        }
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("partial");
    let mut w = BufWriter::with_capacity(1 << 20, fs::File::create(&tmp)?);
    let n = write_log(&mut w, bytes)?;
    w.flush()?;
    drop(w);
    fs::rename(&tmp, path)?;
    Ok(n)
}

fn money(minor: u64) -> String {
    format!("Money {{\\n        currency: USD,\\n        minor: {minor},\\n    }}")
}

fn payment(order: u64, gross: u64, net: u64, at: u64) -> String {
    format!(
        "Payment {{\\n    order: \\\"order-{order}\\\",\\n    gross: {},\\n    net: {},\\n    fee_bps: 140,\\n    processed_at_ms: {at},\\n}}",
        money(gross),
        money(net)
    )
}

fn head(line: &mut String, run: &str, exp: &str, outcome: &str, at_ms: u64, key: &str) {
    line.push_str(&format!(
        "{{\"v\":1,\"kind\":\"discrepancy\",\"run\":\"{run}\",\"experiment\":\"{exp}\",\"outcome\":\"{outcome}\",\"at_ms\":{at_ms},\"key\":{key},"
    ));
}

fn tail(line: &mut String, rng: &mut Rng, primary: &str, candidate: &str, base_us: u64) {
    let p = base_us + rng.below(base_us);
    let c = p + rng.below(base_us / 2 + 1);
    let served = if rng.below(10) == 0 {
        "candidate"
    } else {
        "primary"
    };
    line.push_str(&format!(
        "\"primary\":\"{primary}\",\"candidate\":\"{candidate}\",\"primary_us\":{p},\"candidate_us\":{c},\"context\":{{\"merchant\":\"m-{}\",\"region\":\"eu-west-1\"}},\"served_by\":\"{served}\"}}\n",
        rng.below(500)
    ));
}

fn payments(line: &mut String, rng: &mut Rng, run: &str, at_ms: u64, n: u64) {
    let gross = 10_000 + rng.below(90_000);
    let net = gross - gross * 14 / 1000;
    let key = format!("\"order-{n}\"");
    head(line, run, "payments::process", "mismatch", at_ms, &key);
    let (detail, paths) = match rng.below(10) {
        0..=6 => (
            format!(
                "$.gross.minor: {gross} -> {}\\n$.net.minor: {net} -> {}",
                gross - 1,
                net - 1
            ),
            "\"$.gross.minor\",\"$.net.minor\"".to_owned(),
        ),
        7 | 8 => {
            let i = rng.below(6);
            (
                format!(
                    "$.lines[{i}].amount: {} -> {}\\n$.total.minor: {gross} -> {}",
                    gross / 3,
                    gross / 3 + 1,
                    gross + 1
                ),
                format!("\"$.lines[{i}].amount\",\"$.total.minor\""),
            )
        }
        _ => (
            format!("$.fee.minor: {} -> {}", gross / 70, gross / 70 + 1),
            "\"$.fee.minor\"".to_owned(),
        ),
    };
    line.push_str(&format!("\"detail\":\"{detail}\",\"paths\":[{paths}],"));
    let p = payment(n, gross, net, at_ms);
    let c = payment(n, gross - 1, net - 1, at_ms + 2);
    tail(line, rng, &p, &c, 2000);
}

fn pricing(line: &mut String, rng: &mut Rng, run: &str, at_ms: u64, n: u64) {
    let cents = 100 + rng.below(5000);
    let key = if rng.below(4) == 0 {
        "null".to_owned()
    } else {
        format!("{}", n % 977)
    };
    let quote = |c: u64| {
        format!("Quote {{\\n    cents: {c},\\n    currency: \\\"EUR\\\",\\n    tier: Gold,\\n}}")
    };
    let (outcome, detail) = match rng.below(20) {
        0 => (
            "candidate_panic",
            format!(
                "attempt to subtract with overflow at src/pricing/v2.rs:{}:17",
                80 + rng.below(10)
            ),
        ),
        1 => ("timeout", "candidate exceeded its 150ms deadline".to_owned()),
        2..=4 => (
            "mismatch",
            format!(
                "  Quote {{\\n      cents: {cents},\\n-     currency: \\\"EUR\\\",\\n+     currency: \\\"eur\\\",\\n      tier: Gold,\\n  }}"
            ),
        ),
        _ => (
            "mismatch",
            format!(
                "  Quote {{\\n-     cents: {cents},\\n+     cents: {},\\n      currency: \\\"EUR\\\",\\n  ...",
                cents + 1
            ),
        ),
    };
    head(line, run, "pricing::quote", outcome, at_ms, &key);
    line.push_str(&format!("\"detail\":\"{detail}\","));
    tail(line, rng, &quote(cents), &quote(cents + 1), 300);
}

/// An old-format line (no `v`, `kind`, `run`, `paths`, `key`): a structural diff in the detail.
fn ledger(line: &mut String, rng: &mut Rng, at_ms: u64, n: u64) {
    let i = rng.below(12);
    let b = rng.below(1_000_000);
    line.push_str(&format!(
        "{{\"experiment\":\"ledger::balance\",\"outcome\":\"mismatch\",\"at_ms\":{at_ms},\"detail\":\"$.entries[{i}].balance: {b} -> {}\",\"primary\":\"Balance {{ account: {n}, entries: [..] }}\",\"candidate\":\"Balance {{ account: {n}, entries: [..] }}\",\"primary_us\":{},\"candidate_us\":{},\"context\":{{}}}}\n",
        b + 1,
        900 + rng.below(400),
        700 + rng.below(400),
    ));
}

fn summary(line: &mut String, run: &str, exp: &str, at_ms: u64, disc: u64) {
    let matched = disc * 900;
    let acceptable = disc * 40;
    let timed = matched + acceptable + disc;
    line.push_str(&format!(
        "{{\"v\":1,\"kind\":\"summary\",\"run\":\"{run}\",\"experiment\":\"{exp}\",\"at_ms\":{at_ms},\"outcomes\":{{\"match\":{matched},\"acceptable\":{acceptable},\"mismatch\":{disc},\"sampled_out\":{}}},\"primary_us_sum\":{},\"candidate_us_sum\":{},\"timed\":{timed},\"deadline\":\"2026-12-31\",\"overdue\":false,\"ramp\":0.1,\"gate\":\"refused: match rate below target\",\"noisy_paths\":[\"$.processed_at_ms\"]}}\n",
        disc * 9000,
        timed * 2100,
        timed * 2350,
    ));
}
