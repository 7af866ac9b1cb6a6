//! `ikanos push`, `ikanos pull` and `ikanos pack`: what a person sees of a capability
//! that travels (the file list, the digest), and exit codes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::package::{self, bundle, oci::ArtifactRef, oci::Registry, Packed};

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(1)
}

fn size(n: usize) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// The file list, as `npm pack` shows one: what travels and what stays.
fn show(packed: &Packed) {
    for f in &packed.files {
        eprintln!(
            "  {:<10} {:>10}  {}",
            f.kind.as_str(),
            size(f.data.len()),
            f.path
        );
    }
    for (path, why) in &packed.left_behind {
        eprintln!("  {:<10} {:>10}  {path} ({why})", "left out", "");
    }
    let total: usize = packed.files.iter().map(|f| f.data.len()).sum();
    eprintln!("  {} files, {}", packed.files.len(), size(total));
}

/// A small runtime for one registry exchange (the serving commands have their own).
fn block_on<F: std::future::Future>(f: F) -> Result<F::Output, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(|rt| rt.block_on(f))
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

pub fn push(path: &Path, reference: &str, component: Option<&Path>, dry_run: bool) -> ExitCode {
    let r: ArtifactRef = match reference.parse() {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let packed = match package::select(path, component) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    eprintln!("{} → {r}", packed.capability().path);
    show(&packed);
    if dry_run {
        return ExitCode::SUCCESS;
    }
    let registry = Registry::for_ref(&r);
    match block_on(registry.push(&packed, &r)) {
        Ok(Ok(digest)) => {
            println!("{}", r.at(&digest));
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => fail(e),
        Err(e) => fail(e),
    }
}

pub fn pull(reference: &str, dir: Option<&Path>) -> ExitCode {
    let r: ArtifactRef = match reference.parse() {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let dir = dir.map_or_else(|| PathBuf::from(r.name()), Path::to_path_buf);
    let registry = Registry::for_ref(&r);
    // Into the store first (checked, whole), then copied out.
    let stored = match block_on(registry.pull_to_store(&r, &package::store_dir())) {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return fail(e),
        Err(e) => return fail(e),
    };
    let files = package::listed(&stored.folder);
    // A file the capability's binds read is the operator's (a secret): an artifact that
    // carries one must not overwrite it.
    if let Ok(loaded) = ikanos_spec::load(&stored.file) {
        let binds: Vec<PathBuf> = loaded
            .capability
            .binds
            .iter()
            .filter_map(|b| b.location.as_ref())
            .filter_map(|l| crate::capability::bind_target(&l.value, &l.file, None))
            .collect();
        if let Some(f) = files
            .iter()
            .find(|f| binds.contains(&stored.folder.join(f)))
        {
            return fail(format!("{r}: the artifact carries {f}, which a bind of the capability reads; bind files are the operator's and never travel, so it is not written"));
        }
    }
    for f in &files {
        let (from, to) = (stored.folder.join(f), dir.join(f));
        let copied = to
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::copy(&from, &to));
        match copied {
            Ok(n) => eprintln!("  {:>10}  {f}", size(n as usize)),
            Err(e) => return fail(format!("{}: {e}", to.display())),
        }
    }
    eprintln!(
        "pulled into {}: ikanos run {}",
        dir.display(),
        dir.join(stored.file.file_name().unwrap_or_default())
            .display()
    );
    println!("{}", r.at(&stored.digest));
    ExitCode::SUCCESS
}

pub fn pack(path: &Path, output: Option<&Path>, component: Option<&Path>) -> ExitCode {
    let packed = match package::select(path, component) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let bytes = match bundle::pack(&packed) {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    let output = output.map_or_else(
        || PathBuf::from(format!("{}.ikanos.wasm", packed.name)),
        Path::to_path_buf,
    );
    show(&packed);
    if let Err(e) = std::fs::write(&output, &bytes) {
        return fail(format!("{}: {e}", output.display()));
    }
    eprintln!(
        "wrote {} ({}): ikanos run {}",
        output.display(),
        size(bytes.len()),
        output.display()
    );
    ExitCode::SUCCESS
}
