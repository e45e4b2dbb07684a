//! Issue 11, item 3: an `impl Trait` (or generic) argument without the bounds its copy for the
//! candidate needs: rustc's error suggested restricting it with the runtime's private
//! `__private::DetachedValue` trait. The macro names the bounds to add.
use parallel_run::parallel_run;

#[parallel_run(candidate = greet_v2)]
fn greet(name: impl Into<String>) -> String {
    name.into()
}

fn greet_v2(name: impl Into<String>) -> String {
    name.into()
}

#[parallel_run(candidate = greet_v2, mode = inline)]
fn greet_inline(name: impl Into<String>) -> String {
    name.into()
}

#[parallel_run(candidate = shout_v2)]
fn shout<S>(name: S) -> String
where
    S: AsRef<str> + Send,
{
    name.as_ref().to_uppercase()
}

fn shout_v2<S: AsRef<str>>(name: S) -> String {
    name.as_ref().to_uppercase()
}

// With the bounds, both compile.
#[parallel_run(candidate = greet_bounded_v2)]
fn greet_bounded(name: impl Into<String> + Clone + Send + 'static) -> String {
    name.into()
}

fn greet_bounded_v2(name: impl Into<String> + Clone + Send + 'static) -> String {
    name.into()
}

fn main() {
    greet("a");
    greet_inline("a");
    shout("a");
    greet_bounded("a");
}
