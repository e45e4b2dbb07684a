//! **Experiment**: one per annotated function. Its static definition (`define`: the `const`
//! builders the attribute expands to), the state each stage owns, created at the first call
//! (`State`: decide's settings, gate and breaker, record's instruments and retained
//! discrepancies, judge's noise, run's slots), the per-call decision (`decision`), the settings
//! in force and their live changes (`settings`), recording a decided call and the timer's upkeep
//! (`accounting`), a decided call's slot and ticket (`ticket`), and what a snapshot shows of it
//! (`view`).
//!
//! May use: `sync`, `judge`, `decide`, `record` and the lane (`run::{lane, pool}` and the
//! leaves). The execution paths (`run::exec`) and the public surface use it, never the other
//! way round: the timer runs its housekeeping and the log reads its snapshots through functions
//! it registers.

mod accounting;
mod decision;
mod define;
mod settings;
mod ticket;
mod view;

pub use ticket::ShadowCall;
pub(crate) use ticket::{ActivePrimary, Phase, RunSlot, Ticket};

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Acquire, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::decide::breaker::{Breaker, BreakerConfig, BreakerState, Transition};
use crate::decide::config::{self, Mode, Order, Setting};
use crate::decide::cutover::{Criteria, Cutover};
use crate::decide::sampling::{self, Skip};
use crate::record::outcome::{Discrepancy, Outcome};
use crate::run::context::WriteMode;

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
///         s.finish_inline(&out, &shadow_runtime::DefaultComparator, shadow_runtime::manual::NoProbes);
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
    default_timeout_ms: u64,
    default_max_in_flight: u64,
    mode: Mode,
    order: Order,
    /// `strict = ...` of the attribute: 0 none, 1 true, 2 false.
    strict: u8,
    /// `cpu_time = true` of the attribute.
    default_cpu_time: bool,
    /// `min_match_rate` / `min_samples` of the attribute.
    default_criteria: Option<Criteria>,
    /// `deadline` of the attribute, in days since 1970-01-01.
    default_deadline: Option<i64>,
    /// `writes` of the attribute: how the shadow side must treat writes.
    writes: WriteMode,
    /// One of several candidates of a function: never serves (no ramp).
    no_ramp: bool,
    /// `noise = rate` of the attribute: the share of shadowed calls whose primary runs twice.
    noise_rate: f64,
    /// `runtime = caller` of the attribute: a detached async candidate is spawned on the caller's
    /// tokio runtime instead of the shadow lane's.
    on_caller: bool,
    /// `panics = compare` of the attribute: when the primary panics, the candidate runs anyway and
    /// is judged against the panic.
    compare_panics: bool,
    /// Defaults in the environment variable's `key=value` list format, over the ones above
    /// ([`Experiment::with_defaults`]).
    default_spec: Option<&'static str>,
    /// The one word a call reads: the effective sampling threshold (`rate * 2^64`), 0 when
    /// shadowing is off (kill switch, setting, rate 0), [`OPEN`] while the circuit breaker is not
    /// closed, [`RAMP`] while the candidate serves a share of calls, `u64::MAX` for every call,
    /// [`UNINIT`] before the first call.
    gate: crate::sync::gate::GateWord,
    /// While the gate reads [`RAMP`]: the sampling threshold, and the serving threshold.
    sample_t: AtomicU64,
    ramp_t: AtomicU64,
    /// Base of this experiment's per-thread skip counters ([`sampling::NO_SLOTS`] until set).
    slots: AtomicUsize,
    /// Probe calls the half-open breaker still lets through.
    probes: crate::sync::probes::Probes,
    /// The sticky-sampling seed, `XXH3_64bits(name)`.
    seed: AtomicU64,
    state: OnceLock<State>,
}

/// The gate before the experiment's first call ([`sampling::threshold`] never yields 1 or 2).
const UNINIT: u64 = 1;
/// The gate while the circuit breaker is open or half-open.
const OPEN: u64 = 2;
/// The gate while a ramp is in force: every call takes the slow path, which decides both who
/// serves and whether to shadow.
const RAMP: u64 = 3;

