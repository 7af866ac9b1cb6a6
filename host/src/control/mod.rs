//! The control port: liveness, readiness, Prometheus metrics, status and traces, on a
//! listener of its own that is always up while the host runs.
//!
//! Owns: the JSON shapes of `/health/*` and `/status` (served when the file has no
//! control entry, or its `management.info` is true), which of `/metrics` and `/traces`
//! the control entry's `observability` block lets through (`traces`: the block's
//! settings and the `/traces` endpoints), the readiness rule (ready = every consumed
//! namespace routable, every served adapter listening, not draining), and enforcing
//! the file's `type: control` `authentication` on every endpoint (the same inbound
//! check as the adapters'), and `/scripting` (GET the script governance, PUT to change
//! it; served when the control entry declares `management.scripting`, as upstream).
//! Must not touch: capability traffic. Nothing here reveals a
//! secret: it reports names, addresses, states and reasons only.

pub mod traces;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::json;

use crate::capability::LoadedCapability;
use crate::consumes::NamespaceStatus;
use crate::exposes::auth::InboundAuth;
use crate::exposes::{inbound, AdapterStatus};
use crate::runtime::Limits;
use crate::server::{self, Request, Response};
use crate::telemetry::Metrics;
use ikanos_spec::model::{Capability, Exposes, ExposesControl};
use traces::LocalTraces;

pub struct HostState {
    pub capability: Arc<LoadedCapability>,
    /// The file's control `authentication`; `InboundAuth::None` when it declares none.
    auth: InboundAuth,
    pub adapters: Vec<AdapterStatus>,
    pub metrics: Arc<Metrics>,
    /// What `/traces` answers (see [`traces::apply`]).
    traces: LocalTraces,
    pub started: Instant,
    draining: AtomicBool,
}

impl HostState {
    /// Fails when the file's control entry declares an authentication scheme this
    /// build cannot check: the control port is never served unprotected because its
    /// protection was not understood.
    pub fn new(
        capability: Arc<LoadedCapability>,
        adapters: Vec<AdapterStatus>,
        metrics: Arc<Metrics>,
        traces: LocalTraces,
    ) -> Result<Arc<Self>, String> {
        let auth = match entry(&capability.model) {
            None => InboundAuth::None,
            Some(control) => {
                InboundAuth::resolve(control.authentication.as_ref(), &capability.secrets).map_err(
                    |e| {
                        format!(
                            "{}:{}: control adapter: {e}",
                            capability.model.file.display(),
                            control.pos
                        )
                    },
                )?
            }
        };
        Ok(Arc::new(HostState {
            auth,
            capability,
            adapters,
            metrics,
            traces,
            started: Instant::now(),
            draining: AtomicBool::new(false),
        }))
    }

