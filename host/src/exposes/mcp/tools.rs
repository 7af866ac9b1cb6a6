//! MCP tools: what `tools/list` shows and how a `tools/call` reaches the component.
//!
//! Owns: the input JSON Schema built from `inputParameters`, `hints` → tool
//! annotations, checking arguments, the one mapping from arguments to the
//! component's `inbound-request`, and turning the component's answer (or failure)
//! into a `CallToolResult`. Must not touch: transports, sessions or outbound calls.
//!
//! Mapping (the same as REST's): `operation` is the tool name; each declared argument
//! the caller supplied is an input by name — strings as they are, other JSON values as
//! their JSON text, as REST does for body inputs; the whole `arguments` object, as
//! JSON, is the request body.

use ikanos_spec::model::{Handler, McpTool, McpToolParam};
use serde_json::{json, Map, Value};

use crate::runtime::{InboundRequest, InboundResponse};

pub struct Tool {
    pub name: String,
    pub handler: Handler,
    params: Vec<McpToolParam>,
    /// The `tools/list` entry.
    pub descriptor: Value,
}

impl Tool {
    pub fn new(spec: &McpTool) -> Tool {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for p in &spec.input_parameters {
            let mut prop = json!({ "type": p.ty });
            if let Some(d) = &p.description {
                prop["description"] = json!(d);
            }
            properties.insert(p.name.value.clone(), prop);
            if p.required {
                required.push(json!(p.name.value));
            }
        }
        let mut schema = json!({ "type": "object", "properties": properties });
        if !required.is_empty() {
            schema["required"] = Value::Array(required);
        }
        let mut descriptor = json!({ "name": spec.name.value, "inputSchema": schema });
        if let Some(t) = &spec.display {
            descriptor["title"] = json!(t);
        }
        if let Some(d) = &spec.description {
            descriptor["description"] = json!(d);
        }
        let h = &spec.hints;
        let mut annotations = Map::new();
        if let Some(t) = &spec.display {
            annotations.insert("title".into(), json!(t));
        }
        for (key, v) in [
            ("readOnlyHint", h.read_only),
            ("destructiveHint", h.destructive),
            ("idempotentHint", h.idempotent),
            ("openWorldHint", h.open_world),
        ] {
            if let Some(v) = v {
                annotations.insert(key.into(), json!(v));
            }
        }
        if !annotations.is_empty() {
            descriptor["annotations"] = Value::Object(annotations);
        }
        // A component's answer is its own business (its outputParameters only
        // document it); the engine's is shaped by the file, so it can be promised.
        if spec.handler != Handler::Component {
            if let Some(schema) = output_schema(spec.definition.get("outputParameters")) {
                descriptor["outputSchema"] = schema;
            }
        }
        Tool {
            name: spec.name.value.clone(),
            handler: spec.handler.clone(),
            params: spec.input_parameters.clone(),
            descriptor,
        }
    }

    /// Check `arguments` against the declared inputs and build the component's request.
    /// The error is written for the agent that called: it names the argument and why.
    pub fn request(&self, arguments: Option<&Value>) -> Result<InboundRequest, String> {
        let empty = Map::new();
        let args = match arguments {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(m)) => m,
            Some(other) => {
                return Err(format!(
                    "arguments must be an object, got {}",
                    json_kind(other)
                ))
            }
        };
        if let Some(unknown) = args
            .keys()
            .find(|k| !self.params.iter().any(|p| &p.name.value == *k))
        {
            let declared: Vec<&str> = self.params.iter().map(|p| p.name.value.as_str()).collect();
            return Err(if declared.is_empty() {
                format!("tool '{}' takes no arguments, got '{unknown}'", self.name)
            } else {
                format!(
                    "unknown argument '{unknown}' (tool '{}' takes: {})",
                    self.name,
                    declared.join(", ")
                )
            });
        }
        let mut inputs = Vec::new();
        for p in &self.params {
            match args.get(&p.name.value) {
                None | Some(Value::Null) if p.required => {
                    return Err(format!("missing required argument '{}'", p.name.value))
                }
                None | Some(Value::Null) => {}
                Some(v) => {
                    if !type_matches(&p.ty, v) {
                        return Err(format!(
                            "argument '{}' must be of type {}, got {}",
                            p.name.value,
                            p.ty,
                            json_kind(v)
                        ));
                    }
                    inputs.push((p.name.value.clone(), crate::exposes::input_text(v)));
                }
            }
        }
        Ok(InboundRequest {
            operation: self.name.clone(),
            inputs,
            body: Some(Value::Object(args.clone()).to_string().into_bytes()),
        })
    }
}

