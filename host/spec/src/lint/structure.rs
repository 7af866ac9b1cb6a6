//! Upstream's "1. Structure & consistency" rules: namespaces, paths, addresses,
//! aggregate flows, MCP over stdio and OAuth 2 settings.
//!
//! Owns: these twelve rules, each as Spectral evaluates its `given`, `then` and custom
//! function (`unique-namespaces.js`, `aggregate-semantics-consistency.js`).
//! Must not touch: other groups' rules, files or the model.
//!
//! Surprises kept because Spectral has them:
//! - The three OAuth 2 rules select `authentication[?(@.type == 'oauth2')]`, which
//!   visits the *members* of `authentication`. The schema makes `authentication` one
//!   mapping, whose members are its scalar settings, so the rules never fire on a
//!   schema-valid file; they fire only when `authentication` is a list of (or a
//!   mapping of) mappings with `type: oauth2`.
//! - `ikanos-aggregate-semantics-consistency` reads `flows` as a mapping (or the
//!   legacy lists with `name`), and compares only booleans (`safe: "true"` is ignored).

use std::collections::HashMap;

use super::document::Hit;
use super::{at, each, each_of, exposes_of, field_of, Cx, RuleInfo, Severity};

pub const NAMESPACES_UNIQUE: RuleInfo = RuleInfo {
    name: "ikanos-namespaces-unique",
    severity: Severity::Error,
    recommended: true,
    upstream: true,
    message: "Namespaces must be globally unique across all adapters and bindings.",
    summary: "a namespace is used once across root and capability consumes, capability exposes, root and capability binds",
};
pub const BASEURI_NO_TRAILING_SLASH: RuleInfo = RuleInfo {
    name: "ikanos-consumes-baseuri-no-trailing-slash",
    severity: Severity::Warn,
    recommended: true,
    upstream: true,
    message: "The `consumes.baseUri` should not have a trailing slash.",
    summary: "a consumes baseUri does not end with /",
};
pub const CONSUMED_PATH_NO_QUERY: RuleInfo = RuleInfo {
    name: "ikanos-consumed-resource-no-query-in-path",
    severity: Severity::Warn,
    recommended: true,
    upstream: true,
    message: "Consumed resource `path` must not contain a query string. Use `inputParameters` with `in: query` instead.",
    summary: "a consumed resource path (type: http) has no ?",
};
pub const REST_PATH_NO_TRAILING_SLASH: RuleInfo = RuleInfo {
    name: "ikanos-rest-resource-path-no-trailing-slash",
    severity: Severity::Warn,
    recommended: true,
    upstream: true,
    message: "Exposed resource `path` must not have a trailing slash.",
    summary: "an exposed REST resource path does not end with /",
};
pub const REST_PATH_NO_QUERY: RuleInfo = RuleInfo {
    name: "ikanos-rest-resource-path-no-query",
    severity: Severity::Warn,
    recommended: true,
    upstream: true,
    message: "Exposed resource `path` must not contain a query string. Use `inputParameters` with `in: query` instead.",
    summary: "an exposed REST resource path has no ?",
};
pub const ADDRESS_NOT_EXAMPLE: RuleInfo = RuleInfo {
    name: "ikanos-address-not-example",
    severity: Severity::Warn,
    recommended: true,
    upstream: true,
    message: "Server `address`, when present, should not be example.com.",
    summary: "a rest, mcp or skill address does not end with example.com",
};
pub const FLOW_DESCRIPTION: RuleInfo = RuleInfo {
    name: "ikanos-aggregate-flow-description",
    severity: Severity::Warn,
    recommended: true,
    upstream: true,
    message: "Each aggregate flow should have a `description` field.",
    summary: "every aggregate flow has a description",
};
pub const SEMANTICS_CONSISTENCY: RuleInfo = RuleInfo {
    name: "ikanos-aggregate-semantics-consistency",
    severity: Severity::Warn,
    recommended: true,
    upstream: true,
    message: "Aggregate flow semantics must be consistent with MCP tool hints and REST operation methods.",
    summary: "an MCP tool's hints or a REST operation's method agree with the semantics of the flow it refs",
};
pub const MCP_AUTH_STDIO: RuleInfo = RuleInfo {
    name: "ikanos-mcp-auth-stdio-conflict",
    severity: Severity::Warn,
    recommended: true,
    upstream: true,
    message: "MCP `authentication` should not be set when `transport` is `stdio`.",
    summary: "an MCP adapter with transport: stdio has no authentication",
};
pub const OAUTH2_HTTPS_AUTHSERVER: RuleInfo = RuleInfo {
    name: "ikanos-oauth2-https-authserver",
    severity: Severity::Error,
    recommended: true,
    upstream: true,
    message: "OAuth2 `authorizationServerUri` must use the `https://` scheme.",
    summary: "an oauth2 authorizationServerUri starts with https:// (upstream selects only oauth2 entries listed under authentication, never its one schema mapping)",
};
pub const OAUTH2_RESOURCE_HTTPS: RuleInfo = RuleInfo {
    name: "ikanos-oauth2-resource-https",
    severity: Severity::Warn,
    recommended: true,
    upstream: true,
    message: "OAuth2 `resource` should use the `https://` scheme for production.",
    summary: "an oauth2 resource starts with https:// (same selection)",
};
pub const OAUTH2_SCOPES: RuleInfo = RuleInfo {
    name: "ikanos-oauth2-scopes-defined",
    severity: Severity::Warn,
    recommended: true,
    upstream: true,
    message: "OAuth2 authentication should define `scopes` for scope challenge support.",
    summary: "an oauth2 authentication defines scopes (same selection)",
};

