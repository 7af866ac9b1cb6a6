//! The container image (`Containerfile`, built by `scripts/image` from the static musl
//! binary of `scripts/release`; `scripts/test` builds it first): run with podman (runc,
//! the machine's ulimits, `--network host`, a read-only root), it serves the hello
//! example from a mounted folder as a user that is not root, and answers
//! `/health/ready` on its control port.

use std::process::Command;
use std::time::Duration;

use crate::support::*;

const IMAGE: &str = "localhost/ikanos:test";

fn podman(args: &[&str]) -> (bool, String) {
    let out = Command::new("podman")
        .args(args)
        .output()
        .expect("running podman (scripts/setup installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Stops and removes the container however the test ends.
struct Running(String);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = podman(&["rm", "--force", "--time", "5", &self.0]);
    }
}

#[test]
fn the_image_serves_a_mounted_capability_as_a_non_root_user() {
    if !podman(&["image", "exists", IMAGE]).0 {
        let status = Command::new(repo_root().join("scripts/image"))
            .arg(IMAGE)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .status()
            .expect("running scripts/image");
        assert!(status.success(), "scripts/image failed");
    }
    let (ok, user) = podman(&["image", "inspect", "--format", "{{.Config.User}}", IMAGE]);
    assert!(ok, "{user}");
    assert_eq!(
        user.trim(),
        "65532:65532",
        "the image runs as a non-root user"
    );

    let caps = tempfile::tempdir().unwrap();
    example(caps.path(), "examples/hello/hello.ikanos.yaml", |s| s);
    std::fs::copy(&components().hello, caps.path().join("hello.wasm")).unwrap();
    let (listen, control) = (free_port(), free_port());
    let name = format!("ikanos-e2e-{}", std::process::id());
    let mount = format!("{}:/capabilities:ro", caps.path().display());
    let (listen_at, control_at) = (
        format!("127.0.0.1:{listen}"),
        format!("127.0.0.1:{control}"),
    );
    let (ok, out) = podman(&[
        "run",
        "--detach",
        "--name",
        &name,
        "--runtime",
        "runc",
        "--network",
        "host",
        "--ulimit",
        "nofile=20000:20000",
        "--ulimit",
        "nproc=32768:32768",
        "--read-only",
        "--cap-drop",
        "all",
        "--security-opt",
        "no-new-privileges",
        "--tmpfs",
        "/cache:rw,mode=1777",
        "-v",
        &mount,
        IMAGE,
        "serve",
        "--dir",
        "/capabilities",
        "--listen",
        &listen_at,
        "--control",
        &control_at,
    ]);
    assert!(ok, "{out}");
    let _running = Running(name.clone());

    let Some(ready) = ready_at(&control_at, Duration::from_secs(120)) else {
        let (_, logs) = podman(&["logs", &name]);
        panic!("the container never became ready; its logs:\n{logs}");
    };
    assert!(ready.body.contains("\"UP\""), "{}", ready.body);
    assert_eq!(get(&format!("http://{control_at}/health/live")).status, 200);
    let r = get(&format!("http://{listen_at}/hello/hello/World"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["message"], "Hello, World!", "{}", r.body);

    // The process inside is not root (the user the image names).
    let (ok, top) = podman(&["top", &name, "user", "huser"]);
    assert!(ok, "{top}");
    assert!(
        top.lines()
            .skip(1)
            .all(|l| l.split_whitespace().next().is_none_or(|u| u != "root")),
        "{top}"
    );
}
