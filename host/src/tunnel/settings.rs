//! Provider settings: the provider-specific keys of a `tunnel:` block, decoded with
//! serde into each provider's own struct.
//!
//! Owns: how every provider refuses a key it does not know (one message, with a
//! did-you-mean hint, naming the key so reports point at it) and a value of the wrong
//! type (naming the key). Must not touch: what the values mean — each provider checks
//! its own — or the keys every block has (`type`, `service`, `identity`, `fallback`),
//! which ikanos-spec decodes.

use std::cell::RefCell;
use std::fmt;

use serde::de::value::MapDeserializer;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

use ikanos_spec::model::Tunnel as TunnelSpec;

/// One problem with a `tunnel:` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsProblem {
    /// The key at fault, when one is: reports point at it rather than at the block.
    pub key: Option<String>,
    pub message: String,
}

impl SettingsProblem {
    /// A problem of the block as a whole (a missing key, keys that exclude each other).
    pub fn block(message: impl Into<String>) -> Self {
        SettingsProblem {
            key: None,
            message: message.into(),
        }
    }

    /// Several problems as one line, for a readiness reason.
    pub fn join(problems: &[SettingsProblem]) -> String {
        problems
            .iter()
            .map(|p| p.message.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl fmt::Display for SettingsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Decode the provider-specific keys of a `tunnel:` block of type `kind` into `T`: a
/// plain struct (no `flatten`) with `#[serde(deny_unknown_fields)]`, its fields named
/// as the keys are written. Unknown keys are all reported, each with a hint; otherwise
/// the first value of the wrong type is.
pub fn decode<T: DeserializeOwned>(
    kind: &str,
    extra: &serde_json::Map<String, serde_json::Value>,
) -> Result<T, Vec<SettingsProblem>> {
    let own = field_names::<T>();
    let unknown: Vec<_> = extra
        .keys()
        .filter(|k| !own.contains(&k.as_str()))
        .map(|k| unknown_key(kind, k, own))
        .collect();
    if !unknown.is_empty() {
        return Err(unknown);
    }
    // serde reports what is wrong, not where: remember the key whose value is being read.
    let current = RefCell::new(None::<String>);
    let entries = extra.iter().map(|(k, v)| {
        current.replace(Some(k.clone()));
        (k.clone(), v.clone())
    });
    T::deserialize(MapDeserializer::<_, serde_json::Error>::new(entries)).map_err(|e| {
        let key = current.take();
        let message = match &key {
            Some(k) => format!("tunnel.{k}: {e}"),
            None => format!("tunnel: {e}"),
        };
        vec![SettingsProblem { key, message }]
    })
}

fn unknown_key(kind: &str, key: &str, own: &[&str]) -> SettingsProblem {
    let known: Vec<&str> = TunnelSpec::COMMON_KEYS.iter().chain(own).copied().collect();
    let hint = ikanos_spec::diagnostic::did_you_mean(key, known.iter().copied());
    let message = if hint.is_empty() {
        let (last, rest) = known.split_last().expect("the common keys are never empty");
        format!(
            "tunnel.{key} is not a key of type '{kind}' (it takes {} and {last})",
            rest.join(", ")
        )
    } else {
        format!("tunnel.{key} is not a key of type '{kind}'{hint}")
    };
    SettingsProblem {
        key: Some(key.to_string()),
        message,
    }
}

/// The keys `T` takes: the field names its derived `Deserialize` asks for, as written
/// in the file (after any `rename_all`). One list, so it cannot drift from the struct.
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut fields));
    fields
}

/// A deserializer that records the field list a struct asks for, then stops.
struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("provider settings must be a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("field names recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Keys {
        relay: Option<String>,
        host_key: Option<String>,
    }

    fn map(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_keys_are_the_struct_fields_as_written_in_the_file() {
        assert_eq!(field_names::<Keys>(), ["relay", "hostKey"]);
    }

    #[test]
    fn known_keys_decode() {
        let keys: Keys = decode("x", &map(json!({"relay": "r:1", "hostKey": "k"}))).unwrap();
        assert_eq!(
            keys,
            Keys {
                relay: Some("r:1".into()),
                host_key: Some("k".into())
            }
        );
    }

    #[test]
    fn a_misspelt_key_is_refused_with_a_hint() {
        let problems = decode::<Keys>("x", &map(json!({"hostKy": "k"}))).unwrap_err();
        assert_eq!(
            problems,
            [SettingsProblem {
                key: Some("hostKy".into()),
                message: "tunnel.hostKy is not a key of type 'x' (did you mean 'hostKey'?)".into()
            }]
        );
    }

    #[test]
    fn a_common_key_is_suggested_too_and_far_names_list_the_keys() {
        let problems =
            decode::<Keys>("x", &map(json!({"identty": "i", "colour": "red"}))).unwrap_err();
        let messages: Vec<_> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            messages,
            // In the order written in the file.
            [
                "tunnel.identty is not a key of type 'x' (did you mean 'identity'?)",
                "tunnel.colour is not a key of type 'x' (it takes type, service, identity, fallback, relay and hostKey)",
            ]
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_key() {
        let problems =
            decode::<Keys>("x", &map(json!({"relay": "r:1", "hostKey": 7}))).unwrap_err();
        assert_eq!(problems[0].key.as_deref(), Some("hostKey"));
        assert!(
            problems[0]
                .message
                .starts_with("tunnel.hostKey: invalid type: integer `7`"),
            "{}",
            problems[0].message
        );
    }
}
