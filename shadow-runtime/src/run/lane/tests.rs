use super::*;

#[test]
fn budgets_parse() {
    assert_eq!(parse_budget("0.5"), Ok(Some(0.5)));
    assert_eq!(parse_budget("50%"), Ok(Some(0.5)));
    assert_eq!(parse_budget("2"), Ok(Some(2.0)));
    assert_eq!(parse_budget("OFF"), Ok(None));
    assert!(parse_budget("0").is_err());
    assert!(parse_budget("-1").is_err());
    assert!(parse_budget("lots").unwrap_err().contains("cores"));
    assert!(parse_budget("NaN").is_err());
}

#[test]
fn a_lane_thread_runs_at_a_lower_priority_and_in_shadow() {
    let got = std::thread::spawn(|| {
        enter_lane_thread();
        (
            crate::run::context::on_lane(),
            crate::run::context::in_shadow(),
        )
    })
    .join()
    .unwrap();
    assert_eq!(got, (true, true));
    assert!(!crate::run::context::on_lane());
    #[cfg(target_os = "linux")]
    assert_eq!(Priority::from_u8(PRIORITY.load(Relaxed)), Priority::Idle);
}
