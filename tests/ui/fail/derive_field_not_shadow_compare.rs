use parallel_run::ShadowCompare;

#[derive(Debug, PartialEq)]
pub struct Foreign(u8);

#[derive(ShadowCompare)]
struct Quote {
    cents: i64,
    money: Foreign,
}

fn main() {}
