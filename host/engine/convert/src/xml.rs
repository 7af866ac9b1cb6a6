//! `outputRawFormat: xml` — Jackson `XmlMapper#readTree` semantics.
//!
//! Upstream: `Converter#convertXmlToJson` is `new XmlMapper().readTree(reader)` (Jackson
//! 2.21, `FromXmlParser` + `JsonNodeDeserializer`). The tree it yields, reproduced here:
//! - the root element's name is dropped: the result is the root's content, always an
//!   object (`<root>hi</root>` gives `{"": "hi"}`, `<root/>` gives `{}`);
//! - attributes become fields (local name, string value) before the child elements;
//!   namespace declarations are not attributes (StAX) and are dropped; names are local;
//! - a child element with neither attributes nor child elements is a string: its text,
//!   exactly (`<a/>` and `<a></a>` give `""`: `EMPTY_ELEMENT_AS_NULL` is off since 2.12);
//! - otherwise it is an object, and its non-blank text runs become fields named `""`
//!   (`FromXmlParser`: the default `nameForTextElement`); blank runs (only chars
//!   `<= ' '`, `XmlTokenStream#_allWs`) between elements are dropped;
//! - a name seen twice in one element turns into an array of the values, at the place of
//!   the first (`JsonNodeDeserializer#_handleDuplicateField`, XML's
//!   `DUPLICATE_PROPERTIES` capability);
//! - every leaf is a string: XML has no types;
//! - CDATA is text, comments and processing instructions are skipped; the DTD is not read
//!   (Woodstox with `SUPPORT_DTD` off), so an entity other than the five predefined ones
//!   and character references is an error; content after the root element is not read.

use crate::{ConvertError, MAX_DEPTH};
use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::{Map, Value};

struct Frame {
    fields: Map<String, Value>,
    /// Attributes or child elements were seen: the element is an object.
    is_object: bool,
    /// The text run since the last tag.
    run: String,
    /// All text of the element (the value when it stays a leaf).
    all_text: String,
}

impl Frame {
    fn new() -> Self {
        Frame {
            fields: Map::new(),
            is_object: false,
            run: String::new(),
            all_text: String::new(),
        }
    }

    /// A text run ends at a tag: keep it as a `""` field when it is not blank.
    fn flush_run(&mut self) {
        if !self.run.is_empty() {
            let run = std::mem::take(&mut self.run);
            if !all_ws(&run) {
                put(&mut self.fields, String::new(), Value::String(run));
            }
        }
    }

    fn push_text(&mut self, text: &str) {
        self.run.push_str(text);
        if !self.is_object {
            self.all_text.push_str(text);
        }
    }

    /// The element's value once its end tag is read.
    fn finish(mut self, root: bool) -> Value {
        if self.is_object || root {
            self.flush_run();
            Value::Object(self.fields)
        } else {
            Value::String(self.all_text)
        }
    }
}

/// `XmlTokenStream#_allWs`: every char `<= ' '`.
fn all_ws(s: &str) -> bool {
    s.chars().all(|c| c <= ' ')
}

/// Insert, turning a repeated name into an array at the first one's place.
fn put(fields: &mut Map<String, Value>, key: String, value: Value) {
    match fields.get_mut(&key) {
        None => {
            fields.insert(key, value);
        }
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
    }
}

fn err(reader_pos: u64, message: impl std::fmt::Display) -> ConvertError {
    ConvertError::new("xml", format!("{message} (at byte {reader_pos})"))
}

pub(crate) fn to_json(text: &str) -> Result<Value, ConvertError> {
    // An empty body: Jackson's readTree gives MissingNode, which mappings read as null.
    if all_ws(text) {
        return Ok(Value::Null);
    }
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.trim_text(false);
    config.expand_empty_elements = false;
    config.check_end_names = true;

    // The open elements; the first is the root.
    let mut stack: Vec<Frame> = Vec::new();
    // Names of the open elements (the root's included), to key values into parents.
    let mut names: Vec<String> = Vec::new();
    loop {
        let pos = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| err(reader.error_position(), e))?;
        match event {
            Event::Start(_) | Event::Empty(_) => {
                let empty = matches!(event, Event::Empty(_));
                let (Event::Start(start) | Event::Empty(start)) = event else {
                    continue;
                };
                if stack.len() >= MAX_DEPTH {
                    return Err(err(
                        pos,
                        format!("elements nest deeper than {MAX_DEPTH} levels"),
                    ));
                }
                if let Some(parent) = stack.last_mut() {
                    parent.flush_run();
                    parent.is_object = true;
                }
                let mut frame = Frame::new();
                for attr in start.attributes() {
                    let attr = attr.map_err(|e| err(pos, e))?;
                    let key = attr.key;
                    // xmlns and xmlns:* declare namespaces; StAX does not list them.
                    if key.as_ref() == "xmlns" || key.as_ref().starts_with("xmlns:") {
                        continue;
                    }
                    let name = key.local_name().as_ref().to_string();
                    let value = attr
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| err(pos, e))?
                        .into_owned();
                    frame.is_object = true;
                    put(&mut frame.fields, name, Value::String(value));
                }
                let name = start.local_name().as_ref().to_string();
                if empty {
                    let value = frame.finish(stack.is_empty());
                    match stack.last_mut() {
                        Some(parent) => put(&mut parent.fields, name, value),
                        None => return Ok(value),
                    }
                } else {
                    stack.push(frame);
                    names.push(name);
                }
            }
            Event::End(_) => {
                let (Some(frame), Some(name)) = (stack.pop(), names.pop()) else {
                    return Err(err(pos, "end tag without a start tag"));
                };
                let value = frame.finish(stack.is_empty());
                match stack.last_mut() {
                    Some(parent) => put(&mut parent.fields, name, value),
                    None => return Ok(value),
                }
            }
            Event::Text(t) => {
                if let Some(frame) = stack.last_mut() {
                    frame.push_text(&t.xml10_content());
                } else if !all_ws(&t) {
                    return Err(err(pos, "text outside the root element"));
                }
            }
            Event::CData(c) => {
                let Some(frame) = stack.last_mut() else {
                    return Err(err(pos, "CDATA outside the root element"));
                };
                frame.push_text(&c.xml10_content());
            }
            Event::GeneralRef(r) => {
                let Some(frame) = stack.last_mut() else {
                    return Err(err(pos, "entity reference outside the root element"));
                };
                let resolved = if r.is_char_ref() {
                    match r.resolve_char_ref().map_err(|e| err(pos, e))? {
                        Some(c) => c.to_string(),
                        None => {
                            return Err(err(pos, format!("invalid character reference &{};", &*r)))
                        }
                    }
                } else {
                    match quick_xml::escape::resolve_predefined_entity(&r) {
                        Some(s) => s.to_string(),
                        None => {
                            return Err(err(
                                pos,
                                format!("undeclared entity &{};  (DTDs are not read)", &*r),
                            ))
                        }
                    }
                };
                frame.push_text(&resolved);
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => {
                return Err(if stack.is_empty() {
                    err(pos, "the response has no root element")
                } else {
                    err(
                        pos,
                        format!(
                            "unexpected end of input inside <{}>",
                            names.last().map(String::as_str).unwrap_or("")
                        ),
                    )
                });
            }
        }
    }
}
