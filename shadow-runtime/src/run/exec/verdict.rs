//! Judging a call and recording it: the comparison, its discrepancy, the outcome hooks and strict
//! mode.

use super::*;

/// Judges a call whose primary panicked (`panics = compare`): a candidate that panics with the
/// same message is a match; one that panics otherwise, or returns, is a mismatch that names both.
pub(super) fn judge_panicked<T, P: Probe<T>>(
    mut ticket: Ticket,
    primary_panic: &str,
    ran: Ran<T>,
    primary: Took,
    candidate: Took,
    probes: &P,
) {
    let msg_only = |s: &str| s.split(" (at ").next().unwrap_or(s).to_owned();
    let (detail, candidate_text) = match ran {
        Ran::TimedOut => {
            settle(ticket, Outcome::Timeout, None, primary, candidate, true);
            return;
        }
        Ran::Refused(n, first) => {
            let detail = format!(
                "the primary panicked ({primary_panic}); the shadow run attempted {n} production write(s), first `{first}`: refused, not compared"
            );
            let d = discrepancy(
                &mut ticket,
                Outcome::WriteRefused,
                detail,
                None,
                None,
                primary,
                candidate,
            );
            ticket.resolve_timed(Outcome::WriteRefused, Some(d), None, &primary, &candidate);
            return;
        }
        Ran::Panicked(p) => {
            let theirs = panic_detail(&*p);
            if msg_only(&theirs) == msg_only(primary_panic) {
                settle(
                    ticket,
                    Outcome::Match,
                    Some("both panicked alike"),
                    primary,
                    candidate,
                    false,
                );
                return;
            }
            (
                format!("the primary panicked: {primary_panic}\nthe candidate panicked: {theirs}"),
                Some("(panicked)".to_owned()),
            )
        }
        Ran::Value(v) => (
            format!("the primary panicked: {primary_panic}\nthe candidate returned a value"),
            render(ticket.exp, probes, &v),
        ),
    };
    notify(
        &ticket,
        Outcome::Mismatch,
        Some(&detail),
        primary,
        candidate,
    );
    let d = discrepancy(
        &mut ticket,
        Outcome::Mismatch,
        detail,
        Some(format!("(panicked: {})", msg_only(primary_panic))),
        candidate_text,
        primary,
        candidate,
    );
    ticket.resolve_timed(Outcome::Mismatch, Some(d), None, &primary, &candidate);
}

/// The panic's message and, when the hook saw it, where it was raised.
pub(super) fn panic_detail(p: &(dyn std::any::Any + Send)) -> String {
    let msg = panic_message(p);
    match take_location() {
        Some(at) => format!("{msg} (at {at})"),
        None => msg,
    }
}

/// Renders a value with the probe, treating a panicking `Debug` impl as absent.
pub(super) fn render<T, P: Probe<T>>(
    exp: &'static Experiment,
    probes: &P,
    v: &T,
) -> Option<String> {
    match catch_unwind(AssertUnwindSafe(|| quietly(|| probes.debug(v)))) {
        Ok(s) => s,
        Err(p) => {
            exp.internal_error("debug", &panic_message(&*p));
            None
        }
    }
}

/// Whether each side is an `Err` (one check for both: the common call compares two `Ok`s, or
/// two values that are not results).
#[inline]
pub(super) fn both_err<T, P: Probe<T>>(probes: &P, a: &T, b: &T) -> (bool, bool) {
    catch_unwind(AssertUnwindSafe(|| (probes.is_err(a), probes.is_err(b))))
        .unwrap_or((false, false))
}

pub(super) fn is_err<T, P: Probe<T>>(probes: &P, v: &T) -> bool {
    catch_unwind(AssertUnwindSafe(|| probes.is_err(v))).unwrap_or(false)
}

