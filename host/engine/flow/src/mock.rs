//! Mock responses: `outputParameters` whose `value`s (Mustache templates over the inputs)
//! build the answer with no consumed call, and Jackson's pretty printer, which upstream
//! uses for REST mock bodies.
//!
//! Owns: `Resolver.buildMockData` / `buildMockValue`, `ResourceRestlet.canBuildMockResponse`
//! / `hasStaticValue`, `writerWithDefaultPrettyPrinter` output. Must not touch: deciding
//! when a mock answers (`engine`). Note that upstream ignores `const` here: only `value`
//! counts.

use serde_json::{Map, Value};

use crate::definition::OutputParam;
use crate::template::{indexmap_like::Params, render, TemplateError};

/// `hasStaticValue`.
pub fn has_static_value(p: &OutputParam) -> bool {
    p.value.is_some()
        || p.properties.iter().any(has_static_value)
        || p.items.as_deref().is_some_and(has_static_value)
}

/// `canBuildMockResponse` (REST).
pub fn can_build(output: &[OutputParam]) -> bool {
    output.iter().any(has_static_value)
}

/// `buildMockData`: None when nothing was built.
pub fn build(output: &[OutputParam], params: &Params) -> Result<Option<Value>, TemplateError> {
    let mut result = Map::new();
    for p in output {
        let v = build_value(p, params)?;
        if !v.is_null() {
            result.insert(p.name.clone().unwrap_or_else(|| "value".to_string()), v);
        }
    }
    Ok((!result.is_empty()).then_some(Value::Object(result)))
}

/// `buildMockValue` (the definition's depth is bounded when it is read).
pub fn build_value(p: &OutputParam, params: &Params) -> Result<Value, TemplateError> {
    if let Some(v) = &p.value {
        return Ok(Value::String(render(v, params)?));
    }
    if p.is("array") {
        let mut a = Vec::new();
        if let Some(items) = p.items.as_deref() {
            let v = build_value(items, params)?;
            if !v.is_null() {
                a.push(v);
            }
        }
        return Ok(Value::Array(a));
    }
    if p.is("object") {
        let mut m = Map::new();
        for prop in &p.properties {
            let v = build_value(prop, params)?;
            if !v.is_null() {
                m.insert(
                    prop.name.clone().unwrap_or_else(|| "property".to_string()),
                    v,
                );
            }
        }
        return Ok(if m.is_empty() {
            Value::Null
        } else {
            Value::Object(m)
        });
    }
    Ok(Value::Null)
}

/// Jackson's `DefaultPrettyPrinter`: objects one entry a line with `" : "`, two-space
/// indent; arrays on one line as `[ a, b ]`; empty ones as `{ }` and `[ ]`.
pub fn jackson_pretty(v: &Value) -> String {
    let mut out = String::new();
    pretty(&mut out, v, 0);
    out
}

fn pretty(out: &mut String, v: &Value, level: usize) {
    match v {
        Value::Object(m) if m.is_empty() => out.push_str("{ }"),
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('\n');
                indent(out, level + 1);
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(" : ");
                pretty(out, x, level + 1);
            }
            out.push('\n');
            indent(out, level);
            out.push('}');
        }
        Value::Array(a) if a.is_empty() => out.push_str("[ ]"),
        Value::Array(a) => {
            out.push_str("[ ");
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                pretty(out, x, level);
            }
            out.push_str(" ]");
        }
        other => out.push_str(&other.to_string()),
    }
}

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("  ");
    }
}
