//! Benchmark: an exposed REST operation that calls one consumed operation, served by
//! the real `ikanos` binary, next to a plain hyper reverse proxy making the same
//! upstream call (the physical limit), both against one loopback upstream, measured
//! in the same run on the same machine.
//!
//! Run: `cargo bench -p ikanos --bench proxy` (options: `-- --seconds 10 --connections 32`).
//! Reports requests/s, p50/p99 latency, the ratio to the plain proxy, and the mean
//! instantiation time per request from the host's own histogram.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

const TOKEN: &str = "bench-token";

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Serve `svc` on a fresh loopback port from a dedicated runtime: single-threaded, or
/// multi-threaded with one worker per core (what `ikanos run` uses).
fn spawn_server<F, Fut>(multi_thread: bool, svc: F) -> SocketAddr
where
    F: Fn(http::Request<hyper::body::Incoming>) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = http::Response<Full<Bytes>>> + Send + 'static,
{
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = if multi_thread {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
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

const CUSTOMERS: &str = r#"[{"id":"1","name":"Ada Lovelace","email":"ada@example.test"},{"id":"2","name":"Grace Hopper","email":"grace@example.test"},{"id":"3","name":"Alan Turing","email":"alan@example.test"}]"#;

fn upstream() -> SocketAddr {
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

/// The baseline: a plain hyper reverse proxy with a pooled client, adding the same token.
fn plain_proxy(upstream: SocketAddr, multi_thread: bool) -> SocketAddr {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    let client = Arc::new(client);
    spawn_server(
        multi_thread,
        move |req: http::Request<hyper::body::Incoming>| {
            let client = client.clone();
            async move {
                let uri: http::Uri = format!("http://{upstream}{}", req.uri().path())
                    .parse()
                    .unwrap();
                let out = http::Request::get(uri)
                    .header("authorization", format!("Bearer {TOKEN}"))
                    .body(Empty::new())
                    .unwrap();
                match client.request(out).await {
                    Ok(resp) => {
                        let (parts, body) = resp.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        http::Response::from_parts(parts, Full::new(body))
                    }
                    Err(_) => http::Response::builder()
                        .status(502)
                        .body(Full::new(Bytes::new()))
                        .unwrap(),
                }
            }
        },
    )
}

struct IkanosChild {
    child: Child,
    rest: String,
    control: String,
    _dir: tempfile::TempDir,
}

impl Drop for IkanosChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_ikanos(upstream: SocketAddr) -> IkanosChild {
    let root = repo_root();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(root.join("examples/Cargo.toml"))
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .expect("building the example component");
    assert!(status.success());
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root.join("examples/crm-sidecar/crm-sidecar.ikanos.yaml"))
        .unwrap()
        .replace("http://127.0.0.1:18081", &format!("http://{upstream}"))
        .replace("port: 8081", "port: 0");
    let file = dir.path().join("crm-sidecar.ikanos.yaml");
    std::fs::write(&file, text).unwrap();
    std::fs::write(
        dir.path().join("secrets.yaml"),
        format!("crm-bearer-token: \"{TOKEN}\"\n"),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ikanos"))
        .arg("run")
        .arg(&file)
        .arg("--component")
        .arg(root.join("examples/target/wasm32-wasip2/release/crm_sidecar.wasm"))
        .args([
            "--control",
            "127.0.0.1:0",
            "--log-level",
            "warn,ikanos::cli=info",
            "--cache-dir",
        ])
        .arg(dir.path().join("cache"))
        .args(
            std::env::var("IKANOS_BENCH_ARGS")
                .map(|a| a.split_whitespace().map(String::from).collect::<Vec<_>>())
                .unwrap_or_default(),
        )
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("starting ikanos");
    use std::io::BufRead;
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let (mut rest, mut control) = (String::new(), String::new());
    while rest.is_empty() || control.is_empty() {
        let line = lines.next().expect("ikanos exited early").unwrap();
        if line.contains("listening") {
            let addr = line
                .split("addr=")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
                .to_string();
            if line.contains("control") {
                control = addr;
            } else {
                rest = addr;
            }
        }
    }
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    IkanosChild {
        child,
        rest,
        control,
        _dir: dir,
    }
}

struct Run {
    requests: u64,
    errors: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    fn pct(&self, p: f64) -> Duration {
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i]
    }
}

/// `connections` keep-alive HTTP/1.1 connections, each sending requests back to back.
fn load(addr: &str, path: &str, connections: usize, duration: Duration) -> Run {
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
                    let req = http::Request::get(&path)
                        .header("host", &addr)
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
        let elapsed = started.elapsed();
        latencies.sort();
        Run {
            requests: latencies.len() as u64,
            errors,
            elapsed,
            latencies,
        }
    })
}

