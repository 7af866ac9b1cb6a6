//! The Ziti tunnel (`tunnel.type: ziti`) end to end: the real C SDK (libziti 0.29.3)
//! hosts the private API (Bind) through the test controller and router
//! (tests/e2e/support/ziti, proven against libziti in ziti_testnet.rs); the real
//! `ikanos` dials it with its own identity, and a wasm component calls it, with
//! end-to-end encryption on. Then the router and the controller go away and come
//! back, the identity is revoked, sessions are invalidated.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::fixtures::{self, ExtraBind, Tunnel, TOKEN};
use crate::support::upstream::{Auth, Upstream};
use crate::support::ziti::{libziti_host, LibZitiProcess, Permission, ZitiTestNet};
use crate::support::*;

const SERVICE: &str = "crm";

/// The private API and a decoy on the baseUri's address, which must see nothing.
fn private_and_decoy() -> (Upstream, Upstream) {
    let api = || {
        Upstream::start(Auth {
            bearer: Some(TOKEN.into()),
            ..Auth::default()
        })
    };
    (api(), api())
}

/// The hostile capability whose `crm` goes through Ziti service `service` with the
/// identity file at `identity`.
fn capability(dir: &Path, base: &str, service: &str, identity: &Path) -> PathBuf {
    let tunnel = Tunnel::new("ziti")
        .set("service", service)
        .set("identity", "{{secrets.ZITI_IDENTITY}}")
        .set("fallback", "fail");
    fixtures::hostile_tunnelled(
        dir,
        "ziti.ikanos.yaml",
        "Over Ziti",
        base,
        tunnel,
        &[identity_bind(identity)],
    )
}

/// The bind of the identity file at `identity` as `ZITI_IDENTITY`.
fn identity_bind(identity: &Path) -> ExtraBind<'static> {
    (
        "ZITI_IDENTITY",
        "ziti-identity",
        identity.display().to_string(),
    )
}

struct Rig {
    net: ZitiTestNet,
    private: Upstream,
    decoy: Upstream,
    hosting: LibZitiProcess,
    host: Host,
    _dir: tempfile::TempDir,
}

/// A network with service `crm` (encryption required), libziti hosting the private
/// API, and `ikanos` dialing with identity `ikanos`.
fn rig() -> Rig {
    rig_with(|_| {})
}

/// `rig()`, with `prepare` run on the network before ikanos starts.
fn rig_with(prepare: impl Fn(&ZitiTestNet)) -> Rig {
    let c = components();
    let (private, decoy) = private_and_decoy();
    let net = ZitiTestNet::start();
    net.create_service(SERVICE, true);
    net.create_identity("crm-host");
    net.create_identity("ikanos");
    net.grant("crm-host", SERVICE, Permission::Bind);
    net.grant("ikanos", SERVICE, Permission::Dial);
    let hosting = libziti_host(
        &net.identity_file("crm-host"),
        SERVICE,
        &private.addr.to_string(),
    );
    net.wait_for_terminator(SERVICE);
    prepare(&net);
    let dir = tempfile::tempdir().unwrap();
    let file = capability(
        dir.path(),
        &decoy.base(),
        SERVICE,
        &net.identity_file("ikanos"),
    );
    let host = HostBuilder::new(&file).component(&c.hostile).start(1);
    Rig {
        net,
        private,
        decoy,
        hosting,
        host,
        _dir: dir,
    }
}

/// A new libziti hosting the private API (the old one killed), once it has bound.
fn restart_hosting(rig: &mut Rig) {
    rig.hosting = libziti_host(
        &rig.net.identity_file("crm-host"),
        SERVICE,
        &rig.private.addr.to_string(),
    );
    rig.net.wait_for_terminator(SERVICE);
}

