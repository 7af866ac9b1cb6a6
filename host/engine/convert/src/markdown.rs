//! `outputRawFormat: markdown` — front matter, tables and sections, as upstream reads them
//! with commonmark-java and its GFM tables extension.
//!
//! Upstream: `Converter#convertMarkdownToJson(reader, sectionFilter)` with
//! `splitMarkdownFrontMatter`, `extractTablesFromAst`, `extractSectionsFromAst`,
//! `collectText`, `collectContentText`. The result is
//! `{"frontMatter": {…}, "tables": [[{header: cell}, …]], "sections": [{"heading", "level",
//! "content"}, …]}`:
//! - `\r\n` becomes `\n`; front matter is there only when the text starts with `---\n`
//!   and a `\n---\n` follows (searched from index 4); it is read as YAML (Jackson, see
//!   `yaml.rs`) and kept only when it is a mapping, else `{}`; invalid YAML is an error;
//! - the rest is parsed as CommonMark with GFM tables only (pulldown-cmark here);
//! - tables: only top-level ones; headers and cells are their text trimmed; a table whose
//!   headers are all blank is skipped; rows map like html's (`mapRowsToTable`);
//! - sections: each top-level heading (ATX or setext) starts one: `heading` its text
//!   trimmed, `level` 1–6, `content` the texts of the top-level blocks up to the next
//!   heading (tables excluded), each trimmed, the non-empty ones joined by `\n`;
//!   `outputSchema`, when not blank, keeps only sections whose heading starts with it;
//! - "text" is `collectText`'s: text and inline code literals, a soft break as a space, a
//!   hard break as `\n`, nothing else (no code blocks, no HTML, no separators between
//!   paragraphs of one block: a list `- a` / `- b` gives `ab`).

use crate::text::{java_is_blank, java_trim};
use crate::{yaml, ConvertError};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use serde_json::{json, Map, Value};

pub(crate) fn to_json(text: &str, section_filter: Option<&str>) -> Result<Value, ConvertError> {
    let markdown = text.replace("\r\n", "\n");
    let (front_matter, body) = split_front_matter(&markdown)?;

    let mut tables = Vec::new();
    let mut sections = Vec::new();
    // The current section: heading, level, content texts.
    let mut current: Option<(String, u32, Vec<String>)> = None;

    // Walk the top-level blocks.
    let mut depth = 0usize;
    let mut block = Block::default();
    for event in Parser::new_ext(body, Options::ENABLE_TABLES) {
        match &event {
            Event::Start(tag) => {
                if depth == 0 {
                    block = Block::default();
                    block.kind = match tag {
                        Tag::Heading { level, .. } => Kind::Heading(*level as u32),
                        Tag::Table(_) => Kind::Table,
                        _ => Kind::Other,
                    };
                }
                depth += 1;
                block.start(tag);
                continue;
            }
            Event::End(end) => {
                block.end(end);
                depth = depth.saturating_sub(1);
                if depth > 0 {
                    continue;
                }
            }
            _ => {
                block.inline(&event);
                if depth > 0 {
                    continue;
                }
                // A top-level leaf event (a thematic break): a block without text.
                block.kind = Kind::Other;
            }
        }
        // A top-level block ends here.
        let finished = std::mem::take(&mut block);
        match finished.kind {
            Kind::Heading(level) => {
                if let Some((heading, level, content)) = current.take() {
                    push_section(&mut sections, heading, level, content, section_filter);
                }
                current = Some((java_trim(&finished.text).to_string(), level, Vec::new()));
            }
            Kind::Table => {
                let headers: Vec<String> = finished
                    .header
                    .iter()
                    .map(|h| java_trim(h).to_string())
                    .collect();
                if !headers.iter().all(|h| java_is_blank(h)) {
                    tables.push(map_rows(&headers, &finished.rows));
                }
            }
            Kind::Other => {
                if let Some((_, _, content)) = current.as_mut() {
                    content.push(finished.text);
                }
            }
        }
    }
    if let Some((heading, level, content)) = current.take() {
        push_section(&mut sections, heading, level, content, section_filter);
    }

    let mut result = Map::new();
    result.insert("frontMatter".into(), front_matter);
    result.insert("tables".into(), Value::Array(tables));
    result.insert("sections".into(), Value::Array(sections));
    Ok(Value::Object(result))
}

