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

use self::ikanos::capability::consumes as wit_consumes;
use self::ikanos::capability::log as wit_log;
pub use exports::ikanos::capability::handler::{HandlerError, InboundRequest, InboundResponse};

impl wit_consumes::Host for GuestState {
    async fn call(
        &mut self,
        request: wit_consumes::OutboundRequest,
    ) -> Result<wit_consumes::OutboundResponse, wit_consumes::CallError> {
        if self.calls_made >= self.limits.max_outbound_calls {
            return Err(wit_consumes::CallError::Denied(format!(
                "the limit of {} outbound calls per request is reached",
                self.limits.max_outbound_calls
            )));
        }
        self.calls_made += 1;
        let call = OutboundCall {
            namespace: &request.namespace,
            operation: &request.operation,
            params: &request.params,
            body: request.body,
            request_id: &self.request_id,
            traceparent: self.traceparent.as_deref(),
        };
        match self.outbound.call(call).await {
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
        CallError::Denied { .. } => W::Denied(reason),
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
    let cap = &*state.capability;
    let rid = &*state.request_id;
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
