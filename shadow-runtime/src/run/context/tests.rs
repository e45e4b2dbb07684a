use super::*;

#[test]
fn nesting_restores_the_outer_context() {
    enter_shadow("outer", WriteMode::DryRun, None, || {
        Run::served("inner", Some("k".into())).enter(|| {
            assert!(!in_shadow());
            assert_eq!(write_mode(), WriteMode::Production);
            assert_eq!(idempotency_key().as_deref(), Some("k"));
        });
        assert!(in_shadow());
        assert_eq!(write_mode(), WriteMode::DryRun);
    });
    assert!(current().is_none());
}

#[test]
fn a_panic_inside_restores_the_context() {
    let r = std::panic::catch_unwind(|| {
        enter_shadow("p", WriteMode::Refuse, None, || panic!("boom"));
    });
    assert!(r.is_err());
    assert!(!in_shadow());
}

#[test]
fn refusals_are_counted_with_the_first_target() {
    let mut run = Run::shadow("r", WriteMode::Refuse, None);
    run.enter(|| {
        assert!(guard_write("a").is_err());
        assert!(guard_write("b").is_err());
    });
    assert_eq!(run.refused(), Some((2, "a")));
    assert!(guard_write("a").is_ok());
    // Entered again (an async side's next poll): the count goes on.
    run.enter(|| assert!(guard_write("c").is_err()));
    assert_eq!(run.refused(), Some((3, "a")));
}

#[test]
fn a_context_handed_out_during_a_run_reports_its_refusals_to_the_run() {
    let mut run = Run::shadow("s", WriteMode::Refuse, Some("key-1".into()));
    let handed = run.enter(|| {
        assert!(guard_write("before").is_err());
        let c = current().unwrap();
        assert_eq!(c.idempotency_key(), Some("key-1"));
        assert!(guard_write("during").is_err());
        c
    });
    // Elsewhere (a spawned task carried by `scope`): still this run's refusals.
    std::thread::spawn(move || handed.enter(|| assert!(guard_write("spawned").is_err())))
        .join()
        .unwrap();
    assert_eq!(run.refused(), Some((3, "before")));
    assert!(current().is_none());
    assert_eq!(idempotency_key(), None);
}

#[test]
fn keys_nest_and_come_back() {
    Run::served("outer", Some("outer-key".into())).enter(|| {
        enter_shadow("inner", WriteMode::Refuse, None, || {
            assert_eq!(idempotency_key(), None);
            let _ = current(); // makes the inner frame shared
        });
        assert_eq!(idempotency_key().as_deref(), Some("outer-key"));
        assert_eq!(current().unwrap().experiment(), "outer");
    });
    assert_eq!(idempotency_key(), None);
}

#[test]
fn a_frame_keeps_every_combination_of_its_flags() {
    let modes = [
        WriteMode::Production,
        WriteMode::Refuse,
        WriteMode::DryRun,
        WriteMode::Separate,
    ];
    for role in [Role::Served, Role::Shadow] {
        for writes in modes {
            for keyed in [false, true] {
                for shared in [false, true] {
                    let f = Frame::new("f", role, writes, keyed, shared);
                    assert_eq!(
                        (f.role(), f.writes(), f.keyed(), f.shared()),
                        (role, writes, keyed, shared)
                    );
                }
            }
        }
    }
}

#[test]
fn a_refused_write_in_a_plain_frame_gives_the_run_a_shared_context() {
    let mut run = Run::shadow("plain", WriteMode::DryRun, None);
    assert!(run.shared.is_none());
    run.enter(|| assert!(guard_write("x").is_err()));
    assert!(run.shared.is_some());
    // The context handed out later in the run is the one the refusal went to.
    let c = run.enter(|| current().unwrap());
    assert_eq!((c.experiment(), c.writes()), ("plain", WriteMode::DryRun));
    run.enter(|| assert!(guard_write("y").is_err()));
    assert_eq!(run.refused(), Some((2, "x")));
    assert!(!in_shadow());
}
