//! `outputRawFormat: html` — tables, the way upstream reads them with jsoup.
//!
//! Upstream: `Converter#convertHtmlToJson` (with `resolveHtmlTables`,
//! `extractHtmlHeaders`, `extractHtmlRows`, `mapRowsToTable`, `sanitizeHeaders`). The
//! result is `{"tables": [[{header: cell, …}, …], …]}`:
//! - the document is parsed as HTML5 (html5ever here, jsoup there: both build the spec's
//!   tree, e.g. a `<tr>` directly in `<table>` gets an implied `<tbody>`);
//! - tables: every `table` (document order), or, with `outputSchema`, the elements the CSS
//!   selector matches: a `table` is taken, any other element gives the tables inside it
//!   (a table reached twice is listed twice, as jsoup's `Elements#addAll` does);
//! - headers: the `th` cells of `thead tr:first-child th`, else of `tr:first-child th`,
//!   (jsoup `Element#select` from the table: descendants, nested tables included, the
//!   table itself the highest ancestor a combinator may use); each is the cell's text
//!   trimmed; a table whose headers are all blank (or none) is skipped;
//! - rows: `tbody tr`, else every `tr`; a row with any `th` (at any depth) is skipped, a
//!   row with no `td` too; values are the `td` texts trimmed;
//! - each row is an object: header i → value i, `""` when the row is shorter, extra
//!   values dropped; a repeated header keeps the last value at the first one's place;
//! - a cell's text is jsoup's `Element#text()`: whitespace runs collapse to one space
//!   (`StringUtil#appendNormalisedWhitespace`, nbsp included, zero-width space and soft
//!   hyphen dropped), block elements and `<br>` separate words, `pre`/`textarea` keep
//!   their whitespace, script/style content is not text.
//!
//! A selector jsoup accepts but CSS does not (`:contains`, `:eq`…) is an error here.

use crate::text::{java_is_blank, java_trim};
use crate::ConvertError;
use ego_tree::iter::Edge;
use ego_tree::NodeRef;
use scraper::{Html, Node, Selector};
use serde_json::{Map, Value};

/// Node visits allowed in one conversion: jsoup's selectors are quadratic on deeply
/// nested tables; this bounds the work on hostile input with a clear error.
const WORK_BUDGET: u64 = 10_000_000;

struct Budget(u64);

impl Budget {
    fn spend(&mut self, n: u64) -> Result<(), ConvertError> {
        self.0 = self.0.saturating_add(n);
        if self.0 > WORK_BUDGET {
            return Err(ConvertError::new(
                "html",
                "the document's tables nest too deeply to be read within the engine's limits",
            ));
        }
        Ok(())
    }
}

type N<'a> = NodeRef<'a, Node>;

fn name<'a>(n: &N<'a>) -> Option<&'a str> {
    match n.value() {
        Node::Element(e) => Some(e.name()),
        _ => None,
    }
}

fn is(n: &N<'_>, tag: &str) -> bool {
    name(n) == Some(tag)
}

/// Elements under `root` (itself included, as jsoup's `select`), document order.
fn elements<'a>(root: N<'a>) -> impl Iterator<Item = N<'a>> {
    root.descendants()
        .filter(|n| matches!(n.value(), Node::Element(_)))
}

/// jsoup `:first-child`: the first element child of a parent that is not the document.
fn is_first_child(n: &N<'_>) -> bool {
    match n.parent() {
        Some(p) if matches!(p.value(), Node::Element(_)) => {
            p.children()
                .find(|c| matches!(c.value(), Node::Element(_)))
                .map(|c| c.id())
                == Some(n.id())
        }
        _ => false,
    }
}

/// Ancestors of `n` up to and including `root` (jsoup's `Ancestor` evaluator).
fn ancestors_within<'a>(n: N<'a>, root: N<'a>) -> impl Iterator<Item = N<'a>> {
    let root_id = root.id();
    let mut cur = if n.id() == root_id { None } else { n.parent() };
    std::iter::from_fn(move || {
        let here = cur?;
        cur = if here.id() == root_id {
            None
        } else {
            here.parent()
        };
        Some(here)
    })
}

