//! Benchmark: load, chaos and soak of one `ikanos serve` hosting many capabilities, half
//! of them behind tunnels, all on loopback.
//!
//! The capabilities are the crm-sidecar example (its component, one folder each with
//! its own bearer token): the first half call their consumed API directly, the rest
//! through the embedded SSH client (stock sshd as the relay, a stock `ssh -N -R` as the
//! private side's connector) or the embedded OpenZiti client (the end-to-end tests' test
//! controller and edge router, the real C SDK — libziti through
//! `tests/ziti/libziti_host.py` — hosting the service), every tunnel with
//! `fallback: fail`. Each path ends at an upstream of its own — three listeners — that
//! answers `GET /customers/{id}` with `{"id": …, "via": "direct" | "ssh" | "ziti"}` after
//! checking the capability's own token; a tunnelled capability's baseUri is a decoy
//! listener answering `"via": "decoy"`, reachable only around the tunnel. Every request
//! asks for a fresh id (`capN.SEQ`), so every answer is checked against the capability,
//! the request and the path it must have taken.
//!
//! Phases, one `ikanos serve` process throughout:
//! 1. load: `--requests` spread evenly over the capabilities on `--connections`
//!    keep-alive connections, back to back;
//! 2. chaos under the same load: the SSH connector (`ssh -R`) is killed, restarted after
//!    `--outage-seconds`; once every SSH capability answers again, the Ziti edge router
//!    is stopped and started the same way (the test router runs in this process: stopping
//!    it closes its port and every channel, as a killed router process would). Every
//!    answer is classified: correct; 503 within the outage window of its capability
//!    (from the kill to its first correct answer after the restart); or wrong;
//! 3. soak: `--soak-seconds` at `--soak-rate` requests/s on `--soak-connections`
//!    connections, with the host's VmRSS and open file descriptors sampled.
//!
//! The libziti host is the private side, not the host under test: when it exits it is
//! started again ([`FarSide`]) and the Ziti capabilities' 503s while it was gone count
//! as that outage's, reported with its exit status and last lines.
//!
//! Run: `cargo bench -p ikanos --bench soak` (options: `-- --requests 100000
//! --connections 64 --soak-seconds 600 --capabilities 50 --outage-seconds 10
//! --soak-rate 500 --soak-connections 16 --ssh 13`; `--ssh` is how many of the
//! tunnelled capabilities go through SSH, the rest through Ziti). Needs sshd/ssh and
//! libziti (scripts/setup installs them).

mod common;

// The same OpenSSH set-up the end-to-end tests use.
#[allow(dead_code)]
#[path = "../../tests/e2e/support/openssh.rs"]
mod openssh;

/// The test network the end-to-end tests use.
#[allow(dead_code)]
mod zitinet;
use zitinet as support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;

use common::*;
use support::ziti::{libziti_host, Permission, ZitiTestNet};

/// The path a capability's consumed API must be reached through.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Route {
    Direct,
    Ssh,
    Ziti,
}

impl Route {
    /// What the upstream at the end of this path says it is (`via`).
    fn label(self) -> &'static str {
        match self {
            Route::Direct => "direct",
            Route::Ssh => "ssh",
            Route::Ziti => "ziti",
        }
    }
}

struct Cap {
    name: String,
    route: Route,
}

/// What one answer was.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Outcome {
    /// 200 with this request's id, from the upstream of the capability's path.
    Correct,
    /// 503.
    Unavailable,
    /// 200 from the right path with another id (or a body that is not the answer).
    WrongBody,
    /// 200 from another path's upstream (`via`), or from the decoy: around the tunnel.
    WrongPath(&'static str),
    /// Any other status.
    Status(u16),
    /// No answer: connecting, sending or reading failed.
    Connection,
}

/// One request: capability, start and end (µs since the bench's epoch), outcome, and
/// for an unexpected status the host's error text (its `error`, without the request id).
struct Record {
    cap: u16,
    start_us: u64,
    end_us: u64,
    outcome: Outcome,
    detail: Option<String>,
}

/// What the load generator shares with the chaos controller while it runs.
struct Live {
    epoch: Instant,
    /// Per capability: the end (µs since epoch) of its latest correct answer, 0 if none.
    last_correct_us: Vec<AtomicU64>,
}

