//! Capabilities that travel as files: an OCI artifact in a registry (`ikanos push`,
//! `ikanos pull`, `ikanos serve` with `from: oci://…`) and a single `.wasm` component
//! carrying its capability file in custom sections (`ikanos pack`, `ikanos run
//! app.wasm`).
//!
//! Owns: which files of a capability folder travel (never a file a bind reads), the
//! artifact's media types and annotations, talking to registries (through
//! `oci-client`), the content-addressed store of pulled and unpacked capabilities, and
//! the custom sections of a bundled component.
//! Must not touch: loading or serving a capability. A pulled or unpacked capability is
//! an ordinary folder handed to `capability::load`; its binds stay references to the
//! operator's files (`ikanos_spec::binds::Rebase`).

pub mod bundle;
pub mod oci;
mod select;
mod store;

use std::path::PathBuf;

use thiserror::Error;

pub use select::{select, FileKind, Packed, PackedFile};
pub use store::{listed, store_dir};

#[derive(Debug, Error)]
pub enum PackageError {
    #[error("{0}: no capability file (NAME.ikanos.yaml) in this folder")]
    NoCapabilityFile(String),
    #[error("{0}: {1} capability files; a capability folder holds exactly one")]
    ManyCapabilityFiles(String, usize),
    #[error("{0}")]
    Invalid(ikanos_spec::Diagnostics),
    #[error("{file}: no component found for the operations it exposes (looked for {looked}); build one or pass --component PATH")]
    NoComponent { file: String, looked: String },
    #[error("{0}: a symbolic link; the files of a capability travel as they are, so link targets are not followed (copy the file in, or list it in .ikanosignore)")]
    Symlink(String),
    #[error("{0}: the name is not UTF-8")]
    NotUtf8(String),
    #[error("the capability would not load from the files that travel (a file outside its folder, or one .ikanosignore leaves out?):\n{0}")]
    Incomplete(ikanos_spec::Diagnostics),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("'{0}' is not an OCI reference: {1}")]
    Reference(String, String),
    #[error("{reference}: {message}")]
    Registry { reference: String, message: String },
    #[error("{reference}: not an Ikanos capability: {why}")]
    NotACapability { reference: String, why: String },
    #[error("{reference}: digest mismatch: expected {expected}, got {actual}")]
    Digest {
        reference: String,
        expected: String,
        actual: String,
    },
    #[error("{0}: {1}")]
    Bundle(String, String),
}

impl PackageError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PackageError::Io {
            path: path.into().display().to_string(),
            source,
        }
    }
}
