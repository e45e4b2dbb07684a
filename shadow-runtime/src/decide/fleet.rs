//! The fleet-wide gate's source: the experiments whose gate reads Prometheus
//! (`gate_source = "prometheus"`, [`crate::decide::config::prometheus`]) ask for their numbers
//! here from the timer thread ([`want`], which never blocks on the network), and a thread of this
//! module's own, started at the first such experiment, runs the queries.
//!
//! **When.** Every `refresh`, at the same wall-clock instants on every instance (multiples of
//! `refresh` since the Unix epoch, a quarter of `refresh` later, at most a second, so that the
//! scrapes of that instant are in), and with that instant as the query's evaluation time: two
//! instances whose clocks agree ask Prometheus the same question and get the same answer, so they
//! open, refuse or fall back together. A new experiment is asked for at once.
//!
//! **What.** Per experiment and gate window, two instant queries (`/api/v1/query`): the agreeing
//! calls and the compared ones, each rounded to whole calls (`increase()` extrapolates); a vector
//! answer is summed over its series, an empty one is 0. A failure (unreachable, timeout, an HTTP
//! error, a Prometheus error, an answer that is not a number) is kept with its time, and the last
//! good reading stays until a new one replaces it: the experiment's gate judges its age
//! ([`crate::decide::cutover`]). An experiment not asking any more (its source changed) is
//! forgotten after [`FORGET`].

use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::decide::config::prometheus::{self, Server};
use crate::decide::cutover::{FleetReading, FleetUpdate};

/// How long an experiment that stopped asking is still queried for.
pub(crate) const FORGET: Duration = Duration::from_secs(10);

/// One experiment's numbers.
struct Sub {
    name: &'static str,
    window: Duration,
    /// When the experiment last asked.
    wanted: Instant,
    /// The refresh slot last queried (`None`: new).
    asked: Option<u64>,
    last: Option<FleetReading>,
    error: Option<(String, Instant)>,
}

struct Shared {
    subs: Vec<Sub>,
    /// The server's `max_age`, as last read.
    max_age: Duration,
}

static SHARED: Mutex<Shared> = Mutex::new(Shared {
    subs: Vec::new(),
    max_age: Duration::from_secs(45),
});
static WAKE: Condvar = Condvar::new();
static STARTED: OnceLock<Result<(), String>> = OnceLock::new();

fn shared() -> MutexGuard<'static, Shared> {
    SHARED.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the source knows of experiment `name`'s numbers over `window`; the first call starts
/// the source's thread, an experiment's first call has it asked for at once. Never blocks on the
/// network (one short lock).
pub(crate) fn want(name: &'static str, window: Duration) -> FleetUpdate {
    let started = STARTED.get_or_init(start);
    let now = Instant::now();
    let mut g = shared();
    let max_age = g.max_age;
    let i = match g
        .subs
        .iter()
        .position(|s| s.name == name && s.window == window)
    {
        Some(i) => i,
        None => {
            g.subs.push(Sub {
                name,
                window,
                wanted: now,
                asked: None,
                last: None,
                error: None,
            });
            WAKE.notify_all();
            g.subs.len() - 1
        }
    };
    let s = &mut g.subs[i];
    s.wanted = now;
    FleetUpdate {
        last: s.last,
        error: match started {
            Err(e) => Some((e.clone(), now)),
            Ok(()) => s.error.clone(),
        },
        max_age,
    }
}

fn start() -> Result<(), String> {
    std::thread::Builder::new()
        .name("parallel-run-fleet".into())
        .spawn(run)
        .map(|_| ())
        .map_err(|e| format!("could not start the fleet-wide gate's thread: {e}"))
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn run() {
    let mut client = Client::default();
    loop {
        let server = prometheus::server();
        let refresh = server
            .as_ref()
            .map_or(prometheus::DEFAULT_REFRESH, |s| s.refresh);
        let period = (refresh.as_millis() as u64).max(1);
        let slot = unix_ms() / period;
        // The queries of this slot, those already made skipped.
        let todo: Vec<(&'static str, Duration)> = {
            let mut g = shared();
            if let Ok(s) = &server {
                g.max_age = s.max_age;
            }
            g.subs.retain(|s| s.wanted.elapsed() < FORGET);
            g.subs
                .iter_mut()
                .filter(|s| s.asked != Some(slot))
                .map(|s| {
                    s.asked = Some(slot);
                    (s.name, s.window)
                })
                .collect()
        };
        for (name, window) in todo {
            let answer = match &server {
                Err(e) => Err(e.clone()),
                Ok(s) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    client.numbers(s, name, window, slot * period)
                }))
                .unwrap_or_else(|_| Err("the query panicked".to_owned())),
            };
            let now = Instant::now();
            let mut g = shared();
            if let Some(s) = g
                .subs
                .iter_mut()
                .find(|s| s.name == name && s.window == window)
            {
                match answer {
                    Ok((good, compared)) => {
                        s.last = Some(FleetReading {
                            good,
                            compared,
                            at: now,
                        });
                        s.error = None;
                    }
                    Err(e) => s.error = Some((e, now)),
                }
            }
        }
        // Until the next slot's instant (and its scrapes), or a new experiment.
        let offset = (period / 4).min(1_000);
        let next = (slot + 1) * period + offset;
        let wait = Duration::from_millis(next.saturating_sub(unix_ms()));
        let g = shared();
        if g.subs.iter().all(|s| s.asked.is_some()) {
            drop(WAKE.wait_timeout(g, wait));
        }
    }
}

