//! Lint: advice about a capability file, in the upstream linter's terms.
//!
//! Owns: the 33 rules of upstream's Spectral ruleset `ikanos-rules.yml` (same names,
//! severities, `recommended` flags and messages) plus one of this project's
//! (`ikanos-tunnel-identity-literal-warns`); the `Finding` record and its
//! `file:line:col: severity rule: message` rendering; turning a failed load's
//! diagnostics into findings so a command can print one list.
//! Must not touch: files, the environment or the terminal, and must not change the
//! model: these are pure functions over a parsed YAML document (`yaml::Node`) or a
//! `model::Capability` that `load` built (reading, loading, printing and exit codes
//! are the callers').
//!
//! Why the rules read the YAML document and not the model: Spectral runs them on the
//! document as written, so a file this host's stricter loader refuses still gets
//! upstream's verdicts, and a key the model does not keep (e.g. `info.tags`) can be
//! judged. `document` holds that JavaScript-faithful view; one module per group of the
//! ruleset holds the rules: `structure` (1. structure & consistency), `quality`
//! (2. quality & discoverability), `security` (3.), `control` (4. control port and
//! 5. script steps), `imports` (6.) and `tunnel` (the reverse-tunnel rules).
//!
//! Verdicts are Spectral's, checked by the differential test against the real
//! Spectral CLI (`host/spec/tests/spectral.rs`), with these deliberate differences:
//! - `ikanos-tunnel-fallback-direct-warns` is reported at the `fallback` value, the
//!   field to change (Spectral: at the baseUri; the message names both).
//! - Messages: Spectral prints the rule's message and drops what a custom function
//!   said; here a rule backed by a function appends upstream's detail (which
//!   namespace, which port…) to the rule's message. The two `{{error}}` rules print
//!   the function's message alone, as Spectral does.
//! - Inputs that make Spectral abort the whole run (a `null` entry in a list a filter
//!   or function reads, e.g. `exposes: [~]`) are linted here, the `null` skipped.
//! - Entries imported from other files (`from:`) are not part of the document
//!   Spectral sees; `imported` checks their tunnels in their own files with the whole
//!   capability's binds.

mod control;
mod document;
mod imports;
mod quality;
mod security;
mod structure;
mod tunnel;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::model::{Capability, Pos};
use crate::yaml::Node;
use crate::Diagnostic;

use document::Hit;

pub use tunnel::{identity_refs, is_loopback_base_uri, is_public_base_uri};

/// The tunnel rules' names, as upstream spells them (ours carries the same prefix).
pub const IDENTITY_MUST_BIND: &str = tunnel::MUST_BIND.name;
pub const FALLBACK_DIRECT_WARNS: &str = tunnel::FALLBACK_DIRECT.name;
pub const PUBLIC_BASEURI: &str = tunnel::PUBLIC_BASEURI.name;
pub const IDENTITY_LITERAL_WARNS: &str = tunnel::IDENTITY_LITERAL.name;
/// The pseudo-rule of a load diagnostic.
pub const VALIDATE: &str = "validate";

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

/// A rule this module implements.
#[derive(Debug, Clone, Copy)]
pub struct RuleInfo {
    pub name: &'static str,
    pub severity: Severity,
    /// Upstream's `recommended`: Spectral runs a rule marked `recommended: false` only
    /// when the ruleset is extended with `all`; here only with [`RuleSet::All`].
    pub recommended: bool,
    /// False for this project's own rules.
    pub upstream: bool,
    /// The rule's message (upstream's `message`, folded as YAML folds it); empty for
    /// the `{{error}}` rules, whose message is the function's.
    pub message: &'static str,
    /// One line for help texts.
    pub summary: &'static str,
}

/// Which rules run, as Spectral's `extends: [ikanos-rules.yml]` (the recommended
/// ones) or `extends: [[ikanos-rules.yml, all]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuleSet {
    #[default]
    Recommended,
    All,
}

