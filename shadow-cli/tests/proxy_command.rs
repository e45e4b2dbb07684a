//! `parallel-run proxy` as a user runs it: the binary in front of two real HTTP servers on
//! 127.0.0.1, stopped with SIGTERM; and a bad route file, refused with its line and key.
#![cfg(all(feature = "proxy", unix))]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A one-thread HTTP/1.1 server answering every request with `body` (and closing the
/// connection); counts the requests it answered.
fn server(body: &'static str) -> (SocketAddr, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let n = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&n);
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            while r.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            seen.fetch_add(1, Relaxed);
        }
    });
    (addr, n)
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// `GET path` through the proxy, retried while it starts (bounded); the body.
fn get(addr: SocketAddr, path: &str) -> String {
    let start = Instant::now();
    loop {
        if let Ok(mut s) = TcpStream::connect(addr) {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            write!(
                s,
                "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
            )
            .unwrap();
            let mut text = String::new();
            s.read_to_string(&mut text).unwrap();
            return text
                .split_once("\r\n\r\n")
                .map(|(_, b)| b.to_owned())
                .unwrap();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the proxy did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_proxy_serves_the_primary_mirrors_to_the_candidate_and_stops_on_sigterm() {
    let (primary, _) = server(r#"{"price":10}"#);
    let (candidate, mirrored) = server(r#"{"price":11}"#);
    let listen = free_port();
    let dir = std::env::temp_dir().join(format!("parallel-run-proxy-cmd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("parallel-run.toml");
    std::fs::write(&file, "[[routes]]\nname = \"cli::quote\"\npath = \"/q\"\n").unwrap();
    let log = dir.join("proxy.jsonl");
    let _ = std::fs::remove_file(&log);
    let child = Command::new(env!("CARGO_BIN_EXE_parallel-run"))
        .args(["proxy", "--threads", "1", "--listen", &listen.to_string()])
        .args(["--primary", &format!("http://{primary}")])
        .args(["--candidate", &format!("http://{candidate}")])
        .arg("--config")
        .arg(&file)
        .arg("--log")
        .arg(&log)
        .env_remove("PARALLEL_RUN_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for i in 0..5 {
        assert_eq!(get(listen, &format!("/q/{i}")), r#"{"price":10}"#);
    }
    let start = Instant::now();
    while mirrored.load(Relaxed) < 5 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the candidate got {mirrored:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("cli::quote"), "{stdout}");
    let text = std::fs::read_to_string(&log).unwrap();
    let mismatches = text
        .lines()
        .filter(|l| l.contains(r#""outcome":"mismatch""#))
        .count();
    assert_eq!(mismatches, 5, "{text}");
    assert!(text.contains("$.body.price"), "{text}");
}

#[test]
fn a_bad_route_file_is_refused_with_its_line_and_key() {
    let dir = std::env::temp_dir().join(format!("parallel-run-proxy-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[[routes]]\nname = \"b\"\nsampel = 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_parallel-run"))
        .args([
            "proxy",
            "--primary",
            "http://127.0.0.1:1",
            "--candidate",
            "http://127.0.0.1:2",
        ])
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("bad.toml:3: routes[0].sampel"), "{err}");
    assert!(err.contains("did you mean `sample`"), "{err}");
}
