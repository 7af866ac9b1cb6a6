//! Fuzz entry points: one function per fuzz target of the `fuzz/` workspace, taking the
//! fuzzer's bytes. The targets are one-liners calling these, and the saved regression
//! seeds (`fuzz/regressions/<target>/`) run through the same functions in `cargo test`.
//!
//! Owns: the fixed capability the adapters are fuzzed against (built from YAML
//! without a component or the engine, so nothing runs wasm and nothing dials out),
//! turning bytes into requests, and the properties checked on every answer. Must not
//! touch: what the adapters do — they run as they are.
//! Compiled for tests and under `--cfg fuzzing` (cargo fuzz) only.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tokio::io::AsyncReadExt;

use crate::capability::{self, BindPolicy, LoadedCapability};
use crate::consumes::{Outbound, OutboundSettings};
use crate::exposes::mcp::http::HttpTransport;
use crate::exposes::mcp::tools::Tool;
use crate::exposes::mcp::{stdio, McpServer};
use crate::exposes::rest::RestAdapter;
use crate::server::Response;
use crate::telemetry::Metrics;
use crate::tunnel::TunnelRegistry;
use ikanos_spec::model::Exposes;

/// A file beside the MCP resource folder: no answer may ever carry it.
const OUTSIDE_SECRET: &str = "FUZZ-SECRET-OUTSIDE-THE-FOLDER";
/// The digest-protected REST adapter's password: no answer may ever carry it.
const DIGEST_PASSWORD: &str = "fuzz-digest-password";

const CAPABILITY: &str = r#"ikanos: "1.0.0-beta5"
info:
  display: "Fuzz"
  description: "The MCP and REST adapters under fuzzing; no component is loaded."
capability:
  exposes:
    - type: "mcp"
      port: 0
      namespace: "tools"
      description: "Tools, resources and prompts for the fuzzer."
      tools:
        get-customer:
          display: "Get customer"
          description: "One customer."
          inputParameters:
            id:
              type: integer
              description: "The customer id."
            fields:
              type: array
              required: false
              description: "Fields to return."
            filter:
              type: object
              required: false
              description: "A filter."
            score:
              type: number
              required: false
              description: "A score."
            active:
              type: boolean
              required: false
              description: "Active only."
            name:
              type: string
              required: false
              description: "A name."
          hints:
            readOnly: true
          outputParameters:
            customer:
              type: string
              value: "{}"
      resources:
        readme:
          uri: "docs://readme"
          description: "One file."
          location: "file:///./docs/readme.md"
        files:
          uri: "docs://files/{+path}"
          description: "Any file of the folder."
          location: "file:///./docs"
        by-name:
          uri: "docs://by-name/{name}"
          description: "A file of the folder by name."
          mimeType: "text/plain"
          location: "file:///./docs"
      prompts:
        greet:
          description: "Greets."
          arguments:
            who:
              description: "Who."
              required: true
            tone:
              description: "How."
              required: false
          template:
            - role: user
              content: "Greet {{who}} in a {{tone}} tone."
    - type: "rest"
      port: 0
      namespace: "api"
      resources:
        search:
          path: "/customers/search"
          operations:
            search-customers:
              method: "GET"
              inputParameters:
                q:
                  in: query
                  type: string
                  pattern: "^[a-z ]{0,20}$"
                  description: "Words."
                limit:
                  in: query
                  type: integer
                  description: "At most."
              outputParameters:
                found:
                  type: string
                  value: "[]"
        customer:
          path: "/customers/{id}"
          inputParameters:
            id:
              in: path
              type: integer
              description: "The customer."
          operations:
            get-customer:
              method: "GET"
              inputParameters:
                fields:
                  in: query
                  type: array
                  description: "Fields."
                x-tenant:
                  in: header
                  type: string
                  pattern: "^[a-z]{1,8}$"
                  description: "Tenant."
                session:
                  in: cookie
                  type: string
                  description: "Session."
                score:
                  in: query
                  type: number
                  description: "Score."
              outputParameters:
                customer:
                  type: string
                  value: "{}"
            update-customer:
              method: "PUT"
              inputParameters:
                profile:
                  in: body
                  type: object
                  description: "Profile."
                active:
                  in: body
                  type: boolean
                  description: "Active."
                tags:
                  in: body
                  type: array
                  description: "Tags."
              outputParameters:
                customer:
                  type: string
                  value: "{}"
        orders:
          path: "/customers/{id}/orders/{order}"
          operations:
            get-order:
              method: "GET"
              inputParameters:
                id:
                  in: path
                  type: string
                  pattern: "^c[0-9]+$"
                  description: "The customer."
                order:
                  in: path
                  type: string
                  description: "The order."
              outputParameters:
                order:
                  type: string
                  value: "{}"
    - type: "rest"
      port: 0
      namespace: "guarded"
      authentication:
        type: digest
        username: "fuzz"
        password: "fuzz-digest-password"
      resources:
        status:
          path: "/status"
          operations:
            status:
              method: "GET"
              outputParameters:
                ok:
                  type: string
                  value: "{}"
