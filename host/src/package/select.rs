//! Which files of a capability folder travel.
//!
//! The rule: the capability file, its component (found as `ikanos run` finds it, or
//! given), and every other regular file under the capability file's folder, except
//! hidden entries, what `.ikanosignore` files leave out (gitignore syntax, read by the
//! `ignore` crate as ripgrep reads its ignore files), and — always, whatever the ignore
//! files say — every file a bind of the capability reads. A folder is what `ikanos serve
//! --dir` already treats as one capability (`NAME/` with its one capability file), so
//! what travels is what a host would read there, minus secrets.
//!
//! The selection is then proved: the capability file is loaded again from a copy of
//! exactly the selected files, so a capability that imports a file from outside its
//! folder, or needs a file an ignore pattern dropped, is refused here and not at the
//! far end.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::PackageError;
use crate::capability::{self, bind_target, default_name, find_component, CapabilityError};

/// What a travelling file is to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Capability,
    Component,
    Asset,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Capability => "capability",
            FileKind::Component => "component",
            FileKind::Asset => "file",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PackedFile {
    /// Relative to the capability file's folder, `/`-separated.
    pub path: String,
    pub kind: FileKind,
    pub data: Vec<u8>,
}

/// A capability's travelling files, capability file first, then the component, then
/// the rest by path.
#[derive(Debug, Clone)]
pub struct Packed {
    /// The capability's default name (its file name's stem).
    pub name: String,
    /// The file's `ikanos:` version.
    pub ikanos: String,
    pub files: Vec<PackedFile>,
    /// Files under the folder that stay behind, each with why (bind files).
    pub left_behind: Vec<(String, &'static str)>,
}

impl Packed {
    pub fn capability(&self) -> &PackedFile {
        &self.files[0]
    }

    pub fn component(&self) -> Option<&PackedFile> {
        self.files.iter().find(|f| f.kind == FileKind::Component)
    }
}

/// The capability file `path` names (a capability file, or a folder holding exactly one).
fn capability_file(path: &Path) -> Result<PathBuf, PackageError> {
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| PackageError::io(path, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| capability::is_capability_file(p))
        .collect();
    found.sort();
    match found.len() {
        0 => Err(PackageError::NoCapabilityFile(path.display().to_string())),
        1 => Ok(found.remove(0)),
        n => Err(PackageError::ManyCapabilityFiles(
            path.display().to_string(),
            n,
        )),
    }
}

fn relative(root: &Path, path: &Path) -> Result<String, PackageError> {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    parts
        .map(|p| p.join("/"))
        .ok_or_else(|| PackageError::NotUtf8(path.display().to_string()))
}

fn read(path: &Path) -> Result<Vec<u8>, PackageError> {
    std::fs::read(path).map_err(|e| PackageError::io(path, e))
}

/// Select the travelling files of the capability at `path` (a capability file or its
/// folder); `component` overrides where its component is.
pub fn select(path: &Path, component: Option<&Path>) -> Result<Packed, PackageError> {
    let file = capability_file(path)?;
    let loaded = ikanos_spec::load(&file).map_err(PackageError::Invalid)?;
    let model = loaded.capability;
    let root = ikanos_spec::location::base_dir(&file);
    let canonical = |p: &Path| p.canonicalize().map_err(|e| PackageError::io(p, e));
    let root_real = canonical(&root)?;
    let file_real = canonical(&file)?;

    // Files binds read: never packed, whatever else says so.
    let secrets: BTreeSet<PathBuf> = model
        .binds
        .iter()
        .filter_map(|b| b.location.as_ref())
        .filter_map(|loc| bind_target(&loc.value, &loc.file, None))
        .filter_map(|p| p.canonicalize().ok())
        .collect();

    let name = default_name(&file);
    let component_path = find_component(&file, &model, component).map_err(|e| match e {
        CapabilityError::NoComponent { file, looked } => PackageError::NoComponent { file, looked },
        other => PackageError::Bundle(file.display().to_string(), other.to_string()),
    })?;
    let component_real = component_path.as_deref().map(canonical).transpose()?;

    let mut files = vec![PackedFile {
        path: relative(&root_real, &file_real)?,
        kind: FileKind::Capability,
        data: read(&file)?,
    }];
    if let Some(c) = &component_path {
        // Stored where the host looks for it by default, so the pulled folder runs as is.
        files.push(PackedFile {
            path: format!("{name}.wasm"),
            kind: FileKind::Component,
            data: read(c)?,
        });
    }
    let mut left_behind = Vec::new();
    let walk = ignore::WalkBuilder::new(&root_real)
        .standard_filters(false)
        .hidden(true)
        .add_custom_ignore_filename(".ikanosignore")
        .follow_links(false)
        .sort_by_file_path(|a, b| a.cmp(b))
        .build();
    let mut assets = Vec::new();
    for entry in walk {
        let entry = entry.map_err(|e| PackageError::Io {
            path: root.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let path = entry.path();
        let Some(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            continue;
        }
        if kind.is_symlink() {
            return Err(PackageError::Symlink(path.display().to_string()));
        }
        if !kind.is_file() {
            continue;
        }
        let rel = relative(&root_real, path)?;
        if secrets.contains(path) {
            left_behind.push((rel, "a bind reads it: secrets never travel"));
            continue;
        }
        if path == file_real || Some(path) == component_real.as_deref() {
            continue;
        }
        if component_real.is_some() && rel == format!("{name}.wasm") {
            // Another file where the component goes: the given component wins.
            left_behind.push((rel, "the component given with --component takes its place"));
            continue;
        }
        assets.push(PackedFile {
            path: rel,
            kind: FileKind::Asset,
            data: read(path)?,
        });
    }
    files.extend(assets);
    prove_complete(&files, &name)?;
    Ok(Packed {
        name,
        ikanos: model.version.value.clone(),
        files,
        left_behind,
    })
}

/// Load the capability file again from a copy of just `files`.
fn prove_complete(files: &[PackedFile], name: &str) -> Result<(), PackageError> {
    let staging = tempfile::Builder::new()
        .prefix(&format!(".ikanos-pack-{name}-"))
        .tempdir()
        .map_err(|e| PackageError::io(std::env::temp_dir(), e))?;
    for f in files.iter().filter(|f| f.kind != FileKind::Component) {
        let to = staging.path().join(&f.path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| PackageError::io(parent, e))?;
        }
        std::fs::write(&to, &f.data).map_err(|e| PackageError::io(&to, e))?;
    }
    ikanos_spec::load(&staging.path().join(&files[0].path))
        .map(|_| ())
        .map_err(PackageError::Incomplete)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPABILITY: &str = r#"ikanos: "1.0.0-beta5"
binds:
  - namespace: secrets
    location: "file:///./secrets.yaml"
    keys:
      TOKEN: token
capability:
  exposes:
    - type: rest
      port: 8080
      namespace: x
      resources:
        r:
          path: "/r"
          operations:
            get:
              method: GET
              outputParameters:
                - type: string
                  value: "hi"
"#;

    fn folder() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("x.ikanos.yaml"), CAPABILITY).unwrap();
        std::fs::write(d.join("secrets.yaml"), "token: s3cret\n").unwrap();
        std::fs::write(d.join(".env"), "TOKEN=s3cret\n").unwrap();
        std::fs::create_dir_all(d.join("docs")).unwrap();
        std::fs::write(d.join("docs/readme.md"), "# x\n").unwrap();
        std::fs::create_dir_all(d.join("target")).unwrap();
        std::fs::write(d.join("target/big.bin"), "junk").unwrap();
        std::fs::write(d.join(".ikanosignore"), "target/\n").unwrap();
        dir
    }

