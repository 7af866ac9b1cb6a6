//! The inbound pipeline every adapter served over HTTP shares (REST and MCP): the
//! request id, inbound authentication, the body limit, and the refusals they produce.
//!
//! Owns: the order and the wording of these checks — the id is taken (or made) first
//! and stamped on every answer, credentials are checked before the body is read, a
//! body is read only up to its limit — and the status each refusal gets. Must not
//! touch: how an adapter words an error body (REST answers JSON with `requestId`, MCP a
//! JSON-RPC error), which stays the adapter's through [`Refusal::render`].

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use http_body_util::{BodyExt, Limited};

use super::auth::InboundAuth;

const REQUEST_ID_HEADER: &str = "x-request-id";

/// One inbound request's identity, from its first moment to its answer.
pub struct Inbound {
    pub request_id: String,
}

impl Inbound {
    /// The caller's `x-request-id` when it is safe to echo, else a fresh id.
    pub fn begin<B>(req: &http::Request<B>) -> Self {
        Inbound {
            request_id: crate::request_id::from_header(req.headers().get(REQUEST_ID_HEADER)),
        }
    }

    /// Stamp the request id on the answer.
    pub fn finish<B>(&self, mut resp: http::Response<B>) -> http::Response<B> {
        if let Ok(v) = HeaderValue::from_str(&self.request_id) {
            resp.headers_mut().insert(REQUEST_ID_HEADER, v);
        }
        resp
    }
}

/// Why the pipeline turned a request away before the adapter saw it.
#[derive(Debug)]
pub enum Refusal {
    /// Missing or wrong credentials; the challenge goes in `WWW-Authenticate`.
    Unauthorized {
        challenge: Option<HeaderValue>,
    },
    BodyTooLarge {
        limit: usize,
    },
    BodyUnreadable(String),
    /// A Host or Origin this listener does not answer (DNS rebinding).
    Forbidden(&'static str),
    /// A valid OAuth token without a scope the adapter requires (403 with the
    /// `insufficient_scope` challenge).
    InsufficientScope {
        challenge: HeaderValue,
    },
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Refusal::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::BodyUnreadable(_) => StatusCode::BAD_REQUEST,
            Refusal::Forbidden(_) | Refusal::InsufficientScope { .. } => StatusCode::FORBIDDEN,
        }
    }

    /// The error kind counted in `ikanos_request_errors` (none for authentication:
    /// a refused caller is not an error of the capability).
    pub fn metric_kind(&self) -> Option<&'static str> {
        match self {
            Refusal::Unauthorized { .. }
            | Refusal::Forbidden(_)
            | Refusal::InsufficientScope { .. } => None,
            Refusal::BodyTooLarge { .. } => Some("body_too_large"),
            Refusal::BodyUnreadable(_) => Some("invalid_input"),
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refusal::Unauthorized { .. } => "missing or wrong credentials".to_string(),
            Refusal::BodyTooLarge { limit } => {
                format!("the request body exceeds {limit} bytes")
            }
            Refusal::BodyUnreadable(e) => format!("reading the request body failed: {e}"),
            Refusal::Forbidden(why) => (*why).to_string(),
            Refusal::InsufficientScope { .. } => "the token lacks a required scope".to_string(),
        }
    }

    /// The answer, with the body the adapter words (`body(status, message)`).
    pub fn render<B>(
        self,
        body: impl FnOnce(StatusCode, &str) -> http::Response<B>,
    ) -> http::Response<B> {
        let mut resp = body(self.status(), &self.message());
        match self {
            Refusal::Unauthorized {
                challenge: Some(challenge),
            }
            | Refusal::InsufficientScope { challenge } => {
                resp.headers_mut()
                    .insert(InboundAuth::challenge_header(), challenge);
            }
            _ => {}
        }
        resp
    }
}

/// DNS-rebinding protection (the MCP transport's security rule), for the MCP endpoint,
/// the control port and the admin API. A page on another site can make a browser send
/// requests to a loopback server under the attacker's own name; an Origin that merely
/// matches the Host proves nothing then. So:
/// - on a loopback listener, the Host (or HTTP/2 authority) must be a loopback name
///   (`localhost`, `127.x.x.x`, `[::1]`) and an Origin, when sent, a loopback origin;
/// - on other addresses, an Origin, when sent, must be loopback or the Host's own.
///
/// Requests without an Origin and without a Host (non-browser clients) pass.
pub fn check_rebinding<B>(req: &http::Request<B>) -> Result<(), Refusal> {
    let loopback_listener = req
        .extensions()
        .get::<crate::server::LoopbackListener>()
        .is_some();
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    if loopback_listener && host.is_some_and(|h| !is_loopback_name(host_part(h))) {
        return Err(Refusal::Forbidden("Forbidden: Host not allowed"));
    }
    let Some(origin) = req.headers().get(http::header::ORIGIN) else {
        return Ok(());
    };
    let parsed = origin.to_str().ok().and_then(|o| url::Url::parse(o).ok());
    let Some(origin_host) = parsed.as_ref().and_then(|u| u.host_str()) else {
        return Err(Refusal::Forbidden("Forbidden: Origin not allowed"));
    };
    if is_loopback_name(origin_host) {
        return Ok(());
    }
    let own = !loopback_listener
        && host.is_some_and(|h| {
            let authority = match parsed.as_ref().and_then(|u| u.port()) {
                Some(p) => format!("{origin_host}:{p}"),
                None => origin_host.to_string(),
            };
            h.eq_ignore_ascii_case(&authority)
        });
    if own {
        Ok(())
    } else {
        Err(Refusal::Forbidden("Forbidden: Origin not allowed"))
    }
}

