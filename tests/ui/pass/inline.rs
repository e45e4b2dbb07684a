//! Inline mode: a `&mut` argument (the candidate gets `&mut` to its own copy), a by-value argument
//! that is `Clone` but not `Send`, and `order = random`.

use std::rc::Rc;

use parallel_run::{parallel_run, Outcome};

#[parallel_run(candidate = drain_v2, mode = inline, name = "ui::drain")]
fn drain(buf: &mut Vec<u8>, limit: usize) -> Vec<u8> {
    let n = limit.min(buf.len());
    buf.drain(..n).collect()
}

fn drain_v2(buf: &mut Vec<u8>, limit: usize) -> Vec<u8> {
    let n = limit.min(buf.len());
    let out = buf[..n].to_vec();
    buf.clear(); // a bug, visible only in the candidate's copy
    out
}

#[parallel_run(candidate = len_v2, mode = inline, order = random, name = "ui::len")]
fn len(s: Rc<str>) -> usize {
    s.len()
}

fn len_v2(s: Rc<str>) -> usize {
    s.chars().count()
}

fn main() {
    let mut buf = vec![1, 2, 3, 4];
    assert_eq!(drain(&mut buf, 2), vec![1, 2]);
    assert_eq!(buf, vec![3, 4], "the candidate must not mutate the caller's buffer");

    for _ in 0..20 {
        assert_eq!(len(Rc::from("héllo")), 6);
    }

    let s = parallel_run::snapshot::experiment("ui::drain").unwrap();
    assert_eq!(s.counts.get(Outcome::Match), 1);
    let s = parallel_run::snapshot::experiment("ui::len").unwrap();
    assert_eq!(s.counts.get(Outcome::Mismatch), 20);
}
