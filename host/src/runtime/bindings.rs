//! Host side of the WIT contract in `wit/capability.wit`.
//!
//! Owns: the generated bindings and the two imports a component may call (`consumes`,
//! `log`). Must not touch: HTTP details (delegated to `consumes::Outbound`) or secrets
//! (the component only ever names operations and passes its own parameters).

use tracing::Level;

use super::GuestState;
use crate::consumes::{CallError, OutboundCall};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "capability",
    imports: { default: async },
    exports: { default: async },
});

/// World `engine` adds the `definition` import for the host's declarative engine; its
/// other interfaces are the ones above.
pub mod engine {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "engine",
        imports: { default: async },
        exports: { default: async },
        with: {
            "ikanos:capability/consumes": super::ikanos::capability::consumes,
            "ikanos:capability/log": super::ikanos::capability::log,
        },
    });
}

use self::engine::ikanos::capability::definition as wit_definition;
use self::engine::ikanos::capability::scripting as wit_scripting;
use self::ikanos::capability::consumes as wit_consumes;
use self::ikanos::capability::log as wit_log;
pub use exports::ikanos::capability::handler::{HandlerError, InboundRequest, InboundResponse};

impl wit_consumes::Host for GuestState {
    async fn call(
        &mut self,
        request: wit_consumes::OutboundRequest,
    ) -> Result<wit_consumes::OutboundResponse, wit_consumes::CallError> {
        let egress = &self.http.egress;
        egress
            .take_call()
            .map_err(wit_consumes::CallError::Denied)?;
        let call = OutboundCall {
            namespace: &request.namespace,
            operation: &request.operation,
            params: &request.params,
            body: request.body,
            request_id: &egress.request_id,
            traceparent: egress.traceparent.as_deref(),
        };
        let started = std::time::Instant::now();
        let outcome = egress.outbound.call(call).await;
        if let Some(observer) = &egress.observer {
            observer.report(super::Progress::Call {
                operation: format!("{}.{}", request.namespace, request.operation),
                status: outcome.as_ref().ok().map(|r| r.status),
                elapsed: started.elapsed(),
            });
        }
        match outcome {
            Ok(resp) => Ok(wit_consumes::OutboundResponse {
                status: resp.status,
                headers: resp.headers,
                body: resp.body,
            }),
            Err(e) => Err(to_wit_error(e)),
        }
    }
}

fn to_wit_error(e: CallError) -> wit_consumes::CallError {
    use wit_consumes::CallError as W;
    let reason = e.to_string();
    match e {
        CallError::UnknownOperation { .. } => W::UnknownOperation(reason),
        CallError::InvalidInput { .. } => W::InvalidInput(reason),
        CallError::TunnelUnavailable { .. } => W::TunnelUnavailable(reason),
        CallError::Timeout { .. } => W::Timeout(reason),
        CallError::Transport { .. } => W::Transport(reason),
        CallError::Denied { .. } | CallError::Undeclared { .. } => W::Denied(reason),
    }
}

impl wit_definition::Host for GuestState {
    async fn get(&mut self) -> String {
        // Only the engine's instances get a definition; a capability component that
        // imports this interface learns nothing.
        self.definition.as_deref().unwrap_or("{}").to_owned()
    }

    async fn record_step(&mut self, step: String, kind: String, nanos: u64, ok: bool) {
        let seconds = nanos as f64 / 1e9;
        let outcome = if ok { "ok" } else { "error" };
        // One span per step, under the request's span; the engine measured the step, so
        // its duration is an attribute (the span itself marks when the host heard of it).
        if let Some(observer) = &self.http.egress.observer {
            observer.report(super::Progress::Step {
                step: step.clone(),
                ok,
            });
        }
        let span = tracing::info_span!("step", capability = &*self.capability, request_id = &*self.http.egress.request_id, step = %step, kind = %kind, duration_s = seconds, outcome);
        span.in_scope(|| tracing::debug!(target: "step", "step finished"));
        // Step names come from the file: bounded by it, so fine as a label.
        self.metrics
            .step_duration
            .get_or_create(&crate::telemetry::StepLabels {
                capability: self.capability.to_string(),
                step,
                kind,
                outcome,
            })
            .observe(seconds);
    }
}

