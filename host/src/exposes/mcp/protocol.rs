//! MCP's JSON-RPC layer: message shapes, error codes, protocol revisions and how one
//! is chosen.
//!
//! Owns: telling requests, notifications and responses apart, the error objects, the
//! two eras of the protocol — the session-based revisions reached through `initialize`
//! (2024-11-05 … 2025-11-25) and the stateless per-request envelope of 2026-07-28
//! (`params._meta["io.modelcontextprotocol/protocolVersion"]`) — and the HTTP status
//! each error code maps to. Must not touch: transports or what a method does.

use serde_json::{json, Map, Value};

/// Revisions reached through the `initialize` handshake, newest first.
pub const HANDSHAKE_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// Revisions that carry the protocol version in every request (no handshake, no session).
pub const MODERN_VERSIONS: &[&str] = &["2026-07-28"];

pub const PROTOCOL_VERSION_META: &str = "io.modelcontextprotocol/protocolVersion";
pub const CLIENT_CAPABILITIES_META: &str = "io.modelcontextprotocol/clientCapabilities";
pub const SERVER_INFO_META: &str = "io.modelcontextprotocol/serverInfo";

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// Handshake era: `resources/read` of an unknown URI (retired in 2026-07-28).
pub const RESOURCE_NOT_FOUND: i64 = -32002;
/// 2026-07-28: HTTP headers disagree with the body, or a required one is missing.
pub const HEADER_MISMATCH: i64 = -32020;
/// 2026-07-28: the request's protocol version is not served here.
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

/// The protocol revision one message is handled under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Era {
    /// Negotiated by `initialize` (per session over HTTP, per connection over stdio).
    Handshake(String),
    /// Named by the request itself (2026-07-28 and later).
    Modern(String),
}

impl Era {
    pub fn version(&self) -> &str {
        match self {
            Era::Handshake(v) | Era::Modern(v) => v,
        }
    }

    pub fn is_modern(&self) -> bool {
        matches!(self, Era::Modern(_))
    }
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn parse(detail: impl std::fmt::Display) -> Self {
        RpcError::new(PARSE_ERROR, format!("Parse error: {detail}"))
    }

    pub fn invalid_params(message: impl Into<String>) -> Self {
        RpcError::new(INVALID_PARAMS, message)
    }

    pub fn method_not_found(method: &str) -> Self {
        RpcError::new(METHOD_NOT_FOUND, format!("Method not found: {method}"))
    }

    pub fn unsupported_version(requested: &str) -> Self {
        RpcError {
            code: UNSUPPORTED_PROTOCOL_VERSION,
            message: format!("Unsupported protocol version '{requested}'"),
            data: Some(json!({ "supported": MODERN_VERSIONS, "requested": requested })),
        }
    }

    pub fn to_json(&self) -> Value {
        let mut e = json!({ "code": self.code, "message": self.message });
        if let Some(d) = &self.data {
            e["data"] = d.clone();
        }
        e
    }

    /// The HTTP status that carries this error on the streamable HTTP transport
    /// (the 2026-07-28 table; handshake-era sessions answer dispatch errors with 200).
    pub fn http_status(&self) -> u16 {
        match self.code {
            PARSE_ERROR
            | INVALID_REQUEST
            | INVALID_PARAMS
            | HEADER_MISMATCH
            | UNSUPPORTED_PROTOCOL_VERSION => 400,
            METHOD_NOT_FOUND => 404,
            _ => 200,
        }
    }
}

/// One decoded JSON-RPC message.
#[derive(Debug)]
pub enum Message {
    Request {
        id: Value,
        method: String,
        params: Option<Value>,
    },
    /// A notification; nothing is answered.
    Notification,
    /// A response or error a client sent back; this server sends no requests, so it
    /// is acknowledged and dropped.
    Response,
}

/// Tell the message kinds apart. A batch or a malformed envelope is `INVALID_REQUEST`
/// (with the id when one could be read).
pub fn classify(v: Value) -> Result<Message, (Value, RpcError)> {
    let invalid = |id: Value, why: &str| {
        Err((
            id,
            RpcError::new(INVALID_REQUEST, format!("Invalid Request: {why}")),
        ))
    };
    let Value::Object(mut m) = v else {
        return invalid(
            Value::Null,
            if v.is_array() {
                "batches are not supported; send one message per request"
            } else {
                "expected a JSON-RPC message object"
            },
        );
    };
    let id = m.remove("id");
    let id_ok = |id: &Value| matches!(id, Value::String(_) | Value::Number(_));
    if m.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid(id.unwrap_or(Value::Null), "\"jsonrpc\" must be \"2.0\"");
    }
    match (m.remove("method"), id) {
        (Some(Value::String(method)), Some(id)) if id_ok(&id) => {
            let params = m.remove("params");
            if params.as_ref().is_some_and(|p| !p.is_object()) {
                return invalid(id, "\"params\" must be an object");
            }
            Ok(Message::Request { id, method, params })
        }
        (Some(Value::String(_)), Some(id)) => invalid(
            Value::Null,
            &format!("id {id} must be a string or a number"),
        ),
        (Some(Value::String(_)), None) => Ok(Message::Notification),
        (Some(_), id) => invalid(id.unwrap_or(Value::Null), "\"method\" must be a string"),
        (None, Some(_)) if m.contains_key("result") || m.contains_key("error") => {
            Ok(Message::Response)
        }
        (None, id) => invalid(id.unwrap_or(Value::Null), "no \"method\""),
    }
}

