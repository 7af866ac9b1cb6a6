//! MCP's streamable HTTP transport.
//!
//! Owns: the MCP endpoint (`/mcp`, and `/`), DNS-rebinding protection (the shared
//! Host/Origin rule of `inbound`), inbound authentication, sessions of the handshake revisions
//! (`Mcp-Session-Id` minted by `initialize`, required afterwards, ended by `DELETE`),
//! the 2026-07-28 rules (no session; `MCP-Protocol-Version`, `Mcp-Method` and
//! `Mcp-Name` must agree with the body), HTTP statuses, and one JSON answer per POST.
//! Must not touch: what a method does (`McpServer`).
//!
//! A POST is answered with `application/json` (the transport allows JSON or SSE; no
//! method here streams). `GET` (a server-to-client stream) is not offered: 405.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::Full;
use serde_json::Value;

use super::protocol::{self, Era, Message, RpcError};
use super::{Context, McpServer};
use crate::exposes::inbound::{self, Inbound};
use crate::server::{self, Request, Response};

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";
const METHOD_HEADER: &str = "mcp-method";
const NAME_HEADER: &str = "mcp-name";
/// Sessions kept at once; past it the least recently used one is forgotten.
const MAX_SESSIONS: usize = 10_000;
/// A session unused this long is forgotten (its client gets 404 and starts anew).
const SESSION_IDLE: Duration = Duration::from_secs(3600);
const MAX_BODY: usize = 4 << 20;

struct Session {
    version: String,
    last_used: Instant,
}

pub struct HttpTransport {
    server: Arc<McpServer>,
    sessions: Mutex<HashMap<String, Session>>,
}

fn json_response(status: u16, body: &Value, session: Option<&str>) -> Response {
    let mut resp = server::json(StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body);
    if let Some(s) = session.and_then(|s| HeaderValue::from_str(s).ok()) {
        resp.headers_mut().insert(SESSION_HEADER, s);
    }
    resp
}

fn rpc_error(status: u16, id: &Value, error: &RpcError) -> Response {
    json_response(status, &protocol::failure(id, error), None)
}

fn empty(status: StatusCode) -> Response {
    let mut resp = http::Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = status;
    resp
}

/// An HTTP-level refusal with a JSON-RPC error body naming why.
fn refuse(status: StatusCode, message: &str) -> Response {
    rpc_error(
        status.as_u16(),
        &Value::Null,
        &RpcError::new(protocol::INVALID_REQUEST, message),
    )
}

/// The header's value, or a `HEADER_MISMATCH` when it is sent more than once.
fn single<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, RpcError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(RpcError::new(
            protocol::HEADER_MISMATCH,
            format!("{name} header appears more than once"),
        ));
    }
    Ok(first.and_then(|v| v.to_str().ok()))
}

/// `=?base64?…?=` wraps header values that are not plain printable ASCII.
fn decode_header_value(v: &str) -> Option<String> {
    match v
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| String::from_utf8(b).ok()),
        None => Some(v.to_string()),
    }
}

fn accepts_json(headers: &HeaderMap) -> bool {
    let Some(accept) = headers
        .get(http::header::ACCEPT)
        .and_then(|a| a.to_str().ok())
    else {
        return true;
    };
    accept.split(',').any(|part| {
        let t = part.split(';').next().unwrap_or_default().trim();
        t.eq_ignore_ascii_case("application/json")
            || t == "*/*"
            || t.eq_ignore_ascii_case("application/*")
    })
}

