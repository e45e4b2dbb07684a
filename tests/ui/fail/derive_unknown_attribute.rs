use parallel_run::ShadowCompare;

#[derive(ShadowCompare)]
struct Quote {
    #[shadow(tolerence = 0.01)]
    cents: f64,
}

fn main() {}
