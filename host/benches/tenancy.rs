//! Benchmark: memory of a multi-tenant host. A real `ikanos serve` loads N copies of
//! the crm-sidecar example (each in its own folder with its own secrets, all using the
//! same component, each with its own REST port besides the shared listener), and the
//! host's resident memory (VmRSS from /proc/PID/status) is read once every capability
//! is loaded and one request has gone through the first and the last of them.
//!
//! Run: `cargo bench -p ikanos --bench tenancy` (options: `-- --max 500`).
//! Reports, per N: RSS, load time, and the cost of each capability over the one-capability
//! host. Aim: ≤ 1 MiB per idle capability.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// `n` capabilities `cap0` … in `dir`, each a folder with the example file (pointed at
/// `upstream`, port 0), its own secrets and a link to the one component.
fn write_capabilities(dir: &Path, n: usize, component: &Path, upstream: &str) {
    let text =
        std::fs::read_to_string(repo_root().join("examples/crm-sidecar/crm-sidecar.ikanos.yaml"))
            .unwrap()
            .replace("port: 8081", "port: 0")
            .replace("http://127.0.0.1:18081", upstream);
    let secrets = format!("crm-bearer-token: \"{TOKEN}\"\n");
    for i in 0..n {
        write_capability(dir, &format!("cap{i}"), &text, &secrets, component);
    }
}

struct Measured {
    capabilities: usize,
    rss_kib: u64,
    load: Duration,
}

fn measure(n: usize, component: &Path, upstream: &str, cache: &Path) -> Measured {
    let dir = tempfile::tempdir().unwrap();
    write_capabilities(dir.path(), n, component, upstream);
    let started = Instant::now();
    let host = start_serve(dir.path(), cache);
    let load = started.elapsed();
    let (shared, control) = (&host.shared, &host.control);
    let status: serde_json::Value =
        serde_json::from_str(&fetch(&format!("http://{control}/status"))).unwrap();
    assert_eq!(
        status["counts"]["ready"], n,
        "not all ready: {}",
        status["counts"]
    );
    if n > 0 {
        assert_eq!(status["host"]["components"], 1);
        for i in [0, n - 1] {
            let body = fetch(&format!("http://{shared}/cap{i}/customers/2"));
            assert!(body.contains("Grace"), "cap{i}: {body}");
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let rss_kib = vm_rss_kib(host.pid());
    Measured {
        capabilities: n,
        rss_kib,
        load,
    }
}

fn main() {
    if !Path::new("/proc/self/status").exists() {
        println!("tenancy benchmark: needs /proc (Linux); skipped");
        return;
    }
    let max = arg("--max", 500) as usize;
    let component = build_crm_component();
    let upstream = format!("http://{}", common::upstream());
    let cache = tempfile::tempdir().unwrap();
    // Compile once into the cache first: compiling takes far more memory than loading
    // compiled code, and every measured host should load the same way.
    measure(1, &component, &upstream, cache.path());
    let mut counts = vec![0, 1, 100, max];
    counts.dedup();
    let results: Vec<Measured> = counts
        .iter()
        .map(|&n| measure(n, &component, &upstream, cache.path()))
        .collect();
    let one = results
        .iter()
        .find(|m| m.capabilities == 1)
        .map(|m| m.rss_kib);
    println!(
        "ikanos serve, crm-sidecar example × N (one component), each with its own port and secrets"
    );
    println!(
        "{:>13} {:>12} {:>12} {:>24}",
        "capabilities", "VmRSS", "ready in", "per capability over N=1"
    );
    for m in &results {
        let per = match (one, m.capabilities) {
            (Some(base), n) if n > 1 => format!(
                "{:.0} KiB",
                (m.rss_kib as f64 - base as f64) / (n as f64 - 1.0)
            ),
            _ => "-".into(),
        };
        println!(
            "{:>13} {:>8.1} MiB {:>9} ms {:>24}",
            m.capabilities,
            m.rss_kib as f64 / 1024.0,
            m.load.as_millis(),
            per
        );
    }
}
