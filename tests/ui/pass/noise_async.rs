//! `noise` on an `async fn` and on a generic async method: the second run calls the function by
//! name, and its future need not be `Send` (the runtime polls it on one thread), so nothing is
//! recursive for rustc; the caller's future stays `Send`. Functions without arguments too.
use parallel_run::parallel_run;

#[parallel_run(candidate = quote_v2, noise = 0.01)]
async fn quote(x: u64) -> u64 {
    x
}

async fn quote_v2(x: u64) -> u64 {
    x
}

// No argument at all: the hand-off is `()`.
#[parallel_run(candidate = tick_v2, noise = 1.0, name = "ui::tick")]
fn tick() -> u64 {
    7
}

fn tick_v2() -> u64 {
    7
}

#[parallel_run(candidate = tock_v2, noise = 1.0, name = "ui::tock")]
async fn tock() -> u64 {
    8
}

async fn tock_v2() -> u64 {
    8
}

#[derive(Clone)]
pub struct Pricer {
    pub margin: u64,
}

impl Pricer {
    #[parallel_run(candidate = Self::price_v2, noise = 1.0, name = "ui::price")]
    pub async fn price<C: Clone + Send + Sync + 'static>(&self, cents: u64, tag: &str, c: C) -> u64 {
        let _ = (tag, c);
        cents + self.margin
    }

    pub async fn price_v2<C: Clone + Send + Sync + 'static>(&self, cents: u64, tag: &str, c: C) -> u64 {
        let _ = (tag, c);
        cents + self.margin
    }
}

fn assert_send<F: Send>(f: F) -> F {
    f
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(assert_send(quote(1)).await, 1);
        assert_eq!(tick(), 7);
        assert_eq!(assert_send(tock()).await, 8);
        let p = Pricer { margin: 1 };
        let served = tokio::spawn(async move { p.price(10, "eur", 3u8).await });
        assert_eq!(served.await.unwrap(), 11);
        parallel_run::snapshot::idle().await;
    });
    // Drawn at rate 1.0: the primary ran a second time.
    assert!(parallel_run::wait_idle(std::time::Duration::from_secs(10)));
    for name in ["ui::price", "ui::tick", "ui::tock"] {
        assert_eq!(parallel_run::snapshot::experiment(name).unwrap().noise_runs, 1, "{name}");
    }
}
