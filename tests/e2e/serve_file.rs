//! `ikanos serve` in upstream's forms: `ikanos serve FILE` serves one capability as
//! `ikanos run FILE` does, `ikanos serve` alone serves `ikanos.yaml` in the working
//! directory, and command lines that mix the one-file and multi-tenant forms are
//! refused with an error that names both.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::skill::{capability, skill_folder};
use crate::support::*;

fn serve_cmd(cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ikanos"));
    cmd.current_dir(cwd)
        .arg("serve")
        .args(args)
        .arg("--cache-dir")
        .arg(shared_cache_dir())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Start `ikanos serve ARGS` in `cwd` and return it with its skill adapter's address.
fn start(cwd: &Path, args: &[&str]) -> (Process, String) {
    let mut p = spawn_logged(&mut serve_cmd(cwd, args), "ikanos serve FILE");
    let addr = p.wait_for_start("ikanos serve FILE", |lines| {
        lines.iter().find_map(|l| {
            (l.contains("listening") && l.contains("adapter=\"skill\""))
                .then(|| l.split("addr=").nth(1))
                .flatten()
                .map(|a| a.split_whitespace().next().unwrap_or("").to_string())
        })
    });
    (p, addr)
}

#[test]
fn serve_file_serves_one_capability_like_run() {
    let dir = tempfile::tempdir().unwrap();
    skill_folder(dir.path());
    let file = write(
        dir.path(),
        "fleet.ikanos.yaml",
        &capability("file:///./skills/fleet-ops", ""),
    );
    // `ikanos run` options (here --control and --name) apply to the one-file form.
    let (p, addr) = start(
        dir.path(),
        &[
            file.to_str().unwrap(),
            "--control",
            "127.0.0.1:0",
            "--name",
            "fleet-one",
        ],
    );
    let r = get(&format!("http://{addr}/skills"));
    assert_eq!((r.status, r.json()["count"].as_u64()), (200, Some(2)));
    // The request's log line is written after its answer: wait for it.
    p.wait_for_log(Duration::from_secs(10), |l| {
        l.contains("capability=fleet-one")
    });
}

#[test]
fn serve_alone_serves_ikanos_yaml_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    skill_folder(dir.path());
    write(
        dir.path(),
        "ikanos.yaml",
        &capability("file:///./skills/fleet-ops", ""),
    );
    let (_p, addr) = start(dir.path(), &["--control", "127.0.0.1:0"]);
    let r = get(&format!("http://{addr}/skills/fleet-ops/contents/guide.md"));
    assert_eq!((r.status, r.body.as_str()), (200, "Plan the voyage.\n"));
}

#[test]
fn serve_says_which_form_was_meant() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, out) = output_of(&mut serve_cmd(&empty, &[]), "ikanos serve");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("error: nothing to serve: no FILE was given and there is no ikanos.yaml in the working directory"),
        "{out}"
    );
    let file = write(dir.path(), "x.ikanos.yaml", "ikanos: \"1.0.0-beta5\"\n");
    let f = file.to_str().unwrap();
    let d = empty.to_str().unwrap();
    let (code, out) = output_of(&mut serve_cmd(dir.path(), &[f, "--dir", d]), "serve");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("serves one capability (as `ikanos run FILE`), while --dir/--config host many (multi-tenant); give one form or the other"),
        "{out}"
    );
    let (code, out) = output_of(
        &mut serve_cmd(dir.path(), &[f, "--listen", "127.0.0.1:0"]),
        "serve",
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("--listen, --admin-token-file and --no-watch belong to the multi-tenant form (--dir/--config)"),
        "{out}"
    );
    let (code, out) = output_of(
        &mut serve_cmd(empty.as_path(), &["--listen", "127.0.0.1:0"]),
        "serve",
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("nothing to serve: give --dir"), "{out}");
}
