//! `parallel-run proxy`: the reverse proxy of `shadow-http`, run until Ctrl-C or SIGTERM.

use std::io::Write;

use crate::args::ProxyArgs;

/// The proxy's configuration: the file's, if any, with the flags over its `[proxy]` keys.
///
/// ```
/// let a = shadow_cli::args::ProxyArgs {
///     config: None,
///     listen: Some("127.0.0.1:0".parse().unwrap()),
///     primary: Some("http://127.0.0.1:9001".into()),
///     candidate: Some("http://127.0.0.1:9002".into()),
///     admin: None,
///     log: None,
///     threads: None,
/// };
/// let c = shadow_cli::proxy::config(&a).unwrap();
/// assert_eq!(c.primary.as_deref(), Some("http://127.0.0.1:9001"));
/// assert!(c.routes.is_empty()); // one route, `http`, takes every request
/// ```
pub fn config(a: &ProxyArgs) -> Result<shadow_http::proxy::Config, String> {
    let mut c = match &a.config {
        Some(path) => shadow_http::proxy::Config::from_toml_file(path)
            .map_err(|e| format!("the route file is refused:\n{e}"))?,
        None => shadow_http::proxy::Config::default(),
    };
    if let Some(l) = a.listen {
        c.listen = l;
    }
    if let Some(x) = a.admin {
        c.admin = Some(x);
    }
    if let Some(u) = &a.primary {
        c.primary = Some(u.clone());
    }
    if let Some(u) = &a.candidate {
        c.candidate = Some(u.clone());
    }
    if let Some(p) = &a.log {
        c.log = Some(p.clone());
    }
    Ok(c)
}

/// Runs the proxy until Ctrl-C or SIGTERM, then prints what each route saw to `out`.
pub(crate) fn command(a: &ProxyArgs, out: &mut dyn Write) -> Result<(), String> {
    let config = config(a)?;
    let threads = a.threads.map_or_else(
        || std::thread::available_parallelism().map_or(2, |n| n.get()),
        usize::from,
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("parallel-run-proxy")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the proxy's runtime: {e}"))?;
    let summary = rt
        .block_on(shadow_http::proxy::run(config))
        .map_err(|e| format!("proxy: {e}"))?;
    write!(out, "{summary}")
        .and_then(|()| out.flush())
        .map_err(crate::output_error)
}
