//! **Record**: what happened to a call, and who hears of it. The outcomes and the discrepancy
//! records kept of them (`outcome`), metrics and `tracing` events (`observe`) and the duration
//! samples queued for the histograms (`pending`), what a snapshot
//! shows of an experiment (`view`), the waiters for idle (`idle`), and the publishers and the
//! JSON-lines discrepancy log (`publish`).
//!
//! May use: `sync`, `judge`, `decide` and the leaves of `run`. Never the experiment or the
//! execution paths, which call into it: emission takes an experiment's `Instruments` and plain
//! totals, and the log's summary lines come through a function the experiment layer registers.

pub(crate) mod idle;
pub(crate) mod observe;
pub mod outcome;
pub(crate) mod pending;
pub mod publish;
pub(crate) mod view;
