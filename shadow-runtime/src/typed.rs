//! Typed structural diffs: the [`ShadowCompare`] trait, which `#[derive(ShadowCompare)]`
//! implements, the [`Typed`] comparator and the [`diff`] function.
//!
//! A typed diff reports the same [`Diff`] as [`Structural`](crate::structural::Structural), with
//! the same paths (`$.lines[3].amount`) and the same entry text (`$.path: primary -> candidate`),
//! but walks the two values directly instead of serialising them, and is configured per field
//! (`#[shadow(tolerance = 0.005)]`) rather than by path patterns. Equal values cost one pass of
//! exact comparisons ([`ShadowCompare::shadow_same`], about what `PartialEq` costs) and allocate
//! nothing; paths and values are rendered only for differences.
//!
//! ```
//! use shadow_runtime::typed::{self, At, ShadowCompare, Sink};
//! use shadow_runtime::{Comparator, Verdict};
//!
//! // The derive writes this (and `shadow_same`, to skip equal fields); by hand it reads:
//! struct Line { sku: String, amount: f64 }
//!
//! impl ShadowCompare for Line {
//!     fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
//!         self.sku.shadow_diff(&other.sku, &at.field("sku"), sink);
//!         self.amount.shadow_diff(&other.amount, &at.field("amount").tolerance(0.005, 0.0), sink);
//!     }
//!     fn shadow_value(&self) -> serde_json::Value {
//!         serde_json::json!({ "sku": self.sku.shadow_value(), "amount": self.amount.shadow_value() })
//!     }
//! }
//!
//! let a = vec![Line { sku: "A".into(), amount: 10.0 }, Line { sku: "B".into(), amount: 5.0 }];
//! let b = vec![Line { sku: "A".into(), amount: 10.001 }, Line { sku: "C".into(), amount: 5.0 }];
//! let d = typed::diff(&a, &b);
//! assert_eq!(d.entries[0].to_string(), r#"$[1].sku: "B" -> "C""#);
//! assert_eq!(d.tolerated, vec!["$[0].amount"]);
//! assert_eq!(typed::Typed.compare(&a, &b), Verdict::mismatch(r#"$[1].sku: "B" -> "C""#));
//! ```
//!
//! # Paths
//!
//! The same as `Structural`'s on the serde form of the value: `.field` for a struct's field,
//! `[i]` for a sequence element, a tuple's or a tuple struct's field, `.key` for a map entry
//! (the key's `Display`), `.Variant` for an enum variant's data (`$.status.Refunded.amount`),
//! `.*` for an element of an unordered sequence or a set. A newtype (`struct Cents(i64)`, a
//! one-field tuple variant) is transparent, as serde serialises it.
//!
//! # What the implementations compare
//!
//! | type | equal when | options that apply |
//! |---|---|---|
//! | integers | equal | `tolerance` / `relative` (absolute difference / relative to the larger magnitude); `within` (read as epoch milliseconds) |
//! | `f32`, `f64` | equal, or both NaN | `tolerance` / `relative` |
//! | `bool`, `char`, `()`, `PhantomData` | equal | |
//! | `str`, `String`, `Cow<str>` | equal | `trim`, `nfc`; `within` (RFC 3339 timestamps) |
//! | `Duration`, `SystemTime` | equal | `within` |
//! | `Option<T>`, `Result<T, E>` | same variant, then the inner values | passed on |
//! | `Vec<T>`, `[T]`, `[T; N]`, `VecDeque<T>` | element by element (`[i]`) | `unordered`: as multisets (`.*`) |
//! | `BTreeSet<T>`, `HashSet<T>` | as sets (`.*`), by `Ord` / `Eq` | |
//! | `BTreeMap<K, V>`, `HashMap<K, V>` | key by key (`.key`, keys `Display`) | `missing_as_null`, `missing_as_empty` |
//! | `Box<T>`, `Rc<T>`, `Arc<T>`, `&T`, `&mut T` | the pointees | passed on |
//! | tuples up to 12 | field by field (`[i]`) | |
//! | `serde_json::Value` | as [`Structural`](crate::structural::Structural) compares JSON: the same paths and entries | `tolerance`, `relative`, `within`, `trim`, `nfc`, `unordered`, `missing_as_null`, `missing_as_empty` |
//!
//! Options (the derive's field attributes) apply to everything under the field: a tolerance on a
//! `Vec<Line>` reaches every number in every line, unless a field further down sets its own.
//! Only `unordered` stops at the first sequence. Differences under an ignored field are recorded
//! once, at the field's path, in [`Diff::ignored`]; under a sensitive one every value shows as
//! `"***"`.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::{self, Debug, Display};
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::compare::{Comparator, Verdict};
pub use crate::structural::{Diff, DiffEntry};

/// A typed, path-level diff. Derive it with `#[derive(ShadowCompare)]` (see the `parallel-run`
/// crate), or implement it by hand as the [module docs](self) show.
///
/// `shadow_diff` reports every difference between `self` (the primary's value) and `other` (the
/// candidate's) at `at` or below into `sink`; it must report nothing when they are equal, and
/// should not allocate then. `shadow_value` renders the value for a difference (an element one
/// side lacks, an `Option` that is `None` on one side) as serde would serialise it.
/// `shadow_same` is the shortcut for equal parts; its default, `false`, always walks.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `ShadowCompare`",
    label = "no typed diff for `{Self}`",
    note = "derive it (`#[derive(ShadowCompare)]`) if the type is yours; for a type of another crate, mark the field `#[shadow(eq)]` to compare it with `PartialEq` and render it with `Debug`"
)]
pub trait ShadowCompare {
    /// Reports the differences between `self` (primary) and `other` (candidate) at `at`.
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>);

    /// Whether `self` and `other` are the same value, so that [`shadow_diff`](Self::shadow_diff)
    /// between them reports nothing, at any place and under any options. A walk asks it of each
    /// field and element before building that one's place and descending into it (the derive's
    /// walk does, and so do the containers' here), so that [`diff`] and [`Typed`] of equal
    /// values cost about what `PartialEq` costs, and of values that differ in one place about
    /// that plus rendering the difference. (The part of a differing value before its first
    /// difference is thus compared once per level above that difference.)
    ///
    /// `true` is a promise: it must imply an empty diff. `false` promises nothing: it only means
    /// "walk", and values that differ only where the options forgive it (an unordered sequence
    /// in another order, a tolerated number) are not the same, but may still have no diff. The
    /// implementations here are exact equality with the diff's own semantics: two NaNs are the
    /// same, a `#[shadow(eq)]` field is compared with `==`, and every field counts, ignored ones
    /// too (their differences are recorded in [`Diff::ignored`]).
    ///
    /// The default returns `false`, which is always correct: a hand-written implementation that
    /// does not override it is walked, as are the values that contain it. Override it with a
    /// comparison that agrees with `shadow_diff`, usually the fields' `shadow_same` in turn, and
    /// skip the same fields in `shadow_diff` likewise:
    ///
    /// ```
    /// use shadow_runtime::typed::{self, At, ShadowCompare, Sink};
    ///
    /// struct Money { cents: i64, currency: String }
    ///
    /// impl ShadowCompare for Money {
    ///     fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
    ///         if !self.cents.shadow_same(&other.cents) {
    ///             self.cents.shadow_diff(&other.cents, &at.field("cents"), sink);
    ///         }
    ///         if !self.currency.shadow_same(&other.currency) {
    ///             self.currency.shadow_diff(&other.currency, &at.field("currency"), sink);
    ///         }
    ///     }
    ///     fn shadow_same(&self, other: &Self) -> bool {
    ///         self.cents.shadow_same(&other.cents) && self.currency.shadow_same(&other.currency)
    ///     }
    ///     fn shadow_value(&self) -> serde_json::Value {
    ///         serde_json::json!({ "cents": self.cents, "currency": self.currency })
    ///     }
    /// }
    ///
    /// let eur = |cents| Money { cents, currency: "EUR".into() };
    /// assert!(eur(5).shadow_same(&eur(5)));
    /// assert!(!eur(5).shadow_same(&eur(6)));
    /// assert!(f64::NAN.shadow_same(&f64::NAN));
    /// assert!(typed::diff(&eur(5), &eur(5)).is_empty());
    /// ```
    #[inline]
    fn shadow_same(&self, other: &Self) -> bool {
        let _ = other;
        false
    }

    /// The value as JSON, for the report of a difference.
    fn shadow_value(&self) -> Value;

    /// Whether a value of the type may hold a part shown as `"***"`: a `#[shadow(sensitive)]`
    /// field, here or in a field's type (containers take it from their elements). Such a type is
    /// rendered in discrepancy records, logs and the default diff through its masked
    /// [`shadow_value`](Self::shadow_value), never with `Debug`; every other type with `{:#?}`.
    /// The derive sets it; a hand-written implementation that masks should set it too.
    ///
    /// ```
    /// use shadow_runtime::typed::ShadowCompare;
    ///
    /// assert!(!<Vec<Option<u8>> as ShadowCompare>::MASKED);
    /// ```
    const MASKED: bool = false;
}

