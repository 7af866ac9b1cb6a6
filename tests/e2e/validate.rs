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
