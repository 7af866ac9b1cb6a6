//! What `ikanos run` does with the control entry's `observability` block, and the
//! `/traces` endpoints it serves from the local trace buffer.
//!
//! Owns: turning the block (its endpoint rendered with the capability's binds) into
//! the trace pipeline's settings; whether `/traces` is served (as upstream: with a
//! control entry whose `observability.enabled` and `traces.local.enabled` are not
//! false); and the JSON shapes of upstream's `TracesResource`: `GET /traces`
//! (`traces`, most recent first, `bufferSize`, `bufferUsed`; `?operation=` matches
//! part of the root span's name, `?status=` `OK` or `ERROR`) and `GET /traces/{id}`
//! (the trace with its spans, 404 when unknown). Must not touch: the pipeline's
//! internals. Nothing here shows more than ids, span names, kinds, durations,
//! statuses and times.

use std::sync::Arc;

use http::StatusCode;
use ikanos_spec::model::{Observability, Template};
use opentelemetry::trace::SpanId;
use serde_json::{json, Value};

use crate::capability::LoadedCapability;
use crate::server::{self, Response};
use crate::telemetry::buffer::{SpanSummary, Trace, TraceBuffer};
use crate::telemetry::otlp::Endpoint;
use crate::telemetry::traces::{self, TraceSettings};

/// What the control port answers at `/traces`.
#[derive(Debug, Clone)]
pub enum LocalTraces {
    /// 404: the file turns it off, or has no control entry; says which.
    NotServed(&'static str),
    /// 503: spans are not recorded (`OTEL_SDK_DISABLED=true`), as upstream answers
    /// while its OpenTelemetry SDK is inactive.
    Inactive,
    Buffer(Arc<TraceBuffer>),
}

/// The pipeline's settings for `capability`: its control entry's block, or the host's
/// defaults without one. Fails, with `file:line:col`, on an endpoint that does not
/// render (an unresolved bind) or is not a collector's http(s) URL once rendered.
pub fn settings(capability: &LoadedCapability) -> Result<TraceSettings, String> {
    let model = &capability.model;
    // Upstream's service name: `ikanos-` and the file's display name.
    let service_name = model
        .info
        .as_ref()
        .and_then(|i| i.display.as_deref())
        .map_or_else(|| "ikanos".to_string(), |d| format!("ikanos-{d}"));
    let Some(control) = super::entry(model) else {
        return Ok(TraceSettings {
            service_name,
            ..TraceSettings::host_defaults()
        });
    };
    let o = &control.observability;
    let otlp = match &o.otlp_endpoint {
        Some(t) => Some(endpoint(capability, t)?),
        None => None,
    };
    Ok(TraceSettings {
        enabled: o.enabled,
        sampling: o.sampling_ratio(),
        propagation: o.propagation,
        buffer: o.serves_traces().then_some(o.buffer_size),
        otlp,
        service_name,
    })
}

fn endpoint(capability: &LoadedCapability, t: &Template) -> Result<Endpoint, String> {
    let rendered = capability
        .secrets
        .render(t, &|_| None)
        .map_err(|e| format!("{e} in observability.exporters.otlp.endpoint"))?;
    let origin = format!(
        "{}:{}: observability.exporters.otlp.endpoint",
        t.raw.file.display(),
        t.raw.pos
    );
    Endpoint::from_file(rendered.expose(), origin).map_err(|e| e.to_string())
}

/// Apply the capability's settings to the process's trace pipeline (before anything
/// is served) and say what `/traces` answers.
pub async fn apply(capability: &LoadedCapability) -> Result<LocalTraces, String> {
    let settings = settings(capability)?;
    // Building an exporter and flushing the one it replaces block.
    let applied = tokio::task::spawn_blocking(move || traces::apply(&settings))
        .await
        .map_err(|e| format!("setting up traces panicked: {e}"))?
        .map_err(|e| e.to_string())?;
    let observability = super::entry(&capability.model).map(|c| &c.observability);
    Ok(match (observability, applied.buffer) {
        (None, _) => LocalTraces::NotServed(
            "the capability file has no `type: control` entry; add one to keep traces for /traces",
        ),
        (Some(o), _) if !o.enabled => {
            LocalTraces::NotServed("the control entry sets observability.enabled: false")
        }
        (Some(o), _) if !o.serves_traces() => LocalTraces::NotServed(
            "the control entry sets observability.traces.local.enabled: false",
        ),
        (Some(_), Some(buffer)) => LocalTraces::Buffer(buffer),
        (Some(_), None) => LocalTraces::Inactive,
    })
}

/// Whether the control entry (None: the file has none) lets `/metrics` be served.
pub fn serves_metrics(observability: Option<&Observability>) -> bool {
    observability.is_none_or(Observability::serves_metrics)
}

/// `GET /traces` or `GET /traces/{id}` (`id` Some).
pub fn respond(local: &LocalTraces, id: Option<&str>, query: Option<&str>) -> Response {
    let buffer = match local {
        LocalTraces::Buffer(b) => b,
        LocalTraces::Inactive => {
            return server::json(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({ "error": "tracing is off: OTEL_SDK_DISABLED=true turns span recording off", "status": 503 }),
            )
        }
        LocalTraces::NotServed(why) => {
            return server::json(
                StatusCode::NOT_FOUND,
                &json!({ "error": format!("no such control endpoint: /traces ({why})"), "status": 404 }),
            )
        }
    };
    match id {
        None => server::json(StatusCode::OK, &list(buffer, query)),
        Some(id) => match buffer.find(id) {
            Some(trace) => server::json(StatusCode::OK, &detail(&trace)),
            None => server::json(
                StatusCode::NOT_FOUND,
                &json!({ "error": format!("Trace not found: {id}") }),
            ),
        },
    }
}

fn list(buffer: &TraceBuffer, query: Option<&str>) -> Value {
    let mut operation = None;
    let mut status = None;
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*k {
            "operation" => operation = Some(v.into_owned()),
            "status" => status = Some(v.into_owned()),
            _ => {}
        }
    }
    let traces: Vec<Value> = buffer
        .recent()
        .iter()
        .filter(|t| {
            operation
                .as_ref()
                .is_none_or(|o| t.root.name.contains(o.as_str()))
        })
        .filter(|t| {
            status
                .as_ref()
                .is_none_or(|s| t.root.status.eq_ignore_ascii_case(s))
        })
        .map(|t| {
            json!({
                "traceId": t.trace_id.to_string(),
                "operation": t.root.name,
                "durationMs": millis(&t.root),
                "status": t.root.status,
                "spanCount": t.spans.len(),
                "timestamp": timestamp(&t.root),
            })
        })
        .collect();
    json!({
        "traces": traces,
        "bufferSize": buffer.capacity(),
        "bufferUsed": buffer.len(),
    })
}