/// The differences between `primary` and `candidate`.
///
/// ```
/// let d = shadow_runtime::typed::diff(&vec![1, 2, 3], &vec![1, 5]);
/// let lines: Vec<String> = d.entries.iter().map(ToString::to_string).collect();
/// assert_eq!(lines, ["$[1]: 2 -> 5", "$[2]: 3 -> (missing)"]);
/// ```
pub fn diff<T: ShadowCompare + ?Sized>(primary: &T, candidate: &T) -> Diff {
    let mut out = Diff::default();
    primary.shadow_diff(candidate, &At::root(), &mut Sink::new(&mut out));
    out
}

/// A [`Comparator`] for every [`ShadowCompare`] type: [`Verdict::Match`] when there is no
/// difference, [`Verdict::Acceptable`] when every difference is tolerated or ignored (the reason
/// names the paths), else [`Verdict::Mismatch`] with one line per difference in
/// [`DiffEntry`]'s form, `$.path: primary -> candidate` ([`Diff::verdict`]).
///
/// ```
/// use shadow_runtime::typed::Typed;
/// use shadow_runtime::{Comparator, Verdict};
///
/// assert_eq!(Typed.compare(&(1, "a"), &(1, "a")), Verdict::Match);
/// assert_eq!(Typed.compare(&(1, "a"), &(2, "a")), Verdict::mismatch("$[0]: 1 -> 2"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Typed;

impl<T: ShadowCompare + ?Sized> Comparator<T> for Typed {
    fn compare(&self, primary: &T, candidate: &T) -> Verdict {
        diff(primary, candidate).verdict()
    }
}

// ---------------------------------------------------------------------------------------------
// Where: the path and the options in force there.

const IGNORE: u8 = 1;
const SENSITIVE: u8 = 2;
const TRIM: u8 = 4;
const UNORDERED: u8 = 8;
const NFC: u8 = 16;
const MISSING_NULL: u8 = 32;
const MISSING_EMPTY: u8 = 64;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Opts {
    abs: f64,
    rel: f64,
    within: Option<Duration>,
    flags: u8,
}

#[derive(Clone, Copy)]
enum Seg<'a> {
    Root,
    Field(&'static str),
    Index(usize),
    Key(&'a dyn Display),
    Any,
}

/// Where a comparison happens: the path from the root (kept on the stack, rendered only for a
/// difference) and the options in force there, inherited from the fields above.
///
/// ```
/// use shadow_runtime::typed::At;
///
/// let root = At::root();
/// let lines = root.field("lines");
/// let key = "EUR";
/// assert_eq!(lines.index(3).field("amount").path(), "$.lines[3].amount");
/// assert_eq!(root.field("fx").key(&key).path(), "$.fx.EUR");
/// ```
#[derive(Clone, Copy)]
pub struct At<'a> {
    parent: Option<&'a At<'a>>,
    seg: Seg<'a>,
    opts: Opts,
}

impl Debug for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("At")
            .field("path", &self.path())
            .field("opts", &self.opts)
            .finish()
    }
}

impl Default for At<'_> {
    fn default() -> Self {
        At::root()
    }
}

impl<'a> At<'a> {
    /// The value itself, `$`, with no options.
    ///
    /// ```
    /// assert_eq!(shadow_runtime::typed::At::root().path(), "$");
    /// ```
    pub fn root() -> At<'static> {
        At {
            parent: None,
            seg: Seg::Root,
            opts: Opts::default(),
        }
    }

    fn child<'b>(&'b self, seg: Seg<'b>) -> At<'b> {
        At {
            parent: Some(self),
            seg,
            opts: Opts {
                flags: self.opts.flags & !UNORDERED,
                ..self.opts
            },
        }
    }

    /// A struct field or enum variant under this place: `.name`.
    ///
    /// ```
    /// assert_eq!(shadow_runtime::typed::At::root().field("id").path(), "$.id");
    /// ```
    pub fn field(&self, name: &'static str) -> At<'_> {
        self.child(Seg::Field(name))
    }

    /// A sequence element or tuple field: `[i]`.
    ///
    /// ```
    /// assert_eq!(shadow_runtime::typed::At::root().index(2).path(), "$[2]");
    /// ```
    pub fn index(&self, i: usize) -> At<'_> {
        self.child(Seg::Index(i))
    }

    /// A map entry: `.key`, with the key's `Display`.
    ///
    /// ```
    /// let k = 42;
    /// assert_eq!(shadow_runtime::typed::At::root().key(&k).path(), "$.42");
    /// ```
    pub fn key<'b>(&'b self, key: &'b dyn Display) -> At<'b> {
        self.child(Seg::Key(key))
    }

    /// Any element of an unordered sequence or a set: `.*`.
    ///
    /// ```
    /// assert_eq!(shadow_runtime::typed::At::root().field("tags").any().path(), "$.tags.*");
    /// ```
    pub fn any(&self) -> At<'_> {
        self.child(Seg::Any)
    }

    /// Numbers here and below within `abs` of each other, or within `rel` times the larger
    /// magnitude, are a tolerated difference (`#[shadow(tolerance = abs, relative = rel)]`).
    ///
    /// ```
    /// use shadow_runtime::typed::{At, ShadowCompare, Sink};
    /// use shadow_runtime::structural::Diff;
    ///
    /// let mut d = Diff::default();
    /// 1.0f64.shadow_diff(&1.004, &At::root().tolerance(0.005, 0.0), &mut Sink::new(&mut d));
    /// assert_eq!(d.tolerated, vec!["$"]);
    /// ```
    pub fn tolerance(mut self, abs: f64, rel: f64) -> Self {
        self.opts.abs = abs.abs();
        self.opts.rel = rel.abs();
        self
    }

    /// Times here and below at most `d` apart are a tolerated difference (`#[shadow(within =
    /// "2s")]`): `SystemTime`, `Duration`, integers read as milliseconds since the epoch, and
    /// strings that are RFC 3339 timestamps on both sides.
    ///
    /// ```
    /// use std::time::Duration;
    /// use shadow_runtime::typed::{At, ShadowCompare, Sink};
    /// use shadow_runtime::structural::Diff;
    ///
    /// let mut d = Diff::default();
    /// let at = At::root().within(Duration::from_secs(2));
    /// 1_795_773_600_000u64.shadow_diff(&1_795_773_601_500, &at, &mut Sink::new(&mut d));
    /// assert_eq!(d.tolerated, vec!["$"]);
    /// ```
    pub fn within(mut self, d: Duration) -> Self {
        self.opts.within = Some(d);
        self
    }

    /// Differences here and below go to [`Diff::ignored`], once, at this path
    /// (`#[shadow(ignore)]`).
    ///
    /// ```
    /// use shadow_runtime::typed::{At, ShadowCompare, Sink};
    ///
    /// let mut d = shadow_runtime::structural::Diff::default();
    /// let root = At::root();
    /// vec![1, 2].shadow_diff(&vec![3], &root.field("meta").ignore(), &mut Sink::new(&mut d));
    /// assert!(d.entries.is_empty());
    /// assert_eq!(d.ignored, ["$.meta"]);
    /// ```
    pub fn ignore(mut self) -> Self {
        self.opts.flags |= IGNORE;
        self
    }

    /// Values here and below are shown as `"***"` in every difference (`#[shadow(sensitive)]`).
    ///
    /// ```
    /// use shadow_runtime::typed::{At, ShadowCompare, Sink};
    ///
    /// let mut d = shadow_runtime::structural::Diff::default();
    /// let root = At::root();
    /// "4111".shadow_diff("4242", &root.field("card").sensitive(), &mut Sink::new(&mut d));
    /// assert_eq!(d.entries[0].to_string(), r#"$.card: "***" -> "***""#);
    /// ```
    pub fn sensitive(mut self) -> Self {
        self.opts.flags |= SENSITIVE;
        self
    }

    /// Strings here and below are compared without surrounding whitespace (`#[shadow(trim)]`).
    ///
    /// ```
    /// use shadow_runtime::typed::{At, ShadowCompare, Sink};
    ///
    /// let mut d = shadow_runtime::structural::Diff::default();
    /// " Ada ".shadow_diff("Ada", &At::root().trim(), &mut Sink::new(&mut d));
    /// assert_eq!(d.tolerated, ["$"]);
    /// ```
    pub fn trim(mut self) -> Self {
        self.opts.flags |= TRIM;
        self
    }

    /// Strings here and below are compared after Unicode NFC normalisation (`#[shadow(nfc)]`).
    ///
    /// ```
    /// use shadow_runtime::typed::{At, ShadowCompare, Sink};
    ///
    /// let mut d = shadow_runtime::structural::Diff::default();
    /// "Ren\u{e9}e".shadow_diff("Rene\u{301}e", &At::root().nfc(), &mut Sink::new(&mut d));
    /// assert_eq!(d.tolerated, ["$"]);
    /// ```
    pub fn nfc(mut self) -> Self {
        self.opts.flags |= NFC;
        self
    }

    /// The next sequence here (not the ones inside its elements) is compared as a multiset
    /// (`#[shadow(unordered)]`).
    ///
    /// ```
    /// use shadow_runtime::typed::{At, ShadowCompare, Sink};
    ///
    /// let mut d = shadow_runtime::structural::Diff::default();
    /// vec![1, 2, 2].shadow_diff(&vec![2, 1, 3], &At::root().unordered(), &mut Sink::new(&mut d));
    /// let lines: Vec<String> = d.entries.iter().map(ToString::to_string).collect();
    /// assert_eq!(lines, ["$.*: 2 -> (missing)", "$.*: (missing) -> 3"]);
    /// ```
    pub fn unordered(mut self) -> Self {
        self.opts.flags |= UNORDERED;
        self
    }

    /// A map key (or JSON object key) here and below that one side lacks and the other holds
    /// `null` (a `None`) is a tolerated difference, not a mismatch (`#[shadow(missing_as_null)]`):
    /// for an API whose clients read an absent field and `null` alike. Any other value against a
    /// missing key is still a difference.
    ///
    /// ```
    /// use shadow_runtime::typed::{At, ShadowCompare, Sink};
    /// use serde_json::json;
    ///
    /// let mut d = shadow_runtime::structural::Diff::default();
    /// let at = At::root().missing_as_null();
    /// json!({"id": 1, "note": null}).shadow_diff(&json!({"id": 1}), &at, &mut Sink::new(&mut d));
    /// assert!(d.entries.is_empty());
    /// assert_eq!(d.tolerated, ["$.note"]);
    /// ```
    pub fn missing_as_null(mut self) -> Self {
        self.opts.flags |= MISSING_NULL;
        self
    }

    /// A map key (or JSON object key) here and below that one side lacks and the other holds an
    /// empty array or object (an empty `Vec`, map or set) is a tolerated difference
    /// (`#[shadow(missing_as_empty)]`): for a serialiser that skips empty collections.
    ///
    /// ```
    /// use shadow_runtime::typed::{At, ShadowCompare, Sink};
    /// use serde_json::json;
    ///
    /// let mut d = shadow_runtime::structural::Diff::default();
    /// let at = At::root().missing_as_empty();
    /// json!({"tags": []}).shadow_diff(&json!({}), &at, &mut Sink::new(&mut d));
    /// assert_eq!(d.tolerated, ["$.tags"]);
    /// ```
    pub fn missing_as_empty(mut self) -> Self {
        self.opts.flags |= MISSING_EMPTY;
        self
    }

    /// Whether `present`, the value of a key the other side lacks, counts as absent here
    /// (`missing_as_null`, `missing_as_empty`).
    fn absent_as<T: ShadowCompare + ?Sized>(&self, present: &T) -> bool {
        if !self.has(MISSING_NULL | MISSING_EMPTY) {
            return false;
        }
        match present.shadow_value() {
            Value::Null => self.has(MISSING_NULL),
            Value::Array(a) => a.is_empty() && self.has(MISSING_EMPTY),
            Value::Object(o) => o.is_empty() && self.has(MISSING_EMPTY),
            _ => false,
        }
    }

    fn has(&self, flag: u8) -> bool {
        self.opts.flags & flag != 0
    }

    /// The path, `$.lines[3].amount`. Allocates: call it only for a difference.
    ///
    /// ```
    /// assert_eq!(shadow_runtime::typed::At::root().field("a").index(0).path(), "$.a[0]");
    /// ```
    pub fn path(&self) -> String {
        fn write(at: &At<'_>, out: &mut String) {
            use fmt::Write as _;
            if let Some(p) = at.parent {
                write(p, out);
            }
            match at.seg {
                Seg::Root => out.push('$'),
                Seg::Field(name) => {
                    out.push('.');
                    out.push_str(name);
                }
                Seg::Index(i) => {
                    let _ = write!(out, "[{i}]");
                }
                Seg::Key(k) => {
                    let _ = write!(out, ".{k}");
                }
                Seg::Any => out.push_str(".*"),
            }
        }
        // Most paths fit: one allocation rather than a few reallocations as the path grows.
        let mut out = String::with_capacity(32);
        write(self, &mut out);
        out
    }

    /// Whether numbers `d` apart with the larger magnitude `mag` are within the tolerance here.
    fn tolerates(&self, d: f64, mag: f64) -> bool {
        d <= self.opts.abs || d <= self.opts.rel * mag
    }

    /// The topmost place of the ignored field this place is in.
    fn ignored_root(&self) -> &At<'a> {
        let mut root = self;
        while let Some(p) = root.parent.filter(|p| p.has(IGNORE)) {
            root = p;
        }
        root
    }
}

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

    fn recording(&self) -> bool {
        self.out.is_some()
    }

    /// Where the recorded lists end now, to sort what a hash container adds after it.
    fn mark(&self) -> (usize, usize, usize) {
        self.out.as_deref().map_or((0, 0, 0), |d| {
            (d.entries.len(), d.tolerated.len(), d.ignored.len())
        })
    }

    /// Sorts what was recorded since `mark` by path (stable), so that a hash container's
    /// differences come out in the same order on every run.
    fn sort_since(&mut self, mark: (usize, usize, usize)) {
        if let Some(d) = self.out.as_deref_mut() {
            d.entries[mark.0..].sort_by(|a, b| a.path.cmp(&b.path));
            d.tolerated[mark.1..].sort();
            d.ignored[mark.2..].sort();
        }
    }
}

