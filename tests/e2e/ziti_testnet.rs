//! The OpenZiti test network (tests/e2e/support/ziti) proven against the real C SDK:
//! libziti 0.29.3 authenticates with the test controller, says Hello to the test
//! router, hosts a service through it (Bind) and dials that service from a second
//! libziti process, with end-to-end encryption on. Nothing here is ikanos: these tests
//! establish that what the ikanos tests run against behaves like OpenZiti.

use crate::support::upstream::{Auth, Upstream};
use crate::support::ziti::{
    libziti_dial, libziti_dial_gated, libziti_dial_lengths, libziti_dial_until_eof, libziti_enroll,
    libziti_host, libziti_load, Gate, LibZitiProcess, Permission, ZitiTestNet,
};
use std::time::Duration;

/// Longer than 60 s: libziti 0.29.3 now and then leaves a circuit's data unhandled
/// until its next timer (the 60-s service refresh) wakes its event loop (seen with
/// ZITI_LOG=4 in `concurrent_dialers_with_large_bodies_stay_apart_and_encrypted`, about
/// one run in ten: nothing logged between the Connect and the refresh).
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

/// [`net_with_service`] with libziti hosting `crm` (bound) for a fresh loopback API.
/// Bind the fields in this order (`upstream, net, host`): they drop in reverse, the
/// hosting process first.
struct Hosted {
    upstream: Upstream,
    net: ZitiTestNet,
    host: LibZitiProcess,
}

fn hosted_service(encrypted: bool) -> Hosted {
    let upstream = Upstream::start(Auth::default());
    let net = net_with_service(encrypted);
    let host = libziti_host(
        &net.identity_file("crm-host"),
        "crm",
        &upstream.addr.to_string(),
    );
    net.wait_for_terminator("crm");
    Hosted {
        upstream,
        net,
        host,
    }
}

/// The `id.<field>` PEM of identity `name`'s file (`cert`, `key` or `ca`).
fn identity_pem(net: &ZitiTestNet, name: &str) -> impl Fn(&str) -> String {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(net.identity_file(name)).unwrap()).unwrap();
    move |field: &str| {
        json["id"][field]
            .as_str()
            .unwrap()
            .strip_prefix("pem:")
            .unwrap()
            .to_string()
    }
}

/// A libziti dialer (identity `client`, service `crm`) that made the first of two
/// requests and waits, in the same SDK context, until `finish`.
struct PausedDial {
    gate: Gate,
    dial: LibZitiProcess,
}

fn paused_dial(net: &ZitiTestNet) -> PausedDial {
    let gate = Gate::new();
    let mut dial = libziti_dial_gated(&net.identity_file("client"), "crm", "/customers", 2, &gate);
    dial.wait_for("WAITING 1", LONG);
    PausedDial { gate, dial }
}

impl PausedDial {
    /// Let it make its second request; it must exit cleanly with both answered.
    fn finish(mut self) {
        self.gate.open(1);
        let (code, out) = self.dial.wait_exit(LONG);
        assert_eq!(code, Some(0), "{out}");
        assert_eq!(responses(&out).len(), 2, "{out}");
    }
}

/// Stop the first router and check that it no longer answers on its port.
fn stop_router_checked(net: &ZitiTestNet) -> u16 {
    let port = net.router_port();
    net.stop_router();
    assert!(
        !serves_the_networks_tls(net, port),
        "the stopped router still answers on its port {port}"
    );
    port
}

