//! JSONPath extraction with upstream's semantics (`Converter.jsonPathExtract`, Jayway
//! JsonPath 2.x with the Jackson provider and default options).
//!
//! Owns: turning a `mapping` string and a JSON tree into one JSON value. Must not touch:
//! what the value is used for (`mapping`).
//!
//! Evaluation is done by `serde_json_path` (RFC 9535). Bridged differences with Jayway:
//! - `$` and `$.` return the root (upstream special-cases both).
//! - Jayway accepts dot-notation names RFC 9535 does not (`$.foo-bar`, `$.1st`,
//!   `$.user details.email` — the last through upstream's `fixJsonPathWithSpaces` retry) and
//!   `.['x']`; they are rewritten to bracket notation before parsing.
//! - Definite paths (no wildcard, deep scan, filter, slice, union) give the single match or
//!   null when nothing matches (Jayway throws `PathNotFoundException`, upstream turns it into
//!   null); indefinite paths always give an array of the matches, possibly empty.
//! - A path that does not parse gives null (upstream catches every exception).
//! - Not bridged: Jayway-only functions (`.length()`, `.min()` …) and filter operators
//!   (`=~`, `in`, `nin`, `size`, `empty` …) do not parse and give null.

use std::collections::HashMap;

use serde_json::Value;
use serde_json_path::JsonPath;

/// Longest mapping accepted; longer strings give null (no upstream file comes close).
const MAX_PATH_LEN: usize = 4096;

/// A mapping compiled once.
#[derive(Debug, Clone)]
pub enum Compiled {
    /// `$`, `$.`: the root itself.
    Root,
    /// Null mapping, empty mapping, or one that does not parse.
    Nothing,
    Path {
        path: JsonPath,
        definite: bool,
    },
}

/// Compiled mappings, so an array of N items is not parsed N times.
#[derive(Debug, Default)]
pub struct PathCache {
    paths: HashMap<String, Compiled>,
}

impl PathCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Upstream's `jsonPathExtract(root, mapping)`: never fails, null when nothing applies.
    pub fn extract(&mut self, root: &Value, mapping: Option<&str>) -> Value {
        let Some(mapping) = mapping else {
            return Value::Null;
        };
        if !self.paths.contains_key(mapping) {
            // Bounded: one entry per distinct mapping string of the definition.
            let compiled = compile(mapping);
            self.paths.insert(mapping.to_string(), compiled);
        }
        match self.paths.get(mapping) {
            Some(c) => evaluate(c, root),
            None => Value::Null,
        }
    }
}

/// Compile one mapping.
pub fn compile(mapping: &str) -> Compiled {
    let m = mapping.trim();
    if m.is_empty() || m.len() > MAX_PATH_LEN {
        return Compiled::Nothing;
    }
    if m == "$" || m == "$." {
        return Compiled::Root;
    }
    let Some((normalized, definite)) = normalize(m) else {
        return Compiled::Nothing;
    };
    match JsonPath::parse(&normalized) {
        Ok(path) => Compiled::Path { path, definite },
        Err(_) => Compiled::Nothing,
    }
}

/// Evaluate a compiled mapping.
pub fn evaluate(c: &Compiled, root: &Value) -> Value {
    match c {
        Compiled::Root => root.clone(),
        Compiled::Nothing => Value::Null,
        Compiled::Path { path, definite } => {
            let nodes = path.query(root);
            if *definite {
                nodes.first().cloned().unwrap_or(Value::Null)
            } else {
                Value::Array(nodes.all().into_iter().cloned().collect())
            }
        }
    }
}

/// One-shot extraction.
pub fn extract(root: &Value, mapping: Option<&str>) -> Value {
    match mapping {
        Some(m) => evaluate(&compile(m), root),
        None => Value::Null,
    }
}

/// Rewrite Jayway dot-notation into RFC 9535 and tell whether the path is definite.
/// Returns None when the path does not start with `$`.
fn normalize(m: &str) -> Option<(String, bool)> {
    let chars: Vec<char> = m.chars().collect();
    if chars.first() != Some(&'$') {
        return None;
    }
    let mut out = String::with_capacity(m.len() + 8);
    out.push('$');
    let mut definite = true;
    let mut i = 1;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                if chars.get(i + 1) == Some(&'.') {
                    // Deep scan: `..name`, `..*`, `..[…]` are valid RFC 9535 as written,
                    // except for names outside the shorthand grammar.
                    definite = false;
                    out.push_str("..");
                    i += 2;
                    if chars.get(i) == Some(&'[') || chars.get(i) == Some(&'*') {
                        continue;
                    }
                    let (name, next) = read_name(&chars, i);
                    push_name_bracketed(&mut out, &name);
                    // `..name` in bracket form is `..['name']`: push_name_bracketed wrote
                    // `['name']` directly after `..`.
                    i = next;
                    continue;
                }
                i += 1;
                match chars.get(i) {
                    // Jayway accepts `$.['x']`.
                    Some('[') => continue,
                    Some('*') => {
                        definite = false;
                        out.push_str(".*");
                        i += 1;
                    }
                    Some(_) => {
                        let (name, next) = read_name(&chars, i);
                        push_name_bracketed(&mut out, &name);
                        i = next;
                    }
                    // A trailing dot: Jayway rejects it; so do we.
                    None => return None,
                }
            }
            '[' => {
                let end = bracket_end(&chars, i)?;
                let inner: String = chars[i + 1..end].iter().collect();
                if bracket_is_indefinite(&inner) {
                    definite = false;
                }
                out.push('[');
                out.push_str(&inner);
                out.push(']');
                i = end + 1;
            }
            c if c.is_whitespace() => {
                i += 1;
            }
            _ => return None,
        }
    }
    Some((out, definite))
}

