//! MCP adapters under `ikanos serve`: served on the shared listener and own ports, stdio
//! reported, and a replaced MCP capability finishing its calls and keeping its sessions,
//! which hear `notifications/tools/list_changed` (raw, and with both client SDKs).

use crate::support::fixtures::{self, Capability, Exposes, McpTransport, TOKEN};
use crate::support::serve::{hostile_capability, hostile_folder, write_atomic, ServeBuilder};
use crate::support::upstream::Upstream;
use crate::support::*;

use super::harness::*;

/// The MCP test capability of tests/e2e/mcp.rs (the crm-sidecar component's operations
/// as tools, a resource file and folder, a prompt) in its own folder `caps/name/`.
fn mcp_folder(caps: &std::path::Path, name: &str, transport: McpTransport, crm: &Upstream) {
    let folder = caps.join(name);
    std::fs::create_dir_all(folder.join("notes")).unwrap();
    fixtures::secrets(&folder);
    write(&folder, "guide.md", crate::mcp::harness::GUIDE);
    write(&folder.join("notes"), "hello.txt", "hello from a note\n");
    std::fs::copy(
        &components().crm_sidecar,
        folder.join(format!("{name}.wasm")),
    )
    .unwrap();
    let text = Capability::mcp("MCP test capability", &crm.base(), transport).render();
    write_atomic(&folder.join(format!("{name}.ikanos.yaml")), &text);
}

#[test]
fn mcp_adapters_are_served_on_the_shared_listener_and_own_ports_and_stdio_is_reported() {
    use crate::mcp::harness::{check_scenario, clients_dir, node, node_script, python, run_client};
    let upstream = crm();
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path();
    // The capability's name is the MCP server's name the clients check.
    mcp_folder(caps, "crm-mcp", McpTransport::Http, &upstream);
    mcp_folder(caps, "local", McpTransport::Stdio, &upstream);
    let serve = ServeBuilder::new(caps).start();
    serve.wait_for("crm-mcp", "ready", |c| {
        c.is_some_and(|c| c["state"] == "ready")
    });
    let py = clients_dir().join("python_client.py").display().to_string();

    // The shared listener: `/{capability}/mcp/{namespace}`, and `/{capability}/mcp`
    // for the first MCP adapter.
    let shared = serve.url("crm-mcp", "/mcp/crm-mcp");
    let out = run_client(
        &python(),
        &[py.clone(), "http".into(), shared, "auto".into()],
    );
    check_scenario(&out, "2026-07-28", &upstream);
    let first = serve.url("crm-mcp", "/mcp");
    let out = run_client(&python(), &[py, "http".into(), first, "legacy".into()]);
    check_scenario(&out, "2025-11-25", &upstream);
    assert_eq!(out["ping"], true);

    // Its own port, at `/mcp` as with `ikanos run`.
    let own = format!("{}/mcp", serve.own_url("crm-mcp", "crm-mcp"));
    let ts = node_script().display().to_string();
    let out = run_client(&node(), &[ts, "http".into(), own]);
    check_scenario(&out, "2025-11-25", &upstream);
    assert!(out["sessionId"].as_str().is_some_and(|s| !s.is_empty()));

    // A namespace the capability does not have.
    let r = post(&serve.url("crm-mcp", "/mcp/nope"), "application/json", "{}");
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body.contains("/crm-mcp/mcp/crm-mcp"), "{}", r.body);

    // Status and readiness: the HTTP adapter listens on its port; the stdio one is
    // reported with why, and does not make its capability not ready.
    let c = serve.capability("crm-mcp").unwrap();
    let adapter = &c["adapters"][0];
    assert_eq!(adapter["type"], "mcp", "{c}");
    assert_eq!(adapter["state"], "listening", "{c}");
    assert!(adapter["address"].is_string(), "{c}");
    let local = serve.capability("local").unwrap();
    assert_eq!(local["state"], "ready", "{local}");
    let stdio = &local["adapters"][0];
    assert_eq!(stdio["type"], "mcp", "{local}");
    assert_eq!(stdio["state"], "unsupported", "{local}");
    assert!(
        stdio["reason"]
            .as_str()
            .unwrap()
            .contains("transport: stdio is not served by `ikanos serve`"),
        "{local}"
    );
    let ready = get(&format!("{}/health/ready", serve.control));
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert!(
        ready.body.contains("transport: stdio is not served"),
        "{}",
        ready.body
    );
    assert_eq!(
        get(&format!("{}/health/ready/local", serve.control)).status,
        200
    );
    assert!(serve
        .all_output()
        .contains("mcp adapter not served: transport: stdio"));

    // MCP metrics carry the capability, as REST's do.
    let m = metrics(&serve);
    let line = m
        .lines()
        .find(|l| {
            l.starts_with("ikanos_request_total{capability=\"crm-mcp\",ikanos_adapter_type=\"mcp\",ikanos_operation_id=\"get-customer\"")
        })
        .unwrap_or_else(|| panic!("no get-customer line:\n{m}"));
    assert!(
        line.trim_end().ends_with(" 6"),
        "three clients, one ok and one failing call each: {line}"
    );
    assert!(
        m.contains(
            "ikanos_request_errors_total{capability=\"crm-mcp\",ikanos_adapter_type=\"mcp\""
        ),
        "{m}"
    );
    assert!(!serve.all_output().contains(TOKEN));
    assert!(!m.contains(TOKEN));
}

