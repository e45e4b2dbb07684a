//! Writes the new function body from the validated [`Model`].
//!
//! ```text
//! // Input:
//! #[parallel_run(candidate = total_v2)]
//! fn total(items: &[Item], currency: &str) -> Money { BODY }
//!
//! // Output (detached, sync; paths shortened):
//! fn total(items: &[Item], currency: &str) -> Money {
//!     static __PARALLEL_RUN_EXPERIMENT: Experiment = Experiment::new("crate::mod::total", 1.0, Detached, PrimaryFirst);
//!     let __parallel_run_pending = match __PARALLEL_RUN_EXPERIMENT.decide() {   // two atomics + one draw
//!         Some(call) => Some(call.with_candidate({
//!             let c0 = DetachedRef::detached_owned(items);                       // Vec<Item>, before the primary
//!             let c1 = DetachedRef::detached_owned(currency);                    // String
//!             move || { let c: Money = total_v2(c0.borrow(), c1.borrow()); c }
//!         })),
//!         None => None,
//!     };
//!     let __parallel_run_primary = move || { BODY };                          // the primary, untouched
//!     let __parallel_run_out: Money = match __parallel_run_pending {
//!         // the primary, then the candidate queued with a copy of its result (on a call a ramp
//!         // gives to the candidate: the candidate, then the primary as the shadow)
//!         Some(p) => run_detached(p, __parallel_run_primary, default_comparator::<Money>(), debug_probe),
//!         None => __parallel_run_primary(),
//!     };
//!     __parallel_run_out
//! }
//! ```
//!
//! An `async fn` is the same with `async move { BODY }` for the primary, an `async move` block for
//! the candidate and `.await` on the attach and run steps. Several candidates (`candidate = [a, b]`)
//! get one experiment each; the first runs the call, the others are finished with copies of the
//! primary's result. Full expansions are
//! snapshotted in `src/snapshots/` (see `tests.rs`).

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{AttrStyle, Attribute, Expr, Ident, Item, ItemFn, ReturnType};

use crate::parse::{self, Mode, Order, Writes};
use crate::validate::{self, Model, Pass};

mod parts;

use parts::*;

pub(crate) fn parallel_run(args: TokenStream, item: TokenStream) -> TokenStream {
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => return with_error(not_a_function(&item), item),
    };
    match parse::parse(args).and_then(|a| validate::validate(a, function)) {
        Ok(model) => expand(model),
        Err(e) => with_error(e, item),
    }
}

/// The item unchanged, plus the error: one mistake, one message.
fn with_error(e: syn::Error, item: TokenStream) -> TokenStream {
    let mut out = e.to_compile_error();
    out.extend(item);
    out
}

fn not_a_function(item: &TokenStream) -> syn::Error {
    let found = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Struct(s)) => Some((s.struct_token.span(), "a struct")),
        Ok(Item::Enum(e)) => Some((e.enum_token.span(), "an enum")),
        Ok(Item::Impl(i)) => Some((i.impl_token.span(), "an impl block")),
        Ok(Item::Trait(t)) => Some((t.trait_token.span(), "a trait")),
        Ok(Item::Mod(m)) => Some((m.mod_token.span(), "a module")),
        Ok(Item::Static(s)) => Some((s.static_token.span(), "a static")),
        Ok(Item::Const(c)) => Some((c.const_token.span(), "a const")),
        Ok(Item::Type(t)) => Some((t.type_token.span(), "a type alias")),
        Ok(Item::Use(u)) => Some((u.use_token.span(), "a use declaration")),
        _ => None,
    };
    let (span, what) = found.unwrap_or_else(|| {
        let span = item
            .clone()
            .into_iter()
            .next()
            .map_or_else(proc_macro2::Span::call_site, |t| t.span());
        (span, "an item that is not a function with a body")
    });
    syn::Error::new(
        span,
        format!("`#[parallel_run]` applies to functions and methods with a body, not to {what}"),
    )
}

/// The tokens with every span (recursively) set to `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut t| {
            if let TokenTree::Group(g) = &t {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                t = TokenTree::Group(group);
            } else {
                t.set_span(span);
            }
            t
        })
        .collect()
}

