//! Test support: builds the real components, runs the real `ikanos` binary, and
//! serves a real HTTP upstream on loopback that records what it receives.
//!
//! Nothing here fakes the host: every test talks HTTP to a child process.

#![allow(dead_code)]

mod accept;
pub use accept::serve_on_thread;
pub mod capability;
pub mod collector;
pub mod fixtures;
pub mod fleet;
pub mod netns;
pub mod openssh;
mod ports;
pub use ports::free_port;
pub mod rathole;
pub mod registry;
#[cfg(feature = "test-tunnel")]
pub mod relay;
pub mod rules;
pub mod serve;
pub mod sse;
pub mod tls;
pub mod upstream;
pub mod ziti;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

mod guest_build;
use guest_build::cargo_build_wasm;
pub use guest_build::run_build_script;

pub struct Components {
    pub hello: PathBuf,
    pub crm_sidecar: PathBuf,
    /// The standard `wasi:http` crm example (`examples/crm-wasi-http`).
    pub crm_wasi_http: PathBuf,
    pub hostile: PathBuf,
}

/// Build the example and test components once per test process.
pub fn components() -> &'static Components {
    static ONCE: OnceLock<Components> = OnceLock::new();
    ONCE.get_or_init(|| {
        let root = repo_root();
        cargo_build_wasm(&root.join("examples/Cargo.toml"));
        cargo_build_wasm(&root.join("tests/guests/Cargo.toml"));
        let ex = root.join("examples/target/wasm32-wasip2/release");
        let guests = root.join("tests/guests/target/wasm32-wasip2/release");
        let c = Components {
            hello: ex.join("hello.wasm"),
            crm_sidecar: ex.join("crm_sidecar.wasm"),
            crm_wasi_http: ex.join("crm_wasi_http.wasm"),
            hostile: guests.join("hostile.wasm"),
        };
        for p in [&c.hello, &c.crm_sidecar, &c.crm_wasi_http, &c.hostile] {
            assert!(p.is_file(), "expected component {}", p.display());
        }
        c
    })
}

/// A compiled-component cache shared by all tests of this run, so each component is
/// compiled once rather than once per test.
pub fn shared_cache_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache");
    std::fs::create_dir_all(&dir).expect("creating the test cache dir");
    dir
}

/// A child process whose stdout and stderr are collected, line by line, into its log
/// (stderr first; both keep their own order). Killed when dropped.
pub struct Process {
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
}

/// Spawn `cmd` with its output collected (see `Process`).
pub fn spawn_logged(cmd: &mut Command, what: &str) -> Process {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting {what}: {e}"));
    let logs = Arc::new(Mutex::new(Vec::new()));
    for stream in [
        Box::new(child.stderr.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stdout.take().unwrap()),
    ] {
        let logs = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                logs.lock().unwrap().push(line);
            }
        });
    }
    Process { child, logs }
}

