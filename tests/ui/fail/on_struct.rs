use parallel_run::parallel_run;

#[parallel_run(candidate = total_v2)]
struct Total {
    cents: u64,
}

fn main() {
    let _ = Total { cents: 1 }.cents;
}