/// A dot-notation name runs to the next `.` or `[` (Jayway; spaces are kept, as upstream's
/// retry with bracket notation does).
fn read_name(chars: &[char], start: usize) -> (String, usize) {
    let mut i = start;
    while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
        i += 1;
    }
    let name: String = chars[start..i].iter().collect();
    (name.trim_end().to_string(), i)
}

fn push_name_bracketed(out: &mut String, name: &str) {
    out.push_str("['");
    for c in name.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push_str("']");
}

/// Index of the `]` closing the bracket opened at `open`, skipping quoted strings and
/// nested brackets (filters).
fn bracket_end(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut i = open;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            if c == '\\' {
                i += 2;
                continue;
            }
            if c == q {
                quote = None;
            }
        } else {
            match c {
                '\'' | '"' => quote = Some(c),
                '[' => depth += 1,
                ']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// Jayway: a bracket with a wildcard, filter, slice or union is indefinite.
fn bracket_is_indefinite(inner: &str) -> bool {
    let mut quote: Option<char> = None;
    let t = inner.trim_start();
    if t.starts_with('?') || t.starts_with('*') {
        return true;
    }
    let mut escaped = false;
    for c in inner.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            ',' | ':' | '*' => return true,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Ported from upstream ConverterTest.jsonPathExtractShouldHandleRootSelectorsAndEmptyMapping
    #[test]
    fn root_selectors_and_empty_mapping() {
        let root = json!({"a": 1});
        assert_eq!(extract(&root, Some("$")), root);
        assert_eq!(extract(&root, Some("$.")), root);
        assert_eq!(extract(&root, Some("")), Value::Null);
        assert_eq!(extract(&root, None), Value::Null);
    }

    // Ported from upstream ConverterTest.jsonPathExtractShouldSupportMissingPathsAndPropertiesWithSpaces
    #[test]
    fn missing_paths_and_properties_with_spaces() {
        let root = json!({"user details": {"contact email": "a@b.c", "email": "x@y.z"}, "user": {"id": 1}});
        assert_eq!(extract(&root, Some("$.missing")), Value::Null);
        assert_eq!(extract(&root, Some("$.missing.field")), Value::Null);
        assert_eq!(
            extract(&root, Some("$['user details']['contact email']")),
            json!("a@b.c")
        );
        assert_eq!(extract(&root, Some("$.user details.email")), json!("x@y.z"));
        assert_eq!(
            extract(&root, Some("$.['user details'].email")),
            json!("x@y.z")
        );
        assert_eq!(extract(&root, Some("$.user.id")), json!(1));
    }

    #[test]
    fn definite_and_indefinite() {
        let root = json!({"items": [{"id": 1, "t": "a"}, {"id": 2}], "foo-bar": true});
        assert_eq!(extract(&root, Some("$.items[0].id")), json!(1));
        assert_eq!(extract(&root, Some("$.items[5].id")), Value::Null);
        assert_eq!(extract(&root, Some("$.items[-1].id")), json!(2));
        assert_eq!(extract(&root, Some("$.items[*].id")), json!([1, 2]));
        assert_eq!(extract(&root, Some("$.items[*].t")), json!(["a"]));
        assert_eq!(extract(&root, Some("$.items[*].zz")), json!([]));
        assert_eq!(extract(&root, Some("$..id")), json!([1, 2]));
        assert_eq!(extract(&root, Some("$.items[?(@.id == 2)].id")), json!([2]));
        assert_eq!(extract(&root, Some("$.items[0:1].id")), json!([1]));
        assert_eq!(extract(&root, Some("$.foo-bar")), json!(true));
        assert_eq!(extract(&root, Some("$.items.id")), Value::Null);
        assert_eq!(extract(&root, Some("not a path")), Value::Null);
        assert_eq!(extract(&root, Some("$.items.length()")), Value::Null);
    }
}
