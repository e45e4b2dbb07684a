//! Changing an experiment's settings while the service runs. Every change takes effect on the
//! next call; the call path reads only atomics, never a lock.
//!
//! A change names the experiment; it applies to every registered function with that name, and
//! to functions that have not run yet (kept until their first call). [`reload_from_env`] re-reads
//! the environment and replaces every change made here.
//!
//! ```
//! use std::time::Duration;
//! use shadow_runtime::live;
//!
//! live::set_sample_rate("payments::process", 0.1).unwrap();
//! live::set_timeout("payments::process", Some(Duration::from_millis(150))).unwrap();
//! live::set_max_in_flight("payments::process", 32).unwrap();
//! live::set_enabled("payments::process", false).unwrap();
//! assert!(live::set_sample_rate("payments::process", 1.5).is_err());
//! ```

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::breaker::BreakerConfig;
use crate::config::Setting;
use crate::experiment::registry;

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

type Change = Box<dyn Fn(&mut Setting) + Send + Sync>;

/// Changes, by experiment name: the latest per setting, applied at the first call of functions
/// that have not run yet.
static PENDING: Mutex<Option<HashMap<String, Changes>>> = Mutex::new(None);

/// One experiment's changes: `(setting name, change)`.
type Changes = Vec<(&'static str, Change)>;

/// Applies the changes made before the first call of `name` over `s`.
pub(crate) fn pending_for(name: &str, mut s: Setting) -> Option<Setting> {
    let pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    let changes = pending.as_ref()?.get(name)?;
    for (_, c) in changes {
        c(&mut s);
    }
    Some(s)
}

fn change(name: &str, field: &'static str, f: impl Fn(&mut Setting) + Send + Sync + 'static) {
    let f: Change = Box::new(f);
    for exp in registry().into_iter().filter(|e| e.name() == name) {
        exp.update(|s| f(s));
    }
    let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    let changes = pending
        .get_or_insert_with(HashMap::new)
        .entry(name.to_owned())
        .or_default();
    changes.retain(|(k, _)| *k != field);
    changes.push((field, f));
}

/// Drops the kept changes of these settings of `name` (for [`crate::testing`]).
pub(crate) fn forget(name: &str, fields: &[&str]) {
    let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(changes) = pending.as_mut().and_then(|p| p.get_mut(name)) {
        changes.retain(|(k, _)| !fields.contains(k));
    }
}

/// Sets experiment `name`'s sampling rate (`0.0..=1.0`).
///
/// ```
/// shadow_runtime::live::set_sample_rate("docs::live_rate", 0.5).unwrap();
/// ```
pub fn set_sample_rate(name: &str, rate: f64) -> Result<(), ConfigError> {
    if !(0.0..=1.0).contains(&rate) {
        return Err(ConfigError(format!("sample rate {rate} is outside 0..=1")));
    }
    change(name, "sample", move |s| s.sample = rate);
    Ok(())
}

/// Turns experiment `name` on or off (the global kill switch is separate).
///
/// ```
/// shadow_runtime::live::set_enabled("docs::live_off", false).unwrap();
/// ```
pub fn set_enabled(name: &str, on: bool) -> Result<(), ConfigError> {
    change(name, "enabled", move |s| s.enabled = on);
    Ok(())
}

/// Sets experiment `name`'s candidate timeout (`None`: no timeout).
///
/// ```
/// shadow_runtime::live::set_timeout("docs::live_timeout", Some(std::time::Duration::from_millis(50))).unwrap();
/// ```
pub fn set_timeout(name: &str, timeout: Option<Duration>) -> Result<(), ConfigError> {
    if timeout.is_some_and(|d| d.is_zero()) {
        return Err(ConfigError(
            "a timeout must be positive (use None for no timeout)".into(),
        ));
    }
    change(name, "timeout", move |s| s.timeout = timeout);
    Ok(())
}

/// Sets how many candidate executions of experiment `name` may be in flight at once (`>= 1`).
///
/// ```
/// shadow_runtime::live::set_max_in_flight("docs::live_cap", 4).unwrap();
/// ```
pub fn set_max_in_flight(name: &str, n: u64) -> Result<(), ConfigError> {
    if n == 0 {
        return Err(ConfigError(
            "max_in_flight must be at least 1 (use set_enabled to turn shadowing off)".into(),
        ));
    }
    change(name, "max_in_flight", move |s| s.max_in_flight = n);
    Ok(())
}

/// Forces strict mode on or off for experiment `name` (`None`: back to its attribute and the
/// global switch).
///
/// ```
/// shadow_runtime::live::set_strict("docs::live_strict", Some(true)).unwrap();
/// ```
pub fn set_strict(name: &str, strict: Option<bool>) -> Result<(), ConfigError> {
    change(name, "strict", move |s| s.strict = strict);
    Ok(())
}

/// Sets experiment `name`'s circuit-breaker thresholds.
///
/// ```
/// let mut b = shadow_runtime::BreakerConfig::default();
/// b.cooldown = std::time::Duration::from_secs(5);
/// shadow_runtime::live::set_breaker("docs::live_breaker", b).unwrap();
/// ```
pub fn set_breaker(name: &str, breaker: BreakerConfig) -> Result<(), ConfigError> {
    if !(0.0..=1.0).contains(&breaker.failure_ratio) || breaker.window.is_zero() {
        return Err(ConfigError(
            "breaker: failure_ratio must be in 0..=1 and window positive".into(),
        ));
    }
    change(name, "breaker", move |s| s.breaker = breaker);
    Ok(())
}

/// Re-reads the environment: the kill switch and every registered experiment's variable, over
/// its attribute's defaults. Replaces every change made through this module. Bad values are
/// warned about (again) and fall back to off.
///
/// ```
/// shadow_runtime::live::reload_from_env();
/// ```
pub fn reload_from_env() {
    PENDING.lock().unwrap_or_else(|e| e.into_inner()).take();
    crate::config::set_global_enabled(crate::config::read_kill_switch());
    for exp in registry() {
        let s = crate::config::experiment_setting(exp.name(), exp.defaults());
        exp.update(|cur| *cur = s);
    }
}