/// Does a TLS server with a certificate of the network's CA answer on `port`? Not
/// "does anything accept": once a listener stops, its port is free for any other
/// test's listener, and a connect to a free port in the ephemeral range can even
/// connect to itself (TCP simultaneous open).
fn serves_the_networks_tls(net: &ZitiTestNet, port: u16) -> bool {
    use std::sync::Arc;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut net.ca_pem().as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let handshake = async {
                let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
                let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
                tokio_rustls::TlsConnector::from(Arc::new(config))
                    .connect(name, tcp)
                    .await
            };
            matches!(
                tokio::time::timeout(Duration::from_secs(5), handshake).await,
                Ok(Ok(_))
            )
        })
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
    let Hosted {
        upstream,
        net,
        host: _host,
    } = hosted_service(true);

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
    let Hosted {
        upstream: _upstream,
        net,
        host: _host,
    } = hosted_service(false);
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
    let Hosted {
        upstream,
        net,
        host: _host,
    } = hosted_service(true);
    let dial = paused_dial(&net);

    let port = stop_router_checked(&net);
    net.start_router();
    assert_eq!(net.router_port(), port);
    net.wait_for_terminator("crm");
    dial.finish();
    assert_eq!(upstream.requests().len(), 2);
    // Host and dialer said Hello again to the restarted router.
    assert!(net.observed(|o| o.hellos_accepted) >= 4);
}

/// Two edge routers: the controller lists both (cost, `isOnline`), libziti (which
/// connects to every edge router) hosts through them and a libziti dialer gets
/// through; router 1 stops mid-run and the same dialer's next request, and a new
/// dialer, go through router 2; the controller then reports router 1 offline.
#[test]
fn libziti_fails_over_to_the_second_router_when_the_first_stops() {
    use crate::support::ziti::ROUTER_NAME;
    let upstream = Upstream::start(Auth::default());
    let net = net_with_service(true);
    net.add_router("router-b", 10);
    assert_ne!(net.router_url(), net.router_url_of("router-b"));

    let (_, _, v) = rest(
        &net,
        Some("client"),
        "POST",
        "/edge/client/v1/authenticate?method=cert",
        None,
        "{}",
    );
    let token = v["data"]["token"].as_str().unwrap().to_string();
    let routers_seen = |net: &ZitiTestNet| {
        let (status, _, v) = rest(
            net,
            None,
            "GET",
            "/edge/client/v1/current-identity/edge-routers",
            Some(&token),
            "",
        );
        assert_eq!(status, 200, "{v}");
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap().to_string(),
                    r["cost"].as_i64().unwrap(),
                    r["isOnline"].as_bool().unwrap(),
                    r["urls"]["tls"].as_str().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        routers_seen(&net),
        vec![
            (ROUTER_NAME.to_string(), 0, true, net.router_url()),
            (
                "router-b".to_string(),
                10,
                true,
                net.router_url_of("router-b")
            ),
        ]
    );

    let _host = libziti_host(
        &net.identity_file("crm-host"),
        "crm",
        &upstream.addr.to_string(),
    );
    // libziti 0.29.3 binds through one router (it keeps channels to all of them).
    net.wait_for_terminator("crm");
    let dial = paused_dial(&net);
    // Both SDKs said Hello to both routers (libziti connects to every edge router).
    net.wait_until("both SDKs connected to both routers", |n| {
        n.router_channels_at(ROUTER_NAME) >= 2 && n.router_channels_at("router-b") >= 2
    });

    stop_router_checked(&net);
    assert_eq!(net.terminators_at(ROUTER_NAME, "crm"), 0);
    // The host binds again through router 2 if it was bound through router 1.
    net.wait_until("the host is bound through router 2", |n| {
        n.terminators_at("router-b", "crm") > 0
    });
    let dials_b = net.router_dials("router-b");
    let dials_a = net.router_dials(ROUTER_NAME);
    dial.finish();
    assert_eq!(net.router_dials(ROUTER_NAME), dials_a);
    assert!(net.router_dials("router-b") > dials_b);

    // A new dialer, with router 1 still down, gets through via router 2.
    let (code, out) =
        libziti_dial(&net.identity_file("client"), "crm", "/customers", 1).wait_exit(LONG);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(responses(&out).len(), 1, "{out}");
    assert_eq!(net.router_dials(ROUTER_NAME), dials_a);
    assert_eq!(upstream.requests().len(), 3);
    let seen = routers_seen(&net);
    assert_eq!(
        (seen[0].0.as_str(), seen[0].2),
        (ROUTER_NAME, false),
        "{seen:?}"
    );
    assert_eq!(
        (seen[1].0.as_str(), seen[1].2),
        ("router-b", true),
        "{seen:?}"
    );
}

