//! Checks the parsed arguments against the function and builds the [`Model`] that `expand` writes
//! from: how each argument reaches the candidate, the return type, the settings.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned as _;
use syn::{Expr, FnArg, Ident, ItemFn, Pat, PatIdent, Path, ReceiverKind, ReturnType, Type};

use crate::parse::{Args, Mode, Order, Writes};

/// How an argument is handed to the candidate.
pub(crate) enum Pass {
    /// `x: T` (and `self`, `self: Arc<Self>`): the candidate gets a clone made before the primary.
    Value,
    /// `x: &T` (and `&self`): inline passes the same reference; detached passes a borrow of a
    /// `ToOwned` copy of `T`.
    Ref(Box<Type>),
    /// `x: &mut T` (and `&mut self`): inline only; the candidate gets `&mut` to a clone of `T`, so
    /// it never mutates what the caller sees.
    RefMut,
}

pub(crate) struct Arg {
    /// The name the body and the candidate call use (`self` for receivers).
    pub name: TokenStream,
    pub pass: Pass,
    /// The argument (its first token), for error spans.
    pub span: Span,
}

pub(crate) struct Model {
    pub item: ItemFn,
    /// `let PAT = __parallel_run_argN;` for arguments whose pattern is not a plain name.
    pub destructure: Vec<TokenStream>,
    pub args: Vec<Arg>,
    pub is_async: bool,
    /// The declared return type (`()` when there is none; `impl Trait` is rejected).
    pub ret: Type,
    /// The candidates, in order (usually one).
    pub candidates: Vec<Path>,
    pub compare: Option<Expr>,
    pub name: TokenStream,
    pub sample: f64,
    /// `timeout` in milliseconds (`Some(0)`: `timeout = "none"`; `None`: the runtime's default),
    /// and `max_in_flight`.
    pub timeout_ms: Option<u64>,
    pub max_in_flight: Option<u64>,
    pub sample_by: Option<Expr>,
    pub run_if: Option<Expr>,
    /// `ignore` rules, in order (empty: none).
    pub ignore: Vec<Expr>,
    /// `strict = ...`, if given.
    pub strict: Option<bool>,
    /// `errors = compare | match | variant`, if given.
    pub errors: Option<syn::Ident>,
    /// `context = { "key": value, ... }`, in order.
    pub context: Vec<(syn::LitStr, Expr)>,
    /// `before = expr`.
    pub before: Option<Expr>,
    /// `on_outcome = expr`: a `fn(&OutcomeRecord)` (or a closure without captures).
    pub on_outcome: Option<Expr>,
    /// `cpu_time = true`.
    pub cpu_time: bool,
    /// `clean = f`: `fn(&T) -> String` rendering values for everything that leaves the call.
    pub clean: Option<Expr>,
    /// `writes = ...`, if given.
    pub writes: Option<Writes>,
    /// `idempotency_key = expr`.
    pub idempotency_key: Option<Expr>,
    /// The promotion gate: `(min_match_rate, min_samples)`, if either is given.
    pub gate: Option<(f64, u64)>,
    /// `deadline`, in days since 1970-01-01.
    pub deadline: Option<i64>,
    /// `record_inputs = true`: the arguments (not the receiver) are serialised into the call's
    /// discrepancy records, for replay.
    pub record_inputs: bool,
    /// `noise = rate`: the primary is pure; on that share of shadowed calls it runs a second
    /// time (off the caller's path) to learn where it differs from itself.
    pub noise: Option<f64>,
    /// How the function calls itself for that second run: `f::<T>` or `Self::f::<T>`.
    pub self_path: TokenStream,
    pub mode: Mode,
    /// `runtime = caller`: a detached `async fn`'s candidate is spawned on the caller's runtime.
    pub on_caller: bool,
    /// `panics = compare`: a primary panic is compared with the candidate's outcome.
    pub compare_panics: bool,
    pub order: Order,
    pub krate: Path,
}

