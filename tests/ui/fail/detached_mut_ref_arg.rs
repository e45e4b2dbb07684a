use parallel_run::parallel_run;

#[parallel_run(candidate = drain_v2)]
fn drain(limit: usize, buf: &mut Vec<u8>) -> usize {
    buf.truncate(limit);
    buf.len()
}

fn drain_v2(limit: usize, buf: &mut Vec<u8>) -> usize {
    buf.truncate(limit);
    buf.len()
}

fn main() {
    drain(1, &mut vec![1, 2]);
}
