//! `#[shadow(crate = "...")]`: the generated impl names the runtime through the given path. The
//! `shim` module re-exports the runtime but replaces `redacted`, so the test can tell that the
//! expansion went through `shim` and not through `::parallel_run`.

extern crate parallel_run as pr;

use std::sync::atomic::Ordering;

mod shim {
    pub mod __private {
        pub use pr::__private::*;

        pub mod typed {
            pub use pr::__private::typed::*;

            pub static USED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

            // Shadows the glob import above.
            pub fn redacted() -> Value {
                USED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                pr::__private::typed::redacted()
            }
        }
    }
}

#[derive(pr::ShadowCompare)]
#[shadow(crate = "shim")]
struct Card {
    #[shadow(sensitive)]
    number: String,
}

#[derive(pr::ShadowCompare)]
#[shadow(crate = "::pr")]
struct Plain(u8);

fn main() {
    let v = pr::ShadowCompare::shadow_value(&Card { number: "4111".into() });
    assert_eq!(v.to_string(), r#"{"number":"***"}"#);
    assert_eq!(shim::__private::typed::USED.load(Ordering::SeqCst), 1, "expanded through `shim`");
    assert_eq!(pr::typed::diff(&Plain(1), &Plain(2)).entries[0].to_string(), "$: 1 -> 2");
}
