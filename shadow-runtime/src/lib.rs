//! Runtime of [`parallel-run`](https://docs.rs/parallel-run): everything the `#[parallel_run]`
//! attribute calls into.
//!
//! Users depend on the `parallel-run` facade crate, which re-exports this crate's public API next to
//! the attribute. The modules are split by concern:
//!
//! | module | concern |
//! |---|---|
//! | [`config`] | environment variables, the global kill switch, per-experiment settings |
//! | `sampling` | the per-thread random source and the skip counters of the hot path |
//! | [`experiment`] | the per-function [`Experiment`] and the per-call decision |
//! | `isolation` | the panic hook that keeps caught candidate panics quiet |
//! | `exec` | running the candidate: inline, or detached on the shadow lane |
//! | [`noise`] | noise cancellation: what the primary's second runs taught, and judging a difference against it |
//! | [`lane`] | the shadow lane: the runtime and worker pool detached candidates run on, at the lowest OS priority, bounded by a queue and a run-time budget |
//! | [`context`] | the shadow context: `in_shadow`, write guards, dry runs, separate stores, idempotency keys |
//! | [`cutover`] | the ramp, its promotion gate, the deadline |
//! | [`compare`] | [`Comparator`], [`Verdict`], the default `PartialEq` comparator and the `Debug` diff |
//! | [`outcome`] | [`Outcome`] and the retained [`Discrepancy`] records |
//! | `observe` | `metrics` counters and histograms, `tracing` events |
//! | [`snapshot`](mod@snapshot) | the in-process snapshot API used by tests, examples and dashboards |
//!
//! ```
//! // Nothing has run yet in this process, so no experiment is registered.
//! assert!(shadow_runtime::snapshot::snapshot().is_empty());
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod breaker;
mod clock;
pub mod compare;
pub mod config;
pub mod context;
pub mod cutover;
pub mod exec;
pub mod experiment;
mod isolation;
pub mod lane;
pub mod live;
pub mod noise;
mod observe;
pub mod outcome;
mod pool;
pub mod publish;
mod rfc3339;
mod sampling;
pub mod snapshot;
pub mod sticky;
pub mod structural;
mod sync;
pub mod testing;
mod timer;
pub mod typed;

#[doc(hidden)]
pub mod __private;

pub use breaker::{BreakerConfig, BreakerState};
pub use compare::{Comparator, DefaultComparator, Verdict};
pub use config::{global_enabled, set_global_enabled, Mode, Order};
pub use context::{guard_write, in_shadow, WriteMode, WriteRefused};
pub use experiment::Experiment;
pub use live::reload_from_env;
pub use outcome::{Discrepancy, Outcome};
pub use snapshot::{snapshot, wait_idle, ExperimentSnapshot, OutcomeCounts};
