//! Issue 11, item 3: `&self` of a type with a lifetime (`impl<'a> Parser<'a>`) cannot go to a
//! detached candidate, whose copy of `self` must be `'static`. rustc's lifetime error cannot be
//! given a note by the macro; it points at the receiver, and the guide's Limits say to use
//! `mode = inline`, as the second method here does.
use parallel_run::parallel_run;

#[derive(Clone)]
pub struct Parser<'a> {
    input: &'a str,
}

impl<'a> Parser<'a> {
    #[parallel_run(candidate = Self::words_v2)]
    fn words(&self) -> usize {
        self.input.split(' ').count()
    }

    fn words_v2(&self) -> usize {
        self.input.split_whitespace().count()
    }

    #[parallel_run(candidate = Self::words_v2, mode = inline)]
    fn words_inline(&self) -> usize {
        self.input.split(' ').count()
    }
}

fn main() {
    let p = Parser { input: "a b" };
    p.words();
    p.words_inline();
}
