//! The proxy as a program, with the flags `parallel-run proxy` takes:
//!
//! ```sh
//! cargo run --release -p shadow-http --example proxy -- \
//!     --listen 127.0.0.1:8080 --primary http://127.0.0.1:9001 --candidate http://127.0.0.1:9002 \
//!     [--config parallel-run.toml] [--admin 127.0.0.1:9090] [--log proxy.jsonl] [--threads N]
//! ```
//!
//! Flags override the file's `[proxy]` keys. It runs until Ctrl-C or SIGTERM, then shuts down
//! gracefully and prints what each route saw. Exit status: 0, 1 when it cannot start, 2 for bad
//! usage.

use std::process::ExitCode;

const USAGE: &str = "usage: proxy --listen ADDR --primary URL --candidate URL [--config FILE] [--admin ADDR] [--log FILE] [--threads N]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut flags = std::collections::HashMap::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "-h" || a == "--help" {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        let Some(name) = a.strip_prefix("--") else {
            eprintln!("proxy: unexpected argument {a:?}\n{USAGE}");
            return ExitCode::from(2);
        };
        if ![
            "listen",
            "primary",
            "candidate",
            "config",
            "admin",
            "log",
            "threads",
        ]
        .contains(&name)
        {
            eprintln!("proxy: unknown flag --{name}\n{USAGE}");
            return ExitCode::from(2);
        }
        let Some(v) = it.next() else {
            eprintln!("proxy: --{name} needs a value\n{USAGE}");
            return ExitCode::from(2);
        };
        flags.insert(name.to_owned(), v.clone());
    }
    let mut config = match flags.get("config") {
        Some(path) => match shadow_http::proxy::Config::from_toml_file(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(1);
            }
        },
        None => shadow_http::proxy::Config::default(),
    };
    for (flag, slot) in [("listen", &mut config.listen)] {
        if let Some(v) = flags.get(flag) {
            match v.parse() {
                Ok(a) => *slot = a,
                Err(_) => {
                    eprintln!("proxy: --{flag} {v:?} is not an address such as 127.0.0.1:8080");
                    return ExitCode::from(2);
                }
            }
        }
    }
    if let Some(v) = flags.get("admin") {
        match v.parse() {
            Ok(a) => config.admin = Some(a),
            Err(_) => {
                eprintln!("proxy: --admin {v:?} is not an address such as 127.0.0.1:9090");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(v) = flags.get("primary") {
        config.primary = Some(v.clone());
    }
    if let Some(v) = flags.get("candidate") {
        config.candidate = Some(v.clone());
    }
    if let Some(v) = flags.get("log") {
        config.log = Some(v.into());
    }
    let threads = match flags.get("threads").map(|t| t.parse::<usize>()) {
        None => std::thread::available_parallelism().map_or(2, |n| n.get()),
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("proxy: --threads takes a positive number");
            return ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match rt.block_on(shadow_http::proxy::run(config)) {
        Ok(summary) => {
            print!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("proxy: {e}");
            ExitCode::from(1)
        }
    }
}
