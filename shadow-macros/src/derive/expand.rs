//! Writes the `ShadowCompare` impl from the [`Model`].
//!
//! ```text
//! // Input:
//! #[derive(ShadowCompare)]
//! struct Invoice<T> {
//!     id: u64,
//!     #[shadow(tolerance = 0.005)]
//!     total: f64,
//!     #[shadow(sensitive)]
//!     card: String,
//!     lines: Vec<T>,
//! }
//!
//! // Output (P = ::parallel_run::__private::typed):
//! impl<T> P::ShadowCompare for Invoice<T> where T: P::ShadowCompare {
//!     fn shadow_diff(&self, __pr_other: &Self, __pr_at: &P::At<'_>, __pr_sink: &mut P::Sink<'_>) {
//!         let Self { id: __pr_a0, total: __pr_a1, card: __pr_a2, lines: __pr_a3 } = self;
//!         let Self { id: __pr_b0, total: __pr_b1, card: __pr_b2, lines: __pr_b3 } = __pr_other;
//!         if !<u64 as P::ShadowCompare>::shadow_same(__pr_a0, __pr_b0) {
//!             <u64 as P::ShadowCompare>::shadow_diff(__pr_a0, __pr_b0, &__pr_at.field("id"), __pr_sink);
//!         }
//!         if !<f64 as P::ShadowCompare>::shadow_same(__pr_a1, __pr_b1) {
//!             <f64 as P::ShadowCompare>::shadow_diff(__pr_a1, __pr_b1, &__pr_at.field("total").tolerance(0.005f64, 0f64), __pr_sink);
//!         }
//!         // .. `card` and `lines` alike.
//!     }
//!     fn shadow_same(&self, __pr_other: &Self) -> bool {
//!         let Self { id: __pr_a0, total: __pr_a1, card: __pr_a2, lines: __pr_a3 } = self;
//!         let Self { id: __pr_b0, total: __pr_b1, card: __pr_b2, lines: __pr_b3 } = __pr_other;
//!         <u64 as P::ShadowCompare>::shadow_same(__pr_a0, __pr_b0)
//!             && <f64 as P::ShadowCompare>::shadow_same(__pr_a1, __pr_b1)
//!             && <String as P::ShadowCompare>::shadow_same(__pr_a2, __pr_b2)
//!             && <Vec<T> as P::ShadowCompare>::shadow_same(__pr_a3, __pr_b3)
//!     }
//!     fn shadow_value(&self) -> P::Value {
//!         let Self { id: __pr_a0, .. } = self;
//!         P::object([("id", <u64 as P::ShadowCompare>::shadow_value(__pr_a0)), /* .. */ ("card", P::redacted()), /* .. */])
//!     }
//!     // A sensitive field: the type is rendered through its masked `shadow_value`, never `Debug`
//!     // (without one: `<u64 as P::ShadowCompare>::MASKED || <f64 as ..>::MASKED || ..`).
//!     const MASKED: bool = true;
//! }
//! ```
//!
//! An enum matches both sides: the same variant compares its fields under `.Variant`, different
//! variants are one difference at the enum's place, shown as the variant names. Each field's
//! call is spanned at the field's type, so a type without `ShadowCompare` is reported there.
//!
//! `shadow_same` is every field's `shadow_same` in order, short-circuiting (`==` for a
//! `#[shadow(eq)]` field), and `false` for different variants. Ignored fields are compared too:
//! a difference under one is recorded (in `Diff::ignored`), so it is not the same value. The
//! field options play no part: they only decide how a difference is reported. `shadow_diff`
//! asks each field's `shadow_same` first and builds the field's place only for a field that is
//! not the same, so a walk of mostly equal values costs about a comparison of them.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, Generics, Ident, Path};

use super::attr::{Body, FieldModel, Model, Shape, Style, VariantModel};

