//! Sensitive headers never reach a log line, a record or the discrepancy log: every `tracing`
//! event of the process is captured (a subscriber of this test binary), and the log file read.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use http::Request;
use hyper::body::Incoming;
use shadow_runtime::Outcome;

/// Collects every event's fields as text.
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut f = Fields(String::new());
        event.record(&mut f);
        self.0.lock().unwrap().push(f.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

const SECRETS: [&str; 6] = [
    "Bearer-s3cret-1",
    "sid-s3cret-2",
    "set-s3cret-3",
    "set-s3cret-4",
    "key-s3cret-5",
    "tok-s3cret-6",
];

#[test]
fn authorization_cookies_and_set_cookie_never_reach_a_log_line() {
    let events = Arc::new(Mutex::new(Vec::new()));
    tracing::subscriber::set_global_default(Capture(events.clone())).unwrap();
    let dir = std::env::temp_dir().join(format!("shadow-http-redaction-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("redaction.jsonl");
    let _ = std::fs::remove_file(&log);
    let log2 = log.clone();
    run(async move {
        let primary = upstream(|_req: Request<Incoming>| async move {
            response(
                200,
                &[
                    ("content-type", "text/plain"),
                    ("set-cookie", "session=set-s3cret-3; Path=/"),
                ],
                "a\nb\n",
            )
        })
        .await;
        // The rewrite differs (a mismatch is logged, with both responses) and sets another cookie.
        let candidate = upstream(|_req: Request<Incoming>| async move {
            response(
                200,
                &[
                    ("content-type", "text/plain"),
                    ("set-cookie", "session=set-s3cret-4; Path=/"),
                ],
                "a\nc\n",
            )
        })
        .await;
        let mut cfg = shadow_http::proxy::Config::from_toml_str(
            "[[routes]]\nname = \"r::secrets\"\nsample_by = \"cookie:sid\"\n",
            "t.toml",
        )
        .unwrap();
        cfg.listen = "127.0.0.1:0".parse().unwrap();
        cfg.primary = Some(primary.url());
        cfg.candidate = Some(candidate.url());
        cfg.log = Some(log2);
        let proxy = shadow_http::proxy::Proxy::start(cfg).await.unwrap();
        let c = client();
        for _ in 0..3 {
            let mut r = get(proxy.addr(), "/account?token=tok-s3cret-6&page=2");
            r.headers_mut()
                .insert("authorization", "Bearer Bearer-s3cret-1".parse().unwrap());
            r.headers_mut()
                .insert("cookie", "theme=dark; sid=sid-s3cret-2".parse().unwrap());
            r.headers_mut()
                .insert("x-api-key", "key-s3cret-5".parse().unwrap());
            let seen = send(&c, r).await;
            // The client itself gets the primary's cookie, untouched.
            assert!(seen
                .headers
                .iter()
                .any(|(n, v)| n == "set-cookie" && v == b"session=set-s3cret-3; Path=/"));
        }
        idle().await;
        let s = accounted("r::secrets");
        assert_eq!(count(&s, Outcome::Mismatch), 3, "{:?}", s.counts);
        let d = &s.discrepancies[0];
        let record = format!("{d:?}");
        for secret in SECRETS {
            assert!(!record.contains(secret), "{secret} in a record: {record}");
        }
        assert!(record.contains("session=***"), "{record}");
        assert!(record.contains("token=***"), "{record}");
        assert!(
            d.key.as_deref().is_some_and(|k| k.starts_with('#')),
            "the cookie key is hashed: {:?}",
            d.key
        );
        proxy.shutdown().await;
    });
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("\"r::secrets\"") && l.contains("\"discrepancy\""))
            .count(),
        3
    );
    let events = events.lock().unwrap();
    assert!(
        events.iter().any(|e| e.contains("r::secrets")),
        "the mismatches were logged: {events:?}"
    );
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} in the discrepancy log");
        assert!(
            !events.iter().any(|e| e.contains(secret)),
            "{secret} in a log event"
        );
    }
}
