//! Building wasm32-wasip2 components (the examples, the test guests) with cargo or a
//! project's `build` script; also mounted by the benchmarks.

use std::path::Path;
use std::process::Command;

/// `cargo build --release --target wasm32-wasip2` of the workspace at `manifest`.
pub fn cargo_build_wasm(manifest: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(manifest)
        // The outer `cargo test` sets these for the host build; the guest build has its own.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("running cargo to build the test components");
    assert!(status.success(), "building {} for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`)", manifest.display());
}

/// Run the `build` script of the component project in `dir` (a Python or JavaScript
/// example, a project made by `ikanos new`), which installs its pinned toolchain on
/// first use.
pub fn run_build_script(dir: &Path) {
    let status = Command::new(dir.join("build"))
        // The outer `cargo test` sets these for the host build; a project has its own.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .unwrap_or_else(|e| panic!("running {}/build: {e}", dir.display()));
    assert!(status.success(), "{}/build failed", dir.display());
}
