use parallel_run::parallel_run;

#[parallel_run(candidate = total_v2, writes = shadow_table)]
fn total(x: u64) -> u64 {
    x
}

fn total_v2(x: u64) -> u64 {
    x
}

fn main() {
    total(1);
}
