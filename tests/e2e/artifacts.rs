//! Capabilities that travel: `ikanos push`/`pull` against a real OCI registry (Debian's
//! docker-registry on loopback), `ikanos serve --from`/`capabilities.NAME.from` pulling,
//! checking and following a tag, and single-file capabilities (`ikanos pack`, `ikanos
//! run app.wasm`). Secrets never travel: every test that moves a capability checks the
//! registry's storage (or the bundle) for the bearer token.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::fixtures::TOKEN;
use crate::support::registry::Registry;
use crate::support::serve::ServeBuilder;
use crate::support::upstream::Upstream;
use crate::support::{components, example, get, write, HostBuilder};

/// The crm-sidecar example in `dir/crm-sidecar/` against `crm`, with its secrets, a
/// document, and an ignored build folder; its component stays outside (--component).
fn crm_folder(dir: &Path, crm: &str) -> PathBuf {
    let folder = dir.join("crm-sidecar");
    std::fs::create_dir_all(folder.join("docs")).unwrap();
    std::fs::create_dir_all(folder.join("build-output")).unwrap();
    example(
        &folder,
        "examples/crm-sidecar/crm-sidecar.ikanos.yaml",
        |s| s.replace("http://127.0.0.1:18081", crm),
    );
    write(
        &folder,
        "secrets.yaml",
        &format!("crm-bearer-token: \"{TOKEN}\"\n"),
    );
    write(&folder, "docs/notes.md", "Runbook: call the CRM.\n");
    write(&folder, "build-output/junk.bin", "not for the registry\n");
    write(&folder, ".ikanosignore", "build-output/\n");
    write(&folder, ".env", &format!("CRM_TOKEN={TOKEN}\n"));
    folder
}

/// A mock capability `hello` answering `{"message": MESSAGE}` (no component).
fn hello_folder(dir: &Path, message: &str) -> PathBuf {
    let folder = dir.join(format!("hello-{message}"));
    std::fs::create_dir_all(&folder).unwrap();
    write(
        &folder,
        "hello.ikanos.yaml",
        &format!(
            r#"ikanos: "1.0.0-beta5"
capability:
  exposes:
    - type: rest
      port: 0
      namespace: hello
      resources:
        greeting:
          path: "/hello"
          operations:
            greet:
              method: GET
              outputParameters:
                - type: object
                  properties:
                    message:
                      type: string
                      value: "{message}"
"#
        ),
    );
    folder
}