impl Process {
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    pub fn all_output(&self) -> String {
        self.logs().join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Wait for the process to exit (killing it after `within`): its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait until a log line satisfies `pred` (or panic after `within`).
    pub fn wait_for_log(&self, within: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(l) = self.logs().into_iter().find(|l| pred(l)) {
                return l;
            }
            assert!(
                Instant::now() < deadline,
                "log line not seen; output:\n{}",
                self.all_output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Poll the log until `ready` finds in it what it waits for; panics with the output
    /// when the process exits first or after 180 s.
    pub fn wait_for_start<T>(
        &mut self,
        what: &str,
        ready: impl FnMut(&[String]) -> Option<T>,
    ) -> T {
        self.wait_for_start_within(what, Duration::from_secs(180), ready)
    }

    /// [`Process::wait_for_start`] with its own time limit.
    pub fn wait_for_start_within<T>(
        &mut self,
        what: &str,
        within: Duration,
        mut ready: impl FnMut(&[String]) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + within;
        loop {
            let lines = self.logs();
            if let Some(found) = ready(&lines) {
                return found;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{what} exited with {status} before listening; output:\n{}",
                    lines.join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "{what} did not start listening in time; output:\n{}",
                lines.join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `ikanos run` child process (its `Process` methods through Deref).
pub struct Host {
    process: Process,
    pub rest: Vec<(String, String)>,
    pub control: String,
}

impl std::ops::Deref for Host {
    type Target = Process;
    fn deref(&self) -> &Process {
        &self.process
    }
}

impl std::ops::DerefMut for Host {
    fn deref_mut(&mut self) -> &mut Process {
        &mut self.process
    }
}

/// Run `cmd` to completion: its exit code and all it printed (stdout, then stderr).
pub fn output_of(cmd: &mut Command, what: &str) -> (i32, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {what}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

pub struct HostBuilder {
    file: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    start_within: Duration,
}

impl HostBuilder {
    pub fn new(file: impl Into<PathBuf>) -> Self {
        HostBuilder {
            file: file.into(),
            args: Vec::new(),
            env: Vec::new(),
            start_within: Duration::from_secs(180),
        }
    }

    /// Allow `within` for the start (default 180 s): compiling a 12–19 MB Python or
    /// JavaScript component in the debug build takes 10–20 s alone and minutes on a
    /// loaded two-core machine.
    pub fn start_within(mut self, within: Duration) -> Self {
        self.start_within = within;
        self
    }

    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn component(self, path: &Path) -> Self {
        self.arg("--component").arg(path.display().to_string())
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// Start and wait until every REST adapter and the control port listen.
    pub fn start(self, rest_adapters: usize) -> Host {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ikanos"));
        cmd.arg("run").arg(&self.file).args([
            "--control",
            "127.0.0.1:0",
            "--log-level",
            "info,guest=trace",
        ]);
        if !self
            .args
            .iter()
            .any(|a| a == "--no-cache" || a == "--cache-dir")
        {
            cmd.arg("--cache-dir").arg(shared_cache_dir());
        }
        cmd.args(&self.args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut process = spawn_logged(&mut cmd, "ikanos");
        let (rest, control) = process.wait_for_start_within("ikanos", self.start_within, |lines| {
            let rest: Vec<(String, String)> = lines
                .iter()
                .filter(|l| {
                    l.contains("listening") && l.contains("adapter=\"rest\"")
                        || l.contains("listening") && l.contains("adapter=rest")
                })
                .filter_map(|l| Some((field(l, "namespace")?, field(l, "addr")?)))
                .collect();
            let control = lines
                .iter()
                .find(|l| {
                    l.contains("listening")
                        && (l.contains("adapter=\"control\"") || l.contains("adapter=control"))
                })
                .and_then(|c| field(c, "addr"))?;
            (rest.len() >= rest_adapters).then_some((rest, control))
        });
        Host {
            process,
            rest,
            control,
        }
    }

    /// Run to completion (for start-up failures): exit code and all output.
    pub fn run_to_exit(self) -> (i32, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ikanos"));
        cmd.arg("run")
            .arg(&self.file)
            .args(["--control", "127.0.0.1:0"])
            .args(&self.args)
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        output_of(&mut cmd, "ikanos")
    }
}

/// `key=value` or `key="value"` out of a tracing text line.
pub fn field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("{key}="))? + key.len() + 1;
    let rest = &line[start..];
    let value = if let Some(q) = rest.strip_prefix('"') {
        &q[..q.find('"')?]
    } else {
        rest.split_whitespace().next()?
    };
    Some(value.to_string())
}

impl Host {
    /// Base URL of the REST adapter of `namespace`.
    pub fn rest_url(&self, namespace: &str) -> String {
        let (_, addr) = self
            .rest
            .iter()
            .find(|(n, _)| n == namespace)
            .unwrap_or_else(|| panic!("no rest adapter '{namespace}' in {:?}", self.rest));
        format!("http://{addr}")
    }

    /// `address:port` of a non-REST adapter (e.g. `mcp`) from its `listening` line.
    pub fn adapter_addr(&self, kind: &str, namespace: &str) -> Option<String> {
        self.logs().iter().find_map(|l| {
            let is_kind = l.contains(&format!("adapter=\"{kind}\""))
                || l.contains(&format!("adapter={kind} "));
            (l.contains("listening")
                && is_kind
                && field(l, "namespace").as_deref() == Some(namespace))
            .then(|| field(l, "addr"))
            .flatten()
        })
    }

    pub fn control_url(&self) -> String {
        format!("http://{}", self.control)
    }

    /// SIGTERM, then wait for the exit status (killing after `within`).
    pub fn terminate(&mut self, within: Duration) -> Option<i32> {
        self.signal(libc::SIGTERM);
        self.wait_exit(within)
    }
}

/// A plain HTTP response as tests see it.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// `get`, or None when nothing answers (refused, reset, timed out).
pub fn try_get(url: &str) -> Option<Resp> {
    agent().get(url).call().ok().map(|r| to_resp(Ok(r)))
}

fn to_resp(r: Result<http::Response<ureq::Body>, ureq::Error>) -> Resp {
    let mut r = r.expect("HTTP request failed");
    let status = r.status().as_u16();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = r
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .unwrap_or_default();
    Resp {
        status,
        headers,
        body,
    }
}

pub fn get(url: &str) -> Resp {
    to_resp(agent().get(url).call())
}

pub fn get_with(url: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = agent().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    to_resp(req.call())
}

pub fn post(url: &str, content_type: &str, body: &str) -> Resp {
    to_resp(
        agent()
            .post(url)
            .header("content-type", content_type)
            .send(body),
    )
}

/// Any method, with headers and a body.
pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    let mut b = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    to_resp(agent().run(b.body(body.to_string()).unwrap()))
}

pub fn request(method: &str, url: &str) -> Resp {
    let req = http::Request::builder()
        .method(method)
        .uri(url)
        .body(())
        .unwrap();
    to_resp(agent().run(req))
}

/// The call result `v` is a transport error whose reason mentions `needle` (any case).
pub fn assert_transport_error(v: &serde_json::Value, needle: &str) {
    assert_eq!(v["error"], "transport", "{v}");
    let reason = v["reason"].as_str().unwrap().to_lowercase();
    assert!(reason.contains(needle), "{v}");
}

/// Write `text` to `dir/name` and return the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("writing a test file");
    p
}

/// Copy the example file `rel` (from the repository root) into `dir`, rewriting its
/// listen port to 0 and applying `edit`; the copy's path.
pub fn example(dir: &Path, rel: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(repo_root().join(rel)).expect("reading the example");
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("port:") {
            let indent = &line[..line.len() - trimmed.len()];
            out.push_str(&format!("{indent}port: 0\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    let name = Path::new(rel).file_name().unwrap().to_str().unwrap();
    write(dir, name, &edit(out))
}

/// One of the tunnelled CRM examples (its copy at `file`, in `dir`) with the
/// crm-sidecar component: `secrets_file` holds the bearer token and `identity_key`
/// pointing at `identity`; the CRM's TLS CA `ca_pem` is trusted for namespace `crm`.
/// Returns once it is ready.
pub fn start_tunnelled_crm_example(
    dir: &Path,
    file: &Path,
    secrets_file: &str,
    (identity_key, identity): (&str, &Path),
    ca_pem: &str,
) -> Host {
    write(
        dir,
        secrets_file,
        &format!(
            "crm-bearer-token: \"{}\"\n{identity_key}: \"{}\"\n",
            fixtures::TOKEN,
            identity.display()
        ),
    );
    let ca = write(dir, "ca.pem", ca_pem);
    let host = HostBuilder::new(file)
        .component(&components().crm_sidecar)
        .arg("--ca-bundle")
        .arg(format!("crm={}", ca.display()))
        .start(1);
    wait_ready(&host, 200);
    host
}

pub fn run_cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ikanos"))
        .args(args)
        .output()
        .expect("running ikanos");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The hostile test capability against a bearer-checking upstream, served by a real
/// `ikanos` with `extra` arguments.
pub struct Rig {
    pub upstream: upstream::Upstream,
    pub host: Host,
    /// Base URL of the `hostile` REST adapter.
    pub base: String,
    _dir: tempfile::TempDir,
}

pub fn hostile_rig(extra: &[&str]) -> Rig {
    let c = components();
    let upstream = upstream::Upstream::start(upstream::Auth {
        bearer: Some(fixtures::TOKEN.into()),
        ..upstream::Auth::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let file = fixtures::hostile(dir.path(), &upstream.base());
    let mut b = HostBuilder::new(&file).component(&c.hostile);
    for a in extra {
        b = b.arg(*a);
    }
    let host = b.start(1);
    let base = host.rest_url("hostile");
    Rig {
        upstream,
        host,
        base,
        _dir: dir,
    }
}

/// Where scripts/setup installs the test tools it keeps outside the repository
/// (kubernetes-validate; libziti's wheel too, whose `ziti::libziti::wheel_dir` keeps
/// its own copy of this rule because the benches mount that file without this one):
/// `$IKANOS_TOOLS_DIR` or `~/.cache/ikanos`.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("IKANOS_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".cache/ikanos")
        })
}

/// Poll `http://CONTROL/health/ready` of a process this test did not start through
/// [`HostBuilder`] until it answers 200, for at most `within`; `None` when it never did.
pub fn ready_at(control: &str, within: Duration) -> Option<Resp> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(control).is_ok() {
            let r = get(&format!("http://{control}/health/ready"));
            if r.status == 200 {
                return Some(r);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Poll `/health/ready` until its status is `want` (200 or 503); return its JSON.
pub fn wait_ready(host: &Host, want: u16) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = get(&format!("{}/health/ready", host.control_url()));
        if r.status == want {
            return r.json();
        }
        assert!(
            Instant::now() < deadline,
            "readiness stayed {} ({}); output:\n{}",
            r.status,
            r.body,
            host.all_output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Ask the hostile component to call `crm.list-customers`; its JSON answer.
/// The status of `GET url` made by curl answering a Digest challenge as `user` with
/// `password` (an HTTP client that is not this project's code).
pub fn curl_digest(url: &str, user: &str, password: &str) -> u16 {
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--digest",
            "-u",
        ])
        .arg(format!("{user}:{password}"))
        .arg(url)
        .output()
        .expect("running curl");
    String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0)
}

/// `GET /customers` of the declarative adapter (`fixtures::DECLARATIVE_CRM`): status and
/// body as JSON.
pub fn list_names_declarative(host: &Host) -> (u16, serde_json::Value) {
    let r = get(&format!("{}/customers", host.rest_url("crm-declarative")));
    let status = r.status;
    (status, r.json())
}

/// The names the declarative adapter answers when the test CRM is reached.
pub fn expected_names() -> serde_json::Value {
    serde_json::json!([
        {"id": "1", "name": "Ada Lovelace"},
        {"id": "2", "name": "Grace Hopper"},
        {"id": "3", "name": "Alan Turing"},
    ])
}

pub fn list_customers(host: &Host) -> serde_json::Value {
    let r = post(
        &format!("{}/call?ns=crm&op=list-customers", host.rest_url("hostile")),
        "text/plain",
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}
