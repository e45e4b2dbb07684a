//! The per-call decision: the gate word read on every call, the counters of skipped calls, and
//! the slow paths (first call, ramp, admission to a slot and the lane).

use super::*;

impl Experiment {
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
    /// the key's sticky hash under the experiment's seed ([`crate::decide::sticky::key_hash`]) to make the
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
    pub(super) fn first_gate(&'static self) -> u64 {
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
            crate::run::isolation::quietly(f)
        }))
        .map_err(|p| {
            let msg = crate::judge::compare::panic_message(&*p);
            crate::record::observe::internal_error(
                &self.state().obs,
                helper,
                &format!("{msg}; the call goes on"),
            );
        })
    }

    pub(super) fn run_if(&'static self, f: impl FnOnce() -> bool) -> bool {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::run::isolation::quietly(f)
        })) {
            Ok(b) => b,
            Err(p) => {
                let msg = crate::judge::compare::panic_message(&*p);
                self.internal_error("run_if", &format!("{msg}; the call is not shadowed"));
                false
            }
        }
    }

    /// Counts a skipped call (gate 0 or [`OPEN`] without probes) in this thread's slot; `false`
    /// when it must go the slow way (first call, probes available, no slot).
    #[inline(always)]
    pub(super) fn skip_fast(&self, t: u64) -> bool {
        let which = match t {
            0 => Skip::Disabled,
            OPEN if self.probes.left() == 0 => Skip::CircuitOpen,
            _ => return false,
        };
        sampling::bump(self.slots.load(Relaxed), which)
    }

    #[inline(always)]
    pub(super) fn count_skip(&'static self, which: Skip) {
        if !sampling::bump(self.slots.load(Relaxed), which) {
            self.count_shared(which);
        }
    }

    #[cold]
    #[inline(never)]
    pub(super) fn count_shared(&'static self, which: Skip) {
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
    pub(super) fn decide_slow(&'static self, mut t: u64) -> Option<ShadowCall> {
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
    pub(super) fn decide_ramp(&'static self, key: Option<u64>) -> Option<ShadowCall> {
        let within = |h: u64, t: u64| t == u64::MAX || h < t;
        let (serve_draw, sample_draw) = match key {
            Some(h) => (crate::decide::sticky::ramp_hash(h), h),
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
                    crate::run::isolation::install_hook();
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
    pub(super) fn served_only(&'static self) -> ShadowCall {
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
    pub(super) fn effective_gate(&self, st: &State) -> u64 {
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

    /// Skipped calls of one kind, over all threads.
    pub(crate) fn skipped(&'static self, which: Skip) -> u64 {
        self.total(which as usize)
    }

    /// A call sampled for shadowing: skipped as [`Outcome::Nested`] inside a shadow run or inside
    /// this experiment's own primary, shed when no concurrency slot or no place on the shadow
    /// lane is free (before anything of the shadow is prepared: no argument copied, no clock
    /// read), else started. The decision is out of line ([`admit_call`](Self::admit_call)); the
    /// call is built here, in the caller's frame.
    #[inline(always)]
    pub(super) fn begin(&'static self) -> Option<ShadowCall> {
        let a = self.admit_call()?;
        Some(ShadowCall {
            ticket: Ticket::new(self, Phase::Primary, false),
            candidate_first: a.candidate_first,
            served: false,
            shadowed: true,
            slot: Some(a.slot),
            admission: a.admission,
        })
    }

    /// [`begin`](Self::begin)'s decision: `None` when the call is skipped or shed (counted). What
    /// it returns fits in two registers: a [`ShadowCall`] returned through memory is read back
    /// by the caller with loads wider than the stores that wrote it, which the store buffer
    /// cannot forward (a stall on every shadowed call, seen with `perf annotate`).
    #[cold]
    #[inline(never)]
    fn admit_call(&'static self) -> Option<Admitted> {
        let (slot, admission) = self.admit()?;
        crate::run::isolation::install_hook();
        self.count(sampling::slot::OPENED, 1);
        Some(Admitted {
            slot,
            admission,
            candidate_first: self.mode == Mode::Inline
                && self.order == Order::Random
                && sampling::coin(),
        })
    }

    /// Whether a call now is nested: made inside a shadow run (the candidate, a noise re-run,
    /// the legacy code shadowing a ramp, anything on the shadow lane) or inside this
    /// experiment's own primary (recursion). Such a call starts no shadow: a shadow never
    /// multiplies load.
    pub(super) fn nested(&'static self) -> bool {
        crate::run::context::in_shadow() || sampling::active(self.slots.load(Relaxed))
    }

    /// What a call needs before its shadow is prepared: not nested, a concurrency slot, and (for
    /// a detached candidate that runs on the lane) a place on the lane. `None` when it is
    /// skipped or shed (counted).
    pub(super) fn admit(&'static self) -> Option<(RunSlot, Option<crate::run::lane::Admission>)> {
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
        match crate::run::lane::admit() {
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
    pub(super) fn shed_while_stuck(&'static self) {
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
        let t = lock(&st.breaker).on_result(failed, crate::run::timer::coarse_now());
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
}

/// What a started call got ([`Experiment::admit_call`]): its concurrency slot, its place on the
/// shadow lane, and whether its candidate runs first (`order = random`).
struct Admitted {
    slot: RunSlot,
    admission: Option<crate::run::lane::Admission>,
    candidate_first: bool,
}
