use parallel_run::parallel_run;

#[parallel_run(candidate = fetch_v2)]
fn fetch(id: u32) -> String {
    id.to_string()
}

async fn fetch_v2(id: u32) -> String {
    id.to_string()
}

fn main() {
    fetch(1);
}
