//! Capability files for the tests, written into a temporary folder per test.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::write;

/// The test token. Tests assert it never shows up where it must not.
pub const TOKEN: &str = "tok-3f9c2b7d-never-log-me";

/// One exposed REST operation: (resource key, path, operation key, method, inputs as (name, in, type)).
pub struct Op<'a> {
    pub path: &'a str,
    pub name: &'a str,
    pub method: &'a str,
    pub inputs: &'a [(&'a str, &'a str, &'a str)],
}

pub fn rest_exposes(namespace: &str, ops: &[Op]) -> String {
    let mut y = format!("  exposes:\n    - type: rest\n      address: \"127.0.0.1\"\n      port: 0\n      namespace: \"{namespace}\"\n      resources:\n");
    for op in ops {
        let _ = write!(y, "        {}:\n          path: \"{}\"\n          operations:\n            {}:\n              method: \"{}\"\n", op.name, op.path, op.name, op.method);
        if !op.inputs.is_empty() {
            y.push_str("              inputParameters:\n");
            for (name, place, ty) in op.inputs {
                let _ = write!(y, "                \"{name}\":\n                  in: \"{place}\"\n                  type: \"{ty}\"\n                  description: \"test input {name}\"\n");
            }
        }
    }
    y
}

/// The consumes block of the test CRM: bearer auth from a file bind, and operations
/// that put parameters in every place.
pub fn crm_consumes(base: &str) -> String {
    format!(
        r#"  consumes:
    - type: "http"
      namespace: "crm"
      description: "The test CRM on loopback."
      baseUri: "{base}"
      authentication:
        type: "bearer"
        token: "{{{{secrets.CRM_TOKEN}}}}"
      resources:
        customers:
          path: "/customers"
          operations:
            list-customers:
              method: "GET"
              inputParameters:
                limit:
                  in: "query"
        customer:
          path: "/customers/{{{{id}}}}"
          operations:
            get-customer:
              method: "GET"
              inputParameters:
                id:
                  in: "path"
        echo:
          path: "/echo/{{{{section}}}}"
          operations:
            post-echo:
              method: "POST"
              inputParameters:
                section:
                  in: "path"
                q:
                  in: "query"
                X-Trace-Tag:
                  in: "header"
                session:
                  in: "cookie"
                Api-Version:
                  in: "header"
                  value: "2024-01"
        slow:
          path: "/slow"
          operations:
            get-slow:
              method: "GET"
              inputParameters:
                ms:
                  in: "query"
        big:
          path: "/big"
          operations:
            get-big:
              method: "GET"
              inputParameters:
                bytes:
                  in: "query"
"#
    )
}

pub fn header(display: &str) -> String {
    format!(
        "ikanos: \"1.0.0-beta5\"\ninfo:\n  display: \"{display}\"\n  description: \"A capability written by the end-to-end tests.\"\nbinds:\n  - namespace: \"secrets\"\n    location: \"file:///./secrets.yaml\"\n    keys:\n      CRM_TOKEN: \"crm-bearer-token\"\ncapability:\n"
    )
}

pub fn secrets(dir: &Path) {
    write(
        dir,
        "secrets.yaml",
        &format!("crm-bearer-token: \"{TOKEN}\"\n"),
    );
}

/// Every operation of the `hostile` test component, exposed under namespace `hostile`.
pub fn hostile_ops() -> Vec<Op<'static>> {
    vec![
        Op {
            path: "/healthy",
            name: "healthy",
            method: "GET",
            inputs: &[],
        },
        Op {
            path: "/echo/{{id}}",
            name: "echo",
            method: "POST",
            inputs: &[
                ("id", "path", "string"),
                ("n", "query", "integer"),
                ("X-Tag", "header", "string"),
                ("flag", "query", "boolean"),
            ],
        },
        Op {
            path: "/spin",
            name: "spin",
            method: "GET",
            inputs: &[],
        },
        Op {
            path: "/grow",
            name: "grow",
            method: "GET",
            inputs: &[],
        },
        Op {
            path: "/trap",
            name: "trap",
            method: "GET",
            inputs: &[],
        },
        Op {
            path: "/recurse",
            name: "recurse",
            method: "GET",
            inputs: &[],
        },
        Op {
            path: "/call",
            name: "call",
            method: "POST",
            inputs: &[
                ("ns", "query", "string"),
                ("op", "query", "string"),
                ("p_id", "query", "string"),
                ("p_limit", "query", "string"),
                ("p_section", "query", "string"),
                ("p_q", "query", "string"),
                ("p_X-Trace-Tag", "query", "string"),
                ("p_session", "query", "string"),
                ("p_Api-Version", "query", "string"),
                ("p_Authorization", "query", "string"),
                ("p_ms", "query", "string"),
                ("p_bytes", "query", "string"),
            ],
        },
        Op {
            path: "/flood",
            name: "flood",
            method: "POST",
            inputs: &[
                ("ns", "query", "string"),
                ("op", "query", "string"),
                ("n", "query", "integer"),
            ],
        },
        Op {
            path: "/print",
            name: "print",
            method: "GET",
            inputs: &[],
        },
        Op {
            path: "/env-probe",
            name: "env-probe",
            method: "GET",
            inputs: &[],
        },
        Op {
            path: "/big",
            name: "big",
            method: "GET",
            inputs: &[("size", "query", "integer")],
        },
        Op {
            path: "/status",
            name: "status",
            method: "GET",
            inputs: &[("code", "query", "integer")],
        },
        Op {
            path: "/undeclared-op",
            name: "no-such-handler",
            method: "GET",
            inputs: &[],
        },
    ]
}

/// A hostile capability against the test CRM at `base`, in a fresh folder.
pub fn hostile(dir: &Path, base: &str) -> PathBuf {
    secrets(dir);
    let text = format!(
        "{}{}{}",
        header("Hostile test capability"),
        crm_consumes(base),
        rest_exposes("hostile", &hostile_ops())
    );
    write(dir, "hostile.ikanos.yaml", &text)
}

/// A bind variable the tunnel tests add: (VAR, provider key, value in secrets.yaml).
pub type ExtraBind<'a> = (&'a str, &'a str, String);

/// The hostile capability with a `tunnel:` block on `crm` (YAML at consumes-entry
/// indentation, inserted before its authentication) and more bind keys, written as
/// `dir/file_name` with secrets.yaml beside it.
pub fn hostile_tunnelled(
    dir: &Path,
    file_name: &str,
    display: &str,
    base: &str,
    tunnel: &str,
    extra: &[ExtraBind],
) -> PathBuf {
    let mut keys = String::from("      CRM_TOKEN: \"crm-bearer-token\"\n");
    let mut values = format!("crm-bearer-token: \"{TOKEN}\"\n");
    for (var, key, value) in extra {
        let _ = writeln!(keys, "      {var}: \"{key}\"");
        let _ = writeln!(values, "{key}: \"{value}\"");
    }
    write(dir, "secrets.yaml", &values);
    let header = header(display).replace("      CRM_TOKEN: \"crm-bearer-token\"\n", &keys);
    let consumes = crm_consumes(base).replace(
        "      authentication:\n",
        &format!("{tunnel}      authentication:\n"),
    );
    let text = format!(
        "{header}{consumes}{}",
        rest_exposes("hostile", &hostile_ops())
    );
    write(dir, file_name, &text)
}
