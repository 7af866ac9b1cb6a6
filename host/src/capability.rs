//! A capability made ready to run: validated model + resolved binds + component +
//! outbound router.
//!
//! Owns: the order of start-up steps and where the component file is found. Must not
//! touch: listeners (exposes, control) — a loaded capability serves nothing by itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ikanos_spec::binds::{BindError, Rebase};
use ikanos_spec::model::{Capability, Handler};
use ikanos_spec::{Diagnostic, Diagnostics};
use thiserror::Error;

use crate::consumes::{Outbound, OutboundError, OutboundSettings};
use crate::declarative::{self, Definitions};
use crate::runtime::{
    ComponentCache, InboundRequest, InboundResponse, InvokeError, Limits, LoadError, Origin,
    Runtime, Sandbox,
};
use crate::telemetry::Metrics;
use crate::tunnel::TunnelRegistry;

#[derive(Debug, Clone, Default)]
pub struct CapabilityOptions {
    /// The component file; when None it is found next to the capability file.
    pub component: Option<PathBuf>,
    pub limits: Limits,
    pub outbound: OutboundSettings,
    /// The name used in metrics, logs and `/status`; default: the file name's stem.
    pub name: Option<String>,
    /// What the file's binds may read.
    pub binds: BindPolicy,
    /// Where relative bind files are when they did not travel with the capability (a
    /// pulled artifact, a bundled `.wasm`): the operator's folder, not the capability's.
    pub bind_rebase: Option<Rebase>,
}

/// What a capability's binds may read. `ikanos run` trusts the one file it is given;
/// `ikanos serve` hosts files it must not trust with the host's environment or disk.
#[derive(Debug, Clone, Default)]
pub enum BindPolicy {
    /// Any environment variable of the host process, any file path.
    #[default]
    Trusted,
    /// Only the environment variables the host configuration grants by name, and only
    /// files inside `folder` — directly inside it when `flat` (capability files side by
    /// side in one folder must not reach into the folders of other capabilities).
    /// Binds and consumes entries imported from a file outside `folder` are refused too.
    Confined {
        env: Vec<String>,
        folder: PathBuf,
        flat: bool,
    },
}

#[derive(Debug, Error)]
pub enum CapabilityError {
    #[error("{0}")]
    Invalid(Diagnostics),
    #[error("{0}")]
    Binds(BindError),
    #[error("{file}: no component found for the operations it exposes (looked for {looked}); build one or pass --component PATH")]
    NoComponent { file: String, looked: String },
    #[error("{0}")]
    Component(LoadError),
    #[error("{0}")]
    Outbound(OutboundError),
    #[error("{0}")]
    Limits(String),
    /// An `in: environment` consumed parameter whose variable is missing or not granted.
    #[error("{0}")]
    Environment(crate::consumes::environment::EnvironmentError),
    /// A bind (or an imported consumes entry) that reaches outside what the host lets
    /// this capability read.
    #[error("{file}:{pos}: '{namespace}': {reason}")]
    BindRefused {
        file: String,
        pos: String,
        namespace: String,
        reason: String,
    },
}

/// Where the component came from, for `/status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ComponentInfo {
    pub path: String,
    pub sha256: String,
    /// `cache`, `compiled`, or `shared` (already loaded for another capability).
    pub origin: &'static str,
    pub load_ms: f64,
}

pub struct LoadedCapability {
    pub name: String,
    pub model: Capability,
    pub warnings: Vec<Diagnostic>,
    /// None when no exposed operation is handled by a component.
    pub sandbox: Option<Arc<Sandbox>>,
    /// The built-in declarative engine, when some exposed operation is declarative.
    pub engine: Option<Arc<Sandbox>>,
    /// What the engine is told about each operation it runs.
    pub definitions: Definitions,
    pub outbound: Arc<Outbound>,
    pub component: Option<ComponentInfo>,
    /// Bind values, for checks the host makes itself (inbound authentication).
    pub secrets: Arc<ikanos_spec::binds::Secrets>,
    /// What the capability may read (environment, files): adapters and parameters that
    /// read either obey it as binds do.
    pub binds: BindPolicy,
    /// Script step governance (`management.scripting`, `/scripting` on the control port).
    pub scripting: Arc<crate::runtime::scripting::Governance>,
}

/// Why an exposed operation or tool cannot run here.
#[derive(Debug)]
pub enum Unrunnable {
    /// It is the component's, and no component is loaded.
    NoComponent,
}

/// What runs one exposed operation: the component, or the declarative engine with the
/// operation's definition.
pub struct Runner {
    sandbox: Arc<Sandbox>,
    definition: Option<Arc<str>>,
}

impl Runner {
    pub fn limits(&self) -> &Limits {
        self.sandbox.limits()
    }

