//! Unit tests: upstream's converter tests ported (each names its upstream class and
//! method), the format fixtures upstream's integration tests read, and edge cases.

use super::*;
use serde_json::json;

fn conv(format: &str, body: &str) -> Value {
    to_json(format, body.as_bytes(), &Options::default()).expect("converts")
}

fn conv_schema(format: &str, body: &str, schema: &str) -> Value {
    let options = Options {
        schema: Some(Value::String(schema.into())),
        ..Options::default()
    };
    to_json(format, body.as_bytes(), &options).expect("converts")
}

fn fails(format: &str, body: &[u8], options: &Options) -> String {
    to_json(format, body, options).expect_err("fails").0
}

// ---- ConverterTest ------------------------------------------------------------------

// ConverterTest#convertToJsonShouldRejectUnsupportedFormat
#[test]
fn rejects_unsupported_format() {
    assert_eq!(
        fails("INI", b"{}", &Options::default()),
        "Unsupported \"INI\" format specified"
    );
}

// ConverterTest#convertToJsonShouldRequireSchemaForProtobuf
#[test]
fn protobuf_requires_schema() {
    assert_eq!(
        fails("Protobuf", b"{}", &Options::default()),
        "Protobuf format requires outputSchema to be specified in operation specification"
    );
}

// ConverterTest#convertToJsonShouldRequireSchemaForProtobufWhenSchemaIsEmpty
#[test]
fn protobuf_requires_non_empty_schema() {
    let options = Options {
        schema: Some(json!("")),
        ..Options::default()
    };
    assert_eq!(
        fails("Protobuf", b"{}", &options),
        "Protobuf format requires outputSchema to be specified in operation specification"
    );
}

// ConverterTest#convertToJsonShouldRequireSchemaForAvro
#[test]
fn avro_requires_schema() {
    let options = Options {
        schema: Some(json!("")),
        ..Options::default()
    };
    assert_eq!(
        fails("Avro", b"{}", &options),
        "Avro format requires outputSchema to be specified in operation specification"
    );
}

// ConverterTest#convertProtobufToJsonShouldWrapMissingSchemaAsIOException and
// ConverterTest#convertAvroToJsonShouldWrapMissingSchemaAsIOException: here the host
// reads the file; without its text the error names the file.
#[test]
fn avro_and_protobuf_name_the_missing_schema_file() {
    let options = Options {
        schema: Some(json!("schemas/does-not-exist.proto")),
        ..Options::default()
    };
    let e = fails("protobuf", &[1, 2, 3], &options);
    assert!(
        e.starts_with("protobuf: the schema file 'schemas/does-not-exist.proto'"),
        "{e}"
    );
    let options = Options {
        schema: Some(json!("schemas/does-not-exist.avsc")),
        ..Options::default()
    };
    let e = fails("avro", &[1, 2, 3], &options);
    assert!(
        e.starts_with("avro: the schema file 'schemas/does-not-exist.avsc'"),
        "{e}"
    );
}

// ConverterTest#convertHtmlAndMarkdownShouldProduceSameTableContract
#[test]
fn html_and_markdown_same_table_contract() {
    let html = r#"
<table>
  <thead>
    <tr><th>Name</th><th>Price</th><th>Stock</th></tr>
  </thead>
  <tbody>
    <tr><td>Widget</td><td>$42</td><td>150</td></tr>
    <tr><td>Gadget</td><td>$99</td><td>30</td></tr>
  </tbody>
</table>
"#;
    let markdown = "| Name | Price | Stock |\n|------|-------|-------|\n| Widget | $42 | 150 |\n| Gadget | $99 | 30 |\n";
    let h = conv("html", html);
    let m = conv("markdown", markdown);
    let expected = json!([[
        {"Name": "Widget", "Price": "$42", "Stock": "150"},
        {"Name": "Gadget", "Price": "$99", "Stock": "30"}
    ]]);
    assert_eq!(h["tables"], expected);
    assert_eq!(m["tables"], expected);
}

// ConverterTest#convertHtmlToJsonShouldApplyCssSelectorScoping
#[test]
fn html_css_selector_scoping() {
    let html = r#"
<div>
  <table class="ignored">
    <tr><th>Name</th><th>Stock</th></tr>
    <tr><td>Ignored</td><td>0</td></tr>
  </table>
  <table class="products">
    <tr><th>Name</th><th>Stock</th></tr>
    <tr><td>Kept</td><td>42</td></tr>
  </table>
</div>
"#;
    let root = conv_schema("html", html, "table.products");
    assert_eq!(root, json!({"tables": [[{"Name": "Kept", "Stock": "42"}]]}));
}

