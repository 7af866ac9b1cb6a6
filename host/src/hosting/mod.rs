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

pub mod config;
pub mod control;
mod router;
mod watch;

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use ikanos_spec::model::{Exposes, McpTransport};

use crate::capability::{self, BindPolicy, CapabilityOptions, LoadedCapability};
use crate::consumes::{ClientSettings, OutboundSettings};
use crate::exposes::mcp::{http::HttpTransport, McpServer};
use crate::exposes::rest::RestAdapter;
use crate::exposes::AdapterStatus;
use crate::runtime::{ComponentCache, Runtime};
use crate::server::{self, Shutdown};
use crate::telemetry::{CapabilityLabels, CapabilityLoadLabels, Metrics};
use crate::tunnel::TunnelRegistry;

pub use config::HostConfig;
pub use router::shared_handler as router_handler;
pub use watch::watch_dir;

/// Capability names: path segments, metric labels and file names alike.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(format!("'{name}' is not a capability name: use 1–63 lowercase letters, digits, '-' or '_', starting with a letter or digit"))
    }
}

/// Where a capability's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub file: PathBuf,
    /// The capability's own folder (`DIR/NAME/`), when it has one: every file in it
    /// counts toward "changed", and binds may read only inside it.
    pub folder: Option<PathBuf>,
    /// Named in the host configuration rather than found in the folder.
    pub configured: bool,
}

/// One served `exposes` entry of a hosted capability.
pub enum Adapter {
    Rest(Arc<RestAdapter>),
    /// An MCP entry with `transport: http`; it holds this version's sessions.
    Mcp(Arc<HttpTransport>),
}

impl Adapter {
    /// Answer one request (its path already relative to the adapter).
    pub async fn handle(&self, req: server::Request) -> server::Response {
        match self {
            Adapter::Rest(a) => a.handle(req).await,
            Adapter::Mcp(a) => a.handle(req).await,
        }
    }

    fn is_mcp(&self) -> bool {
        matches!(self, Adapter::Mcp(_))
    }
}

/// Why an MCP entry over stdio is not served by `ikanos serve`.
pub const STDIO_UNSUPPORTED: &str = "transport: stdio is not served by `ikanos serve`: the host process has one stdin and it belongs to no tenant; declare transport: http (served on the shared listener and its own port), or run this capability with `ikanos run`";

/// A running capability and the adapters that serve it.
pub struct Serving {
    pub capability: Arc<LoadedCapability>,
    /// REST adapters and MCP adapters over HTTP by namespace, in file order.
    pub adapters: Vec<(String, Adapter)>,
    /// This capability's tunnels, and only this capability's.
    pub tunnels: TunnelRegistry,
    pub own_listeners: bool,
}

pub enum State {
    Serving(Arc<Serving>),
    Failed(String),
}

/// One entry of the registry: a capability as last loaded (or failed).
pub struct Tenant {
    pub name: String,
    pub source: Source,
    pub state: State,
    /// Sizes and modification times of its files when loaded (to skip unchanged ones).
    fingerprint: u64,
    pub generation: u64,
    pub loaded_at: SystemTime,
    /// A newer version that failed to load while this one kept serving.
    pub last_error: Option<String>,
}

impl Tenant {
    pub fn serving(&self) -> Option<&Arc<Serving>> {
        match &self.state {
            State::Serving(s) => Some(s),
            State::Failed(_) => None,
        }
    }
}

/// A listener on a port a capability's file declares; its handler looks the capability
/// up on every request, so a replaced capability keeps its port and connections.
struct OwnListener {
    declared: (String, u16),
    bound: SocketAddr,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<()>,
}

/// The outcome of (re)loading one capability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Loaded,
    Replaced,
    Unchanged,
    /// Failed; the previous version (if any) keeps serving.
    Failed(String),
}

pub struct Hosting {
    pub config: HostConfig,
    runtime: Arc<Runtime>,
    cache: ComponentCache,
    pub metrics: Arc<Metrics>,
    tenants: RwLock<BTreeMap<String, Arc<Tenant>>>,
    own: Mutex<HashMap<(String, String), OwnListener>>,
    /// One change at a time (watch, admin API, SIGHUP).
    changes: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    draining: AtomicBool,
    pub started: Instant,
    /// Retired capabilities still finishing in-flight requests.
    retiring: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    pub shared_address: Mutex<Option<SocketAddr>>,
}

