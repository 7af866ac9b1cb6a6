//! The reverse-tunnel rules: upstream's three (`tunnel-identity-binds-ref.js` and two
//! `pattern` rules) and this project's `ikanos-tunnel-identity-literal-warns`.
//!
//! Owns: these four rules over a document (as Spectral runs upstream's), and the same
//! four over the consumes entries a loaded capability imported from other files.
//! Must not touch: files, the environment, the model, or the tunnel providers' own
//! keys (the host checks those: `ikanos-tunnel-provider-keys`).
//!
//! Fidelity notes, so that verdicts stay the upstream ones:
//! - The baseUri patterns run on the text as written, not on a normalised URL:
//!   Spectral sees the YAML string, so `HTTPS://X.COM`, `http://LOCALHOST` or
//!   `http://127.1` must be judged as written.
//! - Spectral's `pattern` compiles `new RegExp(p)` with no flags: case-sensitive, and
//!   `[^/]` / `$` mean the same in the `regex` crate, so those two patterns are used as
//!   they are. The identity pattern (JS flags `gi`) is spelt out with ASCII classes and
//!   JavaScript's `\s` set, because the `regex` crate's `(?i)` and `\s` are
//!   Unicode-wide (e.g. the Kelvin sign would match `k`) and JavaScript's are not.
//! - The document rules see the document's own `binds` and `capability.binds` only,
//!   as upstream; imported entries are judged with the whole capability's binds,
//!   which is what the host will resolve them against.
//! - The filters are JS loose equality: `fallback: [direct]` is a direct fallback to
//!   Spectral, so it is one here.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;

use super::document::Hit;
use super::{at, Cx, Finding, RuleInfo, Severity};
use crate::model::{Capability, Fallback, Template};

pub const MUST_BIND: RuleInfo = RuleInfo {
    name: "ikanos-tunnel-identity-must-bind",
    severity: Severity::Error,
    recommended: true,
    upstream: true,
    message: "tunnel.identity must reference a declared binding.",
    summary:
        "every {{ns.KEY}} in tunnel.identity names a declared bind namespace that has that key",
};
pub const FALLBACK_DIRECT: RuleInfo = RuleInfo {
    name: "ikanos-tunnel-fallback-direct-warns",
    severity: Severity::Warn,
    recommended: true,
    upstream: true,
    message: "'tunnel.fallback: direct' on a non-loopback baseUri silently bypasses the tunnel and may leak traffic. Use 'fail' unless the baseUri itself is private/loopback.",
    summary: "tunnel.fallback: direct on a baseUri that is not 127.0.0.1, localhost or [::1]",
};
pub const PUBLIC_BASEURI: RuleInfo = RuleInfo {
    name: "ikanos-tunnel-with-public-baseuri-warns",
    severity: Severity::Info,
    recommended: true,
    upstream: true,
    message: "Tunnel target uses a public TLD baseUri — confirm the hostname truly resolves through the tunnel and not via public DNS.",
    summary: "a tunnelled baseUri on a public TLD (.com .net .org .io .co .app .dev .cloud .ai)",
};
pub const IDENTITY_LITERAL: RuleInfo = RuleInfo {
    name: "ikanos-tunnel-identity-literal-warns",
    severity: Severity::Warn,
    recommended: true,
    upstream: false,
    message: "",
    summary: "tunnel.identity written as a literal path instead of a {{ns.KEY}} bind reference (this host's rule)",
};

