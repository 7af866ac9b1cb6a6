//! `lookup` steps: find the entry of an earlier step's output whose `match` field equals a
//! value, and project the named fields (upstream `LookupExecutor`).
//!
//! Owns: matching and projection. Must not touch: where the index and the value come
//! from (`steps`). A lookup of many values over one index builds a hash index once, so
//! it costs O(n + m), not O(n·m); the first matching entry wins, as upstream's scan does.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::definition::as_text;

/// `executeLookup` for one value.
pub fn lookup_one(
    index: &Value,
    field: &str,
    value: &str,
    output: Option<&[String]>,
) -> Option<Value> {
    match index {
        Value::Array(entries) => entries
            .iter()
            .find(|e| matches(e, field, value))
            .and_then(|e| project(e, output)),
        Value::Object(_) => {
            if matches(index, field, value) {
                project(index, output)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Many values over one index; one result per value that matched, in order.
pub fn lookup_many(
    index: &Value,
    field: &str,
    values: &[Value],
    output: Option<&[String]>,
) -> Vec<Value> {
    match index {
        Value::Array(entries) => {
            let mut by_key: HashMap<String, &Value> = HashMap::with_capacity(entries.len());
            for e in entries {
                if let Some(k) = e.as_object().and_then(|o| o.get(field)) {
                    by_key.entry(as_text(k)).or_insert(e);
                }
            }
            values
                .iter()
                .filter_map(|v| by_key.get(&as_text(v)).and_then(|e| project(e, output)))
                .collect()
        }
        _ => values
            .iter()
            .filter_map(|v| lookup_one(index, field, &as_text(v), output))
            .collect(),
    }
}

fn matches(entry: &Value, field: &str, value: &str) -> bool {
    entry
        .as_object()
        .and_then(|o| o.get(field))
        .is_some_and(|v| as_text(v) == value)
}

/// `extractFields`: the named fields, null when absent; nothing without a field list.
fn project(entry: &Value, fields: Option<&[String]>) -> Option<Value> {
    let o = entry.as_object()?;
    let fields = fields?;
    let mut out = Map::new();
    for f in fields {
        out.insert(f.clone(), o.get(f).cloned().unwrap_or(Value::Null));
    }
    Some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    // Ported from upstream LookupExecutorTest.executeLookupShouldProjectMatchingArrayEntry
    #[test]
    fn projects_matching_array_entry() {
        let index = json!([
            {"email":"alice@example.com","id":"u-1","active":true},
            {"email":"bob@example.com","id":"u-2","active":false}
        ]);
        let r = lookup_one(
            &index,
            "email",
            "bob@example.com",
            names(&["id", "active", "missing"]).as_deref(),
        );
        assert_eq!(
            r,
            Some(json!({"id": "u-2", "active": false, "missing": null}))
        );
    }

    // Ported from upstream LookupExecutorTest.executeLookupShouldProjectMatchingObject
    #[test]
    fn projects_matching_object() {
        let index = json!({"email":"alice@example.com","name":"Alice","team":"core"});
        let r = lookup_one(
            &index,
            "email",
            "alice@example.com",
            names(&["name", "team"]).as_deref(),
        );
        assert_eq!(r, Some(json!({"name": "Alice", "team": "core"})));
    }

    // Ported from upstream LookupExecutorTest.executeLookupShouldReturnNullWhenNoMatchExists
    #[test]
    fn none_when_no_match() {
        let index = json!([{"email":"alice@example.com","id":"u-1"}]);
        assert_eq!(
            lookup_one(
                &index,
                "email",
                "nobody@example.com",
                names(&["id"]).as_deref()
            ),
            None
        );
    }

    // Ported from upstream LookupExecutorTest.executeLookupShouldReturnEmptyObjectNodeWhenOutputFieldsIsEmpty
    #[test]
    fn empty_object_when_no_fields() {
        let index = json!([{"id":"u-1","name":"Alice"}]);
        assert_eq!(lookup_one(&index, "id", "u-1", Some(&[])), Some(json!({})));
    }

    #[test]
    fn many_uses_first_match_and_text_comparison() {
        let index = json!([{"k": 1, "v": "a"}, {"k": "1", "v": "b"}, {"k": 2, "v": "c"}]);
        let r = lookup_many(
            &index,
            "k",
            &[json!("1"), json!(3), json!(2)],
            names(&["v"]).as_deref(),
        );
        assert_eq!(r, vec![json!({"v": "a"}), json!({"v": "c"})]);
    }
}
