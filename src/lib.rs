//! # parallel-run
//!
//! The *Parallel Run* pattern (shadow testing, dark launching) for Rust. Keep the legacy
//! implementation as the source of truth, run the rewrite beside it on real calls, compare the two
//! results, record every discrepancy, and return only the legacy result. One attribute on the
//! legacy function does it; once the match rate has stayed at your target long enough, a ramp
//! hands the calls to the rewrite.
//!
//! ## Quickstart
//!
//! The crate is not published on crates.io yet. Depend on a checkout of its repository by path,
//! or on the repository by git (the URL of your clone; add `branch`, `tag` or `rev` to pick a
//! commit):
//!
//! ```toml
//! [dependencies]
//! parallel-run = { path = "../parallel-run" }  # a checkout of the repository
//! # parallel-run = { git = "<url of your clone>" }  # or the git form
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! ```rust
//! use parallel_run::{parallel_run, Outcome};
//!
//! // The legacy code, the source of truth: a 2.9% fee in cents, rounded down.
//! #[parallel_run(candidate = fee_v2, name = "billing::fee")]
//! async fn fee(amount_cents: u64) -> u64 {
//!     amount_cents * 29 / 1000
//! }
//!
//! // The rewrite, same signature: rounds half up, so it differs on some amounts.
//! async fn fee_v2(amount_cents: u64) -> u64 {
//!     (amount_cents * 29 + 500) / 1000
//! }
//!
//! #[tokio::main]
//! async fn main() {
//!     for amount in [1_000, 1_050, 2_500, 9_999] {
//!         // Always the legacy result. The rewrite runs after it, off the caller's path.
//!         println!("fee({amount}) = {}", fee(amount).await);
//!     }
//!
//!     parallel_run::snapshot::idle().await; // wait for the rewrite's runs (tests, demos, shutdown)
//!     let s = parallel_run::snapshot::experiment("billing::fee").expect("called");
//!     println!(
//!         "shadowed {} of {} calls: {} match, {} mismatch",
//!         s.shadowed,
//!         s.calls(),
//!         s.counts.get(Outcome::Match),
//!         s.counts.get(Outcome::Mismatch),
//!     );
//!     for d in &s.discrepancies {
//!         println!("{}", d.detail);
//!     }
//! }
//! ```
//!
//! `cargo run` prints the legacy fees, then what the parallel run found: the rewrite differs on
//! 2,500 and 9,999 cents (the two discrepancies may come in either order: the rewrite's runs are
//! detached, and finish in any order).
//!
//! ```text
//! fee(1000) = 29
//! fee(1050) = 30
//! fee(2500) = 72
//! fee(9999) = 289
//! shadowed 4 of 4 calls: 2 match, 2 mismatch
//! primary:   72
//! candidate: 73
//! primary:   289
//! candidate: 290
//! ```
//!
//! From there: the [attribute's arguments](macro@parallel_run) (sampling, timeouts, comparators,
//! modes), [comparators](guide::comparators) for results that differ in ways that do not matter,
//! and the [observability](guide::observability) page for production, where metrics, logs and a
//! discrepancy log replace the snapshot.
//!
//! ## Guarantees
//!
//! - **The caller gets exactly what the legacy code returned**, its errors and panics included.
//!   A panic of the candidate, the comparator or a helper (`run_if`, `context`, `clean`, ...) is
//!   caught and counted, never seen by the caller (`idempotency_key` excepted: it is computed for
//!   the legacy code too, so it is production code).
//! - **The candidate runs off the caller's threads** by default, on the [shadow
//!   lane](guide::modes#the-shadow-lane): its own threads at the lowest OS priority, a bounded
//!   queue and a CPU budget. A call it cannot take is shed; the caller never waits.
//! - **Bounded**: a deadline per candidate (5 s by default), at most 64 shadow runs per experiment
//!   at once, a circuit breaker, a kill switch (`PARALLEL_RUN=off`), sampling (`sample = 0.01`).
//! - **Cheap when skipped**: a call that is off or sampled out reads one atomic word and allocates
//!   nothing: +1.52 and +1.90 ns a call in a loop of independent calls, +0.00 when each call
//!   waits for the previous one's result ([performance](guide::performance)).
//! - **Every call is counted once**: each lands in exactly one [`Outcome`], and the counts add up
//!   ([`ExperimentSnapshot::lost`] is 0).
//! - **Shadow writes are refused** by default: [`guard_write`] in the data layer returns an error
//!   in shadow context, and the call is counted as `write_refused`.
//!
//! It cannot isolate the candidate's other side effects, the candidate's time in `mode = inline`,
//! or a candidate that aborts the process ([production safety](guide::safety)).
//!
//! ## The guide
//!
//! | page | what it covers |
//! |---|---|
//! | [`#[parallel_run]`](macro@parallel_run) | the attribute: every argument, what it expands to, the compile errors |
//! | [`guide::modes`] | execution modes (`detached`, `inline`) and the shadow lane detached candidates run on |
//! | [`guide::comparators`] | `Comparator` and `Verdict`, structural diffs, `#[derive(ShadowCompare)]` |
//! | [`guide::outcomes`] | what every call is counted as, and the match rate |
//! | [`guide::configuration`] | environment variables, the configuration file, live configuration |
//! | [`guide::safety`] | timeouts, shedding, the circuit breaker, sticky sampling; the isolation guarantees |
//! | [`guide::cutover`] | safe writes (the shadow context), the ramp, the promotion gate, the deadline |
//! | [`guide::strict`] | strict mode, differential tests, noise cancellation, replay of production discrepancies |
//! | [`guide::scientist`] | Scientist's API, mapped |
//! | [`guide::observability`] | the discrepancy log, the report, metrics, logs and the snapshot API |
//! | [`guide::fleet`] | many instances: one configuration file, the same decision everywhere, the dashboard and alerts, the fleet-wide gate |
//! | [`guide::http`] | rewritten services: the tower layer, the reverse proxy (`parallel-run proxy`), response comparison |
//! | [`guide::performance`] | what a call costs, the load run, what comparing results costs, with the commands that measured them |
//! | [`guide::limits`] | what the library does not do today |
//!
//! ## The API
//!
//! | module | what it holds |
//! |---|---|
//! | [`snapshot`](mod@snapshot) | reading the outcomes in-process: [`snapshot::experiment`], [`snapshot::idle`], [`wait_idle`] |
//! | [`live`] | changing an experiment's settings while the process runs: rate, timeout, ramp, gate, strict |
//! | [`config`] | the environment variables, the kill switch, strict mode's global switch |
//! | [`compare`], [`structural`], [`typed`] | comparators: [`Comparator`], [`Verdict`], path-level diffs of serde values and of `#[derive(ShadowCompare)]` types |
//! | [`outcome`] | [`Outcome`], the [`Discrepancy`] records, the internal-error hook |
//! | [`publish`] | publishers and the JSON-lines discrepancy log the `parallel-run report` command reads |
//! | [`context`] | the shadow context a data layer asks: [`in_shadow`], [`guard_write`], [`context::pick`] |
//! | [`cutover`], [`sticky`], [`breaker`], [`noise`] | the ramp and the promotion gate, sticky sampling, the circuit breaker, noise cancellation |
//! | [`lane`] | the shadow lane's state and its live bounds |
//! | [`testing`] | differential tests and the replay of production discrepancies in `cargo test` |
//! | [`manual`] | shadowing by hand, where a function cannot carry the attribute |
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod guide;