pub(crate) fn to_json(text: &str, css: Option<&str>) -> Result<Value, ConvertError> {
    let document = Html::parse_document(text);
    let mut budget = Budget(0);
    let tables = resolve_tables(&document, css, &mut budget)?;
    let mut out = Vec::new();
    for table in tables {
        let headers = headers(table, &mut budget)?;
        if headers.is_empty() {
            continue;
        }
        let rows = rows(table, &mut budget)?;
        out.push(map_rows(&headers, rows));
    }
    let mut result = Map::new();
    result.insert("tables".into(), Value::Array(out));
    Ok(Value::Object(result))
}

/// `Converter#resolveHtmlTables`.
fn resolve_tables<'a>(
    document: &'a Html,
    css: Option<&str>,
    budget: &mut Budget,
) -> Result<Vec<N<'a>>, ConvertError> {
    let root = document.tree.root();
    let css = css.filter(|c| !java_is_blank(c));
    let Some(css) = css else {
        let tables: Vec<N<'a>> = elements(root).filter(|n| is(n, "table")).collect();
        return Ok(tables);
    };
    let selector = Selector::parse(css).map_err(|e| {
        ConvertError::new(
            "html",
            format!("outputSchema '{css}' is not a CSS selector this engine reads: {e}"),
        )
    })?;
    let mut tables = Vec::new();
    for element in document.select(&selector) {
        let node: N<'a> = *element;
        if is(&node, "table") {
            tables.push(node);
        } else {
            for t in elements(node).filter(|n| is(n, "table")) {
                budget.spend(1)?;
                tables.push(t);
            }
        }
        budget.spend(1)?;
    }
    Ok(tables)
}

/// `Converter#extractHtmlHeaders` + `sanitizeHeaders`.
fn headers(table: N<'_>, budget: &mut Budget) -> Result<Vec<String>, ConvertError> {
    // thead tr:first-child th
    let mut cells = Vec::new();
    for th in elements(table).filter(|n| is(n, "th")) {
        budget.spend(1)?;
        let mut found = false;
        for tr in ancestors_within(th, table) {
            budget.spend(1)?;
            if is(&tr, "tr")
                && is_first_child(&tr)
                && ancestors_within(tr, table).any(|a| is(&a, "thead"))
            {
                found = true;
                break;
            }
        }
        if found {
            cells.push(th);
        }
    }
    if cells.is_empty() {
        // tr:first-child th
        for th in elements(table).filter(|n| is(n, "th")) {
            budget.spend(1)?;
            if ancestors_within(th, table).any(|tr| is(&tr, "tr") && is_first_child(&tr)) {
                cells.push(th);
            }
        }
    }
    let mut headers = Vec::with_capacity(cells.len());
    for cell in cells {
        headers.push(java_trim(&element_text(cell, budget)?).to_string());
    }
    if headers.iter().all(|h| java_is_blank(h)) {
        return Ok(Vec::new());
    }
    Ok(headers)
}

/// `Converter#extractHtmlRows`.
fn rows(table: N<'_>, budget: &mut Budget) -> Result<Vec<Vec<String>>, ConvertError> {
    let mut trs: Vec<N<'_>> = Vec::new();
    for tr in elements(table).filter(|n| is(n, "tr")) {
        budget.spend(1)?;
        if ancestors_within(tr, table).any(|a| is(&a, "tbody")) {
            trs.push(tr);
        }
    }
    if trs.is_empty() {
        trs = elements(table).filter(|n| is(n, "tr")).collect();
    }
    let mut rows = Vec::new();
    for tr in trs {
        budget.spend(1)?;
        if elements(tr).any(|n| is(&n, "th")) {
            continue;
        }
        let mut values = Vec::new();
        for td in elements(tr).filter(|n| is(n, "td")) {
            values.push(java_trim(&element_text(td, budget)?).to_string());
        }
        if values.is_empty() {
            continue;
        }
        rows.push(values);
    }
    Ok(rows)
}

