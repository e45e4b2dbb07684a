use std::sync::atomic::Ordering;

use no_shadow_check::{risky, total, CANDIDATE_RUNS};

#[test]
fn no_shadow_leaves_the_plain_functions() {
    // Even with the environment asking for shadowing, nothing runs beside the primary.
    for i in 0..1000u64 {
        assert_eq!(total(&[i, 1]), i + 1);
        assert_eq!(risky(i as u32), i as u32);
    }
    assert!(parallel_run::wait_idle(std::time::Duration::from_secs(5)));
    assert_eq!(CANDIDATE_RUNS.load(Ordering::SeqCst), 0);
    // Nothing is registered or counted: the shadow path is not compiled in.
    assert!(parallel_run::snapshot().is_empty());
}
