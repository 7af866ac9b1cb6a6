//! ikanos-ziti: a native OpenZiti client — no sidecar, no loopback hop — for the
//! `ikanos` host's `tunnel.type: ziti` and `ikanos ziti enroll`.
//!
//! Owns the protocol, one module per concern:
//! - identity.rs: the identity file and the TLS configurations built from it;
//! - controller.rs: the controller's client REST API (legacy API sessions);
//! - channel.rs: channel v2 framing and the channel to one edge router;
//! - edge.rs: one edge connection (Connect, Data, FIN, StateClosed) as a stream;
//! - crypto.rs: end-to-end encryption compatible with libsodium;
//! - enroll.rs: enrollment (one-time token → key + CSR → certificate → identity JSON).
//!
//! Must not touch: readiness, reconnecting, failover policy or the capability file
//! (the host's provider, `ikanos::tunnel::ziti`, drives this crate), files or the
//! terminal (the host's CLI writes the identity enrollment returns).
//!
//! Public surface: what the host's provider and CLI use, plus the wire vocabulary
//! (`channel::{content, header, Message, read_message}`, `crypto`, `edge::data_frame`)
//! the benchmarks need to play the far end of a connection. The rest is crate-private.
//!
//! Not supported yet, each failing with a clear reason instead of hanging: OIDC
//! authentication and HA controllers, ConnectV2, posture checks, MFA.

pub mod channel;
pub mod controller;
pub mod crypto;
pub mod edge;
pub mod enroll;
/// Fuzz entry points (tests and `cargo fuzz` only).
#[cfg(any(test, fuzzing))]
pub mod fuzzing;
pub mod identity;

/// An error with its causes: hyper's errors say little at the top level (refused, TLS
/// alert… are in the source chain). Causes already quoted by an outer message are
/// left out.
fn error_chain(e: &dyn std::error::Error) -> String {
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
