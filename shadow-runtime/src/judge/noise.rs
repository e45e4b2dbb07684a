//! Noise cancellation (the attribute's `noise`): what the primary's second runs taught about
//! where it differs from itself, and how a candidate's difference is judged against that.
//!
//! The primary (declared pure) runs a second time, off the caller's path and *after* the
//! candidate, on two kinds of calls: a random share of shadowed calls (the `noise` rate), and
//! every call whose difference the noise learned so far does not explain (a *confirmation*). The
//! call is judged only after its second run, so no call is judged on less than its own evidence:
//! there is no warm-up during which noise counts as a mismatch. The paths (indices as `[*]`)
//! where the two runs of the primary differ are learned, for the rest of the process:
//!
//! - a **noisy** path: a candidate's difference there is noise;
//! - a **clock**: a noisy path where every difference between two runs of the primary was between
//!   two times near now (RFC 3339 strings, or numbers of seconds, milliseconds, microseconds or
//!   nanoseconds since the epoch, within a day of the clock). A candidate's difference there is
//!   noise only if the candidate's value is also such a time and lies within the largest gap seen
//!   between two runs of the primary. A second run starts after the candidate has ended, so any
//!   clock read by the candidate lies between the primary's two reads: an honest clock field is
//!   always within its own call's gap, and a candidate that is an hour off (or `null`) is a
//!   mismatch;
//! - a **refuted** path: one where 16 (`REFUTED_AFTER`) second runs found the primary agreeing
//!   with itself while the candidate differed. Differences there are judged at once, without
//!   more confirmations, so a real bug costs a bounded number of extra runs of the primary. A
//!   clock is never refuted: a slow candidate legitimately makes a gap larger than any seen, so
//!   a clock's difference beyond the gap is confirmed each time (a wrong clock costs one second
//!   run per call that has it).
//!
//! A mismatch counts as `noise` when every differing path is explained; one unexplained path
//! (a real difference next to the noise) makes it a mismatch. A verdict, once recorded, is final:
//! the counts, the log, the gate and the report never change their mind.
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use shadow_runtime::{manual::NoProbes, structural::Structural, Experiment, Mode, Order, Outcome};
//!
//! static EXP: Experiment =
//!     Experiment::new("docs::noise", 1.0, Mode::Detached, Order::PrimaryFirst).with_noise(0.05);
//! static IDS: AtomicU64 = AtomicU64::new(0);
//! // The legacy code (and an identical rewrite): an amount, and an id new at every run.
//! fn quote(x: u64) -> serde_json::Value {
//!     serde_json::json!({ "amount": x * 2, "request_id": IDS.fetch_add(1, Ordering::Relaxed) })
//! }
//! for x in 0..10 {
//!     let call = EXP.decide().unwrap();
//!     let p = call.with_candidate(move || quote(x)).with_noise(move || quote(x));
//!     p.run_detached(|| quote(x), |v: &serde_json::Value| v.clone(), Structural::new(), NoProbes);
//! }
//! assert!(shadow_runtime::wait_idle(std::time::Duration::from_secs(10)));
//! let s = shadow_runtime::snapshot::experiment("docs::noise").unwrap();
//! assert_eq!(s.counts.get(Outcome::Noise), 10); // from the first call on
//! assert_eq!(s.noisy_paths[0].0, "$.request_id");
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// Second runs that found a candidate's difference at a path unexplained, after which
/// differences there are judged without confirming them.
pub(crate) const REFUTED_AFTER: u32 = 16;

/// Paths an experiment tracks at most; a difference at a path it cannot track any more is
/// judged without a confirmation (as a mismatch, unless that path is already known noisy).
pub(crate) const MAX_PATHS: usize = 1024;

/// How close to the clock a value must be to be read as a time.
const NEAR_NS: i128 = 86_400 * 1_000_000_000;

