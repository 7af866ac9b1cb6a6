//! Upstream's JSON Schema over the public samples: each follows it, except the one
//! sample written for an older `ikanos` version, which is told exactly that.
//!
//! Owns: the schema's verdicts on files nobody on this project wrote. Must not touch:
//! the CLI (tests/e2e/validate.rs runs `ikanos validate`).

use std::path::{Path, PathBuf};

use ikanos_spec::{schema, yaml, Severity};

fn samples() -> Option<Vec<PathBuf>> {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/ikanos-samples");
    if !dir.is_dir() {
        eprintln!(
            "SKIP: {} is absent (the shared conformance corpus is not part of the repository)",
            dir.display()
        );
        return None;
    }
    let mut files = Vec::new();
    for d in [dir.clone(), dir.join("shared")] {
        for e in std::fs::read_dir(d).expect("corpus") {
            let p = e.expect("entry").path();
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            // secrets.yaml is a bind file, not an Ikanos document.
            if (name.ends_with(".yml") || name.ends_with(".yaml"))
                && name != "ikanos-rules.yml"
                && name != "secrets.yaml"
            {
                files.push(p);
            }
        }
    }
    files.sort();
    Some(files)
}

#[test]
fn every_sample_follows_the_schema_but_the_older_one() {
    let Some(files) = samples() else { return };
    assert!(
        files.len() >= 24,
        "expected the whole corpus, found {}",
        files.len()
    );
    let s = schema::for_version(None).expect("the embedded schema");
    for f in &files {
        let text = std::fs::read_to_string(f).expect("reading a sample");
        let root = yaml::parse(&text).expect("YAML").root;
        let got: Vec<String> = s
            .check(f, &root, Severity::Error)
            .iter()
            .map(|d| format!("{}:{}", d.pos, d.message))
            .collect();
        if f.ends_with("e2e-exposed-oauth2-capability.yml") {
            assert_eq!(
                got,
                vec![
                    "1:9:ikanos: must be \"1.0.0-beta5\" (upstream schema ikanos-schema.json)"
                        .to_string()
                ],
                "{}",
                f.display()
            );
        } else {
            assert!(got.is_empty(), "{}:\n{}", f.display(), got.join("\n"));
        }
    }
}
