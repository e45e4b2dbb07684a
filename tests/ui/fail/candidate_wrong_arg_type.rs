use parallel_run::parallel_run;

#[parallel_run(candidate = total_v2)]
fn total(items: &[u64], scale: u64) -> u64 {
    items.iter().sum::<u64>() * scale
}

fn total_v2(items: &[u64], scale: u32) -> u64 {
    items.iter().sum::<u64>() * scale as u64
}

fn main() {
    total(&[1], 2);
}
