//! Benchmark: the crm example in each language a capability can be written in, side by
//! side in one run — Rust with the guest SDK (`crm-sidecar`), Python (`crm-python`,
//! componentize-py), JavaScript (`crm-js`, componentize-js) and a standard `wasi:http`
//! component (`crm-wasi-http`, the `wasip2` crate). The real `ikanos` binary serves
//! each against the same loopback CRM.
//!
//! Per language: component size; compile-once time (start → ready with an empty
//! component cache, which is almost all compilation, and start → ready again with the
//! cache filled); the host's mean instantiation time under load
//! (`ikanos_instantiation_duration_seconds`); requests/s and p50 of
//! `GET /customers/2` at 1 connection and at `--connections`, in alternating rounds;
//! and ratios against the Rust component measured in the same run.
//!
//! Run: `cargo bench -p ikanos --bench guests` (options: `-- --seconds 5 --connections 4`).
//! The Python and JavaScript components are built by their examples' `build` scripts
//! (which install the pinned componentize-py / componentize-js on first use).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

struct Guest {
    label: &'static str,
    example: &'static str,
    component: PathBuf,
}

fn built_by_script(example: &str, wasm: &str) -> PathBuf {
    let dir = repo_root().join("examples").join(example);
    guest_build::run_build_script(&dir);
    dir.join(wasm)
}

fn start(guest: &Guest, up: &str) -> IkanosChild {
    let secrets = format!("crm-bearer-token: \"{TOKEN}\"\n");
    start_example_component(
        guest.example,
        &guest.component,
        &[],
        |s| s.replace("http://127.0.0.1:18081", &format!("http://{up}")),
        &[("secrets.yaml", secrets)],
    )
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn main() {
    let seconds = arg("--seconds", 5);
    let connections = arg("--connections", 4) as usize;
    build_crm_component();
    let release = repo_root().join("examples/target/wasm32-wasip2/release");
    let guests = [
        Guest {
            label: "Rust (guest SDK)",
            example: "crm-sidecar",
            component: release.join("crm_sidecar.wasm"),
        },
        Guest {
            label: "Python (componentize-py)",
            example: "crm-python",
            component: built_by_script("crm-python", "crm-python.wasm"),
        },
        Guest {
            label: "JavaScript (componentize-js)",
            example: "crm-js",
            component: built_by_script("crm-js", "crm-js.wasm"),
        },
        Guest {
            label: "wasi:http (wasip2 crate)",
            example: "crm-wasi-http",
            component: release.join("crm_wasi_http.wasm"),
        },
    ];
    let up = upstream().to_string();
    println!(
        "{}; {connections} connections; {seconds}s per run; 2 alternating rounds after a 1s warm-up",
        machine_line()
    );

    // Each host starts with an empty component cache: its start → ready is the
    // compile-once cost.
    let mut hosts = Vec::new();
    for g in &guests {
        let started = Instant::now();
        let host = start(g, &up);
        let cold = started.elapsed();
        let warm = host.start_to_ready();
        let body = fetch(&format!("http://{}/customers/2", host.rest));
        assert!(body.contains("Grace Hopper"), "{}: {body}", g.label);
        hosts.push((host, cold, warm));
    }

    let targets: Vec<(&str, String)> = guests
        .iter()
        .zip(&hosts)
        .map(|(g, (h, _, _))| (g.label, h.rest.clone()))
        .collect();
    let path = "/customers/2";
    let mut rows = Vec::new();
    for (label, conns) in [("1 connection", 1), ("connections", connections)] {
        println!("{label} ({conns}), {seconds}s per language, 2 alternating rounds:");
        for (_, addr) in &targets {
            load(addr, path, conns, Duration::from_secs(1));
        }
        let before: Vec<String> = hosts
            .iter()
            .map(|(h, _, _)| fetch(&format!("http://{}/metrics", h.control)))
            .collect();
        let mut runs: Vec<Vec<Run>> = targets.iter().map(|_| Vec::new()).collect();
        for _ in 0..2 {
            for (i, (_, addr)) in targets.iter().enumerate() {
                runs[i].push(load(addr, path, conns, Duration::from_secs(seconds)));
            }
        }
        let merged: Vec<Run> = runs.into_iter().map(merge).collect();
        for ((name, _), run) in targets.iter().zip(&merged) {
            report(name, run);
        }
        let instantiation: Vec<f64> = hosts
            .iter()
            .zip(&before)
            .map(|((h, _, _), before)| {
                let after = fetch(&format!("http://{}/metrics", h.control));
                let name = "ikanos_instantiation_duration_seconds";
                let (s0, n0) = metric_sum_count(before, name);
                let (s1, n1) = metric_sum_count(&after, name);
                (s1 - s0) / (n1 - n0).max(1.0)
            })
            .collect();
        rows.push((conns, merged, instantiation));
    }

    println!();
    println!("| language | component | start → ready, empty cache (compile once) | start → ready, cached | instantiation, mean (1 conn / {connections} conns) | req/s 1 conn (× Rust) | req/s {connections} conns (× Rust) | p50 1 conn |");
    println!("|---|---|---|---|---|---|---|---|");
    let (_, one, inst_one) = &rows[0];
    let (_, many, inst_many) = &rows[1];
    for (i, g) in guests.iter().enumerate() {
        let (_, cold, warm) = &hosts[i];
        println!(
            "| {} | {:.2} MB | {:.2} s | {:.0} ms | {:.0} µs / {:.0} µs | {:.0} ({:.2}×) | {:.0} ({:.2}×) | {:.2} ms |",
            g.label,
            size(&g.component) as f64 / 1e6,
            cold.as_secs_f64(),
            warm.as_secs_f64() * 1e3,
            inst_one[i] * 1e6,
            inst_many[i] * 1e6,
            one[i].rps(),
            one[i].rps() / one[0].rps(),
            many[i].rps(),
            many[i].rps() / many[0].rps(),
            one[i].pct(0.5).as_secs_f64() * 1e3,
        );
    }
    for (host, _, _) in hosts {
        println!("host RSS after the run: {} KiB", vm_rss_kib(host.pid()));
    }
}
