//! Declarative operations: upstream Ikanos's `call`/`with`, `steps`, `ref` and mocks,
//! run by the engine component that ships inside this binary (`host/engine`, built by
//! `build.rs`), in the same sandbox as any component: same per-request CPU, memory,
//! wall-time and outbound-call limits, same metrics.
//!
//! Owns: deciding which exposed operations the engine runs, and the definition JSON each
//! one is handed (built once per capability). Must not touch: the semantics (they run
//! inside the engine, never in the host) or bind values (a definition carries the file's
//! text, never a secret).

use std::collections::HashMap;
use std::sync::Arc;

use ikanos_spec::model::{Capability, Exposes, Handler, McpResourceSource, Spanned};
use ikanos_spec::{Diagnostic, Diagnostics, Severity};

use crate::runtime::scripting::Governance;
use serde_json::{json, Map, Value};

/// The engine component, compiled for wasm32-wasip2 by `build.rs`.
pub const ENGINE_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ikanos_engine.wasm"));

/// How the engine is named in errors and `/status`.
pub const ENGINE_NAME: &str = "ikanos declarative engine (built in)";

/// The JavaScript interpreter for script steps (boa), compiled for wasm32-wasip2 by
/// `build.rs`; loaded only by capabilities with a JavaScript script step.
pub const SCRIPT_JS_WASM: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/ikanos_script_js.wasm"));

/// How the interpreter is named in errors.
pub const SCRIPT_JS_NAME: &str = "ikanos JavaScript interpreter (built in)";

/// The definitions of every operation the engine runs for one capability, by
/// (adapter namespace, operation/tool/resource name).
#[derive(Debug, Default)]
pub struct Definitions {
    by_key: HashMap<(String, String), Arc<str>>,
    /// Some definition has a script step (the interpreter must be loaded).
    has_scripts: bool,
}

impl Definitions {
    /// The definition of `name` in adapter `namespace`, if the engine runs it.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<str>> {
        self.by_key
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Does some operation the engine runs have a script step?
    pub fn has_scripts(&self) -> bool {
        self.has_scripts
    }
}

/// Does an operation or tool with no `call`/`steps`/`ref` declare a mock answer
/// (`outputParameters` carrying a `value` or `const`)? Upstream answers such an
/// operation with the mock.
pub fn is_mock(definition: &Value) -> bool {
    fn has_value(v: &Value) -> bool {
        match v {
            Value::Object(m) => {
                m.contains_key("value") || m.contains_key("const") || m.values().any(has_value)
            }
            Value::Array(items) => items.iter().any(has_value),
            _ => false,
        }
    }
    definition.get("outputParameters").is_some_and(has_value)
}

/// Who answers an exposed operation, given whether the capability has a component.
pub fn runs_in_engine(handler: &Handler, definition: &Value, has_component: bool) -> bool {
    match handler {
        Handler::Call(_) | Handler::Steps | Handler::Ref(_) => true,
        Handler::Component => !has_component && is_mock(definition),
    }
}

/// The definitions of the exposed operations and tools that leave the answer to a
/// component (a `method` and no `call`/`steps`/`ref`).
fn component_operations(cap: &Capability) -> impl Iterator<Item = &Value> {
    cap.exposes
        .iter()
        .flat_map(|e| -> Box<dyn Iterator<Item = &Value> + '_> {
            match e {
                Exposes::Rest(rest) => Box::new(
                    rest.resources
                        .iter()
                        .flat_map(|r| &r.operations)
                        .filter(|o| o.handler == Handler::Component)
                        .map(|o| &o.definition),
                ),
                Exposes::Mcp(mcp) => Box::new(
                    mcp.tools
                        .iter()
                        .filter(|t| t.handler == Handler::Component)
                        .map(|t| &t.definition),
                ),
                Exposes::Control(_) | Exposes::Skill(_) => Box::new(std::iter::empty()),
            }
        })
}

