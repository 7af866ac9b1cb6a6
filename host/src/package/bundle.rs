//! One file: a component that carries its capability file (and the capability's other
//! travelling files) in custom sections, run with `ikanos run app.wasm`.
//!
//! Sections, appended after the component's own: `ikanos:capability/PATH` holds the
//! capability file, `ikanos:file/PATH` each other file. A custom section changes
//! nothing the component does (wasmtime skips them), so the bundle is the component;
//! `wasm-tools` and `wasm-objdump` show the sections by name.
//!
//! Unpacking writes the files to the store (`bundle-SHA256/`, keyed by the whole
//! file's digest) and runs the `.wasm` itself as the component. Bind files stay beside
//! the `.wasm` (never packed).

use std::path::{Path, PathBuf};

use wasm_encoder::{ComponentSection, CustomSection};
use wasmparser::{Parser, Payload};

use super::store::{self, safe_relative, sha256_hex};
use super::{FileKind, PackageError, Packed, PackedFile};

pub const CAPABILITY_SECTION: &str = "ikanos:capability/";
pub const FILE_SECTION: &str = "ikanos:file/";

/// Is `path` named as a bundle (`*.wasm`)?
pub fn is_bundle_path(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "wasm")
}

/// The component of `packed` with its other files in custom sections.
pub fn pack(packed: &Packed) -> Result<Vec<u8>, PackageError> {
    let bad = |why: &str| PackageError::Bundle(packed.name.clone(), why.to_string());
    let component = packed
        .component()
        .ok_or_else(|| bad("a single-file capability needs a component; this one has none"))?;
    if !Parser::is_component(&component.data) {
        return Err(bad(
            "its component is a core module, not a component (build for wasm32-wasip2)",
        ));
    }
    if !sections(&component.data).map_err(|e| bad(&e))?.is_empty() {
        return Err(bad(
            "its component already carries a capability (a bundle of a bundle)",
        ));
    }
    let mut out = component.data.clone();
    for f in packed
        .files
        .iter()
        .filter(|f| f.kind != FileKind::Component)
    {
        let prefix = if f.kind == FileKind::Capability {
            CAPABILITY_SECTION
        } else {
            FILE_SECTION
        };
        CustomSection {
            name: format!("{prefix}{}", f.path).into(),
            data: (&f.data[..]).into(),
        }
        .append_to_component(&mut out);
    }
    Ok(out)
}

