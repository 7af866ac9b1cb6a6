//! Lint: advice about a capability that loaded, in the upstream linter's terms.
//!
//! Owns: the lint rules that concern tunnels — the three upstream Spectral rules of
//! `ikanos-rules.yml` (same names, severities, conditions and message wording) plus
//! one of this project's (`ikanos-tunnel-identity-literal-warns`) — the `Finding`
//! record and its `file:line:col: severity rule: message` rendering, and turning a
//! failed load's diagnostics into findings so a command can print one list.
//! Must not touch: files, the environment or the terminal, and must not change the
//! model: these are pure functions over a `model::Capability` that `load` built
//! (loading, printing and exit codes are the callers').
//!
//! Fidelity notes, so that verdicts stay the upstream ones:
//! - The baseUri patterns run on the text as written (`Consumes::base_uri_raw`), not
//!   on the normalised `url::Url`: Spectral sees the YAML string, so `HTTPS://X.COM`,
//!   `http://LOCALHOST` or `http://127.1` must be judged as written.
//! - Spectral's `pattern` compiles `new RegExp(p)` with no flags: case-sensitive, and
//!   `[^/]` / `$` mean the same in the `regex` crate, so those two patterns are used as
//!   they are. The identity pattern (JS flags `gi`) is spelt out with ASCII classes and
//!   JavaScript's `\s` set, because the `regex` crate's `(?i)` and `\s` are
//!   Unicode-wide (e.g. the Kelvin sign would match `k`) and JavaScript's are not.
//! - Upstream scans `binds` and `capability.binds` of the linted document; here the
//!   binds are the loaded model's, which also holds binds inlined from imports, and
//!   every consumes entry is checked, imported ones included (Spectral sees only the
//!   `{from, import}` stub of those).

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::LazyLock;

use regex::Regex;

use crate::model::{Capability, Consumes, Fallback, Pos, Tunnel};
use crate::Diagnostic;

/// Rule names, as upstream spells them (ours carries the same prefix).
pub const IDENTITY_MUST_BIND: &str = "ikanos-tunnel-identity-must-bind";
pub const FALLBACK_DIRECT_WARNS: &str = "ikanos-tunnel-fallback-direct-warns";
pub const PUBLIC_BASEURI: &str = "ikanos-tunnel-with-public-baseuri-warns";
pub const IDENTITY_LITERAL_WARNS: &str = "ikanos-tunnel-identity-literal-warns";
/// The pseudo-rule of a load diagnostic: the file did not get as far as lint.
pub const VALIDATE: &str = "validate";

/// Upstream messages (`ikanos-rules.yml`, folded scalars joined as YAML folds them).
const MSG_MUST_BIND: &str = "tunnel.identity must reference a declared binding.";
const MSG_FALLBACK: &str = "'tunnel.fallback: direct' on a non-loopback baseUri silently bypasses the tunnel and may leak traffic. Use 'fail' unless the baseUri itself is private/loopback.";
const MSG_PUBLIC: &str = "Tunnel target uses a public TLD baseUri — confirm the hostname truly resolves through the tunnel and not via public DNS.";

/// Upstream: `^https?://(127\.0\.0\.1|localhost|\[::1\])(:|/|$)` (`match`: fire when it does not).
static LOOPBACK: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:|/|$)").ok());
/// Upstream: `^https?://[^/]+\.(com|net|org|io|co|app|dev|cloud|ai)(:|/|$)` (`notMatch`: fire when it does).
static PUBLIC_TLD: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"^https?://[^/]+\.(com|net|org|io|co|app|dev|cloud|ai)(:|/|$)").ok()
});
/// Upstream: `/\{\{\s*([a-z0-9-]+)\.([a-z0-9-_]+)\s*\}\}/gi`, with `i` written out as
/// ASCII ranges and `\s` as JavaScript's whitespace set.
static MUSTACHE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    const JS_S: &str = r"[\t\n\x0B\x0C\r \x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}]";
    Regex::new(&format!(
        r"\{{\{{{JS_S}*([A-Za-z0-9-]+)\.([A-Za-z0-9_-]+){JS_S}*\}}\}}"
    ))
    .ok()
});

/// Severity of a finding, in Spectral's four levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warn,
    Info,
    Hint,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warn => "warning",
            Severity::Info => "info",
            Severity::Hint => "hint",
        })
    }
}

