//! Judging a candidate's result against the primary's: [`Comparator`], [`Verdict`], the default
//! [`PartialEq`] comparator, and the line diff of two `Debug` renderings.

use std::borrow::Cow;
use std::fmt;

/// What a [`Comparator`] says about one pair of results.
///
/// ```
/// use shadow_runtime::Verdict;
///
/// assert!(Verdict::Match.is_match());
/// assert!(Verdict::acceptable("timestamps 40ms apart").is_match());
/// assert!(!Verdict::mismatch("amount: 1050 vs 1049").is_match());
/// // A bare `bool` converts: `true` is a match, `false` a mismatch without a diff.
/// assert_eq!(Verdict::from(false), Verdict::Mismatch { diff: None });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The results are the same.
    Match,
    /// The results differ in a way the comparator accepts (a timestamp a few milliseconds apart,
    /// a rounding within tolerance). Counted separately from matches; the reason is kept.
    Acceptable {
        /// Why the difference is acceptable.
        reason: Cow<'static, str>,
    },
    /// The results differ, but a known, accepted way (an `ignore` rule said so, as Scientist's
    /// `ignore` blocks do). Counted as `ignored`, apart from matches and mismatches.
    Ignored {
        /// Which rule, or why.
        reason: Cow<'static, str>,
    },
    /// The results differ.
    Mismatch {
        /// A human-readable description of the difference. When `None`, the runtime renders a
        /// line diff of both values' `Debug` output (where the type implements `Debug`).
        diff: Option<String>,
    },
}

impl Verdict {
    /// An acceptable difference, with the reason.
    ///
    /// ```
    /// let v = shadow_runtime::Verdict::acceptable("clock skew");
    /// assert!(matches!(v, shadow_runtime::Verdict::Acceptable { .. }));
    /// ```
    pub fn acceptable(reason: impl Into<Cow<'static, str>>) -> Self {
        Verdict::Acceptable {
            reason: reason.into(),
        }
    }

    /// A mismatch described by `diff`.
    ///
    /// ```
    /// let v = shadow_runtime::Verdict::mismatch("fee: 30 vs 31");
    /// assert_eq!(v, shadow_runtime::Verdict::Mismatch { diff: Some("fee: 30 vs 31".into()) });
    /// ```
    pub fn mismatch(diff: impl Into<String>) -> Self {
        Verdict::Mismatch {
            diff: Some(diff.into()),
        }
    }

    /// `true` for everything but [`Verdict::Mismatch`].
    ///
    /// ```
    /// assert!(shadow_runtime::Verdict::Match.is_match());
    /// ```
    pub fn is_match(&self) -> bool {
        !matches!(self, Verdict::Mismatch { .. })
    }
}

impl From<bool> for Verdict {
    fn from(equal: bool) -> Self {
        if equal {
            Verdict::Match
        } else {
            Verdict::Mismatch { diff: None }
        }
    }
}

/// Compares the primary's result with the candidate's.
///
/// Implement it for a unit struct and name it in the attribute (`compare = PaymentComparator`), or
/// pass a closure `|primary: &T, candidate: &T| -> impl Into<Verdict>` (a `bool` works).
/// Both `Ok` and `Err` results go through the comparator when the function returns a `Result`.
///
/// The comparator runs off the caller's path in detached mode, and a panic inside it is caught and
/// counted as [`Outcome::ComparatorPanic`](crate::record::outcome::Outcome::ComparatorPanic).
///
/// ```
/// use shadow_runtime::{Comparator, Verdict};
///
/// #[derive(Debug, PartialEq)]
/// struct Payment { cents: i64, at_ms: u64 }
///
/// struct PaymentComparator;
/// impl Comparator<Payment> for PaymentComparator {
///     fn compare(&self, primary: &Payment, candidate: &Payment) -> Verdict {
///         if primary.cents != candidate.cents {
///             return Verdict::mismatch(format!("cents: {} vs {}", primary.cents, candidate.cents));
///         }
///         match primary.at_ms.abs_diff(candidate.at_ms) {
///             0 => Verdict::Match,
///             d if d <= 1_000 => Verdict::acceptable(format!("timestamps {d}ms apart")),
///             d => Verdict::mismatch(format!("timestamps {d}ms apart")),
///         }
///     }
/// }
///
/// let a = Payment { cents: 100, at_ms: 5 };
/// assert!(PaymentComparator.compare(&a, &Payment { cents: 100, at_ms: 9 }).is_match());
/// assert!(!PaymentComparator.compare(&a, &Payment { cents: 99, at_ms: 5 }).is_match());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot compare results of type `{T}`",
    label = "this comparator does not implement `Comparator<{T}>`",
    note = "implement `parallel_run::Comparator<{T}>` for it, or pass a closure `|primary: &{T}, candidate: &{T}| ...` returning `bool` or `Verdict`"
)]
pub trait Comparator<T: ?Sized> {
    /// Judges one pair of results.
    fn compare(&self, primary: &T, candidate: &T) -> Verdict;
}

