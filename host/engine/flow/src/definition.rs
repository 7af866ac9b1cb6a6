//! The typed form of the definition JSON (see the crate header), read the way upstream's
//! Jackson model reads the same YAML: list or map forms (`outputParameters`, `steps`,
//! `properties`), `OutputParameterDeserializer`'s routing of `value: "$…"` to `mapping` on
//! named consumed outputs, `items` given as an object or a one-element list.
//!
//! Owns: reading and checking shapes, once, when the capability loads. Must not touch:
//! running anything.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::FlowError;

/// Deepest nesting of `properties`/`items`/`values` (and of data printed for templates).
pub const MAX_DEPTH: usize = 32;

/// Which exposure the definition belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    Rest,
    Mcp,
    McpResource,
}

/// An `outputParameters` entry (upstream `OutputParameterSpec`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutputParam {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub location: Option<String>,
    pub mapping: Option<String>,
    pub value: Option<String>,
    pub max_length: Option<String>,
    pub items: Option<Box<OutputParam>>,
    pub values: Option<Box<OutputParam>>,
    pub properties: Vec<OutputParam>,
}

impl OutputParam {
    pub fn is(&self, kind: &str) -> bool {
        self.kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case(kind))
    }
}

/// `call:` with its `with:` (upstream `ServerCallSpec`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallSpec {
    pub operation: Option<String>,
    pub with: Option<Map<String, Value>>,
}

/// One step of an orchestrated operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Call {
        name: String,
        call: Option<String>,
        with: Option<Map<String, Value>>,
    },
    Lookup {
        name: String,
        index: Option<String>,
        matches: Option<String>,
        lookup_value: Option<String>,
        /// None when the step declares no `outputParameters` (upstream then finds nothing).
        output: Option<Vec<String>>,
    },
    /// `type: script`: the host read the step's `dependencies` and `file` into
    /// `sources` (the engine has no file system) and runs them in a script interpreter.
    Script {
        name: String,
        language: Option<String>,
        /// The dependencies' texts, then the file's, in order.
        sources: Vec<String>,
        with: Option<Map<String, Value>>,
    },
}

impl Step {
    pub fn name(&self) -> &str {
        match self {
            Step::Call { name, .. } | Step::Lookup { name, .. } | Step::Script { name, .. } => name,
        }
    }
}

/// A `mappings` entry: step output → response field.
#[derive(Debug, Clone, PartialEq)]
pub struct StepMapping {
    pub target: Option<String>,
    pub value: Option<String>,
}

/// An exposed operation, tool or resource, or an aggregate function: what runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flow {
    pub call: Option<CallSpec>,
    pub with: Option<Map<String, Value>>,
    pub steps: Vec<Step>,
    pub mappings: Vec<StepMapping>,
    pub output: Vec<OutputParam>,
    pub reference: Option<String>,
    /// MCP resources: the declared `mimeType`.
    pub mime_type: Option<String>,
}

/// A consumed operation, as much of it as the engine needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Consumed {
    /// Declared input parameters (namespace, resource and operation levels merged):
    /// name and whether the file fixes its value.
    pub inputs: Vec<(String, bool)>,
    pub output_raw_format: Option<String>,
    pub output_schema: Option<Value>,
    pub output_media_type: Option<String>,
    pub output: Vec<OutputParam>,
    pub body: Option<Value>,
    /// `maxBinarySize` in bytes, parsed by the host (`maxBinaryBytes`).
    pub max_binary_bytes: Option<u64>,
}

impl Consumed {
    pub fn is_binary(&self) -> bool {
        self.output_raw_format
            .as_deref()
            .is_some_and(|f| f.eq_ignore_ascii_case("binary"))
    }
}

/// Jackson's `JsonNode.asText()`.
pub fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(_) | Value::Object(_) => String::new(),
    }
}

fn opt_text(v: &Value, key: &str) -> Option<String> {
    v.get(key).map(as_text)
}

fn err(ctx: &str, msg: impl std::fmt::Display) -> FlowError {
    FlowError::Internal(format!("{ctx}: {msg}"))
}

