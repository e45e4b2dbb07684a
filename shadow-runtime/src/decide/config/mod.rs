//! Configuration: the environment variables, the global kill switch and per-experiment settings.
//!
//! The environment is read once: the kill switch at the first call of any experiment, an
//! experiment's own variable at that experiment's first call (and again on
//! [`reload_from_env`](crate::live::reload_from_env)). After that a call reads only atomics; it
//! never touches the environment and never allocates while shadowing is off or sampled out.
//!
//! | variable | values | default |
//! |---|---|---|
//! | `PARALLEL_RUN` | `on`, `off` (also `true`/`false`, `yes`/`no`, `1`/`0`) | `on` |
//! | `PARALLEL_RUN__<EXPERIMENT>` | `on`, `off`, a rate `0.25` or `25%`, or a `key=value` list | the attribute's values |
//! | `PARALLEL_RUN_STRICT` | strict mode for every experiment without its own `strict = ...`: `on`, `off` | off |
//! | `PARALLEL_RUN_WORKERS` | threads of the shadow lane's worker pool for detached sync candidates, 1..=64 | available cores, at most 4 |
//! | `PARALLEL_RUN_LANE_THREADS` | threads of the shadow lane's runtime for detached async candidates, 1..=64 | a quarter of the cores, at least 2, at most 4 |
//! | `PARALLEL_RUN_QUEUE` | the shadow lane's queue: admitted candidates not started yet, 1..=1048576 | 1024 |
//! | `PARALLEL_RUN_LANE_BUDGET` | the shadow lane's CPU budget in cores: `0.5`, `50%`, `2`, or `off` | `1` |
//!
//! The list's keys: `sample` (a rate), `enabled` (on/off), `timeout` (`150ms`, `2s`, `off`),
//! `max_in_flight` (a positive integer), `breaker` (on/off), `breaker_ratio` (`0..=1`),
//! `breaker_min_calls`, `breaker_probes` (positive integers), `breaker_window`,
//! `breaker_cooldown` (durations); for the cutover ([`crate::decide::cutover`]): `ramp` (the share of
//! calls the candidate serves, a rate), `min_match_rate` (a rate), `min_samples` (a positive
//! integer), `gate_window` (a duration), `deadline` (`2026-12-31` or `off`), `gate_source`
//! (`local`, or `prometheus` for the fleet-wide gate: [`prometheus`]).
//! Example: `sample=10%,timeout=150ms,max_in_flight=32` or `ramp=10%,min_match_rate=99.9%`.
//!
//! `<EXPERIMENT>` is the experiment name upper-cased, with `::` written `__` and every other
//! character that is not a letter or digit written `_`: experiment `payments::process` reads
//! `PARALLEL_RUN__PAYMENTS__PROCESS` ([`env_var_name`]).
//!
//! A value that cannot be parsed or is out of range is reported once through `tracing` (target
//! `parallel_run`, naming the variable and the value) and the safe default applies: shadowing off
//! for `PARALLEL_RUN` and the experiment variables, the built-in default for the lane's variables.
//! The warning quotes at most [`QUOTED_CHARS`] characters of the value and says how long it was.
//! An empty value counts as unset. A list that names a key twice (`sample=10%,sample=20%`) is a
//! bad value, not "the last one wins". A rate must be written without a sign (`-0` is refused)
//! and must not be so small that it reads as 0 (`1e-400` is refused: write `0`). A duration must
//! fit in 2^64 - 1 microseconds (about 584,542 years): `18446744073709551615m` and
//! `99999999999999999999s` are both refused as too long.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use crate::decide::breaker::BreakerConfig;

/// The global kill switch variable.
///
/// ```
/// assert_eq!(shadow_runtime::config::ENV_KILL_SWITCH, "PARALLEL_RUN");
/// ```
pub const ENV_KILL_SWITCH: &str = "PARALLEL_RUN";
/// Prefix of the per-experiment variables (followed by the normalised experiment name).
///
/// ```
/// use shadow_runtime::config::{env_var_name, ENV_EXPERIMENT_PREFIX};
/// assert!(env_var_name("a::b").starts_with(ENV_EXPERIMENT_PREFIX));
/// ```
pub const ENV_EXPERIMENT_PREFIX: &str = "PARALLEL_RUN__";
/// Worker-pool size for detached sync candidates.
///
/// ```
/// assert_eq!(shadow_runtime::config::ENV_WORKERS, "PARALLEL_RUN_WORKERS");
/// ```
pub const ENV_WORKERS: &str = "PARALLEL_RUN_WORKERS";
/// Capacity of the shadow lane's queue: admitted detached candidates (sync and async) that have not
/// started yet.
///
/// ```
/// assert_eq!(shadow_runtime::config::ENV_QUEUE, "PARALLEL_RUN_QUEUE");
/// ```
pub const ENV_QUEUE: &str = "PARALLEL_RUN_QUEUE";

