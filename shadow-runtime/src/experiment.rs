//! One [`Experiment`] per annotated function: its static definition, its lazily created state,
//! and the per-call decision.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Acquire, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::breaker::{Breaker, BreakerConfig, BreakerState, Transition};
use crate::config::{self, Mode, Order, Setting};
use crate::context::WriteMode;
use crate::cutover::{Criteria, Cutover};
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
///         s.finish_inline(&out, &shadow_runtime::DefaultComparator, shadow_runtime::exec::NoProbes);
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
    /// Failures of user helpers (comparator, ignore rules, run_if, before, Debug), per helper.
    pub(crate) internal_errors: Mutex<Vec<(&'static str, u64)>>,
    /// Per helper: when its failure was last warned about, and the failures since.
    pub(crate) helper_warnings: Mutex<Vec<(&'static str, Instant, u64)>>,
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
    pub(crate) keys: crate::observe::Keys,
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
    pub(crate) noise: crate::noise::Noise,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

static REGISTRY: Mutex<Vec<&'static Experiment>> = Mutex::new(Vec::new());

pub(crate) fn registry() -> Vec<&'static Experiment> {
    lock(&REGISTRY).clone()
}

impl Experiment {
    /// Declares an experiment. `sample` is the default rate (`0.0..=1.0`), which the experiment's
    /// environment variable and the live API override.
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
            default_timeout_ms: DEFAULT_TIMEOUT_MS,
            default_max_in_flight: config::DEFAULT_MAX_IN_FLIGHT,
            mode,
            order,
            strict: 0,
            default_cpu_time: false,
            default_criteria: None,
            default_deadline: None,
            writes: WriteMode::Refuse,
            no_ramp: false,
            noise_rate: 0.0,
            on_caller: false,
            compare_panics: false,
            default_spec: None,
            gate: crate::sync::gate::GateWord::new(UNINIT),
            sample_t: AtomicU64::new(0),
            ramp_t: AtomicU64::new(0),
            slots: AtomicUsize::new(sampling::NO_SLOTS),
            probes: crate::sync::probes::Probes::new(),
            seed: AtomicU64::new(0),
            state: OnceLock::new(),
        }
    }

    /// Sets the default candidate timeout in milliseconds (the attribute's `timeout`); without
    /// it the experiment gets [`DEFAULT_TIMEOUT_MS`]. `0` is no timeout (the attribute's
    /// `timeout = "none"`, [`without_timeout`](Self::without_timeout)).
    ///
    /// ```
    /// static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    ///     "docs::timed", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst)
    ///     .with_timeout_ms(150);
    /// # let _ = &EXP;
    /// ```
    pub const fn with_timeout_ms(mut self, ms: u64) -> Self {
        self.default_timeout_ms = ms;
        self
    }

    /// No default timeout (the attribute's `timeout = "none"`): a candidate may run for ever. A
    /// hung one then holds its concurrency slot for ever; when every slot is held so, the
    /// circuit breaker opens and a warning says so.
    ///
    /// ```
    /// static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    ///     "docs::untimed", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst)
    ///     .without_timeout();
    /// # let _ = &EXP;
    /// ```
    pub const fn without_timeout(mut self) -> Self {
        self.default_timeout_ms = 0;
        self
    }

    /// Spawns a detached async candidate on the caller's tokio runtime instead of the shadow
    /// lane's (the attribute's `runtime = caller`): for candidates that need something only the
    /// caller's runtime has. It then shares the caller's worker threads, and its CPU time is the
    /// caller's; the lane's queue and budget do not apply (`max_in_flight` does). Outside a tokio
    /// runtime the candidate goes to the lane (warned once).
    ///
    /// ```
    /// static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    ///     "docs::on_caller", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst)
    ///     .on_caller_runtime();
    /// assert!(EXP.runs_on_caller_runtime());
    /// ```
    pub const fn on_caller_runtime(mut self) -> Self {
        self.on_caller = true;
        self
    }

    /// When the primary panics, runs the candidate anyway (in shadow context, as usual) and judges
    /// it against the panic: a candidate that panics with the same message is a match, one that
    /// panics otherwise or returns a value is a mismatch (the attribute's `panics = compare`). The
    /// caller gets the primary's panic unchanged either way. Without it (the default, as
    /// `panics = propagate`) a primary panic is counted as `primary_panic` and the candidate does
    /// not run.
    ///
    /// ```
    /// static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    ///     "docs::panics", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst)
    ///     .comparing_panics();
    /// assert!(EXP.compares_panics());
    /// ```
    pub const fn comparing_panics(mut self) -> Self {
        self.compare_panics = true;
        self
    }

    /// Whether a primary panic is compared ([`comparing_panics`](Self::comparing_panics)).
    #[inline]
    pub fn compares_panics(&self) -> bool {
        self.compare_panics
    }

    /// Whether a detached async candidate is spawned on the caller's runtime
    /// ([`on_caller_runtime`](Self::on_caller_runtime)).
    pub fn runs_on_caller_runtime(&self) -> bool {
        self.on_caller
    }

    /// Measures each side's thread CPU time by default (the attribute's `cpu_time = true`): for
    /// sync code only, since an async side may move between threads. Costs two system calls per
    /// side on each shadowed call.
    ///
    /// ```
    /// static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    ///     "docs::cpu", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst)
    ///     .with_cpu_time(true);
    /// # let _ = &EXP;
    /// ```
    pub const fn with_cpu_time(mut self, on: bool) -> Self {
        self.default_cpu_time = on;
        self
    }

    /// Declares the promotion gate's success criteria (the attribute's `min_match_rate` and
    /// `min_samples`): a ramp above 0% is refused until the measured match rate meets them.
    ///
    /// ```
    /// static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    ///     "docs::gated", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst)
    ///     .with_gate(0.999, 10_000);
    /// # let _ = &EXP;
    /// ```
    pub const fn with_gate(mut self, min_match_rate: f64, min_samples: u64) -> Self {
        self.default_criteria = Some(Criteria {
            min_match_rate,
            min_samples,
            window: crate::cutover::DEFAULT_WINDOW,
        });
        self
    }

    /// Sets the deadline (the attribute's `deadline`), in days since 1970-01-01
    /// ([`crate::cutover::parse_date`]).
    ///
    /// ```
    /// static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    ///     "docs::boxed", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst)
    ///     .with_deadline(shadow_runtime::cutover::days_from_civil(2026, 12, 31));
    /// # let _ = &EXP;
    /// ```
    pub const fn with_deadline(mut self, days: i64) -> Self {
        self.default_deadline = Some(days);
        self
    }

    /// Sets how the shadow side must treat writes (the attribute's `writes`; default
    /// [`WriteMode::Refuse`]).
    ///
    /// ```
    /// use shadow_runtime::context::WriteMode;
    /// static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    ///     "docs::dry", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst)
    ///     .with_writes(WriteMode::DryRun);
    /// assert_eq!(EXP.writes(), WriteMode::DryRun);
    /// ```
    pub const fn with_writes(mut self, writes: WriteMode) -> Self {
        self.writes = writes;
        self
    }

    /// Declares the primary pure (or read-only) and runs it a second time, off the caller's path
    /// and after the candidate, on `rate` of the shadowed calls and on every call whose
    /// difference the noise learned so far does not explain, to learn where it differs from
    /// itself (the attribute's `noise`): a mismatch only at those paths counts as
    /// [`Outcome::Noise`] (see [noise cancellation](crate::noise)).
    ///
    /// ```
    /// static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    ///     "docs::noisy", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst)
    ///     .with_noise(0.05);
    /// assert_eq!(EXP.noise_rate(), 0.05);
    /// ```
    pub const fn with_noise(mut self, rate: f64) -> Self {
        self.noise_rate = rate;
        self
    }

    /// The share of shadowed calls whose primary runs twice.
    pub fn noise_rate(&self) -> f64 {
        self.noise_rate
    }

    /// Whether this call's primary should run a second time (a draw at the `noise` rate).
    pub(crate) fn noise_due(&self) -> bool {
        self.noise_rate > 0.0 && sampling::draw_any() < sampling::threshold(self.noise_rate)
            || self.noise_rate >= 1.0
    }

    /// How the shadow side must treat writes.
    pub fn writes(&self) -> WriteMode {
        self.writes
    }

    /// Marks one of several candidates of a function (`candidate = [v2, v3]`): it is compared but
    /// never serves, so a ramp setting is ignored (with a warning).
    ///
    /// ```
    /// static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    ///     "docs::one_of_two", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst)
    ///     .without_ramp();
    /// # let _ = &EXP;
    /// ```
    pub const fn without_ramp(mut self) -> Self {
        self.no_ramp = true;
        self
    }

    /// Whether shadowed calls measure thread CPU time now.
    #[inline]
    pub(crate) fn cpu_time(&'static self) -> bool {
        self.state().cpu_time.load(Relaxed)
    }

    /// Forces strict mode on or off for this experiment (the attribute's `strict`), whatever the
    /// global switch says.
    ///
    /// ```
    /// static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    ///     "docs::strict", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst)
    ///     .with_strict(true);
    /// assert!(EXP.is_strict());
    /// ```
    pub const fn with_strict(mut self, on: bool) -> Self {
        self.strict = if on { 1 } else { 2 };
        self
    }

    /// Whether a mismatch or candidate panic fails the call: the live setting
    /// ([`crate::live::set_strict`]) if given, else the attribute's `strict`, else the global
    /// switch ([`crate::config::set_strict`], `PARALLEL_RUN_STRICT`), else off.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::lenient", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst).with_strict(false);
    /// assert!(!EXP.is_strict());
    /// ```
    pub fn is_strict(&self) -> bool {
        let live = self
            .state
            .get()
            .map_or(0, |st| st.strict_live.load(Relaxed));
        match if live != 0 { live } else { self.strict } {
            1 => true,
            2 => false,
            _ => config::global_strict().unwrap_or(false),
        }
    }

    /// Sets the default cap of concurrent candidate executions (the attribute's `max_in_flight`).
    ///
    /// ```
    /// static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    ///     "docs::capped", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst)
    ///     .with_max_in_flight(8);
    /// # let _ = &EXP;
    /// ```
    pub const fn with_max_in_flight(mut self, n: u64) -> Self {
        self.default_max_in_flight = n;
        self
    }

    /// Sets defaults written in the format of the experiment's environment variable, a
    /// `key=value` list (`"sample=10%,timeout=150ms,breaker_ratio=0.3,ramp=0"`: every key of
    /// `PARALLEL_RUN__<EXPERIMENT>`), applied over the other builders' values and under the
    /// environment and the live API, as the attribute's are. For integrations whose settings come
    /// from a file (the HTTP proxy's routes). A list the parser refuses is warned about once per
    /// reading, as a bad environment value is, and the experiment is off.
    ///
    /// ```
    /// static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    ///     "docs::spec", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst)
    ///     .with_defaults("sample=0,max_in_flight=8");
    /// assert!(EXP.decide().is_none()); // sample 0
    /// let s = shadow_runtime::snapshot::experiment("docs::spec").unwrap();
    /// assert_eq!((s.sample_rate, s.max_in_flight), (0.0, 8));
    /// ```
    pub const fn with_defaults(mut self, spec: &'static str) -> Self {
        self.default_spec = Some(spec);
        self
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

    /// The attribute's settings, before the environment.
    pub(crate) fn defaults(&self) -> Setting {
        let timeout =
            (self.default_timeout_ms > 0).then(|| Duration::from_millis(self.default_timeout_ms));
        let base = Setting {
            cpu_time: self.default_cpu_time,
            criteria: self.default_criteria,
            deadline: self.default_deadline,
            ..Setting::defaults(self.default_sample, timeout, self.default_max_in_flight)
        };
        match self.default_spec {
            None => base,
            Some(spec) => config::parse_setting(spec, base).unwrap_or_else(|why| {
                tracing::warn!(
                    target: "parallel_run",
                    experiment = self.name,
                    "the defaults {spec:?} of experiment {:?} are refused ({why}); the experiment is off",
                    self.name
                );
                Setting {
                    enabled: false,
                    ..base
                }
            }),
        }
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
        // Calibrates the clock before any call can see the experiment's state.
        crate::clock::warm_up();
        let st = self.state.get_or_init(|| {
            fresh = true;
            let mut setting = config::experiment_setting(self.name, self.defaults());
            // Settings changed through the live API before this first call apply now.
            if let Some(s) = crate::live::pending_for(self.name, setting) {
                setting = s;
            }
            self.slots.store(sampling::alloc_slots(), Relaxed);
            self.seed
                .store(crate::sticky::experiment_seed(self.name), Relaxed);
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
                internal_errors: Mutex::new(Vec::new()),
                helper_warnings: Mutex::new(Vec::new()),
                warned_no_runtime: AtomicBool::new(false),
                warned_stuck: AtomicBool::new(false),
                shed_late: AtomicU64::new(0),
                hung_watch: Mutex::new((0, None)),
                hung: AtomicBool::new(false),
                keys: crate::observe::Keys::new(self.name),
                cutover: Mutex::new(Cutover::new(Instant::now())),
                served: AtomicU64::new(0),
                gate_tracking: AtomicBool::new(false),
                deadline_warned: Mutex::new(None),
                warned_no_ramp: AtomicBool::new(false),
                noise: crate::noise::Noise::new(),
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
            crate::isolation::install_hook();
            // Again under the registry lock, as `set_global_enabled` refreshes every gate:
            // whichever runs last sees the latest switch.
            self.apply(st);
            drop(reg);
            crate::timer::start();
            self.check_deadline(Instant::now());
        }
        st
    }

    /// Decides whether this call is shadowed: `None` (the call is counted as disabled, sampled out
    /// or circuit open) or a [`ShadowCall`] that the generated code completes. Reads one atomic
    /// word and, when sampling, makes one per-thread random draw; never allocates after the
    /// experiment's first call.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::never", 0.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// assert!(EXP.decide().is_none()); // rate 0: never shadowed
    /// ```
    #[inline(always)]
    pub fn decide(&'static self) -> Option<ShadowCall> {
        if cfg!(feature = "no-shadow") {
            // Compiled out: every shadow path after this is dead code and is removed.
            return None;
        }
        // Inlined into every annotated function, so kept small: one atomic load decides the
        // common cases; the first call, the shadowed path and the counters' fallbacks are out of
        // line, and none of them returns the `Option`, so a skipped call builds `None` in
        // registers.
        let t = self.gate.load();
        let inside = if t == u64::MAX {
            true
        } else if t <= RAMP {
            if !self.skip_fast(t) {
                return self.decide_slow(t);
            }
            false
        } else {
            match sampling::draw(self.slots.load(Relaxed), t) {
                Some(inside) => inside,
                None => return self.decide_slow(t),
            }
        };
        if inside {
            self.begin()
        } else {
            None
        }
    }

    /// [`decide`](Self::decide) with a `run_if` predicate (evaluated only when the experiment is
    /// on; a panic in it counts as "no", reported once) and a sampling key: `key(seed)` returns
    /// the key's sticky hash under the experiment's seed ([`crate::sticky::key_hash`]) to make the
    /// decision sticky, or `None` for a random draw.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::eur_only", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// let currency = "USD";
    /// assert!(EXP.decide_with(|| currency == "EUR", |_| None).is_none());
    /// let s = shadow_runtime::snapshot::experiment("docs::eur_only").unwrap();
    /// assert_eq!(s.counts.get(shadow_runtime::Outcome::Filtered), 1);
    /// ```
    #[inline(always)]
    pub fn decide_with<R, K>(&'static self, run_if: R, key: K) -> Option<ShadowCall>
    where
        R: FnOnce() -> bool,
        K: FnOnce(u64) -> Option<u64>,
    {
        if cfg!(feature = "no-shadow") {
            return None;
        }
        let mut t = self.gate.load();
        if t == UNINIT {
            t = self.first_gate();
        }
        if t == 0 || t == OPEN {
            // Off, or breaker open / half-open (probes skip run_if and the key: they test the
            // candidate).
            return if self.skip_fast(t) {
                None
            } else {
                self.decide_slow(t)
            };
        }
        if !self.run_if(run_if) {
            self.count_skip(Skip::Filtered);
            return None;
        }
        let Ok(key) = self.helper("sample_by", || key(self.seed.load(Relaxed))) else {
            self.count_skip(Skip::Filtered);
            return None;
        };
        if t == RAMP {
            return self.decide_ramp(key);
        }
        let inside = match key {
            Some(h) => {
                let inside = t == u64::MAX || h < t;
                if !inside {
                    self.count_skip(Skip::SampledOut);
                }
                inside
            }
            None if t == u64::MAX => true,
            None => match sampling::draw(self.slots.load(Relaxed), t) {
                Some(inside) => inside,
                None => return self.decide_slow(t),
            },
        };
        if inside {
            self.begin()
        } else {
            None
        }
    }

    /// The gate at the first call: initialises the experiment.
    #[cold]
    #[inline(never)]
    fn first_gate(&'static self) -> u64 {
        let st = self.state();
        match self.gate.load() {
            // Another thread is still initialising: decide from the settings directly.
            UNINIT => self.effective_gate(st),
            t => t,
        }
    }

    /// Runs one of the attribute's helpers (a user expression) quietly: its panic is reported as
    /// an internal error of `helper` (once per message) and the call goes on.
    #[inline]
    pub(crate) fn helper<R>(
        &'static self,
        helper: &'static str,
        f: impl FnOnce() -> R,
    ) -> Result<R, ()> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::isolation::quietly(f)
        }))
        .map_err(|p| {
            let msg = crate::compare::panic_message(&*p);
            crate::observe::internal_error(self, helper, &format!("{msg}; the call goes on"));
        })
    }

    fn run_if(&'static self, f: impl FnOnce() -> bool) -> bool {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::isolation::quietly(f)
        })) {
            Ok(b) => b,
            Err(p) => {
                let msg = crate::compare::panic_message(&*p);
                crate::observe::internal_error(
                    self,
                    "run_if",
                    &format!("{msg}; the call is not shadowed"),
                );
                false
            }
        }
    }

    /// Counts a skipped call (gate 0 or [`OPEN`] without probes) in this thread's slot; `false`
    /// when it must go the slow way (first call, probes available, no slot).
    #[inline(always)]
    fn skip_fast(&self, t: u64) -> bool {
        let which = match t {
            0 => Skip::Disabled,
            OPEN if self.probes.left() == 0 => Skip::CircuitOpen,
            _ => return false,
        };
        sampling::bump(self.slots.load(Relaxed), which)
    }

    #[inline(always)]
    fn count_skip(&'static self, which: Skip) {
        if !sampling::bump(self.slots.load(Relaxed), which) {
            self.count_shared(which);
        }
    }

    #[cold]
    #[inline(never)]
    fn count_shared(&'static self, which: Skip) {
        self.state().shared[which as usize].fetch_add(1, Relaxed);
    }

    /// Adds `n` to one of the experiment's counters ([`sampling::slot`]): this thread's slot, or
    /// the shared fallback.
    #[inline]
    pub(crate) fn count(&'static self, slot: usize, n: u64) {
        if !sampling::add(self.slots.load(Relaxed), slot, n) {
            self.state().shared[slot].fetch_add(n, Relaxed);
        }
    }

    /// Adds to several counters (`(slot, n)`) with one lookup of this thread's block.
    #[inline]
    pub(crate) fn count_all(&'static self, adds: &[(usize, u64)]) {
        if !sampling::add_all(self.slots.load(Relaxed), adds) {
            let st = self.state();
            for &(slot, n) in adds {
                st.shared[slot].fetch_add(n, Relaxed);
            }
        }
    }

    /// One of the experiment's counters, over all threads.
    pub(crate) fn total(&'static self, slot: usize) -> u64 {
        self.state().shared[slot].load(Acquire) + sampling::read(self.slots.load(Relaxed), slot)
    }

    /// The count of one outcome.
    pub(crate) fn outcome_total(&'static self, o: Outcome) -> u64 {
        self.total(sampling::slot::OUTCOMES + o.index())
    }

    /// Shadowed calls opened and not decided yet. Decided is read first: a call decided
    /// meanwhile shows as opened, never as decided and not opened.
    pub(crate) fn in_flight(&'static self) -> u64 {
        let closed = self.total(sampling::slot::CLOSED);
        self.total(sampling::slot::OPENED).saturating_sub(closed)
    }

    /// The first call (initialises the state), half-open probes, and skipped calls that cannot
    /// use the per-thread counters (no slots left, or the thread is exiting).
    #[cold]
    #[inline(never)]
    fn decide_slow(&'static self, mut t: u64) -> Option<ShadowCall> {
        if t == UNINIT {
            t = self.first_gate();
        }
        if t == RAMP {
            return self.decide_ramp(None);
        }
        let inside = match t {
            u64::MAX => true,
            0 => false,
            OPEN => self.probes.take(),
            _ => sampling::draw_any() < t,
        };
        if !inside {
            self.count_skip(match t {
                0 => Skip::Disabled,
                OPEN => Skip::CircuitOpen,
                _ => Skip::SampledOut,
            });
            return None;
        }
        self.begin()
    }

    /// A call while a ramp is in force: who serves it (sticky by the key's hash, re-mixed so
    /// that serving and sampling are independent), and whether it is shadowed (the legacy code
    /// when the candidate serves, the candidate otherwise).
    #[cold]
    #[inline(never)]
    fn decide_ramp(&'static self, key: Option<u64>) -> Option<ShadowCall> {
        let within = |h: u64, t: u64| t == u64::MAX || h < t;
        let (serve_draw, sample_draw) = match key {
            Some(h) => (crate::sticky::ramp_hash(h), h),
            None => (sampling::draw_any(), sampling::draw_any()),
        };
        let served = within(serve_draw, self.ramp_t.load(Relaxed));
        let shadowed = within(sample_draw, self.sample_t.load(Relaxed));
        if served {
            self.state().served.fetch_add(1, Relaxed);
        }
        // A served call shadows the legacy code inline: it needs a slot, not the lane.
        let served_shadow = |exp: &'static Experiment| -> Option<Option<RunSlot>> {
            if exp.nested() {
                exp.count_skip(Skip::Nested);
                return None;
            }
            match exp.acquire() {
                Some(slot) => Some(Some(slot)),
                None => {
                    exp.count_skip(Skip::ShedCap);
                    exp.shed_while_stuck();
                    None
                }
            }
        };
        match (served, shadowed) {
            (false, false) => {
                self.count_skip(Skip::SampledOut);
                None
            }
            (false, true) => self.begin(),
            (true, true) => match served_shadow(self) {
                Some(slot) => {
                    crate::isolation::install_hook();
                    self.count(sampling::slot::OPENED, 1);
                    let mut ticket = Ticket::new(self, Phase::Primary, false);
                    ticket.served = true;
                    Some(ShadowCall {
                        ticket,
                        candidate_first: false,
                        served: true,
                        shadowed: true,
                        slot,
                        admission: None,
                    })
                }
                // Nested or shed: the candidate still serves, with nothing compared.
                None => Some(self.served_only()),
            },
            (true, false) => {
                // Served and not compared: counted as sampled out, with no ticket to resolve.
                self.count_skip(Skip::SampledOut);
                Some(self.served_only())
            }
        }
    }

    /// A call the candidate serves with nothing compared (no ticket to resolve).
    fn served_only(&'static self) -> ShadowCall {
        let mut ticket = Ticket::new(self, Phase::Primary, true);
        ticket.served = true;
        ShadowCall {
            ticket,
            candidate_first: false,
            served: true,
            shadowed: false,
            slot: None,
            admission: None,
        }
    }

    /// The gate for the current settings, kill switch, breaker and ramp.
    fn effective_gate(&self, st: &State) -> u64 {
        let s = *lock(&st.setting);
        if !s.enabled || !config::global_enabled() {
            0
        } else if lock(&st.breaker).state != BreakerState::Closed {
            OPEN
        } else {
            let ramp = lock(&st.cutover).effective();
            if ramp > 0.0 && !self.no_ramp {
                self.sample_t.store(sampling::threshold(s.sample), Relaxed);
                self.ramp_t.store(sampling::threshold(ramp), Relaxed);
                RAMP
            } else {
                sampling::threshold(s.sample)
            }
        }
    }

    /// Publishes the settings in force: the mirrors read off the caller's path, and the gate.
    pub(crate) fn apply(&self, st: &State) {
        self.apply_fresh(st, false)
    }

    /// [`apply`](Self::apply); `fresh`: the ramp was set explicitly (clears a gate fall-back).
    pub(crate) fn apply_fresh(&self, st: &State, fresh: bool) {
        let s = *lock(&st.setting);
        if s.ramp > 0.0 && self.no_ramp && !st.warned_no_ramp.swap(true, Relaxed) {
            tracing::warn!(
                target: "parallel_run",
                experiment = self.name,
                "{} is one of several candidates of a function: it is compared but never serves, so its ramp ({}) is ignored",
                self.name,
                s.ramp
            );
        }
        st.gate_tracking
            .store(s.ramp > 0.0 || s.criteria.is_some(), Relaxed);
        let change =
            lock(&st.cutover).configure(s.ramp, s.criteria, fresh, crate::timer::coarse_now());
        if let Some(c) = change {
            self.gate_changed(st, c);
        }
        lock(&st.breaker).cfg = s.breaker;
        st.breaker_on.store(s.breaker.enabled, Relaxed);
        st.timeout_us.store(
            s.timeout.map_or(0, |d| d.as_micros().max(1) as u64),
            Relaxed,
        );
        st.max_in_flight.store(s.max_in_flight, Relaxed);
        st.cpu_time.store(s.cpu_time, Relaxed);
        st.strict_live.store(
            match s.strict {
                None => 0,
                Some(true) => 1,
                Some(false) => 2,
            },
            Relaxed,
        );
        self.gate.publish(|| self.effective_gate(st));
    }

    /// Changes the settings in force (live API, environment reload). `fresh`: the ramp was set
    /// explicitly.
    pub(crate) fn update(&'static self, fresh: bool, f: impl FnOnce(&mut Setting)) {
        let st = self.state();
        f(&mut lock(&st.setting));
        self.apply_fresh(st, fresh);
    }

    /// Forgets the promotion gate's measurements (a new candidate version was deployed).
    pub(crate) fn reset_gate_window(&'static self) {
        let st = self.state();
        let change = lock(&st.cutover).reset_window(crate::timer::coarse_now());
        if let Some(c) = change {
            self.gate_changed(st, c);
        }
        self.gate.publish(|| self.effective_gate(st));
    }

    /// Logs a change of the promotion gate. The caller re-publishes the gate word.
    fn gate_changed(&self, st: &State, c: crate::cutover::Change) {
        use crate::cutover::Change;
        let cut = lock(&st.cutover);
        let pct = cut.requested() * 100.0;
        let crit = cut.criteria();
        let (good, total) = cut.measured(crate::timer::coarse_now());
        let rate = if total > 0 {
            format!("{:.3}%", good as f64 * 100.0 / total as f64)
        } else {
            "n/a".to_owned()
        };
        let need = crit.map_or_else(String::new, |c| {
            format!(
                "; needs >= {:.3}% over >= {} samples",
                c.min_match_rate * 100.0,
                c.min_samples
            )
        });
        drop(cut);
        match c {
            Change::Opened => tracing::info!(
                target: "parallel_run",
                experiment = self.name,
                "ramp of {} at {pct}%: the candidate now serves that share of calls (match rate {rate} over {total} samples{need})",
                self.name
            ),
            Change::Refused => tracing::warn!(
                target: "parallel_run",
                experiment = self.name,
                "ramp of {} to {pct}% refused by the promotion gate: match rate {rate} over {total} samples{need}; the legacy code serves every call",
                self.name
            ),
            Change::FellBack => tracing::warn!(
                target: "parallel_run",
                experiment = self.name,
                "ramp of {} fell back from {pct}% to 0%: match rate {rate} over {total} samples{need}; set the ramp again to retry",
                self.name
            ),
        }
    }

    /// Warns when the deadline has passed: at the first call, then at most once an hour.
    pub(crate) fn check_deadline(&'static self, now: Instant) {
        let st = self.state();
        let deadline = lock(&st.setting).deadline;
        if !crate::cutover::overdue(deadline, crate::cutover::today()) {
            return;
        }
        let mut last = lock(&st.deadline_warned);
        if last.is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(3600)) {
            return;
        }
        *last = Some(now);
        drop(last);
        tracing::warn!(
            target: "parallel_run",
            experiment = self.name,
            deadline = %crate::cutover::format_date(deadline.unwrap_or(0)),
            "parallel run {} is past its deadline {}: decide (promote the candidate, or remove it) and retire the experiment",
            self.name,
            crate::cutover::format_date(deadline.unwrap_or(0))
        );
    }

    pub(crate) fn setting(&'static self) -> Setting {
        *lock(&self.state().setting)
    }

    /// Skipped calls of one kind, over all threads.
    pub(crate) fn skipped(&'static self, which: Skip) -> u64 {
        self.total(which as usize)
    }

    /// A call sampled for shadowing: skipped as [`Outcome::Nested`] inside a shadow run or inside
    /// this experiment's own primary, shed when no concurrency slot or no place on the shadow
    /// lane is free (before anything of the shadow is prepared: no argument copied, no clock
    /// read), else started.
    #[cold]
    #[inline(never)]
    fn begin(&'static self) -> Option<ShadowCall> {
        let (slot, admission) = self.admit()?;
        crate::isolation::install_hook();
        self.count(sampling::slot::OPENED, 1);
        Some(ShadowCall {
            ticket: Ticket::new(self, Phase::Primary, false),
            candidate_first: self.mode == Mode::Inline
                && self.order == Order::Random
                && sampling::coin(),
            served: false,
            shadowed: true,
            slot: Some(slot),
            admission,
        })
    }

    /// Whether a call now is nested: made inside a shadow run (the candidate, a noise re-run,
    /// the legacy code shadowing a ramp, anything on the shadow lane) or inside this
    /// experiment's own primary (recursion). Such a call starts no shadow: a shadow never
    /// multiplies load.
    fn nested(&'static self) -> bool {
        crate::context::in_shadow() || sampling::active(self.slots.load(Relaxed))
    }

    /// What a call needs before its shadow is prepared: not nested, a concurrency slot, and (for
    /// a detached candidate that runs on the lane) a place on the lane. `None` when it is
    /// skipped or shed (counted).
    fn admit(&'static self) -> Option<(RunSlot, Option<crate::lane::Admission>)> {
        if self.nested() {
            self.count_skip(Skip::Nested);
            return None;
        }
        let Some(slot) = self.acquire() else {
            self.count_skip(Skip::ShedCap);
            self.shed_while_stuck();
            return None;
        };
        if self.mode == Mode::Inline || self.on_caller || self.is_strict() {
            return Some((slot, None));
        }
        match crate::lane::admit() {
            Ok(a) => Some((slot, Some(a))),
            Err(why) => {
                drop(slot);
                self.count_skip(why.skip());
                None
            }
        }
    }

    /// A call shed because every slot is held: when the slots are held by candidates past their
    /// timeout that have not returned (hung), the candidate is what stops shadowing, so it counts
    /// as a failure for the circuit breaker (which then opens instead of shedding for ever), and
    /// it is warned about once.
    fn shed_while_stuck(&'static self) {
        let st = self.state();
        let cap = st.max_in_flight.load(Relaxed).max(1);
        if st.abandoned.load(Relaxed) < cap && !st.hung.load(Relaxed) {
            return;
        }
        if !st.warned_stuck.swap(true, Relaxed) {
            tracing::warn!(
                target: "parallel_run",
                experiment = self.name,
                "every concurrency slot of {} ({cap}) is held by a candidate that passed its timeout and has not returned: \
                 the candidate hangs; calls are shed and the circuit breaker opens (warned once)",
                self.name
            );
        }
        if st.breaker_on.load(Relaxed) {
            self.breaker_result(true);
        }
    }

    /// Feeds one candidate result to the circuit breaker.
    pub(crate) fn breaker_result(&'static self, failed: bool) {
        let st = self.state();
        let t = lock(&st.breaker).on_result(failed, crate::timer::coarse_now());
        if let Some(t) = t {
            self.transition(t);
        }
    }

    /// Takes a concurrency slot for one candidate execution, or `None` when `max_in_flight` are
    /// taken (the call is then shed).
    pub(crate) fn acquire(&'static self) -> Option<RunSlot> {
        let st = self.state();
        let cap = st.max_in_flight.load(Relaxed).max(1);
        // A load first: a shed call (all slots taken, the common case under overload) then
        // writes nothing.
        // `then`, not `then_some`: a refused attempt must not make (and drop) a slot.
        st.running.try_take(cap).then(|| RunSlot { exp: self })
    }

    /// Marks this thread as running this experiment's primary for the guard's life: a call of the
    /// experiment meanwhile (recursion) starts no shadow.
    pub(crate) fn enter_primary(&'static self) -> ActivePrimary {
        let base = self.slots.load(Relaxed);
        sampling::set_active(base, true);
        ActivePrimary { base }
    }

    /// The timeout in force, if any.
    #[inline]
    pub(crate) fn timeout(&'static self) -> Option<Duration> {
        match self.state().timeout_us.load(Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// Records the outcome of a shadowed call (exactly once per [`Ticket`]). `candidate_failed`
    /// feeds the circuit breaker: `Some(true)` for a panic, a timeout or an `Err` where the
    /// primary returned `Ok`; `Some(false)` for a judged run; `None` for outcomes that say
    /// nothing about the candidate.
    pub(crate) fn record(
        &'static self,
        outcome: Outcome,
        discrepancy: Option<Discrepancy>,
        candidate_failed: Option<bool>,
        timed: Option<(&crate::exec::Took, &crate::exec::Took)>,
    ) {
        use sampling::slot;
        let st = self.state();
        // The counters, with one lookup of this thread's block. Decided (CLOSED) goes last: a
        // reader that sees the call decided sees its outcome too. The breaker is fed at the
        // timer's next tick, from the counts (no lock here).
        let (p_us, c_us, n) = timed.map_or((0, 0, 0), |(p, c)| {
            (p.wall.as_micros() as u64, c.wall.as_micros() as u64, 1)
        });
        let failed = u64::from(candidate_failed == Some(true));
        // Nothing to retain or publish (the common call): decided in the same batch, last.
        let closed = u64::from(discrepancy.is_none() && !st.gate_tracking.load(Relaxed));
        self.count_all(&[
            (slot::OUTCOMES + outcome.index(), 1),
            (slot::PRIMARY_US, p_us),
            (slot::CANDIDATE_US, c_us),
            (slot::TIMED, n),
            (slot::FAILED, failed),
            (slot::CLOSED, closed),
        ]);
        if let Some((p, c)) = timed {
            crate::observe::durations(self, p, c);
        }
        if discrepancy.is_some() {
            crate::observe::outcome(self, outcome, discrepancy.as_ref());
        }
        if let Some(d) = discrepancy {
            crate::publish::publish(self, &d);
            let mut kept = lock(&st.retained);
            if kept.len() < crate::snapshot::RETAINED {
                kept.push(d);
            }
        }
        if st.gate_tracking.load(Relaxed) && crate::cutover::gate_sample(outcome).is_some() {
            let change = lock(&st.cutover).on_outcome(outcome, crate::timer::coarse_now());
            if let Some(c) = change {
                self.gate_changed(st, c);
                self.gate.publish(|| self.effective_gate(st));
            }
        }
        if closed == 0 {
            self.count(slot::CLOSED, 1);
        }
        crate::snapshot::done_one();
    }

    fn transition(&'static self, t: Transition) {
        let st = self.state();
        match t {
            Transition::Open => {
                self.probes.grant(0);
                tracing::warn!(
                    target: "parallel_run",
                    experiment = self.name,
                    "circuit breaker of {} opened: its candidate failed too often; shadowing stops for the cool-down",
                    self.name
                );
            }
            Transition::HalfOpen(n) => {
                self.probes.grant(n);
                tracing::info!(target: "parallel_run", experiment = self.name, probes = n, "circuit breaker half-open");
            }
            Transition::Close => {
                self.probes.grant(0);
                tracing::info!(target: "parallel_run", experiment = self.name, "circuit breaker closed");
            }
        }
        self.apply(st);
    }

    /// Periodic work on the timer thread: half-open breakers whose cool-down has passed, the
    /// deadline warning.
    fn tick(&'static self, now: Instant) {
        let st = self.state();
        self.feed_breaker();
        let t = lock(&st.breaker).on_tick(now);
        if let Some(t) = t {
            self.transition(t);
        }
        self.check_deadline(now);
        self.watch_hung(now);
    }

    /// Feeds the circuit breaker the candidate runs judged since its last feed (from the timer
    /// thread: a judged call counts its outcome per thread and takes no lock).
    pub(crate) fn feed_breaker(&'static self) {
        let st = self.state();
        let judged: u64 = crate::breaker::JUDGED
            .iter()
            .map(|o| self.outcome_total(*o))
            .sum();
        let failed = self.total(sampling::slot::FAILED);
        let (dj, df) = {
            let mut fed = lock(&st.breaker_fed);
            let d = (judged.saturating_sub(fed.0), failed.saturating_sub(fed.1));
            *fed = (judged.max(fed.0), failed.max(fed.1));
            d
        };
        if dj == 0 && df == 0 {
            return;
        }
        let t = lock(&st.breaker).on_results(dj, df, crate::timer::coarse_now());
        if let Some(t) = t {
            self.transition(t);
        }
    }

    /// Every slot held, and no shadowed call decided for a whole circuit-breaker window (10 s by
    /// default): the candidates hang (an experiment with `timeout = "none"`, or candidates that
    /// never return even after their timeout). Warned once; the circuit breaker opens; calls shed
    /// meanwhile count as failures.
    fn watch_hung(&'static self, now: Instant) {
        let st = self.state();
        let cap = st.max_in_flight.load(Relaxed).max(1);
        let decided = self.total(sampling::slot::CLOSED);
        let mut w = lock(&st.hung_watch);
        if st.running.held() < cap || decided != w.0 {
            *w = (decided, None);
            st.hung.store(false, Relaxed);
            return;
        }
        let since = *w.1.get_or_insert(now);
        drop(w);
        let window = lock(&st.breaker).cfg.window;
        if now.saturating_duration_since(since) < window || st.hung.swap(true, Relaxed) {
            return;
        }
        if !st.warned_stuck.swap(true, Relaxed) {
            tracing::warn!(
                target: "parallel_run",
                experiment = self.name,
                "every concurrency slot of {} ({cap}) has been held for {:?} with no candidate finishing: \
                 the candidates hang; calls are shed and the circuit breaker opens (warned once)",
                self.name,
                window
            );
        }
        let t = lock(&st.breaker).force_open(crate::timer::coarse_now());
        if let Some(t) = t {
            self.transition(t);
        }
    }
}

/// The timeout of an experiment that sets none (the attribute's `timeout`, the environment's
/// `timeout=`, [`crate::live::set_timeout`]): generous, it bounds hung candidates rather than
/// slow ones. `timeout = "none"` opts out.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;

/// Called by the timer thread every [`crate::timer::TICK`].
pub(crate) fn housekeeping() {
    static TICKS: AtomicU64 = AtomicU64::new(0);
    let n = TICKS.fetch_add(1, Relaxed);
    crate::lane::tick();
    let now = Instant::now();
    for exp in registry() {
        exp.tick(now);
        if n % 4 == 3 {
            crate::observe::publish(exp, true);
        }
    }
    if n % 4 == 3 {
        crate::observe::publish_lane();
    }
    crate::snapshot::wake_waiters();
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

/// A concurrency slot of one candidate execution, taken when the call is decided; released when
/// dropped (when the candidate really ends, even after its call was resolved as timed out).
pub(crate) struct RunSlot {
    exp: &'static Experiment,
}

/// This thread runs an experiment's primary (see [`Experiment::enter_primary`]); unmarked when
/// dropped.
pub(crate) struct ActivePrimary {
    base: usize,
}

impl Drop for ActivePrimary {
    fn drop(&mut self) {
        sampling::set_active(self.base, false);
    }
}

impl Drop for RunSlot {
    fn drop(&mut self) {
        self.exp.state().running.give_back();
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
    /// The candidate serves this call; the legacy code is the shadow.
    pub(crate) served: bool,
    /// The candidate ran before the primary (`order = random`).
    pub(crate) candidate_first: bool,
    /// What the attribute attached to the call, if anything (kept out of line: most calls carry
    /// nothing, and the ticket moves with the call).
    pub(crate) extras: Option<Box<Extras>>,
}

/// What the attribute may attach to a shadowed call.
#[derive(Default)]
pub(crate) struct Extras {
    /// The call's context (the attribute's `context = {...}`), evaluated when it was shadowed.
    pub(crate) context: Vec<(&'static str, String)>,
    /// The attribute's `on_outcome` hook.
    pub(crate) hook: Option<fn(&crate::outcome::OutcomeRecord)>,
    /// The call's idempotency key (the attribute's `idempotency_key`).
    pub(crate) key: Option<std::sync::Arc<str>>,
    /// The call's sampling key, rendered (the attribute's `sample_by`), for its records.
    pub(crate) sample_key: Option<String>,
    /// The call's arguments as JSON (the attribute's `record_inputs`), for its records.
    pub(crate) inputs: Option<serde_json::Value>,
}

impl Ticket {
    /// A ticket with nothing attached yet; `done` tickets record nothing when dropped.
    pub(crate) fn new(exp: &'static Experiment, phase: Phase, done: bool) -> Ticket {
        Ticket {
            exp,
            phase,
            done,
            served: false,
            candidate_first: false,
            extras: None,
        }
    }

    fn extras_mut(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Default::default)
    }

    /// The call's idempotency key.
    pub(crate) fn key(&self) -> Option<std::sync::Arc<str>> {
        self.extras.as_ref()?.key.clone()
    }

    /// The call's `on_outcome` hook.
    pub(crate) fn hook(&self) -> Option<fn(&crate::outcome::OutcomeRecord)> {
        self.extras.as_ref()?.hook
    }

    /// The call's context.
    pub(crate) fn context(&self) -> &[(&'static str, String)] {
        self.extras.as_ref().map_or(&[], |e| &e.context)
    }

    pub(crate) fn resolve(
        mut self,
        outcome: Outcome,
        discrepancy: Option<Discrepancy>,
        candidate_failed: Option<bool>,
    ) {
        self.done = true;
        self.exp
            .record(outcome, discrepancy, candidate_failed, None);
    }

    /// [`resolve`](Self::resolve) for a call whose sides ran: their durations are recorded too.
    pub(crate) fn resolve_timed(
        mut self,
        outcome: Outcome,
        discrepancy: Option<Discrepancy>,
        candidate_failed: Option<bool>,
        primary: &crate::exec::Took,
        candidate: &crate::exec::Took,
    ) {
        self.done = true;
        self.exp.record(
            outcome,
            discrepancy,
            candidate_failed,
            Some((primary, candidate)),
        );
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
            self.exp.record(outcome, None, None, None);
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
    /// The candidate serves this call (a ramp): the roles swap.
    pub(crate) served: bool,
    /// The other side runs as the shadow and is compared.
    pub(crate) shadowed: bool,
    /// The concurrency slot of the shadow run (taken when the call was decided).
    pub(crate) slot: Option<RunSlot>,
    /// The candidate's place on the shadow lane (detached candidates that run there).
    pub(crate) admission: Option<crate::lane::Admission>,
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

    /// Attaches key/value context to this call: it appears in the call's discrepancy record and
    /// log events (the attribute's `context = { "order_id": order.id }`).
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::ctx", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// let call = EXP.decide().unwrap().with_context(vec![("order_id", "42".to_string())]);
    /// # drop(call);
    /// ```
    pub fn with_context(mut self, context: Vec<(&'static str, String)>) -> Self {
        self.ticket.extras_mut().context = context;
        self
    }

    /// [`with_context`](Self::with_context) with the context computed by `f`, which may panic: a
    /// panic is reported as an internal error of helper `context` and the call keeps a context
    /// that says so (the attribute's `context` values are evaluated this way).
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::ctx_from", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// let call = EXP.decide().unwrap().with_context_from(|| vec![("order_id", "42".to_string())]);
    /// # drop(call);
    /// ```
    pub fn with_context_from(self, f: impl FnOnce() -> Vec<(&'static str, String)>) -> Self {
        let context = self
            .ticket
            .exp
            .helper("context", f)
            .unwrap_or_else(|()| vec![("context", "(a context value panicked)".to_owned())]);
        self.with_context(context)
    }

    /// [`with_sample_key`](Self::with_sample_key) with the key rendered by `f`, which may panic
    /// (reported as helper `sample_by`; the record then has no key).
    pub fn with_sample_key_from(self, f: impl FnOnce() -> String) -> Self {
        match self.ticket.exp.helper("sample_by", f) {
            Ok(key) => self.with_sample_key(key),
            Err(()) => self,
        }
    }

    /// [`with_inputs`](Self::with_inputs) with the arguments serialised by `f`, which may panic
    /// (a `Serialize` impl; reported as helper `record_inputs`; the record then has no inputs).
    pub fn with_inputs_from(self, f: impl FnOnce() -> Vec<serde_json::Value>) -> Self {
        match self.ticket.exp.helper("record_inputs", f) {
            Ok(inputs) => self.with_inputs(inputs),
            Err(()) => self,
        }
    }

    /// Sets the hook called with this call's judged outcome (the attribute's `on_outcome`). It
    /// runs where the judging happens (off the caller's path in detached mode); a panic in it is
    /// reported as an internal error of helper `on_outcome`.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::hook", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// let call = EXP.decide().unwrap().with_hook(|r| assert_eq!(r.experiment, "docs::hook"));
    /// call.with_candidate(|| 1).finish_inline(&1, &shadow_runtime::DefaultComparator, shadow_runtime::exec::NoProbes);
    /// ```
    pub fn with_hook(mut self, hook: fn(&crate::outcome::OutcomeRecord)) -> Self {
        self.ticket.extras_mut().hook = Some(hook);
        self
    }

    /// Gives the call's idempotency key to both sides through the context
    /// ([`crate::context::idempotency_key`]): the attribute's `idempotency_key = ...`.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::idem_call", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// let call = EXP.decide().unwrap().with_idempotency_key("order-7".into());
    /// let p = call.with_candidate(|| shadow_runtime::context::idempotency_key());
    /// let out = p.run_inline(|| shadow_runtime::context::idempotency_key(), &shadow_runtime::DefaultComparator, shadow_runtime::exec::NoProbes);
    /// assert_eq!(out.as_deref(), Some("order-7"));
    /// assert_eq!(shadow_runtime::snapshot::experiment("docs::idem_call").unwrap().counts.get(shadow_runtime::Outcome::Match), 1);
    /// ```
    pub fn with_idempotency_key(mut self, key: std::sync::Arc<str>) -> Self {
        self.ticket.extras_mut().key = Some(key);
        self
    }

    /// Records the call's sampling key (rendered) in its discrepancy records and log lines.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::keyed", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// let call = EXP.decide().unwrap().with_sample_key("customer-9".into());
    /// call.with_candidate(|| 2).finish_inline(&1, &shadow_runtime::DefaultComparator, shadow_runtime::exec::NoProbes);
    /// let s = shadow_runtime::snapshot::experiment("docs::keyed").unwrap();
    /// assert_eq!(s.discrepancies[0].key.as_deref(), Some("customer-9"));
    /// ```
    pub fn with_sample_key(mut self, key: String) -> Self {
        self.ticket.extras_mut().sample_key = Some(key);
        self
    }

    /// Records the call's arguments (as JSON) in its discrepancy records and log lines, so that
    /// [`crate::testing::replay`] can run them again (the attribute's `record_inputs = true`).
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::inputs", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// let call = EXP.decide().unwrap().with_inputs(vec![serde_json::json!(41)]);
    /// call.with_candidate(|| 2).finish_inline(&1, &shadow_runtime::DefaultComparator, shadow_runtime::exec::NoProbes);
    /// let s = shadow_runtime::snapshot::experiment("docs::inputs").unwrap();
    /// assert_eq!(s.discrepancies[0].inputs, Some(serde_json::json!([41])));
    /// ```
    pub fn with_inputs(mut self, inputs: Vec<serde_json::Value>) -> Self {
        self.ticket.extras_mut().inputs = Some(serde_json::Value::Array(inputs));
        self
    }

    /// Whether the candidate serves this call (a ramp is in force and the call fell in its share).
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::served", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// assert!(!EXP.decide().unwrap().serves_candidate()); // no ramp
    /// ```
    pub fn serves_candidate(&self) -> bool {
        self.served
    }
}
