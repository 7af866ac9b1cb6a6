//! MCP exposes, end to end: the real `ikanos` binary serving the crm-sidecar component's
//! operations as MCP tools, driven by the official MCP client SDKs (Python `mcp` and
//! TypeScript `@modelcontextprotocol/sdk`, installed by scripts/setup into
//! tests/mcp-clients) over streamable HTTP and over stdio, plus raw HTTP requests for
//! what no client sends: malformed JSON, unknown methods and sessions, the 2026-07-28
//! header rules, Origin checks.
//!
//! Which revision each client speaks (asserted below): Python `mcp` 2.3.0 in its
//! default `auto` mode probes `server/discover` and speaks the stateless 2026-07-28
//! revision; in `legacy` mode, and the TypeScript SDK 1.32 always, the `initialize`
//! handshake, negotiated to 2025-11-25.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{self, fixtures, upstream, HostBuilder};

pub(crate) const GUIDE: &str = "# CRM field guide\n\nA customer has an id, a name and an email.\n";

pub(crate) fn clients_dir() -> PathBuf {
    support::repo_root().join("tests/mcp-clients")
}

pub(crate) fn python() -> PathBuf {
    let p = clients_dir().join(".venv/bin/python");
    assert!(
        p.is_file(),
        "{} is missing: run scripts/setup (it installs the MCP client SDKs the MCP tests use)",
        p.display()
    );
    p
}

pub(crate) fn node_script() -> PathBuf {
    let sdk = clients_dir().join("node_modules/@modelcontextprotocol/sdk/package.json");
    assert!(
        sdk.is_file(),
        "{} is missing: run scripts/setup (it runs npm ci in tests/mcp-clients)",
        sdk.display()
    );
    clients_dir().join("ts_client.mjs")
}

/// The MCP exposes of the test capability: the crm-sidecar component's operations as
/// tools, a static resource (a file and a folder template) and prompts.
pub(crate) fn mcp_exposes(transport: &str) -> String {
    let socket = if transport == "stdio" {
        "      transport: \"stdio\"\n".to_string()
    } else {
        "      address: \"127.0.0.1\"\n      port: 0\n".to_string()
    };
    format!(
        r#"  exposes:
    - type: "mcp"
{socket}      namespace: "crm-mcp"
      description: "Customer lookups for agents."
      ttlMs: 5000
      tools:
        list-customers:
          display: "List customers"
          description: "List customers, at most `limit`."
          inputParameters:
            limit:
              type: "integer"
              description: "Maximum number of customers."
              required: false
          hints:
            readOnly: true
          outputParameters:
            customers:
              type: "string"
              value: "[]"
        get-customer:
          display: "Get customer"
          description: "One customer by id."
          inputParameters:
            id:
              type: "string"
              description: "Customer id."
          hints:
            readOnly: true
            idempotent: true
            openWorld: false
          outputParameters:
            id:
              type: "string"
              value: "{{{{id}}}}"
        via-call:
          description: "Declared with call, which this host does not run."
          call: "crm.list-customers"
      resources:
        guide:
          display: "CRM guide"
          uri: "docs://crm/guide.md"
          description: "What the fields mean."
          mimeType: "text/markdown"
          location: "file:///./guide.md"
        notes:
          display: "Notes"
          uri: "notes://{{name}}"
          description: "One note by file name."
          location: "file:///./notes"
      prompts:
        customer-summary:
          display: "Customer summary"
          description: "Summarise one customer."
          arguments:
            id:
              description: "Customer id."
            tone:
              description: "Tone."
              required: false
          template:
            - role: "user"
              content: "Fetch customer {{{{id}}}} and summarise it in a {{{{tone}}}} tone."
"#
    )
}

struct Rig {
    upstream: upstream::Upstream,
    dir: tempfile::TempDir,
    file: PathBuf,
}

