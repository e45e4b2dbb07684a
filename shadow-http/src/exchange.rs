//! What one side answered, as the comparison sees it: an [`Exchange`] (status, headers with the
//! sensitive ones masked, the body up to the limit, or the failure), and the [`Probe`] that renders
//! it for discrepancy records.

use std::fmt::Write as _;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;
use shadow_runtime::manual::Probe;

/// Headers whose values never leave the process in a record, a log line or a diff: requests'
/// credentials and cookies, and the cookies a response sets. [`Exchange`] keeps `***` for them
/// (a `Set-Cookie` keeps its cookie's name: `session=***`).
pub const SENSITIVE_HEADERS: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
];

/// Headers of one hop (RFC 9110 §7.6.1): not forwarded, not compared.
pub(crate) const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
];

pub(crate) fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
}

/// The masked form of a header value: `***`, or for `Set-Cookie` the cookie's name and `=***`.
///
/// ```
/// use shadow_http::exchange::masked;
/// assert_eq!(masked("set-cookie", "session=abc123; Path=/; HttpOnly"), "session=***");
/// assert_eq!(masked("authorization", "Bearer abc"), "***");
/// ```
pub fn masked(name: &str, value: &str) -> String {
    if name.eq_ignore_ascii_case("set-cookie") {
        match value.split_once('=') {
            Some((cookie, _)) => format!("{}=***", cookie.trim()),
            None => "***".to_owned(),
        }
    } else {
        "***".to_owned()
    }
}

/// One side's answer to a request, as compared: the status, the headers (names in lower case,
/// in order; the values of [sensitive](SENSITIVE_HEADERS) ones masked), and the body's first
/// `limit` bytes as they came on the wire (still encoded), or the failure that ended it.
///
/// ```
/// use shadow_http::Exchange;
/// let e = Exchange::new(200, [("content-type", "text/plain"), ("set-cookie", "id=42")], "hello");
/// assert_eq!(e.status(), 200);
/// assert_eq!(e.header("set-cookie"), Some("id=***"));
/// assert_eq!(e.body(), b"hello");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub(crate) status: StatusCode,
    pub(crate) headers: Vec<(HeaderName, String)>,
    pub(crate) body: Bytes,
    /// Body bytes seen in all (more than `body.len()` when truncated).
    pub(crate) body_len: u64,
    /// The body went past the limit: only its length so far is known.
    pub(crate) truncated: bool,
    /// The request failed, or the body broke off: no answer to compare.
    pub(crate) failure: Option<String>,
}

impl Exchange {
    /// An exchange from its parts (for tests and hand-written comparisons); header values are
    /// masked as captured ones are.
    ///
    /// ```
    /// let e = shadow_http::Exchange::new(404, [("content-length", "0")], "");
    /// assert_eq!(e.status(), 404);
    /// ```
    pub fn new<'a>(
        status: u16,
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
        body: impl Into<Bytes>,
    ) -> Exchange {
        let body = body.into();
        let headers = headers
            .into_iter()
            .filter_map(|(n, v)| {
                let name = HeaderName::from_bytes(n.as_bytes()).ok()?;
                Some((name, mask_value(n, v)))
            })
            .collect();
        Exchange {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            headers,
            body_len: body.len() as u64,
            body,
            truncated: false,
            failure: None,
        }
    }

    /// A request that got no answer (refused, reset, broken off), with what happened.
    ///
    /// ```
    /// let e = shadow_http::Exchange::failed("connection refused");
    /// assert_eq!(e.failure(), Some("connection refused"));
    /// ```
    pub fn failed(why: impl Into<String>) -> Exchange {
        Exchange {
            status: StatusCode::BAD_GATEWAY,
            headers: Vec::new(),
            body: Bytes::new(),
            body_len: 0,
            truncated: false,
            failure: Some(why.into()),
        }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }

    /// The headers, names in lower case, sensitive values masked.
    pub fn headers(&self) -> &[(HeaderName, String)] {
        &self.headers
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.as_str().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as it came (encoded), up to the limit.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Body bytes seen, also past the limit.
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// Whether the body went past the limit (then [`body`](Self::body) is empty).
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Why there is no answer, if there is none.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// A transport failure or a 5xx status: what the circuit breaker counts as a failed
    /// candidate when the primary answered.
    ///
    /// ```
    /// assert!(shadow_http::Exchange::new(503, [], "").is_failure());
    /// assert!(!shadow_http::Exchange::new(404, [], "").is_failure());
    /// ```
    pub fn is_failure(&self) -> bool {
        self.failure.is_some() || self.status.is_server_error()
    }

    /// The headers of a response, masked.
    pub(crate) fn capture_headers(map: &HeaderMap) -> Vec<(HeaderName, String)> {
        map.iter()
            .filter(|(n, _)| !is_hop_by_hop(n))
            .map(|(n, v)| {
                let v = String::from_utf8_lossy(v.as_bytes());
                (n.clone(), mask_value(n.as_str(), &v))
            })
            .collect()
    }

    /// Reads a whole response (up to `limit` bytes of body) into an exchange. Past the limit the
    /// rest is not read: the body is dropped, and with it the connection.
    pub(crate) async fn read<B>(resp: http::Response<B>, limit: usize) -> Exchange
    where
        B: Body<Data = Bytes>,
        B::Error: std::fmt::Display,
    {
        let (parts, body) = resp.into_parts();
        let mut out = Exchange {
            status: parts.status,
            headers: Self::capture_headers(&parts.headers),
            body: Bytes::new(),
            body_len: 0,
            truncated: false,
            failure: None,
        };
        let mut buf = BytesMut::new();
        let mut body = std::pin::pin!(body);
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => {
                    if let Ok(data) = f.into_data() {
                        out.body_len += data.len() as u64;
                        if out.body_len > limit as u64 {
                            out.truncated = true;
                            buf.clear();
                            break;
                        }
                        buf.extend_from_slice(&data);
                    }
                }
                Err(e) => {
                    out.failure = Some(format!(
                        "the response body broke off after {} bytes: {e}",
                        out.body_len
                    ));
                    break;
                }
            }
        }
        out.body = buf.freeze();
        out
    }
}

