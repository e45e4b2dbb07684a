use parallel_run::parallel_run;

#[derive(Clone)]
pub struct OrderId(u64);

#[parallel_run(candidate = pay_v2, idempotency_key = id)]
fn pay(id: &OrderId) -> u64 {
    id.0
}

fn pay_v2(id: &OrderId) -> u64 {
    id.0
}

fn main() {
    pay(&OrderId(1));
}
