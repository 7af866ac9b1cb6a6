//! MCP over streamable HTTP with raw requests, for what no client sends: malformed JSON,
//! unknown methods and sessions, the 2026-07-28 header rules, Origin checks, resource
//! reads that try to leave their folder; plus tracing and inbound authentication.

use serde_json::{json, Value};

use crate::support::fixtures::{self, McpTransport, BEARER_CRM_TOKEN};
use crate::support::{self, HostBuilder};

use super::harness::*;

#[test]
fn raw_http_errors_sessions_and_the_2026_07_28_header_rules() {
    let r = http_rig();
    let url = r.url.as_str();
    let json_headers = [("content-type", "application/json")];

    // Malformed JSON: a parse error, and the server keeps serving.
    let resp = support::send(
        "POST",
        url,
        &json_headers,
        "{\"jsonrpc\": \"2.0\", \"id\": 1, ",
    );
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["error"]["code"], -32700);
    assert_eq!(resp.json()["id"], Value::Null);
    let resp = support::send("POST", url, &json_headers, "[]");
    assert_eq!(
        (resp.status, resp.json()["error"]["code"].clone()),
        (400, json!(-32600))
    );
    let resp = support::send("POST", url, &[("content-type", "text/plain")], "{}");
    assert_eq!(resp.status, 415);
    let resp = support::send(
        "POST",
        url,
        &[
            ("content-type", "application/json"),
            ("accept", "text/html"),
        ],
        "{}",
    );
    assert_eq!(resp.status, 406);

    // Handshake era: a session is needed after initialize, and must be known.
    let resp = post(
        url,
        &[],
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    );
    assert_eq!(resp.status, 400, "{}", resp.body);
    assert!(resp.body.contains("Mcp-Session-Id"), "{}", resp.body);
    let resp = post(
        url,
        &[("mcp-session-id", "no-such-session")],
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    );
    assert_eq!(resp.status, 404);
    let init = post(
        url,
        &[],
        &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}),
    );
    assert_eq!(init.status, 200, "{}", init.body);
    assert_eq!(
        init.json()["result"]["protocolVersion"],
        "2025-06-18",
        "the client's revision, when served"
    );
    let session = init
        .header("mcp-session-id")
        .expect("a session id")
        .to_string();
    let with_session = [
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "2025-06-18"),
    ];
    let resp = post(
        url,
        &with_session,
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    assert_eq!(resp.status, 202);
    let resp = post(
        url,
        &with_session,
        &json!({"jsonrpc": "2.0", "id": 2, "method": "no/such/method"}),
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["error"]["code"], -32601);
    assert_eq!(resp.json()["id"], 2);
    let resp = post(
        url,
        &with_session,
        &json!({"jsonrpc": "2.0", "id": 3, "method": "ping"}),
    );
    assert_eq!(resp.json()["result"], json!({}));
    let resp = post(
        url,
        &with_session,
        &json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "via-call", "arguments": {}}}),
    );
    // Declared with `call`: the built-in declarative engine runs it.
    assert_eq!(resp.json()["result"]["isError"], false, "{}", resp.body);
    assert!(resp.body.contains("Grace Hopper"), "{}", resp.body);
    let read = |id: u32, uri: &str| {
        post(
            url,
            &with_session,
            &json!({"jsonrpc": "2.0", "id": id, "method": "resources/read", "params": {"uri": uri}}),
        )
    };
    let resp = read(5, "notes://hello.txt");
    assert_eq!(
        resp.json()["result"]["contents"][0]["text"],
        "hello from a note\n",
        "{}",
        resp.body
    );
    for (uri, what) in [
        ("notes://..%2Fsecrets.yaml", "no way out of the folder"),
        ("notes://leak.txt", "links are not followed"),
    ] {
        let resp = read(6, uri);
        assert_eq!(
            resp.json()["error"]["code"],
            -32002,
            "{what}: {}",
            resp.body
        );
        assert!(!resp.body.contains(fixtures::TOKEN));
    }
    // GET opens a session's stream: it must take SSE, and without a session there is
    // no stream to open.
    let resp = support::send("GET", url, &[("mcp-session-id", session.as_str())], "");
    assert_eq!(resp.status, 406, "{}", resp.body);
    let resp = support::send("GET", url, &[("accept", "text/event-stream")], "");
    assert_eq!(resp.status, 405);
    assert_eq!(resp.header("allow"), Some("GET, POST, DELETE"));
    let resp = support::send("DELETE", url, &[("mcp-session-id", session.as_str())], "");
    assert_eq!(resp.status, 204);
    let resp = post(
        url,
        &with_session,
        &json!({"jsonrpc": "2.0", "id": 7, "method": "ping"}),
    );
    assert_eq!(resp.status, 404, "the session is gone");
    let resp = support::send("DELETE", url, &[], "");
    assert_eq!(resp.status, 400);

    // 2026-07-28: no session, the envelope in _meta, headers that agree with the body.
    let discover = post(
        url,
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "server/discover"),
        ],
        &json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": meta()}}),
    );
    assert_eq!(discover.status, 200, "{}", discover.body);
    assert!(discover.header("mcp-session-id").is_none());
    let d = discover.json()["result"].clone();
    assert_eq!(d["supportedVersions"][0], "2026-07-28");
    assert!(d["supportedVersions"]
        .as_array()
        .unwrap()
        .contains(&json!("2025-11-25")));
    assert_eq!(d["resultType"], "complete");
    assert_eq!(d["ttlMs"], 5000);
    assert!(d["capabilities"]["tools"].is_object() && d["capabilities"]["prompts"].is_object());
    assert_eq!(
        d["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "crm-mcp"
    );
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "get-customer", "arguments": {"id": "3"}, "_meta": meta()}});
    let good = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "get-customer"),
    ];
    let resp = post(url, &good, &call);
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(
        resp.json()["result"]["structuredContent"]["name"],
        "Alan Turing"
    );
    for (headers, why) in [
        (
            vec![
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
            ],
            "no Mcp-Name",
        ),
        (
            vec![
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/list"),
                ("mcp-name", "get-customer"),
            ],
            "wrong Mcp-Method",
        ),
        (
            vec![
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "list-customers"),
            ],
            "wrong Mcp-Name",
        ),
        (
            vec![("mcp-method", "tools/call"), ("mcp-name", "get-customer")],
            "no MCP-Protocol-Version",
        ),
    ] {
        let resp = post(url, &headers, &call);
        assert_eq!(resp.status, 400, "{why}: {}", resp.body);
        assert_eq!(resp.json()["error"]["code"], -32020, "{why}: {}", resp.body);
        assert_eq!(resp.json()["id"], 2);
    }
    // A stateless (2026-07-28) request with its two headers.
    let stateless = |version: &str, method: &str, body: &serde_json::Value| {
        post(
            url,
            &[("mcp-protocol-version", version), ("mcp-method", method)],
            body,
        )
    };
    let future = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2099-01-01", "io.modelcontextprotocol/clientCapabilities": {}}}});
    let resp = stateless("2099-01-01", "tools/list", &future);
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["error"]["code"], -32022);
    assert_eq!(
        resp.json()["error"]["data"]["supported"],
        json!(["2026-07-28"])
    );
    let no_meta = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": {}});
    let resp = stateless("2026-07-28", "tools/list", &no_meta);
    assert_eq!(
        (resp.status, resp.json()["error"]["code"].clone()),
        (400, json!(-32602))
    );
    let unknown =
        json!({"jsonrpc": "2.0", "id": 5, "method": "no/such/method", "params": {"_meta": meta()}});
    let resp = stateless("2026-07-28", "no/such/method", &unknown);
    assert_eq!(resp.status, 404);
    assert_eq!(resp.json()["error"]["code"], -32601);
    let handshake = json!({"jsonrpc": "2.0", "id": 6, "method": "initialize", "params": {"protocolVersion": "2026-07-28", "_meta": meta()}});
    let resp = stateless("2026-07-28", "initialize", &handshake);
    assert_eq!(
        (resp.status, resp.json()["error"]["code"].clone()),
        (404, json!(-32601)),
        "no handshake in 2026-07-28: {}",
        resp.body
    );
    let resp = post(
        url,
        &[("mcp-protocol-version", "2026-07-28")],
        &json!({"jsonrpc": "2.0", "method": "notifications/cancelled"}),
    );
    assert_eq!(resp.status, 202);

    // A page on another site may not drive the server (DNS rebinding).
    let resp = post(
        url,
        &[("origin", "https://evil.example")],
        &json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
    );
    assert_eq!(resp.status, 403);
    let resp = support::send(
        "POST",
        &url.replace("/mcp", "/elsewhere"),
        &json_headers,
        "{}",
    );
    assert_eq!(resp.status, 404);

    // Still serving after all of that.
    let resp = post(url, &good, &call);
    assert_eq!(resp.status, 200);
}