/// A key only one side has, at `at`: tolerated when its value counts as absent there
/// (`missing_as_null`, `missing_as_empty`), else a difference with `(missing)`.
fn one_sided<T: ShadowCompare + ?Sized>(
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
fn record_ignored(out: &mut Diff, at: &At<'_>) {
    let path = at.ignored_root().path();
    if out.ignored.last() != Some(&path) {
        out.ignored.push(path);
    }
}

/// (differences that would be entries, tolerated or ignored ones) between `a` and `b` at `at`,
/// counted without recording.
fn probe<T: ShadowCompare + ?Sized>(a: &T, b: &T, at: &At<'_>) -> (usize, usize) {
    let mut sink = Sink::probe();
    a.shadow_diff(b, at, &mut sink);
    (sink.hard, sink.soft)
}

// ---------------------------------------------------------------------------------------------
// Leaves.

macro_rules! integers {
    ($($t:ty),*) => {$(
        impl ShadowCompare for $t {
            #[inline]
            fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
                #[cold]
                #[inline(never)]
                fn differs(a: $t, b: $t, at: &At<'_>, sink: &mut Sink<'_>) {
                    let d = a.abs_diff(b);
                    let mag = (a as f64).abs().max((b as f64).abs());
                    let within = at.opts.within.is_some_and(|w| (d as u128) <= w.as_millis());
                    if within || at.tolerates(d as f64, mag) {
                        sink.tolerated(at);
                    } else {
                        sink.differ(at, Some(&a), Some(&b));
                    }
                }
                if self != other {
                    differs(*self, *other, at, sink);
                }
            }

            #[inline]
            fn shadow_same(&self, other: &Self) -> bool {
                self == other
            }

            fn shadow_value(&self) -> Value {
                Value::from(*self)
            }
        }
    )*};
}
integers!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

macro_rules! wide_integers {
    ($($t:ty => $from:ident),*) => {$(
        impl ShadowCompare for $t {
            #[inline]
            fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
                #[cold]
                #[inline(never)]
                fn differs(a: $t, b: $t, at: &At<'_>, sink: &mut Sink<'_>) {
                    let d = a.abs_diff(b);
                    let mag = (a as f64).abs().max((b as f64).abs());
                    let within = at.opts.within.is_some_and(|w| d <= w.as_millis());
                    if within || at.tolerates(d as f64, mag) {
                        sink.tolerated(at);
                    } else {
                        sink.differ(at, Some(&a), Some(&b));
                    }
                }
                if self != other {
                    differs(*self, *other, at, sink);
                }
            }

            #[inline]
            fn shadow_same(&self, other: &Self) -> bool {
                self == other
            }

            /// A number when JSON can hold it, else its decimal digits as a string.
            fn shadow_value(&self) -> Value {
                serde_json::Number::$from(*self)
                    .map_or_else(|| Value::String(self.to_string()), Value::Number)
            }
        }
    )*};
}
wide_integers!(u128 => from_u128, i128 => from_i128);

macro_rules! floats {
    ($($t:ty),*) => {$(
        impl ShadowCompare for $t {
            /// Equal, or both NaN; else a tolerated difference when within the tolerance.
            #[inline]
            fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
                #[cold]
                #[inline(never)]
                fn differs(x: $t, y: $t, at: &At<'_>, sink: &mut Sink<'_>) {
                    let (a, b) = (f64::from(x), f64::from(y));
                    if a.is_nan() && b.is_nan() {
                        return;
                    }
                    if at.tolerates((a - b).abs(), a.abs().max(b.abs())) {
                        sink.tolerated(at);
                    } else {
                        sink.differ(at, Some(&x), Some(&y));
                    }
                }
                if self != other {
                    differs(*self, *other, at, sink);
                }
            }

            /// Equal, or both NaN (`-0.0` and `0.0` are equal).
            #[inline]
            fn shadow_same(&self, other: &Self) -> bool {
                self == other || (self.is_nan() && other.is_nan())
            }

            /// A JSON number (`null` for NaN and infinities, as serde_json writes them).
            fn shadow_value(&self) -> Value {
                Value::from(*self)
            }
        }
    )*};
}
floats!(f32, f64);

