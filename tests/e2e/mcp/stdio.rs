//! MCP over stdio with raw lines: parse errors, unknown methods, a caller's trace in
//! `_meta`, and a clean exit when stdin closes.

use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::support::fixtures::McpTransport;

use super::harness::*;

#[test]
fn raw_stdio_answers_parse_errors_and_unknown_methods_and_stops_when_stdin_closes() {
    use std::io::{BufRead, BufReader, Write};
    let r = rig(McpTransport::Stdio);
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