/// Where the candidate runs.
///
/// ```
/// assert_eq!(shadow_runtime::Mode::default(), shadow_runtime::Mode::Detached);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Off the caller's path: a spawned tokio task for `async fn` (inline, with a warning once,
    /// when the call is not inside a tokio runtime), a bounded worker pool for sync functions.
    /// Needs owned copies of the arguments and a clone of the primary's result.
    #[default]
    Detached,
    /// In the caller, after the primary (or before it, with [`Order::Random`]). Adds the
    /// candidate's time to the call; works with arguments that cannot be copied.
    Inline,
}

impl Mode {
    /// The attribute spelling: `"detached"` or `"inline"`.
    ///
    /// ```
    /// assert_eq!(shadow_runtime::Mode::Inline.as_str(), "inline");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Detached => "detached",
            Mode::Inline => "inline",
        }
    }
}

/// In inline mode, which side runs first.
///
/// ```
/// assert_eq!(shadow_runtime::Order::default(), shadow_runtime::Order::PrimaryFirst);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// The primary, then the candidate.
    #[default]
    PrimaryFirst,
    /// A coin toss per call, as Scientist does, so that neither side always sees a warm cache.
    Random,
}

// 0: not read yet, 1: on, 2: off.
static KILL_SWITCH: AtomicU8 = AtomicU8::new(0);

/// Whether shadowing is globally on (the `PARALLEL_RUN` kill switch, or its last
/// [`set_global_enabled`](crate::live::set_global_enabled)).
///
/// ```
/// // With `PARALLEL_RUN` unset, shadowing is on.
/// # if std::env::var_os("PARALLEL_RUN").is_none() {
/// assert!(shadow_runtime::global_enabled());
/// # }
/// ```
#[inline]
pub fn global_enabled() -> bool {
    match KILL_SWITCH.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => init_kill_switch(),
    }
}