/// With the controller down, a new SDK cannot authenticate; a host already bound
/// keeps serving through the router; the controller comes back on the same port.
#[test]
fn libziti_needs_the_controller_to_start_and_not_to_keep_serving() {
    let Hosted {
        upstream: _upstream,
        net,
        host: _host,
    } = hosted_service(true);

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
    let Hosted {
        upstream: _upstream,
        net,
        host: _host,
    } = hosted_service(true);

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
    let Hosted {
        upstream: _upstream,
        net,
        host: _host,
    } = hosted_service(true);
    let dial = paused_dial(&net);
    net.delete_service_sessions();
    // The router closed the host's Bind ("Invalid Session"); the host binds again
    // with a fresh Bind session.
    net.wait_until("the host bound again", |n| {
        n.observed(|o| o.binds) >= 2 && n.terminators("crm") == 1
    });
    dial.finish();
    let refused = net.observed(|o| o.dials_refused.clone());
    assert!(
        refused.contains(&"Invalid Session".to_string()),
        "{refused:?}"
    );
    let posts = net.requests_starting("POST /edge/client/v1/sessions");
    // host Bind ×2 (before and after) + dialer Dial ×2
    assert!(posts >= 4, "{posts}");
}

/// Enrollment with a one-time token: libziti verifies the JWT's signature against the
/// controller's certificate, reads the CA bundle from /.well-known/est/cacerts, sends
/// a CSR to /enroll?method=ott and gets a certificate the controller then accepts.
/// The token works once.
#[test]
fn libziti_enrolls_with_a_one_time_token_and_then_dials() {
    let Hosted {
        upstream: _upstream,
        net,
        host: _host,
    } = hosted_service(true);

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

/// An identity whose certificate expired: libziti cannot load it.
#[test]
fn libziti_cannot_authenticate_with_an_expired_certificate() {
    let net = net_with_service(true);
    net.create_expired_identity("stale");
    net.grant("stale", "crm", Permission::Dial);
    let mut sdk = libziti_load(&net.identity_file("stale"));
    let (code, out) = sdk.wait_exit(LONG);
    assert_eq!(code, Some(3), "{out}");
    assert_eq!(net.observed(|o| o.hellos_accepted), 0);
}

/// One REST exchange with the test controller over TLS (trusting the network's CA),
/// as `identity` (its client certificate from its identity file) or anonymously.
fn rest(
    net: &ZitiTestNet,
    identity: Option<&str>,
    method: &str,
    target: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, Vec<(String, String)>, serde_json::Value) {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut net.ca_pem().as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some(name) => {
            let pem = identity_pem(net, name);
            let certs = rustls_pemfile::certs(&mut pem("cert").as_bytes())
                .map(Result::unwrap)
                .collect();
            let key = rustls_pemfile::private_key(&mut pem("key").as_bytes())
                .unwrap()
                .unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        }
    };
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        request.push_str(&format!("zt-session: {t}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    let port = net.controller_port();
    let raw = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
            let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
                .unwrap();
            tls.write_all(request.as_bytes()).await.unwrap();
            let mut raw = Vec::new();
            let _ = tls.read_to_end(&mut raw).await;
            raw
        });
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let json = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    (status, headers, json)
}

