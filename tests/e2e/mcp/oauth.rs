//! The MCP TypeScript SDK's OAuth client flow against an OAuth-protected MCP adapter,
//! with a real authorization server: `oidc-provider` (tests/mcp-clients/oauth_issuer.mjs)
//! issuing JWT access tokens for the adapter's resource through the authorization code
//! flow with PKCE. The SDK finds the issuer through the adapter's 401 and RFC 9728
//! metadata, gets a token and calls a tool with it; the host checks the token against
//! the issuer's JWKS. Refusals (expired, forged, wrong audience, missing scope) are
//! tested in declarative/oauth2.rs.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

use super::harness::{clients_dir, node, node_script, run_client};
use crate::support::{self, HostBuilder};

const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// The issuer, listening; killed when dropped.
struct Issuer {
    child: Child,
    url: String,
}

impl Drop for Issuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn issuer(resource: &str) -> Issuer {
    node_script(); // the SDKs (and oidc-provider with them) are installed
    let port = support::free_port();
    let mut child = Command::new(node())
        .arg(clients_dir().join("oauth_issuer.mjs"))
        .args([&port.to_string(), resource, REDIRECT])
        .current_dir(clients_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting the OAuth issuer");
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    // Keep reading: a closed pipe would make the issuer's next write fail.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let ready: Value = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("the issuer did not start ({e}): {line}"));
    Issuer {
        url: ready["issuer"].as_str().unwrap().to_string(),
        child,
    }
}

#[test]
fn the_typescript_sdk_gets_a_token_from_the_issuer_and_calls_a_protected_tool() {
    let port = support::free_port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let issuer = issuer(&resource);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fleet.ikanos.yaml");
    std::fs::write(
        &file,
        format!(
            r#"ikanos: "1.0.0-beta5"
capability:
  exposes:
    - type: mcp
      address: 127.0.0.1
      port: {port}
      namespace: fleet
      description: "Protected tools."
      authentication:
        type: oauth2
        authorizationServerUri: "{issuer}"
        resource: "{resource}"
        scopes: ["ships:read"]
      tools:
        ping:
          description: "Answers pong."
          outputParameters:
            answer:
              type: string
              value: "pong"
"#,
            issuer = issuer.url
        ),
    )
    .unwrap();
    let host = HostBuilder::new(&file).start(0);
    assert!(
        host.adapter_addr("mcp", "fleet").is_some(),
        "{}",
        host.all_output()
    );

    let out = run_client(
        &node(),
        &[
            clients_dir().join("oauth_client.mjs").display().to_string(),
            resource.clone(),
            REDIRECT.into(),
        ],
    );
    assert_eq!(out["firstConnect"], "unauthorized", "{out}");
    assert_eq!(
        out["authorization"],
        json!({
            "endpoint": format!("{}/auth", issuer.url),
            "codeChallengeMethod": "S256",
            "resource": resource,
            "scope": "ships:read",
        }),
        "{out}"
    );
    // A JWT the issuer signed for this resource, with the scope the adapter demands.
    assert_eq!(out["claims"]["iss"], issuer.url.as_str(), "{out}");
    assert_eq!(out["claims"]["aud"], resource.as_str(), "{out}");
    assert_eq!(out["claims"]["scope"], "ships:read", "{out}");
    assert_eq!(out["claims"]["sub"], "agent-7", "{out}");
    assert_eq!(out["tools"], json!(["ping"]), "{out}");
    assert_eq!(out["call"]["isError"], false, "{out}");
    assert_eq!(
        out["call"]["structuredContent"],
        json!({"answer": "pong"}),
        "{out}"
    );
    // The token never reaches the host's output.
    let output = host.all_output();
    assert!(
        !output.contains("eyJ"),
        "a token in the host's output:\n{output}"
    );
}