impl ShadowCompare for bool {
    #[inline]
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        if self != other {
            sink.differ(at, Some(self), Some(other));
        }
    }

    #[inline]
    fn shadow_same(&self, other: &Self) -> bool {
        self == other
    }

    fn shadow_value(&self) -> Value {
        Value::Bool(*self)
    }
}

impl ShadowCompare for char {
    #[inline]
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        if self != other {
            sink.differ(at, Some(self), Some(other));
        }
    }

    #[inline]
    fn shadow_same(&self, other: &Self) -> bool {
        self == other
    }

    fn shadow_value(&self) -> Value {
        Value::String(self.to_string())
    }
}

impl ShadowCompare for str {
    #[inline]
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        if self != other {
            str_differs(self, other, at, sink);
        }
    }

    #[inline]
    fn shadow_same(&self, other: &Self) -> bool {
        self == other
    }

    fn shadow_value(&self) -> Value {
        Value::String(self.to_owned())
    }
}

/// Two different strings: within (RFC 3339), trimmed or normalised equal, or a difference.
#[cold]
#[inline(never)]
fn str_differs(a: &str, b: &str, at: &At<'_>, sink: &mut Sink<'_>) {
    if let Some(w) = at.opts.within {
        let (x, y) = (crate::rfc3339::parse(a), crate::rfc3339::parse(b));
        if x.zip(y).is_some_and(|(x, y)| x.abs_diff(y) <= w.as_nanos()) {
            return sink.tolerated(at);
        }
    }
    let (trim, nfc) = (at.has(TRIM), at.has(NFC));
    if (trim || nfc)
        && crate::structural::normalise(a, trim, nfc) == crate::structural::normalise(b, trim, nfc)
    {
        return sink.tolerated(at);
    }
    sink.differ(at, Some(a), Some(b));
}

impl ShadowCompare for String {
    #[inline]
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        self.as_str().shadow_diff(other.as_str(), at, sink);
    }

    #[inline]
    fn shadow_same(&self, other: &Self) -> bool {
        self == other
    }

    fn shadow_value(&self) -> Value {
        Value::String(self.clone())
    }
}

impl ShadowCompare for () {
    #[inline]
    fn shadow_diff(&self, _: &Self, _: &At<'_>, _: &mut Sink<'_>) {}

    #[inline]
    fn shadow_same(&self, _: &Self) -> bool {
        true
    }

    fn shadow_value(&self) -> Value {
        Value::Null
    }
}

impl<T: ?Sized> ShadowCompare for PhantomData<T> {
    #[inline]
    fn shadow_diff(&self, _: &Self, _: &At<'_>, _: &mut Sink<'_>) {}

    #[inline]
    fn shadow_same(&self, _: &Self) -> bool {
        true
    }

    fn shadow_value(&self) -> Value {
        Value::Null
    }
}

/// Two different times `gap` apart: tolerated under a `within` at least that long, else a
/// difference.
#[cold]
#[inline(never)]
fn times_differ<T: ShadowCompare>(a: &T, b: &T, gap: Duration, at: &At<'_>, sink: &mut Sink<'_>) {
    if at.opts.within.is_some_and(|w| gap <= w) {
        sink.tolerated(at);
    } else {
        sink.differ(at, Some(a), Some(b));
    }
}

impl ShadowCompare for Duration {
    /// Equal, or (under `within`) at most that far apart. Rendered as its `Debug` (`"1.5s"`).
    #[inline]
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        if self != other {
            times_differ(self, other, self.abs_diff(*other), at, sink);
        }
    }

    #[inline]
    fn shadow_same(&self, other: &Self) -> bool {
        self == other
    }

    fn shadow_value(&self) -> Value {
        Value::String(format!("{self:?}"))
    }
}

impl ShadowCompare for SystemTime {
    /// Equal, or (under `within`) at most that far apart. Rendered in RFC 3339, UTC
    /// (`"2026-11-27T10:00:00.123Z"`).
    #[inline]
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        if self != other {
            let gap = self
                .duration_since(*other)
                .or_else(|_| other.duration_since(*self))
                .unwrap_or(Duration::MAX);
            times_differ(self, other, gap, at, sink);
        }
    }

    #[inline]
    fn shadow_same(&self, other: &Self) -> bool {
        self == other
    }

    fn shadow_value(&self) -> Value {
        let nanos = match self.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        };
        Value::String(crate::rfc3339::format(nanos).unwrap_or_else(|| format!("{self:?}")))
    }
}

// ---------------------------------------------------------------------------------------------
// Wrappers: the pointee, at the same place.

macro_rules! pointers {
    ($($(#[$m:meta])* [$($g:tt)*] $t:ty => $inner:ident),* $(,)?) => {$(
        $(#[$m])*
        impl<$($g)*> ShadowCompare for $t {
            const MASKED: bool = $inner::MASKED;

            #[inline]
            fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
                (**self).shadow_diff(&**other, at, sink);
            }

            #[inline]
            fn shadow_same(&self, other: &Self) -> bool {
                (**self).shadow_same(&**other)
            }

            fn shadow_value(&self) -> Value {
                (**self).shadow_value()
            }
        }
    )*};
}
pointers!(
    [T: ShadowCompare + ?Sized] &T => T,
    [T: ShadowCompare + ?Sized] &mut T => T,
    [T: ShadowCompare + ?Sized] Box<T> => T,
    [T: ShadowCompare + ?Sized] Rc<T> => T,
    [T: ShadowCompare + ?Sized] Arc<T> => T,
    [B: ShadowCompare + ToOwned + ?Sized] Cow<'_, B> => B,
);

impl<T: ShadowCompare> ShadowCompare for Option<T> {
    const MASKED: bool = T::MASKED;

    /// Both `Some`: the values, at the same place; `Some` against `None`: a difference there
    /// (`None` renders as `null`).
    #[inline]
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        match (self, other) {
            (Some(a), Some(b)) => a.shadow_diff(b, at, sink),
            (None, None) => {}
            _ => sink.differ(at, Some(self), Some(other)),
        }
    }

    #[inline]
    fn shadow_same(&self, other: &Self) -> bool {
        match (self, other) {
            (Some(a), Some(b)) => a.shadow_same(b),
            (None, None) => true,
            _ => false,
        }
    }

    fn shadow_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, T::shadow_value)
    }
}

impl<T: ShadowCompare, E: ShadowCompare> ShadowCompare for Result<T, E> {
    const MASKED: bool = T::MASKED || E::MASKED;

    /// As serde sees it, `{"Ok": ..}` or `{"Err": ..}`: the same variant compares the values at
    /// `.Ok` / `.Err`; `Ok` against `Err` is one difference here, shown as the variant names.
    #[inline]
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        match (self, other) {
            (Ok(a), Ok(b)) if a.shadow_same(b) => {}
            (Err(a), Err(b)) if a.shadow_same(b) => {}
            (Ok(a), Ok(b)) => a.shadow_diff(b, &at.field("Ok"), sink),
            (Err(a), Err(b)) => a.shadow_diff(b, &at.field("Err"), sink),
            _ => {
                let name = |r: &Self| if r.is_ok() { "Ok" } else { "Err" };
                sink.differ(at, Some(name(self)), Some(name(other)));
            }
        }
    }

    #[inline]
    fn shadow_same(&self, other: &Self) -> bool {
        match (self, other) {
            (Ok(a), Ok(b)) => a.shadow_same(b),
            (Err(a), Err(b)) => a.shadow_same(b),
            _ => false,
        }
    }

    fn shadow_value(&self) -> Value {
        let (name, v) = match self {
            Ok(v) => ("Ok", v.shadow_value()),
            Err(e) => ("Err", e.shadow_value()),
        };
        Value::Object([(name.to_owned(), v)].into_iter().collect())
    }
}

// ---------------------------------------------------------------------------------------------
// Sequences.

/// Element by element (`[i]`, walking only the elements that are not the same; an element one
/// side lacks is a difference with `(missing)`), or as multisets under `unordered`.
fn sequence<'x, T, I>(a: I, b: I, at: &At<'_>, sink: &mut Sink<'_>)
where
    T: ShadowCompare + 'x,
    I: ExactSizeIterator<Item = &'x T> + Clone,
{
    if at.has(UNORDERED) {
        return multiset(a, b, at, sink);
    }
    let (mut a, mut b) = (a, b);
    let mut i = 0;
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) => {
                if !x.shadow_same(y) {
                    x.shadow_diff(y, &at.index(i), sink);
                }
            }
            (None, None) => return,
            (x, y) => sink.differ(&at.index(i), x, y),
        }
        i += 1;
    }
}

