//! Builds the declarative engine (`host/engine`, a wasm component for wasm32-wasip2)
//! and its JavaScript interpreter for script steps (`host/engine/script-js`), and puts
//! them where `declarative` embeds them, so the `ikanos` binary carries both and every
//! declarative operation — scripts included — runs inside the sandbox like component
//! code.
//!
//! A nested cargo build into `target/engine` (shared by every profile of the host, so
//! it is built once), with the host build's own flags removed: they are for the host
//! target, not for wasm32-wasip2.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let engine = manifest_dir.join("engine");
    for watched in [
        engine.join("Cargo.toml"),
        engine.join("Cargo.lock"),
        engine.join("convert"),
        engine.join("flow"),
        engine.join("component"),
        engine.join("script-js"),
        root.join("wit"),
        root.join("guest-sdk/src"),
        root.join("guest-sdk/Cargo.toml"),
    ] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    println!("cargo:rerun-if-env-changed=IKANOS_ENGINE_CARGO");

    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|d| if d.is_absolute() { d } else { root.join(d) })
        .unwrap_or_else(|| root.join("target"))
        .join("engine");
    // IKANOS_ENGINE_CARGO names another toolchain's cargo for the engine: `cargo fuzz`
    // builds the host with nightly, which may not have the wasm32-wasip2 target.
    let other = std::env::var("IKANOS_ENGINE_CARGO").ok();
    let cargo = other
        .clone()
        .or_else(|| std::env::var("CARGO").ok())
        .unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    if other.is_some() {
        // The compiler cargo resolved for this build is the host toolchain's.
        for var in ["RUSTC", "RUSTDOC", "RUSTUP_TOOLCHAIN"] {
            cmd.env_remove(var);
        }
    }
    cmd.args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip2",
        "-p",
        "ikanos-engine",
        "-p",
        "ikanos-script-js",
    ])
    .arg("--manifest-path")
    .arg(engine.join("Cargo.toml"))
    .arg("--target-dir")
    .arg(&target_dir);
    if std::env::var_os("IKANOS_ENGINE_UNLOCKED").is_none() {
        cmd.arg("--locked");
    }
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_MAKEFLAGS",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_DIR",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().unwrap_or_else(|e| {
        panic!("cannot run cargo to build the declarative engine: {e}");
    });
    if !status.success() {
        panic!(
            "building the declarative engine (host/engine) for wasm32-wasip2 failed; \
             is the target installed? `rustup target add wasm32-wasip2` (scripts/setup does it)"
        );
    }
    for name in ["ikanos_engine.wasm", "ikanos_script_js.wasm"] {
        let built = target_dir.join("wasm32-wasip2/release").join(name);
        let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join(name);
        std::fs::copy(&built, &out)
            .unwrap_or_else(|e| panic!("cannot copy {}: {e}", built.display()));
    }
}
