//! `outputRawFormat: avro` — one Avro datum in binary encoding, read with the writer's
//! schema (`.avsc` text), to JSON.
//!
//! Upstream: `Converter#convertAvroToJson` parses the schema file `outputSchema` names
//! (`new Schema.Parser().parse`), reads ONE datum from the raw body with
//! `GenericDatumReader` over `DecoderFactory#binaryDecoder` (no container-file header;
//! bytes after the datum are not read), then turns it into a tree with
//! `new AvroMapper().valueToTree(record)`.
//!
//! Reproduced: the decoding (Avro 1.11 binary encoding: zig-zag varints, little-endian
//! floats, length-prefixed bytes/strings, blocked arrays and maps, union branch index).
//! NOT reproduced: the last step. Jackson serialises a `GenericData.Record` as a bean
//! whose only getter is `getSchema()` (AvroModule's `AvroSerializerModifier` prunes
//! `schema` only for `SpecificRecordBase`), so upstream's tree is, as far as its source
//! reads, `{"schema": "<schema JSON>"}` and the data is lost; no upstream test runs the
//! conversion. We give the tree upstream's fixture (`formats/avro-capability.yaml`,
//! mapping `$.records[*].id`) expects instead:
//! - record → object, fields in schema order; enum → its symbol; array → array;
//!   map → object; union → the chosen branch's value (no type wrapper);
//! - null/boolean/int/long/float/double as JSON; NaN and infinities as the strings
//!   `"NaN"`, `"Infinity"`, `"-Infinity"` (Jackson's default); string → string;
//!   bytes and fixed → base64 (how Jackson writes binary); logical types are read as
//!   their underlying type (no conversions are registered upstream).

use crate::{ConvertError, MAX_DEPTH};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

/// Values one body may decode to: zero-byte items (nulls, empty records) would otherwise
/// let a few bytes declare billions of array items.
const MAX_VALUES: usize = 10_000_000;

#[derive(Debug)]
enum Schema {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    Str,
    Record(Vec<(String, usize)>),
    Enum(Vec<String>),
    Array(usize),
    Map(usize),
    Union(Vec<usize>),
    Fixed(usize),
    /// A named type referenced before its definition ends (recursive types).
    Ref(String),
}

fn err(message: impl std::fmt::Display) -> ConvertError {
    ConvertError::new("avro", message)
}

struct Compiler {
    nodes: Vec<Schema>,
    names: HashMap<String, usize>,
}

impl Compiler {
    fn add(&mut self, s: Schema) -> usize {
        self.nodes.push(s);
        self.nodes.len() - 1
    }

