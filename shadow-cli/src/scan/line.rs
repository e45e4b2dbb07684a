//! A log line as the scanner reads it: borrowed from the read buffer, every field lenient (a
//! string or a number where either was written), so that one odd line never stops a report.

use super::*;

// ---------------------------------------------------------------------------------------------
// The line, borrowed from the read buffer.

/// A string that borrows from the input unless it had escapes. (`Option<Cow<str>>` through serde
/// always copies; this newtype does not.)
pub(super) struct Str<'a>(pub(super) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A sampling key: a string, a number or a boolean, kept as text.
pub(super) struct Scalar<'a>(pub(super) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, a number or a boolean")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar(Cow::Owned(v.to_owned())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar(Cow::Owned(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Scalar(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

/// A time or a duration: a JSON number in `0..2^64` (a fraction is dropped: `1.5e3` is 1500).
/// A negative or larger number makes the line malformed.
#[derive(Clone, Copy)]
pub(super) struct Num(pub(super) u64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number in 0..2^64")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                Ok(Num(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                u64::try_from(v)
                    .map(Num)
                    .map_err(|_| E::custom(format!("{v} is negative")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
                // 2^64 itself is out of range; `as` would saturate it to u64::MAX.
                if (0.0..18_446_744_073_709_551_616.0).contains(&v) {
                    Ok(Num(v as u64))
                } else {
                    Err(E::custom(format!("{v} is outside 0..2^64")))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A count: a whole JSON number in `0..2^64`. Anything else makes the line malformed.
#[derive(Clone, Copy)]
pub(super) struct Count(pub(super) u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a count (a whole number in 0..2^64)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                Ok(Count(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
                u64::try_from(v)
                    .map(Count)
                    .map_err(|_| E::custom(format!("count {v} is negative")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Count, E> {
                // serde_json reads integers past u64::MAX, and fractions, as floats.
                Err(E::custom(format!(
                    "count {v} is not a whole number in 0..2^64"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// A summary's `outcomes` object, in file order.
pub(super) struct Counts<'a>(pub(super) Vec<(Str<'a>, Count)>);

impl<'de: 'a, 'a> Deserialize<'de> for Counts<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Counts<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of outcome counts")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::with_capacity(16);
                while let Some(entry) = m.next_entry::<Str<'de>, Option<Count>>()? {
                    if let (k, Some(n)) = entry {
                        v.push((k, n));
                    }
                }
                Ok(Counts(v))
            }
        }
        d.deserialize_map(V)
    }
}

/// One line of the log. Fields it does not name (`primary`, `candidate`, `context`, `v`, ...) are
/// skipped without being copied.
#[derive(Deserialize)]
pub(super) struct Line<'a> {
    #[serde(borrow, default)]
    pub(super) kind: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub(super) run: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub(super) experiment: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub(super) outcome: Option<Str<'a>>,
    #[serde(default)]
    pub(super) at_ms: Option<Num>,
    #[serde(borrow, default)]
    pub(super) key: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    pub(super) detail: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub(super) paths: Option<Vec<Str<'a>>>,
    #[serde(default)]
    pub(super) primary_us: Option<Num>,
    #[serde(default)]
    pub(super) candidate_us: Option<Num>,
    #[serde(borrow, default)]
    pub(super) served_by: Option<Str<'a>>,
    // Summary lines.
    #[serde(borrow, default)]
    pub(super) outcomes: Option<Counts<'a>>,
    #[serde(default)]
    pub(super) primary_us_sum: Option<Count>,
    #[serde(default)]
    pub(super) candidate_us_sum: Option<Count>,
    #[serde(default)]
    pub(super) timed: Option<Count>,
    #[serde(borrow, default)]
    pub(super) deadline: Option<Str<'a>>,
    #[serde(default)]
    pub(super) overdue: Option<bool>,
    #[serde(default)]
    pub(super) ramp: Option<f64>,
    #[serde(borrow, default)]
    pub(super) gate: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub(super) noisy_paths: Option<Vec<Str<'a>>>,
}

/// A reader that reports the bytes taken from it, and remembers whether it failed.
pub(super) struct Counted<'p, R> {
    pub(super) inner: R,
    pub(super) progress: &'p mut dyn FnMut(u64),
    pub(super) failed: bool,
}

impl<R: io::Read> io::Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                (self.progress)(n as u64);
                Ok(n)
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.failed = true;
                }
                Err(e)
            }
        }
    }
}

pub(super) fn text<'a>(s: &'a Option<Str<'_>>) -> Option<&'a str> {
    s.as_ref().map(|s| &*s.0)
}