/// `outputParameters` in list or map form (`OutputParameterListOrMapDeserializer`).
pub fn output_params(v: Option<&Value>, ctx: &str) -> Result<Vec<OutputParam>, FlowError> {
    let mut out = Vec::new();
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            for item in a {
                out.push(output_param(item, None, 0, ctx)?);
            }
        }
        Some(Value::Object(m)) => {
            for (k, item) in m {
                // The key is injected as `name` before the value→mapping routing.
                let mut p = output_param(item, Some(k), 0, ctx)?;
                if p.name.is_none() {
                    p.name = Some(k.clone());
                }
                out.push(p);
            }
        }
        Some(_) => return Err(err(ctx, "outputParameters must be a list or a map")),
    }
    Ok(out)
}

/// One entry (`OutputParameterDeserializer.deserializeNode`).
fn output_param(
    node: &Value,
    injected_name: Option<&str>,
    depth: usize,
    ctx: &str,
) -> Result<OutputParam, FlowError> {
    if depth > MAX_DEPTH {
        return Err(err(
            ctx,
            format!("outputParameters nest deeper than {MAX_DEPTH} levels"),
        ));
    }
    let mut p = OutputParam::default();
    if !node.is_object() {
        return Ok(p);
    }
    let has_name = node.get("name").is_some() || injected_name.is_some();
    p.name = opt_text(node, "name");
    p.kind = opt_text(node, "type");
    p.mapping = opt_text(node, "mapping");
    p.location = opt_text(node, "in");
    p.max_length = opt_text(node, "maxLength");
    if let Some(raw) = node.get("value").map(as_text) {
        if has_name && raw.trim().starts_with('$') && node.get("mapping").is_none() {
            p.mapping = Some(raw);
        } else {
            p.value = Some(raw);
        }
    }
    match node.get("items") {
        Some(Value::Array(a)) if !a.is_empty() => {
            p.items = Some(Box::new(output_param(&a[0], None, depth + 1, ctx)?));
        }
        Some(o @ Value::Object(_)) => {
            p.items = Some(Box::new(output_param(o, None, depth + 1, ctx)?));
        }
        _ => {}
    }
    if let Some(v) = node.get("values") {
        p.values = Some(Box::new(output_param(v, None, depth + 1, ctx)?));
    }
    if let Some(Value::Object(props)) = node.get("properties") {
        for (k, v) in props {
            // The property key becomes the name only after deserialization.
            let mut child = output_param(v, None, depth + 1, ctx)?;
            if child.name.is_none() {
                child.name = Some(k.clone());
            }
            p.properties.push(child);
        }
    }
    Ok(p)
}

fn with_map(v: Option<&Value>, ctx: &str) -> Result<Option<Map<String, Value>>, FlowError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(_) => Err(err(ctx, "'with' must be a map")),
    }
}

fn steps(v: Option<&Value>, ctx: &str) -> Result<Vec<Step>, FlowError> {
    let mut out = Vec::new();
    let entries: Vec<(Option<&str>, &Value)> = match v {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Array(a)) => a.iter().map(|s| (None, s)).collect(),
        Some(Value::Object(m)) => m.iter().map(|(k, s)| (Some(k.as_str()), s)).collect(),
        Some(_) => return Err(err(ctx, "'steps' must be a list or a map")),
    };
    for (i, (key, s)) in entries.into_iter().enumerate() {
        let name = s
            .get("name")
            .map(as_text)
            .or_else(|| key.map(str::to_string))
            .unwrap_or_else(|| format!("step-{}", i + 1));
        let sctx = format!("{ctx}, step '{name}'");
        let kind = s.get("type").map(as_text).unwrap_or_default();
        let step = match kind.as_str() {
            "call" => Step::Call {
                call: opt_text(s, "call"),
                with: with_map(s.get("with"), &sctx)?,
                name,
            },
            "lookup" => Step::Lookup {
                index: opt_text(s, "index"),
                matches: opt_text(s, "match"),
                lookup_value: opt_text(s, "lookupValue"),
                output: match s.get("outputParameters") {
                    Some(Value::Array(a)) => Some(a.iter().map(as_text).collect()),
                    None | Some(Value::Null) => None,
                    Some(_) => {
                        return Err(err(
                            &sctx,
                            "lookup outputParameters must be a list of names",
                        ))
                    }
                },
                name,
            },
            "script" => Step::Script {
                language: opt_text(s, "language"),
                sources: match s.get("sources") {
                    Some(Value::Array(a)) => a.iter().map(as_text).collect(),
                    _ => Vec::new(),
                },
                with: with_map(s.get("with"), &sctx)?,
                name,
            },
            other => {
                return Err(err(
                    &sctx,
                    format!("unknown step type '{other}' (expected call, lookup or script)"),
                ))
            }
        };
        out.push(step);
    }
    Ok(out)
}

