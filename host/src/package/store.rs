//! The content-addressed store of capabilities that arrived as files: pulled artifacts
//! (`sha256-HEX/`, the manifest's digest) and unpacked bundles (`bundle-HEX/`, the
//! `.wasm` file's digest).
//!
//! A folder is written under a temporary name and renamed into place, so a reader sees
//! a whole capability or none. Each holds `.ikanos-files.json` (every file's path,
//! size and sha256) and is checked against it before it is used again: a store folder
//! someone edited is refused and fetched again, never served.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{PackageError, PackedFile};

const INDEX: &str = ".ikanos-files.json";

/// Where pulled and unpacked capabilities are kept: `$IKANOS_ARTIFACTS_DIR`, else
/// `artifacts` beside the compiled-component cache (`~/.cache/ikanos/artifacts`).
pub fn store_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("IKANOS_ARTIFACTS_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("IKANOS_CACHE_DIR") {
        return PathBuf::from(d).join("artifacts");
    }
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("ikanos")
        .join("artifacts")
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Is `path` a relative, `/`-separated path with no empty, `.` or `..` segment, and no
/// hidden segment (a file that travels is never hidden)?
pub(crate) fn safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path.len() <= 1024
        && path.split('/').all(|seg| {
            !seg.is_empty()
                && !seg.starts_with('.')
                && !seg.contains('\\')
                && !seg.chars().any(char::is_control)
        })
}

/// The files of a stored folder (relative paths), as its index lists them.
pub fn listed(folder: &Path) -> Vec<String> {
    std::fs::read(folder.join(INDEX))
        .ok()
        .and_then(|i| serde_json::from_slice::<BTreeMap<String, (u64, String)>>(&i).ok())
        .map(|m| m.into_keys().collect())
        .unwrap_or_default()
}

/// `store/key/` when it is there and whole.
pub(crate) fn existing(store: &Path, key: &str) -> Option<PathBuf> {
    let folder = store.join(key);
    let index = std::fs::read(folder.join(INDEX)).ok()?;
    let index: BTreeMap<String, (u64, String)> = serde_json::from_slice(&index).ok()?;
    for (path, (size, sha)) in &index {
        let data = std::fs::read(folder.join(path)).ok()?;
        if data.len() as u64 != *size || sha256_hex(&data) != *sha {
            tracing::warn!(folder = %folder.display(), file = %path, "a stored capability's file changed on disk: fetching it again");
            return None;
        }
    }
    Some(folder)
}

/// Write `files` as `store/key/` (replacing a damaged one), atomically.
pub(crate) fn put(store: &Path, key: &str, files: &[PackedFile]) -> Result<PathBuf, PackageError> {
    std::fs::create_dir_all(store).map_err(|e| PackageError::io(store, e))?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{key}-"))
        .tempdir_in(store)
        .map_err(|e| PackageError::io(store, e))?;
    let mut index = BTreeMap::new();
    for f in files {
        let to = staging.path().join(&f.path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| PackageError::io(parent, e))?;
        }
        std::fs::write(&to, &f.data).map_err(|e| PackageError::io(&to, e))?;
        index.insert(f.path.clone(), (f.data.len() as u64, sha256_hex(&f.data)));
    }
    let index_path = staging.path().join(INDEX);
    std::fs::write(
        &index_path,
        serde_json::to_vec(&index).expect("a map of strings serializes"),
    )
    .map_err(|e| PackageError::io(&index_path, e))?;
    let folder = store.join(key);
    if folder.exists() {
        // Damaged (else `existing` would have found it): set it aside, then drop it.
        let aside = store.join(format!(".{key}-damaged-{}", uuid::Uuid::new_v4()));
        std::fs::rename(&folder, &aside).map_err(|e| PackageError::io(&folder, e))?;
        let _ = std::fs::remove_dir_all(&aside);
    }
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, &folder) {
        let _ = std::fs::remove_dir_all(&staged);
        // Another process stored the same content at the same time: theirs is as good.
        if let Some(f) = existing(store, key) {
            return Ok(f);
        }
        return Err(PackageError::io(&folder, e));
    }
    Ok(folder)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::FileKind;

    #[test]
    fn stored_folders_are_checked_before_reuse() {
        let store = tempfile::tempdir().unwrap();
        let files = vec![PackedFile {
            path: "a/b.yaml".into(),
            kind: FileKind::Asset,
            data: b"x: 1\n".to_vec(),
        }];
        let folder = put(store.path(), "k", &files).unwrap();
        assert_eq!(existing(store.path(), "k"), Some(folder.clone()));
        std::fs::write(folder.join("a/b.yaml"), "x: 2\n").unwrap();
        assert_eq!(existing(store.path(), "k"), None);
        let again = put(store.path(), "k", &files).unwrap();
        assert_eq!(std::fs::read(again.join("a/b.yaml")).unwrap(), b"x: 1\n");
    }

    #[test]
    fn only_plain_relative_paths_are_safe() {
        for ok in ["a.yaml", "dir/b.wasm", "x-y_z/1.txt"] {
            assert!(safe_relative(ok), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            ".env",
            "a/.git/x",
            "a\\b",
        ] {
            assert!(!safe_relative(bad), "{bad}");
        }
    }
}
