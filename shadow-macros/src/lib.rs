//! The `#[parallel_run]` attribute. Use it through the `parallel-run` crate, whose documentation
//! describes the arguments; this crate only rewrites the function.
//!
//! The pipeline is one file per step: `parse` reads the attribute's arguments, `validate`
//! checks them against the function and builds a model of its arguments, `expand` writes the new
//! body. On any error the function is still emitted unchanged next to the `compile_error!`, so one
//! mistake does not cascade into errors at every call site.
//!
//! `#[derive(ShadowCompare)]` lives in `derive/`: `attr` reads the `#[shadow(...)]` attributes
//! (every error collected), `expand` writes the impl (a stub impl next to the errors).

#![forbid(unsafe_code)]

mod derive;
mod expand;
mod parse;
mod validate;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Runs a candidate beside this function on sampled calls, compares the results, records the
/// outcome and returns this function's result unchanged. See the `parallel-run` crate.
#[proc_macro_attribute]
pub fn parallel_run(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::parallel_run(args.into(), item.into()).into()
}

/// `#[derive(ShadowCompare)]`: a typed, path-level diff of two values of the type, for the
/// `parallel_run::typed::Typed` comparator. See the `parallel-run` crate.
#[proc_macro_derive(ShadowCompare, attributes(shadow))]
pub fn shadow_compare(item: TokenStream) -> TokenStream {
    derive::shadow_compare(item.into()).into()
}