// ConverterTest#convertMarkdownToJsonShouldExtractFrontMatterTablesAndSections
#[test]
fn markdown_front_matter_tables_sections() {
    let markdown = "---\ntitle: Release Notes\nversion: 2.1.0\n---\n\n## Overview\nThis **release** introduces [new features](https://example.com).\n\n| Feature | Status |\n|---------|--------|\n| Search  | GA     |\n";
    let root = conv("markdown", markdown);
    assert_eq!(
        root,
        json!({
            "frontMatter": {"title": "Release Notes", "version": "2.1.0"},
            "tables": [[{"Feature": "Search", "Status": "GA"}]],
            "sections": [{"heading": "Overview", "level": 2,
                          "content": "This release introduces new features."}]
        })
    );
}

// ConverterTest#convertToJsonShouldSupportHtmlAndMarkdownFormats
#[test]
fn html_and_markdown_through_to_json() {
    let h = conv(
        "html",
        "<table><tr><th>Name</th></tr><tr><td>Alice</td></tr></table>",
    );
    assert_eq!(h, json!({"tables": [[{"Name": "Alice"}]]}));
    let m = conv(
        "markdown",
        "| Name | Role |\n|------|------|\n| Alice | User |",
    );
    assert_eq!(m["tables"], json!([[{"Name": "Alice", "Role": "User"}]]));
    assert_eq!(m["frontMatter"], json!({}));
    assert_eq!(m["sections"], json!([]));
}

// ConverterTest#convertDelimitedToJsonShouldParseTabSeparatedValues
#[test]
fn tsv() {
    let tsv =
        "id\tname\temail\n1\tAlice Smith\talice@example.com\n2\tBob Johnson\tbob@example.com\n";
    assert_eq!(
        conv("tsv", tsv),
        json!([
            {"id": "1", "name": "Alice Smith", "email": "alice@example.com"},
            {"id": "2", "name": "Bob Johnson", "email": "bob@example.com"}
        ])
    );
}

// ConverterTest#convertDelimitedToJsonShouldParsePipeSeparatedValues
#[test]
fn psv() {
    let psv = "id|name|email\n1|Alice Smith|alice@example.com\n2|Bob Johnson|bob@example.com\n";
    let root = conv("psv", psv);
    assert_eq!(root.as_array().map(Vec::len), Some(2));
    assert_eq!(
        root[0],
        json!({"id": "1", "name": "Alice Smith", "email": "alice@example.com"})
    );
    assert_eq!(root[1]["name"], "Bob Johnson");
}

// ConverterTest#convertToJsonShouldRouteTsvAndPsvFormats
#[test]
fn routes_tsv_and_psv() {
    assert_eq!(
        conv("tsv", "id\tname\n1\tAlice\n"),
        json!([{"id": "1", "name": "Alice"}])
    );
    assert_eq!(
        conv("psv", "id|name\n1|Alice\n"),
        json!([{"id": "1", "name": "Alice"}])
    );
}

// ConverterTest#convertCsvToJsonShouldDelegateToDelimited
#[test]
fn csv_delegates_to_delimited() {
    assert_eq!(
        conv("csv", "id,name\n1,Alice\n"),
        json!([{"id": "1", "name": "Alice"}])
    );
}

// ConverterTest#convertToJsonShouldSupportJsonWhenFormatIsNull
#[test]
fn json_when_no_format() {
    assert_eq!(conv("", "{\"status\":\"ok\"}"), json!({"status": "ok"}));
}

// ConverterTest#convertToJsonShouldSupportExplicitJsonFormat
#[test]
fn explicit_json_format() {
    assert_eq!(
        conv("JSON", "{\"status\":\"ok\",\"count\":2}"),
        json!({"status": "ok", "count": 2})
    );
}

// ConverterTest#convertToJsonShouldSupportXmlYamlAndCsvFormats
#[test]
fn xml_yaml_csv_formats() {
    assert_eq!(
        conv("XML", "<root><name>Alice</name></root>"),
        json!({"name": "Alice"})
    );
    assert_eq!(
        conv("YAML", "name: Alice\nage: 42\n"),
        json!({"name": "Alice", "age": 42})
    );
    assert_eq!(
        conv("CSV", "name,age\nAlice,42\nBob,39\n"),
        json!([{"name": "Alice", "age": "42"}, {"name": "Bob", "age": "39"}])
    );
}

