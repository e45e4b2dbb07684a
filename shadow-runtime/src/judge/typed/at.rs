//! Where a comparison happens: the path from the root and the options in force there.

use super::*;

// ---------------------------------------------------------------------------------------------
// Where: the path and the options in force there.

pub(super) const IGNORE: u8 = 1;
pub(super) const SENSITIVE: u8 = 2;
pub(super) const TRIM: u8 = 4;
pub(super) const UNORDERED: u8 = 8;
pub(super) const NFC: u8 = 16;
pub(super) const MISSING_NULL: u8 = 32;
pub(super) const MISSING_EMPTY: u8 = 64;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Opts {
    abs: f64,
    rel: f64,
    pub(super) within: Option<Duration>,
    flags: u8,
}

#[derive(Clone, Copy)]
pub(super) enum Seg<'a> {
    Root,
    Field(&'static str),
    Index(usize),
    Key(&'a dyn Display),
    Any,
}

/// Where a comparison happens: the path from the root (kept on the stack, rendered only for a
/// difference) and the options in force there, inherited from the fields above.
///
/// ```
/// use shadow_runtime::typed::At;
///
/// let root = At::root();
/// let lines = root.field("lines");
/// let key = "EUR";
/// assert_eq!(lines.index(3).field("amount").path(), "$.lines[3].amount");
/// assert_eq!(root.field("fx").key(&key).path(), "$.fx.EUR");
/// ```
#[derive(Clone, Copy)]
pub struct At<'a> {
    parent: Option<&'a At<'a>>,
    seg: Seg<'a>,
    pub(super) opts: Opts,
}

impl Debug for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("At")
            .field("path", &self.path())
            .field("opts", &self.opts)
            .finish()
    }
}

impl Default for At<'_> {
    fn default() -> Self {
        At::root()
    }
}

