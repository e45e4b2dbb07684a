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
//!     let __parallel_run_out: Money = (move || { BODY })();                   // the primary, untouched
//!     if let Some(p) = __parallel_run_pending {
//!         p.finish_detached(DetachedResult::detached_copy(&__parallel_run_out), default_comparator::<Money>(), debug_probe);
//!     }
//!     __parallel_run_out
//! }
//! ```
//!
//! An `async fn` is the same with `async move { BODY }.await` for the primary, an `async move`
//! block for the candidate and `.await` on the attach and finish steps. Full expansions are
//! snapshotted in `src/snapshots/` (see `tests.rs`).

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{AttrStyle, Attribute, Expr, Item, ItemFn, ReturnType};

use crate::parse::{self, Mode, Order};
use crate::validate::{self, Model, Pass};

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
    let cand_span = m.candidate.span();
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
        quote!(async move { #fake_return #(#destructure)* #block }.await)
    } else {
        quote!((move || { #fake_return #(#destructure)* #block })())
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

    // The candidate call carries the `candidate` path's span, so a signature mismatch (argument
    // types, return type, sync vs async) is reported at that path.
    let candidate = &m.candidate;
    let cand_annot = quote_spanned!(cand_span=> : #ret);
    let call = quote_spanned!(cand_span=> #candidate(#(#call_args),*));
    let attach = if m.is_async {
        let call = quote_spanned!(cand_span=> #call.await);
        quote! {
            __parallel_run_call.with_candidate_async({
                #(#prep)*
                async move {
                    let __parallel_run_cand #cand_annot = #call;
                    __parallel_run_cand
                }
            }).await
        }
    } else {
        quote! {
            __parallel_run_call.with_candidate({
                #(#prep)*
                move || {
                    let __parallel_run_cand #cand_annot = #call;
                    __parallel_run_cand
                }
            })
        }
    };

    // Each helper checks the comparator against the result type and wraps it in a `Checked`, whose
    // `Comparator` impl always holds: a comparator that does not fit is reported once, at the
    // `compare` expression (or at the return type for the default), not again at `finish_*`.
    // A closure goes through `*closure_comparator`, whose `Fn(&T, &T)` bound types its parameters.
    let compare = match &m.compare {
        Some(expr) => {
            let span = expr.span();
            let private = private_at(span);
            let check = match (expr, m.mode) {
                (Expr::Closure(_), Mode::Inline) => {
                    quote_spanned!(span=> closure_comparator::<#ret, _, _>)
                }
                (Expr::Closure(_), Mode::Detached) => {
                    quote_spanned!(span=> detached_closure_comparator::<#ret, _, _>)
                }
                (_, Mode::Inline) => quote_spanned!(span=> comparator::<#ret, _>),
                (_, Mode::Detached) => {
                    quote_spanned!(span=> detached_comparator::<#ret, _>)
                }
            };
            quote_spanned!(span=> #private::#check(#expr))
        }
        None => {
            let private = private_at(ret_span);
            quote_spanned!(ret_span=> #private::default_comparator::<#ret>())
        }
    };
    // An error policy wraps the comparator (checked at the `errors` value: results only).
    let compare = match &m.errors {
        None => compare,
        Some(policy) => {
            let p = private_at(policy.span());
            let variant = match policy.to_string().as_str() {
                "match" => quote!(Match),
                "variant" => quote!(Variant),
                _ => quote!(Compare),
            };
            let ret_here = respan(ret.to_token_stream(), policy.span());
            quote_spanned!(policy.span()=> #p::on_errors::<#ret_here, _>(#compare, #p::ErrorPolicy::#variant))
        }
    };
    // `ignore` rules wrap the comparator; each rule is typed against the result at its own span.
    let compare = if m.ignore.is_empty() {
        compare
    } else {
        let rules = m.ignore.iter().map(|r| {
            let p = private_at(r.span());
            quote_spanned!(r.span()=> #p::rule::<#ret>(#r))
        });
        quote! {
            #private::Ignoring {
                inner: #compare,
                rules: [#(#rules),*],
                experiment: &__PARALLEL_RUN_EXPERIMENT,
            }
        }
    };
    // How values are rendered in records, logs and diffs: the `clean` function if given (never
    // the raw `Debug` output, even when the cleaner fails), else `Debug` where implemented.
    let render = match &m.clean {
        Some(f) => {
            let p = private_at(f.span());
            quote_spanned!(f.span()=> |__parallel_run_v: &#ret| #p::cleaned(&__PARALLEL_RUN_EXPERIMENT, #f, __parallel_run_v))
        }
        None => {
            quote!(|__parallel_run_v: &#ret| (&#private::DebugProbe(__parallel_run_v)).__pr_debug())
        }
    };
    let debug = quote! {
        #private::Probes {
            debug: #render,
            is_err: |__parallel_run_v: &#ret| (&#private::ErrProbe(__parallel_run_v)).__pr_is_err(),
        }
    };
    let copy_out = {
        let private = private_at(ret_span);
        quote_spanned!(ret_span=> #private::DetachedResult::detached_copy(&__parallel_run_out))
    };
    let finish = match (m.is_async, m.mode) {
        (false, Mode::Inline) => {
            quote!(__parallel_run_pending.finish_inline(&__parallel_run_out, &#compare, #debug);)
        }
        (false, Mode::Detached) => {
            quote!(__parallel_run_pending.finish_detached(#copy_out, #compare, #debug);)
        }
        (true, Mode::Inline) => {
            quote!(__parallel_run_pending.finish_inline_async(&__parallel_run_out, &#compare, #debug).await;)
        }
        (true, Mode::Detached) => {
            quote!(__parallel_run_pending.finish_detached_async(#copy_out, #compare, #debug).await;)
        }
    };

    // `before` runs only for shadowed calls, before anything else of the shadow; `context` is
    // evaluated there too (each value checked at its own expression).
    let before = m.before.as_ref().map(|b| {
        let p = private_at(b.span());
        // `let _ =` accepts any value (even `#[must_use]` ones); for `()` clippy would object.
        quote_spanned!(b.span()=>
            #[allow(clippy::let_unit_value)]
            #p::before(&__PARALLEL_RUN_EXPERIMENT, || { let _ = #b; });
        )
    });
    let hook = m.on_outcome.as_ref().map(|h| {
        let p = private_at(h.span());
        quote_spanned!(h.span()=> let __parallel_run_call = __parallel_run_call.with_hook(#p::on_outcome(#h));)
    });
    let context = (!m.context.is_empty()).then(|| {
        let pairs = m.context.iter().map(|(k, v)| {
            let p = private_at(v.span());
            quote_spanned!(v.span()=> (#k, #p::ctx(&#v)))
        });
        quote!(let __parallel_run_call = __parallel_run_call.with_context(::std::vec![#(#pairs),*]);)
    });
    let name = &m.name;
    let sample = proc_macro2::Literal::f64_suffixed(m.sample);
    let mut builders = TokenStream::new();
    if m.timeout_ms > 0 {
        let ms = proc_macro2::Literal::u64_suffixed(m.timeout_ms);
        builders.extend(quote!(.with_timeout_ms(#ms)));
    }
    if m.cpu_time {
        builders.extend(quote!(.with_cpu_time(true)));
    }
    if let Some(on) = m.strict {
        builders.extend(quote!(.with_strict(#on)));
    }
    if let Some(n) = m.max_in_flight {
        let n = proc_macro2::Literal::u64_suffixed(n);
        builders.extend(quote!(.with_max_in_flight(#n)));
    }
    // `run_if` and `sample_by` are evaluated only when the experiment is on, before the primary,
    // over the arguments by reference. Each is checked at its own expression's span.
    let decide = if m.run_if.is_none() && m.sample_by.is_none() {
        quote!(__PARALLEL_RUN_EXPERIMENT.decide())
    } else {
        let run_if = match &m.run_if {
            Some(e) => {
                let p = private_at(e.span());
                quote_spanned!(e.span()=> #p::run_if(#e))
            }
            None => quote!(true),
        };
        let key = match &m.sample_by {
            Some(e) => {
                let p = private_at(e.span());
                quote_spanned!(e.span()=> |__parallel_run_seed| #p::sample_key(&#e, __parallel_run_seed))
            }
            None => quote!(|_| ::core::option::Option::None),
        };
        quote!(__PARALLEL_RUN_EXPERIMENT.decide_with(|| #run_if, #key))
    };
    let mode = match m.mode {
        Mode::Detached => quote!(Detached),
        Mode::Inline => quote!(Inline),
    };
    let order = match m.order {
        Order::PrimaryFirst => quote!(PrimaryFirst),
        Order::Random => quote!(Random),
    };
    quote! {
        #(#outer_attrs)*
        #vis #sig {
            #(#inner_attrs)*
            static __PARALLEL_RUN_EXPERIMENT: #private::Experiment = #private::Experiment::new(
                #name,
                #sample,
                #private::Mode::#mode,
                #private::Order::#order,
            )#builders;
            let __parallel_run_pending = match #decide {
                ::core::option::Option::Some(__parallel_run_call) => {
                    #before
                    #context
                    #hook
                    ::core::option::Option::Some(#attach)
                }
                ::core::option::Option::None => ::core::option::Option::None,
            };
            // `unused_braces` would flag a one-line body (`{ x * 2 }`), now a block in a block.
            #[allow(unused_braces)]
            let __parallel_run_out #ret_annot = #primary;
            if let ::core::option::Option::Some(__parallel_run_pending) = __parallel_run_pending {
                #[allow(unused_imports)]
                use #private::{ViaDebug as _, ViaNoDebug as _, ViaNotResult as _, ViaResult as _};
                #finish
            }
            __parallel_run_out
        }
    }
}
