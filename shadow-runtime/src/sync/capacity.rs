//! A capped count of held places: taking one never blocks, never lets more than the cap hold one
//! at a time, and a failed attempt leaves nothing behind.

use crate::sync::{
    AtomicU64,
    Ordering::{Relaxed, SeqCst},
};

/// Places held, and the most ever held at once.
pub(crate) struct Capacity {
    held: AtomicU64,
    peak: AtomicU64,
}

impl Capacity {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Capacity {
        Capacity {
            held: AtomicU64::new(0),
            peak: AtomicU64::new(0),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Capacity {
        Capacity {
            held: AtomicU64::new(0),
            peak: AtomicU64::new(0),
        }
    }

    /// Takes a place when fewer than `cap` are held. A load first: under overload (every place
    /// held, the common case then) a refused attempt writes nothing.
    #[inline]
    pub(crate) fn try_take(&self, cap: u64) -> bool {
        if self.held.load(Relaxed) >= cap {
            return false;
        }
        let now = self.held.fetch_add(1, SeqCst) + 1;
        if now > cap {
            self.held.fetch_sub(1, SeqCst);
            return false;
        }
        if now > self.peak.load(Relaxed) {
            self.peak.fetch_max(now, Relaxed);
        }
        true
    }

    /// Gives a place back.
    #[inline]
    pub(crate) fn give_back(&self) {
        self.held.fetch_sub(1, SeqCst);
    }

    /// Places held now (attempts in progress included, for a moment).
    pub(crate) fn held(&self) -> u64 {
        self.held.load(Relaxed)
    }

    /// The most ever held at once.
    pub(crate) fn peak(&self) -> u64 {
        self.peak.load(Relaxed)
    }
}