/// What the second runs of one experiment's primary taught.
pub(crate) struct Noise {
    table: Mutex<BTreeMap<String, PathState>>,
    /// Second runs made.
    runs: AtomicU64,
    /// Of those, the ones made to confirm a difference not explained yet.
    confirmations: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct PathState {
    /// Second runs in which the primary differed from itself here.
    noisy: u64,
    clock: Clock,
    /// Second runs that left a candidate's difference here unexplained.
    refuted: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
enum Clock {
    /// No self-difference seen.
    #[default]
    Unseen,
    /// Every self-difference was between two times near now; the largest gap, in ns.
    Gap(u128),
    /// Not a clock.
    No,
}

/// One line of a structural diff (`$.path: primary -> candidate`): the path's pattern, and each
/// side read as a time near now, if it is one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pattern: String,
    primary: Option<i128>,
    candidate: Option<i128>,
}

/// What the learned noise says about one difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Assess {
    /// Every path is explained: noise.
    Explained,
    /// A path is refuted (or cannot be tracked) and unexplained: a mismatch, nothing to confirm.
    Real,
    /// Some path is neither: the primary's second run decides.
    Unknown,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Noise {
    pub(crate) const fn new() -> Noise {
        Noise {
            table: Mutex::new(BTreeMap::new()),
            runs: AtomicU64::new(0),
            confirmations: AtomicU64::new(0),
        }
    }

    /// Counts a second run (`confirm`: made to check an unexplained difference).
    pub(crate) fn counted_run(&self, confirm: bool) {
        self.runs.fetch_add(1, Relaxed);
        if confirm {
            self.confirmations.fetch_add(1, Relaxed);
        }
    }

    /// Second runs made, and those that were confirmations.
    pub(crate) fn runs(&self) -> (u64, u64) {
        (self.runs.load(Relaxed), self.confirmations.load(Relaxed))
    }

    /// The noisy paths and how often the primary differed from itself at each, in path order.
    pub(crate) fn paths(&self) -> Vec<(String, u64)> {
        lock(&self.table)
            .iter()
            .filter(|(_, s)| s.noisy > 0)
            .map(|(p, s)| (p.clone(), s.noisy))
            .collect()
    }

    /// The noisy paths that are clocks, with the largest gap between two runs of the primary.
    pub(crate) fn clocks(&self) -> Vec<(String, Duration)> {
        lock(&self.table)
            .iter()
            .filter_map(|(p, s)| match s.clock {
                Clock::Gap(ns) if s.noisy > 0 => Some((
                    p.clone(),
                    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX)),
                )),
                _ => None,
            })
            .collect()
    }

    /// Judges a candidate's difference against what is learned.
    pub(crate) fn assess(&self, entries: &[Entry]) -> Assess {
        if entries.is_empty() {
            return Assess::Real;
        }
        let table = lock(&self.table);
        let mut unknown = false;
        for e in entries {
            let state = table.get(&e.pattern);
            if state.is_some_and(|s| explained(s, e)) {
                continue;
            }
            // A clock's difference beyond the gap is always confirmed: a slow candidate makes
            // a larger gap, and only a second run measures it.
            let refuted = match state {
                Some(s) if s.noisy > 0 && matches!(s.clock, Clock::Gap(_)) => false,
                Some(s) => s.refuted >= REFUTED_AFTER,
                None => table.len() >= MAX_PATHS,
            };
            if refuted {
                return Assess::Real;
            }
            unknown = true;
        }
        if unknown {
            Assess::Unknown
        } else {
            Assess::Explained
        }
    }

    /// Whether every path of a candidate's difference is explained (`false` without paths).
    pub(crate) fn explains(&self, entries: &[Entry]) -> bool {
        if entries.is_empty() {
            return false;
        }
        let table = lock(&self.table);
        entries
            .iter()
            .all(|e| table.get(&e.pattern).is_some_and(|s| explained(s, e)))
    }

    /// Learns from one second run: `own` is where the primary's two runs differ, `candidate`
    /// where the candidate differed from the primary on the same call (its paths still
    /// unexplained afterwards count as refuted once).
    pub(crate) fn learn(&self, experiment: &'static str, own: &[Entry], candidate: &[Entry]) {
        let mut table = lock(&self.table);
        for e in own {
            let Some(s) = slot(&mut table, &e.pattern) else {
                continue;
            };
            s.clock = match (s.clock, e.primary, e.candidate) {
                (Clock::No, _, _) => Clock::No,
                (Clock::Gap(g), Some(a), Some(b)) => Clock::Gap(g.max(a.abs_diff(b))),
                (Clock::Unseen, Some(a), Some(b)) => Clock::Gap(a.abs_diff(b)),
                _ => Clock::No,
            };
            s.noisy += 1;
            if s.noisy == 1 {
                tracing::info!(target: "parallel_run", experiment, path = %e.pattern,
                    clock = matches!(s.clock, Clock::Gap(_)),
                    "learned a noisy path: the primary differs from itself there");
            }
        }
        for e in candidate {
            let explained_now = table.get(&e.pattern).is_some_and(|s| explained(s, e));
            if explained_now {
                continue;
            }
            if let Some(s) = slot(&mut table, &e.pattern) {
                s.refuted = s.refuted.saturating_add(1);
            }
        }
    }
}

