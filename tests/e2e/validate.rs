//! `ikanos validate`: clean files pass, broken ones get `file:line:col: message`.

use crate::support::fixtures;
use crate::support::*;

#[test]
fn a_clean_file_passes() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixtures::hostile(dir.path(), "http://127.0.0.1:1");
    let (code, out, err) = run_cli(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains(": ok"), "{err}");
}

#[test]
fn every_problem_is_reported_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"ikanos: "1.0.0-beta5"
info:
  display: "Broken"
  description: "Several mistakes"
capability:
  consumes:
    - type: "http"
      namespace: "crm"
      baseUri: "ftp://crm.internal"
      authentication:
        type: "bearer"
        token: "{{secrets.TOKEN}}"
      resources:
        customer:
          path: "/customers/{{id}}"
          operations:
            get-customer:
              methd: "GET"
    - type: "http"
      namespace: "crm"
      baseUri: "https://crm.example.test"
      resources:
        ping:
          path: "/ping"
          operations:
            ping:
              method: "GET"
"#;
    let file = write(dir.path(), "broken.ikanos.yaml", text);
    let (code, out, _) = run_cli(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    let f = file.display().to_string();
    for (line, what) in [
        (9, "baseUri"),
        (12, "secrets"),
        (15, "id"),
        (18, "methd"),
        (20, "crm"),
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("{f}:{line}:")) && l.contains(what)),
            "expected a problem at line {line} mentioning '{what}' in:\n{out}"
        );
    }
}

#[test]
fn yaml_syntax_errors_point_at_the_spot() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "bad.yaml",
        "ikanos: \"1.0.0-beta5\"\ninfo:\n  display: [unclosed\n",
    );
    let (code, out, _) = run_cli(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.starts_with(&format!("{}:", file.display())), "{out}");
}

#[test]
fn the_public_conformance_samples_validate() {
    let dir = repo_root().join("../shared/conformance/ikanos-samples");
    if !dir.is_dir() {
        eprintln!(
            "SKIP: {} is absent (the shared conformance corpus is not part of the repository)",
            dir.display()
        );
        return;
    }
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            (n.ends_with(".yml") || n.ends_with(".yaml")) && n != "ikanos-rules.yml"
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "expected the whole corpus, found {}",
        files.len()
    );
    let args: Vec<String> = std::iter::once("validate".to_string())
        .chain(files.iter().map(|p| p.display().to_string()))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = run_cli(&args);
    assert_eq!(code, 0, "{out}{err}");
}

/// A capability this host runs but upstream's schema does not allow: an SSH tunnel.
fn ssh_capability(dir: &std::path::Path) -> std::path::PathBuf {
    write(
        dir,
        "ssh.ikanos.yaml",
        r#"ikanos: "1.0.0-beta5"
info:
  display: "SSH"
  description: "Over an SSH tunnel"
binds:
  - namespace: secrets
    keys:
      SSH_KEY: ssh-private-key
capability:
  consumes:
    - type: http
      namespace: crm
      description: "CRM"
      baseUri: "https://crm.internal"
      tunnel:
        type: ssh
        identity: "{{secrets.SSH_KEY}}"
        relay: "relay.example.net:22"
        user: "ikanos"
        target: "127.0.0.1:18080"
        hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHh5fVpL0vXG9Sa8n4lQXfKxG6YkYpJr0N8u6cVQd3mS relay"
      resources:
        ping:
          path: "/ping"
          operations:
            ping:
              method: "GET"
"#,
    )
}

#[test]
fn upstream_schema_violations_are_warnings_unless_strict() {
    let dir = tempfile::tempdir().unwrap();
    let file = ssh_capability(dir.path());
    let f = file.display().to_string();
    let (code, out, err) = run_cli(&["validate", &f]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!(
            "{f}:16:15: warning: capability.consumes[0].tunnel.type: must be \"ziti\" (upstream schema ikanos-schema.json)"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{f}:18:9: warning: capability.consumes[0].tunnel: key 'relay' is not allowed"
        )),
        "{out}"
    );
    assert!(err.contains(": ok ("), "{err}");
    assert!(
        err.contains("violations of upstream's schema ikanos-schema.json"),
        "{err}"
    );

    let (code, out, err) = run_cli(&["validate", "--strict-schema", &f]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(&format!(
            "{f}:16:15: capability.consumes[0].tunnel.type: must be \"ziti\""
        )),
        "{out}"
    );
}

#[test]
fn a_schema_version_is_taken_and_refused_as_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixtures::hostile(dir.path(), "http://127.0.0.1:1");
    let f = file.display().to_string();
    let (code, out, err) = run_cli(&["validate", &f, "9.9"]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(out, "");
    assert!(
        err.starts_with("Error: Schema ikanos-schema-v9.9.json is not supported"),
        "{err}"
    );
    // A second file is a file, not a version.
    let (code, out, err) = run_cli(&["validate", &f, &f]);
    assert_eq!(code, 0, "{out}{err}");
}
