//! A decided call's handles: its concurrency slot, its ticket (recorded exactly once, also when
//! dropped unfinished), and the [`ShadowCall`] the generated code finishes.

use super::*;

/// A concurrency slot of one candidate execution, taken when the call is decided; released when
/// dropped (when the candidate really ends, even after its call was resolved as timed out).
pub(crate) struct RunSlot {
    pub(super) exp: &'static Experiment,
}

/// This thread runs an experiment's primary (see [`Experiment::enter_primary`]); unmarked when
/// dropped.
pub(crate) struct ActivePrimary {
    pub(super) base: usize,
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
    pub(crate) hook: Option<fn(&crate::record::outcome::OutcomeRecord)>,
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
    pub(crate) fn hook(&self) -> Option<fn(&crate::record::outcome::OutcomeRecord)> {
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
        primary: &crate::run::clock::Took,
        candidate: &crate::run::clock::Took,
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
    pub(crate) admission: Option<crate::run::lane::Admission>,
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
    /// call.with_candidate(|| 1).finish_inline(&1, &shadow_runtime::DefaultComparator, shadow_runtime::manual::NoProbes);
    /// ```
    pub fn with_hook(mut self, hook: fn(&crate::record::outcome::OutcomeRecord)) -> Self {
        self.ticket.extras_mut().hook = Some(hook);
        self
    }

    /// Gives the call's idempotency key to both sides through the context
    /// ([`crate::run::context::idempotency_key`]): the attribute's `idempotency_key = ...`.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::idem_call", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// let call = EXP.decide().unwrap().with_idempotency_key("order-7".into());
    /// let p = call.with_candidate(|| shadow_runtime::context::idempotency_key());
    /// let out = p.run_inline(|| shadow_runtime::context::idempotency_key(), &shadow_runtime::DefaultComparator, shadow_runtime::manual::NoProbes);
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
    /// call.with_candidate(|| 2).finish_inline(&1, &shadow_runtime::DefaultComparator, shadow_runtime::manual::NoProbes);
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
    /// call.with_candidate(|| 2).finish_inline(&1, &shadow_runtime::DefaultComparator, shadow_runtime::manual::NoProbes);
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
