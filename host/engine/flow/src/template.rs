//! Mustache templates as upstream renders them (`Resolver.resolveMustacheTemplate`:
//! JMustache with `escapeHTML(false)` and `defaultValue("")`), and the parameter map they
//! are rendered against.
//!
//! Owns: rendering `{{…}}` and turning parameter values into text. Must not touch: which
//! parameters exist (`steps`, `engine`).
//!
//! A small renderer rather than a crate: upstream files and tests only use `{{name}}` and
//! dotted names (`{{step.field}}`, JMustache compound keys); no upstream file or test uses
//! sections, partials or delimiter changes. Supported: `{{name}}`, `{{a.b.c}}`,
//! `{{{name}}}`, `{{& name}}` (all unescaped, as upstream disables HTML escaping),
//! `{{! comment}}`. Sections (`{{#…}}`, `{{^…}}`, `{{/…}}`), partials and delimiter
//! changes render as nothing, like an unknown name. Rendering is one pass, linear in the
//! template plus what is substituted, and capped at [`MAX_RENDERED`].
//!
//! Values render as upstream's do: strings as they are, numbers and booleans as text, null
//! and missing names as "", a top-level array as compact JSON (upstream serializes
//! collections before rendering), anything nested or an object the way Java's
//! `toString` prints the maps and lists Jackson converts JSON into (`{a=1, b=[x, y]}`).

pub use indexmap_like::Params;
use serde_json::Value;

/// Names a template can see: a parameter map, or one layered over another.
pub trait Vars {
    fn var(&self, name: &str) -> Option<&Value>;
    fn is_empty(&self) -> bool;
}

impl Vars for Params {
    fn var(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Entries written on top of a base map without copying it (a step's `with`).
pub struct Layered<'a> {
    pub base: &'a Params,
    pub top: Params,
}

impl<'a> Layered<'a> {
    pub fn new(base: &'a Params) -> Self {
        Self {
            base,
            top: Params::new(),
        }
    }
    pub fn insert(&mut self, k: &str, v: Value) {
        self.top.insert(k, v);
    }
}

impl Vars for Layered<'_> {
    fn var(&self, name: &str) -> Option<&Value> {
        self.top.get(name).or_else(|| self.base.get(name))
    }
    fn is_empty(&self) -> bool {
        self.top.0.is_empty() && self.base.0.is_empty()
    }
}

/// Largest rendered template, in bytes.
pub const MAX_RENDERED: usize = 16 * 1024 * 1024;

pub mod indexmap_like {
    use serde_json::{Map, Value};

    /// The request-scoped parameter map (upstream's `Map<String, Object>`), in insertion
    /// order. Inputs are strings; step outputs and non-string `with` literals are JSON.
    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct Params(pub Map<String, Value>);

    impl Params {
        pub fn new() -> Self {
            Self(Map::new())
        }
        pub fn get(&self, k: &str) -> Option<&Value> {
            self.0.get(k)
        }
        /// Upstream maps hold no nulls that matter: a null value renders as "".
        pub fn insert(&mut self, k: &str, v: Value) {
            self.0.insert(k.to_string(), v);
        }
        pub fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
        pub fn contains(&self, k: &str) -> bool {
            self.0.contains_key(k)
        }
    }
}

/// Why a template could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

/// Render `template` against `params`; as upstream, an empty map leaves it untouched.
pub fn render(template: &str, params: &(impl Vars + ?Sized)) -> Result<String, TemplateError> {
    if params.is_empty() || !template.contains("{{") {
        return Ok(template.to_string());
    }
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        // `{{{name}}}`
        let (inner, consumed) = if let Some(body) = after.strip_prefix('{') {
            match body.find("}}}") {
                Some(end) => (&body[..end], 1 + end + 3),
                None => {
                    // JMustache fails on an unclosed tag; keep the text as it is.
                    out.push_str(&rest[start..]);
                    return check(out);
                }
            }
        } else {
            match after.find("}}") {
                Some(end) => (&after[..end], end + 2),
                None => {
                    out.push_str(&rest[start..]);
                    return check(out);
                }
            }
        };
        let tag = inner.trim();
        match tag.chars().next() {
            Some('!') | Some('#') | Some('^') | Some('/') | Some('>') | Some('=') | None => {}
            Some('&') => push_value(&mut out, lookup(params, tag[1..].trim())),
            Some(_) => push_value(&mut out, lookup(params, tag)),
        }
        if out.len() > MAX_RENDERED {
            return Err(TemplateError(format!(
                "a rendered template exceeds {MAX_RENDERED} bytes"
            )));
        }
        rest = &after[consumed..];
    }
    out.push_str(rest);
    check(out)
}

