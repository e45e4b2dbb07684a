//! `noise` on a generic method: the second run calls `Self::price::<C>` with its own copies.
use parallel_run::parallel_run;

#[derive(Clone)]
pub struct Pricer {
    pub margin: u64,
}

pub trait Currency: Clone + Send + Sync + 'static {
    fn rate(&self) -> u64;
}

#[derive(Clone)]
pub struct Eur;
impl Currency for Eur {
    fn rate(&self) -> u64 {
        1
    }
}

impl Pricer {
    #[parallel_run(candidate = Self::price_v2, noise = 0.05)]
    pub fn price<C: Currency>(&self, cents: u64, currency: &C) -> u64 {
        cents * currency.rate() + self.margin
    }

    pub fn price_v2<C: Currency>(&self, cents: u64, currency: &C) -> u64 {
        cents * currency.rate() + self.margin
    }
}

fn main() {
    assert_eq!(Pricer { margin: 1 }.price(10, &Eur), 11);
}
