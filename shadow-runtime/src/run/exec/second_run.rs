//! The primary's second runs, for noise cancellation: drawn at the `noise` rate or confirming a
//! difference, made off the caller's path after the candidate.

use super::*;

/// A second run of a sync primary (`None`: the candidate left no copies of the arguments).
pub(super) type NoiseFn<T> = Box<dyn FnOnce() -> Option<T> + Send>;
/// A second run of an async primary: makes its future, which need not be `Send` (it is polled on
/// one blocking thread, [`second_run_async`]).
pub(super) type NoiseFuture<T> = Box<dyn FnOnce() -> Option<LocalFuture<T>> + Send>;
pub(super) type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl<F, T: 'static> Pending<F, T> {
    /// Attaches a second run of the (pure) primary, for noise cancellation. The runtime makes it
    /// off the caller's path, after the candidate, when the experiment's `noise` rate draws the
    /// call or when the candidate's difference is not explained by the noise learned so far;
    /// where the two runs of the primary differ is learned as noise
    /// ([noise cancellation](crate::judge::noise)).
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::with_noise", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst).with_noise(1.0);
    /// let p = EXP.decide().unwrap().with_candidate(|| 1).with_noise(|| 1);
    /// let out = p.run_detached(|| 1, |v: &i32| *v, shadow_runtime::DefaultComparator, shadow_runtime::manual::NoProbes);
    /// # assert!(shadow_runtime::wait_idle(std::time::Duration::from_secs(10)));
    /// assert_eq!(shadow_runtime::snapshot::experiment("docs::with_noise").unwrap().noise_runs, 1);
    /// ```
    pub fn with_noise(self, second_run: impl FnOnce() -> T + Send + 'static) -> Self {
        let f: NoiseFn<T> = Box::new(move || Some(second_run()));
        self.attach_noise(Box::new(f))
    }

    /// [`with_noise`](Self::with_noise), the second run's inputs being the copies the candidate
    /// left in `keep` (the attribute's expansion: the candidate's copies of the arguments serve
    /// both, so nothing more is copied on the caller's path). Without them (the candidate did
    /// not return), the second run is not made.
    ///
    /// ```
    /// use shadow_runtime::noise::Keep;
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::with_noise_kept", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst).with_noise(1.0);
    /// let keep = Keep::new();
    /// let put = keep.share();
    /// let input = String::from("abc");
    /// let copy = input.clone();
    /// let p = EXP.decide().unwrap()
    ///     .with_candidate(move || { let n = copy.len(); put.put(copy); n })
    ///     .with_noise_kept(keep, |copy: String| copy.len());
    /// p.run_detached(|| input.len(), |v: &usize| *v, shadow_runtime::DefaultComparator, shadow_runtime::manual::NoProbes);
    /// # assert!(shadow_runtime::wait_idle(std::time::Duration::from_secs(10)));
    /// assert_eq!(shadow_runtime::snapshot::experiment("docs::with_noise_kept").unwrap().noise_runs, 1);
    /// ```
    pub fn with_noise_kept<A: Send + 'static>(
        self,
        keep: crate::judge::noise::Keep<A>,
        second_run: impl FnOnce(A) -> T + Send + 'static,
    ) -> Self {
        let f: NoiseFn<T> = Box::new(move || keep.take().map(second_run));
        self.attach_noise(Box::new(f))
    }

    /// The async twin of [`with_noise`](Self::with_noise): `second_run` makes the second run's
    /// future. That future need not be `Send` (it is polled on one blocking thread of the
    /// runtime that judges the call), so an `async fn` can make it by calling itself.
    ///
    /// ```
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::with_noise_async", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst).with_noise(1.0);
    /// # let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
    /// rt.block_on(async {
    ///     let p = EXP.decide().unwrap().with_candidate_async(async { 1 }).await;
    ///     let p = p.with_noise_async(|| async { 1 });
    ///     p.run_detached_async(async { 1 }, |v: &i32| *v, shadow_runtime::DefaultComparator, shadow_runtime::manual::NoProbes).await;
    ///     shadow_runtime::snapshot::idle().await;
    /// });
    /// assert_eq!(shadow_runtime::snapshot::experiment("docs::with_noise_async").unwrap().noise_runs, 1);
    /// ```
    pub fn with_noise_async<G, Fut>(self, second_run: G) -> Self
    where
        G: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
    {
        let f: NoiseFuture<T> = Box::new(move || Some(Box::pin(second_run()) as LocalFuture<T>));
        self.attach_noise(Box::new(f))
    }

    /// The async twin of [`with_noise_kept`](Self::with_noise_kept).
    ///
    /// ```
    /// use shadow_runtime::noise::Keep;
    /// # static EXP: shadow_runtime::Experiment = shadow_runtime::Experiment::new(
    /// #     "docs::with_noise_kept_async", 1.0, shadow_runtime::Mode::Detached, shadow_runtime::Order::PrimaryFirst).with_noise(1.0);
    /// # let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
    /// rt.block_on(async {
    ///     let keep = Keep::new();
    ///     let put = keep.share();
    ///     let p = EXP.decide().unwrap().with_candidate_async(async move { put.put(3u8); 3u8 }).await;
    ///     let p = p.with_noise_kept_async(keep, |x: u8| async move { x });
    ///     p.run_detached_async(async { 3u8 }, |v: &u8| *v, shadow_runtime::DefaultComparator, shadow_runtime::manual::NoProbes).await;
    ///     shadow_runtime::snapshot::idle().await;
    /// });
    /// assert_eq!(shadow_runtime::snapshot::experiment("docs::with_noise_kept_async").unwrap().noise_runs, 1);
    /// ```
    pub fn with_noise_kept_async<A, G, Fut>(
        self,
        keep: crate::judge::noise::Keep<A>,
        second_run: G,
    ) -> Self
    where
        A: Send + 'static,
        G: FnOnce(A) -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
    {
        let f: NoiseFuture<T> = Box::new(move || {
            keep.take()
                .map(|a| Box::pin(second_run(a)) as LocalFuture<T>)
        });
        self.attach_noise(Box::new(f))
    }

    fn attach_noise(mut self, second_run: Box<dyn std::any::Any + Send>) -> Self {
        // A call the candidate serves has no primary to run again.
        if !self.served {
            self.noise = Some(second_run);
        }
        self
    }
}