fn detail(t: &Trace) -> Value {
    let spans: Vec<Value> = t
        .spans
        .iter()
        .map(|s| {
            let mut span = json!({
                "spanId": s.span_id.to_string(),
                "name": s.name,
                "kind": s.kind,
                "durationMs": millis(s),
                "status": s.status,
            });
            if s.parent_span_id != SpanId::INVALID {
                span["parentSpanId"] = json!(s.parent_span_id.to_string());
            }
            span
        })
        .collect();
    let mut v = json!({
        "traceId": t.trace_id.to_string(),
        "operation": t.root.name,
        "durationMs": millis(&t.root),
        "status": t.root.status,
        "timestamp": timestamp(&t.root),
        "spans": spans,
    });
    // Not in upstream's shape: said only when the per-trace bound cut spans off.
    if t.dropped_spans > 0 {
        v["droppedSpans"] = json!(t.dropped_spans);
    }
    v
}

/// Whole milliseconds, as upstream's `durationMs`.
fn millis(s: &SpanSummary) -> u64 {
    u64::try_from(s.duration.as_millis()).unwrap_or(u64::MAX)
}

/// ISO 8601 in UTC, as upstream's `Instant` prints.
fn timestamp(s: &SpanSummary) -> String {
    humantime::format_rfc3339_millis(s.start).to_string()
}