impl HttpTransport {
    pub fn new(server: Arc<McpServer>) -> HttpTransport {
        HttpTransport {
            server,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// Answer one request at `/mcp` (or `/`). `ikanos serve`'s shared listener hands
    /// requests here with the path already rewritten to `/mcp`.
    pub async fn handle(&self, req: Request) -> Response {
        let inbound = Inbound::begin(&req);
        let resp = self.route(req, &inbound.request_id).await;
        inbound.finish(resp)
    }

    async fn route(&self, req: Request, request_id: &str) -> Response {
        let path = req.uri().path();
        // RFC 9728: an OAuth-protected server says, without authentication, which
        // authorization server issues its tokens.
        if let crate::exposes::auth::InboundAuth::OAuth2(oauth) = &self.server.auth {
            if req.method() == Method::GET && path == oauth.metadata_path() {
                return crate::server::json(StatusCode::OK, &oauth.metadata());
            }
        }
        if path != "/mcp" && path != "/" {
            return refuse(
                StatusCode::NOT_FOUND,
                &format!("no MCP endpoint at {path}; use /mcp"),
            );
        }
        if let Err(refusal) = inbound::check_rebinding(&req) {
            return refusal.render(refuse);
        }
        let (parts, body) = req.into_parts();
        if let Err(refusal) = inbound::authenticate(&self.server.auth, &parts).await {
            return refusal.render(refuse);
        }
        match parts.method {
            Method::POST => {
                let body = match inbound::read_body(body, MAX_BODY).await {
                    Ok(b) => b,
                    Err(refusal) => return refusal.render(refuse),
                };
                self.post(&parts.headers, &body, request_id).await
            }
            Method::DELETE => self.delete(&parts.headers),
            _ => {
                let mut resp = refuse(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "Method Not Allowed: POST JSON-RPC messages here (this server offers no GET stream)",
                );
                resp.headers_mut().insert(
                    http::header::ALLOW,
                    HeaderValue::from_static("POST, DELETE"),
                );
                resp
            }
        }
    }

    fn delete(&self, headers: &HeaderMap) -> Response {
        let Some(id) = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) else {
            return refuse(
                StatusCode::BAD_REQUEST,
                "Bad Request: Mcp-Session-Id header is required",
            );
        };
        match self.sessions.lock().unwrap().remove(id) {
            Some(_) => empty(StatusCode::NO_CONTENT),
            None => refuse(StatusCode::NOT_FOUND, "Session not found"),
        }
    }

    pub(crate) async fn post(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        request_id: &str,
    ) -> Response {
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .eq_ignore_ascii_case("application/json")
        {
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Media Type: Content-Type must be application/json",
            );
        }
        if !accepts_json(headers) {
            return refuse(
                StatusCode::NOT_ACCEPTABLE,
                "Not Acceptable: the client must accept application/json",
            );
        }
        let value: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return rpc_error(400, &Value::Null, &RpcError::parse(e)),
        };
        let version_header = match single(headers, VERSION_HEADER) {
            Ok(v) => v,
            Err(e) => return rpc_error(400, value.get("id").unwrap_or(&Value::Null), &e),
        };
        // A version header of no handshake revision, or a body carrying the per-request
        // envelope, is the stateless revision's.
        let params = value.get("params");
        let modern = match version_header {
            Some(v) => !protocol::HANDSHAKE_VERSIONS.contains(&v),
            None => protocol::has_envelope(params),
        };
        let message = match protocol::classify(value) {
            Ok(m) => m,
            Err((id, e)) => return rpc_error(400, &id, &e),
        };
        if modern {
            self.modern(headers, version_header, message, request_id)
                .await
        } else {
            self.handshake(headers, version_header, message, request_id)
                .await
        }
    }

    /// 2026-07-28: one self-contained request, no session.
    async fn modern(
        &self,
        headers: &HeaderMap,
        version_header: Option<&str>,
        message: Message,
        request_id: &str,
    ) -> Response {
        let (id, method, params) = match message {
            Message::Request { id, method, params } => (id, method, params),
            Message::Notification | Message::Response => {
                // Acknowledged and dropped: this revision defines no client-to-server
                // notifications over HTTP, but clients still send some.
                let v = version_header.unwrap_or_default();
                if !protocol::MODERN_VERSIONS.contains(&v) {
                    return rpc_error(400, &Value::Null, &RpcError::unsupported_version(v));
                }
                return empty(StatusCode::ACCEPTED);
            }
        };
        let fail = |e: RpcError| rpc_error(e.http_status(), &id, &e);
        // The envelope first, then the headers against it, then the version.
        let envelope = protocol::meta(params.as_ref())
            .and_then(|m| m.get(protocol::PROTOCOL_VERSION_META))
            .cloned();
        if let Err(e) = protocol::envelope_present(params.as_ref()) {
            return fail(e);
        }
        let mismatch = |what: &str| {
            fail(RpcError::new(
                protocol::HEADER_MISMATCH,
                format!("{what} header does not match the request body"),
            ))
        };
        if version_header.is_none() || envelope.as_ref().and_then(Value::as_str) != version_header {
            return mismatch("MCP-Protocol-Version");
        }
        match single(headers, METHOD_HEADER) {
            Err(e) => return fail(e),
            Ok(m) if m != Some(method.as_str()) => return mismatch("Mcp-Method"),
            Ok(_) => {}
        }
        let name_key = match method.as_str() {
            "tools/call" | "prompts/get" => Some("name"),
            "resources/read" => Some("uri"),
            _ => None,
        };
        if let Some(key) = name_key {
            let body_value = params
                .as_ref()
                .and_then(|p| p.get(key))
                .and_then(Value::as_str);
            let header = match single(headers, NAME_HEADER) {
                Ok(h) => h.and_then(decode_header_value),
                Err(e) => return fail(e),
            };
            if body_value.is_some() && header.as_deref() != body_value {
                return mismatch("Mcp-Name");
            }
        }
        let version = match protocol::modern_version(params.as_ref()) {
            Ok(v) => v,
            Err(e) => return fail(e),
        };
        let ctx = post_context(Era::Modern(version), headers, request_id);
        match self.server.request(&method, params, &ctx).await {
            Ok(result) => json_response(200, &protocol::success(&id, result), None),
            Err(e) => fail(e),
        }
    }

    /// The handshake revisions: `initialize` opens a session the other messages name.
    async fn handshake(
        &self,
        headers: &HeaderMap,
        version_header: Option<&str>,
        message: Message,
        request_id: &str,
    ) -> Response {
        let session_id = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok());
        if let Message::Request { id, method, params } = &message {
            if method == "initialize" {
                let version = protocol::negotiate_initialize(params.as_ref()).to_string();
                let ctx = post_context(Era::Handshake(version.clone()), headers, request_id);
                return match self.server.request(method, params.clone(), &ctx).await {
                    Ok(result) => {
                        let session = self.open_session(version);
                        json_response(200, &protocol::success(id, result), Some(&session))
                    }
                    Err(e) => rpc_error(200, id, &e),
                };
            }
            if method == "server/discover" && session_id.is_none() {
                // Discovery needs no session: a client probing which era this server
                // speaks gets the list of revisions.
                let ctx = post_context(
                    Era::Handshake(protocol::HANDSHAKE_VERSIONS[0].to_string()),
                    headers,
                    request_id,
                );
                return match self.server.request(method, params.clone(), &ctx).await {
                    Ok(result) => json_response(200, &protocol::success(id, result), None),
                    Err(e) => rpc_error(200, id, &e),
                };
            }
        }
        let Some(session_id) = session_id else {
            return refuse(
                StatusCode::BAD_REQUEST,
                "Bad Request: Mcp-Session-Id header is required (send initialize first)",
            );
        };
        let Some(version) = self.touch_session(session_id) else {
            return refuse(StatusCode::NOT_FOUND, "Session not found");
        };
        if let Some(v) = version_header {
            if v != version {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    &format!("Bad Request: MCP-Protocol-Version {v} is not the version this session negotiated ({version})"),
                );
            }
        }
        match message {
            Message::Notification | Message::Response => empty(StatusCode::ACCEPTED),
            Message::Request { id, method, params } => {
                let ctx = post_context(Era::Handshake(version), headers, request_id);
                let answer = match self.server.request(&method, params, &ctx).await {
                    Ok(result) => protocol::success(&id, result),
                    Err(e) => protocol::failure(&id, &e),
                };
                json_response(200, &answer, Some(session_id))
            }
        }
    }

    fn open_session(&self, version: String) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut sessions = self.sessions.lock().unwrap();
        let now = Instant::now();
        sessions.retain(|_, s| now.duration_since(s.last_used) < SESSION_IDLE);
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(
            id.clone(),
            Session {
                version,
                last_used: now,
            },
        );
        id
    }

    /// The session's negotiated version, marking it used; None when unknown or idle too long.
    fn touch_session(&self, id: &str) -> Option<String> {
        let mut sessions = self.sessions.lock().unwrap();
        let now = Instant::now();
        let s = sessions.get_mut(id)?;
        if now.duration_since(s.last_used) >= SESSION_IDLE {
            sessions.remove(id);
            return None;
        }
        s.last_used = now;
        Some(s.version.clone())
    }
}

/// The context of a POSTed message: its revision, the request id, and the caller's
/// trace headers (only those: the rest of the header map stays with the request).
fn post_context(era: Era, headers: &HeaderMap, request_id: &str) -> Context {
    let mut trace_headers = HeaderMap::new();
    for key in ["traceparent", "tracestate"] {
        if let Some(v) = headers.get(key) {
            trace_headers.insert(key, v.clone());
        }
    }
    Context {
        era,
        request_id: request_id.to_string(),
        transport: "POST",
        trace_headers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn header_values() {
        assert_eq!(decode_header_value("get-customer").unwrap(), "get-customer");
        assert_eq!(decode_header_value("=?base64?w6k=?=").unwrap(), "é");
        assert!(single(
            &with(&[("mcp-method", "a"), ("mcp-method", "b")]),
            "mcp-method"
        )
        .is_err());
    }
}
