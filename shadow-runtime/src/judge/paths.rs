//! The paths of a structural diff, and their patterns: what diff signatures, the learned noise
//! and the report group discrepancies by.

/// The paths of a structural diff: the detail's lines of the form `$.path: a -> b`, as written by
/// [`Structural`](crate::judge::structural::Structural) and the typed comparators. Empty for any other
/// diff.
///
/// ```
/// let p = shadow_runtime::publish::diff_paths("$.fee: 39 -> 38\n$.lines[2].net: 1 -> 2");
/// assert_eq!(p, ["$.fee", "$.lines[2].net"]);
/// assert!(shadow_runtime::publish::diff_paths("  gross legacy 1 rewrite 2").is_empty());
/// ```
pub fn diff_paths(detail: &str) -> Vec<&str> {
    detail
        .lines()
        .filter(|l| l.starts_with('$') && l.contains(" -> "))
        .filter_map(|l| l.split_once(": ").map(|(p, _)| p))
        .collect()
}

/// A path with its sequence indices written `[*]`: `$.lines[3].at` → `$.lines[*].at`. Diff
/// signatures and the learned noise use it.
///
/// ```
/// assert_eq!(shadow_runtime::publish::path_pattern("$.lines[3].at[12]"), "$.lines[*].at[*]");
/// ```
pub fn path_pattern(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        match rest.find(']') {
            Some(j) if j > 0 && rest[..j].bytes().all(|b| b.is_ascii_digit()) => {
                out.push('*');
                rest = &rest[j..];
            }
            _ => {}
        }
    }
    out.push_str(rest);
    out
}
