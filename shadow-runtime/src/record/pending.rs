//! Duration samples on their way to the histograms. Recording a sample through a real recorder
//! costs the recording thread several atomic read-modify-writes (metrics-exporter-prometheus: an
//! epoch pin and two more per sample, and a block allocated every 64 samples), and a judged call
//! has two or four. So a thread that judges calls counts its samples in buckets of its own
//! ([`crate::sync::tally`]: a plain load and store per sample), and the timer thread hands the
//! counts to the histograms, one `record_many` per bucket that changed: at every tick, and
//! whenever a reader needs them all ([`drain`]: `publish_metrics`, `wait_idle`).
//!
//! Counting in buckets is not a queue: it never fills, however far the timer falls behind, and
//! the caller never records on the spot. A queue of the exact values did fill, in a thread
//! calling back to back while the exporter took ~100 ns a sample on the timer thread, and the
//! samples recorded on the spot were the whole cost of a Prometheus recorder on the caller.
//!
//! What it costs: each sample reaches the histogram as the middle of its bucket. The buckets split
//! every power of two of nanoseconds into [`SUB`] (128), so a value is off by at most 1/256 of
//! itself (0.39%), and values under 256 ns are exact to the nanosecond. Counts are exact; a
//! histogram's sum is within 0.39%; a Prometheus bucket bound within 0.39% of a sample may count
//! it on its other side. The buckets take 512 bytes per power of two that a thread's samples of
//! one kind reach, per experiment, and 0.9 KiB per kind: about 12 KiB for a thread whose calls span
//! ten powers of two.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use crate::sync::tally::{Mark, Seen, Tally};

/// Buckets per power of two (`2^SUB_BITS`).
const SUB_BITS: u32 = 7;
const SUB: usize = 1 << SUB_BITS;
/// Rows of buckets: `[0, SUB)` nanoseconds one to a bucket, then one row per power of two from
/// `2^SUB_BITS` to `2^63`.
const ROWS: usize = 64 - SUB_BITS as usize + 1;
/// The kinds of sample: primary and candidate wall time, primary and candidate CPU time.
pub(crate) const KINDS: usize = 4;

/// The row and the bucket in it of a value in nanoseconds.
#[inline]
fn bucket(ns: u64) -> (usize, usize) {
    if ns < SUB as u64 {
        return (0, ns as usize);
    }
    let msb = 63 - ns.leading_zeros();
    let shift = msb - SUB_BITS;
    ((shift + 1) as usize, (ns >> shift) as usize - SUB)
}

/// The value, in nanoseconds, that stands for the samples of a bucket: the middle of the
/// nanoseconds it holds.
fn middle(row: usize, sub: usize) -> f64 {
    if row == 0 {
        return sub as f64;
    }
    let shift = row as u32 - 1;
    let lowest = ((SUB + sub) as u64) << shift;
    let width = 1u64 << shift;
    lowest as f64 + (width - 1) as f64 / 2.0
}

type Rows = [OnceLock<Tally<SUB>>; ROWS];

/// One thread's buckets for one set of histograms (one experiment, one recorder).
struct Counts {
    id: u32,
    /// The wall times' rows (every judged call has both); each row is made by the first sample
    /// that reaches it.
    wall: [Rows; 2],
    /// The CPU times' rows, made at the first CPU sample (`cpu_time` on).
    cpu: [OnceLock<Box<Rows>>; KINDS - 2],
    /// Moved after each call's samples: a reader skips buckets whose mark has not moved.
    mark: Mark,
    /// Its thread has exited: the next reader hands on the rest and drops it.
    exited: AtomicBool,
}

impl Counts {
    /// Counts a sample of `kind`. The owning thread only.
    #[inline]
    fn add(&self, kind: usize, ns: u64) {
        let (row, sub) = bucket(ns);
        let rows = match kind {
            0 | 1 => &self.wall[kind],
            _ => self.cpu[kind - 2].get_or_init(|| Box::new(new_rows())),
        };
        rows[row].get_or_init(Tally::new).add(sub);
    }

