use parallel_run::parallel_run;

#[derive(Debug, Clone)]
pub struct Receipt {
    cents: u64,
}

#[parallel_run(candidate = pay_v2)]
fn pay(cents: u64) -> Receipt {
    Receipt { cents }
}

fn pay_v2(cents: u64) -> Receipt {
    Receipt { cents }
}

fn main() {
    let _ = pay(1).cents;
}