fn mask_value(name: &str, value: &str) -> String {
    if SENSITIVE_HEADERS
        .iter()
        .any(|s| s.eq_ignore_ascii_case(name))
    {
        masked(name, value)
    } else {
        value.to_owned()
    }
}

/// How much of a body a rendering shows.
const PREVIEW: usize = 2048;

/// Renders an exchange for a discrepancy record: the status line, the headers (masked), and the
/// body decoded (`Content-Encoding`), as text when it is text, else its length and hash.
///
/// ```
/// let e = shadow_http::Exchange::new(200, [("content-type", "text/plain")], "hi");
/// assert_eq!(shadow_http::exchange::render(&e), "HTTP 200\ncontent-type: text/plain\n\nhi");
/// ```
pub fn render(e: &Exchange) -> String {
    if let Some(f) = &e.failure {
        return format!("(no answer: {f})");
    }
    let mut s = format!("HTTP {}", e.status.as_u16());
    for (n, v) in &e.headers {
        let _ = write!(s, "\n{n}: {v}");
    }
    s.push_str("\n\n");
    if e.truncated {
        let _ = write!(
            s,
            "(body over the limit: at least {} bytes, not kept)",
            e.body_len
        );
        return s;
    }
    match crate::compare::decoded(e, usize::MAX) {
        Ok(body) => match std::str::from_utf8(&body) {
            Ok(text) if text.len() <= PREVIEW => s.push_str(text),
            Ok(text) => {
                let mut cut = PREVIEW;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                let _ = write!(s, "{}... ({} bytes in all)", &text[..cut], text.len());
            }
            Err(_) => {
                let _ = write!(
                    s,
                    "({} bytes, xxh3 {:016x})",
                    body.len(),
                    crate::compare::hash(&body)
                );
            }
        },
        Err(why) => {
            let _ = write!(s, "({} bytes that do not decode: {why})", e.body.len());
        }
    }
    s
}

/// The [`Probe`] of an exchange: [`render`] for records, and a failure or 5xx status as an
/// error (a candidate failing where the primary answered counts for the circuit breaker).
///
/// ```
/// use shadow_runtime::manual::Probe;
/// let p = shadow_http::exchange::ExchangeProbe;
/// assert!(p.is_err(&shadow_http::Exchange::failed("reset")));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ExchangeProbe;

impl Probe<Exchange> for ExchangeProbe {
    fn debug(&self, v: &Exchange) -> Option<String> {
        Some(render(v))
    }
    fn is_err(&self, v: &Exchange) -> bool {
        v.is_failure()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_values_are_masked_at_capture() {
        let mut map = HeaderMap::new();
        map.insert("authorization", "Bearer secret-token".parse().unwrap());
        map.append("set-cookie", "sid=s3cr3t; Path=/".parse().unwrap());
        map.insert("x-api-key", "k-123".parse().unwrap());
        map.insert("connection", "keep-alive".parse().unwrap());
        let h = Exchange::capture_headers(&map);
        let text = format!("{h:?}");
        assert!(
            !text.contains("secret-token") && !text.contains("s3cr3t") && !text.contains("k-123")
        );
        assert!(text.contains("sid=***"));
        assert!(
            !h.iter().any(|(n, _)| n == "connection"),
            "hop-by-hop kept: {h:?}"
        );
    }
}
