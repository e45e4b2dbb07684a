//! The pieces of the expansion: the experiment's static, the decision, the comparator, the probes
//! and the noise run.

use super::*;

/// The call's pending shadow with `noise`: the candidate attached as usual, except that it
/// gets clones of the by-value copies and leaves the copies in a `Keep`, and the second run,
/// which takes them from there.
///
/// ```text
/// {
///     let keep = Keep::new();
///     let p = call.with_candidate({ PREP; let put = Keep::share(&keep);
///         move || { let c: T = v2(Clone::clone(&c0), c1.borrow()); put.put((c0, c1,)); c } });
///     p.with_noise_kept(keep, move |(c0, c1,)| { let again: T = f(c0, c1.borrow()); again })
/// }
/// ```
///
/// An `async fn` awaits both calls and uses `with_noise_kept_async`, whose closure makes the
/// second run's future: the runtime polls it on one thread, so it need not be `Send` (the
/// future of a function calling itself, which rustc cannot prove `Send`).
pub(super) fn noise_attach(
    m: &Model,
    prep: &[TokenStream],
    call_args: &[TokenStream],
    cand_annot: &TokenStream,
    candidate: &syn::Path,
) -> TokenStream {
    let krate = &m.krate;
    let private = quote!(#krate::__private);
    let ret = &m.ret;
    let cand_span = candidate.span();
    let copies: Vec<Ident> = (0..m.args.len())
        .map(|i| format_ident!("__parallel_run_c{}", i))
        .collect();
    let cand_args = m.args.iter().zip(call_args).map(|(arg, a)| match arg.pass {
        Pass::Value => quote_spanned!(arg.span=> ::core::clone::Clone::clone(&#a)),
        _ => a.clone(),
    });
    let call = quote_spanned!(cand_span=> #candidate(#(#cand_args),*));
    let self_path = &m.self_path;
    let again = quote!(#self_path(#(#call_args),*));
    let (attach, second) = if m.is_async {
        let call = quote_spanned!(cand_span=> #call.await);
        (
            quote! {
                __parallel_run_call.with_candidate_async({
                    #(#prep)*
                    let __parallel_run_put = #private::Keep::share(&__parallel_run_keep);
                    async move {
                        let __parallel_run_cand #cand_annot = #call;
                        __parallel_run_put.put((#(#copies,)*));
                        __parallel_run_cand
                    }
                }).await
            },
            quote! {
                __parallel_run_p.with_noise_kept_async(__parallel_run_keep, move |(#(#copies,)*)| async move {
                    let __parallel_run_again: #ret = #again.await;
                    __parallel_run_again
                })
            },
        )
    } else {
        (
            quote! {
                __parallel_run_call.with_candidate({
                    #(#prep)*
                    let __parallel_run_put = #private::Keep::share(&__parallel_run_keep);
                    move || {
                        let __parallel_run_cand #cand_annot = #call;
                        __parallel_run_put.put((#(#copies,)*));
                        __parallel_run_cand
                    }
                })
            },
            quote! {
                __parallel_run_p.with_noise_kept(__parallel_run_keep, move |(#(#copies,)*)| {
                    let __parallel_run_again: #ret = #again;
                    __parallel_run_again
                })
            },
        )
    };
    quote!({
        let __parallel_run_keep = #private::Keep::new();
        let __parallel_run_p = #attach;
        #second
    })
}

/// The experiment's `static`, with the attribute's settings as builder calls.
pub(super) fn experiment_static(
    m: &Model,
    exp: &Ident,
    candidate: &syn::Path,
    several: bool,
) -> TokenStream {
    let private = {
        let krate = &m.krate;
        quote!(#krate::__private)
    };
    let name = &m.name;
    // Several candidates: one experiment each, named after the function and the candidate.
    let name = if several {
        let cand = candidate.to_token_stream().to_string().replace(' ', "");
        quote!(::core::concat!(#name, "/", #cand))
    } else {
        name.clone()
    };
    let sample = proc_macro2::Literal::f64_suffixed(m.sample);
    let mut builders = TokenStream::new();
    match m.timeout_ms {
        None => {}
        Some(0) => builders.extend(quote!(.without_timeout())),
        Some(ms) => {
            let ms = proc_macro2::Literal::u64_suffixed(ms);
            builders.extend(quote!(.with_timeout_ms(#ms)));
        }
    }
    if m.on_caller {
        builders.extend(quote!(.on_caller_runtime()));
    }
    if m.compare_panics {
        builders.extend(quote!(.comparing_panics()));
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
    if let Some((rate, n)) = m.gate {
        let rate = proc_macro2::Literal::f64_suffixed(rate);
        let n = proc_macro2::Literal::u64_suffixed(n);
        builders.extend(quote!(.with_gate(#rate, #n)));
    }
    if let Some(days) = m.deadline {
        let days = proc_macro2::Literal::i64_suffixed(days);
        builders.extend(quote!(.with_deadline(#days)));
    }
    if let Some(rate) = m.noise {
        let rate = proc_macro2::Literal::f64_suffixed(rate);
        builders.extend(quote!(.with_noise(#rate)));
    }
    if let Some(w) = m.writes {
        let w = match w {
            Writes::Refuse => quote!(Refuse),
            Writes::DryRun => quote!(DryRun),
            Writes::Separate => quote!(Separate),
        };
        builders.extend(quote!(.with_writes(#private::WriteMode::#w)));
    }
    if several {
        builders.extend(quote!(.without_ramp()));
    }
    let mode = match m.mode {
        Mode::Detached => quote!(Detached),
        Mode::Inline => quote!(Inline),
    };
    let order = match m.order {
        Order::PrimaryFirst => quote!(PrimaryFirst),
        Order::Random => quote!(Random),
    };
    quote! {
        static #exp: #private::Experiment = #private::Experiment::new(
            #name,
            #sample,
            #private::Mode::#mode,
            #private::Order::#order,
        )#builders;
    }
}

/// The call's decision for one experiment. `run_if` and `sample_by` are evaluated only when the
/// experiment is on, before the primary, over the arguments by reference; each is checked at its
/// own expression's span.
pub(super) fn decide(m: &Model, exp: &Ident) -> TokenStream {
    let krate = &m.krate;
    let private = quote!(#krate::__private);
    let private_at = |span: Span| respan(private.clone(), span);
    if m.run_if.is_none() && m.sample_by.is_none() {
        return quote!(#exp.decide());
    }
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
            let e = operand(e);
            quote_spanned!(e.span()=> |__parallel_run_seed| #p::sample_key(&#e, __parallel_run_seed))
        }
        None => quote!(|_| ::core::option::Option::None),
    };
    quote!(#exp.decide_with(|| #run_if, #key))
}

/// `Typed`, `typed::Typed` or `parallel_run::typed::Typed` (any path ending in `typed::Typed`).
pub(super) fn is_typed(e: &Expr) -> bool {
    let Expr::Path(p) = e else { return false };
    if p.qself.is_some() {
        return false;
    }
    let segs: Vec<String> = p
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    match segs.as_slice() {
        [only] => only == "Typed",
        [.., module, last] => module == "typed" && last == "Typed",
        [] => false,
    }
}

/// The comparator of one experiment: the attribute's (checked at its span) or `PartialEq`,
/// wrapped by the error policy and the `ignore` rules.
pub(super) fn comparator(m: &Model, exp: &Ident) -> TokenStream {
    let krate = &m.krate;
    let private = quote!(#krate::__private);
    let private_at = |span: Span| respan(private.clone(), span);
    let ret = &m.ret;
    let ret_span = match &m.item.sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => m.item.sig.ident.span(),
    };
    // Each helper checks the comparator against the result type and wraps it in a `Checked`, whose
    // `Comparator` impl always holds: a comparator that does not fit is reported once, at the
    // `compare` expression (or at the return type for the default), not again at `run_*`.
    // A closure goes through `*closure_comparator`, whose `Fn(&T, &T)` bound types its parameters.
    let compare = match &m.compare {
        Some(expr) => {
            let span = expr.span();
            let private = private_at(span);
            let check = match (strip(expr), m.mode) {
                // `compare = Typed`: its own check, whose error says to derive `ShadowCompare`
                // (the generic `Comparator` one says to implement `Comparator`).
                (e, _) if is_typed(e) => quote_spanned!(span=> typed_comparator::<#ret>),
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
    if m.ignore.is_empty() {
        return compare;
    }
    let rules = m.ignore.iter().map(|r| {
        let p = private_at(r.span());
        quote_spanned!(r.span()=> #p::rule::<#ret>(#r))
    });
    quote! {
        #private::Ignoring {
            inner: #compare,
            rules: [#(#rules),*],
            experiment: &#exp,
        }
    }
}

/// How values are rendered in records, logs and diffs: the `clean` function if given (never the
/// raw `Debug` output, even when the cleaner fails), else `Debug` where implemented.
pub(super) fn probes(m: &Model, exp: &Ident) -> TokenStream {
    let krate = &m.krate;
    let private = quote!(#krate::__private);
    let ret = &m.ret;
    let render = match &m.clean {
        Some(f) => {
            let p = respan(private.clone(), f.span());
            quote_spanned!(f.span()=> |__parallel_run_v: &#ret| #p::cleaned(&#exp, #f, __parallel_run_v))
        }
        None => {
            quote!(|__parallel_run_v: &#ret| (&&&&#private::DebugProbe(__parallel_run_v)).__pr_debug())
        }
    };
    let probes = quote! {
        #private::Probes {
            debug: #render,
            is_err: |__parallel_run_v: &#ret| (&#private::ErrProbe(__parallel_run_v)).__pr_is_err(),
        }
    };
    // The default comparator is `PartialEq`: a mismatch of values that render identically says so.
    match &m.compare {
        None => quote!(#private::ByPartialEq(#probes)),
        Some(_) => probes,
    }
}
