use parallel_run::ShadowCompare;

#[derive(ShadowCompare)]
struct Quote {
    #[shadow(tolerance = 0.01)]
    #[shadow(trim, tolerance = 0.02)]
    cents: f64,
}

fn main() {}
