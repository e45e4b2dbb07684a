//! Checks the parsed arguments against the function and builds the [`Model`] that `expand` writes
//! from: how each argument reaches the candidate, the return type, the settings.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, ToTokens};
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
    /// `timeout` in milliseconds (0: none), and `max_in_flight`.
    pub timeout_ms: u64,
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
                if mode == Mode::Detached && contains_impl_trait(&r.elem) {
                    return Err(syn::Error::new(
                        r.elem.span(),
                        format!(
                            "`{}` is a reference to an `impl Trait` type, which the detached candidate's copy cannot name; use a generic parameter (`fn f<T: Trait>(x: &T)`) or `mode = inline`",
                            name
                        ),
                    ));
                }
                Pass::Ref(Box::new(unparen(&r.elem)))
            }
            _ => Pass::Value,
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
        ReturnType::Type(_, ty) => (**ty).clone(),
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
        timeout_ms: args.timeout_ms.map_or(0, |t| t.value),
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
        order,
        krate: args
            .krate
            .map(|k| k.value)
            .unwrap_or_else(|| syn::parse_quote!(::parallel_run)),
        item,
    })
}

/// The type without redundant parentheses (`&(dyn A + B)` -> `dyn A + B`), so that naming it
/// elsewhere (`<T as Trait>`) does not trigger `unused_parens` on the user's tokens.
fn unparen(ty: &Type) -> Type {
    match ty {
        Type::Paren(p) => unparen(&p.elem),
        other => other.clone(),
    }
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
