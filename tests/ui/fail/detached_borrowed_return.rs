//! Issue 11, item 3: a borrowed return in detached mode failed with E0515 over the whole
//! attribute, then "must outlive 'static". The error says to use `mode = inline`, which works.
use std::borrow::Cow;

use parallel_run::parallel_run;

#[parallel_run(candidate = first_word_v2)]
fn first_word(s: &str) -> &str {
    s.split(' ').next().unwrap_or("")
}

fn first_word_v2(s: &str) -> &str {
    s.split_whitespace().next().unwrap_or("")
}

#[parallel_run(candidate = header_v2)]
fn header(frame: &[u8]) -> &[u8] {
    &frame[..2]
}

fn header_v2(frame: &[u8]) -> &[u8] {
    &frame[0..2]
}

#[parallel_run(candidate = label_v2)]
fn label<'a>(s: &'a str) -> Cow<'a, str> {
    Cow::Borrowed(s)
}

fn label_v2<'a>(s: &'a str) -> Cow<'a, str> {
    Cow::Borrowed(s)
}

// The same in inline mode compiles, and so does a `&'static` result in detached mode.
#[parallel_run(candidate = first_word_v2, mode = inline)]
fn first_word_inline(s: &str) -> &str {
    s.split(' ').next().unwrap_or("")
}

#[parallel_run(candidate = greeting_v2)]
fn greeting(formal: bool) -> &'static str {
    if formal { "Good day" } else { "Hi" }
}

fn greeting_v2(formal: bool) -> &'static str {
    if formal { "Good day" } else { "Hi" }
}

fn main() {
    first_word("a b");
    header(b"abc");
    label("x");
    first_word_inline("a b");
    greeting(true);
}