pub fn success(id: &Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

pub fn failure(id: &Value, error: &RpcError) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": error.to_json() })
}

/// The revision to answer an `initialize` with: the client's when this server speaks
/// it, else the newest handshake revision (the client then decides whether to go on).
pub fn negotiate(requested: Option<&str>) -> &'static str {
    requested
        .and_then(|r| HANDSHAKE_VERSIONS.iter().find(|v| **v == r))
        .copied()
        .unwrap_or(HANDSHAKE_VERSIONS[0])
}

/// `negotiate` for the `protocolVersion` of an `initialize`'s `params`.
pub fn negotiate_initialize(params: Option<&Value>) -> &'static str {
    negotiate(
        params
            .and_then(|p| p.get("protocolVersion"))
            .and_then(Value::as_str),
    )
}

/// `params._meta`, when present.
pub fn meta(params: Option<&Value>) -> Option<&Map<String, Value>> {
    params?.get("_meta")?.as_object()
}

/// Does this request carry the 2026-07-28 per-request envelope?
pub fn has_envelope(params: Option<&Value>) -> bool {
    meta(params).is_some_and(|m| m.contains_key(PROTOCOL_VERSION_META))
}

/// The envelope keys a 2026-07-28 request must carry are there (checked before the
/// HTTP headers are compared with it, and before its version is judged).
pub fn envelope_present(params: Option<&Value>) -> Result<(), RpcError> {
    modern_envelope(params).map(|_| ())
}

/// Check a 2026-07-28 request's envelope and return the revision it names.
pub fn modern_version(params: Option<&Value>) -> Result<String, RpcError> {
    let m = modern_envelope(params)?;
    let Some(v) = m[PROTOCOL_VERSION_META].as_str() else {
        return Err(RpcError::invalid_params(format!(
            "params._meta['{PROTOCOL_VERSION_META}'] must be a string"
        )));
    };
    if !MODERN_VERSIONS.contains(&v) {
        return Err(RpcError::unsupported_version(v));
    }
    Ok(v.to_string())
}

fn modern_envelope(params: Option<&Value>) -> Result<&Map<String, Value>, RpcError> {
    let Some(m) = meta(params) else {
        return Err(RpcError::invalid_params(format!(
            "params._meta must be an object carrying '{PROTOCOL_VERSION_META}' and '{CLIENT_CAPABILITIES_META}'"
        )));
    };
    let missing: Vec<&str> = [PROTOCOL_VERSION_META, CLIENT_CAPABILITIES_META]
        .into_iter()
        .filter(|k| !m.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        return Err(RpcError::invalid_params(format!(
            "params._meta is missing {}",
            missing.join(", ")
        )));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_messages() {
        assert!(matches!(
            classify(json!({"jsonrpc":"2.0","id":1,"method":"ping"})),
            Ok(Message::Request { .. })
        ));
        assert!(matches!(
            classify(json!({"jsonrpc":"2.0","method":"notifications/initialized"})),
            Ok(Message::Notification)
        ));
        assert!(matches!(
            classify(json!({"jsonrpc":"2.0","id":1,"result":{}})),
            Ok(Message::Response)
        ));
        let (_, e) = classify(json!([{"jsonrpc":"2.0","id":1,"method":"ping"}])).unwrap_err();
        assert_eq!(e.code, INVALID_REQUEST);
        let (id, e) = classify(json!({"jsonrpc":"1.0","id":7,"method":"ping"})).unwrap_err();
        assert_eq!((id, e.code), (json!(7), INVALID_REQUEST));
        let (_, e) = classify(json!({"jsonrpc":"2.0","id":{"x":1},"method":"ping"})).unwrap_err();
        assert_eq!(e.code, INVALID_REQUEST);
    }

    #[test]
    fn negotiates_handshake_revisions() {
        assert_eq!(negotiate(Some("2025-06-18")), "2025-06-18");
        assert_eq!(negotiate(Some("2026-07-28")), "2025-11-25");
        assert_eq!(negotiate(Some("1999-01-01")), "2025-11-25");
        assert_eq!(negotiate(None), "2025-11-25");
    }

    #[test]
    fn checks_the_modern_envelope() {
        let ok =
            json!({"_meta": {PROTOCOL_VERSION_META: "2026-07-28", CLIENT_CAPABILITIES_META: {}}});
        assert_eq!(modern_version(Some(&ok)).unwrap(), "2026-07-28");
        let future =
            json!({"_meta": {PROTOCOL_VERSION_META: "2099-01-01", CLIENT_CAPABILITIES_META: {}}});
        let e = modern_version(Some(&future)).unwrap_err();
        assert_eq!(e.code, UNSUPPORTED_PROTOCOL_VERSION);
        assert_eq!(e.data.unwrap()["supported"], json!(["2026-07-28"]));
        let partial = json!({"_meta": {PROTOCOL_VERSION_META: "2026-07-28"}});
        assert_eq!(
            modern_version(Some(&partial)).unwrap_err().code,
            INVALID_PARAMS
        );
    }
}
