//! The OpenZiti test network (tests/e2e/support/ziti) proven against the real C SDK:
//! libziti 0.29.3 authenticates with the test controller, says Hello to the test
//! router, hosts a service through it (Bind) and dials that service from a second
//! libziti process, with end-to-end encryption on. Nothing here is ikanos: these tests
//! establish that what the ikanos tests run against behaves like OpenZiti.

use crate::support::upstream::{Auth, Upstream};
use crate::support::ziti::{
    libziti_dial, libziti_dial_gated, libziti_enroll, libziti_host, libziti_load, Gate, Permission,
    ZitiTestNet,
};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(90);

/// A network with one service, a hosting identity (Bind) and a dialing one (Dial).
fn net_with_service(encrypted: bool) -> ZitiTestNet {
    let net = ZitiTestNet::start();
    net.create_service("crm", encrypted);
    net.create_identity("crm-host");
    net.create_identity("client");
    net.grant("crm-host", "crm", Permission::Bind);
    net.grant("client", "crm", Permission::Dial);
    net
}

fn responses(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|l| l.starts_with("RESPONSE "))
        .map(str::to_string)
        .collect()
}

#[test]
fn libziti_authenticates_with_the_controller_and_is_accepted_by_the_router() {
    let net = net_with_service(true);
    let mut sdk = libziti_load(&net.identity_file("client"));
    sdk.wait_for("LOADED", LONG);
    net.wait_until("the router accepted the SDK's Hello", |n| {
        n.observed(|o| o.hellos_accepted) >= 1 && n.router_channels() >= 1
    });
    let requests = net.observed(|o| o.requests.clone());
    for wanted in [
        "GET /version",
        "POST /edge/client/v1/authenticate?method=cert",
        "GET /edge/client/v1/current-identity",
        "GET /edge/client/v1/current-identity/edge-routers",
    ] {
        assert!(
            requests.iter().any(|r| r.starts_with(wanted)),
            "libziti did not call {wanted}: {requests:?}"
        );
    }
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("GET /edge/client/v1/services")
                || r.starts_with("GET /edge/client/v1/current-api-session/service-updates")),
        "libziti did not load its services: {requests:?}"
    );
    assert_eq!(net.observed(|o| o.hellos_refused), 0);
    sdk.kill();
}

#[test]
fn libziti_dials_a_service_that_libziti_hosts_with_end_to_end_encryption() {
    let upstream = Upstream::start(Auth::default());
    let net = net_with_service(true);
    let _host = libziti_host(
        &net.identity_file("crm-host"),
        "crm",
        &upstream.addr.to_string(),
    );
    net.wait_for_terminator("crm");

    let mut dial = libziti_dial(&net.identity_file("client"), "crm", "/customers", 2);
    let (code, out) = dial.wait_exit(LONG);
    assert_eq!(code, Some(0), "libziti dial failed:\n{out}");
    let got = responses(&out);
    assert_eq!(got.len(), 2, "{out}");
    for r in &got {
        assert!(r.starts_with("RESPONSE 200 "), "{out}");
        assert!(r.contains("Grace Hopper"), "{out}");
    }
    // Both GETs reached the real upstream through the host's relay.
    let seen = upstream.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].path, "/customers");
    assert_eq!(seen[0].header("user-agent"), Some("libziti-test"));

    // The router relayed Data, but never the plaintext in either direction.
    assert_eq!(net.observed(|o| o.dials_relayed), 2);
    assert!(net.observed(|o| o.relayed.len()) > 200);
    assert!(
        !net.router_relayed(b"GET /customers"),
        "request plaintext crossed the router"
    );
    assert!(
        !net.router_relayed(b"libziti-test"),
        "request plaintext crossed the router"
    );
    assert!(
        !net.router_relayed(b"Grace Hopper"),
        "response plaintext crossed the router"
    );
}

