//! Tunnels end to end through the `test-relay` provider (cargo feature `test-tunnel`):
//! fail-closed routing, readiness that follows the tunnel, recovery without a restart,
//! `fallback: direct`, identity rotation, TLS inside the tunnel, and a decoy on the
//! baseUri's "public" address that must see nothing unless fallback allows it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::fixtures::{self, HttpConsumes, TOKEN};
use crate::support::relay::Relay;
use crate::support::upstream::{Auth, Upstream};
use crate::support::*;

/// The hostile capability whose `crm` goes through the relay at `relay`, with
/// baseUri `base` and the identity from secrets.yaml (`relay-id`).
fn tunnelled(dir: &Path, base: &str, relay: &str, fallback: &str, identity: &str) -> PathBuf {
    fixtures::hostile_tunnelled(
        dir,
        "tunnelled.ikanos.yaml",
        "Tunnelled",
        base,
        fixtures::relay_tunnel(relay, fallback),
        &[("RELAY_ID", "relay-id", identity.to_string())],
    )
}

fn metrics(host: &Host) -> String {
    get(&format!("{}/metrics", host.control_url())).body
}

/// A private API, a decoy at the baseUri's address, and a relay mapping that address
/// to the private API.
struct Net {
    private: Upstream,
    decoy: Upstream,
    relay: Relay,
    base: String,
}

fn net(identities: &[&str]) -> Net {
    let private = Upstream::start(Auth {
        bearer: Some(TOKEN.into()),
        ..Auth::default()
    });
    let decoy = Upstream::start(Auth {
        bearer: Some(TOKEN.into()),
        ..Auth::default()
    });
    let relay = Relay::start(0, identities);
    relay.map(&decoy.addr.to_string(), private.addr);
    let base = decoy.base();
    Net {
        private,
        decoy,
        relay,
        base,
    }
}

/// A host serving the tunnelled capability through `n`'s relay.
fn serve_through(n: &Net, fallback: &str, identity: &str) -> (Host, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = tunnelled(
        dir.path(),
        &n.base,
        &n.relay.addr.to_string(),
        fallback,
        identity,
    );
    let host = HostBuilder::new(&file)
        .component(&components().hostile)
        .start(1);
    (host, dir)
}