    /// Counts one call's samples (by kind, `None`: not measured), then moves the mark. Inlined
    /// into the caller's path (one call site there; the first call of a thread registers first).
    #[inline(always)]
    fn add_call(&self, samples: &[Option<u64>; KINDS]) {
        for (kind, ns) in samples.iter().enumerate() {
            if let Some(ns) = *ns {
                self.add(kind, ns);
            }
        }
        self.mark.moved();
    }

    /// The rows of `kind`, if it has any.
    fn rows(&self, kind: usize) -> Option<&Rows> {
        match kind {
            0 | 1 => Some(&self.wall[kind]),
            _ => self.cpu[kind - 2].get().map(|r| &**r),
        }
    }
}

fn new_rows() -> Rows {
    std::array::from_fn(|_| OnceLock::new())
}

/// A reader's side of one thread's [`Counts`].
struct Reading {
    counts: Arc<Counts>,
    /// By `kind * ROWS + row`: what readers have handed on.
    seen: Vec<Option<Seen>>,
    /// Where the mark was at the last turn.
    mark: u32,
}

impl Reading {
    fn take(&mut self, record: &mut impl FnMut(u32, u32, f64, u64)) {
        if !self.counts.mark.moved_since(&mut self.mark) {
            return;
        }
        let id = self.counts.id;
        for kind in 0..KINDS {
            let Some(rows) = self.counts.rows(kind) else {
                continue;
            };
            for (row, tally) in rows.iter().enumerate() {
                let Some(tally) = tally.get() else { continue };
                self.seen[kind * ROWS + row]
                    .get_or_insert_with(|| Seen::new(tally))
                    .take(tally, |sub, n| {
                        record(id, kind as u32, middle(row, sub) / 1e9, n)
                    });
            }
        }
    }
}

/// Every thread's buckets; readers take turns under this lock, held while they record. The
/// buckets of a thread that has exited are dropped once read.
static ALL: Mutex<Vec<Reading>> = Mutex::new(Vec::new());

/// Buckets made since the last reader's turn. A thread adds its buckets here, under a lock of
/// their own, so that it never waits for a reader that is recording (the exporter's work for a
/// quarter of a second of samples).
static NEW: Mutex<Vec<Reading>> = Mutex::new(Vec::new());

