//! Published test vectors of sticky sampling. A fleet decides "is this customer shadowed?" with
//! this function on every instance; if a release changed it, every instance would reshuffle its
//! sample at the next deploy. These values must never change.
//!
//! The function (also in docs/guide/safety.md and `parallel_run::sticky`):
//!
//! ```text
//! seed = XXH3_64bits(experiment name)
//! hash = XXH3_64bits_withSeed(key bytes, seed)      strings: UTF-8; integers: 8 bytes LE of u64/i64
//! in   = rate >= 1  or  hash < floor(rate * 2^64)
//! ```
//!
//! The seeds and hashes below were cross-checked against the C reference implementation through
//! python-xxhash (`xxhash.xxh3_64_intdigest(b"customer-1", seed=xxhash.xxh3_64_intdigest(b"payments::process"))`).

use parallel_run::sticky::{experiment_seed, is_sampled, key_hash};

#[test]
fn seeds() {
    assert_eq!(experiment_seed("payments::process"), 0xa699_fe5c_5e20_1c83);
    assert_eq!(experiment_seed("ledger.balance"), 0x302c_a148_a616_4a29);
}

#[test]
fn hashes_of_string_and_integer_keys() {
    let p = experiment_seed("payments::process");
    let l = experiment_seed("ledger.balance");
    for (seed, key, hash) in [
        (p, "customer-1", 0xfae4_7c52_fe19_73cbu64),
        (p, "customer-2", 0x2c7a_0104_2abc_2c47),
        (p, "", 0xa5c3_5c73_f8f2_3bda),
        (l, "customer-1", 0x0e00_9985_39e1_a5e9),
        (l, "customer-2", 0xfb7f_b753_182d_2a0a),
        (l, "", 0x94e8_3247_bb73_f8ff),
    ] {
        assert_eq!(key_hash(key, seed), hash, "{key:?}");
        assert_eq!(key_hash(&key.to_owned(), seed), hash, "String {key:?}");
        assert_eq!(key_hash(key.as_bytes(), seed), hash, "bytes {key:?}");
    }
    for (seed, key, hash) in [
        (p, 0u64, 0xf3e8_6e78_ed1b_0e4bu64),
        (p, 42, 0x0e58_0e07_46e0_a59b),
        (p, 1_000_000_007, 0x2d52_1c51_1482_84e7),
        (l, 0, 0x201c_d6fe_0dae_2c42),
        (l, 42, 0xd365_a676_9935_0a20),
        (l, 1_000_000_007, 0x981b_4938_5bd9_b3d1),
    ] {
        assert_eq!(key_hash(&key, seed), hash, "{key}");
        // Integers are keyed by value: the width of the field does not matter.
        assert_eq!(key_hash(&(key as u32), seed), hash, "{key} as u32");
        assert_eq!(key_hash(&(key as i64), seed), hash, "{key} as i64");
    }
}

#[test]
fn decisions() {
    for (exp, key, rate, inside) in [
        ("payments::process", "customer-1", 0.1, false),
        ("payments::process", "customer-1", 0.5, false),
        ("payments::process", "customer-1", 0.9, false),
        ("payments::process", "customer-2", 0.1, false),
        ("payments::process", "customer-2", 0.5, true),
        ("payments::process", "customer-2", 0.9, true),
        ("payments::process", "customer-3", 0.1, false),
        ("payments::process", "customer-3", 0.5, true),
        ("payments::process", "customer-4", 0.5, false),
        ("payments::process", "customer-4", 0.9, true),
        ("ledger.balance", "customer-1", 0.1, true),
        ("ledger.balance", "customer-2", 0.9, false),
        ("ledger.balance", "customer-3", 0.1, false),
        ("ledger.balance", "customer-3", 0.5, true),
        ("ledger.balance", "customer-4", 0.9, false),
    ] {
        assert_eq!(is_sampled(exp, key, rate), inside, "{exp} {key} {rate}");
    }
    // The edges: rate 1 takes every key, rate 0 none.
    assert!(is_sampled("payments::process", "customer-1", 1.0));
    assert!(!is_sampled("ledger.balance", "customer-1", 0.0));
}

#[test]
fn a_key_in_at_a_rate_stays_in_at_every_higher_rate() {
    // Ramping a sticky experiment up only adds keys: nobody who was shadowed drops out.
    for id in 0..2000u64 {
        let mut was_in = false;
        for step in 0..=20 {
            let now_in = is_sampled("payments::process", &id, step as f64 / 20.0);
            assert!(
                !was_in || now_in,
                "key {id} dropped out at rate {}",
                step as f64 / 20.0
            );
            was_in = now_in;
        }
    }
}
