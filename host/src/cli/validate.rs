//! `ikanos validate`: report every problem of each file, then exit 0 or 1.
//!
//! Owns: what `validate` prints and its exit code — the loader's diagnostics, the
//! tunnel providers' checks, the script steps' (language, files, switch), and
//! upstream's JSON Schema (`ikanos_spec::schema`), all as
//! `file:line:col: message` on stdout sorted by position, and one summary line per file
//! on stderr; and reading upstream's optional schema VERSION argument. Must not
//! touch: the checks themselves (the spec crate and the tunnel registry own them).
//!
//! Schema violations are warnings unless `--strict-schema`: the schema says what
//! upstream's tools accept, and this host runs files it does not allow (older `ikanos`
//! versions, `tunnel.type: ssh`), so they do not make such a file invalid here;
//! `--strict-schema` gives upstream's verdict (its `validate` fails on them).
//!
//! The VERSION argument: upstream's command is `validate FILE [VERSION]`; here it is
//! `validate FILE... [VERSION]`, the last argument being the version when there are two
//! or more, it names no existing path, it does not end in `.yaml`/`.yml`/`.json`, and
//! it looks like a version (digits first). As upstream, a version selects the schema
//! file `ikanos-schema-vVERSION.json`; only the default schema is built in, so a
//! version is refused with upstream's message and exit status 1.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ikanos_spec::{schema, Diagnostic, Severity};

use crate::tunnel::TunnelRegistry;

/// Upstream's trailing schema VERSION, if the last argument is one (see the module
/// comment), and the files.
fn split_version(args: &[PathBuf]) -> (&[PathBuf], Option<String>) {
    let Some((last, files)) = args.split_last() else {
        return (args, None);
    };
    let text = last.to_string_lossy();
    let looks_like_version = text.starts_with(|c: char| c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
        && !["yaml", "yml", "json"]
            .iter()
            .any(|ext| text.to_ascii_lowercase().ends_with(&format!(".{ext}")));
    if files.is_empty() || !looks_like_version || last.exists() {
        (args, None)
    } else {
        (files, Some(text.into_owned()))
    }
}

/// The provider checks of a loaded capability: errors for a provider's own keys,
/// warnings for a tunnel type this build has no provider for.
fn tunnel_diagnostics(
    cap: &ikanos_spec::model::Capability,
    tunnels: &TunnelRegistry,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for c in &cap.consumes {
        let Some(t) = &c.tunnel else { continue };
        for (pos, problem) in tunnels.check(t) {
            out.push(Diagnostic {
                file: t.kind.file.clone(),
                pos,
                severity: Severity::Error,
                message: format!(
                    "capability.consumes '{}'.tunnel: {problem}",
                    c.namespace.value
                ),
            });
        }
        if !tunnels.has_provider(&t.kind.value) {
            out.push(Diagnostic {
                file: t.kind.file.clone(),
                pos: t.kind.pos,
                severity: Severity::Warning,
                message: format!(
                    "{} in this build: calls to consumes '{}' will fail closed (503) and readiness will say so",
                    TunnelRegistry::missing_provider_message(&t.kind.value),
                    c.namespace.value
                ),
            });
        }
    }
    out
}

/// Script steps this host cannot run (scripting disabled, their language, their
/// files), as `ikanos run` would refuse them at load.
fn script_diagnostics(cap: &ikanos_spec::model::Capability) -> Vec<Diagnostic> {
    let governance = crate::runtime::scripting::Governance::new(cap.scripting());
    crate::declarative::build(cap, true, &governance)
        .err()
        .map(|d| d.0)
        .unwrap_or_default()
}

/// Every diagnostic of one file: the loader's (all of them when it does not load, its
/// warnings when it does), the providers', and the schema's.
fn check_file(
    file: &Path,
    schema: &schema::Schema,
    schema_severity: Severity,
    tunnels: &TunnelRegistry,
) -> (Vec<Diagnostic>, usize) {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        // The loader words the reason.
        Err(_) => {
            let diags = ikanos_spec::load(file)
                .err()
                .map(|d| d.0)
                .unwrap_or_default();
            return (diags, 0);
        }
    };
    let mut diags = match ikanos_spec::load_str(file, &text) {
        Ok(loaded) => {
            let mut d = loaded.warnings;
            d.extend(tunnel_diagnostics(&loaded.capability, tunnels));
            d.extend(script_diagnostics(&loaded.capability));
            d
        }
        Err(diagnostics) => diagnostics.0,
    };
    // A YAML syntax error is already the loader's; there is no document to check.
    let schema_diags = match ikanos_spec::yaml::parse(&text) {
        Ok(doc) => schema.check(file, &doc.root, schema_severity),
        Err(_) => Vec::new(),
    };
    let schema_count = schema_diags.len();
    diags.extend(schema_diags);
    diags.sort_by(|a, b| {
        (&a.file, a.pos, a.severity, &a.message).cmp(&(&b.file, b.pos, b.severity, &b.message))
    });
    diags.dedup();
    (diags, schema_count)
}

pub fn run(args: &[PathBuf], strict_schema: bool) -> ExitCode {
    let (files, version) = split_version(args);
    let schema = match schema::for_version(version.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(1);
        }
    };
    let schema_severity = if strict_schema {
        Severity::Error
    } else {
        Severity::Warning
    };
    let tunnels = TunnelRegistry::builtin();
    let mut failed = false;
    for file in files {
        let (diags, schema_count) = check_file(file, schema, schema_severity, &tunnels);
        for d in &diags {
            println!("{d}");
        }
        let errors = diags.iter().filter(|d| d.is_error()).count();
        let mut summary = if errors == 0 {
            "ok".to_string()
        } else {
            failed = true;
            format!("{errors} error{}", plural(errors))
        };
        if schema_count > 0 {
            summary.push_str(&format!(
                " ({schema_count} {} of upstream's schema {}{})",
                if schema_count == 1 {
                    "violation"
                } else {
                    "violations"
                },
                schema.name(),
                if strict_schema {
                    ""
                } else {
                    ", warnings: --strict-schema makes them errors"
                }
            ));
        }
        eprintln!("{}: {summary}", file.display());
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trailing_version_is_taken_as_upstream_does() {
        let args: Vec<PathBuf> = ["a.yaml", "1.0"].iter().map(PathBuf::from).collect();
        let (files, v) = split_version(&args);
        assert_eq!((files.len(), v.as_deref()), (1, Some("1.0")));
        for not_a_version in [
            &["1.0"][..],
            &["a.yaml", "b.yaml"],
            &["a.yaml", "2.yml"],
            &["a.yaml", "v1"],
        ] {
            let args: Vec<PathBuf> = not_a_version.iter().map(PathBuf::from).collect();
            let (files, v) = split_version(&args);
            assert_eq!((files.len(), v), (args.len(), None), "{not_a_version:?}");
        }
    }
}
