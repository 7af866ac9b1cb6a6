//! The ports a hosted capability's file declares for its adapters.
//!
//! Owns: binding them (a replacement keeps its port; a moved port is rebound),
//! closing the ones a new version no longer declares, and draining them all at
//! shutdown. Each handler looks the capability up on every request (`router`), so a
//! replaced capability keeps its port and connections. Must not touch: the registry's
//! state or what a request means.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::registry::{Hosting, Serving};
use super::router;
use crate::exposes;
use crate::server::{self, Shutdown};

/// A listener on a port a capability's file declares; its handler looks the capability
/// up on every request, so a replaced capability keeps its port and connections.
pub(super) struct OwnListener {
    pub(super) declared: (String, u16),
    pub(super) bound: SocketAddr,
    pub(super) shutdown: Shutdown,
    pub(super) task: tokio::task::JoinHandle<()>,
}

impl Hosting {
    /// The address a capability's own adapter listens on.
    pub fn own_address(&self, name: &str, namespace: &str) -> Option<SocketAddr> {
        self.own
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(name.to_string(), namespace.to_string()))
            .map(|l| l.bound)
    }

    /// Bind the ports a capability's REST and HTTP MCP adapters declare, keeping a
    /// listener that is already there for the same declared address (a replacement
    /// keeps its port). An MCP entry without a port gets one from the OS.
    pub(super) async fn open_own_listeners(
        self: &Arc<Self>,
        name: &str,
        serving: &Arc<Serving>,
    ) -> Result<(), String> {
        if !serving.own_listeners {
            return Ok(());
        }
        for planned in &serving.adapters {
            let (Some(_), Some((address, port))) = (planned.http(), &planned.listen) else {
                continue;
            };
            let (address, port) = (address.clone(), *port);
            let kind = planned.kind.as_str();
            let namespace = planned.namespace.clone();
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
                match exposes::bind(planned, &address, port).await {
                    Err(e)
                        if moved
                            && attempt < 20
                            && e.source.kind() == std::io::ErrorKind::AddrInUse =>
                    {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    other => break other,
                }
            };
            let (listener, bound) = bound.map_err(|e| e.to_string())?;
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
    pub(super) fn close_stale_listeners(&self, name: &str, serving: Option<&Arc<Serving>>) {
        let keep: Vec<String> = match serving {
            Some(s) if s.own_listeners => s.adapters.iter().map(|a| a.namespace.clone()).collect(),
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
}
