//! `tunnel.type: ziti` — the host's side of the native OpenZiti client.
//!
//! Owns: the `TunnelProvider` (provider.rs: readiness, refresh, failover, reasons).
//! Must not touch: the OpenZiti protocol (controller API, router channel, edge
//! connections, end-to-end encryption, enrollment); that is the `ikanos-ziti` crate.

mod provider;

pub use provider::ZitiProvider;