/// Compares, classifies and records one shadowed call.
/// Returns, for a mismatch or a candidate panic, the message strict mode fails with.
pub(super) fn judge<T, V, C, P>(
    mut ticket: Ticket,
    primary: &T,
    ran: Ran<V>,
    primary_duration: Took,
    candidate_duration: Took,
    compare: &C,
    probes: &P,
) -> Failure
where
    V: std::borrow::Borrow<T>,
    C: Comparator<T> + ?Sized,
    P: Probe<T>,
{
    let ran = match ran {
        Ran::Value(v) => Ran::Value(v),
        Ran::Panicked(p) => Ran::Panicked(p),
        Ran::TimedOut => Ran::TimedOut,
        Ran::Refused(n, first) => {
            let detail = format!(
                "the shadow run attempted {n} production write(s), first `{first}`: refused, not compared"
            );
            // The hook first: the record takes the call's context.
            notify(
                &ticket,
                Outcome::WriteRefused,
                Some(&detail),
                primary_duration,
                candidate_duration,
            );
            let d = discrepancy(
                &mut ticket,
                Outcome::WriteRefused,
                detail,
                None,
                None,
                primary_duration,
                candidate_duration,
            );
            let failure = strict_failure(ticket.exp, &d);
            ticket.resolve_timed(
                Outcome::WriteRefused,
                Some(d),
                None,
                &primary_duration,
                &candidate_duration,
            );
            return failure;
        }
    };
    let (outcome, detail, candidate_value, failed) = match ran {
        Ran::Refused(..) => unreachable!("handled above"),
        Ran::TimedOut => {
            return settle(
                ticket,
                Outcome::Timeout,
                None,
                primary_duration,
                candidate_duration,
                true,
            );
        }
        Ran::Panicked(p) => (Outcome::CandidatePanic, panic_detail(&*p), None, Some(true)),
        // One side failing while the other returns a value is a mismatch, whatever the
        // comparator would say.
        Ran::Value(c)
            if {
                let (p, c) = both_err(probes, primary, c.borrow());
                p != c
            } =>
        {
            let failed = is_err(probes, c.borrow());
            (Outcome::Mismatch, String::new(), Some(c), Some(failed))
        }
        Ran::Value(c) => match catch_unwind(AssertUnwindSafe(|| {
            quietly(|| compare.compare(primary, c.borrow()))
        })) {
            Ok(Verdict::Match) => {
                return settle(
                    ticket,
                    Outcome::Match,
                    None,
                    primary_duration,
                    candidate_duration,
                    false,
                );
            }
            Ok(Verdict::Acceptable { reason }) => {
                ticket.exp.acceptable(&reason);
                return settle(
                    ticket,
                    Outcome::Acceptable,
                    Some(&reason),
                    primary_duration,
                    candidate_duration,
                    false,
                );
            }
            Ok(Verdict::Ignored { reason }) => {
                tracing::debug!(target: "parallel_run", experiment = ticket.exp.name(), reason = %reason, "ignored difference");
                return settle(
                    ticket,
                    Outcome::Ignored,
                    Some(&reason),
                    primary_duration,
                    candidate_duration,
                    false,
                );
            }
            Ok(Verdict::Mismatch { diff })
                if ticket.exp.noise_rate() > 0.0
                    && ticket.exp.noise_explains(diff.as_deref().unwrap_or("")) =>
            {
                let paths = crate::record::publish::diff_paths(diff.as_deref().unwrap_or(""));
                let reason = format!("differs only at noisy paths: {}", paths.join(", "));
                return settle(
                    ticket,
                    Outcome::Noise,
                    Some(&reason),
                    primary_duration,
                    candidate_duration,
                    false,
                );
            }
            Ok(Verdict::Mismatch { diff }) => {
                // An `Err` where the primary succeeded is a candidate failure for the breaker.
                let failed = is_err(probes, c.borrow()) && !is_err(probes, primary);
                (
                    Outcome::Mismatch,
                    diff.unwrap_or_default(),
                    Some(c),
                    Some(failed),
                )
            }
            Err(p) => {
                let detail = panic_detail(&*p);
                ticket.exp.internal_error("comparator", &detail);
                (Outcome::ComparatorPanic, detail, Some(c), None)
            }
        },
    };
    let primary_text = render(ticket.exp, probes, primary);
    let candidate_text = candidate_value
        .as_ref()
        .and_then(|c| render(ticket.exp, probes, c.borrow()));
    let detail = if outcome == Outcome::Mismatch && detail.is_empty() {
        match (&primary_text, &candidate_text) {
            // Two different values must never look identical: say so, with the rendering.
            (Some(p), Some(c)) if p == c => {
                let masked = if p.contains("\"***\"") {
                    "; a part shown as \"***\" (`#[shadow(sensitive)]`) may be where they differ"
                } else {
                    ""
                };
                format!("{}{masked}; both render as:\n{p}", probes.same_rendering())
            }
            (Some(p), Some(c)) => debug_diff(p, c),
            _ => "values differ (the result type does not implement Debug; return a diff from the comparator)".to_owned(),
        }
    } else {
        detail
    };
    let detail = match candidate_value
        .as_ref()
        .map(|c| (is_err(probes, primary), is_err(probes, c.borrow())))
    {
        Some((false, true)) if outcome == Outcome::Mismatch => {
            format!("the candidate returned Err, the primary Ok\n{detail}")
        }
        Some((true, false)) if outcome == Outcome::Mismatch => {
            format!("the primary returned Err, the candidate Ok\n{detail}")
        }
        _ => detail,
    };
    notify(
        &ticket,
        outcome,
        Some(&detail),
        primary_duration,
        candidate_duration,
    );
    let d = discrepancy(
        &mut ticket,
        outcome,
        detail,
        primary_text,
        candidate_text,
        primary_duration,
        candidate_duration,
    );
    let failure = if matches!(outcome, Outcome::Mismatch | Outcome::CandidatePanic) {
        strict_failure(ticket.exp, &d)
    } else {
        None
    };
    ticket.resolve_timed(
        outcome,
        Some(d),
        failed,
        &primary_duration,
        &candidate_duration,
    );
    failure
}

