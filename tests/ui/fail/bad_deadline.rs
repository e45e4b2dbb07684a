use parallel_run::parallel_run;

// February 30th does not exist: the date is checked at compile time.
#[parallel_run(candidate = total_v2, deadline = "2026-02-30")]
fn total(x: u64) -> u64 {
    x
}

fn total_v2(x: u64) -> u64 {
    x
}

fn main() {
    total(1);
}