/// The hostile capability with an MCP entry too: tool `call` is the component's `call`
/// operation (`ns`, `op`: the consumed operation to call).
fn agent_text(display: &str, crm: &str, gate: &str) -> String {
    hostile_capability(display, crm, Some(gate))
        .exposes(Exposes::Literal(AGENT_TOOL.into()))
        .render()
}

/// An MCP entry with one tool, `call`.
const AGENT_TOOL: &str = "    - type: \"mcp\"\n      namespace: \"agents\"\n      port: 0\n      tools:\n        call:\n          description: \"Call a consumed operation.\"\n          inputParameters:\n            ns:\n              type: \"string\"\n              description: \"Namespace.\"\n            op:\n              type: \"string\"\n              description: \"Operation.\"\n          outputParameters:\n            status:\n              type: \"number\"\n              value: 200\n";

fn mcp_post(url: &str, headers: &[(&str, &str)], body: &serde_json::Value) -> Resp {
    crate::mcp::harness::post(url, headers, body)
}

#[test]
fn replacing_an_mcp_capability_finishes_its_calls_and_keeps_its_sessions() {
    let upstream = crm();
    let gate = Gate::start();
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path();
    let file = hostile_folder(caps, "agent", "Agent v1", &upstream.base(), None, TOKEN);
    write_atomic(
        &file,
        &agent_text("Agent v1", &upstream.base(), &gate.base()),
    );
    let serve = ServeBuilder::new(caps).start();
    serve.wait_for("agent", "loaded", |c| {
        c.is_some_and(|c| c["display"] == "Agent v1" && c["state"] == "ready")
    });
    let v1 = generation(&serve, "agent");
    let shared = serve.url("agent", "/mcp/agents");
    let own = format!("{}/mcp", serve.own_url("agent", "agents"));

    // A session of the handshake revisions on v1.
    let init = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}});
    let r = mcp_post(&shared, &[], &init);
    assert_eq!(r.status, 200, "{}", r.body);
    let session = r.header("mcp-session-id").expect("a session").to_string();
    let r = mcp_post(
        &shared,
        &[("mcp-session-id", &session)],
        &serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    assert_eq!(r.status, 202, "{}", r.body);

    // Two calls held at the gate: one in the session on the shared listener, one
    // stateless (2026-07-28) on the own port.
    let call = |id: u64, meta: bool| {
        let mut params =
            serde_json::json!({"name": "call", "arguments": {"ns": "gate", "op": "hold"}});
        if meta {
            params["_meta"] = crate::mcp::harness::meta();
        }
        serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
    };
    let held_session = {
        let (url, body, session) = (shared.clone(), call(2, false), session.clone());
        std::thread::spawn(move || mcp_post(&url, &[("mcp-session-id", &session)], &body))
    };
    let held_stateless = {
        let (url, body) = (own.clone(), call(3, true));
        std::thread::spawn(move || {
            mcp_post(
                &url,
                &[
                    ("mcp-protocol-version", "2026-07-28"),
                    ("mcp-method", "tools/call"),
                    ("mcp-name", "call"),
                ],
                &body,
            )
        })
    };
    gate.wait_arrived(2, &serve);
    // The session's stream of server-initiated messages.
    let stream = crate::support::sse::open(
        "GET",
        &shared,
        &[
            ("accept", "text/event-stream"),
            ("mcp-session-id", &session),
        ],
        "",
    );
    assert_eq!(stream.status, 200);
    assert_eq!(stream.content_type, "text/event-stream");

    // Replace the capability while both are held.
    write_atomic(
        &file,
        &agent_text("Agent v2", &upstream.base(), &gate.base()),
    );
    serve.wait_for("agent", "replaced", |c| {
        c.is_some_and(|c| c["display"] == "Agent v2")
    });
    assert!(generation(&serve, "agent") > v1);
    assert!(!held_session.is_finished() && !held_stateless.is_finished());

    // The session carries over to the new version and hears that the tools changed
    // (on its stream, numbered for Last-Event-ID); a new initialize works too.
    let changed = stream.until(std::time::Duration::from_secs(30), |e| {
        e.data["method"] == "notifications/tools/list_changed"
    });
    assert!(changed.id.is_some(), "{changed:?}");
    let list = serde_json::json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list"});
    let r = mcp_post(&shared, &[("mcp-session-id", &session)], &list);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["result"]["tools"][0]["name"], "call", "{}", r.body);
    let r = mcp_post(&own, &[], &init);
    assert_eq!(r.status, 200, "{}", r.body);
    let fresh = r.header("mcp-session-id").expect("a session").to_string();
    let r = mcp_post(&own, &[("mcp-session-id", &fresh)], &list);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["result"]["tools"][0]["name"], "call", "{}", r.body);

    // The held calls finish on the version they started on, with their answers.
    gate.open();
    for held in [held_session, held_stateless] {
        let r = held.join().unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        assert_eq!(v["result"]["isError"], false, "{v}");
        assert!(
            v["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("released"),
            "{v}"
        );
    }
    let m = metrics(&serve);
    assert!(
        m.contains("ikanos_request_total{capability=\"agent\",ikanos_adapter_type=\"mcp\",ikanos_operation_id=\"call\",http_request_method=\"POST\",http_response_status_code=\"200\"} 2"),
        "{m}"
    );
}

