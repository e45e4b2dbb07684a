//! `ShadowCompare` for the leaves: numbers, `bool`, `char`, strings, `()`, `PhantomData`,
//! durations and system times.

use super::*;

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
pub(super) fn str_differs(a: &str, b: &str, at: &At<'_>, sink: &mut Sink<'_>) {
    if let Some(w) = at.opts.within {
        let (x, y) = (crate::judge::time::parse(a), crate::judge::time::parse(b));
        if x.zip(y).is_some_and(|(x, y)| x.abs_diff(y) <= w.as_nanos()) {
            return sink.tolerated(at);
        }
    }
    let (trim, nfc) = (at.has(TRIM), at.has(NFC));
    if (trim || nfc)
        && crate::judge::structural::normalise(a, trim, nfc)
            == crate::judge::structural::normalise(b, trim, nfc)
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
pub(super) fn times_differ<T: ShadowCompare>(
    a: &T,
    b: &T,
    gap: Duration,
    at: &At<'_>,
    sink: &mut Sink<'_>,
) {
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
        Value::String(crate::judge::time::format(nanos).unwrap_or_else(|| format!("{self:?}")))
    }
}
