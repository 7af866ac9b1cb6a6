//! ikanos: runs Ikanos capabilities as sandboxed WebAssembly components.
//!
//! Data flows one way:
//! capability file → [`ikanos_spec`] (validated model, binds) → [`capability`] (a running
//! capability: component + outbound router) → [`exposes`] (an inbound request) →
//! [`runtime`] (a fresh component instance) → [`consumes`] (a declared outbound call) →
//! [`tunnel`] (the route) → the wire.
//!
//! `ikanos serve` puts [`hosting`] above [`capability`]: a registry of many loaded
//! capabilities with their own listeners, routed by name.
//!
//! The host owns every piece of authority: sockets, secrets, TLS, pools, health,
//! metrics. The component owns none; it names declared operations and the host acts.

pub mod capability;
pub mod cli;
pub mod consumes;
pub mod control;
pub mod declarative;
pub mod exposes;
/// Fuzz entry points (tests and `cargo fuzz` only).
#[cfg(any(test, fuzzing))]
pub mod fuzzing;
pub mod hosting;
pub mod package;
pub mod request_id;
pub mod runtime;
pub mod server;
pub mod telemetry;
pub mod tunnel;
pub mod workers;

pub use ikanos_spec as spec;

/// The wire method of a declared operation (the model stays free of the `http` crate).
pub(crate) fn http_method(m: spec::model::HttpMethod) -> http::Method {
    use spec::model::HttpMethod;
    match m {
        HttpMethod::Get => http::Method::GET,
        HttpMethod::Post => http::Method::POST,
        HttpMethod::Put => http::Method::PUT,
        HttpMethod::Patch => http::Method::PATCH,
        HttpMethod::Delete => http::Method::DELETE,
    }
}

/// An error with its causes: hyper's errors say little at the top level (refused, TLS
/// alert… are in the source chain). Causes already quoted by an outer message are
/// left out.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