/// As multisets: each element pairs with an equal one of the other side, first exactly, then
/// within the tolerances in force (recorded as tolerated). What is left over is a difference at
/// `.*`. Pairing is greedy. Equal sequences in the same order allocate nothing.
fn multiset<'x, T, I>(a: I, b: I, at: &At<'_>, sink: &mut Sink<'_>)
where
    T: ShadowCompare + 'x,
    I: ExactSizeIterator<Item = &'x T> + Clone,
{
    let any = at.any();
    if a.len() == b.len()
        && a.clone()
            .zip(b.clone())
            .all(|(x, y)| x.shadow_same(y) || probe(x, y, &any) == (0, 0))
    {
        return;
    }
    let mut rest: Vec<&T> = b.collect();
    let mut unpaired = Vec::new();
    for x in a {
        match rest.iter().position(|y| probe(x, *y, &any) == (0, 0)) {
            Some(i) => {
                rest.remove(i);
            }
            None => unpaired.push(x),
        }
    }
    let mut missing = Vec::new();
    for x in unpaired {
        match rest.iter().position(|y| probe(x, *y, &any).0 == 0) {
            // Recorded at their own paths under `.*`, as tolerated or ignored.
            Some(i) => x.shadow_diff(rest.remove(i), &any, sink),
            None => missing.push(x),
        }
    }
    for x in missing {
        sink.differ(&any, Some(x), None);
    }
    for y in rest {
        sink.differ(&any, None, Some(y));
    }
}

/// The same length and the same elements in the same order. (Under `unordered` that is the
/// multiset comparison's own shortcut, so it holds there too.)
#[inline]
fn same_sequence<'x, T, I>(a: I, b: I) -> bool
where
    T: ShadowCompare + 'x,
    I: ExactSizeIterator<Item = &'x T>,
{
    a.len() == b.len() && a.zip(b).all(|(x, y)| x.shadow_same(y))
}

fn array_value<'x, T: ShadowCompare + 'x>(items: impl Iterator<Item = &'x T>) -> Value {
    Value::Array(items.map(T::shadow_value).collect())
}

impl<T: ShadowCompare> ShadowCompare for [T] {
    const MASKED: bool = T::MASKED;

    #[inline]
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        sequence(self.iter(), other.iter(), at, sink);
    }

    #[inline]
    fn shadow_same(&self, other: &Self) -> bool {
        same_sequence(self.iter(), other.iter())
    }

    fn shadow_value(&self) -> Value {
        array_value(self.iter())
    }
}

impl<T: ShadowCompare, const N: usize> ShadowCompare for [T; N] {
    const MASKED: bool = T::MASKED;

    #[inline]
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        self.as_slice().shadow_diff(other.as_slice(), at, sink);
    }

    #[inline]
    fn shadow_same(&self, other: &Self) -> bool {
        self.as_slice().shadow_same(other.as_slice())
    }

    fn shadow_value(&self) -> Value {
        array_value(self.iter())
    }
}

impl<T: ShadowCompare> ShadowCompare for Vec<T> {
    const MASKED: bool = T::MASKED;

    #[inline]
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        self.as_slice().shadow_diff(other.as_slice(), at, sink);
    }

    #[inline]
    fn shadow_same(&self, other: &Self) -> bool {
        self.as_slice().shadow_same(other.as_slice())
    }

    fn shadow_value(&self) -> Value {
        array_value(self.iter())
    }
}

impl<T: ShadowCompare> ShadowCompare for VecDeque<T> {
    const MASKED: bool = T::MASKED;

    #[inline]
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        sequence(self.iter(), other.iter(), at, sink);
    }

    #[inline]
    fn shadow_same(&self, other: &Self) -> bool {
        same_sequence(self.iter(), other.iter())
    }

    fn shadow_value(&self) -> Value {
        array_value(self.iter())
    }
}

impl<T: ShadowCompare + Ord> ShadowCompare for BTreeSet<T> {
    const MASKED: bool = T::MASKED;

    /// As sets (by `Ord`): an element of one side only is a difference at `.*`.
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        if self.len() == other.len() && self.iter().eq(other.iter()) {
            return;
        }
        let any = at.any();
        for x in self.difference(other) {
            sink.differ(&any, Some(x), None);
        }
        for y in other.difference(self) {
            sink.differ(&any, None, Some(y));
        }
    }

    /// The same elements, by `Eq` (`shadow_diff`'s own shortcut).
    fn shadow_same(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }

    fn shadow_value(&self) -> Value {
        array_value(self.iter())
    }
}

impl<T: ShadowCompare + Eq + Hash, S: BuildHasher> ShadowCompare for HashSet<T, S> {
    const MASKED: bool = T::MASKED;

    /// As sets (by `Eq`): an element of one side only is a difference at `.*`; several come in
    /// the order of their rendered values.
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        if self.len() == other.len() && self.iter().all(|x| other.contains(x)) {
            return;
        }
        let any = at.any();
        let (mut gone, mut new): (Vec<&T>, Vec<&T>) = (
            self.iter().filter(|x| !other.contains(*x)).collect(),
            other.iter().filter(|y| !self.contains(*y)).collect(),
        );
        if sink.recording() {
            gone.sort_by_cached_key(|x| x.shadow_value().to_string());
            new.sort_by_cached_key(|y| y.shadow_value().to_string());
        }
        for x in gone {
            sink.differ(&any, Some(x), None);
        }
        for y in new {
            sink.differ(&any, None, Some(y));
        }
    }

    /// The same elements, by `Eq` (`shadow_diff`'s own shortcut).
    fn shadow_same(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|x| other.contains(x))
    }

    fn shadow_value(&self) -> Value {
        let mut items: Vec<Value> = self.iter().map(T::shadow_value).collect();
        items.sort_by_cached_key(Value::to_string);
        Value::Array(items)
    }
}

// ---------------------------------------------------------------------------------------------
// Maps.

fn map_value<'x, K: Display + 'x, V: ShadowCompare + 'x>(
    entries: impl Iterator<Item = (&'x K, &'x V)>,
) -> Value {
    Value::Object(
        entries
            .map(|(k, v)| (k.to_string(), v.shadow_value()))
            .collect(),
    )
}

impl<K: Display + Ord, V: ShadowCompare> ShadowCompare for BTreeMap<K, V> {
    const MASKED: bool = V::MASKED;

    /// Key by key (`.key`), by the keys' order; a key of one side only is a difference with
    /// `(missing)`.
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        let (mut a, mut b) = (self.iter().peekable(), other.iter().peekable());
        loop {
            let order = match (a.peek(), b.peek()) {
                (None, None) => return,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some((ka, _)), Some((kb, _))) => ka.cmp(kb),
            };
            match order {
                std::cmp::Ordering::Equal => {
                    let ((k, x), (_, y)) = (a.next().unwrap(), b.next().unwrap());
                    if !x.shadow_same(y) {
                        x.shadow_diff(y, &at.key(k), sink);
                    }
                }
                std::cmp::Ordering::Less => {
                    let (k, x) = a.next().unwrap();
                    one_sided(sink, &at.key(k), Some(x), None);
                }
                std::cmp::Ordering::Greater => {
                    let (k, y) = b.next().unwrap();
                    one_sided(sink, &at.key(k), None, Some(y));
                }
            }
        }
    }

    /// The same keys (by `Ord`), each with the same value.
    fn shadow_same(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .zip(other)
                .all(|((ka, x), (kb, y))| ka.cmp(kb).is_eq() && x.shadow_same(y))
    }

    fn shadow_value(&self) -> Value {
        map_value(self.iter())
    }
}

impl<K: Display + Eq + Hash, V: ShadowCompare, S: BuildHasher> ShadowCompare for HashMap<K, V, S> {
    const MASKED: bool = V::MASKED;

    /// Key by key (`.key`); a key of one side only is a difference with `(missing)`. The
    /// differences are sorted by path, so they come out the same on every run.
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        let mark = sink.mark();
        for (k, x) in self {
            match other.get(k) {
                Some(y) if x.shadow_same(y) => {}
                Some(y) => x.shadow_diff(y, &at.key(k), sink),
                None => one_sided(sink, &at.key(k), Some(x), None),
            }
        }
        for (k, y) in other {
            if !self.contains_key(k) {
                one_sided(sink, &at.key(k), None, Some(y));
            }
        }
        if sink.mark() != mark {
            sink.sort_since(mark);
        }
    }

    /// The same keys (by `Eq`), each with the same value.
    fn shadow_same(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .all(|(k, x)| other.get(k).is_some_and(|y| x.shadow_same(y)))
    }

    fn shadow_value(&self) -> Value {
        map_value(self.iter())
    }
}

// ---------------------------------------------------------------------------------------------
// JSON values.

