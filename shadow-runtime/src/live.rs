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

use std::time::Duration;

use crate::decide::breaker::BreakerConfig;
use crate::decide::config::{self, Setting};
use crate::experiment::registry;

pub use crate::decide::config::ConfigError;

fn change(name: &str, field: &'static str, f: impl Fn(&mut Setting) + Send + Sync + 'static) {
    // Kept first: a reload of the configuration file that runs meanwhile reads it.
    let f: std::sync::Arc<dyn Fn(&mut Setting) + Send + Sync> = std::sync::Arc::new(f);
    let kept = std::sync::Arc::clone(&f);
    config::keep_change(name, field, Box::new(move |s| kept(s)));
    for exp in registry().into_iter().filter(|e| e.name() == name) {
        exp.update(field == "ramp", |s| f(s));
    }
}

/// Sets experiment `name`'s sampling rate (`0.0..=1.0`).
///
/// ```
/// shadow_runtime::live::set_sample_rate("docs::live_rate", 0.5).unwrap();
/// ```
pub fn set_sample_rate(name: &str, rate: f64) -> Result<(), ConfigError> {
    if !(0.0..=1.0).contains(&rate) {
        return Err(ConfigError::new(format!(
            "sample rate {rate} is outside 0..=1"
        )));
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
        return Err(ConfigError::new(
            "a timeout must be positive (use None for no timeout)",
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
        return Err(ConfigError::new(
            "max_in_flight must be at least 1 (use set_enabled to turn shadowing off)",
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
        return Err(ConfigError::new(
            "breaker: failure_ratio must be in 0..=1 and window positive",
        ));
    }
    change(name, "breaker", move |s| s.breaker = breaker);
    Ok(())
}

/// Sets the share of experiment `name`'s calls that the candidate serves (`0.0..=1.0`): the ramp
/// of the cutover ([`crate::decide::cutover`]). On served calls the candidate's result is returned and the
/// legacy code runs as the shadow. Subject to the experiment's promotion gate; setting it again
/// retries a gate that fell back.
///
/// ```
/// shadow_runtime::live::set_ramp("docs::live_ramp", 0.1).unwrap();
/// assert!(shadow_runtime::live::set_ramp("docs::live_ramp", 2.0).is_err());
/// ```
pub fn set_ramp(name: &str, share: f64) -> Result<(), ConfigError> {
    if !(0.0..=1.0).contains(&share) {
        return Err(ConfigError::new(format!("ramp {share} is outside 0..=1")));
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
pub fn set_gate(
    name: &str,
    criteria: Option<crate::decide::cutover::Criteria>,
) -> Result<(), ConfigError> {
    if let Some(c) = criteria {
        if !(0.0..=1.0).contains(&c.min_match_rate) || c.window.is_zero() {
            return Err(ConfigError::new(
                "gate: min_match_rate must be in 0..=1 and window positive",
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
/// ([`crate::decide::cutover::parse_date`]).
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
    config::forget_all();
    set_global_enabled(config::read_kill_switch());
    for exp in registry() {
        let s = crate::decide::config::experiment_setting(exp.name(), exp.defaults());
        exp.update(true, |cur| *cur = s);
    }
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
    config::store_kill_switch(on);
    // Each experiment's gate folds the switch in, so that a call reads one word.
    crate::experiment::refresh_all_gates();
}
