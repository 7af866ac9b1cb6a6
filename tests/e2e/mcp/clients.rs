//! The official MCP client SDKs against the host: Python `mcp` over HTTP and stdio in
//! both eras, the TypeScript SDK, examples/crm-mcp as a user runs it, and the MCP files
//! valid for the upstream schema.

use std::process::Command;

use crate::support::fixtures::{self, McpTransport};
use crate::support::{self, upstream, HostBuilder};

use super::harness::*;

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
    let r = rig(McpTransport::Stdio);
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

    let s = rig(McpTransport::Stdio);
    let mut args = vec![script, "stdio".into()];
    args.extend(stdio_command(&s.file));
    let out = run_client(&node(), &args);
    check_scenario(&out, "2025-11-25", &s.upstream);
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
    let url = mcp_url(&host, "crm-mcp");
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
    let s = rig(McpTransport::Stdio);
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
