use parallel_run::parallel_run;

#[parallel_run(candidate = fetch_v2)]
async fn fetch(id: u32) -> String {
    id.to_string()
}

fn fetch_v2(id: u32) -> String {
    id.to_string()
}

fn main() {
    let _ = fetch(1);
}
