//! **Decide**: whether a call is shadowed, and on what terms. The circuit breaker's and the
//! cutover's state machines (`breaker`, `cutover`), the per-thread counters and random source of
//! the hot path (`sampling`), sticky sampling by key (`sticky`), the settings (`config`: the
//! environment, the attribute's defaults, the kill switch, live changes kept for functions that
//! have not run yet, the configuration file), and the fleet-wide gate's source (`fleet`: the
//! Prometheus queries, on a thread of their own).
//!
//! May use: `sync`, `judge`, `record::outcome` (the outcome names) and the leaves of `run`
//! (`clock`, `isolation`, `timer`, `context`). Never the experiment, which reads its state from
//! here.

pub mod breaker;
pub mod config;
pub mod cutover;
pub(crate) mod fleet;
pub(crate) mod sampling;
pub mod sticky;
