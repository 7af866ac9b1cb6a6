//! Watching the capabilities folder: any change under it (a file written, renamed,
//! removed; a folder added) leads, once the folder has been quiet for a moment, to one
//! `Hosting::reconcile`, which works out from file sizes and times what changed.
//!
//! Owns: the `notify` watcher and the debounce. Must not touch: deciding what to load
//! (that is `reconcile`'s, so the watch, SIGHUP and the admin API agree).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use super::Hosting;

/// How long the folder must be quiet before it is re-read: a copy of a large component
/// arrives as many writes.
const QUIET: Duration = Duration::from_millis(300);

/// Start watching `dir`; changes are applied until the returned watcher is dropped.
pub fn watch_dir(
    hosting: Arc<Hosting>,
    dir: &Path,
) -> Result<notify::RecommendedWatcher, notify::Error> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher =
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(e) if e.kind.is_access() => {}
            Ok(_) => {
                let _ = tx.send(());
            }
            Err(e) => tracing::warn!(error = %e, "watching the capabilities folder"),
        })?;
    watcher.watch(dir, RecursiveMode::Recursive)?;
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Wait for quiet: every further event restarts the wait.
            loop {
                match tokio::time::timeout(QUIET, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            tracing::debug!("capabilities folder changed");
            hosting.reconcile().await;
        }
    });
    Ok(watcher)
}
