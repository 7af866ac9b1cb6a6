//! Benchmark: one request's sandbox cost in isolation — a fresh instance of the `hello`
//! example per request, as `ikanos run` makes them (same `Runtime`, pool settings and
//! `Sandbox::invoke`), on one current-thread runtime with nothing else running: no
//! sockets, no HTTP, no load generator competing for the cores. What remains is the
//! store and WASI context, the pooled instantiation, the guest's call and the slot's
//! reset. Prints the mean instantiation (the host's own histogram, as `/metrics` has
//! it) and the mean whole invocation, with the machine line.
//!
//! Run: `cargo bench -p ikanos --bench instantiate` (`-- --requests 200000`; `--gap-us
//! 200` sleeps that long between requests, as a serving thread at one connection waits
//! for its next request: the cost of starting cold). For a
//! profile: `perf record -g target/release/deps/instantiate-* --requests 2000000`.

mod common;

// The allocator the `ikanos` binary uses (host/src/main.rs), so the figures are its.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{arg, build_crm_component, machine_line, metric_sum_count, repo_root};
use ikanos::consumes::{CallError, OutboundCall, OutboundCalls, OutboundResponse};
use ikanos::runtime::bindings::InboundRequest;
use ikanos::runtime::{ComponentCache, Limits, PoolSettings, Runtime, Sandbox};
use ikanos::telemetry::Metrics;

/// `hello` consumes nothing: any call is a bug in the bench.
struct NoOutbound;

#[async_trait::async_trait]
impl OutboundCalls for NoOutbound {
    async fn call(&self, _: OutboundCall<'_>) -> Result<OutboundResponse, CallError> {
        unreachable!("the hello example consumes nothing")
    }
}

fn main() {
    let requests = arg("--requests", 100_000);
    // A pause between requests (µs): the thread sleeps as a serving thread does at one
    // connection, so caches, TLB and branch predictors may be cold when it wakes.
    let gap = Duration::from_micros(arg("--gap-us", 0));
    build_crm_component();
    let wasm = repo_root().join("examples/target/wasm32-wasip2/release/hello.wasm");
    let runtime = Runtime::new(PoolSettings::default()).expect("the runtime");
    let cache = ComponentCache::new(None);
    let component = runtime.load(&wasm, &cache, || {}).expect("hello.wasm");
    let metrics = Metrics::new();
    let sandbox = Sandbox::new(
        runtime.clone(),
        component,
        Limits::default(),
        "hello",
        Arc::new(NoOutbound),
        metrics.clone(),
    )
    .expect("the sandbox");
    let request = || InboundRequest {
        operation: "say-hello".into(),
        inputs: vec![("name".into(), "Ada".into())],
        body: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let histogram = || {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &metrics.registry).unwrap();
        metric_sum_count(&text, "ikanos_instantiation_duration_seconds")
    };
    println!(
        "{}; hello example, {requests} requests one after another, {} µs apart",
        machine_line(),
        gap.as_micros()
    );
    rt.block_on(async {
        // Warm-up: the pool's slots and the pages they touch.
        for _ in 0..10_000 {
            let out = sandbox.invoke("bench", None, request()).await.unwrap();
            assert_eq!(out.status, 200);
        }
        let (sum0, n0) = histogram();
        let started = Instant::now();
        let mut asleep = Duration::ZERO;
        for _ in 0..requests {
            let out = sandbox.invoke("bench", None, request()).await.unwrap();
            debug_assert_eq!(out.status, 200);
            if !gap.is_zero() {
                let t = Instant::now();
                std::thread::sleep(gap);
                asleep += t.elapsed();
            }
        }
        let took = started.elapsed() - asleep;
        let (sum1, n1) = histogram();
        let per = |d: Duration| d.as_secs_f64() / requests as f64 * 1e6;
        println!(
            "instantiation (mean of {:.0}): {:.2} µs",
            n1 - n0,
            (sum1 - sum0) / (n1 - n0) * 1e6
        );
        println!(
            "whole invocation (store, instantiation, call, drop): {:.2} µs, {:.0} per second on one thread",
            per(took),
            requests as f64 / took.as_secs_f64()
        );
    });
}
