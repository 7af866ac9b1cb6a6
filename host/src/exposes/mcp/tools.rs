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