    #[test]
    fn bind_files_hidden_files_and_ignored_files_stay_behind() {
        let dir = folder();
        let packed = select(dir.path(), None).unwrap();
        let paths: Vec<_> = packed.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["x.ikanos.yaml", "docs/readme.md"]);
        assert_eq!(packed.capability().kind, FileKind::Capability);
        assert_eq!(packed.left_behind.len(), 1);
        assert_eq!(packed.left_behind[0].0, "secrets.yaml");
        assert_eq!(packed.ikanos, "1.0.0-beta5");
        assert_eq!(packed.name, "x");
    }

    #[test]
    fn a_bind_file_is_never_packed_even_when_an_ignore_file_unignores_it() {
        let dir = folder();
        std::fs::write(dir.path().join(".ikanosignore"), "target/\n!secrets.yaml\n").unwrap();
        let packed = select(dir.path(), None).unwrap();
        assert!(packed.files.iter().all(|f| f.path != "secrets.yaml"));
        assert!(packed
            .files
            .iter()
            .all(|f| !String::from_utf8_lossy(&f.data).contains("s3cret")));
    }

    #[test]
    fn the_component_travels_under_the_default_name() {
        let dir = folder();
        let elsewhere = tempfile::tempdir().unwrap();
        let wasm = elsewhere.path().join("built.wasm");
        std::fs::write(&wasm, b"\0asm\x0d\0\x01\0").unwrap();
        let packed = select(&dir.path().join("x.ikanos.yaml"), Some(&wasm)).unwrap();
        let c = packed.component().unwrap();
        assert_eq!(c.path, "x.wasm");
        assert_eq!(packed.files[1].kind, FileKind::Component);
    }

    #[test]
    fn an_import_from_outside_the_folder_is_refused() {
        let outer = tempfile::tempdir().unwrap();
        let d = outer.path().join("cap");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(
            outer.path().join("shared.yml"),
            "ikanos: \"1.0.0-beta5\"\nconsumes:\n  - type: http\n    namespace: api\n    baseUri: \"http://127.0.0.1:1\"\n    resources: {}\n",
        )
        .unwrap();
        let text = CAPABILITY.replace(
            "capability:\n",
            "capability:\n  consumes:\n    - from: \"../shared.yml\"\n      import: api\n",
        );
        std::fs::write(d.join("x.ikanos.yaml"), text).unwrap();
        std::fs::write(d.join("secrets.yaml"), "token: s3cret\n").unwrap();
        match select(&d, None) {
            Err(PackageError::Incomplete(_)) | Err(PackageError::Invalid(_)) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_symlink_is_refused_by_name() {
        let dir = folder();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("passwd")).unwrap();
        let err = select(dir.path(), None).unwrap_err().to_string();
        assert!(
            err.contains("passwd") && err.contains("symbolic link"),
            "{err}"
        );
    }
}
