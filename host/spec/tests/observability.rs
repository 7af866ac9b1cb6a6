//! A control entry's `observability` block: upstream's keys and defaults decoded, and
//! every value this host cannot honour refused at its `file:line:col`.

mod common;

use std::path::Path;

use ikanos_spec::load_str;
use ikanos_spec::model::{Exposes, Observability, Propagation, TemplatePart};

const FILE: &str = "obs.ikanos.yaml";

/// A capability with only a control entry; `block` (at 8 spaces) is its
/// `observability`, which starts on line 15.
fn with_block(block: &str) -> String {
    format!(
        r#"ikanos: "1.0.0-beta5"
info:
  display: Obs
  description: Observability settings
binds:
  - namespace: secrets
    location: "file:///./secrets.yaml"
    keys:
      OTLP_URL: otlp-url
capability:
  exposes:
    - type: control
      port: 9199
      observability:
{block}"#
    )
}

fn observability(text: &str) -> (Observability, Vec<String>) {
    let l = load_str(Path::new(FILE), text).expect("loads");
    let Exposes::Control(c) = &l.capability.exposes[0] else {
        panic!("a control entry")
    };
    let warnings = l
        .warnings
        .iter()
        .map(|w| format!("{}: {}", w.pos, w.message))
        .collect();
    (c.observability.clone(), warnings)
}

fn errors(block: &str) -> String {
    common::errors(FILE, &with_block(block))
}

#[test]
fn upstreams_keys_are_decoded() {
    let (o, warnings) = observability(&with_block(
        "        enabled: true
        metrics:
          local:
            enabled: false
        traces:
          sampling: 0.25
          propagation: b3
          local:
            enabled: true
            buffer-size: 50
        exporters:
          otlp:
            endpoint: \"{{secrets.OTLP_URL}}\"
",
    ));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(o.enabled && !o.metrics_local && o.traces_local);
    assert!(!o.serves_metrics() && o.serves_traces());
    assert_eq!(o.sampling_ratio(), 0.25);
    assert_eq!(o.propagation, Propagation::B3);
    assert_eq!(o.buffer_size, 50);
    let endpoint = o.otlp_endpoint.expect("an endpoint");
    assert_eq!(
        endpoint.parts,
        vec![TemplatePart::Ref {
            namespace: Some("secrets".into()),
            name: "OTLP_URL".into()
        }]
    );
    assert_eq!(endpoint.raw.pos.line, 27);
}

/// Upstream's defaults: no block, or an empty one, is everything on, sampling 1.0, W3C,
/// 100 traces, no exporter; a whole number is a ratio too.
#[test]
fn defaults_are_upstreams() {
    let none = common::edit(&with_block(""), "      observability:\n", "");
    for text in [none, with_block("        traces:\n          sampling: 1\n")] {
        let (o, warnings) = observability(&text);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(o.enabled && o.serves_metrics() && o.serves_traces());
        assert_eq!(o.sampling_ratio(), 1.0);
        assert_eq!(o.propagation, Propagation::W3c);
        assert_eq!(o.buffer_size, 100);
        assert!(o.otlp_endpoint.is_none());
    }
    let (o, _) = observability(&with_block("        enabled: false\n"));
    assert!(!o.serves_metrics() && !o.serves_traces());
    assert_eq!(o.pos.map(|p| p.line), Some(15));
}

#[test]
fn out_of_range_and_mistyped_values_are_refused_at_their_position() {
    assert_eq!(
        errors("        traces:\n          sampling: 1.5\n"),
        "obs.ikanos.yaml:16:21: capability.exposes[0].observability.traces.sampling: expected a number from 0 to 1 (the share of traces recorded: 1.0 all, 0.1 one in ten), found 1.5"
    );
    assert_eq!(
        errors("        traces:\n          sampling: \"half\"\n"),
        "obs.ikanos.yaml:16:21: capability.exposes[0].observability.traces.sampling: expected a number from 0 to 1 (the share of traces recorded: 1.0 all, 0.1 one in ten), found half"
    );
    assert_eq!(
        errors("        traces:\n          propagation: jaeger\n"),
        "obs.ikanos.yaml:16:24: capability.exposes[0].observability.traces.propagation: 'jaeger' is not one of w3c, b3"
    );
    for (size, found) in [
        ("5", "5"),
        ("20000", "20000"),
        ("50.5", "50.5"),
        ("lots", "lots"),
    ] {
        assert_eq!(
            errors(&format!("        traces:\n          local:\n            buffer-size: {size}\n")),
            format!("obs.ikanos.yaml:17:26: capability.exposes[0].observability.traces.local.buffer-size: expected a whole number of traces from 10 to 10000, found {found}")
        );
    }
    assert_eq!(
        errors("        enabled: \"no\"\n"),
        "obs.ikanos.yaml:15:18: capability.exposes[0].observability.enabled: expected true or false, found a string"
    );
    assert_eq!(
        errors("        traces: true\n"),
        "obs.ikanos.yaml:15:17: capability.exposes[0].observability.traces: expected a mapping, found a boolean"
    );
}

