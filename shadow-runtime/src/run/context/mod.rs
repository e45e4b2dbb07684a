//! The shadow context: what code reached from a shadow run can ask, so that a data layer can keep
//! the shadow's writes out of production.
//!
//! While the runtime runs the *shadow* side of a call (the candidate, or the legacy code once a
//! ramp serves the candidate), [`in_shadow`] is `true` and [`write_mode`] says how writes must be
//! handled: refused (the default), simulated ([`WriteMode::DryRun`]), or sent to a separate store
//! ([`WriteMode::Separate`], see [`pick`]). [`guard_write`] is the last line of defence: it returns
//! an error for any production write attempted in shadow context, and the call is counted as
//! [`Outcome::WriteRefused`](crate::record::outcome::Outcome::WriteRefused) instead of being compared.
//!
//! ```
//! use shadow_runtime::context::{self, WriteMode};
//!
//! fn charge(db: &mut Vec<String>, order: u64) -> Result<(), context::WriteRefused> {
//!     context::guard_write("payments.charge")?;      // Err in shadow context
//!     db.push(format!("charge {order}"));
//!     Ok(())
//! }
//!
//! let mut db = Vec::new();
//! assert!(charge(&mut db, 1).is_ok());                // production: writes
//! context::enter_shadow("docs::charge", WriteMode::Refuse, None, || {
//!     assert!(context::in_shadow());
//!     assert!(charge(&mut db, 2).is_err());           // shadow: refused
//! });
//! assert_eq!(db, ["charge 1"]);
//! ```
//!
//! **Where the context reaches.** It is set on the thread that runs the shadow side, for exactly
//! as long as it runs: for a sync function, everything it calls on that thread; for an `async fn`,
//! every poll of its future, so it holds across `.await` whichever worker thread resumes it. A task
//! the shadow *spawns* (`tokio::spawn`) or a thread it starts does not inherit the call's context:
//! wrap the spawned future in [`scope`] (or capture [`current`] and re-enter it with
//! [`Context::enter`]). On the shadow lane's own threads (where detached candidates run, see
//! [`crate::run::lane`]) everything is shadow work: there [`in_shadow`] is true and [`guard_write`]
//! refuses even outside a context, so a task a detached candidate spawns cannot write to
//! production either (its refusal is not attributed to the call, which `scope` would do).
//!
//! **Idempotency keys.** An experiment with `idempotency_key = expr` computes the key once per
//! call and gives it to *both* sides through the context ([`idempotency_key`]): the legacy code and
//! the candidate can then write with the same key, and the store keeps the first write (the
//! primary's, which runs first) and ignores the second.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

/// How the shadow side must treat writes (the attribute's `writes = refuse | dry_run | separate`).
///
/// ```
/// assert_eq!(shadow_runtime::context::write_mode(), shadow_runtime::context::WriteMode::Production);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteMode {
    /// Not in shadow context: write to production as usual.
    Production,
    /// Shadow context; writes must not happen. [`guard_write`] refuses them.
    Refuse,
    /// Shadow context, dry run: compute what would be written, write nothing.
    DryRun,
    /// Shadow context: write to the shadow store (see [`pick`]), never to production.
    Separate,
}

impl WriteMode {
    /// The attribute spelling: `"production"`, `"refuse"`, `"dry_run"`, `"separate"`.
    ///
    /// ```
    /// assert_eq!(shadow_runtime::context::WriteMode::DryRun.as_str(), "dry_run");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::Production => "production",
            WriteMode::Refuse => "refuse",
            WriteMode::DryRun => "dry_run",
            WriteMode::Separate => "separate",
        }
    }
}

/// Which side of a call is running.
///
/// ```
/// assert_eq!(shadow_runtime::context::Role::Shadow.as_str(), "shadow");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The side whose result the caller gets.
    Served,
    /// The side that is only compared.
    Shadow,
}

impl Role {
    /// `"served"` or `"shadow"`.
    ///
    /// ```
    /// assert_eq!(shadow_runtime::context::Role::Served.as_str(), "served");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Served => "served",
            Role::Shadow => "shadow",
        }
    }
}

struct Inner {
    experiment: &'static str,
    role: Role,
    writes: WriteMode,
    key: Option<Arc<str>>,
    /// Production writes refused by [`guard_write`] while this context was entered.
    refused: AtomicU32,
    /// The first refused write's target.
    first_refused: std::sync::OnceLock<&'static str>,
}