pub(super) fn run(root: Hit<'_>, cx: &mut Cx<'_>) {
    unique_namespaces(root, cx);

    // `$.consumes[*].baseUri`, `$.capability.consumes[*].baseUri`; notMatch `/$`.
    let consumes = [
        each(root, &["consumes"]),
        each(root, &["capability", "consumes"]),
    ]
    .concat();
    cx.pattern(
        &BASEURI_NO_TRAILING_SLASH,
        field_of(&consumes, "baseUri"),
        None,
        |s| s.ends_with('/'),
    );

    // `…consumes[?(@.type == 'http')].resources[*].path`; notMatch `\?`.
    let http: Vec<Hit<'_>> = [
        at(root, &["consumes"]),
        at(root, &["capability", "consumes"]),
    ]
    .into_iter()
    .flatten()
    .flat_map(|c| c.filter(|e| e.get("type").is_some_and(|t| t.loose_eq("http"))))
    .collect();
    let paths = field_of(&each_of(&http, "resources"), "path");
    cx.pattern(&CONSUMED_PATH_NO_QUERY, paths, None, |s| s.contains('?'));

    // `$.capability.exposes[?(@.type == 'rest')].resources[*].path`.
    let rest_paths = field_of(&each_of(&exposes_of(root, "rest"), "resources"), "path");
    cx.pattern(
        &REST_PATH_NO_TRAILING_SLASH,
        rest_paths.clone(),
        None,
        |s| s.ends_with('/'),
    );
    cx.pattern(&REST_PATH_NO_QUERY, rest_paths, None, |s| s.contains('?'));

    // rest, mcp and skill `address`; notMatch `example\.com$`.
    let servers: Vec<Hit<'_>> = ["rest", "mcp", "skill"]
        .into_iter()
        .flat_map(|kind| exposes_of(root, kind))
        .collect();
    cx.pattern(
        &ADDRESS_NOT_EXAMPLE,
        field_of(&servers, "address"),
        None,
        |s| s.ends_with("example.com"),
    );

    // `$.capability.aggregates[*].flows[*]`, field description, truthy.
    let flows = each_of(&each(root, &["capability", "aggregates"]), "flows");
    cx.truthy(&FLOW_DESCRIPTION, flows, "description");

    semantics_consistency(root, cx);

    // `$.capability.exposes[?(@.type == 'mcp' && @.transport == 'stdio')]`, falsy authentication.
    let stdio: Vec<Hit<'_>> = exposes_of(root, "mcp")
        .into_iter()
        .filter(|a| a.get("transport").is_some_and(|t| t.loose_eq("stdio")))
        .collect();
    cx.falsy(&MCP_AUTH_STDIO, stdio, "authentication");

    // `$.capability.exposes[*].authentication[?(@.type == 'oauth2')]`.
    let oauth2: Vec<Hit<'_>> = field_of(&each(root, &["capability", "exposes"]), "authentication")
        .into_iter()
        .flat_map(|a| a.filter(|m| m.get("type").is_some_and(|t| t.loose_eq("oauth2"))))
        .collect();
    let not_https = |s: &str| !s.starts_with("https://");
    cx.pattern(
        &OAUTH2_HTTPS_AUTHSERVER,
        oauth2.clone(),
        Some("authorizationServerUri"),
        not_https,
    );
    cx.pattern(
        &OAUTH2_RESOURCE_HTTPS,
        oauth2.clone(),
        Some("resource"),
        not_https,
    );
    cx.truthy(&OAUTH2_SCOPES, oauth2, "scopes");
}