pub use shadow_runtime::{
    breaker, compare, config, context, cutover, global_enabled, guard_write, in_shadow, lane, live,
    manual, noise, outcome, publish, reload_from_env, set_global_enabled, snapshot, sticky,
    structural, testing, wait_idle, BreakerConfig, BreakerState, Comparator, DefaultComparator,
    Discrepancy, Experiment, ExperimentSnapshot, Mode, Order, Outcome, OutcomeCounts, Verdict,
    WriteMode, WriteRefused,
};

/// Runs a candidate implementation beside this function on sampled calls, compares the two
/// results, records the outcome and returns this function's own result unchanged.
///
#[doc = guide::links!()]
#[doc = include_str!("../docs/guide/attribute.md")]
pub use shadow_macros::parallel_run;

pub use shadow_runtime::typed;
pub use shadow_runtime::typed::ShadowCompare;

/// HTTP (cargo feature `http`): [`http::ParallelRunLayer`], a tower layer that mirrors sampled
/// requests to a rewritten service and compares the responses, and [`http::proxy`], a reverse
/// proxy built on it. The same experiments, outcomes, environment variables, live API, metrics
/// and discrepancy log as functions.
///
/// ```
/// use parallel_run::http::{route::Route, Candidate, ParallelRunLayer};
/// let layer = ParallelRunLayer::new(Candidate::remote("http://127.0.0.1:9002").unwrap())
///     .route(Route::builder("pricing::quote").prefix("/v1/quote").settings("sample=10%").build());
/// assert_eq!(layer.routes().len(), 1);
/// ```
#[cfg(feature = "http")]
pub use shadow_http as http;

