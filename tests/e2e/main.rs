//! End-to-end tests: the real `ikanos` binary, real wasm components built for
//! wasm32-wasip2, and a real HTTP upstream on loopback.

mod support;

mod auth;
mod control;
mod examples;
mod lifecycle;
mod lint;
mod mcp;
mod sandbox;
mod serve;
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