/// The `outputSchema` promised by `outputParameters`, as the engine fills them: in
/// list form one unnamed entry is the whole answer; named entries (or the map form)
/// are the properties of an object. Leaves may be null (a mapping that finds nothing),
/// and a leaf with a static `value` is a string (the engine renders it as text). An
/// answer that is not an object reaches the client as `{"result": …}`
/// (`structuredContent` must be an object), and so does its schema. `None` when the
/// shape is not one of these.
pub fn output_schema(output: Option<&Value>) -> Option<Value> {
    let root = match output? {
        Value::Array(entries) if entries.len() == 1 && entries[0].get("name").is_none() => {
            param_schema(&entries[0], 0)
        }
        Value::Array(entries) if !entries.is_empty() => {
            let mut properties = Map::new();
            for e in entries {
                properties.insert(e.get("name")?.as_str()?.to_owned(), param_schema(e, 0));
            }
            json!({ "type": "object", "properties": properties })
        }
        Value::Object(map) if !map.is_empty() => {
            let properties: Map<String, Value> = map
                .iter()
                .map(|(k, v)| (k.clone(), param_schema(v, 0)))
                .collect();
            json!({ "type": "object", "properties": properties })
        }
        _ => return None,
    };
    Some(if root["type"] == "object" {
        root
    } else {
        json!({ "type": "object", "properties": { "result": root }, "required": ["result"] })
    })
}

/// Deeper than this, a schema says nothing more (the engine refuses such files).
const MAX_SCHEMA_DEPTH: usize = 32;

fn param_schema(p: &Value, depth: usize) -> Value {
    if depth > MAX_SCHEMA_DEPTH {
        return json!({});
    }
    let ty = p.get("type").and_then(Value::as_str).unwrap_or_default();
    let mut schema = match ty {
        _ if p.get("value").is_some() && !matches!(ty, "object" | "array") => {
            json!({ "type": ["string", "null"] })
        }
        "object" => {
            let properties: Map<String, Value> = match p.get("properties") {
                Some(Value::Object(m)) => m
                    .iter()
                    .map(|(k, v)| (k.clone(), param_schema(v, depth + 1)))
                    .collect(),
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|v| {
                        Some((
                            v.get("name")?.as_str()?.to_owned(),
                            param_schema(v, depth + 1),
                        ))
                    })
                    .collect(),
                _ => Map::new(),
            };
            json!({ "type": ["object", "null"], "properties": properties })
        }
        "array" => {
            let items = p
                .get("items")
                .map_or_else(|| json!({}), |i| param_schema(i, depth + 1));
            json!({ "type": ["array", "null"], "items": items })
        }
        "string" | "number" | "integer" | "boolean" => json!({ "type": [ty, "null"] }),
        _ => json!({}),
    };
    if let Some(d) = p.get("description").and_then(Value::as_str) {
        schema["description"] = json!(d);
    }
    if depth == 0 && ty == "object" {
        // The root object is the structured content itself: never null.
        schema["type"] = json!("object");
    }
    schema
}