fn lock(list: &'static Mutex<Vec<Reading>>) -> MutexGuard<'static, Vec<Reading>> {
    list.lock().unwrap_or_else(|e| e.into_inner())
}

/// This thread's buckets, by [`Counts::id`].
struct Local(RefCell<Vec<Option<Arc<Counts>>>>);

impl Drop for Local {
    fn drop(&mut self) {
        for c in self.0.get_mut().iter().flatten() {
            // Release: a reader that sees it sees every sample this thread counted.
            c.exited.store(true, Ordering::Release);
        }
    }
}

thread_local! {
    static LOCAL: Local = const { Local(RefCell::new(Vec::new())) };
}

/// This thread's buckets for the histograms `id`, made on first use.
#[cold]
#[inline(never)]
fn register(local: &Local, id: u32) -> Arc<Counts> {
    let counts = Arc::new(Counts {
        id,
        wall: [new_rows(), new_rows()],
        cpu: std::array::from_fn(|_| OnceLock::new()),
        mark: Mark::new(),
        exited: AtomicBool::new(false),
    });
    lock(&NEW).push(Reading {
        counts: counts.clone(),
        seen: (0..KINDS * ROWS).map(|_| None).collect(),
        mark: 0,
    });
    let mut mine = local.0.borrow_mut();
    let i = id as usize;
    if mine.len() <= i {
        mine.resize(i + 1, None);
    }
    mine[i] = Some(counts.clone());
    counts
}

/// Counts one call's samples for the histograms `id`: `samples[kind]` in nanoseconds, `None`
/// for a kind not measured. `false` when they could not be counted (the thread is exiting) and
/// the caller must record them itself.
#[inline]
pub(crate) fn count(id: u32, samples: [Option<u64>; KINDS]) -> bool {
    LOCAL
        .try_with(|local| {
            if let Some(Some(c)) = local.0.borrow().get(id as usize) {
                c.add_call(&samples);
                return;
            }
            register(local, id).add_call(&samples);
        })
        .is_ok()
}

/// Hands every sample counted since the last drain, on every thread, to `record(id, kind,
/// seconds, how many)`: the histograms, the kind, the value standing for its bucket, the count.
pub(crate) fn drain(mut record: impl FnMut(u32, u32, f64, u64)) {
    let mut list = lock(&ALL);
    let new = std::mem::take(&mut *lock(&NEW));
    list.extend(new);
    list.retain_mut(|r| {
        // Acquire: pairs with the thread's exit, so the samples it counted last are read below.
        let exited = r.counts.exited.load(Ordering::Acquire);
        r.take(&mut record);
        !exited
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_stands_for_its_samples_within_a_256th() {
        let mut values: Vec<u64> = (0..2048).collect();
        let mut v = 2048u64;
        while v < u64::MAX / 3 {
            values.extend([v - 1, v, v + 1, v + v / 3]);
            v = v / 2 * 3;
        }
        values.push(u64::MAX);
        let mut last = (0, 0);
        for ns in values {
            let (row, sub) = bucket(ns);
            assert!(row < ROWS && sub < SUB, "{ns}: ({row}, {sub})");
            assert!((row, sub) >= last, "{ns}: buckets go down");
            last = (row, sub);
            let got = middle(row, sub);
            let exact = ns as f64;
            if ns < 2 * SUB as u64 {
                assert_eq!(got, exact, "{ns}ns is not exact");
            } else {
                let off = (got - exact).abs() / exact;
                assert!(off <= 1.0 / 256.0 + 1e-12, "{ns}ns: off by {off}");
            }
        }
    }

    #[test]
    fn samples_of_an_exited_thread_are_handed_on_once_and_its_buckets_dropped() {
        // An id no other test uses, so that other tests' samples do not mix in.
        const ID: u32 = 4_000;
        let t = std::thread::spawn(|| {
            assert!(count(ID, [Some(500_000_000), Some(1_250), None, None]));
            assert!(count(ID, [Some(500_000_000), Some(90), None, Some(7)]));
            LOCAL.with(|l| Arc::as_ptr(l.0.borrow()[ID as usize].as_ref().unwrap()) as usize)
        });
        let counts = t.join().unwrap();
        let mut got = Vec::new();
        drain(|id, kind, v, n| {
            if id == ID {
                got.push((kind, (v * 1e9).round() as u64, n));
            }
        });
        got.sort_unstable();
        let stands_for = |ns: u64| {
            let (row, sub) = bucket(ns);
            middle(row, sub).round() as u64
        };
        let mut want = vec![
            (0, stands_for(500_000_000), 2),
            (1, 90, 1),
            (1, stands_for(1_250), 1),
            (3, 7, 1),
        ];
        want.sort_unstable();
        assert_eq!(got, want, "the exited thread's samples");
        assert!(
            !lock(&ALL)
                .iter()
                .any(|r| Arc::as_ptr(&r.counts) as usize == counts),
            "the exited thread's buckets are still listed"
        );
        drain(|id, _, _, _| assert_ne!(id, ID, "handed on twice"));
    }

    #[test]
    fn a_thread_makes_its_buckets_while_a_reader_is_recording() {
        const ID: u32 = 4_001;
        // A reader recording holds the readers' lock for as long as the exporter takes.
        let reading = lock(&ALL);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let counted = count(ID, [Some(1_000), Some(2_000), None, None]);
            let _ = tx.send(counted);
        });
        let counted = rx.recv_timeout(std::time::Duration::from_secs(20));
        drop(reading);
        assert_eq!(counted, Ok(true), "the first sample waited for the reader");
    }
}
