//! `outputRawFormat: yaml` (and markdown front matter) — Jackson YAML `readTree`.
//!
//! Upstream: `Converter#convertYamlToJson` is `new ObjectMapper(new YAMLFactory())
//! .readTree(reader)`; `Converter#splitMarkdownFrontMatter` does the same on the front
//! matter. Jackson reads SnakeYAML's event stream (no composer), so, reproduced here on
//! saphyr-parser's events:
//! - only the first document is read; an empty stream is `MissingNode` (null here);
//! - quoted and block scalars are strings; plain scalars are resolved with SnakeYAML's
//!   YAML 1.1 `Resolver` rules (INT before FLOAT, BOOL, NULL, the rest strings — dates
//!   too) then decoded as `YAMLParser#_decodeScalar` does: `yes/no/on/off/true/false` in
//!   any case are booleans (`_matchYAMLBoolean`), `0x`/`0b`/leading-`0` octal integers and
//!   `_` separators are numbers, `~`/`null`/empty are null, `.inf`/`.nan` are doubles
//!   (written as the strings `"Infinity"`, `"-Infinity"`, `"NaN"`, Jackson's default);
//! - explicit core tags win (`!!str 1` is `"1"`, `!!int "1"` is 1, `!!bool`, `!!float`,
//!   `!!null`); other tags are ignored except `!!binary` (kept as its base64 text);
//! - an alias is NOT expanded: `YAMLParser#nextToken` gives it as the string of the
//!   anchor's name (`*x` gives `"x"`), so there is no "billion laughs" blow-up;
//! - mapping keys are the key scalar's text; a repeated key keeps the last value at the
//!   first one's place (`ObjectNode#set`); a non-scalar key is an error;
//! - SnakeYAML's `LoaderOptions` default `codePointLimit` (3 MiB of code points) holds.
//!
//! Integers beyond 64 bits become doubles here (Jackson keeps a `BigInteger`).

use crate::{ConvertError, MAX_DEPTH};
use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Number, Value};

/// SnakeYAML `LoaderOptions#codePointLimit` default.
const CODE_POINT_LIMIT: usize = 3 * 1024 * 1024;

enum Open {
    Map(Map<String, Value>, Option<String>),
    Seq(Vec<Value>),
}

fn err(format: &str, span: &Span, message: impl std::fmt::Display) -> ConvertError {
    ConvertError::new(
        format,
        format!(
            "{message} (line {}, column {})",
            span.start.line(),
            span.start.col() + 1
        ),
    )
}

pub(crate) fn to_json(text: &str, format: &str) -> Result<Value, ConvertError> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Open> = Vec::new();
    // Byte offset of each char, built only when an alias needs its name in non-ASCII text.
    let mut char_offsets: Option<Vec<usize>> = None;
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| {
            ConvertError::new(
                format,
                format!(
                    "the response is not valid YAML: {} (line {}, column {})",
                    e.info(),
                    e.marker().line(),
                    e.marker().col() + 1
                ),
            )
        })?;
        if span.end.index() > CODE_POINT_LIMIT {
            return Err(err(
                format,
                &span,
                format!(
                    "The incoming YAML document exceeds the limit: {CODE_POINT_LIMIT} code points."
                ),
            ));
        }
        let value = match event {
            Event::StreamStart | Event::Nothing => continue,
            Event::DocumentStart(_) => continue,
            // An empty document, or the end of the stream: nothing was read.
            Event::DocumentEnd | Event::StreamEnd => return Ok(Value::Null),
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if let Some(Open::Map(_, None)) = stack.last() {
                    return Err(err(
                        format,
                        &span,
                        "Expected a field name (Scalar value in YAML), got a mapping or sequence",
                    ));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(err(
                        format,
                        &span,
                        format!("values nest deeper than {MAX_DEPTH} levels"),
                    ));
                }
                stack.push(if matches!(event, Event::MappingStart(..)) {
                    Open::Map(Map::new(), None)
                } else {
                    Open::Seq(Vec::new())
                });
                continue;
            }
            Event::MappingEnd => match stack.pop() {
                Some(Open::Map(map, _)) => Value::Object(map),
                _ => return Err(err(format, &span, "unbalanced mapping end")),
            },
            Event::SequenceEnd => match stack.pop() {
                Some(Open::Seq(items)) => Value::Array(items),
                _ => return Err(err(format, &span, "unbalanced sequence end")),
            },
            Event::Alias(_) => {
                let name = alias_name(text, &span, &mut char_offsets);
                if let Some(Open::Map(_, key @ None)) = stack.last_mut() {
                    *key = Some(name);
                    continue;
                }
                Value::String(name)
            }
            Event::Scalar(raw, style, _, tag) => {
                if let Some(Open::Map(_, key @ None)) = stack.last_mut() {
                    *key = Some(raw.into_owned());
                    continue;
                }
                scalar(raw.into_owned(), style, tag.as_deref())
            }
        };
        match stack.last_mut() {
            None => return Ok(value),
            Some(Open::Seq(items)) => items.push(value),
            Some(Open::Map(map, key)) => {
                let key = key.take().unwrap_or_default();
                map.insert(key, value);
            }
        }
    }
    Ok(Value::Null)
}