#[cold]
fn init_kill_switch() -> bool {
    let on = read_kill_switch();
    // A concurrent set_global_enabled wins over the environment.
    let _ = KILL_SWITCH.compare_exchange(
        0,
        if on { 1 } else { 2 },
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    KILL_SWITCH.load(Ordering::Relaxed) == 1
}

/// `PARALLEL_RUN` from the environment (warns about a bad value).
pub(crate) fn read_kill_switch() -> bool {
    match std::env::var_os(ENV_KILL_SWITCH) {
        None => true,
        Some(v) => match v.to_str().map(str::trim) {
            Some("") => true,
            Some(s) => parse_switch(s).unwrap_or_else(|| {
                warn_bad_value(ENV_KILL_SWITCH, s, "expected on or off", OFF);
                false
            }),
            None => {
                warn_bad_value(ENV_KILL_SWITCH, &v.to_string_lossy(), "not UTF-8", OFF);
                false
            }
        },
    }
}

/// The strict-mode switch variable: `on` makes every shadowed mismatch or candidate panic fail
/// the call with a panic (Scientist's `raise_on_mismatches`), `off` never; unset: off, unless an
/// experiment's attribute says `strict = true`. Set it in the environment of a test run
/// (`PARALLEL_RUN_STRICT=on cargo test`) to make every mismatch fail the test.
///
/// ```
/// assert_eq!(shadow_runtime::config::ENV_STRICT, "PARALLEL_RUN_STRICT");
/// ```
pub const ENV_STRICT: &str = "PARALLEL_RUN_STRICT";

// 0: not read yet, 1: on, 2: off, 3: unset (the default applies).
static STRICT: AtomicU8 = AtomicU8::new(0);

/// The global strict-mode switch: `Some(on)` when set by `PARALLEL_RUN_STRICT` or
/// [`set_strict`], `None` for the default.
///
/// ```
/// shadow_runtime::config::set_strict(Some(false));
/// assert_eq!(shadow_runtime::config::global_strict(), Some(false));
/// shadow_runtime::config::set_strict(None);
/// assert_eq!(shadow_runtime::config::global_strict(), None);
/// ```
pub fn global_strict() -> Option<bool> {
    let v = match STRICT.load(Ordering::Relaxed) {
        0 => {
            let read = match std::env::var_os(ENV_STRICT) {
                None => 3,
                Some(v) => match v.to_str().map(str::trim) {
                    Some("") => 3,
                    Some(s) => match parse_switch(s) {
                        Some(true) => 1,
                        Some(false) => 2,
                        None => {
                            warn_bad_value(
                                ENV_STRICT,
                                s,
                                "expected on or off",
                                "the default (not strict)",
                            );
                            3
                        }
                    },
                    None => 3,
                },
            };
            let _ = STRICT.compare_exchange(0, read, Ordering::Relaxed, Ordering::Relaxed);
            STRICT.load(Ordering::Relaxed)
        }
        v => v,
    };
    match v {
        1 => Some(true),
        2 => Some(false),
        _ => None,
    }
}

/// Sets strict mode for every experiment without its own `strict = ...` (`None`: back to the
/// default). Takes effect on the next call.
///
/// ```
/// shadow_runtime::config::set_strict(Some(true));
/// # shadow_runtime::config::set_strict(None);
/// ```
pub fn set_strict(on: Option<bool>) {
    STRICT.store(
        match on {
            Some(true) => 1,
            Some(false) => 2,
            None => 3,
        },
        Ordering::Relaxed,
    );
}

type StrictHook = std::sync::Arc<
    dyn Fn(&crate::record::outcome::Discrepancy) -> Box<dyn std::any::Any + Send> + Send + Sync,
>;
static STRICT_HOOK: std::sync::RwLock<Option<StrictHook>> = std::sync::RwLock::new(None);

/// Chooses what a call fails with in strict mode: `hook` turns the discrepancy (a mismatch, a
/// candidate panic, a refused write) into the panic payload, e.g. the application's own error
/// type, which a test harness can catch and downcast. Without a hook the call panics with the
/// library's message (both sides and the diff). The outcome is recorded and published first.
///
/// ```
/// #[derive(Debug)]
/// struct RewriteDisagrees { experiment: &'static str, diff: String }
///
/// shadow_runtime::config::on_strict_failure(|d| {
///     Box::new(RewriteDisagrees { experiment: d.experiment, diff: d.detail.clone() })
/// });
/// # shadow_runtime::config::clear_strict_failure();
/// ```
pub fn on_strict_failure(
    hook: impl Fn(&crate::record::outcome::Discrepancy) -> Box<dyn std::any::Any + Send>
        + Send
        + Sync
        + 'static,
) {
    *STRICT_HOOK.write().unwrap_or_else(|e| e.into_inner()) = Some(std::sync::Arc::new(hook));
}

/// Removes the hook of [`on_strict_failure`]: strict mode fails with the library's message again.
///
/// ```
/// shadow_runtime::config::clear_strict_failure();
/// ```
pub fn clear_strict_failure() {
    *STRICT_HOOK.write().unwrap_or_else(|e| e.into_inner()) = None;
}

/// The application's strict-mode payload for `d`, if it set a hook (a panicking hook gives none:
/// the library's message is used).
pub(crate) fn strict_failure_payload(
    d: &crate::record::outcome::Discrepancy,
) -> Option<Box<dyn std::any::Any + Send>> {
    let hook = STRICT_HOOK
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()?;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::run::isolation::quietly(|| hook(d))
    }))
    .ok()
}

/// Sets the kill switch (for [`crate::live::set_global_enabled`], which then refreshes every
/// experiment's gate).
pub(crate) fn store_kill_switch(on: bool) {
    KILL_SWITCH.store(if on { 1 } else { 2 }, Ordering::Relaxed);
}

fn parse_switch(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" | "enabled" => Some(true),
        "off" | "false" | "no" | "0" | "disabled" => Some(false),
        _ => None,
    }
}