/// `Converter#splitMarkdownFrontMatter`.
fn split_front_matter(markdown: &str) -> Result<(Value, &str), ConvertError> {
    let empty = Value::Object(Map::new());
    if !markdown.starts_with("---\n") {
        return Ok((empty, markdown));
    }
    let Some(end) = markdown[4..].find("\n---\n").map(|i| i + 4) else {
        return Ok((empty, markdown));
    };
    let block = java_trim(&markdown[4..end]);
    let body = &markdown[end + 5..];
    if java_is_blank(block) {
        return Ok((empty, body));
    }
    let parsed = yaml::to_json(block, "markdown front matter")?;
    Ok((if parsed.is_object() { parsed } else { empty }, body))
}

fn push_section(
    sections: &mut Vec<Value>,
    heading: String,
    level: u32,
    content: Vec<String>,
    filter: Option<&str>,
) {
    let keep = match filter {
        None => true,
        Some(f) if java_is_blank(f) => true,
        Some(f) => heading.starts_with(f),
    };
    if !keep {
        return;
    }
    // Converter#collectContentText.
    let mut joined = String::new();
    for text in &content {
        let text = java_trim(text);
        if !text.is_empty() {
            if !joined.is_empty() {
                joined.push('\n');
            }
            joined.push_str(text);
        }
    }
    sections.push(json!({"heading": heading, "level": level, "content": java_trim(&joined)}));
}

fn map_rows(headers: &[String], rows: &[Vec<String>]) -> Value {
    Value::Array(
        rows.iter()
            .map(|row| {
                let mut object = Map::new();
                for (i, header) in headers.iter().enumerate() {
                    let value = row
                        .get(i)
                        .map(|v| java_trim(v).to_string())
                        .unwrap_or_default();
                    object.insert(header.clone(), Value::String(value));
                }
                Value::Object(object)
            })
            .collect(),
    )
}

#[derive(Default, Clone, Copy)]
enum Kind {
    Heading(u32),
    Table,
    #[default]
    Other,
}

/// One top-level block being read.
#[derive(Default)]
struct Block {
    kind: Kind,
    /// `collectText` of the whole block (headings, paragraphs, lists…).
    text: String,
    /// Inside a code block or an HTML block: their text is not collected.
    skipped: usize,
    in_head: bool,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    /// The table cell being read.
    cell: Option<String>,
}

impl Block {
    fn start(&mut self, tag: &Tag<'_>) {
        match tag {
            Tag::CodeBlock(_) | Tag::HtmlBlock => self.skipped += 1,
            Tag::TableHead => self.in_head = true,
            Tag::TableRow => self.rows.push(Vec::new()),
            Tag::TableCell => self.cell = Some(String::new()),
            _ => {}
        }
    }

    fn end(&mut self, end: &TagEnd) {
        match end {
            TagEnd::CodeBlock | TagEnd::HtmlBlock => self.skipped = self.skipped.saturating_sub(1),
            TagEnd::TableHead => self.in_head = false,
            TagEnd::TableCell => {
                let cell = self.cell.take().unwrap_or_default();
                if self.in_head {
                    self.header.push(cell);
                } else if let Some(row) = self.rows.last_mut() {
                    row.push(cell);
                }
            }
            _ => {}
        }
    }

    fn inline(&mut self, event: &Event<'_>) {
        if self.skipped > 0 {
            return;
        }
        let piece: &str = match event {
            Event::Text(t) | Event::Code(t) => t,
            Event::SoftBreak => " ",
            Event::HardBreak => "\n",
            _ => return,
        };
        match self.cell.as_mut() {
            Some(cell) => cell.push_str(piece),
            None => self.text.push_str(piece),
        }
    }
}