impl ShadowCompare for Value {
    /// As [`Structural`](crate::structural::Structural) compares two values, with the same paths
    /// and entries: objects key by key (`.key`, in key order; a key of one side only is
    /// `(missing)`, or tolerated under `missing_as_null` / `missing_as_empty`), arrays element by
    /// element (`[i]`, or as multisets at `.*` under `unordered`), numbers within the tolerance
    /// in force (integers exactly), strings under `trim` / `nfc`, and under `within` numbers read
    /// as epoch milliseconds and RFC 3339 strings; anything else that differs is one entry with
    /// both values.
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        if self != other {
            value_differs(self, other, at, sink);
        }
    }

    #[inline]
    fn shadow_same(&self, other: &Self) -> bool {
        self == other
    }

    fn shadow_value(&self) -> Value {
        self.clone()
    }
}

/// Two different JSON values, as `Structural::walk` compares them.
#[cold]
#[inline(never)]
fn value_differs(a: &Value, b: &Value, at: &At<'_>, sink: &mut Sink<'_>) {
    if at.has(IGNORE) {
        return sink.tolerated(at);
    }
    if let Some(w) = at.opts.within {
        let (x, y) = (crate::structural::instant(a), crate::structural::instant(b));
        if x.zip(y).is_some_and(|(x, y)| x.abs_diff(y) <= w.as_nanos()) {
            return sink.tolerated(at);
        }
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let here = at.key(k);
                match (x.get(k), y.get(k)) {
                    (Some(va), Some(vb)) => {
                        if va != vb {
                            value_differs(va, vb, &here, sink);
                        }
                    }
                    (va, vb) => one_sided(sink, &here, va, vb),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => sequence(x.iter(), y.iter(), at, sink),
        (Value::Number(x), Value::Number(y)) => {
            let d = crate::structural::number_gap(x, y);
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            if at.tolerates(d, x.abs().max(y.abs())) {
                sink.tolerated(at);
            } else {
                sink.differ(at, Some(a), Some(b));
            }
        }
        (Value::String(x), Value::String(y)) => str_differs(x, y, at, sink),
        _ => sink.differ(at, Some(a), Some(b)),
    }
}

// ---------------------------------------------------------------------------------------------
// Tuples.

macro_rules! tuples {
    ($(($($i:tt $t:ident),+))*) => {$(
        impl<$($t: ShadowCompare),+> ShadowCompare for ($($t,)+) {
            const MASKED: bool = $($t::MASKED)||+;

            #[inline]
            fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
                $(if !self.$i.shadow_same(&other.$i) {
                    self.$i.shadow_diff(&other.$i, &at.index($i), sink);
                })+
            }

            #[inline]
            fn shadow_same(&self, other: &Self) -> bool {
                $(self.$i.shadow_same(&other.$i))&&+
            }

            fn shadow_value(&self) -> Value {
                Value::Array(vec![$(self.$i.shadow_value()),+])
            }
        }
    )*};
}
tuples! {
    (0 A)
    (0 A, 1 B)
    (0 A, 1 B, 2 C)
    (0 A, 1 B, 2 C, 3 D)
    (0 A, 1 B, 2 C, 3 D, 4 E)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K, 11 L)
}

// ---------------------------------------------------------------------------------------------
// What the derive's expansion calls.

/// Items named by the code `#[derive(ShadowCompare)]` generates. Not public API.
#[doc(hidden)]
pub mod __derive {
    pub use super::{At, ShadowCompare, Sink};
    pub use core::time::Duration;
    pub use serde_json::{Map, Value};