/// The anchor name an alias event's span covers (`*name`).
fn alias_name(text: &str, span: &Span, offsets: &mut Option<Vec<usize>>) -> String {
    let (start, end) = (span.start.index(), span.end.index());
    let slice = if text.is_ascii() {
        text.get(start..end)
    } else {
        let offsets = offsets.get_or_insert_with(|| {
            let mut v: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            v.push(text.len());
            v
        });
        match (offsets.get(start), offsets.get(end)) {
            (Some(&a), Some(&b)) => text.get(a..b),
            _ => None,
        }
    };
    slice
        .unwrap_or("")
        .trim()
        .trim_start_matches('*')
        .to_string()
}

/// `YAMLParser#_decodeScalar`.
fn scalar(value: String, style: ScalarStyle, tag: Option<&Tag>) -> Value {
    let type_tag = match tag {
        Some(t) if t.is_yaml_core_schema() => Some(t.suffix.as_str()),
        Some(t) if t.handle == "!" && t.suffix.is_empty() => None,
        Some(_) => return Value::String(value),
        None => None,
    };
    match type_tag {
        None => {
            if style != ScalarStyle::Plain {
                return Value::String(value);
            }
            resolve_plain(value)
        }
        Some(t) => {
            let t = t.split(',').next().unwrap_or("");
            match t {
                "bool" => match match_bool(&value) {
                    Some(b) => Value::Bool(b),
                    None => Value::String(value),
                },
                "int" => decode_int(&value).unwrap_or(Value::String(value)),
                "float" => decode_float(&value).unwrap_or(Value::String(value)),
                "null" => Value::Null,
                "binary" => Value::String(value.chars().filter(|c| !c.is_whitespace()).collect()),
                _ => Value::String(value),
            }
        }
    }
}

/// SnakeYAML's `Resolver` (YAML 1.1 implicit tags), in its order, each gated by its
/// first characters, then Jackson's decoding of the tag.
fn resolve_plain(value: String) -> Value {
    let first = value.chars().next();
    let starts = |set: &str| first.is_some_and(|c| set.contains(c));
    if starts("yYnNtTfFoO") && is_bool_word(&value) {
        if let Some(b) = match_bool(&value) {
            return Value::Bool(b);
        }
        return Value::String(value);
    }
    if starts("-+0123456789") && is_int(&value) {
        return decode_int(&value).unwrap_or(Value::String(value));
    }
    if starts("-+0123456789.") && is_float(&value) {
        return decode_float(&value).unwrap_or(Value::String(value));
    }
    if value.is_empty()
        || (starts("~nN") && matches!(value.as_str(), "~" | "null" | "Null" | "NULL"))
    {
        return Value::Null;
    }
    Value::String(value)
}