impl<'a> At<'a> {
    /// The value itself, `$`, with no options.
    ///
    /// ```
    /// assert_eq!(shadow_runtime::typed::At::root().path(), "$");
    /// ```
    pub fn root() -> At<'static> {
        At {
            parent: None,
            seg: Seg::Root,
            opts: Opts::default(),
        }
    }

    fn child<'b>(&'b self, seg: Seg<'b>) -> At<'b> {
        At {
            parent: Some(self),
            seg,
            opts: Opts {
                flags: self.opts.flags & !UNORDERED,
                ..self.opts
            },
        }
    }

    /// A struct field or enum variant under this place: `.name`.
    ///
    /// ```
    /// assert_eq!(shadow_runtime::typed::At::root().field("id").path(), "$.id");
    /// ```
    pub fn field(&self, name: &'static str) -> At<'_> {
        self.child(Seg::Field(name))
    }

    /// A sequence element or tuple field: `[i]`.
    ///
    /// ```
    /// assert_eq!(shadow_runtime::typed::At::root().index(2).path(), "$[2]");
    /// ```
    pub fn index(&self, i: usize) -> At<'_> {
        self.child(Seg::Index(i))
    }

    /// A map entry: `.key`, with the key's `Display`.
    ///
    /// ```
    /// let k = 42;
    /// assert_eq!(shadow_runtime::typed::At::root().key(&k).path(), "$.42");
    /// ```
    pub fn key<'b>(&'b self, key: &'b dyn Display) -> At<'b> {
        self.child(Seg::Key(key))
    }

    /// Any element of an unordered sequence or a set: `.*`.
    ///
    /// ```
    /// assert_eq!(shadow_runtime::typed::At::root().field("tags").any().path(), "$.tags.*");
    /// ```
    pub fn any(&self) -> At<'_> {
        self.child(Seg::Any)
    }

    /// Numbers here and below within `abs` of each other, or within `rel` times the larger
    /// magnitude, are a tolerated difference (`#[shadow(tolerance = abs, relative = rel)]`).
    ///
    /// ```
    /// use shadow_runtime::typed::{At, ShadowCompare, Sink};
    /// use shadow_runtime::structural::Diff;
    ///
    /// let mut d = Diff::default();
    /// 1.0f64.shadow_diff(&1.004, &At::root().tolerance(0.005, 0.0), &mut Sink::new(&mut d));
    /// assert_eq!(d.tolerated, vec!["$"]);
    /// ```
    pub fn tolerance(mut self, abs: f64, rel: f64) -> Self {
        self.opts.abs = abs.abs();
        self.opts.rel = rel.abs();
        self
    }

    /// Times here and below at most `d` apart are a tolerated difference (`#[shadow(within =
    /// "2s")]`): `SystemTime`, `Duration`, integers read as milliseconds since the epoch, and
    /// strings that are RFC 3339 timestamps on both sides.
    ///
    /// ```
    /// use std::time::Duration;
    /// use shadow_runtime::typed::{At, ShadowCompare, Sink};
    /// use shadow_runtime::structural::Diff;
    ///
    /// let mut d = Diff::default();
    /// let at = At::root().within(Duration::from_secs(2));
    /// 1_795_773_600_000u64.shadow_diff(&1_795_773_601_500, &at, &mut Sink::new(&mut d));
    /// assert_eq!(d.tolerated, vec!["$"]);
    /// ```
    pub fn within(mut self, d: Duration) -> Self {
        self.opts.within = Some(d);
        self
    }

    /// Differences here and below go to [`Diff::ignored`], once, at this path
    /// (`#[shadow(ignore)]`).
    ///
    /// ```
    /// use shadow_runtime::typed::{At, ShadowCompare, Sink};
    ///
    /// let mut d = shadow_runtime::structural::Diff::default();
    /// let root = At::root();
    /// vec![1, 2].shadow_diff(&vec![3], &root.field("meta").ignore(), &mut Sink::new(&mut d));
    /// assert!(d.entries.is_empty());
    /// assert_eq!(d.ignored, ["$.meta"]);
    /// ```
    pub fn ignore(mut self) -> Self {
        self.opts.flags |= IGNORE;
        self
    }

    /// Values here and below are shown as `"***"` in every difference (`#[shadow(sensitive)]`).
    ///
    /// ```
    /// use shadow_runtime::typed::{At, ShadowCompare, Sink};
    ///
    /// let mut d = shadow_runtime::structural::Diff::default();
    /// let root = At::root();
    /// "4111".shadow_diff("4242", &root.field("card").sensitive(), &mut Sink::new(&mut d));
    /// assert_eq!(d.entries[0].to_string(), r#"$.card: "***" -> "***""#);
    /// ```
    pub fn sensitive(mut self) -> Self {
        self.opts.flags |= SENSITIVE;
        self
    }

    /// Strings here and below are compared without surrounding whitespace (`#[shadow(trim)]`).
    ///
    /// ```
    /// use shadow_runtime::typed::{At, ShadowCompare, Sink};
    ///
    /// let mut d = shadow_runtime::structural::Diff::default();
    /// " Ada ".shadow_diff("Ada", &At::root().trim(), &mut Sink::new(&mut d));
    /// assert_eq!(d.tolerated, ["$"]);
    /// ```
    pub fn trim(mut self) -> Self {
        self.opts.flags |= TRIM;
        self
    }

    /// Strings here and below are compared after Unicode NFC normalisation (`#[shadow(nfc)]`).
    ///
    /// ```
    /// use shadow_runtime::typed::{At, ShadowCompare, Sink};
    ///
    /// let mut d = shadow_runtime::structural::Diff::default();
    /// "Ren\u{e9}e".shadow_diff("Rene\u{301}e", &At::root().nfc(), &mut Sink::new(&mut d));
    /// assert_eq!(d.tolerated, ["$"]);
    /// ```
    pub fn nfc(mut self) -> Self {
        self.opts.flags |= NFC;
        self
    }

    /// The next sequence here (not the ones inside its elements) is compared as a multiset
    /// (`#[shadow(unordered)]`).
    ///
    /// ```
    /// use shadow_runtime::typed::{At, ShadowCompare, Sink};
    ///
    /// let mut d = shadow_runtime::structural::Diff::default();
    /// vec![1, 2, 2].shadow_diff(&vec![2, 1, 3], &At::root().unordered(), &mut Sink::new(&mut d));
    /// let lines: Vec<String> = d.entries.iter().map(ToString::to_string).collect();
    /// assert_eq!(lines, ["$.*: 2 -> (missing)", "$.*: (missing) -> 3"]);
    /// ```
    pub fn unordered(mut self) -> Self {
        self.opts.flags |= UNORDERED;
        self
    }

    /// A map key (or JSON object key) here and below that one side lacks and the other holds
    /// `null` (a `None`) is a tolerated difference, not a mismatch (`#[shadow(missing_as_null)]`):
    /// for an API whose clients read an absent field and `null` alike. Any other value against a
    /// missing key is still a difference.
    ///
    /// ```
    /// use shadow_runtime::typed::{At, ShadowCompare, Sink};
    /// use serde_json::json;
    ///
    /// let mut d = shadow_runtime::structural::Diff::default();
    /// let at = At::root().missing_as_null();
    /// json!({"id": 1, "note": null}).shadow_diff(&json!({"id": 1}), &at, &mut Sink::new(&mut d));
    /// assert!(d.entries.is_empty());
    /// assert_eq!(d.tolerated, ["$.note"]);
    /// ```
    pub fn missing_as_null(mut self) -> Self {
        self.opts.flags |= MISSING_NULL;
        self
    }

    /// A map key (or JSON object key) here and below that one side lacks and the other holds an
    /// empty array or object (an empty `Vec`, map or set) is a tolerated difference
    /// (`#[shadow(missing_as_empty)]`): for a serialiser that skips empty collections.
    ///
    /// ```
    /// use shadow_runtime::typed::{At, ShadowCompare, Sink};
    /// use serde_json::json;
    ///
    /// let mut d = shadow_runtime::structural::Diff::default();
    /// let at = At::root().missing_as_empty();
    /// json!({"tags": []}).shadow_diff(&json!({}), &at, &mut Sink::new(&mut d));
    /// assert_eq!(d.tolerated, ["$.tags"]);
    /// ```
    pub fn missing_as_empty(mut self) -> Self {
        self.opts.flags |= MISSING_EMPTY;
        self
    }

    /// Whether `present`, the value of a key the other side lacks, counts as absent here
    /// (`missing_as_null`, `missing_as_empty`).
    pub(super) fn absent_as<T: ShadowCompare + ?Sized>(&self, present: &T) -> bool {
        if !self.has(MISSING_NULL | MISSING_EMPTY) {
            return false;
        }
        match present.shadow_value() {
            Value::Null => self.has(MISSING_NULL),
            Value::Array(a) => a.is_empty() && self.has(MISSING_EMPTY),
            Value::Object(o) => o.is_empty() && self.has(MISSING_EMPTY),
            _ => false,
        }
    }

    pub(super) fn has(&self, flag: u8) -> bool {
        self.opts.flags & flag != 0
    }

    /// The path, `$.lines[3].amount`. Allocates: call it only for a difference.
    ///
    /// ```
    /// assert_eq!(shadow_runtime::typed::At::root().field("a").index(0).path(), "$.a[0]");
    /// ```
    pub fn path(&self) -> String {
        fn write(at: &At<'_>, out: &mut String) {
            use fmt::Write as _;
            if let Some(p) = at.parent {
                write(p, out);
            }
            match at.seg {
                Seg::Root => out.push('$'),
                Seg::Field(name) => {
                    out.push('.');
                    out.push_str(name);
                }
                Seg::Index(i) => {
                    let _ = write!(out, "[{i}]");
                }
                Seg::Key(k) => {
                    let _ = write!(out, ".{k}");
                }
                Seg::Any => out.push_str(".*"),
            }
        }
        // Most paths fit: one allocation rather than a few reallocations as the path grows.
        let mut out = String::with_capacity(32);
        write(self, &mut out);
        out
    }

    /// Whether numbers `d` apart with the larger magnitude `mag` are within the tolerance here.
    pub(super) fn tolerates(&self, d: f64, mag: f64) -> bool {
        d <= self.opts.abs || d <= self.opts.rel * mag
    }

    /// The topmost place of the ignored field this place is in.
    pub(super) fn ignored_root(&self) -> &At<'a> {
        let mut root = self;
        while let Some(p) = root.parent.filter(|p| p.has(IGNORE)) {
            root = p;
        }
        root
    }
}