/// The environment variable that configures experiment `name`.
///
/// ```
/// use shadow_runtime::config::env_var_name;
/// assert_eq!(env_var_name("payments::process"), "PARALLEL_RUN__PAYMENTS__PROCESS");
/// assert_eq!(env_var_name("ledger.balance-v2"), "PARALLEL_RUN__LEDGER_BALANCE_V2");
/// ```
pub fn env_var_name(name: &str) -> String {
    let mut out = String::with_capacity(ENV_EXPERIMENT_PREFIX.len() + name.len() + 4);
    out.push_str(ENV_EXPERIMENT_PREFIX);
    out.push_str(&name.replace("::", "__"));
    let tail = out.split_off(ENV_EXPERIMENT_PREFIX.len());
    out.extend(tail.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    out
}

/// An experiment's settings from its attribute, its environment variable and the live API.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Setting {
    pub enabled: bool,
    pub sample: f64,
    /// `None`: no timeout.
    pub timeout: Option<Duration>,
    pub max_in_flight: u64,
    pub breaker: BreakerConfig,
    /// Strict mode set through the live API, over the attribute and the global switch.
    pub strict: Option<bool>,
    /// Measure each side's thread CPU time (sync functions).
    pub cpu_time: bool,
    /// The share of calls the candidate serves (the ramp), `0.0..=1.0`.
    pub ramp: f64,
    /// The promotion gate's success criteria, if declared.
    pub criteria: Option<crate::decide::cutover::Criteria>,
    /// The deadline, in days since 1970-01-01.
    pub deadline: Option<i64>,
    /// Where the promotion gate takes its numbers from.
    pub gate_source: prometheus::GateSource,
}

/// Default for `max_in_flight`: concurrent candidate executions per experiment.
pub const DEFAULT_MAX_IN_FLIGHT: u64 = 64;

impl Setting {
    /// The attribute's values, before the environment.
    pub(crate) fn defaults(sample: f64, timeout: Option<Duration>, max_in_flight: u64) -> Self {
        Setting {
            enabled: true,
            sample,
            timeout,
            max_in_flight,
            breaker: BreakerConfig::default(),
            strict: None,
            cpu_time: false,
            ramp: 0.0,
            criteria: None,
            deadline: None,
            gate_source: prometheus::GateSource::Local,
        }
    }
}

/// Experiment `name`'s settings from its attribute's `defaults`, its environment variable and
/// the configuration file ([`file`]), in that order of precedence (lowest first).
pub(crate) fn experiment_setting(name: &str, defaults: Setting) -> Setting {
    file::overlay(name, env_setting(name, defaults))
}

/// Experiment `name`'s variable over the attribute's `defaults`, without the file.
fn env_setting(name: &str, defaults: Setting) -> Setting {
    let var = env_var_name(name);
    match std::env::var_os(&var) {
        None => defaults,
        Some(v) => match v.to_str() {
            Some(s) if s.trim().is_empty() => defaults,
            Some(s) => parse_setting(s, defaults).unwrap_or_else(|why| {
                warn_bad_value(&var, s, &why, OFF);
                Setting {
                    enabled: false,
                    ..defaults
                }
            }),
            None => {
                warn_bad_value(&var, &v.to_string_lossy(), "not UTF-8", OFF);
                Setting {
                    enabled: false,
                    ..defaults
                }
            }
        },
    }
}