fn metric_sum_count(text: &str, name: &str) -> (f64, f64) {
    let find = |suffix: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{name}{suffix}")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (find("_sum"), find("_count"))
}

fn fetch(url: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client: Client<HttpConnector, Empty<Bytes>> =
            Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        let resp = client.get(url.parse().unwrap()).await.unwrap();
        String::from_utf8_lossy(&resp.into_body().collect().await.unwrap().to_bytes()).into_owned()
    })
}

fn report(name: &str, r: &Run) {
    println!(
        "{name:<22} {:>10.0} req/s   p50 {:>8.1} µs   p99 {:>8.1} µs   ({} requests, {} errors)",
        r.rps(),
        r.pct(0.50).as_secs_f64() * 1e6,
        r.pct(0.99).as_secs_f64() * 1e6,
        r.requests,
        r.errors
    );
}

fn main() {
    // `cargo bench` passes `--bench`; ignore libtest-style flags.
    let seconds = arg("--seconds", 10);
    let connections = arg("--connections", 32) as usize;
    let rounds = arg("--rounds", 2);
    let up = upstream();
    let ikanos = start_ikanos(up);
    let path = "/customers";
    let targets = [
        ("plain proxy, 1 thread", plain_proxy(up, false).to_string()),
        ("plain proxy, N threads", plain_proxy(up, true).to_string()),
        ("ikanos (wasm+consumes)", ikanos.rest.clone()),
    ];

    // Sanity: all answer with the upstream's customers.
    for (name, addr) in &targets {
        let body = fetch(&format!("http://{addr}{path}"));
        assert!(body.contains("Grace Hopper"), "{name} answered: {body}");
    }

    println!(
        "machine: {} cores; {connections} connections; {seconds}s per run; {rounds} alternating rounds after a 2s warm-up each",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    for (_, addr) in &targets {
        load(addr, path, connections, Duration::from_secs(2));
    }
    let before = fetch(&format!("http://{}/metrics", ikanos.control));
    let (sum0, count0) = metric_sum_count(&before, "ikanos_instantiation_duration_seconds");
    let mut runs: Vec<Vec<Run>> = targets.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds {
        for (i, (_, addr)) in targets.iter().enumerate() {
            runs[i].push(load(addr, path, connections, Duration::from_secs(seconds)));
        }
    }
    let after = fetch(&format!("http://{}/metrics", ikanos.control));
    let (sum1, count1) = metric_sum_count(&after, "ikanos_instantiation_duration_seconds");

    let merged: Vec<Run> = runs.into_iter().map(merge).collect();
    for ((name, _), run) in targets.iter().zip(&merged) {
        report(name, run);
    }
    let (single, multi, ikanos_run) = (&merged[0], &merged[1], &merged[2]);
    println!(
        "throughput ratio ikanos / plain proxy: {:.2}x (1 thread), {:.2}x (N threads, as ikanos runs)",
        ikanos_run.rps() / single.rps(),
        ikanos_run.rps() / multi.rps()
    );
    println!(
        "p50 overhead vs plain proxy (1 thread): {:+.1} µs",
        (ikanos_run.pct(0.5).as_secs_f64() - single.pct(0.5).as_secs_f64()) * 1e6
    );
    let n = count1 - count0;
    if n > 0.0 {
        println!(
            "instantiation per request (mean of {n:.0}, from ikanos_instantiation_duration_seconds): {:.1} µs",
            (sum1 - sum0) / n * 1e6
        );
    }
}

fn merge(runs: Vec<Run>) -> Run {
    let mut latencies: Vec<Duration> = runs.iter().flat_map(|r| r.latencies.clone()).collect();
    latencies.sort();
    Run {
        requests: runs.iter().map(|r| r.requests).sum(),
        errors: runs.iter().map(|r| r.errors).sum(),
        elapsed: runs.iter().map(|r| r.elapsed).sum(),
        latencies,
    }
}
