//! Benchmark: an exposed REST operation that calls one consumed operation, served by
//! the real `ikanos` binary, next to a plain hyper reverse proxy making the same
//! upstream call (the physical limit), both against one loopback upstream, measured
//! in the same run on the same machine. The operation runs twice in the same host: in
//! the crm-sidecar component, and declared upstream-style (`call` + a JSONPath output
//! mapping) for the built-in declarative engine. The component runs in three hosts:
//! per-core serving (the default), `--serving shared`, and per-core with `--busy-poll 0`
//! (busy polling off), each an A/B of the default in the same run.
//!
//! A second pair does equal work on both sides of another anchor: `wasmtime serve`
//! (wasmtime-cli of the same line as the host's wasmtime, installed by the bench) with
//! a plain `wasi:http` hello component (`examples/hello-wasi-http`), next to `ikanos`
//! serving the `hello` example, both answering `GET /hello/Ada`.
//!
//! Run: `cargo bench -p ikanos --bench proxy` (options: `-- --seconds 10 --connections 32`).
//! Reports requests/s, p50/p99 latency, the ratio to the plain proxy and to `wasmtime
//! serve`, the mean instantiation time per request from the host's own histogram, and
//! each goal of issue 15 as met / NOT MET.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The baseline: a plain hyper reverse proxy with a pooled client, adding the same token.
fn plain_proxy(upstream: SocketAddr, name: &str, multi_thread: bool) -> SocketAddr {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    let client = Arc::new(client);
    spawn_named_server(
        name,
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

/// The same listing declared the upstream way: `call` + a JSONPath output mapping, run
/// by the built-in declarative engine (a second REST adapter of the same capability).
const DECLARATIVE: &str = r#"    - type: rest
      address: "127.0.0.1"
      port: 0
      namespace: crm-declarative
      resources:
        customers:
          path: "/customers"
          description: "Customers, shaped by the declarative engine."
          operations:
            list-customers:
              method: GET
              description: "List customers."
              call: crm.list-customers
              outputParameters:
                - type: array
                  mapping: "$"
                  items:
                    type: object
                    properties:
                      id:
                        type: string
                        mapping: "$.id"
                      name:
                        type: string
                        mapping: "$.name"
                      email:
                        type: string
                        mapping: "$.email"
"#;

fn main() {
    // `cargo bench` passes `--bench`; ignore libtest-style flags.
    let seconds = arg("--seconds", 10);
    let connections = arg("--connections", 32) as usize;
    let rounds = arg("--rounds", 2);
    let up = upstream();
    let edit = |t: String| {
        t.replace("http://127.0.0.1:18081", &format!("http://{up}"))
            .replace("\n  exposes:\n", &format!("\n  exposes:\n{DECLARATIVE}"))
    };
    let secrets = [("secrets.yaml", format!("crm-bearer-token: \"{TOKEN}\"\n"))];
    // The same binary serving per core (the default) and on one shared work-stealing
    // pool (`--serving shared`, how every release before it served): the A/B of the
    // hot path's threading in the same run.
    let per_core = start_ikanos(edit, &secrets);
    let shared = start_ikanos_with(&["--serving", "shared"], edit, &secrets);
    // And per core without busy polling (`--busy-poll 0`): its A/B in the same run.
    let no_poll = start_ikanos_with(&["--busy-poll", "0"], edit, &secrets);
    let path = "/customers";
    // By namespace: the declarative adapter is declared first in the file, so the first
    // adapter to listen (`rest`) is the engine's, not the component's. (Until
    // 2026-12-04 the component rows took `rest` and measured the engine.)
    let component = |child: &IkanosChild| child.adapters["crm-api"].clone();
    let targets = [
        (
            "plain proxy, 1 thread",
            plain_proxy(up, "plain-1", false).to_string(),
        ),
        (
            "plain proxy, N threads",
            plain_proxy(up, "plain-n", true).to_string(),
        ),
        ("ikanos (wasm+consumes)", component(&per_core)),
        ("ikanos, --serving shared", component(&shared)),
        (
            "ikanos (declarative call+mapping)",
            per_core.adapters["crm-declarative"].clone(),
        ),
        ("ikanos, --busy-poll 0", component(&no_poll)),
    ];
    let threads = [
        Threads::named("plain-1"),
        Threads::named("plain-n"),
        Threads::of_process(per_core.pid()),
        Threads::of_process(shared.pid()),
        Threads::of_process(per_core.pid()),
        Threads::of_process(no_poll.pid()),
    ];

    check_targets(&targets, path);
    println!("{}", setup_line(connections, seconds, rounds));
    warm_up(&targets, path, connections);
    let before = fetch(&format!("http://{}/metrics", per_core.control));
    let (sum0, count0) = metric_sum_count(&before, "ikanos_instantiation_duration_seconds");
    let observed = observed_rounds(&targets, &threads, path, connections, seconds, rounds);
    let after = fetch(&format!("http://{}/metrics", per_core.control));
    let (sum1, count1) = metric_sum_count(&after, "ikanos_instantiation_duration_seconds");
    let merged: Vec<Run> = observed.iter().map(|(run, _)| run.clone()).collect();
    report_all(&targets, &merged);
    report_os(&targets, &observed);
    let (single, multi, ikanos_run, shared_run, declarative, no_poll_run) = (
        &merged[0], &merged[1], &merged[2], &merged[3], &merged[4], &merged[5],
    );
    println!(
        "throughput ratio ikanos / plain proxy: {:.2}x (1 thread), {:.2}x (N threads); per-core / shared: {:.2}x; busy polling on / off: {:.2}x",
        ikanos_run.rps() / single.rps(),
        ikanos_run.rps() / multi.rps(),
        ikanos_run.rps() / shared_run.rps(),
        ikanos_run.rps() / no_poll_run.rps()
    );
    println!(
        "throughput ratio declarative / plain proxy: {:.2}x (1 thread), {:.2}x (N threads); declarative / component: {:.2}x",
        declarative.rps() / single.rps(),
        declarative.rps() / multi.rps(),
        declarative.rps() / ikanos_run.rps()
    );
    let n = count1 - count0;
    // The histogram counts the component's and the engine's instances together.
    let instantiation_us = if n > 0.0 {
        (sum1 - sum0) / n * 1e6
    } else {
        f64::NAN
    };
    println!(
        "instantiation per request (mean of {n:.0}, component and engine together): {instantiation_us:.1} µs"
    );

    // Equal work against the other anchor: a plain wasi:http hello in `wasmtime serve`
    // and the `hello` example in ikanos.
    let hello = start_example("hello", "hello", &[], |t| t, &[]);
    let wasmtime = start_wasmtime_serve(
        &repo_root().join("examples/target/wasm32-wasip2/release/hello_wasi_http.wasm"),
    );
    let hello_path = "/hello/Ada";
    let hello_targets = [
        ("wasmtime serve (wasi:http hello)", wasmtime.addr.clone()),
        ("ikanos (hello example)", hello.rest.clone()),
    ];
    let hello_threads = [
        Threads::of_process(wasmtime.pid()),
        Threads::of_process(hello.pid()),
    ];
    check_targets_answer(&hello_targets, hello_path, "Hello, Ada!");
    warm_up(&hello_targets, hello_path, connections);
    let observed_hello = observed_rounds(
        &hello_targets,
        &hello_threads,
        hello_path,
        connections,
        seconds,
        rounds,
    );
    let hello_runs: Vec<Run> = observed_hello.iter().map(|(run, _)| run.clone()).collect();
    report_all(&hello_targets, &hello_runs);
    report_os(&hello_targets, &observed_hello);
    let versus_wasmtime = hello_runs[1].rps() / hello_runs[0].rps();
    println!("throughput ratio ikanos hello / wasmtime serve hello: {versus_wasmtime:.2}x");
    let lone_hello = single_connection(&hello_targets, hello_path, seconds);
    println!(
        "hello p50 at 1 connection, ikanos vs wasmtime serve: {:+.1} µs",
        (lone_hello[1].pct(0.5).as_secs_f64() - lone_hello[0].pct(0.5).as_secs_f64()) * 1e6
    );
    drop(hello);
    drop(wasmtime);

    let lone_targets = [
        targets[0].clone(),
        targets[1].clone(),
        targets[2].clone(),
        targets[5].clone(),
    ];
    let before = fetch(&format!("http://{}/metrics", per_core.control));
    let lone = single_connection(&lone_targets, path, seconds);
    let after = fetch(&format!("http://{}/metrics", per_core.control));
    let added = |run: &Run| (run.pct(0.5).as_secs_f64() - lone[0].pct(0.5).as_secs_f64()) * 1e6;
    let added_us = added(&lone[2]);
    println!(
        "p50 added at 1 connection vs plain proxy (1 thread): {added_us:+.1} µs ({:+.1} µs with --busy-poll 0)",
        added(&lone[3])
    );
    // The same histogram with one request at a time: instantiation's own cost, without
    // the time its thread spends preempted while the machine is saturated.
    let (lone_sum, lone_n) = {
        let (s0, n0) = metric_sum_count(&before, "ikanos_instantiation_duration_seconds");
        let (s1, n1) = metric_sum_count(&after, "ikanos_instantiation_duration_seconds");
        (s1 - s0, n1 - n0)
    };
    // Where a lone request's time goes, from the host's own histograms (means): the
    // whole request as the server saw it, the upstream call inside it, instantiation.
    let mean_us = |name: &str| {
        let (s0, n0) = metric_sum_count(&before, name);
        let (s1, n1) = metric_sum_count(&after, name);
        (s1 - s0) / (n1 - n0).max(1.0) * 1e6
    };
    println!(
        "at 1 connection, ikanos's own means: request {:.1} µs, of it the upstream call {:.1} µs and instantiation {:.1} µs (mean of {lone_n:.0}); the plain proxy's whole round trip p50 {:.1} µs",
        mean_us("ikanos_request_duration_seconds"),
        mean_us("ikanos_http_client_duration_seconds"),
        lone_sum / lone_n.max(1.0) * 1e6,
        lone[0].pct(0.5).as_secs_f64() * 1e6
    );
    let starts: Vec<Duration> = (0..5).map(|_| per_core.start_to_ready()).collect();
    let start_ms = starts.iter().min().unwrap().as_secs_f64() * 1e3;
    println!(
        "start -> ready with a cached component (best of 5): {start_ms:.1} ms (all: {})",
        starts
            .iter()
            .map(|d| format!("{:.1}", d.as_secs_f64() * 1e3))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let ratio = ikanos_run.rps() / single.rps();
    goal(
        "ikanos >= 0.8x the 1-thread plain proxy",
        ratio >= 0.8,
        format!("{ratio:.2}x"),
    );
    goal(
        "ikanos >= 1.0x wasmtime serve on hello",
        versus_wasmtime >= 1.0,
        format!("{versus_wasmtime:.2}x"),
    );
    goal(
        "mean instantiation <= 15 µs under load",
        instantiation_us <= 15.0,
        format!("{instantiation_us:.1} µs"),
    );
    goal(
        "p50 added <= 60 µs at 1 connection",
        added_us <= 60.0,
        format!("{added_us:+.1} µs"),
    );
    goal(
        "start -> ready <= 300 ms with a cached component",
        start_ms <= 300.0,
        format!("{start_ms:.1} ms"),
    );
}

fn goal(what: &str, met: bool, measured: String) {
    println!(
        "goal: {what}: {measured}: {}",
        if met { "met" } else { "NOT MET" }
    );
}
