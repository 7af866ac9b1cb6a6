//! `ikanos run`: load one capability, serve its adapters and the control port, and
//! drain on Ctrl-C / SIGTERM.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::signals::Signals;
use super::RunArgs;
use crate::capability::{self, CapabilityOptions, LoadedCapability};
use crate::consumes::{ClientSettings, OutboundSettings};
use crate::control::HostState;
use crate::exposes::{self, mcp, Adapter, HostKind, HttpAdapter};
use crate::runtime::{ComponentCache, Limits, PoolSettings, Runtime};
use crate::server::{self, Shutdown};
use crate::telemetry::{CapabilityLabels, Metrics};
use crate::tunnel::TunnelRegistry;

const DEFAULT_CONTROL: &str = "127.0.0.1:9090";

pub fn run(args: RunArgs) -> ExitCode {
    let process = args.process.clone();
    process.run(|signals| serve(args, signals))
}

fn parse_ca_bundles(items: &[String]) -> Result<HashMap<String, PathBuf>, String> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .filter(|(ns, path)| !ns.is_empty() && !path.is_empty())
                .map(|(ns, path)| (ns.to_string(), PathBuf::from(path)))
                .ok_or_else(|| format!("--ca-bundle '{item}': expected NAMESPACE=PATH"))
        })
        .collect()
}

fn options(args: &RunArgs) -> Result<CapabilityOptions, String> {
    let l = &args.limits;
    let limits = Limits {
        memory_bytes: l.memory_limit_mib << 20,
        cpu_time: l.cpu_limit,
        request_timeout: l.request_timeout,
        max_outbound_calls: l.max_outbound_calls,
        max_concurrency: l.max_concurrency.max(1),
        max_request_body: l.max_request_body,
        max_response_body: l.max_response_body,
        ..Limits::default()
    };
    let outbound = OutboundSettings {
        client: ClientSettings {
            connect_timeout: l.connect_timeout,
            system_roots: !args.no_system_roots,
            ..ClientSettings::default()
        },
        ca_bundles: parse_ca_bundles(&args.ca_bundles)?,
        request_timeout: l.upstream_timeout,
        max_response_body: l.max_response_body,
    };
    Ok(CapabilityOptions {
        component: args.component.clone(),
        limits,
        outbound,
        name: args.name.clone(),
        binds: capability::BindPolicy::Trusted,
        bind_rebase: None,
    })
}

/// The capability file to load: FILE itself, or the one a single-file capability
/// (`ikanos pack`) carries, unpacked to the store, with the `.wasm` as its component
/// and its relative bind files read beside the `.wasm`.
fn unpack_bundle(args: &RunArgs, options: &mut CapabilityOptions) -> Result<PathBuf, String> {
    use crate::package::bundle;
    if !bundle::is_bundle_path(&args.file) {
        return Ok(args.file.clone());
    }
    if args.component.is_some() {
        return Err(format!(
            "{} is a single-file capability: it is its own component, so --component does not apply",
            args.file.display()
        ));
    }
    let unpacked =
        bundle::unpack(&args.file, &crate::package::store_dir()).map_err(|e| e.to_string())?;
    tracing::info!(bundle = %args.file.display(), capability = %unpacked.file.display(), "unpacked a single-file capability");
    options.component = Some(unpacked.component.clone());
    options
        .name
        .get_or_insert_with(|| capability::default_name(&unpacked.file));
    options.bind_rebase = Some(ikanos_spec::binds::Rebase {
        from: unpacked.folder.clone(),
        to: ikanos_spec::location::base_dir(&args.file),
    });
    Ok(unpacked.file)
}

/// A spinner while a component compiles (only drawn on a terminal).
fn compile_progress(path: &Path) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(format!("compiling {}", path.display()));
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