/// Upstream: `^https?://(127\.0\.0\.1|localhost|\[::1\])(:|/|$)` (`match`: fire when it does not).
static LOOPBACK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:|/|$)").expect("constant regex")
});
/// Upstream: `^https?://[^/]+\.(com|net|org|io|co|app|dev|cloud|ai)(:|/|$)` (`notMatch`: fire when it does).
static PUBLIC_TLD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^https?://[^/]+\.(com|net|org|io|co|app|dev|cloud|ai)(:|/|$)")
        .expect("constant regex")
});
/// Upstream: `/\{\{\s*([a-z0-9-]+)\.([a-z0-9-_]+)\s*\}\}/gi`, with `i` written out as
/// ASCII ranges and `\s` as JavaScript's whitespace set.
static MUSTACHE: LazyLock<Regex> = LazyLock::new(|| {
    const JS_S: &str = r"[\t\n\x0B\x0C\r \x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}]";
    Regex::new(&format!(
        r"\{{\{{{JS_S}*([A-Za-z0-9-]+)\.([A-Za-z0-9_-]+){JS_S}*\}}\}}"
    ))
    .expect("constant regex")
});

/// The `{{ns.key}}` references upstream's pattern finds, in order (JS `matchAll`).
pub fn identity_refs(identity: &str) -> Vec<(&str, &str)> {
    MUSTACHE
        .captures_iter(identity)
        .filter_map(|c| Some((c.get(1)?.as_str(), c.get(2)?.as_str())))
        .collect()
}

/// True when upstream's loopback pattern matches `base_uri` (as written).
pub fn is_loopback_base_uri(base_uri: &str) -> bool {
    LOOPBACK.is_match(base_uri)
}

/// True when upstream's public-TLD pattern matches `base_uri` (as written).
pub fn is_public_base_uri(base_uri: &str) -> bool {
    PUBLIC_TLD.is_match(base_uri)
}

/// `ikanos-tunnel-identity-must-bind`'s detail for each distinct reference in
/// `identity` that `binds` (namespace → its keys) does not resolve. Namespace and key
/// compare exactly (the pattern's `i` flag only widens which characters a reference
/// may hold). Upstream emits one result per offending reference and Spectral merges
/// those at one path; here each distinct reference is reported once, with its detail.
fn unbound(identity: &str, binds: &HashMap<String, HashSet<String>>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (ns, key) in identity_refs(identity) {
        if !seen.insert((ns, key)) {
            continue;
        }
        match binds.get(ns) {
            None => out.push(format!("tunnel.identity references binding namespace '{ns}' but no matching entry exists in 'binds' or 'capability.binds'.")),
            Some(keys) if !keys.contains(key) => out.push(format!("tunnel.identity references key '{key}' on binding '{ns}', but that key is not declared. Add it to binds[{ns}].keys.")),
            Some(_) => {}
        }
    }
    out
}

/// Ours: the reverse-tunnel guide says a literal identity path should warn (upstream
/// accepts it silently). "Literal" means no `{{…}}` reference of any form, as the
/// loader reads templates, so `{{ZITI_IDENTITY}}` (a flat bind key) is not flagged.
fn literal_message(identity: &str) -> Option<String> {
    let template = Template::parse(crate::model::Spanned {
        value: identity.to_string(),
        pos: crate::model::Pos::default(),
        file: std::path::PathBuf::new(),
    });
    if !template.is_literal() {
        return None;
    }
    let what = if identity.trim().is_empty() {
        "tunnel.identity is empty".to_string()
    } else {
        format!("tunnel.identity '{identity}' is a literal path")
    };
    Some(format!("{what}; identities must come through binds: declare the path as a bind key and write '{{{{namespace.KEY}}}}'."))
}