#[test]
fn tool_calls_are_traced_like_rest_requests() {
    use crate::support::collector::Collector;
    let c = support::components();
    let collector = Collector::start();
    let r = rig(McpTransport::Http);
    let host = HostBuilder::new(&r.file)
        .component(&c.crm_sidecar)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint())
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .start(0);
    let url = mcp_url(&host, "crm-mcp");
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace}-{caller}-01");
    let resp = post(
        &url,
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "get-customer"),
            ("traceparent", &traceparent),
        ],
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get-customer", "arguments": {"id": "1"}, "_meta": meta()}}),
    );
    assert_eq!(resp.json()["result"]["isError"], false, "{}", resp.body);
    let upstream_tp = r.upstream.requests()[0]
        .header("traceparent")
        .expect("traceparent reaches the upstream")
        .to_string();
    assert_eq!(upstream_tp.split('-').nth(1), Some(trace), "{upstream_tp}");
    let spans = collector.wait_for_spans(trace, &["request", "consumed_call"]);
    let (request, call) = (&spans[0], &spans[1]);
    assert_eq!(
        request.parent_span_id, caller,
        "the MCP request continues the caller's trace"
    );
    assert_eq!(call.parent_span_id, request.span_id);
}

#[test]
fn authentication_on_the_mcp_endpoint_is_checked() {
    let c = support::components();
    let r = rig_with(McpTransport::Http, Some(BEARER_CRM_TOKEN));
    let host = HostBuilder::new(&r.file).component(&c.crm_sidecar).start(0);
    let url = mcp_url(&host, "crm-mcp");
    let discover = json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": meta()}});
    let headers = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "server/discover"),
    ];
    let resp = post(&url, &headers, &discover);
    assert_eq!(resp.status, 401, "{}", resp.body);
    assert_eq!(resp.header("www-authenticate"), Some("Bearer"));
    let wrong = [
        headers[0],
        headers[1],
        ("authorization", "Bearer not-the-token"),
    ];
    assert_eq!(post(&url, &wrong, &discover).status, 401);
    let bearer = format!("Bearer {}", fixtures::TOKEN);
    let right = [headers[0], headers[1], ("authorization", bearer.as_str())];
    let resp = post(&url, &right, &discover);
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.json()["result"]["supportedVersions"][0], "2026-07-28");
}