/// The state of `pattern`, created if there is room.
fn slot<'t>(
    table: &'t mut BTreeMap<String, PathState>,
    pattern: &str,
) -> Option<&'t mut PathState> {
    if !table.contains_key(pattern) {
        if table.len() >= MAX_PATHS {
            return None;
        }
        table.insert(pattern.to_owned(), PathState::default());
    }
    table.get_mut(pattern)
}

/// Whether what is learned at a path explains a candidate's difference there.
fn explained(s: &PathState, e: &Entry) -> bool {
    if s.noisy == 0 {
        return false;
    }
    match s.clock {
        Clock::Gap(gap) => match (e.primary, e.candidate) {
            (Some(p), Some(c)) => p.abs_diff(c) <= gap,
            _ => false,
        },
        Clock::Unseen | Clock::No => true,
    }
}

/// The entries of a structural diff (its lines `$.path: primary -> candidate`; other lines are
/// not entries). Values are read as times near the clock now.
pub(crate) fn entries(diff: &str) -> Vec<Entry> {
    let now = now_ns();
    diff.lines()
        .filter(|l| l.starts_with('$') && l.contains(" -> "))
        .filter_map(|l| l.split_once(": "))
        .map(|(path, rest)| {
            let (primary, candidate) = sides(rest);
            Entry {
                pattern: crate::judge::paths::path_pattern(path),
                primary: primary.as_ref().and_then(|v| time_near(v, now)),
                candidate: candidate.as_ref().and_then(|v| time_near(v, now)),
            }
        })
        .collect()
}

fn now_ns() -> i128 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// The two sides of `primary -> candidate`, each JSON (or `(missing)`: `None`).
fn sides(rest: &str) -> (Option<Value>, Option<Value>) {
    let Some((primary, after)) = side(rest) else {
        return (None, None);
    };
    let candidate = after
        .strip_prefix(" -> ")
        .and_then(side)
        .and_then(|(v, tail)| if tail.trim().is_empty() { v } else { None });
    (primary, candidate)
}

fn side(s: &str) -> Option<(Option<Value>, &str)> {
    if let Some(rest) = s.strip_prefix("(missing)") {
        return Some((None, rest));
    }
    let mut values = serde_json::Deserializer::from_str(s).into_iter::<Value>();
    let v = values.next()?.ok()?;
    Some((Some(v), &s[values.byte_offset()..]))
}