pub(super) fn run(root: Hit<'_>, cx: &mut Cx<'_>) {
    // `tunnel-identity-binds-ref.js`: the binds of `binds` and `capability.binds`
    // (same namespace twice: the keys add up; `keys` as a list: its indices).
    let mut binds: HashMap<String, HashSet<String>> = HashMap::new();
    for list in [at(root, &["binds"]), at(root, &["capability", "binds"])] {
        for bind in list.and_then(|l| l.list()).unwrap_or_default() {
            let Some(ns) = bind.str("namespace") else {
                continue;
            };
            let keys = binds.entry(ns.to_string()).or_default();
            if let Some(k) = bind.get("keys").filter(Hit::is_object) {
                keys.extend(k.keys());
            }
        }
    }
    for list in [
        at(root, &["consumes"]),
        at(root, &["capability", "consumes"]),
    ] {
        // The function reads lists only; the two `pattern` rules select with
        // `[?(…)]`, which also visits a mapping's values.
        for entry in list.and_then(|l| l.list()).unwrap_or_default() {
            let Some(identity) = entry
                .get("tunnel")
                .filter(Hit::is_object)
                .and_then(|t| t.get("identity"))
            else {
                continue;
            };
            if let Some(text) = identity.as_str() {
                for detail in unbound(text, &binds) {
                    cx.detail(&MUST_BIND, identity.pos, &detail);
                }
                if let Some(message) = literal_message(text) {
                    cx.say(&IDENTITY_LITERAL, identity.pos, message);
                }
            }
        }
        let tunnelled = list
            .map(|l| l.filter(|e| e.get("tunnel").is_some_and(|t| t.truthy())))
            .unwrap_or_default();
        for entry in tunnelled {
            let Some(base) = entry.get("baseUri") else {
                continue;
            };
            let Some(text) = base.as_str() else { continue };
            // `[?(@.tunnel && @.tunnel.fallback == 'direct')].baseUri`; match loopback.
            // Reported at the fallback value, the field to change.
            if let Some(fallback) = entry
                .get("tunnel")
                .and_then(|t| t.get("fallback"))
                .filter(|f| f.loose_eq("direct"))
            {
                if !is_loopback_base_uri(text) {
                    cx.fire(&FALLBACK_DIRECT, fallback.pos);
                }
            }
            // `[?(@.tunnel)].baseUri`; notMatch public TLD.
            if is_public_base_uri(text) {
                cx.fire(&PUBLIC_BASEURI, base.pos);
            }
        }
    }
}

/// The four rules for consumes entries that came from other files than the
/// capability's own, each reported in its file.
pub(super) fn imported(cap: &Capability) -> Vec<Finding> {
    let mut binds: HashMap<String, HashSet<String>> = HashMap::new();
    for b in &cap.binds {
        binds
            .entry(b.namespace.value.clone())
            .or_default()
            .extend(b.keys.iter().map(|(k, _)| k.value.clone()));
    }
    let mut out = Vec::new();
    let mut push = |file: &std::path::Path, pos, rule: &RuleInfo, message: String| {
        out.push(Finding {
            file: file.to_path_buf(),
            pos,
            severity: rule.severity,
            rule: rule.name,
            message,
        });
    };
    for c in cap
        .consumes
        .iter()
        .filter(|c| c.base_uri_raw.file != cap.file)
    {
        let Some(t) = &c.tunnel else { continue };
        if let Some(identity) = &t.identity {
            let raw = &identity.raw;
            for detail in unbound(&raw.value, &binds) {
                let message = format!("{} {detail}", MUST_BIND.message);
                push(&raw.file, raw.pos, &MUST_BIND, message);
            }
            if let Some(message) = literal_message(&raw.value) {
                push(&raw.file, raw.pos, &IDENTITY_LITERAL, message);
            }
        }
        let base = &c.base_uri_raw;
        if t.fallback == Fallback::Direct && !is_loopback_base_uri(&base.value) {
            let pos = t.fallback_pos.unwrap_or(t.pos);
            push(
                &base.file,
                pos,
                &FALLBACK_DIRECT,
                FALLBACK_DIRECT.message.into(),
            );
        }
        if is_public_base_uri(&base.value) {
            push(
                &base.file,
                base.pos,
                &PUBLIC_BASEURI,
                PUBLIC_BASEURI.message.into(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_compile() {
        assert!(is_loopback_base_uri("http://localhost"));
        assert!(is_public_base_uri("https://x.io"));
        assert_eq!(identity_refs("{{a.b}}"), vec![("a", "b")]);
    }
}
