//! Turning a capability's `exposes` into served adapters: one builder, one binder and
//! one status rule for `ikanos run` and `ikanos serve` alike.
//!
//! Owns: which adapter each `exposes` entry becomes in which kind of host, the address
//! it listens on, the error when it cannot, and its status line. Must not touch: what a
//! request means (the REST and MCP adapters) or which listener a host opens when (the
//! commands and `hosting`).
//!
//! Adding an exposes type: one `Adapter` variant and its constructor in [`build`]; every
//! other decision is an exhaustive `match` the compiler points at.

use std::net::SocketAddr;
use std::sync::Arc;

use ikanos_spec::model::{Exposes, McpTransport, Spanned};
use tokio::net::TcpListener;

use super::mcp::{http::HttpTransport, McpServer};
use super::rest::RestAdapter;
use super::skill::SkillAdapter;
use crate::capability::LoadedCapability;
use crate::server;
use crate::telemetry::Metrics;

/// The address an adapter listens on when its entry names none: never all interfaces
/// unasked.
const DEFAULT_ADDRESS: &str = "127.0.0.1";

/// Why an MCP entry over stdio is not served by `ikanos serve`.
pub const STDIO_UNSUPPORTED: &str = "transport: stdio is not served by `ikanos serve`: the host process has one stdin and it belongs to no tenant; declare transport: http (served on the shared listener and its own port), or run this capability with `ikanos run`";

/// Why a capability's own control entry is not served by `ikanos serve`.
const CONTROL_NOT_SERVED: &str = "type: control is not served by `ikanos serve`: the host's control port (host configuration `control`) serves health, metrics and status for every capability, behind its own settings; this entry, its port, its authentication and its `management` and `observability` blocks do not apply here (traces follow the host's OTEL_* environment: one process has one trace pipeline)";

/// The kinds of served adapter (the `type` of `/health/ready` and `/status` entries,
/// the `adapter` field of logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AdapterKind {
    Rest,
    Mcp,
    Skill,
}

impl AdapterKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AdapterKind::Rest => "rest",
            AdapterKind::Mcp => "mcp",
            AdapterKind::Skill => "skill",
        }
    }
}

/// Where an adapter stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AdapterState {
    Listening,
    /// This host cannot serve it here (MCP over stdio in `ikanos serve`): reported
    /// with the reason, not awaited.
    Unsupported,
}

/// One exposed adapter, for `/health/ready` and `/status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AdapterStatus {
    #[serde(rename = "type")]
    pub kind: AdapterKind,
    pub namespace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<SocketAddr>,
    pub state: AdapterState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl AdapterStatus {
    /// Counts toward readiness: unsupported adapters are reported, not awaited (a
    /// readiness that could never turn ready would only take the host off every
    /// balancer).
    pub fn is_ready(&self) -> bool {
        match self.state {
            AdapterState::Listening | AdapterState::Unsupported => true,
        }
    }
}

/// What kind of process serves the adapters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// `ikanos run`: one capability, which owns the process's stdin and stdout.
    Single,
    /// `ikanos serve`: many tenants; stdin belongs to none of them.
    Shared,
}

/// One `exposes` entry made servable.
pub enum Adapter {
    Http(HttpAdapter),
    /// MCP over this process's stdin/stdout (`ikanos run` only).
    McpStdio(Arc<McpServer>),
}

/// An adapter served over HTTP, on its own listener and (in `ikanos serve`) the shared one.
#[derive(Clone)]
pub enum HttpAdapter {
    Rest(Arc<RestAdapter>),
    /// MCP over streamable HTTP; it holds this version's sessions.
    Mcp(Arc<HttpTransport>),
    /// The skill catalogue (read-only).
    Skill(Arc<SkillAdapter>),
}

impl HttpAdapter {
    /// Answer one request (its path already relative to the adapter).
    pub async fn handle(&self, req: server::Request) -> server::Response {
        match self {
            HttpAdapter::Rest(a) => a.handle(req).await,
            HttpAdapter::Mcp(t) => t.handle(req).await,
            HttpAdapter::Skill(s) => s.handle(req).await,
        }
    }

    /// A listener's handler for this adapter.
    pub fn handler(&self) -> server::Handler {
        let adapter = self.clone();
        Arc::new(move |req| {
            let adapter = adapter.clone();
            Box::pin(async move { adapter.handle(req).await })
        })
    }
}

/// An `exposes` entry as a host serves it: the adapter, or why it is not served.
pub struct Planned {
    pub namespace: String,
    pub kind: AdapterKind,
    /// Where its own listener goes (`None`: it has none, e.g. stdio).
    pub listen: Option<(String, u16)>,
    pub adapter: Result<Adapter, &'static str>,
}

impl Planned {
    /// Its status once bound at `address` (if it listens).
    pub fn status(&self, address: Option<SocketAddr>) -> AdapterStatus {
        let (state, reason) = match &self.adapter {
            Ok(Adapter::McpStdio(_)) => (AdapterState::Listening, Some("stdio".to_string())),
            Ok(Adapter::Http(_)) => (AdapterState::Listening, None),
            Err(why) => (AdapterState::Unsupported, Some(why.to_string())),
        };
        AdapterStatus {
            kind: self.kind,
            namespace: self.namespace.clone(),
            address,
            state,
            reason,
        }
    }

