use parallel_run::parallel_run;

#[parallel_run(candidate = quote_v2, run_if = currency.len())]
fn quote(currency: &str) -> usize {
    currency.len()
}

fn quote_v2(currency: &str) -> usize {
    currency.len()
}

fn main() {
    quote("EUR");
}
