//! Configuration: the environment variables, the global kill switch and per-experiment settings.
//!
//! The environment is read once: the kill switch at the first call of any experiment, an
//! experiment's own variable at that experiment's first call. After that a call reads only atomics;
//! it never touches the environment and never allocates while shadowing is off or sampled out.
//!
//! | variable | values | default |
//! |---|---|---|
//! | `PARALLEL_RUN` | `on`, `off` (also `true`/`false`, `yes`/`no`, `1`/`0`) | `on` |
//! | `PARALLEL_RUN__<EXPERIMENT>` | `on`, `off`, a rate `0.25` or `25%`, or `sample=0.25` | the attribute's `sample` |
//! | `PARALLEL_RUN_WORKERS` | threads of the worker pool for detached sync candidates, 1..=64 | available cores, at most 4 |
//! | `PARALLEL_RUN_QUEUE` | capacity of that pool's queue, 1..=1048576 | 1024 |
//!
//! `<EXPERIMENT>` is the experiment name upper-cased, with `::` written `__` and every other
//! character that is not a letter or digit written `_`: experiment `payments::process` reads
//! `PARALLEL_RUN__PAYMENTS__PROCESS` ([`env_var_name`]).
//!
//! A value that cannot be parsed or is out of range is reported once through `tracing` (target
//! `parallel_run`, naming the variable and the value) and the safe default applies: shadowing off
//! for `PARALLEL_RUN` and the experiment variables, the built-in size for the pool variables.
//! An empty value counts as unset.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

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
/// Worker-pool queue capacity for detached sync candidates.
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
/// [`set_global_enabled`]).
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
    static READ: OnceLock<bool> = OnceLock::new();
    let on = *READ.get_or_init(|| match std::env::var_os(ENV_KILL_SWITCH) {
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
    });
    // A concurrent set_global_enabled wins over the environment.
    let _ = KILL_SWITCH.compare_exchange(
        0,
        if on { 1 } else { 2 },
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    KILL_SWITCH.load(Ordering::Relaxed) == 1
}

/// Turns every experiment on or off while the process runs (the kill switch), overriding
/// `PARALLEL_RUN`. Takes effect on the next call.
///
/// ```
/// shadow_runtime::set_global_enabled(false);
/// assert!(!shadow_runtime::global_enabled());
/// shadow_runtime::set_global_enabled(true);
/// assert!(shadow_runtime::global_enabled());
/// ```
pub fn set_global_enabled(on: bool) {
    KILL_SWITCH.store(if on { 1 } else { 2 }, Ordering::Relaxed);
    // Each experiment's gate folds the switch in, so that a call reads one word.
    crate::experiment::refresh_all_gates();
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

/// An experiment's effective settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Setting {
    pub enabled: bool,
    pub sample: f64,
}

/// Reads experiment `name`'s variable; `default_sample` is the attribute's rate.
pub(crate) fn experiment_setting(name: &str, default_sample: f64) -> Setting {
    let var = env_var_name(name);
    let default = Setting {
        enabled: true,
        sample: default_sample,
    };
    match std::env::var_os(&var) {
        None => default,
        Some(v) => match v.to_str() {
            Some(s) if s.trim().is_empty() => default,
            Some(s) => parse_setting(s, default_sample).unwrap_or_else(|why| {
                warn_bad_value(&var, s, &why, OFF);
                Setting {
                    enabled: false,
                    sample: default_sample,
                }
            }),
            None => {
                warn_bad_value(&var, &v.to_string_lossy(), "not UTF-8", OFF);
                Setting {
                    enabled: false,
                    sample: default_sample,
                }
            }
        },
    }
}

/// Parses `on`, `off`, `0.25`, `25%` or a `key=value` list (`sample=0.25,enabled=on`).
pub(crate) fn parse_setting(s: &str, default_sample: f64) -> Result<Setting, String> {
    let s = s.trim();
    if let Some(on) = parse_switch(s).filter(|_| s != "1" && s != "0") {
        return Ok(Setting {
            enabled: on,
            sample: default_sample,
        });
    }
    if !s.contains('=') {
        let sample = parse_rate(s)?;
        return Ok(Setting {
            enabled: true,
            sample,
        });
    }
    let mut out = Setting {
        enabled: true,
        sample: default_sample,
    };
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}` is not key=value"))?;
        match k.trim() {
            "sample" => out.sample = parse_rate(v.trim())?,
            "enabled" => {
                out.enabled = parse_switch(v.trim())
                    .ok_or_else(|| format!("enabled: `{v}` is not on or off"))?
            }
            other => return Err(format!("unknown key `{other}` (expected sample, enabled)")),
        }
    }
    Ok(out)
}

/// A sampling rate: a number in `0..=1`, or a percentage `0%..=100%`.
pub(crate) fn parse_rate(s: &str) -> Result<f64, String> {
    let (num, scale) = match s.strip_suffix('%') {
        Some(p) => (p.trim(), 100.0),
        None => (s, 1.0),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not on, off or a sampling rate"))?;
    let v = v / scale;
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("sampling rate `{s}` is outside 0..=1"))
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

fn warn_bad_value(var: &str, value: &str, why: &str, fallback: &str) {
    tracing::warn!(
        target: "parallel_run",
        variable = var,
        value = value,
        "ignoring bad value of {var}={value:?} ({why}); using {fallback}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse() {
        let on = |s| Setting {
            enabled: true,
            sample: s,
        };
        assert_eq!(parse_setting("on", 0.3), Ok(on(0.3)));
        assert_eq!(
            parse_setting(" OFF ", 0.3),
            Ok(Setting {
                enabled: false,
                sample: 0.3
            })
        );
        assert_eq!(parse_setting("0.25", 1.0), Ok(on(0.25)));
        assert_eq!(parse_setting("1", 0.1), Ok(on(1.0)));
        assert_eq!(parse_setting("0", 0.1), Ok(on(0.0)));
        assert_eq!(parse_setting("10%", 1.0), Ok(on(0.1)));
        assert_eq!(parse_setting("sample=0.5", 1.0), Ok(on(0.5)));
        assert_eq!(
            parse_setting("sample=0.5, enabled=off", 1.0),
            Ok(Setting {
                enabled: false,
                sample: 0.5
            })
        );
    }

    #[test]
    fn bad_settings_say_why() {
        assert!(parse_setting("1.5", 1.0)
            .unwrap_err()
            .contains("outside 0..=1"));
        assert!(parse_setting("-0.1", 1.0).unwrap_err().contains("outside"));
        assert!(parse_setting("NaN", 1.0).is_err());
        assert!(parse_setting("maybe", 1.0).unwrap_err().contains("`maybe`"));
        assert!(parse_setting("rate=0.1", 1.0)
            .unwrap_err()
            .contains("unknown key `rate`"));
        assert!(parse_setting("sample", 1.0).is_err());
        assert!(parse_setting("120%", 1.0).is_err());
    }

    #[test]
    fn env_names_are_normalised() {
        assert_eq!(env_var_name("a::b::c"), "PARALLEL_RUN__A__B__C");
        assert_eq!(env_var_name("x y"), "PARALLEL_RUN__X_Y");
    }
}
