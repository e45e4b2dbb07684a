//! `#[derive(ShadowCompare)]`: a typed, path-level diff without serialisation. Two steps, a
//! file each: [`attr`] reads the input and its `#[shadow(...)]` attributes into a model (every
//! error collected, each spanned at its token), [`expand`] writes the impl. On errors the impl
//! is still emitted, with stub bodies, next to the `compile_error!`s, so that one bad attribute
//! does not also break every use of the type.

mod attr;
mod expand;

#[cfg(test)]
mod tests;

use proc_macro2::TokenStream;
use syn::DeriveInput;

pub(crate) fn shadow_compare(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error(),
    };
    match attr::model(&input) {
        Ok(model) => expand::expand(&model),
        Err(e) => {
            let mut out = e.to_compile_error();
            out.extend(expand::fallback(&input, &attr::krate_or_default(&input)));
            out
        }
    }
}
