//! The YAML node tree the decoder reads.
//!
//! Owns: turning text into a small owned tree where every node and every mapping key
//! carries its 1-based position, and turning a YAML syntax error into a position and
//! a message. saphyr does the parsing (and already rejects duplicate keys and bounds
//! alias expansion); this module only reshapes its `MarkedYaml`.
//!
//! A block scalar (`key: |` / `key: >-` and the text below) is positioned at its
//! header, where YAML puts the node and other YAML tools (Spectral among them) report
//! it; saphyr's span starts at the first line of text.
//! Must not touch: the meaning of any key — that is `decode`'s job.

use std::sync::LazyLock;

use regex::Regex;
use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

use crate::model::Pos;

#[derive(Debug, Clone)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Bool(bool),
    /// The value and the text as written (`1.10` must not become `1.1` in a bind value).
    Int(i64, String),
    Float(f64, String),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

/// The first document of a YAML text.
#[derive(Debug)]
pub struct Parsed {
    pub root: Node,
    /// Documents after the first (ignored; the caller may warn).
    pub extra_documents: usize,
    /// Readable but odd structure (non-scalar keys, values saphyr could not type).
    pub problems: Vec<(Pos, String)>,
}

/// Deeper nesting than this is refused before parsing: recursive conversion and drop
/// of a pathological `[[[[…` document would otherwise exhaust the stack.
const MAX_DEPTH: usize = 512;

/// Parse `text`; Err carries the syntax error's position and message.
pub fn parse(text: &str) -> Result<Parsed, (Pos, String)> {
    if let Some(pos) = too_deep(text) {
        return Err((pos, format!("nesting deeper than {MAX_DEPTH} levels")));
    }
    let docs = MarkedYaml::load_from_str(text).map_err(|e| {
        let m = e.marker();
        (marker_pos(m.line(), m.col()), e.info().to_string())
    })?;
    let mut problems = Vec::new();
    let extra_documents = docs.len().saturating_sub(1);
    let source: Vec<char> = text.chars().collect();
    let mut cx = Cx {
        source: &source,
        problems: &mut problems,
    };
    let root = match docs.first() {
        Some(doc) => cx.convert(doc, 0),
        None => Node {
            pos: Pos { line: 1, col: 1 },
            value: Value::Null,
        },
    };
    Ok(Parsed {
        root,
        extra_documents,
        problems,
    })
}

fn marker_pos(line: usize, col: usize) -> Pos {
    Pos {
        line: u32::try_from(line).unwrap_or(u32::MAX).max(1),
        col: u32::try_from(col.saturating_add(1)).unwrap_or(u32::MAX),
    }
}