/// The same round trip with `encryptionRequired: false`: the SDKs then send no keys
/// and the router does see the plaintext — so the check above can fail.
#[test]
fn without_end_to_end_encryption_the_router_sees_plaintext() {
    let upstream = Upstream::start(Auth::default());
    let net = net_with_service(false);
    let _host = libziti_host(
        &net.identity_file("crm-host"),
        "crm",
        &upstream.addr.to_string(),
    );
    net.wait_for_terminator("crm");
    let mut dial = libziti_dial(&net.identity_file("client"), "crm", "/customers", 1);
    let (code, out) = dial.wait_exit(LONG);
    assert_eq!(code, Some(0), "libziti dial failed:\n{out}");
    assert!(responses(&out)[0].contains("Grace Hopper"), "{out}");
    assert!(net.router_relayed(b"GET /customers"));
    assert!(net.router_relayed(b"Grace Hopper"));
}

#[test]
fn a_dial_with_no_host_bound_is_refused_and_libziti_reports_it() {
    let net = net_with_service(true);
    let mut dial = libziti_dial(&net.identity_file("client"), "crm", "/customers", 1);
    let (code, out) = dial.wait_exit(LONG);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("ERROR RuntimeError: Ziti_connect(crm) failed"),
        "{out}"
    );
    let refused = net.observed(|o| o.dials_refused.clone());
    assert_eq!(
        refused,
        vec!["service 'crm' has no terminators".to_string()]
    );
}

/// The router stops and starts again on the same port: the hosting SDK binds again
/// and the dialing SDK (same context, same process) reconnects and dials.
#[test]
fn libziti_recovers_when_the_router_restarts_on_the_same_port() {
    let upstream = Upstream::start(Auth::default());
    let net = net_with_service(true);
    let _host = libziti_host(
        &net.identity_file("crm-host"),
        "crm",
        &upstream.addr.to_string(),
    );
    net.wait_for_terminator("crm");
    let gate = Gate::new();
    let mut dial = libziti_dial_gated(&net.identity_file("client"), "crm", "/customers", 2, &gate);
    dial.wait_for("WAITING 1", LONG);

    let port = net.router_port();
    net.stop_router();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    net.start_router();
    assert_eq!(net.router_port(), port);
    net.wait_for_terminator("crm");
    gate.open(1);
    let (code, out) = dial.wait_exit(LONG);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(responses(&out).len(), 2, "{out}");
    assert_eq!(upstream.requests().len(), 2);
    // Host and dialer said Hello again to the restarted router.
    assert!(net.observed(|o| o.hellos_accepted) >= 4);
}

/// With the controller down, a new SDK cannot authenticate; a host already bound
/// keeps serving through the router; the controller comes back on the same port.
#[test]
fn libziti_needs_the_controller_to_start_and_not_to_keep_serving() {
    let upstream = Upstream::start(Auth::default());
    let net = net_with_service(true);
    let _host = libziti_host(
        &net.identity_file("crm-host"),
        "crm",
        &upstream.addr.to_string(),
    );
    net.wait_for_terminator("crm");

    net.stop_controller();
    let mut sdk = libziti_load(&net.identity_file("client"));
    let (code, out) = sdk.wait_exit(LONG);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("Ziti_load_context"), "{out}");
    assert_eq!(net.terminators("crm"), 1, "the router kept the host's Bind");

    net.start_controller();
    let mut dial = libziti_dial(&net.identity_file("client"), "crm", "/customers", 1);
    let (code, out) = dial.wait_exit(LONG);
    assert_eq!(code, Some(0), "{out}");
    assert!(responses(&out)[0].contains("Grace Hopper"), "{out}");
}