// ConverterTest#convertHtmlToJsonShouldSkipRowsContainingThElements
#[test]
fn html_skips_rows_with_th() {
    let html = "<table>\n  <tr><th>Name</th><th>Price</th></tr>\n  <tr><th>Widget</th><td>$42</td></tr>\n  <tr><td>Gadget</td><td>$99</td></tr>\n</table>\n";
    assert_eq!(
        conv("html", html),
        json!({"tables": [[{"Name": "Gadget", "Price": "$99"}]]})
    );
}

// ConverterTest#convertMarkdownToJsonShouldFilterSectionsByHeadingPrefix
#[test]
fn markdown_section_filter() {
    let markdown = "## Overview\nGeneral introduction.\n\n## API Reference\nDetails about the API.\n\n## API Usage\nHow to use the API.\n";
    let root = conv_schema("markdown", markdown, "API");
    assert_eq!(
        root["sections"],
        json!([
            {"heading": "API Reference", "level": 2, "content": "Details about the API."},
            {"heading": "API Usage", "level": 2, "content": "How to use the API."}
        ])
    );
}

// ConverterTest#convertMarkdownToJsonWithNullFilterShouldReturnAllSections
#[test]
fn markdown_no_filter_all_sections() {
    let root = conv(
        "markdown",
        "## First\nContent one.\n\n## Second\nContent two.\n",
    );
    assert_eq!(
        root["sections"],
        json!([
            {"heading": "First", "level": 2, "content": "Content one."},
            {"heading": "Second", "level": 2, "content": "Content two."}
        ])
    );
}

// ---- Fixtures of the format integration tests ---------------------------------------

// XmlIntegrationTest#testXmlResponseConversion, schemas/sample-users.xml
#[test]
fn fixture_sample_users_xml() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<root>
  <user>
    <id>1</id>
    <name>Alice Smith</name>
    <email>alice@example.com</email>
  </user>
  <user>
    <id>2</id>
    <name>Bob Johnson</name>
    <email>bob@example.com</email>
  </user>
  <user>
    <id>3</id>
    <name>Carol White</name>
    <email>carol@example.com</email>
  </user>
</root>"#;
    assert_eq!(
        conv("xml", xml),
        json!({"user": [
            {"id": "1", "name": "Alice Smith", "email": "alice@example.com"},
            {"id": "2", "name": "Bob Johnson", "email": "bob@example.com"},
            {"id": "3", "name": "Carol White", "email": "carol@example.com"}
        ]})
    );
}

// YamlIntegrationTest#testYamlResponseConversion, schemas/sample-users.yaml
#[test]
fn fixture_sample_users_yaml() {
    let yaml = "users:\n  - id: \"1\"\n    name: \"Alice Smith\"\n    email: \"alice@example.com\"\n  - id: \"2\"\n    name: \"Bob Johnson\"\n    email: \"bob@example.com\"\n  - id: \"3\"\n    name: \"Carol White\"\n    email: \"carol@example.com\"\n";
    assert_eq!(
        conv("yaml", yaml),
        json!({"users": [
            {"id": "1", "name": "Alice Smith", "email": "alice@example.com"},
            {"id": "2", "name": "Bob Johnson", "email": "bob@example.com"},
            {"id": "3", "name": "Carol White", "email": "carol@example.com"}
        ]})
    );
}

// CsvIntegrationTest#testCsvResponseConversion, schemas/sample-users.csv (and .tsv/.psv)
#[test]
fn fixture_sample_users_delimited() {
    let expected = json!([
        {"id": "1", "name": "Alice Smith", "email": "alice@example.com"},
        {"id": "2", "name": "Bob Johnson", "email": "bob@example.com"},
        {"id": "3", "name": "Carol White", "email": "carol@example.com"}
    ]);
    let csv = "id,name,email\n1,Alice Smith,alice@example.com\n2,Bob Johnson,bob@example.com\n3,Carol White,carol@example.com\n";
    assert_eq!(conv("csv", csv), expected);
    assert_eq!(conv("tsv", &csv.replace(',', "\t")), expected);
    assert_eq!(conv("psv", &csv.replace(',', "|")), expected);
}

