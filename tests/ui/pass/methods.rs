//! Methods: `&self` (detached: the candidate gets a clone of the receiver), `self: Arc<Self>`,
//! `&self` in an async method, and `&mut self` in inline mode; candidates named `Self::v2`.

use std::sync::Arc;
use std::time::Duration;

use parallel_run::{parallel_run, Outcome};

#[derive(Debug, Clone, PartialEq)]
struct Cart {
    prices: Vec<u64>,
}

impl Cart {
    #[parallel_run(candidate = Self::total_v2, name = "ui::cart_total")]
    fn total(&self, extra: u64) -> u64 {
        self.prices.iter().sum::<u64>() + extra
    }

    fn total_v2(&self, extra: u64) -> u64 {
        self.prices.iter().fold(extra, |a, b| a + b)
    }

    #[parallel_run(candidate = Self::count_v2, name = "ui::cart_count")]
    fn count(self: Arc<Self>) -> usize {
        self.prices.len()
    }

    fn count_v2(self: Arc<Self>) -> usize {
        self.prices.len() + 1
    }

    #[parallel_run(candidate = Self::max_v2, name = "ui::cart_max")]
    async fn max(&self) -> Option<u64> {
        self.prices.iter().copied().max()
    }

    async fn max_v2(&self) -> Option<u64> {
        self.prices.iter().copied().reduce(u64::max)
    }

    #[parallel_run(candidate = Self::push_v2, mode = inline, name = "ui::cart_push")]
    fn push(&mut self, price: u64) -> usize {
        self.prices.push(price);
        self.prices.len()
    }

    fn push_v2(&mut self, price: u64) -> usize {
        self.prices.push(price);
        self.prices.push(price); // the candidate mutates its own copy only
        self.prices.len()
    }
}

fn main() {
    let mut cart = Cart {
        prices: vec![3, 4],
    };
    assert_eq!(cart.total(1), 8);
    assert_eq!(Arc::new(cart.clone()).count(), 2);
    assert_eq!(cart.push(5), 3);
    assert_eq!(cart.prices, vec![3, 4, 5], "the candidate must not touch the caller's cart");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(cart.max().await, Some(5));
        parallel_run::snapshot::idle().await;
    });

    assert!(parallel_run::wait_idle(Duration::from_secs(10)));
    let get = |name: &str, o: Outcome| parallel_run::snapshot::experiment(name).unwrap().counts.get(o);
    assert_eq!(get("ui::cart_total", Outcome::Match), 1);
    assert_eq!(get("ui::cart_count", Outcome::Mismatch), 1);
    assert_eq!(get("ui::cart_max", Outcome::Match), 1);
    assert_eq!(get("ui::cart_push", Outcome::Mismatch), 1);
}
