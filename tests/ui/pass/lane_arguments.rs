//! `timeout = "none"` and `runtime = lane | caller` compile and reach the experiment.
use parallel_run::parallel_run;

async fn v2(x: u32) -> u32 {
    x
}

#[parallel_run(candidate = v2, runtime = caller, name = "ui::on_caller")]
async fn on_caller(x: u32) -> u32 {
    x
}

#[parallel_run(candidate = v2, runtime = lane, timeout = "none", name = "ui::untimed")]
async fn untimed(x: u32) -> u32 {
    x
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(on_caller(1).await, 1);
        assert_eq!(untimed(2).await, 2);
        parallel_run::snapshot::idle().await;
    });
    let s = parallel_run::snapshot::experiment("ui::untimed").unwrap();
    assert_eq!(s.timeout, None);
    assert_eq!(s.counts.get(parallel_run::Outcome::Match), 1);
    let s = parallel_run::snapshot::experiment("ui::on_caller").unwrap();
    assert_eq!(s.timeout, Some(std::time::Duration::from_secs(5)));
    assert_eq!(s.counts.get(parallel_run::Outcome::Match), 1);
}
