//! Issue 11, item 3: a candidate future that is not `Send` (an `Rc` held across an `.await`)
//! in detached mode was reported inside the runtime. It is reported at the candidate, with the
//! value and the `.await`, and the bound it quotes says to use `mode = inline`.
use std::rc::Rc;

use parallel_run::parallel_run;

#[parallel_run(candidate = fetch_v2)]
async fn fetch(id: u32) -> u32 {
    id
}

async fn fetch_v2(id: u32) -> u32 {
    let cache = Rc::new(id);
    tokio::task::yield_now().await;
    *cache
}

fn main() {
    let _ = fetch(1);
}
