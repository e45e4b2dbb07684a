//! A generic function: the candidate is generic too and is inferred from the arguments.

use std::fmt::Debug;
use std::time::Duration;

use parallel_run::{parallel_run, Outcome};

#[parallel_run(candidate = largest_v2, name = "ui::largest")]
fn largest<T>(xs: &[T], fallback: T) -> T
where
    T: PartialOrd + Clone + Debug + Send + 'static,
{
    let mut best = fallback;
    for x in xs {
        if *x > best {
            best = x.clone();
        }
    }
    best
}

fn largest_v2<T>(xs: &[T], fallback: T) -> T
where
    T: PartialOrd + Clone + Debug + Send + 'static,
{
    xs.iter()
        .cloned()
        .fold(fallback, |a, b| if b > a { b } else { a })
}

#[parallel_run(candidate = wrap_v2, mode = inline, name = "ui::wrap")]
fn wrap<T: Debug + PartialEq>(x: &T) -> String {
    format!("<{x:?}>")
}

fn wrap_v2<T: Debug + PartialEq>(x: &T) -> String {
    format!("<{:?}>", x)
}

struct NotClone(u8);
impl Debug for NotClone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "N{}", self.0)
    }
}
impl PartialEq for NotClone {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

fn main() {
    assert_eq!(largest(&[3, 9, 2], 0), 9);
    assert_eq!(largest(&["b", "a"], ""), "b");
    // Inline mode passes the same reference: the pointee need not be `Clone`.
    assert_eq!(wrap(&NotClone(1)), "<N1>");

    assert!(parallel_run::wait_idle(Duration::from_secs(10)));
    let s = parallel_run::snapshot::experiment("ui::largest").unwrap();
    assert_eq!(s.counts.get(Outcome::Match), 2);
    let s = parallel_run::snapshot::experiment("ui::wrap").unwrap();
    assert_eq!(s.counts.get(Outcome::Match), 1);
}
