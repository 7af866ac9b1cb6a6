//! MCP tool calls into the hostile test component: arguments as inputs and body, and
//! traps, runaway loops and error statuses as tool errors.

use serde_json::{json, Value};

use crate::support::{self, HostBuilder};

use super::harness::*;

/// The argument mapping and the failure results, with the hostile test component.
#[test]
fn tool_arguments_reach_the_component_as_inputs_and_body_and_failures_are_tool_errors() {
    let c = support::components();
    let dir = tempfile::tempdir().unwrap();
    let text = r#"ikanos: "1.0.0-beta5"
capability:
  exposes:
    - type: "mcp"
      port: 0
      namespace: "hostile-mcp"
      tools:
        echo:
          description: "Echoes what it receives."
          inputParameters:
            name:
              type: "string"
              description: "A string."
            count:
              type: "integer"
              description: "An integer."
            tags:
              type: "array"
              description: "An array."
              required: false
        trap:
          description: "Traps."
        spin:
          description: "Spins forever."
        status:
          description: "Answers with an HTTP status."
          inputParameters:
            code:
              type: "string"
              description: "The status."
"#;
    let file = support::write(dir.path(), "hostile-mcp.ikanos.yaml", text);
    let host = HostBuilder::new(&file)
        .component(&c.hostile)
        .arg("--cpu-limit")
        .arg("200ms")
        .start(0);
    let url = mcp_url(&host, "hostile-mcp");
    let call = |tool: &str, arguments: Value| -> Value {
        let resp = post(
            &url,
            &[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
                ("mcp-name", tool),
            ],
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments, "_meta": meta()}}),
        );
        assert_eq!(resp.status, 200, "{}", resp.body);
        resp.json()["result"].clone()
    };

    let echo = call(
        "echo",
        json!({"name": "Ada", "count": 3, "tags": ["a", "b"]}),
    );
    assert_eq!(echo["isError"], false, "{echo}");
    let seen = &echo["structuredContent"];
    assert_eq!(seen["operation"], "echo");
    assert_eq!(
        seen["inputs"],
        json!({"name": "Ada", "count": "3", "tags": "[\"a\",\"b\"]"}),
        "strings as they are, other values as JSON text"
    );
    let body: Value = serde_json::from_str(seen["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"name": "Ada", "count": 3, "tags": ["a", "b"]}),
        "the arguments are the body"
    );

    let trap = call("trap", json!({}));
    assert_eq!(trap["isError"], true);
    let text = trap["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("trapped") && text.contains("request id"),
        "{text}"
    );

    let spin = call("spin", json!({}));
    assert_eq!(spin["isError"], true);
    assert!(
        spin["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("CPU time limit"),
        "{spin}"
    );

    let status = call("status", json!({"code": "503"}));
    assert_eq!(
        status["isError"], true,
        "a status of 400 or more is a tool error: {status}"
    );
    assert_eq!(status["content"][0]["text"], "status");

    // The host is still healthy after the trap and the runaway loop.
    assert_eq!(
        call("echo", json!({"name": "x", "count": 1}))["isError"],
        false
    );
}