impl Hosting {
    pub fn new(config: HostConfig, runtime: Arc<Runtime>, cache: ComponentCache) -> Arc<Self> {
        Arc::new(Hosting {
            config,
            runtime,
            cache,
            metrics: Metrics::new(),
            tenants: RwLock::new(BTreeMap::new()),
            own: Mutex::new(HashMap::new()),
            changes: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
            draining: AtomicBool::new(false),
            started: Instant::now(),
            retiring: Mutex::new(Vec::new()),
            shared_address: Mutex::new(None),
        })
    }

    pub fn tenant(&self, name: &str) -> Option<Arc<Tenant>> {
        self.tenants
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    pub fn tenants(&self) -> Vec<Arc<Tenant>> {
        self.tenants
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The address a capability's own adapter listens on.
    pub fn own_address(&self, name: &str, namespace: &str) -> Option<SocketAddr> {
        self.own
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(name.to_string(), namespace.to_string()))
            .map(|l| l.bound)
    }

    /// Every capability the folder and the configuration name, by name.
    pub fn discover(&self) -> BTreeMap<String, Result<Source, String>> {
        let mut found = BTreeMap::new();
        if let Some(dir) = &self.config.dir {
            scan_dir(dir, &mut found);
        }
        for (name, patch) in &self.config.capabilities {
            if let Some(file) = &patch.file {
                found.insert(
                    name.clone(),
                    Ok(Source {
                        file: file.clone(),
                        folder: None,
                        configured: true,
                    }),
                );
            }
        }
        found
    }

    /// Bring the registry in line with the folder and configuration: load new
    /// capabilities, reload changed ones, remove those whose file is gone.
    pub async fn reconcile(self: &Arc<Self>) {
        let _one = self.changes.lock().await;
        let found = self.discover();
        for (name, source) in &found {
            let outcome = match source {
                Ok(source) => self.apply_locked(name, source.clone(), false).await,
                Err(why) => {
                    let known = self
                        .tenant(name)
                        .is_some_and(|t| matches!(&t.state, State::Failed(w) if w == why));
                    if known {
                        Applied::Unchanged
                    } else {
                        self.record_failure(name, None, why.clone());
                        Applied::Failed(why.clone())
                    }
                }
            };
            self.record(name, &outcome);
        }
        let gone: Vec<String> = self
            .tenants()
            .iter()
            .map(|t| t.name.clone())
            .filter(|n| !found.contains_key(n))
            .collect();
        for name in gone {
            if self.remove_locked(&name).await {
                tracing::info!(capability = %name, "removed: its file is gone");
            }
        }
    }

    /// Load or reload one capability (`force`: even when its files did not change).
    pub async fn apply(self: &Arc<Self>, name: &str, source: Source, force: bool) -> Applied {
        let _one = self.changes.lock().await;
        let outcome = self.apply_locked(name, source, force).await;
        self.record(name, &outcome);
        outcome
    }

    pub async fn remove(self: &Arc<Self>, name: &str) -> bool {
        let _one = self.changes.lock().await;
        self.remove_locked(name).await
    }

    async fn apply_locked(self: &Arc<Self>, name: &str, source: Source, force: bool) -> Applied {
        let settings = self.config.settings_for(name);
        let fingerprint = fingerprint(&source, settings.component.as_deref());
        let previous = self.tenant(name);
        if let Some(p) = &previous {
            if !force && p.fingerprint == fingerprint && p.source == source {
                return Applied::Unchanged;
            }
        }
        let options = CapabilityOptions {
            component: settings.component.clone(),
            limits: settings.limits.clone(),
            outbound: OutboundSettings {
                client: ClientSettings {
                    connect_timeout: settings.connect_timeout,
                    ..ClientSettings::default()
                },
                ca_bundles: settings
                    .ca_bundles
                    .iter()
                    .map(|(ns, p)| (ns.clone(), p.clone()))
                    .collect(),
                request_timeout: settings.upstream_timeout,
                max_response_body: settings.limits.max_response_body,
            },
            name: Some(name.to_string()),
            binds: BindPolicy::Confined {
                env: settings.env.clone(),
                folder: source
                    .folder
                    .clone()
                    .or_else(|| source.file.parent().map(Path::to_path_buf))
                    .unwrap_or_default(),
                flat: source.folder.is_none() && !source.configured,
            },
        };
        let loaded = {
            let this = self.clone();
            let file = source.file.clone();
            // Compiling is CPU-bound: keep it off the async workers.
            tokio::task::spawn_blocking(move || {
                let tunnels = TunnelRegistry::builtin();
                capability::load(
                    &file,
                    &options,
                    &this.runtime,
                    &this.cache,
                    &tunnels,
                    &this.metrics,
                    |path| tracing::info!(component = %path.display(), "compiling component"),
                )
                .map(|c| (c, tunnels))
                .map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|e| Err(format!("loading panicked: {e}")))
        };
        let serving = loaded.and_then(|(capability, tunnels)| {
            for w in &capability.warnings {
                tracing::warn!(capability = %name, "{w}");
            }
            let capability = Arc::new(capability);
            let mut adapters = Vec::new();
            for e in &capability.model.exposes {
                match e {
                    Exposes::Rest(rest) => {
                        let adapter =
                            RestAdapter::new(capability.clone(), rest, self.metrics.clone())?;
                        adapters.push((
                            rest.namespace.value.clone(),
                            Adapter::Rest(Arc::new(adapter)),
                        ));
                    }
                    Exposes::Mcp(mcp) if mcp.transport == McpTransport::Http => {
                        let server =
                            McpServer::new(capability.clone(), mcp, self.metrics.clone())?;
                        adapters.push((
                            mcp.namespace.value.clone(),
                            Adapter::Mcp(Arc::new(HttpTransport::new(Arc::new(server)))),
                        ));
                    }
                    Exposes::Mcp(mcp) => {
                        tracing::warn!(capability = %name, namespace = %mcp.namespace.value, "{}:{}: mcp adapter not served: {STDIO_UNSUPPORTED}", mcp.namespace.file.display(), mcp.pos);
                    }
                    _ => {}
                }
            }
            Ok(Arc::new(Serving {
                capability,
                adapters,
                tunnels,
                own_listeners: settings.own_listeners,
            }))
        });
        let serving = match serving {
            Ok(s) => s,
            Err(why) => {
                self.record_failure(name, Some((source, fingerprint)), why.clone());
                return Applied::Failed(why);
            }
        };
        if let Err(why) = self.open_own_listeners(name, &serving).await {
            stop_tunnels(&serving).await;
            self.record_failure(name, Some((source, fingerprint)), why.clone());
            return Applied::Failed(why);
        }
        let tenant = Arc::new(Tenant {
            name: name.to_string(),
            source,
            state: State::Serving(serving.clone()),
            fingerprint,
            generation: self.generation.fetch_add(1, Ordering::SeqCst) + 1,
            loaded_at: SystemTime::now(),
            last_error: None,
        });
        let old = self
            .tenants
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), tenant);
        self.close_stale_listeners(name, Some(&serving));
        self.metrics
            .capability_active
            .get_or_create(&labels(name))
            .set(1);
        for ns in serving
            .capability
            .outbound
            .status()
            .iter()
            .filter(|s| !s.ready)
        {
            tracing::warn!(capability = %name, namespace = %ns.namespace, route = %ns.route, reason = ns.reason.as_deref().unwrap_or(""), "consumed namespace not ready: its calls fail closed");
        }
        match old {
            Some(old) => {
                self.retire(old);
                Applied::Replaced
            }
            None => Applied::Loaded,
        }
    }

