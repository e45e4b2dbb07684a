use parallel_run::ShadowCompare;

#[derive(ShadowCompare)]
struct Quote {
    #[shadow(ignore, tolerance = 0.01)]
    cents: f64,
    #[shadow(eq, unordered)]
    tags: Vec<String>,
}

fn main() {}