    /// The adapter when it is served over HTTP.
    pub fn http(&self) -> Option<&HttpAdapter> {
        match &self.adapter {
            Ok(Adapter::Http(a)) => Some(a),
            Ok(Adapter::McpStdio(_)) | Err(_) => None,
        }
    }
}

fn address_of(address: Option<&Spanned<String>>) -> String {
    address
        .map(|a| a.value.clone())
        .unwrap_or_else(|| DEFAULT_ADDRESS.to_string())
}

/// Every adapter of `capability`, in file order. Entries that are not adapters (the
/// control port, which belongs to the host) are left out; entries this host cannot
/// serve are kept with the reason. `previous`: the adapters of the version this one
/// replaces, whose MCP sessions and subscription streams carry over to the adapter of
/// the same namespace.
pub fn build(
    capability: &Arc<LoadedCapability>,
    metrics: &Arc<Metrics>,
    host: HostKind,
    previous: &[Planned],
) -> Result<Vec<Planned>, String> {
    let previous_hub = |namespace: &str| {
        previous
            .iter()
            .find(|p| p.namespace == namespace)
            .and_then(|p| match p.http() {
                Some(HttpAdapter::Mcp(t)) => Some(t.server().hub().clone()),
                _ => None,
            })
    };
    let mut planned = Vec::new();
    for exposes in &capability.model.exposes {
        let entry = match exposes {
            Exposes::Rest(rest) => {
                let adapter = RestAdapter::new(capability.clone(), rest, metrics.clone())?;
                Planned {
                    namespace: rest.namespace.value.clone(),
                    kind: AdapterKind::Rest,
                    listen: Some((address_of(rest.address.as_ref()), rest.port.value)),
                    adapter: Ok(Adapter::Http(HttpAdapter::Rest(Arc::new(adapter)))),
                }
            }
            Exposes::Mcp(mcp) => {
                let namespace = mcp.namespace.value.clone();
                let (listen, adapter) = match (mcp.transport, host) {
                    (McpTransport::Http, _) => {
                        let server = McpServer::new(
                            capability.clone(),
                            mcp,
                            metrics.clone(),
                            previous_hub(&namespace),
                        )?;
                        let port = mcp.port.as_ref().map_or(0, |p| p.value);
                        (
                            Some((address_of(mcp.address.as_ref()), port)),
                            Ok(Adapter::Http(HttpAdapter::Mcp(Arc::new(
                                HttpTransport::new(server),
                            )))),
                        )
                    }
                    (McpTransport::Stdio, HostKind::Single) => {
                        let server =
                            McpServer::new(capability.clone(), mcp, metrics.clone(), None)?;
                        (None, Ok(Adapter::McpStdio(server)))
                    }
                    (McpTransport::Stdio, HostKind::Shared) => {
                        tracing::warn!(capability = %capability.name, namespace = %namespace, "{}:{}: mcp adapter not served: {STDIO_UNSUPPORTED}", mcp.namespace.file.display(), mcp.pos);
                        (None, Err(STDIO_UNSUPPORTED))
                    }
                };
                Planned {
                    namespace,
                    kind: AdapterKind::Mcp,
                    listen,
                    adapter,
                }
            }
            Exposes::Skill(skill) => {
                let adapter = SkillAdapter::new(capability, skill, metrics.clone())?;
                Planned {
                    namespace: skill.namespace.value.clone(),
                    kind: AdapterKind::Skill,
                    listen: Some((address_of(skill.address.as_ref()), skill.port.value)),
                    adapter: Ok(Adapter::Http(HttpAdapter::Skill(Arc::new(adapter)))),
                }
            }
            // The control port is the host's own listener, not an adapter. In `ikanos
            // serve` the host's control port serves every capability: a tenant's own
            // entry (and its authentication) is not served, and the file says so.
            Exposes::Control(control) => {
                if host == HostKind::Shared {
                    tracing::warn!(capability = %capability.name, "{}:{}: {CONTROL_NOT_SERVED}", capability.model.file.display(), control.pos);
                }
                continue;
            }
        };
        planned.push(entry);
    }
    Ok(planned)
}

/// A listener for an adapter, or the error naming it.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {address}:{port} for {kind} adapter '{namespace}': {source}")]
pub struct BindError {
    pub address: String,
    pub port: u16,
    pub kind: &'static str,
    pub namespace: String,
    #[source]
    pub source: std::io::Error,
}

/// Bind `planned`'s listener (`address:port` given, so a host may keep a port it has).
pub async fn bind(
    planned: &Planned,
    address: &str,
    port: u16,
) -> Result<(TcpListener, SocketAddr), BindError> {
    server::bind(address, port)
        .await
        .map_err(|source| BindError {
            address: address.to_string(),
            port,
            kind: planned.kind.as_str(),
            namespace: planned.namespace.clone(),
            source,
        })
}
