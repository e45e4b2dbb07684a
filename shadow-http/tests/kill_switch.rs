//! The global kill switch and a route's environment variable, in a test binary of their own
//! (both are process-wide).

mod common;

use common::*;
use http::Request;
use hyper::body::Incoming;
use shadow_runtime::Outcome;

fn json(req: Request<Incoming>) -> impl std::future::Future<Output = http::Response<UpBody>> {
    let path = req.uri().path().to_owned();
    async move { response(200, &[("content-type", "application/json")], price(&path)) }
}

#[test]
fn the_kill_switch_and_the_route_s_variable_turn_mirroring_off() {
    // Read at the route's first request, over the file's settings (the file says 100%).
    std::env::set_var("PARALLEL_RUN__K__ENV_OFF", "off");
    std::env::set_var("PARALLEL_RUN__K__ENV_RATE", "sample=0,max_in_flight=3");
    run(async {
        let primary = upstream(json).await;
        let candidate = upstream(json).await;
        let toml = "[[routes]]\nname = \"k::switch\"\npath = \"/a\"\n[[routes]]\nname = \"k::env_off\"\npath = \"/b\"\nsample = 1.0\n[[routes]]\nname = \"k::env_rate\"\npath = \"/c\"\nmax_in_flight = 50\n";
        let proxy = proxy(toml, &primary, &candidate).await;
        let c = client();
        same_as_direct(&c, primary.addr, proxy.addr(), |a| get(a, "/a/1")).await;
        shadow_runtime::set_global_enabled(false);
        for i in 0..5 {
            same_as_direct(&c, primary.addr, proxy.addr(), |a| {
                get(a, &format!("/a/{i}"))
            })
            .await;
        }
        shadow_runtime::set_global_enabled(true);
        same_as_direct(&c, primary.addr, proxy.addr(), |a| get(a, "/a/9")).await;
        for i in 0..3 {
            same_as_direct(&c, primary.addr, proxy.addr(), |a| {
                get(a, &format!("/b/{i}"))
            })
            .await;
            same_as_direct(&c, primary.addr, proxy.addr(), |a| {
                get(a, &format!("/c/{i}"))
            })
            .await;
        }
        idle().await;
        let s = accounted("k::switch");
        assert_eq!(
            (count(&s, Outcome::Match), count(&s, Outcome::Disabled)),
            (2, 5),
            "{:?}",
            s.counts
        );
        let off = accounted("k::env_off");
        assert_eq!(
            (off.enabled, count(&off, Outcome::Disabled)),
            (false, 3),
            "{:?}",
            off.counts
        );
        let rate = accounted("k::env_rate");
        assert_eq!(
            (rate.sample_rate, rate.max_in_flight),
            (0.0, 3),
            "the environment wins over the file"
        );
        assert_eq!(count(&rate, Outcome::Disabled), 3);
        assert_eq!(
            candidate
                .requests
                .load(std::sync::atomic::Ordering::Relaxed),
            2
        );
        proxy.shutdown().await;
    });
}
