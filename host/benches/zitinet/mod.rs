//! The OpenZiti test network of the end-to-end tests (tests/e2e/support/ziti), for the
//! Ziti benchmark, with the two helpers it expects of its parent module.
use std::path::PathBuf;

pub fn repo_root() -> PathBuf {
    super::common::repo_root()
}

#[path = "../../../tests/e2e/support/ziti/mod.rs"]
pub mod ziti;

#[path = "../../../tests/e2e/support/accept.rs"]
mod accept;
pub use accept::serve_on_thread;

pub mod rust_host;

/// Whether libziti (the openziti==0.6.0 wheel, which scripts/setup installs, or
/// `$IKANOS_LIBZITI`) is there for the benches that need it.
pub fn libziti_available() -> bool {
    ziti::libziti::wheel_dir()
        .join("openziti/lib/libziti.so")
        .is_file()
        || std::env::var_os("IKANOS_LIBZITI").is_some()
}