/// `unique-namespaces.js`: root consumes, capability consumes and exposes ("adapter"),
/// then root and capability binds ("bind"); every non-empty string namespace after
/// the first use of its value is reported at itself.
fn unique_namespaces(root: Hit<'_>, cx: &mut Cx<'_>) {
    let sections: [(&[&str], &str); 5] = [
        (&["consumes"], "adapter"),
        (&["capability", "consumes"], "adapter"),
        (&["capability", "exposes"], "adapter"),
        (&["binds"], "bind"),
        (&["capability", "binds"], "bind"),
    ];
    let mut seen: HashMap<&str, (String, &str)> = HashMap::new();
    for (path, kind) in sections {
        let Some(items) = at(root, path).and_then(|h| h.list()) else {
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            let Some(ns) = item.get("namespace") else {
                continue;
            };
            let Some(value) = ns.as_str().filter(|s| !s.is_empty()) else {
                continue;
            };
            let here = format!("{}/{i}/namespace", path.join("/"));
            match seen.get(value) {
                None => {
                    seen.insert(value, (here, kind));
                }
                Some((prior, prior_kind)) => {
                    let scope = if *prior_kind == kind {
                        kind
                    } else {
                        "adapter and bind"
                    };
                    cx.detail(
                        &NAMESPACES_UNIQUE,
                        ns.pos,
                        &format!("Namespace '{value}' is already used at {prior}. Namespaces must be globally unique across {scope} entries."),
                    );
                }
            }
        }
    }
}

/// The named members of a keyed collection, as `toNamedEntries` in
/// `aggregate-semantics-consistency.js`: a mapping's entries by key; else a list's
/// items that have a string `name`; else the same for the `legacy` list.
fn named<'a>(primary: Option<Hit<'a>>, legacy: Option<Hit<'a>>) -> Vec<(String, Hit<'a>)> {
    if let Some(p) = primary.filter(Hit::is_map) {
        return p
            .keys()
            .into_iter()
            .filter_map(|k| Some((k.clone(), p.get(&k)?)))
            .collect();
    }
    let by_name = |l: Hit<'a>| -> Vec<(String, Hit<'a>)> {
        l.members()
            .into_iter()
            .filter_map(|v| Some((v.str("name")?.to_string(), v)))
            .collect()
    };
    if let Some(l) = primary.filter(|p| p.list().is_some()) {
        return by_name(l);
    }
    match legacy.filter(|l| l.list().is_some()) {
        Some(l) => by_name(l),
        None => Vec::new(),
    }
}

