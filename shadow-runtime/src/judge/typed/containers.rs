//! `ShadowCompare` for what holds other values: pointers, `Option`, `Result`, sequences, sets,
//! maps, JSON values and tuples.

use super::*;

// ---------------------------------------------------------------------------------------------
// Wrappers: the pointee, at the same place.

macro_rules! pointers {
    ($($(#[$m:meta])* [$($g:tt)*] $t:ty => $inner:ident),* $(,)?) => {$(
        $(#[$m])*
        impl<$($g)*> ShadowCompare for $t {
            const MASKED: bool = $inner::MASKED;

            #[inline]
            fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
                (**self).shadow_diff(&**other, at, sink);
            }

            #[inline]
            fn shadow_same(&self, other: &Self) -> bool {
                (**self).shadow_same(&**other)
            }

            fn shadow_value(&self) -> Value {
                (**self).shadow_value()
            }
        }
    )*};
}
pointers!(
    [T: ShadowCompare + ?Sized] &T => T,
    [T: ShadowCompare + ?Sized] &mut T => T,
    [T: ShadowCompare + ?Sized] Box<T> => T,
    [T: ShadowCompare + ?Sized] Rc<T> => T,
    [T: ShadowCompare + ?Sized] Arc<T> => T,
    [B: ShadowCompare + ToOwned + ?Sized] Cow<'_, B> => B,
);

impl<T: ShadowCompare> ShadowCompare for Option<T> {
    const MASKED: bool = T::MASKED;

    /// Both `Some`: the values, at the same place; `Some` against `None`: a difference there
    /// (`None` renders as `null`).
    #[inline]
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        match (self, other) {
            (Some(a), Some(b)) => a.shadow_diff(b, at, sink),
            (None, None) => {}
            _ => sink.differ(at, Some(self), Some(other)),
        }
    }

    #[inline]
    fn shadow_same(&self, other: &Self) -> bool {
        match (self, other) {
            (Some(a), Some(b)) => a.shadow_same(b),
            (None, None) => true,
            _ => false,
        }
    }

    fn shadow_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, T::shadow_value)
    }
}

impl<T: ShadowCompare, E: ShadowCompare> ShadowCompare for Result<T, E> {
    const MASKED: bool = T::MASKED || E::MASKED;

    /// As serde sees it, `{"Ok": ..}` or `{"Err": ..}`: the same variant compares the values at
    /// `.Ok` / `.Err`; `Ok` against `Err` is one difference here, shown as the variant names.
    #[inline]
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        match (self, other) {
            (Ok(a), Ok(b)) if a.shadow_same(b) => {}
            (Err(a), Err(b)) if a.shadow_same(b) => {}
            (Ok(a), Ok(b)) => a.shadow_diff(b, &at.field("Ok"), sink),
            (Err(a), Err(b)) => a.shadow_diff(b, &at.field("Err"), sink),
            _ => {
                let name = |r: &Self| if r.is_ok() { "Ok" } else { "Err" };
                sink.differ(at, Some(name(self)), Some(name(other)));
            }
        }
    }

    #[inline]
    fn shadow_same(&self, other: &Self) -> bool {
        match (self, other) {
            (Ok(a), Ok(b)) => a.shadow_same(b),
            (Err(a), Err(b)) => a.shadow_same(b),
            _ => false,
        }
    }

    fn shadow_value(&self) -> Value {
        let (name, v) = match self {
            Ok(v) => ("Ok", v.shadow_value()),
            Err(e) => ("Err", e.shadow_value()),
        };
        Value::Object([(name.to_owned(), v)].into_iter().collect())
    }
}

// ---------------------------------------------------------------------------------------------
// Sequences.

/// Element by element (`[i]`, walking only the elements that are not the same; an element one
/// side lacks is a difference with `(missing)`), or as multisets under `unordered`.
pub(super) fn sequence<'x, T, I>(a: I, b: I, at: &At<'_>, sink: &mut Sink<'_>)
where
    T: ShadowCompare + 'x,
    I: ExactSizeIterator<Item = &'x T> + Clone,
{
    if at.has(UNORDERED) {
        return multiset(a, b, at, sink);
    }
    let (mut a, mut b) = (a, b);
    let mut i = 0;
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) => {
                if !x.shadow_same(y) {
                    x.shadow_diff(y, &at.index(i), sink);
                }
            }
            (None, None) => return,
            (x, y) => sink.differ(&at.index(i), x, y),
        }
        i += 1;
    }
}

