use parallel_run::parallel_run;

#[parallel_run(candidate = total_v2)]
fn total(items: &[u64]) -> u64 {
    items.iter().sum()
}

fn total_v2(items: &[u64]) -> i64 {
    items.iter().sum::<u64>() as i64
}

fn main() {
    total(&[1]);
}