/// The controller's REST surface as an SDK sees it: envelope, instance id header,
/// authentication by certificate, the unencoded service filter, sessions naming the
/// router, and the error codes SDKs act on.
#[test]
fn the_controller_answers_like_the_edge_client_api() {
    let net = net_with_service(true);
    net.create_expired_identity("stale");
    let header =
        |h: &Vec<(String, String)>, k: &str| h.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());

    let (status, h, v) = rest(&net, None, "GET", "/version", None, "");
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["data"]["apiVersions"]["edge"]["v1"]["path"],
        "/edge/client/v1"
    );
    assert!(header(&h, "ziti-instance-id").is_some(), "{h:?}");

    let auth = "/edge/client/v1/authenticate?method=cert";
    let (status, _, v) = rest(&net, None, "POST", auth, None, "{}");
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (401, Some("INVALID_AUTH")),
        "{v}"
    );
    let (status, _, v) = rest(&net, Some("stale"), "POST", auth, None, "{}");
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (401, Some("INVALID_AUTH")),
        "{v}"
    );
    assert!(
        v["error"]["cause"]["message"]
            .as_str()
            .unwrap()
            .contains("valid from"),
        "{v}"
    );

    let (status, h, v) = rest(&net, Some("client"), "POST", auth, None, "{}");
    assert_eq!(status, 200, "{v}");
    assert!(header(&h, "ziti-instance-id").is_some());
    assert_eq!(v["data"]["identity"]["name"], "client");
    assert!(v["data"]["expirationSeconds"].as_u64().unwrap() > 60, "{v}");
    let token = v["data"]["token"].as_str().unwrap().to_string();
    let t = Some(token.as_str());

    let (status, _, v) = rest(
        &net,
        None,
        "GET",
        "/edge/client/v1/current-identity",
        None,
        "",
    );
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (401, Some("UNAUTHORIZED")),
        "{v}"
    );
    let (status, _, v) = rest(&net, None, "GET", "/edge/client/v1/current-identity", t, "");
    assert_eq!(
        (status, v["data"]["name"].as_str()),
        (200, Some("client")),
        "{v}"
    );

    let (status, _, v) = rest(
        &net,
        None,
        "GET",
        "/edge/client/v1/services?filter=name=\"crm\"",
        t,
        "",
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["meta"]["pagination"]["totalCount"], 1, "{v}");
    let service = &v["data"][0];
    assert_eq!(service["permissions"], serde_json::json!(["Dial"]), "{v}");
    assert_eq!(service["encryptionRequired"], true);
    let service_id = service["id"].as_str().unwrap().to_string();
    let (_, _, v) = rest(
        &net,
        None,
        "GET",
        "/edge/client/v1/services?filter=name%3D%22other%22",
        t,
        "",
    );
    assert_eq!(v["meta"]["pagination"]["totalCount"], 0, "{v}");

    let dial = format!(r#"{{"serviceId":"{service_id}","type":"Dial"}}"#);
    let (status, _, v) = rest(&net, None, "POST", "/edge/client/v1/sessions", t, &dial);
    assert_eq!(status, 201, "{v}");
    assert_eq!(
        v["data"]["edgeRouters"][0]["supportedProtocols"]["tls"],
        net.router_url()
    );
    assert!(v["data"]["token"].as_str().is_some_and(|t| !t.is_empty()));
    let bind = format!(r#"{{"serviceId":"{service_id}","type":"Bind"}}"#);
    let (status, _, v) = rest(&net, None, "POST", "/edge/client/v1/sessions", t, &bind);
    assert_eq!(status, 403, "the client may only Dial: {v}");

    // The controller restarts on the same port with its data: the token still works.
    net.stop_controller();
    assert!(!serves_the_networks_tls(&net, net.controller_port()));
    net.start_controller();
    let (status, _, v) = rest(
        &net,
        None,
        "GET",
        "/edge/client/v1/current-api-session",
        t,
        "",
    );
    assert_eq!(status, 200, "{v}");

    net.expire_api_sessions();
    let (status, _, v) = rest(
        &net,
        None,
        "GET",
        "/edge/client/v1/current-api-session",
        t,
        "",
    );
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (401, Some("UNAUTHORIZED")),
        "{v}"
    );

    net.revoke_identity("client");
    let (status, _, v) = rest(&net, Some("client"), "POST", auth, None, "{}");
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (401, Some("INVALID_AUTH")),
        "{v}"
    );
    assert_eq!(v["error"]["cause"]["message"], "the identity is revoked");
}