pub(crate) fn validate(args: Args, mut item: ItemFn) -> syn::Result<Model> {
    let Some(candidate) = args.candidate else {
        return Err(syn::Error::new(
            Span::call_site(),
            "missing `candidate`: name the new implementation, e.g. `#[parallel_run(candidate = process_v2)]`",
        ));
    };
    for path in &candidate.value {
        if names_itself(path, &item.sig) {
            let text = path_text(path);
            let me = item.sig.ident.unraw();
            let hint = if path.segments[0].ident == "Self" {
                String::new()
            } else {
                format!(
                    " (a free function named like an associated one: write its full path, `crate::module::{me}`)"
                )
            };
            return Err(syn::Error::new_spanned(
                path,
                format!(
                    "`candidate = {text}` is this function itself: every shadow run would call `{me}` again and start \
                     another shadow run, multiplying the load of each call; name the new implementation, e.g. \
                     `candidate = {me}_v2`{hint}"
                ),
            ));
        }
    }
    if let Some(c) = &item.sig.constness {
        return Err(syn::Error::new(
            c.span(),
            "`#[parallel_run]` cannot be used on a `const fn`",
        ));
    }
    if let Some(v) = &item.sig.variadic {
        return Err(syn::Error::new(
            v.span(),
            "`#[parallel_run]` cannot be used on a variadic function",
        ));
    }
    let mode = args.mode.as_ref().map_or(Mode::Detached, |m| m.value);
    let order = match &args.order {
        Some(o) if o.value == Order::Random && mode == Mode::Detached => {
            return Err(syn::Error::new(
                o.key,
                "`order` applies to `mode = inline`: a detached candidate always starts after the primary",
            ))
        }
        Some(o) => o.value,
        None => Order::PrimaryFirst,
    };
    if let Some(n) = &args.noise {
        if mode == Mode::Inline {
            return Err(syn::Error::new(
                n.key,
                "`noise` needs `mode = detached`: the primary's second run happens off the caller's path",
            ));
        }
        if let Some(bad) = item.sig.inputs.iter().find(|a| match a {
            FnArg::Typed(pt) => contains_impl_trait(&pt.ty),
            FnArg::Receiver(_) => false,
        }) {
            return Err(syn::Error::new(
                bad.span(),
                "`noise` runs the function a second time by name, which an `impl Trait` argument prevents; use a generic parameter",
            ));
        }
    }
    if let Some(r) = &args.runtime {
        if mode == Mode::Inline {
            return Err(syn::Error::new(
                r.key,
                "`runtime` applies to `mode = detached`: an inline candidate runs in the caller, on its runtime",
            ));
        }
        if item.sig.asyncness.is_none() {
            return Err(syn::Error::new(
                r.key,
                "`runtime` applies to an `async fn`: a sync function's detached candidate runs on the shadow lane's worker pool; remove `runtime`",
            ));
        }
    }
    if let (Some(o), Some(_)) = (&args.order, &args.idempotency_key) {
        if o.value == Order::Random {
            return Err(syn::Error::new(
                o.key,
                "`order = random` cannot be combined with `idempotency_key`: the primary must write first, so that the candidate's write with the same key is the one ignored",
            ));
        }
    }

    let mut model_args = Vec::new();
    let mut destructure = Vec::new();
    let generics = item.sig.generics.clone();
    for (i, input) in item.sig.inputs.iter_mut().enumerate() {
        let span = input.span();
        let (name, ty): (TokenStream, Type) = match input {
            FnArg::Receiver(r) => {
                let self_ty: Type = syn::parse_quote!(Self);
                let ty = match &r.kind {
                    ReceiverKind::Value => self_ty,
                    ReceiverKind::Reference(and, lt, mutability) => {
                        syn::parse_quote!(#and #lt #mutability Self)
                    }
                    ReceiverKind::Typed(_, ty) => (**ty).clone(),
                    _ => return Err(syn::Error::new(span, "unsupported receiver")),
                };
                (r.self_token.to_token_stream(), ty)
            }
            FnArg::Typed(pt) => {
                let name = match &*pt.pat {
                    Pat::Ident(PatIdent {
                        by_ref: None,
                        subpat: None,
                        ident,
                        ..
                    }) => ident.to_token_stream(),
                    other => {
                        // `(a, b): (u8, u8)`, `_: T`, `ref x: T`: take the argument under a
                        // generated name and destructure it at the top of the primary's body.
                        let generated = format_ident!("__parallel_run_arg{}", i);
                        let pat = other.clone();
                        destructure.push(quote!(let #pat = #generated;));
                        *pt.pat = syn::parse_quote!(#generated);
                        generated.to_token_stream()
                    }
                };
                (name, (*pt.ty).clone())
            }
        };
        let pass = match &ty {
            Type::Reference(r) if r.mutability.is_some() => {
                if mode == Mode::Inline {
                    missing_bounds(&name, &r.elem, &generics, &["Clone"], mode)?;
                }
                if mode == Mode::Detached {
                    return Err(syn::Error::new(
                        span,
                        format!(
                            "`&mut` argument `{}` cannot go to a detached candidate: it would see the caller's value change under it; use `mode = inline` (the candidate then gets `&mut` to its own copy)",
                            name
                        ),
                    ));
                }
                Pass::RefMut
            }
            Type::Reference(r) => {
                if mode == Mode::Detached && matches!(unparen(&r.elem), Type::TraitObject(_)) {
                    return Err(syn::Error::new_spanned(
                        &r.elem,
                        format!(
                            "`{name}: {}` cannot be copied for the detached candidate: a trait object has no owned copy; use \
                             `#[parallel_run(mode = inline, ...)]` (the candidate then gets the same reference), or a \
                             generic `&T` with `T: Clone + Send + 'static`",
                            type_text(&ty)
                        ),
                    ));
                }
                if mode == Mode::Detached && contains_impl_trait(&r.elem) {
                    return Err(syn::Error::new(
                        r.elem.span(),
                        format!(
                            "`{}` is a reference to an `impl Trait` type, which the detached candidate's copy cannot name; use a generic parameter (`fn f<T: Trait>(x: &T)`) or `mode = inline`",
                            name
                        ),
                    ));
                }
                if mode == Mode::Detached {
                    missing_bounds(&name, &r.elem, &generics, DETACHED_NEEDS, mode)?;
                }
                Pass::Ref(Box::new(unparen(&r.elem)))
            }
            _ => {
                let needs = if mode == Mode::Detached {
                    DETACHED_NEEDS
                } else {
                    &["Clone"][..]
                };
                missing_bounds(&name, &ty, &generics, needs, mode)?;
                Pass::Value
            }
        };
        model_args.push(Arg { name, pass, span });
    }

    let ret = match &item.sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) if contains_impl_trait(ty) => {
            return Err(syn::Error::new(
                ty.span(),
                "`#[parallel_run]` cannot compare `impl Trait` results: the primary's and the candidate's \
                 opaque types are different types; return a concrete type (or a `Box<dyn Trait>` with a comparator)",
            ))
        }
        ReturnType::Type(_, ty) => {
            if mode == Mode::Detached {
                if let Some(boxed) = boxed_std_trait_object(ty) {
                    let whole = type_text(ty);
                    let boxed_text = type_text(boxed);
                    let what = if whole == boxed_text {
                        format!("`-> {whole}`")
                    } else {
                        format!("`{boxed_text}` in `-> {whole}`")
                    };
                    return Err(syn::Error::new_spanned(
                        boxed,
                        format!(
                            "{what} cannot be copied, and detached mode compares a copy of the result off the caller's \
                             path: a boxed trait object of the standard library has no `Clone`; use \
                             `#[parallel_run(mode = inline, compare = ...)]` with a comparator for it \
                             (`compare = |primary, candidate| ...`)"
                        ),
                    ));
                }
                if let Some(span) = borrowed(ty) {
                    let text = type_text(ty);
                    return Err(syn::Error::new(
                        span,
                        format!(
                            "`-> {text}` borrows, and detached mode compares the result off the caller's path, after \
                             the borrow has ended; use `#[parallel_run(mode = inline, ...)]` (the comparison then \
                             happens within the call), or return an owned type"
                        ),
                    ));
                }
            }
            (**ty).clone()
        }
    };
    let ident: &Ident = &item.sig.ident;
    let name = match &args.name {
        Some(n) => n.value.to_token_stream(),
        None => {
            let fn_name = ident.to_string();
            quote!(::core::concat!(::core::module_path!(), "::", #fn_name))
        }
    };
    Ok(Model {
        is_async: item.sig.asyncness.is_some(),
        destructure,
        args: model_args,
        ret,
        candidates: candidate.value,
        compare: args.compare.map(|c| c.value),
        name,
        sample: args.sample.map_or(1.0, |s| s.value),
        timeout_ms: args.timeout_ms.map(|t| t.value),
        max_in_flight: args.max_in_flight.map(|n| n.value),
        sample_by: args.sample_by.map(|k| k.value),
        run_if: args.run_if.map(|r| r.value),
        ignore: args.ignore.map(|i| i.value).unwrap_or_default(),
        strict: args.strict.map(|s| s.value),
        errors: args.errors.map(|e| e.value),
        context: args.context.map(|c| c.value).unwrap_or_default(),
        before: args.before.map(|b| b.value),
        on_outcome: args.on_outcome.map(|h| h.value),
        cpu_time: args.cpu_time.is_some_and(|c| c.value),
        clean: args.clean.map(|c| c.value),
        writes: args.writes.map(|w| w.value),
        idempotency_key: args.idempotency_key.map(|k| k.value),
        gate: match (args.min_match_rate, args.min_samples) {
            (None, None) => None,
            (r, n) => Some((r.map_or(0.999, |r| r.value), n.map_or(1000, |n| n.value))),
        },
        deadline: args.deadline.map(|d| d.value.0),
        record_inputs: args.record_inputs.is_some_and(|r| r.value),
        noise: args.noise.map(|n| n.value).filter(|n| *n > 0.0),
        self_path: {
            let ident = &item.sig.ident;
            let params: Vec<TokenStream> = item
                .sig
                .generics
                .params
                .iter()
                .filter_map(|p| match p {
                    syn::GenericParam::Type(t) => Some(t.ident.to_token_stream()),
                    syn::GenericParam::Const(c) => Some(c.ident.to_token_stream()),
                    syn::GenericParam::Lifetime(_) => None,
                })
                .collect();
            let turbofish = (!params.is_empty()).then(|| quote!(::<#(#params),*>));
            let receiver = item
                .sig
                .inputs
                .iter()
                .any(|a| matches!(a, FnArg::Receiver(_)));
            if receiver {
                quote!(Self::#ident #turbofish)
            } else {
                quote!(#ident #turbofish)
            }
        },
        mode,
        compare_panics: args.compare_panics.as_ref().is_some_and(|c| c.value),
        on_caller: args
            .runtime
            .as_ref()
            .is_some_and(|r| r.value == crate::parse::Runtime::Caller),
        order,
        krate: args
            .krate
            .map(|k| k.value)
            .unwrap_or_else(|| syn::parse_quote!(::parallel_run)),
        item,
    })
}

/// Whether `candidate` names the annotated function itself, as far as the tokens tell:
/// `Self::f` always; `f` and `self::f` when `f` takes no receiver and its signature does not
/// mention `Self` (then it is a free function, or an associated one whose candidate would be a
/// free function of the same name, which the error tells how to name). Paths through `crate::`
/// or `super::` are not resolved here.
fn names_itself(candidate: &Path, sig: &syn::Signature) -> bool {
    let me = sig.ident.unraw();
    let segs: Vec<&syn::PathSegment> = candidate.segments.iter().collect();
    let Some(last) = segs.last() else {
        return false;
    };
    if last.ident.unraw() != me {
        return false;
    }
    let method_like = sig.receiver().is_some() || mentions_self(sig);
    match segs.len() {
        _ if candidate.leading_colon.is_some() => false,
        1 => !method_like,
        2 if segs[0].ident == "Self" => true,
        2 if segs[0].ident == "self" => !method_like,
        _ => false,
    }
}

/// `Self` anywhere in the signature (arguments, return type, bounds): the function is in an `impl`.
fn mentions_self(sig: &syn::Signature) -> bool {
    fn walk(ts: TokenStream) -> bool {
        ts.into_iter().any(|t| match t {
            proc_macro2::TokenTree::Ident(i) => i == "Self",
            proc_macro2::TokenTree::Group(g) => walk(g.stream()),
            _ => false,
        })
    }
    walk(sig.to_token_stream())
}

/// A type as the user would write it (`&'a [u8]`, not `& 'a [u8]`), for messages.
pub(crate) fn type_text(ty: &Type) -> String {
    let mut s = ty.to_token_stream().to_string();
    for (from, to) in [
        ("& ", "&"),
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
        (" :: ", "::"),
        (":: ", "::"),
        ("( ", "("),
        (" )", ")"),
        ("[ ", "["),
        (" ]", "]"),
    ] {
        s = s.replace(from, to);
    }
    s
}

/// A path as the user wrote it, without the spaces `to_string` puts between tokens.
pub(crate) fn path_text(path: &Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}

/// The type without redundant parentheses (`&(dyn A + B)` -> `dyn A + B`), so that naming it
/// elsewhere (`<T as Trait>`) does not trigger `unused_parens` on the user's tokens.
fn unparen(ty: &Type) -> Type {
    match ty {
        Type::Paren(p) => unparen(&p.elem),
        other => other.clone(),
    }
}

/// What detached mode needs of an argument's type (of the pointee, for `&T`).
const DETACHED_NEEDS: &[&str] = &["Clone", "Send", "'static"];

/// Traits of std (and serde) that imply none of `Clone`, `Send` and `'static`. A type parameter or
/// `impl Trait` bounded only by these (and `Clone`, `Copy`, `Send`, `Sync`, `Any`, `'static`, ...)
/// is known, from its bounds alone, to lack what the copy needs; with any other trait, a
/// supertrait might supply it, and the type system decides.
const INERT_TRAITS: &[&str] = &[
    "Into",
    "From",
    "TryInto",
    "TryFrom",
    "AsRef",
    "AsMut",
    "Borrow",
    "BorrowMut",
    "Display",
    "Debug",
    "ToString",
    "PartialEq",
    "Eq",
    "PartialOrd",
    "Ord",
    "Hash",
    "Default",
    "Iterator",
    "IntoIterator",
    "DoubleEndedIterator",
    "ExactSizeIterator",
    "Fn",
    "FnMut",
    "FnOnce",
    "Future",
    "IntoFuture",
    "Read",
    "Write",
    "BufRead",
    "Seek",
    "Error",
    "FromStr",
    "Serialize",
    "Deserialize",
    "DeserializeOwned",
    "Sized",
    "Unpin",
    "Sync",
    "Deref",
    "DerefMut",
    "Drop",
];

/// An argument whose type is a type parameter or an `impl Trait` of the function, bounded so
/// that it is known to lack what its copy for the candidate needs (`needs`: `Clone`, `Send`,
/// `'static`): an error naming the bounds to add. rustc's own error for it would suggest
/// restricting the type with the runtime's private helper traits.
fn missing_bounds(
    name: &TokenStream,
    ty: &Type,
    generics: &syn::Generics,
    needs: &[&str],
    mode: Mode,
) -> syn::Result<()> {
    let (bounds, what): (Vec<&syn::TypeParamBound>, String) = match unparen(ty) {
        Type::ImplTrait(_) => {
            let Type::ImplTrait(it) = ty_unparen_ref(ty) else {
                return Ok(());
            };
            (it.bounds.iter().collect(), type_text(ty))
        }
        Type::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
            let id = p.path.get_ident().expect("checked");
            let Some(param) = generics.type_params().find(|t| &t.ident == id) else {
                return Ok(());
            };
            let mut all: Vec<&syn::TypeParamBound> = param.bounds.iter().collect();
            if let Some(wc) = &generics.where_clause {
                for pred in &wc.predicates {
                    if let syn::WherePredicate::Type(pt) = pred {
                        if matches!(&pt.bounded_ty, Type::Path(b) if b.path.is_ident(id)) {
                            all.extend(pt.bounds.iter());
                        }
                    }
                }
            }
            (all, id.to_string())
        }
        _ => return Ok(()),
    };
    let mut has: Vec<&str> = Vec::new();
    for b in &bounds {
        match b {
            syn::TypeParamBound::Lifetime(l) if l.ident == "static" => has.push("'static"),
            syn::TypeParamBound::Lifetime(_) => {}
            syn::TypeParamBound::Trait(t) => {
                if t.maybe.is_some() {
                    continue;
                }
                let Some(last) = t.path.segments.last() else {
                    return Ok(());
                };
                match last.ident.to_string().as_str() {
                    "Clone" => has.push("Clone"),
                    "Copy" => has.extend(["Clone"]),
                    "Send" => has.push("Send"),
                    "Any" => has.push("'static"),
                    other if INERT_TRAITS.contains(&other) => {}
                    // A trait of its own: its supertraits may provide the rest.
                    _ => return Ok(()),
                }
            }
            _ => return Ok(()),
        }
    }
    let missing: Vec<&str> = needs.iter().copied().filter(|n| !has.contains(n)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let add = missing.join(" + ");
    let how = match unparen(ty) {
        Type::ImplTrait(_) => format!("write `{what} + {add}`"),
        _ => format!("add `{what}: {add}` to its bounds"),
    };
    let why = match mode {
        Mode::Detached => "detached mode gives the candidate its own copy, on another thread",
        Mode::Inline => "the candidate gets its own copy of it",
    };
    let alternative = match mode {
        Mode::Detached => ", or use `#[parallel_run(mode = inline, ...)]`",
        Mode::Inline => "",
    };
    Err(syn::Error::new_spanned(
        ty,
        format!("argument `{name}` of type `{what}` is not known to be `{add}`, and {why}: {how}{alternative}"),
    ))
}

/// A `Box<dyn Trait>` in the type (`Box<dyn Debug>`, `Result<T, Box<dyn Error + Send + Sync>>`)
/// whose traits are all the standard library's: it has no `Clone` (the orphan rule forbids one),
/// so detached mode can never copy it. A box of a trait of the user's may have one.
fn boxed_std_trait_object(ty: &Type) -> Option<&Type> {
    match ty_unparen_ref(ty) {
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last()?;
            let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
                return None;
            };
            let types = args.args.iter().filter_map(|a| match a {
                syn::GenericArgument::Type(t) => Some(t),
                _ => None,
            });
            if last.ident == "Box" {
                if let Some(Type::TraitObject(obj)) = types.clone().next().map(ty_unparen_ref) {
                    let std_only = obj.bounds.iter().all(|b| match b {
                        syn::TypeParamBound::Trait(t) => t.path.segments.last().is_some_and(|s| {
                            let name = s.ident.to_string();
                            INERT_TRAITS.contains(&name.as_str()) || name == "Send" || name == "Any"
                        }),
                        syn::TypeParamBound::Lifetime(_) => true,
                        _ => false,
                    });
                    if std_only {
                        return Some(ty);
                    }
                }
            }
            types.into_iter().find_map(boxed_std_trait_object)
        }
        Type::Tuple(t) => t.elems.iter().find_map(boxed_std_trait_object),
        Type::Array(a) => boxed_std_trait_object(&a.elem),
        _ => None,
    }
}

/// `ty` without parentheses, by reference.
fn ty_unparen_ref(ty: &Type) -> &Type {
    match ty {
        Type::Paren(p) => ty_unparen_ref(&p.elem),
        Type::Group(g) => ty_unparen_ref(&g.elem),
        other => other,
    }
}

/// The first borrow in a type that is not `'static`: a reference (`&str`, `&'a [u8]`) or a
/// lifetime argument (`Cow<'a, str>`, `Ref<'_, T>`, `dyn Trait + 'a`). Lifetimes bound inside
/// a function pointer type (`fn(&str) -> &str`) or a `for<'a>` bound do not count.
fn borrowed(ty: &Type) -> Option<Span> {
    let lifetime = |l: &syn::Lifetime| (l.ident != "static").then(|| l.span());
    let bounds = |bounds: &syn::punctuated::Punctuated<syn::TypeParamBound, syn::Token![+]>| {
        bounds.iter().find_map(|b| match b {
            syn::TypeParamBound::Lifetime(l) => lifetime(l),
            syn::TypeParamBound::Trait(t) if t.lifetimes.is_none() => path_borrows(&t.path),
            _ => None,
        })
    };
    match ty {
        Type::Reference(r) => match &r.lifetime {
            Some(l) if l.ident == "static" => borrowed(&r.elem),
            _ => Some(r.and_token.span),
        },
        Type::Path(p) => p
            .qself
            .as_ref()
            .and_then(|q| borrowed(&q.ty))
            .or_else(|| path_borrows(&p.path)),
        Type::Tuple(t) => t.elems.iter().find_map(borrowed),
        Type::Array(a) => borrowed(&a.elem),
        Type::Slice(s) => borrowed(&s.elem),
        Type::Paren(p) => borrowed(&p.elem),
        Type::Group(g) => borrowed(&g.elem),
        Type::TraitObject(t) => bounds(&t.bounds),
        _ => None,
    }
}

fn path_borrows(path: &Path) -> Option<Span> {
    path.segments.iter().find_map(|seg| match &seg.arguments {
        syn::PathArguments::AngleBracketed(a) => a.args.iter().find_map(|arg| match arg {
            syn::GenericArgument::Lifetime(l) => (l.ident != "static").then(|| l.span()),
            syn::GenericArgument::Type(t) => borrowed(t),
            syn::GenericArgument::AssocType(b) => borrowed(&b.ty),
            _ => None,
        }),
        syn::PathArguments::Parenthesized(_) | syn::PathArguments::None => None,
    })
}

/// `impl Trait` anywhere in the type (`impl Display`, `Box<impl Fn()>`, `(impl A, u8)`).
fn contains_impl_trait(ty: &Type) -> bool {
    fn walk(ts: TokenStream) -> bool {
        ts.into_iter().any(|t| match t {
            proc_macro2::TokenTree::Ident(i) => i == "impl",
            proc_macro2::TokenTree::Group(g) => walk(g.stream()),
            _ => false,
        })
    }
    walk(ty.to_token_stream())
}