/// `#krate::__private::typed`.
fn private(krate: &Path) -> TokenStream {
    quote!(#krate::__private::typed)
}

pub(crate) fn expand(m: &Model<'_>) -> TokenStream {
    let p = private(&m.krate);
    let masked = masked(m, &p);
    let (diff, same, value) = match &m.body {
        Body::Struct(shape) => (
            struct_diff(shape, &p),
            struct_same(shape, &p),
            struct_value(shape, &p),
        ),
        Body::Enum(variants) => (
            enum_diff(variants, &p),
            enum_same(variants, &p),
            enum_value(variants, &p),
        ),
    };
    imp(m.input, &p, diff, same, value, masked)
}

/// Whether the type may show a part as `"***"`: a `#[shadow(sensitive)]` field, or a field whose
/// type may (`<F as ShadowCompare>::MASKED`; not for `#[shadow(eq)]` fields, shown with `Debug`).
fn masked(m: &Model<'_>, p: &TokenStream) -> TokenStream {
    let shapes: Vec<&Shape<'_>> = match &m.body {
        Body::Struct(shape) => vec![shape],
        Body::Enum(variants) => variants.iter().map(|v| &v.shape).collect(),
    };
    let fields = shapes.iter().flat_map(|s| s.fields.iter());
    if fields.clone().any(|f| f.opts.sensitive.is_some()) {
        return quote!(true);
    }
    let terms: Vec<TokenStream> = fields
        .filter(|f| f.opts.eq.is_none())
        .map(|f| {
            let ty = f.ty;
            quote!(<#ty as #p::ShadowCompare>::MASKED)
        })
        .collect();
    if terms.is_empty() {
        quote!(false)
    } else {
        quote!(#(#terms)||*)
    }
}

/// The impl with stub bodies, emitted next to the errors so that uses of the type do not add
/// "`ShadowCompare` is not implemented" errors of their own.
pub(crate) fn fallback(input: &DeriveInput, krate: &Path) -> TokenStream {
    let p = private(krate);
    let unreachable = quote!(::core::unreachable!("`#[derive(ShadowCompare)]` failed"));
    imp(
        input,
        &p,
        unreachable.clone(),
        unreachable.clone(),
        unreachable,
        quote!(false),
    )
}

fn imp(
    input: &DeriveInput,
    p: &TokenStream,
    diff: TokenStream,
    same: TokenStream,
    value: TokenStream,
    masked: TokenStream,
) -> TokenStream {
    let ident = &input.ident;
    let generics = bounded(&input.generics, p);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics #p::ShadowCompare for #ident #ty_generics #where_clause {
            fn shadow_diff(
                &self,
                __pr_other: &Self,
                __pr_at: &#p::At<'_>,
                __pr_sink: &mut #p::Sink<'_>,
            ) {
                #diff
            }

            fn shadow_same(&self, __pr_other: &Self) -> bool {
                #same
            }

            fn shadow_value(&self) -> #p::Value {
                #value
            }

            const MASKED: bool = #masked;
        }
    }
}

