//! Items the `#[parallel_run]` expansion names by absolute path. Not public API: no stability
//! promise, may change in any release.

pub use crate::decide::config::{Mode, Order};
pub use crate::decide::sticky::SampleKey;
pub use crate::experiment::{Experiment, ShadowCall};
pub use crate::judge::compare::{Comparator, DefaultComparator, Verdict};
pub use crate::judge::noise::Keep;
pub use crate::run::context::WriteMode;
pub use crate::run::exec::{ByPartialEq, Pending, Probes};

/// Wraps a value for the rendering probe (autoref specialisation):
/// `(&&&&DebugProbe(v)).__pr_debug()` (each level one reference less, tried in order). One rule, whatever the function (generic or not): `{:#?}`
/// when the type implements `Debug`, except for a type that may mask a part of itself
/// ([`ShadowCompare::MASKED`](crate::judge::typed::ShadowCompare::MASKED), a `#[shadow(sensitive)]`
/// field), which is rendered as pretty JSON through `shadow_value`, so that the masked part never
/// reaches a record; a `ShadowCompare` type without `Debug` is rendered through `shadow_value`
/// too; anything else yields `None`. In a generic function, the bounds in scope decide.
pub struct DebugProbe<'a, T: ?Sized>(pub &'a T);

/// Picked first, when `T: ShadowCompare + Debug`: the masked JSON form if the type masks,
/// else `{:#?}`.
pub trait ViaShadowDebug {
    fn __pr_debug(&self) -> Option<String>;
}
impl<T: crate::judge::typed::ShadowCompare + core::fmt::Debug + ?Sized> ViaShadowDebug
    for &&&DebugProbe<'_, T>
{
    fn __pr_debug(&self) -> Option<String> {
        if T::MASKED {
            serde_json::to_string_pretty(&self.0.shadow_value()).ok()
        } else {
            Some(format!("{:#?}", self.0))
        }
    }
}

/// Picked when `T: ShadowCompare` without `Debug`: its JSON form.
pub trait ViaShadow {
    fn __pr_debug(&self) -> Option<String>;
}
impl<T: crate::judge::typed::ShadowCompare + ?Sized> ViaShadow for &&DebugProbe<'_, T> {
    fn __pr_debug(&self) -> Option<String> {
        serde_json::to_string_pretty(&self.0.shadow_value()).ok()
    }
}

/// Picked when `T: Debug` (and not `ShadowCompare`).
pub trait ViaDebug {
    fn __pr_debug(&self) -> Option<String>;
}
impl<T: core::fmt::Debug + ?Sized> ViaDebug for &DebugProbe<'_, T> {
    fn __pr_debug(&self) -> Option<String> {
        Some(format!("{:#?}", self.0))
    }
}

/// The fallback, reached last.
pub trait ViaNoDebug {
    fn __pr_debug(&self) -> Option<String>;
}
impl<T: ?Sized> ViaNoDebug for DebugProbe<'_, T> {
    fn __pr_debug(&self) -> Option<String> {
        None
    }
}

/// Wraps a value for the error probe (autoref specialisation): `(&ErrProbe(v)).__pr_is_err()` is
/// `v.is_err()` for a `Result`, `false` for anything else.
pub struct ErrProbe<'a, T: ?Sized>(pub &'a T);

/// Picked for `Result<T, E>`.
pub trait ViaResult {
    fn __pr_is_err(&self) -> bool;
}
impl<T, E> ViaResult for ErrProbe<'_, Result<T, E>> {
    fn __pr_is_err(&self) -> bool {
        self.0.is_err()
    }
}

/// The fallback, one auto-ref further away.
pub trait ViaNotResult {
    fn __pr_is_err(&self) -> bool;
}
impl<T: ?Sized> ViaNotResult for &ErrProbe<'_, T> {
    fn __pr_is_err(&self) -> bool {
        false
    }
}

/// The sticky hash of a `sample_by` key (checked at the expression's span).
#[inline(always)]
pub fn sample_key<K: SampleKey + ?Sized>(k: &K, seed: u64) -> Option<u64> {
    Some(crate::decide::sticky::key_hash(k, seed))
}