    pub async fn invoke(
        &self,
        request_id: &str,
        traceparent: Option<&str>,
        request: InboundRequest,
    ) -> Result<InboundResponse, InvokeError> {
        self.sandbox
            .invoke_with(request_id, traceparent, request, self.definition.clone())
            .await
    }

    /// Does the component export `wasi:http/incoming-handler` (see [`Runner::invoke_http`])?
    pub fn serves_wasi_http(&self) -> bool {
        self.definition.is_none() && self.sandbox.serves_wasi_http()
    }

    /// Hand a standard `wasi:http` component an HTTP request.
    pub async fn invoke_http(
        &self,
        request_id: &str,
        traceparent: Option<&str>,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, InvokeError> {
        self.sandbox
            .invoke_http(request_id, traceparent, request)
            .await
    }

    /// As `invoke`, reporting progress (calls, steps, log lines) to `observer`.
    pub async fn invoke_observed(
        &self,
        request_id: &str,
        traceparent: Option<&str>,
        request: InboundRequest,
        observer: Option<crate::runtime::Observer>,
    ) -> Result<InboundResponse, InvokeError> {
        self.sandbox
            .invoke_observed(
                request_id,
                traceparent,
                request,
                self.definition.clone(),
                observer,
            )
            .await
    }
}

impl LoadedCapability {
    /// What runs operation, tool or resource `name` of adapter `namespace`, declared
    /// with `handler`.
    pub fn runner(
        &self,
        namespace: &str,
        name: &str,
        handler: &Handler,
    ) -> Result<Runner, Unrunnable> {
        if let (Some(definition), Some(engine)) =
            (self.definitions.get(namespace, name), &self.engine)
        {
            return Ok(Runner {
                sandbox: engine.clone(),
                definition: Some(definition),
            });
        }
        match (handler, &self.sandbox) {
            (Handler::Component, Some(s)) => Ok(Runner {
                sandbox: s.clone(),
                definition: None,
            }),
            _ => Err(Unrunnable::NoComponent),
        }
    }
}

/// A standard `wasi:http` component answers HTTP requests: the REST operations it
/// handles reach it as requests, an MCP tool has no request to hand it. Such a tool is
/// refused at its position rather than left to fail on every call.
fn refuse_tools_for_wasi_http(model: &Capability, component: &Path) -> Result<(), CapabilityError> {
    use ikanos_spec::model::Exposes;
    let tools = model.exposes.iter().flat_map(|e| match e {
        Exposes::Mcp(mcp) => mcp.tools.iter().collect::<Vec<_>>(),
        _ => Vec::new(),
    });
    let mut diagnostics = Diagnostics(Vec::new());
    for t in tools.filter(|t| t.handler == Handler::Component) {
        diagnostics.0.push(Diagnostic {
            file: t.name.file.clone(),
            pos: t.name.pos,
            severity: ikanos_spec::Severity::Error,
            message: format!(
                "MCP tool '{}' is left to the component, and {} is a wasi:http component (it exports wasi:http/incoming-handler, which only REST operations reach); give the tool a `call` or `steps`, or build the component for the ikanos:capability world",
                t.name.value,
                component.display()
            ),
        });
    }
    if diagnostics.0.is_empty() {
        Ok(())
    } else {
        Err(CapabilityError::Invalid(diagnostics))
    }
}

/// The capability's default name: `crm-sidecar.ikanos.yaml` → `crm-sidecar`.
pub fn default_name(file: &Path) -> String {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("capability");
    let mut stem = name;
    for suffix in [".yaml", ".yml", ".json"] {
        if let Some(s) = stem.strip_suffix(suffix) {
            stem = s;
            break;
        }
    }
    stem.strip_suffix(".ikanos").unwrap_or(stem).to_string()
}

/// A capability file's name: `NAME.ikanos.yaml` (or `.yml`), not hidden.
pub fn is_capability_name(n: &str) -> bool {
    !n.starts_with('.') && (n.ends_with(".ikanos.yaml") || n.ends_with(".ikanos.yml"))
}

/// A capability file: a regular file with a capability file's name.
pub fn is_capability_file(p: &Path) -> bool {
    p.is_file()
        && p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(is_capability_name)
}

/// Convention: `NAME.wasm` (or `NAME` with `-` as `_`, as cargo names it) beside the file.
pub(crate) fn component_candidates(file: &Path) -> Vec<PathBuf> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let name = default_name(file);
    let mut out = vec![dir.join(format!("{name}.wasm"))];
    let underscored = name.replace('-', "_");
    if underscored != name {
        out.push(dir.join(format!("{underscored}.wasm")));
    }
    out
}