/// The schema allows no other key at any level (`unevaluatedProperties: false`).
#[test]
fn unknown_keys_are_refused_at_every_level() {
    let out = errors(
        "        logs: {}
        metrics:
          local:
            enable: true
        traces:
          sampler: 0.5
          local:
            size: 10
        exporters:
          zipkin: {}
          otlp:
            endpoint: \"http://127.0.0.1:4318\"
            headers: {}
",
    );
    for line in [
        "obs.ikanos.yaml:15:9: unknown key 'logs' in capability.exposes[0].observability",
        "obs.ikanos.yaml:18:13: unknown key 'enable' in capability.exposes[0].observability.metrics.local (did you mean 'enabled'?)",
        "obs.ikanos.yaml:20:11: unknown key 'sampler' in capability.exposes[0].observability.traces",
        "obs.ikanos.yaml:22:13: unknown key 'size' in capability.exposes[0].observability.traces.local",
        "obs.ikanos.yaml:24:11: unknown key 'zipkin' in capability.exposes[0].observability.exporters",
        "obs.ikanos.yaml:27:13: unknown key 'headers' in capability.exposes[0].observability.exporters.otlp",
    ] {
        assert!(out.lines().any(|l| l == line), "missing `{line}` in:\n{out}");
    }
    assert_eq!(out.lines().count(), 6, "{out}");
}

#[test]
fn an_endpoint_must_be_a_collectors_http_url() {
    assert_eq!(
        errors("        exporters:\n          otlp: {}\n"),
        "obs.ikanos.yaml:16:17: missing required key 'endpoint' in capability.exposes[0].observability.exporters.otlp"
    );
    for (endpoint, why) in [
        ("grpc://collector:4317", "is not an http:// or https:// URL: this host exports OTLP over HTTP"),
        ("collector", "is not a URL (expected http://HOST:PORT or https://HOST:PORT)"),
        ("https://ops:pw@collector:4318", "carries credentials: put the collector's token in OTEL_EXPORTER_OTLP_HEADERS instead, so it stays out of files and logs"),
    ] {
        assert_eq!(
            errors(&format!("        exporters:\n          otlp:\n            endpoint: \"{endpoint}\"\n")),
            format!("obs.ikanos.yaml:17:23: capability.exposes[0].observability.exporters.otlp.endpoint: '{endpoint}' {why}")
        );
    }
    // A bind the file does not declare is found before anything runs.
    let out =
        errors("        exporters:\n          otlp:\n            endpoint: \"{{secrets.NOPE}}\"\n");
    assert!(
        out.starts_with("obs.ikanos.yaml:17:23: capability.exposes[0].observability.exporters.otlp.endpoint: unresolvable reference '{{secrets.NOPE}}'"),
        "{out}"
    );
}

/// OTLP's gRPC port is a likely mistake with a host that speaks OTLP over HTTP: said,
/// not refused (upstream's own sample uses it).
#[test]
fn the_grpc_port_is_warned_about() {
    let (o, warnings) = observability(&with_block(
        "        exporters:\n          otlp:\n            endpoint: \"http://collector.local:4317\"\n",
    ));
    assert!(o.otlp_endpoint.is_some());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("17:23: capability.exposes[0].observability.exporters.otlp.endpoint: port 4317 is where collectors take OTLP over gRPC"),
        "{warnings:?}"
    );
}
