//! **Judge**: whether two results agree, and how they differ. The comparator trait, its verdict
//! and the default `PartialEq` comparison with its `Debug` diff (`compare`), structural diffs of
//! serde values (`structural`), typed diffs of `#[derive(ShadowCompare)]` types (`typed`), the
//! noise a primary shows against itself (`noise`), diff paths and their patterns (`paths`), and
//! the timestamps `within` reads (`time`).
//!
//! May use: `sync`, and within the folder `compare`, `paths` and `time` below the rest. A
//! comparator knows nothing of experiments, settings or outcomes.

pub mod compare;
pub mod noise;
pub(crate) mod paths;
pub mod structural;
pub(crate) mod time;
pub mod typed;