/// The sampling key as text, for the call's records (checked at the `sample_by` expression).
#[inline]
pub fn key_text<K: SampleKey + ?Sized>(k: &K) -> String {
    k.key_text()
}

/// An idempotency key value, rendered with `Display`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an idempotency key: it does not implement `Display`",
    label = "idempotency keys are rendered with `Display`",
    note = "use a field that implements `Display`, or build the key: `idempotency_key = format!(\"charge-{{}}\", order.id)`"
)]
pub trait IdempotencyKey {
    fn render(&self) -> std::sync::Arc<str>;
}
impl<T: core::fmt::Display + ?Sized> IdempotencyKey for T {
    fn render(&self) -> std::sync::Arc<str> {
        std::sync::Arc::from(self.to_string())
    }
}

/// The call's idempotency key (checked at the `idempotency_key` expression).
#[inline]
pub fn idempotency_key<K: IdempotencyKey + ?Sized>(k: &K) -> std::sync::Arc<str> {
    k.render()
}

/// Runs the primary of a call that is not shadowed, with its idempotency key in the context.
#[inline]
pub fn primary_with_key<T>(
    exp: &'static Experiment,
    key: std::sync::Arc<str>,
    primary: impl FnOnce() -> T,
) -> T {
    let mut ctx = crate::run::exec::served_context(exp, Some(key));
    crate::run::context::within(ctx.as_mut(), primary)
}

/// The async twin of [`primary_with_key`].
#[inline]
pub fn primary_with_key_async<F: core::future::Future>(
    exp: &'static Experiment,
    key: std::sync::Arc<str>,
    primary: F,
) -> crate::run::context::Scoped<F> {
    crate::run::context::scoped(crate::run::exec::served_context(exp, Some(key)), primary)
}

/// An argument recorded for replay (`record_inputs = true`), serialised to JSON.
#[diagnostic::on_unimplemented(
    message = "`record_inputs` serialises every argument, and `{Self}` does not implement `serde::Serialize`",
    label = "this argument cannot be recorded",
    note = "derive `serde::Serialize` for it, or remove `record_inputs`"
)]
pub trait RecordInput {
    fn record(&self) -> serde_json::Value;
}
impl<T: serde::Serialize + ?Sized> RecordInput for T {
    fn record(&self) -> serde_json::Value {
        serde_json::to_value(self)
            .unwrap_or_else(|e| serde_json::Value::String(format!("(not serialisable: {e})")))
    }
}

/// One recorded argument (checked at the argument).
#[inline]
pub fn input<T: RecordInput + ?Sized>(v: &T) -> serde_json::Value {
    v.record()
}

/// Whether this call is a second run of its primary (the attribute's `noise`): it then runs the
/// primary alone.
#[inline(always)]
pub fn second_run() -> bool {
    crate::run::context::second_run()
}

/// Checks that `run_if` is a `bool`, with the error at the expression.
#[inline(always)]
pub fn run_if(b: bool) -> bool {
    b
}

/// A comparator that has been checked against the result type `T` by one of the functions below.
/// Its [`Comparator`] impl holds for every `C`, so once the check at the `compare` expression (or
/// at the return type, for the default) has failed, the rest of the expansion adds no second error.
pub struct Checked<T: ?Sized, C> {
    comparator: C,
    compare: fn(&C, &T, &T) -> Verdict,
}

impl<T: ?Sized, C> Comparator<T> for Checked<T, C> {
    #[inline]
    fn compare(&self, primary: &T, candidate: &T) -> Verdict {
        (self.compare)(&self.comparator, primary, candidate)
    }
}

#[inline(always)]
fn checked<T: ?Sized, C: Comparator<T>>(comparator: C) -> Checked<T, C> {
    Checked {
        comparator,
        compare: |c, p, k| c.compare(p, k),
    }
}