/// Parses `on`, `off`, `0.25`, `25%` or a `key=value` list over `defaults`. A key given twice
/// is an error.
pub(crate) fn parse_setting(s: &str, defaults: Setting) -> Result<Setting, String> {
    let s = s.trim();
    if let Some(on) = parse_switch(s).filter(|_| s != "1" && s != "0") {
        return Ok(Setting {
            enabled: on,
            ..defaults
        });
    }
    if !s.contains('=') {
        let sample = parse_rate(s)?;
        return Ok(Setting { sample, ..defaults });
    }
    let mut out = defaults;
    let mut seen: Vec<&str> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("`{}` is not key=value", clip(part)))?;
        let (k, v) = (k.trim(), v.trim());
        if seen.contains(&k) {
            return Err(format!("`{}` is given twice: give each key once", clip(k)));
        }
        seen.push(k);
        let positive = |what: &str| -> Result<u64, String> {
            match v.parse::<u64>() {
                Ok(n) if n > 0 => Ok(n),
                Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => Err(format!(
                    "{what}: `{}` is too large (at most {})",
                    clip(v),
                    u64::MAX
                )),
                _ => Err(format!("{what}: `{}` is not a positive integer", clip(v))),
            }
        };
        match k {
            "sample" => out.sample = parse_rate(v)?,
            "enabled" => out.enabled = parse_switch(v).ok_or_else(|| format!("enabled: `{}` is not on or off", clip(v)))?,
            "timeout" => {
                out.timeout = match v {
                    "off" | "none" => None,
                    _ => Some(parse_duration(v).map_err(|e| format!("timeout: {e}"))?),
                }
            }
            "max_in_flight" => out.max_in_flight = positive("max_in_flight")?,
            "cpu_time" => {
                out.cpu_time = parse_switch(v).ok_or_else(|| format!("cpu_time: `{}` is not on or off", clip(v)))?
            }
            "breaker" => out.breaker.enabled = parse_switch(v).ok_or_else(|| format!("breaker: `{}` is not on or off", clip(v)))?,
            "breaker_ratio" => {
                out.breaker.failure_ratio = parse_rate(v).map_err(|e| format!("breaker_ratio: {e}"))?
            }
            "breaker_min_calls" => out.breaker.min_calls = positive("breaker_min_calls")?.min(u64::from(u32::MAX)) as u32,
            "breaker_probes" => out.breaker.probes = positive("breaker_probes")?.min(u64::from(u32::MAX)) as u32,
            "breaker_window" => out.breaker.window = parse_duration(v).map_err(|e| format!("breaker_window: {e}"))?,
            "breaker_cooldown" => {
                out.breaker.cooldown = parse_duration(v).map_err(|e| format!("breaker_cooldown: {e}"))?
            }
            "ramp" => out.ramp = parse_rate(v).map_err(|e| format!("ramp: {e}"))?,
            "strict" => {
                out.strict = Some(parse_switch(v).ok_or_else(|| format!("strict: `{}` is not on or off", clip(v)))?)
            }
            "min_match_rate" => {
                criteria(&mut out).min_match_rate = parse_rate(v).map_err(|e| format!("min_match_rate: {e}"))?
            }
            "min_samples" => criteria(&mut out).min_samples = positive("min_samples")?,
            "gate_window" => {
                criteria(&mut out).window = parse_duration(v).map_err(|e| format!("gate_window: {e}"))?
            }
            "gate_source" => {
                out.gate_source = prometheus::parse_gate_source(v).map_err(|e| format!("gate_source: {e}"))?
            }
            "deadline" => {
                out.deadline = match v {
                    "off" | "none" => None,
                    _ => Some(crate::decide::cutover::parse_date(v).map_err(|e| format!("deadline: {e}"))?),
                }
            }
            other => {
                return Err(format!(
                    "unknown key `{}` (expected sample, enabled, timeout, max_in_flight, cpu_time, breaker, \
                     breaker_ratio, breaker_min_calls, breaker_window, breaker_cooldown, breaker_probes, ramp, \
                     min_match_rate, min_samples, gate_window, gate_source, deadline, strict)",
                    clip(other)
                ))
            }
        }
    }
    Ok(out)
}

/// The setting's gate criteria, created with the defaults (99.9% over 1000 samples, 1 hour) when
/// the environment names one of them first.
fn criteria(s: &mut Setting) -> &mut crate::decide::cutover::Criteria {
    s.criteria.get_or_insert(crate::decide::cutover::Criteria {
        min_match_rate: 0.999,
        min_samples: 1000,
        window: crate::decide::cutover::DEFAULT_WINDOW,
    })
}

/// A positive duration: an integer with a unit, `us`, `ms`, `s` or `m` (`150ms`, `2s`), of at
/// most 2^64 - 1 microseconds (about 584,542 years; the runtime keeps a timeout in
/// microseconds): a longer one is an error, however it is written. The attribute's `timeout`
/// is parsed by the same rules at compile time.
///
/// ```
/// use shadow_runtime::config::parse_duration;
/// use std::time::Duration;
/// assert_eq!(parse_duration("150ms"), Ok(Duration::from_millis(150)));
/// assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
/// assert!(parse_duration("soon").is_err());
/// assert!(parse_duration("0ms").is_err());
/// assert!(parse_duration("18446744073709551615m").unwrap_err().contains("too long"));
/// assert!(parse_duration("99999999999999999999s").unwrap_err().contains("too long"));
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let too_long = || {
        format!(
            "`{}` is too long: a duration is at most {}us (about 584,542 years)",
            clip(s),
            u64::MAX
        )
    };
    let n: u64 = match num.parse() {
        Ok(n) => n,
        // All digits, but more than a u64 holds: too long whatever the unit.
        Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => return Err(too_long()),
        Err(_) => {
            return Err(format!(
                "`{}` is not a duration such as 150ms or 2s",
                clip(s)
            ))
        }
    };
    let per_unit: u64 = match unit.trim() {
        "us" | "µs" => 1,
        "ms" => 1_000,
        "s" => 1_000_000,
        "m" | "min" => 60_000_000,
        _ => return Err(format!("`{}` has no unit: use us, ms, s or m", clip(s))),
    };
    let micros = n.checked_mul(per_unit).ok_or_else(too_long)?;
    if micros == 0 {
        return Err(format!("`{s}` is zero"));
    }
    Ok(Duration::from_micros(micros))
}

