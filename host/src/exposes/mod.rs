//! Exposes: the adapters through which callers reach a capability.
//!
//! Owns: turning `capability.exposes` into listeners (REST, MCP) and reporting each
//! adapter's state. Must not touch: the component's internals or outbound calls — a
//! request is handed to the runtime and its answer turned into a response.

mod auth;
pub mod mcp;
pub mod rest;

use std::net::SocketAddr;

/// One exposed adapter, for `/health/ready` and `/status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AdapterStatus {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub namespace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<SocketAddr>,
    /// `listening`, or `unsupported` for adapter types this build does not serve.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl AdapterStatus {
    /// Counts toward readiness: unsupported adapters are reported, not awaited.
    pub fn is_ready(&self) -> bool {
        self.state == "listening" || self.state == "unsupported"
    }
}

/// A JSON value as the component sees an input (a REST body field, an MCP tool
/// argument): strings as they are, anything else as JSON.
fn input_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