/// Checks that the comparator fits the result type, with the error at the `compare` expression
/// (inline mode).
#[inline(always)]
pub fn comparator<T: ?Sized, C: Comparator<T>>(c: C) -> Checked<T, C> {
    checked(c)
}

/// [`comparator`] for detached mode, where the comparator also travels to another thread.
#[inline(always)]
pub fn detached_comparator<T: ?Sized, C: Comparator<T> + Send + 'static>(c: C) -> Checked<T, C> {
    checked(c)
}

/// [`comparator`] for a closure written in the attribute: the `Fn(&T, &T)` bound gives the
/// closure its parameter types, so `compare = |a, b| a.id == b.id` needs no annotations.
#[inline(always)]
pub fn closure_comparator<T: ?Sized, F, V>(f: F) -> Checked<T, F>
where
    F: Fn(&T, &T) -> V,
    V: IntoVerdict,
{
    checked(f)
}

/// [`closure_comparator`] for detached mode.
#[inline(always)]
pub fn detached_closure_comparator<T: ?Sized, F, V>(f: F) -> Checked<T, F>
where
    F: Fn(&T, &T) -> V + Send + 'static,
    V: IntoVerdict,
{
    checked(f)
}

/// A result type for `compare = Typed`: one with a typed diff.
#[diagnostic::on_unimplemented(
    message = "`compare = Typed` needs a typed diff of `{Self}`, and `{Self}` does not implement `ShadowCompare`",
    label = "`{Self}` does not implement `ShadowCompare`",
    note = "derive it on the result type, `#[derive(ShadowCompare)]` (and on the types of its fields); for a type of another crate, which cannot implement it (the orphan rule), compare its serde form with `compare = parallel_run::structural::Structural::new()`"
)]
pub trait TypedResult: crate::judge::typed::ShadowCompare {}
#[diagnostic::do_not_recommend]
impl<T: crate::judge::typed::ShadowCompare + ?Sized> TypedResult for T {}

/// Checks `compare = Typed` against the result type, at the `compare` expression.
#[inline(always)]
pub fn typed_comparator<T: TypedResult + ?Sized>(
    c: crate::judge::typed::Typed,
) -> Checked<T, crate::judge::typed::Typed> {
    checked(c)
}

/// What a comparator closure may return.
#[diagnostic::on_unimplemented(
    message = "a comparator closure must return `bool` or `Verdict`, not `{Self}`",
    label = "this closure returns `{Self}`",
    note = "return `true` for a match, or a `parallel_run::Verdict` (`Verdict::Match`, `Verdict::acceptable(..)`, `Verdict::mismatch(..)`)"
)]
pub trait IntoVerdict: Into<Verdict> {}
#[diagnostic::do_not_recommend]
impl<V: Into<Verdict>> IntoVerdict for V {}

/// An owned, sendable copy of a by-value argument for a detached candidate.
#[diagnostic::on_unimplemented(
    message = "detached mode needs an owned copy of this argument, and `{Self}` is not `Clone + Send + 'static`",
    label = "this argument cannot be copied to the detached candidate",
    note = "make the type `Clone + Send + 'static` (wrap shared state in an `Arc`), or use `#[parallel_run(mode = inline, ...)]`"
)]
pub trait DetachedValue: Sized {
    fn detached_copy(&self) -> Self;
}
// `do_not_recommend` on the argument traits' impls: rustc then reports the trait's own message at
// the argument, instead of suggesting to borrow it ("consider borrowing here", which cannot help)
// or naming a leaf bound of std's (`ToOwned` -> `Clone`).
#[diagnostic::do_not_recommend]
impl<T: Clone + Send + 'static> DetachedValue for T {
    #[inline]
    fn detached_copy(&self) -> Self {
        self.clone()
    }
}