fn mappings(v: Option<&Value>, ctx: &str) -> Result<Vec<StepMapping>, FlowError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => Ok(a
            .iter()
            .map(|m| StepMapping {
                target: opt_text(m, "target"),
                value: opt_text(m, "value"),
            })
            .collect()),
        Some(_) => Err(err(ctx, "'mappings' must be a list")),
    }
}

/// An exposed entry or an aggregate function.
pub fn flow(v: &Value, ctx: &str) -> Result<Flow, FlowError> {
    if !v.is_object() {
        return Err(err(ctx, "the entry must be a map"));
    }
    let call = match v.get("call") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(CallSpec {
            operation: Some(s.clone()),
            with: None,
        }),
        Some(o @ Value::Object(_)) => Some(CallSpec {
            operation: opt_text(o, "operation"),
            with: with_map(o.get("with"), ctx)?,
        }),
        Some(_) => return Err(err(ctx, "'call' must be a string or a map")),
    };
    Ok(Flow {
        call,
        with: with_map(v.get("with"), ctx)?,
        steps: steps(v.get("steps"), ctx)?,
        mappings: mappings(v.get("mappings"), ctx)?,
        output: output_params(v.get("outputParameters"), ctx)?,
        reference: opt_text(v, "ref"),
        mime_type: opt_text(v, "mimeType"),
    })
}

fn input_names(v: Option<&Value>) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    let mut push = |name: String, p: &Value| {
        // `in: environment`: the host reads the value from its environment at load and
        // fixes it; the engine never sends one.
        let fixed = p.get("value").is_some_and(|x| !x.is_null())
            || p.get("template").is_some_and(|x| !x.is_null())
            || p.get("in").and_then(Value::as_str) == Some("environment");
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some(e) => e.1 = fixed,
            None => out.push((name, fixed)),
        }
    };
    match v {
        Some(Value::Array(a)) => {
            for p in a {
                if let Some(n) = p.get("name") {
                    push(as_text(n), p);
                }
            }
        }
        Some(Value::Object(m)) => {
            for (k, p) in m {
                let n = p.get("name").map(as_text).unwrap_or_else(|| k.clone());
                push(n, p);
            }
        }
        _ => {}
    }
    out
}

pub fn consumed(v: &Value, ctx: &str) -> Result<Consumed, FlowError> {
    Ok(Consumed {
        inputs: input_names(v.get("inputParameters")),
        output_raw_format: opt_text(v, "outputRawFormat"),
        output_schema: v.get("outputSchema").filter(|s| !s.is_null()).cloned(),
        output_media_type: opt_text(v, "outputMediaType"),
        output: output_params(v.get("outputParameters"), ctx)?,
        body: v.get("body").filter(|b| !b.is_null()).cloned(),
        max_binary_bytes: v.get("maxBinaryBytes").and_then(Value::as_u64),
    })
}

/// Every consumed operation, by namespace then name.
pub fn consumes(
    v: Option<&Value>,
) -> Result<HashMap<String, HashMap<String, Consumed>>, FlowError> {
    let mut out = HashMap::new();
    if let Some(Value::Object(namespaces)) = v {
        for (ns, ops) in namespaces {
            let mut m = HashMap::new();
            if let Value::Object(ops) = ops {
                for (op, spec) in ops {
                    m.insert(
                        op.clone(),
                        consumed(spec, &format!("consumed operation '{ns}.{op}'"))?,
                    );
                }
            }
            out.insert(ns.clone(), m);
        }
    }
    Ok(out)
}

pub fn adapter(v: Option<&Value>) -> Result<Adapter, FlowError> {
    match v.and_then(Value::as_str) {
        Some("rest") | None => Ok(Adapter::Rest),
        Some("mcp") => Ok(Adapter::Mcp),
        Some("mcp-resource") => Ok(Adapter::McpResource),
        Some(other) => Err(FlowError::Internal(format!(
            "unknown adapter '{other}' (expected rest, mcp or mcp-resource)"
        ))),
    }
}
