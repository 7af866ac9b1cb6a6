//! Upstream's "4. Control port" and "5. Script steps" rules.
//!
//! Owns: `ikanos-control-port-singleton-and-unique` (`control-port-validation.js`),
//! `ikanos-control-address-localhost-warning` and `ikanos-script-defaults-required`
//! (`script-defaults-required.js`), as Spectral runs them.
//! Must not touch: other groups' rules, files or the model.
//!
//! Surprises kept because Spectral has them:
//! - Ports compare with `===`: `8080` and `"8080"` do not conflict, `8080` and
//!   `8080.0` do; a business adapter's port counts only when truthy (not `0`).
//! - `script-defaults-required.js` reads tools, resources, operations, steps and
//!   aggregate `functions` only when they are *lists* (the older format). Current
//!   files write tools, resources, operations and steps as mappings and aggregates
//!   as `flows`, so the rule does not see their script steps; and it reads the first
//!   control adapter that has `management.scripting`.

use super::document::{js_trim, Hit};
use super::{at, exposes_of, Cx, RuleInfo, Severity};

pub const PORT_SINGLETON_AND_UNIQUE: RuleInfo = RuleInfo {
    name: "ikanos-control-port-singleton-and-unique",
    severity: Severity::Error,
    recommended: true,
    upstream: true,
    message: "Control port validation failed.",
    summary: "at most one type: control adapter, and its port is no other adapter's",
};
pub const ADDRESS_LOCALHOST: RuleInfo = RuleInfo {
    name: "ikanos-control-address-localhost-warning",
    severity: Severity::Warn,
    recommended: true,
    upstream: true,
    message: "Control adapter `address` should be `localhost` or `127.0.0.1` for security.",
    summary: "a control adapter's address is localhost or 127.0.0.1",
};
pub const SCRIPT_DEFAULTS: RuleInfo = RuleInfo {
    name: "ikanos-script-defaults-required",
    severity: Severity::Error,
    recommended: true,
    upstream: true,
    message: "",
    summary: "a script step has a location and a language, or the control adapter's management.scripting defaults them",
};

pub(super) fn run(root: Hit<'_>, cx: &mut Cx<'_>) {
    control_ports(root, cx);
    // `$.capability.exposes[?(@.type == 'control')].address`; match `^(localhost|127\.0\.0\.1)$`.
    let addresses = exposes_of(root, "control")
        .into_iter()
        .filter_map(|a| a.get("address"));
    cx.pattern(&ADDRESS_LOCALHOST, addresses, None, |s| {
        s != "localhost" && s != "127.0.0.1"
    });
    script_defaults(root, cx);
}

/// The `capability.exposes` list (the functions read nothing else).
fn exposes<'a>(root: Hit<'a>) -> Vec<Hit<'a>> {
    at(root, &["capability", "exposes"])
        .and_then(|e| e.list())
        .unwrap_or_default()
}

/// `control-port-validation.js`.
fn control_ports(root: Hit<'_>, cx: &mut Cx<'_>) {
    let mut controls = Vec::new();
    let mut business = Vec::new();
    for (i, adapter) in exposes(root).into_iter().enumerate() {
        if !adapter.truthy() {
            continue;
        }
        if adapter.str("type") == Some("control") {
            controls.push((i, adapter));
        } else if let Some(port) = adapter.get("port").filter(Hit::truthy) {
            business.push((i, adapter, port));
        }
    }
    for (i, adapter) in controls.iter().skip(1) {
        let pos = adapter.get("type").map_or(adapter.pos, |t| t.pos);
        cx.detail(
            &PORT_SINGLETON_AND_UNIQUE,
            pos,
            &format!("Only one control adapter is allowed per capability. Found duplicate at exposes[{i}]."),
        );
    }
    for (_, ctrl) in &controls {
        let Some(port) = ctrl.get("port") else {
            continue;
        };
        for (j, biz, biz_port) in &business {
            if port.strict_eq(biz_port) {
                let kind = biz
                    .get("type")
                    .map_or("undefined".into(), |t| t.js_string());
                cx.detail(
                    &PORT_SINGLETON_AND_UNIQUE,
                    port.pos,
                    &format!(
                        "Control port {} conflicts with {kind} adapter at exposes[{j}]. Use a dedicated port for the control adapter.",
                        port.js_string()
                    ),
                );
            }
        }
    }
}

/// `script-defaults-required.js`.
fn script_defaults<'a>(root: Hit<'a>, cx: &mut Cx<'_>) {
    let Some(capability) = root.get("capability").filter(Hit::is_object) else {
        // Without `capability` the function still runs over `{}`: nothing to report.
        return;
    };
    let exposes = capability
        .get("exposes")
        .and_then(|e| e.list())
        .unwrap_or_default();
    let set = |h: Option<Hit<'_>>| {
        h.and_then(|v| v.as_str())
            .is_some_and(|s| !js_trim(s).is_empty())
    };
    let (mut has_location, mut has_language) = (false, false);
    for adapter in &exposes {
        let scripting = adapter
            .get("management")
            .filter(Hit::truthy)
            .and_then(|m| m.get("scripting"))
            .filter(Hit::truthy);
        if adapter.str("type") == Some("control") {
            if let Some(s) = scripting {
                has_location = set(s.get("defaultLocation"));
                has_language = set(s.get("defaultLanguage"));
                break;
            }
        }
    }
    if has_location && has_language {
        return;
    }
    let lists = |h: Option<Hit<'a>>| h.and_then(|v| v.list()).unwrap_or_default();
    let mut steps = Vec::new();
    for adapter in exposes.iter().filter(|a| a.truthy()) {
        if adapter.str("type") == Some("mcp") {
            for tool in lists(adapter.get("tools")) {
                steps.extend(lists(tool.get("steps")));
            }
        }
        if adapter.str("type") == Some("rest") {
            for resource in lists(adapter.get("resources")) {
                for op in lists(resource.get("operations")) {
                    steps.extend(lists(op.get("steps")));
                }
            }
        }
    }
    for agg in lists(capability.get("aggregates")) {
        for function in lists(agg.get("functions")) {
            steps.extend(lists(function.get("steps")));
        }
    }
    for step in steps {
        if step.str("type") != Some("script") {
            continue;
        }
        let name = step
            .get("name")
            .filter(Hit::truthy)
            .map_or("unnamed".into(), |n| n.js_string());
        // The result's path ends in the missing field: reported on the field when it
        // is there but empty, else on the step.
        let place = |key: &str| step.get(key).map_or(step.pos, |h| h.pos);
        if !step.get("location").is_some_and(|h| h.truthy()) && !has_location {
            cx.say(
                &SCRIPT_DEFAULTS,
                place("location"),
                format!("Script step '{name}' omits 'location' and no 'management.scripting.defaultLocation' is configured. Add 'location' to this step or set a 'defaultLocation' on the control adapter."),
            );
        }
        if !step.get("language").is_some_and(|h| h.truthy()) && !has_language {
            cx.say(
                &SCRIPT_DEFAULTS,
                place("language"),
                format!("Script step '{name}' omits 'language' and no 'management.scripting.defaultLanguage' is configured. Add 'language' to this step or set a 'defaultLanguage' on the control adapter."),
            );
        }
    }
}
