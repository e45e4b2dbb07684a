use parallel_run::parallel_run;

// The primary's second run happens off the caller's path: detached mode only.
#[parallel_run(candidate = quote_v2, mode = inline, noise = 0.01)]
fn quote(x: u64) -> u64 {
    x
}

fn quote_v2(x: u64) -> u64 {
    x
}

fn main() {
    quote(1);
}