impl Live {
    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// Wait until every capability in `caps` has answered correctly after `since_us`;
    /// false after `within`.
    fn wait_all_correct_after(&self, caps: &[usize], since_us: u64, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if caps
                .iter()
                .all(|&c| self.last_correct_us[c].load(Ordering::Relaxed) > since_us)
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

/// An upstream at the end of one path: `GET /customers/{id}` with the bearer token of
/// the capability named in the id (`capN.SEQ` → `tok-capN`) answers
/// `{"id": id, "via": label}`; counts what reaches it.
fn labelled_upstream(label: &'static str, reached: Arc<AtomicU64>) -> SocketAddr {
    spawn_server(false, move |req: http::Request<hyper::body::Incoming>| {
        let reached = reached.clone();
        async move {
            reached.fetch_add(1, Ordering::Relaxed);
            let id = req
                .uri()
                .path()
                .strip_prefix("/customers/")
                .unwrap_or_default()
                .to_string();
            let cap = id.split('.').next().unwrap_or_default();
            let token = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let (status, body) = if id.is_empty() {
                (404, "{}".to_string())
            } else if token != format!("Bearer tok-{cap}") {
                (401, "{}".to_string())
            } else {
                (200, format!(r#"{{"id":"{id}","via":"{label}"}}"#))
            };
            http::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .unwrap()
        }
    })
}

/// Classify one answer to capability `cap`'s request for `id`.
fn classify(cap: &Cap, id: &str, status: u16, body: &[u8]) -> Outcome {
    match status {
        200 => {
            let v: serde_json::Value = match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(_) => return Outcome::WrongBody,
            };
            let via = match v["via"].as_str() {
                Some("direct") => "direct",
                Some("ssh") => "ssh",
                Some("ziti") => "ziti",
                Some("decoy") => "decoy",
                _ => return Outcome::WrongBody,
            };
            if via != cap.route.label() {
                Outcome::WrongPath(via)
            } else if v["id"] != id {
                Outcome::WrongBody
            } else {
                Outcome::Correct
            }
        }
        503 => Outcome::Unavailable,
        other => Outcome::Status(other),
    }
}

/// When a load stops.
#[derive(Clone)]
enum Until {
    /// After this many requests in all.
    Requests(u64),
    /// When the flag is set.
    Stopped(Arc<AtomicBool>),
}

/// One load: `connections` keep-alive connections to `addr`, requests spread over
/// `caps` in turn, each connection sending one request per `pace` (back to back when
/// None). Every answer recorded; a connection that fails is opened again.
struct Load {
    addr: String,
    caps: Arc<Vec<Cap>>,
    connections: usize,
    until: Until,
    pace: Option<Duration>,
    live: Arc<Live>,
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(addr: &str) -> Option<Sender> {
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    Some(sender)
}

/// The host's error text in an error answer (`{"error": …}`), without the request id.
fn error_text(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = v["error"].as_str()?;
    let text = text.split(" (request id").next().unwrap_or(text);
    Some(text.chars().take(160).collect())
}

/// One request on `sender`: its outcome and, for an unexpected status, the host's error
/// text.
async fn exchange(
    sender: &mut Sender,
    addr: &str,
    cap: &Cap,
    id: &str,
) -> (Outcome, Option<String>) {
    if sender.ready().await.is_err() {
        return (Outcome::Connection, None);
    }
    let req = http::Request::get(format!("/{}/customers/{id}", cap.name))
        .header("host", addr)
        .body(Empty::<Bytes>::new())
        .unwrap();
    match sender.send_request(req).await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            match resp.into_body().collect().await {
                Ok(body) => {
                    let body = body.to_bytes();
                    let outcome = classify(cap, id, status, &body);
                    let detail = matches!(outcome, Outcome::Status(_) | Outcome::Unavailable)
                        .then(|| error_text(&body))
                        .flatten();
                    (outcome, detail)
                }
                Err(_) => (Outcome::Connection, None),
            }
        }
        Err(_) => (Outcome::Connection, None),
    }
}

impl Load {
    /// Run to the end on a runtime of its own; every answer and the elapsed time.
    fn run(self) -> (Vec<Record>, Duration) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let started = Instant::now();
            let next = Arc::new(AtomicU64::new(0));
            let mut tasks = Vec::new();
            for i in 0..self.connections {
                let (addr, caps, until, live, next) = (
                    self.addr.clone(),
                    self.caps.clone(),
                    self.until.clone(),
                    self.live.clone(),
                    next.clone(),
                );
                let mut ticker = self.pace.map(|pace| {
                    // Connections spread over the period, not in step.
                    let offset = pace * i as u32 / self.connections as u32;
                    let mut t =
                        tokio::time::interval_at(tokio::time::Instant::now() + offset, pace);
                    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    t
                });
                tasks.push(tokio::spawn(async move {
                    let mut records = Vec::new();
                    let mut sender: Option<Sender> = None;
                    loop {
                        if let Some(t) = ticker.as_mut() {
                            t.tick().await;
                        }
                        let seq = next.fetch_add(1, Ordering::Relaxed);
                        match &until {
                            Until::Requests(n) if seq >= *n => break,
                            Until::Stopped(flag) if flag.load(Ordering::Relaxed) => break,
                            _ => {}
                        }
                        let index = (seq % caps.len() as u64) as usize;
                        let cap = &caps[index];
                        let id = format!("{}.{seq}", cap.name);
                        let start_us = live.now_us();
                        if sender.is_none() {
                            sender = connect(&addr).await;
                        }
                        let (outcome, detail) = match sender.as_mut() {
                            Some(s) => exchange(s, &addr, cap, &id).await,
                            None => (Outcome::Connection, None),
                        };
                        let end_us = live.now_us();
                        match outcome {
                            Outcome::Correct => {
                                live.last_correct_us[index].fetch_max(end_us, Ordering::Relaxed);
                            }
                            Outcome::Connection => {
                                sender = None;
                                // Not a busy loop while nothing listens.
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                            _ => {}
                        }
                        records.push(Record {
                            cap: index as u16,
                            start_us,
                            end_us,
                            outcome,
                            detail,
                        });
                    }
                    records
                }));
            }
            let mut records = Vec::new();
            for t in tasks {
                records.extend(t.await.unwrap());
            }
            (records, started.elapsed())
        })
    }
}

