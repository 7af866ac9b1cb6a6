//! Capability components that are not written with the Rust guest SDK: Python
//! (componentize-py), JavaScript (componentize-js) and a standard `wasi:http`
//! component (the off-the-shelf `wasip2` crate). Each crm example runs against a
//! loopback CRM and through a tunnel, answers as the Rust crm-sidecar does, and the
//! bearer token the host adds never shows in answers, metrics, `/status` or logs.
//! The `wasi:http` component's own requests go out only as the file declares them.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::fixtures::TOKEN;
use crate::support::relay::Relay;
use crate::support::upstream::{Auth, Upstream};
use crate::support::*;

/// Tests that build or compile a 12–19 MB Python or JavaScript component take turns:
/// on two cores, two of them at once with a cargo build beside take minutes to start.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// How long a host with a Python or JavaScript component may take to start (its first
/// start compiles the component; later ones find it in the shared cache).
const HEAVY_START: Duration = Duration::from_secs(900);

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|p| p.into_inner())
}

/// The newest modification time of the files under `dir` (not in `node_modules`).
fn newest(dir: &Path) -> std::time::SystemTime {
    let mut latest = std::time::SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "node_modules" || name.to_string_lossy().ends_with(".wasm") {
            continue;
        }
        let time = if path.is_dir() {
            newest(&path)
        } else {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(latest)
        };
        latest = latest.max(time);
    }
    latest
}

/// An example's component, built by its `build` script (which installs its pinned
/// toolchain when missing) unless it is newer than the example and its SDK
/// (`scripts/test` builds both first; a rebuild would change its bytes, and the
/// component would be compiled again).
fn built(example: &str, wasm: &str, sdk: &str) -> PathBuf {
    let dir = repo_root().join("examples").join(example);
    let path = dir.join(wasm);
    let fresh = path
        .metadata()
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= newest(&dir) && t >= newest(&repo_root().join(sdk)));
    if fresh {
        return path;
    }
    run_build_script(&dir);
    assert!(path.is_file(), "expected {}", path.display());
    path
}

fn python_component() -> &'static Path {
    static ONCE: OnceLock<PathBuf> = OnceLock::new();
    ONCE.get_or_init(|| built("crm-python", "crm-python.wasm", "guest-sdk-python"))
}

fn js_component() -> &'static Path {
    static ONCE: OnceLock<PathBuf> = OnceLock::new();
    ONCE.get_or_init(|| built("crm-js", "crm-js.wasm", "guest-sdk-js"))
}

fn wasi_http_component() -> PathBuf {
    components().crm_wasi_http.clone()
}

/// The example's capability file (`examples/NAME/NAME.ikanos.yaml`) in `dir`, with its
/// CRM at `base`, its secrets beside it, and `edit` applied.
fn example_file(dir: &Path, name: &str, base: &str, edit: impl Fn(String) -> String) -> PathBuf {
    write(
        dir,
        "secrets.yaml",
        &format!("crm-bearer-token: \"{TOKEN}\"\nrelay-id: \"id-1\"\n"),
    );
    example(dir, &format!("examples/{name}/{name}.ikanos.yaml"), |s| {
        edit(s.replace("http://127.0.0.1:18081", base))
    })
}

/// Route the file's `crm` entry through the test relay at `relay` (fail closed).
fn through_relay(text: String, relay: &str) -> String {
    let tunnel = format!(
        "      tunnel:\n        type: test-relay\n        service: crm-api\n        identity: \"{{{{secrets.RELAY_ID}}}}\"\n        fallback: fail\n        relay: \"{relay}\"\n      resources:\n"
    );
    let text = text.replacen("      resources:\n", &tunnel, 1);
    text.replacen(
        "CRM_TOKEN: crm-bearer-token\n",
        "CRM_TOKEN: crm-bearer-token\n      RELAY_ID: relay-id\n",
        1,
    )
}

