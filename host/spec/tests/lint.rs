//! `lint`: each tunnel rule fires, or stays quiet, on small inline documents.
//!
//! Owns: the rule-level tests of the tunnel rules of `ikanos_spec::lint`, including
//! the edges of the upstream patterns and this project's own rule, and of the entry
//! points (`document`, `imported`, `from_diagnostics`). The verdicts expected here were
//! checked against the upstream Spectral ruleset (`ikanos-rules.yml` with its custom
//! functions) on the same documents; positions differ only where noted (fallback: we
//! point at the value). Every upstream rule is compared with the real Spectral in
//! tests/spectral.rs.
//! Must not touch: the CLI (tests/e2e/lint.rs runs the binary).

use std::fs;
use std::path::Path;

use ikanos_spec::lint::{self, Finding, RuleSet, Severity};
use ikanos_spec::{load_str, yaml};

const FILE: &str = "t.ikanos.yaml";

/// A tunnelled capability; line numbers matter: baseUri is on line 14 (value at col
/// 16), identity on 18 (col 19), fallback on 19 (col 19).
fn doc(base_uri: &str, identity: &str, fallback: &str) -> String {
    format!(
        r#"ikanos: "1.0.0-beta5"
info:
  display: T
  description: T
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
      tunnel:
        type: ziti
        service: crm-api
        identity: "{identity}"
        fallback: {fallback}
      resources:
        ping:
          path: /ping
          operations:
            get-ping:
              method: GET
"#
    )
}

const BOUND: &str = "{{secrets.ZITI_IDENTITY}}";

const TUNNEL_RULES: [&str; 4] = [
    lint::IDENTITY_MUST_BIND,
    lint::FALLBACK_DIRECT_WARNS,
    lint::PUBLIC_BASEURI,
    lint::IDENTITY_LITERAL_WARNS,
];

/// The tunnel rules' findings for `text`, which must also load (these are documents
/// the host runs).
fn findings(text: &str) -> Vec<Finding> {
    if let Err(d) = load_str(Path::new(FILE), text) {
        panic!("the document must load:\n{d}\n---\n{text}");
    }
    let root = yaml::parse(text).expect("YAML").root;
    lint::document(Path::new(FILE), &root, RuleSet::Recommended)
        .into_iter()
        .filter(|f| TUNNEL_RULES.contains(&f.rule))
        .collect()
}

/// `(rule, line, col)` of every finding.
fn verdicts(text: &str) -> Vec<(&'static str, u32, u32)> {
    findings(text)
        .iter()
        .map(|f| (f.rule, f.pos.line, f.pos.col))
        .collect()
}

fn fires(text: &str, rule: &str) -> bool {
    findings(text).iter().any(|f| f.rule == rule)
}

// ----- ikanos-tunnel-identity-must-bind -----

#[test]
fn bound_identity_is_clean() {
    assert_eq!(
        verdicts(&doc("https://crm.internal", BOUND, "fail")),
        vec![]
    );
    // Spaces inside the braces are part of the upstream pattern.
    let spaced = doc(
        "https://crm.internal",
        "{{ secrets.ZITI_IDENTITY }}",
        "fail",
    );
    assert_eq!(verdicts(&spaced), vec![]);
}

#[test]
fn unbound_namespace_is_an_error_at_the_identity() {
    let f = findings(&doc(
        "https://crm.internal",
        "{{vault.ZITI_IDENTITY}}",
        "fail",
    ));
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].rule, lint::IDENTITY_MUST_BIND);
    assert_eq!(f[0].severity, Severity::Error);
    assert!(f[0].is_error());
    assert_eq!(
        f[0].to_string(),
        "t.ikanos.yaml:18:19: error ikanos-tunnel-identity-must-bind: tunnel.identity must reference a declared binding. \
         tunnel.identity references binding namespace 'vault' but no matching entry exists in 'binds' or 'capability.binds'."
    );
}

#[test]
fn bound_namespace_with_a_missing_key_is_an_error() {
    let f = findings(&doc(
        "https://crm.internal",
        "{{secrets.OTHER_KEY}}",
        "fail",
    ));
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].rule, f[0].pos.line, f[0].pos.col),
        (lint::IDENTITY_MUST_BIND, 18, 19)
    );
    assert!(
        f[0].message.ends_with("tunnel.identity references key 'OTHER_KEY' on binding 'secrets', but that key is not declared. Add it to binds[secrets].keys."),
        "{}",
        f[0].message
    );
}