pub(crate) struct State {
    /// The settings in force (attribute, then environment, then the live API).
    setting: Mutex<Setting>,
    /// Mirrors of the settings read off the caller's path without the lock.
    pub(crate) timeout_us: AtomicU64,
    pub(crate) max_in_flight: AtomicU64,
    /// Mirror of the setting `cpu_time`.
    pub(crate) cpu_time: AtomicBool,
    /// The live strict override: 0 none, 1 on, 2 off.
    pub(crate) strict_live: std::sync::atomic::AtomicU8,
    pub(crate) breaker: Mutex<Breaker>,
    /// Mirror of the breaker's `enabled`, read off the caller's path without the lock.
    pub(crate) breaker_on: AtomicBool,
    /// The experiment's counters ([`sampling::slot`]) when the per-thread slots are unavailable.
    pub(crate) shared: [AtomicU64; sampling::PER_EXPERIMENT],
    /// `(judged, failed)` runs the circuit breaker has been fed so far.
    pub(crate) breaker_fed: Mutex<(u64, u64)>,
    /// Candidate executions holding a concurrency slot (queued, running, or abandoned after a
    /// timeout but not yet ended), and the most ever seen at once.
    pub(crate) running: crate::sync::capacity::Capacity,
    /// Running sync candidates abandoned after their timeout (still holding a slot).
    pub(crate) abandoned: AtomicU64,
    pub(crate) retained: Mutex<Vec<Discrepancy>>,
    pub(crate) warned_no_runtime: AtomicBool,
    /// The warning that every slot is held by hung candidates was given.
    pub(crate) warned_stuck: AtomicBool,
    /// Calls shed after they were prepared (the lane could not take them after all, or a
    /// candidate waited in the lane's queue past its timeout).
    pub(crate) shed_late: AtomicU64,
    /// Every slot held and nothing decided since `(decided count, since when)`; `hung` once that
    /// lasted a breaker window.
    pub(crate) hung_watch: Mutex<(u64, Option<Instant>)>,
    pub(crate) hung: AtomicBool,
    /// What the experiment emits metrics and events through.
    pub(crate) obs: crate::record::observe::Instruments,
    /// The ramp and its promotion gate.
    pub(crate) cutover: Mutex<Cutover>,
    /// Calls served by the candidate (the ramp).
    pub(crate) served: AtomicU64,
    /// The gate's window is fed: a ramp is requested or criteria are declared (otherwise a judged
    /// call does not take the cutover's lock).
    pub(crate) gate_tracking: AtomicBool,
    /// When the deadline warning was last given.
    pub(crate) deadline_warned: Mutex<Option<Instant>>,
    pub(crate) warned_no_ramp: AtomicBool,
    /// What the primary's second runs taught (the attribute's `noise`).
    pub(crate) noise: crate::judge::noise::Noise,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

static REGISTRY: Mutex<Vec<&'static Experiment>> = Mutex::new(Vec::new());

pub(crate) fn registry() -> Vec<&'static Experiment> {
    lock(&REGISTRY).clone()
}