/// The instant a value stands for, in ns since the epoch, when it is a time within a day of
/// `now`: an RFC 3339 string, or a number of seconds, milliseconds, microseconds or nanoseconds
/// since the epoch (the units are a thousand apart, so at most one of them fits).
fn time_near(v: &Value, now: i128) -> Option<i128> {
    const UNITS: [i128; 4] = [1_000_000_000, 1_000_000, 1_000, 1];
    let near = |t: i128| (t - now).abs() <= NEAR_NS;
    match v {
        Value::String(s) => crate::judge::time::parse(s).filter(|t| near(*t)),
        Value::Number(n) => {
            let int = n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from));
            match int {
                Some(i) => UNITS.iter().map(|u| i * u).find(|t| near(*t)),
                None => {
                    let f = n.as_f64()?;
                    UNITS
                        .iter()
                        .map(|u| f * *u as f64)
                        .filter(|t| t.is_finite() && t.abs() < 1e30)
                        .map(|t| t as i128)
                        .find(|t| near(*t))
                }
            }
        }
        _ => None,
    }
}

/// Hands the candidate's copies of the arguments to the primary's second run (the attribute's
/// `noise`): the candidate puts them back when it returns, and the second run, which starts
/// after the candidate has ended, takes them. So the second run needs no copy of its own on the
/// caller's path. Cloning a `Keep` shares it.
///
/// ```
/// use shadow_runtime::noise::Keep;
/// let keep = Keep::new();
/// let put = keep.share();
/// put.put((String::from("order-7"), 3));
/// assert_eq!(keep.take(), Some((String::from("order-7"), 3)));
/// assert_eq!(keep.take(), None); // taken once
/// ```
pub struct Keep<A>(Arc<Mutex<Option<A>>>);

impl<A> Keep<A> {
    /// An empty hand-off.
    pub fn new() -> Self {
        Keep(Arc::new(Mutex::new(None)))
    }

    /// Another handle to the same hand-off.
    pub fn share(&self) -> Self {
        Keep(self.0.clone())
    }

    /// Leaves the copies (replacing any left before).
    pub fn put(&self, copies: A) {
        *lock(&self.0) = Some(copies);
    }

    /// Takes the copies, if the candidate left them.
    pub fn take(&self) -> Option<A> {
        lock(&self.0).take()
    }
}

impl<A> Default for Keep<A> {
    fn default() -> Self {
        Keep::new()
    }
}

