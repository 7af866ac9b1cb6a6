//! Output mapping: `outputParameters` applied to a (converted) response tree, consumed
//! outputs projected onto a step's output, and `mappings` (step outputs → response).
//!
//! Owns: upstream's `Resolver.resolveOutputMappings`, `OperationStepExecutor`'s
//! `applyOutputMappings`, `resolveStepOutput`, `resolveStepMappings` /
//! `resolveJsonPathFromStepContext` / `setNestedField`, and `Converter.applyMaxLengthIfNeeded`.
//! Must not touch: JSONPath evaluation (`jsonpath`), templates (`template`).

use serde_json::{Map, Value};

use crate::definition::{OutputParam, StepMapping};
use crate::jsonpath::PathCache;
use crate::template::{indexmap_like::Params, render, TemplateError};

/// `resolveOutputMappings(spec, root, mapper, parameters)`.
pub fn resolve(
    spec: &OutputParam,
    root: &Value,
    params: Option<&Params>,
    paths: &mut PathCache,
) -> Result<Value, TemplateError> {
    // value takes precedence — static/mock values, rendered as a string.
    if let Some(v) = &spec.value {
        let rendered = match params {
            Some(p) => render(v, p)?,
            None => v.clone(),
        };
        return Ok(Value::String(rendered));
    }
    if spec.is("array") {
        let Value::Array(elements) = paths.extract(root, spec.mapping.as_deref()) else {
            return Ok(Value::Null);
        };
        let mut out = Vec::with_capacity(elements.len());
        for element in elements {
            match spec.items.as_deref() {
                Some(items) if items.is("object") && !items.properties.is_empty() => {
                    let mut obj = Map::new();
                    for prop in &items.properties {
                        let v = paths.extract(&element, prop.mapping.as_deref());
                        obj.insert(prop_name(prop), max_length(prop, v));
                    }
                    out.push(Value::Object(obj));
                }
                Some(items) if items.mapping.is_some() => {
                    let v = paths.extract(&element, items.mapping.as_deref());
                    out.push(max_length(items, v));
                }
                _ => out.push(element),
            }
        }
        return Ok(Value::Array(out));
    }
    if spec.is("object") {
        if let (Some(values), Some(mapping)) = (spec.values.as_deref(), spec.mapping.as_deref()) {
            let Value::Object(map_root) = paths.extract(root, Some(mapping)) else {
                return Ok(Value::Null);
            };
            let mut obj = Map::new();
            for (k, v) in map_root {
                let mapped = if values.mapping.is_some() {
                    paths.extract(&v, values.mapping.as_deref())
                } else {
                    v
                };
                obj.insert(k, max_length(values, mapped));
            }
            return Ok(Value::Object(obj));
        }
        let mut obj = Map::new();
        for prop in &spec.properties {
            let v = if prop.mapping.is_none() && prop.is("object") && !prop.properties.is_empty() {
                // Nested objects recurse without parameters, as upstream does.
                resolve(prop, root, None, paths)?
            } else {
                let v = paths.extract(root, prop.mapping.as_deref());
                max_length(prop, v)
            };
            obj.insert(prop_name(prop), v);
        }
        return Ok(Value::Object(obj));
    }
    let v = paths.extract(root, spec.mapping.as_deref());
    Ok(max_length(spec, v))
}

/// Java puts a null key for a property without a name; JSON needs a string.
fn prop_name(p: &OutputParam) -> String {
    p.name.clone().unwrap_or_else(|| "null".to_string())
}

/// `Converter.applyMaxLengthIfNeeded`: strings cut to `maxLength` UTF-16 units.
pub fn max_length(spec: &OutputParam, v: Value) -> Value {
    let (Some(max), Value::String(s)) = (spec.max_length.as_deref(), &v) else {
        return v;
    };
    let Ok(max) = max.trim().parse::<i64>() else {
        return v;
    };
    if max < 0 {
        // Java's substring would throw; upstream lets the exception out. Keep the value.
        return v;
    }
    let max = max as usize;
    let mut units = 0usize;
    for (i, c) in s.char_indices() {
        let w = c.len_utf16();
        if units + w > max {
            return Value::String(s[..i].to_string());
        }
        units += w;
    }
    v
}