impl Experiment {
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
        // Calibrates the clock before any call can see the experiment's state.
        crate::run::clock::warm_up();
        let st = self.state.get_or_init(|| {
            fresh = true;
            let mut setting = config::experiment_setting(self.name, self.defaults());
            // Settings changed through the live API before this first call apply now.
            if let Some(s) = crate::decide::config::pending_for(self.name, setting) {
                setting = s;
            }
            self.slots.store(sampling::alloc_slots(), Relaxed);
            self.seed
                .store(crate::decide::sticky::experiment_seed(self.name), Relaxed);
            let state = State {
                setting: Mutex::new(setting),
                timeout_us: AtomicU64::new(0),
                max_in_flight: AtomicU64::new(0),
                strict_live: std::sync::atomic::AtomicU8::new(0),
                cpu_time: AtomicBool::new(false),
                breaker: Mutex::new(Breaker::new(Instant::now())),
                breaker_on: AtomicBool::new(true),
                shared: [const { AtomicU64::new(0) }; sampling::PER_EXPERIMENT],
                breaker_fed: Mutex::new((0, 0)),
                running: crate::sync::capacity::Capacity::new(),
                abandoned: AtomicU64::new(0),
                retained: Mutex::new(Vec::new()),
                warned_no_runtime: AtomicBool::new(false),
                warned_stuck: AtomicBool::new(false),
                shed_late: AtomicU64::new(0),
                hung_watch: Mutex::new((0, None)),
                hung: AtomicBool::new(false),
                obs: crate::record::observe::Instruments::new(self.name),
                cutover: Mutex::new(Cutover::new(Instant::now())),
                served: AtomicU64::new(0),
                gate_tracking: AtomicBool::new(false),
                deadline_warned: Mutex::new(None),
                warned_no_ramp: AtomicBool::new(false),
                noise: crate::judge::noise::Noise::new(),
            };
            // Complete before anyone sees it: a call on another thread that finds the state but
            // not yet the gate decides from the settings in force (a ramp included).
            self.apply_fresh(&state, true);
            state
        });
        if fresh {
            let mut reg = lock(&REGISTRY);
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
            // Before any helper of the experiment runs (`run_if`, `sample_by`, ...): their
            // panics, caught, are then quiet from the first call on.
            crate::run::isolation::install_hook();
            // Again under the registry lock, as `live::set_global_enabled` refreshes every gate:
            // whichever runs last sees the latest switch.
            self.apply(st);
            drop(reg);
            crate::run::timer::start(housekeeping);
            crate::record::publish::summaries_from(snapshot_all);
            self.check_deadline(Instant::now());
        }
        st
    }
}

/// The timeout of an experiment that sets none (the attribute's `timeout`, the environment's
/// `timeout=`, [`crate::live::set_timeout`]): generous, it bounds hung candidates rather than
/// slow ones. `timeout = "none"` opts out.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;

/// Called by the timer thread every [`crate::run::timer::TICK`].
pub(crate) fn housekeeping() {
    static TICKS: AtomicU64 = AtomicU64::new(0);
    let n = TICKS.fetch_add(1, Relaxed);
    crate::run::lane::tick();
    crate::record::observe::flush_durations();
    if n % 4 == 1 && config::file::poll() {
        apply_file();
    }
    let now = Instant::now();
    for exp in registry() {
        exp.tick(now);
        if n % 4 == 3 {
            exp.publish_metrics(true);
        }
    }
    if n % 4 == 3 {
        let lane = crate::run::lane::snapshot();
        crate::record::observe::publish_lane(lane.queued, lane.budget_left_seconds);
    }
    crate::record::idle::wake_waiters();
}

/// Applies a new configuration file to every registered experiment: its settings recomputed from
/// the attribute, the environment and the file, with the live API's changes over them. Each
/// experiment changes at once (one lock); a ramp the file changed is a fresh one.
fn apply_file() {
    for exp in registry() {
        exp.replace_setting(|_| {
            let s = config::experiment_setting(exp.name(), exp.defaults());
            config::pending_for(exp.name(), s).unwrap_or(s)
        });
    }
}

/// The snapshot of every registered experiment, in order of first call.
pub(crate) fn snapshot_all() -> Vec<crate::record::view::ExperimentSnapshot> {
    registry().into_iter().map(view::view).collect()
}

/// Recomputes every registered experiment's gate (after the kill switch changed).
pub(crate) fn refresh_all_gates() {
    let reg = lock(&REGISTRY);
    for exp in reg.iter() {
        if let Some(st) = exp.state.get() {
            exp.apply(st);
        }
    }
}

/// The breaker of an experiment, for the snapshot.
pub(crate) fn breaker_view(exp: &'static Experiment) -> (BreakerState, u64, BreakerConfig) {
    let st = exp.state();
    let b = lock(&st.breaker);
    (b.state, b.trips, b.cfg)
}
