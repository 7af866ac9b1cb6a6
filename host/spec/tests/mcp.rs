//! MCP exposes: the model built from a file, and the exact messages for broken ones.

mod common;

use std::path::Path;

use ikanos_spec::load_str;
use ikanos_spec::model::{Exposes, Handler, McpPromptBody, McpResourceSource, McpTransport};

const FILE: &str = "/caps/crm.ikanos.yaml";

/// A valid capability with one MCP server; tests break one thing at a time.
const BASE: &str = r#"ikanos: "1.0.0-beta5"
capability:
  consumes:
    - type: http
      namespace: crm
      baseUri: "https://crm.example.com/api"
      resources:
        customers:
          path: /customers
          operations:
            list-customers:
              method: GET
  exposes:
    - type: mcp
      port: 9000
      namespace: crm-mcp
      description: Customer tools
      ttlMs: 1000
      cacheScope: public
      tools:
        get-customer:
          display: Get customer
          description: One customer
          inputParameters:
            id:
              type: string
              description: Customer id
            verbose:
              type: boolean
              description: More fields
              required: false
          hints:
            readOnly: true
            openWorld: false
          outputParameters:
            id:
              type: string
              value: "{{id}}"
        list:
          description: All customers
          call: crm.list-customers
      resources:
        guide:
          display: Guide
          uri: docs://guide.md
          description: The guide
          location: "file:///./docs/guide.md"
      prompts:
        summary:
          display: Summary
          description: Summarise
          arguments:
            id:
              description: Customer id
          template:
            - role: user
              content: "Summarise {{id}}"
"#;

fn edit(from: &str, to: &str) -> String {
    common::edit(BASE, from, to)
}

fn errors(text: &str) -> String {
    common::errors(FILE, text)
}

#[test]
fn mcp_model_is_complete() {
    let l = load_str(Path::new(FILE), BASE).expect("BASE loads");
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let Exposes::Mcp(m) = &l.capability.exposes[0] else {
        panic!("mcp expected")
    };
    assert_eq!(m.transport, McpTransport::Http);
    assert_eq!(m.port.as_ref().unwrap().value, 9000);
    assert_eq!(
        (m.ttl_ms, m.cache_scope.as_deref()),
        (Some(1000), Some("public"))
    );
    let t = &m.tools[0];
    assert_eq!(t.handler, Handler::Component);
    assert_eq!(t.display.as_deref(), Some("Get customer"));
    assert_eq!(t.input_parameters.len(), 2);
    assert!(t.input_parameters[0].required && !t.input_parameters[1].required);
    assert_eq!(
        (t.hints.read_only, t.hints.open_world, t.hints.idempotent),
        (Some(true), Some(false), None)
    );
    assert!(matches!(m.tools[1].handler, Handler::Call(_)));
    let McpResourceSource::Location(p) = &m.resources[0].source else {
        panic!("static resource expected")
    };
    assert_eq!(p.value, Path::new("/caps/./docs/guide.md"));
    let McpPromptBody::Template(msgs) = &m.prompts[0].body else {
        panic!("template expected")
    };
    assert_eq!(
        msgs,
        &vec![("user".to_string(), "Summarise {{id}}".to_string())]
    );
}

#[test]
fn a_component_tool_without_mock_output_parameters_is_a_warning() {
    let text = edit(
        "          outputParameters:\n            id:\n              type: string\n              value: \"{{id}}\"\n",
        "",
    );
    let l = load_str(Path::new(FILE), &text).expect("loads");
    let w: Vec<String> = l.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("capability.exposes[0].tools.get-customer: handled by the component; the upstream schema wants such a tool to declare mock 'outputParameters'"), "{w:?}");
}

#[test]
fn broken_tools_resources_and_prompts_are_named() {
    let e = errors(&edit(
        "            readOnly: true",
        "            readOnly: yes please",
    ));
    assert!(e.contains("crm.ikanos.yaml:33:23: capability.exposes[0].tools.get-customer.hints.readOnly: expected true or false, found a string"), "{e}");
    let e = errors(&edit(
        "              type: boolean",
        "              type: bool",
    ));
    assert!(e.contains("tools.get-customer.inputParameters.verbose.type: 'bool' is not one of string, number, integer, boolean, array, object"), "{e}");
    let e = errors(&edit(
        "          display: Get customer",
        "          displayName: Get customer",
    ));
    assert!(
        e.contains("unknown key 'displayName' in capability.exposes[0].tools.get-customer"),
        "{e}"
    );
    let e = errors(&edit(
        "          location: \"file:///./docs/guide.md\"",
        "          location: \"env://GUIDE\"",
    ));
    assert!(
        e.contains("resources.guide.location: 'env://GUIDE' must be a file:/// location"),
        "{e}"
    );
    let e = errors(&edit(
        "          location: \"file:///./docs/guide.md\"\n",
        "",
    ));
    assert!(
        e.contains("resources.guide: declare 'location' (static content) or 'call'/'steps'"),
        "{e}"
    );
    let e = errors(&edit(
        "            - role: user",
        "            - role: system",
    ));
    assert!(
        e.contains("prompts.summary.template[0].role: 'system' is not one of user, assistant"),
        "{e}"
    );
    let e = errors(&edit(
        "      cacheScope: public",
        "      cacheScope: shared",
    ));
    assert!(
        e.contains("cacheScope: 'shared' is not one of public, private"),
        "{e}"
    );
    let e = errors(&edit("      port: 9000\n", ""));
    assert!(
        e.contains(
            "missing required key 'port' in capability.exposes[0] (needed unless transport: stdio)"
        ),
        "{e}"
    );
}

#[test]
fn stdio_needs_no_port() {
    let l = load_str(
        Path::new(FILE),
        &edit("      port: 9000\n", "      transport: stdio\n"),
    )
    .expect("loads");
    let Exposes::Mcp(m) = &l.capability.exposes[0] else {
        panic!("mcp expected")
    };
    assert_eq!(m.transport, McpTransport::Stdio);
}
