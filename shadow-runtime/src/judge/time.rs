//! RFC 3339 timestamps, parsed and formatted by hand (no date crate): `Structural::within` reads
//! them, the typed differ reads them under `within` and renders `SystemTime` with them. Kept by
//! hand: the cheapest crate with the same grammar (chrono, with num-traits) would add about 2 s
//! of CPU to a clean `-j 1` build of this crate and its dependencies (about 20 s) for some 120
//! lines of arithmetic; the tests check these against chrono's.
//!
//! Accepted: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`, with `t` or a space for `T` and
//! `z` for `Z` (RFC 3339 §5.6 and its note on the separator). A leap second (`:60`) is read as
//! the first instant of the next minute. Fractions beyond nanoseconds are truncated.

/// Nanoseconds since the Unix epoch (negative before it), or `None` when `s` is not an RFC 3339
/// timestamp.
pub(crate) fn parse(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |at: usize, len: usize| -> Option<i64> {
        let digits = b.get(at..at + len)?;
        digits.iter().try_fold(0i64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let year = num(0, 4)?;
    let month = num(5, 2)?;
    let day = num(8, 2)?;
    let hour = num(11, 2)?;
    let minute = num(14, 2)?;
    let second = num(17, 2)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut at = 19;
    let mut nanos: i128 = 0;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 9 {
                nanos = nanos * 10 + i128::from(b[at] - b'0');
            }
            at += 1;
        }
        let digits = at - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..9 {
            nanos *= 10;
        }
    }
    let offset_secs = match b.get(at)? {
        b'Z' | b'z' if at + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if at + 6 == b.len() && b[at + 3] == b':' => {
            let (h, m) = (num(at + 1, 2)?, num(at + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let off = h * 3600 + m * 60;
            if *sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_secs;
    Some(i128::from(secs) * 1_000_000_000 + nanos)
}

/// `nanos` since the Unix epoch in UTC, as `2026-11-27T10:00:00.123Z` (no fraction for whole
/// seconds, else 3, 6 or 9 digits); `None` outside years 0000..=9999.
pub(crate) fn format(nanos: i128) -> Option<String> {
    let secs = i64::try_from(nanos.div_euclid(1_000_000_000)).ok()?;
    let frac = nanos.rem_euclid(1_000_000_000) as u32;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return None;
    }
    let (hh, mm, ss) = (rem / 3600, rem / 60 % 60, rem % 60);
    let fraction = match frac {
        0 => String::new(),
        f if f % 1_000_000 == 0 => format!(".{:03}", f / 1_000_000),
        f if f % 1_000 == 0 => format!(".{:06}", f / 1_000),
        f => format!(".{f:09}"),
    };
    Some(format!(
        "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}{fraction}Z"
    ))
}

pub(crate) const fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

pub(crate) const fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub(crate) const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
pub(crate) const fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i128 = 1_000_000_000;

    #[test]
    fn parses_utc_offsets_and_fractions() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse("1970-01-01T00:00:01.5Z"), Some(S + S / 2));
        // 2026-11-27T10:00:00Z is 1_795_773_600 s after the epoch.
        let t = 1_795_773_600 * S;
        assert_eq!(parse("2026-11-27T10:00:00Z"), Some(t));
        assert_eq!(parse("2026-11-27T10:00:00.123Z"), Some(t + 123_000_000));
        assert_eq!(parse("2026-11-27T12:00:00+02:00"), Some(t));
        assert_eq!(parse("2026-11-27T07:30:00-02:30"), Some(t));
        assert_eq!(parse("2026-11-27t10:00:00z"), Some(t));
        assert_eq!(parse("2026-11-27 10:00:00Z"), Some(t));
        assert_eq!(
            parse("2026-11-27T10:00:00.1234567891Z"),
            Some(t + 123_456_789)
        );
        assert_eq!(parse("1969-12-31T23:59:59Z"), Some(-S));
        assert_eq!(parse("2016-12-31T23:59:60Z"), parse("2017-01-01T00:00:00Z"));
        assert_eq!(parse("2024-02-29T00:00:00Z").map(|n| n % S), Some(0));
    }

    #[test]
    fn rejects_what_is_not_rfc_3339() {
        for bad in [
            "",
            "2026-11-27",
            "2026-11-27T10:00:00",
            "2026-11-27T10:00Z",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-11-31T00:00:00Z",
            "2026-11-27T24:00:00Z",
            "2026-11-27T10:60:00Z",
            "2026-11-27T10:00:61Z",
            "2026-11-27T10:00:00.Z",
            "2026-11-27T10:00:00+0200",
            "2026-11-27T10:00:00+24:00",
            "2026-11-27T10:00:00Zjunk",
            "2026/11/27T10:00:00Z",
            "+026-11-27T10:00:00Z",
            "1795773600",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formats_and_round_trips() {
        assert_eq!(format(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(format(-S).unwrap(), "1969-12-31T23:59:59Z");
        for s in [
            "2026-11-27T10:00:00.123Z",
            "2000-02-29T23:59:59.000001Z",
            "1600-03-01T00:00:00.000000001Z",
            "9999-12-31T23:59:59Z",
            "0000-01-01T00:00:00Z",
        ] {
            assert_eq!(format(parse(s).unwrap()).as_deref(), Some(s));
        }
        assert_eq!(format(parse("9999-12-31T23:59:59Z").unwrap() + S), None);
    }

    /// chrono (a dev-dependency only: the runtime does not ship it) reads the same grammar
    /// (`t`/space separators, `z`, a leap second as the next minute's first instant, fractions
    /// truncated past nanoseconds, `±HH:MM` offsets up to 23:59): on strings near the grammar,
    /// both accept the same ones and read the same instant, and both format alike.
    #[test]
    fn parse_and_format_agree_with_chrono() {
        use chrono::{DateTime, SecondsFormat};
        use proptest::prelude::*;
        let near = "[0-9]{4}-[01][0-9]-[0-3][0-9][Tt x][0-2][0-9]:[0-6][0-9]:[0-6][0-9]\
                    (\\.[0-9]{0,12})?(Z|z|[+-][0-2][0-9]:[0-6][0-9]|[+-][0-9]{4}|)";
        proptest!(ProptestConfig::with_cases(5000), |(s in near)| {
            let theirs = DateTime::parse_from_rfc3339(&s).ok().map(|t| {
                i128::from(t.timestamp()) * S + i128::from(t.timestamp_subsec_nanos())
            });
            prop_assert_eq!(parse(&s), theirs, "{:?}", s);
        });
        let years_0_to_9999 = -62_167_219_200 * S..253_402_300_800 * S;
        proptest!(ProptestConfig::with_cases(5000), |(n in years_0_to_9999, whole in 0..4u8)| {
            // Whole seconds, milli-, micro- and nanoseconds, each a quarter of the cases.
            let n = n - n.rem_euclid([S, 1_000_000, 1_000, 1][usize::from(whole)]);
            let t = DateTime::from_timestamp(n.div_euclid(S) as i64, n.rem_euclid(S) as u32).unwrap();
            prop_assert_eq!(format(n), Some(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)));
        });
    }

    #[test]
    fn every_day_of_four_centuries_round_trips() {
        for days in -146_097 * 2..146_097 {
            let (y, m, d) = civil_from_days(days);
            assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