    /// A failed load: a capability already serving keeps serving (with the error
    /// reported beside it); otherwise the failure is the capability's state.
    fn record_failure(&self, name: &str, source: Option<(Source, u64)>, why: String) {
        let mut tenants = self.tenants.write().unwrap_or_else(|p| p.into_inner());
        let (source, fingerprint) = source.unwrap_or_else(|| {
            (
                Source {
                    file: PathBuf::new(),
                    folder: None,
                    configured: false,
                },
                0,
            )
        });
        let entry = match tenants.get(name) {
            Some(t) if t.serving().is_some() => Tenant {
                name: name.to_string(),
                source: t.source.clone(),
                state: State::Serving(t.serving().cloned().expect("checked")),
                // The failed files' fingerprint: unchanged files are not retried.
                fingerprint,
                generation: t.generation,
                loaded_at: t.loaded_at,
                last_error: Some(why),
            },
            _ => Tenant {
                name: name.to_string(),
                source,
                state: State::Failed(why),
                fingerprint,
                generation: self.generation.fetch_add(1, Ordering::SeqCst) + 1,
                loaded_at: SystemTime::now(),
                last_error: None,
            },
        };
        if entry.serving().is_none() {
            self.metrics
                .capability_active
                .get_or_create(&labels(name))
                .set(0);
        }
        tenants.insert(name.to_string(), Arc::new(entry));
    }