/// `aggregate-semantics-consistency.js`: the `semantics` of every flow, by
/// `namespace.flow`, against the hints of MCP tools and the methods of REST
/// operations that `ref` it.
fn semantics_consistency(root: Hit<'_>, cx: &mut Cx<'_>) {
    let Some(capability) = root.get("capability").filter(Hit::is_object) else {
        return;
    };
    // `capability.aggregates`: a list, or a mapping read by its values.
    let aggregates = match capability.get("aggregates") {
        Some(a) if a.is_object() => a.members(),
        _ => Vec::new(),
    };
    if aggregates.is_empty() {
        return;
    }
    // A later flow of the same name replaces an earlier one (JS `Map.set`).
    let mut semantics: HashMap<String, Option<Hit<'_>>> = HashMap::new();
    for agg in &aggregates {
        let Some(ns) = agg.str("namespace") else {
            continue;
        };
        for (name, flow) in named(agg.get("flows"), agg.get("functions")) {
            if !flow.is_object() {
                continue;
            }
            let s = flow.get("semantics").filter(Hit::is_object);
            semantics.insert(format!("{ns}.{name}"), s);
        }
    }
    let Some(exposes) = capability.get("exposes").and_then(|e| e.list()) else {
        return;
    };
    for adapter in exposes.iter().filter(|a| a.is_object()) {
        let kind = adapter.str("type");
        if kind == Some("mcp") {
            for (_, tool) in named(adapter.get("tools"), None) {
                let Some(target) = tool.str("ref") else {
                    continue;
                };
                let Some(Some(sem)) = semantics.get(target) else {
                    continue;
                };
                let Some(hints) = tool.get("hints").filter(Hit::is_object) else {
                    continue;
                };
                tool_hints(cx, target, *sem, hints);
            }
        } else if kind == Some("rest") {
            for (_, resource) in named(adapter.get("resources"), None) {
                if !resource.is_object() {
                    continue;
                }
                for (_, op) in named(resource.get("operations"), None) {
                    let (Some(target), Some(method)) = (op.str("ref"), op.get("method")) else {
                        continue;
                    };
                    let Some(m) = method.as_str() else { continue };
                    let Some(Some(sem)) = semantics.get(target) else {
                        continue;
                    };
                    rest_method(cx, target, *sem, &m.to_uppercase(), method);
                }
            }
        }
    }
}

fn flag(h: Hit<'_>, key: &str, b: bool) -> bool {
    h.get(key).is_some_and(|v| v.is_bool(b))
}

fn tool_hints(cx: &mut Cx<'_>, target: &str, sem: Hit<'_>, hints: Hit<'_>) {
    let mut say = |key: &str, detail: String| {
        if let Some(h) = hints.get(key) {
            cx.detail(&SEMANTICS_CONSISTENCY, h.pos, &detail);
        }
    };
    if flag(sem, "safe", true) && flag(hints, "readOnly", false) {
        say("readOnly", format!("Flow '{target}' has semantics.safe=true but tool hints set readOnly=false. Safe flows should be read-only."));
    }
    if flag(sem, "safe", false) && flag(hints, "readOnly", true) {
        say("readOnly", format!("Flow '{target}' has semantics.safe=false but tool hints set readOnly=true. Unsafe flows should not be read-only."));
    }
    if flag(sem, "safe", true) && flag(hints, "destructive", true) {
        say("destructive", format!("Flow '{target}' has semantics.safe=true but tool hints set destructive=true. Safe flows should not be destructive."));
    }
    if flag(sem, "idempotent", true) && flag(hints, "idempotent", false) {
        say("idempotent", format!("Flow '{target}' has semantics.idempotent=true but tool hints set idempotent=false."));
    }
    if flag(sem, "idempotent", false) && flag(hints, "idempotent", true) {
        say("idempotent", format!("Flow '{target}' has semantics.idempotent=false but tool hints set idempotent=true."));
    }
}

fn rest_method(cx: &mut Cx<'_>, target: &str, sem: Hit<'_>, method: &str, at: Hit<'_>) {
    let mut say = |detail: String| cx.detail(&SEMANTICS_CONSISTENCY, at.pos, &detail);
    if flag(sem, "safe", true) && method != "GET" {
        say(format!("Flow '{target}' has semantics.safe=true but REST operation uses {method}. Safe flows should use GET."));
    }
    if flag(sem, "safe", false) && method == "GET" {
        say(format!("Flow '{target}' has semantics.safe=false but REST operation uses GET. Unsafe flows should not use GET."));
    }
    if flag(sem, "idempotent", true) && method == "POST" {
        say(format!("Flow '{target}' has semantics.idempotent=true but REST operation uses POST. POST is not idempotent by convention."));
    }
}
