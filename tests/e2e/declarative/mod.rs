//! Conformance of the declarative operations (call/with, JSONPath outputParameters, steps,
//! lookup, ref/aggregates, mocks, format conversion) against upstream Ikanos.
//!
//! Each test copies one public sample (`../shared/conformance/ikanos-samples`) into a temp
//! folder, changing only its `baseUri` hosts (to the loopback shipyard), its ports (to 0)
//! and `0.0.0.0` listen addresses (to 127.0.0.1), starts `ikanos run FILE` with no
//! component, then drives every exposed operation and tool listed in
//! `expected/<sample>.json` over REST and MCP and asserts the exact output upstream's
//! engine produces for the same upstream data, and the requests the shipyard received.
//!
//! The expected files are written by `gen_expected.py` (each non-obvious entry has a `why`
//! naming the upstream class and method). `NOTES.md` lists what could not be determined.

mod oauth2;
mod shipyard_upstream;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::mcp::harness::meta;
use crate::support::{self, HostBuilder};
use shipyard_upstream::{Recorded, Shipyard, ShipyardAuth, REALM};

/// The number of exposed operations and tools in the corpus (upstream-parity.md §2; the
/// forward resource of register.capability.yml is checked but not counted).
const TOTAL: usize = 53;

/// Every expected file, in corpus order.
const SAMPLES: &[&str] = &[
    "capability-binary-content",
    "e2e-exposed-oauth2-capability",
    "mcp-resources-prompts-capability",
    "mcp-stdio-capability",
    "register.capability",
    "serve-http.ikanos",
    "step-1-shipyard-mock",
    "step-2-shipyard-wiring",
    "step-3-shipyard-auth",
    "step-4-shipyard-output-shaping",
    "step-7-shipyard-orchestrated-lookup",
    "step-9-shipyard-aggregates",
    "step-10-shipyard-rest-adapter",
    "step-11-shipyard-fleet-manifest",
];

fn corpus() -> Option<PathBuf> {
    let dir = support::repo_root().join("../shared/conformance/ikanos-samples");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP: {} is absent (the shared conformance corpus is not part of the repository)",
            dir.display()
        );
        None
    }
}

fn expected(name: &str) -> Value {
    let p = support::repo_root()
        .join("tests/e2e/declarative/expected")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The sample text with only hosts, ports and listen addresses changed.
fn rewrite(text: &str, base: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if trimmed.starts_with("port:") {
            out.push_str(&format!("{indent}port: 0\n"));
            continue;
        }
        let mut l = line.to_string();
        for host in [
            "https://mocks.naftiko.net",
            "http://localhost:8080",
            "http://localhost:9611",
            "http://localhost:8180",
            "https://photos.example.org",
            "http://host.docker.internal:8080",
        ] {
            l = l.replace(host, base);
        }
        l = l
            .replace("\"0.0.0.0\"", "\"127.0.0.1\"")
            .replace("file:///app/shared/", "file:///./shared/");
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// Copy `sample` (and the corpus's `shared/` folder) into `dir`, rewritten; the copy's path.
fn prepare(dir: &Path, corpus: &Path, sample: &str, base: &str) -> PathBuf {
    let shared = dir.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    for e in std::fs::read_dir(corpus.join("shared")).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(shared.join(p.file_name().unwrap()), rewrite(&text, base)).unwrap();
    }
    let text = std::fs::read_to_string(corpus.join(sample)).unwrap();
    support::write(dir, sample, &rewrite(&text, base))
}

/// What one sample run found: per operation (adapter, namespace, name), its failures.
#[derive(Default)]
struct Outcome {
    ops: Vec<((String, String, String), Vec<String>, bool)>,
    /// A failure before any operation ran (start-up).
    fatal: Option<String>,
}

impl Outcome {
    fn record(&mut self, key: (String, String, String), counts: bool, failure: Option<String>) {
        let i = match self.ops.iter().position(|(k, _, _)| *k == key) {
            Some(i) => i,
            None => {
                self.ops.push((key, Vec::new(), counts));
                self.ops.len() - 1
            }
        };
        if let Some(f) = failure {
            self.ops[i].1.push(f);
        }
    }
    fn working(&self) -> usize {
        self.ops
            .iter()
            .filter(|(_, f, c)| *c && f.is_empty())
            .count()
    }
    fn counted(&self) -> usize {
        self.ops.iter().filter(|(_, _, c)| *c).count()
    }
    fn failures(&self) -> Vec<String> {
        let mut v: Vec<String> = self.fatal.iter().cloned().collect();
        for ((a, ns, n), f, _) in &self.ops {
            for m in f {
                v.push(format!("{a} {ns}/{n}: {m}"));
            }
        }
        v
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// A request with raw bytes back: (status, content-type, body).
fn send_raw(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Option<String>,
) -> Result<(u16, String, Vec<u8>), String> {
    let mut b = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(k.as_str(), v.as_str());
    }
    let mut r = agent()
        .run(b.body(body.unwrap_or_default()).unwrap())
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = r
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .map_err(|e| e.to_string())?;
    Ok((r.status().as_u16(), ct, bytes))
}

/// `expected` ⊆ `actual` for objects (extra keys in `actual` allowed), equality otherwise;
/// arrays element-wise with the same length.
fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|x| contains(x, v))),
        (Value::Array(a), Value::Array(e)) => {
            a.len() == e.len() && a.iter().zip(e).all(|(x, y)| contains(x, y))
        }
        _ => actual == expected,
    }
}

