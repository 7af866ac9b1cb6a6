//! Standard `wasi:http` components (world `wasi:http/proxy`, as `wasmtime serve` and
//! Spin run them) as a capability's handler, and the `wasi:http/outgoing-handler`
//! requests of any component.
//!
//! Owns: the hooks that hand a component's outgoing request to the host's outbound
//! path ([`Egress`]: a body within the limit, the request's call budget, nothing sent
//! unless a declared consumes operation takes it), and the shape of one incoming
//! request run ([`run_proxy`]: hand the request in, collect the response within the
//! limit while the guest writes it). Must not touch: matching URLs to the file
//! (`consumes::egress`), which callers' headers the component sees (exposes).

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p2::bindings::Proxy;
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

use super::{GuestState, Observer, Progress};
use crate::consumes::{CallError, EgressCall, OutboundCalls, Refusal};

/// The `wasi:http` side of one store: sends what a declared operation takes, through
/// the capability's [`OutboundCalls`].
pub(crate) struct Egress {
    pub(crate) outbound: Arc<dyn OutboundCalls>,
    pub(crate) request_id: Arc<str>,
    pub(crate) traceparent: Option<Arc<str>>,
    /// Outbound calls made by this request, `consumes.call` and `wasi:http` alike.
    pub(crate) calls: Arc<AtomicU32>,
    pub(crate) max_calls: u32,
    /// Largest request body the host sends for the component.
    pub(crate) max_body: usize,
    pub(crate) observer: Option<Observer>,
}

impl Egress {
    /// Take one call from the request's budget, or say it is spent.
    pub(crate) fn take_call(&self) -> Result<(), String> {
        let max = self.max_calls;
        self.calls
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .map(drop)
            .map_err(|_| format!("the limit of {max} outbound calls per request is reached"))
    }
}

impl WasiHttpHooks for Egress {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                )>,
            > + Send,
    > {
        let outbound = self.outbound.clone();
        let request_id = self.request_id.clone();
        let traceparent = self.traceparent.clone();
        let observer = self.observer.clone();
        let max_body = self.max_body;
        let budget = self.take_call();
        Box::new(async move {
            let (parts, body) = request.into_parts();
            let shown = format!("{} {}", parts.method, parts.uri.path());
            if let Err(why) = budget {
                let e = outbound.refuse(Refusal::Limit, shown, why);
                return Err(to_error_code(&e));
            }
            let body = match Limited::new(body, max_body).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    let why =
                        format!("its body is larger than the {max_body} bytes the host sends");
                    let e = outbound.refuse(Refusal::TooLarge, shown, why);
                    return Err(to_error_code(&e));
                }
            };
            let started = Instant::now();
            let outcome = outbound
                .egress(EgressCall {
                    method: parts.method.clone(),
                    uri: &parts.uri,
                    headers: &parts.headers,
                    body,
                    request_id: &request_id,
                    traceparent: traceparent.as_deref(),
                })
                .await;
            if let Some(observer) = &observer {
                observer.report(Progress::Call {
                    operation: shown,
                    status: outcome.as_ref().ok().map(|r| r.status),
                    elapsed: started.elapsed(),
                });
            }
            let answer = outcome.map_err(|e| to_error_code(&e))?;
            let mut response = http::Response::new(
                Full::new(Bytes::from(answer.body))
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            );
            *response.status_mut() = http::StatusCode::from_u16(answer.status)
                .map_err(|_| wasmtime_wasi_http::Error::HttpProtocolError)?;
            for (name, value) in &answer.headers {
                if let (Ok(name), Ok(value)) = (
                    http::HeaderName::from_bytes(name.as_bytes()),
                    http::HeaderValue::from_str(value),
                ) {
                    response.headers_mut().append(name, value);
                }
            }
            // The whole body is already read: nothing is left to report on.
            let done: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, done))
        })
    }
}

/// What the component sees for a call that produced no upstream answer. The reason is
/// in the host's log (and `ikanos_egress_refused` for refusals), never a secret.
fn to_error_code(e: &CallError) -> wasmtime_wasi_http::Error {
    use wasmtime_wasi_http::Error as E;
    match e {
        CallError::Undeclared { .. } | CallError::Denied { .. } => E::HttpRequestDenied,
        CallError::TunnelUnavailable { .. } => E::DestinationUnavailable,
        CallError::Timeout { .. } => E::HttpResponseTimeout,
        CallError::InvalidInput { .. }
        | CallError::UnknownOperation { .. }
        | CallError::Transport { .. } => E::InternalError(Some(e.to_string())),
    }
}

/// The `wasi:http` state of one store.
pub(crate) struct HttpState {
    pub(crate) ctx: WasiHttpCtx,
    pub(crate) egress: Egress,
}

impl WasiHttpView for GuestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http.ctx,
            table: &mut self.table,
            hooks: &mut self.http.egress,
        }
    }
}

/// Why a `wasi:http` component gave no response.
pub(crate) enum ProxyFailure {
    /// It returned without setting a response, or set an error code.
    NoResponse(String),
    /// Its body is larger than `max`.
    TooLarge(usize),
}

/// Hand `request` to `proxy` (a fresh instance) and collect its response (head and
/// body within `max_body`). The guest runs while its body is read, as it may write
/// the body after handing back the head.
pub(crate) async fn run_proxy(
    store: &mut Store<GuestState>,
    proxy: Proxy,
    request: http::Request<Bytes>,
    max_body: usize,
) -> Result<Result<http::Response<Bytes>, ProxyFailure>, wasmtime::Error> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let (parts, body) = request.into_parts();
    let request = http::Request::from_parts(
        parts,
        Full::new(body).map_err(
            |never: std::convert::Infallible| -> wasmtime_wasi_http::Error { match never {} },
        ),
    );
    let (incoming, outparam) = {
        let mut view = store.data_mut().http();
        let incoming = view.new_incoming_request(
            wasmtime_wasi_http::p2::bindings::http::types::Scheme::Http,
            request,
        )?;
        let outparam = view.new_response_outparam(sender)?;
        (incoming, outparam)
    };
    let call = proxy
        .wasi_http_incoming_handler()
        .call_handle(&mut *store, incoming, outparam);
    let read = async move {
        let head = receiver
            .await
            .map_err(|_| ProxyFailure::NoResponse("it returned without a response".into()))?
            .map_err(|code: ErrorCode| ProxyFailure::NoResponse(format!("it answered {code:?}")))?;
        let (parts, body) = head.into_parts();
        let body = Limited::new(body, max_body)
            .collect()
            .await
            .map_err(|_| ProxyFailure::TooLarge(max_body))?
            .to_bytes();
        Ok(http::Response::from_parts(parts, body))
    };
    // The guest may write its body after handing back the head (and waits for it to
    // be read), or trap before either: poll both, and stop at a trap.
    tokio::pin!(call, read);
    tokio::select! {
        called = &mut call => {
            called?;
            // Returned: the body is written (or the guest dropped it, which ends it).
            Ok(read.await)
        }
        out = &mut read => {
            call.await?;
            Ok(out)
        }
    }
}
