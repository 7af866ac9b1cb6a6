//! The Kubernetes manifests (`deploy/kubernetes/ikanos.yaml`): valid for Kubernetes
//! 1.37 by `kubernetes-validate --strict` (offline; scripts/setup installs it), their
//! pod hardened (non-root, read-only root, no capabilities, probes on the control
//! port), and the ConfigMap's capability served by the real `ikanos serve` with the
//! Deployment's own arguments (addresses made loopback ports).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::*;

/// The venv scripts/setup installs kubernetes-validate into.
fn tools() -> PathBuf {
    tools_dir().join("kubernetes-validate-1.37.0")
}

/// The manifests as JSON documents (read with the venv's PyYAML).
fn documents() -> Vec<serde_json::Value> {
    let manifest = repo_root().join("deploy/kubernetes/ikanos.yaml");
    let out = Command::new(tools().join("bin/python"))
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
        ])
        .arg(&manifest)
        .output()
        .expect("running the kubernetes-validate venv's python (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_kubernetes_manifests_validate_strictly() {
    let out = Command::new(tools().join("bin/kubernetes-validate"))
        .args(["--strict", "--kubernetes-version", "1.37"])
        .arg(repo_root().join("deploy/kubernetes/ikanos.yaml"))
        .output()
        .expect("running kubernetes-validate (scripts/setup installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    for kind in [
        "configmap",
        "secret",
        "deployment",
        "service",
        "poddisruptionbudget",
    ] {
        assert!(
            text.contains(&format!("passed for resource {kind}/")),
            "{text}"
        );
    }
}

#[test]
fn the_deployment_is_hardened_and_its_capability_serves() {
    let docs = documents();
    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(
        container["securityContext"]["capabilities"]["drop"][0],
        "ALL"
    );
    let readiness = container["readinessProbe"]["httpGet"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(readiness, "/health/ready?require=all");
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"],
        "/health/live"
    );
    assert_eq!(container["readinessProbe"]["httpGet"]["port"], "control");
    let control_port = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "control")
        .unwrap()["containerPort"]
        .as_u64()
        .unwrap();
    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/port"], control_port.to_string());
    assert!(docs.iter().any(|d| d["kind"] == "PodDisruptionBudget"));

    // The ConfigMap's files as the mounted folder, served with the Deployment's args.
    let folder = tempfile::tempdir().unwrap();
    let config = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    for (name, text) in config["data"].as_object().unwrap() {
        std::fs::write(folder.path().join(name), text.as_str().unwrap()).unwrap();
    }
    let (listen, control) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .map(|a| match a.as_str() {
            "/capabilities" => folder.path().display().to_string(),
            "0.0.0.0:8080" => listen.clone(),
            "0.0.0.0:9090" => control.clone(),
            _ => a,
        })
        .collect();
    let cache = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ikanos"))
        .args(&args)
        .arg("--cache-dir")
        .arg(cache.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = ready_at(&control, Duration::from_secs(60));
    let r = get(&format!("http://{listen}/hello/hello"));
    let probe = get(&format!("http://{control}{readiness}"));
    let _ = child.kill();
    let _ = child.wait();
    let ready = ready.expect("ikanos serve never became ready");
    assert!(ready.body.contains("\"UP\""), "{}", ready.body);
    assert_eq!(probe.status, 200, "the readiness probe: {}", probe.body);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Hello from ikanos"), "{}", r.body);
}
