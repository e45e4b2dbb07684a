//! `runtime = lane | caller` applies to a detached `async fn`; `timeout` spells "no timeout" as
//! `"none"`.
use parallel_run::parallel_run;

fn v2(x: u32) -> u32 {
    x
}

async fn v2_async(x: u32) -> u32 {
    x
}

#[parallel_run(candidate = v2, runtime = caller)]
fn sync_on_the_callers_runtime(x: u32) -> u32 {
    x
}

#[parallel_run(candidate = v2_async, mode = inline, runtime = caller)]
async fn inline_on_the_callers_runtime(x: u32) -> u32 {
    x
}

#[parallel_run(candidate = v2_async, runtime = callers)]
async fn misspelt_runtime(x: u32) -> u32 {
    x
}

#[parallel_run(candidate = v2, timeout = "off")]
fn timeout_off(x: u32) -> u32 {
    x
}

fn main() {}
