//! What happened to one call: [`Outcome`], and the [`Discrepancy`] records kept for mismatches and
//! failures.

use std::time::{Duration, SystemTime};

/// The single outcome every call of an annotated function lands in.
///
/// The first five are decided on the caller's path without running the candidate (and without
/// allocating); `Shed` means the call was sampled but the candidate could not be started (decided,
/// nearly always, before anything of the shadow was prepared); the rest follow a shadowed call.
///
/// ```
/// use shadow_runtime::Outcome;
/// assert_eq!(Outcome::Mismatch.as_str(), "mismatch");
/// assert!(Outcome::ALL.iter().all(|o| !o.as_str().is_empty()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// Shadowing is off: the kill switch, the experiment's variable, or a rate of 0.
    Disabled,
    /// Shadowing is on but this call was not sampled.
    SampledOut,
    /// The experiment's `run_if` predicate said no for this call (or panicked).
    Filtered,
    /// The circuit breaker is open: the candidate failed too often recently.
    CircuitOpen,
    /// The call was made inside a shadow run (by a candidate, a noise re-run, or the legacy code
    /// running as the shadow of a ramp), or inside the same experiment's primary (recursion): it
    /// ran its served side only and started no shadow of its own, so that a shadow never
    /// multiplies load. Not compared, not in the match rate.
    Nested,
    /// Sampled, but the candidate could not be started: `max_in_flight` candidates of this
    /// experiment were already running, or the worker pool's queue was full. The caller never
    /// waits for a slot.
    Shed,
    /// The comparator said the results are the same.
    Match,
    /// The comparator accepted a difference (a reason is attached).
    Acceptable,
    /// The results differ.
    Mismatch,
    /// The results differ, and an `ignore` rule (or the comparator) said to ignore it.
    Ignored,
    /// The results differ only at paths where the primary differs from itself (learned by running
    /// it twice, the attribute's `noise`): nondeterminism such as timestamps or generated ids,
    /// not a difference of the candidate. Counted as agreement.
    Noise,
    /// The candidate panicked. The caller got the primary's result as usual.
    CandidatePanic,
    /// The comparator panicked. Counted apart: it is a bug in the comparison, not in the candidate.
    ComparatorPanic,
    /// The candidate did not finish within the experiment's timeout: an async candidate was
    /// cancelled, a sync one abandoned (it keeps its concurrency slot until it really ends).
    Timeout,
    /// The shadow run attempted a production write and
    /// [`guard_write`](crate::run::context::guard_write) refused it: its result was shaped by the
    /// refusal, so it is not compared. Counted against the match rate: a candidate that cannot run
    /// safely is not ready.
    WriteRefused,
    /// The primary panicked. The panic reached the caller unchanged; nothing was compared.
    PrimaryPanic,
    /// The call was dropped (an `async fn` future cancelled mid-primary) or the candidate's task was
    /// dropped (its runtime shut down) before a comparison.
    Cancelled,
}

impl Outcome {
    /// Every outcome, in a fixed order.
    pub const ALL: [Outcome; 17] = [
        Outcome::Disabled,
        Outcome::SampledOut,
        Outcome::Filtered,
        Outcome::CircuitOpen,
        Outcome::Nested,
        Outcome::Shed,
        Outcome::Match,
        Outcome::Acceptable,
        Outcome::Mismatch,
        Outcome::Ignored,
        Outcome::Noise,
        Outcome::CandidatePanic,
        Outcome::ComparatorPanic,
        Outcome::Timeout,
        Outcome::WriteRefused,
        Outcome::PrimaryPanic,
        Outcome::Cancelled,
    ];

