//! ikanos-spec: Ikanos capability files → a validated model.
//!
//! Owns: YAML parsing with positions, structural decoding, imports, reference checks,
//! bind resolution (secrets), upstream's lint rules over a parsed document (`lint`) and
//! upstream's JSON Schema (`schema`).
//! Must not touch: wasm, sockets, HTTP.
//! Data flows one way: file → `load` → `model::Capability` → `binds::resolve` → `Secrets`.
//!
//! Stages of `load`: `yaml` (text → node tree) → `decode` (nodes → model pieces,
//! shape errors) → `imports` (inline `{from, import}` entries) → `check`
//! (cross-references). Every stage writes into one `diagnostic::Sink`, so a single run
//! reports every problem it can find.

pub mod binds;
mod check;
mod decode;
pub mod diagnostic;
/// Fuzz entry points (tests and `cargo fuzz` only).
#[cfg(any(test, fuzzing))]
pub mod fuzzing;
mod imports;
pub mod lint;
pub mod location;
pub mod model;
pub mod schema;
pub mod scripts;
mod template;
pub mod yaml;

use std::path::Path;

pub use diagnostic::{Diagnostic, Diagnostics, Severity};

use diagnostic::Sink;

/// A capability that loaded without errors.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub capability: model::Capability,
    /// Warnings (possibly none): things that work but deserve a look.
    pub warnings: Vec<Diagnostic>,
}

/// Parse + decode + inline imports + static checks. Ok carries warnings (may be empty).
pub fn load(path: &Path) -> Result<Loaded, Diagnostics> {
    match std::fs::read_to_string(path) {
        Ok(text) => load_str(path, &text),
        Err(e) => Err(Diagnostics(vec![Diagnostic {
            file: path.to_path_buf(),
            pos: model::Pos::default(),
            severity: Severity::Error,
            message: format!("cannot read: {}", imports::io_reason(&e)),
        }])),
    }
}

/// Same, from text already in memory (path used for messages and for resolving relative imports/binds).
pub fn load_str(path: &Path, text: &str) -> Result<Loaded, Diagnostics> {
    load_with(path, text, &imports::Disk)
}

/// `load_str` with imported files read from `files`.
fn load_with(path: &Path, text: &str, files: &dyn imports::Files) -> Result<Loaded, Diagnostics> {
    let mut sink = Sink::default();
    let capability = imports::read_document(path, text, &mut sink).and_then(|doc| {
        let merged = imports::merge(doc, files, &mut sink);
        check::run(&merged, &mut sink);
        build(merged)
    });
    let has_errors = sink.has_errors();
    let diags = sink.finish();
    match capability {
        Some(capability) if !has_errors => Ok(Loaded {
            capability,
            warnings: diags,
        }),
        _ => Err(Diagnostics(diags)),
    }
}

fn build(m: imports::Merged) -> Option<model::Capability> {
    let mut cap = model::Capability {
        file: m.file,
        version: m.version?,
        info: m.info,
        binds: m.binds,
        consumes: m.consumes.into_iter().map(|c| c.model).collect(),
        exposes: m.exposes.into_iter().filter_map(|e| e.model).collect(),
        aggregates: m
            .aggregates
            .into_iter()
            .filter_map(|a| {
                Some(model::Aggregate {
                    namespace: a.namespace?.value,
                    flows: a
                        .flows
                        .into_iter()
                        .map(|f| f.value)
                        .zip(a.definitions)
                        .collect(),
                })
            })
            .collect(),
    };
    inherit_from_flows(&mut cap);
    Some(cap)
}

/// A flow's `inputParameters` (map or list form) as tool arguments, placed at the
/// tool's name for messages.
fn flow_params(flow: &serde_json::Value, at: &model::Spanned<String>) -> Vec<model::McpToolParam> {
    let param = |name: &str, p: &serde_json::Value| model::McpToolParam {
        name: model::Spanned {
            value: name.to_owned(),
            pos: at.pos,
            file: at.file.clone(),
        },
        ty: p["type"].as_str().unwrap_or("string").to_owned(),
        description: p["description"].as_str().map(str::to_owned),
        required: p["required"].as_bool().unwrap_or(true),
    };
    match &flow["inputParameters"] {
        serde_json::Value::Object(m) => m.iter().map(|(k, p)| param(k, p)).collect(),
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|p| Some(param(p["name"].as_str()?, p)))
            .collect(),
        _ => Vec::new(),
    }
}

/// What an operation or tool with `ref` takes from its aggregate flow, as upstream's
/// `AggregateRefResolver` does: the description when it has none and, for MCP tools,
/// hints derived from the flow's `semantics` (`safe: true` → read-only and not
/// destructive, `safe: false` → not read-only, `idempotent` copied; `cacheable` has no
/// MCP equivalent), each hint the tool sets itself winning.
fn inherit_from_flows(cap: &mut model::Capability) {
    use model::{Exposes, Handler};
    let flows = &cap.aggregates;
    let flow = |target: &str| model::Aggregate::flow(flows, target);
    let description = |f: &serde_json::Value| f["description"].as_str().map(str::to_owned);
    for e in &mut cap.exposes {
        match e {
            Exposes::Rest(rest) => {
                for op in rest.resources.iter_mut().flat_map(|r| &mut r.operations) {
                    let Handler::Ref(target) = &op.handler else {
                        continue;
                    };
                    let Some(f) = flow(&target.value) else {
                        continue;
                    };
                    if op.description.as_deref().unwrap_or("").is_empty() {
                        op.description = description(f);
                    }
                }
            }
            Exposes::Mcp(mcp) => {
                for tool in &mut mcp.tools {
                    let Handler::Ref(target) = &tool.handler else {
                        continue;
                    };
                    let Some(f) = flow(&target.value) else {
                        continue;
                    };
                    if tool.description.as_deref().unwrap_or("").is_empty() {
                        tool.description = description(f);
                    }
                    // A tool that declares no arguments takes the flow's: they are what
                    // the flow reads, and what an agent must be told to send.
                    if tool.input_parameters.is_empty() {
                        tool.input_parameters = flow_params(f, &tool.name);
                    }
                    let semantics = &f["semantics"];
                    let mut derived = model::McpHints::default();
                    match semantics["safe"].as_bool() {
                        Some(true) => {
                            derived.read_only = Some(true);
                            derived.destructive = Some(false);
                        }
                        Some(false) => derived.read_only = Some(false),
                        None => {}
                    }
                    derived.idempotent = semantics["idempotent"].as_bool();
                    let own = &tool.hints;
                    tool.hints = model::McpHints {
                        read_only: own.read_only.or(derived.read_only),
                        destructive: own.destructive.or(derived.destructive),
                        idempotent: own.idempotent.or(derived.idempotent),
                        open_world: own.open_world,
                    };
                }
            }
            Exposes::Control(_) | Exposes::Skill { .. } => {}
        }
    }
}
