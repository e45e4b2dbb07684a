//! Shared by the examples: shows the library's `tracing` warnings on standard error, so that a
//! bad environment value (`PARALLEL_RUN=maybe`, `PARALLEL_RUN__PAYMENTS__PROCESS=150%`) is seen.
//!
//! `RUST_LOG` picks what is shown, as with any `tracing-subscriber` `EnvFilter`
//! (`RUST_LOG=parallel_run=debug` adds the reasons for acceptable differences). Without it, the
//! library's warnings are shown except the one per discrepancy (those carry an `outcome` field):
//! the example prints a summary of those itself.

use tracing_subscriber::prelude::*;

pub fn install() {
    let from_env = std::env::var_os("RUST_LOG").is_some();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("parallel_run=warn"));
    let per_call = tracing_subscriber::filter::filter_fn(move |m| {
        from_env || m.fields().field("outcome").is_none()
    });
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter)
                .with_filter(per_call),
        )
        .try_init();
}
