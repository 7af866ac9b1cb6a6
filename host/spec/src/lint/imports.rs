//! Upstream's "6. Imports" rules: import directives, standalone section files,
//! namespaces required for importing, and unique aggregate function names.
//!
//! Owns: these eight rules, with the custom functions `import-alias-unique.js`,
//! `standalone-no-imports.js` and `aggregate-function-unique.js`, as Spectral runs
//! them.
//! Must not touch: other groups' rules, files, the model, or the files an import
//! names (this is a check of the directives as written; `load` follows them).
//!
//! Surprises kept because Spectral has them:
//! - `ikanos-aggregates-namespace-required` selects `capability.aggregates` entries
//!   by their older `functions` key, and `ikanos-aggregates-unique-function-name`
//!   reads only `functions` lists: current aggregates (with `flows`) are not checked
//!   by either inside a capability.

use std::collections::HashMap;

use super::document::Hit;
use super::{at, each, Cx, RuleInfo, Severity};

pub const FROM_REQUIRED: RuleInfo = RuleInfo {
    name: "ikanos-import-from-required",
    severity: Severity::Error,
    recommended: true,
    upstream: true,
    message: "Import entry must have both 'from' and 'import' fields.",
    summary: "a capability consumes/exposes/aggregates/binds entry with from also has import",
};
pub const IMPORT_REQUIRED: RuleInfo = RuleInfo {
    name: "ikanos-import-import-required",
    severity: Severity::Error,
    recommended: true,
    upstream: true,
    message: "Import entry must have both 'from' and 'import' fields.",
    summary: "an entry with import and no type also has from",
};
pub const UNIQUE_ALIAS: RuleInfo = RuleInfo {
    name: "ikanos-import-unique-alias",
    severity: Severity::Error,
    recommended: true,
    upstream: true,
    message: "Import alias uniqueness validation failed.",
    summary: "imported entries of one section have distinct names (as, else import)",
};
pub const FROM_NOT_SELF: RuleInfo = RuleInfo {
    name: "ikanos-import-from-not-self",
    severity: Severity::Warn,
    recommended: true,
    upstream: true,
    message: "Import 'from' should not point to the current directory.",
    summary: "an import's from is not '.'",
};
pub const STANDALONE_NO_IMPORTS: RuleInfo = RuleInfo {
    name: "ikanos-standalone-no-imports",
    severity: Severity::Error,
    recommended: true,
    upstream: true,
    message: "",
    summary: "a file without capability (a shared section file) imports nothing",
};
pub const EXPOSES_NAMESPACE: RuleInfo = RuleInfo {
    name: "ikanos-exposes-namespace-required",
    severity: Severity::Error,
    recommended: true,
    upstream: true,
    message: "Each exposed adapter must have a 'namespace' to be importable.",
    summary: "every exposes entry with a type (control included) has a namespace",
};
pub const AGGREGATES_NAMESPACE: RuleInfo = RuleInfo {
    name: "ikanos-aggregates-namespace-required",
    severity: Severity::Error,
    recommended: true,
    upstream: true,
    message: "Each aggregate must have a 'namespace' to be importable.",
    summary: "every aggregate of a shared file (and capability aggregates with functions) has a namespace",
};
pub const UNIQUE_FUNCTION_NAME: RuleInfo = RuleInfo {
    name: "ikanos-aggregates-unique-function-name",
    severity: Severity::Error,
    recommended: true,
    upstream: true,
    message: "Aggregate function names must be unique within the same aggregate.",
    summary: "function names within one aggregate's functions list are unique",
};

/// The four capability sections that take import entries.
const SECTIONS: [&str; 4] = ["consumes", "exposes", "aggregates", "binds"];

