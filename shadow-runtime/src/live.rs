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

impl ConfigError {
    pub(crate) fn new(msg: impl Into<String>) -> Self {
        ConfigError(msg.into())
    }
}

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
        exp.update(field == "ramp", |s| f(s));
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

/// Sets the share of experiment `name`'s calls that the candidate serves (`0.0..=1.0`): the ramp
/// of the cutover ([`crate::cutover`]). On served calls the candidate's result is returned and the
/// legacy code runs as the shadow. Subject to the experiment's promotion gate; setting it again
/// retries a gate that fell back.
///
/// ```
/// shadow_runtime::live::set_ramp("docs::live_ramp", 0.1).unwrap();
/// assert!(shadow_runtime::live::set_ramp("docs::live_ramp", 2.0).is_err());
/// ```
pub fn set_ramp(name: &str, share: f64) -> Result<(), ConfigError> {
    if !(0.0..=1.0).contains(&share) {
        return Err(ConfigError(format!("ramp {share} is outside 0..=1")));
    }
    change(name, "ramp", move |s| s.ramp = share);
    Ok(())
}

/// Sets (or, with `None`, removes) experiment `name`'s promotion gate: the match rate and sample
/// count a ramp above 0% needs, measured over `window`.
///
/// ```
/// use shadow_runtime::cutover::Criteria;
/// let c = Criteria { min_match_rate: 0.999, min_samples: 10_000, window: std::time::Duration::from_secs(3600) };
/// shadow_runtime::live::set_gate("docs::live_gate", Some(c)).unwrap();
/// ```
pub fn set_gate(name: &str, criteria: Option<crate::cutover::Criteria>) -> Result<(), ConfigError> {
    if let Some(c) = criteria {
        if !(0.0..=1.0).contains(&c.min_match_rate) || c.window.is_zero() {
            return Err(ConfigError(
                "gate: min_match_rate must be in 0..=1 and window positive".into(),
            ));
        }
    }
    change(name, "criteria", move |s| s.criteria = criteria);
    Ok(())
}

/// Forgets experiment `name`'s promotion-gate measurements: call it when a new version of the
/// candidate is deployed in a running process, so that the gate judges that version alone (a
/// restart does the same). Clears a fall-back.
///
/// ```
/// shadow_runtime::live::reset_gate_window("docs::live_reset");
/// ```
pub fn reset_gate_window(name: &str) {
    for exp in registry().into_iter().filter(|e| e.name() == name) {
        exp.reset_gate_window();
    }
}

/// Sets (or removes) experiment `name`'s deadline, in days since 1970-01-01
/// ([`crate::cutover::parse_date`]).
///
/// ```
/// let day = shadow_runtime::cutover::parse_date("2027-03-31").unwrap();
/// shadow_runtime::live::set_deadline("docs::live_deadline", Some(day)).unwrap();
/// ```
pub fn set_deadline(name: &str, days: Option<i64>) -> Result<(), ConfigError> {
    change(name, "deadline", move |s| s.deadline = days);
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
        exp.update(true, |cur| *cur = s);
    }
}
