//! `ikanos validate`: report every problem of each file, then exit 0 or 1.

use std::path::PathBuf;
use std::process::ExitCode;

use ikanos_spec::{Diagnostic, Severity};

use crate::tunnel::TunnelRegistry;

pub fn run(files: &[PathBuf]) -> ExitCode {
    let tunnels = TunnelRegistry::builtin();
    let mut failed = false;
    for file in files {
        match ikanos_spec::load(file) {
            Ok(loaded) => {
                let mut warnings = loaded.warnings;
                let mut errors = Vec::new();
                for c in &loaded.capability.consumes {
                    if let Some(t) = &c.tunnel {
                        for (pos, problem) in tunnels.check(t) {
                            errors.push(Diagnostic {
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
                            warnings.push(Diagnostic {
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
                }
                for d in errors.iter().chain(&warnings) {
                    println!("{d}");
                }
                if errors.is_empty() {
                    eprintln!("{}: ok", file.display());
                } else {
                    failed = true;
                    eprintln!(
                        "{}: {} error{}",
                        file.display(),
                        errors.len(),
                        if errors.len() == 1 { "" } else { "s" }
                    );
                }
            }
            Err(diagnostics) => {
                failed = true;
                for d in &diagnostics.0 {
                    println!("{d}");
                }
                let errors = diagnostics
                    .0
                    .iter()
                    .filter(|d| d.severity == Severity::Error)
                    .count();
                eprintln!(
                    "{}: {} error{}",
                    file.display(),
                    errors,
                    if errors == 1 { "" } else { "s" }
                );
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
