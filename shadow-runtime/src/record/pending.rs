//! Duration samples on their way to the histograms. Recording a sample through a real recorder
//! costs the recording thread several atomic read-modify-writes (metrics-exporter-prometheus: an
//! epoch pin and two more per sample, ~35 ns each on a VM, and a block allocated every 64
//! samples), and a judged call has two. So a thread that judges calls writes its samples to a
//! ring of its own ([`crate::sync::ring`]: plain stores), and the timer thread records them:
//! at every tick, as soon as a ring is half full (the writer asks once), and whenever a reader
//! needs them all ([`drain`]: `publish_metrics`, `wait_idle`). A ring that is full (its thread
//! outruns the timer) is bypassed: the sample is recorded on the spot, never dropped. The CPU the
//! recording takes is the same; it is spent off the caller's path.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::sync::ring::{Pushed, Ring};

/// Entries per thread's ring (8 bytes each: 64 KiB, allocated by the first judged call on a
/// thread while a recorder is installed). Two entries per call: a thread may run 4,096 calls
/// ahead of the timer thread before it records on the spot.
const CAP: usize = 8192;

struct Shared {
    ring: Ring,
    /// A drain was asked for and has not run yet (so that a writer asks once).
    asked: AtomicBool,
}

/// Every thread's ring; readers drain under this lock, one at a time. A ring whose thread has
/// exited is dropped once it is drained.
static RINGS: Mutex<Vec<Arc<Shared>>> = Mutex::new(Vec::new());

fn rings() -> MutexGuard<'static, Vec<Arc<Shared>>> {
    RINGS.lock().unwrap_or_else(|e| e.into_inner())
}

struct Local {
    shared: Arc<Shared>,
    /// How far readers had got when this thread last looked.
    seen: Cell<u64>,
}

thread_local! {
    static LOCAL: Local = {
        let shared = Arc::new(Shared { ring: Ring::new(CAP), asked: AtomicBool::new(false) });
        rings().push(shared.clone());
        Local { shared, seen: Cell::new(0) }
    };
}

/// One sample: a tag the reader understands, and the value (seconds, as an `f32`: 24 bits of
/// precision, far finer than a histogram's buckets).
pub(crate) fn entry(tag: u32, seconds: f64) -> u64 {
    (u64::from(tag) << 32) | u64::from((seconds as f32).to_bits())
}

/// The tag and the value of an [`entry`].
pub(crate) fn parts(entry: u64) -> (u32, f64) {
    (
        (entry >> 32) as u32,
        f64::from(f32::from_bits(entry as u32)),
    )
}

/// Queues `samples` ([`entry`]) on this thread's ring; `false` when they could not be (the ring
/// is full, or the thread is exiting) and the caller must record them itself.
#[inline]
pub(crate) fn push(samples: &[u64], drain_soon: fn()) -> bool {
    LOCAL
        .try_with(|l| {
            let mut seen = l.seen.get();
            let pushed = l.shared.ring.push(samples, &mut seen);
            l.seen.set(seen);
            if pushed != Pushed::Done && !l.shared.asked.load(Relaxed) {
                l.shared.asked.store(true, Relaxed);
                ask(drain_soon);
            }
            pushed != Pushed::Full
        })
        .unwrap_or(false)
}

/// Asks the timer thread to run `drain_soon` now; runs it here when there is no timer thread.
#[cold]
#[inline(never)]
fn ask(drain_soon: fn()) {
    if !crate::run::timer::at(std::time::Instant::now(), drain_soon) {
        drain_soon();
    }
}

/// Hands every queued sample of every thread ([`parts`] of an [`entry`]) to `record`, oldest
/// first per thread.
pub(crate) fn drain(mut record: impl FnMut(u32, f64)) {
    let mut list = rings();
    for s in list.iter() {
        s.asked.store(false, Relaxed);
        s.ring.drain(|e| {
            let (tag, v) = parts(e);
            record(tag, v);
        });
    }
    // The rings of exited threads, once empty (a thread that exits mid-push left nothing half
    // written: its head moves after its entries).
    list.retain(|s| Arc::strong_count(s) > 1 || !s.ring.is_empty());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nothing() {}

    #[test]
    fn samples_of_an_exited_thread_are_drained_and_its_ring_dropped() {
        let t = std::thread::spawn(|| {
            assert!(push(&[entry(7, 0.5), entry(8, 1.25e-6)], nothing));
            LOCAL.with(|l| Arc::as_ptr(&l.shared) as usize)
        });
        let ring = t.join().unwrap();
        let mut got = Vec::new();
        drain(|tag, v| got.push((tag, v)));
        assert!(
            got.windows(2)
                .any(|w| w[0] == (7, 0.5) && (w[1].0, (w[1].1 * 1e8).round()) == (8, 125.0)),
            "the exited thread's samples: {got:?}"
        );
        assert!(
            !rings().iter().any(|s| Arc::as_ptr(s) as usize == ring),
            "the exited thread's ring is still listed"
        );
    }

    #[test]
    fn a_full_ring_refuses_and_asks_for_a_drain_once() {
        use std::sync::atomic::AtomicUsize;
        static ASKED: AtomicUsize = AtomicUsize::new(0);
        fn count() {
            ASKED.fetch_add(1, Relaxed);
        }
        std::thread::spawn(|| {
            let mut accepted = 0;
            while push(&[entry(1, 1.0), entry(1, 2.0)], count) {
                accepted += 2;
                assert!(accepted <= CAP, "more accepted than the ring holds");
            }
            assert_eq!(accepted, CAP);
        })
        .join()
        .unwrap();
        // Asked at half full; the timer thread runs `count`, which does not drain, so the ring
        // stayed asked-for and nobody asked again.
        for _ in 0..200 {
            if ASKED.load(Relaxed) > 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(ASKED.load(Relaxed), 1);
        drain(|_, _| {});
    }
}
