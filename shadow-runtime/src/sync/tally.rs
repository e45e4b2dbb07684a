//! Counts with one writer and readers taking turns. The writer (the thread that owns the tally)
//! adds with a plain load and store of its own counter, no read-modify-write; a reader hands on
//! what was added since the last turn (readers take turns, under a lock, and keep their [`Seen`]
//! between turns). Every addition is handed on exactly once, however the two interleave, and a
//! tally read once a tick shares no cache line with a reader between ticks.
//!
//! A [`Mark`] lets a reader skip tallies nobody added to: the writer moves it after its
//! additions, and a reader that finds it where it was last time takes no turn (what it misses
//! then, it finds at the next turn: the mark moves after them).
//!
//! The counters are `u32` that wrap: a difference is exact as long as a reader takes a turn
//! before 2³² additions to one counter (the runtime's reader comes every 250 ms).

use crate::sync::{AtomicU32, Ordering};

/// `N` counts (a power of two).
pub(crate) struct Tally<const N: usize> {
    counts: Box<[AtomicU32; N]>,
}

impl<const N: usize> Tally<N> {
    /// A tally of `N` counts, all zero.
    pub(crate) fn new() -> Self {
        const { assert!(N.is_power_of_two()) };
        Tally {
            counts: Box::new(std::array::from_fn(|_| AtomicU32::new(0))),
        }
    }

    /// Adds one to count `i` (below `N`). The writer only (one thread).
    #[inline]
    pub(crate) fn add(&self, i: usize) {
        debug_assert!(i < N, "count {i} of {N}");
        // `% N` is a mask for a power of two: no bounds check on the caller's path.
        let c = &self.counts[i % N];
        c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    }
}

/// Moved by a writer after its additions to some tallies, so that readers can skip them while it
/// has not moved.
pub(crate) struct Mark(AtomicU32);

impl Mark {
    /// A mark that has not moved.
    pub(crate) fn new() -> Self {
        Mark(AtomicU32::new(0))
    }

    /// Moves the mark, after additions. The writer only.
    #[inline]
    pub(crate) fn moved(&self) {
        let m = self.0.load(Ordering::Relaxed);
        // Release: a reader that sees the mark moved sees the additions before it.
        self.0.store(m.wrapping_add(1), Ordering::Release);
    }

    /// Whether the mark moved since `last` (a reader's, kept between turns), which it updates.
    pub(crate) fn moved_since(&self, last: &mut u32) -> bool {
        // Synchronises with `moved`'s `Release` store.
        let m = self.0.load(Ordering::Acquire);
        std::mem::replace(last, m) != m
    }
}

/// A reader's view of one [`Tally`]: what it has handed on so far.
pub(crate) struct Seen {
    counts: Box<[u32]>,
}

impl Seen {
    /// Nothing handed on yet from `t`.
    pub(crate) fn new<const N: usize>(t: &Tally<N>) -> Self {
        Seen {
            counts: vec![0; t.counts.len()].into_boxed_slice(),
        }
    }

    /// Hands `f` the additions to each count of `t` since the last turn, `(index, how many)`,
    /// skipping counts with none; returns how many in all. Readers must take turns.
    pub(crate) fn take<const N: usize>(
        &mut self,
        t: &Tally<N>,
        mut f: impl FnMut(usize, u64),
    ) -> u64 {
        let mut all = 0;
        for (i, (c, seen)) in t.counts.iter().zip(self.counts.iter_mut()).enumerate() {
            let now = c.load(Ordering::Relaxed);
            let n = u64::from(now.wrapping_sub(*seen));
            if n > 0 {
                *seen = now;
                all += n;
                f(i, n);
            }
        }
        all
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn additions_are_handed_on_once_and_the_mark_says_when_there_are_any() {
        let (t, mark) = (Tally::<4>::new(), Mark::new());
        let (mut seen, mut last) = (Seen::new(&t), 0);
        let mut got = Vec::new();
        assert!(!mark.moved_since(&mut last));
        for i in [0, 2, 2, 3, 2] {
            t.add(i);
        }
        mark.moved();
        assert!(mark.moved_since(&mut last));
        assert_eq!(seen.take(&t, |i, n| got.push((i, n))), 5);
        assert_eq!(got, [(0, 1), (2, 3), (3, 1)]);
        got.clear();
        assert!(!mark.moved_since(&mut last));
        assert_eq!(seen.take(&t, |i, n| got.push((i, n))), 0);
        assert!(got.is_empty());
        t.add(1);
        mark.moved();
        assert!(mark.moved_since(&mut last));
        assert_eq!(seen.take(&t, |i, n| got.push((i, n))), 1);
        assert_eq!(got, [(1, 1)]);
    }

    #[test]
    fn a_count_that_wrapped_between_turns_is_still_exact() {
        let t = Tally::<1>::new();
        let mut seen = Seen::new(&t);
        t.counts[0].store(u32::MAX - 1, Ordering::Relaxed);
        assert_eq!(seen.take(&t, |_, _| {}), u64::from(u32::MAX - 1));
        for _ in 0..5 {
            t.add(0);
        }
        let mut got = 0;
        assert_eq!(seen.take(&t, |_, n| got += n), 5);
        assert_eq!(got, 5);
    }
}
