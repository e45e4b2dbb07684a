//! Keeping the candidate's failures away from the caller: a panic hook that stays quiet for
//! panics raised inside a candidate or a comparator (they are caught, counted and logged through
//! `tracing` with their message and location), and passes every other panic to the hook that was
//! installed before.
//!
//! The hook is installed at the first shadowed call. A hook the application installs later
//! replaces it; candidate panics are then printed by that hook, and still caught and counted.

use std::cell::{Cell, RefCell};
use std::panic::PanicHookInfo;
use std::sync::Once;

thread_local! {
    static INSIDE: Cell<u32> = const { Cell::new(0) };
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the filtering hook once per process.
pub(crate) fn install_hook() {
    static ONCE: Once = Once::new();
    if std::thread::panicking() {
        return; // set_hook would panic; try again at the next shadowed call
    }
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            if INSIDE.try_with(Cell::get).unwrap_or(0) > 0 {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                let _ = LOCATION.try_with(|c| *c.borrow_mut() = at);
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f` marked as shadow code: a panic inside it is not printed by the hook, and its location
/// is kept for [`take_location`].
///
/// Inlined: a comparator's verdict returned from an out-of-line call is read back through memory
/// (a store-forwarding stall on every compared call, seen with `perf annotate`).
#[inline(always)]
pub(crate) fn quietly<R>(f: impl FnOnce() -> R) -> R {
    struct Guard;
    impl Drop for Guard {
        #[inline(always)]
        fn drop(&mut self) {
            let _ = INSIDE.try_with(|c| c.set(c.get().saturating_sub(1)));
        }
    }
    let _ = INSIDE.try_with(|c| c.set(c.get() + 1));
    let _g = Guard;
    f()
}

/// The location of the last quiet panic on this thread, if any.
pub(crate) fn take_location() -> Option<String> {
    LOCATION.try_with(|c| c.borrow_mut().take()).ok().flatten()
}