fn type_matches(ty: &str, v: &Value) -> bool {
    match ty {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => true,
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// The component's answer as a `CallToolResult`: the body as text, and when it is
/// JSON also as `structuredContent` (an object as is; any other value as
/// `{"result": value}`, since structured content must be an object). A status of 400
/// or more is a tool error.
pub fn result(resp: InboundResponse) -> Value {
    // Binary answers as upstream's ToolHandler sends them: image and audio content by
    // media type, anything else that is not text as an embedded blob resource.
    let media = resp.content_type.to_ascii_lowercase();
    let binary_kind = if media.starts_with("image/") {
        Some("image")
    } else if media.starts_with("audio/") {
        Some("audio")
    } else if std::str::from_utf8(&resp.body).is_err() {
        Some("resource")
    } else {
        None
    };
    if let Some(kind) = binary_kind {
        use base64::Engine as _;
        let data = base64::engine::general_purpose::STANDARD.encode(&resp.body);
        let content = match kind {
            "resource" => json!({
                "type": "resource",
                "resource": {
                    "uri": format!("ikanos://transient/{}", uuid::Uuid::new_v4()),
                    "mimeType": resp.content_type,
                    "blob": data,
                }
            }),
            _ => json!({ "type": kind, "data": data, "mimeType": resp.content_type }),
        };
        return json!({ "content": [content], "isError": resp.status >= 400 });
    }
    let text = match String::from_utf8(resp.body) {
        Ok(t) => t,
        Err(e) => format!(
            "({} bytes of {} that are not UTF-8 text)",
            e.as_bytes().len(),
            resp.content_type
        ),
    };
    let mut out = json!({
        "content": [{ "type": "text", "text": text }],
        "isError": resp.status >= 400,
    });
    if is_json(&resp.content_type) {
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            out["structuredContent"] = match v {
                Value::Object(_) => v,
                other => json!({ "result": other }),
            };
        }
    }
    out
}

/// A failed call as a tool error the agent can read and act on.
pub fn error_result(message: &str) -> Value {
    json!({ "content": [{ "type": "text", "text": message }], "isError": true })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ikanos_spec::model::{McpHints, Pos, Spanned};

    fn spanned(s: &str) -> Spanned<String> {
        Spanned {
            value: s.into(),
            pos: Pos::default(),
            file: "x".into(),
        }
    }

    fn tool() -> Tool {
        Tool::new(&McpTool {
            name: spanned("get-customer"),
            display: Some("Get customer".into()),
            description: Some("One customer".into()),
            input_parameters: vec![
                McpToolParam {
                    name: spanned("id"),
                    ty: "string".into(),
                    description: Some("The id".into()),
                    required: true,
                },
                McpToolParam {
                    name: spanned("limit"),
                    ty: "integer".into(),
                    description: None,
                    required: false,
                },
            ],
            hints: McpHints {
                read_only: Some(true),
                open_world: Some(false),
                ..McpHints::default()
            },
            handler: Handler::Component,
            has_output_parameters: false,
            definition: Value::Null,
            pos: Pos::default(),
        })
    }

    #[test]
    fn builds_the_descriptor() {
        let d = tool().descriptor;
        assert_eq!(d["title"], "Get customer");
        assert_eq!(d["inputSchema"]["required"], json!(["id"]));
        assert_eq!(
            d["inputSchema"]["properties"]["limit"],
            json!({"type": "integer"})
        );
        assert_eq!(
            d["annotations"],
            json!({"title": "Get customer", "readOnlyHint": true, "openWorldHint": false})
        );
    }

    #[test]
    fn maps_and_checks_arguments() {
        let t = tool();
        let r = t.request(Some(&json!({"id": "2", "limit": 5}))).unwrap();
        assert_eq!(r.operation, "get-customer");
        assert_eq!(
            r.inputs,
            vec![("id".into(), "2".into()), ("limit".into(), "5".into())]
        );
        assert!(t.request(Some(&json!({}))).unwrap_err().contains("'id'"));
        assert!(t
            .request(Some(&json!({"id": 2})))
            .unwrap_err()
            .contains("type string"));
        assert!(t
            .request(Some(&json!({"id": "2", "other": 1})))
            .unwrap_err()
            .contains("unknown argument 'other'"));
        assert!(t.request(Some(&json!({"id": "2", "limit": 1.5}))).is_err());
    }

    #[test]
    fn output_schemas_follow_the_output_parameters() {
        // step-4's list form: one unnamed array, answered as {"result": [...]}.
        let list = json!([{ "type": "array", "mapping": "$.", "items": { "type": "object",
            "properties": { "imo": { "type": "string", "mapping": "$.imo_number" } } } }]);
        let s = output_schema(Some(&list)).unwrap();
        assert_eq!(s["required"], json!(["result"]));
        assert_eq!(
            s["properties"]["result"]["items"]["properties"]["imo"]["type"],
            json!(["string", "null"])
        );
        // step-1's mock map form: static values are rendered as text.
        let mock = json!({ "imo": { "type": "string", "value": "{{imo}}" },
            "tonnage": { "type": "number", "value": "1200" } });
        let s = output_schema(Some(&mock)).unwrap();
        assert_eq!(s["type"], "object");
        assert_eq!(
            s["properties"]["tonnage"]["type"],
            json!(["string", "null"])
        );
        // An unnamed object is the structured content itself.
        let obj = json!([{ "type": "object", "properties": { "n": { "type": "number", "mapping": "$.n" } } }]);
        let s = output_schema(Some(&obj)).unwrap();
        assert_eq!(s["type"], "object");
        assert_eq!(s["properties"]["n"]["type"], json!(["number", "null"]));
        assert!(output_schema(Some(&json!([]))).is_none());
        assert!(output_schema(None).is_none());
    }

    #[test]
    fn maps_results() {
        let r = result(InboundResponse {
            status: 200,
            content_type: "application/json".into(),
            body: b"[1,2]".to_vec(),
        });
        assert_eq!(r["structuredContent"], json!({"result": [1, 2]}));
        assert_eq!(r["isError"], false);
        let r = result(InboundResponse {
            status: 404,
            content_type: "text/plain".into(),
            body: b"nope".to_vec(),
        });
        assert_eq!(r["isError"], true);
        assert!(r.get("structuredContent").is_none());
    }
}
