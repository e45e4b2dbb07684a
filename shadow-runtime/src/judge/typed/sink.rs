//! Where differences go: recorded into a `Diff`, or only counted (inside the multiset
//! matching of unordered sequences).

use super::*;

// ---------------------------------------------------------------------------------------------
// Where differences go.

/// Receives the differences: records them into a [`Diff`], or (inside the multiset matching of
/// unordered sequences) only counts them.
///
/// ```
/// use shadow_runtime::typed::{At, ShadowCompare, Sink};
/// use shadow_runtime::structural::Diff;
///
/// let mut d = Diff::default();
/// "a".shadow_diff("b", &At::root().field("name"), &mut Sink::new(&mut d));
/// assert_eq!(d.entries[0].to_string(), r#"$.name: "a" -> "b""#);
/// ```
#[derive(Debug)]
pub struct Sink<'d> {
    out: Option<&'d mut Diff>,
    /// Probing: differences that would be entries, and tolerated or ignored ones.
    hard: usize,
    soft: usize,
}

impl<'d> Sink<'d> {
    /// A sink that records into `out`.
    ///
    /// ```
    /// let mut d = shadow_runtime::structural::Diff::default();
    /// let _sink = shadow_runtime::typed::Sink::new(&mut d);
    /// ```
    pub fn new(out: &'d mut Diff) -> Self {
        Sink {
            out: Some(out),
            hard: 0,
            soft: 0,
        }
    }

    fn probe() -> Sink<'static> {
        Sink {
            out: None,
            hard: 0,
            soft: 0,
        }
    }

    /// A difference at `at` between two values of `T` (`None`: absent on that side), rendered
    /// with [`ShadowCompare::shadow_value`] (or `"***"` under a sensitive field).
    ///
    /// ```
    /// use shadow_runtime::typed::{At, Sink};
    ///
    /// let mut d = shadow_runtime::structural::Diff::default();
    /// Sink::new(&mut d).differ(&At::root().index(2), Some(&7u8), None);
    /// assert_eq!(d.entries[0].to_string(), "$[2]: 7 -> (missing)");
    /// ```
    #[cold]
    #[inline(never)]
    pub fn differ<T: ShadowCompare + ?Sized>(
        &mut self,
        at: &At<'_>,
        primary: Option<&T>,
        candidate: Option<&T>,
    ) {
        self.differ_with(
            at,
            || primary.map(T::shadow_value),
            || candidate.map(T::shadow_value),
        );
    }

    /// A difference at `at`, with both sides rendered by the closures (called only when the
    /// difference is recorded and not masked).
    ///
    /// ```
    /// use shadow_runtime::typed::{At, Sink};
    ///
    /// let mut d = shadow_runtime::structural::Diff::default();
    /// Sink::new(&mut d).differ_with(&At::root().sensitive(), || Some("4111".into()), || Some("4242".into()));
    /// assert_eq!(d.entries[0].to_string(), r#"$: "***" -> "***""#);
    /// ```
    #[cold]
    #[inline(never)]
    pub fn differ_with(
        &mut self,
        at: &At<'_>,
        primary: impl FnOnce() -> Option<Value>,
        candidate: impl FnOnce() -> Option<Value>,
    ) {
        let Some(out) = self.out.as_deref_mut() else {
            if at.has(IGNORE) {
                self.soft += 1;
            } else {
                self.hard += 1;
            }
            return;
        };
        if at.has(IGNORE) {
            record_ignored(out, at);
            return;
        }
        let (mut primary, mut candidate) = (primary(), candidate());
        if at.has(SENSITIVE) {
            let mask = |v: Option<Value>| v.map(|_| Value::String("***".into()));
            (primary, candidate) = (mask(primary), mask(candidate));
        }
        out.entries.push(DiffEntry {
            path: at.path(),
            primary,
            candidate,
        });
    }

    /// A difference at `at` within a tolerance or gone after normalisation.
    ///
    /// ```
    /// use shadow_runtime::typed::{At, Sink};
    ///
    /// let mut d = shadow_runtime::structural::Diff::default();
    /// Sink::new(&mut d).tolerated(&At::root().field("total"));
    /// assert_eq!(d.tolerated, vec!["$.total"]);
    /// ```
    #[cold]
    #[inline(never)]
    pub fn tolerated(&mut self, at: &At<'_>) {
        match self.out.as_deref_mut() {
            None => self.soft += 1,
            Some(out) if at.has(IGNORE) => record_ignored(out, at),
            Some(out) => out.tolerated.push(at.path()),
        }
    }

    pub(super) fn recording(&self) -> bool {
        self.out.is_some()
    }

    /// Where the recorded lists end now, to sort what a hash container adds after it.
    pub(super) fn mark(&self) -> (usize, usize, usize) {
        self.out.as_deref().map_or((0, 0, 0), |d| {
            (d.entries.len(), d.tolerated.len(), d.ignored.len())
        })
    }

    /// Sorts what was recorded since `mark` by path (stable), so that a hash container's
    /// differences come out in the same order on every run.
    pub(super) fn sort_since(&mut self, mark: (usize, usize, usize)) {
        if let Some(d) = self.out.as_deref_mut() {
            d.entries[mark.0..].sort_by(|a, b| a.path.cmp(&b.path));
            d.tolerated[mark.1..].sort();
            d.ignored[mark.2..].sort();
        }
    }
}

/// A key only one side has, at `at`: tolerated when its value counts as absent there
/// (`missing_as_null`, `missing_as_empty`), else a difference with `(missing)`.
pub(super) fn one_sided<T: ShadowCompare + ?Sized>(
    sink: &mut Sink<'_>,
    at: &At<'_>,
    primary: Option<&T>,
    candidate: Option<&T>,
) {
    match primary.or(candidate) {
        Some(present) if at.absent_as(present) => sink.tolerated(at),
        _ => sink.differ(at, primary, candidate),
    }
}

/// Records the ignored field `at` is in, once.
pub(super) fn record_ignored(out: &mut Diff, at: &At<'_>) {
    let path = at.ignored_root().path();
    if out.ignored.last() != Some(&path) {
        out.ignored.push(path);
    }
}

/// (differences that would be entries, tolerated or ignored ones) between `a` and `b` at `at`,
/// counted without recording.
pub(super) fn probe<T: ShadowCompare + ?Sized>(a: &T, b: &T, at: &At<'_>) -> (usize, usize) {
    let mut sink = Sink::probe();
    a.shadow_diff(b, at, &mut sink);
    (sink.hard, sink.soft)
}