/// `(good, compared)` from the two answers: whole calls, never more good than compared.
pub(crate) fn whole(good: f64, compared: f64) -> (u64, u64) {
    let c = compared.max(0.0).round() as u64;
    ((good.max(0.0).round() as u64).min(c), c)
}

/// The number in a Prometheus instant-query answer (`status` is the HTTP status): a scalar, or
/// a vector's values summed (0 for an empty one). An error says what the answer was.
#[cfg_attr(not(feature = "fleet-gate"), allow(dead_code))]
pub(crate) fn parse_answer(status: u16, body: &str) -> Result<f64, String> {
    use serde_json::Value;
    let short = |s: &str| s.chars().take(200).collect::<String>();
    let v: Value = serde_json::from_str(body)
        .map_err(|_| format!("HTTP {status}, not a Prometheus answer: {:?}", short(body)))?;
    if v["status"] != "success" {
        return Err(format!(
            "HTTP {status}, Prometheus said {}: {}",
            v["errorType"].as_str().unwrap_or("error"),
            short(v["error"].as_str().unwrap_or(body))
        ));
    }
    let number = |pair: &Value| -> Result<f64, String> {
        let text = pair.get(1).and_then(Value::as_str).unwrap_or("");
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(n),
            _ => Err(format!("the query gave {text:?}, not a number of calls")),
        }
    };
    let data = &v["data"];
    match data["resultType"].as_str() {
        Some("scalar") => number(&data["result"]),
        Some("vector") => data["result"]
            .as_array()
            .map_or(Ok(0.0), |a| a.iter().map(|s| number(&s["value"])).sum()),
        other => Err(format!(
            "the query must give a number (a scalar or a vector), not a {}",
            other.unwrap_or("nothing")
        )),
    }
}

/// The HTTP client (rebuilt when the timeout changes).
#[derive(Default)]
struct Client {
    #[cfg(feature = "fleet-gate")]
    agent: Option<(Duration, ureq::Agent)>,
}

impl Client {
    /// `(good, compared)` of experiment `name` over `window`, evaluated at `at_ms` (Unix ms).
    fn numbers(
        &mut self,
        s: &Server,
        name: &str,
        window: Duration,
        at_ms: u64,
    ) -> Result<(u64, u64), String> {
        let (good, compared) = s.queries(name, window);
        let time = format!("{}.{:03}", at_ms / 1000, at_ms % 1000);
        let good = self.ask(s, &good, &time)?;
        let compared = self.ask(s, &compared, &time)?;
        Ok(whole(good, compared))
    }

    #[cfg(feature = "fleet-gate")]
    fn ask(&mut self, s: &Server, query: &str, time: &str) -> Result<f64, String> {
        if self.agent.as_ref().is_none_or(|(t, _)| *t != s.timeout) {
            let config = ureq::Agent::config_builder()
                .timeout_global(Some(s.timeout))
                .http_status_as_error(false)
                .user_agent("parallel-run fleet gate")
                .build();
            self.agent = Some((s.timeout, config.into()));
        }
        let agent = &self.agent.as_ref().expect("just built").1;
        let mut r = agent
            .get(s.query_url())
            .query("query", query)
            .query("time", time)
            .call()
            .map_err(|e| match e {
                ureq::Error::Timeout(_) => {
                    format!("{}: no answer within the timeout ({:?})", s.url, s.timeout)
                }
                e => format!("{}: {e}", s.url),
            })?;
        let status = r.status().as_u16();
        let body = r
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(|e| format!("{}: HTTP {status}, reading the answer: {e}", s.url))?;
        parse_answer(status, &body).map_err(|e| format!("{}: {e}", s.url))
    }

    #[cfg(not(feature = "fleet-gate"))]
    fn ask(&mut self, _: &Server, _: &str, _: &str) -> Result<f64, String> {
        Err("this program was built without the fleet-gate feature".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_summed_and_rounded() {
        let vector = |vals: &[&str]| {
            let r: Vec<String> = vals
                .iter()
                .map(|v| format!(r#"{{"metric":{{}},"value":[1712345678.5,"{v}"]}}"#))
                .collect();
            format!(
                r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
                r.join(",")
            )
        };
        assert_eq!(parse_answer(200, &vector(&["41.5"])), Ok(41.5));
        assert_eq!(parse_answer(200, &vector(&["1", "2.5"])), Ok(3.5));
        assert_eq!(parse_answer(200, &vector(&[])), Ok(0.0));
        let scalar = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"7"]}}"#;
        assert_eq!(parse_answer(200, scalar), Ok(7.0));
        assert!(parse_answer(200, &vector(&["NaN"]))
            .unwrap_err()
            .contains("not a number"));
        let bad = r#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#;
        assert_eq!(
            parse_answer(400, bad),
            Err("HTTP 400, Prometheus said bad_data: parse error at char 3".to_owned())
        );
        assert!(parse_answer(502, "<html>Bad Gateway</html>")
            .unwrap_err()
            .starts_with("HTTP 502, not a Prometheus answer"));
        let matrix = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(parse_answer(200, matrix)
            .unwrap_err()
            .contains("not a matrix"));
        assert_eq!(whole(99.6, 100.4), (100, 100));
        assert_eq!(whole(100.6, 100.4), (100, 100));
        assert_eq!(whole(-0.2, 3.49), (0, 3));
    }
}
