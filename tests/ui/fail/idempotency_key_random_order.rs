use parallel_run::parallel_run;

// The candidate could write first with the shared key: refused at `order`.
#[parallel_run(candidate = pay_v2, mode = inline, order = random, idempotency_key = order_id)]
fn pay(order_id: u64) -> u64 {
    order_id
}

fn pay_v2(order_id: u64) -> u64 {
    order_id
}

fn main() {
    pay(1);
}
