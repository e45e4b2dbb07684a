//! **Run**: running the two sides of a call. Two layers share the folder:
//!
//! - the leaves every stage uses: time (`clock`: the time-stamp counter and `Took`; `timer`: the
//!   one thread for deadlines and the housekeeping registered with it), panic isolation
//!   (`isolation`) and the shadow context a candidate runs in (`context`). They use nothing of
//!   the runtime but `sync`.
//! - the execution: the shadow lane (`lane`: its runtime, priority, admission and CPU budget) and
//!   its worker pool (`pool`), which use `decide`; and the paths of one call, inline and
//!   detached, sync and async (`exec`), which use everything below them, the experiment
//!   included.

pub(crate) mod clock;
pub mod context;
pub(crate) mod exec;
pub(crate) mod isolation;
pub mod lane;
pub(crate) mod pool;
pub(crate) mod timer;
