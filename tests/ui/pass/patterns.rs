//! Arguments whose pattern is not a plain name: tuples, `_`, structs, `mut`.

use std::time::Duration;

use parallel_run::{parallel_run, Outcome};

#[derive(Clone)]
pub struct Point {
    x: i32,
    y: i32,
}

#[parallel_run(candidate = add_v2, name = "ui::add")]
fn add((a, b): (u32, u32), _: u8, Point { x, y }: Point, mut n: u32) -> i64 {
    n += 1;
    (a + b + n) as i64 + (x * y) as i64
}

fn add_v2(pair: (u32, u32), _unused: u8, p: Point, n: u32) -> i64 {
    (pair.0 + pair.1 + n + 1) as i64 + (p.x * p.y) as i64
}

#[parallel_run(candidate = first_v2, mode = inline, name = "ui::first")]
fn first(&(a, _): &(u8, u8), _: &str) -> u8 {
    a
}

fn first_v2(pair: &(u8, u8), _: &str) -> u8 {
    pair.0
}

fn main() {
    assert_eq!(add((1, 2), 0, Point { x: 2, y: 3 }, 10), 20);
    assert_eq!(first(&(7, 8), ""), 7);

    assert!(parallel_run::wait_idle(Duration::from_secs(10)));
    let get = |name: &str, o: Outcome| parallel_run::snapshot::experiment(name).unwrap().counts.get(o);
    assert_eq!(get("ui::add", Outcome::Match), 1);
    assert_eq!(get("ui::first", Outcome::Match), 1);
}
