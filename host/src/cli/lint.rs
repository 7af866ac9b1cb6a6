//! `ikanos lint`: the lint findings of each file, then exit 0 or 1.
//!
//! Owns: what `lint` prints and its exit code — findings on stdout, one per line as
//! `file:line:col: severity rule: message`, sorted by file, line and column within
//! each argument; one summary line per argument on stderr (as `validate` does, so
//! stdout stays machine-readable); the rules list of `lint --help`. Must not touch:
//! the rules themselves, which live in `ikanos_spec::lint` as pure functions over the
//! parsed document and the loaded model.
//!
//! What runs for each file: upstream's rules (and ours) over its YAML document, as
//! Spectral does — also when this host's stricter loader refuses the file, whose load
//! diagnostics are then printed too, as findings of the pseudo-rule `validate`, and
//! make the exit code 1. When the file loads: the tunnel rules over the consumes
//! entries it imports (in their own files), and the tunnel providers' own keys. Load
//! *warnings* of a file that loads are `validate`'s to print, not ours: lint output
//! holds lint findings only (the load warning about an unbound tunnel identity, for
//! one, is reported here as the error `ikanos-tunnel-identity-must-bind`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ikanos_spec::lint::{self, Finding, RuleSet, Severity};
use ikanos_spec::model::Capability;

use crate::tunnel::TunnelRegistry;

/// This host's check of the tunnel providers' keys, named like a lint rule.
const PROVIDER_KEYS: &str = "ikanos-tunnel-provider-keys";

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
                rule: PROVIDER_KEYS,
                message: format!("consumes '{}': {problem}", c.namespace.value),
            });
        }
    }
    out
}

/// The findings for one file and whether it loaded.
fn lint_file(file: &Path, set: RuleSet, tunnels: &TunnelRegistry) -> (Vec<Finding>, bool) {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        // The loader words the reason (and reads nothing else).
        Err(_) => {
            let diags = ikanos_spec::load(file)
                .err()
                .map(|d| d.0)
                .unwrap_or_default();
            return (lint::from_diagnostics(&diags), false);
        }
    };
    let mut findings = match ikanos_spec::yaml::parse(&text) {
        Ok(doc) => lint::document(file, &doc.root, set),
        // The loader reports the syntax error below.
        Err(_) => Vec::new(),
    };
    let loaded = match ikanos_spec::load_str(file, &text) {
        Ok(loaded) => {
            findings.extend(lint::imported(&loaded.capability));
            findings.extend(provider_findings(&loaded.capability, tunnels));
            true
        }
        Err(diagnostics) => {
            findings.extend(lint::from_diagnostics(&diagnostics.0));
            false
        }
    };
    lint::sort(&mut findings);
    (findings, loaded)
}

pub fn run(files: &[PathBuf], all: bool) -> ExitCode {
    let set = if all {
        RuleSet::All
    } else {
        RuleSet::Recommended
    };
    let tunnels = TunnelRegistry::builtin();
    let mut failed = false;
    for file in files {
        let (findings, loaded) = lint_file(file, set, &tunnels);
        failed |= !loaded || findings.iter().any(Finding::is_error);
        for f in &findings {
            println!("{f}");
        }
        let summary = if loaded {
            counts(&findings)
        } else {
            let (load, rules): (Vec<Finding>, Vec<Finding>) =
                findings.into_iter().partition(|f| f.rule == lint::VALIDATE);
            let errors = load.iter().filter(|f| f.is_error()).count();
            format!(
                "does not load: {errors} error{}; lint: {}",
                plural(errors),
                counts(&rules)
            )
        };
        eprintln!("{}: {summary}", file.display());
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The rules, for `lint --help`: upstream's in the ruleset's order, then this host's.
pub fn rules_help() -> String {
    let mut out = String::from("Rules (severity, name, what it checks):\n");
    let line = |out: &mut String, sev: &str, name: &str, summary: &str| {
        let _ = writeln!(out, "  {sev:<8} {name}\n           {summary}");
    };
    for r in lint::RULES {
        let severity = r.severity.to_string();
        let mut summary = r.summary.to_string();
        if !r.recommended {
            summary.push_str(" [--all]");
        }
        line(&mut out, &severity, r.name, &summary);
    }
    line(
        &mut out,
        "error",
        PROVIDER_KEYS,
        "the tunnel provider's own keys are wrong or missing (e.g. relay, user, target, hostKey/hostCa for type ssh), as `validate` checks (this host's rule)",
    );
    out.push_str(
        "\nRules marked [--all] are `recommended: false` upstream: Spectral, and this command, run them only when asked.",
    );
    out
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
