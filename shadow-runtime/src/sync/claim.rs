//! The handoff between a detached candidate's run and its deadline: whichever comes first takes
//! the call's ticket and resolves it, so it is resolved exactly once; when the deadline takes it,
//! the run is abandoned, and its end is reported exactly once.

use crate::sync::Mutex;

/// A value (a ticket) claimed once, by the run that finishes or by the deadline that expires.
pub(crate) struct Claim<T> {
    /// The value while unclaimed; whether the deadline took it while the run was still going.
    inner: Mutex<(Option<T>, bool)>,
}

impl<T> Claim<T> {
    pub(crate) fn new(value: T) -> Claim<T> {
        Claim {
            inner: Mutex::new((Some(value), false)),
        }
    }

    /// The deadline passed: the value, unless the run has taken it (the run is then abandoned).
    pub(crate) fn expire(&self) -> Option<T> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let v = g.0.take();
        if v.is_some() {
            g.1 = true;
        }
        v
    }

    /// The run ended: the value unless the deadline took it, and whether the run had been
    /// abandoned (reported once).
    pub(crate) fn finish(&self) -> (Option<T>, bool) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let abandoned = std::mem::take(&mut g.1);
        (g.0.take(), abandoned)
    }
}