/// The context of one run of one side of a call. Cheap to clone (an `Arc`).
///
/// ```
/// use shadow_runtime::context::{self, Role, WriteMode};
/// context::enter_shadow("docs::ctx", WriteMode::DryRun, Some("order-7".into()), || {
///     let c = context::current().unwrap();
///     assert_eq!(c.experiment(), "docs::ctx");
///     assert_eq!(c.role(), Role::Shadow);
///     assert_eq!(c.idempotency_key(), Some("order-7"));
/// });
/// ```
#[derive(Clone)]
pub struct Context(Arc<Inner>);

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("experiment", &self.0.experiment)
            .field("role", &self.0.role)
            .field("writes", &self.0.writes)
            .field("idempotency_key", &self.0.key)
            .finish()
    }
}

impl Context {
    /// The experiment's name.
    ///
    /// ```
    /// shadow_runtime::context::enter_shadow("docs::name", shadow_runtime::context::WriteMode::Refuse, None, || {
    ///     assert_eq!(shadow_runtime::context::current().unwrap().experiment(), "docs::name");
    /// });
    /// ```
    pub fn experiment(&self) -> &'static str {
        self.0.experiment
    }

    /// Which side is running.
    ///
    /// ```
    /// # use shadow_runtime::context::*;
    /// enter_shadow("docs::role", WriteMode::Refuse, None, || assert_eq!(current().unwrap().role(), Role::Shadow));
    /// ```
    pub fn role(&self) -> Role {
        self.0.role
    }

    /// How writes must be handled ([`WriteMode::Production`] on the served side).
    ///
    /// ```
    /// # use shadow_runtime::context::*;
    /// enter_shadow("docs::mode", WriteMode::Separate, None, || assert_eq!(current().unwrap().writes(), WriteMode::Separate));
    /// ```
    pub fn writes(&self) -> WriteMode {
        self.0.writes
    }

    /// The call's idempotency key, if the experiment declares one.
    ///
    /// ```
    /// # use shadow_runtime::context::*;
    /// enter_shadow("docs::key", WriteMode::Refuse, None, || assert_eq!(current().unwrap().idempotency_key(), None));
    /// ```
    pub fn idempotency_key(&self) -> Option<&str> {
        self.0.key.as_deref()
    }

    /// Runs `f` with this context current on this thread (restoring the previous one after, even
    /// if `f` panics). Writes refused meanwhile count for the run this context came from.
    ///
    /// ```
    /// # use shadow_runtime::context::*;
    /// let c = enter_shadow("docs::enter", WriteMode::Refuse, None, || current().unwrap());
    /// assert!(!in_shadow());
    /// c.enter(|| assert!(in_shadow()));
    /// ```
    pub fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        Run::from_context(self.clone()).enter(f)
    }
}

mod frame;
use frame::{Frame, KEYED, SHARED};

thread_local! {
    /// The current frame's key and shared context, when its flags say it has them.
    static EXTRA: RefCell<(Option<Arc<str>>, Option<Context>)> = const { RefCell::new((None, None)) };
    /// Set while the runtime runs a primary a second time to learn its noise: the re-entered
    /// annotated function then runs its primary alone.
    static SECOND_RUN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// One run of one side of a call, in the runtime: the frame it enters (on every poll, for an
/// async side) and the refusals seen so far.
pub(crate) struct Run {
    frame: Frame,
    key: Option<Arc<str>>,
    shared: Option<Context>,
}

impl Run {
    /// The shadow side of a call of `experiment`.
    pub(crate) fn shadow(
        experiment: &'static str,
        writes: WriteMode,
        key: Option<Arc<str>>,
    ) -> Run {
        Run::new(experiment, Role::Shadow, writes, key)
    }

    /// The served side of a call (it only carries an idempotency key).
    pub(crate) fn served(experiment: &'static str, key: Option<Arc<str>>) -> Run {
        Run::new(experiment, Role::Served, WriteMode::Production, key)
    }

    fn new(experiment: &'static str, role: Role, writes: WriteMode, key: Option<Arc<str>>) -> Run {
        Run {
            frame: Frame::new(
                experiment,
                role,
                if role == Role::Served {
                    WriteMode::Production
                } else {
                    writes
                },
                key.is_some(),
                false,
            ),
            key,
            shared: None,
        }
    }

    fn from_context(c: Context) -> Run {
        Run {
            frame: Frame::new(
                c.0.experiment,
                c.0.role,
                c.0.writes,
                c.0.key.is_some(),
                true,
            ),
            key: c.0.key.clone(),
            shared: Some(c),
        }
    }

    /// Runs `f` with this run's frame current on this thread (restoring the previous one after,
    /// even if `f` panics).
    #[inline]
    pub(crate) fn enter<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let prev = frame::replace(Some(self.frame)).expect("the frame's thread-locals are alive");
        let needs_extra = |f: &Frame| f.flags & (KEYED | SHARED) != 0;
        let saved = if needs_extra(&self.frame) || prev.as_ref().is_some_and(needs_extra) {
            self.enter_extra()
        } else {
            None
        };
        let _restore = Leave {
            run: self,
            prev,
            saved,
        };
        f()
    }

    /// Puts the run's key and shared context where the frame's readers find them; what was there
    /// (an outer frame's) comes back when the frame is left.
    #[cold]
    fn enter_extra(&self) -> Option<(Option<Arc<str>>, Option<Context>)> {
        Some(EXTRA.with(|e| e.replace((self.key.clone(), self.shared.clone()))))
    }

    /// Production writes refused during this run (over all its entries), and the first target.
    pub(crate) fn refused(&self) -> Option<(u32, &'static str)> {
        let c = self.shared.as_ref()?;
        let n = c.0.refused.load(Relaxed);
        (n > 0).then(|| (n, c.0.first_refused.get().copied().unwrap_or("?")))
    }
}