impl wit_scripting::Host for GuestState {
    async fn run(
        &mut self,
        step: String,
        language: String,
        sources: Vec<String>,
        context: String,
    ) -> Result<Option<String>, wit_scripting::ScriptError> {
        let count = |state: &GuestState, outcome: &'static str| {
            state
                .metrics
                .script_runs
                .get_or_create(&crate::telemetry::ScriptLabels {
                    capability: state.capability.to_string(),
                    step: step.clone(),
                    language: language.clone(),
                    outcome,
                })
                .inc();
        };
        // The capability's load refused any other language; this guards the import
        // against an engine instance asking for one anyway.
        let scripts = match (&self.scripts, language.as_str()) {
            (Some(scripts), super::scripting::JAVASCRIPT) => scripts.clone(),
            _ => {
                count(self, "refused");
                return Err(wit_scripting::ScriptError::Refused(format!(
                    "language '{language}' is not run by this host (it runs javascript)"
                )));
            }
        };
        // Governance may have changed since load (`PUT /scripting`).
        let governance = &scripts.governance;
        if let Err(why) = governance
            .require_permitted(&step)
            .and_then(|()| governance.require_allowed(&step, &language))
        {
            count(self, "refused");
            governance.record(std::time::Duration::ZERO, true);
            return Err(wit_scripting::ScriptError::Refused(why));
        }
        let budget = self.script_budget(governance);
        let started = std::time::Instant::now();
        let (outcome, ticks, peak_memory) = scripts
            .interpreter
            .evaluate(&sources, &context, &budget)
            .await;
        governance.record(started.elapsed(), outcome.is_err());
        self.charge_ticks(ticks);
        self.metrics
            .script_memory
            .get_or_create(&crate::telemetry::CapabilityLabels {
                capability: self.capability.to_string(),
            })
            .observe(peak_memory as f64);
        match outcome {
            Ok(result) => {
                count(self, "ok");
                Ok(result)
            }
            Err(failure) => {
                count(self, failure.outcome());
                tracing::warn!(capability = &*self.capability, request_id = &*self.http.egress.request_id, step = %step, outcome = failure.outcome(), error = %failure, "script step failed");
                let message = format!("Script step '{step}' {failure}");
                Err(match failure {
                    super::scripting::ScriptFailure::Threw(_) => {
                        wit_scripting::ScriptError::Failed(message)
                    }
                    _ => wit_scripting::ScriptError::Refused(message),
                })
            }
        }
    }
}

impl wit_log::Host for GuestState {
    async fn log(&mut self, level: wit_log::Level, message: String) {
        emit_guest_log(self, level_of(level), &message);
    }
}

fn level_of(level: wit_log::Level) -> Level {
    match level {
        wit_log::Level::Trace => Level::TRACE,
        wit_log::Level::Debug => Level::DEBUG,
        wit_log::Level::Info => Level::INFO,
        wit_log::Level::Warn => Level::WARN,
        wit_log::Level::Error => Level::ERROR,
    }
}

/// Guest text is untrusted: cap its length so a component cannot flood the log.
const MAX_GUEST_LOG_LINE: usize = 4096;

pub(super) fn emit_guest_log(state: &GuestState, level: Level, message: &str) {
    let mut msg = message;
    if msg.len() > MAX_GUEST_LOG_LINE {
        let mut cut = MAX_GUEST_LOG_LINE;
        while !msg.is_char_boundary(cut) {
            cut -= 1;
        }
        msg = &msg[..cut];
    }
    if let Some(observer) = &state.http.egress.observer {
        observer.report(super::Progress::Log {
            level,
            message: msg.to_owned(),
        });
    }
    let cap = &*state.capability;
    let rid = &*state.http.egress.request_id;
    // tracing's level must be a constant per call site.
    match level {
        Level::TRACE => {
            tracing::trace!(target: "guest", capability = cap, request_id = rid, "{msg}")
        }
        Level::DEBUG => {
            tracing::debug!(target: "guest", capability = cap, request_id = rid, "{msg}")
        }
        Level::INFO => tracing::info!(target: "guest", capability = cap, request_id = rid, "{msg}"),
        Level::WARN => tracing::warn!(target: "guest", capability = cap, request_id = rid, "{msg}"),
        _ => tracing::error!(target: "guest", capability = cap, request_id = rid, "{msg}"),
    }
}