/// The dialer's API session expires: the router drops its channel, its next REST call
/// gets UNAUTHORIZED, libziti authenticates again by itself and dials on.
#[test]
fn libziti_authenticates_again_after_its_api_session_expires() {
    let Hosted {
        upstream: _upstream,
        net,
        host: _host,
    } = hosted_service(true);
    let dial = paused_dial(&net);
    let logins = |n: &ZitiTestNet| n.requests_starting("POST /edge/client/v1/authenticate");
    let before = logins(&net);
    let hellos = net.observed(|o| o.hellos_accepted);
    net.expire_api_sessions_of("client");
    // libziti notices (its channel drops, its next REST call is refused), logs in
    // again and reconnects its channel with the new session, after a backoff of its
    // own choosing (up to about 12 s seen here); then it dials on.
    net.wait_until(
        "libziti is back on the router with a new API session",
        |n| logins(n) > before && n.observed(|o| o.hellos_accepted) > hellos,
    );
    dial.finish();
    assert!(logins(&net) > before, "libziti did not authenticate again");
    assert_eq!(
        net.terminators("crm"),
        1,
        "the host's session was not touched"
    );
}

/// The upstream closes after its response: the close travels back as a FIN through
/// the host SDK, the router and the dialing SDK, which sees end of stream.
#[test]
fn a_close_on_the_far_side_reaches_the_dialer_as_end_of_stream() {
    let Hosted {
        upstream: _upstream,
        net,
        host: _host,
    } = hosted_service(true);
    let mut dial = libziti_dial_until_eof(&net.identity_file("client"), "crm", "/customers");
    let (code, out) = dial.wait_exit(LONG);
    assert_eq!(code, Some(0), "{out}");
    assert!(responses(&out)[0].contains("Alan Turing"), "{out}");
    assert!(net.observed(|o| o.fins) >= 1, "no FIN crossed the router");
}

/// A frozen router keeps its sockets open and answers nothing; once thawed, the
/// dial that waited meanwhile goes through.
#[test]
fn a_frozen_router_answers_nothing_until_thawed() {
    let Hosted {
        upstream,
        net,
        host: _host,
    } = hosted_service(true);
    net.freeze_router();
    let mut dial = libziti_dial(&net.identity_file("client"), "crm", "/customers", 1);
    dial.wait_for("LOADED", LONG);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        net.observed(|o| o.hellos_accepted),
        1,
        "only the host's, from before"
    );
    assert_eq!(net.observed(|o| o.dials), 0);
    assert!(upstream.requests().is_empty());
    net.thaw_router();
    let (code, out) = dial.wait_exit(LONG);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(net.observed(|o| o.dials_relayed), 1);
}

/// TLS to the router as `identity` (ALPN ziti-edge), run `f` on the stream.
fn with_router_channel<T>(
    net: &ZitiTestNet,
    identity: &str,
    f: impl AsyncFnOnce(tokio_rustls::client::TlsStream<tokio::net::TcpStream>) -> T,
) -> T {
    use std::sync::Arc;
    let pem = identity_pem(net, identity);
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut pem("ca").as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let certs = rustls_pemfile::certs(&mut pem("cert").as_bytes())
        .map(Result::unwrap)
        .collect();
    let key = rustls_pemfile::private_key(&mut pem("key").as_bytes())
        .unwrap()
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(certs, key)
    .unwrap();
    config.alpn_protocols = vec![b"ziti-edge".to_vec()];
    let port = net.router_port();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
                .unwrap();
            assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"ziti-edge"[..]));
            f(tls).await
        })
}

