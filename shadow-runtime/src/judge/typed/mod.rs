//! Typed structural diffs: the [`ShadowCompare`] trait, which `#[derive(ShadowCompare)]`
//! implements, the [`Typed`] comparator and the [`diff`] function.
//!
//! A typed diff reports the same [`Diff`] as [`Structural`](crate::judge::structural::Structural), with
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
//! | `serde_json::Value` | as [`Structural`](crate::judge::structural::Structural) compares JSON: the same paths and entries | `tolerance`, `relative`, `within`, `trim`, `nfc`, `unordered`, `missing_as_null`, `missing_as_empty` |
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

use crate::judge::compare::{Comparator, Verdict};
pub use crate::judge::structural::{Diff, DiffEntry};

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

mod at;
mod containers;
mod leaves;
mod sink;
#[cfg(test)]
mod tests;

pub use at::At;
pub use sink::Sink;
use {at::*, leaves::*, sink::*};

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
