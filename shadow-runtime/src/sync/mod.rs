//! The runtime's small concurrent state machines, each in a file of its own that uses only the
//! primitives re-exported here, so that `tests/loom` can compile the same files against loom's
//! primitives and model-check them (`cargo test --manifest-path tests/loom/Cargo.toml`):
//!
//! | file | what must never go wrong |
//! |---|---|
//! | `capacity` | a capped count of held places (an experiment's concurrency slots, the lane's queue) never has more holders than its cap, and every place taken is given back |
//! | `claim` | a detached call is resolved exactly once: by its run, or by its deadline (which then marks the run abandoned, exactly once) |
//! | `probes` | a half-open circuit breaker lets through at most its probes |
//! | `gate` | the one word a call reads always ends up agreeing with the state it was computed from, whatever order concurrent changes publish in |
//! | `tally` | every addition by a tally's writer is handed on exactly once by readers taking turns, and a reader never hands on a count before its addition |

pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
pub(crate) use std::sync::Mutex;

pub(crate) mod capacity;
pub(crate) mod claim;
pub(crate) mod gate;
pub(crate) mod probes;
pub(crate) mod tally;
