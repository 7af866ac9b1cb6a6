//! `ikanos lint`: the lint findings of each file, then exit 0 or 1.
//!
//! Owns: what `lint` prints and its exit code — findings on stdout, one per line as
//! `file:line:col: severity rule: message`, sorted by file, line and column within
//! each argument; one summary line per argument on stderr (as `validate` does, so
//! stdout stays machine-readable). Must not touch: the rules themselves, which live
//! in `ikanos_spec::lint` as pure functions over the loaded model.
//!
//! A file that does not load is not linted (the model the rules read does not
//! exist): its load diagnostics are printed as findings of the pseudo-rule
//! `validate` and the exit code is 1. Load *warnings* of a file that loads are
//! `validate`'s to print, not ours: lint output holds lint findings only (the load
//! warning about an unbound tunnel identity, for one, is reported here as the error
//! `ikanos-tunnel-identity-must-bind`).

use std::path::PathBuf;
use std::process::ExitCode;

use ikanos_spec::lint::{self, Finding, Severity};
use ikanos_spec::model::Capability;

use crate::tunnel::TunnelRegistry;

/// The provider's own keys (e.g. `relay`, `hostKey` for `ssh`), checked by the provider
/// compiled into this binary — the same checks `validate` makes.
fn provider_findings(cap: &Capability, tunnels: &TunnelRegistry) -> Vec<Finding> {
    let mut out = Vec::new();
    for c in &cap.consumes {
        let Some(t) = &c.tunnel else { continue };
        for (pos, problem) in tunnels.check(t) {
            out.push(Finding {
                file: t.kind.file.clone(),
                pos,
                severity: Severity::Error,
                rule: "ikanos-tunnel-provider-keys",
                message: format!("consumes '{}': {problem}", c.namespace.value),
            });
        }
    }
    out
}

pub fn run(files: &[PathBuf]) -> ExitCode {
    let tunnels = TunnelRegistry::builtin();
    let mut failed = false;
    for file in files {
        let (findings, summary) = match ikanos_spec::load(file) {
            Ok(loaded) => {
                let mut findings = lint::lint(&loaded.capability);
                findings.extend(provider_findings(&loaded.capability, &tunnels));
                findings.sort_by(|a, b| (&a.file, a.pos).cmp(&(&b.file, b.pos)));
                let summary = counts(&findings);
                (findings, summary)
            }
            Err(diagnostics) => {
                failed = true;
                let findings = lint::from_diagnostics(&diagnostics.0);
                let errors = findings.iter().filter(|f| f.is_error()).count();
                let summary = format!(
                    "does not load: {errors} error{} (not linted)",
                    plural(errors)
                );
                (findings, summary)
            }
        };
        failed |= findings.iter().any(Finding::is_error);
        for f in &findings {
            println!("{f}");
        }
        eprintln!("{}: {summary}", file.display());
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `ok`, or Spectral's tally: `2 problems (1 error, 1 warning, 0 infos, 0 hints)`.
fn counts(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "ok".into();
    }
    let n = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let (e, w, i, h) = (
        n(Severity::Error),
        n(Severity::Warn),
        n(Severity::Info),
        n(Severity::Hint),
    );
    let total = findings.len();
    format!(
        "{total} problem{} ({e} error{}, {w} warning{}, {i} info{}, {h} hint{})",
        plural(total),
        plural(e),
        plural(w),
        plural(i),
        plural(h)
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