/// As multisets: each element pairs with an equal one of the other side, first exactly, then
/// within the tolerances in force (recorded as tolerated). What is left over is a difference at
/// `.*`. Pairing is greedy. Equal sequences in the same order allocate nothing.
pub(super) fn multiset<'x, T, I>(a: I, b: I, at: &At<'_>, sink: &mut Sink<'_>)
where
    T: ShadowCompare + 'x,
    I: ExactSizeIterator<Item = &'x T> + Clone,
{
    let any = at.any();
    if a.len() == b.len()
        && a.clone()
            .zip(b.clone())
            .all(|(x, y)| x.shadow_same(y) || probe(x, y, &any) == (0, 0))
    {
        return;
    }
    let mut rest: Vec<&T> = b.collect();
    let mut unpaired = Vec::new();
    for x in a {
        match rest.iter().position(|y| probe(x, *y, &any) == (0, 0)) {
            Some(i) => {
                rest.remove(i);
            }
            None => unpaired.push(x),
        }
    }
    let mut missing = Vec::new();
    for x in unpaired {
        match rest.iter().position(|y| probe(x, *y, &any).0 == 0) {
            // Recorded at their own paths under `.*`, as tolerated or ignored.
            Some(i) => x.shadow_diff(rest.remove(i), &any, sink),
            None => missing.push(x),
        }
    }
    for x in missing {
        sink.differ(&any, Some(x), None);
    }
    for y in rest {
        sink.differ(&any, None, Some(y));
    }
}

/// The same length and the same elements in the same order. (Under `unordered` that is the
/// multiset comparison's own shortcut, so it holds there too.)
#[inline]
pub(super) fn same_sequence<'x, T, I>(a: I, b: I) -> bool
where
    T: ShadowCompare + 'x,
    I: ExactSizeIterator<Item = &'x T>,
{
    a.len() == b.len() && a.zip(b).all(|(x, y)| x.shadow_same(y))
}

pub(super) fn array_value<'x, T: ShadowCompare + 'x>(items: impl Iterator<Item = &'x T>) -> Value {
    Value::Array(items.map(T::shadow_value).collect())
}

impl<T: ShadowCompare> ShadowCompare for [T] {
    const MASKED: bool = T::MASKED;

    #[inline]
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        sequence(self.iter(), other.iter(), at, sink);
    }

    #[inline]
    fn shadow_same(&self, other: &Self) -> bool {
        same_sequence(self.iter(), other.iter())
    }

    fn shadow_value(&self) -> Value {
        array_value(self.iter())
    }
}

impl<T: ShadowCompare, const N: usize> ShadowCompare for [T; N] {
    const MASKED: bool = T::MASKED;

    #[inline]
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        self.as_slice().shadow_diff(other.as_slice(), at, sink);
    }

    #[inline]
    fn shadow_same(&self, other: &Self) -> bool {
        self.as_slice().shadow_same(other.as_slice())
    }

    fn shadow_value(&self) -> Value {
        array_value(self.iter())
    }
}

impl<T: ShadowCompare> ShadowCompare for Vec<T> {
    const MASKED: bool = T::MASKED;

    #[inline]
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        self.as_slice().shadow_diff(other.as_slice(), at, sink);
    }

    #[inline]
    fn shadow_same(&self, other: &Self) -> bool {
        self.as_slice().shadow_same(other.as_slice())
    }

    fn shadow_value(&self) -> Value {
        array_value(self.iter())
    }
}

impl<T: ShadowCompare> ShadowCompare for VecDeque<T> {
    const MASKED: bool = T::MASKED;

    #[inline]
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        sequence(self.iter(), other.iter(), at, sink);
    }

    #[inline]
    fn shadow_same(&self, other: &Self) -> bool {
        same_sequence(self.iter(), other.iter())
    }

    fn shadow_value(&self) -> Value {
        array_value(self.iter())
    }
}

