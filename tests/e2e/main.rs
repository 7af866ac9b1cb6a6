//! End-to-end tests: the real `ikanos` binary, real wasm components built for
//! wasm32-wasip2, and a real HTTP upstream on loopback.

mod support;

/// Capabilities that travel: OCI artifacts in a registry, single-file `.wasm`.
mod artifacts;
mod auth;
/// Consumed-operation features: `in: environment`, form and multipart bodies, maxBinarySize.
mod consumed_bodies;
/// The container image, run with podman.
mod container;
mod control;
/// The control entry's `observability` block: `/traces`, propagation, OTLP export.
mod control_observability;
/// Conformance of the declarative operations with upstream Ikanos (the public samples).
mod declarative;
/// The Kubernetes manifests.
mod deploy;
mod examples;
mod forward;
/// Python, JavaScript and standard `wasi:http` components (declared egress).
mod guests;
mod lifecycle;
mod lint;
/// MCP exposes, end to end: the real `ikanos` binary serving the crm-sidecar component's
/// operations as MCP tools, driven by the official MCP client SDKs (Python `mcp` and
/// TypeScript `@modelcontextprotocol/sdk`, installed by scripts/setup into
/// tests/mcp-clients) over streamable HTTP and over stdio, plus raw HTTP requests for
/// what no client sends.
///
/// Which revision each client speaks (asserted in `clients`): Python `mcp` 2.3.0 in its
/// default `auto` mode probes `server/discover` and speaks the stateless 2026-07-28
/// revision; in `legacy` mode, and the TypeScript SDK 1.32 always, the `initialize`
/// handshake, negotiated to 2025-11-25.
mod mcp {
    mod clients;
    pub(crate) mod harness;
    mod http;
    mod oauth;
    mod stdio;
    mod streams;
    mod tools;
}
/// `tunnel.type: rathole` against a stock rathole client.
mod rathole;
mod sandbox;
/// Several hosts behind a load balancer, one losing its tunnel.
mod scale;
/// Script steps (`type: script`): JavaScript in the built-in interpreter component.
mod scripts;
mod serve_file;
mod skill;
/// `ikanos serve`: many capabilities in one process. Folder loading, the shared
/// listener, changes through the folder watch and the admin API while a neighbour's
/// request is in flight, broken capabilities beside working ones, hostile guests
/// contained while a neighbour keeps answering, and isolation between capabilities that
/// use the same namespace names.
mod serve {
    mod admin;
    mod config;
    mod containment;
    mod harness;
    mod isolation;
    mod mcp;
    mod reload;
    mod routing;
}
#[cfg(feature = "ssh")]
mod ssh;
#[cfg(feature = "test-tunnel")]
mod tunnel;
mod validate;
#[cfg(feature = "ziti")]
mod ziti;
mod ziti_testnet;

/// The tunnel tests need the `test-relay` provider, compiled only with the
/// `test-tunnel` feature (scripts/test enables it). Say so instead of passing quietly.
#[cfg(not(feature = "test-tunnel"))]
#[test]
fn tunnel_tests_need_the_test_tunnel_feature() {
    eprintln!("SKIP: tunnel end-to-end tests are compiled only with `--features ikanos/test-tunnel` (scripts/test does this)");
}