/// Every rule, upstream's in the ruleset's order, then ours.
pub const RULES: &[RuleInfo] = &[
    structure::NAMESPACES_UNIQUE,
    structure::BASEURI_NO_TRAILING_SLASH,
    structure::CONSUMED_PATH_NO_QUERY,
    structure::REST_PATH_NO_TRAILING_SLASH,
    structure::REST_PATH_NO_QUERY,
    structure::ADDRESS_NOT_EXAMPLE,
    structure::FLOW_DESCRIPTION,
    structure::SEMANTICS_CONSISTENCY,
    structure::MCP_AUTH_STDIO,
    structure::OAUTH2_HTTPS_AUTHSERVER,
    structure::OAUTH2_RESOURCE_HTTPS,
    structure::OAUTH2_SCOPES,
    quality::INFO_TAGS,
    quality::CONSUMES_DESCRIPTION,
    quality::REST_RESOURCE_DESCRIPTION,
    quality::REST_OPERATION_DESCRIPTION,
    security::NO_SCRIPT_TAGS,
    security::NO_EVAL,
    security::BASEURI_NOT_EXAMPLE,
    control::PORT_SINGLETON_AND_UNIQUE,
    control::ADDRESS_LOCALHOST,
    control::SCRIPT_DEFAULTS,
    imports::FROM_REQUIRED,
    imports::IMPORT_REQUIRED,
    imports::UNIQUE_ALIAS,
    imports::FROM_NOT_SELF,
    imports::STANDALONE_NO_IMPORTS,
    imports::EXPOSES_NAMESPACE,
    imports::AGGREGATES_NAMESPACE,
    imports::UNIQUE_FUNCTION_NAME,
    tunnel::MUST_BIND,
    tunnel::FALLBACK_DIRECT,
    tunnel::PUBLIC_BASEURI,
    tunnel::IDENTITY_LITERAL,
];

/// Every finding of the rules in `set` for one parsed document, sorted by position.
/// `file` only names the findings' file.
pub fn document(file: &Path, root: &Node, set: RuleSet) -> Vec<Finding> {
    let mut cx = Cx {
        file,
        set,
        out: Vec::new(),
    };
    let root = Hit::root(root);
    structure::run(root, &mut cx);
    quality::run(root, &mut cx);
    security::run(root, &mut cx);
    control::run(root, &mut cx);
    imports::run(root, &mut cx);
    tunnel::run(root, &mut cx);
    let mut out = cx.out;
    sort(&mut out);
    out
}

/// The tunnel rules for the consumes entries a loaded capability imported from other
/// files (`document` saw only their `{from, import}` stubs), each in its own file and
/// judged with every bind the capability declares or imports. Sorted.
pub fn imported(cap: &Capability) -> Vec<Finding> {
    let mut out = tunnel::imported(cap);
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
/// the order rules ran in. Exact repeats go (two `given` paths reaching one node,
/// a shared file imported twice).
pub fn sort(findings: &mut Vec<Finding>) {
    findings.sort_by(|a, b| {
        (&a.file, a.pos, a.severity, a.rule, &a.message)
            .cmp(&(&b.file, b.pos, b.severity, b.rule, &b.message))
    });
    findings.dedup();
}

/// What the rules write into while one document is linted.
pub(crate) struct Cx<'f> {
    file: &'f Path,
    set: RuleSet,
    out: Vec<Finding>,
}

