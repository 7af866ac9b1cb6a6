//! The control entry's `observability` block, end to end: `/traces` and
//! `/traces/{id}` from the local buffer (sampling, bounds, filters, shapes), B3 and W3C
//! propagation seen at a loopback upstream, the switches that turn endpoints and
//! propagation off, and OTLP export to a real receiver over HTTP and over HTTPS with a
//! test CA.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::collector::Collector;
use crate::support::fixtures::{self, TOKEN};
use crate::support::upstream::{Auth, Upstream};
use crate::support::*;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER: &str = "00f067aa0ba902b7";

/// An upstream that wants the test token, as the hostile capability's `crm` sends it.
fn crm_upstream() -> Upstream {
    Upstream::start(Auth {
        bearer: Some(TOKEN.into()),
        ..Auth::default()
    })
}

/// The hostile capability against `crm` with a control entry on a free port whose
/// `observability` block is `block` (YAML at 8 spaces); `binds` are more bind keys
/// (VAR, key in secrets.yaml, value).
fn capability(dir: &Path, crm: &str, block: &str, binds: &[fixtures::ExtraBind]) -> PathBuf {
    fixtures::secrets_with(dir, binds);
    let control = format!("    - type: \"control\"\n      port: 0\n      observability:\n{block}");
    binds
        .iter()
        .fold(
            fixtures::Capability::hostile("Control", crm),
            |c, (var, key, _)| c.bind_key(var, key),
        )
        .exposes(fixtures::Exposes::Literal(control))
        .write(dir, "hostile.ikanos.yaml")
}

fn start(file: &Path) -> Host {
    HostBuilder::new(file)
        .component(&components().hostile)
        .start(1)
}

/// `POST /call` of the hostile component: one call to `crm`'s `list-customers`.
fn call_crm(host: &Host, headers: &[(&str, &str)]) -> Resp {
    let url = format!("{}/call?ns=crm&op=list-customers", host.rest_url("hostile"));
    let r = send("POST", &url, headers, "");
    assert_eq!(r.status, 200, "{}", r.body);
    r
}

fn traces(host: &Host, query: &str) -> serde_json::Value {
    let r = get(&format!("{}/traces{query}", host.control_url()));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.body.contains(TOKEN), "{}", r.body);
    r.json()
}

fn trace(host: &Host, id: &str) -> serde_json::Value {
    let r = get(&format!("{}/traces/{id}", host.control_url()));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.body.contains(TOKEN), "{}", r.body);
    r.json()
}

/// The span named `name` of a `/traces/{id}` answer.
fn span<'a>(t: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    t["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no span {name} in {t}"))
}

/// `(trace id, parent id)` of the `traceparent` an upstream request carried.
fn traceparent_of(r: &upstream::Recorded) -> (String, String) {
    let tp = r.header("traceparent").expect("a traceparent");
    let parts: Vec<&str> = tp.split('-').collect();
    (parts[1].to_string(), parts[2].to_string())
}