/// The router's channel layer seen from a raw client: a Hello with an unknown API
/// session gets a failed Result and the connection closes; with a live one, a Result
/// with ReplyFor; a Latency probe gets a Result reflecting its probe-time header.
#[test]
fn the_router_answers_hello_and_latency_like_a_channel_v2_peer() {
    use crate::support::ziti::channel::{content, header, Message};
    use tokio::io::AsyncWriteExt;
    let net = net_with_service(true);

    let refused = with_router_channel(&net, "client", async |mut tls| {
        let hello = Message::new(content::HELLO)
            .with_bytes(header::SESSION_TOKEN, b"not-a-session".to_vec());
        tls.write_all(&hello.encode()).await.unwrap();
        let reply = Message::read(&mut tls).await.unwrap().expect("a reply");
        let after = Message::read(&mut tls).await;
        (reply, matches!(after, Ok(None) | Err(_)))
    });
    assert_eq!(refused.0.content, content::RESULT);
    assert_eq!(refused.0.i32(header::REPLY_FOR), Some(0));
    assert_eq!(refused.0.bytes(header::RESULT_SUCCESS), Some(&[0u8][..]));
    assert!(refused.1, "the router kept the refused channel open");
    assert_eq!(net.observed(|o| o.hellos_refused), 1);

    let (status, _, v) = rest(
        &net,
        Some("client"),
        "POST",
        "/edge/client/v1/authenticate?method=cert",
        None,
        "{}",
    );
    assert_eq!(status, 200, "{v}");
    let token = v["data"]["token"].as_str().unwrap().as_bytes().to_vec();
    let (hello_reply, latency_reply) = with_router_channel(&net, "client", async |mut tls| {
        let mut hello = Message::new(content::HELLO).with_bytes(header::SESSION_TOKEN, token);
        hello.seq = 7;
        tls.write_all(&hello.encode()).await.unwrap();
        let hello_reply = Message::read(&mut tls).await.unwrap().unwrap();
        let mut probe =
            Message::new(content::LATENCY).with_bytes(128, 42u64.to_le_bytes().to_vec());
        probe.seq = 8;
        tls.write_all(&probe.encode()).await.unwrap();
        let latency_reply = Message::read(&mut tls).await.unwrap().unwrap();
        (hello_reply, latency_reply)
    });
    assert_eq!(hello_reply.content, content::RESULT);
    assert_eq!(hello_reply.i32(header::REPLY_FOR), Some(7));
    assert_eq!(hello_reply.bytes(header::RESULT_SUCCESS), Some(&[1u8][..]));
    assert_eq!(latency_reply.content, content::RESULT);
    assert_eq!(latency_reply.i32(header::REPLY_FOR), Some(8));
    assert_eq!(latency_reply.bytes(128), Some(&42u64.to_le_bytes()[..]));
}

/// Two dialing SDKs at once, each with several circuits carrying 1 MiB responses:
/// the router keeps the circuits apart and relays only ciphertext.
#[test]
fn concurrent_dialers_with_large_bodies_stay_apart_and_encrypted() {
    let upstream = Upstream::start(Auth::default());
    let net = net_with_service(true);
    net.create_identity("client-2");
    net.grant("client-2", "crm", Permission::Dial);
    let _host = libziti_host(
        &net.identity_file("crm-host"),
        "crm",
        &upstream.addr.to_string(),
    );
    net.wait_for_terminator("crm");
    let path = "/big?bytes=1048576";
    let mut a = libziti_dial_lengths(&net.identity_file("client"), "crm", path, 3);
    let mut b = libziti_dial_lengths(&net.identity_file("client-2"), "crm", path, 3);
    for dial in [&mut a, &mut b] {
        let (code, out) = dial.wait_exit(LONG);
        assert_eq!(code, Some(0), "{out}");
        assert_eq!(
            responses(&out),
            vec!["RESPONSE 200 1048576".to_string(); 3],
            "{out}"
        );
    }
    assert_eq!(net.observed(|o| o.dials_relayed), 6);
    assert!(net.observed(|o| o.relayed.len()) > 6 << 20);
    assert!(
        !net.router_relayed(&[b'y'; 64]),
        "response plaintext crossed the router"
    );
}
