//! Capabilities that come from registries (`capabilities.NAME.from: oci://…`, or
//! `ikanos serve --from`): pulled into the artifact store, their digests checked, and
//! their tags checked again every `refresh` for a new digest.
//!
//! Owns: the artifact each such capability runs now and the last pull problem; what
//! `discover` reports for it. Must not touch: loading — when a digest moves, the
//! registry's usual reconcile loads the new folder (a changed source) and retires the
//! old version after its in-flight requests, as for a changed file.
//!
//! A registry that cannot be reached keeps the current version serving (the problem is
//! logged and shown in `/status` as `last_error`); a capability never pulled yet is
//! `failed` with the reason until a pull works.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::config::{HostConfig, TenantPatch, DEFAULT_REFRESH};
use super::discovery::Source;
use crate::package::oci::{ArtifactRef, Registry, StoredArtifact};

#[derive(Default)]
struct Pulled {
    current: Option<StoredArtifact>,
    error: Option<String>,
    checked: Option<Instant>,
}

pub struct Pulls {
    store: PathBuf,
    state: Mutex<BTreeMap<String, Pulled>>,
    /// One client per registry (its connections and tokens are reused).
    clients: Mutex<HashMap<String, Arc<Registry>>>,
}

fn from_entries(
    config: &HostConfig,
) -> impl Iterator<Item = (&String, &TenantPatch, &ArtifactRef)> {
    config
        .capabilities
        .iter()
        .filter_map(|(name, patch)| patch.from.as_ref().map(|r| (name, patch, r)))
}

impl Pulls {
    pub fn new(store: PathBuf) -> Self {
        Pulls {
            store,
            state: Mutex::new(BTreeMap::new()),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// What `discover` reports for a `from` capability.
    pub fn source(&self, name: &str, patch: &TenantPatch) -> Result<Source, String> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let reference = patch
            .from
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        match state.get(name) {
            Some(Pulled {
                current: Some(a), ..
            }) => Ok(Source {
                file: a.file.clone(),
                folder: Some(a.folder.clone()),
                configured: true,
                binds: patch.binds.clone(),
            }),
            Some(Pulled {
                error: Some(why), ..
            }) => Err(format!("cannot pull {reference}: {why}")),
            _ => Err(format!("{reference}: not pulled yet")),
        }
    }

    /// The problem of the last check of `name`, while an older version serves.
    pub fn last_error(&self, name: &str) -> Option<String> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let p = state.get(name)?;
        p.current.as_ref()?;
        p.error.clone()
    }

    /// The digest `name` runs now.
    pub fn digest(&self, name: &str) -> Option<String> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.get(name)?.current.as_ref().map(|a| a.digest.clone())
    }

    fn client(&self, r: &ArtifactRef) -> Arc<Registry> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(r.registry().to_string())
            .or_insert_with(|| Arc::new(Registry::for_ref(r)))
            .clone()
    }

    /// Check the `from` capabilities that are due (every one when `all`: start-up and
    /// SIGHUP); true when one now runs another digest.
    pub async fn refresh(&self, config: &HostConfig, all: bool) -> bool {
        let mut changed = false;
        for (name, patch, reference) in from_entries(config) {
            let refresh = patch.refresh.unwrap_or(DEFAULT_REFRESH);
            let due = {
                let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                match state.get(name.as_str()) {
                    None => true,
                    // A digest never moves; a failed first pull is tried again.
                    Some(p) if p.current.is_some() && reference.digest().is_some() => false,
                    Some(p) if p.current.is_none() => true,
                    Some(_) if all => true,
                    Some(_) if refresh.is_zero() => false,
                    Some(p) => p.checked.is_none_or(|t| t.elapsed() >= refresh),
                }
            };
            if !due {
                continue;
            }
            let outcome = self
                .client(reference)
                .pull_to_store(reference, &self.store)
                .await;
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let entry = state.entry(name.clone()).or_default();
            entry.checked = Some(Instant::now());
            match outcome {
                Ok(artifact) => {
                    let before = entry.current.as_ref().map(|a| a.digest.clone());
                    if before.as_deref() != Some(artifact.digest.as_str()) {
                        tracing::info!(capability = %name, reference = %reference, digest = %artifact.digest, previous = before.as_deref().unwrap_or("none"), fetched = artifact.fetched, "pulled a capability");
                        changed = true;
                    }
                    entry.current = Some(artifact);
                    entry.error = None;
                }
                Err(e) => {
                    tracing::warn!(capability = %name, reference = %reference, error = %e, serving = entry.current.as_ref().map_or("nothing", |a| a.digest.as_str()), "cannot pull a capability");
                    entry.error = Some(e.to_string());
                }
            }
        }
        changed
    }

    /// How often the refresh loop wakes: the shortest `refresh` among the tags served
    /// (None: nothing to check).
    pub fn tick(config: &HostConfig) -> Option<Duration> {
        from_entries(config)
            .filter(|(_, _, r)| r.digest().is_none())
            .map(|(_, p, _)| p.refresh.unwrap_or(DEFAULT_REFRESH))
            .filter(|d| !d.is_zero())
            .min()
            .map(|d| d.max(Duration::from_secs(1)))
    }
}
