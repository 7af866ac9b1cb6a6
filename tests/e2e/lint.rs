//! `ikanos lint`: the real binary on the upstream Spectral fixtures and on small files.
//!
//! Owns: the command-level contract of `lint` — stdout lines, stderr summaries, exit
//! codes, `--all` — and that the binary prints the findings of `ikanos_spec::lint`,
//! whose verdicts host/spec/tests/spectral.rs compares with the real Spectral's.
//! Must not touch: rule edge cases (host/spec/tests/lint.rs and spectral.rs have those).
//! The expected verdicts on the three fixtures are upstream's (Spectral with
//! `ikanos-rules.yml`): bound → nothing, unbound → one error at the identity,
//! fallback-direct-public → one warning and nothing else (`https://crm.internal` is
//! no public TLD, and its identity is bound).

use std::path::{Path, PathBuf};

use crate::support::*;

const MUST_BIND: &str = "ikanos-tunnel-identity-must-bind";
const FALLBACK: &str = "ikanos-tunnel-fallback-direct-warns";
const PUBLIC: &str = "ikanos-tunnel-with-public-baseuri-warns";
const LITERAL: &str = "ikanos-tunnel-identity-literal-warns";

/// The upstream fixtures, or None (with the reason printed) when the shared corpus
/// is not beside the repository.
fn fixtures() -> Option<PathBuf> {
    let dir = repo_root().join("../shared/conformance/ikanos-samples");
    if dir.join("spectral-tunnel-identity-bound.yaml").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP: {} is absent (the shared conformance corpus is not part of the repository)",
            dir.display()
        );
        None
    }
}

fn lint(file: &Path) -> (i32, String, String) {
    run_cli(&["lint", file.to_str().expect("UTF-8 path")])
}

/// `line:col` of the value of the first `key:` in `file` (1-based, as lint prints).
fn value_pos(file: &Path, key: &str) -> String {
    let text = std::fs::read_to_string(file).expect("reading a fixture");
    let needle = format!("{key}:");
    for (i, line) in text.lines().enumerate() {
        if let Some(at) = line.find(&needle) {
            if line[..at].trim().is_empty() {
                let after = at + needle.len();
                let spaces = line[after..].len() - line[after..].trim_start().len();
                return format!("{}:{}", i + 1, after + spaces + 1);
            }
        }
    }
    panic!("no '{key}:' in {}", file.display());
}

#[test]
fn bound_identity_fixture_is_clean() {
    let Some(dir) = fixtures() else { return };
    let file = dir.join("spectral-tunnel-identity-bound.yaml");
    let (code, out, err) = lint(&file);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains(MUST_BIND), "{out}");
    assert_eq!(out, "", "upstream reports nothing for this fixture");
    assert_eq!(err.trim(), format!("{}: ok", file.display()));
}

#[test]
fn unbound_identity_fixture_is_exactly_one_error_at_the_identity() {
    let Some(dir) = fixtures() else { return };
    let file = dir.join("spectral-tunnel-identity-unbound.yaml");
    let (code, out, err) = lint(&file);
    assert_eq!(code, 1, "{out}{err}");
    let pos = value_pos(&file, "identity");
    assert_eq!(
        pos, "22:19",
        "the fixture's identity value (upstream reports 22:19)"
    );
    assert_eq!(
        out,
        format!(
            "{}:{pos}: error {MUST_BIND}: tunnel.identity must reference a declared binding. \
             tunnel.identity references binding namespace 'secrets' but no matching entry exists in 'binds' or 'capability.binds'.\n",
            file.display()
        )
    );
    assert!(err.contains("1 problem (1 error, 0 warnings"), "{err}");
}

#[test]
fn fallback_direct_public_fixture_is_exactly_the_fallback_warning() {
    let Some(dir) = fixtures() else { return };
    let file = dir.join("spectral-tunnel-fallback-direct-public.yaml");
    let (code, out, err) = lint(&file);
    assert_eq!(code, 0, "a warning does not fail lint: {out}{err}");
    // Upstream reports this rule at the baseUri; we point at the value to change.
    let pos = value_pos(&file, "fallback");
    assert_eq!(
        out,
        format!(
            "{}:{pos}: warning {FALLBACK}: 'tunnel.fallback: direct' on a non-loopback baseUri silently bypasses the tunnel \
             and may leak traffic. Use 'fail' unless the baseUri itself is private/loopback.\n",
            file.display()
        )
    );
    assert!(!out.contains(PUBLIC) && !out.contains(MUST_BIND), "{out}");
    assert!(
        err.contains("(0 errors, 1 warning, 0 infos, 0 hints)"),
        "{err}"
    );
}