/// Derives [`ShadowCompare`](trait@ShadowCompare): a typed, path-level diff of two values,
/// without serialising them, for the [`typed::Typed`] comparator and [`typed::diff`].
///
/// ```
/// use parallel_run::{typed, ShadowCompare};
///
/// #[derive(ShadowCompare)]
/// struct Line {
///     sku: String,
///     #[shadow(tolerance = 0.005)]
///     amount: f64,
/// }
///
/// #[derive(ShadowCompare)]
/// enum Status {
///     Paid { at_ms: u64 },
///     Refunded,
/// }
///
/// #[derive(ShadowCompare)]
/// struct Invoice {
///     id: u64,
///     lines: Vec<Line>,
///     status: Status,
///     #[shadow(ignore)]
///     generated_at: u64,
///     #[shadow(sensitive)]
///     card: String,
/// }
///
/// let a = Invoice {
///     id: 1,
///     lines: vec![Line { sku: "A".into(), amount: 10.0 }, Line { sku: "B".into(), amount: 30.0 }],
///     status: Status::Paid { at_ms: 5 },
///     generated_at: 1,
///     card: "4111".into(),
/// };
/// let b = Invoice {
///     id: 1,
///     lines: vec![Line { sku: "A".into(), amount: 10.001 }, Line { sku: "B".into(), amount: 31.0 }],
///     status: Status::Refunded,
///     generated_at: 2,
///     card: "4242".into(),
/// };
/// let d = typed::diff(&a, &b);
/// let lines: Vec<String> = d.entries.iter().map(ToString::to_string).collect();
/// assert_eq!(lines, [
///     "$.lines[1].amount: 30.0 -> 31.0",
///     r#"$.status: "Paid" -> "Refunded""#,
///     r#"$.card: "***" -> "***""#,
/// ]);
/// assert_eq!(d.tolerated, ["$.lines[0].amount"]);
/// assert_eq!(d.ignored, ["$.generated_at"]);
/// ```
///
/// # Paths
///
/// As [`structural::Structural`] names them on the serde form of the same type: `.field`,
/// `[i]` for elements and for the fields of a tuple struct, `.key` for map entries, `.Variant`
/// for the data of an enum variant (`$.status.Paid.at_ms`). A newtype (`struct Cents(i64)`) is
/// transparent. Two different variants are one difference at the enum's path, shown as the
/// variant names.
///
/// # Field attributes
///
/// | attribute | effect |
/// |---|---|
/// | `#[shadow(ignore)]` | a difference anywhere in the field is recorded once, at its path, in `Diff::ignored`: acceptable, not a mismatch |
/// | `#[shadow(tolerance = 0.005)]` | numbers (integers and floats) in the field within this absolute difference are tolerated |
/// | `#[shadow(relative = 1e-9)]` | the same, relative to the larger magnitude; combines with `tolerance` (either suffices) |
/// | `#[shadow(within = "2s")]` | times at most this far apart are tolerated: `SystemTime`, `Duration`, integers read as epoch milliseconds, strings that are RFC 3339 timestamps on both sides; units `ns`, `us`, `ms`, `s`, `m`, `h` |
/// | `#[shadow(unordered)]` | the field's sequence (`Vec`, slice, array, `VecDeque`) is compared as a multiset; differences are at `.*` |
/// | `#[shadow(trim)]` | strings compared without surrounding whitespace |
/// | `#[shadow(nfc)]` | strings compared after Unicode NFC normalisation |
/// | `#[shadow(sensitive)]` | every value in the field is shown as `"***"` |
/// | `#[shadow(missing_as_null)]` | a map or JSON object key one side lacks, where the other holds `null` (`None`), is tolerated; any other change still counts |
/// | `#[shadow(missing_as_empty)]` | the same for an empty array or object (an empty `Vec`, map or set) |
/// | `#[shadow(eq)]` | for a type without `ShadowCompare` (another crate's): compared with `PartialEq`, shown with `Debug` |
///
/// The options reach everything inside the field (a tolerance on `Vec<Line>` applies to every
/// number of every line) unless a field further down sets its own. `ignore` and `eq` exclude the
/// comparison options. Mistakes are compile errors at the offending token: unknown or repeated
/// keys, a `tolerance` that is not a non-negative number, a `within` that is not a duration.
///
/// On the type, `#[shadow(crate = "::my_reexport::parallel_run")]` names the runtime when
/// `parallel_run` is re-exported under another name. Every type parameter gets a
/// `T: ShadowCompare` bound.
///
/// Through the attribute, `compare = parallel_run::typed::Typed`:
///
/// ```
/// use parallel_run::{parallel_run, ShadowCompare};
///
/// #[derive(Debug, Clone, ShadowCompare)]
/// struct Quote { cents: i64, #[shadow(within = "250ms")] at_ms: u64 }
///
/// #[parallel_run(candidate = quote_v2, compare = parallel_run::typed::Typed, mode = inline, name = "docs::quote")]
/// fn quote(cents: i64) -> Quote { Quote { cents, at_ms: 1_000 } }
///
/// fn quote_v2(cents: i64) -> Quote { Quote { cents, at_ms: 1_100 } }
///
/// assert_eq!(quote(5).cents, 5);
/// let s = parallel_run::snapshot::experiment("docs::quote").unwrap();
/// assert_eq!(s.counts.get(parallel_run::Outcome::Acceptable), 1);
/// ```
pub use shadow_macros::ShadowCompare;

/// Items used by the code `#[parallel_run]` and `#[derive(ShadowCompare)]` generate. Not public
/// API.
#[doc(hidden)]
pub mod __private {
    pub use shadow_runtime::__private::*;
    pub use shadow_runtime::typed::__derive as typed;
}
