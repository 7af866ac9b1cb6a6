//! Consumed-operation features end to end, through the real `ikanos` binary and a
//! recording loopback upstream: `in: environment` parameters (read at load, used in
//! templates, never sent; confined under `ikanos serve`), `formUrlEncoded` and
//! `multipartForm` request bodies (from the declarative engine and from a component),
//! and `maxBinarySize` on binary responses (REST and MCP answers as upstream's).

use crate::support::serve::ServeBuilder;
use crate::support::upstream::{Auth, Upstream};
use crate::support::*;

/// A REST operation `GET /region` that calls `up.echo`, whose header `X-Region` is
/// rendered from the `in: environment` parameter `IKANOS_T_REGION`.
fn env_capability(base: &str) -> String {
    format!(
        r#"ikanos: "1.0.0-beta5"
info:
  display: "env"
capability:
  exposes:
  - type: rest
    namespace: api
    port: 0
    resources:
      region:
        path: "/region"
        operations:
          get-region:
            method: GET
            call: up.echo
  consumes:
  - type: http
    namespace: up
    baseUri: "{base}"
    inputParameters:
      IKANOS_T_REGION:
        in: environment
      X-Region:
        in: header
        value: "eu-{{{{IKANOS_T_REGION}}}}"
    resources:
      echo:
        path: "/echo-env"
        operations:
          echo:
            method: GET
"#
    )
}

#[test]
fn environment_parameters_feed_templates_and_are_never_sent() {
    let up = Upstream::start(Auth::default());
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "env.ikanos.yaml", &env_capability(&up.base()));
    let host = HostBuilder::new(&file)
        .env("IKANOS_T_REGION", "west-7")
        .start(1);
    let r = get(&format!("{}/region", host.rest_url("api")));
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = up.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].header("x-region"), Some("eu-west-7"));
    assert_eq!(seen[0].header("ikanos_t_region"), None);
    assert_eq!(seen[0].query, None);
    assert!(
        !host.all_output().contains("west-7"),
        "the value is never logged"
    );
}

#[test]
fn a_missing_environment_variable_stops_the_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "env.ikanos.yaml",
        &env_capability("http://127.0.0.1:9"),
    );
    let (code, out) = HostBuilder::new(&file).run_to_exit();
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("env.ikanos.yaml:21:7"), "{out}");
    assert!(
        out.contains("environment variable 'IKANOS_T_REGION', which is not set"),
        "{out}"
    );
}