/// One lint result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file the offending value is in (an imported file for imported entries).
    pub file: PathBuf,
    /// 1-based; line 0 means the whole file (e.g. it cannot be read).
    pub pos: Pos,
    pub severity: Severity,
    pub rule: &'static str,
    pub message: String,
}

impl Finding {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.file.display())?;
        if self.pos.line > 0 {
            write!(f, "{}:{}:", self.pos.line, self.pos.col)?;
        }
        write!(f, " {} {}: {}", self.severity, self.rule, self.message)
    }
}

/// A rule this module implements, for help texts and documentation.
#[derive(Debug, Clone, Copy)]
pub struct RuleInfo {
    pub name: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
}

pub const RULES: &[RuleInfo] = &[
    RuleInfo {
        name: IDENTITY_MUST_BIND,
        severity: Severity::Error,
        summary: "every {{ns.KEY}} in tunnel.identity names a declared bind namespace that has that key",
    },
    RuleInfo {
        name: FALLBACK_DIRECT_WARNS,
        severity: Severity::Warn,
        summary: "tunnel.fallback: direct on a baseUri that is not 127.0.0.1, localhost or [::1]",
    },
    RuleInfo {
        name: PUBLIC_BASEURI,
        severity: Severity::Info,
        summary: "a tunnelled baseUri on a public TLD (.com .net .org .io .co .app .dev .cloud .ai)",
    },
    RuleInfo {
        name: IDENTITY_LITERAL_WARNS,
        severity: Severity::Warn,
        summary: "tunnel.identity written as a literal path instead of a {{ns.KEY}} bind reference (not upstream)",
    },
];

/// Every finding for a loaded capability, sorted by file, line, column.
pub fn lint(cap: &Capability) -> Vec<Finding> {
    let mut out = Vec::new();
    for c in &cap.consumes {
        let Some(t) = &c.tunnel else { continue };
        identity_must_bind(cap, t, &mut out);
        identity_literal(t, &mut out);
        fallback_direct(c, t, &mut out);
        public_base_uri(c, &mut out);
    }
    sort(&mut out);
    out
}

/// A failed load's diagnostics as findings of the pseudo-rule `validate`, sorted.
pub fn from_diagnostics<'a>(diags: impl IntoIterator<Item = &'a Diagnostic>) -> Vec<Finding> {
    let mut out: Vec<Finding> = diags
        .into_iter()
        .map(|d| Finding {
            file: d.file.clone(),
            pos: d.pos,
            severity: match d.severity {
                crate::Severity::Error => Severity::Error,
                crate::Severity::Warning => Severity::Warn,
            },
            rule: VALIDATE,
            message: d.message.clone(),
        })
        .collect();
    sort(&mut out);
    out
}

/// File, line, column; then severity, rule and message so the order never depends on
/// the order rules ran in. Exact repeats go (a shared file imported twice).
pub fn sort(findings: &mut Vec<Finding>) {
    findings.sort_by(|a, b| {
        (&a.file, a.pos, a.severity, a.rule, &a.message)
            .cmp(&(&b.file, b.pos, b.severity, b.rule, &b.message))
    });
    findings.dedup();
}

/// The `{{ns.key}}` references upstream's pattern finds, in order (JS `matchAll`).
pub fn identity_refs(identity: &str) -> Vec<(&str, &str)> {
    let Some(re) = MUSTACHE.as_ref() else {
        return Vec::new();
    };
    re.captures_iter(identity)
        .filter_map(|c| Some((c.get(1)?.as_str(), c.get(2)?.as_str())))
        .collect()
}

/// True when upstream's loopback pattern matches `base_uri` (as written).
pub fn is_loopback_base_uri(base_uri: &str) -> bool {
    LOOPBACK.as_ref().is_some_and(|re| re.is_match(base_uri))
}

/// True when upstream's public-TLD pattern matches `base_uri` (as written).
pub fn is_public_base_uri(base_uri: &str) -> bool {
    PUBLIC_TLD.as_ref().is_some_and(|re| re.is_match(base_uri))
}

