//! The clock both sides of a shadowed call are timed with: the CPU's time-stamp counter
//! through `quanta`, calibrated against the OS clock once per process (about 0.6 ms, at the
//! first experiment's first call), where the CPU has an invariant one; the OS clock elsewhere.
//! A read costs about 11 ns on the CI VM against about 28 ns for `Instant::now()`, and a shadowed
//! call reads it three times.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[inline]
fn clock() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// Calibrates the clock now (the first experiment's first call), not in a shadowed call.
pub(crate) fn warm_up() {
    let _ = clock();
}

/// A point in time on the runtime's clock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stamp(u64);

impl Stamp {
    /// A stamp for a call that measures nothing (never read).
    pub(crate) const UNSET: Stamp = Stamp(0);

    #[inline]
    pub(crate) fn now() -> Stamp {
        Stamp(clock().raw())
    }

    /// The time from `earlier` to `self` (zero if `earlier` is later).
    #[inline]
    pub(crate) fn since(self, earlier: Stamp) -> Duration {
        clock().delta(earlier.0, self.0)
    }

    /// The time since `self`.
    #[inline]
    pub(crate) fn elapsed(self) -> Duration {
        Stamp::now().since(self)
    }

    /// `self` as an `Instant` (for deadlines on the timer thread).
    pub(crate) fn instant(self) -> Instant {
        let now = Instant::now();
        now.checked_sub(self.elapsed()).unwrap_or(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_measure_like_the_os_clock() {
        let (s, i) = (Stamp::now(), Instant::now());
        std::thread::sleep(Duration::from_millis(20));
        let (d, e) = (s.elapsed(), i.elapsed());
        assert!(d >= Duration::from_millis(19), "{d:?}");
        let diff = d.abs_diff(e);
        assert!(diff < Duration::from_millis(2), "{d:?} vs {e:?}");
        assert_eq!(Stamp::now().since(Stamp::now()), Duration::ZERO);
    }
}

/// How long one side took: wall time, and the thread's CPU time where it was measured (sync code
/// of an experiment with `cpu_time` on: an `async` side may hop threads between polls).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Took {
    pub(crate) wall: std::time::Duration,
    pub(crate) cpu: Option<std::time::Duration>,
}