fn reason(v: &serde_json::Value) -> String {
    v["consumes"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Wait until `/health/ready` is 503 with a reason containing `needle`.
fn wait_not_ready_with(host: &Host, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = reason(&wait_ready(host, 503));
        if r.contains(needle) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "reason stayed '{r}', wanted '{needle}'"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn call_ok(rig: &Rig) {
    let v = list_customers(&rig.host);
    assert_eq!(v["status"], 200, "{v}\n{}", rig.host.all_output());
    assert!(v["body"].to_string().contains("Grace Hopper"), "{v}");
}

#[test]
fn a_component_calls_the_private_api_through_ziti_with_end_to_end_encryption() {
    let rig = rig();
    let v = wait_ready(&rig.host, 200);
    assert_eq!(v["consumes"][0]["route"], "tunnel:ziti");
    call_ok(&rig);
    call_ok(&rig);
    let seen = rig.private.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].path, "/customers");
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    // It went through the router, encrypted end to end: the router relayed bytes but
    // never the request or the response in clear.
    assert!(rig.net.observed(|o| o.dials_relayed) >= 1);
    assert!(rig.net.observed(|o| o.relayed.len()) > 200);
    for clear in [&b"GET /customers"[..], TOKEN.as_bytes(), b"Grace Hopper"] {
        assert!(
            !rig.net.router_relayed(clear),
            "{} crossed the router in clear",
            String::from_utf8_lossy(clear)
        );
    }
    assert_eq!(rig.decoy.connections(), 0);
    // Each dial named the baseUri's host and port in its AppData, for a hosting side
    // that forwards to the dialed address (`forwardAddress`) or an intercept.
    let app_data = rig.net.observed(|o| o.app_data.clone());
    assert!(!app_data.is_empty());
    for a in &app_data {
        let a: serde_json::Value = serde_json::from_str(a).unwrap();
        assert_eq!(a["dst_protocol"], "tcp", "{a}");
        assert_eq!(a["dst_hostname"], rig.decoy.addr.ip().to_string(), "{a}");
        assert_eq!(a["dst_port"], rig.decoy.addr.port().to_string(), "{a}");
    }
    let m = get(&format!("{}/metrics", rig.host.control_url())).body;
    assert!(m.contains("ikanos_tunnel_dial_total{capability=\"ziti\",ikanos_namespace=\"crm\",ikanos_tunnel_type=\"ziti\",outcome=\"ok\"}"), "{m}");
    assert!(m.contains("ikanos_tunnel_state{capability=\"ziti\",ikanos_namespace=\"crm\",ikanos_tunnel_type=\"ziti\",state=\"ready\"} 1"), "{m}");
    // The controller saw the documented flow.
    let requests = rig.net.observed(|o| o.requests.clone());
    for wanted in [
        "GET /version",
        "POST /edge/client/v1/authenticate?method=cert",
        "GET /edge/client/v1/services?filter=",
        "POST /edge/client/v1/sessions",
        "GET /edge/client/v1/current-api-session",
    ] {
        assert!(
            requests.iter().any(|r| r.starts_with(wanted)),
            "no {wanted}: {requests:?}"
        );
    }
    // No secret in the host's output.
    let out = rig.host.all_output();
    assert!(
        !out.contains(TOKEN) && !out.contains("PRIVATE KEY"),
        "{out}"
    );
}

/// `stop` takes part of the network away while calls work: readiness drops with a
/// reason containing `needle` (returned) and calls fail closed; after `start`, ready
/// again without a restart, calls work, and nothing was ever dialed elsewhere.
fn outage_and_recovery(
    rig: &Rig,
    needle: &str,
    stop: impl FnOnce(&ZitiTestNet),
    start: impl FnOnce(&ZitiTestNet),
) -> String {
    wait_ready(&rig.host, 200);
    call_ok(rig);
    assert_eq!(list_names_declarative(&rig.host), (200, expected_names()));
    stop(&rig.net);
    let r = wait_not_ready_with(&rig.host, needle);
    assert_eq!(list_customers(&rig.host)["error"], "tunnel-unavailable");
    // A declarative operation fails closed the same way.
    let (status, v) = list_names_declarative(&rig.host);
    assert_eq!(status, 503, "{v}");
    assert!(v["error"].as_str().unwrap().contains("tunnel"), "{v}");
    start(&rig.net);
    wait_ready(&rig.host, 200);
    call_ok(rig);
    assert_eq!(list_names_declarative(&rig.host), (200, expected_names()));
    assert_eq!(
        rig.decoy.connections(),
        0,
        "nothing may be dialed elsewhere"
    );
    r
}

#[test]
fn a_router_restart_drops_readiness_fails_closed_and_recovers_without_a_restart() {
    let rig = rig();
    let r = outage_and_recovery(
        &rig,
        "edge router",
        |net| net.stop_router(),
        |net| {
            net.start_router();
            // libziti binds again by itself; ikanos reconnects by itself.
            net.wait_for_terminator(SERVICE);
        },
    );
    assert!(!r.contains("BEGIN"), "{r}");
}

/// The hosting side goes away while the router and ikanos's channel stay up: the router
/// refuses dials with `service … has no terminators` — nothing listens behind the far
/// end — so calls fail closed as `tunnel-unavailable` (503 from a component that passes
/// the error on), not as a transport error; once the host binds again, calls go
/// through without a restart, and nothing was ever dialed elsewhere.
#[test]
fn a_service_nothing_hosts_fails_calls_closed_until_its_host_binds_again() {
    let mut rig = rig();
    wait_ready(&rig.host, 200);
    call_ok(&rig);
    rig.hosting.kill();
    rig.net
        .wait_until("the host's Bind is gone", |n| n.terminators(SERVICE) == 0);
    // A call may still meet the pooled connection the host's end closed (transport);
    // the next ones dial, and the router refuses them.
    let mut v = list_customers(&rig.host);
    for _ in 0..3 {
        if v["error"] != "transport" {
            break;
        }
        v = list_customers(&rig.host);
    }
    assert_eq!(v["error"], "tunnel-unavailable", "{v}");
    assert!(
        v["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("has no terminators"),
        "{v}"
    );
    restart_hosting(&mut rig);
    call_ok(&rig);
    assert_eq!(
        rig.decoy.connections(),
        0,
        "nothing may be dialed elsewhere"
    );
}

#[test]
fn a_controller_restart_drops_readiness_fails_closed_and_recovers_without_a_restart() {
    let rig = rig();
    let r = outage_and_recovery(
        &rig,
        "controller",
        |net| net.stop_controller(),
        |net| net.start_controller(),
    );
    assert!(r.contains("unreachable"), "{r}");
}

#[test]
fn a_revoked_identity_is_not_ready_with_the_reason() {
    let rig = rig();
    wait_ready(&rig.host, 200);
    rig.net.revoke_identity("ikanos");
    let r = wait_not_ready_with(&rig.host, "refused the identity");
    assert!(r.contains("401"), "{r}");
    assert_eq!(list_customers(&rig.host)["error"], "tunnel-unavailable");
    // Restored: it authenticates again by itself.
    rig.net.restore_identity("ikanos");
    wait_ready(&rig.host, 200);
    call_ok(&rig);
}

#[test]
fn expired_api_sessions_and_deleted_service_sessions_are_renewed() {
    let mut rig = rig();
    wait_ready(&rig.host, 200);
    // The router answers Connect with "Invalid Session": a new service session, the
    // call still succeeds. No call before it, so no pooled connection spares it the
    // dial (with per-core serving, which pool a call uses depends on the thread its
    // connection landed on).
    // ikanos's sessions only: deleting the hosting side's Bind session too takes its
    // terminator away until libziti notices and binds again (the dial would find "no
    // terminators" in between).
    let sessions = || {
        rig.net
            .requests_starting("POST /edge/client/v1/sessions Dial")
    };
    let before = sessions();
    rig.net.delete_service_sessions_of("ikanos");
    call_ok(&rig);
    assert_eq!(
        sessions(),
        before + 1,
        "one new service session for the retried dial"
    );
    // Every API session expires: authenticate again and carry on.
    let auths = || {
        rig.net
            .requests_starting("POST /edge/client/v1/authenticate")
    };
    let before = auths();
    rig.net.expire_api_sessions();
    rig.net
        .wait_until("ikanos authenticated again", |_| auths() > before);
    wait_ready(&rig.host, 200);
    // libziti 0.29.3, hosting, lost its session too and does not Bind again by
    // itself (it re-authenticates but asks for no new Bind session): restart it.
    rig.hosting.kill();
    restart_hosting(&mut rig);
    call_ok(&rig);
    assert_eq!(rig.decoy.connections(), 0);
}

#[test]
fn an_expired_certificate_or_an_unknown_service_is_not_ready_with_the_reason() {
    let c = components();
    let (_private, decoy) = private_and_decoy();
    let net = ZitiTestNet::start();
    net.create_service(SERVICE, true);
    let dir = tempfile::tempdir().unwrap();

    // A certificate that expired (from a CA of the test's own: the local check comes
    // first, so nothing is sent with it).
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    let expired = serde_json::json!({
        "ztAPI": net.controller_url(),
        "id": {"cert": format!("pem:{}", cert.pem()), "key": format!("pem:{}", key.serialize_pem()),
               "ca": format!("pem:{}", net.ca_pem())}
    });
    let expired_file = write(dir.path(), "expired.json", &expired.to_string());
    let file = capability(dir.path(), &decoy.base(), SERVICE, &expired_file);
    let host = HostBuilder::new(&file).component(&c.hostile).start(1);
    let r = wait_not_ready_with(&host, "expired at 2021-01-01");
    assert!(r.contains("certificate"), "{r}");
    assert_eq!(list_customers(&host)["error"], "tunnel-unavailable");
    drop(host);

    // A service this identity may not see.
    net.create_identity("nobody");
    let sub = tempfile::tempdir().unwrap();
    let file = capability(
        sub.path(),
        &decoy.base(),
        SERVICE,
        &net.identity_file("nobody"),
    );
    let host = HostBuilder::new(&file).component(&c.hostile).start(1);
    let r = wait_not_ready_with(&host, "is not visible to identity 'nobody'");
    assert!(r.contains("'crm'"), "{r}");
    assert_eq!(list_customers(&host)["error"], "tunnel-unavailable");
    assert_eq!(decoy.connections(), 0);
}

#[test]
fn validate_and_lint_know_the_ziti_keys() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bad = Tunnel::new("ziti")
        .set("identity", "{{secrets.ZITI_IDENTITY}}")
        .set("relay", "x:1");
    let file = fixtures::hostile_tunnelled(
        d,
        "bad.ikanos.yaml",
        "Bad Ziti",
        "http://crm.internal",
        bad,
        &[identity_bind(Path::new("/nonexistent.json"))],
    );
    let (code, out, err) = run_cli(&["validate", file.to_str().unwrap()]);
    let all = format!("{out}{err}");
    assert_eq!(code, 1, "{all}");
    assert!(
        all.contains(":18:9: missing required key 'service' in capability.consumes[0].tunnel"),
        "{all}"
    );
    assert!(
        all.contains(":20:9: unknown key 'relay' in capability.consumes[0].tunnel"),
        "{all}"
    );

    let good = Tunnel::new("ziti")
        .set("service", "crm")
        .set("identity", "{{secrets.ZITI_IDENTITY}}")
        .set("fallback", "fail");
    let file = fixtures::hostile_tunnelled(
        d,
        "good.ikanos.yaml",
        "Good Ziti",
        "http://crm.internal",
        good,
        &[identity_bind(Path::new("/nonexistent.json"))],
    );
    let (code, out, err) = run_cli(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run_cli(&["lint", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn the_crm_ziti_example_runs_end_to_end_with_tls_inside_the_tunnel() {
    // The private CRM speaks HTTPS as crm.internal, a name that resolves nowhere;
    // libziti hosts service "crm-api" in front of it.
    let tls = crate::auth::tls_upstream_for("crm.internal");
    let net = ZitiTestNet::start();
    net.create_service("crm-api", true);
    net.create_identity("crm-host");
    net.create_identity("ikanos-host");
    net.grant("crm-host", "crm-api", Permission::Bind);
    net.grant("ikanos-host", "crm-api", Permission::Dial);
    let _hosting = libziti_host(
        &net.identity_file("crm-host"),
        "crm-api",
        &format!("127.0.0.1:{}", tls.port),
    );
    net.wait_for_terminator("crm-api");

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = example(d, "examples/crm-ziti/crm-ziti.ikanos.yaml", |s| s);
    let host = start_tunnelled_crm_example(
        d,
        &file,
        "ziti-secrets.yaml",
        ("ziti-identity-path", &net.identity_file("ikanos-host")),
        &tls.ca_pem,
    );
    let r = get(&format!("{}/customers", host.rest_url("crm-api")));
    assert_eq!(r.status, 200, "{}\n{}", r.body, host.all_output());
    assert_eq!(r.body, "[]");
    assert_eq!(tls.versions.lock().unwrap().as_slice(), ["HTTP/2.0"]);
    assert!(
        !net.router_relayed(b"crm.internal"),
        "the SNI crossed the router in clear"
    );
    // The dial's AppData names the baseUri's host and port (a hosting side with
    // `forwardAddress` connects there); only the router's control frames carry it.
    let app_data = net.observed(|o| o.app_data.clone());
    assert!(
        !app_data.is_empty()
            && app_data
                .iter()
                .all(|a| a.contains("\"dst_hostname\":\"crm.internal\"")
                    && a.contains("\"dst_port\":\"443\"")),
        "{app_data:?}"
    );

    // With a second edge router, both down: the component answers 503 (its tunnel is
    // down) and `/health/ready` is 503; once one router is back, 200 again.
    net.add_router("router-b", 10);
    net.stop_router_named("router-b");
    net.stop_router();
    wait_ready(&host, 503);
    let r = get(&format!("{}/customers", host.rest_url("crm-api")));
    assert_eq!(r.status, 503, "{}\n{}", r.body, host.all_output());
    net.start_router_named("router-b");
    net.wait_until("the host is bound through router-b", |n| {
        n.terminators_at("router-b", "crm-api") > 0
    });
    wait_ready(&host, 200);
    let r = get(&format!("{}/customers", host.rest_url("crm-api")));
    assert_eq!(r.status, 200, "{}\n{}", r.body, host.all_output());
    assert!(net.router_dials("router-b") >= 1);
}

#[test]
fn the_identity_rotates_on_sighup_without_a_restart() {
    let rig = rig();
    wait_ready(&rig.host, 200);
    call_ok(&rig);
    // The old identity is revoked: not ready.
    rig.net.revoke_identity("ikanos");
    wait_not_ready_with(&rig.host, "refused the identity");
    // A new identity in the bind, SIGHUP: ready again with it, same process.
    rig.net.create_identity("ikanos-rotated");
    rig.net.grant("ikanos-rotated", SERVICE, Permission::Dial);
    fixtures::secrets_with(
        rig._dir.path(),
        &[identity_bind(&rig.net.identity_file("ikanos-rotated"))],
    );
    let pid = rig.host.pid();
    rig.host.signal(libc::SIGHUP);
    wait_ready(&rig.host, 200);
    call_ok(&rig);
    assert_eq!(rig.host.pid(), pid);
    assert_eq!(rig.decoy.connections(), 0);
}

#[test]
fn enrollment_with_a_one_time_token_yields_a_working_identity() {
    let upstream = Upstream::start(Auth {
        bearer: Some(TOKEN.into()),
        ..Auth::default()
    });
    let net = ZitiTestNet::start();
    net.create_service(SERVICE, true);
    net.create_identity("crm-host");
    net.grant("crm-host", SERVICE, Permission::Bind);
    let _hosting = libziti_host(
        &net.identity_file("crm-host"),
        SERVICE,
        &upstream.addr.to_string(),
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let jwt = write(d, "enrolled.jwt", &net.enrollment_jwt("enrolled"));
    let out = d.join("enrolled.json");
    let (code, stdout, stderr) = enroll(&jwt, &out);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.contains("enrolled"), "{stderr}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let identity: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(identity["ztAPI"], net.controller_url());
    assert!(identity["id"]["ca"]
        .as_str()
        .unwrap()
        .contains(net.ca_pem().trim()));

    // The token was for one use; and an existing identity is never overwritten.
    let again = d.join("again.json");
    let (code, _, stderr) = enroll(&jwt, &again);
    assert_eq!(code, 1);
    assert!(stderr.contains("enroll answered"), "{stderr}");
    assert!(!again.exists());
    let (code, _, stderr) = enroll(&jwt, &out);
    assert_eq!(code, 1);
    assert!(stderr.contains("never overwrites"), "{stderr}");

    // The enrolled identity dials.
    net.grant("enrolled", SERVICE, Permission::Dial);
    net.wait_for_terminator(SERVICE);
    let file = capability(d, &upstream.base(), SERVICE, &out);
    let host = HostBuilder::new(&file)
        .component(&components().hostile)
        .start(1);
    wait_ready(&host, 200);
    assert_eq!(list_customers(&host)["status"], 200);
}

/// `ikanos ziti enroll --jwt JWT --out OUT`: exit code, stdout, stderr.
fn enroll(jwt: &std::path::Path, out: &std::path::Path) -> (i32, String, String) {
    run_cli(&[
        "ziti",
        "enroll",
        "--jwt",
        jwt.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

#[test]
fn enrollment_refuses_a_token_not_signed_by_the_controller() {
    let net = ZitiTestNet::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = net.enrollment_jwt("forged");
    // Same claims, someone else's signature.
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged_sig = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 64])
    };
    parts[2] = &forged_sig;
    let jwt = write(d, "forged.jwt", &parts.join("."));
    let out = d.join("forged.json");
    let (code, _, stderr) = enroll(&jwt, &out);
    assert_eq!(code, 1);
    assert!(stderr.contains("signature does not verify"), "{stderr}");
    assert!(!out.exists());
    let enrolls = net.requests_starting("POST /edge/client/v1/enroll");
    assert_eq!(enrolls, 0, "nothing may be sent on a forged token");
}

#[test]
fn a_frozen_router_is_detected_by_the_probe_and_recovers_when_thawed() {
    let rig = rig();
    wait_ready(&rig.host, 200);
    call_ok(&rig);
    // Sockets stay open but nothing is answered: only the latency probe can tell.
    rig.net.freeze_router();
    let r = wait_not_ready_with(&rig.host, "edge router");
    assert!(!r.is_empty());
    assert_eq!(list_customers(&rig.host)["error"], "tunnel-unavailable");
    rig.net.thaw_router();
    rig.net.wait_for_terminator(SERVICE);
    wait_ready(&rig.host, 200);
    call_ok(&rig);
    assert_eq!(rig.decoy.connections(), 0);
}

#[test]
fn an_unreadable_identity_is_not_ready_with_the_file_named_and_no_secret_shown() {
    let c = components();
    let (_private, decoy) = private_and_decoy();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing-identity.json");
    let file = capability(dir.path(), &decoy.base(), SERVICE, &missing);
    let host = HostBuilder::new(&file).component(&c.hostile).start(1);
    let r = wait_not_ready_with(&host, "cannot read the identity file");
    assert!(r.contains(&missing.display().to_string()), "{r}");
    assert_eq!(list_customers(&host)["error"], "tunnel-unavailable");
    drop(host);

    // A key that is not PEM: the reason names the field, never the value.
    let bad = serde_json::json!({
        "ztAPI": "https://127.0.0.1:1",
        "id": {"cert": "pem:-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
               "key": "pem:not-a-key-SECRET-MATERIAL", "ca": "pem:x"}
    });
    let bad_file = write(dir.path(), "bad.json", &bad.to_string());
    let sub = tempfile::tempdir().unwrap();
    let file = capability(sub.path(), &decoy.base(), SERVICE, &bad_file);
    let host = HostBuilder::new(&file).component(&c.hostile).start(1);
    let r = wait_not_ready_with(&host, "tunnel.identity");
    assert!(!r.contains("SECRET-MATERIAL"), "{r}");
    assert!(!host.all_output().contains("SECRET-MATERIAL"));
    assert_eq!(decoy.connections(), 0);
}

#[test]
fn the_api_session_is_kept_alive_before_it_expires() {
    // API sessions that expire after 6 s without activity: ikanos's checks keep its
    // own alive, so it never has to authenticate again and the router keeps its channel.
    let rig = rig_with(|net| net.set_api_session_ttl(Duration::from_secs(6)));
    wait_ready(&rig.host, 200);
    let auths = || {
        rig.net
            .requests_starting("POST /edge/client/v1/authenticate")
    };
    // The hosting libziti authenticated once too; count from here.
    let before = auths();
    let hellos = rig.net.observed(|o| o.hellos_accepted);
    std::thread::sleep(Duration::from_secs(15));
    assert_eq!(auths(), before, "ikanos had to authenticate again");
    assert_eq!(
        rig.net.observed(|o| o.hellos_accepted),
        hellos,
        "a channel was reopened"
    );
    wait_ready(&rig.host, 200);
    call_ok(&rig);
}

/// Call until one succeeds (a failover may refuse a call or two while it switches
/// routers; each refusal must be `tunnel-unavailable`, never a call elsewhere).
/// Returns how many calls were refused first.
fn call_ok_eventually(rig: &Rig) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut refused = 0;
    loop {
        let v = list_customers(&rig.host);
        if v["status"] == 200 {
            assert!(v["body"].to_string().contains("Grace Hopper"), "{v}");
            return refused;
        }
        assert_eq!(v["error"], "tunnel-unavailable", "{v}");
        refused += 1;
        assert!(
            Instant::now() < deadline,
            "calls kept failing: {v}\n{}",
            rig.host.all_output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Two edge routers, the second added one cheaper: ikanos dials through the cheaper
/// one (the controller lists it second, so the order is the cost's); it stops while
/// ikanos runs and calls keep succeeding through the other; it comes back, ikanos moves
/// to it again (a new channel there, without a restart) and calls still succeed.
/// Nothing is ever dialed elsewhere.
#[test]
fn with_two_routers_the_cheaper_is_used_and_losing_it_fails_over_to_the_other() {
    use crate::support::ziti::ROUTER_NAME;
    const CHEAP: &str = "router-cheap";
    let rig = rig_with(|net| {
        net.set_router_cost(ROUTER_NAME, 20);
        net.add_router(CHEAP, 5);
    });
    wait_ready(&rig.host, 200);
    call_ok(&rig);
    call_ok(&rig);
    // (the second call may reuse the first one's pooled connection: one dial or two)
    let cheap_dials = rig.net.router_dials(CHEAP);
    assert!(cheap_dials >= 1, "dials went to the cheaper router");
    assert_eq!(rig.net.router_dials(ROUTER_NAME), 0);
    // The host bound through the first router before the cheap one existed, so the
    // cheap router relayed ikanos's dials to it (libziti 0.29.3 binds through one).
    if rig.net.terminators_at(CHEAP, SERVICE) == 0 {
        assert!(rig.net.observed(|o| o.dials_across_routers) >= cheap_dials);
    }

    rig.net.stop_router_named(CHEAP);
    let refused = call_ok_eventually(&rig);
    wait_ready(&rig.host, 200);
    call_ok(&rig);
    assert_eq!(
        rig.net.router_dials(CHEAP),
        cheap_dials,
        "nothing more reached the stopped router"
    );
    assert!(rig.net.router_dials(ROUTER_NAME) >= 1);
    let ok_so_far = 4;
    assert_eq!(
        rig.private.requests().len(),
        ok_so_far,
        "refused before failover: {refused}"
    );

    let cheap_hellos = rig.net.router_hellos(CHEAP);
    rig.net.start_router_named(CHEAP);
    wait_ready(&rig.host, 200);
    call_ok(&rig);
    // Within a few checks (10 s apart) ikanos opens a channel at the cheaper router
    // again; streams in flight stay where they are, so calls never stop working.
    let deadline = Instant::now() + Duration::from_secs(40);
    while !rig
        .host
        .all_output()
        .contains("moved to a cheaper edge router")
    {
        assert!(
            Instant::now() < deadline,
            "ikanos did not move back to the cheaper router\n{}",
            rig.host.all_output()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(rig.net.router_hellos(CHEAP) > cheap_hellos);
    call_ok(&rig);
    assert_eq!(rig.private.requests().len(), ok_so_far + 2);
    assert_eq!(
        rig.decoy.connections(),
        0,
        "nothing may be dialed elsewhere"
    );
    let out = rig.host.all_output();
    assert!(out.contains("failed over to another edge router"), "{out}");
    // Calls refused while it switched (0 unless the machine stalled past the grace).
    eprintln!("calls refused during the failover: {refused}");
}

/// Two edge routers, both down: not ready with the routers named, calls refused as
/// tunnel-unavailable; one comes back (the second, so the host binds again through
/// it) and ikanos recovers by itself.
#[test]
fn with_both_routers_down_it_is_not_ready_and_recovers_when_one_returns() {
    use crate::support::ziti::ROUTER_NAME;
    const OTHER: &str = "router-b";
    let rig = rig_with(|net| net.add_router(OTHER, 10));
    wait_ready(&rig.host, 200);
    call_ok(&rig);

    rig.net.stop_router_named(OTHER);
    rig.net.stop_router();
    let r = wait_not_ready_with(&rig.host, "edge router");
    assert!(!r.contains("BEGIN"), "{r}");
    assert_eq!(list_customers(&rig.host)["error"], "tunnel-unavailable");
    let v = wait_ready(&rig.host, 503);
    assert_eq!(v["consumes"][0]["route"], "tunnel:ziti", "{v}");

    rig.net.start_router_named(OTHER);
    rig.net
        .wait_until("the host is bound through router-b", |n| {
            n.terminators_at(OTHER, SERVICE) > 0
        });
    wait_ready(&rig.host, 200);
    call_ok(&rig);
    assert!(rig.net.router_dials(OTHER) >= 1);
    assert!(!rig.net.router_running_named(ROUTER_NAME));
    assert_eq!(rig.private.requests().len(), 2);
    assert_eq!(
        rig.decoy.connections(),
        0,
        "nothing may be dialed elsewhere"
    );
}