// HtmlIntegrationTest#testHtmlResponseConversion, schemas/sample-products.html
#[test]
fn fixture_sample_products_html() {
    let html = r#"<html>
  <body>
    <section class="inventory">
      <table class="products">
        <thead>
          <tr><th>Name</th><th>Price</th><th>Stock</th></tr>
        </thead>
        <tbody>
          <tr><td>Widget</td><td>$42</td><td>150</td></tr>
          <tr><td>Gadget</td><td>$99</td><td>30</td></tr>
        </tbody>
      </table>
    </section>
  </body>
</html>"#;
    let expected = json!({"tables": [[
        {"Name": "Widget", "Price": "$42", "Stock": "150"},
        {"Name": "Gadget", "Price": "$99", "Stock": "30"}
    ]]});
    assert_eq!(conv_schema("html", html, "table.products"), expected);
    // A selector on a container gives the tables inside it.
    assert_eq!(conv_schema("html", html, "section.inventory"), expected);
    assert_eq!(
        conv_schema("html", html, "table.other"),
        json!({"tables": []})
    );
}

// MarkdownIntegrationTest#testMarkdownResponseConversion, schemas/sample-readme.md
#[test]
fn fixture_sample_readme_md() {
    let md = "---\ntitle: Product Release Notes\nversion: 2.1.0\n---\n\n## Overview\nThis release introduces **table extraction** for markdown.\n\n| Feature | Status |\n|---------|--------|\n| HTML support | GA |\n| Markdown support | Beta |\n";
    assert_eq!(
        conv("markdown", md),
        json!({
            "frontMatter": {"title": "Product Release Notes", "version": "2.1.0"},
            "tables": [[
                {"Feature": "HTML support", "Status": "GA"},
                {"Feature": "Markdown support", "Status": "Beta"}
            ]],
            "sections": [{"heading": "Overview", "level": 2,
                          "content": "This release introduces table extraction for markdown."}]
        })
    );
}

// ---- XML (Jackson XmlMapper rules) --------------------------------------------------

#[test]
fn xml_attributes_text_and_repeats() {
    let xml = r#"<r xmlns="urn:x" xmlns:p="urn:p" id="7"><p:a k="v">t</p:a><b/><c></c><b>2</b><d> x </d></r>"#;
    assert_eq!(
        conv("xml", xml),
        json!({"id": "7", "a": {"k": "v", "": "t"}, "b": ["", "2"], "c": "", "d": " x "})
    );
}

#[test]
fn xml_mixed_text_cdata_entities() {
    let xml = "<r><m>one<i>x</i>two</m><e>&lt;&amp;&#65;&#x42;</e><c><![CDATA[<raw>]]></c></r>";
    assert_eq!(
        conv("xml", xml),
        json!({"m": {"": ["one", "two"], "i": "x"}, "e": "<&AB", "c": "<raw>"})
    );
}

#[test]
fn xml_root_shapes_and_unicode() {
    assert_eq!(conv("xml", "<root>hi</root>"), json!({"": "hi"}));
    assert_eq!(conv("xml", "<root/>"), json!({}));
    assert_eq!(
        conv("xml", "<r><n>Zoë 日本 🎉</n></r>"),
        json!({"n": "Zoë 日本 🎉"})
    );
    assert_eq!(conv("xml", "  "), Value::Null);
}

#[test]
fn xml_errors() {
    let e = fails("xml", b"<r><a></b></r>", &Options::default());
    assert!(e.starts_with("xml: ") && e.contains("at byte"), "{e}");
    let e = fails("xml", b"<r>&custom;</r>", &Options::default());
    assert!(e.contains("undeclared entity &custom;"), "{e}");
    let e = fails("xml", b"<r><a>", &Options::default());
    assert!(e.contains("unexpected end of input inside <a>"), "{e}");
}

#[test]
fn xml_depth_limit() {
    let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
    let e = fails("xml", deep.as_bytes(), &Options::default());
    assert!(e.contains("nest deeper than 256"), "{e}");
    let ok = "<a>".repeat(MAX_DEPTH) + &"</a>".repeat(MAX_DEPTH);
    assert!(to_json("xml", ok.as_bytes(), &Options::default()).is_ok());
}

// ---- YAML (Jackson YAML / SnakeYAML 1.1 resolution) ---------------------------------