/// `ikanos ARGS` with the artifact store at `store`: exit code, stdout, stderr.
fn ikanos(store: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ikanos"))
        .args(args)
        .env("IKANOS_ARTIFACTS_DIR", store)
        .env_remove("IKANOS_REGISTRY_USERNAME")
        .output()
        .expect("running ikanos");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn push(store: &Path, folder: &Path, reference: &str, extra: &[&str]) -> String {
    let mut args = vec!["push", folder.to_str().unwrap(), reference];
    args.extend_from_slice(extra);
    let (code, out, err) = ikanos(store, &args);
    assert_eq!(code, 0, "push failed:\n{err}");
    let digest = out
        .rsplit_once('@')
        .expect("push prints REF@DIGEST")
        .1
        .to_string();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{out}");
    digest
}

fn crm_upstream() -> Upstream {
    Upstream::bearer()
}

fn assert_bearer_seen(upstream: &Upstream) {
    let seen = upstream.requests();
    assert!(!seen.is_empty());
    for r in &seen {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
    }
}

#[test]
fn a_capability_travels_through_a_registry_without_its_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let registry = Registry::start(dir.path());
    let upstream = crm_upstream();
    let folder = crm_folder(dir.path(), &upstream.base());
    let component = components().crm_sidecar.display().to_string();
    let reference = registry.reference("team/crm-sidecar:1.0");

    // A dry run lists what travels and contacts nobody.
    let (code, _, listing) = ikanos(
        &store,
        &[
            "push",
            folder.to_str().unwrap(),
            &reference,
            "--component",
            &component,
            "--dry-run",
        ],
    );
    assert_eq!(code, 0, "{listing}");
    for travels in [
        "crm-sidecar.ikanos.yaml",
        "crm-sidecar.wasm",
        "docs/notes.md",
    ] {
        assert!(
            listing.contains(travels),
            "{travels} missing from:\n{listing}"
        );
    }
    assert!(
        listing.contains("secrets.yaml (a bind reads it: secrets never travel)"),
        "{listing}"
    );
    assert!(
        !listing.contains("junk.bin") && !listing.contains(".env"),
        "{listing}"
    );
    assert!(!registry.stores("crm-sidecar"), "the dry run pushed");

    let digest = push(&store, &folder, &reference, &["--component", &component]);
    // The same files make the same digest: pushing again moves nothing.
    assert_eq!(
        push(&store, &folder, &reference, &["--component", &component]),
        digest
    );
    assert!(
        !registry.stores(TOKEN),
        "the bearer token reached the registry"
    );
    assert!(registry.stores("Runbook: call the CRM."));
    assert!(!registry.stores("not for the registry"));

    // Pulled into a folder: the files, not the secrets; the operator adds those.
    let pulled = dir.path().join("pulled");
    let (code, out, err) = ikanos(
        &store,
        &["pull", &reference, "--dir", pulled.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        registry.reference(&format!("team/crm-sidecar@{digest}"))
    );
    assert!(pulled.join("crm-sidecar.ikanos.yaml").is_file());
    assert!(pulled.join("docs/notes.md").is_file());
    assert_eq!(
        std::fs::read(pulled.join("crm-sidecar.wasm")).unwrap(),
        std::fs::read(&components().crm_sidecar).unwrap()
    );
    assert!(!pulled.join("secrets.yaml").exists() && !pulled.join(".env").exists());
    write(
        &pulled,
        "secrets.yaml",
        &format!("crm-bearer-token: \"{TOKEN}\"\n"),
    );

    // And it runs as it is, its component found where the host looks by default.
    let mut host = HostBuilder::new(pulled.join("crm-sidecar.ikanos.yaml"))
        .env("IKANOS_ARTIFACTS_DIR", store.to_str().unwrap())
        .start(1);
    let r = get(&format!("{}/customers/2", host.rest_url("crm-api")));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Grace Hopper"), "{}", r.body);
    assert_bearer_seen(&upstream);
    assert_eq!(host.terminate(Duration::from_secs(30)), Some(0));

    // Pinned by digest, the same artifact; a wrong digest is refused by name.
    let pinned = registry.reference(&format!("team/crm-sidecar@{digest}"));
    let (code, _, err) = ikanos(
        &store,
        &[
            "pull",
            &pinned,
            "--dir",
            dir.path().join("p2").to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let wrong = registry.reference(&format!("team/crm-sidecar@sha256:{}", "0".repeat(64)));
    let (code, _, err) = ikanos(
        &store,
        &[
            "pull",
            &wrong,
            "--dir",
            dir.path().join("p3").to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("team/crm-sidecar@sha256:000"), "{err}");
    assert!(!dir.path().join("p3").exists());
}

#[test]
fn push_refuses_what_would_not_run_at_the_far_end() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let upstream = crm_upstream();
    let folder = crm_folder(dir.path(), &upstream.base());
    let nowhere = "oci://127.0.0.1:9/x/y:1";
    // No component beside the file, none given.
    let (code, _, err) = ikanos(&store, &["push", folder.to_str().unwrap(), nowhere]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no component found") && err.contains("--component"),
        "{err}"
    );
    // A symbolic link, named.
    std::os::unix::fs::symlink("/etc/hostname", folder.join("host-name")).unwrap();
    let c = components().crm_sidecar.display().to_string();
    let (code, _, err) = ikanos(
        &store,
        &["push", folder.to_str().unwrap(), nowhere, "--component", &c],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("host-name") && err.contains("symbolic link"),
        "{err}"
    );
    std::fs::remove_file(folder.join("host-name")).unwrap();
    // A reference without a registry would mean Docker Hub: refused.
    let (code, _, err) = ikanos(
        &store,
        &[
            "push",
            folder.to_str().unwrap(),
            "oci://crm:1",
            "--component",
            &c,
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("name the registry"), "{err}");
}

/// Upload `data` as a blob of `repo` with the registry's own API (a hostile publisher).
fn raw_blob(registry: &Registry, repo: &str, data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(data)));
    let start = ureq::post(&format!(
        "http://{}/v2/{repo}/blobs/uploads/",
        registry.addr
    ))
    .send_empty()
    .expect("starting an upload");
    let location = start
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let location = if location.starts_with('/') {
        format!("http://{}{location}", registry.addr)
    } else {
        location
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    ureq::put(&format!("{location}{sep}digest={digest}"))
        .header("Content-Type", "application/octet-stream")
        .send(data)
        .expect("uploading a blob");
    digest
}

#[test]
fn an_artifact_that_would_write_outside_its_folder_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let registry = Registry::start(dir.path());
    let repo = "evil/hello";
    let capability =
        std::fs::read(hello_folder(dir.path(), "hi").join("hello.ikanos.yaml")).unwrap();
    let config = br#"{"name":"hello"}"#;
    let layer = |data: &[u8], media: &str, title: &str| {
        serde_json::json!({ "mediaType": media, "digest": raw_blob(&registry, repo, data), "size": data.len(),
            "annotations": { "org.opencontainers.image.title": title } })
    };
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.ikanos.capability.v1",
        "config": { "mediaType": "application/vnd.ikanos.capability.config.v1+json",
                    "digest": raw_blob(&registry, repo, config), "size": config.len() },
        "layers": [
            layer(&capability, "application/vnd.ikanos.capability.file.v1+yaml", "hello.ikanos.yaml"),
            layer(b"* * * * * root sh -c 'id > /tmp/owned'\n", "application/vnd.ikanos.capability.asset.v1", "../../cron.d/owned"),
        ]
    });
    ureq::put(&format!("http://{}/v2/{repo}/manifests/1", registry.addr))
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .send(serde_json::to_vec(&manifest).unwrap().as_slice())
        .expect("pushing the manifest");
    let target = dir.path().join("a/b/pulled");
    let (code, _, err) = ikanos(
        &store,
        &[
            "pull",
            &registry.reference("evil/hello:1"),
            "--dir",
            target.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("not an Ikanos capability") && err.contains("../../cron.d/owned"),
        "{err}"
    );
    assert!(!target.exists() && !dir.path().join("a/cron.d").exists());
    // Served, it fails with the reason and serves nothing.
    let serve = ServeBuilder::bare()
        .arg("--from")
        .arg(registry.reference("evil/hello:1"))
        .env("IKANOS_ARTIFACTS_DIR", store.to_str().unwrap())
        .start();
    let c = serve.capability("hello").expect("listed");
    assert_eq!(c["state"], "failed", "{c}");
    assert!(
        c["error"].as_str().unwrap().contains("plain relative path"),
        "{c}"
    );
    assert_eq!(
        get(&format!("{}/health/ready/hello", serve.control)).status,
        503
    );
}

#[test]
fn serve_from_a_registry_checks_follows_tags_and_keeps_binds_with_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let mut registry = Registry::start(dir.path());
    let upstream = crm_upstream();
    let crm = crm_folder(dir.path(), &upstream.base());
    let c = components().crm_sidecar.display().to_string();
    push(
        &store,
        &crm,
        &registry.reference("team/crm-sidecar:1"),
        &["--component", &c],
    );
    let v1 = push(
        &store,
        &hello_folder(dir.path(), "v1"),
        &registry.reference("team/hello:stable"),
        &[],
    );

    // The operator's bind files, in a folder of their own.
    let binds = dir.path().join("binds");
    std::fs::create_dir_all(binds.join("crm")).unwrap();
    write(
        &binds.join("crm"),
        "secrets.yaml",
        &format!("crm-bearer-token: \"{TOKEN}\"\n"),
    );
    let config = format!(
        "capabilities:\n  crm:\n    from: \"{}\"\n    binds: binds/crm\n  hello:\n    from: \"{}\"\n    refresh: 1s\n  hello-pinned:\n    from: \"{}\"\n",
        registry.reference("team/crm-sidecar:1"),
        registry.reference("team/hello:stable"),
        registry.reference(&format!("team/hello@{v1}")),
    );
    let serve_store = dir.path().join("serve-store");
    let mut serve = ServeBuilder::bare()
        .config(&dir.path().join("host.yaml"), &config)
        .env("IKANOS_ARTIFACTS_DIR", serve_store.to_str().unwrap())
        .start();
    let r = get(&serve.url("crm", "/customers/2"));
    assert_eq!(r.status, 200, "{}\n{}", r.body, serve.all_output());
    assert!(r.body.contains("Grace Hopper"));
    assert_bearer_seen(&upstream);
    let hello = serve.capability("hello").unwrap();
    assert_eq!(hello["digest"], v1.as_str(), "{hello}");
    assert_eq!(
        hello["from"],
        registry.reference("team/hello:stable").as_str()
    );
    assert!(get(&serve.url("hello", "/hello")).body.contains("v1"));

    // The tag moves: the new version serves within a refresh; the pinned one stays.
    let v2 = push(
        &store,
        &hello_folder(dir.path(), "v2"),
        &registry.reference("team/hello:stable"),
        &[],
    );
    assert_ne!(v1, v2);
    serve.wait_for("hello", "v2", |c| {
        c.is_some_and(|c| c["digest"] == v2.as_str())
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !get(&serve.url("hello", "/hello")).body.contains("v2") {
        assert!(
            Instant::now() < deadline,
            "v2 never answered:\n{}",
            serve.all_output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(get(&serve.url("hello-pinned", "/hello"))
        .body
        .contains("v1"));

    // The registry goes away: what runs keeps serving, and says why it is not checked.
    registry.stop();
    serve.wait_for("hello", "a pull error", |c| {
        c.is_some_and(|c| c["pullError"].is_string())
    });
    assert_eq!(get(&serve.url("hello", "/hello")).status, 200);
    assert_eq!(
        get(&format!("{}/health/ready/hello", serve.control)).status,
        200
    );
    serve.signal(libc::SIGTERM);
    assert_eq!(serve.wait_exit(Duration::from_secs(30)), Some(0));

    // A stored artifact edited on disk is not served: fetched again (registry back).
    let port = registry.addr.rsplit_once(':').unwrap().1.parse().unwrap();
    let _registry = Registry::start_at(dir.path(), port);
    let stored = serve_store
        .join(v2.replace(':', "-"))
        .join("hello.ikanos.yaml");
    let text = std::fs::read_to_string(&stored).unwrap();
    std::fs::write(&stored, text.replace("v2", "tampered")).unwrap();
    let serve = ServeBuilder::bare()
        .config(&dir.path().join("host.yaml"), &config)
        .env("IKANOS_ARTIFACTS_DIR", serve_store.to_str().unwrap())
        .start();
    let r = get(&serve.url("hello", "/hello"));
    assert!(
        r.body.contains("v2") && !r.body.contains("tampered"),
        "{}",
        r.body
    );
    assert!(serve.all_output().contains("changed on disk"));
    // The token appears nowhere the host shows.
    let status = get(&format!("{}/status", serve.control));
    assert!(!status.body.contains(TOKEN));
    assert!(!serve.all_output().contains(TOKEN));
}

#[test]
fn a_capability_is_never_pulled_from_a_registry_that_is_down_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let port = crate::support::free_port();
    let serve = ServeBuilder::bare()
        .arg("--from")
        .arg(format!("oci://127.0.0.1:{port}/team/hello:1"))
        .env("IKANOS_ARTIFACTS_DIR", store.to_str().unwrap())
        .start();
    let c = serve.capability("hello").expect("listed");
    assert_eq!(c["state"], "failed", "{c}");
    assert!(c["error"].as_str().unwrap().contains("cannot pull"), "{c}");
    assert_eq!(
        get(&format!("{}/health/ready/hello", serve.control)).status,
        503
    );
    // The host serves (its other tenants would), but not every capability is ready.
    assert_eq!(get(&format!("{}/health/ready", serve.control)).status, 200);
    assert_eq!(
        get(&format!("{}/health/ready?require=all", serve.control)).status,
        503
    );
    // Then the registry comes up with the capability: SIGHUP pulls and serves it.
    let registry = Registry::start_at(dir.path(), port);
    push(
        &store,
        &hello_folder(dir.path(), "late"),
        &registry.reference("team/hello:1"),
        &[],
    );
    serve.signal(libc::SIGHUP);
    serve.wait_for("hello", "ready", |c| c.is_some_and(|c| c["ready"] == true));
    assert!(get(&serve.url("hello", "/hello")).body.contains("late"));
    assert_eq!(
        get(&format!("{}/health/ready?require=all", serve.control)).status,
        200
    );
}

#[test]
fn a_single_file_capability_runs_with_its_bind_files_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let upstream = crm_upstream();
    let folder = crm_folder(dir.path(), &upstream.base());
    let c = components().crm_sidecar.display().to_string();
    let app = dir.path().join("dist/crm.ikanos.wasm");
    std::fs::create_dir_all(app.parent().unwrap()).unwrap();
    let (code, _, err) = ikanos(
        &store,
        &[
            "pack",
            folder.to_str().unwrap(),
            "-o",
            app.to_str().unwrap(),
            "--component",
            &c,
        ],
    );
    assert_eq!(code, 0, "{err}");
    let bytes = std::fs::read(&app).unwrap();
    assert!(
        !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
        "the token was packed"
    );
    assert!(bytes.windows(17).any(|w| w == b"ikanos:capability"));

    // Without its bind file beside it, it says which file is missing.
    let (code, _, err) = ikanos(
        &store,
        &["run", app.to_str().unwrap(), "--control", "127.0.0.1:0"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("secrets.yaml"), "{err}");

    write(
        app.parent().unwrap(),
        "secrets.yaml",
        &format!("crm-bearer-token: \"{TOKEN}\"\n"),
    );
    let mut host = HostBuilder::new(&app)
        .env("IKANOS_ARTIFACTS_DIR", store.to_str().unwrap())
        .start(1);
    let r = get(&format!("{}/customers/2", host.rest_url("crm-api")));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_bearer_seen(&upstream);
    let ready = get(&format!("{}/health/ready", host.control_url())).json();
    assert_eq!(ready["capability"], "crm-sidecar", "{ready}");
    assert_eq!(host.terminate(Duration::from_secs(30)), Some(0));

    // A plain component is not a capability; --component does not apply to a bundle.
    let (code, _, err) = ikanos(&store, &["run", &c]);
    assert_eq!(code, 1);
    assert!(
        err.contains("carries no capability file") && err.contains("ikanos pack"),
        "{err}"
    );
    let (code, _, err) = ikanos(&store, &["run", app.to_str().unwrap(), "--component", &c]);
    assert_eq!(code, 1);
    assert!(err.contains("--component does not apply"), "{err}");
}

#[test]
fn a_registry_that_wants_credentials_gets_them_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let registry = Registry::start_with_auth(dir.path(), "ikanos", "registry-pass-0123");
    let folder = hello_folder(dir.path(), "private");
    let reference = registry.reference("team/hello:1");
    let (code, _, err) = ikanos(&store, &["push", folder.to_str().unwrap(), &reference]);
    assert_eq!(code, 1);
    assert!(
        err.contains("IKANOS_REGISTRY_USERNAME and IKANOS_REGISTRY_PASSWORD"),
        "{err}"
    );
    let with = |password: &str, args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ikanos"))
            .args(args)
            .env("IKANOS_ARTIFACTS_DIR", &store)
            .env("IKANOS_REGISTRY_USERNAME", "ikanos")
            .env("IKANOS_REGISTRY_PASSWORD", password)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = with(
        "registry-pass-0123",
        &["push", folder.to_str().unwrap(), &reference],
    );
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = with(
        "wrong",
        &[
            "pull",
            &reference,
            "--dir",
            dir.path().join("p").to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("refused the credentials"), "{err}");
    assert!(!err.contains("wrong"), "the password was echoed: {err}");
    // serve --from with the credentials in its environment.
    let serve = ServeBuilder::bare()
        .arg("--from")
        .arg(&reference)
        .env(
            "IKANOS_ARTIFACTS_DIR",
            dir.path().join("serve-store").to_str().unwrap(),
        )
        .env("IKANOS_REGISTRY_USERNAME", "ikanos")
        .env("IKANOS_REGISTRY_PASSWORD", "registry-pass-0123")
        .start();
    assert!(get(&serve.url("hello", "/hello")).body.contains("private"));
    assert!(!serve.all_output().contains("registry-pass-0123"));
    assert!(!get(&format!("{}/status", serve.control))
        .body
        .contains("registry-pass-0123"));
}
