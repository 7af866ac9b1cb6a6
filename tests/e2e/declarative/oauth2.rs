//! Inbound OAuth 2.1 on an MCP and a REST adapter (`authentication: {type: oauth2}`),
//! against the shipyard's authorization server (RFC 8414 metadata and a JWKS; tokens
//! signed with `jsonwebtoken`): what is let in, what is refused and how, and the
//! RFC 9728 metadata that tells a client where to get a token.

use serde_json::{json, Value};

use super::shipyard_upstream::{now_secs, Shipyard, ShipyardAuth};
use super::{agent, mcp_call};
use crate::support::HostBuilder;

const RESOURCE: &str = "http://ikanos-e2e/mcp";

fn capability(issuer: &str) -> String {
    format!(
        r#"ikanos: "1.0.0-beta5"
capability:
  exposes:
    - type: mcp
      port: 0
      namespace: fleet
      description: "Protected tools."
      authentication:
        type: oauth2
        authorizationServerUri: "{issuer}"
        resource: "{RESOURCE}"
        scopes: ["ships:read"]
      tools:
        ping:
          description: "Answers pong."
          outputParameters:
            answer:
              type: string
              value: "pong"
    - type: rest
      port: 0
      namespace: fleet-api
      authentication:
        type: oauth2
        authorizationServerUri: "{issuer}"
        resource: "{RESOURCE}"
      resources:
        ping:
          path: /ping
          operations:
            ping:
              method: GET
              outputParameters:
                - name: answer
                  type: string
                  value: "pong"
"#
    )
}

/// (status, WWW-Authenticate, body) of a tools/call with `token`.
fn call(url: &str, token: Option<&str>) -> (u16, String, String) {
    let mut b = http::Request::post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "ping");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "ping", "arguments": {}, "_meta": crate::mcp::harness::meta()}});
    let mut r = agent().run(b.body(body.to_string()).unwrap()).unwrap();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (r.status().as_u16(), challenge, text)
}

#[test]
fn oauth2_protected_adapters_check_tokens_against_the_issuers_jwks() {
    let shipyard = Shipyard::start(ShipyardAuth::default());
    let issuer = shipyard.issuer();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fleet.ikanos.yaml");
    std::fs::write(&file, capability(&issuer)).unwrap();
    let host = HostBuilder::new(&file).start(1);
    let mcp_addr = host.adapter_addr("mcp", "fleet").expect("the MCP adapter");
    let url = format!("http://{mcp_addr}/mcp");
    let now = now_secs();
    let claims = |overrides: Value| {
        let mut c = json!({
            "iss": issuer, "aud": RESOURCE, "sub": "agent-7",
            "iat": now, "nbf": now - 5, "exp": now + 600, "scope": "openid ships:read",
        });
        for (k, v) in overrides.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };

    // RFC 9728 metadata, without a token, at the path the resource's own path gives.
    let meta = crate::support::get(&format!(
        "http://{mcp_addr}/.well-known/oauth-protected-resource/mcp"
    ));
    assert_eq!(meta.status, 200, "{}", meta.body);
    assert_eq!(
        meta.json(),
        json!({
            "resource": RESOURCE,
            "authorization_servers": [issuer],
            "scopes_supported": ["ships:read"],
            "bearer_methods_supported": ["header"],
        })
    );

    // No token: 401 naming the metadata.
    let (status, challenge, _) = call(&url, None);
    assert_eq!(status, 401);
    assert!(
        challenge.starts_with("Bearer ")
            && challenge.contains(
                "resource_metadata=\"http://ikanos-e2e/.well-known/oauth-protected-resource/mcp\""
            ),
        "{challenge}"
    );

    // A good token: in.
    let good = shipyard.mint(&claims(json!({})));
    let result = mcp_call(&url, Some(&good), "ping", &json!({})).unwrap();
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(
        result["structuredContent"],
        json!({"answer": "pong"}),
        "{result}"
    );

    // Refused, each with the reason in the challenge.
    for (what, token, status, says) in [
        (
            "expired",
            shipyard.mint(&claims(json!({"exp": now - 120, "nbf": now - 600}))),
            401,
            "Token expired",
        ),
        (
            "wrong audience",
            shipyard.mint(&claims(json!({"aud": "http://someone-else"}))),
            401,
            "Invalid audience",
        ),
        (
            "wrong issuer",
            shipyard.mint(&claims(
                json!({"iss": "http://evil.example/realms/e2e-test"}),
            )),
            401,
            "Invalid issuer",
        ),
        (
            "forged",
            shipyard.mint_forged(&claims(json!({}))),
            401,
            "Signature verification failed",
        ),
        ("not a JWT", "opaque-token".to_string(), 401, "not a JWT"),
        (
            "missing scope",
            shipyard.mint(&claims(json!({"scope": "openid"}))),
            403,
            "insufficient_scope",
        ),
    ] {
        let (got, challenge, body) = call(&url, Some(&token));
        assert_eq!(got, status, "{what}: {body}");
        assert!(challenge.contains(says), "{what}: {challenge}");
        assert!(!challenge.contains(&token), "{what}: the token is echoed");
    }

    // The REST adapter checks the same way (it declares no scope).
    let rest = format!("{}/ping", host.rest_url("fleet-api"));
    let r = agent()
        .run(
            http::Request::get(&rest)
                .header("authorization", format!("Bearer {good}"))
                .body(())
                .unwrap(),
        )
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(crate::support::get(&rest).status, 401);
    // No token reaches the host's output.
    assert!(!host.all_output().contains(&good));
}
