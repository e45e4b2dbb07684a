use super::*;

fn d() -> Setting {
    Setting::defaults(0.3, None, DEFAULT_MAX_IN_FLIGHT)
}

#[test]
fn settings_parse() {
    let on = |sample| Setting { sample, ..d() };
    assert_eq!(parse_setting("on", d()), Ok(on(0.3)));
    assert_eq!(
        parse_setting(" OFF ", d()),
        Ok(Setting {
            enabled: false,
            ..d()
        })
    );
    assert_eq!(parse_setting("0.25", d()), Ok(on(0.25)));
    assert_eq!(parse_setting("1", d()), Ok(on(1.0)));
    assert_eq!(parse_setting("0", d()), Ok(on(0.0)));
    assert_eq!(parse_setting("10%", d()), Ok(on(0.1)));
    assert_eq!(parse_setting("sample=0.5", d()), Ok(on(0.5)));
    assert_eq!(
        parse_setting("sample=0.5, enabled=off", d()),
        Ok(Setting {
            enabled: false,
            sample: 0.5,
            ..d()
        })
    );
    let s = parse_setting(
        "timeout=150ms,max_in_flight=8,breaker_cooldown=2s,breaker_ratio=0.2",
        d(),
    )
    .unwrap();
    assert_eq!(s.timeout, Some(Duration::from_millis(150)));
    assert_eq!(s.max_in_flight, 8);
    assert_eq!(s.breaker.cooldown, Duration::from_secs(2));
    assert_eq!(s.breaker.failure_ratio, 0.2);
    assert!(!parse_setting("breaker=off", d()).unwrap().breaker.enabled);
    assert_eq!(
        parse_setting(
            "timeout=off",
            Setting {
                timeout: Some(Duration::from_secs(1)),
                ..d()
            }
        )
        .unwrap()
        .timeout,
        None
    );
}

#[test]
fn bad_settings_say_why() {
    assert!(parse_setting("1.5", d())
        .unwrap_err()
        .contains("outside 0..=1"));
    assert!(parse_setting("-0.1", d()).unwrap_err().contains("outside"));
    assert!(parse_setting("NaN", d()).is_err());
    assert!(parse_setting("maybe", d()).unwrap_err().contains("`maybe`"));
    assert!(parse_setting("rate=0.1", d())
        .unwrap_err()
        .contains("unknown key `rate`"));
    assert!(parse_setting("sample", d()).is_err());
    assert!(parse_setting("120%", d()).is_err());
    assert!(parse_setting("max_in_flight=0", d())
        .unwrap_err()
        .contains("positive"));
    assert!(parse_setting("timeout=fast", d())
        .unwrap_err()
        .contains("timeout"));
    assert!(parse_setting("timeout=10", d())
        .unwrap_err()
        .contains("no unit"));
}

#[test]
fn a_key_given_twice_is_a_bad_value() {
    let e = parse_setting("sample=10%,sample=20%", d()).unwrap_err();
    assert!(e.contains("`sample` is given twice"), "{e}");
    assert!(
        parse_setting("timeout=1s, max_in_flight=3 ,timeout = 2s", d())
            .unwrap_err()
            .contains("`timeout` is given twice")
    );
    // Different keys are fine.
    assert!(parse_setting("sample=10%,ramp=20%", d()).is_ok());
}

#[test]
fn minus_zero_and_underflow_are_refused() {
    for bad in ["-0", "-0.0", "-0%", "sample=-0", "ramp=-0%"] {
        let e = parse_setting(bad, d()).unwrap_err();
        assert!(e.contains("minus sign"), "{bad}: {e}");
    }
    for bad in ["1e-400", "sample=1e-400", "5e-324%", "ramp=0.1e-330"] {
        let e = parse_setting(bad, d()).unwrap_err();
        assert!(e.contains("too small to tell from 0"), "{bad}: {e}");
    }
    // A true zero, however written, and a tiny rate that is not zero, are rates.
    for zero in ["0", "0.0", "0e5", "0%", "0.000e-400"] {
        assert_eq!(parse_setting(zero, d()).unwrap().sample, 0.0, "{zero}");
    }
    assert_eq!(parse_setting("1e-300", d()).unwrap().sample, 1e-300);
}

#[test]
fn durations_that_overflow_are_refused_alike() {
    for long in [
        "18446744073709551615m",
        "99999999999999999999s",
        "18446744073709551615s",
        "18446744073709551616us",
        "307445734562min",
    ] {
        let e = parse_duration(long).unwrap_err();
        assert!(e.contains("too long"), "{long}: {e}");
        let e = parse_setting(&format!("timeout={long}"), d()).unwrap_err();
        assert!(e.starts_with("timeout: ") && e.contains("too long"), "{e}");
    }
    // The longest that fits, in each unit.
    assert_eq!(
        parse_duration("18446744073709551615us"),
        Ok(Duration::from_micros(u64::MAX))
    );
    assert_eq!(
        parse_duration("307445734561m"),
        Ok(Duration::from_secs(307_445_734_561 * 60))
    );
    assert!(parse_setting("max_in_flight=99999999999999999999", d())
        .unwrap_err()
        .contains("too large"));
}

#[test]
fn a_long_bad_value_is_quoted_short_with_its_length() {
    let huge = "x".repeat(120_000);
    for value in [
        huge.clone(),
        format!("sample={huge}"),
        format!("{huge}=1"),
        format!("timeout={huge}s"),
        format!("{huge}%"),
    ] {
        let why = parse_setting(&value, d()).unwrap_err();
        let msg = bad_value_message("PARALLEL_RUN__X", &value, &why, OFF);
        assert!(msg.len() < 600, "{} bytes: {}", msg.len(), &msg[..600]);
        assert!(
            msg.contains(&format!("({} characters in all)", value.chars().count())),
            "{msg}"
        );
    }
    // A short value is quoted whole.
    let msg = bad_value_message("PARALLEL_RUN", "maybe", "expected on or off", OFF);
    assert_eq!(
        msg,
        "ignoring bad value of PARALLEL_RUN=\"maybe\" (expected on or off); using the safe default: shadowing off"
    );
    // Cut on a character boundary.
    let wide = "é".repeat(150);
    assert!(bad_value_message("V", &wide, "w", OFF).contains("(150 characters in all)"));
}

#[test]
fn env_names_are_normalised() {
    assert_eq!(env_var_name("a::b::c"), "PARALLEL_RUN__A__B__C");
    assert_eq!(env_var_name("x y"), "PARALLEL_RUN__X_Y");
}