/// Is a component needed for some exposed operation (one with no declarative handler
/// and no mock answer)?
pub fn needs_component(cap: &Capability) -> bool {
    component_operations(cap).any(|d| !is_mock(d))
}

/// Does any exposed operation leave the answer to a component (mocks included, which a
/// component answers when there is one)?
pub fn has_component_operations(cap: &Capability) -> bool {
    component_operations(cap).next().is_some()
}

/// Build the definitions of the operations the engine runs. Fails when a script step
/// cannot run here (scripting disabled, its language, or its files): one diagnostic per
/// such step, at its operation's name. `scripting` supplies the control entry's
/// defaults and switch.
pub fn build(
    cap: &Capability,
    has_component: bool,
    scripting: &Governance,
) -> Result<Definitions, Diagnostics> {
    let mut by_key = HashMap::new();
    let mut script_errors = Vec::new();
    let mut has_scripts = false;
    let mut add = |ns: &str,
                   at: &Spanned<String>,
                   adapter: &str,
                   op: &Value,
                   resource_inputs: Option<&Value>,
                   handler: &Handler,
                   max_binary: Option<u64>| {
        let name = at.value.as_str();
        let mut function = match handler {
            Handler::Ref(target) => cap.aggregate_flow(&target.value).cloned(),
            _ => None,
        };
        let mut op = op.clone();
        for definition in std::iter::once(&mut op).chain(function.as_mut()) {
            match attach_scripts(definition, &at.file, scripting) {
                Ok(found) => has_scripts |= found,
                Err(errors) => script_errors.extend(errors.into_iter().map(|e| Diagnostic {
                    file: at.file.clone(),
                    pos: at.pos,
                    severity: Severity::Error,
                    message: format!("'{name}': {e}"),
                })),
            }
        }
        let mut targets = Vec::new();
        call_targets(&op, &mut targets);
        if let Some(f) = &function {
            call_targets(f, &mut targets);
        }
        let mut def = Map::new();
        def.insert("adapter".into(), json!(adapter));
        def.insert("namespace".into(), json!(ns));
        def.insert("name".into(), json!(name));
        def.insert("operation".into(), op);
        if let Some(inputs) = resource_inputs {
            def.insert("resourceInputParameters".into(), inputs.clone());
        }
        def.insert("function".into(), function.unwrap_or(Value::Null));
        // The adapter's `maxBinarySize` (parsed at load), else upstream's default; a
        // consumed operation's own value (`maxBinaryBytes` there) wins.
        def.insert(
            "maxBinaryBytes".into(),
            json!(max_binary.unwrap_or(ikanos_spec::model::DEFAULT_MAX_BINARY_SIZE)),
        );
        def.insert("consumes".into(), consumed(cap, &targets));
        let text: Arc<str> = Value::Object(def).to_string().into();
        by_key.insert((ns.to_owned(), name.to_owned()), text);
    };
    for e in &cap.exposes {
        match e {
            Exposes::Rest(rest) => {
                for r in &rest.resources {
                    for o in &r.operations {
                        if runs_in_engine(&o.handler, &o.definition, has_component) {
                            add(
                                &rest.namespace.value,
                                &o.name,
                                "rest",
                                &o.definition,
                                Some(&r.input_definition),
                                &o.handler,
                                rest.max_binary_size.as_ref().map(|m| m.value),
                            );
                        }
                    }
                }
            }
            Exposes::Mcp(mcp) => {
                for t in &mcp.tools {
                    if runs_in_engine(&t.handler, &t.definition, has_component) {
                        add(
                            &mcp.namespace.value,
                            &t.name,
                            "mcp",
                            &t.definition,
                            None,
                            &t.handler,
                            mcp.max_binary_size.as_ref().map(|m| m.value),
                        );
                    }
                }
                for r in &mcp.resources {
                    if let McpResourceSource::Dynamic(handler) = &r.source {
                        add(
                            &mcp.namespace.value,
                            &r.name,
                            "mcp-resource",
                            &r.definition,
                            None,
                            handler,
                            mcp.max_binary_size.as_ref().map(|m| m.value),
                        );
                    }
                }
            }
            Exposes::Control(_) | Exposes::Skill { .. } => {}
        }
    }
    if !script_errors.is_empty() {
        return Err(Diagnostics(script_errors));
    }
    Ok(Definitions {
        by_key,
        has_scripts,
    })
}

