//! A bounded ring of `u64` entries with one writer and one reader at a time: the writer
//! (the thread that owns the ring) pushes with plain stores and one `Release` store of its head,
//! no read-modify-write; readers take turns (the caller serialises them, under a lock) and drain
//! everything written so far. An entry is read exactly once, in the order written; a push that
//! does not fit is refused whole (the writer then does the work itself), never half-written.
//!
//! The writer keeps its own view of the reader's position (`seen`): it reads the shared one
//! only when its view says the ring is half full, so a writer that is kept up with touches no
//! cache line a reader writes.

use crate::sync::{AtomicU64, Ordering};

/// What [`Ring::push`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Pushed {
    /// Written; the ring holds less than half its capacity.
    Done,
    /// Written; the ring is at least half full: time to ask for a drain.
    HalfFull,
    /// Not written: it would not fit.
    Full,
}

pub(crate) struct Ring {
    /// Entries written (only the writer stores it, on every push).
    head: Line<AtomicU64>,
    slots: Box<[AtomicU64]>,
    /// Entries read (only a reader stores it, readers one at a time): on a cache line of its
    /// own, so that a drain does not take away the line the writer's next push needs (with both
    /// on one line, a writer drained continuously missed the cache on every push).
    tail: Line<AtomicU64>,
}

/// A value alone on its cache line (128 bytes: adjacent-line prefetching pairs 64-byte lines).
#[repr(align(128))]
struct Line<T>(T);

impl<T> std::ops::Deref for Line<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl Ring {
    /// A ring of `cap` entries (at least 2).
    pub(crate) fn new(cap: usize) -> Self {
        let cap = cap.max(2);
        Ring {
            head: Line(AtomicU64::new(0)),
            slots: (0..cap).map(|_| AtomicU64::new(0)).collect(),
            tail: Line(AtomicU64::new(0)),
        }
    }

    fn cap(&self) -> u64 {
        self.slots.len() as u64
    }

    /// Writes `entries` after the last ones, or none of them. The writer only (one thread);
    /// `seen` is its view of how far readers got, which it keeps between calls (start at 0).
    pub(crate) fn push(&self, entries: &[u64], seen: &mut u64) -> Pushed {
        let n = entries.len() as u64;
        let cap = self.cap();
        let head = self.head.load(Ordering::Relaxed);
        let half = cap / 2;
        if head - *seen + n > half {
            // Synchronises with the reader's `Release` store: the slots it read are free.
            *seen = self.tail.load(Ordering::Acquire);
        }
        let used = head - *seen;
        if used + n > cap {
            return Pushed::Full;
        }
        for (i, &entry) in entries.iter().enumerate() {
            let k = ((head + i as u64) % cap) as usize;
            self.slots[k].store(entry, Ordering::Relaxed);
        }
        self.head.store(head + n, Ordering::Release);
        if used + n > half {
            Pushed::HalfFull
        } else {
            Pushed::Done
        }
    }

    /// Hands every entry written so far to `f`, oldest first, and frees their slots; returns how
    /// many. Readers must take turns (the caller holds a lock around it).
    pub(crate) fn drain(&self, mut f: impl FnMut(u64)) -> u64 {
        let cap = self.cap();
        let tail = self.tail.load(Ordering::Relaxed);
        // Synchronises with the writer's `Release` store: the slots below `head` are written.
        let head = self.head.load(Ordering::Acquire);
        for i in tail..head {
            let k = (i % cap) as usize;
            f(self.slots[k].load(Ordering::Relaxed));
        }
        self.tail.store(head, Ordering::Release);
        head - tail
    }

    /// Whether everything written has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.head.load(Ordering::Acquire) == self.tail.load(Ordering::Acquire)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn entries_come_out_once_in_order_and_a_full_ring_refuses_whole() {
        let r = Ring::new(8);
        let mut seen = 0;
        let mut got = Vec::new();
        for round in 0..5u64 {
            let e = |v: u64| round * 100 + v;
            assert_eq!(r.push(&[e(1), e(2)], &mut seen), Pushed::Done);
            assert_eq!(r.push(&[e(3), e(4)], &mut seen), Pushed::Done);
            assert_eq!(r.push(&[e(5)], &mut seen), Pushed::HalfFull);
            assert_eq!(r.push(&[e(6), e(7)], &mut seen), Pushed::HalfFull);
            // 7 of 8 written: two more do not fit, and neither is written.
            assert_eq!(r.push(&[e(8), e(9)], &mut seen), Pushed::Full);
            assert_eq!(r.drain(|v| got.push(v)), 7);
            assert!(r.is_empty());
        }
        let want: Vec<u64> = (0..5u64)
            .flat_map(|round| (1..=7).map(move |v| round * 100 + v))
            .collect();
        assert_eq!(got, want);
    }
}
