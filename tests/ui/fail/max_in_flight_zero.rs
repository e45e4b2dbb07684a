use parallel_run::parallel_run;

#[parallel_run(candidate = quote_v2, max_in_flight = 0)]
fn quote(x: u32) -> u32 {
    x
}

fn quote_v2(x: u32) -> u32 {
    x
}

fn main() {
    quote(1);
}