/// Counts of outcomes (a wrong path by what answered).
fn tally<'a>(records: impl Iterator<Item = &'a Record>) -> BTreeMap<Outcome, u64> {
    let mut counts = BTreeMap::new();
    for r in records {
        *counts.entry(r.outcome).or_insert(0) += 1;
    }
    counts
}

/// Unexpected statuses by the host's error text.
fn details<'a>(records: impl Iterator<Item = &'a Record>) -> BTreeMap<(Outcome, String), u64> {
    let mut counts = BTreeMap::new();
    for r in records {
        if let Some(d) = &r.detail {
            *counts.entry((r.outcome, d.clone())).or_insert(0) += 1;
        }
    }
    counts
}

fn describe(outcome: Outcome) -> String {
    match outcome {
        Outcome::Correct => "correct".into(),
        Outcome::Unavailable => "503".into(),
        Outcome::WrongBody => "wrong body".into(),
        Outcome::WrongPath(via) => format!("200 from the wrong path ({via})"),
        Outcome::Status(s) => format!("HTTP {s}"),
        Outcome::Connection => "connection error".into(),
    }
}

/// Throughput and latency of the correct answers, as the other benchmarks report them.
fn as_run<'a>(records: impl Iterator<Item = &'a Record>, elapsed: Duration) -> Run {
    let mut latencies = Vec::new();
    let mut errors = 0;
    for r in records {
        if r.outcome == Outcome::Correct {
            latencies.push(Duration::from_micros(r.end_us - r.start_us));
        } else {
            errors += 1;
        }
    }
    Run::new(latencies, errors, elapsed)
}

/// A percentile of a run's correct answers in µs (0 when there were none).
fn pct_us(run: &Run, p: f64) -> f64 {
    if run.latencies.is_empty() {
        0.0
    } else {
        run.pct(p).as_secs_f64() * 1e6
    }
}

/// `report`, when there is anything to report.
fn report_run(name: &str, run: &Run) {
    if run.latencies.is_empty() {
        println!("{name:<22} no correct answers ({} others)", run.errors);
    } else {
        report(name, run);
    }
}

/// One phase's figures for the summary.
struct Phase {
    name: &'static str,
    answers: u64,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    correct: u64,
    outage_503: u64,
    wrong: u64,
    /// Wrong answers that were answers: another request's body, or another path's.
    wrong_content: u64,
}

/// Print a load's figures, by path and by outcome; the phase's summary row (every
/// answer that is not correct counts as wrong: no outage is planned here).
fn report_load(name: &'static str, caps: &[Cap], records: &[Record], elapsed: Duration) -> Phase {
    let all = as_run(records.iter(), elapsed);
    println!(
        "{} answers in {:.1} s: {:.0} answers/s",
        records.len(),
        elapsed.as_secs_f64(),
        records.len() as f64 / elapsed.as_secs_f64()
    );
    report_run("all capabilities", &all);
    for route in [Route::Direct, Route::Ssh, Route::Ziti] {
        let mine = records
            .iter()
            .filter(|r| caps[r.cap as usize].route == route);
        report_run(&format!("  {}", route.label()), &as_run(mine, elapsed));
    }
    let counts = tally(records.iter());
    let line: Vec<String> = counts
        .iter()
        .map(|(o, n)| format!("{}: {n}", describe(*o)))
        .collect();
    println!("outcomes: {}", line.join(", "));
    for ((outcome, detail), n) in details(records.iter()) {
        println!("  {} ×{n}: {detail}", describe(outcome));
    }
    // When the answers that were not correct came, per path: one outage or many, at the
    // start or throughout.
    let phase_start = records.iter().map(|r| r.start_us).min().unwrap_or(0);
    for route in [Route::Direct, Route::Ssh, Route::Ziti] {
        let times: Vec<u64> = records
            .iter()
            .filter(|r| caps[r.cap as usize].route == route && r.outcome != Outcome::Correct)
            .map(|r| r.start_us - phase_start)
            .collect();
        if let (Some(first), Some(last)) = (times.iter().min(), times.iter().max()) {
            println!(
                "  {}: {} not correct, sent from {:.1} s to {:.1} s into the phase",
                route.label(),
                times.len(),
                *first as f64 / 1e6,
                *last as f64 / 1e6
            );
        }
    }
    let correct = counts.get(&Outcome::Correct).copied().unwrap_or(0);
    let wrong_content = counts
        .iter()
        .filter(|(o, _)| matches!(o, Outcome::WrongBody | Outcome::WrongPath(_)))
        .map(|(_, n)| n)
        .sum();
    Phase {
        name,
        answers: records.len() as u64,
        rps: records.len() as f64 / elapsed.as_secs_f64(),
        p50_us: pct_us(&all, 0.5),
        p99_us: pct_us(&all, 0.99),
        correct,
        outage_503: 0,
        wrong: records.len() as u64 - correct,
        wrong_content,
    }
}

/// One tunnel's outage in the chaos phase (µs since the epoch).
struct Outage {
    route: Route,
    what: &'static str,
    killed_us: u64,
    restarted_us: u64,
    /// When the far end was back in the network (Ziti: libziti bound again).
    far_end_back_us: Option<u64>,
}

