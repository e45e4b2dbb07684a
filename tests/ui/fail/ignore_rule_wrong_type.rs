use parallel_run::parallel_run;

fn about_strings(a: &String, b: &String) -> bool {
    a.len() == b.len()
}

#[parallel_run(candidate = total_v2, ignore = [about_strings])]
fn total(x: u64) -> u64 {
    x
}

fn total_v2(x: u64) -> u64 {
    x
}

fn main() {
    total(1);
}