/// The component a capability runs: `given`, else `NAME.wasm` beside the file when
/// an operation is the component's (a mock-only file needs none); a missing one that
/// an operation needs is an error naming where it looked.
pub(crate) fn find_component(
    file: &Path,
    model: &Capability,
    given: Option<&Path>,
) -> Result<Option<PathBuf>, CapabilityError> {
    if let Some(p) = given {
        return Ok(Some(p.to_path_buf()));
    }
    if !declarative::has_component_operations(model) {
        return Ok(None);
    }
    let candidates = component_candidates(file);
    match candidates.iter().find(|p| p.is_file()) {
        Some(p) => Ok(Some(p.clone())),
        None if declarative::needs_component(model) => Err(CapabilityError::NoComponent {
            file: file.display().to_string(),
            looked: candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }),
        None => Ok(None),
    }
}

/// Where a bind location points, for the confinement check: None for environment
/// binds and spellings the resolver refuses anyway.
pub(crate) fn bind_target(
    location: &str,
    declared_in: &Path,
    rebase: Option<&Rebase>,
) -> Option<PathBuf> {
    use ikanos_spec::location::{parse, Location};
    match parse(location, false).ok()? {
        Location::Relative(rel) => Some(Rebase::base_for(rebase, declared_in).join(rel)),
        Location::Absolute(abs) => Some(abs),
        Location::Env | Location::Other(_) => None,
    }
}

/// Is `path` inside `folder` (directly inside it when `flat`)? Both are resolved, so
/// `..` and symbolic links count for where they lead.
fn confined(path: &Path, folder: &Path, flat: bool) -> Result<(), String> {
    let folder = folder
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", folder.display()))?;
    let Ok(real) = path.canonicalize() else {
        // Missing: the resolver reports it (and reads nothing).
        return Ok(());
    };
    let inside = if flat {
        real.parent() == Some(folder.as_path())
    } else {
        real.starts_with(&folder)
    };
    if inside {
        Ok(())
    } else if flat {
        Err(format!(
            "{} is not directly in {}; a capability file in the shared folder reads only the files beside it (give it a folder of its own to keep more)",
            path.display(),
            folder.display()
        ))
    } else {
        Err(format!(
            "{} is outside the capability's folder {}; this host only lets a capability read its own files",
            path.display(),
            folder.display()
        ))
    }
}

/// Resolve the binds under `policy` (relative bind files read where `rebase` says); a
/// refusal names the bind and why.
pub fn resolve_binds(
    model: &Capability,
    policy: &BindPolicy,
    rebase: Option<&Rebase>,
) -> Result<ikanos_spec::binds::Secrets, CapabilityError> {
    let BindPolicy::Confined { env, folder, flat } = policy else {
        return ikanos_spec::binds::resolve_rebased(
            model,
            &|name| std::env::var(name).ok(),
            rebase,
        )
        .map_err(CapabilityError::Binds);
    };
    // A consumes entry imported from another tenant's file would use that tenant's
    // declarations (and whatever they point at) as this capability's own.
    for c in &model.consumes {
        confined(&c.base_uri.file, folder, *flat).map_err(|why| CapabilityError::BindRefused {
            file: c.base_uri.file.display().to_string(),
            pos: c.base_uri.pos.to_string(),
            namespace: c.namespace.value.clone(),
            reason: format!("consumes entry declared in a file this capability may not use: {why}"),
        })?;
    }
    for bind in &model.binds {
        let Some(loc) = &bind.location else { continue };
        let refused = |reason: String| CapabilityError::BindRefused {
            file: loc.file.display().to_string(),
            pos: loc.pos.to_string(),
            namespace: bind.namespace.value.clone(),
            reason,
        };
        // A bind imported from another tenant's file would read that tenant's secrets.
        confined(&loc.file, folder, *flat).map_err(|why| {
            refused(format!(
                "declared in a file this capability may not use: {why}"
            ))
        })?;
        if let Some(target) = bind_target(&loc.value, &loc.file, rebase) {
            // A rebased bind reads from the operator's folder for it, and only there.
            let (inside, flat) = match rebase {
                Some(r) => (r.to.as_path(), false),
                None => (folder.as_path(), *flat),
            };
            confined(&target, inside, flat)
                .map_err(|why| refused(format!("'{}': {why}", loc.value)))?;
        }
    }
    let granted = |name: &str| {
        env.iter()
            .any(|g| g == name)
            .then(|| std::env::var(name).ok())
            .flatten()
    };
    ikanos_spec::binds::resolve_rebased(model, &granted, rebase).map_err(|e| match e {
        ikanos_spec::binds::BindError::EnvNotSet { site, var, env: name }
            if !env.contains(&name) =>
        {
            CapabilityError::BindRefused {
                file: site.file.display().to_string(),
                pos: site.pos.to_string(),
                namespace: site.namespace.clone(),
                reason: format!(
                    "variable '{var}' reads environment variable '{name}', which the host configuration does not grant to this capability (capabilities.NAME.env)"
                ),
            }
        }
        other => CapabilityError::Binds(other),
    })
}