/// Give every script step of `definition` its `sources` (its `dependencies`' texts,
/// then its `file`'s, read beside `declared_in` within the step's `location`): the
/// engine has no file system. Refuses a step whose language this host does not run.
/// Returns whether there was a script step.
fn attach_scripts(
    definition: &mut Value,
    declared_in: &std::path::Path,
    scripting: &Governance,
) -> Result<bool, Vec<String>> {
    let mut errors = Vec::new();
    let mut found = false;
    // Steps are a list (each with its `name`) or, in 1.0.0-beta5, a map by name.
    let steps: Vec<(Option<String>, &mut Value)> = match definition.get_mut("steps") {
        Some(Value::Array(steps)) => steps.iter_mut().map(|s| (None, s)).collect(),
        Some(Value::Object(steps)) => steps
            .iter_mut()
            .map(|(k, s)| (Some(k.clone()), s))
            .collect(),
        _ => Vec::new(),
    };
    for (i, (key, step)) in steps.into_iter().enumerate() {
        let Some(fields) = step.as_object_mut() else {
            continue;
        };
        if fields.get("type").and_then(Value::as_str) != Some("script") {
            continue;
        }
        found = true;
        let name = fields
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or(key)
            .unwrap_or_else(|| format!("#{}", i + 1));
        let text = |key: &str| fields.get(key).and_then(Value::as_str).map(str::to_owned);
        let mut refuse = |why: String| errors.push(format!("script step '{name}': {why}"));
        if let Err(why) = scripting.require_permitted(&name) {
            refuse(why);
            continue;
        }
        // A step without `language` or `location` takes the control entry's default.
        let language = text("language").or_else(|| scripting.default_language());
        let location = text("location").or_else(|| scripting.default_location());
        match language.as_deref() {
            Some(crate::runtime::scripting::JAVASCRIPT) => {}
            Some("python") => {
                refuse("Python script steps are not run by this host (JavaScript is): rewrite it in JavaScript, or run this file on upstream Ikanos".into());
                continue;
            }
            Some("groovy") => {
                refuse("Groovy is not supported by this host (JavaScript is): rewrite the script in JavaScript".into());
                continue;
            }
            Some(other) => {
                refuse(format!(
                    "unknown language '{other}' (expected {}; this host runs javascript)",
                    ikanos_spec::model::SCRIPT_LANGUAGES.join(", ")
                ));
                continue;
            }
            None => {
                refuse("no 'language', and the control adapter sets no management.scripting.defaultLanguage (write `language: javascript`)".into());
                continue;
            }
        }
        let Some(location) = location else {
            refuse("no 'location', and the control adapter sets no management.scripting.defaultLocation (the folder of its file, e.g. file:///./scripts)".into());
            continue;
        };
        let Some(file) = text("file") else {
            refuse("no 'file' (the script to run, inside its location)".into());
            continue;
        };
        let dependencies: Vec<String> = match fields.get("dependencies") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(_) => {
                refuse("'dependencies' must be a list of file names".into());
                continue;
            }
        };
        let mut sources = Vec::new();
        for path in dependencies.iter().chain(std::iter::once(&file)) {
            match ikanos_spec::scripts::read(&location, path, declared_in) {
                Ok(source) => sources.push(Value::String(source)),
                Err(e) => refuse(e),
            }
        }
        fields.insert(
            "language".into(),
            json!(crate::runtime::scripting::JAVASCRIPT),
        );
        fields.insert("sources".into(), Value::Array(sources));
    }
    if errors.is_empty() {
        Ok(found)
    } else {
        Err(errors)
    }
}

