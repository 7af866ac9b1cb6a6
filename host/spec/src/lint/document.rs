//! The linted YAML document as Spectral's rules see it.
//!
//! Owns: reading a `yaml::Node` tree with JavaScript's semantics (truthiness, `==` and
//! `===`, `typeof`, `Object.keys`, string conversion), walking it as the rules' JSONPath
//! `given` expressions do (`[*]` and `[?(…)]` visit the items of a list *and the values
//! of a mapping*), and the position Spectral gives a result on a node.
//! Must not touch: any rule's meaning (the rule modules decide what fires), files, the
//! environment or the terminal.
//!
//! Why JavaScript's semantics: upstream's verdicts come from Spectral evaluating the
//! ruleset's JSONPath filters and JS functions over the parsed document, so a rule
//! fires here exactly when it fires there — including where that is surprising, e.g.
//! a filter `@.type == 'rest'` is JS loose equality and also matches `type: [rest]`.
//!
//! Where Spectral puts a result (its `getLocationForJsonPath`, 0-based there, 1-based
//! here): a scalar at its first character (a block scalar at its `|`/`>` header,
//! which `yaml` already records as the node's position); a mapping, a list or an empty
//! value held by a key at that key's line (Spectral starts the range just after the
//! colon, we print the key's own column: the line is what the differential tests
//! compare, the column is for the reader); a list item at its first character; the
//! document itself at 1:1. A result on a path that does not exist (a missing field)
//! is placed on the deepest node of the path that does.

use crate::model::Pos;
use crate::yaml::{Node, Value};

/// A node the rules reached, with the position Spectral gives a result on it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit<'a> {
    pub node: &'a Node,
    pub pos: Pos,
}

impl<'a> Hit<'a> {
    /// The document's root.
    pub fn root(node: &'a Node) -> Hit<'a> {
        Hit {
            node,
            pos: Pos { line: 1, col: 1 },
        }
    }

    /// `value.key` when `value` is a mapping that has `key` (JS: a property of an
    /// object; lists and scalars have none the rules read).
    pub fn get(&self, key: &str) -> Option<Hit<'a>> {
        let entry = self.node.as_map()?.iter().find(|e| e.key == key)?;
        let node = &entry.value;
        let pos = match node.value {
            Value::Map(_) | Value::Seq(_) | Value::Null => entry.key_pos,
            _ => node.pos,
        };
        Some(Hit { node, pos })
    }

    /// `value[i]` of a list.
    pub fn item(&self, i: usize) -> Option<Hit<'a>> {
        let node = self.node.as_seq()?.get(i)?;
        Some(Hit {
            node,
            pos: node.pos,
        })
    }

    /// `value[*]`: the items of a list, the values of a mapping, nothing for a scalar.
    pub fn members(&self) -> Vec<Hit<'a>> {
        match &self.node.value {
            Value::Seq(items) => (0..items.len()).filter_map(|i| self.item(i)).collect(),
            Value::Map(entries) => entries.iter().filter_map(|e| self.get(&e.key)).collect(),
            _ => Vec::new(),
        }
    }

    /// `value[?(test)]`: the members that pass `test`. A `null` member makes Spectral
    /// abort the whole run (`Cannot read properties of null`); here it never passes.
    pub fn filter(&self, test: impl Fn(&Hit<'a>) -> bool) -> Vec<Hit<'a>> {
        self.members()
            .into_iter()
            .filter(|m| !matches!(m.node.value, Value::Null) && test(m))
            .collect()
    }

    /// `value.key` as a string (`typeof … === "string"`).
    pub fn str(&self, key: &str) -> Option<&'a str> {
        self.get(key).and_then(|h| h.as_str())
    }

    pub fn as_str(&self) -> Option<&'a str> {
        match &self.node.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// `Array.isArray(value)`: the items, or None.
    pub fn list(&self) -> Option<Vec<Hit<'a>>> {
        self.node.as_seq().map(|_| self.members())
    }

    /// `value && typeof value === "object"`: a mapping or a list.
    pub fn is_object(&self) -> bool {
        matches!(self.node.value, Value::Map(_) | Value::Seq(_))
    }

    pub fn is_map(&self) -> bool {
        matches!(self.node.value, Value::Map(_))
    }

    /// JavaScript truthiness.
    pub fn truthy(&self) -> bool {
        match &self.node.value {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i, _) => *i != 0,
            Value::Float(f, _) => *f != 0.0 && !f.is_nan(),
            Value::Str(s) => !s.is_empty(),
            Value::Seq(_) | Value::Map(_) => true,
        }
    }

    /// `value === true` / `value === false`.
    pub fn is_bool(&self, b: bool) -> bool {
        matches!(self.node.value, Value::Bool(v) if v == b)
    }

    /// `value == text` for a `text` made of letters and digits, as the rules' filters
    /// compare (`@.type == 'rest'`). JS converts a list to the text of its items joined
    /// by commas, so a one-item list whose item equals `text` matches too; a number or
    /// a boolean never equals such a word (both sides would become numbers).
    pub fn loose_eq(&self, text: &str) -> bool {
        match &self.node.value {
            Value::Str(s) => s == text,
            Value::Seq(items) if items.len() == 1 => {
                matches!(items[0].value, Value::Str(_) | Value::Seq(_))
                    && Hit::root(&items[0]).loose_eq(text)
            }
            _ => false,
        }
    }

    /// `a === b` between two scalars (objects are never equal: they are distinct).
    pub fn strict_eq(&self, other: &Hit<'_>) -> bool {
        match (&self.node.value, &other.node.value) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (a, b) => match (number(a), number(b)) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            },
        }
    }

    /// `Object.keys(value)`: a mapping's keys, a list's indices.
    pub fn keys(&self) -> Vec<String> {
        match &self.node.value {
            Value::Map(entries) => entries.iter().map(|e| e.key.clone()).collect(),
            Value::Seq(items) => (0..items.len()).map(|i| i.to_string()).collect(),
            _ => Vec::new(),
        }
    }

    /// `String(value)`, as JS writes a value into a message.
    pub fn js_string(&self) -> String {
        js_string(self.node)
    }
}