impl<T: ShadowCompare + Ord> ShadowCompare for BTreeSet<T> {
    const MASKED: bool = T::MASKED;

    /// As sets (by `Ord`): an element of one side only is a difference at `.*`.
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        if self.len() == other.len() && self.iter().eq(other.iter()) {
            return;
        }
        let any = at.any();
        for x in self.difference(other) {
            sink.differ(&any, Some(x), None);
        }
        for y in other.difference(self) {
            sink.differ(&any, None, Some(y));
        }
    }

    /// The same elements, by `Eq` (`shadow_diff`'s own shortcut).
    fn shadow_same(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }

    fn shadow_value(&self) -> Value {
        array_value(self.iter())
    }
}

impl<T: ShadowCompare + Eq + Hash, S: BuildHasher> ShadowCompare for HashSet<T, S> {
    const MASKED: bool = T::MASKED;

    /// As sets (by `Eq`): an element of one side only is a difference at `.*`; several come in
    /// the order of their rendered values.
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        if self.len() == other.len() && self.iter().all(|x| other.contains(x)) {
            return;
        }
        let any = at.any();
        let (mut gone, mut new): (Vec<&T>, Vec<&T>) = (
            self.iter().filter(|x| !other.contains(*x)).collect(),
            other.iter().filter(|y| !self.contains(*y)).collect(),
        );
        if sink.recording() {
            gone.sort_by_cached_key(|x| x.shadow_value().to_string());
            new.sort_by_cached_key(|y| y.shadow_value().to_string());
        }
        for x in gone {
            sink.differ(&any, Some(x), None);
        }
        for y in new {
            sink.differ(&any, None, Some(y));
        }
    }

    /// The same elements, by `Eq` (`shadow_diff`'s own shortcut).
    fn shadow_same(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|x| other.contains(x))
    }

    fn shadow_value(&self) -> Value {
        let mut items: Vec<Value> = self.iter().map(T::shadow_value).collect();
        items.sort_by_cached_key(Value::to_string);
        Value::Array(items)
    }
}

// ---------------------------------------------------------------------------------------------
// Maps.

pub(super) fn map_value<'x, K: Display + 'x, V: ShadowCompare + 'x>(
    entries: impl Iterator<Item = (&'x K, &'x V)>,
) -> Value {
    Value::Object(
        entries
            .map(|(k, v)| (k.to_string(), v.shadow_value()))
            .collect(),
    )
}

impl<K: Display + Ord, V: ShadowCompare> ShadowCompare for BTreeMap<K, V> {
    const MASKED: bool = V::MASKED;

    /// Key by key (`.key`), by the keys' order; a key of one side only is a difference with
    /// `(missing)`.
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        let (mut a, mut b) = (self.iter().peekable(), other.iter().peekable());
        loop {
            let order = match (a.peek(), b.peek()) {
                (None, None) => return,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some((ka, _)), Some((kb, _))) => ka.cmp(kb),
            };
            match order {
                std::cmp::Ordering::Equal => {
                    let ((k, x), (_, y)) = (a.next().unwrap(), b.next().unwrap());
                    if !x.shadow_same(y) {
                        x.shadow_diff(y, &at.key(k), sink);
                    }
                }
                std::cmp::Ordering::Less => {
                    let (k, x) = a.next().unwrap();
                    one_sided(sink, &at.key(k), Some(x), None);
                }
                std::cmp::Ordering::Greater => {
                    let (k, y) = b.next().unwrap();
                    one_sided(sink, &at.key(k), None, Some(y));
                }
            }
        }
    }

    /// The same keys (by `Ord`), each with the same value.
    fn shadow_same(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .zip(other)
                .all(|((ka, x), (kb, y))| ka.cmp(kb).is_eq() && x.shadow_same(y))
    }

    fn shadow_value(&self) -> Value {
        map_value(self.iter())
    }
}

impl<K: Display + Eq + Hash, V: ShadowCompare, S: BuildHasher> ShadowCompare for HashMap<K, V, S> {
    const MASKED: bool = V::MASKED;