#[test]
fn calls_go_through_the_tunnel_and_never_to_the_public_address() {
    let n = net(&["id-1"]);
    let (host, _dir) = serve_through(&n, "fail", "id-1");
    let ready = wait_ready(&host, 200);
    assert_eq!(ready["consumes"][0]["route"], "tunnel:test-relay");
    assert_eq!(ready["consumes"][0]["state"], "ready");

    let v = list_customers(&host);
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(n.private.requests().len(), 1);
    assert_eq!(
        n.private.requests()[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        n.decoy.connections(),
        0,
        "the public address must see nothing"
    );
    assert_eq!(
        n.relay.dials(),
        vec![(
            "id-1".to_string(),
            "crm-api".to_string(),
            n.decoy.addr.to_string()
        )]
    );

    let m = metrics(&host);
    let labels =
        "capability=\"tunnelled\",ikanos_namespace=\"crm\",ikanos_tunnel_type=\"test-relay\"";
    for needle in [
        format!("ikanos_tunnel_dial_total{{{labels},outcome=\"ok\"}} 1"),
        format!("ikanos_tunnel_state{{{labels},state=\"ready\"}} 1"),
        format!("ikanos_tunnel_state{{{labels},state=\"degraded\"}} 0"),
        format!("ikanos_tunnel_dial_duration_seconds_count{{{labels}}} 1"),
        "ikanos_consumes_ready{capability=\"tunnelled\",ikanos_namespace=\"crm\",ikanos_route=\"tunnel:test-relay\"} 1".to_string(),
    ] {
        assert!(m.contains(&needle), "missing `{needle}` in:\n{m}");
    }
    let sent = m
        .lines()
        .find(|l| l.starts_with("ikanos_tunnel_sent_bytes_total{"))
        .expect("bytes sent");
    assert!(!sent.ends_with(" 0"), "{sent}");
}

#[test]
fn a_dropped_tunnel_fails_closed_and_recovers_without_a_restart() {
    let n = net(&["id-1"]);
    let relay_port = n.relay.addr.port();
    let (host, _dir) = serve_through(&n, "fail", "id-1");
    wait_ready(&host, 200);
    assert_eq!(list_customers(&host)["status"], 200);

    let Net {
        private,
        decoy,
        relay,
        ..
    } = n;
    relay.stop();
    let v = wait_ready(&host, 503);
    assert_eq!(v["status"], "DEGRADED");
    assert_eq!(v["consumes"][0]["state"], "degraded");
    let reason = v["consumes"][0]["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("relay"), "{reason}");
    let v = list_customers(&host);
    assert_eq!(v["error"], "tunnel-unavailable", "{v}");
    assert!(v["reason"].as_str().unwrap().contains("relay"), "{v}");
    let m = metrics(&host);
    assert!(m.contains("ikanos_consumes_ready{capability=\"tunnelled\",ikanos_namespace=\"crm\",ikanos_route=\"tunnel:test-relay\"} 0"), "{m}");
    assert!(m.contains("state=\"ready\"} 0"), "no stale 1:\n{m}");
    // The host keeps serving what does not need the tunnel.
    assert_eq!(
        get(&format!("{}/healthy", host.rest_url("hostile"))).status,
        200
    );

    let relay = Relay::start(relay_port, &["id-1"]);
    relay.map(&decoy.addr.to_string(), private.addr);
    wait_ready(&host, 200);
    assert_eq!(list_customers(&host)["status"], 200);
    assert_eq!(private.requests().len(), 2);
    assert_eq!(
        decoy.connections(),
        0,
        "the public address must see nothing"
    );
}

#[test]
fn start_up_never_waits_for_a_tunnel() {
    let c = components();
    let n = net(&["id-1"]);
    let port = n.relay.addr.port();
    let Net {
        private,
        decoy,
        relay,
        base,
    } = n;
    relay.stop();
    let dir = tempfile::tempdir().unwrap();
    let file = tunnelled(
        dir.path(),
        &base,
        &format!("127.0.0.1:{port}"),
        "fail",
        "id-1",
    );
    let host = HostBuilder::new(&file).component(&c.hostile).start(1);
    let v = wait_ready(&host, 503);
    assert!(
        v["consumes"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{v}"
    );
    assert_eq!(
        get(&format!("{}/healthy", host.rest_url("hostile"))).status,
        200
    );

    let relay = Relay::start(port, &["id-1"]);
    relay.map(&decoy.addr.to_string(), private.addr);
    wait_ready(&host, 200);
    assert_eq!(list_customers(&host)["status"], 200);
}

#[test]
fn a_refused_identity_is_not_ready_with_the_relays_reason() {
    let n = net(&["someone-else"]);
    let (host, _dir) = serve_through(&n, "fail", "id-1");
    let v = wait_ready(&host, 503);
    let reason = v["consumes"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut reason = reason;
    while !reason.contains("unknown identity") {
        assert!(Instant::now() < deadline, "{reason}");
        std::thread::sleep(Duration::from_millis(50));
        reason = wait_ready(&host, 503)["consumes"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string();
    }
    assert_eq!(list_customers(&host)["error"], "tunnel-unavailable");
    assert_eq!(n.decoy.connections(), 0);
}

#[test]
fn fallback_direct_sends_calls_directly_while_the_tunnel_is_down() {
    let c = components();
    let n = net(&["id-1"]);
    let port = n.relay.addr.port();
    let Net {
        decoy, relay, base, ..
    } = n;
    relay.stop();
    let dir = tempfile::tempdir().unwrap();
    let file = tunnelled(
        dir.path(),
        &base,
        &format!("127.0.0.1:{port}"),
        "direct",
        "id-1",
    );
    let host = HostBuilder::new(&file).component(&c.hostile).start(1);
    wait_ready(&host, 503);
    let v = list_customers(&host);
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(
        decoy.requests().len(),
        1,
        "fallback: direct dials the baseUri itself"
    );
    host.wait_for_log(Duration::from_secs(5), |l| {
        l.contains("fallback: direct") && l.contains("WARN")
    });
    let m = metrics(&host);
    assert!(m.contains("ikanos_tunnel_fallback_direct_total{capability=\"tunnelled\",ikanos_namespace=\"crm\",ikanos_tunnel_type=\"test-relay\"} 1"), "{m}");
}

#[test]
fn the_identity_rotates_on_sighup_without_a_restart() {
    let n = net(&["id-1", "id-2"]);
    let (host, dir) = serve_through(&n, "fail", "id-1");
    wait_ready(&host, 200);
    // A slow call in flight on the old session.
    let base = host.rest_url("hostile");
    let in_flight = std::thread::spawn(move || {
        post(
            &format!("{base}/call?ns=crm&op=get-slow&p_ms=1500"),
            "text/plain",
            "",
        )
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while !n.private.requests().iter().any(|r| r.path == "/slow") {
        assert!(Instant::now() < deadline, "the slow call never arrived");
        std::thread::sleep(Duration::from_millis(10));
    }

    write(
        dir.path(),
        "secrets.yaml",
        &format!("crm-bearer-token: \"{TOKEN}\"\nrelay-id: \"id-2\"\n"),
    );
    host.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !n.relay.hellos().iter().any(|h| h == "id-2") {
        assert!(
            Instant::now() < deadline,
            "no session with the new identity; output:\n{}",
            host.all_output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_ready(&host, 200);
    let r = in_flight.join().unwrap();
    assert_eq!(
        r.json()["status"],
        200,
        "the in-flight call finished: {}",
        r.body
    );
    assert_eq!(list_customers(&host)["status"], 200);
    let last = n.relay.dials().last().cloned().unwrap();
    assert_eq!(last.0, "id-2", "new dials use the new identity");
    assert!(
        !host.all_output().contains("id-2 "),
        "identities are not logged"
    );
}

#[test]
fn https_inside_the_tunnel_keeps_the_real_hostname() {
    let c = components();
    let tls = crate::auth::tls_upstream_for("crm.internal");
    let relay = Relay::start(0, &["id-1"]);
    relay.map(
        "crm.internal:443",
        format!("127.0.0.1:{}", tls.port).parse().unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    // crm.internal resolves nowhere: only the tunnel can reach it, by name.
    let file = tunnelled(
        dir.path(),
        "https://crm.internal",
        &relay.addr.to_string(),
        "fail",
        "id-1",
    );
    let ca = write(dir.path(), "ca.pem", &tls.ca_pem);
    let host = HostBuilder::new(&file)
        .component(&c.hostile)
        .arg("--ca-bundle")
        .arg(format!("crm={}", ca.display()))
        .start(1);
    wait_ready(&host, 200);
    let v = list_customers(&host);
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(tls.versions.lock().unwrap().as_slice(), ["HTTP/2.0"]);
    assert_eq!(relay.dials()[0].2, "crm.internal:443");
}

#[test]
fn validate_checks_the_providers_own_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = tunnelled(
        dir.path(),
        "http://127.0.0.1:1",
        "not-an-address",
        "fail",
        "id-1",
    );
    let (code, out, _) = run_cli(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("tunnel.relay 'not-an-address' is not an IP:PORT address"),
        "{out}"
    );
}

#[test]
fn spans_link_the_caller_the_request_the_call_and_the_dial() {
    use crate::support::collector::Collector;
    let c = components();
    let collector = Collector::start();
    let n = net(&["id-1"]);
    let dir = tempfile::tempdir().unwrap();
    let file = tunnelled(
        dir.path(),
        &n.base,
        &n.relay.addr.to_string(),
        "fail",
        "id-1",
    );
    let host = HostBuilder::new(&file)
        .component(&c.hostile)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint())
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        // Quiet logs: spans must flow anyway.
        .env("RUST_LOG", "warn,ikanos::cli=info")
        .start(1);
    wait_ready(&host, 200);

    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace}-{caller}-01");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let r = agent
        .post(&format!(
            "{}/call?ns=crm&op=list-customers",
            host.rest_url("hostile")
        ))
        .header("traceparent", &traceparent)
        .send("")
        .unwrap();
    assert_eq!(r.status(), 200);

    // The upstream sees the same trace, with the consumed call as its parent.
    let seen = n.private.requests();
    let upstream_tp = seen[0]
        .header("traceparent")
        .expect("traceparent reaches the upstream")
        .to_string();
    let parts: Vec<&str> = upstream_tp.split('-').collect();
    assert_eq!(parts[1], trace, "{upstream_tp}");

    let spans = collector.wait_for_spans(trace, &["request", "consumed_call", "tunnel_dial"]);
    let (request, call, dial) = (&spans[0], &spans[1], &spans[2]);
    assert_eq!(
        request.parent_span_id, caller,
        "the request continues the caller's span"
    );
    assert_eq!(
        call.parent_span_id, request.span_id,
        "the consumed call is a child of the request"
    );
    assert_eq!(
        dial.parent_span_id, call.span_id,
        "the tunnel dial is a child of the consumed call"
    );
    assert_eq!(
        parts[2], call.span_id,
        "the upstream's parent is the consumed call"
    );
}

#[test]
fn one_session_per_identity_and_relay_shared_by_namespaces() {
    let c = components();
    let n = net(&["id-1", "id-2"]);
    let dir = tempfile::tempdir().unwrap();
    // Two more namespaces: `crm2` shares crm's identity and relay, `crm3` has its own.
    let extra = [
        ("RELAY_ID", "relay-id", "id-1".to_string()),
        ("RELAY_ID_2", "relay-id-2", "id-2".to_string()),
    ];
    let tunnel = fixtures::relay_tunnel(&n.relay.addr.to_string(), "fail");
    let mut capability =
        fixtures::hostile_tunnelled_capability("Tunnelled", &n.base, tunnel.clone(), &extra);
    let crm = capability.consumed("crm").clone();
    let capability = capability
        .consumes(HttpConsumes {
            namespace: "crm2".into(),
            ..crm.clone()
        })
        .consumes(HttpConsumes {
            namespace: "crm3".into(),
            tunnel: Some(tunnel.set("identity", "{{secrets.RELAY_ID_2}}")),
            ..crm
        });
    fixtures::secrets_with(dir.path(), &extra);
    let file = capability.write(dir.path(), "shared.ikanos.yaml");
    let host = HostBuilder::new(&file).component(&c.hostile).start(1);
    let v = wait_ready(&host, 200);
    assert_eq!(v["consumes"].as_array().unwrap().len(), 3, "{v}");
    let mut hellos = n.relay.hellos();
    hellos.sort();
    assert_eq!(
        hellos,
        ["id-1", "id-2"],
        "one session per distinct identity"
    );

    for ns in ["crm", "crm2", "crm3"] {
        let r = post(
            &format!(
                "{}/call?ns={ns}&op=list-customers",
                host.rest_url("hostile")
            ),
            "text/plain",
            "",
        );
        assert_eq!(r.json()["status"], 200, "{ns}: {}", r.body);
    }
    let ids: Vec<String> = n.relay.dials().into_iter().map(|d| d.0).collect();
    assert_eq!(ids, ["id-1", "id-1", "id-2"]);

    let m = metrics(&host);
    assert!(m.contains("ikanos_tunnel_dial_total{capability=\"shared\",ikanos_namespace=\"crm3\",ikanos_tunnel_type=\"test-relay\",outcome=\"ok\"} 1"), "{m}");
}

#[test]
fn a_refused_dial_is_a_transport_error_counted_by_reason() {
    let c = components();
    let n = net(&["id-1"]);
    let dir = tempfile::tempdir().unwrap();
    // The relay has no route for this baseUri.
    let file = tunnelled(
        dir.path(),
        "http://10.255.255.1:9",
        &n.relay.addr.to_string(),
        "fail",
        "id-1",
    );
    let host = HostBuilder::new(&file).component(&c.hostile).start(1);
    wait_ready(&host, 200);
    let v = list_customers(&host);
    assert_eq!(v["error"], "transport", "{v}");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("refused 10.255.255.1:9"),
        "{v}"
    );
    let m = metrics(&host);
    assert!(m.contains("ikanos_tunnel_dial_total{capability=\"tunnelled\",ikanos_namespace=\"crm\",ikanos_tunnel_type=\"test-relay\",outcome=\"refused\"} 1"), "{m}");
    assert_eq!(n.decoy.connections(), 0);
}