fn rig(transport: &str) -> Rig {
    let upstream = upstream::Upstream::start(upstream::Auth {
        bearer: Some(fixtures::TOKEN.into()),
        ..upstream::Auth::default()
    });
    let dir = tempfile::tempdir().unwrap();
    fixtures::secrets(dir.path());
    support::write(dir.path(), "guide.md", GUIDE);
    std::fs::create_dir(dir.path().join("notes")).unwrap();
    support::write(
        &dir.path().join("notes"),
        "hello.txt",
        "hello from a note\n",
    );
    // A link out of the folder that a read must not follow.
    std::os::unix::fs::symlink(
        dir.path().join("secrets.yaml"),
        dir.path().join("notes/leak.txt"),
    )
    .unwrap();
    let text = format!(
        "{}{}{}",
        fixtures::header("MCP test capability"),
        fixtures::crm_consumes(&upstream.base()),
        mcp_exposes(transport)
    );
    let file = support::write(dir.path(), "crm-mcp.ikanos.yaml", &text);
    Rig {
        upstream,
        dir,
        file,
    }
}

struct HttpRig {
    rig: Rig,
    host: support::Host,
    url: String,
}

fn http_rig() -> HttpRig {
    let c = support::components();
    let rig = rig("http");
    let host = HostBuilder::new(&rig.file)
        .component(&c.crm_sidecar)
        .start(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = loop {
        if let Some(a) = host.adapter_addr("mcp", "crm-mcp") {
            break a;
        }
        assert!(
            Instant::now() < deadline,
            "no mcp listening line:\n{}",
            host.all_output()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    HttpRig {
        rig,
        host,
        url: format!("http://{addr}/mcp"),
    }
}

/// The `ikanos run` command line an MCP client launches for the stdio transport.
fn stdio_command(file: &Path) -> Vec<String> {
    let c = support::components();
    vec![
        env!("CARGO_BIN_EXE_ikanos").to_string(),
        "run".into(),
        file.display().to_string(),
        "--component".into(),
        c.crm_sidecar.display().to_string(),
        "--control".into(),
        "127.0.0.1:0".into(),
        "--cache-dir".into(),
        support::shared_cache_dir().display().to_string(),
    ]
}

/// Run a client script to completion (killed if it hangs) and parse its JSON output.
pub(crate) fn run_client(program: &Path, args: &[String]) -> Value {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(clients_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
    let deadline = Instant::now() + Duration::from_secs(180);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} {args:?} failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        program.display(),
        out.status
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("client output is not JSON ({e}): {stdout}\nstderr: {stderr}"))
}

pub(crate) fn node() -> PathBuf {
    PathBuf::from("node")
}

/// What every client must have seen, whatever the transport and revision.
pub(crate) fn check_scenario(out: &Value, version: &str, upstream: &upstream::Upstream) {
    let ctx = || serde_json::to_string_pretty(out).unwrap();
    assert_eq!(out["protocolVersion"], version, "{}", ctx());
    assert_eq!(out["serverInfo"]["name"], "crm-mcp", "{}", ctx());
    assert_eq!(out["instructions"], "Customer lookups for agents.");

    let tools = out["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["list-customers", "get-customer", "via-call"],
        "{}",
        ctx()
    );
    let get = &tools[1];
    assert_eq!(get["title"], "Get customer");
    assert_eq!(get["description"], "One customer by id.");
    assert_eq!(
        get["inputSchema"],
        json!({"type": "object", "properties": {"id": {"type": "string", "description": "Customer id."}}, "required": ["id"]})
    );
    assert_eq!(
        get["annotations"],
        json!({"title": "Get customer", "readOnlyHint": true, "idempotentHint": true, "openWorldHint": false})
    );
    assert!(
        tools[0]["inputSchema"].get("required").is_none(),
        "limit is optional"
    );

    // A call that reaches the consumed API through the host.
    let ok = &out["ok"];
    assert_eq!(ok["isError"], false, "{}", ctx());
    assert_eq!(ok["structuredContent"]["name"], "Grace Hopper");
    assert!(ok["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("Grace Hopper"));
    let seen = upstream.requests();
    let call = seen
        .iter()
        .find(|r| r.path == "/customers/2")
        .expect("the upstream saw GET /customers/2");
    assert_eq!(
        call.header("authorization"),
        Some(format!("Bearer {}", fixtures::TOKEN).as_str()),
        "the host added the bearer token"
    );

    // The component's not-found is a tool error with a useful message.
    let fail = &out["fail"];
    assert_eq!(fail["isError"], true, "{}", ctx());
    let text = fail["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("not found") && text.contains("99"), "{text}");

    let bad = &out["badArgs"];
    assert_eq!(bad["isError"], true);
    assert!(bad["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("'limit' must be of type integer"));
    assert!(out["unknownTool"]["message"]
        .as_str()
        .unwrap()
        .contains("Unknown tool: no-such-tool"));
    assert_eq!(out["unknownTool"]["code"], -32602);

    assert_eq!(
        out["resources"],
        json!([{"uri": "docs://crm/guide.md", "name": "guide", "title": "CRM guide", "description": "What the fields mean.", "mimeType": "text/markdown"}])
    );
    assert_eq!(out["templates"][0]["uriTemplate"], "notes://{name}");
    assert_eq!(out["read"]["contents"][0]["text"], GUIDE);
    assert_eq!(out["read"]["contents"][0]["mimeType"], "text/markdown");

    assert_eq!(out["prompts"][0]["name"], "customer-summary");
    assert_eq!(
        out["prompts"][0]["arguments"][0],
        json!({"name": "id", "description": "Customer id.", "required": true})
    );
    assert_eq!(
        out["prompt"]["messages"][0],
        json!({"role": "user", "content": {"type": "text", "text": "Fetch customer 2 and summarise it in a formal tone."}})
    );
    if version == "2026-07-28" {
        assert_eq!(out["ok"]["resultType"], "complete");
        assert_eq!(out["read"]["ttlMs"], 5000);
        assert_eq!(out["read"]["cacheScope"], "private");
    }
}

#[test]
fn python_sdk_over_http_speaks_2026_07_28_by_default_and_the_handshake_in_legacy_mode() {
    let r = http_rig();
    let script = clients_dir().join("python_client.py").display().to_string();
    let out = run_client(
        &python(),
        &[script.clone(), "http".into(), r.url.clone(), "auto".into()],
    );
    check_scenario(&out, "2026-07-28", &r.rig.upstream);
    let out = run_client(
        &python(),
        &[script, "http".into(), r.url.clone(), "legacy".into()],
    );
    check_scenario(&out, "2025-11-25", &r.rig.upstream);
    assert_eq!(out["ping"], true);

    // Both eras show in the metrics as MCP requests.
    let metrics = support::get(&format!("{}/metrics", r.host.control_url())).body;
    let line = |needle: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with("ikanos_request_total{") && l.contains(needle))
            .unwrap_or_else(|| panic!("no ikanos_request_total line with {needle}:\n{metrics}"))
            .to_string()
    };
    let ok = line("ikanos_operation_id=\"get-customer\"");
    assert!(
        ok.contains("ikanos_adapter_type=\"mcp\"") && ok.contains("http_request_method=\"POST\""),
        "{ok}"
    );
    assert!(
        ok.trim_end().ends_with(" 4"),
        "two ok and two failing get-customer calls: {ok}"
    );
    line("ikanos_operation_id=\"server/discover\"");
    line("ikanos_operation_id=\"initialize\"");
    let errors: Vec<&str> = metrics
        .lines()
        .filter(|l| {
            l.starts_with("ikanos_request_errors_total{")
                && l.contains("ikanos_adapter_type=\"mcp\"")
        })
        .collect();
    assert!(
        errors
            .iter()
            .any(|l| l.contains("ikanos_operation_id=\"get-customer\"")
                && l.contains("error_type=\"handler\"")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|l| l.contains("error_type=\"invalid_input\"")),
        "{errors:?}"
    );
    let ready = support::wait_ready(&r.host, 200);
    assert!(
        ready.to_string().contains("\"type\":\"mcp\""),
        "readiness lists the mcp adapter: {ready}"
    );
    assert!(
        !r.host.all_output().contains(fixtures::TOKEN),
        "the token never reaches the logs"
    );
}

#[test]
fn python_sdk_over_stdio_in_both_modes() {
    let r = rig("stdio");
    let script = clients_dir().join("python_client.py").display().to_string();
    for (mode, version) in [("auto", "2026-07-28"), ("legacy", "2025-11-25")] {
        let mut args = vec![script.clone(), "stdio".into(), mode.into()];
        args.extend(stdio_command(&r.file));
        let out = run_client(&python(), &args);
        check_scenario(&out, version, &r.upstream);
    }
    drop(r.dir);
}

#[test]
fn typescript_sdk_over_http_and_stdio_negotiates_2025_11_25() {
    let r = http_rig();
    let script = node_script().display().to_string();
    let out = run_client(&node(), &[script.clone(), "http".into(), r.url.clone()]);
    check_scenario(&out, "2025-11-25", &r.rig.upstream);
    assert!(
        out["sessionId"].as_str().is_some_and(|s| !s.is_empty()),
        "a session was opened"
    );

    let s = rig("stdio");
    let mut args = vec![script, "stdio".into()];
    args.extend(stdio_command(&s.file));
    let out = run_client(&node(), &args);
    check_scenario(&out, "2025-11-25", &s.upstream);
}

pub(crate) fn meta() -> Value {
    json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}})
}

pub(crate) fn post(url: &str, headers: &[(&str, &str)], body: &Value) -> support::Resp {
    let mut all = vec![
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
    ];
    all.extend_from_slice(headers);
    support::send("POST", url, &all, &body.to_string())
}

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
    assert_eq!(resp.json()["result"]["isError"], true);
    assert!(resp.body.contains("does not run"), "{}", resp.body);
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
    let resp = support::send("GET", url, &[("mcp-session-id", session.as_str())], "");
    assert_eq!(resp.status, 405);
    assert!(resp.header("allow").unwrap().contains("POST"));
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
fn raw_stdio_answers_parse_errors_and_unknown_methods_and_stops_when_stdin_closes() {
    use std::io::{BufRead, BufReader, Write};
    let r = rig("stdio");
    let cmd = stdio_command(&r.file);
    let mut child = Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let stderr = child.stderr.take().unwrap();
    let logs = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let mut ask = |line: &str| -> Value {
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        let answer = lines.next().expect("an answer line").unwrap();
        serde_json::from_str(&answer)
            .unwrap_or_else(|e| panic!("stdout carried a non-JSON line ({e}): {answer}"))
    };
    assert_eq!(ask("{not json")["error"]["code"], -32700);
    assert_eq!(
        ask(r#"{"jsonrpc":"2.0","id":1,"method":"no/such"}"#)["error"]["code"],
        -32601
    );
    let init = ask(
        r#"{"jsonrpc":"2.0","id":2,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#,
    );
    assert_eq!(init["result"]["protocolVersion"], "2025-03-26");
    // A `traceparent` in `_meta` continues the caller's trace (stdio has no headers).
    let call = ask(
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get-customer","arguments":{"id":"1"},"_meta":{"traceparent":"00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}}"#,
    );
    assert_eq!(
        call["result"]["structuredContent"]["name"], "Ada Lovelace",
        "{call}"
    );
    let upstream_tp = r.upstream.requests()[0]
        .header("traceparent")
        .map(str::to_string);
    assert!(
        upstream_tp
            .as_deref()
            .is_some_and(|t| t.contains("5bf92f3577b34da6a3ce929d0e0e4736")),
        "{upstream_tp:?}"
    );
    let modern = ask(
        &json!({"jsonrpc":"2.0","id":4,"method":"tools/list","params":{"_meta": meta()}})
            .to_string(),
    );
    assert_eq!(modern["result"]["resultType"], "complete");
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "exits cleanly when stdin closes: {status}"
    );
    let logs = logs.join().unwrap();
    assert!(logs.contains("stdin closed"), "{logs}");
}

