//! `ikanos serve`: host every capability of a folder and/or a host configuration in
//! one process, apply changes while running, and drain on Ctrl-C / SIGTERM.

use std::process::ExitCode;
use std::time::Duration;

use super::signals::Signals;
use super::ServeArgs;
use crate::hosting::{self, control, HostConfig, Hosting};
use crate::runtime::{ComponentCache, PoolSettings, Runtime};
use crate::server::{self, Shutdown};

pub fn run(args: ServeArgs) -> ExitCode {
    let process = args.process.clone();
    process.run(|signals| serve(args, signals))
}

/// The configuration file (if any) with the flags laid over it.
fn config(args: &ServeArgs) -> Result<HostConfig, String> {
    // A FILE reaches here only when the command line mixes the forms (the one-file
    // form is dispatched to `ikanos run` before): say which is which.
    if let Some(file) = &args.file {
        return Err(if args.dir.is_some() || args.config.is_some() {
            format!("`ikanos serve {}` serves one capability (as `ikanos run FILE`), while --dir/--config host many (multi-tenant); give one form or the other", file.display())
        } else {
            format!("`ikanos serve {}` serves one capability and takes the options of `ikanos run`; --listen, --admin-token-file and --no-watch belong to the multi-tenant form (--dir/--config)", file.display())
        });
    }
    let mut config = match &args.config {
        Some(path) => HostConfig::load(path).map_err(|e| e.to_string())?,
        None => HostConfig::default(),
    };
    if let Some(d) = &args.dir {
        config.dir = Some(d.clone());
    }
    for text in &args.from {
        let reference: crate::package::oci::ArtifactRef =
            text.parse().map_err(|e| format!("--from: {e}"))?;
        let name = reference.name().to_string();
        hosting::check_name(&name).map_err(|e| format!("--from {text}: {e}"))?;
        let entry = config.capabilities.entry(name.clone()).or_default();
        if entry.file.is_some() || entry.from.is_some() {
            return Err(format!(
                "--from {text}: the configuration already names a capability '{name}'"
            ));
        }
        entry.from = Some(reference);
        entry.binds = args.binds.as_ref().map(|d| d.join(&name));
    }
    if args.binds.is_some() && args.from.is_empty() {
        return Err(
            "--binds is where the bind files of --from capabilities are; give --from too".into(),
        );
    }
    if let Some(l) = &args.listen {
        server::split_host_port(l).map_err(|e| format!("--listen: {e}"))?;
        config.listen = Some(l.clone());
    }
    if let Some(c) = &args.control {
        server::split_host_port(c).map_err(|e| format!("--control: {e}"))?;
        config.control = c.clone();
    }
    if let Some(path) = &args.admin_token_file {
        let token = std::fs::read_to_string(path)
            .map_err(|e| format!("--admin-token-file {}: {e}", path.display()))?;
        let token = hosting::config::admin_token(&token)
            .map_err(|e| format!("--admin-token-file {}: {e}", path.display()))?;
        config.admin_token = Some(token);
    }
    if args.no_watch {
        config.watch = false;
    }
    if let Some(d) = args.drain_timeout {
        config.drain_timeout = d;
    }
    if config.dir.is_none()
        && !config
            .capabilities
            .values()
            .any(|c| c.file.is_some() || c.from.is_some())
    {
        return Err("nothing to serve: give --dir or --from, or a --config with capabilitiesDir, capabilities.NAME.file or capabilities.NAME.from (multi-tenant), or a capability FILE (`ikanos serve FILE`, one capability as `ikanos run FILE`)".into());
    }
    if let Some(dir) = &config.dir {
        if !dir.is_dir() {
            return Err(format!(
                "the capabilities folder {} does not exist",
                dir.display()
            ));
        }
    }
    config.pool = PoolSettings {
        max_memory_bytes: config
            .pool
            .max_memory_bytes
            .max(config.largest_memory_limit()),
        ..config.pool
    };
    Ok(config)
}

