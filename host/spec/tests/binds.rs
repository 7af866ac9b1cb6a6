//! Run-time bind resolution: file and environment sources, confinement to the
//! capability folder, exact error messages, and secrets kept out of every message.

use std::fs;
use std::path::{Path, PathBuf};

use ikanos_spec::binds::{resolve_with_env, BindError, Secret, Secrets};
use ikanos_spec::load;
use ikanos_spec::model::{Capability, Spanned, Template};

const SECRET: &str = "s3cr3t-value-never-printed";

/// A capability with one bind at `location` (None: environment). Key lines:
/// line 6 = CRM_TOKEN, line 7 = CRM_USER.
fn cap_text(location: Option<&str>) -> String {
    let loc = location
        .map(|l| format!("    location: \"{l}\"\n"))
        .unwrap_or_default();
    format!(
        r#"ikanos: "1.0.0-beta5"
binds:
  - namespace: secrets
{loc}    keys:
      CRM_TOKEN: crm-bearer-token
      CRM_USER: crm-user
capability:
  consumes:
    - type: http
      namespace: crm
      baseUri: https://crm.example.com
      authentication:
        type: basic
        username: "{{{{secrets.CRM_USER}}}}"
        password: "{{{{CRM_TOKEN}}}}"
"#
    )
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(&p, text).expect("write");
        p
    }
    /// Write and load a capability at `crm/crm.ikanos.yaml`.
    fn capability(&self, location: Option<&str>) -> Capability {
        let p = self.write("crm/crm.ikanos.yaml", &cap_text(location));
        load(&p).unwrap_or_else(|d| panic!("{d}")).capability
    }
    fn shown(&self, e: &BindError) -> String {
        e.to_string()
            .replace(&self.dir.path().display().to_string(), "<dir>")
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn secrets_file() -> String {
    format!("crm-bearer-token: \"{SECRET}\"\ncrm-user: alice\nother: [1, 2]\n")
}

#[test]
fn relative_file_spellings_resolve_against_the_capability_folder() {
    for loc in [
        "file:///./secrets.yaml",
        "file://./secrets.yaml",
        "file:secrets.yaml",
        "file:///./sub/../secrets.yaml",
    ] {
        let f = Fixture::new();
        f.write("crm/secrets.yaml", &secrets_file());
        fs::create_dir_all(f.path("crm/sub")).expect("mkdir");
        let cap = f.capability(Some(loc));
        let s = resolve_with_env(&cap, &no_env).unwrap_or_else(|e| panic!("{loc}: {e}"));
        assert_eq!(
            s.get(Some("secrets"), "CRM_TOKEN").map(Secret::expose),
            Some(SECRET),
            "{loc}"
        );
        assert_eq!(s.get(None, "CRM_USER").map(Secret::expose), Some("alice"));
        assert!(s.get(Some("other"), "CRM_USER").is_none());
    }
}

#[test]
fn json_file_and_scalar_values() {
    let f = Fixture::new();
    f.write(
        "crm/secrets.json",
        "{\n  \"crm-bearer-token\": 1.10,\n  \"crm-user\": true\n}\n",
    );
    let cap = f.capability(Some("file:///./secrets.json"));
    let s = resolve_with_env(&cap, &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.get(None, "CRM_TOKEN").map(Secret::expose), Some("1.10"));
    assert_eq!(s.get(None, "CRM_USER").map(Secret::expose), Some("true"));

    // Tab-indented JSON (which YAML does not always accept) reads too.
    f.write(
        "crm/secrets.json",
        &format!("{{\n\t\"crm-bearer-token\": \"{SECRET}\",\n\t\"crm-user\": \"bob\"\n}}\n"),
    );
    let s = resolve_with_env(&cap, &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.get(None, "CRM_TOKEN").map(Secret::expose), Some(SECRET));

    // YAML numbers keep their spelling too.
    f.write(
        "crm/secrets.yaml",
        "crm-bearer-token: 1.10\ncrm-user: 007\n",
    );
    let cap = f.capability(Some("file:///./secrets.yaml"));
    let s = resolve_with_env(&cap, &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.get(None, "CRM_TOKEN").map(Secret::expose), Some("1.10"));
    assert_eq!(s.get(None, "CRM_USER").map(Secret::expose), Some("007"));
}

#[test]
fn escape_with_dot_dot_is_refused() {
    let f = Fixture::new();
    f.write("outside.yaml", &secrets_file());
    let p = f.write(
        "crm/crm.ikanos.yaml",
        &cap_text(Some("file:///./../outside.yaml")),
    );
    // Loading only warns: the operator may fix it before running.
    let loaded = load(&p).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    let e = resolve_with_env(&loaded.capability, &no_env).expect_err("escape refused");
    assert_eq!(
        f.shown(&e),
        "<dir>/crm/crm.ikanos.yaml:4:15: binds[0] 'secrets' file ./../outside.yaml: path escapes the capability folder"
    );
}

#[cfg(unix)]
#[test]
fn symlink_out_of_the_folder_is_refused() {
    let f = Fixture::new();
    let outside = f.write("elsewhere/secrets.yaml", &secrets_file());
    fs::create_dir_all(f.path("crm")).expect("mkdir");
    std::os::unix::fs::symlink(&outside, f.path("crm/secrets.yaml")).expect("symlink");
    let cap = f.capability(Some("file:///./secrets.yaml"));
    let e = resolve_with_env(&cap, &no_env).expect_err("symlink out refused");
    assert_eq!(
        f.shown(&e),
        "<dir>/crm/crm.ikanos.yaml:4:15: binds[0] 'secrets' file ./secrets.yaml: path escapes the capability folder"
    );

    // A link that stays inside the folder is fine.
    f.write("crm/real/secrets.yaml", &secrets_file());
    fs::remove_file(f.path("crm/secrets.yaml")).expect("rm");
    std::os::unix::fs::symlink("real/secrets.yaml", f.path("crm/secrets.yaml")).expect("symlink");
    assert!(resolve_with_env(&cap, &no_env).is_ok());
}

#[test]
fn absolute_location_is_read_as_is() {
    let f = Fixture::new();
    let abs = f.write("elsewhere/secrets.yaml", &secrets_file());
    let cap = f.capability(Some(&format!("file://{}", abs.display())));
    let s = resolve_with_env(&cap, &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.get(None, "CRM_TOKEN").map(Secret::expose), Some(SECRET));
}

#[test]
fn missing_file_and_missing_key() {
    let f = Fixture::new();
    let cap = f.capability(Some("file:///./secrets.yaml"));
    let e = resolve_with_env(&cap, &no_env).expect_err("no file");
    assert_eq!(
        f.shown(&e),
        "<dir>/crm/crm.ikanos.yaml:4:15: binds[0] 'secrets' file ./secrets.yaml: No such file or directory"
    );

    f.write(
        "crm/secrets.yaml",
        &format!("crm-user: alice\nunrelated: \"{SECRET}\"\n"),
    );
    let e = resolve_with_env(&cap, &no_env).expect_err("no key");
    assert_eq!(
        f.shown(&e),
        "<dir>/crm/crm.ikanos.yaml:6:7: binds[0] 'secrets' key CRM_TOKEN: key 'crm-bearer-token' not found in ./secrets.yaml"
    );
}

#[test]
fn environment_binds() {
    let f = Fixture::new();
    for loc in [None, Some("env://")] {
        let cap = f.capability(loc);
        let env = |name: &str| match name {
            "crm-bearer-token" => Some(SECRET.to_string()),
            "crm-user" => Some("bob".to_string()),
            _ => None,
        };
        let s = resolve_with_env(&cap, &env).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.get(Some("secrets"), "CRM_TOKEN").map(Secret::expose),
            Some(SECRET)
        );
        assert_eq!(s.len(), 2);

        let only_user = |name: &str| (name == "crm-user").then(|| "bob".to_string());
        let e = resolve_with_env(&cap, &only_user).expect_err("unset");
        let line = if loc.is_some() { 6 } else { 5 };
        assert_eq!(
            f.shown(&e),
            format!("<dir>/crm/crm.ikanos.yaml:{line}:7: binds[0] 'secrets' key CRM_TOKEN: environment variable crm-bearer-token is not set")
        );
    }
}