/// How long a tunnel may take to come back before the bench says it did not.
const RECOVERY_LIMIT: Duration = Duration::from_secs(180);

/// One outage under load: `set_down(true)` takes the far side of `route`'s tunnel away,
/// `set_down(false)` after `length` brings it back and says whether its far end is in
/// the network again; then wait until every capability in `caps` answered correctly.
fn take_away(
    live: &Live,
    caps: &[usize],
    route: Route,
    what: &'static str,
    length: Duration,
    mut set_down: impl FnMut(bool) -> bool,
) -> Outage {
    let killed_us = live.now_us();
    set_down(true);
    std::thread::sleep(length);
    let restarted_us = live.now_us();
    let far_end_back_us = set_down(false).then(|| live.now_us());
    if !live.wait_all_correct_after(caps, restarted_us, RECOVERY_LIMIT) {
        println!(
            "the {} capabilities did not all answer within {RECOVERY_LIMIT:?} of the restart",
            route.label()
        );
    }
    Outage {
        route,
        what,
        killed_us,
        restarted_us,
        far_end_back_us,
    }
}

/// Resident memory and descriptors of the host at one moment.
struct Sample {
    when: String,
    rss_kib: u64,
    fds: usize,
}

fn print_samples(samples: &[Sample]) {
    println!("{:<24} {:>12} {:>6}", "host (ikanos serve)", "VmRSS", "fds");
    for s in samples {
        println!(
            "{:<24} {:>8.1} MiB {:>6}",
            s.when,
            s.rss_kib as f64 / 1024.0,
            s.fds
        );
    }
}

fn sample(pid: u32, when: impl Into<String>) -> Sample {
    Sample {
        when: when.into(),
        rss_kib: vm_rss_kib(pid),
        fds: open_fds(pid),
    }
}

/// The Ziti path's far side, started again when it exits, as a service manager restarts
/// a hosting application: libziti 0.29.3's host process has been seen to end under a
/// long soak (right after many circuits closed at once). While it is gone nothing hosts
/// the service, so the Ziti capabilities answer 503 (fail closed); each exit is recorded
/// so those answers are reported as the far side's outage, not taken for wrong ones.
struct FarSide {
    exits: Arc<std::sync::Mutex<Vec<FarSideExit>>>,
    stop: Arc<AtomicBool>,
    /// Owns the process: stopping it (on drop) kills the far side.
    watcher: Option<std::thread::JoinHandle<()>>,
}

struct FarSideExit {
    /// When its exit was seen (µs since the load's epoch).
    exited_us: u64,
    status: String,
    /// Its last lines before it exited (without the one per circuit).
    last_lines: Vec<String>,
    bound_again_us: u64,
}

impl FarSide {
    fn watch(
        mut process: support::ziti::LibZitiProcess,
        identity: std::path::PathBuf,
        service: &'static str,
        target: String,
        live: Arc<Live>,
    ) -> FarSide {
        let exits = Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopped) = (exits.clone(), stop.clone());
        let watcher = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let Some(status) = process.exited() else {
                    continue;
                };
                let exited_us = live.now_us();
                // Let the reader threads take its last lines.
                std::thread::sleep(Duration::from_millis(100));
                let output = process.output();
                let lines: Vec<&str> = output
                    .lines()
                    .filter(|l| {
                        !l.starts_with("ACCEPTED") && !l.contains("on_shutdown() shutdown failed")
                    })
                    .collect();
                let last_lines = lines[lines.len().saturating_sub(20)..]
                    .iter()
                    .map(|l| l.to_string())
                    .collect();
                process = libziti_host(&identity, service, &target);
                seen.lock().unwrap().push(FarSideExit {
                    exited_us,
                    status: status.to_string(),
                    last_lines,
                    bound_again_us: live.now_us(),
                });
            }
        });
        FarSide {
            exits,
            stop,
            watcher: Some(watcher),
        }
    }

    /// Count the 503s of `route`'s capabilities that came while the far side was gone
    /// (between a capability's last correct answer before an exit and its first after)
    /// as outage answers of `phase`, and say so.
    fn account(&self, phase: &mut Phase, caps: &[Cap], records: &[Record], route: Route) {
        let exits = self.exits.lock().unwrap();
        let mut counted = std::collections::HashSet::new();
        for exit in exits.iter() {
            for cap in (0..caps.len()).filter(|&c| caps[c].route == route) {
                let correct = |r: &&Record| r.cap as usize == cap && r.outcome == Outcome::Correct;
                let before = records
                    .iter()
                    .filter(correct)
                    .filter(|r| r.start_us <= exit.exited_us)
                    .map(|r| r.start_us)
                    .max()
                    .unwrap_or(0);
                let after = records
                    .iter()
                    .filter(correct)
                    .filter(|r| r.start_us >= exit.exited_us)
                    .map(|r| r.start_us)
                    .min()
                    .unwrap_or(u64::MAX);
                for (i, r) in records.iter().enumerate() {
                    if r.cap as usize == cap
                        && r.outcome == Outcome::Unavailable
                        && r.start_us > before
                        && r.start_us < after
                    {
                        counted.insert(i);
                    }
                }
            }
        }
        let n = counted.len() as u64;
        if n > 0 {
            println!(
                "{}: {n} 503s of {} capabilities while the far side was gone (fail closed), counted as outage, not wrong",
                phase.name,
                route.label()
            );
        }
        phase.outage_503 += n;
        phase.wrong -= n;
    }

    /// One line per exit, with its last lines.
    fn report(&self) {
        for exit in self.exits.lock().unwrap().iter() {
            println!(
                "the libziti host (the Ziti path's far side) exited ({}) {:.1} s into the run and was bound again {:.1} s later; its last lines:",
                exit.status,
                exit.exited_us as f64 / 1e6,
                (exit.bound_again_us - exit.exited_us) as f64 / 1e6
            );
            for line in &exit.last_lines {
                println!("  {line}");
            }
        }
    }
}

