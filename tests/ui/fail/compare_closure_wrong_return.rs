use parallel_run::parallel_run;

#[parallel_run(candidate = name_v2, compare = |a, b| a.len().abs_diff(b.len()))]
fn name(id: u32) -> String {
    id.to_string()
}

fn name_v2(id: u32) -> String {
    id.to_string()
}

fn main() {
    name(1);
}
