//! The hot path's per-thread state: a fast random source for sampling, and every counter an
//! experiment keeps: skipped and shed calls (`disabled`, `sampled_out`, `filtered`,
//! `circuit_open`, `nested`, `shed`), shadowed calls opened and decided, the count of each
//! outcome, the duration sums and the circuit breaker's failures; and the marks of the
//! experiments whose primary this thread is running (so that a recursive call starts no shadow of
//! its own).
//!
//! A skipped call must cost about a nanosecond and never allocate, and a shadowed one must not
//! contend with other cores, so neither can afford a shared atomic read-modify-write (a
//! `lock xadd` on a cache line other cores also write). Each thread owns a block of counters
//! that only it writes, with a plain load + store; readers sum all blocks. When a thread exits,
//! its counts are folded into `RETIRED` and its block is unlinked, both under the registry lock,
//! so a reader sees every count exactly once. Stores are `Release` and reads `Acquire` (plain
//! moves on x86): a reader that sees a call decided on one thread also sees it opened on
//! another.

use std::cell::Cell;
use std::sync::atomic::{
    AtomicU64, AtomicUsize,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::{Arc, Mutex, MutexGuard};

/// Counter slots per thread (32 KiB); every experiment takes [`PER_EXPERIMENT`], so 128
/// experiments have per-thread counters. Experiments past the limit use shared atomic counters
/// instead (slower, still exact).
const SLOTS: usize = 4096;
/// Slots per experiment (the layout is in [`slot`]).
pub(crate) const PER_EXPERIMENT: usize = 32;

/// The slots of one experiment, after its eight [`Skip`] counters.
pub(crate) mod slot {
    /// How deep this thread is inside the experiment's primary (not a counter: never summed).
    pub(crate) const ACTIVE: usize = 8;
    /// Shadowed calls opened (a ticket made).
    pub(crate) const OPENED: usize = 9;
    /// Shadowed calls decided (a ticket resolved).
    pub(crate) const CLOSED: usize = 10;
    /// The first of the outcome counters, in `Outcome::ALL` order.
    pub(crate) const OUTCOMES: usize = 11;
    /// Sums of the judged calls' wall times, µs, and how many calls they cover.
    pub(crate) const PRIMARY_US: usize = 28;
    pub(crate) const CANDIDATE_US: usize = 29;
    pub(crate) const TIMED: usize = 30;
    /// Candidate runs that failed (panic, timeout, `Err` where the primary was `Ok`), for the
    /// circuit breaker.
    pub(crate) const FAILED: usize = 31;
}
const ACTIVE: usize = slot::ACTIVE;
const _: () =
    assert!(slot::OUTCOMES + crate::record::outcome::Outcome::ALL.len() <= slot::PRIMARY_US);

struct Block {
    slots: [AtomicU64; SLOTS],
}

static BLOCKS: Mutex<Vec<Arc<Block>>> = Mutex::new(Vec::new());
static RETIRED: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);
static SEED: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);

fn blocks() -> MutexGuard<'static, Vec<Arc<Block>>> {
    // The lock only guards pushes and removals of Arcs; a panic cannot leave it half-done.
    BLOCKS.lock().unwrap_or_else(|e| e.into_inner())
}

struct Local {
    rng: Cell<u64>,
    block: Arc<Block>,
}

impl Local {
    fn new() -> Self {
        let block = Arc::new(Block {
            slots: [const { AtomicU64::new(0) }; SLOTS],
        });
        blocks().push(block.clone());
        // Distinct, unpredictable-enough seeds per thread: a global Weyl sequence mixed with the
        // clock and this thread's block address. Sampling needs uniformity, not secrecy.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let addr = Arc::as_ptr(&block) as usize as u64;
        let seed =
            splitmix(SEED.fetch_add(0x9e37_79b9_7f4a_7c15, Relaxed) ^ nanos ^ addr.rotate_left(32));
        Local {
            rng: Cell::new(seed),
            block,
        }
    }

    #[inline]
    fn next(&self) -> u64 {
        // wyrand: one multiply, passes PractRand/BigCrush-level tests, period 2^64.
        let s = self.rng.get().wrapping_add(0xa076_1d64_78bd_642f);
        self.rng.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }

    #[inline]
    fn bump(&self, slot: usize) {
        self.add(slot, 1);
    }

    #[inline]
    fn add(&self, slot: usize, n: u64) {
        let c = &self.block.slots[slot];
        c.store(c.load(Relaxed).wrapping_add(n), Release);
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        let mut list = blocks();
        let used = NEXT_SLOT.load(Relaxed).min(SLOTS);
        for (i, c) in self.block.slots[..used].iter().enumerate() {
            let n = c.load(Relaxed);
            if n != 0 && i % PER_EXPERIMENT != ACTIVE {
                RETIRED[i].fetch_add(n, Release);
            }
        }
        list.retain(|b| !Arc::ptr_eq(b, &self.block));
    }
}

thread_local! {
    static LOCAL: Local = Local::new();
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Which per-thread counter: the calls decided before anything of the shadow was prepared.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Skip {
    Disabled = 0,
    SampledOut = 1,
    Filtered = 2,
    CircuitOpen = 3,
    /// Made inside a shadow run, or inside the same experiment's primary (recursion).
    Nested = 4,
    /// Shed: `max_in_flight` candidates of the experiment held their slots.
    ShedCap = 5,
    /// Shed: the shadow lane's queue was full.
    ShedQueue = 6,
    /// Shed: the shadow lane had spent its run-time budget.
    ShedBudget = 7,
}

impl Skip {
    /// Every counter with the outcome it counts.
    pub(crate) const ALL: [(Skip, crate::record::outcome::Outcome); ACTIVE] = [
        (Skip::Disabled, crate::record::outcome::Outcome::Disabled),
        (
            Skip::SampledOut,
            crate::record::outcome::Outcome::SampledOut,
        ),
        (Skip::Filtered, crate::record::outcome::Outcome::Filtered),
        (
            Skip::CircuitOpen,
            crate::record::outcome::Outcome::CircuitOpen,
        ),
        (Skip::Nested, crate::record::outcome::Outcome::Nested),
        (Skip::ShedCap, crate::record::outcome::Outcome::Shed),
        (Skip::ShedQueue, crate::record::outcome::Outcome::Shed),
        (Skip::ShedBudget, crate::record::outcome::Outcome::Shed),
    ];
}

/// `base` of an experiment that got no per-thread slots (more than `SLOTS / PER_EXPERIMENT`):
/// its skipped calls go to shared atomic counters instead.
pub(crate) const NO_SLOTS: usize = usize::MAX;

/// Reserves the per-thread counter slots of a new experiment.
pub(crate) fn alloc_slots() -> usize {
    let base = NEXT_SLOT.fetch_add(PER_EXPERIMENT, Relaxed);
    if base + PER_EXPERIMENT <= SLOTS {
        base
    } else {
        NO_SLOTS
    }
}

/// Counts a skipped call in this thread's slot; `false` when it could not (no slots, or the
/// thread's locals are gone at thread exit) and the caller must count it elsewhere.
#[inline(always)]
pub(crate) fn bump(base: usize, which: Skip) -> bool {
    base != NO_SLOTS
        && LOCAL
            .try_with(|l| l.bump((base + which as usize) & (SLOTS - 1)))
            .is_ok()
}

/// Adds `n` to one of an experiment's counters in this thread's slot; `false` when it could not
/// (no slots, or the thread's locals are gone at thread exit) and the caller must count it
/// elsewhere.
#[inline]
pub(crate) fn add(base: usize, slot: usize, n: u64) -> bool {
    base != NO_SLOTS
        && LOCAL
            .try_with(|l| l.add((base + slot) & (SLOTS - 1), n))
            .is_ok()
}

/// [`add`] for several counters, with one lookup of this thread's block.
#[inline]
pub(crate) fn add_all(base: usize, adds: &[(usize, u64)]) -> bool {
    base != NO_SLOTS
        && LOCAL
            .try_with(|l| {
                for &(slot, n) in adds {
                    if n != 0 {
                        l.add((base + slot) & (SLOTS - 1), n);
                    }
                }
            })
            .is_ok()
}

/// Whether this thread is inside a run of the experiment's primary (of a shadowed call): a call
/// of the same experiment there is recursion and starts no shadow. `false` without slots.
#[inline]
pub(crate) fn active(base: usize) -> bool {
    base != NO_SLOTS
        && LOCAL
            .try_with(|l| l.block.slots[(base + ACTIVE) & (SLOTS - 1)].load(Relaxed) > 0)
            .unwrap_or(false)
}

/// Marks (`+1`) or unmarks (`-1`) this thread as inside the experiment's primary.
#[inline]
pub(crate) fn set_active(base: usize, enter: bool) {
    if base == NO_SLOTS {
        return;
    }
    let _ = LOCAL.try_with(|l| {
        let c = &l.block.slots[(base + ACTIVE) & (SLOTS - 1)];
        let v = c.load(Relaxed);
        c.store(if enter { v + 1 } else { v.saturating_sub(1) }, Relaxed);
    });
}

/// One sampling draw from this thread's source: `Some(true)` when the call is in
/// (`draw < threshold`), `Some(false)` when it is out and was counted as sampled out, `None` when
/// it could not be decided here (no slots, or the thread's locals are gone).
#[inline(always)]
pub(crate) fn draw(base: usize, threshold: u64) -> Option<bool> {
    if base == NO_SLOTS {
        return None;
    }
    LOCAL
        .try_with(|l| {
            let inside = l.next() < threshold;
            if !inside {
                l.bump((base + Skip::SampledOut as usize) & (SLOTS - 1));
            }
            inside
        })
        .ok()
}

/// A uniform draw for the slow paths: this thread's source if it is still there, otherwise the
/// global sequence.
pub(crate) fn draw_any() -> u64 {
    LOCAL
        .try_with(|l| l.next())
        .unwrap_or_else(|_| splitmix(SEED.fetch_add(0x9e37_79b9_7f4a_7c15, Relaxed)))
}

/// The total of one per-thread counter over all threads, live and exited (shared fallback
/// counters not included).
pub(crate) fn read(base: usize, slot: usize) -> u64 {
    if base == NO_SLOTS {
        return 0;
    }
    let slot = base + slot;
    let list = blocks();
    RETIRED[slot].load(Acquire)
        + list
            .iter()
            .map(|b| b.slots[slot].load(Acquire))
            .sum::<u64>()
}

/// A fair coin from the per-thread source (for `order = random`).
pub(crate) fn coin() -> bool {
    draw_any() >> 63 == 1
}

/// `rate` (in `0..=1`) as a threshold on a uniform `u64` draw: 0 never samples, `u64::MAX` always.
/// A positive threshold is at least 4: the experiment's gate reserves 1, 2 and 3.
pub(crate) fn threshold(rate: f64) -> u64 {
    if rate.is_nan() || rate <= 0.0 {
        0
    } else if rate >= 1.0 {
        u64::MAX
    } else {
        // 2^64 * rate, computed in f64 (53 bits of precision is plenty for a sampling rate).
        // 1, 2 and 3 are reserved by the experiment's gate (not initialised, circuit open, ramp).
        ((rate * 18_446_744_073_709_551_616.0) as u64).max(4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_survive_thread_exit_exactly() {
        let base = alloc_slots();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        assert!(bump(base, Skip::Disabled));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(bump(base, Skip::Disabled));
        assert_eq!(read(base, Skip::Disabled as usize), 4001);
        assert_eq!(read(base, Skip::SampledOut as usize), 0);
    }

    #[test]
    fn sampling_rate_is_close_to_the_threshold() {
        let base = alloc_slots();
        let n = 200_000;
        let inside = (0..n)
            .filter(|_| draw(base, threshold(0.1)).unwrap())
            .count();
        // 10% of 200k: the standard deviation is ~134, so 6 sigma is ~800.
        assert!((19_200..=20_800).contains(&inside), "{inside}");
        assert_eq!(read(base, Skip::SampledOut as usize), (n - inside) as u64);
    }

    #[test]
    fn thresholds_cover_the_edges() {
        assert_eq!(threshold(0.0), 0);
        assert_eq!(threshold(1.0), u64::MAX);
        assert_eq!(threshold(0.5), 1 << 63);
        assert_eq!(threshold(f64::NAN), 0);
        assert_eq!(threshold(6e-20), 4, "1, 2 and 3 are reserved");
    }
}
