//! MCP's streamable HTTP transport.
//!
//! Owns: the MCP endpoint (`/mcp`, and `/`), DNS-rebinding protection (the shared
//! Host/Origin rule of `inbound`), inbound authentication, the handshake revisions'
//! session header (`Mcp-Session-Id` minted by `initialize`, required afterwards, ended
//! by `DELETE`), the 2026-07-28 rules (no session; `MCP-Protocol-Version`, `Mcp-Method`
//! and `Mcp-Name` must agree with the body), HTTP statuses, and how each answer is
//! written: one JSON body, or an SSE stream. Must not touch: what a method does
//! (`McpServer`), or what a session holds (`notifications::Hub`).
//!
//! When a POST is SSE: only when the client accepts `text/event-stream` and the
//! request asked for notifications (a progress token, a log level) *and* one is sent
//! before the answer is ready — the answer is otherwise one `application/json` body,
//! so clients that ask for nothing see no difference. `subscriptions/listen`
//! (2026-07-28) is always a stream. `GET` with a session opens the session's stream of
//! server-initiated messages (list changes, resource updates), numbered so a client
//! that reconnects with `Last-Event-ID` gets what it missed.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::Value;

use super::notifications::STREAM_BUFFER;
use super::protocol::{self, Era, Message, RpcError};
use super::{Context, McpServer};
use crate::exposes::inbound::{self, Inbound};
use crate::server::{self, Request, Response};

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";
const METHOD_HEADER: &str = "mcp-method";
const NAME_HEADER: &str = "mcp-name";
const LAST_EVENT_ID: &str = "last-event-id";
const MAX_BODY: usize = 4 << 20;
/// An SSE comment this often keeps idle streams open through proxies, and finds
/// clients that went away.
const KEEPALIVE: Duration = Duration::from_secs(15);

pub struct HttpTransport {
    server: Arc<McpServer>,
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
    let mut resp = http::Response::new(Bytes::new().into());
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

fn accepts_sse(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|a| a.to_str().ok())
        .flat_map(|a| a.split(','))
        .any(|part| {
            part.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case("text/event-stream")
        })
}

/// One SSE event carrying a JSON-RPC message (`id:` when it can be resumed).
fn sse_event(seq: Option<u64>, message: &Value) -> Bytes {
    let mut out = String::new();
    if let Some(seq) = seq {
        out.push_str(&format!("id: {seq}\n"));
    }
    out.push_str("event: message\ndata: ");
    out.push_str(&message.to_string());
    out.push_str("\n\n");
    Bytes::from(out)
}

/// An SSE response whose events are written to the returned sender.
fn sse_response(session: Option<&str>) -> (tokio::sync::mpsc::Sender<Bytes>, Response) {
    let (tx, body) = server::Body::channel(STREAM_BUFFER);
    let mut resp = http::Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-transform"),
    );
    // Tells nginx-like proxies not to hold events back.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    if let Some(s) = session.and_then(|s| HeaderValue::from_str(s).ok()) {
        h.insert(SESSION_HEADER, s);
    }
    (tx, resp)
}

impl HttpTransport {
    pub fn new(server: Arc<McpServer>) -> HttpTransport {
        HttpTransport { server }
    }

