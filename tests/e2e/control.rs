//! The control port: health, readiness, metrics, status — and fail-closed routing
//! for a tunnel type that has no provider in this build.

use crate::support::fixtures::{self, Tunnel};
use crate::support::upstream::{Auth, Upstream};
use crate::support::*;

#[test]
fn health_metrics_and_status_describe_the_running_capability() {
    let rig = hostile_rig(&[]);
    let host = &rig.host;
    let control = host.control_url();

    let live = get(&format!("{control}/health/live"));
    assert_eq!(
        (live.status, live.json()["status"].as_str()),
        (200, Some("UP"))
    );

    let ready = get(&format!("{control}/health/ready"));
    assert_eq!(ready.status, 200, "{}", ready.body);
    let v = ready.json();
    assert_eq!(v["status"], "UP");
    assert_eq!(v["consumes"][0]["namespace"], "crm");
    assert_eq!(v["consumes"][0]["route"], "direct");
    assert_eq!(v["consumes"][0]["ready"], true);
    assert_eq!(v["consumes"][0]["state"], "ready");
    assert_eq!(v["adapters"][0]["type"], "rest");
    assert_eq!(v["adapters"][0]["state"], "listening");

    let base = host.rest_url("hostile");
    assert_eq!(get(&format!("{base}/healthy")).status, 200);
    let r = post(
        &format!("{base}/call?ns=crm&op=list-customers"),
        "text/plain",
        "",
    );
    assert_eq!(r.status, 200);

    let metrics = get(&format!("{control}/metrics"));
    assert_eq!(metrics.status, 200);
    let m = metrics.body;
    for needle in [
        "ikanos_request_total{capability=\"hostile\",ikanos_adapter_type=\"rest\",ikanos_operation_id=\"healthy\",http_request_method=\"GET\",http_response_status_code=\"200\"} 1",
        "ikanos_request_duration_seconds_count{capability=\"hostile\",ikanos_adapter_type=\"rest\",ikanos_operation_id=\"healthy\"} 1",
        "ikanos_http_client_total{capability=\"hostile\",ikanos_namespace=\"crm\",ikanos_operation_id=\"list-customers\",http_request_method=\"GET\"",
        "ikanos_http_client_duration_seconds_count{",
        "ikanos_capability_active{capability=\"hostile\"} 1",
        "ikanos_instances_total{capability=\"hostile\"} 2",
        "ikanos_instantiation_duration_seconds_count{capability=\"hostile\"} 2",
        "ikanos_consumes_ready{capability=\"hostile\",ikanos_namespace=\"crm\",ikanos_route=\"direct\"} 1",
        "# EOF",
    ] {
        assert!(m.contains(needle), "missing `{needle}` in:\n{m}");
    }

    let status = get(&format!("{control}/status")).json();
    assert_eq!(status["capability"]["name"], "hostile");
    assert_eq!(status["capability"]["ikanos"], "1.0.0-beta5");
    assert_eq!(status["component"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(status["limits"]["memoryBytes"], 64 << 20);
    assert_eq!(get(&format!("{control}/nope")).status, 404);
}

#[test]
fn a_tunnel_without_a_provider_fails_closed_and_says_why() {
    let c = components();
    let upstream = Upstream::start(Auth::default());
    let dir = tempfile::tempdir().unwrap();
    // `crm` routes through a tunnel type no build has a provider for, to the upstream's
    // real address, which acts as the decoy: it must never see a connection.
    let file = fixtures::hostile_tunnelled(
        dir.path(),
        "tunnelled.ikanos.yaml",
        "Tunnelled",
        &upstream.base(),
        Tunnel::new("netbird")
            .set("service", "crm-api")
            .set("identity", "{{secrets.CRM_TOKEN}}"),
        &[],
    );

    let host = HostBuilder::new(&file).component(&c.hostile).start(1);
    let ready = get(&format!("{}/health/ready", host.control_url()));
    assert_eq!(ready.status, 503, "{}", ready.body);
    let v = ready.json();
    assert_eq!(v["status"], "DEGRADED");
    assert_eq!(v["consumes"][0]["namespace"], "crm");
    assert_eq!(v["consumes"][0]["route"], "tunnel:netbird");
    assert_eq!(v["consumes"][0]["state"], "unavailable");
    assert_eq!(
        v["consumes"][0]["reason"],
        "No Tunnel provider for type 'netbird'"
    );

    // The capability still serves; calls through the tunnel fail at once.
    let base = host.rest_url("hostile");
    assert_eq!(get(&format!("{base}/healthy")).status, 200);
    let r = post(
        &format!("{base}/call?ns=crm&op=list-customers"),
        "text/plain",
        "",
    );
    let v = r.json();
    assert_eq!(v["error"], "tunnel-unavailable", "{v}");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("No Tunnel provider for type 'netbird'"),
        "{v}"
    );
    assert_eq!(
        upstream.connections(),
        0,
        "nothing may be dialed while the tunnel is unavailable"
    );

    let m = get(&format!("{}/metrics", host.control_url())).body;
    assert!(m.contains("ikanos_consumes_ready{capability=\"tunnelled\",ikanos_namespace=\"crm\",ikanos_route=\"tunnel:netbird\"} 0"), "{m}");
    assert!(m.contains("outcome=\"tunnel_unavailable\""), "{m}");

    let (code, out, _) = run_cli(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        out.contains("warning: No Tunnel provider for type 'netbird'"),
        "{out}"
    );
}

/// The hostile capability (and its secrets) in `dir` with a `type: control` entry on a
/// free port whose further keys are `extra` (YAML at the entry's indentation).
fn hostile_with_control(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    fixtures::secrets(dir);
    let control = format!("    - type: \"control\"\n      port: 0\n{extra}");
    fixtures::Capability::hostile("Control", "http://127.0.0.1:1")
        .exposes(fixtures::Exposes::Literal(control))
        .write(dir, "hostile.ikanos.yaml")
}

/// A `type: control` entry with `authentication` protects every control endpoint: no
/// credentials or wrong ones get 401 with the challenge, and nothing of the token shows.
#[test]
fn the_control_ports_declared_authentication_is_enforced_on_every_endpoint() {
    let c = components();
    let dir = tempfile::tempdir().unwrap();
    let file = hostile_with_control(
        dir.path(),
        "      authentication:\n        type: \"bearer\"\n        token: \"{{secrets.CRM_TOKEN}}\"\n      management:\n        info: true\n",
    );
    let mut host = HostBuilder::new(&file).component(&c.hostile).start(1);
    let base = host.control_url();
    let good = format!("Bearer {}", fixtures::TOKEN);
    for endpoint in [
        "/health/live",
        "/health/ready",
        "/metrics",
        "/status",
        "/traces",
        "/nowhere",
    ] {
        let url = format!("{base}{endpoint}");
        for creds in [None, Some("Bearer wrong")] {
            let headers: Vec<(&str, &str)> =
                creds.map(|c| ("authorization", c)).into_iter().collect();
            let r = get_with(&url, &headers);
            assert_eq!(r.status, 401, "{endpoint} with {creds:?}: {}", r.body);
            assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{endpoint}");
            assert!(!r.body.contains(fixtures::TOKEN), "{}", r.body);
        }
        let r = get_with(&url, &[("authorization", &good)]);
        let want = if endpoint == "/nowhere" { 404 } else { 200 };
        assert_eq!(r.status, want, "{endpoint} with the token: {}", r.body);
    }
    assert_eq!(host.terminate(std::time::Duration::from_secs(30)), Some(0));
}

/// Digest on the control port (RFC 7616): curl's answer to the challenge is let in, a
/// wrong password is challenged again.
#[test]
fn a_control_port_with_digest_checks_the_answer_to_its_challenge() {
    let c = components();
    let dir = tempfile::tempdir().unwrap();
    let file = hostile_with_control(
        dir.path(),
        "      authentication:\n        type: \"digest\"\n        username: \"ops\"\n        password: \"{{secrets.CRM_TOKEN}}\"\n",
    );
    let host = HostBuilder::new(&file).component(&c.hostile).start(1);
    let url = format!("{}/metrics", host.control_url());
    let r = get(&url);
    assert_eq!(r.status, 401, "{}", r.body);
    let challenge = r.header("www-authenticate").unwrap_or_default().to_string();
    assert!(
        challenge.starts_with("Digest realm=\"ikanos\", qop=\"auth\""),
        "{challenge}"
    );
    assert_eq!(curl_digest(&url, "ops", fixtures::TOKEN), 200);
    assert_eq!(curl_digest(&url, "ops", "wrong"), 401);
    assert!(!host.all_output().contains(fixtures::TOKEN));
}

/// A control `authentication` this build cannot check stops start-up with the file and
/// position: the control port is never served unprotected.
#[test]
fn a_control_authentication_this_build_cannot_check_refuses_to_start() {
    let c = components();
    let dir = tempfile::tempdir().unwrap();
    let file = hostile_with_control(
        dir.path(),
        "      authentication:\n        type: \"oauth2\"\n        authorizationServerUri: \"http://127.0.0.1:9/realm\"\n        resource: \"http://ikanos-control\"\n        tokenValidation: \"introspection\"\n",
    );
    let (code, out) = HostBuilder::new(&file).component(&c.hostile).run_to_exit();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("{}:", file.display()))
            && out.contains("'introspection' is not supported"),
        "{out}"
    );
}

/// `/status` follows the control entry's `management.info` (default false, as
/// upstream): off, it answers 404 and the other endpoints stay; on, it is served. A
/// file without a control entry keeps the host's own `/status` (asserted above).
#[test]
fn status_follows_the_control_entrys_management_info() {
    let c = components();
    for (extra, want) in [
        ("", 404),
        (
            "      management:\n        health: true\n        info: false\n",
            404,
        ),
        ("      management:\n        info: true\n", 200),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = hostile_with_control(dir.path(), extra);
        let host = HostBuilder::new(&file).component(&c.hostile).start(1);
        let base = host.control_url();
        let r = get(&format!("{base}/status"));
        assert_eq!(r.status, want, "{extra}: {}", r.body);
        if want == 404 {
            assert!(r.body.contains("management.info: true"), "{}", r.body);
        } else {
            assert_eq!(r.json()["capability"]["name"], "hostile");
        }
        for endpoint in ["/health/live", "/health/ready", "/metrics"] {
            assert_eq!(get(&format!("{base}{endpoint}")).status, 200, "{endpoint}");
        }
    }
}
