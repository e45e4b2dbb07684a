//! Noise cancellation on HTTP, as Diffy does it: on a share of safe requests the primary is
//! asked a second time, and the paths where it differs from itself (a request id, a timestamp)
//! stop counting as mismatches, from the first request on; a real bug still does.

mod common;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use common::*;
use http::Request;
use hyper::body::Incoming;
use shadow_runtime::Outcome;

static IDS: AtomicU64 = AtomicU64::new(1);

/// A pricing service: the price, a request id new on every answer, the time of the answer (ms);
/// with `bug`, items whose number ends in 7 are priced a cent lower.
fn pricing(
    bug: bool,
) -> impl Fn(
    Request<Incoming>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = http::Response<UpBody>> + Send>>
       + Send
       + Sync
       + 'static {
    move |req: Request<Incoming>| {
        Box::pin(async move {
            let n: u64 = req
                .uri()
                .path()
                .rsplit('/')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let cents = 1000 + n * 3 - u64::from(bug && n % 10 == 7);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis();
            let id = IDS.fetch_add(1, Relaxed);
            let body = format!(
                r#"{{"item":{n},"cents":{cents},"request_id":"req-{id:08x}","quoted_at":{now}}}"#
            );
            response(
                200,
                &[
                    ("content-type", "application/json"),
                    ("x-request-id", &format!("{id}")),
                ],
                body,
            )
        })
    }
}

#[test]
fn request_ids_and_timestamps_are_learned_as_noise_and_real_bugs_stay_mismatches() {
    run(async {
        let primary = upstream(pricing(false)).await;
        let same = upstream(pricing(false)).await;
        let buggy = upstream(pricing(true)).await;
        let p1 = proxy(
            "[[routes]]\nname = \"n::identical\"\nnoise = 0.05\n",
            &primary,
            &same,
        )
        .await;
        let p2 = proxy(
            "[[routes]]\nname = \"n::buggy\"\nnoise = 0.05\n",
            &primary,
            &buggy,
        )
        .await;
        let c = client();
        for i in 0..300 {
            send(&c, get(p1.addr(), &format!("/quote/{i}"))).await;
            send(&c, get(p2.addr(), &format!("/quote/{i}"))).await;
            if i % 10 == 9 {
                // Paced, so that no request is shed (the lane runs at the lowest priority, behind
                // this test's own busy threads) and every count is exact.
                idle().await;
            }
        }
        idle().await;
        let s = accounted("n::identical");
        assert_eq!(
            count(&s, Outcome::Mismatch),
            0,
            "{:?} {:?}",
            s.counts,
            s.discrepancies.first()
        );
        assert_eq!(
            count(&s, Outcome::Shed),
            0,
            "{:?} {:?}",
            s.shed,
            shadow_runtime::lane::snapshot()
        );
        assert_eq!(
            count(&s, Outcome::Noise) + count(&s, Outcome::Match),
            300,
            "{:?}",
            s.counts
        );
        let paths: Vec<&str> = s.noisy_paths.iter().map(|(p, _)| p.as_str()).collect();
        assert!(
            paths.contains(&"$.body.request_id") && paths.contains(&"$.body.quoted_at"),
            "{paths:?}"
        );
        assert!(
            s.noise_clocks.iter().any(|(p, _)| p == "$.body.quoted_at"),
            "{:?}",
            s.noise_clocks
        );
        let b = accounted("n::buggy");
        assert_eq!(count(&b, Outcome::Mismatch), 30, "{:?}", b.counts);
        assert!(
            b.discrepancies
                .iter()
                .all(|d| d.detail.contains("$.body.cents")),
            "{:?}",
            b.discrepancies.first()
        );
        p1.shutdown().await;
        p2.shutdown().await;
    });
}