#[test]
fn references_match_case_insensitively_but_names_compare_exactly() {
    // Upstream's pattern has the `i` flag: an upper-case namespace is still a reference,
    // and the lookup is exact, so it names no declared bind.
    let f = findings(&doc(
        "https://crm.internal",
        "{{SECRETS.ZITI_IDENTITY}}",
        "fail",
    ));
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].message.contains("namespace 'SECRETS'"),
        "{}",
        f[0].message
    );
    // Same for the key.
    let f = findings(&doc(
        "https://crm.internal",
        "{{secrets.ziti_identity}}",
        "fail",
    ));
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].message.contains("key 'ziti_identity'"),
        "{}",
        f[0].message
    );
}

#[test]
fn every_distinct_bad_reference_is_reported_once() {
    let id = "/{{vault.A}}/{{secrets.NOPE}}/{{vault.A}}/{{secrets.ZITI_IDENTITY}}";
    let f = findings(&doc("https://crm.internal", id, "fail"));
    let msgs: Vec<&str> = f.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(f.len(), 2, "{msgs:#?}");
    assert!(msgs.iter().any(|m| m.contains("namespace 'vault'")));
    assert!(msgs.iter().any(|m| m.contains("key 'NOPE'")));
    assert!(f.iter().all(|f| f.rule == lint::IDENTITY_MUST_BIND));
}

#[test]
fn what_upstream_does_not_read_as_a_reference_is_not_checked() {
    // `{{KEY}}` (flat), a dotted key and a non-ASCII letter that only Unicode case
    // folding would take for `k`: the upstream pattern finds no `{{ns.key}}` in them.
    for id in [
        "{{ZITI_IDENTITY}}",
        "{{secrets.ZITI.IDENTITY}}",
        "{{secrets.\u{212A}EY}}",
    ] {
        assert_eq!(lint::identity_refs(id), vec![], "{id}");
        assert_eq!(
            verdicts(&doc("https://crm.internal", id, "fail")),
            vec![],
            "{id}"
        );
    }
    // JavaScript's `\s` includes the no-break space.
    assert_eq!(
        lint::identity_refs("{{\u{a0}vault.K\u{a0}}}"),
        vec![("vault", "K")]
    );
    assert_eq!(
        lint::identity_refs("a{{x.Y}}b{{ p-q.R_S-t }}"),
        vec![("x", "Y"), ("p-q", "R_S-t")]
    );
}

// ----- ikanos-tunnel-identity-literal-warns (ours) -----

#[test]
fn literal_identity_path_warns() {
    let f = findings(&doc("https://crm.internal", "/etc/ziti/crm.json", "fail"));
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        f[0].to_string(),
        "t.ikanos.yaml:18:19: warning ikanos-tunnel-identity-literal-warns: tunnel.identity '/etc/ziti/crm.json' is a literal path; \
         identities must come through binds: declare the path as a bind key and write '{{namespace.KEY}}'."
    );
    assert!(!f[0].is_error());
}

#[test]
fn any_reference_makes_an_identity_not_literal() {
    for id in [
        BOUND,
        "{{ZITI_IDENTITY}}",
        "/ids/{{secrets.ZITI_IDENTITY}}.json",
    ] {
        assert!(
            !fires(
                &doc("https://crm.internal", id, "fail"),
                lint::IDENTITY_LITERAL_WARNS
            ),
            "{id}"
        );
    }
    // An unclosed or empty `{{` is text, not a reference.
    assert!(fires(
        &doc("https://crm.internal", "/ids/{{secrets", "fail"),
        lint::IDENTITY_LITERAL_WARNS
    ));
}

// ----- ikanos-tunnel-fallback-direct-warns -----

#[test]
fn direct_fallback_on_a_loopback_base_uri_is_quiet() {
    for base in [
        "http://127.0.0.1",
        "http://127.0.0.1:8080/api",
        "http://localhost",
        "http://localhost:8080",
        "https://localhost/x",
        "https://[::1]",
        "http://[::1]:9000/api",
    ] {
        assert_eq!(verdicts(&doc(base, BOUND, "direct")), vec![], "{base}");
    }
}

