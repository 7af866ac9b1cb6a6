//! `outputRawFormat: csv | tsv | psv` — Jackson `CsvMapper` with a header row.
//!
//! Upstream: `Converter#convertDelimitedToJson(reader, separator)`, which reads with
//! `CsvSchema.emptySchema().withHeader().withColumnSeparator(sep)` into `JsonNode`s. The
//! tree, reproduced here with a small reader of our own (the rules are Jackson's
//! `CsvDecoder`/`CsvParser` defaults, which a general CSV crate does not share exactly):
//! - an array with one object per line after the header line, keys the header's names in
//!   column order, every value a string (no typing: `"1"` stays `"1"`);
//! - a line with fewer values than the header has fewer keys (no nulls inserted:
//!   `INSERT_NULLS_FOR_MISSING_COLUMNS` is off); a line with more is an error ("Too many
//!   entries", `IGNORE_TRAILING_UNMAPPABLE` is off);
//! - an empty line is a line of one empty value (`SKIP_EMPTY_LINES` is off), so it gives
//!   `{"<first header>": ""}`; the line break ending the last line adds nothing;
//! - a value starting with `"` is quoted: separators and line breaks inside are kept,
//!   `""` is one `"`; no escape character, no comments, no trimming (all off by default);
//! - lines end at `\n`, `\r\n` or `\r`;
//! - a header name seen twice keeps the last value at the first one's place (an
//!   `ObjectNode` put).

use crate::ConvertError;
use serde_json::{Map, Value};

/// Splits the text into lines of values, Jackson-style.
struct Lines<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
    sep: u8,
}

impl<'a> Lines<'a> {
    /// The next line's values, or `None` at the end of the text.
    fn next_line(&mut self, format: &str) -> Result<Option<Vec<String>>, ConvertError> {
        let bytes = self.text.as_bytes();
        if self.pos >= bytes.len() {
            return Ok(None);
        }
        self.line += 1;
        let mut values = Vec::new();
        loop {
            // One value.
            let mut value = String::new();
            if bytes.get(self.pos) == Some(&b'"') {
                let start_line = self.line;
                self.pos += 1;
                loop {
                    let Some(rel) = bytes[self.pos..].iter().position(|&b| b == b'"') else {
                        return Err(ConvertError::new(
                            format,
                            format!("a quoted value opened on line {start_line} is not closed"),
                        ));
                    };
                    let chunk = &self.text[self.pos..self.pos + rel];
                    self.line += chunk.matches('\n').count();
                    value.push_str(chunk);
                    self.pos += rel + 1;
                    if bytes.get(self.pos) == Some(&b'"') {
                        value.push('"');
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
            }
            // Unquoted value, or what follows a closing quote, up to a separator or break.
            let rest = &bytes[self.pos..];
            let end = rest
                .iter()
                .position(|&b| b == self.sep || b == b'\n' || b == b'\r')
                .unwrap_or(rest.len());
            value.push_str(&self.text[self.pos..self.pos + end]);
            self.pos += end;
            values.push(value);
            match bytes.get(self.pos) {
                Some(&b) if b == self.sep => self.pos += 1,
                Some(b'\r') => {
                    self.pos += 1;
                    if bytes.get(self.pos) == Some(&b'\n') {
                        self.pos += 1;
                    }
                    return Ok(Some(values));
                }
                Some(b'\n') => {
                    self.pos += 1;
                    return Ok(Some(values));
                }
                _ => return Ok(Some(values)),
            }
        }
    }
}

pub(crate) fn to_json(text: &str, sep: u8, format: &str) -> Result<Value, ConvertError> {
    let mut lines = Lines {
        text,
        pos: 0,
        line: 0,
        sep,
    };
    let Some(headers) = lines.next_line(format)? else {
        return Ok(Value::Array(Vec::new()));
    };
    let mut rows = Vec::new();
    while let Some(values) = lines.next_line(format)? {
        if values.len() > headers.len() {
            let extra = &values[headers.len()];
            return Err(ConvertError::new(
                format,
                format!(
                    "Too many entries on line {}: expected at most {} (value #{} ({} chars) \"{}\")",
                    lines.line,
                    headers.len(),
                    headers.len(),
                    extra.chars().count(),
                    extra
                ),
            ));
        }
        let mut row = Map::new();
        for (name, value) in headers.iter().zip(values) {
            row.insert(name.clone(), Value::String(value));
        }
        rows.push(Value::Object(row));
    }
    Ok(Value::Array(rows))
}