/// `applyOutputMappings` (MCP tools and resources, aggregate functions): the first
/// parameter that maps to something other than null, as compact JSON.
pub fn first_mapped(
    output: &[OutputParam],
    root: &Value,
    paths: &mut PathCache,
) -> Result<Option<Value>, TemplateError> {
    for p in output {
        let v = resolve(p, root, None, paths)?;
        if !v.is_null() {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// REST `mapOutputParameters`: the same, over parameters whose `in` is body (the default).
pub fn first_mapped_body(
    output: &[OutputParam],
    root: &Value,
    paths: &mut PathCache,
) -> Result<Option<Value>, TemplateError> {
    for p in output {
        let body = p
            .location
            .as_deref()
            .is_none_or(|l| l.eq_ignore_ascii_case("body"));
        if body {
            let v = resolve(p, root, None, paths)?;
            if !v.is_null() {
                return Ok(Some(v));
            }
        }
    }
    Ok(None)
}

/// `resolveStepOutput`: the consumed operation's `outputParameters` projected onto a
/// step's response.
pub fn step_output(
    consumed_output: &[OutputParam],
    raw: Value,
    paths: &mut PathCache,
) -> Result<Value, TemplateError> {
    if consumed_output.is_empty() {
        return Ok(raw);
    }
    if let Value::Array(elements) = raw {
        let mut out = Vec::with_capacity(elements.len());
        for element in elements {
            let mut augmented = match &element {
                Value::Object(m) => m.clone(),
                _ => Map::new(),
            };
            for p in consumed_output {
                if let Some(name) = p.name.as_deref().filter(|n| !n.trim().is_empty()) {
                    let mapped = resolve(p, &element, None, paths)?;
                    augmented.insert(name.to_string(), mapped);
                }
            }
            out.push(Value::Object(augmented));
        }
        return Ok(Value::Array(out));
    }
    let mut projected = Map::new();
    let mut unnamed: Option<Value> = None;
    for p in consumed_output {
        let mapped = resolve(p, &raw, None, paths)?;
        match p.name.as_deref().filter(|n| !n.trim().is_empty()) {
            Some(name) => {
                projected.insert(name.to_string(), mapped);
            }
            None => {
                if unnamed.is_none() {
                    unnamed = Some(mapped);
                }
            }
        }
    }
    if !projected.is_empty() {
        return Ok(Value::Object(projected));
    }
    Ok(unnamed.unwrap_or(raw))
}

/// `resolveJsonPathFromStepContext`: `$.step` or `$.step.a.b`, objects only.
pub fn from_steps<'a>(value: Option<&str>, outputs: &'a Map<String, Value>) -> Option<&'a Value> {
    let path = value?.strip_prefix("$.")?;
    let (step, fields) = match path.find('.') {
        Some(i) => (&path[..i], Some(&path[i + 1..])),
        None => (path, None),
    };
    let mut cur = outputs.get(step)?;
    let Some(fields) = fields.filter(|f| !f.is_empty()) else {
        return Some(cur);
    };
    for segment in fields.split('.') {
        if cur.is_null() {
            return None;
        }
        cur = cur.as_object()?.get(segment)?;
    }
    Some(cur)
}

/// `resolveStepMappings`: None when nothing resolved.
pub fn step_mappings(mappings: &[StepMapping], outputs: &Map<String, Value>) -> Option<Value> {
    if mappings.is_empty() {
        return None;
    }
    let mut result = Map::new();
    for m in mappings {
        if let Some(v) = from_steps(m.value.as_deref(), outputs) {
            if let Some(target) = m.target.as_deref() {
                set_nested(&mut result, target, v.clone());
            }
        }
    }
    (!result.is_empty()).then_some(Value::Object(result))
}

/// `setNestedField`: `a.b.c` creates nested objects, replacing non-objects on the way.
fn set_nested(root: &mut Map<String, Value>, path: &str, value: Value) {
    if path.is_empty() {
        return;
    }
    let mut cur = root;
    let mut rest = path;
    loop {
        match rest.find('.') {
            None => {
                cur.insert(rest.to_string(), value);
                return;
            }
            Some(i) => {
                let head = &rest[..i];
                rest = &rest[i + 1..];
                if !cur.get(head).is_some_and(Value::is_object) {
                    cur.insert(head.to_string(), Value::Object(Map::new()));
                }
                let Some(Value::Object(child)) = cur.get_mut(head) else {
                    return;
                };
                cur = child;
                if rest.is_empty() {
                    // Java's setNestedField(child, "") does nothing.
                    return;
                }
            }
        }
    }
}
