//! What the MCP tests share: the MCP test capability and its rig (HTTP or stdio), the
//! installed client SDKs (tests/mcp-clients) and how to run them, the checks every
//! client's run must pass, and raw JSON-RPC posts. The scenarios live beside it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::fixtures::{self, Authentication, Capability, McpTransport};
use crate::support::{self, upstream, HostBuilder};

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

pub(crate) struct Rig {
    pub(crate) upstream: upstream::Upstream,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) file: PathBuf,
}

pub(crate) fn rig(transport: McpTransport) -> Rig {
    rig_with(transport, None)
}

/// The rig, its MCP adapter checking `authentication` when given.
pub(crate) fn rig_with(transport: McpTransport, authentication: Option<Authentication>) -> Rig {
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
    let mut capability = Capability::mcp("MCP test capability", &upstream.base(), transport);
    capability.mcp_adapter().authentication = authentication;
    let file = capability.write(dir.path(), "crm-mcp.ikanos.yaml");
    Rig {
        upstream,
        dir,
        file,
    }
}

pub(crate) struct HttpRig {
    pub(crate) rig: Rig,
    pub(crate) host: support::Host,
    pub(crate) url: String,
}

pub(crate) fn http_rig() -> HttpRig {
    let c = support::components();
    let rig = rig(McpTransport::Http);
    let host = HostBuilder::new(&rig.file)
        .component(&c.crm_sidecar)
        .start(0);
    let url = mcp_url(&host, "crm-mcp");
    HttpRig { rig, host, url }
}

/// The URL of MCP adapter `namespace` of `host`, once it listens.
pub(crate) fn mcp_url(host: &support::Host, namespace: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(a) = host.adapter_addr("mcp", namespace) {
            return format!("http://{a}/mcp");
        }
        assert!(
            Instant::now() < deadline,
            "no mcp listening line:\n{}",
            host.all_output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `ikanos run` command line an MCP client launches for the stdio transport.
pub(crate) fn stdio_command(file: &Path) -> Vec<String> {
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
/// A client script started in tests/mcp-clients, its stdout and stderr piped.
fn spawn_client(program: &Path, args: &[String]) -> std::process::Child {
    Command::new(program)
        .args(args)
        .current_dir(clients_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()))
}

pub(crate) fn run_client(program: &Path, args: &[String]) -> Value {
    let mut child = spawn_client(program, args);
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

/// Run a client script that prints `{"ready": true}` once it is listening, then do
/// `act` (cause the events it waits for), then take its final JSON line.
pub(crate) fn run_interactive(program: &Path, args: &[String], act: impl FnOnce()) -> Value {
    use std::io::{BufRead, BufReader};
    let mut child = spawn_client(program, args);
    let stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut act = Some(act);
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut lines = Vec::new();
    let outcome = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line)
                if line.trim() == r#"{"ready": true}"# || line.trim() == r#"{"ready":true}"# =>
            {
                if let Some(act) = act.take() {
                    act();
                }
                lines.push(line);
            }
            Ok(line) => {
                let done = serde_json::from_str::<Value>(line.trim()).ok();
                lines.push(line);
                if let Some(v) = done {
                    break Some(v);
                }
            }
            Err(_) => break None,
        }
    };
    if outcome.is_none() {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    let stderr = errors.join().unwrap_or_default();
    match outcome {
        Some(v) if status.success() => v,
        _ => panic!(
            "{} {args:?} failed ({status}):\nstdout: {}\nstderr: {stderr}",
            program.display(),
            lines.join("\n")
        ),
    }
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
        [
            "list-customers",
            "get-customer",
            "via-call",
            "customer-names"
        ],
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