fn check(out: String) -> Result<String, TemplateError> {
    if out.len() > MAX_RENDERED {
        return Err(TemplateError(format!(
            "a rendered template exceeds {MAX_RENDERED} bytes"
        )));
    }
    Ok(out)
}

/// JMustache compound keys: the whole name first, then `a.b.c` through objects (and
/// arrays by index). Returns the value and whether it is a top-level parameter.
fn lookup<'a>(params: &'a (impl Vars + ?Sized), name: &str) -> Option<(&'a Value, bool)> {
    if name == "." || name == "this" {
        return None;
    }
    if let Some(v) = params.var(name) {
        return Some((v, true));
    }
    let mut parts = name.split('.');
    let first = parts.next()?;
    let mut cur = params.var(first)?;
    for p in parts {
        cur = match cur {
            Value::Object(m) => m.get(p)?,
            Value::Array(a) => a.get(p.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some((cur, false))
}

fn push_value(out: &mut String, v: Option<(&Value, bool)>) {
    match v {
        None => {}
        Some((Value::Array(_), true)) => {
            // Upstream JSON-serializes top-level collections.
            if let Some((v, _)) = v {
                out.push_str(&v.to_string());
            }
        }
        Some((v, _)) => java_text(out, v, 0),
    }
}

/// A value as text for a parameter sent to the host (`Env::call`).
pub fn param_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Array(_) | Value::Object(_) => Some(v.to_string()),
        other => {
            let mut s = String::new();
            java_text(&mut s, other, 0);
            Some(s)
        }
    }
}

/// How Java prints what Jackson converts a JSON value into (`String.valueOf`).
pub fn java_text(out: &mut String, v: &Value, depth: usize) {
    if depth > crate::definition::MAX_DEPTH {
        out.push_str("...");
        return;
    }
    match v {
        Value::Null => {
            if depth > 0 {
                out.push_str("null");
            }
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                java_text(out, x, depth + 1);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push('=');
                java_text(out, x, depth + 1);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(v: Value) -> Params {
        match v {
            Value::Object(m) => Params(m),
            _ => Params::new(),
        }
    }

    // Ported from upstream ResolverTest.resolveMustacheTemplateShouldHandleNullAndEmptyParameters
    #[test]
    fn null_and_empty_parameters() {
        assert_eq!(render("plain", &Params::new()).unwrap(), "plain");
        assert_eq!(render("{{x}}", &Params::new()).unwrap(), "{{x}}");
        assert_eq!(
            render("hello {{name}}/{{missing}}", &p(json!({"name": "alice"}))).unwrap(),
            "hello alice/"
        );
    }

    // Ported from upstream ResolverTest.resolveMustacheTemplateShouldJsonSerializeArrayParameters
    #[test]
    fn json_serializes_array_parameters() {
        let t = "{\"shipImo\": \"{{shipImo}}\", \"crewIds\": {{crewIds}}}";
        let params = p(json!({"shipImo": "IMO-9321483", "crewIds": ["CREW-001", "CREW-003"]}));
        assert_eq!(
            render(t, &params).unwrap(),
            "{\"shipImo\": \"IMO-9321483\", \"crewIds\": [\"CREW-001\",\"CREW-003\"]}"
        );
    }

    // Ported from upstream ResolverTest.resolveMustacheTemplateShouldPreserveNonAsciiCharacters
    #[test]
    fn preserves_non_ascii_and_does_not_escape() {
        let params = p(json!({"name": "Erik Lindstrøm", "port": "Göteborg", "q": "<a&\"b\">"}));
        assert_eq!(
            render(
                "{\"name\": \"{{name}}\", \"port\": \"{{port}}\"} {{q}}",
                &params
            )
            .unwrap(),
            "{\"name\": \"Erik Lindstrøm\", \"port\": \"Göteborg\"} <a&\"b\">"
        );
    }

    #[test]
    fn compound_keys_and_tags() {
        let params = p(json!({
            "fetch-profile": {"region": "eu", "n": 3, "tags": ["a", "b"], "o": {"k": 1}},
            "a.b": "whole"
        }));
        assert_eq!(render("{{fetch-profile.region}}", &params).unwrap(), "eu");
        assert_eq!(render("{{ fetch-profile.n }}", &params).unwrap(), "3");
        assert_eq!(render("{{fetch-profile.tags}}", &params).unwrap(), "[a, b]");
        assert_eq!(render("{{fetch-profile.o}}", &params).unwrap(), "{k=1}");
        assert_eq!(render("{{a.b}}", &params).unwrap(), "whole");
        assert_eq!(
            render("{{{a.b}}}|{{& a.b}}|{{! c}}", &params).unwrap(),
            "whole|whole|"
        );
        assert_eq!(render("x {{unclosed", &params).unwrap(), "x {{unclosed");
    }
}