    /// A `#[shadow(eq)]` field: compared with `PartialEq`, rendered with `Debug` as a JSON
    /// string. Both methods are called as `<Field as EqLeaf>::..` at the field's type, so a type
    /// that lacks `PartialEq` or `Debug` gets one error there.
    #[diagnostic::on_unimplemented(
        message = "`#[shadow(eq)]` compares with `PartialEq` and renders with `Debug`, and `{Self}` lacks one of them",
        label = "`{Self}` must be `PartialEq + Debug` for `#[shadow(eq)]`",
        note = "derive `PartialEq` and `Debug` for it, or remove `#[shadow(eq)]` and derive `ShadowCompare`"
    )]
    pub trait EqLeaf {
        fn eq_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>);
        fn eq_same(&self, other: &Self) -> bool;
        fn eq_value(&self) -> Value;
    }

    #[diagnostic::do_not_recommend]
    impl<T: PartialEq + core::fmt::Debug + ?Sized> EqLeaf for T {
        #[inline]
        fn eq_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
            if self != other {
                sink.differ_with(at, || Some(self.eq_value()), || Some(other.eq_value()));
            }
        }

        #[inline]
        fn eq_same(&self, other: &Self) -> bool {
            self == other
        }

        fn eq_value(&self) -> Value {
            Value::String(format!("{self:?}"))
        }
    }

    /// A `#[shadow(sensitive)]` field's value.
    pub fn redacted() -> Value {
        Value::String("***".into())
    }

    /// Two different variants of an enum: one difference at `at`, shown as the names.
    #[cold]
    pub fn variants(at: &At<'_>, sink: &mut Sink<'_>, a: &'static str, b: &'static str) {
        sink.differ(at, Some(a), Some(b));
    }

    /// A struct (or struct variant) as a JSON object.
    pub fn object<const N: usize>(fields: [(&'static str, Value); N]) -> Value {
        Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// A tuple struct (or tuple variant) as a JSON array.
    pub fn array<const N: usize>(items: [Value; N]) -> Value {
        Value::Array(Vec::from(items))
    }

    /// A data-carrying enum variant as serde writes it: `{"Variant": value}`.
    pub fn variant(name: &'static str, value: Value) -> Value {
        object([(name, value)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lines(d: &Diff) -> Vec<String> {
        d.entries.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn leaves_render_naturally() {
        assert_eq!(lines(&diff(&1u8, &2)), ["$: 1 -> 2"]);
        assert_eq!(
            lines(&diff(&-1i128, &(1i128 << 100))),
            [format!("$: -1 -> \"{}\"", 1i128 << 100)]
        );
        assert_eq!(lines(&diff(&1.5f64, &2.0)), ["$: 1.5 -> 2.0"]);
        assert_eq!(lines(&diff(&f64::NAN, &1.0)), ["$: null -> 1.0"]);
        assert!(diff(&f64::NAN, &f64::NAN).is_empty());
        assert_eq!(lines(&diff(&true, &false)), ["$: true -> false"]);
        assert_eq!(lines(&diff(&'a', &'b')), [r#"$: "a" -> "b""#]);
        assert_eq!(lines(&diff("x", "y")), [r#"$: "x" -> "y""#]);
        assert_eq!(
            lines(&diff(&Duration::from_millis(1500), &Duration::from_secs(2))),
            [r#"$: "1.5s" -> "2s""#]
        );
        let t = UNIX_EPOCH + Duration::from_millis(1_795_773_600_123);
        assert_eq!(
            lines(&diff(&t, &(t + Duration::from_secs(1)))),
            [r#"$: "2026-11-27T10:00:00.123Z" -> "2026-11-27T10:00:01.123Z""#]
        );
        assert!(diff(&(), &()).is_empty());
    }

    #[test]
    fn options_results_and_pointers() {
        assert_eq!(lines(&diff(&Some(1), &None)), ["$: 1 -> null"]);
        assert_eq!(lines(&diff(&Some(1), &Some(2))), ["$: 1 -> 2"]);
        let ok: Result<u8, String> = Ok(1);
        assert_eq!(lines(&diff(&ok, &Ok(2))), ["$.Ok: 1 -> 2"]);
        assert_eq!(lines(&diff(&ok, &Err("e".into()))), [r#"$: "Ok" -> "Err""#]);
        assert_eq!(
            lines(&diff(
                &Box::new(Rc::new(Arc::new(1))),
                &Box::new(Rc::new(Arc::new(2)))
            )),
            ["$: 1 -> 2"]
        );
        assert_eq!(
            lines(&diff(&Cow::Borrowed("a"), &Cow::Owned("b".to_owned()))),
            [r#"$: "a" -> "b""#]
        );
    }

    #[test]
    fn sequences_maps_sets_and_tuples() {
        assert_eq!(
            lines(&diff(&vec![1, 2], &vec![1, 3, 4])),
            ["$[1]: 2 -> 3", "$[2]: (missing) -> 4"]
        );
        assert_eq!(lines(&diff(&[1, 2], &[2, 2])), ["$[0]: 1 -> 2"]);
        assert_eq!(
            lines(&diff(
                &VecDeque::from([vec![1]]),
                &VecDeque::from([vec![2]])
            )),
            ["$[0][0]: 1 -> 2"]
        );
        let m = |v: &[(&'static str, i32)]| v.iter().copied().collect::<BTreeMap<_, _>>();
        assert_eq!(
            lines(&diff(&m(&[("a", 1), ("b", 2)]), &m(&[("b", 3), ("c", 4)]))),
            ["$.a: 1 -> (missing)", "$.b: 2 -> 3", "$.c: (missing) -> 4"]
        );
        let h = |v: &[(u32, i32)]| v.iter().copied().collect::<HashMap<_, _>>();
        assert_eq!(
            lines(&diff(
                &h(&[(1, 1), (2, 2), (3, 3), (9, 9)]),
                &h(&[(2, 0), (3, 0), (4, 4), (9, 9)])
            )),
            [
                "$.1: 1 -> (missing)",
                "$.2: 2 -> 0",
                "$.3: 3 -> 0",
                "$.4: (missing) -> 4"
            ]
        );
        let s = |v: &[u8]| v.iter().copied().collect::<BTreeSet<_>>();
        assert_eq!(
            lines(&diff(&s(&[1, 2, 3]), &s(&[2, 3, 4]))),
            ["$.*: 1 -> (missing)", "$.*: (missing) -> 4"]
        );
        let hs = |v: &[u8]| v.iter().copied().collect::<HashSet<_>>();
        assert!(diff(&hs(&[1, 2, 3]), &hs(&[3, 2, 1])).is_empty());
        assert_eq!(
            lines(&diff(&hs(&[1, 2, 3, 5]), &hs(&[2, 6, 4, 3]))),
            [
                "$.*: 1 -> (missing)",
                "$.*: 5 -> (missing)",
                "$.*: (missing) -> 4",
                "$.*: (missing) -> 6"
            ]
        );
        assert_eq!(
            lines(&diff(&(1, "a", 2.5), &(1, "b", 2.5))),
            [r#"$[1]: "a" -> "b""#]
        );
        // A whole element one side lacks is rendered whole.
        assert_eq!(
            lines(&diff(&vec![], &vec![(1, vec!["x"])])),
            [r#"$[0]: (missing) -> [1,["x"]]"#]
        );
    }

    /// Runs `shadow_diff` at a root with options.
    fn diff_at<T: ShadowCompare + ?Sized>(a: &T, b: &T, at: At<'_>) -> Diff {
        let mut d = Diff::default();
        a.shadow_diff(b, &at, &mut Sink::new(&mut d));
        d
    }

    #[test]
    fn options_tolerate_and_mask() {
        let root = At::root();
        let t = root.field("t").tolerance(0.01, 0.0);
        let d = diff_at(&vec![1.0, 2.0], &vec![1.005, 2.5], t);
        assert_eq!(d.tolerated, ["$.t[0]"]);
        assert_eq!(lines(&d), ["$.t[1]: 2.0 -> 2.5"]);
        // Relative, on integers too.
        let d = diff_at(&1000u32, &1001, At::root().tolerance(0.0, 0.001));
        assert_eq!(d.tolerated, ["$"]);
        // Within, on integers (ms), durations, times and RFC 3339 strings.
        let w = At::root().within(Duration::from_secs(2));
        assert_eq!(diff_at(&1_000i64, &3_000, w).tolerated, ["$"]);
        assert_eq!(lines(&diff_at(&1_000i64, &3_001, w)), ["$: 1000 -> 3001"]);
        assert_eq!(
            diff_at(&Duration::ZERO, &Duration::from_secs(2), w).tolerated,
            ["$"]
        );
        let t0 = SystemTime::now();
        assert_eq!(
            diff_at(&t0, &(t0 + Duration::from_millis(1999)), w).tolerated,
            ["$"]
        );
        assert_eq!(
            diff_at(&(t0 + Duration::from_millis(1999)), &t0, w).tolerated,
            ["$"]
        );
        assert_eq!(
            diff_at(&t0, &(t0 + Duration::from_secs(3)), w)
                .entries
                .len(),
            1
        );
        assert_eq!(
            diff_at("2026-11-27T10:00:00Z", "2026-11-27T12:00:01+02:00", w).tolerated,
            ["$"]
        );
        assert_eq!(diff_at("soon", "later", w).entries.len(), 1);
        // Trim and NFC.
        assert_eq!(diff_at(" a ", "a", At::root().trim()).tolerated, ["$"]);
        assert_eq!(
            diff_at("\u{e9}", "e\u{301}", At::root().nfc()).tolerated,
            ["$"]
        );
        assert_eq!(diff_at("\u{e9}", "e\u{301}", At::root()).entries.len(), 1);
        // Sensitive: every value below is masked, a missing side stays missing.
        let d = diff_at(
            &vec![(1, "4111")],
            &vec![(1, "4242"), (2, "x")],
            At::root().sensitive(),
        );
        assert_eq!(
            lines(&d),
            [r#"$[0][1]: "***" -> "***""#, r#"$[1]: (missing) -> "***""#]
        );
        // Ignore: recorded once, at the ignored place.
        let root = At::root();
        let ig = root.field("meta").ignore();
        let d = diff_at(&vec![1, 2, 3], &vec![4, 5], ig);
        assert!(d.entries.is_empty());
        assert_eq!(d.ignored, ["$.meta"]);
    }

    #[test]
    fn unordered_sequences_are_multisets() {
        let u = At::root().unordered();
        assert!(diff_at(&vec![1, 2, 2], &vec![2, 1, 2], u).is_empty());
        assert_eq!(
            lines(&diff_at(&vec![1, 2], &vec![2, 3], u)),
            ["$.*: 1 -> (missing)", "$.*: (missing) -> 3"]
        );
        // Pairs within tolerance are tolerated at the element's own path.
        let d = diff_at(&vec![1.0, 5.0], &vec![5.0, 1.001], u.tolerance(0.01, 0.0));
        assert!(d.entries.is_empty());
        assert_eq!(d.tolerated, ["$.*"]);
        // `unordered` stops at the first sequence: the elements' own sequences keep their order.
        assert_eq!(
            lines(&diff_at(&vec![vec![1, 2]], &vec![vec![2, 1]], u)),
            ["$.*: [1,2] -> (missing)", "$.*: (missing) -> [2,1]"]
        );
    }

    #[test]
    fn the_comparator_gives_match_acceptable_and_mismatch() {
        assert_eq!(Typed.compare(&vec![1], &vec![1]), Verdict::Match);
        assert_eq!(
            Typed.compare(&vec![1, 2], &vec![1, 3]),
            Verdict::mismatch("$[1]: 2 -> 3")
        );
        assert_eq!(
            Typed.compare(&BTreeMap::from([("a", 1)]), &BTreeMap::from([("a", 2)])),
            Verdict::mismatch("$.a: 1 -> 2")
        );
    }

    #[test]
    fn derive_helpers() {
        use super::__derive::*;
        #[derive(PartialEq, Debug)]
        struct Foreign(u8);
        let mut d = Diff::default();
        Foreign(1).eq_diff(&Foreign(2), &At::root().field("f"), &mut Sink::new(&mut d));
        assert_eq!(lines(&d), [r#"$.f: "Foreign(1)" -> "Foreign(2)""#]);
        assert_eq!(
            object([("a", json!(1)), ("b", variant("V", array([json!(2)])))]),
            json!({"a": 1, "b": {"V": [2]}})
        );
        let mut d = Diff::default();
        variants(&At::root(), &mut Sink::new(&mut d), "Paid", "Refunded");
        assert_eq!(lines(&d), [r#"$: "Paid" -> "Refunded""#]);
    }

    #[test]
    fn same_is_exact_equality_with_the_diffs_semantics() {
        assert!(f64::NAN.shadow_same(&f64::NAN) && f32::NAN.shadow_same(&f32::NAN));
        assert!((-0.0f64).shadow_same(&0.0) && !1.0f64.shadow_same(&f64::NAN));
        assert!("a".shadow_same("a") && !" a".shadow_same("a"));
        assert!(Some(vec![1, 2]).shadow_same(&Some(vec![1, 2])));
        assert!(!vec![1, 2].shadow_same(&vec![2, 1]) && !vec![1].shadow_same(&vec![1, 1]));
        let (ok, err): (Result<u8, u8>, Result<u8, u8>) = (Ok(1), Err(1));
        assert!(ok.shadow_same(&Ok(1)) && !ok.shadow_same(&err));
        let h = |v: &[(u32, f64)]| v.iter().copied().collect::<HashMap<_, _>>();
        assert!(h(&[(1, f64::NAN), (2, 0.0)]).shadow_same(&h(&[(2, -0.0), (1, f64::NAN)])));
        assert!(!h(&[(1, 1.0)]).shadow_same(&h(&[(2, 1.0)])));
        let m = |v: &[(&'static str, u8)]| v.iter().copied().collect::<BTreeMap<_, _>>();
        assert!(m(&[("a", 1)]).shadow_same(&m(&[("a", 1)])));
        assert!(!m(&[("a", 1)]).shadow_same(&m(&[("b", 1)])));
        assert!(HashSet::from([1, 2]).shadow_same(&HashSet::from([2, 1])));
        assert!(!BTreeSet::from([1, 2]).shadow_same(&BTreeSet::from([1, 3])));
        assert!((1, "a", f64::NAN).shadow_same(&(1, "a", f64::NAN)));
        assert!(Box::new([Arc::new(1)]).shadow_same(&Box::new([Arc::new(1)])));
        // An unordered sequence in another order is not the same, yet differs in nothing: the
        // walk decides.
        let u = At::root().unordered();
        assert!(!vec![1, 2].shadow_same(&vec![2, 1]));
        assert!(diff_at(&vec![1, 2], &vec![2, 1], u).is_empty());
    }

    #[test]
    fn a_hand_written_impl_without_shadow_same_is_walked() {
        struct Celsius(f64);
        impl ShadowCompare for Celsius {
            fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
                self.0.shadow_diff(&other.0, &at.tolerance(0.5, 0.0), sink);
            }
            fn shadow_value(&self) -> Value {
                self.0.shadow_value()
            }
        }
        assert!(!Celsius(1.0).shadow_same(&Celsius(1.0)));
        assert!(!vec![Celsius(1.0)].shadow_same(&vec![Celsius(1.0)]));
        assert!(diff(&vec![Celsius(1.0)], &vec![Celsius(1.0)]).is_empty());
        assert_eq!(diff(&Celsius(1.0), &Celsius(1.25)).tolerated, ["$"]);
        assert_eq!(
            Typed.compare(&Some(Celsius(1.0)), &Some(Celsius(3.0))),
            Verdict::mismatch("$: 1.0 -> 3.0")
        );
        assert_eq!(
            Typed.compare(&(Celsius(2.0),), &(Celsius(2.0),)),
            Verdict::Match
        );
    }

    #[test]
    fn json_values_have_structurals_paths() {
        // Issue 12, item 7: a `Value` inside a derived type needed `#[shadow(eq)]`, so every
        // difference under it was one entry at the field, shown as a `Debug` string.
        let a = json!({"id": 1, "address": {"city": "Paris", "zip": "75001"}, "lines": [1, 2], "note": null});
        let b = json!({"id": 1, "address": {"city": "Lyon", "zip": "75001"}, "lines": [1, 3, 4], "extra": true});
        assert_eq!(
            lines(&diff(&a, &b)),
            [
                r#"$.address.city: "Paris" -> "Lyon""#,
                "$.extra: (missing) -> true",
                "$.lines[1]: 2 -> 3",
                "$.lines[2]: (missing) -> 4",
                "$.note: null -> (missing)",
            ]
        );
        assert_eq!(
            diff(&a, &b),
            crate::structural::Structural::new().diff(&a, &b)
        );
        // A value of another kind is one entry with both values.
        assert_eq!(
            lines(&diff(&json!({"a": [1]}), &json!({"a": {"x": 1}}))),
            [r#"$.a: [1] -> {"x":1}"#]
        );
        assert!(diff(&a, &a.clone()).is_empty() && a.shadow_same(&a.clone()));
        // 1 and 1.0 are the same number, told apart only by their type: tolerated, as Structural does.
        assert_eq!(diff(&json!(1), &json!(1.0)).tolerated, ["$"]);
    }

    #[test]
    fn json_values_take_the_options() {
        let d = diff_at(
            &json!({"x": 1.0, "s": " a"}),
            &json!({"x": 1.004, "s": "a"}),
            At::root().tolerance(0.01, 0.0).trim(),
        );
        assert_eq!(d.tolerated, ["$.s", "$.x"]);
        let w = At::root().within(Duration::from_secs(2));
        assert_eq!(
            diff_at(
                &json!({"at": 1_000}),
                &json!({"at": "1970-01-01T00:00:02Z"}),
                w
            )
            .tolerated,
            ["$.at"]
        );
        let u = At::root().unordered();
        assert!(diff_at(&json!([1, 2, 2]), &json!([2, 1, 2]), u).is_empty());
        assert_eq!(
            lines(&diff_at(&json!([1]), &json!([2]), u)),
            ["$.*: 1 -> (missing)", "$.*: (missing) -> 2"]
        );
        let d = diff_at(
            &json!({"card": {"pan": "4111"}}),
            &json!({"card": {"pan": "4242"}}),
            At::root().sensitive(),
        );
        assert_eq!(lines(&d), [r#"$.card.pan: "***" -> "***""#]);
        let root = At::root();
        let d = diff_at(
            &json!({"a": 1, "b": 2}),
            &json!({"a": 2}),
            root.field("meta").ignore(),
        );
        assert!(d.entries.is_empty());
        assert_eq!(d.ignored, ["$.meta"]);
    }

    #[test]
    fn a_missing_key_can_count_as_null_or_empty() {
        let a = json!({"id": 1, "address": null, "tags": [], "meta": {}, "nick": "x"});
        let b = json!({"id": 1});
        // By default every missing key is a difference.
        assert_eq!(diff(&a, &b).entries.len(), 4);
        let d = diff_at(&a, &b, At::root().missing_as_null());
        assert_eq!(d.tolerated, ["$.address"]);
        assert_eq!(
            lines(&d),
            [
                r#"$.meta: {} -> (missing)"#,
                r#"$.nick: "x" -> (missing)"#,
                "$.tags: [] -> (missing)"
            ]
        );
        let d = diff_at(&a, &b, At::root().missing_as_null().missing_as_empty());
        assert_eq!(d.tolerated, ["$.address", "$.meta", "$.tags"]);
        // A real value against a missing key still differs, on either side, and so does a value
        // against `null`: only absence is forgiven.
        assert_eq!(lines(&d), [r#"$.nick: "x" -> (missing)"#]);
        let d = diff_at(
            &json!({"a": null}),
            &json!({"a": 1}),
            At::root().missing_as_null(),
        );
        assert_eq!(lines(&d), ["$.a: null -> 1"]);
        // In maps too: a `None` (or an empty `Vec`) against a missing key.
        let m = |v: &[(&'static str, Option<u8>)]| v.iter().copied().collect::<BTreeMap<_, _>>();
        let d = diff_at(
            &m(&[("a", None), ("b", Some(1))]),
            &m(&[]),
            At::root().missing_as_null(),
        );
        assert_eq!(d.tolerated, ["$.a"]);
        assert_eq!(lines(&d), ["$.b: 1 -> (missing)"]);
        let h = |v: &[(u8, Vec<u8>)]| v.iter().cloned().collect::<HashMap<_, _>>();
        let d = diff_at(
            &h(&[]),
            &h(&[(1, vec![]), (2, vec![2])]),
            At::root().missing_as_empty(),
        );
        assert_eq!(d.tolerated, ["$.1"]);
        assert_eq!(lines(&d), ["$.2: (missing) -> [2]"]);
    }

    #[test]
    fn probes_count_without_recording() {
        assert_eq!(probe(&vec![1, 2], &vec![1, 3], &At::root()), (1, 0));
        assert_eq!(probe(&1.0, &1.001, &At::root().tolerance(0.1, 0.0)), (0, 1));
        assert_eq!(probe(&1, &2, &At::root().ignore()), (0, 1));
    }

    fn json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            any::<i32>().prop_map(|n| json!(n)),
            "[a-c]{0,3}".prop_map(Value::String),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
            Just(json!([])),
            Just(json!({})),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-d]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A few random edits of `v`: values replaced, keys removed or added, elements dropped.
    fn edited(v: &Value, seed: u64) -> Value {
        let mut state = seed | 1;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n.max(1)
        };
        fn walk(v: &mut Value, next: &mut dyn FnMut(u64) -> u64) {
            match v {
                Value::Object(m) => {
                    let keys: Vec<String> = m.keys().cloned().collect();
                    for k in keys {
                        match next(6) {
                            0 => {
                                m.remove(&k);
                            }
                            1 => {
                                m.insert(k, Value::Null);
                            }
                            _ => walk(m.get_mut(&k).unwrap(), next),
                        }
                    }
                    if next(4) == 0 {
                        m.insert("z".into(), json!([]));
                    }
                }
                Value::Array(a) => {
                    if !a.is_empty() && next(5) == 0 {
                        a.pop();
                    }
                    for x in a.iter_mut() {
                        walk(x, next);
                    }
                }
                other => {
                    if next(4) == 0 {
                        *other = json!(next(3));
                    }
                }
            }
        }
        let mut w = v.clone();
        walk(&mut w, &mut next);
        w
    }

    proptest::proptest! {
        /// The typed diff of two JSON values is Structural's: entries (paths and values, in
        /// order), tolerated and ignored paths, for unrelated values and for edited copies.
        #[test]
        fn typed_and_structural_agree_on_json(a in json(), b in json(), seed in proptest::prelude::any::<u64>()) {
            let s = crate::structural::Structural::new();
            proptest::prop_assert_eq!(diff(&a, &b), s.diff(&a, &b));
            let e = edited(&a, seed);
            proptest::prop_assert_eq!(diff(&a, &e), s.diff(&a, &e));
            proptest::prop_assert_eq!(diff(&e, &a), s.diff(&e, &a));
            // With missing keys forgiven as `null` or empty everywhere (Structural's patterns for
            // every depth the generator reaches), they still agree.
            let mut forgiving = crate::structural::Structural::new();
            for depth in 1..=5 {
                let p = format!("${}", ".*".repeat(depth));
                forgiving = forgiving.missing_as_null(&p).missing_as_empty(&p);
            }
            let at = At::root().missing_as_null().missing_as_empty();
            proptest::prop_assert_eq!(diff_at(&a, &e, at), forgiving.diff(&a, &e));
            proptest::prop_assert_eq!(diff_at(&e, &a, at), forgiving.diff(&e, &a));
        }
    }
}