#[test]
fn yaml_scalar_resolution() {
    let yaml = "a: yes\nb: Off\nc: y\nd: 0x1F\ne: 017\nf: 1_000\ng: 1.5\nh: 08\ni: ~\nj:\nk: .inf\nl: '12'\nm: 2024-01-02\nn: !!str 12\no: !!int \"5\"\np: -7\nq: 1e3\nr: 1:30\n";
    assert_eq!(
        conv("yaml", yaml),
        json!({"a": true, "b": false, "c": "y", "d": 31, "e": 15, "f": 1000, "g": 1.5,
               "h": 8.0, "i": null, "j": null, "k": "Infinity", "l": "12",
               "m": "2024-01-02", "n": "12", "o": 5, "p": -7, "q": 1000.0, "r": "1:30"})
    );
}

#[test]
fn yaml_aliases_are_anchor_names_and_first_document_only() {
    let yaml = "base: &b {x: 1}\ncopy: *b\n---\nsecond: 2\n";
    assert_eq!(conv("yaml", yaml), json!({"base": {"x": 1}, "copy": "b"}));
    assert_eq!(conv("yaml", ""), Value::Null);
    assert_eq!(conv("yaml", "- 1\n- two\n"), json!([1, "two"]));
    assert_eq!(conv("yaml", "k: v\nk: w\n"), json!({"k": "w"}));
}

#[test]
fn yaml_errors_and_depth() {
    let e = fails("yaml", b"a: [1, 2\n", &Options::default());
    assert!(
        e.starts_with("yaml: the response is not valid YAML") && e.contains("line"),
        "{e}"
    );
    let e = fails("yaml", b"? [a]\n: 1\n", &Options::default());
    assert!(e.contains("Expected a field name"), "{e}");
    // Flow nesting: saphyr-parser's own recursion limit answers first.
    let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
    let e = fails("yaml", deep.as_bytes(), &Options::default());
    assert!(
        e.starts_with("yaml: the response is not valid YAML: recursion limit"),
        "{e}"
    );
    // Block nesting: ours.
    let deep = "- ".repeat(MAX_DEPTH + 1) + "x";
    let e = fails("yaml", deep.as_bytes(), &Options::default());
    assert!(e.contains("values nest deeper than 256 levels"), "{e}");
    let ok = "- ".repeat(3) + "x";
    assert_eq!(conv("yaml", &ok), json!([[["x"]]]));
}

// ---- Delimited (Jackson CsvMapper rules) --------------------------------------------

#[test]
fn csv_quotes_short_rows_blank_lines() {
    let csv = "a,b,c\r\n\"x, \"\"y\"\"\",\"multi\nline\",3\r\n1\r\n\r\nlast,,\n";
    assert_eq!(
        conv("csv", csv),
        json!([
            {"a": "x, \"y\"", "b": "multi\nline", "c": "3"},
            {"a": "1"},
            {"a": ""},
            {"a": "last", "b": "", "c": ""}
        ])
    );
    assert_eq!(conv("csv", ""), json!([]));
    assert_eq!(conv("csv", "h1,h2\n"), json!([]));
    assert_eq!(
        conv("csv", "naïve,ü\n日本,🎉\n"),
        json!([{"naïve": "日本", "ü": "🎉"}])
    );
}

#[test]
fn csv_errors() {
    let e = fails("csv", b"a,b\n1,2,3\n", &Options::default());
    assert!(
        e.starts_with("csv: Too many entries on line 2: expected at most 2"),
        "{e}"
    );
    let e = fails("csv", b"a\n\"open\n", &Options::default());
    assert!(e.contains("not closed"), "{e}");
}

// ---- HTML (jsoup rules) -------------------------------------------------------------

#[test]
fn html_text_normalisation_and_short_rows() {
    let html = "<table><tr><th> A&nbsp;1 </th><th>B</th><th>C</th></tr>\
                <tr><td>  one\n  two <b>bold</b></td><td><p>p1</p><p>p2</p></td></tr>\
                <tr><td><pre> keep  this </pre></td><td>x<br>y</td><td>z<script>no()</script></td></tr></table>";
    assert_eq!(
        conv("html", html),
        json!({"tables": [[
            {"A 1": "one two bold", "B": "p1 p2", "C": ""},
            {"A 1": "keep  this", "B": "x y", "C": "z"}
        ]]})
    );
}

