//! The static definition: what the attribute declares, as `const` builders, and what it reads
//! back (name, mode, the defaults of the settings).

use super::*;

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
            window: crate::decide::cutover::DEFAULT_WINDOW,
        });
        self
    }

    /// Sets the deadline (the attribute's `deadline`), in days since 1970-01-01
    /// ([`crate::decide::cutover::parse_date`]).
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
    /// [`Outcome::Noise`] (see [noise cancellation](crate::judge::noise)).
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
    /// switch ([`crate::decide::config::set_strict`], `PARALLEL_RUN_STRICT`), else off.
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
    /// configuration file, the environment and the live API, as the attribute's are. For
    /// integrations whose settings come from elsewhere (the HTTP proxy's route flags). A list the
    /// parser refuses is warned about once per reading, as a bad environment value is, and the
    /// experiment is off.
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
}