/// Leaves a [`Run`]'s frame: the previous frame is current again, and a shared context the frame
/// got meanwhile (handed out, or made by a refused write) goes back to the run.
struct Leave<'a> {
    run: &'a mut Run,
    prev: Option<Frame>,
    saved: Option<(Option<Arc<str>>, Option<Context>)>,
}

impl Drop for Leave<'_> {
    /// Inlined, with the uncommon work out of line: called out of line, the guard would be
    /// read back from memory through loads wider than the stores that wrote it (a stall on every
    /// shadow run, seen with `perf annotate`); inlined, the previous frame stays in registers.
    #[inline(always)]
    fn drop(&mut self) {
        // `try_with`: a thread being torn down has nothing to restore.
        let Some(mine) = frame::replace(self.prev).ok().flatten() else {
            return;
        };
        // `current()` made the frame shared while it ran.
        let became_shared = mine.shared() && !self.run.frame.shared();
        if became_shared || self.saved.is_some() {
            self.leave_extra(became_shared);
        }
    }
}

impl Leave<'_> {
    /// [`Leave::drop`] for a frame with a key or a shared context.
    #[cold]
    #[inline(never)]
    fn leave_extra(&mut self, became_shared: bool) {
        if became_shared {
            // Keep the frame's shared context for the run's later entries.
            self.run.frame.flags |= SHARED;
            self.run.shared = EXTRA.try_with(|e| e.borrow().1.clone()).ok().flatten();
        }
        if let Some(saved) = self.saved.take() {
            let _ = EXTRA.try_with(|e| *e.borrow_mut() = saved);
        }
    }
}

/// Whether this thread is running a primary a second time (the attribute's `noise`).
pub(crate) fn second_run() -> bool {
    SECOND_RUN.try_with(|c| c.get()).unwrap_or(false)
}

/// Runs `f` (a second run of a primary) with [`second_run`] set.
pub(crate) fn as_second_run<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            let _ = SECOND_RUN.try_with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(SECOND_RUN.with(|c| c.replace(true)));
    f()
}

pin_project_lite::pin_project! {
    /// A future polled with [`second_run`] set.
    pub(crate) struct SecondRun<F> {
        #[pin]
        inner: F,
    }
}

impl<F: Future> Future for SecondRun<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let inner = self.project().inner;
        as_second_run(|| inner.poll(cx))
    }
}

/// `fut` polled as a second run.
pub(crate) fn second_run_of<F: Future>(fut: F) -> SecondRun<F> {
    SecondRun { inner: fut }
}

/// The context of the side running on this thread, if any (`None` outside every annotated call,
/// and for the primary of an experiment without an idempotency key).
///
/// ```
/// assert!(shadow_runtime::context::current().is_none());
/// ```
pub fn current() -> Option<Context> {
    let frame = frame::get().ok().flatten()?;
    EXTRA
        .try_with(|e| {
            let mut e = e.borrow_mut();
            if frame.shared() {
                if let Some(c) = &e.1 {
                    return c.clone();
                }
            }
            // The first time in this frame: a shared context, which the frame's later refusals
            // go to (a task it is carried into by `scope` reports there too).
            let key = if frame.keyed() { e.0.clone() } else { None };
            let c = Context(Arc::new(Inner {
                experiment: frame.experiment,
                role: frame.role(),
                writes: frame.writes(),
                key: key.clone(),
                refused: AtomicU32::new(0),
                first_refused: std::sync::OnceLock::new(),
            }));
            *e = (key, Some(c.clone()));
            let _ = frame::replace(Some(Frame {
                flags: frame.flags | SHARED,
                ..frame
            }));
            c
        })
        .ok()
}

