//! # parallel-run
//!
//! The *Parallel Run* pattern (shadow testing, dark launching) for Rust. Keep the legacy
//! implementation as the source of truth, run the rewrite beside it on real calls, compare the two
//! results, record every discrepancy, and return only the legacy result.
//!
//! ```
//! use parallel_run::parallel_run;
//!
//! #[parallel_run(candidate = total_v2, mode = inline)]
//! fn total(prices: &[u64]) -> u64 {
//!     prices.iter().sum()
//! }
//!
//! fn total_v2(prices: &[u64]) -> u64 {
//!     prices.iter().fold(0, |a, p| a + p)
//! }
//!
//! assert_eq!(total(&[1, 2, 3]), 6);
//! let snap = parallel_run::snapshot::experiment("rust_out::total").unwrap();
//! assert_eq!(snap.counts.get(parallel_run::Outcome::Match), 1);
//! ```
//!
//! See [`parallel_run`](macro@parallel_run) for the attribute's arguments, [`config`] for the
//! environment variables, [`Outcome`] for what gets counted and [`snapshot()`] for reading it back.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

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
/// ```
/// use parallel_run::parallel_run;
///
/// #[derive(Debug, Clone, PartialEq)]
/// struct Money { cents: i64 }
///
/// #[parallel_run(candidate = fee_v2, sample = 0.5, name = "billing::fee")]
/// fn fee(amount: &Money, currency: &str) -> Money {
///     Money { cents: amount.cents * 3 / 100 }
/// }
///
/// fn fee_v2(amount: &Money, currency: &str) -> Money {
///     Money { cents: (amount.cents * 3 + 50) / 100 } // rounds half up: differs sometimes
/// }
///
/// assert_eq!(fee(&Money { cents: 1_050 }, "EUR"), Money { cents: 31 });
/// ```
///
/// # Arguments
///
/// | argument | meaning | default |
/// |---|---|---|
/// | `candidate = path` | the new implementation, same signature (`process_v2`, `Self::v2`, `module::v2`) | required |
/// | `compare = expr` | a [`Comparator`] for the return type: a unit struct, a value, or a closure `\|primary, candidate\| ...` returning `bool` or [`Verdict`] | [`PartialEq`] |
/// | `name = "..."` | the experiment's name, in metrics, logs, snapshots and its environment variable | `module_path!()::fn_name` |
/// | `sample = 0.25` | fraction of calls shadowed, `0..=1`; the environment overrides it | `1.0` |
/// | `mode = detached \| inline` | where the candidate runs (below) | `detached` |
/// | `runtime = lane \| caller` | detached `async fn`: the shadow lane's runtime, or the caller's tokio runtime | `lane` |
/// | `order = primary_first \| random` | inline mode: which side runs first; `random` tosses a coin per call, as Scientist does | `primary_first` |
/// | `timeout = "150ms"` | the candidate's deadline, from its start; a candidate that ends after it is a `timeout`, however it ran (an async one is cancelled, a sync one abandoned); `"none"`: no timeout | `"5s"` |
/// | `max_in_flight = 64` | shadow runs of this experiment at once (a slot is taken when the call is decided); beyond, calls are `shed` before anything is prepared | `64` |
/// | `sample_by = expr` | sticky sampling by a key over the arguments (integer, string, bytes): see [`sticky`] | random |
/// | `run_if = expr` | a `bool` over the arguments; `false` skips shadowing (`filtered`) | always |
/// | `ignore = [rule, ...]` | `fn(&T, &T) -> bool` rules consulted when the pair did not match; the first yes makes the outcome `ignored` | none |
/// | `errors = compare \| match \| variant` | how two `Err` results compare; an `Err` against an `Ok` is always a mismatch | `compare` |
/// | `panics = propagate \| compare` | when the primary panics: skip the candidate (`primary_panic`), or run it and judge it against the panic; the caller gets the panic either way | `propagate` |
/// | `strict = true \| false` | a mismatch or candidate panic fails the call (after it is recorded); see [`testing`] for differential tests | global switch, else off |
/// | `candidate = [v2, v3]` | several candidates: each is its own experiment (`name/v2`, `name/v3`), compared with the primary independently, with its own outcomes; they never serve (no ramp) | one |
/// | `writes = refuse \| dry_run \| separate` | how the shadow side must treat writes, read by the data layer through [`context`] ([`context::write_mode`], [`guard_write`], [`context::pick`]) | `refuse` |
/// | `idempotency_key = expr` | a `Display` key computed once per call, before anything runs, and given to both sides ([`context::idempotency_key`]) | none |
/// | `min_match_rate = 0.999`, `min_samples = 10_000` | the promotion gate: a ramp above 0% is refused until the measured match rate meets them (see [`cutover`]) | no gate |
/// | `deadline = "2026-12-31"` | the time-box: after that day the experiment is *overdue* (warned at start-up and hourly, in metrics, snapshot and report) | none |
/// | `record_inputs = true` | serialise the arguments (not the receiver; each must be `Serialize`) into every discrepancy record and log line, so that [`testing::replay`] can run production discrepancies again in `cargo test` | off |
/// | `noise = 0.05` | declares the primary pure (or read-only): it runs a second time, off the caller's path and after the candidate, on that share of shadowed calls and on every call whose difference is not explained yet, and the paths where it differs from itself are learned; a mismatch only at learned paths (a clock: within the gap between the primary's two runs) counts as `noise` (detached mode, sync or `async`; the comparator must name paths: [`structural`], [`typed`]; see [`noise`]) | off |
/// | `crate = "path"` | where the runtime is, when `parallel_run` is re-exported under another name | `"::parallel_run"` |
///
/// # Modes
///
/// - **`detached`** (default): the primary runs and returns; the candidate runs off the caller's
///   path with its own copies of the arguments (`T: Clone`; `&T` through [`ToOwned`], so `&str`
///   becomes a `String` and `&[T]` a `Vec<T>`), and the comparison happens there too, on the
///   [`lane`]: its own small tokio runtime for an `async fn` (no runtime needed at the call
///   site), its worker pool for a sync function, both at the lowest OS priority, bounded by a
///   queue (`PARALLEL_RUN_QUEUE`, [`lane::set_queue_capacity`]) and a CPU budget
///   (`PARALLEL_RUN_LANE_BUDGET`, [`lane::set_budget`]). A call the lane or `max_in_flight`
///   cannot take is shed ([`Outcome::Shed`], with its reason in the snapshot) before anything
///   of the shadow is prepared; the caller never waits. A tight loop of detached calls at 100%
///   sampling sheds most of them: the lane runs candidates only as fast as its threads and budget
///   allow. Arguments must be `Clone + Send + 'static`, the return type too; `&mut` arguments are
///   refused at compile time.
/// - **`inline`**: the candidate runs in the caller, after the primary (or before, with
///   `order = random`). It takes the same references; by-value arguments are cloned and `&mut`
///   arguments get `&mut` to a clone, so the candidate never changes what the caller sees. Adds the
///   candidate's time to the call.
///
/// In every mode the caller gets exactly what the primary returned, including its errors and
/// panics; a candidate's or comparator's panic is caught and counted.
///
/// # Cutover
///
/// A ramp (`PARALLEL_RUN__<NAME>=ramp=10%`, or [`live::set_ramp`]) makes the candidate *serve*
/// that share of calls (sticky by `sample_by` when given): the roles swap, the candidate's result
/// is returned, and the legacy code runs as the shadow (inline, in shadow context) and is
/// compared. The kill switch, the experiment's `enabled = off` and an open breaker send every
/// call back to the legacy code. See [`cutover`] for the promotion gate and the deadline. With
/// the `fleet-gate` feature, `gate_source = "prometheus"` makes the gate count the whole fleet's
/// calls through a Prometheus query ([`config::prometheus`]), so every instance opens, refuses
/// and falls back together.
///
/// # What it expands to
///
/// ```text
/// fn total(items: &[Item]) -> Money {
///     static __PARALLEL_RUN_EXPERIMENT: Experiment = Experiment::new("my_crate::total", 1.0, Detached, PrimaryFirst);
///     let pending = match __PARALLEL_RUN_EXPERIMENT.decide() {      // two atomic loads, one random draw
///         Some(call) => Some(call.with_candidate({
///             let c0 = items.to_owned();                            // Vec<Item>
///             move || -> Money { total_v2(&c0) }
///         })),
///         None => None,                                             // counted per thread, no allocation
///     };
///     let primary = move || { /* the original body */ };
///     match pending {
///         // runs the primary, returns its result, queues the candidate with a copy of it
///         // (or, on a call a ramp gives to the candidate, the other way round)
///         Some(p) => run_detached::<Money>(p, primary, DefaultComparator, debug_probe),
///         None => primary(),
///     }
/// }
/// ```
///
/// The repository keeps full expansions under `shadow-macros/src/snapshots/`.
pub use shadow_macros::parallel_run;

pub use shadow_runtime::typed;
pub use shadow_runtime::typed::ShadowCompare;

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
/// #[parallel_run(candidate = quote_v2, compare = parallel_run::typed::Typed, mode = inline)]
/// fn quote(cents: i64) -> Quote { Quote { cents, at_ms: 1_000 } }
///
/// fn quote_v2(cents: i64) -> Quote { Quote { cents, at_ms: 1_100 } }
///
/// assert_eq!(quote(5).cents, 5);
/// let s = parallel_run::snapshot::experiment("rust_out::quote").unwrap();
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
