//! Response bodies in the formats upstream Ikanos reads (`outputRawFormat`) turned into
//! JSON, the way upstream's `Converter` does, so that output mappings see the same tree.
//!
//! Owns: format conversion only. Must not touch: mapping, templates, calls (`flow`).
//! Pure Rust, no I/O: it runs inside the engine component (wasm32-wasip2).

use serde_json::Value;

/// Settings of the consumed operation that shape a conversion.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `outputSchema` (avro, protobuf), as written in the file, when declared.
    pub schema: Option<Value>,
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

/// Convert `body` from `format` (`json`, `xml`, `yaml`, `csv`, `tsv`, `psv`, `html`,
/// `markdown`, `avro`, `protobuf`; `binary` is not converted) to JSON.
pub fn to_json(format: &str, body: &[u8], options: &Options) -> Result<Value, ConvertError> {
    let _ = options;
    match format {
        "json" => serde_json::from_slice(body)
            .map_err(|e| ConvertError(format!("the response is not valid JSON: {e}"))),
        other => Err(ConvertError(format!(
            "outputRawFormat '{other}' is not converted yet"
        ))),
    }
}
