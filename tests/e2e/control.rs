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