/// `expr` as the operand of a unary operator the expansion puts before it (`&#expr`): wrapped in
/// parentheses when it binds more loosely than `&` (`x + 1`, `n as u64`, `a..b`), so that the
/// operator applies to the whole expression, not to its first operand.
fn operand(expr: &Expr) -> TokenStream {
    let needs_parens = matches!(
        strip(expr),
        Expr::Binary(_)
            | Expr::Cast(_)
            | Expr::Range(_)
            | Expr::Assign(_)
            | Expr::Let(_)
            | Expr::Closure(_)
            | Expr::Return(_)
            | Expr::Break(_)
            | Expr::Yield(_)
    );
    if !needs_parens {
        return expr.to_token_stream();
    }
    let mut group = proc_macro2::Group::new(Delimiter::Parenthesis, expr.to_token_stream());
    group.set_span(expr.span());
    TokenTree::Group(group).into()
}

/// The expression inside any parentheses (or invisible groups) around it.
fn strip(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(p) => strip(&p.expr),
        Expr::Group(g) => strip(&g.expr),
        other => other,
    }
}

/// The most arguments (the receiver included) whose candidate call goes through the runtime's
/// signature check (`__private::CANDIDATE_ARITY`).
const CANDIDATE_ARITY: usize = 12;

fn expand(m: Model) -> TokenStream {
    let krate = &m.krate;
    let private = quote!(#krate::__private);
    // `private` spanned at a user token: a whole generated call then carries that token's span,
    // so rustc points at the argument (or return type) rather than at the attribute.
    let private_at = |span: Span| respan(private.clone(), span);
    // The return type, or the function's name when it returns `()` implicitly.
    let ret_span = match &m.item.sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => m.item.sig.ident.span(),
    };
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
        ..
    } = &m.item;
    // syn puts the body's inner attributes (`#![allow(..)]`) with the outer ones; they go back
    // into the body.
    let (inner_attrs, outer_attrs): (Vec<&Attribute>, Vec<&Attribute>) = attrs
        .iter()
        .partition(|a| matches!(a.style, AttrStyle::Inner(_)));

    // The primary: the original body, unchanged, in a closure (sync) or async block, so `return`
    // and `?` keep their meaning. The dead `if false` pins the block's type to the declared return
    // type for `?` inference, as tracing-attributes does.
    let ret = &m.ret;
    let ret_annot = quote!(: #ret);
    let fake_return = quote! {
        #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::needless_return)]
        if false {
            let __parallel_run_ret: #ret = loop {};
            return __parallel_run_ret;
        }
    };
    let destructure = &m.destructure;
    let primary = if m.is_async {
        quote!(async move { #fake_return #(#destructure)* #block })
    } else {
        quote!(move || { #fake_return #(#destructure)* #block })
    };

    // The candidate's copies of the arguments, made before the primary can consume them.
    let copy_path = &private;
    let mut prep = Vec::new();
    let mut call_args = Vec::new();
    for (i, arg) in m.args.iter().enumerate() {
        let span = arg.span;
        // The copy is declared with the macro's span but used with the argument's: a candidate
        // whose parameter type differs is reported at the argument (the declaration's span
        // changes nothing the user sees, and at the argument it would make rustc suggest
        // "consider borrowing here" for a missing `DetachedValue`).
        let c = format_ident!("__parallel_run_c{}", i);
        let c_use = format_ident!("__parallel_run_c{}", i, span = span);
        let name = &arg.name;
        let private = private_at(span);
        match (&arg.pass, m.mode) {
            // The copies' paths start with the attribute's span (`copy_path`) and end with the
            // argument's: rustc then reports the trait's message at the argument. A path wholly
            // at the argument makes rustc suggest "consider borrowing here" and drop the label.
            (Pass::Value, Mode::Detached) => {
                prep.push(quote_spanned!(span=>
                    let #c = #copy_path::DetachedValue::detached_copy(&#name);));
                call_args.push(c_use.to_token_stream());
            }
            (Pass::Value, Mode::Inline) => {
                prep.push(quote_spanned!(span=>
                    let #c = #copy_path::InlineValue::inline_copy(&#name);));
                call_args.push(c_use.to_token_stream());
            }
            (Pass::Ref(t), Mode::Detached) => {
                // `Self` inferred from the argument (not `<T as DetachedRef>`), so that rustc
                // reports `DetachedRef`'s message rather than std's `ToOwned -> Clone` leaf.
                prep.push(quote_spanned!(span=>
                    let #c = #copy_path::DetachedRef::detached_owned(#name);));
                call_args.push(quote_spanned!(span=>
                    <<#t as #private::DetachedRef>::Owned as ::core::borrow::Borrow<#t>>::borrow(&#c_use)));
            }
            (Pass::Ref(_), Mode::Inline) => call_args.push(name.clone()),
            // `Self` inferred, not named: `&mut impl Trait` works too.
            (Pass::RefMut, Mode::Inline) => {
                prep.push(quote_spanned!(span=>
                    #[allow(unused_mut)]
                    let mut #c = #copy_path::InlineMutCopy::inline_copy(&*#name);));
                call_args.push(quote_spanned!(span=> &mut #c_use));
            }
            (Pass::RefMut, Mode::Detached) => unreachable!("rejected by validate"),
        }
    }

    let exps: Vec<Ident> = (0..m.candidates.len())
        .map(|i| match i {
            0 => format_ident!("__PARALLEL_RUN_EXPERIMENT"),
            i => format_ident!("__PARALLEL_RUN_EXPERIMENT_{}", i),
        })
        .collect();
    let several = m.candidates.len() > 1;

    // One experiment per candidate: its static, its decision, and its pending call.
    let mut statics = Vec::new();
    let mut decisions = Vec::new();
    let mut pendings = Vec::new();
    let mut finishes = Vec::new();
    let mut run_first = TokenStream::new();
    for (i, (candidate, exp)) in m.candidates.iter().zip(&exps).enumerate() {
        let cand_span = candidate.span();
        let decision = format_ident!("__parallel_run_d{}", i);
        let pending = match i {
            0 => format_ident!("__parallel_run_pending"),
            i => format_ident!("__parallel_run_pending_{}", i),
        };
        statics.push(experiment_static(&m, exp, candidate, several));
        let decide = decide(&m, exp);
        // A second run of the primary (`noise`) runs the primary alone.
        let decide = match m.noise {
            None => decide,
            Some(_) => {
                quote!(if #private::second_run() { ::core::option::Option::None } else { #decide })
            }
        };
        decisions.push(quote!(let #decision = #decide;));

        // The candidate call carries the `candidate` path's span, so a signature mismatch
        // (argument types, return type, sync vs async) is reported at that path.
        // Through `call_candidate`, whose bound names both signatures there, rather than a type
        // mismatch at an argument with a suggestion to edit the function's own signature.
        let cand_annot = quote_spanned!(cand_span=> : #ret);
        let p = private_at(cand_span);
        let call = match (m.args.len() <= CANDIDATE_ARITY, m.is_async) {
            (true, false) => quote_spanned!(cand_span=>
                #p::call_candidate::<_, #ret, _>((#(#call_args,)*), #candidate)),
            (true, true) => quote_spanned!(cand_span=>
                #p::call_async_candidate::<_, #ret, _>((#(#call_args,)*), #candidate).await),
            (false, false) => quote_spanned!(cand_span=> #candidate(#(#call_args),*)),
            (false, true) => quote_spanned!(cand_span=> #candidate(#(#call_args),*).await),
        };
        // The candidate's future is written at the candidate's path: rustc reports a future that
        // is not `Send` (detached mode spawns it) there.
        let candidate_future = quote_spanned!(cand_span=> async move {
            let __parallel_run_cand #cand_annot = #call;
            __parallel_run_cand
        });

        // A sync inline first candidate without `noise` runs in one step with its call
        // (`ShadowCall::run_inline`): the call and the candidate wait together until then.
        let one_step = i == 0 && !m.is_async && m.mode == Mode::Inline && m.noise.is_none();
        // A sync candidate: the arguments' copies, then the closure that calls it.
        let sync_candidate = quote! {{
            #(#prep)*
            move || {
                let __parallel_run_cand #cand_annot = #call;
                __parallel_run_cand
            }
        }};
        let attach = if one_step {
            quote!((__parallel_run_call, #sync_candidate))
        } else if m.is_async {
            quote! {
                __parallel_run_call.with_candidate_async({
                    #(#prep)*
                    #candidate_future
                }).await
            }
        } else {
            quote!(__parallel_run_call.with_candidate(#sync_candidate))
        };
        let hook = m.on_outcome.as_ref().map(|h| {
            let p = private_at(h.span());
            quote_spanned!(h.span()=> let __parallel_run_call = __parallel_run_call.with_hook(#p::on_outcome(#h));)
        });
        let context = (!m.context.is_empty()).then(|| {
            let pairs = m.context.iter().map(|(k, v)| {
                let p = private_at(v.span());
                let v = operand(v);
                quote_spanned!(v.span()=> (#k, #p::ctx(&#v)))
            });
            // In a closure the runtime calls under `catch_unwind`: a panicking context value is
            // reported (helper `context`), never the caller's problem.
            quote!(let __parallel_run_call = __parallel_run_call.with_context_from(|| ::std::vec![#(#pairs),*]);)
        });
        // The sampling key's text for the call's records (evaluated again, shadowed calls only).
        let key_text = m.sample_by.as_ref().map(|e| {
            let p = private_at(e.span());
            let e = operand(e);
            quote_spanned!(e.span()=> let __parallel_run_call = __parallel_run_call.with_sample_key_from(|| #p::key_text(&#e));)
        });
        // The arguments as JSON (receivers left out), each checked at its own argument's span.
        let inputs = m.record_inputs.then(|| {
            let values = m.args.iter().filter(|a| a.name.to_string() != "self").map(|a| {
                let name = &a.name;
                let p = private_at(a.span);
                quote_spanned!(a.span=> #p::input(&#name))
            });
            quote!(let __parallel_run_call = __parallel_run_call.with_inputs_from(|| ::std::vec![#(#values),*]);)
        });
        let idem = m.idempotency_key.as_ref().map(|_| {
            quote!(let __parallel_run_call = __parallel_run_call.with_idempotency_key(::core::clone::Clone::clone(&__parallel_run_key));)
        });
        // `noise`: the primary's second run, which the runtime makes off the caller's path after
        // the candidate when it needs one. It calls the function by name (that nested call runs
        // its primary alone) with the candidate's own copies of the arguments, which the
        // candidate hands back through a `Keep` when it returns (it gets clones of the by-value
        // ones): nothing more is copied on the caller's path.
        let attached = match m.noise {
            None => attach,
            Some(_) => noise_attach(&m, &prep, &call_args, &cand_annot, candidate),
        };
        pendings.push(quote! {
            let #pending = match #decision {
                ::core::option::Option::Some(__parallel_run_call) => {
                    #context
                    #hook
                    #key_text
                    #inputs
                    #idem
                    ::core::option::Option::Some(#attached)
                }
                ::core::option::Option::None => ::core::option::Option::None,
            };
        });

        let compare = comparator(&m, exp);
        let debug = probes(&m, exp);
        // Detached mode goes through `__private::run_detached` (and its kin), called with the
        // return type's span: a result that cannot be copied is one error there. As for the
        // arguments' copies, the path starts at the attribute and ends at the return type, so
        // rustc reports the trait's own message (a path wholly at the return type makes it
        // suggest borrowing instead). The pending call is passed with the candidate's span: a
        // candidate future that is not `Send` is reported at the candidate.
        let pending_at_cand = Ident::new(&pending.to_string(), cand_span);
        if i == 0 {
            // The first candidate runs the whole call: the primary, then the candidate (or, on a
            // call a ramp gives to the candidate, the other way round).
            run_first = match (m.is_async, m.mode) {
                (false, Mode::Inline) if one_step => quote! {{
                    let (__parallel_run_call, __parallel_run_candidate) = #pending;
                    __parallel_run_call.run_inline(__parallel_run_candidate, __parallel_run_primary, &#compare, #debug)
                }},
                (false, Mode::Inline) => {
                    quote!(#pending.run_inline(__parallel_run_primary, &#compare, #debug))
                }
                (false, Mode::Detached) => quote_spanned!(ret_span=>
                    #private::run_detached::<#ret, _, _, _, _>(#pending_at_cand, __parallel_run_primary, #compare, #debug)),
                (true, Mode::Inline) => {
                    quote!(#pending.run_inline_async(__parallel_run_primary, &#compare, #debug).await)
                }
                (true, Mode::Detached) => {
                    let p = private_at(cand_span);
                    quote_spanned!(cand_span=>
                        #p::run_detached_async::<#ret, _, _, _, _>(#pending_at_cand, __parallel_run_primary, #compare, #debug).await)
                }
            };
        } else {
            // Further candidates (never served) are compared with the primary's result.
            let finish = match (m.is_async, m.mode) {
                (false, Mode::Inline) => {
                    quote!(#pending.finish_inline(&__parallel_run_out, &#compare, #debug);)
                }
                (false, Mode::Detached) => quote_spanned!(ret_span=>
                    #private::finish_detached::<#ret, _, _, _>(#pending_at_cand, &__parallel_run_out, #compare, #debug);),
                (true, Mode::Inline) => {
                    quote!(#pending.finish_inline_async(&__parallel_run_out, &#compare, #debug).await;)
                }
                (true, Mode::Detached) => {
                    let p = private_at(cand_span);
                    quote_spanned!(cand_span=>
                        #p::finish_detached_async::<#ret, _, _, _>(#pending_at_cand, &__parallel_run_out, #compare, #debug).await;)
                }
            };
            finishes.push(quote! {
                if let ::core::option::Option::Some(#pending) = #pending {
                    #[allow(unused_imports)]
                    use #private::{ViaDebug as _, ViaNoDebug as _, ViaNotResult as _, ViaResult as _, ViaShadow as _, ViaShadowDebug as _};
                    #finish
                }
            });
        }
    }

    // `before` runs once for a call that any candidate shadows, before anything else of the
    // shadow (each check at its own expression's span).
    let before = m.before.as_ref().map(|b| {
        let p = private_at(b.span());
        let any = (0..m.candidates.len()).map(|i| {
            let d = format_ident!("__parallel_run_d{}", i);
            quote!(::core::option::Option::is_some(&#d))
        });
        // `let _ =` accepts any value (even `#[must_use]` ones); for `()` clippy would object.
        // A closure without parameters (`before = || warm(&order)`) is called, not dropped.
        let run = match strip(b) {
            Expr::Closure(c) if c.inputs.is_empty() => {
                let b = operand(b);
                quote_spanned!(b.span()=> #b())
            }
            _ => b.to_token_stream(),
        };
        quote_spanned!(b.span()=>
            if #(#any)||* {
                #[allow(clippy::let_unit_value)]
                #p::before(&__PARALLEL_RUN_EXPERIMENT, || { let _ = #run; });
            }
        )
    });
    // `idempotency_key` is computed once per call, before anything runs, and given to both sides.
    let key = m.idempotency_key.as_ref().map(|e| {
        let p = private_at(e.span());
        let e = operand(e);
        quote_spanned!(e.span()=> let __parallel_run_key = #p::idempotency_key(&#e);)
    });
    let plain = match (&m.idempotency_key, m.is_async) {
        (None, false) => quote!(__parallel_run_primary()),
        (None, true) => quote!(__parallel_run_primary.await),
        (Some(_), false) => {
            quote!(#private::primary_with_key(&__PARALLEL_RUN_EXPERIMENT, __parallel_run_key, __parallel_run_primary))
        }
        (Some(_), true) => {
            quote!(#private::primary_with_key_async(&__PARALLEL_RUN_EXPERIMENT, __parallel_run_key, __parallel_run_primary).await)
        }
    };
    quote! {
        #(#outer_attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #(#statics)*
            #key
            #(#decisions)*
            #before
            #(#pendings)*
            // `unused_braces` would flag a one-line body (`{ x * 2 }`), now a block in a block.
            // `mut`: a body that mutates what it captures makes an `FnMut` closure.
            #[allow(unused_braces, unused_mut)]
            let mut __parallel_run_primary = #primary;
            let __parallel_run_out #ret_annot = match __parallel_run_pending {
                ::core::option::Option::Some(__parallel_run_pending) => {
                    #[allow(unused_imports)]
                    use #private::{ViaDebug as _, ViaNoDebug as _, ViaNotResult as _, ViaResult as _, ViaShadow as _, ViaShadowDebug as _};
                    #run_first
                }
                ::core::option::Option::None => #plain,
            };
            #(#finishes)*
            __parallel_run_out
        }
    }
}
