//! Shadowing by hand, without the attribute: the per-function [`Experiment`], the
//! [`ShadowCall`] a sampled call becomes, the detached candidate's [`Pending`] handle, and the
//! probes that describe a result to the log ([`Probe`], [`Probes`], [`NoProbes`],
//! [`ByPartialEq`]).
//!
//! The attribute expands to these calls; use them directly where a function cannot carry the
//! attribute (a closure table, a trait object, a call site that picks the experiment at run time):
//!
//! ```
//! use shadow_runtime::manual::{Experiment, NoProbes};
//! use shadow_runtime::{DefaultComparator, Mode, Order, Outcome};
//!
//! static EXP: Experiment = Experiment::new("manual::double", 1.0, Mode::Inline, Order::PrimaryFirst);
//!
//! fn double(x: u32) -> u32 {
//!     let shadow = EXP.decide().map(|call| call.with_candidate(move || x << 1));
//!     let out = x * 2;
//!     if let Some(s) = shadow {
//!         s.finish_inline(&out, &DefaultComparator, NoProbes);
//!     }
//!     out
//! }
//!
//! assert_eq!(double(21), 42);
//! let snap = shadow_runtime::snapshot::experiment("manual::double").unwrap();
//! assert_eq!(snap.counts.get(Outcome::Match), 1);
//! ```

pub use crate::experiment::{Experiment, ShadowCall, DEFAULT_TIMEOUT_MS};
pub use crate::run::exec::{ByPartialEq, NoProbes, Pending, Probe, Probes};
