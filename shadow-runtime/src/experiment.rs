//! One [`Experiment`] per annotated function: its static definition, its lazily created state,
//! and the per-call decision.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Mutex, OnceLock};

use crate::config::{self, Mode, Order};
use crate::outcome::{Discrepancy, Outcome};
use crate::sampling::{self, Skip};

/// An experiment: one annotated function. The attribute declares it as a `static` inside the
/// function, so every call of that function shares it; its state (counters, configuration from the
/// environment) is created at the first call and registered for [`snapshot`](crate::snapshot()).
///
/// Most users never touch it; it is public so that hand-written integrations (a trait object, a
/// closure table) can run the same machinery:
///
/// ```
/// use shadow_runtime::{Experiment, Mode, Order};
///
/// static EXP: Experiment = Experiment::new("docs::double", 1.0, Mode::Inline, Order::PrimaryFirst);
///
/// fn double(x: u32) -> u32 {
///     let shadow = EXP.decide().map(|call| call.with_candidate(move || x << 1));
///     let out = x * 2;
///     if let Some(s) = shadow {
///         s.finish_inline(&out, &shadow_runtime::DefaultComparator, |v: &u32| Some(format!("{v:?}")));
///     }
///     out
/// }
///
/// assert_eq!(double(21), 42);
/// let snap = shadow_runtime::snapshot::experiment("docs::double").unwrap();
/// assert_eq!(snap.counts.get(shadow_runtime::Outcome::Match), 1);
/// ```
pub struct Experiment {
    name: &'static str,
    default_sample: f64,
    mode: Mode,
    order: Order,
    /// The one word a call reads: the effective sampling threshold (`rate * 2^64`), 0 when
    /// shadowing is off for any reason (kill switch, setting, rate 0), `u64::MAX` for every call,
    /// [`UNINIT`] before the first call.
    gate: AtomicU64,
    /// Base of this experiment's per-thread skip counters ([`sampling::NO_SLOTS`] until set).
    slots: AtomicUsize,
    state: OnceLock<State>,
}

/// The gate before the experiment's first call ([`sampling::threshold`] never yields 1).
const UNINIT: u64 = 1;

pub(crate) struct State {
    /// The configured rate and switch (the gate also folds in the kill switch).
    pub(crate) sample_bits: AtomicU64,
    pub(crate) enabled: AtomicBool,
    /// Skipped calls counted here when the per-thread slots are unavailable.
    pub(crate) skips_shared: [AtomicU64; 2],
    pub(crate) counts: [AtomicU64; Outcome::ALL.len()],
    pub(crate) shadowed: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    pub(crate) retained: Mutex<Vec<Discrepancy>>,
    pub(crate) warned_no_runtime: AtomicBool,
    pub(crate) keys: crate::observe::Keys,
}

static REGISTRY: Mutex<Vec<&'static Experiment>> = Mutex::new(Vec::new());

pub(crate) fn registry() -> Vec<&'static Experiment> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

impl Experiment {
    /// Declares an experiment. `sample` is the default rate (`0.0..=1.0`), which the experiment's
    /// environment variable overrides.
    ///
    /// ```
    /// static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    ///     "billing::total", 0.25, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst);
    /// assert_eq!(EXP.name(), "billing::total");
    /// ```
    pub const fn new(name: &'static str, sample: f64, mode: Mode, order: Order) -> Self {
        Experiment {
            name,
            default_sample: sample,
            mode,
            order,
            gate: AtomicU64::new(UNINIT),
            slots: AtomicUsize::new(sampling::NO_SLOTS),
            state: OnceLock::new(),
        }
    }

    /// The experiment's name (module path and function name unless the attribute sets `name`).
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "a::b", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// assert_eq!(EXP.name(), "a::b");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The execution mode declared by the attribute.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "a::c", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// assert_eq!(EXP.mode(), shadow_runtime::Mode::Inline);
    /// ```
    pub fn mode(&self) -> Mode {
        self.mode
    }

