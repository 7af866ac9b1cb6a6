//! Upstream's "3. Security" rules: script tags and `eval(` in descriptions, and
//! example.com base URIs.
//!
//! Owns: these three `pattern` rules over the string fields upstream lists (other
//! descriptions, and values that are not strings, are not read — as Spectral). The
//! patterns are plain substrings, so they are written as substring tests, each with
//! upstream's pattern beside it.
//! Must not touch: other groups' rules, files or the model.

use super::document::Hit;
use super::{at, each, each_of, exposes_of, field_of, Cx, RuleInfo, Severity};

pub const NO_SCRIPT_TAGS: RuleInfo = RuleInfo {
    name: "ikanos-no-script-tags-in-markdown",
    severity: Severity::Error,
    recommended: true,
    upstream: true,
    message: "Markdown fields must not contain <script> tags.",
    summary:
        "no <script in info, adapter, resource, operation, tool, skill or consumes descriptions",
};
pub const NO_EVAL: RuleInfo = RuleInfo {
    name: "ikanos-no-eval-in-markdown",
    severity: Severity::Error,
    recommended: true,
    upstream: true,
    message: "Markdown fields must not contain eval() calls.",
    summary: "no eval( in the same fields",
};
pub const BASEURI_NOT_EXAMPLE: RuleInfo = RuleInfo {
    name: "ikanos-baseuri-not-example",
    severity: Severity::Warn,
    recommended: false,
    upstream: true,
    message: "The `consumes.baseUri` should not point to example.com.",
    summary: "a consumes baseUri does not contain example.com",
};

/// The fields both markdown rules read, in the ruleset's order.
fn markdown_fields<'a>(root: Hit<'a>) -> Vec<Hit<'a>> {
    let rest = exposes_of(root, "rest");
    let resources = each_of(&rest, "resources");
    [
        at(root, &["info", "description"]).into_iter().collect(),
        at(root, &["info", "label"]).into_iter().collect(),
        field_of(&each(root, &["capability", "exposes"]), "description"),
        field_of(&resources, "description"),
        field_of(&each_of(&resources, "operations"), "description"),
        field_of(&each_of(&exposes_of(root, "mcp"), "tools"), "description"),
        field_of(
            &each_of(&exposes_of(root, "skill"), "skills"),
            "description",
        ),
        field_of(&each(root, &["consumes"]), "description"),
        field_of(&each(root, &["capability", "consumes"]), "description"),
    ]
    .concat()
}

pub(super) fn run(root: Hit<'_>, cx: &mut Cx<'_>) {
    let fields = markdown_fields(root);
    // notMatch `<script`
    cx.pattern(&NO_SCRIPT_TAGS, fields.clone(), None, |s| {
        s.contains("<script")
    });
    // notMatch `eval\(`
    cx.pattern(&NO_EVAL, fields, None, |s| s.contains("eval("));
    // `$.consumes[*].baseUri`, `$.capability.consumes[*].baseUri`; notMatch `example\.com`.
    let consumes = [
        each(root, &["consumes"]),
        each(root, &["capability", "consumes"]),
    ]
    .concat();
    cx.pattern(
        &BASEURI_NOT_EXAMPLE,
        field_of(&consumes, "baseUri"),
        None,
        |s| s.contains("example.com"),
    );
}
