//! `parallel-run`: see `parallel-run --help` and the `shadow_cli` crate.

#![forbid(unsafe_code)]

fn main() {
    let code = shadow_cli::run(
        std::env::args_os().skip(1),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr(),
    );
    std::process::exit(code);
}
