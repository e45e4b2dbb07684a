//! Live changes kept for functions that have not run yet: a change names an experiment, and
//! functions of that name that run later start with it.

use super::Setting;

pub(crate) type Change = Box<dyn Fn(&mut Setting) + Send + Sync>;

/// Changes, by experiment name: the latest per setting, applied at the first call of functions
/// that have not run yet.
static PENDING: std::sync::Mutex<Option<std::collections::HashMap<String, Changes>>> =
    std::sync::Mutex::new(None);

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

/// Records `field`'s latest change of experiment `name`, to apply at the first call of
/// functions that have not run yet.
pub(crate) fn keep_change(name: &str, field: &'static str, f: Change) {
    let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    let changes = pending
        .get_or_insert_with(std::collections::HashMap::new)
        .entry(name.to_owned())
        .or_default();
    changes.retain(|(k, _)| *k != field);
    changes.push((field, f));
}

/// Drops every kept change ([`reload_from_env`](crate::live::reload_from_env) replaces them).
pub(crate) fn forget_all() {
    PENDING.lock().unwrap_or_else(|e| e.into_inner()).take();
}

/// Drops the kept changes of these settings of `name` (for [`crate::testing`]).
pub(crate) fn forget(name: &str, fields: &[&str]) {
    let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(changes) = pending.as_mut().and_then(|p| p.get_mut(name)) {
        changes.retain(|(k, _)| !fields.contains(k));
    }
}
