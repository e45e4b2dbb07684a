use parallel_run::parallel_run;

#[derive(Clone)]
pub struct Customer {
    pub id: u64,
}

#[derive(Clone)]
pub struct Order {
    pub customer: Customer,
}

#[parallel_run(candidate = quote_v2, sample_by = order.customer)]
fn quote(order: &Order) -> u64 {
    order.customer.id
}

fn quote_v2(order: &Order) -> u64 {
    order.customer.id
}

fn main() {
    quote(&Order { customer: Customer { id: 1 } });
}
