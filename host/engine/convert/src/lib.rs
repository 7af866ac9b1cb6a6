//! Response bodies in the formats upstream Ikanos reads (`outputRawFormat`) turned into
//! JSON, the way upstream's `Converter` does, so that output mappings see the same tree.
//!
//! Owns: format conversion only, one module per format. Must not touch: mapping,
//! templates, calls (`flow`). Pure Rust, no I/O: it runs inside the engine component
//! (wasm32-wasip2), on tenant-controlled bodies, so every parser here is iterative or
//! depth-limited ([`MAX_DEPTH`]) and nothing panics on any input.
//!
//! Upstream reference: `io.ikanos.engine.util.Converter#convertToJson(String, String,
//! Representation)` and `ConversionFormat#fromDisplay` (case-insensitive format names,
//! no format means JSON).

use serde_json::Value;

mod avro;
mod delimited;
mod html;
mod markdown;
mod protobuf;
mod text;
mod xml;
mod yaml;

/// How deep objects/arrays/elements may nest in any converted body. Upstream has no such
/// limit of its own (Jackson's default `StreamReadConstraints` allow 1000 levels for JSON
/// and YAML); ours is lower because the sandbox's stack is small, and the error says so.
pub const MAX_DEPTH: usize = 256;

/// Settings of the consumed operation that shape a conversion.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `outputSchema`, as written in the file, when declared. Upstream reads it as a string:
    /// a CSS selector for `html`, a heading prefix for `markdown`, the *path* of a schema
    /// file for `avro` (`.avsc`) and `protobuf` (`.proto`).
    pub schema: Option<Value>,
    /// The text of the schema file `schema` names, for `avro` and `protobuf`. The engine
    /// has no file system: the host reads the file (upstream: `Converter#loadSchemaFile`,
    /// the working directory, then the classpath) and passes its contents here.
    pub schema_source: Option<String>,
}

impl Options {
    /// `outputSchema` as upstream sees it (a `String`, or none).
    fn schema_str(&self) -> Option<&str> {
        match &self.schema {
            Some(Value::String(s)) => Some(s.as_str()),
            _ => None,
        }
    }
}

/// Why a body could not be converted. The message names the format and the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertError(pub String);

impl std::fmt::Display for ConvertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConvertError {}

impl ConvertError {
    pub(crate) fn new(format: &str, message: impl std::fmt::Display) -> Self {
        ConvertError(format!("{format}: {message}"))
    }
}

/// Convert `body` from `format` (`json`, `xml`, `yaml`, `csv`, `tsv`, `psv`, `html`,
/// `markdown`, `avro`, `protobuf`, any case; empty means `json`; `binary` is not
/// converted) to JSON.
pub fn to_json(format: &str, body: &[u8], options: &Options) -> Result<Value, ConvertError> {
    // ConversionFormat#fromDisplay: equalsIgnoreCase against the lowercase labels.
    let fmt = format.to_ascii_lowercase();
    match fmt.as_str() {
        "" | "json" => json_to_json(body),
        "xml" => xml::to_json(&text::decode(body)),
        "yaml" => yaml::to_json(&text::decode(body), "yaml"),
        "csv" => delimited::to_json(&text::decode(body), b',', "csv"),
        "tsv" => delimited::to_json(&text::decode(body), b'\t', "tsv"),
        "psv" => delimited::to_json(&text::decode(body), b'|', "psv"),
        "html" => html::to_json(&text::decode(body), options.schema_str()),
        "markdown" => markdown::to_json(&text::decode(body), options.schema_str()),
        "avro" => {
            let source = schema_source("Avro", options)?;
            avro::to_json(body, source)
        }
        "protobuf" => {
            let source = schema_source("Protobuf", options)?;
            protobuf::to_json(body, source)
        }
        "binary" => Err(ConvertError(
            "binary: a binary response is not converted to JSON; the caller passes its bytes \
             through unchanged"
                .into(),
        )),
        // Converter#convertToJson: `Unsupported "<format>" format specified`.
        _ => Err(ConvertError(format!(
            "Unsupported \"{format}\" format specified"
        ))),
    }
}

/// `ObjectMapper#readTree`: an empty body is Jackson's `MissingNode`, which output
/// mappings read as null.
fn json_to_json(body: &[u8]) -> Result<Value, ConvertError> {
    let body = text::strip_bom(body);
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Value::Null);
    }
    // serde_json stops at 128 levels of nesting by itself (below MAX_DEPTH).
    serde_json::from_slice(body).map_err(|e| {
        ConvertError(format!(
            "json: the response is not valid JSON: {e} (line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}

/// Converter#convertToJson: avro and protobuf need `outputSchema` (same message as
/// upstream), and here also the file's text, which the host reads.
fn schema_source<'a>(display: &str, options: &'a Options) -> Result<&'a str, ConvertError> {
    let declared = options.schema_str().filter(|s| !s.is_empty());
    let Some(path) = declared else {
        return Err(ConvertError(format!(
            "{display} format requires outputSchema to be specified in operation specification"
        )));
    };
    match options.schema_source.as_deref() {
        Some(source) => Ok(source),
        None => Err(ConvertError(format!(
            "{}: the schema file '{path}' named by outputSchema was not given to the engine \
             (the host reads it and passes its text)",
            display.to_ascii_lowercase()
        ))),
    }
}

#[cfg(test)]
mod tests;
