//! The registry of `ikanos serve`: which capabilities are loaded, loading, replacing
//! and removing them, and retiring a replaced or removed version once its in-flight
//! requests are done.
//!
//! Owns: `Hosting` and each `Tenant`'s state, readiness of one capability, the
//! `ikanos_capability_*` series. Must not touch: where files come from (`discovery`),
//! sockets (`listeners`), or what a capability does (`capability::load`, the adapters).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use super::config::HostConfig;
use super::discovery::{fingerprint, scan_dir, Source};
use super::listeners::OwnListener;
use crate::capability::{self, BindPolicy, CapabilityOptions, LoadedCapability};
use crate::consumes::{ClientSettings, OutboundSettings};
use crate::exposes::{self, AdapterStatus, HostKind, Planned};
use crate::runtime::{ComponentCache, Runtime};
use crate::telemetry::{CapabilityLabels, CapabilityLoadLabels, Metrics};
use crate::tunnel::TunnelRegistry;

/// A running capability and the adapters that serve it.
pub struct Serving {
    pub capability: Arc<LoadedCapability>,
    /// Its adapters in file order, each served or with the reason it is not.
    pub adapters: Vec<Planned>,
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
    pub(super) own: Mutex<HashMap<(String, String), OwnListener>>,
    /// One change at a time (watch, admin API, SIGHUP).
    changes: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    pub(super) draining: AtomicBool,
    pub started: Instant,
    /// Retired capabilities still finishing in-flight requests.
    retiring: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    pub shared_address: Mutex<Option<SocketAddr>>,
    /// Capabilities from registries (`capabilities.NAME.from`).
    pub pulls: super::pulls::Pulls,
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
            pulls: super::pulls::Pulls::new(crate::package::store_dir()),
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

    /// Every capability the folder and the configuration name, by name.
    pub fn discover(&self) -> BTreeMap<String, Result<Source, String>> {
        let mut found = BTreeMap::new();
        if let Some(dir) = &self.config.dir {
            scan_dir(dir, &mut found);
        }
        for (name, patch) in &self.config.capabilities {
            if patch.from.is_some() {
                found.insert(name.clone(), self.pulls.source(name, patch));
            }
            if let Some(file) = &patch.file {
                found.insert(
                    name.clone(),
                    Ok(Source {
                        file: file.clone(),
                        folder: None,
                        configured: true,
                        binds: None,
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
            // A pulled capability's relative binds read the operator's folder for it.
            bind_rebase: source
                .binds
                .clone()
                .zip(source.folder.clone())
                .map(|(to, from)| ikanos_spec::binds::Rebase { from, to }),
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
            let name = name.to_string();
            // Compiling is CPU-bound: keep it off the async workers.
            tokio::task::spawn_blocking(move || {
                let tunnels = TunnelRegistry::hosted(&this.config.tunnels, &name);
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
            let before = previous.as_ref().and_then(|p| p.serving());
            let adapters = exposes::build(
                &capability,
                &self.metrics,
                HostKind::Shared,
                before.map_or(&[][..], |b| &b.adapters[..]),
            )?;
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
                // Sessions carried over from the old version hear what changed.
                for planned in &serving.adapters {
                    if let Some(exposes::HttpAdapter::Mcp(t)) = planned.http() {
                        t.server().announce_replacement();
                    }
                }
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
                    binds: None,
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

    /// Readiness of a capability whose consumed namespaces are `consumes` (None: it is
    /// not serving): all of them ready, and the host not draining.
    pub fn ready_given(
        &self,
        consumes: Option<&[crate::consumes::NamespaceStatus]>,
        adapters: &[AdapterStatus],
    ) -> bool {
        consumes.is_some_and(|c| crate::control::ready(c, adapters, self.is_draining()))
    }

    /// The adapters of one capability, for `/status` and readiness.
    pub fn adapter_status(&self, t: &Tenant) -> Vec<AdapterStatus> {
        let Some(s) = t.serving() else {
            return Vec::new();
        };
        s.adapters
            .iter()
            .map(|a| a.status(self.own_address(&t.name, &a.namespace)))
            .collect()
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
