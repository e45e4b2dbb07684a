use parallel_run::parallel_run;

// A percentage where a fraction is expected.
#[parallel_run(candidate = total_v2, min_match_rate = 99.9)]
fn total(x: u64) -> u64 {
    x
}

fn total_v2(x: u64) -> u64 {
    x
}

fn main() {
    total(1);
}