/// `true` while the shadow side of a call runs (on this thread, or in this task's future).
///
/// ```
/// assert!(!shadow_runtime::context::in_shadow());
/// ```
pub fn in_shadow() -> bool {
    match frame::get() {
        Ok(Some(f)) => f.role() == Role::Shadow,
        // A lane thread runs nothing but shadow work (a task a candidate spawned, say).
        Ok(None) => on_lane(),
        Err(_) => false,
    }
}

/// How writes must be handled here: [`WriteMode::Production`] outside shadow context.
///
/// ```
/// use shadow_runtime::context::{enter_shadow, write_mode, WriteMode};
/// assert_eq!(write_mode(), WriteMode::Production);
/// enter_shadow("docs::wm", WriteMode::DryRun, None, || assert_eq!(write_mode(), WriteMode::DryRun));
/// ```
pub fn write_mode() -> WriteMode {
    match frame::get() {
        Ok(Some(f)) => f.writes(),
        Ok(None) if on_lane() => WriteMode::Refuse,
        _ => WriteMode::Production,
    }
}

/// `true` in a shadow run with `writes = dry_run`: compute, do not write.
///
/// ```
/// assert!(!shadow_runtime::context::is_dry_run());
/// ```
pub fn is_dry_run() -> bool {
    write_mode() == WriteMode::DryRun
}

/// The current call's idempotency key (both sides see the same one), if its experiment declares
/// `idempotency_key = ...`.
///
/// ```
/// use shadow_runtime::context::{enter_shadow, idempotency_key, WriteMode};
/// assert_eq!(idempotency_key(), None);
/// enter_shadow("docs::idem", WriteMode::Refuse, Some("k-1".into()), || {
///     assert_eq!(idempotency_key().as_deref(), Some("k-1"));
/// });
/// ```
pub fn idempotency_key() -> Option<Arc<str>> {
    match frame::get() {
        Ok(Some(f)) if f.keyed() => EXTRA.try_with(|e| e.borrow().0.clone()).ok().flatten(),
        _ => None,
    }
}

/// The production handle outside shadow context, the shadow handle inside it: the *separate
/// store* pattern (`writes = separate`), in one line of the data layer.
///
/// ```
/// use shadow_runtime::context::{enter_shadow, pick, WriteMode};
/// let (prod, shadow) = ("prod.db", "shadow.db");
/// assert_eq!(*pick(&prod, &shadow), "prod.db");
/// enter_shadow("docs::pick", WriteMode::Separate, None, || assert_eq!(*pick(&prod, &shadow), "shadow.db"));
/// ```
pub fn pick<'a, T: ?Sized>(production: &'a T, shadow: &'a T) -> &'a T {
    if in_shadow() {
        shadow
    } else {
        production
    }
}

/// A production write attempted in shadow context, refused by [`guard_write`].
///
/// ```
/// use shadow_runtime::context::{enter_shadow, guard_write, WriteMode};
/// let e = enter_shadow("docs::refused", WriteMode::Refuse, None, || guard_write("ledger.insert").unwrap_err());
/// assert_eq!(e.target(), "ledger.insert");
/// assert!(e.to_string().contains("docs::refused"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRefused {
    experiment: &'static str,
    target: &'static str,
    mode: WriteMode,
}

impl WriteRefused {
    /// What was to be written (the name given to [`guard_write`]).
    pub fn target(&self) -> &'static str {
        self.target
    }
    /// The experiment whose shadow run attempted it.
    pub fn experiment(&self) -> &'static str {
        self.experiment
    }
    /// The experiment's write mode at the time.
    pub fn mode(&self) -> WriteMode {
        self.mode
    }
}

impl fmt::Display for WriteRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "production write `{}` refused: it was attempted by the shadow run of experiment `{}` (writes = {})",
            self.target,
            self.experiment,
            self.mode.as_str()
        )
    }
}

impl std::error::Error for WriteRefused {}