/// `host` of `host:port`, `[v6]:port` or a bare name.
fn host_part(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    }
}

fn is_loopback_name(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The caller's credentials against the adapter's `authentication`.
pub async fn authenticate(auth: &InboundAuth, parts: &http::request::Parts) -> Result<(), Refusal> {
    if let InboundAuth::OAuth2(oauth) = auth {
        return oauth.check(parts).await.map_err(|denied| match denied {
            super::oauth2::Denied::Unauthorized(challenge) => Refusal::Unauthorized {
                challenge: Some(challenge),
            },
            super::oauth2::Denied::Forbidden(challenge) => Refusal::InsufficientScope { challenge },
        });
    }
    auth.check(parts)
        .map_err(|challenge| Refusal::Unauthorized { challenge })
}

/// A request body an adapter reads: hyper's `Incoming` on the wire, any in-memory
/// body in unit tests.
pub trait InboundBody:
    hyper::body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>> + Send
{
}

impl<B> InboundBody for B where
    B: hyper::body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
        + Send
{
}

/// The whole body, refused past `limit` bytes (nothing past it is buffered).
pub async fn read_body<B: InboundBody>(body: B, limit: usize) -> Result<Bytes, Refusal> {
    match Limited::new(body, limit).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(Refusal::BodyTooLarge { limit })
        }
        Err(e) => Err(Refusal::BodyUnreadable(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[tokio::test]
    async fn a_body_past_its_limit_is_refused_with_413() {
        let body = Full::new(Bytes::from(vec![b'x'; 11]));
        let refusal = read_body(body, 10).await.unwrap_err();
        assert_eq!(refusal.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(refusal.message(), "the request body exceeds 10 bytes");
        assert_eq!(refusal.metric_kind(), Some("body_too_large"));
        let body = Full::new(Bytes::from_static(b"0123456789"));
        assert_eq!(read_body(body, 10).await.unwrap().len(), 10);
    }

    #[test]
    fn a_request_id_is_kept_when_safe_and_stamped_on_the_answer() {
        let req = http::Request::builder()
            .header(REQUEST_ID_HEADER, "abc-1")
            .body(())
            .unwrap();
        let inbound = Inbound::begin(&req);
        assert_eq!(inbound.request_id, "abc-1");
        let resp = inbound.finish(http::Response::new(()));
        assert_eq!(resp.headers()[REQUEST_ID_HEADER], "abc-1");
        let unsafe_id = http::Request::builder()
            .header(REQUEST_ID_HEADER, "a b")
            .body(())
            .unwrap();
        assert_ne!(Inbound::begin(&unsafe_id).request_id, "a b");
    }

    #[test]
    fn a_refused_caller_gets_401_with_the_challenge() {
        let refusal = Refusal::Unauthorized {
            challenge: Some(HeaderValue::from_static("Bearer")),
        };
        assert_eq!(refusal.metric_kind(), None);
        let resp = refusal.render(|status, message| {
            let mut r = http::Response::new(message.to_string());
            *r.status_mut() = status;
            r
        });
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(resp.body(), "missing or wrong credentials");
        assert_eq!(resp.headers()[http::header::WWW_AUTHENTICATE], "Bearer");
    }

    fn on(local: &str, headers: &[(&str, &str)]) -> Result<(), Refusal> {
        let mut b = http::Request::builder().uri("/mcp");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let mut req = b.body(()).unwrap();
        let local: std::net::SocketAddr = local.parse().unwrap();
        if local.ip().is_loopback() {
            req.extensions_mut().insert(crate::server::LoopbackListener);
        }
        check_rebinding(&req)
    }

    #[test]
    fn a_loopback_listener_answers_loopback_names_only() {
        let lo = "127.0.0.1:8080";
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8080",
            "127.1.2.3",
        ] {
            assert!(on(lo, &[("host", host)]).is_ok(), "{host}");
        }
        for host in [
            "evil.example.com",
            "evil.example.com:8080",
            "10.0.0.1:8080",
            "127.0.0.1.evil.com",
        ] {
            let refused = on(lo, &[("host", host)]).unwrap_err();
            assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{host}");
        }
        // What a browser sends after DNS rebinding: its own name as Host and Origin.
        let rebound = on(
            lo,
            &[
                ("host", "evil.example.com"),
                ("origin", "http://evil.example.com"),
            ],
        );
        assert_eq!(
            rebound.unwrap_err().message(),
            "Forbidden: Host not allowed"
        );
        let page = on(
            lo,
            &[
                ("host", "127.0.0.1:8080"),
                ("origin", "https://evil.example"),
            ],
        );
        assert_eq!(page.unwrap_err().message(), "Forbidden: Origin not allowed");
        assert!(on(
            lo,
            &[("host", "localhost"), ("origin", "http://localhost:3000")]
        )
        .is_ok());
        assert!(on(lo, &[]).is_ok(), "no Host and no Origin: not a browser");
    }

    #[test]
    fn other_listeners_take_their_own_origin_or_a_loopback_one() {
        let public = "10.1.2.3:443";
        assert!(on(public, &[("host", "api.example.com")]).is_ok());
        assert!(on(
            public,
            &[
                ("host", "api.example.com"),
                ("origin", "https://api.example.com")
            ]
        )
        .is_ok());
        assert!(on(
            public,
            &[
                ("host", "api.example.com"),
                ("origin", "https://other.example")
            ]
        )
        .is_err());
        assert!(on(public, &[("origin", "null")]).is_err());
    }
}