    #[inline]
    pub(crate) fn state(&'static self) -> &'static State {
        match self.state.get() {
            Some(s) => s,
            None => self.init(),
        }
    }

    #[cold]
    #[inline(never)]
    fn init(&'static self) -> &'static State {
        let mut fresh = false;
        let st = self.state.get_or_init(|| {
            fresh = true;
            let setting = config::experiment_setting(self.name, self.default_sample);
            self.slots.store(sampling::alloc_slots(), Relaxed);
            State {
                sample_bits: AtomicU64::new(setting.sample.to_bits()),
                enabled: AtomicBool::new(setting.enabled),
                skips_shared: [AtomicU64::new(0), AtomicU64::new(0)],
                counts: [const { AtomicU64::new(0) }; Outcome::ALL.len()],
                shadowed: AtomicU64::new(0),
                in_flight: AtomicU64::new(0),
                retained: Mutex::new(Vec::new()),
                warned_no_runtime: AtomicBool::new(false),
                keys: crate::observe::Keys::new(self.name),
            }
        });
        if fresh {
            let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
            if reg.iter().any(|e| e.name == self.name) {
                tracing::warn!(
                    target: "parallel_run",
                    experiment = self.name,
                    "two annotated functions share the experiment name {:?}: their counts, metrics and \
                     environment variable are merged; give one of them `name = \"...\"`",
                    self.name
                );
            }
            reg.push(self);
            // Under the registry lock, as `set_global_enabled` refreshes every gate: whichever
            // runs last sees the latest switch.
            self.refresh_gate(st);
            drop(reg);
            crate::observe::start_publisher();
        }
        st
    }

    /// Decides whether this call is shadowed: `None` (the call is counted as disabled or sampled
    /// out) or a [`ShadowCall`] that the generated code completes. Reads two atomics and, when
    /// sampling, one per-thread random draw; never allocates after the experiment's first call.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::never", 0.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// assert!(EXP.decide().is_none()); // rate 0: never shadowed
    /// ```
    #[inline(always)]
    pub fn decide(&'static self) -> Option<ShadowCall> {
        // Inlined into every annotated function, so kept small: one atomic load decides the
        // common cases; the first call, the shadowed path and the counters' fallbacks are out of
        // line, and none of them returns the `Option`, so a skipped call builds `None` in
        // registers.
        let t = self.gate.load(Relaxed);
        let inside = if t == u64::MAX {
            true
        } else if t <= UNINIT {
            if t == UNINIT || !sampling::bump(self.slots.load(Relaxed), Skip::Disabled) {
                return self.decide_slow();
            }
            false
        } else {
            match sampling::draw(self.slots.load(Relaxed), t) {
                Some(inside) => inside,
                None => return self.decide_slow(),
            }
        };
        if !inside {
            return None;
        }
        let candidate_first = self.begin();
        Some(ShadowCall {
            ticket: Ticket {
                exp: self,
                phase: Phase::Primary,
                done: false,
            },
            candidate_first,
        })
    }

    /// The first call (initialises the state), and skipped calls that cannot use the per-thread
    /// counters (no slots left, or the thread is exiting).
    #[cold]
    #[inline(never)]
    fn decide_slow(&'static self) -> Option<ShadowCall> {
        let st = self.state();
        let mut t = self.gate.load(Relaxed);
        if t == UNINIT {
            // Another thread is still initialising: decide from the settings directly.
            t = self.effective_gate(st);
        }
        let inside = t == u64::MAX || (t > UNINIT && sampling::draw_any() < t);
        if !inside {
            let which = if t <= UNINIT {
                Skip::Disabled
            } else {
                Skip::SampledOut
            };
            if !sampling::bump(self.slots.load(Relaxed), which) {
                st.skips_shared[which as usize].fetch_add(1, Relaxed);
            }
            return None;
        }
        let candidate_first = self.begin();
        Some(ShadowCall {
            ticket: Ticket {
                exp: self,
                phase: Phase::Primary,
                done: false,
            },
            candidate_first,
        })
    }

    /// The gate for the current settings and kill switch.
    fn effective_gate(&self, st: &State) -> u64 {
        if st.enabled.load(Relaxed) && config::global_enabled() {
            sampling::threshold(f64::from_bits(st.sample_bits.load(Relaxed)))
        } else {
            0
        }
    }

    /// Recomputes the gate after a change of settings or of the kill switch.
    pub(crate) fn refresh_gate(&self, st: &State) {
        self.gate.store(self.effective_gate(st), Relaxed);
    }

    /// Skipped calls of one kind, over all threads.
    pub(crate) fn skipped(&'static self, which: Skip) -> u64 {
        let st = self.state();
        st.skips_shared[which as usize].load(Relaxed)
            + sampling::read(self.slots.load(Relaxed), which)
    }

    /// Starts the accounting of a shadowed call; returns whether its candidate runs first.
    #[cold]
    #[inline(never)]
    fn begin(&'static self) -> bool {
        let st = self.state();
        crate::isolation::install_hook();
        st.shadowed.fetch_add(1, Relaxed);
        st.in_flight.fetch_add(1, SeqCst);
        self.mode == Mode::Inline && self.order == Order::Random && sampling::coin()
    }

    /// Records the outcome of a shadowed call (exactly once per [`Ticket`]).
    pub(crate) fn record(&'static self, outcome: Outcome, discrepancy: Option<Discrepancy>) {
        let st = self.state();
        st.counts[outcome.index()].fetch_add(1, Relaxed);
        crate::observe::outcome(self, outcome, discrepancy.as_ref());
        if let Some(d) = discrepancy {
            let mut kept = st.retained.lock().unwrap_or_else(|e| e.into_inner());
            if kept.len() < crate::snapshot::RETAINED {
                kept.push(d);
            }
        }
        // SeqCst: pairs with the waiter count read in `done_one` (see there).
        st.in_flight.fetch_sub(1, SeqCst);
        crate::snapshot::done_one();
    }
}

/// Recomputes every registered experiment's gate (after the kill switch changed).
pub(crate) fn refresh_all_gates() {
    let reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    for exp in reg.iter() {
        if let Some(st) = exp.state.get() {
            exp.refresh_gate(st);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Primary,
    Candidate,
}

/// The accounting token of one shadowed call: resolved exactly once, with the judged outcome, or
/// on drop with [`Outcome::PrimaryPanic`] / [`Outcome::Cancelled`]. It is what makes
/// `shadowed == in_flight + sum(outcomes)` hold whatever the primary, the candidate or the runtime
/// does.
pub(crate) struct Ticket {
    pub(crate) exp: &'static Experiment,
    pub(crate) phase: Phase,
    pub(crate) done: bool,
}

impl Ticket {
    pub(crate) fn resolve(mut self, outcome: Outcome, discrepancy: Option<Discrepancy>) {
        self.done = true;
        self.exp.record(outcome, discrepancy);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.done {
            let outcome = if self.phase == Phase::Primary && std::thread::panicking() {
                Outcome::PrimaryPanic
            } else {
                Outcome::Cancelled
            };
            self.exp.record(outcome, None);
        }
    }
}

/// A call that was sampled for shadowing. The generated code attaches the candidate
/// ([`ShadowCall::with_candidate`]) before running the primary and finishes it afterwards. Dropped
/// unfinished (the primary panicked, or the caller's future was cancelled), it records
/// [`Outcome::PrimaryPanic`] or [`Outcome::Cancelled`] and never runs the candidate.
///
/// ```
/// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
/// #     "docs::panicky", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
/// let r = std::panic::catch_unwind(|| {
///     let _call = EXP.decide();
///     panic!("primary failed");
/// });
/// assert!(r.is_err());
/// let snap = shadow_runtime::snapshot::experiment("docs::panicky").unwrap();
/// assert_eq!(snap.counts.get(shadow_runtime::Outcome::PrimaryPanic), 1);
/// ```
pub struct ShadowCall {
    pub(crate) ticket: Ticket,
    pub(crate) candidate_first: bool,
}

impl ShadowCall {
    /// The experiment this call belongs to.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::which", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// assert_eq!(EXP.decide().unwrap().experiment().name(), "docs::which");
    /// ```
    pub fn experiment(&self) -> &'static Experiment {
        self.ticket.exp
    }
}