#[test]
fn secret_values_never_appear_in_messages() {
    let f = Fixture::new();
    let mut texts = Vec::new();

    // A value that is not a scalar, around the secret.
    f.write(
        "crm/secrets.yaml",
        &format!("crm-bearer-token: [\"{SECRET}\"]\ncrm-user: x\n"),
    );
    let cap = f.capability(Some("file:///./secrets.yaml"));
    let e = resolve_with_env(&cap, &no_env).expect_err("not scalar");
    assert_eq!(
        f.shown(&e),
        "<dir>/crm/crm.ikanos.yaml:6:7: binds[0] 'secrets' key CRM_TOKEN: key 'crm-bearer-token' in ./secrets.yaml holds a list; bind files map keys to single values"
    );
    texts.push(format!("{e} {e:?}"));

    // A syntax error right at the secret (parser messages can quote the text).
    f.write(
        "crm/secrets.yaml",
        &format!("crm-bearer-token: \"{SECRET}\n"),
    );
    let e = resolve_with_env(&cap, &no_env).expect_err("syntax");
    assert!(f.shown(&e).starts_with("<dir>/crm/crm.ikanos.yaml:4:15: binds[0] 'secrets' file ./secrets.yaml: not a flat YAML or JSON map (syntax error at line"), "{e}");
    texts.push(format!("{e} {e:?}"));

    f.write("crm/secrets.yaml", &format!("- \"{SECRET}\"\n"));
    let e = resolve_with_env(&cap, &no_env).expect_err("a list");
    texts.push(format!("{e} {e:?}"));

    // Secrets themselves, and a rendered value.
    f.write("crm/secrets.yaml", &secrets_file());
    let s = resolve_with_env(&cap, &no_env).expect("resolves");
    let token = s.get(None, "CRM_TOKEN").expect("token");
    texts.push(format!("{token} {token:?} {s:?}"));
    let rendered = s
        .render(&template("Bearer {{CRM_TOKEN}}"), &|_| None)
        .expect("renders");
    assert_eq!(rendered.expose(), format!("Bearer {SECRET}"));
    texts.push(format!("{rendered} {rendered:?}"));
    let err = s
        .render(&template("{{CRM_TOKEN}}{{nope}}"), &|_| None)
        .expect_err("unresolved");
    texts.push(format!("{err} {err:?}"));

    for t in &texts {
        assert!(!t.contains(SECRET), "secret leaked: {t}");
    }
    assert_eq!(format!("{token}"), "<redacted>");
    assert_eq!(format!("{token:?}"), "<redacted>");
}

