//! The word a call reads to decide (see `Experiment::decide`), and its publication. The word is
//! computed from state kept under other locks (the settings, the breaker, the cutover); two
//! threads that change that state at once (the timer thread opening a breaker, a caller seeing it
//! hung) each publish a word. Computing and storing under one lock makes the last publication the
//! one computed last, so the word always ends up agreeing with the state.

use crate::sync::{AtomicU64, Mutex, Ordering::Relaxed};

pub(crate) struct GateWord {
    word: AtomicU64,
    publishing: Mutex<()>,
}

impl GateWord {
    #[cfg(not(loom))]
    pub(crate) const fn new(initial: u64) -> GateWord {
        GateWord {
            word: AtomicU64::new(initial),
            publishing: Mutex::new(()),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new(initial: u64) -> GateWord {
        GateWord {
            word: AtomicU64::new(initial),
            publishing: Mutex::new(()),
        }
    }

    /// The word (one relaxed load: the call path).
    #[inline(always)]
    pub(crate) fn load(&self) -> u64 {
        self.word.load(Relaxed)
    }

    /// Computes the word from the current state and publishes it, both under the publication
    /// lock.
    pub(crate) fn publish(&self, compute: impl FnOnce() -> u64) {
        let _g = self.publishing.lock().unwrap_or_else(|e| e.into_inner());
        self.word.store(compute(), Relaxed);
    }
}
