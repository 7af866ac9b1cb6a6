//! Upstream's "2. Quality & discoverability" rules: descriptions and tags.
//!
//! Owns: these four rules (`truthy` checks of a field), with Spectral's reading of
//! them: a missing field is reported at the entry, an empty one at itself, and an
//! entry that is not a mapping or a list is judged itself (`- some text` passes).
//! Two of them are `recommended: false` upstream and run only with `RuleSet::All`.
//! Must not touch: other groups' rules, files or the model.

use super::document::Hit;
use super::{at, each, each_of, exposes_of, Cx, RuleInfo, Severity};

pub const INFO_TAGS: RuleInfo = RuleInfo {
    name: "ikanos-info-tags",
    severity: Severity::Info,
    recommended: false,
    upstream: true,
    message: "The `info.tags` array should be present and non-empty.",
    summary: "info has tags",
};
pub const CONSUMES_DESCRIPTION: RuleInfo = RuleInfo {
    name: "ikanos-consumes-description",
    severity: Severity::Warn,
    recommended: true,
    upstream: true,
    message: "Each `consumes` entry should have a `description` field.",
    summary: "every consumes entry (import entries included) has a description",
};
pub const REST_RESOURCE_DESCRIPTION: RuleInfo = RuleInfo {
    name: "ikanos-rest-resource-description",
    severity: Severity::Warn,
    recommended: true,
    upstream: true,
    message: "Each exposed REST resource should have a `description` field.",
    summary: "every exposed REST resource has a description",
};
pub const REST_OPERATION_DESCRIPTION: RuleInfo = RuleInfo {
    name: "ikanos-rest-operation-description",
    severity: Severity::Info,
    recommended: false,
    upstream: true,
    message: "Exposed REST operations should have a `description` field.",
    summary: "every exposed REST operation has a description",
};

pub(super) fn run(root: Hit<'_>, cx: &mut Cx<'_>) {
    // `$.info`, field tags. An empty list is truthy in JS: upstream's "non-empty" is
    // not what Spectral checks.
    cx.truthy(&INFO_TAGS, at(root, &["info"]), "tags");

    // `$.consumes[*]`, `$.capability.consumes[*]`.
    let consumes = [
        each(root, &["consumes"]),
        each(root, &["capability", "consumes"]),
    ]
    .concat();
    cx.truthy(&CONSUMES_DESCRIPTION, consumes, "description");

    // `$.capability.exposes[?(@.type == 'rest')].resources[*]` and its `operations[*]`.
    let resources = each_of(&exposes_of(root, "rest"), "resources");
    cx.truthy(&REST_RESOURCE_DESCRIPTION, resources.clone(), "description");
    let operations = each_of(&resources, "operations");
    cx.truthy(&REST_OPERATION_DESCRIPTION, operations, "description");
}
