//! Issue 11, item 1: a function named as its own candidate shadows itself on every shadow run
//! (one call ran the body 65 times inline, ~950,000 times in 5 s detached).
use parallel_run::parallel_run;

#[parallel_run(candidate = quote, mode = inline)]
fn quote(x: u32) -> u32 {
    x
}

#[parallel_run(candidate = self::total)]
fn total(x: u32) -> u32 {
    x
}

#[parallel_run(candidate = [fee_v2, fee])]
fn fee(x: u32) -> u32 {
    x
}

fn fee_v2(x: u32) -> u32 {
    x
}

pub struct Pricing;

impl Pricing {
    #[parallel_run(candidate = Self::price, mode = inline)]
    fn price(&self, x: u32) -> u32 {
        x
    }
}

fn main() {
    quote(1);
    total(1);
    fee(1);
    Pricing.price(1);
}