/// Exact JSON equality, numbers compared by value (2015 == 2015.0).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_json(v, w))
        }
        _ => a == b,
    }
}

/// The shipyard requests an entry caused (authorization-server traffic left out) match
/// what upstream sends.
fn check_upstream(seen: &[Recorded], want: &Value) -> Option<String> {
    let seen: Vec<&Recorded> = seen.iter().filter(|r| !r.path.starts_with(REALM)).collect();
    let want = want.as_array().cloned().unwrap_or_default();
    let show = || {
        seen.iter()
            .map(|r| {
                format!(
                    "{} {}{}",
                    r.method,
                    r.path,
                    r.query
                        .as_deref()
                        .map(|q| format!("?{q}"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
    };
    if seen.len() != want.len() {
        return Some(format!(
            "upstream saw {:?}, expected {} request(s): {want:?}",
            show(),
            want.len()
        ));
    }
    for (r, w) in seen.iter().zip(&want) {
        if r.method != w["method"] {
            return Some(format!("upstream method {} != {}", r.method, w["method"]));
        }
        let p = w["path"].as_str().unwrap();
        let path_ok = r.path == p
            // Upstream joins baseUri and path with no separator; a "/" between is accepted.
            || r.path == p.replace("/v1databases", "/v1/databases")
            || r.path == p.replace("/v1ping", "/v1/ping")
            // `{id}` is not substituted upstream (single braces); any segment is accepted.
            || (p.contains("{id}") && {
                let (pre, post) = p.split_once("{id}").unwrap();
                r.path.starts_with(pre) && r.path.ends_with(post) && r.path.len() > pre.len() + post.len()
            });
        if !path_ok {
            return Some(format!("upstream path {} != {p}", r.path));
        }
        let q: serde_json::Map<String, Value> = r
            .query
            .as_deref()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect()
            })
            .unwrap_or_default();
        let wq = w["query"].as_object().cloned().unwrap_or_default();
        if q != wq {
            return Some(format!(
                "upstream query {:?} != {wq:?} on {}",
                r.query, r.path
            ));
        }
        // A null header value means the header must be absent.
        for (k, v) in w["headers"].as_object().into_iter().flatten() {
            if r.header(k) != v.as_str() {
                return Some(format!(
                    "upstream header {k}: {:?} != {v} on {}",
                    r.header(k),
                    r.path
                ));
            }
        }
        if let Some(jb) = w.get("jsonBody") {
            match serde_json::from_slice::<Value>(&r.body) {
                Ok(b) if same_json(&b, jb) => {}
                _ => {
                    return Some(format!(
                        "upstream body {} != {jb}",
                        String::from_utf8_lossy(&r.body)
                    ))
                }
            }
        }
    }
    None
}

/// The tool result against `expected` (`isError`, and `body` by `bodyKind`).
fn check_mcp_result(result: &Value, exp: &Value) -> Option<String> {
    let is_error = result["isError"].as_bool().unwrap_or(false);
    if is_error != exp["isError"].as_bool().unwrap() {
        return Some(format!("isError {is_error}: {result}"));
    }
    let text = result["content"][0]["text"].as_str();
    match exp["bodyKind"].as_str().unwrap() {
        "json" => match text.map(serde_json::from_str::<Value>) {
            Some(Ok(v)) if same_json(&v, &exp["body"]) => None,
            _ => Some(format!("content {} != {}", result["content"], exp["body"])),
        },
        "text" => {
            (text != exp["body"].as_str()).then(|| format!("text {:?} != {:?}", text, exp["body"]))
        }
        "content" => (!contains(&result["content"], &exp["body"]))
            .then(|| format!("content {} != {}", result["content"], exp["body"])),
        k => Some(format!("unknown bodyKind {k}")),
    }
}

fn check_rest(status: u16, ct: &str, body: &[u8], exp: &Value) -> Option<String> {
    if u64::from(status) != exp["status"].as_u64().unwrap() {
        return Some(format!(
            "status {status} != {} ({})",
            exp["status"],
            String::from_utf8_lossy(body)
        ));
    }
    if let Some(want) = exp["contentType"].as_str() {
        if !ct.starts_with(want) {
            return Some(format!("content-type {ct:?} != {want}"));
        }
    }
    match exp["bodyKind"].as_str().unwrap() {
        "json" => match serde_json::from_slice::<Value>(body) {
            Ok(v) if same_json(&v, &exp["body"]) => None,
            _ => Some(format!(
                "body {} != {}",
                String::from_utf8_lossy(body),
                exp["body"]
            )),
        },
        "base64" => {
            use base64::Engine as _;
            let want = base64::engine::general_purpose::STANDARD
                .decode(exp["body"].as_str().unwrap())
                .unwrap();
            (body != want.as_slice())
                .then(|| format!("{} bytes, not the {} expected", body.len(), want.len()))
        }
        // Upstream's body is not determinable (see the entry's `why`): status only.
        "unknown" => None,
        k => Some(format!("unknown bodyKind {k}")),
    }
}

fn rest_request(base: &str, entry: &Value) -> Result<(u16, String, Vec<u8>), String> {
    let req = &entry["request"];
    let mut url = format!("{base}{}", req["path"].as_str().unwrap());
    let q: Vec<(String, String)> = req["query"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    if !q.is_empty() {
        url.push('?');
        url.push_str(
            &url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(q)
                .finish(),
        );
    }
    let headers: Vec<(String, String)> = req["headers"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let body = (!req["body"].is_null()).then(|| req["body"].to_string());
    send_raw(req["method"].as_str().unwrap(), &url, &headers, body)
}

fn mcp_call(
    url: &str,
    bearer: Option<&str>,
    tool: &str,
    arguments: &Value,
) -> Result<Value, String> {
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        (
            "accept".to_string(),
            "application/json, text/event-stream".to_string(),
        ),
        ("mcp-protocol-version".to_string(), "2026-07-28".to_string()),
        ("mcp-method".to_string(), "tools/call".to_string()),
        ("mcp-name".to_string(), tool.to_string()),
    ];
    if let Some(t) = bearer {
        headers.push(("authorization".to_string(), format!("Bearer {t}")));
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments, "_meta": meta()}});
    let (status, _, bytes) = send_raw("POST", url, &headers, Some(body.to_string()))?;
    let text = String::from_utf8_lossy(&bytes);
    if status != 200 {
        return Err(format!("HTTP {status}: {text}"));
    }
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON ({e}): {text}"))?;
    v.get("result")
        .cloned()
        .ok_or_else(|| format!("no result: {v}"))
}

/// MCP over stdio: `ikanos run FILE` with pipes, the handshake, then one tools/call per entry.
struct StdioMcp {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
    next_id: u64,
}

impl StdioMcp {
    fn start(file: &Path) -> Result<StdioMcp, String> {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let mut child = Command::new(env!("CARGO_BIN_EXE_ikanos"))
            .arg("run")
            .arg(file)
            .args(["--control", "127.0.0.1:0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdin = child.stdin.take().unwrap();
        let lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut s = StdioMcp {
            child,
            stdin,
            lines,
            next_id: 1,
        };
        s.ask(json!({"jsonrpc": "2.0", "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "conformance", "version": "1"}}}))?;
        s.notify(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))?;
        Ok(s)
    }
    fn notify(&mut self, msg: Value) -> Result<(), String> {
        use std::io::Write;
        writeln!(self.stdin, "{msg}")
            .and_then(|_| self.stdin.flush())
            .map_err(|e| e.to_string())
    }
    fn ask(&mut self, mut msg: Value) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        msg["id"] = json!(id);
        self.notify(msg)?;
        loop {
            let line = self
                .lines
                .next()
                .ok_or("stdout closed")?
                .map_err(|e| e.to_string())?;
            let v: Value =
                serde_json::from_str(&line).map_err(|e| format!("stdout carried {line:?}: {e}"))?;
            if v["id"] == json!(id) {
                return Ok(v);
            }
        }
    }
    fn call(&mut self, tool: &str, arguments: &Value) -> Result<Value, String> {
        let v = self.ask(json!({"jsonrpc": "2.0", "method": "tools/call", "params": {"name": tool, "arguments": arguments}}))?;
        v.get("result")
            .cloned()
            .ok_or_else(|| format!("no result: {v}"))
    }
}

impl Drop for StdioMcp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `http://ADDR/mcp` of MCP adapter `namespace`, once its `listening` line is logged.
fn mcp_url(host: &support::Host, namespace: &str) -> Result<String, String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(a) = host.adapter_addr("mcp", namespace) {
            return Ok(format!("http://{a}/mcp"));
        }
        if std::time::Instant::now() > deadline {
            return Err(format!("no MCP adapter '{namespace}' is listening"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn rest_url(host: &support::Host, namespace: &str) -> Result<String, String> {
    host.rest
        .iter()
        .find(|(n, _)| n == namespace)
        .map(|(_, a)| format!("http://{a}"))
        .ok_or_else(|| format!("no REST adapter '{namespace}' in {:?}", host.rest))
}

/// Run one sample end to end; never panics on a wrong answer (the caller decides).
fn run_sample(name: &str, corpus: &Path) -> Outcome {
    let exp = expected(name);
    let mut out = Outcome::default();
    let shipyard = Shipyard::start(ShipyardAuth {
        registry_bearer: exp["registryBearer"].as_str().map(str::to_string),
        dock_key: exp["dockKey"].as_str().map(str::to_string),
        basic: exp["basic"].as_array().map(|b| {
            (
                b[0].as_str().unwrap().to_string(),
                b[1].as_str().unwrap().to_string(),
            )
        }),
    });
    let dir = tempfile::tempdir().unwrap();
    let file = prepare(
        dir.path(),
        corpus,
        exp["sample"].as_str().unwrap(),
        &shipyard.base(),
    );
    let entries = exp["entries"].as_array().unwrap().clone();
    let key = |e: &Value| {
        (
            e["adapter"].as_str().unwrap().to_string(),
            e["namespace"].as_str().unwrap().to_string(),
            e["name"].as_str().unwrap().to_string(),
        )
    };
    let counts = |e: &Value| e["countsTowards53"].as_bool().unwrap_or(true);

    if exp["transport"] == "stdio" {
        let mut mcp = match StdioMcp::start(&file) {
            Ok(m) => m,
            Err(e) => {
                out.fatal = Some(format!("stdio start: {e}"));
                for e in &entries {
                    out.record(key(e), counts(e), Some("not run".into()));
                }
                return out;
            }
        };
        for e in &entries {
            shipyard.take_requests();
            let failure = match mcp.call(e["name"].as_str().unwrap(), &e["request"]["arguments"]) {
                Ok(r) => check_mcp_result(&r, &e["expected"]),
                Err(err) => Some(err),
            }
            .or_else(|| check_upstream(&shipyard.take_requests(), &e["upstream"]));
            out.record(
                key(e),
                counts(e),
                failure.map(|f| format!("[{}] {f}", e["case"])),
            );
        }
        return out;
    }

    let rest_namespaces: std::collections::BTreeSet<&str> = entries
        .iter()
        .filter(|e| e["adapter"] == "rest")
        .map(|e| e["namespace"].as_str().unwrap())
        .collect();
    let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        HostBuilder::new(&file).start(rest_namespaces.len())
    }));
    let host = match started {
        Ok(h) => h,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            out.fatal = Some(format!("ikanos did not start: {msg}"));
            for e in &entries {
                out.record(key(e), counts(e), Some("not run".into()));
            }
            return out;
        }
    };
    for e in &entries {
        shipyard.take_requests();
        let ns = e["namespace"].as_str().unwrap();
        let failure = if e["adapter"] == "rest" {
            match rest_url(&host, ns).and_then(|base| rest_request(&base, e)) {
                Ok((status, ct, body)) => check_rest(status, &ct, &body, &e["expected"]),
                Err(err) => Some(err),
            }
        } else {
            let oauth = exp["oauth2"]["namespace"] == ns;
            let token = if oauth {
                Some(
                    shipyard.mint_token(exp["oauth2"]["audience"].as_str().unwrap(), "conformance"),
                )
            } else {
                exp["mcpBearer"].as_str().map(str::to_string)
            };
            match mcp_url(&host, ns).and_then(|url| {
                mcp_call(
                    &url,
                    token.as_deref(),
                    e["name"].as_str().unwrap(),
                    &e["request"]["arguments"],
                )
            }) {
                Ok(r) => check_mcp_result(&r, &e["expected"]),
                Err(err) => Some(err),
            }
        }
        .or_else(|| check_upstream(&shipyard.take_requests(), &e["upstream"]));
        out.record(
            key(e),
            counts(e),
            failure.map(|f| format!("[{}] {f}", e["case"])),
        );
    }
    if !out.failures().is_empty() {
        eprintln!("--- ikanos output for {name} ---\n{}", host.all_output());
    }
    out
}

fn run_and_assert(name: &str) {
    let Some(corpus) = corpus() else { return };
    let out = run_sample(name, &corpus);
    println!(
        "{name}: operations and tools doing their job: {} / {}",
        out.working(),
        out.counted()
    );
    let failures = out.failures();
    assert!(failures.is_empty(), "{name}:\n{}", failures.join("\n"));
}

#[test]
fn capability_binary_content() {
    run_and_assert("capability-binary-content");
}

#[test]
fn e2e_exposed_oauth2() {
    run_and_assert("e2e-exposed-oauth2-capability");
}

#[test]
fn mcp_resources_prompts() {
    run_and_assert("mcp-resources-prompts-capability");
}

#[test]
fn mcp_stdio() {
    run_and_assert("mcp-stdio-capability");
}

#[test]
fn register_forward() {
    run_and_assert("register.capability");
}

#[test]
fn serve_http() {
    run_and_assert("serve-http.ikanos");
}

#[test]
fn step_1_shipyard_mock() {
    run_and_assert("step-1-shipyard-mock");
}

#[test]
fn step_2_shipyard_wiring() {
    run_and_assert("step-2-shipyard-wiring");
}

#[test]
fn step_3_shipyard_auth() {
    run_and_assert("step-3-shipyard-auth");
}

#[test]
fn step_4_shipyard_output_shaping() {
    run_and_assert("step-4-shipyard-output-shaping");
}

#[test]
fn step_7_shipyard_orchestrated_lookup() {
    run_and_assert("step-7-shipyard-orchestrated-lookup");
}

#[test]
fn step_9_shipyard_aggregates() {
    run_and_assert("step-9-shipyard-aggregates");
}

#[test]
fn step_10_shipyard_rest_adapter() {
    run_and_assert("step-10-shipyard-rest-adapter");
}

#[test]
fn step_11_shipyard_fleet_manifest() {
    run_and_assert("step-11-shipyard-fleet-manifest");
}

/// All samples in one run: prints the count line, then fails unless all 53 work.
#[test]
fn declarative_conformance_count() {
    let Some(corpus) = corpus() else { return };
    let (mut working, mut counted, mut failures) = (0, 0, Vec::new());
    for name in SAMPLES {
        let out = run_sample(name, &corpus);
        working += out.working();
        counted += out.counted();
        failures.extend(out.failures().into_iter().map(|f| format!("{name}: {f}")));
    }
    assert_eq!(
        counted, TOTAL,
        "the expected files should cover {TOTAL} operations and tools"
    );
    println!("operations and tools doing their job: {working} / {TOTAL}");
    eprintln!("operations and tools doing their job: {working} / {TOTAL}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(working, TOTAL);
}

/// `examples/shipyard` (upstream's tutorial, final step, copied unmodified) runs like
/// the sample it was copied from: every operation and tool does its job. It needs no
/// `../shared`: the files are in the repository.
#[test]
fn the_shipyard_example_runs_unmodified() {
    let corpus = support::repo_root().join("examples/shipyard");
    let sample = "step-11-shipyard-fleet-manifest";
    let out = run_sample(sample, &corpus);
    let failures = out.failures();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(out.working(), out.counted());
    assert!(out.working() >= 12, "{}", out.working());
}

/// The skill adapters of the samples serve every skill tool they declare (21 in all).
#[test]
fn every_skill_tool_of_the_samples_is_served() {
    let Some(corpus) = corpus() else { return };
    let mut served = 0;
    for name in SAMPLES {
        served += skill_tools_served(name, &corpus);
    }
    println!("skill tools served: {served} / 21");
    assert_eq!(served, 21);
}

/// Start sample `name` and count the tools its skill adapters list in each skill's
/// detail (`/skills/{name}`).
fn skill_tools_served(name: &str, corpus: &Path) -> usize {
    let exp = expected(name);
    let dir = tempfile::tempdir().unwrap();
    let sample = exp["sample"].as_str().unwrap();
    let text = std::fs::read_to_string(corpus.join(sample)).unwrap();
    if !text.contains("type: skill") || exp["transport"] == "stdio" {
        return 0;
    }
    let shipyard = Shipyard::start(ShipyardAuth::default());
    let file = prepare(dir.path(), corpus, sample, &shipyard.base());
    let rest_namespaces: std::collections::BTreeSet<&str> = exp["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["adapter"] == "rest")
        .map(|e| e["namespace"].as_str().unwrap())
        .collect();
    let host = HostBuilder::new(&file).start(rest_namespaces.len());
    let skills: Vec<String> = host
        .logs()
        .iter()
        .filter(|l| l.contains("listening") && l.contains("adapter=\"skill\""))
        .filter_map(|l| support::field(l, "addr"))
        .collect();
    assert!(!skills.is_empty(), "{name}: no skill adapter listening");
    let mut count = 0;
    for addr in skills {
        let catalog = support::get(&format!("http://{addr}/skills")).json();
        for skill in catalog["skills"].as_array().unwrap() {
            let detail = support::get(&format!(
                "http://{addr}/skills/{}",
                skill["name"].as_str().unwrap()
            ))
            .json();
            count += detail["tools"].as_array().map_or(0, Vec::len);
        }
    }
    count
}

/// The shipyard answers with upstream's data and checks credentials (no ikanos needed).
#[test]
fn shipyard_serves_upstream_data_and_checks_credentials() {
    let s = Shipyard::start(ShipyardAuth {
        registry_bearer: Some("dummy-token".into()),
        dock_key: Some("dummy-dockyard-key".into()),
        basic: None,
    });
    let reg = format!(
        "{}/rest/naftiko-shipyard-maritime-registry-api/1.0.0-alpha2",
        s.base()
    );
    assert_eq!(support::get(&format!("{reg}/ships")).status, 401);
    let r = support::get_with(
        &format!("{reg}/ships?status=active"),
        &[("authorization", "Bearer dummy-token")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()[0]["vessel_name"], "Northern Star");
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    let leg = format!(
        "{}/rest/naftiko-shipyard-legacy-dockyard-api/1.0.0-alpha2/vessels",
        s.base()
    );
    assert_eq!(support::get(&leg).status, 401);
    let r = support::get_with(&leg, &[("x-dock-key", "dummy-dockyard-key")]);
    assert!(
        r.body.contains("<vesselCode>LEGACY-2087</vesselCode>"),
        "{}",
        r.body
    );
    assert_eq!(s.requests().len(), 4);
    let jwks = support::get(&format!(
        "{}{REALM}/protocol/openid-connect/certs",
        s.base()
    ))
    .json();
    assert_eq!(jwks["keys"][0]["crv"], "P-256");
    assert_eq!(s.mint_token("aud", "sub").split('.').count(), 3);
}
