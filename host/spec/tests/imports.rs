//! `{from, import, as}` entries: inlining, renaming, and errors placed in the right file.

use std::fs;
use std::path::Path;

use ikanos_spec::load;

const SHARED: &str = r#"ikanos: "1.0.0-beta5"
consumes:
  - namespace: registry
    type: http
    baseUri: https://registry.example.com
    authentication:
      type: bearer
      token: "{{REGISTRY_TOKEN}}"
    resources:
      ships:
        path: /ships
        operations:
          list-ships:
            method: GET
"#;

fn capability(import: &str) -> String {
    format!(
        r#"ikanos: "1.0.0-beta5"
binds:
  - namespace: env
    keys:
      REGISTRY_TOKEN: REGISTRY_TOKEN
capability:
  consumes:
{import}  exposes:
    - type: rest
      namespace: api
      port: 0
      resources:
        ships:
          path: /ships
          operations:
            list:
              method: GET
              call: fleet.list-ships
"#
    )
}

fn setup(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        let p = dir.path().join(name);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(p, text).expect("write");
    }
    dir
}

/// Diagnostics with the temp folder shown as `<dir>`.
fn errors(dir: &Path, file: &str) -> String {
    match load(&dir.join(file)) {
        Ok(_) => panic!("expected errors"),
        Err(d) => d.to_string().replace(&dir.display().to_string(), "<dir>"),
    }
}

#[test]
fn import_with_rename() {
    let cap =
        capability("    - import: registry\n      from: ./shared/registry.yml\n      as: fleet\n");
    let dir = setup(&[("cap.yml", &cap), ("shared/registry.yml", SHARED)]);
    let l = load(&dir.path().join("cap.yml")).unwrap_or_else(|d| panic!("{d}"));
    let c = &l.capability.consumes[0];
    assert_eq!(c.namespace.value, "fleet");
    // The renamed namespace points at the `as:` in the capability; the rest at the shared file.
    assert!(c.namespace.file.ends_with("cap.yml"));
    assert_eq!((c.namespace.pos.line, c.namespace.pos.col), (10, 11));
    assert!(c.resources[0].path.file.ends_with("shared/registry.yml"));
    assert_eq!(
        (c.resources[0].path.pos.line, c.resources[0].path.pos.col),
        (11, 15)
    );
}

#[test]
fn import_via_file_uri() {
    let cap = capability(
        "    - import: registry\n      from: file:///./shared/registry.yml\n      as: fleet\n",
    );
    let dir = setup(&[("cap.yml", &cap), ("shared/registry.yml", SHARED)]);
    assert!(load(&dir.path().join("cap.yml")).is_ok());
}

#[test]
fn errors_inside_an_imported_file_name_that_file() {
    let cap =
        capability("    - import: registry\n      from: ./shared/registry.yml\n      as: fleet\n");
    let broken = SHARED
        .replace("https://registry.example.com", "registry.example.com")
        .replace("method: GET", "methud: GET");
    let dir = setup(&[("cap.yml", &cap), ("shared/registry.yml", &broken)]);
    assert_eq!(
        errors(dir.path(), "cap.yml"),
        "<dir>/shared/registry.yml:5:14: consumes[0].baseUri: 'registry.example.com' is not an http(s) URL\n\
         <dir>/shared/registry.yml:14:13: missing required key 'method' in consumes[0].resources.ships.operations.list-ships\n\
         <dir>/shared/registry.yml:14:13: unknown key 'methud' in consumes[0].resources.ships.operations.list-ships (did you mean 'method'?)"
    );
}

#[test]
fn bind_references_in_imported_entries_resolve_against_the_importer() {
    let cap =
        capability("    - import: registry\n      from: ./shared/registry.yml\n      as: fleet\n")
            .replace("REGISTRY_TOKEN: REGISTRY_TOKEN", "OTHER: OTHER");
    let dir = setup(&[("cap.yml", &cap), ("shared/registry.yml", SHARED)]);
    assert_eq!(
        errors(dir.path(), "cap.yml"),
        "<dir>/shared/registry.yml:8:14: consumes[0].authentication.token: unresolvable reference '{{REGISTRY_TOKEN}}': no bind declares key 'REGISTRY_TOKEN'"
    );
}

