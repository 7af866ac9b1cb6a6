//! A component's own HTTP requests (`wasi:http/outgoing-handler`), held to what the
//! capability file declares: a request goes out only when a consumes entry has its
//! origin (scheme, host, port of `baseUri`) and one of that entry's operations has its
//! method and path (`baseUri`'s path + the resource's path template). It is then sent
//! as a forwarded request is — the namespace's client, authentication, tunnel (fail
//! closed), timeouts, limits and metrics, under the matched operation's name — and
//! anything else is refused, with `ikanos_egress_refused` counting why.
//!
//! Owns: the matching. Must not touch: the guest's view of HTTP (the runtime's
//! `wasi_http` module turns its resources into an [`EgressCall`] and back).
//! The route is chosen from the request's URL only, never from a header the guest sets
//! (`Host` is a forbidden header; the upstream gets the declared host's).

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};

use super::forward::ForwardCall;
use super::{CallError, Namespace, Outbound, OutboundResponse};
use crate::telemetry::EgressRefusedLabels;

/// One outgoing request of a component, as it asked for it.
pub struct EgressCall<'a> {
    pub method: Method,
    /// Absolute: scheme and authority included.
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
    pub request_id: &'a str,
    pub traceparent: Option<&'a str>,
}

/// Why no declared operation takes a request (the label of `ikanos_egress_refused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No consumes entry has this scheme, host and port.
    UndeclaredOrigin,
    /// The origin is declared; no operation of it has this method and path.
    UndeclaredOperation,
    /// The request cannot be sent at all (no scheme or host, a `.`/`..` segment).
    Invalid,
    /// The request's budget of outbound calls is spent.
    Limit,
    /// The request body is larger than the host sends for a component.
    TooLarge,
}

impl Refusal {
    pub fn label(self) -> &'static str {
        match self {
            Refusal::UndeclaredOrigin => "undeclared_origin",
            Refusal::UndeclaredOperation => "undeclared_operation",
            Refusal::Invalid => "invalid",
            Refusal::Limit => "limit",
            Refusal::TooLarge => "too_large",
        }
    }
}

impl Outbound {
    /// Send a component's own request if the file declares it (see the module header).
    pub async fn egress(&self, call: EgressCall<'_>) -> Result<OutboundResponse, CallError> {
        let shown = format!("{} {}", call.method, shown_target(call.uri));
        let (ns, op) = match self.declared(&call.method, call.uri) {
            Ok(found) => found,
            Err((refusal, detail)) => {
                return Err(self.refuse(refusal, shown, detail));
            }
        };
        let op = op.for_egress(call.method.clone());
        let path = call.uri.path();
        let below = path
            .get(ns_base_path(ns).len()..)
            .unwrap_or_default()
            .to_string();
        let trusted: Vec<String> = call.headers.keys().map(|k| k.to_string()).collect();
        self.pass_on(
            ns,
            &op,
            ForwardCall {
                namespace: &ns.name,
                method: call.method.clone(),
                path: &below,
                query: call.uri.query(),
                headers: call.headers,
                trusted: &trusted,
                body: call.body,
                request_id: call.request_id,
                traceparent: call.traceparent,
            },
        )
        .await
    }

    /// Count a refused request and say why, naming what the file does declare.
    pub fn refuse(&self, refusal: Refusal, request: String, detail: String) -> CallError {
        self.metrics
            .egress_refused
            .get_or_create(&EgressRefusedLabels {
                capability: self.capability.clone(),
                reason: refusal.label(),
            })
            .inc();
        tracing::warn!(capability = %self.capability, request = %request, reason = refusal.label(), "outgoing request refused: {detail}");
        CallError::Undeclared {
            request,
            reason: refusal.label(),
            detail,
        }
    }

    /// The namespace and operation that take `method` `uri`, or why none does.
    fn declared(
        &self,
        method: &Method,
        uri: &Uri,
    ) -> Result<(&Namespace, &super::request::PreparedOperation), (Refusal, String)> {
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
            return Err((
                Refusal::Invalid,
                "the request names no scheme and host".into(),
            ));
        };
        let port = uri.port_u16().or(match scheme {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        });
        let path = uri.path();
        if path.split('/').any(|s| s == "." || s == "..") {
            return Err((
                Refusal::Invalid,
                "its path has a '.' or '..' segment".into(),
            ));
        }
        let mut origins: Vec<&Namespace> = self
            .namespaces
            .values()
            .filter(|ns| {
                let base = &ns.base;
                base.scheme() == scheme
                    && base
                        .host_str()
                        .is_some_and(|h| h.eq_ignore_ascii_case(host.trim_matches(['[', ']'])))
                    && base.port_or_known_default() == port
            })
            .collect();
        if origins.is_empty() {
            let mut declared: Vec<String> = self
                .namespaces
                .values()
                .map(|ns| format!("{} ({})", ns.name, origin_of(&ns.base)))
                .collect();
            declared.sort();
            return Err((
                Refusal::UndeclaredOrigin,
                format!(
                    "no consumes entry has the origin {scheme}://{}; declared: {}",
                    uri.authority().map(|a| a.as_str()).unwrap_or(host),
                    super::list(&declared.iter().map(String::as_str).collect::<Vec<_>>())
                ),
            ));
        }
        // Several entries may share an origin (two bases on one host): the first, by
        // name, whose operation matches takes it, so the choice never varies.
        origins.sort_by(|a, b| a.name.cmp(&b.name));
        for ns in &origins {
            let mut ops: Vec<_> = ns.operations.values().collect();
            ops.sort_by(|a, b| a.name().cmp(b.name()));
            if let Some(op) = ops.into_iter().find(|op| op.matches(method, path)) {
                return Ok((ns, op));
            }
        }
        let mut declared: Vec<String> = origins
            .iter()
            .flat_map(|ns| {
                ns.operations.values().map(move |op| {
                    format!(
                        "{}.{} ({} {})",
                        ns.name,
                        op.name(),
                        op.method(),
                        op.template()
                    )
                })
            })
            .collect();
        declared.sort();
        Err((
            Refusal::UndeclaredOperation,
            format!(
                "no declared operation has this method and path; declared for this origin: {}",
                super::list(&declared.iter().map(String::as_str).collect::<Vec<_>>())
            ),
        ))
    }
}

/// `baseUri`'s path without a trailing `/`: what an egress path starts with.
fn ns_base_path(ns: &Namespace) -> &str {
    ns.base.path().trim_end_matches('/')
}

fn origin_of(url: &url::Url) -> String {
    match url.port() {
        Some(p) => format!(
            "{}://{}:{p}",
            url.scheme(),
            url.host_str().unwrap_or_default()
        ),
        None => format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default()),
    }
}

/// The request target for messages and logs: origin and path, never the query (a
/// guest may put anything there).
fn shown_target(uri: &Uri) -> String {
    match (uri.scheme_str(), uri.authority()) {
        (Some(s), Some(a)) => format!("{s}://{a}{}", uri.path()),
        _ => uri.path().to_string(),
    }
}
