//! The common inline call in one frame: a sync candidate attached and run after the primary, with
//! nothing attached to the call (no context, hook, idempotency key, sampling key or inputs), the
//! primary serving, no CPU time measured and panics propagated. Its matching outcome is recorded
//! here; anything else (a timeout, a refused write, a panic, any verdict but a match) goes to the
//! general [`judge`] with what was already measured, so every outcome is judged exactly as on
//! the general path ([`Pending::run_inline`]), which every other call takes.

use super::*;

impl ShadowCall {
    /// Runs a whole call in inline mode: `primary` (the legacy code), then `candidate`, compared
    /// with `compare`; returns the primary's result. The same as
    /// [`with_candidate`](Self::with_candidate) followed by [`Pending::run_inline`], in one step
    /// (the generated code's path for a sync `mode = inline` function with one candidate and no
    /// `noise`): the common call then runs in one frame.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::run_inline_call", 1.0, shadow_runtime::Mode::Inline, shadow_runtime::Order::PrimaryFirst);
    /// let call = EXP.decide().unwrap();
    /// let out = call.run_inline(|| 2 + 2, || 4, &shadow_runtime::DefaultComparator, shadow_runtime::manual::NoProbes);
    /// assert_eq!(out, 4);
    /// let s = shadow_runtime::snapshot::experiment("docs::run_inline_call").unwrap();
    /// assert_eq!(s.counts.get(shadow_runtime::Outcome::Match), 1);
    /// ```
    #[inline]
    pub fn run_inline<F, T, L, C, P>(self, candidate: F, primary: L, compare: &C, probes: P) -> T
    where
        F: FnOnce() -> T,
        L: FnOnce() -> T,
        C: Comparator<T> + ?Sized,
        P: Probe<T>,
    {
        let exp = self.ticket.exp;
        if self.served
            || self.candidate_first
            || self.ticket.extras.is_some()
            || exp.compares_panics()
            || exp.cpu_time()
        {
            return self
                .with_candidate(candidate)
                .run_inline(primary, compare, probes);
        }
        self.run_lean(candidate, primary, compare, &probes)
    }

    /// [`run_inline`](Self::run_inline)'s common call.
    #[inline(always)]
    fn run_lean<F, T, L, C, P>(self, candidate: F, primary: L, compare: &C, probes: &P) -> T
    where
        F: FnOnce() -> T,
        L: FnOnce() -> T,
        C: Comparator<T> + ?Sized,
        P: Probe<T>,
    {
        let ShadowCall {
            mut ticket, slot, ..
        } = self;
        let exp = ticket.exp;
        // The primary, marked as this experiment's (a recursive call starts no shadow). If it
        // panics, the ticket is dropped in its primary phase: `PrimaryPanic`, and the slot is
        // given back.
        let start = Stamp::now();
        let out = {
            let _active = exp.enter_primary();
            primary()
        };
        // One clock read ends the primary and starts the candidate.
        let mid = Stamp::now();
        let primary_time = Took::between(start, mid, None);
        ticket.phase = Phase::Candidate;
        let (ran, took, _) = run_sync(exp, mid, None, candidate);
        drop(slot); // the candidate has ended
        let ran = match ran {
            Ran::Value(v)
                if {
                    let (pe, ce) = both_err(probes, &out, &v);
                    pe == ce
                } =>
            {
                let verdict = match catch_unwind(AssertUnwindSafe(|| {
                    quietly(|| compare.compare(&out, &v))
                })) {
                    Ok(Verdict::Match) => {
                        ticket.resolve_timed(
                            Outcome::Match,
                            None,
                            Some(false),
                            &primary_time,
                            &took,
                        );
                        return out;
                    }
                    verdict => verdict,
                };
                // Judged from the verdict already given (the pair is not compared twice).
                let replay = Replay::new(compare, Some(verdict));
                let failure = judge(
                    ticket,
                    &out,
                    Ran::Value(v),
                    primary_time,
                    took,
                    &replay,
                    probes,
                );
                fail_if_strict(exp, failure);
                return out;
            }
            ran => ran,
        };
        let failure = judge(ticket, &out, ran, primary_time, took, compare, probes);
        fail_if_strict(exp, failure);
        out
    }
}