/// A sampling rate: a number in `0..=1`, or a percentage `0%..=100%`, written without a sign
/// (`-0` is refused) and not so small that it reads as 0 (`1e-400` is refused).
pub(crate) fn parse_rate(s: &str) -> Result<f64, String> {
    let (num, scale) = match s.strip_suffix('%') {
        Some(p) => (p.trim(), 100.0),
        None => (s, 1.0),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("`{}` is not on, off or a sampling rate", clip(s)))?;
    if num.starts_with('-') && v == 0.0 {
        return Err(format!(
            "sampling rate `{}` has a minus sign: a rate is 0..=1 (write 0, not -0)",
            clip(s)
        ));
    }
    let v = v / scale;
    // A mantissa with a non-zero digit that still reads as 0 underflowed.
    let mantissa = num.split(['e', 'E']).next().unwrap_or("");
    if v == 0.0 && mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        return Err(format!(
            "sampling rate `{}` is too small to tell from 0 (write 0 to mean 0)",
            clip(s)
        ));
    }
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("sampling rate `{}` is outside 0..=1", clip(s)))
    }
}

/// A positive integer within `range`, for the pool settings; `None` (after a warning) when bad.
pub(crate) fn env_usize(var: &str, range: std::ops::RangeInclusive<usize>) -> Option<usize> {
    let v = std::env::var_os(var)?;
    let s = v.to_string_lossy();
    if s.trim().is_empty() {
        return None;
    }
    match s.trim().parse::<usize>() {
        Ok(n) if range.contains(&n) => Some(n),
        _ => {
            warn_bad_value(
                var,
                &s,
                &format!("expected an integer in {}..={}", range.start(), range.end()),
                "the built-in default",
            );
            None
        }
    }
}

/// What a bad on/off or rate value falls back to.
const OFF: &str = "the safe default: shadowing off";

/// Characters of a bad value quoted in its warning; a longer value is cut, with its length.
///
/// ```
/// assert_eq!(shadow_runtime::config::QUOTED_CHARS, 100);
/// ```
pub const QUOTED_CHARS: usize = 100;

/// At most [`QUOTED_CHARS`] characters of `s`, with `…` when cut.
fn clip(s: &str) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(QUOTED_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]).into(),
        None => s.into(),
    }
}

/// The warning for a bad value: the value quoted (cut at [`QUOTED_CHARS`] characters, with its
/// length), why it is bad, and what applies instead.
fn bad_value_message(var: &str, value: &str, why: &str, fallback: &str) -> String {
    let chars = value.chars().count();
    let quoted = match value.char_indices().nth(QUOTED_CHARS) {
        Some((i, _)) => format!("{:?}… ({chars} characters in all)", &value[..i]),
        None => format!("{value:?}"),
    };
    format!("ignoring bad value of {var}={quoted} ({why}); using {fallback}")
}

pub(crate) fn warn_bad_value(var: &str, value: &str, why: &str, fallback: &str) {
    tracing::warn!(
        target: "parallel_run",
        variable = var,
        value = %clip(value),
        "{}",
        bad_value_message(var, value, why, fallback)
    );
}

/// A rejected live setting.
///
/// ```
/// let e = shadow_runtime::live::set_max_in_flight("x", 0).unwrap_err();
/// assert!(e.to_string().contains("max_in_flight"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    pub(crate) fn new(msg: impl Into<String>) -> Self {
        ConfigError(msg.into())
    }
}

pub mod file;
mod pending;
pub mod prometheus;
pub(crate) use pending::{forget, forget_all, keep_change, pending_for};

#[cfg(test)]
mod tests;