/// An owned, sendable copy of the pointee of a `&T` argument (`ToOwned`: `&str` → `String`,
/// `&[T]` → `Vec<T>`) for a detached candidate.
#[diagnostic::on_unimplemented(
    message = "detached mode needs an owned copy of this argument, and `{Self}` has no `ToOwned` copy that is `Send + 'static`",
    label = "this argument cannot be copied to the detached candidate",
    note = "make the referenced type `Clone + Send + 'static`, or use `#[parallel_run(mode = inline, ...)]`"
)]
pub trait DetachedRef {
    type Owned: core::borrow::Borrow<Self> + Send + 'static;
    fn detached_owned(&self) -> Self::Owned;
}
#[diagnostic::do_not_recommend]
impl<T: ToOwned + ?Sized> DetachedRef for T
where
    T::Owned: Send + 'static,
{
    type Owned = T::Owned;
    #[inline]
    fn detached_owned(&self) -> T::Owned {
        self.to_owned()
    }
}

/// A copy of the primary's result for a detached comparison.
#[diagnostic::on_unimplemented(
    message = "detached mode compares off the caller's path and needs a copy of the result, and `{Self}` is not `Clone + Send + 'static`",
    label = "the return type must be `Clone + Send + 'static` in detached mode",
    note = "derive `Clone` for the result type, or use `#[parallel_run(mode = inline, ...)]`"
)]
pub trait DetachedResult: Clone + Send + 'static {
    fn detached_copy(&self) -> Self;
}
impl<T: Clone + Send + 'static> DetachedResult for T {
    #[inline]
    fn detached_copy(&self) -> Self {
        self.clone()
    }
}

/// Runs a sync call in detached mode ([`Pending::run_detached`]). Called with its span at the
/// return type, so that a result that cannot be copied is one error there (`DetachedResult`'s),
/// not also a "method exists but its trait bounds were not satisfied" at the attribute.
#[inline(always)]
pub fn run_detached<T, F, L, C, P>(pending: Pending<F, T>, primary: L, compare: C, probes: P) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: DetachedResult,
    L: FnOnce() -> T,
    C: Comparator<T> + Send + 'static,
    P: crate::run::exec::Probe<T> + Send + 'static,
{
    pending.run_detached(primary, T::detached_copy, compare, probes)
}

/// [`run_detached`] for an async call ([`Pending::run_detached_async`]), called with the
/// candidate's span: rustc reports a candidate future that is not `Send` there, with the value
/// that is not `Send` and the `.await` it is held across, and quotes the bound's line below, whose
/// comment says what to do.
#[inline(always)]
pub async fn run_detached_async<T, F, L, C, P>(
    pending: Pending<F, T>,
    primary: L,
    compare: C,
    probes: P,
) -> T
where
    F: core::future::Future<Output = T> + Send + 'static, // not `Send`? use `mode = inline`
    T: DetachedResult,
    L: core::future::Future<Output = T>,
    C: Comparator<T> + Send + 'static,
    P: crate::run::exec::Probe<T> + Send + 'static,
{
    pending
        .run_detached_async(primary, T::detached_copy, compare, probes)
        .await
}

/// A further candidate's call in detached mode ([`Pending::finish_detached`]), compared with a
/// copy of the primary's result.
#[inline(always)]
pub fn finish_detached<T, F, C, P>(pending: Pending<F, T>, primary: &T, compare: C, probes: P)
where
    F: FnOnce() -> T + Send + 'static,
    T: DetachedResult,
    C: Comparator<T> + Send + 'static,
    P: crate::run::exec::Probe<T> + Send + 'static,
{
    pending.finish_detached(primary.detached_copy(), compare, probes)
}

/// [`finish_detached`] for an async call ([`Pending::finish_detached_async`]).
#[inline(always)]
pub async fn finish_detached_async<T, F, C, P>(
    pending: Pending<F, T>,
    primary: &T,
    compare: C,
    probes: P,
) where
    F: core::future::Future<Output = T> + Send + 'static, // not `Send`? use `mode = inline`
    T: DetachedResult,
    C: Comparator<T> + Send + 'static,
    P: crate::run::exec::Probe<T> + Send + 'static,
{
    pending
        .finish_detached_async(primary.detached_copy(), compare, probes)
        .await
}