#[cfg(test)]
mod tests {
    //! The `consumes` import against a fake outbound path: what the runtime hands the
    //! host's outbound side, the per-request budget, and how failures reach the guest.

    use std::sync::{Arc, Mutex};

    use wasmtime::component::ResourceTable;
    use wasmtime_wasi::WasiCtx;

    use super::*;
    use crate::consumes::{OutboundCalls, OutboundResponse};
    use crate::runtime::{Limits, MemoryLimiter};

    /// What the fake saw of one call.
    struct Seen {
        request_id: String,
        traceparent: Option<String>,
    }

    /// Records every call; answers 200, or fails closed for namespace `private`.
    #[derive(Default)]
    struct FakeOutbound {
        seen: Mutex<Vec<Seen>>,
    }

    #[async_trait::async_trait]
    impl OutboundCalls for FakeOutbound {
        async fn call(&self, call: OutboundCall<'_>) -> Result<OutboundResponse, CallError> {
            self.seen.lock().unwrap().push(Seen {
                request_id: call.request_id.to_string(),
                traceparent: call.traceparent.map(str::to_string),
            });
            if call.namespace == "private" {
                return Err(CallError::TunnelUnavailable {
                    namespace: "private".into(),
                    kind: "ssh".into(),
                    reason: "the tunnel is connecting".into(),
                });
            }
            Ok(OutboundResponse {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: b"{}".to_vec(),
            })
        }
    }

    fn guest(outbound: Arc<FakeOutbound>, max_outbound_calls: u32) -> GuestState {
        GuestState {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                max_memory: 1 << 20,
                hit: false,
                peak: 0,
            },
            http: crate::runtime::wasi_http::HttpState {
                ctx: wasmtime_wasi_http::WasiHttpCtx::new(),
                egress: crate::runtime::wasi_http::Egress {
                    outbound,
                    request_id: "req-7".into(),
                    traceparent: Some(
                        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
                    ),
                    calls: Default::default(),
                    max_calls: max_outbound_calls,
                    max_body: 1 << 20,
                    observer: None,
                },
            },
            capability: "unit".into(),
            limits: Arc::new(Limits::default()),
            definition: None,
            metrics: crate::telemetry::Metrics::new(),
            cpu_ticks: 0,
            scripts: None,
        }
    }

    fn request(namespace: &str) -> wit_consumes::OutboundRequest {
        wit_consumes::OutboundRequest {
            namespace: namespace.into(),
            operation: "list".into(),
            params: vec![],
            body: None,
        }
    }

    #[tokio::test]
    async fn calls_carry_the_request_id_and_trace_and_stop_at_the_budget() {
        let outbound = Arc::new(FakeOutbound::default());
        let mut state = guest(outbound.clone(), 2);
        for _ in 0..2 {
            let resp = wit_consumes::Host::call(&mut state, request("crm")).await;
            assert_eq!(resp.map(|r| r.status).ok(), Some(200));
        }
        let third = wit_consumes::Host::call(&mut state, request("crm")).await;
        match third {
            Err(wit_consumes::CallError::Denied(reason)) => {
                assert!(reason.contains("limit of 2 outbound calls"), "{reason}")
            }
            other => panic!("expected Denied, got {:?}", other.map(|r| r.status)),
        }
        let seen = outbound.seen.lock().unwrap();
        assert_eq!(
            seen.len(),
            2,
            "a denied call never reaches the outbound path"
        );
        assert_eq!(seen[0].request_id, "req-7");
        assert!(seen[0]
            .traceparent
            .as_deref()
            .unwrap()
            .starts_with("00-0af7"));
    }

    #[tokio::test]
    async fn a_tunnel_that_is_not_ready_reaches_the_guest_as_tunnel_unavailable() {
        let mut state = guest(Arc::new(FakeOutbound::default()), 8);
        match wit_consumes::Host::call(&mut state, request("private")).await {
            Err(wit_consumes::CallError::TunnelUnavailable(reason)) => {
                assert!(reason.contains("connecting"), "{reason}")
            }
            other => panic!(
                "expected TunnelUnavailable, got {:?}",
                other.map(|r| r.status)
            ),
        }
    }
}
