//! Runtime of [`parallel-run`](https://docs.rs/parallel-run): everything the `#[parallel_run]`
//! attribute calls into.
//!
//! Users depend on the `parallel-run` facade crate, which re-exports this crate's public API next to
//! the attribute. The crate is organised by the stages a call goes through, one folder each, and a
//! lower stage never uses a higher one (`tests/layers.rs` checks it on every build; ARCHITECTURE.md
//! at the repository's root draws the graph):
//!
//! | stage | what it holds |
//! |---|---|
//! | `sync` | the concurrency primitives (slot capacity, claims, the gate word, probes), model-checked by loom |
//! | `judge` | whether two results agree: [`compare`], [`structural`], [`typed`], [`noise`] |
//! | `decide` | whether a call is shadowed: [`config`], [`sticky`], [`breaker`], [`cutover`], sampling and the lane's admission |
//! | `run` (time, isolation) | the clock, the timer thread, the panic hook, the shadow [`context`] |
//! | `record` | what happened and who hears of it: [`outcome`], metrics and events, [`publish`] |
//! | `experiment` | the per-function state a call is decided, run and recorded against |
//! | `run` (execution) | the shadow [`lane`], its worker pool, and the inline and detached paths |
//! | top | [`snapshot`](mod@snapshot), [`live`], [`testing`], [`manual`] and the attribute's `__private` entry points |
//!
//! ```
//! // Nothing has run yet in this process, so no experiment is registered.
//! assert!(shadow_runtime::snapshot::snapshot().is_empty());
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod sync;

mod judge;

mod decide;

mod record;

mod experiment;

mod run;

pub mod live;
pub mod manual;
pub mod snapshot;
pub mod testing;

#[doc(hidden)]
pub mod __private;

pub use decide::{breaker, config, cutover, sticky};
pub use judge::{compare, noise, structural, typed};
pub use record::{outcome, publish};
pub use run::{context, lane};

pub use breaker::{BreakerConfig, BreakerState};
pub use compare::{Comparator, DefaultComparator, Verdict};
pub use config::{global_enabled, Mode, Order};
pub use context::{guard_write, in_shadow, WriteMode, WriteRefused};
pub use live::{reload_from_env, set_global_enabled};
pub use manual::Experiment;
pub use outcome::{Discrepancy, Outcome};
pub use snapshot::{snapshot, wait_idle, ExperimentSnapshot, OutcomeCounts};
