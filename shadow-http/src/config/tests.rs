//! The file's checks: every mistake named, defaults under a route's keys, what routes refuse.

use super::*;

fn err(text: &str) -> String {
    Config::from_toml_str(text, "f.toml")
        .unwrap_err()
        .to_string()
}

#[test]
fn every_mistake_is_named_with_file_line_and_key() {
    let e = err("[proxy]\nlisten = \"nope\"\n\n[[routes]]\nname = \"r\"\ntimeout = 150\nsampel = 1\nsample_by = \"body:x\"\n");
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 4, "{e}");
    assert!(
        lines[0].starts_with("f.toml:2: proxy.listen: \"nope\" is not an address"),
        "{e}"
    );
    assert!(
        e.contains("f.toml:6: routes[0].timeout: `150` has no unit"),
        "{e}"
    );
    assert!(
        e.contains("f.toml:7: routes[0].sampel: unknown key; did you mean `sample`?"),
        "{e}"
    );
    assert!(
        e.contains("f.toml:8: routes[0].sample_by: `body:x` is not a sampling key"),
        "{e}"
    );
}

#[test]
fn defaults_apply_under_a_route_s_own_keys() {
    let c = Config::from_toml_str(
        "[defaults]\nsample = \"50%\"\ntimeout = \"2s\"\n[[routes]]\nname = \"a\"\ntimeout = \"none\"\nbreaker_window = \"5s\"\ndeadline = 2027-01-31\n",
        "f.toml",
    )
    .unwrap();
    assert_eq!(
        c.routes[0].settings,
        "sample=50%,breaker_window=5s,deadline=2027-01-31,timeout=none"
    );
}

#[test]
fn routes_refuse_what_the_proxy_cannot_do() {
    assert!(err("[[routes]]\nname = \"a\"\nramp = 0.1\n")
        .contains("routes[0].ramp: a ramp is not supported on proxy routes yet"));
    assert!(err("[[routes]]\nname = \"a\"\nstrict = true\n")
        .contains("routes[0].strict: `strict` is for functions' experiments"));
    assert!(err("[proxy]\ncandidate = \"https://x\"\n").contains("only plain http://"));
    assert!(
        err("[[routes]]\nname = \"a\"\n[routes.compare]\nignore = [\"body.x\"]\n")
            .contains("f.toml:4: routes[0].compare.ignore: \"body.x\" does not start with `$`")
    );
    assert!(
        err("[[routes]]\nmethods = [\"GET\"]\n").contains("routes[0].name: a route needs a `name`")
    );
}

#[test]
fn the_same_format_describes_functions_experiments() {
    let c = Config::from_toml_str(
        "[experiments.\"payments::process\"]\nsample = 0.1\nramp = \"10%\"\nmin_match_rate = 0.999\nmin_samples = 10_000\nstrict = true\n",
        "f.toml",
    )
    .unwrap();
    assert_eq!(c.experiments[0].name, "payments::process");
    assert_eq!(
        c.experiments[0].settings,
        "min_match_rate=0.999,min_samples=10000,ramp=10%,sample=0.1"
    );
    assert_eq!(c.experiments[0].strict, Some(true));
}