impl<T: ?Sized, F, V> Comparator<T> for F
where
    F: Fn(&T, &T) -> V,
    V: Into<Verdict>,
{
    fn compare(&self, primary: &T, candidate: &T) -> Verdict {
        self(primary, candidate).into()
    }
}

/// The comparator used when the attribute names none: [`PartialEq`]. A mismatch carries no diff
/// of its own; the runtime renders a line diff of both values' `Debug` output.
///
/// ```
/// use shadow_runtime::{Comparator, DefaultComparator, Verdict};
/// assert_eq!(DefaultComparator.compare(&1, &1), Verdict::Match);
/// assert!(!DefaultComparator.compare("a", "b").is_match());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultComparator;

impl<T: PartialEq + ?Sized> Comparator<T> for DefaultComparator {
    fn compare(&self, primary: &T, candidate: &T) -> Verdict {
        (primary == candidate).into()
    }
}

/// Renders a readable diff of two `Debug` renderings (`{:#?}`, one field per line):
/// single-line values are shown side by side, multi-line values as a line diff with `-` for the
/// primary, `+` for the candidate and two lines of context around each change.
///
/// ```
/// let d = shadow_runtime::compare::debug_diff("Money {\n    cents: 10,\n}", "Money {\n    cents: 11,\n}");
/// assert!(d.contains("-     cents: 10,"));
/// assert!(d.contains("+     cents: 11,"));
/// assert_eq!(shadow_runtime::compare::debug_diff("1", "2"), "primary:   1\ncandidate: 2");
/// // Identical renderings of values that differ (`NaN`) are said to be identical.
/// assert_eq!(shadow_runtime::compare::debug_diff("NaN", "NaN"), "(the two renderings are identical)\nNaN");
/// ```
pub fn debug_diff(primary: &str, candidate: &str) -> String {
    if primary == candidate {
        // A diff of nothing would be empty (or `  ...`): say what is the case instead.
        return format!("(the two renderings are identical)\n{primary}");
    }
    if !primary.contains('\n') && !candidate.contains('\n') {
        return format!("primary:   {primary}\ncandidate: {candidate}");
    }
    let a: Vec<&str> = primary.lines().collect();
    let b: Vec<&str> = candidate.lines().collect();
    let ops = line_ops(&a, &b);
    render_hunks(&ops, 2)
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Op<'a> {
    Same(&'a str),
    Del(&'a str),
    Add(&'a str),
}

/// Changed lines (after the common prefix and suffix, both sides) up to which [`line_ops`] is
/// exact: Myers' work is at most about the square of this, 4 million steps (a few ms).
const EXACT_LINES: usize = 2000;
/// Past [`EXACT_LINES`], how long [`line_ops`] may look for a shortest edit script before it
/// settles for a longer one.
const DIFF_DEADLINE: std::time::Duration = std::time::Duration::from_millis(10);

/// The line diff of `a` and `b`: Myers' algorithm (`similar`), a shortest edit script, so the
/// unchanged lines are a longest common subsequence; deletions come before insertions where a
/// run of lines is replaced (`- old` then `+ new`, as diff tools print). Exact, and so the same
/// every time, up to [`EXACT_LINES`] changed lines; larger inputs get [`DIFF_DEADLINE`], past
/// which the script is longer but still rebuilds both sides.
fn line_ops<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<Op<'a>> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let changed = a.len() + b.len() - 2 * (prefix + suffix);
    let deadline = (changed > EXACT_LINES).then(|| std::time::Instant::now() + DIFF_DEADLINE);
    similar::capture_diff_slices_deadline(similar::Algorithm::Myers, a, b, deadline)
        .iter()
        .flat_map(|op| op.iter_changes(a, b))
        .map(|c| match c.tag() {
            similar::ChangeTag::Equal => Op::Same(c.value()),
            similar::ChangeTag::Delete => Op::Del(c.value()),
            similar::ChangeTag::Insert => Op::Add(c.value()),
        })
        .collect()
}

fn render_hunks(ops: &[Op<'_>], context: usize) -> String {
    let changed: Vec<usize> = (0..ops.len())
        .filter(|&i| !matches!(ops[i], Op::Same(_)))
        .collect();
    let show = |i: usize| changed.iter().any(|&c| c.abs_diff(i) <= context);
    let mut out = String::new();
    let mut skipped = false;
    for (i, op) in ops.iter().enumerate() {
        if !show(i) {
            skipped = true;
            continue;
        }
        if skipped {
            out.push_str("  ...\n");
        }
        skipped = false;
        let (mark, line) = match op {
            Op::Same(l) => (' ', l),
            Op::Del(l) => ('-', l),
            Op::Add(l) => ('+', l),
        };
        out.push(mark);
        out.push(' ');
        out.push_str(line);
        out.push('\n');
    }
    if skipped {
        out.push_str("  ...");
    } else {
        out.pop();
    }
    out
}

/// A panic payload rendered as text (`&str` and `String` payloads; anything else is named).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Match => f.write_str("match"),
            Verdict::Acceptable { reason } => write!(f, "acceptable: {reason}"),
            Verdict::Ignored { reason } => write!(f, "ignored: {reason}"),
            Verdict::Mismatch { diff: Some(d) } => write!(f, "mismatch:\n{d}"),
            Verdict::Mismatch { diff: None } => f.write_str("mismatch"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_marks_only_changed_lines_with_context() {
        let a = "A {\n    a: 1,\n    b: 2,\n    c: 3,\n    d: 4,\n    e: 5,\n    f: 6,\n}";
        let b = "A {\n    a: 1,\n    b: 2,\n    c: 3,\n    d: 40,\n    e: 5,\n    f: 6,\n}";
        let d = debug_diff(a, b);
        assert_eq!(
            d,
            "  ...\n      b: 2,\n      c: 3,\n-     d: 4,\n+     d: 40,\n      e: 5,\n      f: 6,\n  ..."
        );
    }

    #[test]
    fn diff_handles_insertions_and_deletions() {
        let ops = line_ops(&["a", "b", "c"], &["a", "x", "c", "d"]);
        assert_eq!(
            ops,
            vec![
                Op::Same("a"),
                Op::Del("b"),
                Op::Add("x"),
                Op::Same("c"),
                Op::Add("d")
            ]
        );
    }

    #[test]
    fn large_inputs_are_diffed_exactly_around_a_change_and_correctly_past_the_limit() {
        // 5,000 lines, one changed: the common prefix and suffix leave two lines to diff.
        let a: Vec<String> = (0..5_000).map(|i| format!("    f{i}: {i},")).collect();
        let mut b = a.clone();
        b[2_500] = "    f2500: 0,".to_owned();
        let (a, b): (Vec<&str>, Vec<&str>) = (
            a.iter().map(String::as_str).collect(),
            b.iter().map(String::as_str).collect(),
        );
        let ops = line_ops(&a, &b);
        let changed: Vec<&Op> = ops.iter().filter(|o| !matches!(o, Op::Same(_))).collect();
        assert_eq!(changed, [&Op::Del(a[2_500]), &Op::Add("    f2500: 0,")]);
        // Past EXACT_LINES of changes: whatever the deadline allowed, both sides are rebuilt.
        let c: Vec<String> = (0..3_000).map(|i| format!("{}", i * 7 % 3_001)).collect();
        let c: Vec<&str> = c.iter().map(String::as_str).collect();
        let ops = line_ops(&a[..3_000], &c);
        let left: Vec<&str> = ops
            .iter()
            .filter_map(|o| match o {
                Op::Same(l) | Op::Del(l) => Some(*l),
                Op::Add(_) => None,
            })
            .collect();
        let right: Vec<&str> = ops
            .iter()
            .filter_map(|o| match o {
                Op::Same(l) | Op::Add(l) => Some(*l),
                Op::Del(_) => None,
            })
            .collect();
        assert_eq!(
            (left.as_slice(), right.as_slice()),
            (&a[..3_000], c.as_slice())
        );
    }

    /// A few lines over a tiny alphabet, so that lines repeat and ties are frequent.
    fn lines() -> impl proptest::strategy::Strategy<Value = Vec<&'static str>> {
        proptest::collection::vec(proptest::sample::select(vec!["a", "b", "c", "d"]), 0..12)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// The ops rebuild both sides (Same+Del = primary, Same+Add = candidate) and keep a
        /// longest common subsequence (a shortest edit script).
        #[test]
        fn diff_ops_rebuild_both_sides(a in lines(), b in lines()) {
            let ops = line_ops(&a, &b);
            let left: Vec<&str> = ops
                .iter()
                .filter_map(|o| match o {
                    Op::Same(l) | Op::Del(l) => Some(*l),
                    Op::Add(_) => None,
                })
                .collect();
            let right: Vec<&str> = ops
                .iter()
                .filter_map(|o| match o {
                    Op::Same(l) | Op::Add(l) => Some(*l),
                    Op::Del(_) => None,
                })
                .collect();
            proptest::prop_assert_eq!(left, a.clone());
            proptest::prop_assert_eq!(right, b.clone());
            let same = ops.iter().filter(|o| matches!(o, Op::Same(_))).count();
            proptest::prop_assert_eq!(same, lcs_len(&a, &b), "{:?} vs {:?}: {:?}", a, b, ops);
        }

        /// The rendered diff: equal inputs give no diff lines; otherwise every removed and added
        /// line is printed once, in order, each run of changes prints its `-` lines before its
        /// `+` lines, and only lines of the two sides (or `  ...`) are printed.
        #[test]
        fn rendered_diff_accounts_for_every_changed_line(a in lines(), b in lines()) {
            // Multi-line renderings, as `{:#?}` prints them.
            let (pa, pb) = (format!("{{\n{}\n}}", a.join("\n")), format!("{{\n{}\n}}", b.join("\n")));
            let d = debug_diff(&pa, &pb);
            if a == b {
                proptest::prop_assert!(d.starts_with("(the two renderings are identical)\n"), "{}", d);
                return Ok(());
            }
            let mut printed_del = Vec::new();
            let mut printed_add = Vec::new();
            let mut last = ' ';
            for line in d.lines() {
                let (mark, text) = line.split_at(2);
                match mark {
                    "- " => printed_del.push(text),
                    "+ " => printed_add.push(text),
                    "  " => {}
                    _ => proptest::prop_assert!(false, "unmarked line {:?} in {}", line, d),
                }
                let m = mark.as_bytes()[0] as char;
                proptest::prop_assert!(!(last == '+' && m == '-'), "`-` after `+` in {}", d);
                last = m;
            }
            let ops = line_ops(&pa.lines().collect::<Vec<_>>(), &pb.lines().collect::<Vec<_>>());
            let del: Vec<&str> = ops.iter().filter_map(|o| match o { Op::Del(l) => Some(*l), _ => None }).collect();
            let add: Vec<&str> = ops.iter().filter_map(|o| match o { Op::Add(l) => Some(*l), _ => None }).collect();
            proptest::prop_assert_eq!(printed_del, del);
            proptest::prop_assert_eq!(printed_add, add);
        }
    }

    fn lcs_len(a: &[&str], b: &[&str]) -> usize {
        let mut t = vec![vec![0usize; b.len() + 1]; a.len() + 1];
        for i in 0..a.len() {
            for j in 0..b.len() {
                t[i + 1][j + 1] = if a[i] == b[j] {
                    t[i][j] + 1
                } else {
                    t[i][j + 1].max(t[i + 1][j])
                };
            }
        }
        t[a.len()][b.len()]
    }

    #[test]
    fn closures_returning_bool_or_verdict_are_comparators() {
        let by_bool = |a: &i32, b: &i32| a == b;
        assert_eq!(by_bool.compare(&1, &1), Verdict::Match);
        let by_verdict = |a: &i32, b: &i32| {
            if (a - b).abs() <= 1 {
                Verdict::acceptable("off by one")
            } else {
                Verdict::mismatch("far")
            }
        };
        assert!(matches!(
            by_verdict.compare(&1, &2),
            Verdict::Acceptable { .. }
        ));
        assert!(!by_verdict.compare(&1, &5).is_match());
    }

    #[test]
    fn panic_messages_are_extracted() {
        let p = std::panic::catch_unwind(|| panic!("boom {}", 1)).unwrap_err();
        assert_eq!(panic_message(&*p), "boom 1");
        let p = std::panic::catch_unwind(|| panic!("static")).unwrap_err();
        assert_eq!(panic_message(&*p), "static");
    }
}