    fn full_name(name: &str, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if !ns.is_empty() && !name.contains('.') => format!("{ns}.{name}"),
            _ => name.to_string(),
        }
    }

    fn compile(&mut self, v: &Value, ns: Option<&str>) -> Result<usize, ConvertError> {
        match v {
            Value::String(name) => self.named(name, ns),
            Value::Array(branches) => {
                let mut ids = Vec::with_capacity(branches.len());
                for b in branches {
                    ids.push(self.compile(b, ns)?);
                }
                Ok(self.add(Schema::Union(ids)))
            }
            Value::Object(o) => {
                let ty = o
                    .get("type")
                    .ok_or_else(|| err("schema: a type object has no \"type\""))?;
                let Value::String(ty) = ty else {
                    return self.compile(ty, ns);
                };
                match ty.as_str() {
                    "record" | "error" | "enum" | "fixed" => {
                        let name = o
                            .get("name")
                            .and_then(Value::as_str)
                            .ok_or_else(|| err(format!("schema: a {ty} has no name")))?;
                        let own_ns = o.get("namespace").and_then(Value::as_str).or(ns);
                        let full = Self::full_name(name, own_ns);
                        let inner_ns = full.rsplit_once('.').map(|(n, _)| n.to_string());
                        // Register first, so fields can refer to the type itself.
                        let id = self.add(Schema::Ref(full.clone()));
                        self.names.insert(full.clone(), id);
                        let short = full.rsplit('.').next().unwrap_or(&full).to_string();
                        self.names.entry(short).or_insert(id);
                        let node = match ty.as_str() {
                            "enum" => {
                                let symbols =
                                    o.get("symbols").and_then(Value::as_array).ok_or_else(
                                        || err(format!("schema: enum {full} has no symbols")),
                                    )?;
                                Schema::Enum(
                                    symbols
                                        .iter()
                                        .map(|s| s.as_str().unwrap_or("").to_string())
                                        .collect(),
                                )
                            }
                            "fixed" => {
                                let size =
                                    o.get("size").and_then(Value::as_u64).ok_or_else(|| {
                                        err(format!("schema: fixed {full} has no size"))
                                    })?;
                                Schema::Fixed(size as usize)
                            }
                            _ => {
                                let fields =
                                    o.get("fields").and_then(Value::as_array).ok_or_else(|| {
                                        err(format!("schema: record {full} has no fields"))
                                    })?;
                                let mut out = Vec::with_capacity(fields.len());
                                for f in fields {
                                    let fname =
                                        f.get("name").and_then(Value::as_str).ok_or_else(|| {
                                            err(format!("schema: a field of {full} has no name"))
                                        })?;
                                    let ftype = f.get("type").ok_or_else(|| {
                                        err(format!("schema: field {full}.{fname} has no type"))
                                    })?;
                                    out.push((
                                        fname.to_string(),
                                        self.compile(ftype, inner_ns.as_deref())?,
                                    ));
                                }
                                Schema::Record(out)
                            }
                        };
                        self.nodes[id] = node;
                        Ok(id)
                    }
                    "array" => {
                        let items = o
                            .get("items")
                            .ok_or_else(|| err("schema: an array has no items"))?;
                        let id = self.compile(items, ns)?;
                        Ok(self.add(Schema::Array(id)))
                    }
                    "map" => {
                        let values = o
                            .get("values")
                            .ok_or_else(|| err("schema: a map has no values"))?;
                        let id = self.compile(values, ns)?;
                        Ok(self.add(Schema::Map(id)))
                    }
                    other => self.named(other, ns),
                }
            }
            _ => Err(err(format!("schema: {v} is not a schema"))),
        }
    }

    fn named(&mut self, name: &str, ns: Option<&str>) -> Result<usize, ConvertError> {
        let primitive = match name {
            "null" => Some(Schema::Null),
            "boolean" => Some(Schema::Boolean),
            "int" => Some(Schema::Int),
            "long" => Some(Schema::Long),
            "float" => Some(Schema::Float),
            "double" => Some(Schema::Double),
            "bytes" => Some(Schema::Bytes),
            "string" => Some(Schema::Str),
            _ => None,
        };
        if let Some(p) = primitive {
            return Ok(self.add(p));
        }
        let full = Self::full_name(name, ns);
        self.names
            .get(&full)
            .or_else(|| self.names.get(name))
            .copied()
            .ok_or_else(|| err(format!("schema: \"{name}\" is not a defined type")))
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    values: usize,
}

