//! Sticky sampling: `sample_by = key` makes the shadowing decision a pure function of the key, the
//! experiment's name and its rate, so one customer is always in or always out, on every instance
//! of a fleet and across restarts.
//!
//! The function is specified so that it can be reproduced anywhere (and must never change):
//!
//! ```text
//! seed     = XXH3_64bits(experiment name as UTF-8)
//! hash     = XXH3_64bits_withSeed(key bytes, seed)
//! in       = rate >= 1  or  hash < floor(rate * 2^64)
//! ```
//!
//! During a ramp ([`crate::decide::cutover`]) the same key also decides who serves the call, through a
//! re-mixed hash so that serving and sampling are independent (the splitmix64 finaliser):
//!
//! ```text
//! z        = (hash ^ (hash >> 30)) * 0xBF58476D1CE4E5B9      (wrapping, 64-bit)
//! z        = (z ^ (z >> 27)) * 0x94D049BB133111EB
//! serve    = z ^ (z >> 31)
//! served   = ramp >= 1  or  serve < floor(ramp * 2^64)
//! ```
//!
//! Key bytes: strings as UTF-8; byte slices as they are; unsigned integers as the 8 little-endian
//! bytes of their value as `u64` (16 bytes for `u128`); signed integers as the 8 little-endian
//! bytes of their value as `i64` (16 for `i128`), so `7u32` and `7u64` are the same key.
//! XXH3 is a published, versioned algorithm (xxHash 0.8); the tests pin it with its reference
//! vector and with this crate's own published decisions (`tests/sticky_vectors.rs`).

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// A value that can key sticky sampling (`sample_by = ...`): integers, strings and byte strings,
/// and references to them.
///
/// ```
/// use shadow_runtime::sticky::{key_hash, SampleKey};
/// assert_eq!(key_hash(&7u32, 1), key_hash(&7u64, 1)); // integers hash by value
/// assert_eq!(key_hash("acme", 1), key_hash(&String::from("acme"), 1));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot key sticky sampling",
    label = "`sample_by` needs an integer, a string or bytes",
    note = "use a field such as `order.customer_id`, or convert: `sample_by = order.customer.to_string()`"
)]
pub trait SampleKey {
    /// Calls `f` with the key's bytes (see the module docs for the encoding).
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R;

    /// The key as text for records and log lines: integers and strings as they are, bytes in
    /// hexadecimal.
    ///
    /// ```
    /// use shadow_runtime::sticky::SampleKey;
    /// assert_eq!(42u32.key_text(), "42");
    /// assert_eq!("acme".key_text(), "acme");
    /// assert_eq!([0xCAu8, 0xFE].key_text(), "cafe");
    /// ```
    fn key_text(&self) -> String {
        self.with_bytes(|b| b.iter().map(|x| format!("{x:02x}")).collect())
    }
}

macro_rules! unsigned_key {
    ($($t:ty),*) => {$(
        impl SampleKey for $t {
            fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
                f(&(*self as u64).to_le_bytes())
            }
            fn key_text(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
macro_rules! signed_key {
    ($($t:ty),*) => {$(
        impl SampleKey for $t {
            fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
                f(&(*self as i64).to_le_bytes())
            }
            fn key_text(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
unsigned_key!(u8, u16, u32, u64, usize);
signed_key!(i8, i16, i32, i64, isize);

impl SampleKey for u128 {
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(&self.to_le_bytes())
    }
    fn key_text(&self) -> String {
        self.to_string()
    }
}
impl SampleKey for i128 {
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(&self.to_le_bytes())
    }
    fn key_text(&self) -> String {
        self.to_string()
    }
}
impl SampleKey for str {
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self.as_bytes())
    }
    fn key_text(&self) -> String {
        self.to_string()
    }
}
impl SampleKey for String {
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self.as_bytes())
    }
    fn key_text(&self) -> String {
        self.to_string()
    }
}
impl SampleKey for [u8] {
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self)
    }
}
impl<const N: usize> SampleKey for [u8; N] {
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self)
    }
}
impl SampleKey for Vec<u8> {
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self)
    }
}
impl<T: SampleKey + ?Sized> SampleKey for &T {
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        (**self).with_bytes(f)
    }
    fn key_text(&self) -> String {
        (**self).key_text()
    }
}

/// The seed of an experiment: `XXH3_64bits(name)`.
///
/// ```
/// assert_ne!(shadow_runtime::sticky::experiment_seed("a"), shadow_runtime::sticky::experiment_seed("b"));
/// ```
pub fn experiment_seed(name: &str) -> u64 {
    xxh3_64(name.as_bytes())
}

/// The key's hash under `seed`: `XXH3_64bits_withSeed(key bytes, seed)`.
///
/// ```
/// let h = shadow_runtime::sticky::key_hash(&42u64, 0);
/// assert_eq!(h, shadow_runtime::sticky::key_hash(&42u64, 0)); // a pure function
/// ```
pub fn key_hash<K: SampleKey + ?Sized>(key: &K, seed: u64) -> u64 {
    key.with_bytes(|b| xxh3_64_with_seed(b, seed))
}

/// Whether `key` is in the sample of experiment `name` at `rate`: the decision every instance of
/// a fleet makes for that key.
///
/// ```
/// use shadow_runtime::sticky::is_sampled;
/// assert!(is_sampled("payments::process", &"customer-1", 1.0));
/// assert!(!is_sampled("payments::process", &"customer-1", 0.0));
/// ```
pub fn is_sampled<K: SampleKey + ?Sized>(name: &str, key: &K, rate: f64) -> bool {
    let t = crate::decide::sampling::threshold(rate);
    t == u64::MAX || (t != 0 && key_hash(key, experiment_seed(name)) < t)
}

/// The ramp's hash of a key hash (the splitmix64 finaliser, a bijection): serving is decided on
/// it, sampling on the key hash itself, so the two are independent.
///
/// ```
/// assert_eq!(shadow_runtime::sticky::ramp_hash(0), 0);
/// assert_ne!(shadow_runtime::sticky::ramp_hash(1), 1);
/// ```
pub fn ramp_hash(h: u64) -> u64 {
    let z = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether `key` is served by the candidate of experiment `name` at ramp `share`: the decision
/// every instance of a fleet makes for that key while the ramp is in force.
///
/// ```
/// use shadow_runtime::sticky::is_served;
/// assert!(is_served("payments::process", &"customer-1", 1.0));
/// assert!(!is_served("payments::process", &"customer-1", 0.0));
/// ```
pub fn is_served<K: SampleKey + ?Sized>(name: &str, key: &K, share: f64) -> bool {
    let t = crate::decide::sampling::threshold(share);
    t == u64::MAX || (t != 0 && ramp_hash(key_hash(key, experiment_seed(name))) < t)
}

#[cfg(test)]
mod tests {
    #[test]
    fn xxh3_matches_the_reference_vector() {
        // XXH3_64bits("", 0) from xxHash's own sanity tests: pins the algorithm.
        assert_eq!(xxhash_rust::xxh3::xxh3_64(b""), 0x2D06_8005_38D3_94C2);
    }
}
