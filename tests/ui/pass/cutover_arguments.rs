//! Every cutover argument together, on an async function with several candidates.
use parallel_run::parallel_run;

#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub id: u64,
    pub customer: String,
}

#[parallel_run(
    candidate = [settle_v2, settle_v3],
    sample_by = order.customer.as_str(),
    writes = dry_run,
    idempotency_key = format!("settle-{}", order.id),
    min_match_rate = 0.999,
    min_samples = 10_000,
    deadline = "2026-12-31",
)]
async fn settle(order: Order) -> Result<u64, String> {
    parallel_run::guard_write("settlements.insert").map_err(|e| e.to_string())?;
    Ok(order.id)
}

async fn settle_v2(order: Order) -> Result<u64, String> {
    Ok(order.id)
}

async fn settle_v3(order: Order) -> Result<u64, String> {
    if parallel_run::context::is_dry_run() {
        return Ok(order.id);
    }
    Ok(order.id + 1)
}

fn main() {
    let _ = settle(Order { id: 1, customer: "c".into() });
}
