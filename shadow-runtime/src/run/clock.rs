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
///
/// Two words of nanoseconds (no CPU time: `u64::MAX`), so that it is passed and copied as two
/// scalars: a `Duration` and an `Option<Duration>` are copied as a block (16-byte loads) that was
/// written field by field, which the store buffer cannot forward (a stall on every shadowed call,
/// seen with `perf annotate`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Took {
    wall_ns: u64,
    cpu_ns: u64,
}

impl Took {
    const NO_CPU: u64 = u64::MAX;

    /// A duration's nanoseconds, saturating one short of `NO_CPU` (at 584 years).
    #[inline]
    fn ns(d: Duration) -> u64 {
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX - 1)
    }

    /// From a wall time and, if measured, a CPU time.
    pub(crate) fn new(wall: Duration, cpu: Option<Duration>) -> Took {
        Took {
            wall_ns: Self::ns(wall),
            cpu_ns: cpu.map_or(Self::NO_CPU, Self::ns),
        }
    }

    /// The wall time from `start` to `end`, and the CPU time if measured.
    #[inline]
    pub(crate) fn between(start: Stamp, end: Stamp, cpu: Option<Duration>) -> Took {
        Took {
            wall_ns: clock().delta_as_nanos(start.0, end.0).min(u64::MAX - 1),
            cpu_ns: cpu.map_or(Self::NO_CPU, Self::ns),
        }
    }

    /// The wall time.
    #[inline]
    pub(crate) fn wall(self) -> Duration {
        Duration::from_nanos(self.wall_ns)
    }

    /// The wall time in whole microseconds.
    #[inline]
    pub(crate) fn wall_us(self) -> u64 {
        self.wall_ns / 1_000
    }

    /// The wall time in nanoseconds.
    #[inline]
    pub(crate) fn wall_ns(self) -> u64 {
        self.wall_ns
    }

    /// The CPU time in nanoseconds, if it was measured.
    #[inline]
    pub(crate) fn cpu_ns(self) -> Option<u64> {
        (self.cpu_ns != Self::NO_CPU).then_some(self.cpu_ns)
    }

    /// Whether the wall time is over `limit`.
    #[inline]
    pub(crate) fn over(self, limit: Duration) -> bool {
        u128::from(self.wall_ns) > limit.as_nanos()
    }

    /// The CPU time, if it was measured.
    #[inline]
    pub(crate) fn cpu(self) -> Option<Duration> {
        self.cpu_ns().map(Duration::from_nanos)
    }
}

#[cfg(test)]
mod took_tests {
    use super::*;

    #[test]
    fn a_took_keeps_its_times_and_says_when_cpu_was_not_measured() {
        let t = Took::new(
            Duration::from_micros(1_500),
            Some(Duration::from_nanos(700)),
        );
        assert_eq!(t.wall(), Duration::from_micros(1_500));
        assert_eq!(t.wall_us(), 1_500);
        assert_eq!(t.wall_ns(), 1_500_000);
        assert_eq!(t.cpu(), Some(Duration::from_nanos(700)));
        assert_eq!(t.cpu_ns(), Some(700));
        assert!(t.over(Duration::from_millis(1)));
        assert!(!t.over(Duration::from_micros(1_500)));
        let none = Took::new(Duration::ZERO, None);
        assert_eq!((none.cpu(), none.cpu_ns()), (None, None));
        // A wall time past u64 nanoseconds saturates, and never reads as "no CPU time".
        let huge = Took::new(Duration::MAX, Some(Duration::MAX));
        assert!(huge.cpu().is_some() && huge.over(Duration::from_secs(1 << 33)));
        let (a, b) = (Stamp::now(), Stamp::now());
        assert_eq!(Took::between(b, a, None).wall(), Duration::ZERO);
    }
}
