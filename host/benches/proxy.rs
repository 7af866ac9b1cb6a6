//! Benchmark: an exposed REST operation that calls one consumed operation, served by
//! the real `ikanos` binary, next to a plain hyper reverse proxy making the same
//! upstream call (the physical limit), both against one loopback upstream, measured
//! in the same run on the same machine. The operation runs twice in the same host: in
//! the crm-sidecar component, and declared upstream-style (`call` + a JSONPath output
//! mapping) for the built-in declarative engine.
//!
//! Run: `cargo bench -p ikanos --bench proxy` (options: `-- --seconds 10 --connections 32`).
//! Reports requests/s, p50/p99 latency, the ratio to the plain proxy, and the mean
//! instantiation time per request from the host's own histogram.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

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
    let ikanos = start_ikanos(
        |t| {
            t.replace("http://127.0.0.1:18081", &format!("http://{up}"))
                .replace("\n  exposes:\n", &format!("\n  exposes:\n{DECLARATIVE}"))
        },
        &[("secrets.yaml", format!("crm-bearer-token: \"{TOKEN}\"\n"))],
    );
    let path = "/customers";
    let targets = [
        ("plain proxy, 1 thread", plain_proxy(up, false).to_string()),
        ("plain proxy, N threads", plain_proxy(up, true).to_string()),
        ("ikanos (wasm+consumes)", ikanos.rest.clone()),
        (
            "ikanos (declarative call+mapping)",
            ikanos.adapters["crm-declarative"].clone(),
        ),
    ];

    check_targets(&targets, path);
    println!("{}", setup_line(connections, seconds, rounds));
    warm_up(&targets, path, connections);
    let before = fetch(&format!("http://{}/metrics", ikanos.control));
    let (sum0, count0) = metric_sum_count(&before, "ikanos_instantiation_duration_seconds");
    let merged = alternating_rounds(&targets, path, connections, seconds, rounds);
    let after = fetch(&format!("http://{}/metrics", ikanos.control));
    let (sum1, count1) = metric_sum_count(&after, "ikanos_instantiation_duration_seconds");
    report_all(&targets, &merged);
    let (single, multi, ikanos_run, declarative) = (&merged[0], &merged[1], &merged[2], &merged[3]);
    println!(
        "throughput ratio declarative / plain proxy: {:.2}x (1 thread), {:.2}x (N threads); declarative / component: {:.2}x",
        declarative.rps() / single.rps(),
        declarative.rps() / multi.rps(),
        declarative.rps() / ikanos_run.rps()
    );
    println!(
        "p50 overhead declarative vs component: {:+.1} µs",
        (declarative.pct(0.5).as_secs_f64() - ikanos_run.pct(0.5).as_secs_f64()) * 1e6
    );
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