    /// From now on readiness answers 503, so that balancers stop sending traffic.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    fn readiness(&self) -> (bool, serde_json::Value) {
        let consumes = self.capability.outbound.status();
        let draining = self.draining.load(Ordering::SeqCst);
        let ready = ready(&consumes, &self.adapters, draining);
        let body = json!({
            "status": if ready { "UP" } else { "DEGRADED" },
            "capability": self.capability.name,
            "draining": draining,
            "adapters": self.adapters,
            "consumes": consumes,
        });
        (ready, body)
    }

    fn status(&self) -> serde_json::Value {
        let (ready, _) = self.readiness();
        let model = &self.capability.model;
        let mut status = json!({
            "capability": {
                "name": self.capability.name,
                "file": model.file.display().to_string(),
                "ikanos": model.version.value,
                "display": model.info.as_ref().and_then(|i| i.display.clone()),
                "state": if ready { "ready" } else { "degraded" },
            },
            "host": { "version": env!("CARGO_PKG_VERSION"), "uptimeSeconds": self.started.elapsed().as_secs() },
            "adapters": self.adapters,
            "consumes": self.capability.outbound.status(),
        });
        add_sandbox_status(&mut status, &self.capability);
        status
    }

    /// `/status` follows the file's control entry (`management.info`, default false,
    /// as upstream); without a control entry the host's own control port serves it.
    fn serves_status(&self) -> bool {
        entry(&self.capability.model).is_none_or(|c| c.management_info)
    }

    /// `/metrics` follows the control entry's `observability` (`enabled` and
    /// `metrics.local.enabled`, default true, as upstream).
    fn serves_metrics(&self) -> bool {
        traces::serves_metrics(entry(&self.capability.model).map(|c| &c.observability))
    }

    /// The endpoints this control port answers, for a 404's hint.
    fn endpoints(&self) -> Vec<&'static str> {
        let mut e = vec!["/health/live", "/health/ready"];
        if self.serves_metrics() {
            e.push("/metrics");
        }
        if self.serves_status() {
            e.push("/status");
        }
        if !matches!(self.traces, LocalTraces::NotServed(_)) {
            e.extend(["/traces", "/traces/{traceId}"]);
        }
        if self.capability.scripting.declared() {
            e.push("/scripting");
        }
        e
    }

    /// `GET`/`PUT /scripting` (upstream `ScriptingResource`).
    async fn scripting(&self, req: Request) -> Response {
        let governance = &self.capability.scripting;
        if !governance.declared() {
            return server::json(
                StatusCode::NOT_FOUND,
                &json!({ "error": "Scripting is not configured" }),
            );
        }
        if req.method() == Method::PUT {
            use http_body_util::BodyExt;
            let body = match http_body_util::Limited::new(req.into_body(), 64 << 10)
                .collect()
                .await
            {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    return server::json(
                        StatusCode::BAD_REQUEST,
                        &json!({ "error": "the body could not be read (at most 64 KiB)" }),
                    )
                }
            };
            let update = match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(v) => v,
                Err(e) => {
                    return server::json(
                        StatusCode::BAD_REQUEST,
                        &json!({ "error": format!("the body is not JSON: {e}") }),
                    )
                }
            };
            if let Err(why) = governance.update(&update) {
                return server::json(StatusCode::BAD_REQUEST, &json!({ "error": why }));
            }
            tracing::info!(capability = %self.capability.name, update = %update, "scripting governance changed");
        }
        server::json(StatusCode::OK, &governance.to_json())
    }

    pub fn into_handler(self: Arc<Self>) -> server::Handler {
        Arc::new(move |req| {
            let state = self.clone();
            Box::pin(async move { state.handle(req).await })
        })
    }

    async fn handle(&self, req: Request) -> Response {
        let json_error = |status: StatusCode, message: &str| {
            server::json(
                status,
                &json!({ "error": message, "status": status.as_u16() }),
            )
        };
        if let Err(refusal) = inbound::check_rebinding(&req) {
            return refusal.render(json_error);
        }
        let (parts, body) = req.into_parts();
        if let Err(refusal) = inbound::authenticate(&self.auth, &parts).await {
            return refusal.render(json_error);
        }
        let req = http::Request::from_parts(parts, body);
        if req.uri().path() == "/scripting"
            && matches!(*req.method(), Method::GET | Method::HEAD | Method::PUT)
        {
            return self.scripting(req).await;
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return server::json(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({ "error": "the control port only answers GET" }),
            );
        }
        let path = req.uri().path();
        match path {
            "/health/live" => server::json(StatusCode::OK, &json!({ "status": "UP" })),
            "/health/ready" => {
                let (ready, body) = self.readiness();
                let status = if ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                server::json(status, &body)
            }
            "/metrics" if self.serves_metrics() => metrics_response(&self.metrics),
            "/metrics" => server::json(
                StatusCode::NOT_FOUND,
                &json!({ "error": "no such control endpoint: /metrics (the capability's control entry turns it off: observability.enabled or observability.metrics.local.enabled is false)", "endpoints": self.endpoints() }),
            ),
            "/status" if self.serves_status() => server::json(StatusCode::OK, &self.status()),
            "/status" => server::json(
                StatusCode::NOT_FOUND,
                &json!({ "error": "no such control endpoint: /status (the capability's control entry serves it only with management.info: true)", "endpoints": self.endpoints() }),
            ),
            "/traces" => traces::respond(&self.traces, None, req.uri().query()),
            _ if path.starts_with("/traces/") && path.len() > "/traces/".len() => {
                traces::respond(&self.traces, Some(&path["/traces/".len()..]), None)
            }
            other => server::json(
                StatusCode::NOT_FOUND,
                &json!({ "error": format!("no such control endpoint: {other}"), "endpoints": self.endpoints() }),
            ),
        }
    }
}

/// The file's `type: control` entry, if it declares one: where `ikanos run` listens
/// for the control port and who may call it.
pub fn entry(model: &Capability) -> Option<&ExposesControl> {
    model.exposes.iter().find_map(|e| match e {
        Exposes::Control(c) => Some(c),
        Exposes::Rest(_) | Exposes::Mcp(_) | Exposes::Skill { .. } => None,
    })
}

/// The readiness rule of one capability, in `ikanos run` and `ikanos serve` alike:
/// every consumed namespace routable, every adapter served (or reported unsupported),
/// and the host not draining.
pub fn ready(consumes: &[NamespaceStatus], adapters: &[AdapterStatus], draining: bool) -> bool {
    !draining && consumes.iter().all(|c| c.ready) && adapters.iter().all(AdapterStatus::is_ready)
}

/// What `/status` shows of a capability's component and sandbox, in `ikanos run` and
/// each capability of `ikanos serve` alike: `component`, `instancesActive`, `limits`.
pub fn add_sandbox_status(status: &mut serde_json::Value, capability: &LoadedCapability) {
    let sandbox = capability.sandbox.as_ref();
    status["component"] = json!(capability.component);
    status["instancesActive"] = json!(sandbox.map(|s| s.active_instances()).unwrap_or(0));
    status["limits"] = json!(sandbox.map(|s| limits_json(s.limits())));
}

/// A capability's sandbox limits as `/status` shows them (`ikanos run` and `serve`).
fn limits_json(l: &Limits) -> serde_json::Value {
    json!({
        "memoryBytes": l.memory_bytes,
        "cpuTimeMs": l.cpu_time.as_millis() as u64,
        "requestTimeoutMs": l.request_timeout.as_millis() as u64,
        "maxOutboundCalls": l.max_outbound_calls,
        "maxConcurrency": l.max_concurrency,
        "maxRequestBody": l.max_request_body,
        "maxResponseBody": l.max_response_body,
    })
}

/// `/metrics`: the registry in the OpenMetrics text format (for `run` and `serve`).
pub fn metrics_response(metrics: &Metrics) -> Response {
    let mut resp = http::Response::new(Bytes::from(metrics.encode()).into());
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
    );
    resp
}