/// `ikanos-tunnel-identity-must-bind`, as upstream's `tunnel-identity-binds-ref`:
/// namespace and key compare exactly (the pattern's `i` flag only widens which
/// characters a reference may hold). Upstream emits one result per offending
/// reference and Spectral then merges results with equal messages; here the message
/// carries upstream's per-reference detail, so each distinct reference is reported once.
fn identity_must_bind(cap: &Capability, t: &Tunnel, out: &mut Vec<Finding>) {
    let Some(identity) = &t.identity else { return };
    let mut seen = BTreeSet::new();
    for (ns, key) in identity_refs(&identity.raw.value) {
        if !seen.insert((ns, key)) {
            continue;
        }
        let mut binds = cap
            .binds
            .iter()
            .filter(|b| b.namespace.value == ns)
            .peekable();
        let detail = if binds.peek().is_none() {
            format!("tunnel.identity references binding namespace '{ns}' but no matching entry exists in 'binds' or 'capability.binds'.")
        } else if !binds.any(|b| b.keys.iter().any(|(k, _)| k.value == key)) {
            format!("tunnel.identity references key '{key}' on binding '{ns}', but that key is not declared. Add it to binds[{ns}].keys.")
        } else {
            continue;
        };
        out.push(Finding {
            file: identity.raw.file.clone(),
            pos: identity.raw.pos,
            severity: Severity::Error,
            rule: IDENTITY_MUST_BIND,
            message: format!("{MSG_MUST_BIND} {detail}"),
        });
    }
}

/// Ours: the reverse-tunnel guide says a literal identity path should warn (upstream
/// accepts it silently). "Literal" means no `{{…}}` reference of any form, so
/// `{{ZITI_IDENTITY}}` (a flat bind key) is not flagged here.
fn identity_literal(t: &Tunnel, out: &mut Vec<Finding>) {
    let Some(identity) = &t.identity else { return };
    if !identity.is_literal() {
        return;
    }
    let what = if identity.raw.value.trim().is_empty() {
        "tunnel.identity is empty".to_string()
    } else {
        format!("tunnel.identity '{}' is a literal path", identity.raw.value)
    };
    out.push(Finding {
        file: identity.raw.file.clone(),
        pos: identity.raw.pos,
        severity: Severity::Warn,
        rule: IDENTITY_LITERAL_WARNS,
        message: format!("{what}; identities must come through binds: declare the path as a bind key and write '{{{{namespace.KEY}}}}'."),
    });
}

/// `ikanos-tunnel-fallback-direct-warns`. Upstream reports at the baseUri; this
/// reports at the `fallback` value, the field to change (the upstream message names
/// both fields, so nothing is lost).
fn fallback_direct(c: &Consumes, t: &Tunnel, out: &mut Vec<Finding>) {
    if t.fallback != Fallback::Direct || is_loopback_base_uri(&c.base_uri_raw.value) {
        return;
    }
    out.push(Finding {
        file: c.base_uri_raw.file.clone(),
        pos: t.fallback_pos.unwrap_or(t.pos),
        severity: Severity::Warn,
        rule: FALLBACK_DIRECT_WARNS,
        message: MSG_FALLBACK.to_string(),
    });
}

/// `ikanos-tunnel-with-public-baseuri-warns`, at the baseUri value.
fn public_base_uri(c: &Consumes, out: &mut Vec<Finding>) {
    if !is_public_base_uri(&c.base_uri_raw.value) {
        return;
    }
    out.push(Finding {
        file: c.base_uri_raw.file.clone(),
        pos: c.base_uri_raw.pos,
        severity: Severity::Info,
        rule: PUBLIC_BASEURI,
        message: MSG_PUBLIC.to_string(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_compile() {
        assert!(LOOPBACK.is_some());
        assert!(PUBLIC_TLD.is_some());
        assert!(MUSTACHE.is_some());
    }

    #[test]
    fn display() {
        let f = Finding {
            file: "a.yaml".into(),
            pos: Pos { line: 3, col: 7 },
            severity: Severity::Warn,
            rule: FALLBACK_DIRECT_WARNS,
            message: "m".into(),
        };
        assert_eq!(
            f.to_string(),
            "a.yaml:3:7: warning ikanos-tunnel-fallback-direct-warns: m"
        );
        let whole = Finding {
            pos: Pos::default(),
            severity: Severity::Error,
            rule: VALIDATE,
            ..f
        };
        assert_eq!(whole.to_string(), "a.yaml: error validate: m");
    }
}