/// A one-consumes capability; `tunnel` is inserted as written (may be empty).
fn capability(base_uri: &str, tunnel: &str) -> String {
    format!(
        r#"ikanos: "1.0.0-beta5"
info:
  display: Lint test
  description: Lint test
binds:
  - namespace: secrets
    keys:
      ZITI_IDENTITY: ziti-identity-path
capability:
  consumes:
    - type: http
      namespace: crm
      description: CRM
      baseUri: "{base_uri}"
{tunnel}      resources:
        ping:
          path: /ping
          operations:
            get-ping:
              method: GET
"#
    )
}

#[test]
fn a_literal_identity_path_warns() {
    let dir = tempfile::tempdir().unwrap();
    let tunnel = "      tunnel:\n        type: ziti\n        service: crm-api\n        identity: /etc/ziti/crm.json\n";
    let file = write(
        dir.path(),
        "literal.ikanos.yaml",
        &capability("https://crm.internal", tunnel),
    );
    let (code, out, err) = lint(&file);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out,
        format!(
            "{}:18:19: warning {LITERAL}: tunnel.identity '/etc/ziti/crm.json' is a literal path; identities must come \
             through binds: declare the path as a bind key and write '{{{{namespace.KEY}}}}'.\n",
            file.display()
        )
    );
    assert!(err.contains("(0 errors, 1 warning,"), "{err}");
}

#[test]
fn a_clean_file_without_tunnels_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // A public baseUri and no tunnel: the tunnel rules have nothing to say.
    let file = write(
        dir.path(),
        "clean.ikanos.yaml",
        &capability("https://api.example.com", ""),
    );
    let (code, out, err) = lint(&file);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out, "");
    assert_eq!(err.trim(), format!("{}: ok", file.display()));
}

#[test]
fn every_rule_at_once_sorted_by_position() {
    let dir = tempfile::tempdir().unwrap();
    let tunnel = "      tunnel:\n        type: ziti\n        service: crm-api\n        identity: \"{{vault.ID}}\"\n        fallback: direct\n";
    let file = write(
        dir.path(),
        "all.ikanos.yaml",
        &capability("https://api.example.com:8443/x", tunnel),
    );
    let (code, out, err) = lint(&file);
    assert_eq!(code, 1, "an error fails lint: {out}{err}");
    let got: Vec<String> = out
        .lines()
        .map(|l| {
            let rest = l.strip_prefix(&format!("{}:", file.display())).expect(l);
            // `line:col: severity rule: message` → `line:col: severity rule`
            let mut parts = rest.splitn(3, ": ");
            let pos = parts.next().unwrap_or_default();
            let what = parts.next().unwrap_or_default();
            format!("{pos}: {what}")
        })
        .collect();
    assert_eq!(
        got,
        vec![
            format!("14:16: info {PUBLIC}"),
            format!("18:19: error {MUST_BIND}"),
            format!("19:19: warning {FALLBACK}"),
        ]
    );
    assert!(
        err.contains("3 problems (1 error, 1 warning, 1 info, 0 hints)"),
        "{err}"
    );
}

