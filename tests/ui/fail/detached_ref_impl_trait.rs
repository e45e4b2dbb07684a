use parallel_run::parallel_run;
use std::fmt::Debug;

#[parallel_run(candidate = show_v2)]
fn show(label: &str, value: &(impl Debug + Clone + Send + 'static)) -> String {
    format!("{label}: {value:?}")
}

fn show_v2(label: &str, value: &(impl Debug + Clone + Send + 'static)) -> String {
    format!("{label}: {value:?}")
}

fn main() {
    show("x", &1);
}
