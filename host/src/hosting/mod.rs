//! Multi-tenant hosting (`ikanos serve`): many capabilities in one process, added,
//! replaced and removed while the others keep serving.
//!
//! Owns: which capabilities are loaded (the registry), where they come from (a folder
//! and the host configuration), their per-capability settings, their listeners (the
//! shared one routed by path prefix and each one's own ports), and retiring a replaced
//! or removed capability once its in-flight requests are done.
//! Must not touch: what a capability does — loading one is `capability::load`, serving
//! a request is the REST or MCP adapter's, the sandbox is the runtime's.
//!
//! Adapters: a capability's REST entries and its MCP entries with `transport: http`
//! are served (one `Adapter` per entry, on the shared listener and on their own ports).
//! MCP over stdio is not: one process has one stdin, shared by no tenant; such an entry
//! is reported `unsupported` with the reason, and (like any adapter this host cannot
//! serve) does not make the capability not ready — its other adapters serve, and a
//! readiness that could never turn ready would only take it off every balancer.
//! Each loaded version has its own MCP sessions: a replaced capability's sessions end
//! with it (clients get 404 for the old session id and initialize again), while its
//! in-flight calls finish on the version they started on.
//!
//! Isolation: every capability gets its own `Outbound` (HTTP clients and pools), its own
//! `TunnelRegistry` (no tunnel or session is shared across capabilities, even with the
//! same type, identity and endpoint), its own secrets (binds confined to its folder and
//! to the environment variables granted to it) and its own sandbox limits. What is
//! shared is what holds nothing of a tenant's: the wasmtime engine and instance pool,
//! compiled code of identical components, public TLS roots, and the metrics registry
//! (every series labelled by capability).

//!
//! Layout: `registry` (which capabilities are loaded, loading and retiring them),
//! `listeners` (each capability's own ports), `discovery` (where capabilities come
//! from and whether their files changed), `router` (the shared listener and own-port
//! handlers), `control` (health, status and the admin API), `pulls` (capabilities
//! from registries), `config` and `watch`.

pub mod config;
pub mod control;
mod discovery;
mod listeners;
mod pulls;
mod registry;
mod router;
mod watch;

pub use config::HostConfig;
pub use discovery::{check_name, Source};
pub use registry::{Applied, Hosting, Serving, State, Tenant};
pub use router::shared_handler as router_handler;
pub use watch::watch_dir;

/// How often the tags of capabilities from registries are checked (None: no tag to check).
pub fn pulls_tick(config: &HostConfig) -> Option<std::time::Duration> {
    pulls::Pulls::tick(config)
}