/// A copy of the pointee of a `&mut T` argument for an inline candidate, so the candidate never
/// mutates what the caller sees.
#[diagnostic::on_unimplemented(
    message = "the candidate gets its own copy of a `&mut` argument, and `{Self}` is not `Clone`",
    label = "this `&mut` argument cannot be copied for the candidate",
    note = "derive `Clone` for the referenced type"
)]
pub trait InlineMutCopy: Sized {
    fn inline_copy(&self) -> Self;
}
impl<T: Clone> InlineMutCopy for T {
    #[inline]
    fn inline_copy(&self) -> Self {
        self.clone()
    }
}

/// A copy of a by-value argument for an inline candidate (the primary consumes the original).
#[diagnostic::on_unimplemented(
    message = "the candidate needs its own copy of this by-value argument, and `{Self}` is not `Clone`",
    label = "this argument cannot be copied for the candidate",
    note = "derive `Clone` for the type, or take the argument by reference"
)]
pub trait InlineValue: Sized {
    fn inline_copy(&self) -> Self;
}
#[diagnostic::do_not_recommend]
impl<T: Clone> InlineValue for T {
    #[inline]
    fn inline_copy(&self) -> Self {
        self.clone()
    }
}

/// The comparator used when the attribute names none: `PartialEq`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `PartialEq`, which the default comparator needs",
    label = "the result type must be `PartialEq` to be compared without `compare = ...`",
    note = "derive `PartialEq` for the result type, or give a comparator: `#[parallel_run(candidate = ..., compare = MyComparator)]`"
)]
pub trait DefaultComparable: PartialEq {}
impl<T: PartialEq + ?Sized> DefaultComparable for T {}

/// The default comparator, checked against the result type at the function's return type. The
/// [`Checked`] return type keeps a missing `PartialEq` to this one error.
#[inline(always)]
pub fn default_comparator<T: DefaultComparable + ?Sized>() -> Checked<T, DefaultComparator> {
    checked(DefaultComparator)
}

/// The comparator with the attribute's `ignore` rules: consulted in order, only when the pair did
/// not match; the first that says yes makes the verdict [`Verdict::Ignored`]. A panicking rule
/// counts as no, is reported (once per rule), and the next rules still run.
pub struct Ignoring<C, T: ?Sized + 'static, const N: usize> {
    pub inner: C,
    pub rules: [fn(&T, &T) -> bool; N],
    pub experiment: &'static Experiment,
}

impl<C: Comparator<T>, T: ?Sized, const N: usize> Comparator<T> for Ignoring<C, T, N> {
    fn compare(&self, primary: &T, candidate: &T) -> Verdict {
        let verdict = self.inner.compare(primary, candidate);
        if !matches!(verdict, Verdict::Mismatch { .. }) {
            return verdict;
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let said = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                crate::run::isolation::quietly(|| rule(primary, candidate))
            }));
            match said {
                Ok(true) => {
                    return Verdict::Ignored {
                        reason: format!("ignore rule #{}", i + 1).into(),
                    }
                }
                Ok(false) => {}
                Err(p) => self.experiment.internal_error(
                    "ignore",
                    &format!(
                        "ignore rule #{} panicked ({}); counted as no",
                        i + 1,
                        crate::judge::compare::panic_message(&*p)
                    ),
                ),
            }
        }
        verdict
    }
}

/// One `ignore` rule, typed against the result (the error lands on the rule's expression).
#[inline(always)]
pub fn rule<T: ?Sized>(f: fn(&T, &T) -> bool) -> fn(&T, &T) -> bool {
    f
}

/// How two `Err` results compare (`errors = compare | match | variant`).
#[derive(Clone, Copy)]
pub enum ErrorPolicy {
    /// Through the comparator, like any other pair.
    Compare,
    /// Two errors agree, whatever they say.
    Match,
    /// Two errors agree when they are the same enum variant.
    Variant,
}

/// The comparator under an error policy. An `Err` against an `Ok` never reaches it: that is
/// always a mismatch.
pub struct OnErrors<C> {
    pub inner: C,
    pub policy: ErrorPolicy,
}