#[test]
fn direct_fallback_elsewhere_warns_at_the_fallback_value() {
    for base in [
        "https://crm.internal",
        "http://localhost.evil.test",
        "http://127.0.0.1.nip.test",
        "http://10.0.0.5:8080",
        // Judged as written, like upstream: `url` would normalise these to loopback.
        "http://LOCALHOST",
        "http://127.1",
        "http://[0:0:0:0:0:0:0:1]",
    ] {
        assert_eq!(
            verdicts(&doc(base, BOUND, "direct")),
            vec![(lint::FALLBACK_DIRECT_WARNS, 19, 19)],
            "{base}"
        );
    }
    let f = findings(&doc("https://crm.internal", BOUND, "direct"));
    assert_eq!(f[0].severity, Severity::Warn);
    assert_eq!(
        f[0].message,
        "'tunnel.fallback: direct' on a non-loopback baseUri silently bypasses the tunnel and may leak traffic. \
         Use 'fail' unless the baseUri itself is private/loopback."
    );
}

#[test]
fn fail_fallback_never_warns() {
    assert!(!fires(
        &doc("https://crm.internal", BOUND, "fail"),
        lint::FALLBACK_DIRECT_WARNS
    ));
    let no_fallback =
        doc("https://crm.internal", BOUND, "fail").replace("        fallback: fail\n", "");
    assert_eq!(verdicts(&no_fallback), vec![]);
}

// ----- ikanos-tunnel-with-public-baseuri-warns -----

#[test]
fn public_tld_base_uri_is_an_info_at_the_base_uri() {
    for base in [
        "https://api.example.com",
        "https://api.example.com:8443/x",
        "https://api.example.com/v1",
        "http://a.b.net",
        "https://x.org",
        "https://x.io",
        "https://x.co",
        "https://x.app",
        "https://x.dev",
        "https://x.cloud",
        "https://x.ai/",
    ] {
        assert_eq!(
            verdicts(&doc(base, BOUND, "fail")),
            vec![(lint::PUBLIC_BASEURI, 14, 16)],
            "{base}"
        );
    }
    let f = findings(&doc("https://api.example.com", BOUND, "fail"));
    assert_eq!(f[0].severity, Severity::Info);
    assert_eq!(
        f[0].to_string(),
        "t.ikanos.yaml:14:16: info ikanos-tunnel-with-public-baseuri-warns: Tunnel target uses a public TLD baseUri \
         — confirm the hostname truly resolves through the tunnel and not via public DNS."
    );
}

#[test]
fn other_base_uris_are_not_public() {
    for base in [
        "https://crm.internal",
        "https://crm.co.uk",
        "https://example.community",
        "https://x.dev.corp",
        "https://localhost:8443",
        "http://10.0.0.5",
        // Upstream's pattern is case-sensitive.
        "https://API.EXAMPLE.COM",
    ] {
        assert_eq!(verdicts(&doc(base, BOUND, "fail")), vec![], "{base}");
    }
}

#[test]
fn public_and_direct_together() {
    assert_eq!(
        verdicts(&doc("https://api.example.com:8443/x", BOUND, "direct")),
        vec![
            (lint::PUBLIC_BASEURI, 14, 16),
            (lint::FALLBACK_DIRECT_WARNS, 19, 19)
        ]
    );
}

// ----- scope -----

#[test]
fn consumes_without_a_tunnel_are_not_linted() {
    let text = doc("https://api.example.com", "/etc/id.json", "direct");
    let start = text.find("      tunnel:\n").expect("tunnel");
    let end = text.find("      resources:\n").expect("resources");
    let plain = format!("{}{}", &text[..start], &text[end..]);
    assert_eq!(verdicts(&plain), vec![]);
}