/// Asks whether a production write may happen here: `Ok(())` outside shadow context, an error in
/// it (whatever the write mode: a data layer that supports dry runs or a separate store checks
/// [`write_mode`] first, and this catches what it missed). Every refusal is counted: the shadow
/// run's outcome becomes [`Outcome::WriteRefused`](crate::record::outcome::Outcome::WriteRefused) rather than a
/// comparison, and the first refused target appears in its record.
///
/// ```
/// assert!(shadow_runtime::context::guard_write("orders.insert").is_ok());
/// ```
pub fn guard_write(target: &'static str) -> Result<(), WriteRefused> {
    let refused = match frame::get() {
        // Shadow work on a lane thread outside any run's context (a task a candidate spawned
        // without `scope`): refused, not attributed to a call.
        Ok(None) if on_lane() => Some(WriteRefused {
            experiment: "(a task spawned by a shadow run)",
            target,
            mode: WriteMode::Refuse,
        }),
        Ok(Some(f)) if f.role() == Role::Shadow => {
            // Counted in the frame's shared context, made by the first refusal if the frame has
            // none yet (a refused write is rare; the frame of every run stays small).
            if let Some(c) = current() {
                c.0.refused.fetch_add(1, Relaxed);
                let _ = c.0.first_refused.set(target);
            }
            Some(WriteRefused {
                experiment: f.experiment,
                target,
                mode: f.writes(),
            })
        }
        _ => None,
    };
    match refused {
        None => Ok(()),
        Some(e) => {
            tracing::debug!(target: "parallel_run", experiment = e.experiment, write = target, "production write refused in shadow context");
            Err(e)
        }
    }
}

/// Runs `f` as the shadow side of experiment `experiment` (for hand-written integrations and tests
/// of a data layer); returns `f`'s result.
///
/// ```
/// let inside = shadow_runtime::context::enter_shadow("docs::shadow", shadow_runtime::context::WriteMode::Refuse, None, shadow_runtime::context::in_shadow);
/// assert!(inside);
/// ```
pub fn enter_shadow<R>(
    experiment: &'static str,
    writes: WriteMode,
    idempotency_key: Option<Arc<str>>,
    f: impl FnOnce() -> R,
) -> R {
    Run::shadow(experiment, writes, idempotency_key).enter(f)
}

pin_project_lite::pin_project! {
    /// A future polled with a context current: what [`scope`] returns, and how the runtime runs
    /// an async side.
    pub struct Scoped<F> {
        #[pin]
        inner: F,
        run: Option<Run>,
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        match this.run {
            Some(run) => run.enter(|| this.inner.poll(cx)),
            None => this.inner.poll(cx),
        }
    }
}

impl<F> Scoped<F> {
    /// Production writes refused so far while the future was polled.
    pub(crate) fn refused(&self) -> Option<(u32, &'static str)> {
        self.run.as_ref().and_then(Run::refused)
    }
}

/// Carries the current context (if any) into a future that will run elsewhere: wrap what a shadow
/// run spawns, `tokio::spawn(parallel_run::context::scope(async { ... }))`, so that the spawned
/// task is still in shadow context (and its refused writes count for the run).
///
/// ```
/// use shadow_runtime::context::{enter_shadow, in_shadow, scope, WriteMode};
/// let fut = enter_shadow("docs::scope", WriteMode::Refuse, None, || scope(async { in_shadow() }));
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// assert!(rt.block_on(fut)); // polled outside, still in shadow context
/// ```
pub fn scope<F: Future>(fut: F) -> Scoped<F> {
    Scoped {
        inner: fut,
        run: current().map(Run::from_context),
    }
}

/// `fut` polled with `run` current.
pub(crate) fn scoped<F: Future>(run: Option<Run>, fut: F) -> Scoped<F> {
    Scoped { inner: fut, run }
}

/// Runs `f` with `run` current, or plainly when there is none.
#[inline]
pub(crate) fn within<R>(run: Option<&mut Run>, f: impl FnOnce() -> R) -> R {
    match run {
        Some(r) => r.enter(f),
        None => f(),
    }
}

thread_local! {
static ON_LANE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is one of the shadow lane's (everything it runs is shadow work).
#[inline]
pub(crate) fn on_lane() -> bool {
    ON_LANE.try_with(|c| c.get()).unwrap_or(false)
}

/// Marks this thread as one of the shadow lane's, for its whole life.
pub(crate) fn mark_lane_thread() {
    let _ = ON_LANE.try_with(|c| c.set(true));
}

#[cfg(test)]
mod tests;
