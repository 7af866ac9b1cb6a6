//! Exposes: the adapters through which callers reach a capability.
//!
//! Owns: turning `capability.exposes` into adapters (REST, MCP, skill) for `run` and `serve`
//! alike (`adapters`), and reporting each adapter's state. Must not touch: the component's internals or outbound calls — a
//! request is handed to the runtime and its answer turned into a response.

mod adapters;
pub(crate) mod auth;
mod digest;
mod forward;
pub(crate) mod inbound;
pub mod mcp;
pub(crate) mod oauth2;
pub mod rest;
pub mod skill;

pub use adapters::{
    bind, build, Adapter, AdapterKind, AdapterState, AdapterStatus, BindError, HostKind,
    HttpAdapter, Planned, STDIO_UNSUPPORTED,
};

/// A JSON value as the component sees an input (a REST body field, an MCP tool
/// argument): strings as they are, anything else as JSON.
fn input_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
