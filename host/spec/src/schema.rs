//! Upstream's JSON Schema (`ikanos-schema.json`), embedded, as `validate` checks it.
//!
//! Owns: the embedded schema (host/spec/schema, with where it came from), choosing it
//! the way upstream's `ikanos validate FILE [VERSION]` does (no version: the default
//! `ikanos-schema.json`; a version: `ikanos-schema-vVERSION.json`, refused when this
//! build does not have it), running it over a parsed document, and turning each
//! violation into a diagnostic at the file, line and column of the offending node.
//! Must not touch: files (the schema is compiled in), the terminal, the loader's own
//! checks, or what a violation means for an exit code (the caller picks the severity).
//!
//! Why upstream's schema besides the loader: the loader accepts what this host can
//! run, which is more than the schema allows (older `ikanos` versions, SSH tunnels);
//! the schema says what upstream's tools accept. Messages are written here rather
//! than taken from the validator, whose texts quote whole (possibly large) values.
//! A value that fits none of a `oneOf`/`anyOf`'s shapes is reported with the errors
//! of the shape it comes closest to: the shapes whose `type` discriminator it
//! contradicts are set aside (unless all are), then the one with the fewest errors.

use std::path::Path;
use std::sync::LazyLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::ValidationError;

use crate::model::Pos;
use crate::yaml::{Node, Value};
use crate::{Diagnostic, Severity};

/// The file name of the schema upstream's `validate` uses when given no version.
pub const DEFAULT: &str = "ikanos-schema.json";

const TEXT: &str = include_str!("../schema/ikanos-schema.json");

/// Why a schema cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// Upstream's wording (`Schema X is not supported`), and what this build has.
    #[error(
        "Schema {requested} is not supported (this build has {DEFAULT}, for ikanos {version})"
    )]
    NotSupported { requested: String, version: String },
    /// The embedded schema does not compile (a broken copy; never in a release).
    #[error("the embedded {DEFAULT} cannot be used: {reason}")]
    Invalid { reason: String },
}

/// A compiled schema and the `ikanos` version it accepts.
#[derive(Debug)]
pub struct Schema {
    name: &'static str,
    version: String,
    validator: jsonschema::Validator,
}

static EMBEDDED: LazyLock<Result<Schema, SchemaError>> = LazyLock::new(|| {
    let invalid = |reason: String| SchemaError::Invalid { reason };
    let json: serde_json::Value = serde_json::from_str(TEXT).map_err(|e| invalid(e.to_string()))?;
    let version = json["properties"]["ikanos"]["const"]
        .as_str()
        .unwrap_or("unknown")
        .to_string();
    // `format` stays an annotation, as draft 2020-12 says and as the schema's own
    // samples are checked upstream.
    let validator = jsonschema::validator_for(&json).map_err(|e| invalid(e.to_string()))?;
    Ok(Schema {
        name: DEFAULT,
        version,
        validator,
    })
});

/// The schema for upstream's optional VERSION argument: None → `ikanos-schema.json`,
/// `Some(v)` → `ikanos-schema-v{v}.json` (upstream's naming); only the default is
/// embedded, so a version is refused as upstream refuses one it does not ship.
pub fn for_version(version: Option<&str>) -> Result<&'static Schema, SchemaError> {
    let schema = EMBEDDED.as_ref().map_err(Clone::clone)?;
    match version {
        None => Ok(schema),
        Some(v) => Err(SchemaError::NotSupported {
            requested: format!("ikanos-schema-v{v}.json"),
            version: schema.version.clone(),
        }),
    }
}

impl Schema {
    /// Its file name (`ikanos-schema.json`).
    pub fn name(&self) -> &str {
        self.name
    }

    /// The `ikanos` version it requires (`1.0.0-beta5`).
    pub fn ikanos_version(&self) -> &str {
        &self.version
    }