/// A cheap over-estimate of flow nesting (quotes are ignored, which can only make it
/// larger); block nesting this deep would need an absurdly large file.
fn too_deep(text: &str) -> Option<Pos> {
    let (mut depth, mut line, mut col) = (0usize, 1usize, 0usize);
    for c in text.chars() {
        col += 1;
        match c {
            '\n' => {
                line += 1;
                col = 0;
            }
            '[' | '{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(marker_pos(line, col.saturating_sub(1)));
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

struct Cx<'a> {
    source: &'a [char],
    problems: &'a mut Vec<(Pos, String)>,
}

impl Cx<'_> {
    /// The source text of a node (markers count characters, not bytes).
    fn raw(&self, y: &MarkedYaml<'_>) -> String {
        let (a, b) = (y.span.start.index(), y.span.end.index());
        self.source
            .get(a..b.max(a))
            .map(|c| c.iter().collect::<String>().trim().to_string())
            .unwrap_or_default()
    }

    fn scalar(&self, y: &MarkedYaml<'_>, s: &Scalar<'_>) -> Value {
        match s {
            Scalar::Null => Value::Null,
            Scalar::Boolean(b) => Value::Bool(*b),
            Scalar::Integer(i) => Value::Int(*i, self.raw(y)),
            Scalar::FloatingPoint(f) => Value::Float(f.into_inner(), self.raw(y)),
            Scalar::String(s) => Value::Str(s.to_string()),
        }
    }

    /// The `|` or `>` of a block scalar whose text starts at character `index` on
    /// 1-based `line`: the last non-blank line before the text, when it ends with a
    /// header (indicator, optional chomping/indentation indicators, optional comment)
    /// that is not itself inside a comment. None for any other scalar.
    fn block_header(&self, index: usize, line: u32) -> Option<Pos> {
        static HEADER: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"^(?:[^#]*[ \t])?([|>])[-+0-9]*[ \t]*(?:#.*)?$").expect("constant regex")
        });
        let before = self.source.get(..index)?;
        let mut end = before.len();
        let mut newlines = 0u32;
        while end > 0 && matches!(before[end - 1], ' ' | '\t' | '\n' | '\r') {
            newlines += u32::from(before[end - 1] == '\n');
            end -= 1;
        }
        if newlines == 0 {
            return None;
        }
        let start = before[..end]
            .iter()
            .rposition(|c| *c == '\n')
            .map_or(0, |i| i + 1);
        let text: String = before[start..end].iter().collect();
        let indicator = HEADER.captures(&text)?.get(1)?;
        let col = text[..indicator.start()].chars().count() + 1;
        Some(Pos {
            line: line.checked_sub(newlines)?.max(1),
            col: u32::try_from(col).unwrap_or(u32::MAX),
        })
    }

    fn convert(&mut self, y: &MarkedYaml<'_>, depth: usize) -> Node {
        let mut pos = marker_pos(y.span.start.line(), y.span.start.col());
        if let YamlData::Value(Scalar::String(_)) = &y.data {
            if let Some(header) = self.block_header(y.span.start.index(), pos.line) {
                pos = header;
            }
        }
        if depth > MAX_DEPTH {
            self.problems
                .push((pos, format!("nesting deeper than {MAX_DEPTH} levels")));
            return Node {
                pos,
                value: Value::Null,
            };
        }
        let value = match &y.data {
            YamlData::Value(s) => self.scalar(y, s),
            YamlData::Representation(s, _, _) => Value::Str(s.to_string()),
            YamlData::Sequence(items) => {
                Value::Seq(items.iter().map(|i| self.convert(i, depth + 1)).collect())
            }
            YamlData::Mapping(map) => {
                let mut entries = Vec::with_capacity(map.len());
                for (k, v) in map {
                    let key_pos = marker_pos(k.span.start.line(), k.span.start.col());
                    let key = match key_text(k) {
                        Some(t) => t,
                        None => {
                            self.problems
                                .push((key_pos, "mapping keys must be plain scalars".into()));
                            continue;
                        }
                    };
                    entries.push(Entry {
                        key,
                        key_pos,
                        value: self.convert(v, depth + 1),
                    });
                }
                Value::Map(entries)
            }
            // Application tags carry no meaning in this format: read the tagged node as is.
            YamlData::Tagged(_, inner) => return self.convert(inner, depth + 1),
            YamlData::Alias(_) | YamlData::BadValue => {
                self.problems.push((
                    pos,
                    "value cannot be read (unknown alias or invalid tagged scalar)".into(),
                ));
                Value::Null
            }
        };
        Node { pos, value }
    }
}

fn key_text(k: &MarkedYaml<'_>) -> Option<String> {
    match &k.data {
        YamlData::Value(s) => Some(match s {
            Scalar::Null => "null".into(),
            Scalar::Boolean(b) => b.to_string(),
            Scalar::Integer(i) => i.to_string(),
            Scalar::FloatingPoint(f) => f.into_inner().to_string(),
            Scalar::String(s) => s.to_string(),
        }),
        YamlData::Representation(s, _, _) => Some(s.to_string()),
        YamlData::Tagged(_, inner) => key_text(inner),
        _ => None,
    }
}

impl Node {
    /// What kind of value this is, for "expected a string, found …" messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "nothing",
            Value::Bool(_) => "a boolean",
            Value::Int(..) => "an integer",
            Value::Float(..) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The value of `key` when this node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|e| e.key == key)
            .map(|e| &e.value)
    }

    /// A plain JSON rendering (for provider-specific tunnel keys and JSON bodies).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i, _) => J::from(*i),
            Value::Float(f, _) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }

    /// A scalar's text as written in YAML terms (`true`, `42`, `1.5`); None for
    /// null and collections.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(_, raw) | Value::Float(_, raw) => Some(raw.clone()),
            Value::Str(s) => Some(s.clone()),
            _ => None,
        }
    }
}