/// With sampling 1.0 every request is a trace in `/traces` (most recent first, with
/// upstream's fields), `/traces/{id}` has its span tree with the caller's span as the
/// root's parent and the consumed call's span as the upstream's parent; the filters,
/// the 404 and the buffer's bound hold.
#[test]
fn every_request_is_kept_for_traces_at_sampling_one() {
    let crm = crm_upstream();
    let dir = tempfile::tempdir().unwrap();
    let file = capability(
        dir.path(),
        &crm.base(),
        "        traces:\n          sampling: 1.0\n          local:\n            buffer-size: 10\n",
        &[],
    );
    let host = start(&file);
    let base = host.rest_url("hostile");
    assert_eq!(get(&format!("{base}/healthy")).status, 200);
    let traceparent = format!("00-{TRACE}-{CALLER}-01");
    call_crm(&host, &[("traceparent", &traceparent)]);
    assert_eq!(get(&format!("{base}/trap")).status, 500);

    let list = traces(&host, "");
    assert_eq!(list["bufferSize"], 10);
    assert_eq!(list["bufferUsed"], 3);
    let all = list["traces"].as_array().unwrap();
    assert_eq!(all.len(), 3, "{list}");
    // Most recent first: the trap, the call, the health check.
    assert_eq!(all[0]["status"], "ERROR");
    assert_eq!(all[1]["traceId"], TRACE);
    assert_eq!(all[1]["spanCount"], 2);
    assert_eq!(all[2]["status"], "OK");
    for t in all {
        assert_eq!(t["operation"], "request");
        assert_eq!(t["traceId"].as_str().unwrap().len(), 32);
        assert!(t["durationMs"].is_u64() && t["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    let t = trace(&host, TRACE);
    assert_eq!(t["traceId"], TRACE);
    let request = span(&t, "request");
    let call = span(&t, "consumed_call");
    assert_eq!(request["kind"], "SERVER");
    assert_eq!(
        request["parentSpanId"], CALLER,
        "the caller's span is the root's parent"
    );
    assert_eq!(call["kind"], "CLIENT");
    assert_eq!(call["parentSpanId"], request["spanId"]);
    assert_eq!(call["status"], "OK");
    let (upstream_trace, upstream_parent) = traceparent_of(&crm.requests()[0]);
    assert_eq!(upstream_trace, TRACE);
    assert_eq!(upstream_parent, call["spanId"].as_str().unwrap());

    assert_eq!(
        traces(&host, "?status=error")["traces"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        traces(&host, "?operation=req")["traces"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        traces(&host, "?operation=nope")["traces"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let unknown = get(&format!(
        "{}/traces/{}",
        host.control_url(),
        "0".repeat(31) + "1"
    ));
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.json()["error"],
        format!("Trace not found: {}1", "0".repeat(31))
    );

    // Past `buffer-size`, the oldest go: the call's trace is gone, 10 remain.
    for _ in 0..10 {
        assert_eq!(get(&format!("{base}/healthy")).status, 200);
    }
    let list = traces(&host, "");
    assert_eq!(list["bufferUsed"], 10);
    assert_eq!(list["traces"].as_array().unwrap().len(), 10);
    assert_eq!(
        get(&format!("{}/traces/{TRACE}", host.control_url())).status,
        404
    );
}

/// With sampling 0.0 no new trace is kept, yet the trace context still reaches the
/// upstream, and a caller that sampled its trace is followed (parent-based sampling).
#[test]
fn sampling_zero_keeps_no_new_trace_and_follows_a_sampled_caller() {
    let crm = crm_upstream();
    let dir = tempfile::tempdir().unwrap();
    let file = capability(
        dir.path(),
        &crm.base(),
        "        traces:\n          sampling: 0\n",
        &[],
    );
    let host = start(&file);
    let base = host.rest_url("hostile");
    for _ in 0..5 {
        assert_eq!(get(&format!("{base}/healthy")).status, 200);
    }
    call_crm(&host, &[]);
    let list = traces(&host, "");
    assert_eq!(list["traces"].as_array().unwrap().len(), 0, "{list}");
    assert_eq!(
        (list["bufferSize"].as_u64(), list["bufferUsed"].as_u64()),
        (Some(100), Some(0))
    );
    let unsampled = crm.requests()[0]
        .header("traceparent")
        .expect("propagated")
        .to_string();
    assert!(unsampled.ends_with("-00"), "not sampled: {unsampled}");

    call_crm(
        &host,
        &[("traceparent", &format!("00-{TRACE}-{CALLER}-01"))],
    );
    let list = traces(&host, "");
    assert_eq!(list["traces"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["traces"][0]["traceId"], TRACE);
}

/// `propagation: b3`: the caller's B3 context (multi headers, or the single `b3`
/// header) is continued, and the upstream gets `X-B3-*` headers naming the consumed
/// call's span, no `traceparent`; a W3C `traceparent` alone starts a new trace.
#[test]
fn b3_is_continued_inbound_and_sent_outbound() {
    let crm = crm_upstream();
    let dir = tempfile::tempdir().unwrap();
    let file = capability(
        dir.path(),
        &crm.base(),
        "        traces:\n          propagation: b3\n",
        &[],
    );
    let host = start(&file);
    let single = format!("{TRACE}-{CALLER}-1");
    let inbound: [&[(&str, &str)]; 2] = [
        &[
            ("X-B3-TraceId", TRACE),
            ("X-B3-SpanId", CALLER),
            ("X-B3-Sampled", "1"),
        ],
        &[("b3", &single)],
    ];
    for (i, headers) in inbound.into_iter().enumerate() {
        call_crm(&host, headers);
        let seen = &crm.requests()[i];
        assert_eq!(seen.header("x-b3-traceid"), Some(TRACE), "{seen:?}");
        assert_eq!(seen.header("x-b3-sampled"), Some("1"));
        assert_eq!(seen.header("traceparent"), None);
        let t = trace(&host, TRACE);
        assert_eq!(span(&t, "request")["parentSpanId"], CALLER);
        assert_eq!(
            seen.header("x-b3-spanid"),
            span(&t, "consumed_call")["spanId"].as_str()
        );
    }
    call_crm(
        &host,
        &[("traceparent", &format!("00-{TRACE}-{CALLER}-01"))],
    );
    let seen = &crm.requests()[2];
    let fresh = seen.header("x-b3-traceid").expect("a b3 trace");
    assert_ne!(fresh, TRACE, "a W3C header is not read under b3");
    assert_eq!(fresh.len(), 32);
}

/// `enabled: false` serves neither `/metrics` nor `/traces` and passes no trace
/// context on (upstream's no-op telemetry); `metrics.local` and `traces.local` turn
/// one endpoint each off; `OTEL_SDK_DISABLED=true` leaves `/traces` answering 503.
#[test]
fn the_switches_turn_endpoints_and_propagation_off() {
    let crm = crm_upstream();
    let cases = [
        ("        enabled: false\n", 404, 404, false),
        (
            "        metrics:\n          local:\n            enabled: false\n",
            404,
            200,
            true,
        ),
        (
            "        traces:\n          local:\n            enabled: false\n",
            200,
            404,
            true,
        ),
    ];
    for (i, (block, metrics, traces_status, propagated)) in cases.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let file = capability(dir.path(), &crm.base(), block, &[]);
        let host = start(&file);
        let control = host.control_url();
        assert_eq!(
            get(&format!("{control}/metrics")).status,
            metrics,
            "{block}"
        );
        let r = get(&format!("{control}/traces"));
        assert_eq!(r.status, traces_status, "{block}: {}", r.body);
        if traces_status == 404 {
            assert!(r.body.contains("enabled: false"), "{}", r.body);
        }
        assert_eq!(get(&format!("{control}/health/ready")).status, 200);
        call_crm(
            &host,
            &[("traceparent", &format!("00-{TRACE}-{CALLER}-01"))],
        );
        let seen = crm.requests()[i].header("traceparent").map(str::to_string);
        assert_eq!(seen.is_some(), propagated, "{block}: {seen:?}");
    }
    // `OTEL_SDK_DISABLED=true`, the standard switch, wins over the file: /traces says so.
    let dir = tempfile::tempdir().unwrap();
    let file = capability(dir.path(), &crm.base(), "        enabled: true\n", &[]);
    let host = HostBuilder::new(&file)
        .component(&components().hostile)
        .env("OTEL_SDK_DISABLED", "true")
        .start(1);
    let r = get(&format!("{}/traces", host.control_url()));
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("OTEL_SDK_DISABLED"), "{}", r.body);
}

/// The file's endpoint, named through a bind, gets the spans over OTLP/HTTP
/// (protobuf, decoded by the receiver with OpenTelemetry's definitions), with the kinds
/// and upstream's service name, and no secret in any attribute; `/traces` keeps them
/// too. The environment's endpoint wins over the file's, said in a warning.
#[test]
fn spans_go_to_the_files_otlp_endpoint() {
    let crm = crm_upstream();
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let file = capability(
        dir.path(),
        &crm.base(),
        "        exporters:\n          otlp:\n            endpoint: \"{{secrets.OTLP_URL}}\"\n",
        &[("OTLP_URL", "otlp-url", collector.endpoint())],
    );
    let host = HostBuilder::new(&file)
        .component(&components().hostile)
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .start(1);
    call_crm(
        &host,
        &[("traceparent", &format!("00-{TRACE}-{CALLER}-01"))],
    );
    let spans = collector.wait_for_spans(TRACE, &["request", "consumed_call"]);
    let (request, call) = (&spans[0], &spans[1]);
    assert_eq!((request.kind, call.kind), (2, 3), "server, then client");
    assert_eq!(request.parent_span_id, CALLER);
    assert_eq!(call.parent_span_id, request.span_id);
    assert_eq!(request.service, "ikanos-Control");
    assert!(
        request
            .attributes
            .contains(&"http.response.status_code=200".to_string()),
        "{request:?}"
    );
    for s in collector.spans() {
        assert!(!s.attributes.iter().any(|a| a.contains(TOKEN)), "{s:?}");
    }
    assert!(collector.exports().iter().all(|e| e.path == "/v1/traces"
        && e.content_type == "application/x-protobuf"
        && e.error.is_none()));
    assert_eq!(traces(&host, "")["traces"][0]["traceId"], TRACE);
    drop(host);

    let other = Collector::start();
    let host = HostBuilder::new(&file)
        .component(&components().hostile)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &other.endpoint())
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .start(1);
    let warning = host.wait_for_log(Duration::from_secs(10), |l| {
        l.contains("is overridden by OTEL_EXPORTER_OTLP_ENDPOINT")
    });
    assert!(
        warning.contains(&format!("{}:", file.display())) && !warning.contains("otlp-url"),
        "{warning}"
    );
    call_crm(
        &host,
        &[("traceparent", &format!("00-{TRACE}-{CALLER}-01"))],
    );
    other.wait_for_spans(TRACE, &["request", "consumed_call"]);
}

/// An `https` collector whose certificate a private CA signed: trusted through
/// `OTEL_EXPORTER_OTLP_CERTIFICATE`; a CA file that cannot be read, or an endpoint
/// that renders to no http(s) URL, stops start-up naming the variable or the key's
/// position (never the bind's value).
#[test]
fn spans_go_to_an_https_collector_trusted_through_a_private_ca() {
    let crm = crm_upstream();
    let ca = crate::support::tls::PrivateCa::server("localhost", &[b"http/1.1"]);
    let collector = Collector::start_tls(ca.acceptor.clone());
    let dir = tempfile::tempdir().unwrap();
    let ca_file = write(dir.path(), "collector-ca.pem", &ca.ca_pem);
    let file = capability(
        dir.path(),
        &crm.base(),
        "        exporters:\n          otlp:\n            endpoint: \"{{secrets.OTLP_URL}}\"\n",
        &[("OTLP_URL", "otlp-url", collector.endpoint())],
    );
    assert!(collector.endpoint().starts_with("https://localhost:"));
    let host = HostBuilder::new(&file)
        .component(&components().hostile)
        .env(
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            &ca_file.display().to_string(),
        )
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .start(1);
    call_crm(
        &host,
        &[("traceparent", &format!("00-{TRACE}-{CALLER}-01"))],
    );
    collector.wait_for_spans(TRACE, &["request", "consumed_call"]);
    drop(host);

    let (code, out) = HostBuilder::new(&file)
        .component(&components().hostile)
        .env("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem")
        .run_to_exit();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("OTEL_EXPORTER_OTLP_CERTIFICATE: cannot read CA bundle /nonexistent/ca.pem"),
        "{out}"
    );

    let secret_url = "ftp://s3cr3t.example";
    let dir = tempfile::tempdir().unwrap();
    let file = capability(
        dir.path(),
        &crm.base(),
        "        exporters:\n          otlp:\n            endpoint: \"{{secrets.OTLP_URL}}\"\n",
        &[("OTLP_URL", "otlp-url", secret_url.into())],
    );
    let (code, out) = HostBuilder::new(&file)
        .component(&components().hostile)
        .run_to_exit();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("{}:", file.display()))
            && out.contains(
                ": observability.exporters.otlp.endpoint is not an http:// or https:// URL"
            ),
        "{out}"
    );
    assert!(!out.contains("s3cr3t"), "{out}");
}
