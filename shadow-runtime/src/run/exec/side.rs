//! Running one side: in its shadow context, its panics caught, its deadline raced.

use super::*;

/// Runs a sync candidate that started at `start`; returns how it ended, its wall time and the
/// instant it ended. A sync candidate cannot be interrupted: past the timeout its result is
/// discarded.
#[inline]
pub(super) fn run_sync<T>(
    exp: &'static Experiment,
    start: Stamp,
    key: Option<Arc<str>>,
    f: impl FnOnce() -> T,
) -> (Ran<T>, Took, Stamp) {
    let mut run = shadow_run(exp, key);
    let cpu = cpu_now(exp);
    let r = catch_unwind(AssertUnwindSafe(|| run.enter(|| quietly(f))));
    let cpu = cpu_since(cpu);
    let end = Stamp::now();
    let took = Took::between(start, end, cpu);
    let ran = match r {
        _ if exp.timeout().is_some_and(|t| took.over(t)) => Ran::TimedOut,
        _ if run.refused().is_some() => {
            let (n, first) = run.refused().unwrap_or((0, "?"));
            Ran::Refused(n, first)
        }
        Ok(v) => Ran::Value(v),
        Err(p) => Ran::Panicked(p),
    };
    (ran, took, end)
}

/// The context a shadow run of `exp` runs in.
pub(super) fn shadow_run(exp: &'static Experiment, key: Option<Arc<str>>) -> Run {
    Run::shadow(exp.name(), exp.writes(), key)
}

/// The context the served side runs in: only needed to carry an idempotency key, and never
/// replacing a shadow context around it (a served side nested in a shadow run stays a shadow).
pub(crate) fn served_context(exp: &'static Experiment, key: Option<Arc<str>>) -> Option<Run> {
    if key.is_none() || crate::run::context::in_shadow() {
        return None;
    }
    Some(Run::served(exp.name(), key))
}

/// The async twin of [`run_sync`]: the candidate is cancelled (dropped) at its `deadline`, and
/// one that ended after it (a candidate that runs to completion within one poll cannot be
/// interrupted) counts as timed out too.
pub(super) async fn run_async<F: Future>(
    exp: &'static Experiment,
    start: Stamp,
    key: Option<Arc<str>>,
    f: F,
    deadline: Option<Deadline>,
) -> (Ran<F::Output>, Took, Stamp) {
    let due = deadline.as_ref().map(Deadline::at);
    let mut side = std::pin::pin!(crate::run::context::scoped(Some(shadow_run(exp, key)), f));
    let ran = Race {
        inner: CatchUnwind {
            inner: side.as_mut(),
        },
        deadline,
    }
    .await;
    let end = Stamp::now();
    let late = due.is_some_and(|d| Instant::now() > d);
    let ran = match (ran, side.as_ref().get_ref().refused()) {
        (Ran::TimedOut, _) => Ran::TimedOut,
        _ if late => Ran::TimedOut,
        (_, Some((n, first))) => Ran::Refused(n, first),
        (ran, None) => ran,
    };
    let took = Took::between(start, end, None);
    (ran, took, end)
}

pin_project_lite::pin_project! {
    /// The served side of a shadowed async call: polled in its context, marked as the
    /// experiment's primary on the polling thread (a recursive call starts no shadow).
    pub(super) struct ServedSide<F> {
        #[pin]
        pub(super) inner: crate::run::context::Scoped<F>,
        pub(super) exp: &'static Experiment,
    }
}

impl<F: Future> Future for ServedSide<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _active = this.exp.enter_primary();
        this.inner.poll(cx)
    }
}

pin_project_lite::pin_project! {
    /// Catches a panic raised while polling the inner future.
    pub(super) struct CatchUnwind<F> {
        #[pin]
        pub(super) inner: F,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, PanicPayload>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.project().inner;
        match catch_unwind(AssertUnwindSafe(move || quietly(|| inner.poll(cx)))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(p) => Poll::Ready(Err(p)),
        }
    }
}

pin_project_lite::pin_project! {
    /// The candidate against its deadline; the candidate is polled first.
    pub(super) struct Race<F> {
        #[pin]
        pub(super) inner: CatchUnwind<F>,
        deadline: Option<Deadline>,
    }
}

impl<F: Future> Future for Race<F> {
    type Output = Ran<F::Output>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(r) = this.inner.poll(cx) {
            return Poll::Ready(match r {
                Ok(v) => Ran::Value(v),
                Err(p) => Ran::Panicked(p),
            });
        }
        match this.deadline {
            Some(d) => Pin::new(d).poll(cx).map(|()| Ran::TimedOut),
            None => Poll::Pending,
        }
    }
}
