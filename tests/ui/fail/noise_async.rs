use parallel_run::parallel_run;

#[parallel_run(candidate = quote_v2, noise = 0.01)]
async fn quote(x: u64) -> u64 {
    x
}

async fn quote_v2(x: u64) -> u64 {
    x
}

fn main() {
    let _ = quote(1);
}
