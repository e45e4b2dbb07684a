use parallel_run::parallel_run;

#[parallel_run(candidate = label_v2, mode = inline)]
fn label(x: u32) -> impl std::fmt::Display {
    x
}

fn label_v2(x: u32) -> impl std::fmt::Display {
    x
}

fn main() {
    let _ = label(1);
}
