//! Forwarding an inbound request to a consumed namespace (a REST resource's `forward`,
//! upstream's `ResourceRestlet.handleFromForwardSpec`): the same outbound path as a
//! component's calls — the namespace's client, its authentication, its tunnel (fail
//! closed), its timeouts, response limit and metrics.
//!
//! Owns: the upstream URL (`baseUri` + the forwarded path + the caller's query), which
//! caller headers go along (the trusted ones, never hop-by-hop or transport headers,
//! never one the host sets itself) and the body. Must not touch: inbound concerns
//! (authentication, routing, body limits: the REST adapter's).

use std::time::Instant;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONNECTION, CONTENT_TYPE};
use http::{HeaderMap, Method};
use http_body_util::{BodyExt, Limited};
use tracing::Instrument;

use super::request::PreparedOperation;
use super::{list, CallError, Namespace, Outbound, OutboundResponse};
use crate::telemetry::traces::Side;

/// One inbound request to pass on.
pub struct ForwardCall<'a> {
    pub namespace: &'a str,
    pub method: Method,
    /// The path below `baseUri`, as the caller wrote it (percent-encoded segments,
    /// already checked to hold no `.` or `..`); empty for `baseUri` itself.
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// The caller's headers; only `trusted` ones are copied.
    pub headers: &'a HeaderMap,
    pub trusted: &'a [String],
    pub body: Bytes,
    pub request_id: &'a str,
    pub traceparent: Option<&'a str>,
}

/// The trusted headers of `inbound` that may go upstream: not hop-by-hop, not named
/// by the caller's `Connection` header, not one the host already set.
fn trusted_headers(
    inbound: &HeaderMap,
    trusted: &[String],
    own: &HeaderMap,
) -> Vec<(HeaderName, HeaderValue)> {
    let connection: Vec<String> = inbound
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    let mut out = Vec::new();
    for name in trusted {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        let lower = name.as_str();
        if ikanos_spec::model::Forward::NEVER_FORWARDED.contains(&lower)
            || connection.iter().any(|c| c == lower)
            || own.contains_key(&name)
        {
            continue;
        }
        // The first value, as upstream copies it.
        if let Some(v) = inbound.get(&name) {
            out.push((name, v.clone()));
        }
    }
    out
}

impl Outbound {
    /// Send `call` to its namespace and read the answer (status, headers, body within
    /// the response limit).
    pub async fn forward(&self, call: ForwardCall<'_>) -> Result<OutboundResponse, CallError> {
        let ns = self.namespaces.get(call.namespace).ok_or_else(|| {
            let mut known: Vec<_> = self.namespaces.keys().map(String::as_str).collect();
            known.sort_unstable();
            CallError::UnknownOperation {
                namespace: call.namespace.to_string(),
                operation: "forward".into(),
                detail: format!(
                    "the capability declares no consumes namespace '{}' (declared: {})",
                    call.namespace,
                    list(&known)
                ),
            }
        })?;
        let op = ns.forward.with_method(call.method.clone());
        self.pass_on(ns, &op, call).await
    }

    /// Send a request whose path, query, headers and body come from outside the file
    /// (a forwarded caller's, a component's own `wasi:http` request) on `ns`, with
    /// `op`'s fixed parameters and the namespace's authentication, under `op`'s name in
    /// metrics and spans. The route fails closed as for any call.
    pub(super) async fn pass_on(
        &self,
        ns: &Namespace,
        op: &PreparedOperation,
        call: ForwardCall<'_>,
    ) -> Result<OutboundResponse, CallError> {
        let via = match self.via(ns) {
            Ok(v) => v,
            Err(err) => {
                self.record(ns, op, Some(&err), None, std::time::Duration::ZERO);
                return Err(err);
            }
        };
        let invalid = |detail: String| CallError::InvalidInput {
            namespace: ns.name.clone(),
            operation: op.name().to_string(),
            detail,
        };
        let body = (!call.body.is_empty()).then(|| call.body.to_vec());
        let mut built = op
            .build(&self.secrets, &ns.auth, &[], body, call.request_id)
            .map_err(invalid)?;
        if !call.path.is_empty() {
            let joined = format!(
                "{}/{}",
                built.url.path().trim_end_matches('/'),
                call.path.trim_start_matches('/')
            );
            built.url.set_path(&joined);
        }
        if let Some(q) = call.query.filter(|q| !q.is_empty()) {
            let query = match built.url.query() {
                Some(own) => format!("{q}&{own}"),
                None => q.to_string(),
            };
            built.url.set_query(Some(&query));
        }
        if let Some(ct) = call
            .headers
            .get(CONTENT_TYPE)
            .filter(|_| !built.body.is_empty())
        {
            built.headers.insert(CONTENT_TYPE, ct.clone());
        }
        for (name, value) in trusted_headers(call.headers, call.trusted, &built.headers) {
            built.headers.insert(name, value);
        }
        let span = tracing::info_span!("consumed_call", otel.kind = "client", capability = %self.capability, namespace = %ns.name, operation = %op.name(), method = %call.method, route = %ns.route.label(), request_id = call.request_id);
        crate::telemetry::propagation::inject(&span, call.traceparent, &mut built.headers);
        let started = Instant::now();
        let transport = |detail: String| CallError::Transport {
            namespace: ns.name.clone(),
            operation: op.name().to_string(),
            detail,
        };
        // The answer is usually close: keep this serving thread polling for it.
        crate::workers::active();
        let exchange = async {
            let mut response = self.send(ns, op, &via, || Ok(built.to_request())).await?;
            if let Some(challenge) = ns.auth.digest_challenge(&response) {
                response = self
                    .send(ns, op, &via, || {
                        built.with_digest(&ns.auth, &challenge).map_err(transport)
                    })
                    .await?;
            }
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, self.max_response_body)
                .collect()
                .await
                .map_err(|e| transport(format!("reading the response body: {e}")))?
                .to_bytes();
            Ok::<_, CallError>((parts, body))
        }
        .instrument(span.clone());
        let result = match tokio::time::timeout(self.request_timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(CallError::Timeout {
                namespace: ns.name.clone(),
                operation: op.name().to_string(),
                after: self.request_timeout,
            }),
        }
        .map(|(parts, body)| OutboundResponse {
            status: parts.status.as_u16(),
            headers: parts
                .headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect(),
            body: Vec::from(body),
        });
        let status = result.as_ref().ok().map(|r| r.status);
        crate::telemetry::traces::record_status(&span, Side::Client, status);
        self.record(ns, op, result.as_ref().err(), status, started.elapsed());
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_trusted_end_to_end_headers_are_forwarded() {
        let mut inbound = HeaderMap::new();
        for (k, v) in [
            ("notion-version", "2022-06-28"),
            ("x-secret", "no"),
            ("host", "evil.example"),
            ("transfer-encoding", "chunked"),
            ("x-hop", "listed in Connection"),
            ("connection", "close, X-Hop"),
            ("authorization", "Bearer caller"),
        ] {
            inbound.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let mut own = HeaderMap::new();
        own.insert("authorization", HeaderValue::from_static("Basic host"));
        let trusted: Vec<String> = [
            "Notion-Version",
            "Host",
            "Transfer-Encoding",
            "X-Hop",
            "Authorization",
            "Missing",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = trusted_headers(&inbound, &trusted, &own);
        let names: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["notion-version"]);
    }
}