    /// Every violation in `root` (the parsed document of `file`), as diagnostics of
    /// `severity`, sorted by position, each once.
    pub fn check(&self, file: &Path, root: &Node, severity: Severity) -> Vec<Diagnostic> {
        let instance = root.to_json();
        let mut found = Vec::new();
        for e in self.validator.iter_errors(&instance) {
            leaves(&e, &mut found);
        }
        let mut out: Vec<Diagnostic> = found
            .into_iter()
            .map(|v| {
                let (pos, path) = locate(root, &v.pointer, v.key.as_deref());
                Diagnostic {
                    file: file.to_path_buf(),
                    pos,
                    severity,
                    message: format!("{path}: {} (upstream schema {})", v.message, self.name),
                }
            })
            .collect();
        out.sort_by(|a, b| (a.pos, &a.message).cmp(&(b.pos, &b.message)));
        out.dedup();
        out
    }
}

/// One violation: where (a JSON pointer, and the offending key for a key that is not
/// allowed) and what.
struct Violation {
    pointer: Vec<String>,
    key: Option<String>,
    message: String,
}

fn segments(e: &ValidationError<'_>) -> Vec<String> {
    let p = e.instance_path().as_str();
    if p.is_empty() {
        return Vec::new();
    }
    p.trim_start_matches('/')
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// The errors to show for `e`: itself, or for a `oneOf`/`anyOf`, those of the closest
/// shape (see the module comment).
fn leaves(e: &ValidationError<'_>, out: &mut Vec<Violation>) {
    let pointer = segments(e);
    let simple = |message: String| Violation {
        pointer: pointer.clone(),
        key: None,
        message,
    };
    match e.kind() {
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            let discriminated = |branch: &Vec<ValidationError<'static>>| {
                branch.iter().any(|b| {
                    matches!(
                        b.kind(),
                        ValidationErrorKind::Constant { .. } | ValidationErrorKind::Enum { .. }
                    ) && segments(b).len() == pointer.len() + 1
                        && segments(b).last().is_some_and(|s| s == "type")
                })
            };
            let candidates: Vec<&Vec<ValidationError<'static>>> =
                if context.iter().all(discriminated) {
                    context.iter().collect()
                } else {
                    context.iter().filter(|b| !discriminated(b)).collect()
                };
            let best = candidates
                .into_iter()
                .map(|branch| {
                    let mut v = Vec::new();
                    for b in branch {
                        leaves(b, &mut v);
                    }
                    v
                })
                .min_by_key(Vec::len);
            match best {
                Some(v) if !v.is_empty() => out.extend(v),
                _ => out.push(simple("matches none of the shapes allowed here".into())),
            }
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => {
            out.push(simple(
                "matches more than one of the shapes allowed here (oneOf)".into(),
            ));
        }
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            for key in unexpected {
                out.push(Violation {
                    pointer: pointer.clone(),
                    key: Some(key.clone()),
                    message: format!("key '{key}' is not allowed"),
                });
            }
        }
        ValidationErrorKind::Required { property } => {
            let name = property
                .as_str()
                .map_or_else(|| property.to_string(), str::to_string);
            out.push(simple(format!("missing required key '{name}'")));
        }
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(ts) => ts
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            out.push(simple(format!(
                "expected {expected}, found {}",
                json_kind(e.instance())
            )));
        }
        ValidationErrorKind::Constant { expected_value } => {
            out.push(simple(format!("must be {expected_value}")));
        }
        ValidationErrorKind::Enum { options } => {
            out.push(simple(format!("must be one of {options}")));
        }
        ValidationErrorKind::Pattern { pattern } => {
            out.push(simple(format!(
                "{} does not match the pattern {pattern}",
                short(e.instance())
            )));
        }
        ValidationErrorKind::PropertyNames { error } => {
            // The name that failed is the error's instance.
            let name = error.instance().as_str().unwrap_or_default().to_string();
            out.push(Violation {
                pointer: pointer.clone(),
                key: Some(name.clone()),
                message: format!("name '{name}' is not allowed here: {}", leaf_text(error)),
            });
        }
        _ => out.push(simple(leaf_text(e))),
    }
}

