//! Issue 11, item 3: `&dyn Trait` arguments and `Box<dyn Trait>` results in detached mode failed
//! with errors inside `__private::copier` and "size cannot be known". Each is one error at the
//! type, saying what to write.
use std::fmt::Debug;

use parallel_run::parallel_run;

pub trait Shape {
    fn area(&self) -> u32;
}

#[parallel_run(candidate = area_v2)]
fn area(shape: &dyn Shape) -> u32 {
    shape.area()
}

fn area_v2(shape: &dyn Shape) -> u32 {
    shape.area()
}

#[parallel_run(candidate = boxed_v2)]
fn boxed(x: u32) -> Box<dyn Debug> {
    Box::new(x)
}

fn boxed_v2(x: u32) -> Box<dyn Debug> {
    Box::new(x)
}

#[parallel_run(candidate = parse_v2)]
fn parse(s: &str) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    Ok(s.parse()?)
}

fn parse_v2(s: &str) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    Ok(s.trim().parse()?)
}

// A boxed trait object of the user's own: its `Clone` could exist; here it does not, and the
// result type's own error says so, at the return type.
pub trait Plan: Debug {}

#[parallel_run(candidate = plan_v2)]
fn plan(x: u32) -> Box<dyn Plan> {
    let _ = x;
    unimplemented!()
}

fn plan_v2(x: u32) -> Box<dyn Plan> {
    let _ = x;
    unimplemented!()
}

// Inline mode takes both, with a comparator for the box.
#[parallel_run(candidate = area_v2, mode = inline)]
fn area_inline(shape: &dyn Shape) -> u32 {
    shape.area()
}

#[parallel_run(candidate = boxed_v2, mode = inline, compare = |a, b| format!("{a:?}") == format!("{b:?}"))]
fn boxed_inline(x: u32) -> Box<dyn Debug> {
    Box::new(x)
}

fn main() {}