impl Reader<'_> {
    fn eof(&self, what: &str) -> ConvertError {
        err(format!(
            "the data ends inside {what} (at byte {})",
            self.pos
        ))
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&[u8], ConvertError> {
        if self.data.len() - self.pos < n {
            return Err(self.eof(what));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn long(&mut self) -> Result<i64, ConvertError> {
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = *self
                .data
                .get(self.pos)
                .ok_or_else(|| self.eof("a number"))?;
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(err(format!(
                    "a varint is longer than 64 bits (at byte {})",
                    self.pos
                )));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok((v >> 1) as i64 ^ -((v & 1) as i64));
            }
        }
        Err(err(format!(
            "a varint is longer than 64 bits (at byte {})",
            self.pos
        )))
    }

    fn len(&mut self, what: &str) -> Result<usize, ConvertError> {
        let n = self.long()?;
        if n < 0 || n as u64 > (self.data.len() - self.pos) as u64 {
            return Err(err(format!(
                "{what} length {n} exceeds the data (at byte {})",
                self.pos
            )));
        }
        Ok(n as usize)
    }

    fn count(&mut self) -> Result<usize, ConvertError> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(err(format!("the data holds more than {MAX_VALUES} values")));
        }
        Ok(self.values)
    }

    fn read(&mut self, nodes: &[Schema], id: usize, depth: usize) -> Result<Value, ConvertError> {
        if depth > MAX_DEPTH {
            return Err(err(format!("values nest deeper than {MAX_DEPTH} levels")));
        }
        self.count()?;
        Ok(match &nodes[id] {
            Schema::Null => Value::Null,
            Schema::Boolean => Value::Bool(self.take(1, "a boolean")?[0] != 0),
            Schema::Int | Schema::Long => Value::Number(self.long()?.into()),
            Schema::Float => {
                let b = self.take(4, "a float")?;
                double(f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            }
            Schema::Double => {
                let b = self.take(8, "a double")?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                double(f64::from_le_bytes(a))
            }
            Schema::Bytes => {
                let n = self.len("bytes")?;
                Value::String(base64(self.take(n, "bytes")?))
            }
            Schema::Fixed(n) => Value::String(base64(self.take(*n, "a fixed")?)),
            Schema::Str => {
                let n = self.len("a string")?;
                Value::String(String::from_utf8_lossy(self.take(n, "a string")?).into_owned())
            }
            Schema::Enum(symbols) => {
                let i = self.long()?;
                let s = usize::try_from(i).ok().and_then(|i| symbols.get(i));
                Value::String(s.cloned().ok_or_else(|| {
                    err(format!(
                        "enum index {i} is out of range (at byte {})",
                        self.pos
                    ))
                })?)
            }
            Schema::Union(branches) => {
                let i = self.long()?;
                let b = usize::try_from(i)
                    .ok()
                    .and_then(|i| branches.get(i).copied());
                let b = b.ok_or_else(|| {
                    err(format!(
                        "union branch {i} is out of range (at byte {})",
                        self.pos
                    ))
                })?;
                self.read(nodes, b, depth + 1)?
            }
            Schema::Record(fields) => {
                let mut o = Map::new();
                for (name, f) in fields {
                    let v = self.read(nodes, *f, depth + 1)?;
                    o.insert(name.clone(), v);
                }
                Value::Object(o)
            }
            Schema::Array(items) => {
                let mut out = Vec::new();
                while let Some(n) = self.block()? {
                    for _ in 0..n {
                        out.push(self.read(nodes, *items, depth + 1)?);
                    }
                }
                Value::Array(out)
            }
            Schema::Map(values) => {
                let mut o = Map::new();
                while let Some(n) = self.block()? {
                    for _ in 0..n {
                        let kl = self.len("a map key")?;
                        let k = String::from_utf8_lossy(self.take(kl, "a map key")?).into_owned();
                        let v = self.read(nodes, *values, depth + 1)?;
                        o.insert(k, v);
                    }
                }
                Value::Object(o)
            }
            Schema::Ref(name) => {
                return Err(err(format!(
                    "schema: type {name} is used before it is defined"
                )))
            }
        })
    }

    /// An array/map block's item count; `None` at the end marker.
    fn block(&mut self) -> Result<Option<u64>, ConvertError> {
        let n = self.long()?;
        if n == 0 {
            return Ok(None);
        }
        if n < 0 {
            let _size = self.long()?;
        }
        let n = n.unsigned_abs();
        if n > MAX_VALUES as u64 {
            return Err(err(format!(
                "a block declares {n} items, more than {MAX_VALUES}"
            )));
        }
        Ok(Some(n))
    }
}

fn double(f: f64) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if f.is_nan() => Value::String("NaN".into()),
        None if f > 0.0 => Value::String("Infinity".into()),
        None => Value::String("-Infinity".into()),
    }
}

/// Standard base64 with padding (Jackson's `Base64Variants.MIME_NO_LINEFEEDS`).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

pub(crate) fn to_json(body: &[u8], schema_text: &str) -> Result<Value, ConvertError> {
    let schema: Value = serde_json::from_str(schema_text)
        .map_err(|e| err(format!("the schema is not valid JSON: {e}")))?;
    let mut compiler = Compiler {
        nodes: Vec::new(),
        names: HashMap::new(),
    };
    let root = compiler.compile(&schema, None)?;
    let mut reader = Reader {
        data: body,
        pos: 0,
        values: 0,
    };
    reader.read(&compiler.nodes, root, 0)
}