#[test]
fn imported_consumes_are_linted_in_their_own_file() {
    let shared = r#"ikanos: "1.0.0-beta5"
consumes:
  - namespace: crm
    type: http
    baseUri: https://crm.example.com
    tunnel:
      type: ziti
      service: crm-api
      identity: "{{vault.ID}}"
      fallback: direct
    resources:
      ping:
        path: /ping
        operations:
          get-ping:
            method: GET
"#;
    let cap = r#"ikanos: "1.0.0-beta5"
binds:
  - namespace: secrets
    keys:
      ZITI_IDENTITY: ziti-identity-path
capability:
  consumes:
    - import: crm
      from: ./shared/crm.yml
"#;
    let dir = tempfile::tempdir().expect("tempdir");
    fs::create_dir_all(dir.path().join("shared")).expect("mkdir");
    fs::write(dir.path().join("shared/crm.yml"), shared).expect("write");
    fs::write(dir.path().join("cap.yml"), cap).expect("write");
    let l = ikanos_spec::load(&dir.path().join("cap.yml")).unwrap_or_else(|d| panic!("{d}"));
    let f = lint::imported(&l.capability);
    let got: Vec<(String, &str, u32, u32)> = f
        .iter()
        .map(|f| {
            (
                f.file
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                f.rule,
                f.pos.line,
                f.pos.col,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("crm.yml".to_string(), lint::PUBLIC_BASEURI, 5, 14),
            ("crm.yml".to_string(), lint::IDENTITY_MUST_BIND, 9, 17),
            ("crm.yml".to_string(), lint::FALLBACK_DIRECT_WARNS, 10, 17),
        ]
    );
}

#[test]
fn load_diagnostics_become_validate_findings() {
    let broken = doc("ftp://crm.internal", BOUND, "fail");
    let d = load_str(Path::new(FILE), &broken).expect_err("ftp is refused");
    let f = lint::from_diagnostics(&d.0);
    assert!(!f.is_empty());
    assert!(f.iter().all(|f| f.rule == lint::VALIDATE));
    assert!(
        f.iter().any(|f| f.is_error()
            && f.to_string()
                .starts_with("t.ikanos.yaml:14:16: error validate: ")),
        "{f:#?}"
    );
}

#[test]
fn findings_come_sorted_by_position() {
    let text = doc("https://api.example.com", "{{vault.X}}", "direct");
    let f = findings(&text);
    let positions: Vec<(u32, u32)> = f.iter().map(|f| (f.pos.line, f.pos.col)).collect();
    let mut sorted = positions.clone();
    sorted.sort();
    assert_eq!(positions, sorted);
    assert_eq!(f.len(), 3);
}

#[test]
fn rules_table_names_every_rule() {
    let names: Vec<&str> = lint::RULES.iter().map(|r| r.name).collect();
    for rule in [
        lint::IDENTITY_MUST_BIND,
        lint::FALLBACK_DIRECT_WARNS,
        lint::PUBLIC_BASEURI,
        lint::IDENTITY_LITERAL_WARNS,
    ] {
        assert!(names.contains(&rule), "{rule}");
    }
    assert_eq!(names.len(), 34, "upstream's 33 and ours");
    let own: Vec<&str> = lint::RULES
        .iter()
        .filter(|r| !r.upstream)
        .map(|r| r.name)
        .collect();
    assert_eq!(own, vec![lint::IDENTITY_LITERAL_WARNS]);
}

#[test]
fn a_document_the_loader_refuses_is_still_linted() {
    // `ftp://` stops the load; Spectral still judges the document, and so do we.
    let text = doc("ftp://api.example.com/", "{{vault.X}}", "direct");
    assert!(load_str(Path::new(FILE), &text).is_err());
    let root = yaml::parse(&text).expect("YAML").root;
    let got: Vec<(&str, u32)> = lint::document(Path::new(FILE), &root, RuleSet::Recommended)
        .iter()
        .map(|f| (f.rule, f.pos.line))
        .collect();
    assert_eq!(
        got,
        vec![
            ("ikanos-consumes-baseuri-no-trailing-slash", 14),
            (lint::IDENTITY_MUST_BIND, 18),
            (lint::FALLBACK_DIRECT_WARNS, 19),
        ]
    );
}

#[test]
fn rules_marked_not_recommended_run_only_with_all() {
    let text = doc("https://api.example.com", BOUND, "fail");
    let root = yaml::parse(&text).expect("YAML").root;
    let rules = |set| -> Vec<&str> {
        lint::document(Path::new(FILE), &root, set)
            .iter()
            .map(|f| f.rule)
            .collect()
    };
    assert_eq!(rules(RuleSet::Recommended), vec![lint::PUBLIC_BASEURI]);
    assert_eq!(
        rules(RuleSet::All),
        vec![
            "ikanos-info-tags",
            "ikanos-baseuri-not-example",
            lint::PUBLIC_BASEURI
        ]
    );
}