    async fn remove_locked(self: &Arc<Self>, name: &str) -> bool {
        let old = self
            .tenants
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        self.close_stale_listeners(name, None);
        self.metrics
            .capability_active
            .get_or_create(&labels(name))
            .set(0);
        match old {
            Some(old) => {
                self.retire(old);
                self.metrics
                    .capability_loads
                    .get_or_create(&CapabilityLoadLabels {
                        capability: name.to_string(),
                        outcome: "removed",
                    })
                    .inc();
                true
            }
            None => false,
        }
    }

    /// Log an outcome and count it in `ikanos_capability_loads`.
    fn record(&self, name: &str, outcome: &Applied) {
        let counted = match outcome {
            Applied::Loaded => {
                tracing::info!(capability = %name, "capability loaded");
                "loaded"
            }
            Applied::Replaced => {
                tracing::info!(capability = %name, "capability replaced");
                "replaced"
            }
            Applied::Unchanged => return,
            Applied::Failed(why) => {
                tracing::error!(capability = %name, "capability failed to load: {why}");
                "failed"
            }
        };
        self.metrics
            .capability_loads
            .get_or_create(&CapabilityLoadLabels {
                capability: name.to_string(),
                outcome: counted,
            })
            .inc();
    }

    /// Let a replaced or removed capability finish its in-flight requests (they hold
    /// it), then close its tunnels.
    fn retire(&self, old: Arc<Tenant>) {
        let Some(serving) = old.serving().cloned() else {
            return;
        };
        drop(old);
        let drain = self.config.drain_timeout;
        let name = serving.capability.name.clone();
        let task = tokio::spawn(async move {
            let deadline = Instant::now() + drain;
            // The registry let go of it; whoever still holds it is a request in flight.
            while Arc::strong_count(&serving) > 1 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            stop_tunnels(&serving).await;
            tracing::debug!(capability = %name, "previous version retired");
        });
        let mut retiring = self.retiring.lock().unwrap_or_else(|p| p.into_inner());
        retiring.retain(|t| !t.is_finished());
        retiring.push(task);
    }

