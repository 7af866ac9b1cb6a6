//! A REST resource's `forward`: requests that no declared operation of the resource
//! answers are passed through to a consumed namespace (upstream's
//! `ResourceRestlet.handleFromForwardSpec`).
//!
//! Owns: which part of the inbound path goes upstream (what the resource's `{{path}}`
//! placeholder matched, every remaining segment; nothing when there is none), the
//! checks on it (no `.` or `..` segment, plain or percent-encoded, and no encoded
//! separator), the body limit, and the answer: the upstream's status, `Content-Type`
//! and body, or a JSON error in the REST adapter's words. Must not touch: how the
//! request is sent (`consumes`, with the namespace's authentication and tunnel) or
//! inbound authentication (the REST adapter checks it before routing).

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use ikanos_spec::model::Forward;
use percent_encoding::percent_decode_str;

use super::inbound::{self, InboundBody};
use crate::capability::LoadedCapability;
use crate::consumes::{CallError, ForwardCall};
use crate::server::Response;

/// The request body limit when the capability has no component (whose limits apply
/// otherwise): the host's default.
const DEFAULT_MAX_BODY: usize = 4 << 20;

/// The placeholder whose value is the forwarded path, as upstream names it.
const PATH_PLACEHOLDER: &str = "path";

/// A resource's `forward`, ready for requests.
pub struct ForwardRoute {
    namespace: String,
    trusted: Vec<String>,
    /// Segments of the resource path before its `{{path}}` placeholder; None when it
    /// has none (the upstream request then goes to `baseUri` itself).
    path_at: Option<usize>,
}

/// An error answer: status, metric kind, message.
pub type Failure = (StatusCode, Option<&'static str>, String);

impl ForwardRoute {
    /// `params`: the resource path's segments, `Some(name)` for placeholders.
    pub fn new(spec: &Forward, params: &[Option<&str>]) -> Self {
        let path_at = params
            .iter()
            .position(|p| *p == Some(PATH_PLACEHOLDER))
            .filter(|i| *i + 1 == params.len());
        ForwardRoute {
            namespace: spec.target.value.clone(),
            trusted: spec
                .trusted_headers
                .iter()
                .map(|h| h.value.clone())
                .collect(),
            path_at,
        }
    }

    /// Does the `{{path}}` placeholder take every remaining segment?
    pub fn greedy(&self) -> bool {
        self.path_at.is_some()
    }

    /// The path to send below `baseUri`, from the raw inbound path.
    fn tail(&self, raw_path: &str) -> Result<String, String> {
        let Some(at) = self.path_at else {
            return Ok(String::new());
        };
        let segments: Vec<&str> = raw_path.split('/').filter(|s| !s.is_empty()).collect();
        let tail = segments.get(at..).unwrap_or_default();
        for s in tail {
            let decoded = percent_decode_str(s).decode_utf8_lossy();
            if decoded == "." || decoded == ".." || decoded.contains(['/', '\\']) {
                return Err(format!(
                    "the forwarded path may not contain '.', '..' or encoded separators (segment '{s}')"
                ));
            }
        }
        Ok(tail.join("/"))
    }

    /// Forward `req` and turn the upstream's answer into the response.
    pub async fn forward<B: InboundBody>(
        &self,
        capability: &LoadedCapability,
        req: http::Request<B>,
        request_id: &str,
    ) -> Result<Response, Failure> {
        let (parts, body) = req.into_parts();
        let tail = self
            .tail(parts.uri.path())
            .map_err(|m| (StatusCode::BAD_REQUEST, Some("invalid_input"), m))?;
        let limit = capability
            .sandbox
            .as_ref()
            .map_or(DEFAULT_MAX_BODY, |s| s.limits().max_request_body);
        let body = inbound::read_body(body, limit)
            .await
            .map_err(|r| (r.status(), r.metric_kind(), r.message()))?;
        let traceparent = crate::telemetry::propagation::inbound(&parts.headers);
        let call = ForwardCall {
            namespace: &self.namespace,
            method: parts.method.clone(),
            path: &tail,
            query: parts.uri.query(),
            headers: &parts.headers,
            trusted: &self.trusted,
            body,
            request_id,
            traceparent: traceparent.as_deref(),
        };
        let answer = capability.outbound.forward(call).await.map_err(|e| {
            let status = match &e {
                CallError::TunnelUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
                CallError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
                CallError::InvalidInput { .. } => StatusCode::BAD_REQUEST,
                CallError::Transport { .. }
                | CallError::Denied { .. }
                | CallError::Undeclared { .. }
                | CallError::UnknownOperation { .. } => StatusCode::BAD_GATEWAY,
            };
            (status, Some("upstream"), e.to_string())
        })?;
        let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
        let mut resp = http::Response::new(Bytes::from(answer.body).into());
        *resp.status_mut() = status;
        if let Some(ct) = answer
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .and_then(|(_, v)| HeaderValue::from_str(v).ok())
        {
            resp.headers_mut().insert(http::header::CONTENT_TYPE, ct);
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ikanos_spec::model::Spanned;

    fn route(params: &[Option<&str>]) -> ForwardRoute {
        let spec = Forward {
            target: Spanned {
                value: "notion".into(),
                pos: Default::default(),
                file: Default::default(),
            },
            trusted_headers: Vec::new(),
        };
        ForwardRoute::new(&spec, params)
    }

    #[test]
    fn the_path_placeholder_takes_the_rest_and_never_climbs() {
        let r = route(&[None, Some("path")]);
        assert!(r.greedy());
        assert_eq!(r.tail("/notion/users/me").unwrap(), "users/me");
        assert_eq!(r.tail("/notion/a%20b/c").unwrap(), "a%20b/c");
        for bad in [
            "/notion/../admin",
            "/notion/users/%2e%2e/admin",
            "/notion/a%2F..%2Fb",
            "/notion/./x",
        ] {
            assert!(r.tail(bad).is_err(), "{bad}");
        }
        let plain = route(&[None]);
        assert!(!plain.greedy());
        assert_eq!(plain.tail("/notion").unwrap(), "");
    }
}
