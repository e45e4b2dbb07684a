//! What the runtime may ask of a result beyond comparing it: [`Probe`], and the probes the
//! attribute and hand-written integrations pass.

/// What the runtime may ask of a result value beyond comparing it: a `Debug` rendering for
/// discrepancy records, and whether it is an `Err` (a candidate `Err` where the primary returned
/// `Ok` counts as a failure for the circuit breaker). The attribute generates one per function
/// with [`Probes`]; hand-written integrations can pass [`NoProbes`].
pub trait Probe<T: ?Sized> {
    /// The value rendered with `{:#?}`, if its type implements `Debug`.
    fn debug(&self, v: &T) -> Option<String>;
    /// Whether the value is an `Err`.
    fn is_err(&self, v: &T) -> bool;
    /// What a mismatch without a diff says when its two values render identically: the
    /// comparator (or `PartialEq`, see [`ByPartialEq`]) called different what no rendering shows.
    ///
    /// ```
    /// use shadow_runtime::manual::{NoProbes, Probe};
    /// assert!(Probe::<u8>::same_rendering(&NoProbes).contains("render identically"));
    /// ```
    fn same_rendering(&self) -> &'static str {
        "the comparator found the values different, although they render identically (return a diff from the comparator, `Verdict::mismatch(..)`, to say why)"
    }
}

/// [`Probe`]s for a comparison by `PartialEq` (the attribute's default comparator): two values
/// that render identically yet differ are explained as such (`NaN != NaN`).
///
/// ```
/// use shadow_runtime::manual::{ByPartialEq, NoProbes, Probe};
/// let p = ByPartialEq(NoProbes);
/// assert_eq!(
///     Probe::<f64>::same_rendering(&p),
///     "values are not equal under PartialEq although they render identically (NaN?)"
/// );
/// ```
pub struct ByPartialEq<P>(pub P);

impl<T: ?Sized, P: Probe<T>> Probe<T> for ByPartialEq<P> {
    fn debug(&self, v: &T) -> Option<String> {
        self.0.debug(v)
    }
    fn is_err(&self, v: &T) -> bool {
        self.0.is_err(v)
    }
    fn same_rendering(&self) -> &'static str {
        "values are not equal under PartialEq although they render identically (NaN?)"
    }
}

/// A [`Probe`] from two closures.
///
/// ```
/// use shadow_runtime::manual::{Probe, Probes};
/// let p = Probes { debug: |v: &Result<u8, ()>| Some(format!("{v:?}")), is_err: |v: &Result<u8, ()>| v.is_err() };
/// assert!(p.is_err(&Err(())));
/// assert_eq!(p.debug(&Ok(1)).as_deref(), Some("Ok(1)"));
/// ```
pub struct Probes<D, E> {
    /// Renders a value.
    pub debug: D,
    /// Tells an `Err`.
    pub is_err: E,
}

impl<T: ?Sized, D, E> Probe<T> for Probes<D, E>
where
    D: Fn(&T) -> Option<String>,
    E: Fn(&T) -> bool,
{
    fn debug(&self, v: &T) -> Option<String> {
        (self.debug)(v)
    }
    fn is_err(&self, v: &T) -> bool {
        (self.is_err)(v)
    }
}

/// No `Debug` rendering and no error detection.
///
/// ```
/// use shadow_runtime::manual::{NoProbes, Probe};
/// assert_eq!(Probe::<u8>::debug(&NoProbes, &1), None);
/// ```
pub struct NoProbes;

impl<T: ?Sized> Probe<T> for NoProbes {
    fn debug(&self, _: &T) -> Option<String> {
        None
    }
    fn is_err(&self, _: &T) -> bool {
        false
    }
}