pub(super) fn run(root: Hit<'_>, cx: &mut Cx<'_>) {
    let truthy = |h: &Hit<'_>, key: &str| h.get(key).is_some_and(|v| v.truthy());
    // `$.capability.<section>[?(@.from)]`, field import, truthy; and its `from`,
    // notMatch `^\.$`.
    let with_from: Vec<Hit<'_>> = SECTIONS
        .iter()
        .filter_map(|s| at(root, &["capability", s]))
        .flat_map(|s| s.filter(|e| truthy(e, "from")))
        .collect();
    cx.truthy(&FROM_REQUIRED, with_from.clone(), "import");
    let froms = with_from.iter().filter_map(|e| e.get("from"));
    cx.pattern(&FROM_NOT_SELF, froms, None, |s| s == ".");

    // `$.capability.<section>[?(@.import && !@.type)]`, field from, truthy.
    let with_import = SECTIONS
        .iter()
        .filter_map(|s| at(root, &["capability", s]))
        .flat_map(|s| s.filter(|e| truthy(e, "import") && !truthy(e, "type")));
    cx.truthy(&IMPORT_REQUIRED, with_import, "from");

    unique_alias(root, cx);
    standalone_no_imports(root, cx);

    // `$.exposes[*]`, `$.capability.exposes[?(@.type)]`, field namespace.
    let exposes = [
        each(root, &["exposes"]),
        at(root, &["capability", "exposes"])
            .map(|e| e.filter(|a| truthy(a, "type")))
            .unwrap_or_default(),
    ]
    .concat();
    cx.truthy(&EXPOSES_NAMESPACE, exposes, "namespace");

    // `$.aggregates[*]`, `$.capability.aggregates[?(@.functions)]`, field namespace.
    let aggregates = [
        each(root, &["aggregates"]),
        at(root, &["capability", "aggregates"])
            .map(|e| e.filter(|a| truthy(a, "functions")))
            .unwrap_or_default(),
    ]
    .concat();
    cx.truthy(&AGGREGATES_NAMESPACE, aggregates, "namespace");

    // `$.aggregates[*].functions`, `$.capability.aggregates[*].functions`.
    for functions in [
        each(root, &["aggregates"]),
        each(root, &["capability", "aggregates"]),
    ]
    .concat()
    .iter()
    .filter_map(|a| a.get("functions"))
    {
        unique_function_names(functions, cx);
    }
}

/// `import-alias-unique.js`: within each capability section, the entries with a
/// string `from` must have distinct effective names (`as` when a non-empty string,
/// else `import`).
fn unique_alias(root: Hit<'_>, cx: &mut Cx<'_>) {
    let Some(capability) = root.get("capability").filter(Hit::is_object) else {
        return;
    };
    for section in SECTIONS {
        let Some(entries) = capability.get(section).and_then(|s| s.list()) else {
            continue;
        };
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, entry) in entries.iter().enumerate() {
            if entry.str("from").is_none() {
                continue;
            }
            let alias = entry.str("as").filter(|s| !s.is_empty());
            let Some(effective) = alias
                .or_else(|| entry.str("import"))
                .filter(|s| !s.is_empty())
            else {
                continue;
            };
            match seen.get(effective) {
                None => {
                    seen.insert(effective, i);
                }
                Some(prior) => {
                    // Upstream names `as` whenever it is truthy, `import` otherwise.
                    let key = if entry.get("as").is_some_and(|a| a.truthy()) {
                        "as"
                    } else {
                        "import"
                    };
                    let pos = entry.get(key).map_or(entry.pos, |h| h.pos);
                    cx.detail(
                        &UNIQUE_ALIAS,
                        pos,
                        &format!("Duplicate effective namespace '{effective}' in {section} imports: entry {i} conflicts with entry {prior}. Use distinct 'as' aliases to disambiguate."),
                    );
                }
            }
        }
    }
}

/// `standalone-no-imports.js`: a document without a truthy `capability` must not
/// have entries with a string `from` in its root section lists.
fn standalone_no_imports(root: Hit<'_>, cx: &mut Cx<'_>) {
    if !root.is_object() || root.get("capability").is_some_and(|c| c.truthy()) {
        return;
    }
    for section in SECTIONS {
        let Some(entries) = root.get(section).and_then(|s| s.list()) else {
            continue;
        };
        for (i, entry) in entries.iter().enumerate() {
            let Some(from) = entry.get("from").filter(|f| f.as_str().is_some()) else {
                continue;
            };
            cx.say(
                &STANDALONE_NO_IMPORTS,
                from.pos,
                format!("Standalone {section} files must not contain import entries. Entry at index {i} has a 'from' field — imports are only allowed in capability documents."),
            );
        }
    }
}

/// `aggregate-function-unique.js`: in a `functions` list, a non-empty string `name`
/// already used by an earlier item is reported at itself.
fn unique_function_names(functions: Hit<'_>, cx: &mut Cx<'_>) {
    let Some(items) = functions.list() else {
        return;
    };
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, f) in items.iter().enumerate() {
        let Some(name_hit) = f.get("name") else {
            continue;
        };
        let Some(name) = name_hit.as_str().filter(|s| !s.is_empty()) else {
            continue;
        };
        match seen.get(name) {
            None => {
                seen.insert(name, i);
            }
            Some(prior) => cx.detail(
                &UNIQUE_FUNCTION_NAME,
                name_hit.pos,
                &format!(
                    "Duplicate function name '{name}' at index {i} (first seen at index {prior})."
                ),
            ),
        }
    }
}