#[test]
fn html_tables_without_headers_are_skipped_and_bad_selector_errors() {
    assert_eq!(
        conv("html", "<table><tr><td>1</td></tr></table>"),
        json!({"tables": []})
    );
    assert_eq!(conv("html", ""), json!({"tables": []}));
    let options = Options {
        schema: Some(json!("table[")),
        ..Options::default()
    };
    let e = fails("html", b"<table></table>", &options);
    assert!(
        e.starts_with("html: outputSchema 'table[' is not a CSS selector"),
        "{e}"
    );
}

// ---- Markdown (commonmark-java rules) -----------------------------------------------

#[test]
fn markdown_collect_text_rules() {
    let md = "# Title\n\nLine one\nline two  \nhard `code`\n\n- a\n- b\n\n```\nskipped code\n```\n\n<div>html</div>\n\nSetext\n------\n![alt text](x.png)\n";
    assert_eq!(
        conv("markdown", md)["sections"],
        json!([
            {"heading": "Title", "level": 1, "content": "Line one line two\nhard code\nab"},
            {"heading": "Setext", "level": 2, "content": "alt text"}
        ])
    );
}

#[test]
fn markdown_front_matter_edges() {
    // Not closed: all of it is the body.
    let root = conv("markdown", "---\ntitle: x\n# H\n");
    assert_eq!(root["frontMatter"], json!({}));
    // A list as front matter is not kept; CRLF is normalised.
    let root = conv("markdown", "---\r\n- a\r\n---\r\n# H\r\ntext\r\n");
    assert_eq!(root["frontMatter"], json!({}));
    assert_eq!(
        root["sections"],
        json!([{"heading": "H", "level": 1, "content": "text"}])
    );
    let e = fails("markdown", b"---\ntitle: [x\n---\n", &Options::default());
    assert!(
        e.starts_with("markdown front matter: the response is not valid YAML"),
        "{e}"
    );
}

// ---- Other edges --------------------------------------------------------------------

#[test]
fn json_edges() {
    assert_eq!(conv("json", ""), Value::Null);
    assert_eq!(conv("json", "\u{feff}[1]"), json!([1]));
    let e = fails("json", b"{\"a\":", &Options::default());
    assert!(
        e.starts_with("json: the response is not valid JSON") && e.contains("line 1"),
        "{e}"
    );
}

#[test]
fn binary_is_not_converted() {
    let e = fails("binary", b"\x00\x01", &Options::default());
    assert!(
        e.starts_with("binary: a binary response is not converted"),
        "{e}"
    );
}

#[test]
fn invalid_utf8_is_replaced_not_fatal() {
    assert_eq!(
        to_json("csv", b"a\n\xff\n", &Options::default()).unwrap(),
        json!([{"a": "\u{fffd}"}])
    );
}

// ---- Avro ---------------------------------------------------------------------------

/// schemas/test-records.avsc (AvroIntegrationTest's fixture).
const RECORDS_AVSC: &str = r#"{
  "type": "record", "namespace": "io.naftiko.test", "name": "RecordsList",
  "fields": [{"name": "records", "type": {"type": "array", "items": {
    "type": "record", "name": "Record", "fields": [
      {"name": "id", "type": "string"},
      {"name": "title", "type": "string"},
      {"name": "description", "type": ["null", "string"], "default": null}]}},
    "doc": "List of records"}]}"#;

fn avro_options(schema: &str) -> Options {
    Options {
        schema: Some(json!("schemas/test.avsc")),
        schema_source: Some(schema.into()),
    }
}