/// Read the `in: environment` consumed parameters under `policy`: any variable for a
/// trusted file, only the granted ones for a confined one (as binds).
pub fn resolve_environment(
    model: &Capability,
    policy: &BindPolicy,
) -> Result<crate::consumes::environment::ConsumedEnvironment, CapabilityError> {
    use crate::consumes::environment::{process_lookup, resolve};
    let granted = match policy {
        BindPolicy::Trusted => None,
        BindPolicy::Confined { env, .. } => Some(env.as_slice()),
    };
    resolve(&model.consumes, &process_lookup(granted)).map_err(CapabilityError::Environment)
}

/// Load everything a capability needs before it can serve.
#[allow(clippy::too_many_arguments)]
pub fn load(
    file: &Path,
    options: &CapabilityOptions,
    runtime: &Arc<Runtime>,
    cache: &ComponentCache,
    tunnels: &TunnelRegistry,
    metrics: &Arc<Metrics>,
    on_compile: impl FnOnce(&Path),
) -> Result<LoadedCapability, CapabilityError> {
    let loaded = ikanos_spec::load(file).map_err(CapabilityError::Invalid)?;
    let model = loaded.capability;
    let name = options.name.clone().unwrap_or_else(|| default_name(file));
    let secrets = Arc::new(resolve_binds(
        &model,
        &options.binds,
        options.bind_rebase.as_ref(),
    )?);
    let environment = resolve_environment(&model, &options.binds)?;

    let outbound = Arc::new(
        Outbound::new(
            &name,
            &model.consumes,
            secrets.clone(),
            &environment,
            &options.outbound,
            tunnels,
            metrics.clone(),
        )
        .map_err(CapabilityError::Outbound)?,
    );

    // A component answers the operations with no declarative handler; mocks too when
    // there is one (upstream answers them with the mock; so does the engine here when
    // there is no component).
    let component_path = find_component(file, &model, options.component.as_deref())?;
    // The engine and the component run under the same limits, outbound router and
    // metrics: each gets a sandbox of its own.
    let sandbox = |component| {
        Sandbox::new(
            runtime.clone(),
            component,
            options.limits.clone(),
            &name,
            outbound.clone(),
            metrics.clone(),
        )
        .map_err(CapabilityError::Limits)
    };
    let scripting = crate::runtime::scripting::Governance::new(model.scripting());
    let definitions = declarative::build(&model, component_path.is_some(), &scripting)
        .map_err(CapabilityError::Invalid)?;
    let engine = if definitions.is_empty() {
        None
    } else {
        let component = runtime
            .load_engine(cache)
            .map_err(CapabilityError::Component)?;
        let mut sandbox = sandbox(component)?;
        if definitions.has_scripts() {
            let interpreter = runtime
                .load_javascript(cache)
                .map_err(CapabilityError::Component)?;
            sandbox = sandbox.with_scripts(Arc::new(crate::runtime::scripting::Scripts {
                interpreter,
                governance: scripting.clone(),
            }));
        }
        Some(Arc::new(sandbox))
    };

    let (sandbox, component) = if let Some(path) = component_path {
        let component = runtime
            .load(&path, cache, || on_compile(&path))
            .map_err(CapabilityError::Component)?;
        let info = ComponentInfo {
            path: path.display().to_string(),
            sha256: component.sha256.clone(),
            origin: match component.origin {
                Origin::Cache => "cache",
                Origin::Compiled => "compiled",
                Origin::Shared => "shared",
            },
            load_ms: component.load_time.as_secs_f64() * 1000.0,
        };
        let sandbox = sandbox(component)?;
        if sandbox.serves_wasi_http() {
            refuse_tools_for_wasi_http(&model, &path)?;
        }
        (Some(Arc::new(sandbox)), Some(info))
    } else {
        (None, None)
    };

    Ok(LoadedCapability {
        name,
        model,
        warnings: loaded.warnings,
        sandbox,
        engine,
        definitions,
        outbound,
        component,
        secrets,
        binds: options.binds.clone(),
        scripting,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_component_candidates_follow_the_file_name() {
        assert_eq!(
            default_name(Path::new("a/crm-sidecar.ikanos.yaml")),
            "crm-sidecar"
        );
        assert_eq!(default_name(Path::new("hello.yml")), "hello");
        let c = component_candidates(Path::new("ex/crm-sidecar.ikanos.yaml"));
        assert_eq!(
            c,
            vec![
                PathBuf::from("ex/crm-sidecar.wasm"),
                PathBuf::from("ex/crm_sidecar.wasm")
            ]
        );
    }
}
