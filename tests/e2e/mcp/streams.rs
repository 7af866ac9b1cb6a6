//! What an MCP server says on its own, tested with both official client SDKs against
//! the real `ikanos run`, over streamable HTTP and over stdio: progress and log notifications while a tool runs, completion
//! of prompt and resource-template arguments, `outputSchema` from `outputParameters`
//! (checked by the SDKs against the result's `structuredContent`), resource
//! subscriptions answered with `notifications/resources/updated` when the file
//! changes — through the session's GET stream (TypeScript, Python `legacy`) and
//! through `subscriptions/listen` (Python `auto`, 2026-07-28) — and, raw, the GET
//! stream's numbering and `Last-Event-ID` replay. Replacement in `ikanos serve` is in
//! serve/mcp.rs.

use std::time::Duration;

use serde_json::{json, Value};

use super::harness::{self, clients_dir, http_rig, node, python, run_interactive};
use crate::support::fixtures::McpTransport;
use crate::support::{self, sse};

/// Change the guide the clients subscribed to.
fn edit_guide(dir: &std::path::Path) {
    let path = dir.join("guide.md");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\nAn edit the subscribers hear of.\n");
    std::fs::write(&path, text).unwrap();
}

fn check_features(out: &Value, who: &str) {
    let ctx = || format!("{who}: {}", serde_json::to_string_pretty(out).unwrap());
    let caps = &out["capabilities"];
    assert!(caps["logging"].is_object(), "{}", ctx());
    assert!(caps["completions"].is_object(), "{}", ctx());
    assert_eq!(caps["resources"]["subscribe"], true, "{}", ctx());
    assert_eq!(caps["tools"]["listChanged"], true, "{}", ctx());

    // outputSchema from outputParameters; the SDK validated the answer against it.
    let schema = &out["outputSchema"];
    assert_eq!(schema["type"], "object", "{}", ctx());
    assert_eq!(
        schema["properties"]["result"]["items"]["properties"]["name"]["type"],
        json!(["string", "null"]),
        "{}",
        ctx()
    );
    assert_eq!(
        out["shaped"]["structuredContent"]["result"],
        json!([{"name": "Ada Lovelace"}, {"name": "Grace Hopper"}, {"name": "Alan Turing"}]),
        "{}",
        ctx()
    );

    // Progress while get-customer ran: one step per consumed call, named.
    assert_eq!(
        out["call"]["structuredContent"]["name"],
        "Grace Hopper",
        "{}",
        ctx()
    );
    let progress = out["progress"].as_array().unwrap();
    assert!(!progress.is_empty(), "no progress: {}", ctx());
    // (Python's SDK reports progress as a float.)
    assert_eq!(progress[0]["progress"].as_f64(), Some(1.0), "{}", ctx());
    assert!(
        progress[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("called crm.get-customer: 200"),
        "{}",
        ctx()
    );
    // Log notifications at the level asked for, naming the capability.
    let logs = out["logs"].as_array().unwrap();
    assert!(
        logs.iter().any(|l| l["level"] == "info"
            && l["logger"] == "crm-mcp"
            && l["data"]
                .as_str()
                .is_some_and(|d| d.starts_with("called crm.get-customer: 200"))),
        "{}",
        ctx()
    );
    let text = serde_json::to_string(out).unwrap();
    assert!(
        !text.contains(crate::support::fixtures::TOKEN),
        "a secret reached the client: {}",
        ctx()
    );

    // Completion: the folder's files for the template; prompt arguments are free text.
    assert_eq!(
        out["completeTemplate"]["values"],
        json!(["hello.txt"]),
        "{}",
        ctx()
    );
    assert_eq!(out["completeTemplate"]["total"], 1, "{}", ctx());
    assert_eq!(out["completePrompt"]["values"], json!([]), "{}", ctx());

    // The subscription heard of the edit, and a re-read shows it.
    assert!(
        out["reread"]["contents"][0]["text"]
            .as_str()
            .unwrap()
            .contains("An edit the subscribers hear of."),
        "{}",
        ctx()
    );
}

#[test]
fn both_sdks_get_progress_logs_completions_output_schemas_and_resource_updates() {
    let rig = http_rig();
    let dir = rig.rig.dir.path().to_path_buf();
    let stdio = harness::rig(McpTransport::Stdio);
    let stdio_dir = stdio.dir.path().to_path_buf();
    let stdio_command = harness::stdio_command(&stdio.file);
    let ts = clients_dir().join("ts_streams.mjs").display().to_string();
    let py = clients_dir()
        .join("python_streams.py")
        .display()
        .to_string();

    for (transport, target, edited) in [
        ("http", vec![rig.url.clone()], &dir),
        (
            "stdio",
            [vec!["stdio".to_string()], stdio_command.clone()].concat(),
            &stdio_dir,
        ),
    ] {
        let out = run_interactive(
            &node(),
            &[vec![ts.clone(), "features".into()], target.clone()].concat(),
            || edit_guide(edited),
        );
        check_features(&out, &format!("typescript over {transport}"));
        assert_eq!(out["updated"], json!(["docs://crm/guide.md"]), "{out}");

        for mode in ["legacy", "auto"] {
            let out = run_interactive(
                &python(),
                &[
                    vec![py.clone(), "features".into(), mode.into()],
                    target.clone(),
                ]
                .concat(),
                || edit_guide(edited),
            );
            let who = format!("python {mode} over {transport}");
            check_features(&out, &who);
            if mode == "auto" {
                assert_eq!(out["protocolVersion"], "2026-07-28", "{who}: {out}");
                assert_eq!(
                    out["event"],
                    json!({"kind": "ResourceUpdated", "uri": "docs://crm/guide.md"}),
                    "{who}: {out}"
                );
            } else {
                assert_eq!(out["protocolVersion"], "2025-11-25", "{who}: {out}");
                assert_eq!(
                    out["event"]["params"]["uri"], "docs://crm/guide.md",
                    "{who}: {out}"
                );
            }
        }
    }
}

/// The raw protocol under the SDKs: SSE only when asked for, the GET stream numbered,
/// and what a reconnecting client missed replayed after its `Last-Event-ID`.
#[test]
fn the_session_stream_is_numbered_and_replayed_after_last_event_id() {
    let rig = http_rig();
    let url = rig.url.clone();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}});
    let r = harness::post(&url, &[], &init);
    let session = r.header("mcp-session-id").unwrap().to_string();
    let with_session = [("mcp-session-id", session.as_str())];

    // A call that asks for nothing is one JSON body, as before.
    let call = |id: u64, meta: Option<Value>| {
        let mut params = json!({"name": "get-customer", "arguments": {"id": "2"}});
        if let Some(m) = meta {
            params["_meta"] = m;
        }
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
    };
    let r = harness::post(&url, &with_session, &call(2, None));
    assert_eq!(r.header("content-type"), Some("application/json"));
    // With a progress token it is a stream: the progress, then the answer.
    let stream = sse::open(
        "POST",
        &url,
        &[
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-session-id", &session),
        ],
        &call(3, Some(json!({"progressToken": "p-3"}))).to_string(),
    );
    assert_eq!(stream.content_type, "text/event-stream");
    let first = stream.next(Duration::from_secs(30)).unwrap();
    assert_eq!(first.data["method"], "notifications/progress", "{first:?}");
    assert_eq!(first.data["params"]["progressToken"], "p-3");
    let answer = stream.until(Duration::from_secs(30), |e| e.data.get("id").is_some());
    assert_eq!(answer.data["id"], 3);
    assert_eq!(answer.data["result"]["isError"], false, "{answer:?}");

    // Subscribe, then change the file twice with no stream open: both updates wait
    // in the session, numbered.
    let sub = json!({"jsonrpc": "2.0", "id": 4, "method": "resources/subscribe", "params": {"uri": "docs://crm/guide.md"}});
    assert_eq!(
        harness::post(&url, &with_session, &sub).json()["result"],
        json!({})
    );
    let unknown = json!({"jsonrpc": "2.0", "id": 5, "method": "resources/subscribe", "params": {"uri": "docs://nope"}});
    assert_eq!(
        harness::post(&url, &with_session, &unknown).json()["error"]["code"],
        -32002
    );
    let get = |last: Option<&str>| {
        let mut headers = vec![
            ("accept", "text/event-stream"),
            ("mcp-session-id", session.as_str()),
        ];
        if let Some(l) = last {
            headers.push(("last-event-id", l));
        }
        sse::open("GET", &url, &headers, "")
    };
    let live = get(None);
    edit_guide(rig.rig.dir.path());
    let one = live.until(Duration::from_secs(30), |e| {
        e.data["method"] == "notifications/resources/updated"
    });
    let first_id: u64 = one.id.as_deref().unwrap().parse().unwrap();
    drop(live);
    // Missed while away: a reconnect after the first id gets the second update.
    std::thread::sleep(Duration::from_millis(1500));
    edit_guide(rig.rig.dir.path());
    std::thread::sleep(Duration::from_millis(2500));
    let resumed = get(Some(&first_id.to_string()));
    let two = resumed.until(Duration::from_secs(30), |e| {
        e.data["method"] == "notifications/resources/updated"
    });
    assert!(
        two.id.as_deref().unwrap().parse::<u64>().unwrap() > first_id,
        "{two:?}"
    );
    assert_eq!(two.data["params"]["uri"], "docs://crm/guide.md");

    // Ending the session ends its stream.
    let r = support::send("DELETE", &url, &with_session, "");
    assert_eq!(r.status, 204);
    assert!(
        resumed.next(Duration::from_secs(10)).is_none(),
        "the stream outlived its session"
    );
}