#[test]
fn a_file_that_does_not_load_is_reported_and_still_linted() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        dir.path(),
        "good.ikanos.yaml",
        &capability("https://crm.internal", ""),
    );
    let bad = write(
        dir.path(),
        "bad.ikanos.yaml",
        &capability("ftp://crm.internal", ""),
    );
    let (code, out, err) = run_cli(&["lint", good.to_str().unwrap(), bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.starts_with(&format!("{}:14:16: error validate: ", bad.display())),
        "{out}"
    );
    assert!(out.lines().all(|l| l.contains(" validate: ")), "{out}");
    assert!(err.contains(&format!("{}: ok", good.display())), "{err}");
    assert!(
        err.contains(&format!(
            "{}: does not load: 1 error; lint: ok",
            bad.display()
        )),
        "{err}"
    );

    // Upstream's rules read the document as Spectral does, whatever the loader says.
    let worse = write(
        dir.path(),
        "worse.ikanos.yaml",
        &capability("ftp://crm.internal/", "").replace("      description: CRM\n", ""),
    );
    let (code, out, err) = lint(&worse);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains(" error validate: "), "{out}");
    assert!(
        out.contains(&format!(
            "{}:11:7: warning ikanos-consumes-description: Each `consumes` entry should have a `description` field.",
            worse.display()
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{}:13:16: warning ikanos-consumes-baseuri-no-trailing-slash: ",
            worse.display()
        )),
        "{out}"
    );
    assert!(
        err.contains("does not load: 1 error; lint: 2 problems (0 errors, 2 warnings"),
        "{err}"
    );

    let missing = dir.path().join("missing.ikanos.yaml");
    let (code, out, _) = lint(&missing);
    assert_eq!(code, 1);
    assert!(
        out.starts_with(&format!(
            "{}: error validate: cannot read",
            missing.display()
        )),
        "{out}"
    );
}

#[test]
fn help_names_every_rule() {
    let (code, out, err) = run_cli(&["lint", "--help"]);
    assert_eq!(code, 0, "{err}");
    for rule in [MUST_BIND, FALLBACK, PUBLIC, LITERAL] {
        assert!(out.contains(rule), "--help does not name {rule}:\n{out}");
    }
    for rule in ikanos_spec::lint::RULES {
        assert!(
            out.contains(rule.name),
            "--help does not name {}:\n{out}",
            rule.name
        );
    }
    assert!(out.contains("--all"), "{out}");
    assert!(out.contains("Exit status"), "{out}");
    let (code, _, _) = run_cli(&["lint"]);
    assert_eq!(code, 2, "files are required");
}

/// `ikanos lint` on every sample at once, with and without `--all`: its lines for
/// upstream's rules are exactly `ikanos_spec::lint::document`'s findings, the ones the
/// differential test holds equal to Spectral's verdicts.
#[test]
fn the_binary_prints_the_findings_of_the_rules_on_every_sample() {
    use ikanos_spec::lint::{self as rules, RuleSet};
    let Some(dir) = fixtures() else { return };
    let mut files: Vec<PathBuf> = Vec::new();
    for d in [dir.clone(), dir.join("shared")] {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            if (n.ends_with(".yml") || n.ends_with(".yaml"))
                && n != "ikanos-rules.yml"
                && n != "secrets.yaml"
            {
                files.push(p);
            }
        }
    }
    files.sort();
    let upstream: Vec<&str> = rules::RULES
        .iter()
        .filter(|r| r.upstream)
        .map(|r| r.name)
        .collect();
    for (flag, set) in [(None, RuleSet::Recommended), (Some("--all"), RuleSet::All)] {
        let mut args: Vec<String> = vec!["lint".into()];
        args.extend(flag.map(String::from));
        args.extend(files.iter().map(|f| f.display().to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (_, out, err) = run_cli(&args);
        let printed: Vec<&str> = out
            .lines()
            .filter(|l| upstream.iter().any(|r| l.contains(&format!(" {r}: "))))
            .collect();
        let mut expected = Vec::new();
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            let root = ikanos_spec::yaml::parse(&text).unwrap().root;
            for finding in rules::document(f, &root, set) {
                if upstream.contains(&finding.rule) {
                    expected.push(finding.to_string());
                }
            }
        }
        assert_eq!(printed, expected, "{flag:?}\n{err}");
        assert!(!expected.is_empty());
        assert_eq!(
            err.lines().count(),
            files.len(),
            "one summary per file:\n{err}"
        );
    }
}

#[test]
fn all_adds_the_rules_upstream_does_not_recommend() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "example.ikanos.yaml",
        &capability("https://api.example.com", ""),
    );
    let (code, out, err) = run_cli(&["lint", file.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    let (code, out, err) = run_cli(&["lint", "--all", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let f = file.display();
    assert_eq!(
        out,
        format!(
            "{f}:2:1: info ikanos-info-tags: The `info.tags` array should be present and non-empty.\n\
             {f}:14:16: warning ikanos-baseuri-not-example: The `consumes.baseUri` should not point to example.com.\n"
        )
    );
    assert!(
        err.contains("2 problems (0 errors, 1 warning, 1 info, 0 hints)"),
        "{err}"
    );
}
