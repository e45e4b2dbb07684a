use parallel_run::ShadowCompare;

#[derive(ShadowCompare)]
union Bits {
    a: u32,
    b: f32,
}

#[derive(ShadowCompare)]
#[shadow(ignore)]
enum Status {
    #[shadow(sensitive)]
    Paid { cents: i64 },
    Pending,
}

fn main() {}