#[test]
fn serve_reads_only_granted_environment_variables() {
    let up = Upstream::start(Auth::default());
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps");
    for name in ["granted", "refused"] {
        std::fs::create_dir_all(caps.join(name)).unwrap();
        write(
            &caps.join(name),
            &format!("{name}.ikanos.yaml"),
            &env_capability(&up.base()),
        );
    }
    let serve = ServeBuilder::new(&caps)
        .config(
            &dir.path().join("host.yaml"),
            "capabilities:\n  granted:\n    env: [IKANOS_T_REGION]\n",
        )
        .env("IKANOS_T_REGION", "host-only-value")
        .start();
    let refused = serve
        .wait_for("refused", "failed", |c| {
            c.is_some_and(|c| c["state"] == "failed")
        })
        .unwrap();
    let error = refused["error"].as_str().unwrap_or_default();
    assert!(error.contains("refused.ikanos.yaml:21:7"), "{refused}");
    assert!(error.contains("does not grant"), "{refused}");
    assert!(!error.contains("host-only-value"), "{refused}");

    serve.wait_for("granted", "ready", |c| {
        c.is_some_and(|c| c["state"] == "ready")
    });
    let r = get(&serve.url("granted", "/region"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        up.requests()[0].header("x-region"),
        Some("eu-host-only-value")
    );
}

/// Form and multipart consumed bodies, called from declarative operations (`/token`,
/// `/upload`) and from the hostile component's `call` operation.
fn form_capability(base: &str) -> String {
    format!(
        r#"ikanos: "1.0.0-beta5"
info:
  display: "forms"
binds:
- namespace: creds
  keys:
    SECRET: IKANOS_T_FORM_SECRET
capability:
  exposes:
  - type: rest
    namespace: api
    port: 0
    resources:
      token:
        path: "/token"
        operations:
          get-token:
            method: POST
            inputParameters:
              who:
                in: query
                type: string
            call: up.token
            with:
              scope: "read {{{{who}}}}"
      upload:
        path: "/upload"
        operations:
          upload:
            method: POST
            inputParameters:
              who:
                in: query
                type: string
            call: up.upload
            with:
              title: "{{{{who}}}}"
      call:
        path: "/call"
        operations:
          call:
            method: POST
            inputParameters:
              ns:
                in: query
                type: string
              op:
                in: query
                type: string
              p_scope:
                in: query
                type: string
  consumes:
  - type: http
    namespace: up
    baseUri: "{base}"
    resources:
      token:
        path: "/oauth/token"
        operations:
          token:
            method: POST
            inputParameters:
              scope:
                in: body
            body:
              type: formUrlEncoded
              data:
                grant_type: client_credentials
                client_secret: "{{{{creds.SECRET}}}}"
                scope: "{{{{scope}}}}"
      upload:
        path: "/files"
        operations:
          upload:
            method: POST
            body:
              type: multipartForm
              data:
              - name: title
                value: "{{{{title}}}}"
              - name: file
                value: "hello, world"
                filename: "hello.txt"
                contentType: text/plain
"#
    )
}

fn echoed(r: &Resp) -> (String, String) {
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    (
        v["headers"]["content-type"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        v["body"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn form_and_multipart_bodies_from_the_engine_and_from_a_component() {
    let up = Upstream::start(Auth::default());
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "forms.ikanos.yaml",
        &form_capability(&up.base()),
    );
    let host = HostBuilder::new(&file)
        .component(&components().hostile)
        .env("IKANOS_T_FORM_SECRET", "s3cr&t=1")
        .start(1);
    let base = host.rest_url("api");

    // The engine: `with` values and binds fill the declared fields.
    let (ct, body) = echoed(&post(
        &format!("{base}/token?who=ada%20l"),
        "text/plain",
        "",
    ));
    assert_eq!(ct, "application/x-www-form-urlencoded");
    assert_eq!(
        body,
        "grant_type=client_credentials&client_secret=s3cr%26t%3D1&scope=read+ada+l"
    );

    let (ct, body) = echoed(&post(&format!("{base}/upload?who=Q3"), "text/plain", ""));
    let boundary = ct
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap_or_else(|| panic!("{ct}"));
    assert_eq!(
        body,
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nQ3\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"hello.txt\"\r\nContent-Type: text/plain\r\n\r\nhello, world\r\n--{boundary}--\r\n"
        )
    );

    // A component: its parameters fill the declared body; the host sets the type.
    let r = post(
        &format!("{base}/call?ns=up&op=token&p_scope=write"),
        "text/plain",
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let upstream_answer: serde_json::Value =
        serde_json::from_str(r.json()["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        upstream_answer["headers"]["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        upstream_answer["body"],
        "grant_type=client_credentials&client_secret=s3cr%26t%3D1&scope=write"
    );
    assert!(
        !host.all_output().contains("s3cr&t=1"),
        "no secret in the logs"
    );
}

/// `GET /big?bytes=N` answers N bytes of `application/octet-stream`; the REST adapter caps
/// binary answers at 1 KiB, the MCP adapter at its default, its tool's operation at 100 B.
fn binary_capability(base: &str) -> String {
    format!(
        r#"ikanos: "1.0.0-beta5"
info:
  display: "binary"
capability:
  exposes:
  - type: rest
    namespace: api
    port: 0
    maxBinarySize: 1KiB
    resources:
      big:
        path: "/big"
        operations:
          get-big:
            method: GET
            inputParameters:
              bytes:
                in: query
                type: string
            call: up.big
  - type: mcp
    namespace: tools
    port: 0
    tools:
      small:
        description: "A small binary"
        inputParameters:
          bytes:
            type: string
        call: up.small
  consumes:
  - type: http
    namespace: up
    baseUri: "{base}"
    resources:
      big:
        path: "/big"
        operations:
          big:
            method: GET
            inputParameters:
              bytes:
                in: query
            outputRawFormat: binary
          small:
            method: GET
            inputParameters:
              bytes:
                in: query
            outputRawFormat: binary
            maxBinarySize: "100B"
"#
    )
}

#[test]
fn binary_answers_over_max_binary_size_are_refused_as_upstream_refuses_them() {
    let up = Upstream::start(Auth::default());
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "binary.ikanos.yaml",
        &binary_capability(&up.base()),
    );
    let host = HostBuilder::new(&file).start(1);
    let base = host.rest_url("api");

    let r = get(&format!("{base}/big?bytes=1024"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body.len(), 1024);
    let r = get(&format!("{base}/big?bytes=1025"));
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/plain"));
    assert_eq!(
        r.body,
        "Upstream response exceeded maxBinarySize (limit=1024 bytes)"
    );

    let url = crate::mcp::harness::mcp_url(&host, "tools");
    let call = |bytes: &str| {
        let r = crate::mcp::harness::post(
            &url,
            &[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "small"),
            ],
            &serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "small", "arguments": {"bytes": bytes},
                    "_meta": crate::mcp::harness::meta()}}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["result"].clone()
    };
    let ok = call("100");
    assert_eq!(ok["isError"], false, "{ok}");
    // (UTF-8 bytes of a non-image type come back as text; the cap is what matters here.)
    assert_eq!(ok["content"][0]["text"], "y".repeat(100), "{ok}");
    let over = call("101");
    assert_eq!(over["isError"], true, "{over}");
    assert_eq!(
        over["content"][0]["text"],
        "Upstream response exceeded maxBinarySize (limit=100 bytes)"
    );
}

#[test]
fn an_invalid_max_binary_size_stops_the_start_at_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let text = binary_capability("http://127.0.0.1:9")
        .replace("maxBinarySize: 1KiB", "maxBinarySize: 1KB");
    let file = write(dir.path(), "binary.ikanos.yaml", &text);
    let (code, out) = HostBuilder::new(&file).run_to_exit();
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains(
            "binary.ikanos.yaml:9:20: capability.exposes[0].maxBinarySize: '1KB' is not a size"
        ),
        "{out}"
    );
}