/// A revoked identity cannot authenticate (INVALID_AUTH) and the router drops the
/// channels it already had, taking its Bind with them.
#[test]
fn a_revoked_identity_is_refused_and_loses_its_channels() {
    let upstream = Upstream::start(Auth::default());
    let net = net_with_service(true);
    let _host = libziti_host(
        &net.identity_file("crm-host"),
        "crm",
        &upstream.addr.to_string(),
    );
    net.wait_for_terminator("crm");

    net.revoke_identity("client");
    let mut sdk = libziti_load(&net.identity_file("client"));
    let (code, out) = sdk.wait_exit(LONG);
    assert_eq!(code, Some(3), "{out}");

    net.revoke_identity("crm-host");
    net.wait_until("the revoked host's Bind is gone", |n| {
        n.terminators("crm") == 0
    });
    net.wait_until("the revoked host's channel is gone", |n| {
        n.router_channels() == 0
    });
}

/// The router refuses a service session it no longer knows with "Invalid Session";
/// libziti then fetches a new one (`POST /sessions`) and dials again by itself.
#[test]
fn an_invalid_service_session_makes_libziti_fetch_a_new_one() {
    let upstream = Upstream::start(Auth::default());
    let net = net_with_service(true);
    let _host = libziti_host(
        &net.identity_file("crm-host"),
        "crm",
        &upstream.addr.to_string(),
    );
    net.wait_for_terminator("crm");
    let gate = Gate::new();
    let mut dial = libziti_dial_gated(&net.identity_file("client"), "crm", "/customers", 2, &gate);
    dial.wait_for("WAITING 1", LONG);
    net.delete_service_sessions();
    // The router closed the host's Bind ("Invalid Session"); the host binds again
    // with a fresh Bind session.
    net.wait_until("the host bound again", |n| {
        n.observed(|o| o.binds) >= 2 && n.terminators("crm") == 1
    });
    gate.open(1);
    let (code, out) = dial.wait_exit(LONG);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(responses(&out).len(), 2, "{out}");
    let refused = net.observed(|o| o.dials_refused.clone());
    assert!(
        refused.contains(&"Invalid Session".to_string()),
        "{refused:?}"
    );
    let posts = net.observed(|o| {
        o.requests
            .iter()
            .filter(|r| r.starts_with("POST /edge/client/v1/sessions"))
            .count()
    });
    // host Bind ×2 (before and after) + dialer Dial ×2
    assert!(posts >= 4, "{posts}");
}

/// Enrollment with a one-time token: libziti verifies the JWT's signature against the
/// controller's certificate, reads the CA bundle from /.well-known/est/cacerts, sends
/// a CSR to /enroll?method=ott and gets a certificate the controller then accepts.
/// The token works once.
#[test]
fn libziti_enrolls_with_a_one_time_token_and_then_dials() {
    let upstream = Upstream::start(Auth::default());
    let net = net_with_service(true);
    let _host = libziti_host(
        &net.identity_file("crm-host"),
        "crm",
        &upstream.addr.to_string(),
    );
    net.wait_for_terminator("crm");

    let jwt = net.enrollment_jwt("enrolled");
    net.grant("enrolled", "crm", Permission::Dial);
    let dir = tempfile::tempdir().unwrap();
    let jwt_file = dir.path().join("enrolled.jwt");
    std::fs::write(&jwt_file, &jwt).unwrap();
    let identity = dir.path().join("enrolled.json");
    let mut enroll = libziti_enroll(&jwt_file, &identity);
    let (code, out) = enroll.wait_exit(LONG);
    assert_eq!(code, Some(0), "{out}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&identity).unwrap()).unwrap();
    assert_eq!(json["ztAPI"], net.controller_url(), "{json}");

    let mut dial = libziti_dial(&identity, "crm", "/customers", 1);
    let (code, out) = dial.wait_exit(LONG);
    assert_eq!(code, Some(0), "{out}");
    assert!(responses(&out)[0].contains("Grace Hopper"), "{out}");

    // The token is spent.
    let mut again = libziti_enroll(&jwt_file, &dir.path().join("again.json"));
    let (code, out) = again.wait_exit(LONG);
    assert_eq!(code, Some(2), "{out}");
}