impl Cx<'_> {
    fn enabled(&self, rule: &RuleInfo) -> bool {
        rule.recommended || self.set == RuleSet::All
    }

    /// A finding with the rule's own message.
    pub fn fire(&mut self, rule: &RuleInfo, pos: Pos) {
        self.say(rule, pos, rule.message.to_string());
    }

    /// A finding with the rule's message followed by upstream's detail.
    pub fn detail(&mut self, rule: &RuleInfo, pos: Pos, detail: &str) {
        self.say(rule, pos, format!("{} {detail}", rule.message));
    }

    /// A finding with this message only (the `{{error}}` rules).
    pub fn say(&mut self, rule: &RuleInfo, pos: Pos, message: String) {
        if !self.enabled(rule) {
            return;
        }
        self.out.push(Finding {
            file: self.file.to_path_buf(),
            pos,
            severity: rule.severity,
            rule: rule.name,
            message,
        });
    }

    /// Spectral's `truthy` with `field`: fires when the field is missing or falsy.
    /// As Spectral's `getLintTargets`, a hit that is not a mapping or a list is itself
    /// the value judged (so `- some text` has a truthy "description").
    pub fn truthy<'a>(
        &mut self,
        rule: &RuleInfo,
        hits: impl IntoIterator<Item = Hit<'a>>,
        field: &str,
    ) {
        self.fire_where(rule, hits, field, false);
    }

    /// Spectral's `falsy` with `field`: fires when the field is truthy.
    pub fn falsy<'a>(
        &mut self,
        rule: &RuleInfo,
        hits: impl IntoIterator<Item = Hit<'a>>,
        field: &str,
    ) {
        self.fire_where(rule, hits, field, true);
    }

    /// Fire for each hit whose `field` is truthy (`when_truthy`) or not.
    fn fire_where<'a>(
        &mut self,
        rule: &RuleInfo,
        hits: impl IntoIterator<Item = Hit<'a>>,
        field: &str,
        when_truthy: bool,
    ) {
        for h in hits {
            let (value, pos) = target(h, field);
            if value.is_some_and(|v| v.truthy()) == when_truthy {
                self.fire(rule, pos);
            }
        }
    }

    /// Spectral's `pattern` on string values (others are skipped, as its input schema
    /// says): fires when `fires(text)`. `field` None judges the hit itself.
    pub fn pattern<'a>(
        &mut self,
        rule: &RuleInfo,
        hits: impl IntoIterator<Item = Hit<'a>>,
        field: Option<&str>,
        fires: impl Fn(&str) -> bool,
    ) {
        for h in hits {
            let (value, pos) = match field {
                Some(f) => target(h, f),
                None => (Some(h), h.pos),
            };
            if value.and_then(|v| v.as_str()).is_some_and(&fires) {
                self.fire(rule, pos);
            }
        }
    }
}

/// The value `field` names on `h` and where a result on it goes (Spectral's
/// `getLintTargets` with a plain field name, and the closest existing path).
fn target<'a>(h: Hit<'a>, field: &str) -> (Option<Hit<'a>>, Pos) {
    if h.is_object() {
        match h.get(field) {
            Some(v) => (Some(v), v.pos),
            None => (None, h.pos),
        }
    } else {
        (Some(h), h.pos)
    }
}

/// `root.a.b…` through mappings.
pub(crate) fn at<'a>(root: Hit<'a>, path: &[&str]) -> Option<Hit<'a>> {
    path.iter().try_fold(root, |h, k| h.get(k))
}

/// `root.a.b[*]`: the members of the value at `path`, none when it is absent.
pub(crate) fn each<'a>(root: Hit<'a>, path: &[&str]) -> Vec<Hit<'a>> {
    at(root, path).map(|h| h.members()).unwrap_or_default()
}

/// The members of every hit's `key` (`…[*].key[*]`).
pub(crate) fn each_of<'a>(hits: &[Hit<'a>], key: &str) -> Vec<Hit<'a>> {
    hits.iter()
        .filter_map(|h| h.get(key))
        .flat_map(|h| h.members())
        .collect()
}

/// Every hit's `key`, where it has one (`….key`).
pub(crate) fn field_of<'a>(hits: &[Hit<'a>], key: &str) -> Vec<Hit<'a>> {
    hits.iter().filter_map(|h| h.get(key)).collect()
}

/// `$.capability.exposes[?(@.type == 'kind')]`.
pub(crate) fn exposes_of<'a>(root: Hit<'a>, kind: &str) -> Vec<Hit<'a>> {
    at(root, &["capability", "exposes"])
        .map(|e| e.filter(|a| a.get("type").is_some_and(|t| t.loose_eq(kind))))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn thirty_three_upstream_rules_with_distinct_names() {
        assert_eq!(RULES.iter().filter(|r| r.upstream).count(), 33);
        let mut names: Vec<&str> = RULES.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RULES.len());
        assert!(RULES.iter().all(|r| r.name.starts_with("ikanos-")));
    }
}