#[test]
fn tool_calls_are_traced_like_rest_requests() {
    use crate::support::collector::Collector;
    let c = support::components();
    let collector = Collector::start();
    let r = rig("http");
    let host = HostBuilder::new(&r.file)
        .component(&c.crm_sidecar)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint())
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .start(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = loop {
        if let Some(a) = host.adapter_addr("mcp", "crm-mcp") {
            break format!("http://{a}/mcp");
        }
        assert!(Instant::now() < deadline, "{}", host.all_output());
        std::thread::sleep(Duration::from_millis(20));
    };
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

/// examples/crm-mcp as a user runs it (port and CRM address swapped for the test's):
/// the Python SDK over HTTP, the TypeScript SDK over stdio.
#[test]
fn crm_mcp_example_serves_both_sdks() {
    let c = support::components();
    let upstream = upstream::Upstream::start(upstream::Auth {
        bearer: Some(fixtures::TOKEN.into()),
        ..upstream::Auth::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let example = support::repo_root().join("examples/crm-mcp");
    let copy = |name: &str| {
        support::example(dir.path(), &format!("examples/crm-mcp/{name}"), |text| {
            text.replace("http://127.0.0.1:18081", &upstream.base())
        })
    };
    let http_file = copy("crm-mcp.ikanos.yaml");
    let stdio_file = copy("crm-mcp-stdio.ikanos.yaml");
    std::fs::create_dir(dir.path().join("docs")).unwrap();
    std::fs::copy(
        example.join("docs/guide.md"),
        dir.path().join("docs/guide.md"),
    )
    .unwrap();
    fixtures::secrets(dir.path());

    let host = HostBuilder::new(&http_file)
        .component(&c.crm_sidecar)
        .start(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = loop {
        if let Some(a) = host.adapter_addr("mcp", "crm-mcp") {
            break format!("http://{a}/mcp");
        }
        assert!(Instant::now() < deadline, "{}", host.all_output());
        std::thread::sleep(Duration::from_millis(20));
    };
    let script = clients_dir().join("python_client.py").display().to_string();
    let py = run_client(&python(), &[script, "http".into(), url, "auto".into()]);
    let mut args = vec![node_script().display().to_string(), "stdio".into()];
    args.extend(stdio_command(&stdio_file));
    let ts = run_client(&node(), &args);
    for (out, version) in [(&py, "2026-07-28"), (&ts, "2025-11-25")] {
        assert_eq!(out["protocolVersion"], version, "{out}");
        assert_eq!(out["tools"].as_array().unwrap().len(), 2, "{out}");
        assert_eq!(
            out["ok"]["structuredContent"]["name"], "Grace Hopper",
            "{out}"
        );
        assert_eq!(out["fail"]["isError"], true, "{out}");
        assert_eq!(out["resources"][0]["uri"], "docs://crm/guide.md");
        assert!(out["read"]["contents"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("# CRM field guide"));
        assert!(out["prompt"]["messages"][0]["content"]["text"]
            .as_str()
            .unwrap()
            .contains("Fetch customer 2 with the get-customer tool"));
    }
}

#[test]
fn authentication_on_the_mcp_endpoint_is_checked() {
    let c = support::components();
    let r = rig("http");
    let text = std::fs::read_to_string(&r.file).unwrap().replacen(
        "      namespace: \"crm-mcp\"\n",
        "      namespace: \"crm-mcp\"\n      authentication:\n        type: \"bearer\"\n        token: \"{{secrets.CRM_TOKEN}}\"\n",
        1,
    );
    std::fs::write(&r.file, text).unwrap();
    let host = HostBuilder::new(&r.file).component(&c.crm_sidecar).start(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = loop {
        if let Some(a) = host.adapter_addr("mcp", "crm-mcp") {
            break format!("http://{a}/mcp");
        }
        assert!(Instant::now() < deadline, "{}", host.all_output());
        std::thread::sleep(Duration::from_millis(20));
    };
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

/// The MCP examples and this file's stdio test capability stay valid for upstream tools:
/// component tools declare mock `outputParameters`, as the upstream schema asks.
#[test]
fn mcp_files_validate_against_the_upstream_schema() {
    let schema =
        support::repo_root().join("../shared/conformance/ikanos-samples/ikanos-schema.json");
    if !schema.is_file() {
        eprintln!("SKIP: upstream schema not found at {}", schema.display());
        return;
    }
    // (The HTTP rig listens on port 0, which the upstream schema does not allow.)
    let s = rig("stdio");
    let examples = support::repo_root().join("examples/crm-mcp");
    let mut args = vec![
        clients_dir()
            .join("validate_schema.py")
            .display()
            .to_string(),
        schema.display().to_string(),
    ];
    for f in [
        examples.join("crm-mcp.ikanos.yaml"),
        examples.join("crm-mcp-stdio.ikanos.yaml"),
        s.file.clone(),
    ] {
        args.push(f.display().to_string());
    }
    let out = Command::new(python()).args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

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
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = loop {
        if let Some(a) = host.adapter_addr("mcp", "hostile-mcp") {
            break format!("http://{a}/mcp");
        }
        assert!(Instant::now() < deadline, "{}", host.all_output());
        std::thread::sleep(Duration::from_millis(20));
    };
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