impl<C: Comparator<Result<T, E>>, T, E> Comparator<Result<T, E>> for OnErrors<C> {
    fn compare(&self, primary: &Result<T, E>, candidate: &Result<T, E>) -> Verdict {
        match (primary, candidate, self.policy) {
            (Err(_), Err(_), ErrorPolicy::Match) => Verdict::Match,
            (Err(a), Err(b), ErrorPolicy::Variant) => {
                if core::mem::discriminant(a) == core::mem::discriminant(b) {
                    Verdict::Match
                } else {
                    Verdict::Mismatch { diff: None }
                }
            }
            _ => self.inner.compare(primary, candidate),
        }
    }
}

/// Only results are subject to an error policy.
#[diagnostic::on_unimplemented(
    message = "`errors = ...` applies to functions returning `Result`, and this one returns `{Self}`",
    label = "remove `errors`, or return a `Result`"
)]
pub trait IsResult: Sized {
    fn policy_compare<C: Comparator<Self>>(
        c: &OnErrors<C>,
        primary: &Self,
        candidate: &Self,
    ) -> Verdict;
}

impl<T, E> IsResult for Result<T, E> {
    fn policy_compare<C: Comparator<Self>>(
        c: &OnErrors<C>,
        primary: &Self,
        candidate: &Self,
    ) -> Verdict {
        c.compare(primary, candidate)
    }
}

/// Applies an error policy, checked against the result type at the `errors` value (a
/// [`Checked`], so a non-`Result` return is reported once).
#[inline(always)]
pub fn on_errors<R: IsResult, C: Comparator<R>>(
    inner: C,
    policy: ErrorPolicy,
) -> Checked<R, OnErrors<C>> {
    Checked {
        comparator: OnErrors { inner, policy },
        compare: R::policy_compare::<C>,
    }
}

/// A context value, rendered with `Display`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a context value: it does not implement `Display`",
    label = "context values are rendered with `Display`",
    note = "use a field that implements `Display`, or render it yourself: `\"key\": format!(\"{{value:?}}\")`"
)]
pub trait ContextValue {
    fn render(&self) -> String;
}
impl<T: core::fmt::Display + ?Sized> ContextValue for T {
    fn render(&self) -> String {
        self.to_string()
    }
}

/// One context value (checked at its expression).
#[inline]
pub fn ctx<V: ContextValue + ?Sized>(v: &V) -> String {
    v.render()
}

/// The attribute's `on_outcome` hook, typed at its expression.
#[inline(always)]
pub fn on_outcome(
    f: fn(&crate::record::outcome::OutcomeRecord),
) -> fn(&crate::record::outcome::OutcomeRecord) {
    f
}

/// Runs the attribute's `before` hook (only for calls that are shadowed); a panic is reported as
/// an internal error of helper `before`, and the call goes on.
#[inline]
pub fn before(exp: &'static Experiment, hook: impl FnOnce()) {
    if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::run::isolation::quietly(hook)
    })) {
        exp.internal_error("before", &crate::judge::compare::panic_message(&*p));
    }
}

/// Renders a value with the attribute's `clean` function. A panicking cleaner is reported
/// (helper `clean`) and yields a placeholder: the raw value is never used instead.
pub fn cleaned<T: ?Sized>(
    exp: &'static Experiment,
    clean: fn(&T) -> String,
    v: &T,
) -> Option<String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::run::isolation::quietly(|| clean(v))
    })) {
        Ok(s) => Some(s),
        Err(p) => {
            exp.internal_error("clean", &crate::judge::compare::panic_message(&*p));
            Some("(clean failed)".to_owned())
        }
    }
}

/// The most arguments (the receiver included) that [`call_candidate`] checks; a function with
/// more calls its candidate directly.
pub const CANDIDATE_ARITY: usize = 12;

