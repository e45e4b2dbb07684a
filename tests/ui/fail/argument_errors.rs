//! Issue 11, item 3: every malformed argument is an error at its token that names the argument
//! and says what to write instead (raw parser messages such as "expected identifier" or
//! "invalid digit found in string" left a user stuck). One function per case.
use parallel_run::parallel_run;

fn v2(x: u32) -> u32 {
    x
}

#[parallel_run(0.5)]
fn bare_value(x: u32) -> u32 {
    x
}

#[parallel_run(v2)]
fn bare_path(x: u32) -> u32 {
    x
}

#[parallel_run(candidate = v2, max_in_flight = -1)]
fn negative_cap(x: u32) -> u32 {
    x
}

#[parallel_run(candidate = v2, max_in_flight = 99999999999999999999)]
fn huge_cap(x: u32) -> u32 {
    x
}

#[parallel_run(candidate = v2, max_in_flight = 1_000u8)]
fn suffixed_cap(x: u32) -> u32 {
    x
}

#[parallel_run(candidate = v2, mode = "inline")]
fn quoted_mode(x: u32) -> u32 {
    x
}

#[parallel_run(candidate = v2, timeout = 150)]
fn timeout_without_quotes(x: u32) -> u32 {
    x
}

#[parallel_run(candidate = v2, timeout = "1h")]
fn timeout_in_hours(x: u32) -> u32 {
    x
}

#[parallel_run(candidate = v2, timeout = "1.5s")]
fn timeout_fraction(x: u32) -> u32 {
    x
}

#[parallel_run(candidate = v2, timeout = "1e3ms")]
fn timeout_exponent(x: u32) -> u32 {
    x
}

#[parallel_run(candidate = v2, name = "payments\nprocess")]
fn name_with_newline(x: u32) -> u32 {
    x
}

#[parallel_run(candidate = v2, name = "payments\0process")]
fn name_with_nul(x: u32) -> u32 {
    x
}

#[parallel_run(candidate = v2, context = { "id": x, "region": "eu", "id": x + 1 })]
fn duplicate_context_key(x: u32) -> u32 {
    x
}

#[parallel_run(candidate = v2, deadline = "0000-01-01")]
fn deadline_far_in_the_past(x: u32) -> u32 {
    x
}

#[parallel_run(candidate = v2, sampel = 0.5)]
fn misspelt_key(x: u32) -> u32 {
    x
}

#[parallel_run(candidate = v2, run_if = x >)]
fn broken_expression(x: u32) -> u32 {
    x
}

fn main() {}