/// The crm example's answers, as the Rust crm-sidecar gives them.
fn answers_like_crm_sidecar(host: &Host) {
    let api = host.rest_url("crm-api");
    let r = get(&format!("{api}/customers"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json().as_array().map(Vec::len), Some(3), "{}", r.body);
    let r = get(&format!("{api}/customers?limit=2"));
    assert_eq!(r.json().as_array().map(Vec::len), Some(2), "{}", r.body);
    let r = get(&format!("{api}/customers/2"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["name"], "Grace Hopper", "{}", r.body);
    let r = get(&format!("{api}/customers/99"));
    assert_eq!(r.status, 404, "{}", r.body);
    let r = get(&format!("{api}/customers?limit=-1"));
    assert_eq!(r.status, 400, "{}", r.body);
}

/// Nothing the host shows carries the token.
fn token_kept(host: &mut Host) {
    let metrics = get(&format!("{}/metrics", host.control_url()));
    let status = get(&format!("{}/status", host.control_url()));
    assert!(!metrics.body.contains(TOKEN) && !status.body.contains(TOKEN));
    assert_eq!(host.terminate(Duration::from_secs(30)), Some(0));
    assert!(
        !host.all_output().contains(TOKEN),
        "the token leaked into the logs"
    );
}

fn crm() -> Upstream {
    Upstream::start(Auth {
        bearer: Some(TOKEN.into()),
        ..Auth::default()
    })
}

/// Direct to a loopback CRM, then through a tunnel whose baseUri is a decoy that must
/// see nothing, then with the tunnel down (503, fail closed).
fn crm_example_direct_and_tunnelled(name: &str, component: &Path) {
    let upstream = crm();
    let dir = tempfile::tempdir().unwrap();
    let file = example_file(dir.path(), name, &upstream.base(), |s| s);
    let mut host = HostBuilder::new(&file)
        .component(component)
        .start_within(HEAVY_START)
        .start(1);
    answers_like_crm_sidecar(&host);
    let seen = upstream.requests();
    assert_eq!(
        seen.len(),
        4,
        "{:?}",
        seen.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    for req in &seen {
        assert_eq!(
            req.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
    }
    token_kept(&mut host);

    let private = crm();
    let decoy = crm();
    let relay = Relay::start(0, &["id-1"]);
    relay.map(&decoy.addr.to_string(), private.addr);
    let dir = tempfile::tempdir().unwrap();
    let file = example_file(dir.path(), name, &decoy.base(), |s| {
        through_relay(s, &relay.addr.to_string())
    });
    let host = HostBuilder::new(&file)
        .component(component)
        .start_within(HEAVY_START)
        .start(1);
    let ready = wait_ready(&host, 200);
    assert_eq!(
        ready["consumes"][0]["route"], "tunnel:test-relay",
        "{ready}"
    );
    answers_like_crm_sidecar(&host);
    assert_eq!(private.requests().len(), 4);
    assert_eq!(
        decoy.connections(),
        0,
        "the public address must see nothing"
    );
    relay.stop();
    wait_ready(&host, 503);
    let r = get(&format!("{}/customers/2", host.rest_url("crm-api")));
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(
        decoy.connections(),
        0,
        "fail closed: nothing goes to the public address"
    );
}

#[test]
fn the_python_crm_example_runs_direct_and_through_a_tunnel() {
    let _turn = heavy();
    crm_example_direct_and_tunnelled("crm-python", python_component());
}

#[test]
fn the_javascript_crm_example_runs_direct_and_through_a_tunnel() {
    let _turn = heavy();
    crm_example_direct_and_tunnelled("crm-js", js_component());
}

#[test]
fn the_wasi_http_crm_example_runs_direct_and_through_a_tunnel() {
    crm_example_direct_and_tunnelled("crm-wasi-http", &wasi_http_component());
}

/// A standard component's request to an origin or a path the file does not declare
/// is refused (the component gets `HttpRequestDenied`), counted, logged with what is
/// declared, and never reaches the network.
#[test]
fn a_wasi_http_component_reaches_only_what_the_file_declares() {
    let upstream = crm();
    let stray = crm();
    let dir = tempfile::tempdir().unwrap();
    let base = upstream.base();
    // The component is told to send to another origin, then to an undeclared path of
    // the declared one: the file's `x-crm-origin` input says where it sends.
    let file = example_file(dir.path(), "crm-wasi-http", &base, |s| {
        s.replacen(
            &format!("value: \"{base}\""),
            &format!("value: \"{}\"", stray.base()),
            1,
        )
        .replacen(
            &format!("value: \"{base}\""),
            &format!("value: \"{base}/admin\""),
            1,
        )
    });
    let mut host = HostBuilder::new(&file)
        .component(&wasi_http_component())
        .start(1);
    let api = host.rest_url("crm-api");
    let r = get(&format!("{api}/customers"));
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(r.body.contains("HttpRequestDenied"), "{}", r.body);
    let r = get(&format!("{api}/customers/2"));
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(r.body.contains("HttpRequestDenied"), "{}", r.body);
    assert_eq!(stray.connections(), 0, "an undeclared origin was dialed");
    assert!(
        upstream.requests().is_empty(),
        "an undeclared path was sent"
    );

    let m = get(&format!("{}/metrics", host.control_url())).body;
    for reason in ["undeclared_origin", "undeclared_operation"] {
        let needle = format!(
            "ikanos_egress_refused_total{{capability=\"crm-wasi-http\",reason=\"{reason}\"}} 1"
        );
        assert!(m.contains(&needle), "missing `{needle}` in:\n{m}");
    }
    assert_eq!(host.terminate(Duration::from_secs(30)), Some(0));
    let logs = host.all_output();
    assert!(
        logs.contains(&format!(
            "no consumes entry has the origin {}",
            stray.base()
        )),
        "{logs}"
    );
    assert!(
        logs.contains("no declared operation has this method and path")
            && logs.contains("crm.get-customer (GET /customers/{{id}})"),
        "{logs}"
    );
}

/// A standard `wasi:http` component answers REST operations only: an MCP tool left to
/// it is refused at load, at the tool's position.
#[test]
fn an_mcp_tool_left_to_a_wasi_http_component_is_refused_at_load() {
    let upstream = crm();
    let dir = tempfile::tempdir().unwrap();
    let file = example_file(dir.path(), "crm-wasi-http", &upstream.base(), |s| {
        format!(
            "{s}    - type: mcp\n      address: \"127.0.0.1\"\n      port: 0\n      namespace: crm-tools\n      tools:\n        list-customers:\n          description: \"List customers.\"\n"
        )
    });
    let text = std::fs::read_to_string(&file).unwrap();
    let line = text
        .lines()
        .position(|l| l.trim() == "list-customers:" && l.starts_with("        l"))
        .map(|i| i + 1)
        .unwrap();
    let (code, output) = HostBuilder::new(&file)
        .component(&wasi_http_component())
        .run_to_exit();
    assert_ne!(code, 0, "{output}");
    assert!(
        output.contains(&format!("crm-wasi-http.ikanos.yaml:{line}:"))
            && output.contains("is a wasi:http component"),
        "{output}"
    );
}

/// `ikanos new NAME --lang L`, its `./build`, then `ikanos run`: the project greets on
/// its own and reaches the declared API with the host's token, in every language.
fn new_project_builds_and_serves(lang: &str) {
    let _turn = heavy();
    let dir = tempfile::tempdir().unwrap();
    let name = format!("made-{lang}");
    let (code, out, err) = run_cli(&[
        "new",
        &name,
        "--lang",
        lang,
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let project = dir.path().join(&name);
    assert!(out.contains("./build"), "{out}");
    // A second `new` never writes into it.
    let (code, _, err) = run_cli(&[
        "new",
        &name,
        "--lang",
        lang,
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("exists already"), "{err}");

    run_build_script(&project);
    assert!(project.join(format!("{name}.wasm")).is_file());

    let upstream = crm();
    let file = project.join(format!("{name}.ikanos.yaml"));
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("http://127.0.0.1:18081", &upstream.base())
        .replace("port: 8081", "port: 0");
    std::fs::write(&file, text).unwrap();
    write(
        &project,
        "secrets.yaml",
        &format!("api-bearer-token: \"{TOKEN}\"\n"),
    );
    // The component is found beside the file, as the README says.
    let mut host = HostBuilder::new(&file).start_within(HEAVY_START).start(1);
    let api = host.rest_url(&name);
    let r = get(&format!("{api}/hello/Ada"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["message"], "Hello, Ada!", "{}", r.body);
    let r = get(&format!("{api}/customers/2"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["name"], "Grace Hopper", "{}", r.body);
    let r = get(&format!("{api}/customers/99"));
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(
        upstream.requests()[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    token_kept(&mut host);
}

#[test]
fn ikanos_new_rust_builds_and_serves() {
    new_project_builds_and_serves("rust");
}

#[test]
fn ikanos_new_python_builds_and_serves() {
    new_project_builds_and_serves("python");
}

#[test]
fn ikanos_new_js_builds_and_serves() {
    new_project_builds_and_serves("js");
}
