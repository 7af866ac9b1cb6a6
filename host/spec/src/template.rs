//! Mustache-style templates: `{{ns.KEY}}`, `{{KEY}}`, and `{id}` in paths.
//!
//! Owns: splitting strings into `model::TemplatePart`s (the one place that knows the
//! syntax, shared by the loader and the host at run time) and printing references
//! back the way they were written in messages.
//! Must not touch: values of binds or parameters — rendering lives in `binds`.

use crate::model::{ConsumedResource, ExposedResource, Spanned, Template, TemplatePart};

impl Template {
    /// Split `raw` into literal text and `{{…}}` references. `{{ ns.NAME }}` (spaces
    /// allowed) is a reference with a namespace, `{{NAME}}` one without. An unclosed
    /// `{{` or an empty `{{}}` is kept as literal text.
    pub fn parse(raw: Spanned<String>) -> Template {
        let parts = split(&raw.value, false);
        Template { raw, parts }
    }

    /// A path template: like [`Template::parse`], and single-brace `{id}` is a
    /// reference too (both spellings appear in upstream files).
    pub fn parse_path(raw: Spanned<String>) -> Template {
        let parts = split(&raw.value, true);
        Template { raw, parts }
    }

    /// True when the string holds no reference.
    pub fn is_literal(&self) -> bool {
        self.parts
            .iter()
            .all(|p| matches!(p, TemplatePart::Literal(_)))
    }

    /// The references, in order: (namespace, name).
    pub fn refs(&self) -> impl Iterator<Item = (Option<&str>, &str)> {
        self.parts.iter().filter_map(|p| match p {
            TemplatePart::Ref { namespace, name } => Some((namespace.as_deref(), name.as_str())),
            TemplatePart::Literal(_) => None,
        })
    }
}

impl TemplatePart {
    /// `{{ns.name}}` / `{{name}}` for messages; literals as they are.
    pub fn display(&self) -> String {
        match self {
            TemplatePart::Literal(s) => s.clone(),
            TemplatePart::Ref {
                namespace: Some(ns),
                name,
            } => format!("{{{{{ns}.{name}}}}}"),
            TemplatePart::Ref {
                namespace: None,
                name,
            } => format!("{{{{{name}}}}}"),
        }
    }
}

impl ConsumedResource {
    /// `path` as a template (`{{id}}` and `{id}` placeholders).
    pub fn path_template(&self) -> Template {
        Template::parse_path(self.path.clone())
    }
}

impl ExposedResource {
    /// `path` as a template (`{{id}}` and `{id}` placeholders).
    pub fn path_template(&self) -> Template {
        Template::parse_path(self.path.clone())
    }
}

fn reference(content: &str) -> Option<TemplatePart> {
    let c = content.trim();
    if c.is_empty() {
        return None;
    }
    Some(match c.split_once('.') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() => TemplatePart::Ref {
            namespace: Some(ns.trim().to_string()),
            name: name.trim().to_string(),
        },
        _ => TemplatePart::Ref {
            namespace: None,
            name: c.to_string(),
        },
    })
}

fn split(s: &str, single_braces: bool) -> Vec<TemplatePart> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = s;
    while !rest.is_empty() {
        let Some(open) = rest.find('{') else {
            lit.push_str(rest);
            break;
        };
        lit.push_str(&rest[..open]);
        let after = &rest[open..];
        if let Some(inner) = after.strip_prefix("{{") {
            if let Some(close) = inner.find("}}") {
                let content = &inner[..close];
                // `{{ {{x}}`: the reference is the innermost one.
                if let Some(again) = content.rfind("{{") {
                    lit.push_str("{{");
                    lit.push_str(&content[..again]);
                    rest = &inner[again..];
                    continue;
                }
                if let Some(part) = reference(content) {
                    flush(&mut parts, &mut lit);
                    parts.push(part);
                } else {
                    lit.push_str(&after[..close + 4]);
                }
                rest = &inner[close + 2..];
                continue;
            }
            lit.push_str(after);
            break;
        }
        if single_braces {
            let inner = &after[1..];
            if let Some(close) = inner.find('}') {
                let content = &inner[..close];
                if !content.contains('{') {
                    if let Some(part) = reference(content) {
                        flush(&mut parts, &mut lit);
                        parts.push(part);
                        rest = &inner[close + 1..];
                        continue;
                    }
                }
            }
        }
        lit.push('{');
        rest = &after[1..];
    }
    flush(&mut parts, &mut lit);
    parts
}

fn flush(parts: &mut Vec<TemplatePart>, lit: &mut String) {
    if !lit.is_empty() {
        parts.push(TemplatePart::Literal(std::mem::take(lit)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Pos;

    fn t(s: &str) -> Vec<TemplatePart> {
        Template::parse(Spanned {
            value: s.into(),
            pos: Pos::default(),
            file: "f".into(),
        })
        .parts
    }
    fn p(s: &str) -> Vec<TemplatePart> {
        Template::parse_path(Spanned {
            value: s.into(),
            pos: Pos::default(),
            file: "f".into(),
        })
        .parts
    }
    fn lit(s: &str) -> TemplatePart {
        TemplatePart::Literal(s.into())
    }
    fn r(ns: Option<&str>, n: &str) -> TemplatePart {
        TemplatePart::Ref {
            namespace: ns.map(String::from),
            name: n.into(),
        }
    }

    #[test]
    fn splits_references() {
        assert_eq!(
            t("Bearer {{ secrets.TOKEN }}!"),
            vec![lit("Bearer "), r(Some("secrets"), "TOKEN"), lit("!")]
        );
        assert_eq!(t("{{A}}{{b}}"), vec![r(None, "A"), r(None, "b")]);
        assert_eq!(t("plain"), vec![lit("plain")]);
        assert_eq!(t("{{unclosed"), vec![lit("{{unclosed")]);
        assert_eq!(t("a{{}}b"), vec![lit("a{{}}b")]);
        assert_eq!(t("{{ {{x}}"), vec![lit("{{ "), r(None, "x")]);
        assert_eq!(
            t("{\"a\": {{v}}}"),
            vec![lit("{\"a\": "), r(None, "v"), lit("}")]
        );
        assert_eq!(t("{x}"), vec![lit("{x}")]);
        assert_eq!(t("é{{x}}ü"), vec![lit("é"), r(None, "x"), lit("ü")]);
    }

    #[test]
    fn path_accepts_both_brace_styles() {
        assert_eq!(
            p("/a/{{id}}/b/{k}"),
            vec![lit("/a/"), r(None, "id"), lit("/b/"), r(None, "k")]
        );
        assert_eq!(p("/a/{}"), vec![lit("/a/{}")]);
        assert_eq!(p("/a/{"), vec![lit("/a/{")]);
    }
}
