use parallel_run::parallel_run;

#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    cents: i64,
}

#[parallel_run(candidate = quote_v2, compare = parallel_run::typed::Typed)]
fn quote(cents: i64) -> Quote {
    Quote { cents }
}

fn quote_v2(cents: i64) -> Quote {
    Quote { cents }
}

fn main() {
    quote(1);
}
