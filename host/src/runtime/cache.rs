//! On-disk cache of compiled components, so that the second start is fast.
//!
//! Owns: the cache folder layout and atomic writes. Must not touch: anything but the
//! cache folder. A cache entry is named by the SHA-256 of the component bytes together
//! with the engine's compatibility hash (wasmtime version + compilation settings), so a
//! stale or foreign entry is never picked. Entries are native code that is mapped and
//! run: the folder is created private (0700) and only ever written by this process.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

pub struct ComponentCache {
    dir: Option<PathBuf>,
}

/// Where a component came from, for logs and `/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Cache,
    Compiled,
    /// Already loaded in this process for another capability: shared, not reloaded.
    Shared,
}

impl ComponentCache {
    /// `None` disables caching.
    pub fn new(dir: Option<PathBuf>) -> Self {
        ComponentCache { dir }
    }

    /// The default folder: `$IKANOS_CACHE_DIR`, else `$XDG_CACHE_HOME/ikanos/components`
    /// (`~/.cache/ikanos/components`).
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(d) = std::env::var_os("IKANOS_CACHE_DIR") {
            return Some(PathBuf::from(d));
        }
        dirs::cache_dir().map(|d| d.join("ikanos").join("components"))
    }

    fn entry_path(&self, engine: &Engine, wasm: &[u8]) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        engine
            .precompile_compatibility_hash()
            .hash(&mut engine_hash);
        let mut h = Sha256::new();
        h.update(engine_hash.finish().to_le_bytes());
        h.update(wasm);
        Some(dir.join(format!("{}.cwasm", hex::encode(h.finalize()))))
    }

    /// Load the compiled form of `wasm`, compiling (and caching) when needed.
    /// `on_compile` runs just before a (slow) compilation starts.
    pub fn load(
        &self,
        engine: &Engine,
        wasm: &[u8],
        on_compile: impl FnOnce(),
    ) -> wasmtime::Result<(Component, Origin)> {
        let entry = self.entry_path(engine, wasm);
        if let Some(path) = &entry {
            if path.is_file() {
                // SAFETY: the entry was written by `Component::serialize` of this same
                // engine configuration (its name carries the compatibility hash) into a
                // private folder; wasmtime also checks the header before mapping it.
                match unsafe { Component::deserialize_file(engine, path) } {
                    Ok(c) => return Ok((c, Origin::Cache)),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "ignoring unusable cache entry");
                        let _ = fs::remove_file(path);
                    }
                }
            }
        }
        on_compile();
        let component = Component::new(engine, wasm)?;
        if let Some(path) = &entry {
            if let Err(e) = store(path, &component) {
                tracing::warn!(path = %path.display(), error = %e, "could not write the component cache");
            }
        }
        Ok((component, Origin::Compiled))
    }
}

fn store(path: &Path, component: &Component) -> wasmtime::Result<()> {
    let dir = path.parent().expect("cache entries live in a folder");
    create_private_dir(dir)?;
    let bytes = component.serialize()?;
    let tmp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4()));
    let mut f = fs::File::create(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    {
        fs::create_dir_all(dir)
    }
}