/// The validator's own text for a leaf error, without ever quoting a long value.
fn leaf_text(e: &ValidationError<'_>) -> String {
    let text = e.to_string();
    if text.chars().count() > 160 {
        let cut: String = text.chars().take(157).collect();
        format!("{cut}...")
    } else {
        text
    }
}

fn short(v: &serde_json::Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(57).collect();
        format!("{cut}...")
    } else {
        text
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "nothing",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a mapping",
    }
}

/// The position of the node at `pointer` (of `key` in it, when given) and its path
/// in the loader's notation (`capability.consumes[0].tunnel`). A mapping, a list or
/// an empty value held by a key is placed at that key.
fn locate(root: &Node, pointer: &[String], key: Option<&str>) -> (Pos, String) {
    let mut node = root;
    let mut pos = Pos { line: 1, col: 1 };
    let mut path = String::new();
    for seg in pointer {
        match &node.value {
            Value::Map(entries) => {
                let Some(e) = entries.iter().find(|e| &e.key == seg) else {
                    break;
                };
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(seg);
                pos = match e.value.value {
                    Value::Map(_) | Value::Seq(_) | Value::Null => e.key_pos,
                    _ => e.value.pos,
                };
                node = &e.value;
            }
            Value::Seq(items) => {
                let Some(item) = seg.parse::<usize>().ok().and_then(|i| items.get(i)) else {
                    break;
                };
                path.push_str(&format!("[{seg}]"));
                pos = item.pos;
                node = item;
            }
            _ => break,
        }
    }
    if let Some(k) = key {
        if let Some(e) = node.as_map().and_then(|m| m.iter().find(|e| e.key == k)) {
            pos = e.key_pos;
        }
    }
    if path.is_empty() {
        path = "document".into();
    }
    (pos, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn check(text: &str) -> Vec<String> {
        let root = yaml::parse(text).expect("YAML").root;
        for_version(None)
            .expect("embedded schema")
            .check(Path::new("t.yaml"), &root, Severity::Warning)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn the_embedded_schema_compiles() {
        let s = for_version(None).expect("embedded schema");
        assert_eq!(s.name(), "ikanos-schema.json");
        assert_eq!(s.ikanos_version(), "1.0.0-beta5");
    }

    #[test]
    fn a_version_is_refused_as_upstream_refuses_it() {
        let e = for_version(Some("9.9")).expect_err("not embedded");
        assert!(
            e.to_string()
                .starts_with("Schema ikanos-schema-v9.9.json is not supported"),
            "{e}"
        );
    }

    #[test]
    fn violations_point_at_the_node() {
        let got = check("ikanos: \"1.0.0-beta5\"\ninfo:\n  label: x\n  colour: red\ncapability:\n  exposes:\n    - type: rest\n      port: \"80\"\n");
        assert!(
            got.iter()
                .any(|l| l.starts_with("t.yaml:4:3: warning: info: key 'colour' is not allowed")),
            "{got:#?}"
        );
        assert!(
            got.iter().any(|l| l.contains("capability.exposes[0]")),
            "{got:#?}"
        );
    }

    #[test]
    fn the_closest_shape_of_a_one_of_is_reported() {
        // A tunnel of another type: the schema's only tunnel shape is ziti's.
        let got = check("ikanos: \"1.0.0-beta5\"\ninfo:\n  label: x\n  description: y\ncapability:\n  consumes:\n    - type: http\n      namespace: crm\n      baseUri: https://crm.internal\n      tunnel:\n        type: ssh\n        relay: r:22\n      resources:\n        r:\n          path: /r\n          operations:\n            g:\n              method: GET\n");
        assert!(
            got.iter().any(|l| l.starts_with(
                "t.yaml:11:15: warning: capability.consumes[0].tunnel.type: must be \"ziti\""
            )),
            "{got:#?}"
        );
        assert!(
            got.iter().any(|l| l.starts_with(
                "t.yaml:12:9: warning: capability.consumes[0].tunnel: key 'relay' is not allowed"
            )),
            "{got:#?}"
        );
    }
}