    /// Key by key (`.key`); a key of one side only is a difference with `(missing)`. The
    /// differences are sorted by path, so they come out the same on every run.
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        let mark = sink.mark();
        for (k, x) in self {
            match other.get(k) {
                Some(y) if x.shadow_same(y) => {}
                Some(y) => x.shadow_diff(y, &at.key(k), sink),
                None => one_sided(sink, &at.key(k), Some(x), None),
            }
        }
        for (k, y) in other {
            if !self.contains_key(k) {
                one_sided(sink, &at.key(k), None, Some(y));
            }
        }
        if sink.mark() != mark {
            sink.sort_since(mark);
        }
    }

    /// The same keys (by `Eq`), each with the same value.
    fn shadow_same(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .all(|(k, x)| other.get(k).is_some_and(|y| x.shadow_same(y)))
    }

    fn shadow_value(&self) -> Value {
        map_value(self.iter())
    }
}

// ---------------------------------------------------------------------------------------------
// JSON values.

impl ShadowCompare for Value {
    /// As [`Structural`](crate::judge::structural::Structural) compares two values, with the same paths
    /// and entries: objects key by key (`.key`, in key order; a key of one side only is
    /// `(missing)`, or tolerated under `missing_as_null` / `missing_as_empty`), arrays element by
    /// element (`[i]`, or as multisets at `.*` under `unordered`), numbers within the tolerance
    /// in force (integers exactly), strings under `trim` / `nfc`, and under `within` numbers read
    /// as epoch milliseconds and RFC 3339 strings; anything else that differs is one entry with
    /// both values.
    fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
        if self != other {
            value_differs(self, other, at, sink);
        }
    }

    #[inline]
    fn shadow_same(&self, other: &Self) -> bool {
        self == other
    }

    fn shadow_value(&self) -> Value {
        self.clone()
    }
}

/// Two different JSON values, as `Structural::walk` compares them.
#[cold]
#[inline(never)]
pub(super) fn value_differs(a: &Value, b: &Value, at: &At<'_>, sink: &mut Sink<'_>) {
    if at.has(IGNORE) {
        return sink.tolerated(at);
    }
    if let Some(w) = at.opts.within {
        let (x, y) = (
            crate::judge::structural::instant(a),
            crate::judge::structural::instant(b),
        );
        if x.zip(y).is_some_and(|(x, y)| x.abs_diff(y) <= w.as_nanos()) {
            return sink.tolerated(at);
        }
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let here = at.key(k);
                match (x.get(k), y.get(k)) {
                    (Some(va), Some(vb)) => {
                        if va != vb {
                            value_differs(va, vb, &here, sink);
                        }
                    }
                    (va, vb) => one_sided(sink, &here, va, vb),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => sequence(x.iter(), y.iter(), at, sink),
        (Value::Number(x), Value::Number(y)) => {
            let d = crate::judge::structural::number_gap(x, y);
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            if at.tolerates(d, x.abs().max(y.abs())) {
                sink.tolerated(at);
            } else {
                sink.differ(at, Some(a), Some(b));
            }
        }
        (Value::String(x), Value::String(y)) => str_differs(x, y, at, sink),
        _ => sink.differ(at, Some(a), Some(b)),
    }
}

// ---------------------------------------------------------------------------------------------
// Tuples.

macro_rules! tuples {
    ($(($($i:tt $t:ident),+))*) => {$(
        impl<$($t: ShadowCompare),+> ShadowCompare for ($($t,)+) {
            const MASKED: bool = $($t::MASKED)||+;

            #[inline]
            fn shadow_diff(&self, other: &Self, at: &At<'_>, sink: &mut Sink<'_>) {
                $(if !self.$i.shadow_same(&other.$i) {
                    self.$i.shadow_diff(&other.$i, &at.index($i), sink);
                })+
            }

            #[inline]
            fn shadow_same(&self, other: &Self) -> bool {
                $(self.$i.shadow_same(&other.$i))&&+
            }

            fn shadow_value(&self) -> Value {
                Value::Array(vec![$(self.$i.shadow_value()),+])
            }
        }
    )*};
}
tuples! {
    (0 A)
    (0 A, 1 B)
    (0 A, 1 B, 2 C)
    (0 A, 1 B, 2 C, 3 D)
    (0 A, 1 B, 2 C, 3 D, 4 E)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K, 11 L)
}
