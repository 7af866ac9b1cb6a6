//! `outputRawFormat: avro` — placeholder, see `to_json`.
use crate::ConvertError;
use serde_json::Value;

pub(crate) fn to_json(_body: &[u8], _schema: &str) -> Result<Value, ConvertError> {
    Err(ConvertError::new("avro", "not converted yet"))
}