/// `Converter#mapRowsToTable`.
fn map_rows(headers: &[String], rows: Vec<Vec<String>>) -> Value {
    let table = rows
        .into_iter()
        .map(|row| {
            let mut object = Map::new();
            for (i, header) in headers.iter().enumerate() {
                let value = row.get(i).cloned().unwrap_or_default();
                object.insert(header.clone(), Value::String(value));
            }
            Value::Object(object)
        })
        .collect();
    Value::Array(table)
}

/// jsoup `Tag#isBlock` (the block tags jsoup knows).
fn is_block(tag: &str) -> bool {
    matches!(
        tag,
        "html"
            | "head"
            | "body"
            | "frameset"
            | "script"
            | "noscript"
            | "style"
            | "meta"
            | "link"
            | "title"
            | "frame"
            | "noframes"
            | "section"
            | "nav"
            | "aside"
            | "hgroup"
            | "header"
            | "footer"
            | "p"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "ul"
            | "ol"
            | "pre"
            | "div"
            | "blockquote"
            | "hr"
            | "address"
            | "figure"
            | "figcaption"
            | "form"
            | "fieldset"
            | "ins"
            | "del"
            | "dl"
            | "dt"
            | "dd"
            | "li"
            | "table"
            | "caption"
            | "thead"
            | "tfoot"
            | "tbody"
            | "colgroup"
            | "col"
            | "tr"
            | "th"
            | "td"
            | "video"
            | "audio"
            | "canvas"
            | "details"
            | "menu"
            | "plaintext"
            | "template"
            | "article"
            | "main"
            | "svg"
            | "math"
            | "center"
            | "dir"
            | "applet"
            | "marquee"
            | "listing"
    )
}

fn last_is_space(s: &str) -> bool {
    s.ends_with(' ')
}

/// jsoup `Element#text()` (its `TextAccumulator`), then `String#trim`.
fn element_text(root: N<'_>, budget: &mut Budget) -> Result<String, ConvertError> {
    let mut out = String::new();
    // Open elements that keep whitespace (pre, textarea…) or hide their text (script, style).
    let mut preserve = 0usize;
    let mut hidden = 0usize;
    for edge in root.traverse() {
        budget.spend(1)?;
        match edge {
            Edge::Open(n) => match n.value() {
                Node::Text(t) => {
                    if hidden > 0 {
                        continue;
                    }
                    if preserve > 0 {
                        out.push_str(t);
                    } else {
                        append_normalised(&mut out, t);
                    }
                }
                Node::Element(e) => {
                    let tag = e.name();
                    if !out.is_empty() && (is_block(tag) || tag == "br") && !last_is_space(&out) {
                        out.push(' ');
                    }
                    if matches!(tag, "pre" | "plaintext" | "title" | "textarea") {
                        preserve += 1;
                    }
                    if matches!(tag, "script" | "style") {
                        hidden += 1;
                    }
                }
                _ => {}
            },
            Edge::Close(n) => {
                if let Node::Element(e) = n.value() {
                    let tag = e.name();
                    if matches!(tag, "pre" | "plaintext" | "title" | "textarea") {
                        preserve -= 1;
                    }
                    if matches!(tag, "script" | "style") {
                        hidden -= 1;
                    }
                    let next_is_text = n
                        .next_sibling()
                        .is_some_and(|s| matches!(s.value(), Node::Text(_)));
                    if n.id() != root.id() && is_block(tag) && next_is_text && !last_is_space(&out)
                    {
                        out.push(' ');
                    }
                }
            }
        }
    }
    Ok(java_trim(&out).to_string())
}

/// jsoup `StringUtil#appendNormalisedWhitespace(accum, text, lastCharIsWhitespace)`.
fn append_normalised(out: &mut String, text: &str) {
    let strip_leading = last_is_space(out);
    let mut last_was_white = false;
    let mut reached_non_white = false;
    for c in text.chars() {
        if matches!(c, ' ' | '\t' | '\n' | '\u{c}' | '\r' | '\u{a0}') {
            if (strip_leading && !reached_non_white) || last_was_white {
                continue;
            }
            out.push(' ');
            last_was_white = true;
        } else if c != '\u{200b}' && c != '\u{ad}' {
            out.push(c);
            last_was_white = false;
            reached_non_white = true;
        }
    }
}