/// SnakeYAML `Resolver.BOOL`.
fn is_bool_word(s: &str) -> bool {
    matches!(
        s,
        "yes"
            | "Yes"
            | "YES"
            | "no"
            | "No"
            | "NO"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// `YAMLParser#_matchYAMLBoolean` (PARSE_BOOLEAN_LIKE_WORDS_AS_STRINGS off).
fn match_bool(s: &str) -> Option<bool> {
    let l = s.to_ascii_lowercase();
    match l.as_str() {
        "y" | "on" | "yes" | "true" => Some(true),
        "n" | "no" | "off" | "false" => Some(false),
        _ => None,
    }
}

fn strip_sign(s: &str) -> (bool, &str) {
    match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    }
}

fn all(s: &str, f: impl Fn(u8) -> bool) -> bool {
    !s.is_empty() && s.bytes().all(f)
}

/// `(":" [0-5]?[0-9])+` — the sexagesimal tail.
fn is_sexagesimal_tail(s: &str) -> bool {
    if s.is_empty() {
        return false;
    }
    s.split(':').skip(1).all(|part| {
        let b = part.as_bytes();
        match b.len() {
            1 => b[0].is_ascii_digit(),
            2 => (b'0'..=b'5').contains(&b[0]) && b[1].is_ascii_digit(),
            _ => false,
        }
    }) && s.starts_with(':')
}

/// SnakeYAML `Resolver.INT`.
fn is_int(s: &str) -> bool {
    let (_, body) = strip_sign(s);
    if let Some(bin) = body.strip_prefix("0b") {
        return all(bin, |b| b == b'0' || b == b'1' || b == b'_');
    }
    if let Some(hex) = body.strip_prefix("0x") {
        return all(hex, |b| b.is_ascii_hexdigit() || b == b'_');
    }
    if body == "0" {
        return true;
    }
    if let Some(oct) = body.strip_prefix('0') {
        return all(oct, |b| (b'0'..=b'7').contains(&b) || b == b'_');
    }
    let b = body.as_bytes();
    if b.is_empty() || !(b'1'..=b'9').contains(&b[0]) {
        return false;
    }
    let digits_end = body.find(':').unwrap_or(body.len());
    let (head, tail) = body.split_at(digits_end);
    all(head, |b| b.is_ascii_digit() || b == b'_') && (tail.is_empty() || is_sexagesimal_tail(tail))
}

/// SnakeYAML `Resolver.FLOAT`.
fn is_float(s: &str) -> bool {
    if matches!(s, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let (_, body) = strip_sign(s);
    if matches!(body, ".inf" | ".Inf" | ".INF") {
        return true;
    }
    // [0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*
    if let Some(colon) = body.find(':') {
        let (head, rest) = body.split_at(colon);
        let Some(dot) = rest.find('.') else {
            return false;
        };
        let (sexa, frac) = rest.split_at(dot);
        return head.as_bytes().first().is_some_and(u8::is_ascii_digit)
            && all(head, |b| b.is_ascii_digit() || b == b'_')
            && is_sexagesimal_tail(sexa)
            && frac[1..].bytes().all(|b| b.is_ascii_digit() || b == b'_');
    }
    // (\.[0-9]+|[0-9_]+(\.[0-9_]*)?)([eE][-+]?[0-9]+)?
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    if let Some(exp) = exponent {
        let (_, digits) = strip_sign(exp);
        if !all(digits, |b| b.is_ascii_digit()) {
            return false;
        }
    }
    if let Some(frac) = mantissa.strip_prefix('.') {
        return all(frac, |b| b.is_ascii_digit());
    }
    let (int_part, frac) = match mantissa.find('.') {
        Some(i) => (&mantissa[..i], Some(&mantissa[i + 1..])),
        None => (mantissa, None),
    };
    all(int_part, |b| b.is_ascii_digit() || b == b'_')
        && frac.is_none_or(|f| f.bytes().all(|b| b.is_ascii_digit() || b == b'_'))
}

/// `YAMLParser#_decodeNumberScalar`: underscores dropped, `0b`, `0x`, leading-`0` octal.
/// Sexagesimal values stay strings.
fn decode_int(s: &str) -> Option<Value> {
    let cleaned: String = s.chars().filter(|&c| c != '_').collect();
    let (negative, body) = strip_sign(&cleaned);
    if body.contains(':') || body.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(b) = body.strip_prefix("0b") {
        (b, 2)
    } else if let Some(h) = body.strip_prefix("0x") {
        (h, 16)
    } else if body.len() > 1 && body.starts_with('0') {
        (&body[1..], 8)
    } else {
        (body, 10)
    };
    let magnitude = u128::from_str_radix(digits, radix).ok();
    let number = match magnitude {
        Some(m) if negative && m <= i64::MAX as u128 + 1 => {
            Number::from((m as i128).wrapping_neg() as i64)
        }
        Some(m) if !negative && m <= u64::MAX as u128 => Number::from(m as u64),
        _ => {
            // Beyond 64 bits: a double (Jackson keeps a BigInteger).
            let mut f = 0f64;
            for c in digits.chars() {
                f = f * radix as f64 + c.to_digit(radix)? as f64;
            }
            Number::from_f64(if negative { -f } else { f })?
        }
    };
    Some(Value::Number(number))
}

/// `YAMLParser#_cleanYamlFloat` then a double.
fn decode_float(s: &str) -> Option<Value> {
    let cleaned: String = s.chars().filter(|&c| c != '_').collect();
    let (negative, body) = strip_sign(&cleaned);
    let lower = body.to_ascii_lowercase();
    if lower == ".inf" {
        return Some(Value::String(
            if negative { "-Infinity" } else { "Infinity" }.into(),
        ));
    }
    if lower == ".nan" {
        return Some(Value::String("NaN".into()));
    }
    if body.contains(':') {
        return None;
    }
    let f: f64 = cleaned.parse().ok()?;
    match Number::from_f64(f) {
        Some(n) => Some(Value::Number(n)),
        None => Some(Value::String(
            if f.is_nan() {
                "NaN"
            } else if f > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            }
            .into(),
        )),
    }
}