/// The `ikanos:` sections at the top level of a component, as files.
fn sections(wasm: &[u8]) -> Result<Vec<PackedFile>, String> {
    let mut depth = 0usize;
    let mut out = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| format!("not a valid component: {e}"))?;
        match payload {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::CustomSection(c) if depth == 0 => {
                let (kind, path) = if let Some(p) = c.name().strip_prefix(CAPABILITY_SECTION) {
                    (FileKind::Capability, p)
                } else if let Some(p) = c.name().strip_prefix(FILE_SECTION) {
                    (FileKind::Asset, p)
                } else {
                    continue;
                };
                if !safe_relative(path) {
                    return Err(format!(
                        "section '{}' names a path that is not a plain relative one",
                        c.name()
                    ));
                }
                if out.iter().any(|f: &PackedFile| f.path == path) {
                    return Err(format!("two sections name '{path}'"));
                }
                out.push(PackedFile {
                    path: path.to_string(),
                    kind,
                    data: c.data().to_vec(),
                });
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A bundle unpacked into the store.
#[derive(Debug, Clone)]
pub struct Unpacked {
    /// The capability file, in the store.
    pub file: PathBuf,
    pub folder: PathBuf,
    /// The `.wasm` itself: the component to run.
    pub component: PathBuf,
}

/// Unpack `wasm` (a bundle) into `store`.
pub fn unpack(wasm: &Path, store_dir: &Path) -> Result<Unpacked, PackageError> {
    let bad = |why: String| PackageError::Bundle(wasm.display().to_string(), why);
    let bytes = std::fs::read(wasm).map_err(|e| PackageError::io(wasm, e))?;
    if !Parser::is_component(&bytes) {
        return Err(bad("not a WebAssembly component".into()));
    }
    let mut files = sections(&bytes).map_err(bad)?;
    let capabilities = files
        .iter()
        .filter(|f| f.kind == FileKind::Capability)
        .count();
    if capabilities != 1 {
        return Err(bad(if capabilities == 0 {
            "carries no capability file (make one with `ikanos pack DIR`, or run a capability file with --component)".into()
        } else {
            format!("carries {capabilities} capability files; a bundle holds exactly one")
        }));
    }
    files.sort_by_key(|f| f.kind != FileKind::Capability);
    if files[0].path.contains('/') || !crate::capability::is_capability_name(&files[0].path) {
        return Err(bad(format!(
            "its capability file '{}' is not NAME.ikanos.yaml at the top",
            files[0].path
        )));
    }
    let key = format!("bundle-{}", sha256_hex(&bytes));
    let folder = match store::existing(store_dir, &key) {
        Some(f) => f,
        None => store::put(store_dir, &key, &files)?,
    };
    Ok(Unpacked {
        file: folder.join(&files[0].path),
        folder,
        component: wasm.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: the preamble alone.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    fn packed(component: &[u8]) -> Packed {
        Packed {
            name: "x".into(),
            ikanos: "1.0.0-beta5".into(),
            files: vec![
                PackedFile {
                    path: "x.ikanos.yaml".into(),
                    kind: FileKind::Capability,
                    data: b"ikanos: \"1.0.0-beta5\"\n".to_vec(),
                },
                PackedFile {
                    path: "x.wasm".into(),
                    kind: FileKind::Component,
                    data: component.to_vec(),
                },
                PackedFile {
                    path: "schemas/a.json".into(),
                    kind: FileKind::Asset,
                    data: b"{}".to_vec(),
                },
            ],
            left_behind: vec![],
        }
    }

    #[test]
    fn a_bundle_unpacks_to_the_files_it_was_made_of() {
        let bundle = pack(&packed(EMPTY_COMPONENT)).unwrap();
        assert!(Parser::is_component(&bundle));
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("x.wasm");
        std::fs::write(&wasm, &bundle).unwrap();
        let store = dir.path().join("store");
        let u = unpack(&wasm, &store).unwrap();
        assert_eq!(u.file.file_name().unwrap(), "x.ikanos.yaml");
        assert_eq!(
            std::fs::read(&u.file).unwrap(),
            b"ikanos: \"1.0.0-beta5\"\n"
        );
        assert_eq!(
            std::fs::read(u.folder.join("schemas/a.json")).unwrap(),
            b"{}"
        );
        assert_eq!(u.component, wasm);
        // Again: the same folder, from the store.
        assert_eq!(unpack(&wasm, &store).unwrap().folder, u.folder);
        // A bundle is not bundled twice.
        let mut p = packed(&bundle);
        p.name = "y".into();
        assert!(pack(&p)
            .unwrap_err()
            .to_string()
            .contains("bundle of a bundle"));
    }

    #[test]
    fn bad_bundles_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let plain = dir.path().join("plain.wasm");
        std::fs::write(&plain, EMPTY_COMPONENT).unwrap();
        assert!(unpack(&plain, &store)
            .unwrap_err()
            .to_string()
            .contains("carries no capability file"));
        let mut evil = EMPTY_COMPONENT.to_vec();
        CustomSection {
            name: "ikanos:capability/../../x.ikanos.yaml".into(),
            data: b"x".as_slice().into(),
        }
        .append_to_component(&mut evil);
        let evil_path = dir.path().join("evil.wasm");
        std::fs::write(&evil_path, evil).unwrap();
        assert!(unpack(&evil_path, &store)
            .unwrap_err()
            .to_string()
            .contains("plain relative"));
        let core = dir.path().join("core.wasm");
        std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
        assert!(unpack(&core, &store)
            .unwrap_err()
            .to_string()
            .contains("not a WebAssembly component"));
        assert!(pack(&packed(b"\0asm\x01\0\0\0"))
            .unwrap_err()
            .to_string()
            .contains("core module"));
    }
}