impl Drop for FarSide {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.join();
        }
    }
}

fn main() {
    if !openssh::available() {
        println!("SKIP: needs OpenSSH (sshd and ssh); scripts/setup installs them");
        return;
    }
    if !support::libziti_available() {
        println!("SKIP: needs libziti (openziti==0.6.0); scripts/setup installs it");
        return;
    }
    let requests = arg("--requests", 100_000);
    let connections = arg("--connections", 64) as usize;
    let soak_seconds = arg("--soak-seconds", 600);
    let n = arg("--capabilities", 50).max(3) as usize;
    let outage = Duration::from_secs(arg("--outage-seconds", 10));
    let soak_rate = arg("--soak-rate", 500).max(1);
    let soak_connections = arg("--soak-connections", 16).max(1) as usize;

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let component = build_crm_component();

    // One upstream per path, and the decoy at the tunnelled capabilities' baseUri.
    let reached: Vec<Arc<AtomicU64>> = (0..4).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let direct_up = labelled_upstream("direct", reached[0].clone());
    let ssh_up = labelled_upstream("ssh", reached[1].clone());
    let ziti_up = labelled_upstream("ziti", reached[2].clone());
    let decoy = labelled_upstream("decoy", reached[3].clone());

    // SSH: sshd as the relay, `ssh -R` forwarding the relay's `forward` to the SSH path's
    // upstream. One SSH session per capability (each has its own tunnel registry).
    let forward = openssh::port();
    let (connector_key, connector_pub) = openssh::keygen(d, "connector");
    let (host_key, host_pub) = openssh::keygen(d, "host");
    let sshd = openssh::Sshd::start_with(
        d,
        &[
            format!(
                "restrict,port-forwarding,permitlisten=\"127.0.0.1:{forward}\" {connector_pub}"
            ),
            format!("restrict,port-forwarding,permitopen=\"127.0.0.1:{forward}\" {host_pub}"),
        ],
        openssh::SshdOptions {
            // Every capability's session logs in at once at start-up.
            extra_config: "MaxStartups 200\n",
            ..Default::default()
        },
    );
    let mut connector = Some(openssh::Connector::start(
        &sshd,
        &connector_key,
        forward,
        ssh_up.port(),
    ));

    // Ziti: the test controller and router, libziti hosting `soak-crm` → the Ziti path's
    // upstream; every capability dials it with the `ikanos` identity (a session each).
    let net = ZitiTestNet::start();
    const SERVICE: &str = "soak-crm";
    net.create_service(SERVICE, true);
    net.create_identity("ikanos");
    net.create_identity("libziti-host");
    net.grant("libziti-host", SERVICE, Permission::Bind);
    net.grant("ikanos", SERVICE, Permission::Dial);
    let libziti = libziti_host(
        &net.identity_file("libziti-host"),
        SERVICE,
        &ziti_up.to_string(),
    );
    net.wait_for_terminator(SERVICE);

    // The capabilities: the first half direct, the rest split between SSH and Ziti
    // (`--ssh` of them through SSH: all of them or none tells the two apart).
    let direct_count = n / 2;
    let ssh_count =
        (arg("--ssh", (n - direct_count).div_ceil(2) as u64) as usize).min(n - direct_count);
    let example =
        std::fs::read_to_string(repo_root().join("examples/crm-sidecar/crm-sidecar.ikanos.yaml"))
            .unwrap()
            .replace("port: 8081", "port: 0");
    let caps_dir = d.join("capabilities");
    let ssh_block = ssh_tunnel_block(sshd.port, forward, &sshd.host_key);
    let ziti_block = ziti_tunnel_block(SERVICE);
    let decoy_uri = format!("http://{decoy}");
    let mut caps = Vec::new();
    for i in 0..n {
        let name = format!("cap{i}");
        let route = if i < direct_count {
            Route::Direct
        } else if i < direct_count + ssh_count {
            Route::Ssh
        } else {
            Route::Ziti
        };
        let mut secrets = format!("crm-bearer-token: \"tok-{name}\"\n");
        let text = match route {
            Route::Direct => {
                example.replace("http://127.0.0.1:18081", &format!("http://{direct_up}"))
            }
            Route::Ssh => {
                secrets.push_str(&format!("ssh-key: \"{}\"\n", host_key.display()));
                with_tunnel(&example, &decoy_uri, &ssh_block, "SSH_KEY", "ssh-key")
            }
            Route::Ziti => {
                secrets.push_str(&format!(
                    "ziti-identity: \"{}\"\n",
                    net.identity_file("ikanos").display()
                ));
                with_tunnel(
                    &example,
                    &decoy_uri,
                    &ziti_block,
                    "ZITI_IDENTITY",
                    "ziti-identity",
                )
            }
        };
        write_capability(&caps_dir, &name, &text, &secrets, &component);
        caps.push(Cap { name, route });
    }
    let caps = Arc::new(caps);
    let of_route = |route: Route| -> Vec<usize> {
        (0..caps.len())
            .filter(|&i| caps[i].route == route)
            .collect()
    };
    let (ssh_caps, ziti_caps) = (of_route(Route::Ssh), of_route(Route::Ziti));

    let cache = d.join("cache");
    let started = Instant::now();
    let host = start_serve(&caps_dir, &cache);
    let pid = host.pid();
    let live = Arc::new(Live {
        epoch: Instant::now(),
        last_correct_us: (0..caps.len()).map(|_| AtomicU64::new(0)).collect(),
    });
    let far_side = FarSide::watch(
        libziti,
        net.identity_file("libziti-host"),
        SERVICE,
        ziti_up.to_string(),
        live.clone(),
    );
    // Ready: every capability has answered correctly (tunnels connect in the background).
    let warm = Arc::new(AtomicBool::new(false));
    let warm_load = {
        let load = Load {
            addr: host.shared.clone(),
            caps: caps.clone(),
            connections: 4,
            until: Until::Stopped(warm.clone()),
            pace: Some(Duration::from_millis(20)),
            live: live.clone(),
        };
        std::thread::spawn(move || load.run())
    };
    let all: Vec<usize> = (0..caps.len()).collect();
    let ready = live.wait_all_correct_after(&all, 0, Duration::from_secs(120));
    warm.store(true, Ordering::Relaxed);
    let (warm_records, _) = warm_load.join().unwrap();
    assert!(
        ready,
        "not every capability answered within 120 s; outcomes: {:?}; log:\n{}",
        tally(warm_records.iter()),
        host.log_tail().join("\n")
    );
    let ready_in = started.elapsed();
    let mut samples = vec![sample(pid, "ready")];

    println!("{}", machine_line());
    println!(
        "ikanos serve: {n} capabilities (crm-sidecar component; {direct_count} direct, {} through SSH, {} through Ziti, every tunnel fallback: fail), every one answering within {:.1} s of start",
        ssh_caps.len(),
        ziti_caps.len(),
        ready_in.as_secs_f64()
    );

    // Phase 1: load.
    println!("\nphase 1, load: {requests} requests on {connections} connections, back to back");
    let (records, elapsed) = Load {
        addr: host.shared.clone(),
        caps: caps.clone(),
        connections,
        until: Until::Requests(requests),
        pace: None,
        live: live.clone(),
    }
    .run();
    let mut load_phase = report_load("load", &caps, &records, elapsed);
    far_side.account(&mut load_phase, &caps, &records, Route::Ziti);
    samples.push(sample(pid, "after load"));

    // Phase 2: chaos under load.
    println!(
        "\nphase 2, chaos: {connections} connections back to back; the SSH connector killed, restarted after {} s; then the Ziti edge router stopped, started after {} s",
        outage.as_secs(),
        outage.as_secs()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let chaos_load = {
        let load = Load {
            addr: host.shared.clone(),
            caps: caps.clone(),
            connections,
            until: Until::Stopped(stop.clone()),
            pace: None,
            live: live.clone(),
        };
        std::thread::spawn(move || load.run())
    };
    let lead = Duration::from_secs(5);
    std::thread::sleep(lead);
    let mut outages = vec![take_away(
        &live,
        &ssh_caps,
        Route::Ssh,
        "SSH connector (ssh -R) killed",
        outage,
        |down| {
            if down {
                connector.take().unwrap().kill();
            } else {
                // Returns once the relay forwards its port again.
                connector = Some(openssh::Connector::start(
                    &sshd,
                    &connector_key,
                    forward,
                    ssh_up.port(),
                ));
            }
            true
        },
    )];
    std::thread::sleep(lead);
    outages.push(take_away(
        &live,
        &ziti_caps,
        Route::Ziti,
        "Ziti edge router stopped",
        outage,
        |down| {
            if down {
                net.stop_router();
                return true;
            }
            net.start_router();
            // libziti binds again by itself.
            let deadline = Instant::now() + RECOVERY_LIMIT;
            while net.terminators(SERVICE) == 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            net.terminators(SERVICE) > 0
        },
    ));
    std::thread::sleep(lead);
    stop.store(true, Ordering::Relaxed);
    let (records, elapsed) = chaos_load.join().unwrap();
    let chaos = judge_chaos(&caps, &records, elapsed, &outages, &reached[3]);
    samples.push(sample(pid, "after chaos"));

    // Phase 3: soak.
    println!(
        "\nphase 3, soak: {soak_seconds} s at {soak_rate} requests/s on {soak_connections} connections"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let soak_load = {
        let load = Load {
            addr: host.shared.clone(),
            caps: caps.clone(),
            connections: soak_connections,
            until: Until::Stopped(stop.clone()),
            pace: Some(Duration::from_secs_f64(
                soak_connections as f64 / soak_rate as f64,
            )),
            live: live.clone(),
        };
        std::thread::spawn(move || load.run())
    };
    let soak_started = Instant::now();
    let mut soak_samples = vec![sample(pid, "soak 0 s")];
    // The start the deltas are taken from: the soak's own connections open and in use.
    std::thread::sleep(Duration::from_secs(2));
    soak_samples.push(sample(pid, "soak 2 s (start)"));
    let every = Duration::from_secs((soak_seconds / 10).max(1));
    let end = soak_started + Duration::from_secs(soak_seconds);
    let mut next = soak_started + every;
    while next < end {
        std::thread::sleep(next - Instant::now());
        soak_samples.push(sample(
            pid,
            format!("soak {} s", soak_started.elapsed().as_secs()),
        ));
        next += every;
    }
    std::thread::sleep(end.saturating_duration_since(Instant::now()));
    soak_samples.push(sample(pid, format!("soak {soak_seconds} s (end)")));
    stop.store(true, Ordering::Relaxed);
    let (records, elapsed) = soak_load.join().unwrap();
    let mut soak_phase = report_load("soak", &caps, &records, elapsed);
    far_side.account(&mut soak_phase, &caps, &records, Route::Ziti);
    print_samples(&soak_samples);
    let (first, last) = (&soak_samples[1], soak_samples.last().unwrap());
    println!(
        "over the soak (from 2 s in): VmRSS {:+.1} MiB ({:.1} → {:.1} MiB), open fds {:+} ({} → {})",
        (last.rss_kib as f64 - first.rss_kib as f64) / 1024.0,
        first.rss_kib as f64 / 1024.0,
        last.rss_kib as f64 / 1024.0,
        last.fds as i64 - first.fds as i64,
        first.fds,
        last.fds
    );
    let end_sample = soak_samples.pop().unwrap();
    samples.push(soak_samples.swap_remove(1));
    samples.push(end_sample);

    // Summary.
    println!("\nsummary");
    println!("{}", machine_line());
    println!(
        "{:<7} {:>9} {:>9} {:>10} {:>10} {:>9} {:>12} {:>7}",
        "phase", "answers", "answers/s", "p50 µs", "p99 µs", "correct", "503 (outage)", "wrong"
    );
    for p in [&load_phase, &chaos.phase, &soak_phase] {
        println!(
            "{:<7} {:>9} {:>9.0} {:>10.1} {:>10.1} {:>9} {:>12} {:>7}",
            p.name, p.answers, p.rps, p.p50_us, p.p99_us, p.correct, p.outage_503, p.wrong
        );
    }
    for line in &chaos.recovery {
        println!("{line}");
    }
    print_samples(&samples);
    println!(
        "requests that reached the upstreams: direct {}, ssh {}, ziti {}, decoy {}",
        reached[0].load(Ordering::Relaxed),
        reached[1].load(Ordering::Relaxed),
        reached[2].load(Ordering::Relaxed),
        reached[3].load(Ordering::Relaxed)
    );
    let phases = [&load_phase, &chaos.phase, &soak_phase];
    let pass = chaos.pass && phases.iter().all(|p| p.wrong == 0);
    println!(
        "{}: none wrong, none around a tunnel (wrong answers: load {}, chaos {} ({} in flight when their tunnel was killed), soak {}; answers from around a tunnel: {}; requests at the decoy: {})",
        if pass { "PASS" } else { "FAIL" },
        load_phase.wrong,
        chaos.phase.wrong,
        chaos.in_flight,
        soak_phase.wrong,
        chaos.around,
        reached[3].load(Ordering::Relaxed)
    );
    // The part of it that is about routing: no answer carried another request's body or
    // came from another path, whatever the status of the others.
    let content = phases.iter().map(|p| p.wrong_content).sum::<u64>();
    let routed = content == 0 && chaos.around == 0 && reached[3].load(Ordering::Relaxed) == 0;
    println!(
        "{}: no answer from around a tunnel or with another request's body ({content} such answers)",
        if routed { "PASS" } else { "FAIL" },
    );
    far_side.report();
    if !pass || !routed {
        println!("the host's last log lines (warnings and errors):");
        for line in host.log_tail() {
            println!("  {line}");
        }
    }
    drop(far_side);
    drop(connector);
}

/// What the chaos phase found.
struct Chaos {
    phase: Phase,
    recovery: Vec<String>,
    /// Answers that came from around a tunnel (the decoy, or another path's upstream).
    around: u64,
    /// Wrong answers to requests in flight when their tunnel was killed.
    in_flight: u64,
    pass: bool,
}

/// Classify every answer of the chaos phase against the outages and print the verdict.
fn judge_chaos(
    caps: &[Cap],
    records: &[Record],
    elapsed: Duration,
    outages: &[Outage],
    decoy: &AtomicU64,
) -> Chaos {
    let s = |us: u64| us as f64 / 1e6;
    // Per capability: its outage (kill, first correct answer after the restart).
    let mut window: Vec<Option<(u64, u64)>> = vec![None; caps.len()];
    let mut recovery = Vec::new();
    for o in outages {
        let mine: Vec<usize> = (0..caps.len())
            .filter(|&c| caps[c].route == o.route)
            .collect();
        let mut backs = Vec::new();
        for &c in &mine {
            let back = records
                .iter()
                .filter(|r| {
                    r.cap as usize == c
                        && r.outcome == Outcome::Correct
                        && r.end_us > o.restarted_us
                })
                .map(|r| r.end_us)
                .min();
            window[c] = Some((o.killed_us, back.unwrap_or(u64::MAX)));
            backs.push(back);
        }
        let first_back = backs.iter().flatten().min().copied();
        // None when one of them never answered again.
        let last_back = backs
            .iter()
            .copied()
            .collect::<Option<Vec<u64>>>()
            .and_then(|b| b.into_iter().max());
        let first_503 = records
            .iter()
            .filter(|r| {
                mine.contains(&(r.cap as usize))
                    && r.outcome == Outcome::Unavailable
                    && r.end_us >= o.killed_us
            })
            .map(|r| r.end_us)
            .min();
        let fmt_after = |t: Option<u64>, from: u64| match t {
            None => "never".to_string(),
            Some(t) => format!("{:.2} s", s(t - from)),
        };
        recovery.push(format!(
            "{} ({} capabilities): first 503 {} after the kill; restarted after {:.1} s{}; first correct answer through it {} after the restart, every one of its capabilities {} after",
            o.what,
            mine.len(),
            fmt_after(first_503, o.killed_us),
            s(o.restarted_us - o.killed_us),
            match o.far_end_back_us {
                Some(t) if o.route == Route::Ziti => format!(" (libziti bound again {:.2} s after the restart)", s(t - o.restarted_us)),
                Some(t) => format!(" (its port forwarded again {:.2} s after the restart)", s(t - o.restarted_us)),
                None => " (the far end never came back)".to_string(),
            },
            fmt_after(first_back, o.restarted_us),
            fmt_after(last_back, o.restarted_us),
        ));
    }
    // Every answer: correct, 503 within its capability's outage, or wrong by kind.
    let mut correct = 0;
    let mut outage_503 = 0;
    // Wrong answers by kind, path and the host's error text, with when they came.
    let mut wrong: BTreeMap<(String, Route, String), Vec<u64>> = BTreeMap::new();
    let mut around = 0;
    let mut in_flight = 0;
    for r in records {
        let cap = &caps[r.cap as usize];
        let outage = window[r.cap as usize];
        match r.outcome {
            Outcome::Correct => correct += 1,
            Outcome::Unavailable
                if outage.is_some_and(|(from, to)| r.end_us >= from && r.start_us <= to) =>
            {
                outage_503 += 1
            }
            other => {
                let mut kind = match other {
                    Outcome::Unavailable => "503 outside an outage".to_string(),
                    Outcome::WrongPath(_) => {
                        around += 1;
                        describe(other)
                    }
                    _ => describe(other),
                };
                if outage.is_some_and(|(from, _)| r.start_us < from && r.end_us >= from) {
                    in_flight += 1;
                    kind.push_str(", in flight at the kill");
                }
                let detail = r.detail.clone().unwrap_or_default();
                wrong
                    .entry((kind, cap.route, detail))
                    .or_default()
                    .push(r.end_us);
            }
        }
    }
    let wrong_total: u64 = wrong.values().map(|v| v.len() as u64).sum();
    let run = as_run(records.iter(), elapsed);
    println!(
        "{} answers in {:.1} s: {correct} correct, {outage_503} 503 within an outage, {wrong_total} wrong ({in_flight} of them in flight when their tunnel was killed)",
        records.len(),
        elapsed.as_secs_f64()
    );
    report_run("correct answers", &run);
    for line in &recovery {
        println!("{line}");
    }
    // A moment, against the latest event before it.
    let when = |t: u64| {
        let event = outages
            .iter()
            .flat_map(|o| {
                [
                    (o.killed_us, format!("{} kill", o.route.label())),
                    (o.restarted_us, format!("{} restart", o.route.label())),
                ]
            })
            .filter(|(at, _)| *at <= t)
            .max_by_key(|(at, _)| *at);
        match event {
            Some((at, name)) => format!("{:.2} s after the {name}", s(t - at)),
            None => format!("{:.2} s into the phase", s(t)),
        }
    };
    for ((kind, route, detail), times) in &wrong {
        let (first, last) = (
            times.iter().min().copied().unwrap_or(0),
            times.iter().max().copied().unwrap_or(0),
        );
        println!(
            "wrong: {kind} ×{} on {} capabilities, from {} to {}{}",
            times.len(),
            route.label(),
            when(first),
            when(last),
            if detail.is_empty() {
                String::new()
            } else {
                format!(": {detail}")
            }
        );
    }
    let decoy_hits = decoy.load(Ordering::Relaxed);
    let pass = wrong_total == 0 && around == 0 && decoy_hits == 0;
    println!(
        "{}: none wrong, none around a tunnel ({wrong_total} wrong, {around} from around a tunnel, {decoy_hits} requests at the decoy)",
        if pass { "PASS" } else { "FAIL" }
    );
    Chaos {
        phase: Phase {
            name: "chaos",
            answers: records.len() as u64,
            rps: records.len() as f64 / elapsed.as_secs_f64(),
            p50_us: pct_us(&run, 0.5),
            p99_us: pct_us(&run, 0.99),
            correct,
            outage_503,
            wrong: wrong_total,
            wrong_content: records
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::WrongBody | Outcome::WrongPath(_)))
                .count() as u64,
        },
        recovery,
        around,
        in_flight,
        pass,
    }
}
