//! The probes of a half-open circuit breaker: the calls it lets through to test the candidate
//! again. Taking one never blocks and never lets through more than were granted, and a
//! withdrawal (the breaker opening or closing) leaves none.

use crate::sync::{AtomicU32, Ordering::SeqCst};

pub(crate) struct Probes(AtomicU32);

impl Probes {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Probes {
        Probes(AtomicU32::new(0))
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Probes {
        Probes(AtomicU32::new(0))
    }

    /// Grants `n` probes (replacing what was left). A swap, not a store: every change of the
    /// count is a read-modify-write, so none can be lost behind another.
    pub(crate) fn grant(&self, n: u32) {
        self.0.swap(n, SeqCst);
    }

    /// Takes a probe, if one is left.
    pub(crate) fn take(&self) -> bool {
        let mut left = self.0.load(SeqCst);
        while left > 0 {
            match self.0.compare_exchange(left, left - 1, SeqCst, SeqCst) {
                Ok(_) => return true,
                Err(now) => left = now,
            }
        }
        false
    }

    /// Probes left.
    pub(crate) fn left(&self) -> u32 {
        self.0.load(SeqCst)
    }
}