/// The record of one discrepancy of the ticket's call.
pub(super) fn discrepancy(
    ticket: &mut Ticket,
    outcome: Outcome,
    detail: String,
    primary: Option<String>,
    candidate: Option<String>,
    primary_duration: Took,
    candidate_duration: Took,
) -> Discrepancy {
    let extras = ticket.extras.take().map(|b| *b).unwrap_or_default();
    Discrepancy {
        context: extras.context,
        experiment: ticket.exp.name(),
        outcome,
        detail,
        primary,
        candidate,
        primary_duration: primary_duration.wall(),
        candidate_duration: candidate_duration.wall(),
        primary_cpu: primary_duration.cpu(),
        candidate_cpu: candidate_duration.cpu(),
        at: SystemTime::now(),
        served_by_candidate: ticket.served,
        candidate_ran_first: ticket.candidate_first,
        key: extras.sample_key,
        inputs: extras.inputs,
    }
}

/// Records an outcome that keeps no discrepancy record (match, acceptable, ignored, timeout):
/// the hook, then the ticket. Nothing for strict mode to fail on.
pub(super) fn settle(
    ticket: Ticket,
    outcome: Outcome,
    detail: Option<&str>,
    primary: Took,
    candidate: Took,
    candidate_failed: bool,
) -> Failure {
    notify(&ticket, outcome, detail, primary, candidate);
    ticket.resolve_timed(outcome, None, Some(candidate_failed), &primary, &candidate);
    None
}

/// Calls the call's `on_outcome` hook, if any; a panic in it is reported, never propagated.
#[inline]
pub(super) fn notify(
    ticket: &Ticket,
    outcome: Outcome,
    detail: Option<&str>,
    primary: Took,
    candidate: Took,
) {
    if ticket.extras.is_some() {
        notify_hook(ticket, outcome, detail, primary, candidate);
    }
}

#[cold]
pub(super) fn notify_hook(
    ticket: &Ticket,
    outcome: Outcome,
    detail: Option<&str>,
    primary: Took,
    candidate: Took,
) {
    let Some(hook) = ticket.hook() else { return };
    let record = crate::record::outcome::OutcomeRecord {
        experiment: ticket.exp.name(),
        outcome,
        detail: detail.map(str::to_owned),
        primary_duration: primary.wall(),
        candidate_duration: candidate.wall(),
        primary_cpu: primary.cpu(),
        candidate_cpu: candidate.cpu(),
        context: ticket.context().to_vec(),
        candidate_ran_first: ticket.candidate_first,
    };
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| quietly(|| hook(&record)))) {
        ticket.exp.internal_error("on_outcome", &panic_message(&*p));
    }
}

/// What a strict-mode failure says: the experiment, both sides, and the diff or panic.
pub(super) fn strict_message(d: &Discrepancy) -> String {
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(no Debug rendering)".into());
    format!(
        "parallel_run: experiment `{}` failed in strict mode: {}\nprimary:   {}\ncandidate: {}\n{}",
        d.experiment,
        d.outcome,
        show(&d.primary),
        if d.outcome == Outcome::CandidatePanic {
            "(panicked)".into()
        } else {
            show(&d.candidate)
        },
        d.detail
    )
}

/// What a call fails with in strict mode, when its outcome is a failure.
pub(super) type Failure = Option<Box<StrictFailure>>;

pub(crate) struct StrictFailure {
    message: String,
    discrepancy: Discrepancy,
}

/// The failure of a discrepancy, if its experiment is strict (the record is copied only then).
pub(super) fn strict_failure(exp: &'static Experiment, d: &Discrepancy) -> Failure {
    exp.is_strict().then(|| {
        Box::new(StrictFailure {
            message: strict_message(d),
            discrepancy: d.clone(),
        })
    })
}

/// Strict mode: fails the call, after its outcome has been recorded and published: with the
/// application's payload when it set one ([`crate::decide::config::on_strict_failure`]), else with the
/// library's message.
pub(super) fn fail_if_strict(exp: &'static Experiment, failure: Failure) {
    let Some(f) = failure else { return };
    if !exp.is_strict() {
        return;
    }
    match crate::decide::config::strict_failure_payload(&f.discrepancy) {
        Some(payload) => std::panic::resume_unwind(payload),
        None => panic!("{}", f.message),
    }
}

// `RunSlot` is held by the closures above for as long as the candidate runs.
const _: fn(RunSlot) = drop;