/// What noise cancellation makes of one call before it is judged: the comparison, made once here
/// and replayed to `judge` ([`Replay`]), and whether the primary must run a second time (the
/// `noise` rate drew the call, or its difference is not explained by the learned noise yet).
pub(super) struct NoiseCheck {
    pub(super) verdict: Option<std::thread::Result<Verdict>>,
    /// The candidate's difference, read as entries.
    entries: Vec<crate::judge::noise::Entry>,
    pub(super) run: bool,
    confirm: bool,
}

impl NoiseCheck {
    pub(super) fn new<T, V, C, P>(
        exp: &'static Experiment,
        primary: &T,
        ran: &Ran<V>,
        compare: &C,
        probes: &P,
    ) -> NoiseCheck
    where
        V: std::borrow::Borrow<T>,
        C: Comparator<T> + ?Sized,
        P: Probe<T>,
    {
        let mut check = NoiseCheck {
            verdict: None,
            entries: Vec::new(),
            run: false,
            confirm: false,
        };
        let Ran::Value(c) = ran else {
            // Nothing compared: nothing to learn from this call.
            return check;
        };
        if exp.noise_rate() <= 0.0 {
            return check;
        }
        // One side failing is a mismatch whatever noise says (`judge` does not compare).
        if is_err(probes, primary) == is_err(probes, c.borrow()) {
            let verdict = catch_unwind(AssertUnwindSafe(|| {
                quietly(|| compare.compare(primary, c.borrow()))
            }));
            if let Ok(Verdict::Mismatch { diff: Some(d) }) = &verdict {
                check.entries = crate::judge::noise::entries(d);
                check.confirm = !check.entries.is_empty()
                    && exp.state().noise.assess(&check.entries)
                        == crate::judge::noise::Assess::Unknown;
            }
            check.verdict = Some(verdict);
        }
        check.run = check.confirm || exp.noise_due();
        check
    }

