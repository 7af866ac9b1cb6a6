//! Benchmark: the scale-out shape (tests/e2e/support/fleet.rs): N `ikanos serve`
//! replicas, each in its own network namespace, pulling one capability from an OCI
//! registry and opening its own SSH session to the relay, behind HAProxy.
//!
//! Run: `cargo bench -p ikanos --bench scale` (options: `-- --replicas 3 --seconds 10
//! --connections 8`). Needs root (network namespaces), haproxy, docker-registry and
//! OpenSSH (scripts/setup installs them).
//!
//! Reports: each replica's start → ready (pull, load, tunnel up); what one replica holds
//! (artifact bytes, RSS, metric series of the capability, SSH sessions at the relay);
//! throughput and latency through the balancer against one replica directly, same run
//! (ratio); and failover: one replica's route to the relay cut → its readiness 503 →
//! the balancer takes it out, then the route back → ready → back in.

mod common;
// The e2e support tree, for its fleet: it mounts ports.rs and guest_build.rs as common
// does, which is harmless (no state is shared through them).
#[allow(unused_imports, clippy::duplicate_mod)]
#[path = "../../tests/e2e/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use common::{arg, load, machine_line};
use support::fleet::{self, replica_addr, Fleet, NAME};

fn wait(what: &str, within: Duration, f: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    start.elapsed()
}

fn main() {
    if let Some(why) = fleet::missing() {
        println!("scale benchmark: {why}; skipped");
        return;
    }
    let replicas = arg("--replicas", 3) as usize;
    let seconds = arg("--seconds", 10);
    let connections = arg("--connections", 8) as usize;
    println!("{}", machine_line());
    let fleet = Fleet::start(replicas);
    for (i, t) in fleet.start_to_ready.iter().enumerate() {
        println!(
            "replica {i}: start → ready {:.0} ms (pull from the registry, load, tunnel up)",
            t.as_secs_f64() * 1000.0
        );
    }
    let metrics = fleet.metrics(0);
    let series = metrics
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(&format!("capability=\"{NAME}\"")))
        .count();
    let all_series = metrics.lines().filter(|l| !l.starts_with('#')).count();
    println!(
        "per replica: RSS {} KiB (replica 0), {} metric series of the capability ({} in all), 1 SSH session to the relay",
        fleet.rss_kib(0),
        series,
        all_series
    );

    // Throughput: the balancer, and replica 0 directly (the baseline), same run.
    let path = format!("/{NAME}/customers");
    let duration = Duration::from_secs(seconds);
    let lb_addr = fleet
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches(&format!("/{NAME}"))
        .to_string();
    let direct = load(
        &format!("{}:8080", replica_addr(0)),
        &path,
        connections,
        duration,
    );
    let through = load(&lb_addr, &path, connections, duration);
    for (what, r) in [
        ("one replica directly", &direct),
        ("through HAProxy", &through),
    ] {
        println!(
            "{what:>22}: {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  errors {}",
            r.rps(),
            r.pct(0.5).as_secs_f64() * 1000.0,
            r.pct(0.99).as_secs_f64() * 1000.0,
            r.errors
        );
    }
    println!(
        "balancer over {replicas} replicas / one replica: {:.2}× throughput, p50 {:.2}×",
        through.rps() / direct.rps(),
        through.pct(0.5).as_secs_f64() / direct.pct(0.5).as_secs_f64()
    );

    // Failover.
    fleet.partition(1, true);
    let unready = wait("replica 1 unready", Duration::from_secs(60), || {
        fleet.ready(1) == 503
    });
    let out = fleet.wait_states(Duration::from_secs(60), |s| s[1] == "DOWN");
    fleet.partition(1, false);
    let ready = wait("replica 1 ready", Duration::from_secs(120), || {
        fleet.ready(1) == 200
    });
    let back = fleet.wait_states(Duration::from_secs(60), |s| s[1] == "UP");
    println!(
        "failover: route cut → readiness 503 in {:.2} s, out of the balancer {:.2} s later; route back → ready in {:.2} s, back in {:.2} s later",
        unready.as_secs_f64(),
        out.as_secs_f64(),
        ready.as_secs_f64(),
        back.as_secs_f64()
    );
}
