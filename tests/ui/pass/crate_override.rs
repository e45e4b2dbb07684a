//! `crate = "..."`: the generated code names the runtime through the given path. The `shim`
//! module re-exports the runtime but replaces `default_comparator`, so the test can tell that the
//! expansion went through `shim` and not through `::parallel_run`.

extern crate parallel_run as pr;

use std::sync::atomic::{AtomicU32, Ordering};

mod shim {
    pub mod __private {
        pub use pr::__private::*;

        pub static USED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

        // Shadows the glob import above.
        pub fn default_comparator<T: DefaultComparable + ?Sized>() -> pr::DefaultComparator {
            USED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            pr::DefaultComparator
        }
    }
}

#[pr::parallel_run(candidate = square_v2, crate = "shim", mode = inline)]
fn square(x: u64) -> u64 {
    x * x
}

fn square_v2(x: u64) -> u64 {
    x.pow(2)
}

static V2_CALLS: AtomicU32 = AtomicU32::new(0);

#[pr::parallel_run(candidate = cube_v2, crate = "::pr", mode = inline, name = "ui::cube")]
fn cube(x: u64) -> u64 {
    x * x * x
}

fn cube_v2(x: u64) -> u64 {
    V2_CALLS.fetch_add(1, Ordering::SeqCst);
    x.pow(3)
}

fn main() {
    assert_eq!(square(3), 9);
    assert_eq!(shim::__private::USED.load(Ordering::SeqCst), 1, "expanded through `shim`");

    assert_eq!(cube(2), 8);
    assert_eq!(V2_CALLS.load(Ordering::SeqCst), 1);
    let s = pr::snapshot::experiment("ui::cube").unwrap();
    assert_eq!(s.counts.get(pr::Outcome::Match), 1);
}