    /// Learns from the primary's second run (`None`: it was not made).
    pub(super) fn learn<T, C, P>(
        &self,
        exp: &'static Experiment,
        primary: &T,
        second: Option<Ran<T>>,
        compare: &C,
        probes: &P,
    ) where
        C: Comparator<T> + ?Sized,
        P: Probe<T>,
    {
        let Some(second) = second else { return };
        let noise = &exp.state().noise;
        noise.counted_run(self.confirm);
        let again = match second {
            Ran::Value(v) => v,
            Ran::Panicked(p) => {
                return exp.internal_error("noise",
                    &format!("the primary's second run panicked: {}", panic_detail(&*p)),
                )
            }
            Ran::TimedOut => {
                return exp.internal_error("noise",
                    "the primary's second run timed out",
                )
            }
            Ran::Refused(_, first) => {
                return exp.internal_error("noise",
                    &format!("the primary's second run attempted a production write (`{first}`): it is not pure; refused"),
                )
            }
        };
        let own = match catch_unwind(AssertUnwindSafe(|| {
            quietly(|| compare.compare(primary, &again))
        })) {
            Ok(Verdict::Mismatch { diff }) => {
                let detail = diff.unwrap_or_else(|| {
                    match (render(exp, probes, primary), render(exp, probes, &again)) {
                        (Some(a), Some(b)) => debug_diff(&a, &b),
                        _ => String::new(),
                    }
                });
                let own = crate::judge::noise::entries(&detail);
                if own.is_empty() {
                    return exp.internal_error("noise",
                        "the primary differs from itself, but the comparator's diff names no paths (use a structural or typed comparator) to learn from",
                    );
                }
                own
            }
            // The primary agreed with itself.
            Ok(_) => Vec::new(),
            Err(p) => return exp.internal_error("comparator", &panic_message(&*p)),
        };
        noise.learn(exp.name(), &own, &self.entries);
    }
}

/// The noise check of a sync call, with its second run made here; the verdict to replay.
pub(super) fn noise_sync<T, C, P>(
    exp: &'static Experiment,
    primary: &T,
    ran: &Ran<T>,
    compare: &C,
    probes: &P,
    second: Option<Box<NoiseFn<T>>>,
) -> Option<std::thread::Result<Verdict>>
where
    C: Comparator<T> + ?Sized,
    P: Probe<T>,
{
    let check = NoiseCheck::new(exp, primary, ran, compare, probes);
    if let (true, Some(second)) = (check.run, second) {
        let (again, _, _) = run_sync(exp, Stamp::now(), None, move || {
            crate::run::context::as_second_run(*second)
        });
        check.learn(exp, primary, flatten(again), compare, probes);
    }
    check.verdict
}

/// A second run whose inputs were gone is one not made.
pub(super) fn flatten<T>(ran: Ran<Option<T>>) -> Option<Ran<T>> {
    Some(match ran {
        Ran::Value(v) => Ran::Value(v?),
        Ran::Panicked(p) => Ran::Panicked(p),
        Ran::TimedOut => Ran::TimedOut,
        Ran::Refused(n, first) => Ran::Refused(n, first),
    })
}

/// Makes an async primary's second run: its future is made and polled on a blocking thread of
/// the runtime judging the call (the shadow lane's, or the caller's with `runtime = caller` or
/// in strict mode), with `Handle::block_on`, so it need not be `Send`. Timed out at the
/// experiment's timeout. `None`: not made (no runtime, or the inputs were gone).
pub(super) async fn second_run_async<T: Send + 'static>(
    exp: &'static Experiment,
    second: NoiseFuture<T>,
) -> Option<Ran<T>> {
    let handle = tokio::runtime::Handle::try_current()
        .ok()
        .or_else(crate::run::lane::handle)?;
    let on = handle.clone();
    let run = handle.spawn_blocking(move || {
        let fut = crate::run::context::second_run_of(second()?);
        let now = Stamp::now();
        let (ran, _, _) = on.block_on(run_async(exp, now, None, fut, inline_deadline(exp, now)));
        Some(ran)
    });
    run.await.ok().flatten()
}

/// The comparator `judge` gets after a [`NoiseCheck`]: the check's verdict (or its panic), once,
/// so the pair is not compared twice; then the comparator itself.
pub(super) struct Replay<'c, C: ?Sized> {
    inner: &'c C,
    verdict: std::cell::Cell<Option<std::thread::Result<Verdict>>>,
}

impl<'c, C: ?Sized> Replay<'c, C> {
    pub(super) fn new(inner: &'c C, verdict: Option<std::thread::Result<Verdict>>) -> Self {
        Replay {
            inner,
            verdict: std::cell::Cell::new(verdict),
        }
    }
}

impl<T: ?Sized, C: Comparator<T> + ?Sized> Comparator<T> for Replay<'_, C> {
    fn compare(&self, primary: &T, candidate: &T) -> Verdict {
        match self.verdict.take() {
            Some(Ok(v)) => v,
            // `judge` catches it again and reports the comparator's panic, once.
            Some(Err(p)) => std::panic::resume_unwind(p),
            None => self.inner.compare(primary, candidate),
        }
    }
}