async fn serve(args: RunArgs, mut signals: Signals) -> Result<(), String> {
    let mut options = options(&args)?;
    let file = unpack_bundle(&args, &mut options)?;
    let rebase = options.bind_rebase.clone();
    let metrics = Metrics::new();
    let wasm = Runtime::new(PoolSettings {
        max_instances: args.limits.max_instances,
        max_memory_bytes: PoolSettings::default()
            .max_memory_bytes
            .max(options.limits.memory_bytes),
    })
    .map_err(|e| format!("cannot set up the wasm engine: {e:#}"))?;
    let cache = ComponentCache::new(if args.no_cache {
        None
    } else {
        args.cache_dir.clone().or_else(ComponentCache::default_dir)
    });
    let tunnels = Arc::new(TunnelRegistry::builtin());

    let load = {
        let wasm = wasm.clone();
        let metrics = metrics.clone();
        let tunnels = tunnels.clone();
        // Compiling is CPU-bound: keep it off the async workers.
        tokio::task::spawn_blocking(move || {
            let mut bar = None;
            let result =
                capability::load(&file, &options, &wasm, &cache, &tunnels, &metrics, |path| {
                    tracing::info!(component = %path.display(), "compiling component");
                    bar = Some(compile_progress(path));
                });
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            result
        })
    };
    // A stop while the component compiles ends start-up cleanly: nothing is served yet.
    let loaded = tokio::select! {
        loaded = load => loaded
            .map_err(|e| format!("loading the capability panicked: {e}"))?
            .map_err(|e| e.to_string())?,
        _ = signals.stopped() => {
            tracing::info!("stopped during start-up");
            return Ok(());
        }
    };
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    if let Some(c) = &loaded.component {
        tracing::info!(component = %c.path, origin = c.origin, load_ms = format!("{:.1}", c.load_ms), "component ready");
    }
    let capability = Arc::new(loaded);
    // The file's observability settings take over from the host's before anything is
    // served, so the first request is traced as the file says.
    let local_traces = crate::control::traces::apply(&capability).await?;

    let shutdown = Shutdown::default();
    let mut tasks = Vec::new();
    let mut adapters = Vec::new();
    let mut stdio_loop = None;
    let drain = args.drain_timeout;
    for planned in exposes::build(&capability, &metrics, HostKind::Single, &[])? {
        let mut address = None;
        if let Ok(Adapter::McpStdio(server)) = &planned.adapter {
            if stdio_loop.is_some() {
                return Err(
                    "only one mcp adapter can use transport: stdio (there is one stdin)".into(),
                );
            }
            tracing::info!(adapter = planned.kind.as_str(), namespace = %planned.namespace, transport = "stdio", "serving MCP on stdin/stdout");
            stdio_loop = Some(tokio::spawn(mcp::stdio::serve(server.clone())));
        }
        let handler = planned.http().map(HttpAdapter::handler);
        if let (Some(handler), Some((host, port))) = (handler, &planned.listen) {
            let (listener, bound) = exposes::bind(&planned, host, *port)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(adapter = planned.kind.as_str(), namespace = %planned.namespace, addr = %bound, "listening");
            tasks.push(server::serve(
                format!("{}:{}", planned.kind.as_str(), planned.namespace),
                listener,
                handler,
                &shutdown,
                drain,
            ));
            address = Some(bound);
        }
        adapters.push(planned.status(address));
    }

    let control_addr = control_address(&args, &capability);
    let (host, port) =
        server::split_host_port(&control_addr).map_err(|e| format!("control {e}"))?;
    let (listener, bound) = server::bind(&host, port)
        .await
        .map_err(|e| format!("cannot listen on {control_addr} for the control port: {e}"))?;
    tracing::info!(adapter = "control", addr = %bound, "listening");
    let state = HostState::new(capability.clone(), adapters, metrics.clone(), local_traces)?;
    let labels = CapabilityLabels {
        capability: capability.name.clone(),
    };
    metrics.capability_active.get_or_create(&labels).set(1);
    for ns in capability.outbound.status().iter().filter(|s| !s.ready) {
        tracing::warn!(namespace = %ns.namespace, route = %ns.route, reason = ns.reason.as_deref().unwrap_or(""), "consumed namespace not ready: its calls fail closed");
    }
    // The control port drains last and quickly: it must answer while others drain.
    let control_shutdown = Shutdown::default();
    let control = server::serve(
        "control".into(),
        listener,
        state.clone().into_handler(),
        &control_shutdown,
        Duration::from_secs(1),
    );

    match stdio_loop {
        // An MCP client stops a stdio server by closing its stdin.
        Some(stdio) => tokio::select! {
            _ = signals.until_stopped(|| reload(&capability, rebase.as_ref())) => {}
            _ = stdio => tracing::info!("stdin closed: stopping"),
        },
        None => {
            signals
                .until_stopped(|| reload(&capability, rebase.as_ref()))
                .await
        }
    }
    tracing::info!(drain = ?drain, "shutting down: draining in-flight requests");
    state.start_draining();
    shutdown.trigger();
    for t in tasks {
        let _ = t.await;
    }
    metrics.capability_active.get_or_create(&labels).set(0);
    // Close overlay sessions only after in-flight requests have drained.
    for tunnel in tunnels.running() {
        tunnel.stop().await;
    }
    control_shutdown.trigger();
    let _ = control.await;
    tracing::info!("stopped");
    Ok(())
}

fn control_address(args: &RunArgs, capability: &LoadedCapability) -> String {
    if let Some(a) = &args.control {
        return a.clone();
    }
    if let Some(c) = crate::control::entry(&capability.model) {
        let host = c
            .address
            .as_ref()
            .map(|a| a.value.as_str())
            .unwrap_or("localhost");
        return format!("{host}:{}", c.port.value);
    }
    DEFAULT_CONTROL.to_string()
}

async fn reload(capability: &LoadedCapability, rebase: Option<&ikanos_spec::binds::Rebase>) {
    tracing::info!("SIGHUP: re-reading binds for tunnel identities");
    let model = &capability.model;
    match ikanos_spec::binds::resolve_rebased(model, &|name| std::env::var(name).ok(), rebase) {
        Err(e) => tracing::error!("reload failed, keeping the current identities: {e}"),
        Ok(secrets) => {
            for outcome in capability
                .outbound
                .reload_identities(&model.consumes, &secrets)
                .await
            {
                match outcome {
                    Ok(line) => tracing::info!("{line}"),
                    Err(line) => tracing::error!("{line}"),
                }
            }
        }
    }
}
