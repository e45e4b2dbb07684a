use parallel_run::{parallel_run, Comparator, Verdict};

pub struct CentsComparator;

impl Comparator<i64> for CentsComparator {
    fn compare(&self, primary: &i64, candidate: &i64) -> Verdict {
        (primary == candidate).into()
    }
}

#[parallel_run(candidate = total_v2, compare = CentsComparator)]
fn total(x: u64) -> u64 {
    x
}

fn total_v2(x: u64) -> u64 {
    x
}

fn main() {
    total(1);
}