async fn serve(args: ServeArgs, mut signals: Signals) -> Result<(), String> {
    let config = config(&args)?;
    let wasm = Runtime::new(config.pool.clone())
        .map_err(|e| format!("cannot set up the wasm engine: {e:#}"))?;
    let cache = ComponentCache::new(if args.no_cache {
        None
    } else {
        args.cache_dir.clone().or_else(ComponentCache::default_dir)
    });

    // The control port first, so that start-up can be watched.
    let (host, port) = server::split_host_port(&config.control)?;
    let (control_listener, control_bound) = server::bind(&host, port).await.map_err(|e| {
        format!(
            "cannot listen on {} for the control port: {e}",
            config.control
        )
    })?;
    let shared = match &config.listen {
        Some(addr) => {
            let (host, port) = server::split_host_port(addr)?;
            Some(
                server::bind(&host, port)
                    .await
                    .map_err(|e| format!("cannot listen on {addr} for the shared listener: {e}"))?,
            )
        }
        None => None,
    };
    if config.admin_token.is_none() {
        tracing::info!("no admin token configured: the admin API is off");
    }
    let hosting = Hosting::new(config, wasm, cache);
    let control_shutdown = Shutdown::default();
    let control_task = server::serve(
        "control".into(),
        control_listener,
        control::handler(hosting.clone()),
        &control_shutdown,
        Duration::from_secs(1),
    );
    tracing::info!(adapter = "control", addr = %control_bound, "listening");

    let started = std::time::Instant::now();
    hosting.pulls.refresh(&hosting.config, true).await;
    hosting.reconcile().await;
    let tenants = hosting.tenants();
    let failed = tenants.iter().filter(|t| t.serving().is_none()).count();
    tracing::info!(
        capabilities = tenants.len(),
        failed,
        components = hosting.runtime().shared_components(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "capabilities loaded"
    );

    let shutdown = Shutdown::default();
    let shared_task = shared.map(|(listener, bound)| {
        *hosting
            .shared_address
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(bound);
        tracing::info!(adapter = "shared", addr = %bound, "listening");
        server::serve(
            "shared".into(),
            listener,
            hosting::router_handler(hosting.clone()),
            &shutdown,
            hosting.config.drain_timeout,
        )
    });

    let _watcher = match (&hosting.config.dir, hosting.config.watch) {
        (Some(dir), true) => match hosting::watch_dir(hosting.clone(), dir) {
            Ok(w) => {
                tracing::info!(dir = %dir.display(), "watching the capabilities folder");
                Some(w)
            }
            Err(e) => {
                tracing::error!(dir = %dir.display(), error = %e, "cannot watch the capabilities folder; changes need SIGHUP or the admin API");
                None
            }
        },
        _ => None,
    };

    // Tags of capabilities from registries: checked every `refresh`, reloaded on a move.
    let refresher = hosting::pulls_tick(&hosting.config).map(|tick| {
        let hosting = hosting.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval.tick().await;
            loop {
                interval.tick().await;
                if hosting.pulls.refresh(&hosting.config, false).await {
                    hosting.reconcile().await;
                }
            }
        })
    });

    // Until Ctrl-C or SIGTERM; SIGHUP re-reads the folder and configuration files, and
    // checks every tag.
    signals
        .until_stopped(|| async {
            tracing::info!("SIGHUP: re-reading the capabilities");
            hosting.pulls.refresh(&hosting.config, true).await;
            hosting.reconcile().await;
        })
        .await;
    if let Some(r) = refresher {
        r.abort();
    }
    tracing::info!(drain = ?hosting.config.drain_timeout, "shutting down: draining in-flight requests");
    shutdown.trigger();
    tokio::join!(hosting.shut_down(), async {
        if let Some(t) = shared_task {
            let _ = t.await;
        }
    });
    hosting.close_all().await;
    control_shutdown.trigger();
    let _ = control_task.await;
    tracing::info!("stopped");
    Ok(())
}