/// Every JS value is a number in one type: `8080` and `8080.0` are equal.
fn number(v: &Value) -> Option<f64> {
    match v {
        // Integers beyond 2^53 lose precision in JS too.
        #[allow(clippy::cast_precision_loss)]
        Value::Int(i, _) => Some(*i as f64),
        Value::Float(f, _) => Some(*f),
        _ => None,
    }
}

fn js_string(node: &Node) -> String {
    match &node.value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i, _) => i.to_string(),
        Value::Float(f, _) => js_number(*f),
        Value::Str(s) => s.clone(),
        Value::Seq(items) => items
            .iter()
            .map(|i| match i.value {
                Value::Null => String::new(),
                _ => js_string(i),
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Map(_) => "[object Object]".into(),
    }
}

/// JS's `Number.prototype.toString` for the values a file holds: integers without a
/// fraction, others in the shortest form that reads back the same.
fn js_number(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{f:.0}")
    } else {
        f.to_string()
    }
}

/// JavaScript's `String.prototype.trim` set (WhiteSpace and LineTerminator), which
/// differs from Rust's `char::is_whitespace` (U+FEFF is JS whitespace, U+0085 is not).
pub(crate) fn js_trim(s: &str) -> &str {
    s.trim_matches(is_js_space)
}

pub(crate) fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn doc(text: &str) -> Node {
        yaml::parse(text).expect("test YAML").root
    }

    #[test]
    fn positions_follow_spectral() {
        let d = doc("a:\n  m:\n    k: v\n  s: text\n  e:\n  l:\n    - x\n");
        let a = Hit::root(&d).get("a").expect("a");
        assert_eq!(a.pos, Pos { line: 1, col: 1 });
        assert_eq!(a.get("m").expect("m").pos, Pos { line: 2, col: 3 });
        assert_eq!(a.get("s").expect("s").pos, Pos { line: 4, col: 6 });
        assert_eq!(a.get("e").expect("e").pos, Pos { line: 5, col: 3 });
        let l = a.get("l").expect("l");
        assert_eq!(l.pos, Pos { line: 6, col: 3 });
        assert_eq!(l.item(0).expect("item").pos, Pos { line: 7, col: 7 });
    }

    #[test]
    fn members_of_lists_and_mappings() {
        let d = doc("l: [a, b]\nm: {x: 1, y: 2}\ns: text\n");
        let r = Hit::root(&d);
        assert_eq!(r.get("l").expect("l").members().len(), 2);
        assert_eq!(r.get("m").expect("m").members().len(), 2);
        assert!(r.get("s").expect("s").members().is_empty());
    }

    #[test]
    fn javascript_semantics() {
        let d = doc("a: [rest]\nb: rest\nc: [[rest]]\nd: [rest, x]\ne: 0\nf: 0.0\ng: ''\nh: []\ni: 8080\nj: 8080.0\nk: '8080'\n");
        let r = Hit::root(&d);
        let g = |k: &str| r.get(k).expect(k);
        assert!(g("a").loose_eq("rest"));
        assert!(g("b").loose_eq("rest"));
        assert!(g("c").loose_eq("rest"));
        assert!(!g("d").loose_eq("rest"));
        assert!(!g("e").truthy() && !g("f").truthy() && !g("g").truthy());
        assert!(g("h").truthy());
        assert!(g("i").strict_eq(&g("j")));
        assert!(!g("i").strict_eq(&g("k")));
        assert_eq!(g("d").js_string(), "rest,x");
        assert_eq!(g("j").js_string(), "8080");
        assert_eq!(js_trim("\u{FEFF} x \u{3000}"), "x");
        assert_eq!(js_trim("\u{85}x"), "\u{85}x");
    }
}