fn template(s: &str) -> Template {
    Template::parse(Spanned {
        value: s.to_string(),
        pos: Default::default(),
        file: "t.yaml".into(),
    })
}

#[test]
fn render_with_namespaced_flat_and_parameter_refs() {
    let f = Fixture::new();
    f.write("crm/secrets.yaml", &secrets_file());
    let cap = f.capability(Some("file:///./secrets.yaml"));
    let s: Secrets = resolve_with_env(&cap, &no_env).expect("resolves");
    let params = |name: &str| (name == "id").then(|| "42".to_string());

    let out = s
        .render(
            &template("{{secrets.CRM_USER}}:{{ CRM_USER }}/{{id}}"),
            &params,
        )
        .expect("renders");
    assert_eq!(out.expose(), "alice:alice/42");

    // A bind variable wins over a parameter with the same name.
    let shadow = |name: &str| (name == "CRM_USER").then(|| "param".to_string());
    assert_eq!(
        s.render(&template("{{CRM_USER}}"), &shadow)
            .expect("renders")
            .expose(),
        "alice"
    );

    let e = s
        .render(&template("{{secrets.NOPE}}"), &params)
        .expect_err("no such key");
    assert_eq!(
        e.to_string(),
        "t.yaml:0:0: unresolved reference '{{secrets.NOPE}}'"
    );
    let e = s
        .render(&template("x{{missing}}"), &params)
        .expect_err("no such param");
    assert_eq!(e.reference, "{{missing}}");

    // The model's own templates render too.
    let auth = cap.consumes[0].authentication.as_ref().expect("auth");
    let ikanos_spec::model::Authentication::Basic { username, password } = auth else {
        panic!("basic")
    };
    assert_eq!(s.render(username, &params).expect("user").expose(), "alice");
    assert_eq!(
        s.render(password, &params).expect("password").expose(),
        SECRET
    );
}

#[test]
fn unsupported_scheme() {
    let f = Fixture::new();
    let cap = f.capability(Some("vault://kv/crm"));
    let e = resolve_with_env(&cap, &no_env).expect_err("vault");
    assert_eq!(
        f.shown(&e),
        "<dir>/crm/crm.ikanos.yaml:4:15: binds[0] 'secrets': location 'vault://kv/crm' is not supported by this host (file: or env:// only)"
    );
}

#[test]
fn resolve_uses_the_process_environment() {
    // Only checks wiring: a capability without binds resolves to nothing.
    let f = Fixture::new();
    let p = f.write(
        "c.yaml",
        "ikanos: \"1.0.0-beta5\"\ncapability:\n  exposes:\n    - type: control\n      port: 0\n",
    );
    let cap = load(Path::new(&p)).expect("loads").capability;
    assert!(ikanos_spec::binds::resolve(&cap)
        .expect("no binds")
        .is_empty());
}

#[test]
fn imported_bind_resolves_against_its_own_folder() {
    let f = Fixture::new();
    f.write("crm/shared/secrets.yaml", &secrets_file());
    f.write(
        "crm/shared/binds.yml",
        "ikanos: \"1.0.0-beta5\"\nbinds:\n  - namespace: shared-secrets\n    location: file:///./secrets.yaml\n    keys:\n      CRM_TOKEN: crm-bearer-token\n      CRM_USER: crm-user\n",
    );
    let text = cap_text(None).replace(
        "binds:\n  - namespace: secrets\n    keys:\n      CRM_TOKEN: crm-bearer-token\n      CRM_USER: crm-user\n",
        "binds:\n  - import: shared-secrets\n    from: ./shared/binds.yml\n    as: secrets\n",
    );
    let p = f.write("crm/crm.ikanos.yaml", &text);
    let cap = load(&p).unwrap_or_else(|d| panic!("{d}")).capability;
    let s = resolve_with_env(&cap, &no_env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s.get(Some("secrets"), "CRM_TOKEN").map(Secret::expose),
        Some(SECRET)
    );

    fs::remove_file(f.path("crm/shared/secrets.yaml")).expect("rm");
    let e = resolve_with_env(&cap, &no_env).expect_err("missing");
    assert_eq!(
        f.shown(&e),
        "<dir>/crm/shared/binds.yml:4:15: binds[0] 'secrets' file ./secrets.yaml: No such file or directory"
    );
}