/// A candidate that can stand in for the function: callable with its arguments (as a tuple)
/// and returning its type. Checked at the `candidate` path, so that a signature that differs is
/// one error there, naming both signatures, rather than a type mismatch at an argument with a
/// suggestion to edit the function's own signature (`fn f(x.into(): u32)`).
#[diagnostic::on_unimplemented(
    message = "the candidate's signature differs from this function's: it is called with the arguments `{Args}` and must return `{R}`",
    label = "`{Self}` takes other arguments or returns another type",
    note = "give the candidate the same argument types, in the same order, and the same return type as the function it shadows, and make it `async` exactly when the function is"
)]
pub trait Candidate<Args, R> {
    /// Calls the candidate.
    fn call(self, args: Args) -> R;
}

/// The async twin of [`Candidate`]: called with the arguments, it returns a future of `R`.
#[diagnostic::on_unimplemented(
    message = "the candidate's signature differs from this `async fn`'s: it is called with the arguments `{Args}` and must return a future of `{R}`",
    label = "`{Self}` takes other arguments or is not an `async fn` returning `{R}`",
    note = "give the candidate the same argument types, in the same order, and the same return type as the function it shadows, and make it `async` exactly when the function is"
)]
pub trait AsyncCandidate<Args, R> {
    /// The candidate's future.
    type Future: core::future::Future<Output = R>;
    /// Calls the candidate.
    fn call(self, args: Args) -> Self::Future;
}

macro_rules! candidate_arities {
    ($(($($a:ident $x:ident),*))*) => {$(
        #[diagnostic::do_not_recommend]
        impl<F, R, $($a),*> Candidate<($($a,)*), R> for F
        where
            F: FnOnce($($a),*) -> R,
        {
            #[inline(always)]
            fn call(self, ($($x,)*): ($($a,)*)) -> R {
                self($($x),*)
            }
        }

        #[diagnostic::do_not_recommend]
        impl<F, Fut, R, $($a),*> AsyncCandidate<($($a,)*), R> for F
        where
            F: FnOnce($($a),*) -> Fut,
            Fut: core::future::Future<Output = R>,
        {
            type Future = Fut;
            #[inline(always)]
            fn call(self, ($($x,)*): ($($a,)*)) -> Fut {
                self($($x),*)
            }
        }
    )*};
}
candidate_arities! {
    ()
    (A0 a0)
    (A0 a0, A1 a1)
    (A0 a0, A1 a1, A2 a2)
    (A0 a0, A1 a1, A2 a2, A3 a3)
    (A0 a0, A1 a1, A2 a2, A3 a3, A4 a4)
    (A0 a0, A1 a1, A2 a2, A3 a3, A4 a4, A5 a5)
    (A0 a0, A1 a1, A2 a2, A3 a3, A4 a4, A5 a5, A6 a6)
    (A0 a0, A1 a1, A2 a2, A3 a3, A4 a4, A5 a5, A6 a6, A7 a7)
    (A0 a0, A1 a1, A2 a2, A3 a3, A4 a4, A5 a5, A6 a6, A7 a7, A8 a8)
    (A0 a0, A1 a1, A2 a2, A3 a3, A4 a4, A5 a5, A6 a6, A7 a7, A8 a8, A9 a9)
    (A0 a0, A1 a1, A2 a2, A3 a3, A4 a4, A5 a5, A6 a6, A7 a7, A8 a8, A9 a9, A10 a10)
    (A0 a0, A1 a1, A2 a2, A3 a3, A4 a4, A5 a5, A6 a6, A7 a7, A8 a8, A9 a9, A10 a10, A11 a11)
}

/// Calls a sync candidate with the function's arguments, checked at the candidate's path. The
/// arguments come first, so that their types are settled before the candidate's are compared
/// with them (the other way round, rustc reports a mismatch at an argument instead).
#[inline(always)]
pub fn call_candidate<A, R, F: Candidate<A, R>>(args: A, candidate: F) -> R {
    candidate.call(args)
}

/// Calls an async candidate with the function's arguments, checked at the candidate's path.
#[inline(always)]
pub fn call_async_candidate<A, R, F: AsyncCandidate<A, R>>(args: A, candidate: F) -> F::Future {
    candidate.call(args)
}