    /// The label used in metrics, logs and snapshots.
    ///
    /// ```
    /// assert_eq!(shadow_runtime::Outcome::CandidatePanic.as_str(), "candidate_panic");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Disabled => "disabled",
            Outcome::SampledOut => "sampled_out",
            Outcome::Filtered => "filtered",
            Outcome::CircuitOpen => "circuit_open",
            Outcome::Nested => "nested",
            Outcome::Shed => "shed",
            Outcome::Match => "match",
            Outcome::Acceptable => "acceptable",
            Outcome::Mismatch => "mismatch",
            Outcome::Ignored => "ignored",
            Outcome::Noise => "noise",
            Outcome::CandidatePanic => "candidate_panic",
            Outcome::ComparatorPanic => "comparator_panic",
            Outcome::Timeout => "timeout",
            Outcome::WriteRefused => "write_refused",
            Outcome::PrimaryPanic => "primary_panic",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// `true` for the outcomes of a shadowed call whose candidate finished (match, acceptable,
    /// mismatch, candidate panic, comparator panic).
    ///
    /// ```
    /// assert!(shadow_runtime::Outcome::Mismatch.is_judged());
    /// assert!(!shadow_runtime::Outcome::SampledOut.is_judged());
    /// ```
    pub fn is_judged(self) -> bool {
        matches!(
            self,
            Outcome::Match
                | Outcome::Acceptable
                | Outcome::Mismatch
                | Outcome::Ignored
                | Outcome::Noise
                | Outcome::CandidatePanic
                | Outcome::ComparatorPanic
        )
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One mismatch, candidate panic or comparator panic, as retained in the snapshot (the first
/// [`RETAINED`](crate::snapshot::RETAINED) per experiment) and logged through `tracing`.
/// Acceptable differences are counted and logged at `debug` level, not retained.
///
/// ```
/// # use shadow_runtime::{Discrepancy, Outcome};
/// # fn show(d: &Discrepancy) {
/// println!("{} {}: {}", d.experiment, d.outcome, d.detail);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Discrepancy {
    /// The experiment's name.
    pub experiment: &'static str,
    /// The call's context (`context = { ... }` in the attribute), in order.
    pub context: Vec<(&'static str, String)>,
    /// [`Outcome::Mismatch`], [`Outcome::CandidatePanic`] or [`Outcome::ComparatorPanic`].
    pub outcome: Outcome,
    /// The diff (mismatch) or the panic message with its location.
    pub detail: String,
    /// The primary's result, rendered with `Debug` where the type implements it.
    pub primary: Option<String>,
    /// The candidate's result, rendered with `Debug` where the type implements it (none after a
    /// candidate panic).
    pub candidate: Option<String>,
    /// Wall time of the primary.
    pub primary_duration: Duration,
    /// Wall time of the candidate.
    pub candidate_duration: Duration,
    /// CPU time of the primary on its thread (sync functions of an experiment with `cpu_time`).
    pub primary_cpu: Option<Duration>,
    /// CPU time of the candidate on its thread (sync functions of an experiment with `cpu_time`).
    pub candidate_cpu: Option<Duration>,
    /// When the outcome was judged.
    pub at: SystemTime,
    /// The candidate served this call (a ramp) and the legacy code ran as the shadow. `primary`
    /// and `candidate` still name the legacy code and the candidate.
    pub served_by_candidate: bool,
    /// The candidate ran before the primary (inline mode with `order = random`, on a coin toss);
    /// otherwise after it.
    pub candidate_ran_first: bool,
    /// The call's sampling key (the attribute's `sample_by`), rendered, if any.
    pub key: Option<String>,
    /// The call's arguments as a JSON array (the attribute's `record_inputs = true`), for
    /// [`crate::testing::replay`]. Recorded as serialised: mask sensitive fields in their
    /// `Serialize` impl.
    pub inputs: Option<serde_json::Value>,
}

/// What the attribute's `on_outcome` hook receives for each judged call (a comparison, a candidate
/// panic, a comparator panic, or a timeout of a candidate the caller waited for).
///
/// ```
/// fn audit(r: &shadow_runtime::outcome::OutcomeRecord) {
///     if r.outcome == shadow_runtime::Outcome::Mismatch {
///         eprintln!("{} {:?}: {}", r.experiment, r.context, r.detail.as_deref().unwrap_or(""));
///     }
/// }
/// # let _ = audit;
/// ```
#[derive(Debug, Clone)]
pub struct OutcomeRecord {
    /// The experiment.
    pub experiment: &'static str,
    /// The judged outcome.
    pub outcome: Outcome,
    /// The diff, the acceptable/ignored reason, or the panic message.
    pub detail: Option<String>,
    /// Wall time of the primary.
    pub primary_duration: Duration,
    /// Wall time of the candidate.
    pub candidate_duration: Duration,
    /// CPU time of the primary (sync functions of an experiment with `cpu_time`).
    pub primary_cpu: Option<Duration>,
    /// CPU time of the candidate (sync functions of an experiment with `cpu_time`).
    pub candidate_cpu: Option<Duration>,
    /// The call's context.
    pub context: Vec<(&'static str, String)>,
    /// The candidate ran before the primary (inline mode with `order = random`).
    pub candidate_ran_first: bool,
}

/// `k=v, k2=v2`, for log events.
pub(crate) fn render_context(c: &[(&'static str, String)]) -> String {
    c.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A failure of one of the library's helpers or the user's hooks (comparator, ignore rule,
/// `run_if`, `before`, a `Debug` impl), caught before it could reach the caller.
///
/// ```
/// shadow_runtime::outcome::on_internal_error(|e| eprintln!("{} helper {} failed: {}", e.experiment, e.helper, e.message));
/// ```
#[derive(Debug, Clone)]
pub struct InternalError {
    /// The experiment.
    pub experiment: &'static str,
    /// Which helper: `comparator`, `ignore`, `run_if`, `before`, `debug`.
    pub helper: &'static str,
    /// What happened (the panic message).
    pub message: String,
}

/// Calls `hook` for every [`InternalError`] (replacing a previous hook). A panic in the hook is
/// caught and ignored.
///
/// ```
/// shadow_runtime::outcome::on_internal_error(|e| { let _ = e; });
/// ```
pub fn on_internal_error(hook: impl Fn(&InternalError) + Send + Sync + 'static) {
    *INTERNAL_HOOK.write().unwrap_or_else(|e| e.into_inner()) = Some(std::sync::Arc::new(hook));
}

type Hook = std::sync::Arc<dyn Fn(&InternalError) + Send + Sync>;
static INTERNAL_HOOK: std::sync::RwLock<Option<Hook>> = std::sync::RwLock::new(None);

/// The application's observer of internal errors, if it installed one.
pub(crate) fn internal_error_hook() -> Option<Hook> {
    INTERNAL_HOOK
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// How many discrepancies (mismatches and panics) each experiment keeps for the snapshot: the
/// first ones seen. Every one of them is also logged through `tracing`.
pub const RETAINED: usize = 32;
