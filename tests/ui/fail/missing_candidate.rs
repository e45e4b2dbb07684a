use parallel_run::parallel_run;

#[parallel_run(sample = 0.5)]
fn total(x: u64) -> u64 {
    x
}

fn main() {
    total(1);
}