/// Every `call: ns.op` inside a definition (the operation's own, its steps', a flow's).
fn call_targets(v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(target)) = m.get("call") {
                if let Some((ns, op)) = target.split_once('.') {
                    let t = (ns.to_owned(), op.to_owned());
                    if !out.contains(&t) {
                        out.push(t);
                    }
                }
            }
            m.values().for_each(|v| call_targets(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| call_targets(v, out)),
        _ => {}
    }
}

/// The text of schema file `path` (relative, inside the declaring file's folder), or
/// None (the engine then says which file it could not use).
fn schema_file(declared_in: &std::path::Path, path: &str) -> Option<String> {
    use std::path::Component;
    let rel = std::path::Path::new(path.strip_prefix("file:///./").unwrap_or(path));
    if !rel
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return None;
    }
    let folder = declared_in.parent()?;
    let file = folder.join(rel);
    let real = file.canonicalize().ok()?;
    if !real.starts_with(folder.canonicalize().ok()?) {
        return None;
    }
    let meta = std::fs::metadata(&real).ok()?;
    if !meta.is_file() || meta.len() > 1 << 20 {
        return None;
    }
    std::fs::read_to_string(real).ok()
}

/// The consumed operations a definition calls, as written, with the parameters of the
/// namespace, resource and operation merged (name, place, fixed value's text). The
/// namespace's `baseUri`, authentication and tunnel stay in the host.
fn consumed(cap: &Capability, targets: &[(String, String)]) -> Value {
    let mut out = Map::new();
    for (ns, op) in targets {
        let Some((c, r, o)) = cap.find_operation(ns, op) else {
            continue;
        };
        let mut def = match &o.definition {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        let mut params: Vec<Value> = c
            .input_parameters
            .iter()
            .chain(&r.input_parameters)
            .chain(&o.input_parameters)
            .map(|p| {
                let mut m = Map::new();
                m.insert("name".into(), json!(p.name.value));
                m.insert("in".into(), json!(p.location.as_str()));
                if let Some(v) = &p.value {
                    m.insert("value".into(), json!(v.raw.value));
                }
                Value::Object(m)
            })
            .collect();
        for name in r.path_placeholders() {
            if !params.iter().any(|p| p["name"] == name.as_str()) {
                params.push(json!({"name": name, "in": "path"}));
            }
        }
        def.insert("inputParameters".into(), Value::Array(params));
        def.entry("outputRawFormat")
            .or_insert_with(|| json!(o.output_raw_format));
        // Avro and protobuf name a schema file; the engine has no file system, so the
        // host reads it (beside the declaring file, never outside its folder).
        if matches!(o.output_raw_format.as_str(), "avro" | "protobuf") {
            if let Some(Value::String(path)) = def.get("outputSchema").cloned() {
                if let Some(text) = schema_file(&o.name.file, &path) {
                    def.insert(
                        "outputSchema".into(),
                        json!({ "path": path, "source": text }),
                    );
                }
            }
        }
        if let Some(max) = &o.max_binary_size {
            def.insert("maxBinaryBytes".into(), json!(max.value));
        }
        out.entry(ns.clone())
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .expect("inserted as an object")
            .insert(op.clone(), Value::Object(def));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mocks_are_outputs_with_values() {
        assert!(is_mock(
            &json!({"outputParameters": [{"type": "object", "properties": {"a": {"type": "string", "value": "x"}}}]})
        ));
        assert!(is_mock(
            &json!({"outputParameters": [{"name": "a", "const": 1}]})
        ));
        assert!(!is_mock(
            &json!({"outputParameters": [{"type": "string", "mapping": "$.a"}]})
        ));
        assert!(!is_mock(&json!({"method": "GET"})));
    }
}