impl<A> Clone for Keep<A> {
    fn clone(&self) -> Self {
        self.share()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms_now() -> u64 {
        (now_ns() / 1_000_000) as u64
    }

    #[test]
    fn entries_read_paths_and_times_near_now() {
        let t = ms_now();
        let diff = format!(
            "$.lines[3].at: {t} -> {}\n$.id: 17 -> 18\n$.note: (missing) -> \"a -> b\"\n  not a line",
            t + 5
        );
        let e = entries(&diff);
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].pattern, "$.lines[*].at");
        assert_eq!(e[0].primary, Some(i128::from(t) * 1_000_000));
        assert_eq!(e[0].candidate, Some(i128::from(t + 5) * 1_000_000));
        assert_eq!((e[1].primary, e[1].candidate), (None, None));
        assert_eq!((e[2].pattern.as_str(), e[2].primary), ("$.note", None));
    }

    #[test]
    fn times_are_seconds_millis_micros_nanos_or_rfc3339_within_a_day() {
        let now = now_ns();
        let s = now / 1_000_000_000;
        for (v, unit) in [
            (serde_json::json!(s), 1_000_000_000),
            (serde_json::json!(s * 1000), 1_000_000),
            (serde_json::json!(s * 1_000_000), 1000),
            (serde_json::json!(s as f64 + 0.5), 1_000_000_000),
        ] {
            let t = time_near(&v, now).unwrap_or_else(|| panic!("{v} is a time"));
            assert!((t - now).abs() < 2 * unit.max(1_000_000_000));
        }
        assert_eq!(
            time_near(&serde_json::json!("1970-01-01T00:00:00Z"), 0),
            Some(0)
        );
        // Far from now, a counter, a random 64-bit id, a word: not times.
        for v in [
            serde_json::json!(s - 3 * 86_400),
            serde_json::json!(42),
            serde_json::json!(0x9e37_79b9_7f4a_7c15_u64),
            serde_json::json!("2020-01-01T00:00:00Z"),
            serde_json::json!("soon"),
            serde_json::json!(null),
        ] {
            assert_eq!(time_near(&v, now), None, "{v}");
        }
    }

    #[test]
    fn a_path_is_noise_once_the_primary_differed_from_itself_there() {
        let n = Noise::new();
        let cand = entries("$.id: 1 -> 2\n$.amount: 3 -> 4");
        assert_eq!(n.assess(&cand), Assess::Unknown);
        // A second run differs at `$.id` only: `$.amount` is still a difference.
        n.learn("t", &entries("$.id: 1 -> 9"), &cand);
        assert_eq!(n.paths(), vec![("$.id".to_owned(), 1)]);
        assert!(n.explains(&entries("$.id: 5 -> 6")));
        assert!(!n.explains(&cand));
        assert_eq!(n.assess(&cand), Assess::Unknown);
        assert!(!n.explains(&[]));
        assert_eq!(n.assess(&[]), Assess::Real);
    }

    #[test]
    fn a_path_refuted_often_enough_is_judged_without_confirming() {
        let n = Noise::new();
        let cand = entries("$.amount: 3 -> 4\n$.id: 1 -> 2");
        for i in 0..REFUTED_AFTER {
            assert_eq!(n.assess(&cand), Assess::Unknown, "after {i}");
            n.learn("t", &entries("$.id: 1 -> 9"), &cand);
        }
        assert_eq!(n.assess(&cand), Assess::Real);
        // The noise next to it is still noise on its own.
        assert_eq!(n.assess(&entries("$.id: 7 -> 8")), Assess::Explained);
    }

    #[test]
    fn a_clock_is_noise_only_within_the_gap_between_two_runs_of_the_primary() {
        let n = Noise::new();
        // Half-way through a second: in seconds, it is 500 ms off.
        let t = ms_now() / 1000 * 1000 + 500;
        let own = entries(&format!("$.at: {t} -> {}", t + 4));
        let near = entries(&format!("$.at: {t} -> {}", t + 3));
        n.learn("t", &own, &near);
        assert_eq!(
            n.clocks(),
            vec![("$.at".to_owned(), Duration::from_millis(4))]
        );
        assert!(n.explains(&near));
        // An hour off, 500 ms off (in seconds instead of milliseconds), or null: not noise;
        // confirmed each time, however often it was refuted (a slow candidate widens the gap).
        for bad in [
            format!("$.at: {t} -> {}", t + 3_600_000),
            format!("$.at: {t} -> {}", t / 1000),
            format!("$.at: {t} -> null"),
        ] {
            for _ in 0..=REFUTED_AFTER {
                assert!(!n.explains(&entries(&bad)), "{bad}");
                assert_eq!(n.assess(&entries(&bad)), Assess::Unknown, "{bad}");
                n.learn("t", &own, &entries(&bad));
            }
        }
        // A self-difference that is not between two times makes it a plain noisy path.
        n.learn("t", &entries("$.at: \"x\" -> \"y\""), &[]);
        assert!(n.clocks().is_empty());
        assert!(n.explains(&entries(&format!("$.at: {t} -> null"))));
    }

    #[test]
    fn an_experiment_tracks_at_most_max_paths() {
        let n = Noise::new();
        let own: String = (0..MAX_PATHS + 5)
            .map(|i| format!("$.k{i}: 1 -> 2\n"))
            .collect();
        n.learn("t", &entries(&own), &[]);
        assert_eq!(n.paths().len(), MAX_PATHS);
        assert_eq!(n.assess(&entries("$.k0: 5 -> 6")), Assess::Explained);
        // An untracked path is judged at once.
        assert_eq!(n.assess(&entries("$.other: 1 -> 2")), Assess::Real);
    }
}
