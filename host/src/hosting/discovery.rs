//! Where the capabilities of `ikanos serve` come from, and whether their files changed.
//!
//! Owns: capability names, the folder scan (`NAME.ikanos.yaml` files and `NAME/`
//! folders), and the fingerprint of a capability's files. Must not touch: loading
//! (`registry`) or the host configuration's meaning (`config`).

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use crate::capability::{self, is_capability_file};

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
    /// Where its relative bind files are when they are not in its folder (a capability
    /// pulled from a registry: its binds are the operator's files, here).
    pub binds: Option<PathBuf>,
}

/// `NAME.ikanos.yaml` (or `.yml`) directly in `dir`, and `dir/NAME/` folders holding
/// exactly one such file. Hidden entries are skipped (the admin API writes through
/// hidden temporary files).
pub(super) fn scan_dir(dir: &Path, found: &mut BTreeMap<String, Result<Source, String>>) {
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
                    binds: None,
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
                binds: None,
            });
            found.insert(name, source);
        }
    }
}

/// Sizes and modification times of the files a capability is made of: its file, its
/// component (configured or beside it), and for a folder capability every file in its
/// folder (binds, imports). Cheap enough to run over hundreds on every folder event.
pub(super) fn fingerprint(source: &Source, component: Option<&Path>) -> u64 {
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
    if let Some(binds) = &source.binds {
        add_folder(binds, &mut add);
    }
    match &source.folder {
        Some(folder) => add_folder(folder, &mut add),
        None => {
            for candidate in capability::component_candidates(&source.file) {
                add(&candidate);
            }
        }
    }
    h.finish()
}

/// Every file directly in `folder` but hidden ones, in order.
fn add_folder(folder: &Path, add: &mut impl FnMut(&Path)) {
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