"#;

struct Fixture {
    mcp: Arc<McpServer>,
    tools: Vec<Tool>,
    rest: Vec<RestAdapter>,
}

/// One current-thread runtime for every run.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
});

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let dir = folder().expect("the fuzz fixture's folder");
    let capability = Arc::new(load(&dir));
    let metrics = Metrics::new();
    let mut mcp = None;
    let mut rest = Vec::new();
    for e in &capability.model.exposes {
        match e {
            Exposes::Mcp(spec) => {
                let tools = spec.tools.iter().map(Tool::new).collect();
                let server = McpServer::new(capability.clone(), spec, metrics.clone(), None);
                mcp = Some((server.expect("the MCP adapter"), tools));
            }
            Exposes::Rest(spec) => rest.push(
                RestAdapter::new(capability.clone(), spec, metrics.clone())
                    .expect("the REST adapter"),
            ),
            _ => {}
        }
    }
    let (mcp, tools) = mcp.expect("an MCP adapter");
    Fixture { mcp, tools, rest }
});

/// A folder for the MCP resources, under the temporary folder: a file and a subfolder
/// inside, a secret beside it, and a symbolic link out of it. One fixed place that every
/// run rewrites with the same content, so test and fuzz runs leave no folder each.
fn folder() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join("ikanos-fuzz-fixture");
    let docs = dir.join("docs");
    std::fs::create_dir_all(docs.join("sub"))?;
    std::fs::write(docs.join("readme.md"), "# Read me\n")?;
    std::fs::write(docs.join("sub/notes.txt"), "notes\n")?;
    std::fs::write(docs.join("data.bin"), [0xff, 0xfe, 0])?;
    std::fs::write(dir.join("secret.txt"), OUTSIDE_SECRET)?;
    match std::os::unix::fs::symlink("../secret.txt", docs.join("escape")) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    Ok(dir)
}

/// The capability as `capability::load` makes it, minus the component and the engine:
/// every operation and tool then answers "no component" instead of running.
fn load(dir: &Path) -> LoadedCapability {
    let file = dir.join("fuzz.ikanos.yaml");
    let loaded = ikanos_spec::load_str(&file, CAPABILITY).unwrap_or_else(|d| panic!("{d}"));
    let model = loaded.capability;
    let policy = BindPolicy::Trusted;
    let secrets = Arc::new(capability::resolve_binds(&model, &policy, None).expect("binds"));
    let environment = capability::resolve_environment(&model, &policy).expect("environment");
    let outbound = Outbound::new(
        "fuzz",
        &model.consumes,
        secrets.clone(),
        &environment,
        &OutboundSettings::default(),
        &TunnelRegistry::builtin(),
        Metrics::new(),
    )
    .expect("outbound");
    LoadedCapability {
        name: "fuzz".into(),
        model,
        warnings: loaded.warnings,
        sandbox: None,
        engine: None,
        definitions: Default::default(),
        outbound: Arc::new(outbound),
        component: None,
        secrets,
        binds: policy,
        scripting: crate::runtime::scripting::Governance::new(None),
    }
}

/// `head\n\nbody`: header lines (`Name: value`) and a body; without a blank line, all
/// body. Lines that are no valid header are left out (hyper refuses them before any
/// adapter sees them).
fn split_message(message: &[u8]) -> (Vec<(HeaderName, HeaderValue)>, &[u8]) {
    let (head, body) = match message.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&message[..i], &message[i + 2..]),
        None => (&[][..], message),
    };
    let headers = head
        .split(|b| *b == b'\n')
        .filter_map(|line| {
            let colon = line.iter().position(|b| *b == b':')?;
            let name = HeaderName::from_bytes(&line[..colon]).ok()?;
            let value = HeaderValue::from_bytes(line[colon + 1..].trim_ascii()).ok()?;
            Some((name, value))
        })
        .collect();
    (headers, body)
}

/// The answer's body, checked: JSON when not empty, and never a secret.
async fn checked(resp: Response) -> Value {
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("a full body")
        .to_bytes();
    check_no_secret(&body);
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{status}: the answer is not JSON ({e}): {body:?}"))
}

fn check_no_secret(bytes: &[u8]) {
    for secret in [OUTSIDE_SECRET, DIGEST_PASSWORD] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "an answer carries {secret}"
        );
    }
}

