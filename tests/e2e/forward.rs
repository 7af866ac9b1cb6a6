//! REST `forward` resources (upstream's pass-through proxy, `register.capability.yml`),
//! end to end: the request reaches the consumed namespace's `baseUri` with the
//! namespace's credentials and only the trusted headers; hostile requests (path
//! traversal, hop-by-hop and Host headers, an oversized body, an oversized answer) are
//! refused or stripped; a tunnel that is not available fails closed.

use std::io::{Read, Write};

use crate::support::upstream::{Auth, Upstream};
use crate::support::*;

fn capability(base: &str, tunnel: &str) -> String {
    format!(
        r#"ikanos: "1.0.0-beta5"
info:
  display: "register"
capability:
  exposes:
  - type: rest
    namespace: documentation
    port: 0
    resources:
      notion:
        path: "/notion/{{{{path}}}}"
        forward:
          targetNamespace: notion
          trustedHeaders:
          - Notion-Version
          - Host
          - X-Hop
          - Authorization
  consumes:
  - type: http
    namespace: notion
    baseUri: "{base}/v1"
{tunnel}    authentication:
      type: basic
      username: scott
      password: tiger
    resources:
      users:
        path: users/me
        operations:
          get-my-user:
            method: GET
"#
    )
}

fn upstream() -> Upstream {
    Upstream::start(Auth {
        basic: Some(("scott".into(), "tiger".into())),
        ..Auth::default()
    })
}

fn start(dir: &std::path::Path, base: &str, tunnel: &str, extra: &[&str]) -> Host {
    let file = write(dir, "register.ikanos.yaml", &capability(base, tunnel));
    let mut b = HostBuilder::new(&file);
    for a in extra {
        b = b.arg(*a);
    }
    b.start(1)
}

fn raw(addr: &str, head: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn forward_passes_the_request_with_the_namespace_credentials_and_trusted_headers_only() {
    let up = upstream();
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), &up.base(), "", &[]);
    let base = host.rest_url("documentation");
    let addr = base.trim_start_matches("http://");

    // Raw, so that the hostile headers reach the host as written.
    let out = raw(
        addr,
        &format!(
            "GET /notion/users/me?filter=a%20b HTTP/1.1\r\nHost: {addr}\r\nNotion-Version: 2022-06-28\r\nX-Secret: keep-me-here\r\nX-Hop: hop\r\nConnection: close, X-Hop\r\nAuthorization: Bearer caller-token\r\n\r\n"
        ),
    );
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        out.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{out}"
    );
    let seen = up.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let r = &seen[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("GET", "/v1/users/me")
    );
    assert_eq!(r.query.as_deref(), Some("filter=a%20b"));
    assert_eq!(r.header("notion-version"), Some("2022-06-28"));
    assert_eq!(r.header("x-secret"), None, "untrusted headers stay behind");
    assert_eq!(
        r.header("x-hop"),
        None,
        "a header named in Connection is hop-by-hop"
    );
    assert_eq!(
        r.header("authorization"),
        Some("Basic c2NvdHQ6dGlnZXI="),
        "the namespace's credentials, never the caller's"
    );
    assert_eq!(r.header("host"), Some(up.addr.to_string().as_str()));
    assert!(r.header("x-request-id").is_some());

    // Any method; the body and its type go along.
    let r = send(
        "PATCH",
        &format!("{base}/notion/pages/42"),
        &[("content-type", "application/json")],
        r#"{"title":"x"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let echo = r.json();
    assert_eq!(echo["method"], "PATCH");
    assert_eq!(echo["path"], "/v1/pages/42");
    assert_eq!(echo["body"], r#"{"title":"x"}"#);
    assert_eq!(echo["headers"]["content-type"], "application/json");
}

#[test]
fn forward_refuses_traversal_and_oversized_bodies_both_ways() {
    let up = upstream();
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), &up.base(), "", &["--max-response-body", "1000"]);
    let base = host.rest_url("documentation");
    let addr = base.trim_start_matches("http://");
    for path in [
        "/notion/../admin",
        "/notion/users/%2e%2e/%2e%2e/admin",
        "/notion/a%2F..%2F..%2Fadmin",
    ] {
        let out = raw(
            addr,
            &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
        );
        assert!(out.starts_with("HTTP/1.1 400"), "{path}: {out}");
    }
    assert!(up.requests().is_empty(), "{:?}", up.requests());

    // The request body limit (4 MiB without a component).
    let big = "x".repeat((4 << 20) + 1);
    let r = post(&format!("{base}/notion/upload"), "text/plain", &big);
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(up.requests().is_empty());

    // The response limit (--max-response-body): the echo of a 2000-byte body.
    let r = post(
        &format!("{base}/notion/echo"),
        "text/plain",
        &"y".repeat(2000),
    );
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(r.body.contains("reading the response body"), "{}", r.body);
}

#[test]
fn forward_through_an_unavailable_tunnel_fails_closed() {
    let up = upstream();
    let dir = tempfile::tempdir().unwrap();
    let tunnel = "    tunnel:\n      type: netbird\n      service: notion-api\n";
    let host = start(dir.path(), &up.base(), tunnel, &[]);
    let r = get(&format!(
        "{}/notion/users/me",
        host.rest_url("documentation")
    ));
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("No Tunnel provider for type 'netbird'"),
        "{}",
        r.body
    );
    assert_eq!(up.connections(), 0, "nothing may be dialed");
}

#[test]
fn untrusted_transport_headers_are_named_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "register.ikanos.yaml",
        &capability("http://127.0.0.1:9", ""),
    );
    let (code, out, err) = run_cli(&["validate", file.to_str().unwrap()]);
    let all = format!("{out}{err}");
    assert_eq!(code, 0, "{all}");
    assert!(
        all.contains("register.ikanos.yaml:16:13: warning: capability.exposes[0].resources.notion.forward.trustedHeaders[1]: 'Host' is a hop-by-hop or transport header; it is never forwarded"),
        "{all}"
    );
}
