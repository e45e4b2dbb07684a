use parallel_run::ShadowCompare;

pub struct Opaque(u8);

#[derive(ShadowCompare)]
struct Quote {
    #[shadow(eq)]
    inner: Opaque,
}

fn main() {}