/// One raw HTTP/1.1 exchange with the given Host and Origin: the status code.
fn raw_status(url: &str, method: &str, host: &str, origin: Option<&str>, body: &str) -> u16 {
    use std::io::{Read, Write};
    let authority = url.trim_start_matches("http://").split('/').next().unwrap();
    let path = &url[url.find(authority).unwrap() + authority.len()..];
    let path = if path.is_empty() { "/" } else { path };
    let mut s = std::net::TcpStream::connect(authority).unwrap();
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{origin}Content-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer}"))
}

/// What a browser sends after DNS rebinding — the attacker's name as Host and Origin —
/// is refused by the MCP endpoint and the control port of a loopback host, while the
/// same requests under a loopback name are answered.
#[test]
fn dns_rebinding_is_refused_on_loopback_listeners() {
    let r = http_rig();
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
    let control = format!("{}/health/ready", r.host.control_url());
    let authority = |url: &str| {
        url.trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_string()
    };
    let (mcp_port, control_port) = (
        authority(&r.url).rsplit_once(':').unwrap().1.to_string(),
        authority(&control).rsplit_once(':').unwrap().1.to_string(),
    );
    let evil = Some("http://evil.example.com");
    let cases: Vec<(&str, &str, String, Option<&str>, u16)> = vec![
        (
            "mcp: rebound Host and Origin",
            &r.url,
            "evil.example.com".into(),
            evil,
            403,
        ),
        (
            "mcp: rebound Host alone",
            &r.url,
            format!("evil.example.com:{mcp_port}"),
            None,
            403,
        ),
        (
            "mcp: loopback Host, foreign Origin",
            &r.url,
            format!("127.0.0.1:{mcp_port}"),
            evil,
            403,
        ),
        (
            "control: rebound Host and Origin",
            &control,
            "evil.example.com".into(),
            evil,
            403,
        ),
        (
            "control: loopback Host, foreign Origin",
            &control,
            format!("localhost:{control_port}"),
            evil,
            403,
        ),
        (
            "control: localhost",
            &control,
            format!("localhost:{control_port}"),
            None,
            200,
        ),
    ];
    let mut broken = Vec::new();
    for (name, url, host, origin, want) in &cases {
        let method = if url.ends_with("/mcp") { "POST" } else { "GET" };
        let body = if method == "POST" { ping } else { "" };
        let got = raw_status(url, method, host, *origin, body);
        if got != *want {
            broken.push(format!("{name}: expected {want}, got {got}"));
        }
    }
    assert!(broken.is_empty(), "broken rules:\n{}", broken.join("\n"));
    // A loopback client under a loopback name is still answered by MCP.
    let mcp_host = format!("localhost:{mcp_port}");
    let status = raw_status(&r.url, "POST", &mcp_host, None, ping);
    assert_ne!(status, 403, "a loopback name must be answered");
}