    /// Bind the ports a capability's REST and HTTP MCP adapters declare, keeping a
    /// listener that is already there for the same declared address (a replacement
    /// keeps its port). An MCP entry without a port gets one from the OS.
    async fn open_own_listeners(
        self: &Arc<Self>,
        name: &str,
        serving: &Arc<Serving>,
    ) -> Result<(), String> {
        if !serving.own_listeners {
            return Ok(());
        }
        for e in &serving.capability.model.exposes {
            let (kind, namespace, address, port) = match e {
                Exposes::Rest(rest) => (
                    "rest",
                    &rest.namespace.value,
                    rest.address.as_ref(),
                    rest.port.value,
                ),
                Exposes::Mcp(mcp) if mcp.transport == McpTransport::Http => (
                    "mcp",
                    &mcp.namespace.value,
                    mcp.address.as_ref(),
                    mcp.port.as_ref().map_or(0, |p| p.value),
                ),
                _ => continue,
            };
            let namespace = namespace.clone();
            let address = address
                .map(|a| a.value.clone())
                .unwrap_or_else(|| "127.0.0.1".into());
            let declared = (address.clone(), port);
            let key = (name.to_string(), namespace.clone());
            let unchanged = self
                .own
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&key)
                .is_some_and(|l| l.declared == declared);
            if unchanged {
                continue;
            }
            // A port that moved: the old listener stops accepting (its connections
            // drain in the background) and may still hold the port for a moment.
            let old = self
                .own
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key);
            let moved = old.is_some();
            if let Some(old) = old {
                old.shutdown.trigger();
            }
            let mut attempt = 0;
            let bound = loop {
                match server::bind(&address, port).await {
                    Err(e)
                        if moved && attempt < 20 && e.kind() == std::io::ErrorKind::AddrInUse =>
                    {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    other => break other,
                }
            };
            let (listener, bound) = bound.map_err(|e| {
                format!("cannot listen on {address}:{port} for {kind} adapter '{namespace}': {e}")
            })?;
            tracing::info!(adapter = kind, capability = %name, namespace = %namespace, addr = %bound, "listening");
            let shutdown = Shutdown::default();
            let task = server::serve(
                format!("{kind}:{name}:{namespace}"),
                listener,
                router::own_port_handler(self.clone(), name.to_string(), namespace.clone()),
                &shutdown,
                self.config.drain_timeout,
            );
            self.own.lock().unwrap_or_else(|p| p.into_inner()).insert(
                key,
                OwnListener {
                    declared,
                    bound,
                    shutdown,
                    task,
                },
            );
        }
        Ok(())
    }

    /// Stop the listeners of `name` that `serving` (None: removed) no longer declares.
    /// They stop accepting at once and drain their connections in the background.
    fn close_stale_listeners(&self, name: &str, serving: Option<&Arc<Serving>>) {
        let keep: Vec<String> = match serving {
            Some(s) if s.own_listeners => s.adapters.iter().map(|(n, _)| n.clone()).collect(),
            _ => Vec::new(),
        };
        let mut own = self.own.lock().unwrap_or_else(|p| p.into_inner());
        let stale: Vec<_> = own
            .keys()
            .filter(|(n, ns)| n == name && !keep.contains(ns))
            .cloned()
            .collect();
        for key in stale {
            if let Some(l) = own.remove(&key) {
                tracing::info!(capability = %name, namespace = %key.1, addr = %l.bound, "closing listener");
                l.shutdown.trigger();
            }
        }
    }

    /// Stop serving: readiness goes 503 and every capability listener drains.
    pub async fn shut_down(&self) {
        self.draining.store(true, Ordering::SeqCst);
        let listeners: Vec<OwnListener> = self
            .own
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, l)| l)
            .collect();
        for l in &listeners {
            l.shutdown.trigger();
        }
        for l in listeners {
            let _ = l.task.await;
        }
    }

    /// After the listeners drained: close every tunnel.
    pub async fn close_all(&self) {
        let tenants: Vec<Arc<Tenant>> =
            std::mem::take(&mut *self.tenants.write().unwrap_or_else(|p| p.into_inner()))
                .into_values()
                .collect();
        for t in &tenants {
            if let Some(s) = t.serving() {
                stop_tunnels(s).await;
            }
            self.metrics
                .capability_active
                .get_or_create(&labels(&t.name))
                .set(0);
        }
        let retiring =
            std::mem::take(&mut *self.retiring.lock().unwrap_or_else(|p| p.into_inner()));
        for t in retiring {
            t.abort();
        }
    }

    /// Readiness of one capability: loaded, every consumed namespace routable.
    pub fn tenant_ready(&self, t: &Tenant) -> bool {
        let consumes = t.serving().map(|s| s.capability.outbound.status());
        self.ready_given(consumes.as_deref())
    }

    /// Readiness of a capability whose consumed namespaces are `consumes` (None: it is
    /// not serving): all of them ready, and the host not draining.
    pub fn ready_given(&self, consumes: Option<&[crate::consumes::NamespaceStatus]>) -> bool {
        consumes.is_some_and(|c| c.iter().all(|c| c.ready)) && !self.is_draining()
    }

    /// The adapters of one capability, for `/status` and readiness.
    pub fn adapter_status(&self, t: &Tenant) -> Vec<AdapterStatus> {
        let Some(s) = t.serving() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in &s.capability.model.exposes {
            match e {
                Exposes::Rest(rest) => out.push(AdapterStatus {
                    kind: "rest",
                    namespace: rest.namespace.value.clone(),
                    address: self.own_address(&t.name, &rest.namespace.value),
                    state: "listening",
                    reason: None,
                }),
                Exposes::Mcp(mcp) if mcp.transport == McpTransport::Http => {
                    out.push(AdapterStatus {
                        kind: "mcp",
                        namespace: mcp.namespace.value.clone(),
                        address: self.own_address(&t.name, &mcp.namespace.value),
                        state: "listening",
                        reason: None,
                    })
                }
                Exposes::Mcp(mcp) => out.push(AdapterStatus {
                    kind: "mcp",
                    namespace: mcp.namespace.value.clone(),
                    address: None,
                    state: "unsupported",
                    reason: Some(STDIO_UNSUPPORTED.into()),
                }),
                _ => {}
            }
        }
        out
    }
}