/// `mcp_jsonrpc`: JSON-RPC messages through the MCP adapter — each POSTed to the
/// streamable HTTP transport (one transport per run, so sessions opened by an
/// `initialize` carry over to the following messages), then all of them as lines of
/// the stdio transport; a `tools/call`'s arguments also go through the tool's argument
/// checks (without a component, the call itself stops before them).
///
/// Input: `\0`-separated messages, each `head\n\nbody` or only a body. The head's
/// `Name: value` lines are added to `Content-Type: application/json` and
/// `Accept: application/json, text/event-stream` (a head line of the same name replaces
/// them); `Mcp-Session-Id: @` names the session the last `initialize` opened.
pub fn mcp_jsonrpc(data: &[u8]) {
    let f = &*FIXTURE;
    RUNTIME.block_on(async {
        let transport = HttpTransport::new(f.mcp.clone());
        let mut session: Option<HeaderValue> = None;
        let mut lines = Vec::new();
        for message in data.split(|b| *b == 0) {
            let (head, body) = split_message(message);
            let mut headers = HeaderMap::new();
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            headers.insert(
                http::header::ACCEPT,
                HeaderValue::from_static("application/json, text/event-stream"),
            );
            let mut replaced = Vec::new();
            for (name, value) in head {
                if !replaced.contains(&name) {
                    headers.remove(&name);
                    replaced.push(name.clone());
                }
                let value = match (&session, name.as_str(), value.as_bytes()) {
                    (Some(s), "mcp-session-id", b"@") => s.clone(),
                    _ => value,
                };
                headers.append(name, value);
            }
            let resp = transport.post(&headers, body, "fuzz", None).await;
            if let Some(s) = resp.headers().get("mcp-session-id") {
                session = Some(s.clone());
            }
            checked(resp).await;
            tool_arguments(f, body);
            lines.extend_from_slice(body);
            lines.push(b'\n');
        }
        let (out, mut theirs) = tokio::io::duplex(1 << 16);
        let (_, answers) = tokio::join!(stdio::serve_on(f.mcp.clone(), &lines[..], out), async {
            let mut all = Vec::new();
            let _ = theirs.read_to_end(&mut all).await;
            all
        });
        for line in answers.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            check_no_secret(line);
            serde_json::from_slice::<Value>(line)
                .unwrap_or_else(|e| panic!("a stdio answer is not JSON ({e}): {line:?}"));
        }
    });
}

fn tool_arguments(f: &Fixture, body: &[u8]) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let name = v["params"]["name"].as_str();
    if let Some(tool) = f.tools.iter().find(|t| Some(t.name.as_str()) == name) {
        let _ = tool.request(v["params"].get("arguments"));
    }
}

/// `rest_routing`: one HTTP request through each REST adapter of the fixture (routing,
/// 404/405, inbound digest authentication on the second), and the input checks of the
/// operation it matches (path, query, header, cookie and body inputs: type, pattern).
///
/// Input: `METHOD target\n`, header lines (`Name: value`), a blank line, the body.
pub fn rest_routing(data: &[u8]) {
    let (line, rest) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let mut words = line.splitn(2, |b| *b == b' ');
    let method = words.next().unwrap_or_default();
    let target = words.next().unwrap_or_default();
    // hyper refuses a request line without a valid method and target.
    let (Ok(method), Ok(uri)) = (
        http::Method::from_bytes(method),
        http::Uri::try_from(target),
    ) else {
        return;
    };
    let (headers, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => {
            let mut head = rest[..i].to_vec();
            head.extend_from_slice(b"\n\n");
            (split_message(&head).0, &rest[i + 2..])
        }
        None => (split_message(&[rest, b"\n\n"].concat()).0, &[][..]),
    };
    let body = Bytes::copy_from_slice(body);
    let request = || {
        let mut req = http::Request::new(Full::new(body.clone()));
        *req.method_mut() = method.clone();
        *req.uri_mut() = uri.clone();
        for (name, value) in &headers {
            req.headers_mut().append(name.clone(), value.clone());
        }
        req
    };
    let f = &*FIXTURE;
    RUNTIME.block_on(async {
        for adapter in &f.rest {
            let _ = adapter.serves(uri.path());
            let answer = checked(adapter.handle(request()).await).await;
            assert!(answer["requestId"].is_string(), "{answer}");
            let (parts, _) = request().into_parts();
            if let Some(Err(message)) = adapter.inputs_for(&parts, &body) {
                check_no_secret(message.as_bytes());
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Run `target` on every saved seed of `fuzz/regressions/<target>` (crash inputs
    /// and a small corpus sample); a missing or empty folder fails rather than passing
    /// silently. Each seed's path is printed first, so a failure names it.
    fn replay(target: &str, run: impl Fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/regressions")
            .join(target);
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        assert!(!paths.is_empty(), "no seeds in {}", dir.display());
        for path in paths {
            println!("{}", path.display());
            run(&std::fs::read(&path).unwrap());
        }
    }

    #[test]
    fn mcp_jsonrpc_regression_seeds() {
        replay("mcp_jsonrpc", super::mcp_jsonrpc);
    }

    #[test]
    fn rest_routing_regression_seeds() {
        replay("rest_routing", super::rest_routing);
    }
}