#[test]
fn missing_file_and_missing_entry() {
    let cap =
        capability("    - import: registry\n      from: ./shared/nope.yml\n      as: fleet\n");
    let dir = setup(&[("cap.yml", &cap)]);
    assert_eq!(
        errors(dir.path(), "cap.yml"),
        "<dir>/cap.yml:9:13: capability.consumes[0].from: cannot read '<dir>/shared/nope.yml': No such file or directory\n\
         <dir>/cap.yml:21:21: capability.exposes[0].resources.ships.operations.list.call: 'fleet.list-ships' calls consumes namespace 'fleet', which is not declared (declared: none)"
    );

    let cap =
        capability("    - import: registri\n      from: ./shared/registry.yml\n      as: fleet\n");
    let dir = setup(&[("cap.yml", &cap), ("shared/registry.yml", SHARED)]);
    let out = errors(dir.path(), "cap.yml");
    assert!(
        out.starts_with("<dir>/cap.yml:8:15: capability.consumes[0].import: './shared/registry.yml' has no consumes entry with namespace 'registri' (found: registry) (did you mean 'registry'?)\n"),
        "{out}"
    );
}

#[test]
fn wrong_kind_of_file() {
    let cap = capability("    - import: registry\n      from: ./other.yml\n      as: fleet\n");
    let dir = setup(&[("cap.yml", &cap), ("other.yml", &capability(""))]);
    let out = errors(dir.path(), "cap.yml");
    assert!(
        out.contains("<dir>/cap.yml:9:13: capability.consumes[0].from: './other.yml' is a capability; imports read shared files (one section, no 'capability:')"),
        "{out}"
    );

    let exposes_only = "ikanos: \"1.0.0-beta5\"\nexposes:\n  - type: control\n    port: 0\n";
    let dir = setup(&[("cap.yml", &cap), ("other.yml", exposes_only)]);
    let out = errors(dir.path(), "cap.yml");
    assert!(out.contains("<dir>/cap.yml:9:13: capability.consumes[0].from: './other.yml' holds exposes, not consumes"), "{out}");
}

#[test]
fn import_cycle() {
    let cap = capability("    - import: fleet\n      from: ./a.yml\n");
    let a = "ikanos: \"1.0.0-beta5\"\nconsumes:\n  - import: fleet\n    from: ./b.yml\n";
    let b = "ikanos: \"1.0.0-beta5\"\nconsumes:\n  - import: fleet\n    from: ./a.yml\n";
    let dir = setup(&[("cap.yml", &cap), ("a.yml", a), ("b.yml", b)]);
    let out = errors(dir.path(), "cap.yml");
    assert!(
        out.starts_with("<dir>/b.yml:3:5: consumes[0]: import cycle: a.yml -> b.yml -> a.yml\n"),
        "{out}"
    );
}

#[test]
fn chained_imports_and_binds_imports() {
    let cap = capability("    - import: fleet\n      from: ./a.yml\n").replace(
        "binds:\n  - namespace: env\n    keys:\n      REGISTRY_TOKEN: REGISTRY_TOKEN\n",
        "binds:\n  - import: env\n    from: ./shared/binds.yml\n",
    );
    let a = "ikanos: \"1.0.0-beta5\"\nconsumes:\n  - import: registry\n    from: ./shared/registry.yml\n    as: fleet\n";
    let binds = "ikanos: \"1.0.0-beta5\"\nbinds:\n  - namespace: env\n    keys:\n      REGISTRY_TOKEN: REGISTRY_TOKEN\n";
    let dir = setup(&[
        ("cap.yml", &cap),
        ("a.yml", a),
        ("shared/registry.yml", SHARED),
        ("shared/binds.yml", binds),
    ]);
    let l = load(&dir.path().join("cap.yml")).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(l.capability.consumes[0].namespace.value, "fleet");
    assert_eq!(l.capability.binds[0].namespace.value, "env");
    assert!(l.capability.binds[0]
        .namespace
        .file
        .ends_with("shared/binds.yml"));
}

#[test]
fn shared_file_loaded_on_its_own_only_warns_about_outside_references() {
    let dir = setup(&[("shared/registry.yml", SHARED)]);
    let l = load(&dir.path().join("shared/registry.yml")).unwrap_or_else(|d| panic!("{d}"));
    let w: Vec<String> = l
        .warnings
        .iter()
        .map(|w| {
            w.to_string()
                .replace(&dir.path().display().to_string(), "<dir>")
        })
        .collect();
    assert_eq!(
        w,
        vec!["<dir>/shared/registry.yml:8:14: warning: consumes[0].authentication.token: unresolvable reference '{{REGISTRY_TOKEN}}': no bind declares key 'REGISTRY_TOKEN' (the importing capability must provide it)"]
    );
}

#[test]
fn unreadable_capability_file() {
    let dir = setup(&[]);
    assert_eq!(
        errors(dir.path(), "missing.yml"),
        "<dir>/missing.yml: cannot read: No such file or directory"
    );
}