/// The generics with `T: ShadowCompare` for every type parameter.
fn bounded(generics: &Generics, p: &TokenStream) -> Generics {
    let mut g = generics.clone();
    let params: Vec<Ident> = g.type_params().map(|t| t.ident.clone()).collect();
    let wc = g.make_where_clause();
    for t in params {
        wc.predicates.push(syn::parse_quote!(#t: #p::ShadowCompare));
    }
    g
}

/// `{ a: __pr_a0, b: __pr_a1 }` (also for tuple fields: `{ 0: __pr_a0 }`), or nothing for a unit
/// shape; and the bound names.
fn pattern(shape: &Shape<'_>, side: char) -> (TokenStream, Vec<Ident>) {
    if shape.style == Style::Unit {
        return (TokenStream::new(), Vec::new());
    }
    let names: Vec<Ident> = (0..shape.fields.len())
        .map(|i| format_ident!("__pr_{}{}", side, i))
        .collect();
    let members = shape.fields.iter().map(|f| &f.member);
    (quote!({ #(#members: #names),* }), names)
}

/// The place of field `i` under `base` (a `&At`): `.name`, `[i]`, or `base` itself for a newtype;
/// with the field's options.
fn field_at(shape: &Shape<'_>, i: usize, base: &TokenStream, p: &TokenStream) -> TokenStream {
    let f = &shape.fields[i];
    let mut at = match shape.style {
        _ if shape.is_newtype() => quote!((*#base)),
        Style::Named => {
            let name = &f.name;
            quote!(#base.field(#name))
        }
        _ => {
            let index = Literal::usize_unsuffixed(i);
            quote!(#base.index(#index))
        }
    };
    let o = &f.opts;
    if o.tolerance.is_some() || o.relative.is_some() {
        let abs = Literal::f64_suffixed(o.tolerance.map_or(0.0, |t| t.1));
        let rel = Literal::f64_suffixed(o.relative.map_or(0.0, |t| t.1));
        at.extend(quote!(.tolerance(#abs, #rel)));
    }
    if let Some((_, nanos)) = o.within {
        let nanos = Literal::u64_suffixed(nanos);
        at.extend(quote!(.within(#p::Duration::from_nanos(#nanos))));
    }
    for (given, method) in [
        (o.unordered, "unordered"),
        (o.trim, "trim"),
        (o.nfc, "nfc"),
        (o.sensitive, "sensitive"),
        (o.missing_as_null, "missing_as_null"),
        (o.missing_as_empty, "missing_as_empty"),
        (o.ignore, "ignore"),
    ] {
        if given.is_some() {
            let method = Ident::new(method, proc_macro2::Span::call_site());
            at.extend(quote!(.#method()));
        }
    }
    at
}

/// One field's comparison, spanned at its type.
fn field_diff(
    f: &FieldModel<'_>,
    a: &Ident,
    b: &Ident,
    at: TokenStream,
    p: &TokenStream,
) -> TokenStream {
    let ty = f.ty;
    let same = field_same(f, a, b, p);
    if f.opts.eq.is_some() {
        quote_spanned!(ty.span()=> if !#same { <#ty as #p::EqLeaf>::eq_diff(#a, #b, &#at, __pr_sink); })
    } else {
        quote_spanned!(ty.span()=> if !#same { <#ty as #p::ShadowCompare>::shadow_diff(#a, #b, &#at, __pr_sink); })
    }
}

/// Whether one field is the same on both sides, spanned at its type.
fn field_same(f: &FieldModel<'_>, a: &Ident, b: &Ident, p: &TokenStream) -> TokenStream {
    let ty = f.ty;
    if f.opts.eq.is_some() {
        quote_spanned!(ty.span()=> <#ty as #p::EqLeaf>::eq_same(#a, #b))
    } else {
        quote_spanned!(ty.span()=> <#ty as #p::ShadowCompare>::shadow_same(#a, #b))
    }
}

/// One field's value (`v` is a reference to it), spanned at its type.
fn field_value(f: &FieldModel<'_>, v: &Ident, p: &TokenStream) -> TokenStream {
    let ty = f.ty;
    if f.opts.sensitive.is_some() {
        quote!(#p::redacted())
    } else if f.opts.eq.is_some() {
        quote_spanned!(ty.span()=> <#ty as #p::EqLeaf>::eq_value(#v))
    } else {
        quote_spanned!(ty.span()=> <#ty as #p::ShadowCompare>::shadow_value(#v))
    }
}

/// The comparisons of a shape's fields, bound as `__pr_a*` / `__pr_b*`, under `base`.
fn fields_diff(shape: &Shape<'_>, base: &TokenStream, p: &TokenStream) -> TokenStream {
    let (_, a) = pattern(shape, 'a');
    let (_, b) = pattern(shape, 'b');
    let stmts = shape
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| field_diff(f, &a[i], &b[i], field_at(shape, i, base, p), p));
    quote!(#(#stmts)*)
}

/// Whether every field of a shape, bound as `__pr_a*` / `__pr_b*`, is the same: `a && b && ..`,
/// or `true` without fields.
fn fields_same(shape: &Shape<'_>, p: &TokenStream) -> TokenStream {
    if shape.fields.is_empty() {
        return quote!(true);
    }
    let (_, a) = pattern(shape, 'a');
    let (_, b) = pattern(shape, 'b');
    let terms = shape
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| field_same(f, &a[i], &b[i], p));
    quote!(#(#terms)&&*)
}

/// The value of a shape's fields, bound as `__pr_a*`: an object, an array, the newtype's value,
/// or `null`.
fn fields_value(shape: &Shape<'_>, p: &TokenStream) -> TokenStream {
    let (_, a) = pattern(shape, 'a');
    let values: Vec<TokenStream> = shape
        .fields
        .iter()
        .zip(&a)
        .map(|(f, v)| field_value(f, v, p))
        .collect();
    match shape.style {
        _ if shape.is_newtype() => values[0].clone(),
        Style::Named => {
            let names = shape.fields.iter().map(|f| &f.name);
            quote!(#p::object([#((#names, #values)),*]))
        }
        Style::Tuple => quote!(#p::array([#(#values),*])),
        Style::Unit => quote!(#p::Value::Null),
    }
}

fn struct_diff(shape: &Shape<'_>, p: &TokenStream) -> TokenStream {
    if shape.style == Style::Unit || shape.fields.is_empty() {
        return TokenStream::new();
    }
    let (pat_a, _) = pattern(shape, 'a');
    let (pat_b, _) = pattern(shape, 'b');
    let body = fields_diff(shape, &quote!(__pr_at), p);
    quote! {
        let Self #pat_a = self;
        let Self #pat_b = __pr_other;
        #body
    }
}

fn struct_same(shape: &Shape<'_>, p: &TokenStream) -> TokenStream {
    let same = fields_same(shape, p);
    if shape.style == Style::Unit || shape.fields.is_empty() {
        return same;
    }
    let (pat_a, _) = pattern(shape, 'a');
    let (pat_b, _) = pattern(shape, 'b');
    quote! {
        let Self #pat_a = self;
        let Self #pat_b = __pr_other;
        #same
    }
}

fn struct_value(shape: &Shape<'_>, p: &TokenStream) -> TokenStream {
    let value = fields_value(shape, p);
    if shape.style == Style::Unit || shape.fields.is_empty() {
        return value;
    }
    let (pat_a, _) = pattern(shape, 'a');
    quote! {
        let Self #pat_a = self;
        #value
    }
}

fn enum_diff(variants: &[VariantModel<'_>], p: &TokenStream) -> TokenStream {
    if variants.is_empty() {
        return quote!(match *self {});
    }
    let arms = variants.iter().map(|v| {
        let ident = v.ident;
        let (pat_a, _) = pattern(&v.shape, 'a');
        let (pat_b, _) = pattern(&v.shape, 'b');
        let name = &v.name;
        let body = if v.shape.fields.is_empty() {
            TokenStream::new()
        } else {
            let fields = fields_diff(&v.shape, &quote!(__pr_variant), p);
            quote! {
                let __pr_variant = &__pr_at.field(#name);
                #fields
            }
        };
        quote!((Self::#ident #pat_a, Self::#ident #pat_b) => { #body })
    });
    let other = (variants.len() > 1).then(|| {
        let idents = variants.iter().map(|v| v.ident);
        let names = variants.iter().map(|v| &v.name);
        quote! {
            _ => {
                let __pr_name = |__pr_v: &Self| -> &'static str {
                    match __pr_v {
                        #(Self::#idents { .. } => #names,)*
                    }
                };
                #p::variants(__pr_at, __pr_sink, __pr_name(self), __pr_name(__pr_other));
            }
        }
    });
    quote! {
        match (self, __pr_other) {
            #(#arms)*
            #other
        }
    }
}

fn enum_same(variants: &[VariantModel<'_>], p: &TokenStream) -> TokenStream {
    if variants.is_empty() {
        return quote!(match *self {});
    }
    let arms = variants.iter().map(|v| {
        let ident = v.ident;
        let (pat_a, _) = pattern(&v.shape, 'a');
        let (pat_b, _) = pattern(&v.shape, 'b');
        let same = fields_same(&v.shape, p);
        quote!((Self::#ident #pat_a, Self::#ident #pat_b) => #same,)
    });
    let other = (variants.len() > 1).then(|| quote!(_ => false,));
    quote! {
        match (self, __pr_other) {
            #(#arms)*
            #other
        }
    }
}

fn enum_value(variants: &[VariantModel<'_>], p: &TokenStream) -> TokenStream {
    if variants.is_empty() {
        return quote!(match *self {});
    }
    let arms = variants.iter().map(|v| {
        let ident = v.ident;
        let name = &v.name;
        let (pat_a, _) = pattern(&v.shape, 'a');
        let value = if v.shape.style == Style::Unit {
            quote!(#p::Value::from(#name))
        } else {
            let inner = fields_value(&v.shape, p);
            quote!(#p::variant(#name, #inner))
        };
        quote!(Self::#ident #pat_a => #value,)
    });
    quote! {
        match self {
            #(#arms)*
        }
    }
}