async fn stop_tunnels(serving: &Serving) {
    for tunnel in serving.tunnels.running() {
        tunnel.stop().await;
    }
}

fn labels(name: &str) -> CapabilityLabels {
    CapabilityLabels {
        capability: name.to_string(),
    }
}

/// `NAME.ikanos.yaml` (or `.yml`) directly in `dir`, and `dir/NAME/` folders holding
/// exactly one such file. Hidden entries are skipped (the admin API writes through
/// hidden temporary files).
fn scan_dir(dir: &Path, found: &mut BTreeMap<String, Result<Source, String>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        tracing::warn!(dir = %dir.display(), "cannot read the capabilities folder");
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if file_name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            let name = file_name.to_string();
            let files: Vec<PathBuf> = std::fs::read_dir(&path)
                .map(|rd| {
                    rd.flatten()
                        .map(|e| e.path())
                        .filter(|p| is_capability_file(p))
                        .collect()
                })
                .unwrap_or_default();
            let source = match (check_name(&name), files.as_slice()) {
                (Err(why), _) => Err(why),
                (Ok(()), [file]) => Ok(Source {
                    file: file.clone(),
                    folder: Some(path.clone()),
                    configured: false,
                }),
                (Ok(()), []) => continue,
                (Ok(()), many) => Err(format!(
                    "{}: {} capability files; a capability folder holds exactly one",
                    path.display(),
                    many.len()
                )),
            };
            found.insert(name, source);
        } else if is_capability_file(&path) {
            let name = capability::default_name(&path);
            let source = check_name(&name).map(|()| Source {
                file: path.clone(),
                folder: None,
                configured: false,
            });
            found.insert(name, source);
        }
    }
}

fn is_capability_file(p: &Path) -> bool {
    p.is_file()
        && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
            !n.starts_with('.') && (n.ends_with(".ikanos.yaml") || n.ends_with(".ikanos.yml"))
        })
}

/// Sizes and modification times of the files a capability is made of: its file, its
/// component (configured or beside it), and for a folder capability every file in its
/// folder (binds, imports). Cheap enough to run over hundreds on every folder event.
fn fingerprint(source: &Source, component: Option<&Path>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut add = |p: &Path| {
        p.hash(&mut h);
        if let Ok(m) = std::fs::metadata(p) {
            m.len().hash(&mut h);
            m.modified().ok().hash(&mut h);
        }
    };
    add(&source.file);
    if let Some(c) = component {
        add(c);
    }
    match &source.folder {
        Some(folder) => {
            let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
                .map(|rd| rd.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            files.sort();
            for f in files.iter().filter(|f| {
                f.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !n.starts_with('.'))
            }) {
                add(f);
            }
        }
        None => {
            for candidate in capability::component_candidates(&source.file) {
                add(&candidate);
            }
        }
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("crm-2_a").is_ok());
        for bad in ["", "Crm", "-x", "a/b", "a.b", &"x".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_folder_scan_finds_files_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.ikanos.yaml"), "").unwrap();
        std::fs::write(d.join(".hidden.ikanos.yaml"), "").unwrap();
        std::fs::write(d.join("notes.txt"), "").unwrap();
        std::fs::create_dir(d.join("b")).unwrap();
        std::fs::write(d.join("b/whatever.ikanos.yaml"), "").unwrap();
        std::fs::create_dir(d.join("c")).unwrap();
        std::fs::write(d.join("c/one.ikanos.yaml"), "").unwrap();
        std::fs::write(d.join("c/two.ikanos.yml"), "").unwrap();
        std::fs::create_dir(d.join("empty")).unwrap();
        std::fs::write(d.join("Bad.ikanos.yaml"), "").unwrap();
        let mut found = BTreeMap::new();
        scan_dir(d, &mut found);
        let names: Vec<_> = found.keys().cloned().collect();
        assert_eq!(names, ["Bad", "a", "b", "c"]);
        assert_eq!(found["a"].as_ref().unwrap().folder, None);
        assert_eq!(
            found["b"].as_ref().unwrap().folder.as_deref(),
            Some(d.join("b").as_path())
        );
        assert!(found["c"]
            .as_ref()
            .unwrap_err()
            .contains("2 capability files"));
        assert!(found["Bad"].is_err());
    }
}