    /// The adapter this transport serves.
    pub fn server(&self) -> &Arc<McpServer> {
        &self.server
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
        let closing = req.extensions().get::<server::Closing>().cloned();
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
                self.post(&parts.headers, &body, request_id, closing).await
            }
            Method::DELETE => self.delete(&parts.headers),
            Method::GET if parts.headers.contains_key(SESSION_HEADER) => {
                self.session_stream(&parts.headers, closing)
            }
            _ => {
                let mut resp = refuse(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "Method Not Allowed: POST JSON-RPC messages here; GET opens the stream of a session (Mcp-Session-Id), which 2026-07-28 replaces with subscriptions/listen",
                );
                resp.headers_mut().insert(
                    http::header::ALLOW,
                    HeaderValue::from_static("GET, POST, DELETE"),
                );
                resp
            }
        }
    }

    /// `GET` with a session: its stream of server-initiated messages, from after
    /// `Last-Event-ID` when the client reconnects.
    fn session_stream(&self, headers: &HeaderMap, closing: Option<server::Closing>) -> Response {
        if !accepts_sse(headers) {
            return refuse(
                StatusCode::NOT_ACCEPTABLE,
                "Not Acceptable: the GET stream is text/event-stream",
            );
        }
        let id = headers
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let Some(session) = self.server.hub().session(id) else {
            return refuse(StatusCode::NOT_FOUND, "Session not found");
        };
        let after = headers
            .get(LAST_EVENT_ID)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let mut messages = session.attach(after);
        let (tx, resp) = sse_response(Some(id));
        let closing = until_closing(closing);
        tokio::spawn(async move {
            tokio::pin!(closing);
            // The stream ends when the session does (DELETE, expiry), when another
            // GET takes its place, when the client is gone, or when the listener
            // shuts down (the client reconnects elsewhere with Last-Event-ID).
            loop {
                let event = tokio::select! {
                    m = messages.recv() => match m {
                        Some((seq, msg)) => sse_event(Some(seq), &msg),
                        None => return,
                    },
                    _ = tokio::time::sleep(KEEPALIVE) => Bytes::from_static(b": keepalive\n\n"),
                    _ = &mut closing => return,
                };
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        });
        resp
    }

    fn delete(&self, headers: &HeaderMap) -> Response {
        let Some(id) = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) else {
            return refuse(
                StatusCode::BAD_REQUEST,
                "Bad Request: Mcp-Session-Id header is required",
            );
        };
        if self.server.hub().close_session(id) {
            empty(StatusCode::NO_CONTENT)
        } else {
            refuse(StatusCode::NOT_FOUND, "Session not found")
        }
    }

    pub(crate) async fn post(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        request_id: &str,
        closing: Option<server::Closing>,
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
            self.modern(headers, version_header, message, request_id, closing)
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
        closing: Option<server::Closing>,
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
        if method == "subscriptions/listen" {
            return self.listen(headers, &id, params.as_ref(), closing);
        }
        let ctx = post_context(Era::Modern(version), headers, request_id);
        self.answer(headers, id, method, params, ctx, None).await
    }

    /// 2026-07-28 `subscriptions/listen`: the answer is the stream (acknowledgement
    /// first, then what the filter names), ended by the final result when the server
    /// closes it.
    fn listen(
        &self,
        headers: &HeaderMap,
        id: &Value,
        params: Option<&Value>,
        closing: Option<server::Closing>,
    ) -> Response {
        if !accepts_sse(headers) {
            return refuse(
                StatusCode::NOT_ACCEPTABLE,
                "Not Acceptable: subscriptions/listen answers with text/event-stream",
            );
        }
        let mut stream = match self.server.listen(id, params) {
            Ok(s) => s,
            Err(e) => return rpc_error(e.http_status(), id, &e),
        };
        let (tx, resp) = sse_response(None);
        let server = self.server.clone();
        let id = id.clone();
        let closing = until_closing(closing);
        tokio::spawn(async move {
            tokio::pin!(closing);
            loop {
                let event = tokio::select! {
                    m = stream.messages.recv() => match m {
                        Some(msg) => sse_event(None, &msg),
                        None => break,
                    },
                    _ = tokio::time::sleep(KEEPALIVE) => Bytes::from_static(b": keepalive\n\n"),
                    // Shutting down is a graceful end: the final result says so.
                    _ = &mut closing => break,
                };
                if tx.send(event).await.is_err() {
                    return;
                }
            }
            let _ = tx
                .send(sse_event(None, &server.listen_ended(&id, &stream.meta)))
                .await;
        });
        resp
    }

    /// Run one request and write its answer: JSON, or SSE when the request asked for
    /// notifications, the client takes SSE and one comes before the answer.
    async fn answer(
        &self,
        headers: &HeaderMap,
        id: Value,
        method: String,
        params: Option<Value>,
        mut ctx: Context,
        session: Option<&str>,
    ) -> Response {
        let modern = ctx.era.is_modern();
        let finish = move |id: &Value, outcome: Result<Value, RpcError>| match outcome {
            Ok(result) => (200, protocol::success(id, result)),
            Err(e) if modern => (e.http_status(), protocol::failure(id, &e)),
            Err(e) => (200, protocol::failure(id, &e)),
        };
        let (sink, mut notices) = tokio::sync::mpsc::channel(STREAM_BUFFER);
        if accepts_sse(headers) {
            match self
                .server
                .notices(&ctx.era, ctx.session.as_deref(), params.as_ref(), sink)
            {
                Ok(n) => ctx.notices = n,
                Err(e) => {
                    let (status, body) = finish(&id, Err(e));
                    return json_response(status, &body, session);
                }
            }
        }
        if ctx.notices.is_none() {
            let (status, body) = finish(&id, self.server.request(&method, params, &ctx).await);
            return json_response(status, &body, session);
        }
        // The request runs on its own task, so the stream can start while it runs.
        let server = self.server.clone();
        let mut run = tokio::spawn(async move { server.request(&method, params, &ctx).await });
        let joined = |outcome: Result<Result<Value, RpcError>, tokio::task::JoinError>| {
            outcome.unwrap_or_else(|e| {
                Err(RpcError::new(
                    protocol::INTERNAL_ERROR,
                    format!("the request failed: {e}"),
                ))
            })
        };
        // Whichever comes first: a notification (the answer becomes a stream), or the
        // answer itself — then a stream only if notifications are already queued.
        let (first, finished) = tokio::select! {
            outcome = &mut run => match notices.try_recv() {
                Err(_) => {
                    let (status, body) = finish(&id, joined(outcome));
                    return json_response(status, &body, session);
                }
                Ok(n) => (Some(n), Some(joined(outcome))),
            },
            n = notices.recv() => (n, None),
        };
        let (tx, resp) = sse_response(session);
        tokio::spawn(async move {
            let mut next = first;
            // The sender lives in the request's context: the channel ends with the run.
            while let Some(n) = next {
                if tx.send(sse_event(None, &n)).await.is_err() {
                    return;
                }
                next = notices.recv().await;
            }
            let outcome = match finished {
                Some(outcome) => outcome,
                None => joined(run.await),
            };
            let _ = tx.send(sse_event(None, &finish(&id, outcome).1)).await;
        });
        resp
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
                        let session = self.server.hub().open_session(version);
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
        let Some(session) = self.server.hub().session(session_id) else {
            return refuse(StatusCode::NOT_FOUND, "Session not found");
        };
        let version = session.version.clone();
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
                let mut ctx = post_context(Era::Handshake(version), headers, request_id);
                ctx.session = Some(session);
                self.answer(headers, id, method, params, ctx, Some(session_id))
                    .await
            }
        }
    }
}

/// Resolves when the listener shuts down; never, for a request that came without the
/// marker (in-process callers).
async fn until_closing(closing: Option<server::Closing>) {
    match closing {
        Some(c) => c.wait().await,
        None => std::future::pending().await,
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
        session: None,
        notices: None,
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
