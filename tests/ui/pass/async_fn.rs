//! `async fn` in detached mode (the candidate is spawned on the caller's runtime) and inline mode.

use parallel_run::{parallel_run, Outcome};

#[parallel_run(candidate = fetch_v2, name = "ui::fetch")]
async fn fetch(id: u32, tag: &str) -> Result<String, String> {
    tokio::task::yield_now().await;
    if id == 0 {
        return Err("no id 0".to_owned());
    }
    Ok(format!("{tag}-{id}"))
}

async fn fetch_v2(id: u32, tag: &str) -> Result<String, String> {
    if id == 0 {
        return Err("no id 0".to_owned());
    }
    Ok(format!("{tag}:{id}")) // a different separator: a mismatch
}

#[parallel_run(candidate = sum_v2, mode = inline, name = "ui::sum")]
async fn sum(xs: &[u64]) -> u64 {
    xs.iter().sum()
}

async fn sum_v2(xs: &[u64]) -> u64 {
    xs.iter().fold(0, |a, b| a + b)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(fetch(7, "a").await, Ok("a-7".to_owned()));
        assert_eq!(fetch(0, "a").await, Err("no id 0".to_owned()));
        assert_eq!(sum(&[1, 2, 3]).await, 6);
        parallel_run::snapshot::idle().await;
    });
    let s = parallel_run::snapshot::experiment("ui::fetch").unwrap();
    assert_eq!(s.counts.get(Outcome::Mismatch), 1);
    assert_eq!(s.counts.get(Outcome::Match), 1);
    let s = parallel_run::snapshot::experiment("ui::sum").unwrap();
    assert_eq!(s.counts.get(Outcome::Match), 1);
}