/// A second tool, added and removed by replacements so each client sees a change.
const EXTRA_TOOL: &str = "        ping:\n          description: \"Added by a replacement.\"\n          outputParameters:\n            ok:\n              type: \"string\"\n              value: \"yes\"\n";

#[test]
fn both_sdks_hear_that_a_replaced_capability_changed_its_tools() {
    use crate::mcp::harness::{clients_dir, node, python, run_interactive};
    let upstream = crm();
    let gate = Gate::start();
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path();
    let file = hostile_folder(caps, "agent", "Agent v1", &upstream.base(), None, TOKEN);
    let text = |display: &str, extra: bool| {
        let tools = if extra {
            format!("{AGENT_TOOL}{EXTRA_TOOL}")
        } else {
            AGENT_TOOL.to_string()
        };
        hostile_capability(display, &upstream.base(), Some(&gate.base()))
            .exposes(Exposes::Literal(tools))
            .render()
    };
    write_atomic(&file, &text("Agent v1", false));
    let serve = ServeBuilder::new(caps).start();
    serve.wait_for("agent", "loaded", |c| {
        c.is_some_and(|c| c["display"] == "Agent v1" && c["state"] == "ready")
    });
    let url = serve.url("agent", "/mcp/agents");
    let ts = clients_dir().join("ts_streams.mjs").display().to_string();
    let py = clients_dir()
        .join("python_streams.py")
        .display()
        .to_string();
    let clients: [(&str, std::path::PathBuf, Vec<String>); 3] = [
        (
            "typescript",
            node(),
            vec![ts, "replacement".into(), url.clone()],
        ),
        (
            "python legacy",
            python(),
            vec![
                py.clone(),
                "replacement".into(),
                "legacy".into(),
                url.clone(),
            ],
        ),
        (
            "python auto",
            python(),
            vec![py, "replacement".into(), "auto".into(), url.clone()],
        ),
    ];
    let mut extra = false;
    for (round, (who, program, args)) in clients.into_iter().enumerate() {
        let display = format!("Agent v{}", round + 2);
        extra = !extra;
        let out = run_interactive(&program, &args, || {
            write_atomic(&file, &text(&display, extra));
            serve.wait_for("agent", "replaced", |c| {
                c.is_some_and(|c| c["display"] == display.as_str())
            });
        });
        let (before, after) = if extra {
            (
                serde_json::json!(["call"]),
                serde_json::json!(["call", "ping"]),
            )
        } else {
            (
                serde_json::json!(["call", "ping"]),
                serde_json::json!(["call"]),
            )
        };
        assert_eq!(out["before"], before, "{who}: {out}");
        assert_eq!(out["after"], after, "{who}: {out}");
        match who {
            "python auto" => assert_eq!(out["event"], "ToolsListChanged", "{who}: {out}"),
            "python legacy" => assert_eq!(
                out["event"], "notifications/tools/list_changed",
                "{who}: {out}"
            ),
            _ => assert!(out["listChanged"].as_u64().unwrap() >= 1, "{who}: {out}"),
        }
    }
}
