//! What the benchmarks share: a loopback upstream, a load generator, the `ikanos`
//! child process and the report format.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

pub const TOKEN: &str = "bench-token";

#[path = "../../../tests/e2e/support/ports.rs"]
mod ports;
#[allow(unused_imports)] // used by the benches that mount openssh.rs
pub use ports::free_port;

pub fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Serve `svc` on a fresh loopback port from a dedicated runtime: single-threaded, or
/// multi-threaded with one worker per core (what `ikanos run` uses).
pub fn spawn_server<F, Fut>(multi_thread: bool, svc: F) -> SocketAddr
where
    F: Fn(http::Request<hyper::body::Incoming>) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = http::Response<Full<Bytes>>> + Send + 'static,
{
    spawn_named_server("bench-server", multi_thread, svc)
}

/// [`spawn_server`] whose threads are all named `name` (at most 15 bytes), so
/// [`OsCounters`] can tell them from the bench's other threads.
pub fn spawn_named_server<F, Fut>(name: &str, multi_thread: bool, svc: F) -> SocketAddr
where
    F: Fn(http::Request<hyper::body::Incoming>) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = http::Response<Full<Bytes>>> + Send + 'static,
{
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    let name = name.to_string();
    let thread = std::thread::Builder::new().name(name.clone());
    let _ = thread.spawn(move || {
        let rt = if multi_thread {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name(name)
                .build()
                .unwrap()
        } else {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        };
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let _ = stream.set_nodelay(true);
                let svc = svc.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let svc = svc.clone();
                        async move { Ok::<_, Infallible>(svc(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
    });
    addr
}

pub const CUSTOMERS: &str = r#"[{"id":"1","name":"Ada Lovelace","email":"ada@example.test"},{"id":"2","name":"Grace Hopper","email":"grace@example.test"},{"id":"3","name":"Alan Turing","email":"alan@example.test"}]"#;

pub fn upstream() -> SocketAddr {
    spawn_server(
        false,
        |req: http::Request<hyper::body::Incoming>| async move {
            let ok = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                == Some(&format!("Bearer {TOKEN}"));
            let (status, body) = if ok { (200, CUSTOMERS) } else { (401, "{}") };
            http::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from_static(body.as_bytes())))
                .unwrap()
        },
    )
}

pub struct IkanosChild {
    child: Child,
    pub rest: String,
    pub control: String,
    /// Every adapter's address by its namespace.
    pub adapters: std::collections::HashMap<String, String>,
    /// Its command line, to start it again ([`IkanosChild::start_to_ready`]).
    command: Vec<std::ffi::OsString>,
    _dir: tempfile::TempDir,
}

impl IkanosChild {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Start the same command once more (same file, same component cache, so the
    /// component is compiled already) and time it from the process's start until
    /// `/health/ready` answers UP; the second process is stopped afterwards.
    pub fn start_to_ready(&self) -> Duration {
        use std::io::BufRead;
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ikanos"))
            .args(&self.command)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("starting ikanos again");
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let control = loop {
            let line = lines.next().expect("ikanos exited early").unwrap();
            if line.contains("listening") && line.contains("adapter=\"control\"") {
                break addr_in(&line).unwrap();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        while !fetch(&format!("http://{control}/health/ready")).contains("\"status\":\"UP\"") {
            std::thread::sleep(Duration::from_millis(1));
        }
        let took = started.elapsed();
        let _ = child.kill();
        let _ = child.wait();
        took
    }
}

impl Drop for IkanosChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ikanos run` on the crm-sidecar example with its `crm` namespace going through
/// `tunnel` (a `tunnel:` block, indented as in the file) to `http://crm.internal`; the
/// tunnel's identity is bound as `{{secrets.IDENTITY_VAR}}` from `identity_key` =
/// `identity` in the secrets file, beside the bearer token in `secrets`. Returns once
/// the host reports ready (tunnels connect in the background).
pub fn start_ikanos_tunnelled(
    tunnel: &str,
    identity_var: &str,
    identity_key: &str,
    identity: &str,
    secrets: &str,
) -> IkanosChild {
    let child = start_ikanos(
        |t| {
            with_tunnel(
                &t,
                "http://crm.internal",
                tunnel,
                identity_var,
                identity_key,
            )
        },
        &[(
            "secrets.yaml",
            format!("{secrets}{identity_key}: \"{identity}\"\n"),
        )],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !fetch(&format!("http://{}/health/ready", child.control)).contains("\"status\":\"UP\"") {
        assert!(Instant::now() < deadline, "the tunnel did not become ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// The crm-sidecar example's file `text` with its `crm` namespace at `base_uri` and
/// going through `tunnel` (a `tunnel:` block, indented as in the file), the tunnel's
/// identity bound as `{{secrets.IDENTITY_VAR}}` from key `identity_key` of the secrets
/// file.
pub fn with_tunnel(
    text: &str,
    base_uri: &str,
    tunnel: &str,
    identity_var: &str,
    identity_key: &str,
) -> String {
    text.replace("http://127.0.0.1:18081", base_uri)
        .replacen(
            "      authentication:\n",
            &format!("{tunnel}      authentication:\n"),
            1,
        )
        .replace(
            "      CRM_TOKEN: crm-bearer-token\n",
            &format!("      CRM_TOKEN: crm-bearer-token\n      {identity_var}: {identity_key}\n"),
        )
}

/// A `tunnel:` block (for [`with_tunnel`]) through the SSH relay on 127.0.0.1:`relay`
/// whose host key is `host_key`, to the connector's forwarded port `target` there; the
/// key is `{{secrets.SSH_KEY}}`. Fails closed.
pub fn ssh_tunnel_block(relay: u16, target: u16, host_key: &str) -> String {
    format!(
        "      tunnel:\n        type: ssh\n        identity: \"{{{{secrets.SSH_KEY}}}}\"\n        relay: \"127.0.0.1:{relay}\"\n        user: \"root\"\n        target: \"127.0.0.1:{target}\"\n        hostKey: \"{host_key}\"\n        fallback: \"fail\"\n"
    )
}

/// A `tunnel:` block (for [`with_tunnel`]) to Ziti service `service`; the identity is
/// `{{secrets.ZITI_IDENTITY}}`. Fails closed.
pub fn ziti_tunnel_block(service: &str) -> String {
    format!("      tunnel:\n        type: ziti\n        service: {service}\n        identity: \"{{{{secrets.ZITI_IDENTITY}}}}\"\n        fallback: \"fail\"\n")
}

#[path = "../../../tests/e2e/support/guest_build.rs"]
pub mod guest_build;

/// Build the example components; returns the crm-sidecar component's path.
pub fn build_crm_component() -> PathBuf {
    let root = repo_root();
    guest_build::cargo_build_wasm(&root.join("examples/Cargo.toml"));
    root.join("examples/target/wasm32-wasip2/release/crm_sidecar.wasm")
}

/// `ikanos run` on the crm-sidecar example, its file passed through `edit` (which
/// points it at the upstream), with `files` written beside it.
pub fn start_ikanos(edit: impl Fn(String) -> String, files: &[(&str, String)]) -> IkanosChild {
    start_ikanos_with(&[], edit, files)
}

/// [`start_ikanos`] with `extra` arguments on its command line.
pub fn start_ikanos_with(
    extra: &[&str],
    edit: impl Fn(String) -> String,
    files: &[(&str, String)],
) -> IkanosChild {
    start_example("crm-sidecar", "crm_sidecar", extra, edit, files)
}

/// `ikanos run` on example `name` (`examples/NAME/NAME.ikanos.yaml`, its REST port
/// made 0, then passed through `edit`) with its component `examples/target/…/COMPONENT.wasm`,
/// `files` written beside the file and `extra` on the command line.
pub fn start_example(
    name: &str,
    component: &str,
    extra: &[&str],
    edit: impl Fn(String) -> String,
    files: &[(&str, String)],
) -> IkanosChild {
    let root = repo_root();
    build_crm_component();
    let component = root.join(format!(
        "examples/target/wasm32-wasip2/release/{component}.wasm"
    ));
    start_example_component(name, &component, extra, edit, files)
}

/// [`start_example`] with the component at `component` (one not built by cargo: the
/// Python and JavaScript examples).
pub fn start_example_component(
    name: &str,
    component: &Path,
    extra: &[&str],
    edit: impl Fn(String) -> String,
    files: &[(&str, String)],
) -> IkanosChild {
    let root = repo_root();
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root.join(format!("examples/{name}/{name}.ikanos.yaml")))
        .unwrap()
        .replace("port: 8081", "port: 0")
        .replace("port: 8080", "port: 0");
    let text = edit(text);
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let file = dir.path().join(format!("{name}.ikanos.yaml"));
    std::fs::write(&file, text).unwrap();
    let command: Vec<std::ffi::OsString> = vec![
        "run".into(),
        file.into(),
        "--component".into(),
        component.into(),
    ];
    spawn_ikanos(command, extra, dir)
}

/// `ikanos run` on capability `text` (no component: declarative operations only),
/// written with `files` into a fresh folder, with `extra` on the command line.
pub fn start_declarative(text: &str, files: &[(&str, &str)], extra: &[&str]) -> IkanosChild {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    let file = dir.path().join("bench.ikanos.yaml");
    std::fs::write(&file, text).unwrap();
    spawn_ikanos(vec!["run".into(), file.into()], extra, dir)
}

/// Start `ikanos` with `command` (a `run` command line) and `extra`, its control port
/// on a free loopback port, its logs at `warn` and its component cache in `dir`;
/// returns once every adapter listens.
fn spawn_ikanos(
    mut command: Vec<std::ffi::OsString>,
    extra: &[&str],
    dir: tempfile::TempDir,
) -> IkanosChild {
    for a in [
        "--control",
        "127.0.0.1:0",
        "--log-level",
        "warn,ikanos::cli=info",
        "--cache-dir",
    ] {
        command.push(a.into());
    }
    command.push(dir.path().join("cache").into());
    command.extend(extra.iter().map(Into::into));
    if let Ok(more) = std::env::var("IKANOS_BENCH_ARGS") {
        command.extend(more.split_whitespace().map(Into::into));
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_ikanos"))
        .args(&command)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("starting ikanos");
    use std::io::BufRead;
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let (mut rest, mut control) = (String::new(), String::new());
    let mut adapters = std::collections::HashMap::new();
    // Adapters are bound before the control port, which is announced last.
    while control.is_empty() {
        let line = lines.next().expect("ikanos exited early").unwrap();
        if line.contains("listening") {
            let addr = addr_in(&line).unwrap();
            if line.contains("adapter=\"control\"") {
                control = addr;
            } else {
                if let Some(ns) = line
                    .split("namespace=")
                    .nth(1)
                    .and_then(|s| s.split_whitespace().next())
                {
                    adapters.insert(ns.to_string(), addr.clone());
                }
                if rest.is_empty() {
                    rest = addr;
                }
            }
        }
    }
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    IkanosChild {
        child,
        rest,
        control,
        adapters,
        command,
        _dir: dir,
    }
}

/// The address in a `listening` log line (`addr=…`).
fn addr_in(line: &str) -> Option<String> {
    line.split("addr=")
        .nth(1)
        .and_then(|a| a.split_whitespace().next())
        .map(String::from)
}

/// A capability `name` in `dir` for `ikanos serve`: a folder with the capability file
/// `text`, its `secrets.yaml` and a link to `component`.
pub fn write_capability(dir: &Path, name: &str, text: &str, secrets: &str, component: &Path) {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join(format!("{name}.ikanos.yaml")), text).unwrap();
    std::fs::write(folder.join("secrets.yaml"), secrets).unwrap();
    std::os::unix::fs::symlink(component, folder.join(format!("{name}.wasm"))).unwrap();
}

/// A running `ikanos serve --dir`; killed when dropped.
pub struct ServeChild {
    child: Child,
    /// The shared listener (`/NAME/…` reaches capability NAME).
    pub shared: String,
    pub control: String,
    /// The last lines of its log (stderr).
    log: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<String>>>,
}

impl ServeChild {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its last log lines (at most 500).
    pub fn log_tail(&self) -> Vec<String> {
        self.log.lock().unwrap().iter().cloned().collect()
    }
}

impl Drop for ServeChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ikanos serve` on every capability in `dir` (no folder watch), compiled components
/// cached in `cache`; returns once the shared listener and the control port are open
/// (every capability loaded; tunnels connect in the background).
pub fn start_serve(dir: &Path, cache: &Path) -> ServeChild {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ikanos"))
        .arg("serve")
        .arg("--dir")
        .arg(dir)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--control",
            "127.0.0.1:0",
            "--no-watch",
        ])
        .args(["--log-level", "warn,ikanos::cli=info", "--cache-dir"])
        .arg(cache)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("starting ikanos serve");
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let (mut shared, mut control) = (String::new(), String::new());
    while shared.is_empty() || control.is_empty() {
        let line = lines.next().expect("ikanos serve exited early").unwrap();
        if line.contains("listening") && line.contains("adapter=\"shared\"") {
            shared = addr_in(&line).unwrap();
        } else if line.contains("listening") && line.contains("adapter=\"control\"") {
            control = addr_in(&line).unwrap();
        }
    }
    // Keep draining stderr (so the child never blocks on a full pipe), keeping the tail.
    let log = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
    let tail = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let mut tail = tail.lock().unwrap();
            if tail.len() == 500 {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    });
    ServeChild {
        child,
        shared,
        control,
        log,
    }
}

/// VmRSS of process `pid` (`/proc/PID/status`), in KiB.
pub fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// Open file descriptors of process `pid` (entries of `/proc/PID/fd`).
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .expect("reading /proc/PID/fd")
}

#[derive(Clone)]
pub struct Run {
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
}

impl Run {
    /// A run of the successful requests' `latencies` (in any order) and `errors`.
    pub fn new(mut latencies: Vec<Duration>, errors: u64, elapsed: Duration) -> Run {
        latencies.sort();
        Run {
            requests: latencies.len() as u64,
            errors,
            elapsed,
            latencies,
        }
    }

    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    pub fn pct(&self, p: f64) -> Duration {
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i]
    }
}

/// `connections` keep-alive HTTP/1.1 connections, each sending requests back to back.
pub fn load(addr: &str, path: &str, connections: usize, duration: Duration) -> Run {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let started = Instant::now();
        let deadline = started + duration;
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let (addr, path) = (addr.to_string(), path.to_string());
            tasks.push(tokio::spawn(async move {
                let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let (mut sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .unwrap();
                tokio::spawn(conn);
                let mut lat = Vec::new();
                let mut errors = 0;
                while Instant::now() < deadline {
                    // The token lets the same load reach the upstream directly too.
                    let req = http::Request::get(&path)
                        .header("host", &addr)
                        .header("authorization", format!("Bearer {TOKEN}"))
                        .body(Empty::<Bytes>::new())
                        .unwrap();
                    let t = Instant::now();
                    match sender.send_request(req).await {
                        Ok(resp) => {
                            let ok = resp.status() == 200;
                            let _ = resp.into_body().collect().await;
                            if ok {
                                lat.push(t.elapsed());
                            } else {
                                errors += 1;
                            }
                        }
                        Err(_) => {
                            errors += 1;
                            break;
                        }
                    }
                }
                (lat, errors)
            }));
        }
        let mut latencies = Vec::new();
        let mut errors = 0;
        for t in tasks {
            let (l, e) = t.await.unwrap();
            latencies.extend(l);
            errors += e;
        }
        Run::new(latencies, errors, started.elapsed())
    })
}

/// A histogram's `_sum` and `_count` in a Prometheus text exposition, added up over all
/// its label sets.
pub fn metric_sum_count(text: &str, name: &str) -> (f64, f64) {
    let total = |suffix: &str| {
        let series = format!("{name}{suffix}");
        text.lines()
            .filter(|l| {
                l.strip_prefix(&series)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    (total("_sum"), total("_count"))
}

pub fn fetch(url: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client: Client<HttpConnector, Empty<Bytes>> =
            Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        let req = http::Request::get(url)
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(Empty::new())
            .unwrap();
        let resp = client.request(req).await.unwrap();
        String::from_utf8_lossy(&resp.into_body().collect().await.unwrap().to_bytes()).into_owned()
    })
}

/// Every target answers `path` with the upstream's customers: a sanity check before
/// measuring.
pub fn check_targets<N: AsRef<str>>(targets: &[(N, String)], path: &str) {
    check_targets_answer(targets, path, "Grace Hopper");
}

/// Every target's answer to `path` contains `expected`.
pub fn check_targets_answer<N: AsRef<str>>(targets: &[(N, String)], path: &str, expected: &str) {
    for (name, addr) in targets {
        let body = fetch(&format!("http://{addr}{path}"));
        assert!(
            body.contains(expected),
            "{} answered: {body}",
            name.as_ref()
        );
    }
}

/// The `wasmtime` command-line tool the anchors run, pinned to the wasmtime line the
/// host embeds.
pub const WASMTIME_CLI_VERSION: &str = "48.0.0";

/// `wasmtime` (the CLI, [`WASMTIME_CLI_VERSION`]): installed by the bench itself the
/// first time, with `cargo install --locked` into `target/bench-tools` (only the
/// features `wasmtime serve` needs; about 15 minutes on 2 cores, once; its build
/// folder is kept there, so an interrupted install goes on where it stopped).
pub fn wasmtime_cli() -> PathBuf {
    let root = repo_root().join("target/bench-tools");
    let bin = root.join("bin/wasmtime");
    let installed = Command::new(&bin)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .is_some_and(|v| v.split_whitespace().nth(1) == Some(WASMTIME_CLI_VERSION));
    if !installed {
        eprintln!(
            "installing wasmtime-cli {WASMTIME_CLI_VERSION} into {}",
            root.display()
        );
        let status = Command::new(env!("CARGO"))
            .args(["install", "--locked", "--root"])
            .arg(&root)
            .arg("--target-dir")
            .arg(root.join("build"))
            .args([
                "wasmtime-cli",
                "--version",
                WASMTIME_CLI_VERSION,
                "--no-default-features",
                "--features",
                // `serve` in 48 needs the async component model as well.
                "run,serve,component-model-async,cranelift,pooling-allocator,parallel-compilation,cache",
            ])
            .status()
            .expect("running cargo install");
        assert!(status.success(), "cargo install wasmtime-cli failed");
    }
    bin
}

/// A `wasmtime serve` process (stopped when dropped).
pub struct WasmtimeServe {
    child: Child,
    pub addr: String,
}

impl WasmtimeServe {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for WasmtimeServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `wasmtime serve` of `component` (a `wasi:http/proxy` component) on a fresh loopback
/// port, with its defaults (the pooling allocator when the address space allows it,
/// tokio's multi-threaded runtime), a new instance per request as ikanos makes them
/// (its default for WASIp2 components, stated), once it announces its address.
pub fn start_wasmtime_serve(component: &Path) -> WasmtimeServe {
    use std::io::BufRead;
    let mut child = Command::new(wasmtime_cli())
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--max-instance-reuse-count",
            "1",
            // A Rust std component imports wasi:cli (environment, exit, stdio), which
            // `serve` links only when asked; ikanos links it (with nothing granted).
            "-S",
            "cli",
        ])
        .arg(component)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("starting wasmtime serve");
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("wasmtime serve exited early").unwrap();
        if let Some(rest) = line.strip_prefix("Serving HTTP on http://") {
            break rest.trim_end_matches('/').to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    WasmtimeServe { child, addr }
}

/// The first line of a request benchmark's report: the machine (CPU model, kernel,
/// cores: machines of one kind differ, and ratios are read against them) and the run's
/// set-up.
pub fn setup_line(connections: usize, seconds: u64, rounds: u64) -> String {
    format!(
        "{}; {connections} connections; {seconds}s per run; {rounds} alternating rounds after a 2s warm-up each",
        machine_line()
    )
}

/// The machine: CPU model, kernel, cores (`machine: …; kernel …; N cores`).
pub fn machine_line() -> String {
    format!(
        "machine: {}; kernel {}; {} cores",
        cpu_model(),
        kernel_release(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    )
}

/// The CPU's model name as the kernel reports it (`/proc/cpuinfo`).
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|rest| rest.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}

/// The running kernel's release (`uname -r`).
fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|r| r.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

/// One connection per target in turn (after a 1 s warm-up): latency without queueing.
/// Printed, and returned in the targets' order.
pub fn single_connection<N: AsRef<str>>(
    targets: &[(N, String)],
    path: &str,
    seconds: u64,
) -> Vec<Run> {
    println!("single request, one connection (latency without queueing):");
    let runs: Vec<Run> = targets
        .iter()
        .map(|(_, addr)| {
            load(addr, path, 1, Duration::from_secs(1));
            load(addr, path, 1, Duration::from_secs(seconds.min(5)))
        })
        .collect();
    report_all(targets, &runs);
    runs
}

/// A 2 s warm-up of every target with `connections` connections.
pub fn warm_up<N: AsRef<str>>(targets: &[(N, String)], path: &str, connections: usize) {
    for (_, addr) in targets {
        load(addr, path, connections, Duration::from_secs(2));
    }
}

/// `rounds` rounds in which each target in turn gets `connections` connections for
/// `seconds` (alternating, so drift on a shared machine hits all alike); each
/// target's runs merged, in the targets' order.
pub fn alternating_rounds<N: AsRef<str>>(
    targets: &[(N, String)],
    path: &str,
    connections: usize,
    seconds: u64,
    rounds: u64,
) -> Vec<Run> {
    let mut runs: Vec<Vec<Run>> = targets.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds {
        for (i, (_, addr)) in targets.iter().enumerate() {
            runs[i].push(load(addr, path, connections, Duration::from_secs(seconds)));
        }
    }
    runs.into_iter().map(merge).collect()
}

/// Whose threads a target runs on: a process, and optionally only its threads of one
/// name (the in-process plain proxies).
#[derive(Clone)]
pub struct Threads {
    pub pid: u32,
    pub name: Option<String>,
}

impl Threads {
    pub fn of_process(pid: u32) -> Threads {
        Threads { pid, name: None }
    }
    pub fn named(name: &str) -> Threads {
        Threads {
            pid: std::process::id(),
            name: Some(name.to_string()),
        }
    }

    /// Context switches (voluntary and not) of these threads so far.
    fn switches(&self) -> u64 {
        let mut total = 0;
        for path in self.tasks() {
            let status = std::fs::read_to_string(path.join("status")).unwrap_or_default();
            total += status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        }
        total
    }

    /// Time these threads have spent on a CPU so far, in nanoseconds (the first field
    /// of `/proc/PID/task/TID/schedstat`: nanosecond precision, unlike `stat`'s ticks).
    fn cpu_ns(&self) -> u64 {
        self.tasks()
            .map(|task| {
                std::fs::read_to_string(task.join("schedstat"))
                    .ok()
                    .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                    .unwrap_or(0)
            })
            .sum()
    }

    /// The `/proc` folders of these threads (all of the process's, or those named so).
    fn tasks(&self) -> impl Iterator<Item = PathBuf> + '_ {
        std::fs::read_dir(format!("/proc/{}/task", self.pid))
            .into_iter()
            .flatten()
            .flatten()
            .map(|task| task.path())
            .filter(|path| match &self.name {
                Some(name) => {
                    std::fs::read_to_string(path.join("comm"))
                        .unwrap_or_default()
                        .trim()
                        == name
                }
                None => true,
            })
    }
}

/// What the OS did over a target's rounds: its threads' context switches, and the
/// machine's inter-processor interrupts (rescheduling, function calls, TLB shootdowns —
/// every process's, the load generator's included, alike for every target).
#[derive(Default, Clone, Copy)]
pub struct OsCounters {
    pub switches: u64,
    pub cpu_ns: u64,
    pub resched: u64,
    pub calls: u64,
    pub tlb: u64,
}

impl OsCounters {
    fn now(threads: &Threads) -> OsCounters {
        let (resched, calls, tlb) = interrupts();
        OsCounters {
            switches: threads.switches(),
            cpu_ns: threads.cpu_ns(),
            resched,
            calls,
            tlb,
        }
    }

    fn since(self, before: OsCounters) -> OsCounters {
        OsCounters {
            switches: self.switches.saturating_sub(before.switches),
            cpu_ns: self.cpu_ns.saturating_sub(before.cpu_ns),
            resched: self.resched.saturating_sub(before.resched),
            calls: self.calls.saturating_sub(before.calls),
            tlb: self.tlb.saturating_sub(before.tlb),
        }
    }

    fn add(&mut self, other: OsCounters) {
        self.switches += other.switches;
        self.cpu_ns += other.cpu_ns;
        self.resched += other.resched;
        self.calls += other.calls;
        self.tlb += other.tlb;
    }
}

/// The machine's RES, CAL and TLB interrupts so far, summed over CPUs (`/proc/interrupts`).
fn interrupts() -> (u64, u64, u64) {
    let text = std::fs::read_to_string("/proc/interrupts").unwrap_or_default();
    let row = |name: &str| -> u64 {
        text.lines()
            .find(|l| l.trim_start().starts_with(name))
            .map(|l| {
                l.split_whitespace()
                    .skip(1)
                    .map_while(|f| f.parse::<u64>().ok())
                    .sum()
            })
            .unwrap_or(0)
    };
    (row("RES:"), row("CAL:"), row("TLB:"))
}

/// [`alternating_rounds`] that also counts, per target, what the OS did while it ran
/// ([`OsCounters`], for the threads in `threads`, in the targets' order).
pub fn observed_rounds<N: AsRef<str>>(
    targets: &[(N, String)],
    threads: &[Threads],
    path: &str,
    connections: usize,
    seconds: u64,
    rounds: u64,
) -> Vec<(Run, OsCounters)> {
    let mut runs: Vec<Vec<Run>> = targets.iter().map(|_| Vec::new()).collect();
    let mut counters = vec![OsCounters::default(); targets.len()];
    for _ in 0..rounds {
        for (i, (_, addr)) in targets.iter().enumerate() {
            let before = OsCounters::now(&threads[i]);
            runs[i].push(load(addr, path, connections, Duration::from_secs(seconds)));
            counters[i].add(OsCounters::now(&threads[i]).since(before));
        }
    }
    runs.into_iter().map(merge).zip(counters).collect()
}

/// One line per target: what the OS did per request.
pub fn report_os<N: AsRef<str>>(targets: &[(N, String)], observed: &[(Run, OsCounters)]) {
    println!(
        "per request (CPU time and context switches of the target's threads; machine-wide IPIs):"
    );
    for ((name, _), (run, c)) in targets.iter().zip(observed) {
        let per = |n: u64| n as f64 / run.requests.max(1) as f64;
        println!(
            "{:<34} CPU {:>6.1} µs   switches {:>6.3}   resched IPIs {:>6.3}   call IPIs {:>6.3}   TLB shootdowns {:>6.3}",
            name.as_ref(),
            per(c.cpu_ns) / 1e3,
            per(c.switches),
            per(c.resched),
            per(c.calls),
            per(c.tlb)
        );
    }
}

/// `report` for each target with its run.
pub fn report_all<N: AsRef<str>>(targets: &[(N, String)], runs: &[Run]) {
    for ((name, _), run) in targets.iter().zip(runs) {
        report(name.as_ref(), run);
    }
}

pub fn report(name: &str, r: &Run) {
    println!(
        "{name:<22} {:>10.0} req/s   p50 {:>8.1} µs   p99 {:>8.1} µs   ({} requests, {} errors)",
        r.rps(),
        r.pct(0.50).as_secs_f64() * 1e6,
        r.pct(0.99).as_secs_f64() * 1e6,
        r.requests,
        r.errors
    );
}

pub fn merge(runs: Vec<Run>) -> Run {
    let mut latencies: Vec<Duration> = runs.iter().flat_map(|r| r.latencies.clone()).collect();
    latencies.sort();
    Run {
        requests: runs.iter().map(|r| r.requests).sum(),
        errors: runs.iter().map(|r| r.errors).sum(),
        elapsed: runs.iter().map(|r| r.elapsed).sum(),
        latencies,
    }
}

/// A TCP server on loopback running `serve` on a thread of its own for each connection.
fn serve_each(serve: impl Fn(std::net::TcpStream) + Clone + Send + 'static) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let serve = serve.clone();
            std::thread::spawn(move || serve(conn));
        }
    });
    addr
}

/// A TCP server on loopback that sends `bytes` to every connection, then closes it.
pub fn bulk_source(bytes: usize) -> SocketAddr {
    serve_each(move |mut conn| {
        use std::io::Write;
        let chunk = vec![b'b'; 64 << 10];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len());
            if conn.write_all(&chunk[..n]).is_err() {
                return;
            }
            left -= n;
        }
    })
}

/// A TCP server for uploads: each connection sends a length (u64, little-endian) and
/// that many bytes; the server reads them all, answers with the number it read (u64,
/// little-endian) and closes.
pub fn bulk_sink() -> SocketAddr {
    serve_each(|mut conn| {
        use std::io::{Read, Write};
        let mut length = [0u8; 8];
        if conn.read_exact(&mut length).is_err() {
            return;
        }
        let mut left = u64::from_le_bytes(length);
        let mut buf = vec![0u8; 256 << 10];
        let mut total = 0u64;
        while left > 0 {
            let want = buf.len().min(left as usize);
            match conn.read(&mut buf[..want]) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    total += n as u64;
                    left -= n as u64;
                }
            }
        }
        let _ = conn.write_all(&total.to_le_bytes());
    })
}

/// Bytes per second reading an open stream to its end, which must come after exactly
/// `expected` bytes.
/// A child process ended on every exit of the benchmark, a panic included.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The best of `n` bulk reads of `bytes` from streams `open` makes: bytes per second.
pub async fn best_of<S, F, Fut>(n: usize, bytes: usize, open: F) -> f64
where
    S: tokio::io::AsyncRead + Unpin,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = std::io::Result<S>>,
{
    let mut best = 0.0f64;
    for _ in 0..n {
        let stream = open().await.expect("opening the bulk stream");
        best = best.max(read_rate(stream, bytes).await);
    }
    best
}

pub async fn read_rate<S>(mut stream: S, expected: usize) -> f64
where
    S: tokio::io::AsyncRead + Unpin,
{
    use tokio::io::AsyncReadExt;
    let started = Instant::now();
    let mut buf = vec![0u8; 256 << 10];
    let mut total = 0usize;
    loop {
        let n = stream
            .read(&mut buf)
            .await
            .expect("reading the bulk stream");
        if n == 0 {
            break;
        }
        total += n;
    }
    assert_eq!(total, expected, "the whole transfer arrived");
    total as f64 / started.elapsed().as_secs_f64()
}
