//! Running the candidate and judging it: inline (sync and async), or detached on the shadow lane
//! (its runtime for async candidates, its worker pool for sync ones; or, with `runtime = caller`,
//! the caller's tokio runtime). The call's concurrency slot (and lane place) were taken when it
//! was decided; every path enforces the experiment's timeout (a candidate that ends after its
//! deadline is a `timeout`, however it ran), catches the candidate's and the comparator's panics,
//! and resolves the call's ticket exactly once.

use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use crate::run::clock::{Stamp, Took};

use crate::experiment::{Experiment, Phase, RunSlot, ShadowCall, Ticket};
use crate::judge::compare::{debug_diff, panic_message, Comparator, Verdict};
use crate::record::outcome::{Discrepancy, Outcome};
use crate::run::context::Run;
use crate::run::isolation::{quietly, take_location};
use crate::run::lane::Admission;
use crate::run::timer::Deadline;

mod call;
mod finish;
mod lean;
mod probes;
mod second_run;
mod side;
mod verdict;

pub use probes::{ByPartialEq, NoProbes, Probe, Probes};
pub(crate) use side::served_context;
use {finish::*, second_run::*, side::*, verdict::*};

type PanicPayload = Box<dyn std::any::Any + Send + 'static>;

/// This thread's CPU time now, when the experiment measures it.
#[inline]
fn cpu_now(exp: &'static Experiment) -> Option<Duration> {
    if exp.cpu_time() {
        cpu_time::ThreadTime::try_now()
            .ok()
            .map(|t| t.as_duration())
    } else {
        None
    }
}

/// This thread's CPU time since `start` (from [`cpu_now`] on the same thread).
#[inline]
fn cpu_since(start: Option<Duration>) -> Option<Duration> {
    let start = start?;
    cpu_time::ThreadTime::try_now()
        .ok()?
        .as_duration()
        .checked_sub(start)
}

/// How a shadow run ended.
enum Ran<T> {
    Value(T),
    Panicked(PanicPayload),
    TimedOut,
    /// It attempted production writes, refused by `guard_write`: how many, and the first target.
    Refused(u32, &'static str),
}

/// A shadowed call with its candidate attached, waiting for the primary to finish.
/// Created by [`ShadowCall::with_candidate`] or [`ShadowCall::with_candidate_async`]; dropped
/// unfinished, it records [`Outcome::PrimaryPanic`] or [`Outcome::Cancelled`].
///
/// ```
/// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
/// #     "docs::pending", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
/// let pending = EXP.decide().unwrap().with_candidate(|| 3);
/// drop(pending); // the primary never finished
/// let s = shadow_runtime::snapshot::experiment("docs::pending").unwrap();
/// assert_eq!(s.counts.get(shadow_runtime::Outcome::Cancelled), 1);
/// ```
pub struct Pending<F, T> {
    ticket: Ticket,
    candidate: Option<F>,
    /// The candidate serves this call (a ramp): it runs in the caller, the legacy code is the
    /// shadow.
    served: bool,
    /// The other side is compared (always, unless a served call was not sampled).
    shadowed: bool,
    /// A second run of the primary, to learn its noise: a `NoiseFn<T>` or a `NoiseFuture<T>`.
    noise: Option<Box<dyn std::any::Any + Send>>,
    /// The candidate's run when it went before the primary (`order = random`).
    early: Option<Box<(Ran<T>, Took)>>,
    primary_start: Stamp,
    /// The thread's CPU time when the primary started (sync, `cpu_time` on).
    primary_cpu: Option<Duration>,
    /// The shadow run's concurrency slot, held until the shadow side ends.
    slot: Option<RunSlot>,
    /// The detached candidate's place on the shadow lane.
    admission: Option<Admission>,
}

impl ShadowCall {
    /// Attaches a sync candidate. With `order = random` in inline mode, a coin toss may run it
    /// right now, before the primary. Starts the primary's clock.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::attach", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// let pending = EXP.decide().unwrap().with_candidate(|| 2 + 2);
    /// pending.finish_inline(&4, &shadow_runtime::DefaultComparator, shadow_runtime::manual::NoProbes);
    /// ```
    pub fn with_candidate<F, T>(self, candidate: F) -> Pending<F, T>
    where
        F: FnOnce() -> T,
    {
        let first = self.candidate_first;
        let mut p = Pending::new(self, candidate);
        if first {
            let f = p.candidate.take().expect("attached above");
            let exp = p.ticket.exp;
            let key = p.ticket.key();
            let (ran, took, end) = run_sync(exp, p.primary_start, key, f);
            p.ticket.candidate_first = true;
            p.slot = None; // the candidate has ended
            p.primary_start = end;
            p.early = Some(Box::new((ran, took)));
        }
        p.primary_cpu = cpu_now(p.ticket.exp);
        p
    }