fn zigzag(n: i64) -> Vec<u8> {
    let mut v = ((n << 1) ^ (n >> 63)) as u64;
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

fn avro_str(s: &str) -> Vec<u8> {
    let mut out = zigzag(s.len() as i64);
    out.extend_from_slice(s.as_bytes());
    out
}

// avro-capability.yaml maps $.records[*].{id,title,description}.
#[test]
fn avro_fixture_records() {
    let mut body = zigzag(2); // one block of two records
    body.extend(avro_str("1"));
    body.extend(avro_str("First"));
    body.extend(zigzag(1)); // union branch 1: string
    body.extend(avro_str("Zoë 🎉"));
    body.extend(avro_str("2"));
    body.extend(avro_str("Second"));
    body.extend(zigzag(0)); // union branch 0: null
    body.extend(zigzag(0)); // end of array
    let v = to_json("avro", &body, &avro_options(RECORDS_AVSC)).unwrap();
    assert_eq!(
        v,
        json!({"records": [
            {"id": "1", "title": "First", "description": "Zoë 🎉"},
            {"id": "2", "title": "Second", "description": null}
        ]})
    );
}

#[test]
fn avro_primitives_enum_map_fixed_recursive() {
    let schema = r#"{"type": "record", "name": "N", "fields": [
        {"name": "b", "type": "boolean"}, {"name": "l", "type": "long"},
        {"name": "f", "type": "float"}, {"name": "d", "type": "double"},
        {"name": "raw", "type": "bytes"}, {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}},
        {"name": "m", "type": {"type": "map", "values": "int"}},
        {"name": "x", "type": {"type": "fixed", "name": "F", "size": 2}},
        {"name": "next", "type": ["null", "N"]}]}"#;
    let mut body = vec![1u8];
    body.extend(zigzag(-300));
    body.extend(1.5f32.to_le_bytes());
    body.extend(f64::NAN.to_le_bytes());
    body.extend(zigzag(3));
    body.extend(b"abc");
    body.extend(zigzag(1));
    body.extend(zigzag(-1)); // map block of 1 item with a byte size
    body.extend(zigzag(4));
    body.extend(avro_str("k"));
    body.extend(zigzag(7));
    body.extend(zigzag(0));
    body.extend([0xff, 0x00]);
    body.extend(zigzag(0)); // next: null
    let v = to_json("avro", &body, &avro_options(schema)).unwrap();
    assert_eq!(
        v,
        json!({"b": true, "l": -300, "f": 1.5, "d": "NaN", "raw": "YWJj", "e": "B",
               "m": {"k": 7}, "x": "/wA=", "next": null})
    );
}

#[test]
fn avro_errors() {
    let e = fails("avro", &[0x04], &avro_options(RECORDS_AVSC));
    assert!(e.starts_with("avro: the data ends inside"), "{e}");
    let e = fails("avro", &[], &avro_options("{not json"));
    assert!(e.starts_with("avro: the schema is not valid JSON"), "{e}");
    // A huge block of zero-byte items is refused, not allocated.
    let e = fails(
        "avro",
        &zigzag(i64::MAX / 2),
        &avro_options(r#"{"type":"array","items":"null"}"#),
    );
    assert!(e.contains("more than 10000000"), "{e}");
    // Recursion through a recursive type is depth-limited.
    let schema = r#"{"type":"record","name":"L","fields":[{"name":"n","type":["null","L"]}]}"#;
    let body = vec![2u8; 1000];
    let e = fails("avro", &body, &avro_options(schema));
    assert!(e.contains("nest deeper than 256"), "{e}");
}

#[test]
fn protobuf_is_refused_clearly() {
    let options = Options {
        schema: Some(json!("schemas/test-records.proto")),
        schema_source: Some("syntax = \"proto2\";".into()),
    };
    let e = fails("protobuf", &[0x0a, 0x00], &options);
    assert!(
        e.starts_with("protobuf: the engine does not decode Protocol Buffers yet"),
        "{e}"
    );
}

// ---- Hostile input ------------------------------------------------------------------

#[test]
fn deeply_nested_html_tables_finish() {
    let n = 1000;
    let html =
        "<table><tr><th>h</th></tr><tr><td>".repeat(n) + "x" + &"</td></tr></table>".repeat(n);
    // Either an answer or the work-limit error; never a hang, a stack overflow or a panic.
    match to_json("html", html.as_bytes(), &Options::default()) {
        Ok(v) => assert!(v["tables"].is_array()),
        Err(e) => assert!(
            e.0.starts_with("html: the document's tables nest too deeply"),
            "{e}"
        ),
    }
}

#[test]
fn no_panic_on_garbage() {
    // A cheap deterministic byte soup through every format.
    let mut seed: u32 = 0x1234_5678;
    let alphabet = b"<>/=\"'&;#[]{}:,-|\t\n\r ?!*&^abcAZ019\\`~_.";
    for round in 0..300 {
        let len = (round * 7) % 200;
        let body: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                if seed % 11 == 0 {
                    (seed >> 8) as u8
                } else {
                    alphabet[(seed as usize >> 4) % alphabet.len()]
                }
            })
            .collect();
        for format in [
            "json", "xml", "yaml", "csv", "tsv", "psv", "html", "markdown",
        ] {
            let _ = to_json(format, &body, &Options::default());
        }
        let _ = to_json("avro", &body, &avro_options(RECORDS_AVSC));
    }
}
