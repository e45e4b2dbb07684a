// Every bad attribute of the type is reported in one compile.
use parallel_run::ShadowCompare;

#[derive(ShadowCompare)]
struct Quote {
    #[shadow(tolerance = "0.01")]
    cents: f64,
    #[shadow(relative = -1e-9)]
    rate: f64,
    #[shadow(within = "2 days")]
    at_ms: u64,
    #[shadow(within = "soon")]
    due_ms: u64,
}

fn main() {}