    /// Attaches an async candidate (a future not yet polled). With `order = random` in inline mode,
    /// a coin toss may await it right now, before the primary. Starts the primary's clock.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::attach_async", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # rt.block_on(async {
    /// let pending = EXP.decide().unwrap().with_candidate_async(async { 2 + 2 }).await;
    /// pending.finish_inline_async(&4, &shadow_runtime::DefaultComparator, shadow_runtime::manual::NoProbes).await;
    /// # });
    /// ```
    pub async fn with_candidate_async<F, T>(self, candidate: F) -> Pending<F, T>
    where
        F: Future<Output = T>,
    {
        let first = self.candidate_first;
        let mut p = Pending::new(self, candidate);
        if first {
            let f = p.candidate.take().expect("attached above");
            let exp = p.ticket.exp;
            let key = p.ticket.key();
            let start = p.primary_start;
            let (ran, took, end) = run_async(exp, start, key, f, inline_deadline(exp, start)).await;
            p.ticket.candidate_first = true;
            p.slot = None; // the candidate has ended
            p.primary_start = end;
            p.early = Some(Box::new((ran, took)));
        }
        p
    }
}

impl<F, T> Pending<F, T> {
    fn new(call: ShadowCall, candidate: F) -> Self {
        Pending {
            ticket: call.ticket,
            candidate: Some(candidate),
            served: call.served,
            shadowed: call.shadowed,
            noise: None,
            early: None,
            // A served call that is not compared measures nothing: no clock read.
            primary_start: if call.shadowed {
                Stamp::now()
            } else {
                Stamp::UNSET
            },
            primary_cpu: None,
            slot: call.slot,
            admission: call.admission,
        }
    }

    /// The primary's wall time, and the instant it ended (reused as the candidate's start by
    /// inline mode: every clock read costs ~25 ns on a VM).
    fn primary_done(&mut self) -> (Took, Stamp) {
        self.ticket.phase = Phase::Candidate;
        let end = Stamp::now();
        let took = Took::between(self.primary_start, end, cpu_since(self.primary_cpu));
        (took, end)
    }

    fn take_ticket(&mut self) -> Ticket {
        // Moves the ticket out, leaving a resolved placeholder that records nothing on drop.
        let placeholder = Ticket::new(self.ticket.exp, Phase::Candidate, true);
        std::mem::replace(&mut self.ticket, placeholder)
    }

    /// Judges an inline run.
    fn conclude<C, P>(
        mut self,
        primary: &T,
        (ran, took): (Ran<T>, Took),
        primary_time: Took,
        compare: &C,
        probes: &P,
    ) where
        C: Comparator<T> + ?Sized,
        P: Probe<T>,
    {
        let exp = self.ticket.exp;
        let failure = judge(
            self.take_ticket(),
            primary,
            ran,
            primary_time,
            took,
            compare,
            probes,
        );
        fail_if_strict(exp, failure);
    }

    /// Marks this thread as inside the experiment's primary (a recursive call starts no shadow).
    fn enter_primary(&self) -> crate::experiment::ActivePrimary {
        self.ticket.exp.enter_primary()
    }
}

/// Sheds a call whose shadow was already prepared: the lane could not take it after all, or it
/// waited in the lane's queue past its timeout.
fn shed_late(ticket: Ticket) {
    ticket.exp.state().shed_late.fetch_add(1, Relaxed);
    ticket.resolve(Outcome::Shed, None, None);
}
