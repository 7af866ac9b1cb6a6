//! Consumes: the host's outbound path for calls a component makes.
//!
//! Owns: turning (namespace, operation, parameters, body) into an HTTP request to a
//! declared API — path, query, headers, cookies, body, authentication — sending it on
//! the namespace's pooled client over the route the tunnel module chose, and recording
//! `ikanos_http_client_*`. Must not touch: wasm (runtime calls in), listeners
//! (exposes), or anything not declared in the capability file: an undeclared
//! namespace, operation or parameter is refused, never guessed.

mod auth;
pub(crate) mod client;
pub mod egress;
pub mod environment;
mod forward;
mod request;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Limited};
use hyper_rustls::HttpsConnector;
use ikanos_spec::binds::Secrets;
use ikanos_spec::model::Consumes;
use thiserror::Error;
use tracing::Instrument;

use auth::Auth;
pub use client::{tls_config, ClientSettings, TlsError};
pub use egress::{EgressCall, Refusal};
pub use forward::ForwardCall;
use request::PreparedOperation;

use crate::telemetry::traces::Side;
use crate::telemetry::{
    ClientDurationLabels, ClientLabels, Metrics, RouteLabels, TunnelLabels, TunnelStateLabels,
};
use crate::tunnel::{
    DialError, DialErrorKind, Route, TunnelConnector, TunnelMetrics, TunnelRegistry, TunnelState,
};
use crate::workers::PerThread;
use ikanos_spec::model::Fallback;

/// Why an outbound call produced no upstream response. Messages never contain secrets.
#[derive(Debug, Error)]
pub enum CallError {
    #[error("unknown operation '{namespace}.{operation}': {detail}")]
    UnknownOperation {
        namespace: String,
        operation: String,
        detail: String,
    },
    #[error("invalid input for '{namespace}.{operation}': {detail}")]
    InvalidInput {
        namespace: String,
        operation: String,
        detail: String,
    },
    #[error(
        "consumes '{namespace}' routes through a '{kind}' tunnel that is not available: {reason}"
    )]
    TunnelUnavailable {
        namespace: String,
        kind: String,
        reason: String,
    },
    #[error("'{namespace}.{operation}' got no response within {after:?}")]
    Timeout {
        namespace: String,
        operation: String,
        after: Duration,
    },
    #[error("'{namespace}.{operation}' failed: {detail}")]
    Transport {
        namespace: String,
        operation: String,
        detail: String,
    },
    #[error("'{namespace}.{operation}' was refused: {detail}")]
    Denied {
        namespace: String,
        operation: String,
        detail: String,
    },
    /// A component's own HTTP request that no declared operation takes.
    #[error("{request} was refused: {detail}")]
    Undeclared {
        /// Method, origin and path (never the query).
        request: String,
        reason: &'static str,
        detail: String,
    },
}

impl CallError {
    fn kind(&self) -> &'static str {
        match self {
            CallError::UnknownOperation { .. } => "unknown_operation",
            CallError::InvalidInput { .. } => "invalid_input",
            CallError::TunnelUnavailable { .. } => "tunnel_unavailable",
            CallError::Timeout { .. } => "timeout",
            CallError::Transport { .. } => "transport",
            CallError::Denied { .. } => "denied",
            CallError::Undeclared { .. } => "undeclared",
        }
    }
}

/// One call as the component asked for it.
pub struct OutboundCall<'a> {
    pub namespace: &'a str,
    pub operation: &'a str,
    pub params: &'a [(String, String)],
    pub body: Option<Vec<u8>>,
    pub request_id: &'a str,
    /// The inbound request's W3C `traceparent`, carried to the upstream.
    pub traceparent: Option<&'a str>,
}

/// What a running component can make the host do outside: call a declared consumed
/// operation by name, and nothing else. The runtime holds only this trait — the seam
/// where tests put a fake, as wasmtime-wasi-http's `send_request` hook is for Spin's
/// factor tests. [`Outbound`] is the real one.
#[async_trait::async_trait]
pub trait OutboundCalls: Send + Sync + 'static {
    async fn call(&self, call: OutboundCall<'_>) -> Result<OutboundResponse, CallError>;

    /// A component's own `wasi:http` request: sent when a declared operation takes it.
    async fn egress(&self, call: EgressCall<'_>) -> Result<OutboundResponse, CallError> {
        let request = format!("{} {}", call.method, call.uri.path());
        Err(self.refuse(
            Refusal::UndeclaredOrigin,
            request,
            "nothing is declared".into(),
        ))
    }

    /// The error for a request refused before it reached [`OutboundCalls::egress`]
    /// (over the call budget, too large), counted where the implementation counts.
    fn refuse(&self, refusal: Refusal, request: String, detail: String) -> CallError {
        CallError::Undeclared {
            request,
            reason: refusal.label(),
            detail,
        }
    }
}

#[async_trait::async_trait]
impl OutboundCalls for Outbound {
    async fn call(&self, call: OutboundCall<'_>) -> Result<OutboundResponse, CallError> {
        Outbound::call(self, call).await
    }

    async fn egress(&self, call: EgressCall<'_>) -> Result<OutboundResponse, CallError> {
        Outbound::egress(self, call).await
    }

    fn refuse(&self, refusal: Refusal, request: String, detail: String) -> CallError {
        Outbound::refuse(self, refusal, request, detail)
    }
}

pub struct OutboundResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Settings for every consumed namespace of one capability.
#[derive(Debug, Clone)]
pub struct OutboundSettings {
    pub client: ClientSettings,
    /// Per-namespace CA bundles (PEM) trusted in addition to the default roots.
    pub ca_bundles: HashMap<String, std::path::PathBuf>,
    /// Time for one upstream exchange, response body included.
    pub request_timeout: Duration,
    /// Largest upstream response body handed back to the component.
    pub max_response_body: usize,
}

impl Default for OutboundSettings {
    fn default() -> Self {
        OutboundSettings {
            client: ClientSettings::default(),
            ca_bundles: HashMap::new(),
            request_timeout: Duration::from_secs(30),
            max_response_body: 16 << 20,
        }
    }
}

#[derive(Debug, Error)]
pub enum OutboundError {
    #[error("{file}:{pos}: consumes '{namespace}' authentication: {reason}")]
    Auth {
        file: String,
        pos: String,
        namespace: String,
        reason: String,
    },
    #[error("consumes '{namespace}': {source}")]
    Tls { namespace: String, source: TlsError },
    #[error("a CA bundle (--ca-bundle, or caBundles in the host configuration) names consumes namespace '{0}', which the capability does not declare")]
    UnknownCaNamespace(String),
}

/// Readiness of one consumed namespace, for `/health/ready` and `/status`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceStatus {
    pub namespace: String,
    pub base_uri: String,
    /// `direct` or `tunnel:<type>`.
    pub route: String,
    /// Anything but `ready` fails closed.
    pub state: NamespaceState,
    pub ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where a consumed namespace's route stands (serialized as `ready`, `connecting`,
/// `degraded`, `closed` or `unavailable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NamespaceState {
    Ready,
    Connecting,
    Degraded,
    Closed,
    /// The route can never carry a call in this process: no provider for its tunnel
    /// type in this build, or its `tunnel:` block cannot be used.
    Unavailable,
}

impl NamespaceState {
    fn of(route: &Route, state: &TunnelState) -> Self {
        if let Route::Unavailable { .. } = route {
            return NamespaceState::Unavailable;
        }
        match state {
            TunnelState::Ready => NamespaceState::Ready,
            TunnelState::Connecting => NamespaceState::Connecting,
            TunnelState::Degraded(_) => NamespaceState::Degraded,
            TunnelState::Closed => NamespaceState::Closed,
        }
    }
}

struct Namespace {
    name: String,
    /// `host:port`, for metrics labels.
    server_address: String,
    base_uri: String,
    /// `baseUri` parsed: the origin and base path a component's own requests match.
    base: url::Url,
    auth: Auth,
    route: Route,
    /// Direct connections (no tunnel, or `fallback: direct` while the tunnel is down),
    /// one pool per serving thread.
    client: PerThread<client::HttpClient>,
    /// Connections through the namespace's tunnel, when it has one.
    tunnel: Option<TunnelPath>,
    operations: HashMap<String, PreparedOperation>,
    /// The base of `forward` requests to this namespace.
    forward: PreparedOperation,
}

/// The tunnel side of a namespace.
struct TunnelPath {
    connector: HttpsConnector<TunnelConnector>,
    /// One pool per serving thread; replaced on identity rotation (requests in flight
    /// keep the client they hold).
    client: std::sync::RwLock<PerThread<client::TunnelClient>>,
    metrics: TunnelMetrics,
}

/// Which client carries one call.
enum Via<'a> {
    Direct(&'a client::HttpClient),
    Tunnel(Box<client::TunnelClient>),
}

impl Via<'_> {
    async fn send(
        &self,
        req: http::Request<http_body_util::Full<bytes::Bytes>>,
    ) -> Result<http::Response<hyper::body::Incoming>, hyper_util::client::legacy::Error> {
        match self {
            Via::Direct(c) => c.request(req).await,
            Via::Tunnel(c) => c.request(req).await,
        }
    }
}

/// All consumed namespaces of one capability.
pub struct Outbound {
    capability: String,
    namespaces: HashMap<String, Namespace>,
    secrets: Arc<Secrets>,
    metrics: Arc<Metrics>,
    request_timeout: Duration,
    max_response_body: usize,
    client_settings: ClientSettings,
}

impl Outbound {
    pub fn new(
        capability: &str,
        consumes: &[Consumes],
        secrets: Arc<Secrets>,
        environment: &environment::ConsumedEnvironment,
        settings: &OutboundSettings,
        tunnels: &TunnelRegistry,
        metrics: Arc<Metrics>,
    ) -> Result<Self, OutboundError> {
        for ns in settings.ca_bundles.keys() {
            if !consumes.iter().any(|c| c.namespace.value == *ns) {
                return Err(OutboundError::UnknownCaNamespace(ns.clone()));
            }
        }
        let mut namespaces = HashMap::new();
        for c in consumes {
            let name = c.namespace.value.clone();
            let auth = Auth::resolve(c.authentication.as_ref(), &secrets).map_err(|reason| {
                OutboundError::Auth {
                    file: c.namespace.file.display().to_string(),
                    pos: c.namespace.pos.to_string(),
                    namespace: name.clone(),
                    reason,
                }
            })?;
            let connector =
                client::direct_connector(&settings.client, settings.ca_bundles.get(&name))
                    .map_err(|source| OutboundError::Tls {
                        namespace: name.clone(),
                        source,
                    })?;
            let client = PerThread::new(|| client::pooled(&settings.client, connector.clone()));
            let route = tunnels.route(c.tunnel.as_ref(), &secrets);
            let tunnel = match &route {
                Route::Tunnel { kind, tunnel, .. } => {
                    let labels = TunnelLabels {
                        capability: capability.to_string(),
                        ikanos_namespace: name.clone(),
                        ikanos_tunnel_type: kind.clone(),
                    };
                    let tm = TunnelMetrics::new(metrics.clone(), labels);
                    let connector = client::tunnel_connector(
                        &settings.client,
                        settings.ca_bundles.get(&name),
                        TunnelConnector::new(tunnel.clone(), tm.clone()),
                    )
                    .map_err(|source| OutboundError::Tls {
                        namespace: name.clone(),
                        source,
                    })?;
                    let client = std::sync::RwLock::new(PerThread::new(|| {
                        client::pooled(&settings.client, connector.clone())
                    }));
                    Some(TunnelPath {
                        connector,
                        client,
                        metrics: tm,
                    })
                }
                _ => None,
            };
            watch_route(&metrics, capability, &name, &route);
            let operations = request::prepare(c, environment);
            let forward = request::prepare_forward(c, environment);
            let url = &c.base_uri.value;
            let server_address = format!(
                "{}:{}",
                url.host_str().unwrap_or_default(),
                url.port_or_known_default().unwrap_or(0)
            );
            namespaces.insert(
                name.clone(),
                Namespace {
                    name,
                    server_address,
                    base_uri: url.to_string(),
                    base: url.clone(),
                    auth,
                    route,
                    client,
                    tunnel,
                    operations,
                    forward,
                },
            );
        }
        Ok(Outbound {
            capability: capability.to_string(),
            namespaces,
            secrets,
            metrics,
            request_timeout: settings.request_timeout,
            max_response_body: settings.max_response_body,
            client_settings: settings.client.clone(),
        })
    }

    /// Status of every consumed namespace, sorted by name.
    pub fn status(&self) -> Vec<NamespaceStatus> {
        let mut out: Vec<_> = self
            .namespaces
            .values()
            .map(|ns| {
                // One reading, so state, ready and reason agree with each other.
                let state = ns.route.state();
                NamespaceStatus {
                    namespace: ns.name.clone(),
                    base_uri: ns.base_uri.clone(),
                    route: ns.route.label(),
                    state: NamespaceState::of(&ns.route, &state),
                    ready: state.is_ready(),
                    reason: state.reason(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.namespace.cmp(&b.namespace));
        out
    }

    pub async fn call(&self, call: OutboundCall<'_>) -> Result<OutboundResponse, CallError> {
        let unknown = |detail: String| CallError::UnknownOperation {
            namespace: call.namespace.to_string(),
            operation: call.operation.to_string(),
            detail,
        };
        let ns = self.namespaces.get(call.namespace).ok_or_else(|| {
            let mut known: Vec<_> = self.namespaces.keys().map(String::as_str).collect();
            known.sort_unstable();
            unknown(format!(
                "the capability declares no consumes namespace '{}' (declared: {})",
                call.namespace,
                list(&known)
            ))
        })?;
        let op = ns.operations.get(call.operation).ok_or_else(|| {
            let mut known: Vec<_> = ns.operations.keys().map(String::as_str).collect();
            known.sort_unstable();
            unknown(format!(
                "namespace '{}' declares no operation '{}' (declared: {})",
                ns.name,
                call.operation,
                list(&known)
            ))
        })?;

        // Fail closed: a route that is not ready is never dialed, and nothing else is.
        let via = match self.via(ns) {
            Ok(v) => v,
            Err(err) => {
                self.record(ns, op, Some(&err), None, Duration::ZERO);
                return Err(err);
            }
        };

        let started = Instant::now();
        // The answer is usually close: keep this serving thread polling for it.
        crate::workers::active();
        let result = self.exchange(ns, op, &call, via).await;
        let status = result.as_ref().ok().map(|r| r.status);
        self.record(ns, op, result.as_ref().err(), status, started.elapsed());
        result
    }

    /// Hand every tunnel its identity rendered from `secrets` (freshly re-read binds):
    /// identity rotation without a restart. Returns one line per tunnel for the log.
    pub async fn reload_identities(
        &self,
        consumes: &[Consumes],
        secrets: &Secrets,
    ) -> Vec<Result<String, String>> {
        let mut out = Vec::new();
        // Namespaces with the same (type, identity, endpoint) share one tunnel: it is
        // reloaded once, the others take its outcome.
        let mut reloaded: Vec<(*const (), Result<(), String>)> = Vec::new();
        for c in consumes {
            let (Some(spec), Some(ns)) = (&c.tunnel, self.namespaces.get(&c.namespace.value))
            else {
                continue;
            };
            let (Route::Tunnel { tunnel, .. }, Some(path)) = (&ns.route, &ns.tunnel) else {
                continue;
            };
            let config = match crate::tunnel::render_config(spec, secrets) {
                Ok(c) => c,
                Err(e) => {
                    out.push(Err(format!("consumes '{}': {e}", ns.name)));
                    continue;
                }
            };
            let key = Arc::as_ptr(tunnel) as *const ();
            let outcome = match reloaded.iter().find(|(k, _)| *k == key) {
                Some((_, outcome)) => outcome.clone(),
                None => {
                    let outcome = tunnel.reload(config).await;
                    reloaded.push((key, outcome.clone()));
                    outcome
                }
            };
            if outcome.is_ok() {
                // Idle connections of the old session are not reused.
                let fresh = PerThread::new(|| {
                    client::pooled(&self.client_settings, path.connector.clone())
                });
                *path.client.write().unwrap_or_else(|p| p.into_inner()) = fresh;
            }
            out.push(
                outcome
                    .map(|()| format!("consumes '{}': tunnel took the new identity", ns.name))
                    .map_err(|e| format!("consumes '{}': {e}", ns.name)),
            );
        }
        out
    }

    /// The client for the next call on `ns`, or why there is none.
    fn via<'a>(&self, ns: &'a Namespace) -> Result<Via<'a>, CallError> {
        let unavailable = |kind: &str, reason: String| CallError::TunnelUnavailable {
            namespace: ns.name.clone(),
            kind: kind.to_string(),
            reason,
        };
        match &ns.route {
            Route::Direct => Ok(Via::Direct(ns.client.get())),
            Route::Unavailable { kind, reason } => Err(unavailable(kind, reason.clone())),
            Route::Tunnel {
                kind,
                tunnel,
                fallback,
            } => {
                let state = tunnel.state().borrow().clone();
                match (&ns.tunnel, state.reason()) {
                    (Some(path), None) => {
                        let client = path
                            .client
                            .read()
                            .unwrap_or_else(|p| p.into_inner())
                            .get()
                            .clone();
                        Ok(Via::Tunnel(Box::new(client)))
                    }
                    (Some(path), Some(reason)) if *fallback == Fallback::Direct => {
                        path.metrics.fallback_direct.inc();
                        tracing::warn!(
                            capability = %self.capability,
                            namespace = %ns.name,
                            tunnel = %kind,
                            reason = %reason,
                            "tunnel down: sending this call directly (fallback: direct)"
                        );
                        Ok(Via::Direct(ns.client.get()))
                    }
                    (_, reason) => Err(unavailable(
                        kind,
                        reason.unwrap_or_else(|| "the tunnel is not ready".into()),
                    )),
                }
            }
        }
    }

    async fn exchange(
        &self,
        ns: &Namespace,
        op: &PreparedOperation,
        call: &OutboundCall<'_>,
        via: Via<'_>,
    ) -> Result<OutboundResponse, CallError> {
        let transport = |detail: String| CallError::Transport {
            namespace: ns.name.clone(),
            operation: op.name().to_string(),
            detail,
        };
        let built = op
            .build(
                &self.secrets,
                &ns.auth,
                call.params,
                call.body.clone(),
                call.request_id,
            )
            .map_err(|detail| CallError::InvalidInput {
                namespace: ns.name.clone(),
                operation: op.name().to_string(),
                detail,
            })?;
        let span = tracing::info_span!("consumed_call", otel.kind = "client", capability = %self.capability, namespace = %ns.name, operation = %op.name(), method = %op.method(), route = %ns.route.label(), request_id = call.request_id);
        let mut built = built;
        crate::telemetry::propagation::inject(&span, call.traceparent, &mut built.headers);
        let exchange = async {
            let mut response = self.send(ns, op, &via, || Ok(built.to_request())).await?;
            if let Some(challenge) = ns.auth.digest_challenge(&response) {
                // Digest needs the server's nonce: answer the challenge once.
                response = self
                    .send(ns, op, &via, || {
                        built.with_digest(&ns.auth, &challenge).map_err(transport)
                    })
                    .await?;
            }
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, self.max_response_body)
                .collect()
                .await
                .map_err(|e| transport(format!("reading the response body: {e}")))?
                .to_bytes();
            Ok::<_, CallError>((parts, body))
        }
        .instrument(span.clone());
        let result = match tokio::time::timeout(self.request_timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(CallError::Timeout {
                namespace: ns.name.clone(),
                operation: op.name().to_string(),
                after: self.request_timeout,
            }),
        }
        .map(|(parts, body)| OutboundResponse {
            status: parts.status.as_u16(),
            headers: parts
                .headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect(),
            body: Vec::from(body),
        });
        let status = result.as_ref().ok().map(|r| r.status);
        crate::telemetry::traces::record_status(&span, Side::Client, status);
        result
    }

    /// Send one request on `via`. When the connection it went out on breaks before any
    /// answer — a tunnel's far end dying takes every connection open through it — an
    /// idempotent request (RFC 9110 §9.2.2: repeating it is harmless) is sent once more
    /// on the route as it stands now, over a freshly dialed connection (another pooled
    /// one may have died with the first): a tunnel found down, or whose dial finds it
    /// down, fails closed as `tunnel-unavailable`; a tunnel still up answers, or breaks
    /// again. A second break is the tunnel going down when its supervisor says so within
    /// [`TUNNEL_VERDICT_WAIT`] (`tunnel-unavailable`), else the API behind a live
    /// tunnel closing (`transport`, as without a retry). A request that is not
    /// idempotent may already have been applied, so its break stays a transport error.
    async fn send(
        &self,
        ns: &Namespace,
        op: &PreparedOperation,
        via: &Via<'_>,
        request: impl Fn() -> Result<http::Request<http_body_util::Full<bytes::Bytes>>, CallError>,
    ) -> Result<http::Response<hyper::body::Incoming>, CallError> {
        let first = match via.send(request()?).await {
            Ok(response) => return Ok(response),
            Err(e) => e,
        };
        let (Via::Tunnel(_), Some(path)) = (via, &ns.tunnel) else {
            return Err(send_error(ns, op, &first));
        };
        if !is_idempotent(op.method()) || !broke_before_answer(&first) {
            return Err(send_error(ns, op, &first));
        }
        path.metrics.retries.inc();
        tracing::info!(
            capability = %self.capability,
            namespace = %ns.name,
            operation = %op.name(),
            error = %crate::error_chain(&first),
            "a tunnel connection broke before answering: sending this idempotent call once more"
        );
        let again = match self.via(ns)? {
            Via::Tunnel(_) => Via::Tunnel(Box::new(client::unpooled(
                &self.client_settings,
                path.connector.clone(),
            ))),
            direct => direct,
        };
        let second = match again.send(request()?).await {
            Ok(response) => return Ok(response),
            Err(e) => e,
        };
        if matches!(again, Via::Tunnel(_)) && broke_before_answer(&second) {
            if let Some(reason) = tunnel_went_down(&ns.route).await {
                return Err(tunnel_unavailable(
                    ns,
                    format!(
                        "the connection through the tunnel broke before any answer, twice, and the tunnel went down: {reason}"
                    ),
                ));
            }
        }
        Err(send_error(ns, op, &second))
    }

    fn record(
        &self,
        ns: &Namespace,
        op: &PreparedOperation,
        err: Option<&CallError>,
        status: Option<u16>,
        took: Duration,
    ) {
        let outcome = match (err, status) {
            (Some(e), _) => e.kind().to_string(),
            (None, Some(s)) => s.to_string(),
            (None, None) => "unknown".to_string(),
        };
        let route = ns.route.label();
        self.metrics
            .client_calls
            .get_or_create(&ClientLabels {
                capability: self.capability.clone(),
                ikanos_namespace: ns.name.clone(),
                ikanos_operation_id: op.name().to_string(),
                http_request_method: op.method().to_string(),
                server_address: ns.server_address.clone(),
                ikanos_route: route.clone(),
                outcome,
            })
            .inc();
        if status.is_some() {
            self.metrics
                .client_duration
                .get_or_create(&ClientDurationLabels {
                    capability: self.capability.clone(),
                    ikanos_namespace: ns.name.clone(),
                    ikanos_operation_id: op.name().to_string(),
                    ikanos_route: route,
                })
                .observe(took.as_secs_f64());
        }
        if let Some(e) = err {
            tracing::warn!(capability = %self.capability, namespace = %ns.name, operation = %op.name(), error = %e, "consumed call failed");
        }
    }
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// A failed exchange: a dial refused because the tunnel went down in between
/// ([`DialErrorKind::NotReady`]) is `tunnel-unavailable`, like a call made while it was
/// down; anything else is transport. hyper wraps the connector's error, so the dial
/// error is looked for along the source chain.
fn send_error(
    ns: &Namespace,
    op: &PreparedOperation,
    e: &hyper_util::client::legacy::Error,
) -> CallError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(d) = s.downcast_ref::<DialError>() {
            if d.kind == DialErrorKind::NotReady {
                return tunnel_unavailable(ns, d.message.clone());
            }
        }
        source = s.source();
    }
    CallError::Transport {
        namespace: ns.name.clone(),
        operation: op.name().to_string(),
        detail: crate::error_chain(e),
    }
}

/// `tunnel-unavailable` for `ns`'s tunnel, with why.
fn tunnel_unavailable(ns: &Namespace, reason: String) -> CallError {
    CallError::TunnelUnavailable {
        namespace: ns.name.clone(),
        kind: ns.route.label().trim_start_matches("tunnel:").to_string(),
        reason,
    }
}

/// How long a call whose fresh tunnel connection broke too waits for the tunnel's
/// supervisor to say the tunnel went down. The far end dying (an SSH connector, a Ziti
/// router) breaks connections a moment before the supervisor knows: 20–50 ms in the
/// soak bench's chaos phase, where answering those calls `transport` (502) instead of
/// `tunnel-unavailable` (503) was the only wrong answer left. Only a call broken twice
/// waits; a tunnel that stays up means the API behind it closed (`transport`).
const TUNNEL_VERDICT_WAIT: Duration = Duration::from_secs(1);

/// The reason `route`'s tunnel is down, if it is or goes down within
/// [`TUNNEL_VERDICT_WAIT`]; None for a direct route or a tunnel that stays up.
async fn tunnel_went_down(route: &Route) -> Option<String> {
    let Route::Tunnel { tunnel, .. } = route else {
        return None;
    };
    let mut state = tunnel.state();
    let down = tokio::time::timeout(TUNNEL_VERDICT_WAIT, state.wait_for(|s| !s.is_ready()))
        .await
        .ok()?
        .ok()?;
    Some(
        down.reason()
            .unwrap_or_else(|| "the tunnel is not ready".into()),
    )
}

/// Methods a client may repeat without changing the outcome (RFC 9110 §9.2.2).
fn is_idempotent(method: &http::Method) -> bool {
    use http::Method;
    [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::TRACE,
        Method::PUT,
        Method::DELETE,
    ]
    .contains(method)
}

/// Whether a send failed because the connection it went out on broke (closed, reset,
/// cut mid-message) after it was open and before a response head came back. A dial that
/// failed, a timeout or a response that did not parse are not breaks.
fn broke_before_answer(e: &hyper_util::client::legacy::Error) -> bool {
    if e.is_connect() {
        return false;
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() || h.is_closed() || h.is_canceled() {
                return true;
            }
        }
        if s.downcast_ref::<std::io::Error>().is_some() {
            return true;
        }
        source = s.source();
    }
    false
}

/// Keep `ikanos_consumes_ready` and `ikanos_tunnel_state` equal to the route's state,
/// updating them on every change, so a dropped tunnel never leaves a stale 1.
fn watch_route(metrics: &Arc<Metrics>, capability: &str, namespace: &str, route: &Route) {
    let ready = metrics.consumes_ready.get_or_create_owned(&RouteLabels {
        capability: capability.to_string(),
        ikanos_namespace: namespace.to_string(),
        ikanos_route: route.label(),
    });
    let Route::Tunnel { kind, tunnel, .. } = route else {
        ready.set(matches!(route, Route::Direct) as i64);
        return;
    };
    let labels = TunnelLabels {
        capability: capability.to_string(),
        ikanos_namespace: namespace.to_string(),
        ikanos_tunnel_type: kind.clone(),
    };
    let states: Vec<_> = ["connecting", "ready", "degraded", "closed"]
        .into_iter()
        .map(|state| {
            (
                state,
                metrics
                    .tunnel_state
                    .get_or_create_owned(&TunnelStateLabels {
                        tunnel: labels.clone(),
                        state,
                    }),
            )
        })
        .collect();
    let publish = move |s: &TunnelState| {
        ready.set(s.is_ready() as i64);
        for (name, gauge) in &states {
            gauge.set((*name == s.name()) as i64);
        }
    };
    let mut rx = tunnel.state();
    publish(&rx.borrow_and_update());
    let (capability, namespace) = (capability.to_string(), namespace.to_string());
    tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let state = rx.borrow_and_update().clone();
            tracing::info!(capability = %capability, namespace = %namespace, state = state.name(), reason = state.reason().unwrap_or_default(), "tunnel state changed");
            publish(&state);
        }
    });
}

#[cfg(test)]
mod tests {
    //! The routing rules of one call, against a fake tunnel: fail closed, `fallback:
    //! direct`, a tunnel lost between the state check and the dial, a refused dial.
    use super::*;
    use crate::telemetry::TunnelDialLabels;
    use crate::tunnel::fake::{self, FakeHandle};
    use crate::tunnel::TunnelRegistry;
    use std::path::Path;

    struct Rig {
        outbound: Outbound,
        tunnel: FakeHandle,
        metrics: Arc<Metrics>,
    }

    impl Rig {
        fn new(base_uri: &str, fallback: &str) -> Self {
            let keys = format!(
                "        type: \"{}\"\n        fallback: \"{fallback}\"\n",
                fake::KIND
            );
            let file = fake::capability(base_uri, &keys);
            let loaded =
                ikanos_spec::load_str(Path::new("t.yaml"), &file).expect("valid test file");
            let tunnel = FakeHandle::new();
            let registry = TunnelRegistry::with_providers(vec![tunnel.provider()]);
            let metrics = Metrics::new();
            let mut settings = OutboundSettings::default();
            settings.client.system_roots = false;
            let outbound = Outbound::new(
                "cap",
                &loaded.capability.consumes,
                Arc::new(Secrets::default()),
                &Default::default(),
                &settings,
                &registry,
                metrics.clone(),
            )
            .expect("outbound");
            Rig {
                outbound,
                tunnel,
                metrics,
            }
        }

        async fn call(&self) -> Result<OutboundResponse, CallError> {
            self.call_operation("get-ping").await
        }

        async fn call_operation(&self, operation: &str) -> Result<OutboundResponse, CallError> {
            self.outbound
                .call(OutboundCall {
                    namespace: "crm",
                    operation,
                    params: &[],
                    body: None,
                    request_id: "req-1",
                    traceparent: None,
                })
                .await
        }

        fn labels(&self) -> TunnelLabels {
            TunnelLabels {
                capability: "cap".into(),
                ikanos_namespace: "crm".into(),
                ikanos_tunnel_type: fake::KIND.into(),
            }
        }

        fn dials_with_outcome(&self, outcome: &str) -> u64 {
            self.metrics
                .tunnel_dials
                .get_or_create(&TunnelDialLabels {
                    tunnel: self.labels(),
                    outcome: outcome.into(),
                })
                .get()
        }

        fn fallbacks(&self) -> u64 {
            self.metrics
                .tunnel_fallback_direct
                .get_or_create(&self.labels())
                .get()
        }
    }

    /// The reason of a call that failed as `tunnel-unavailable` through the fake tunnel.
    fn unavailable(result: Result<OutboundResponse, CallError>) -> String {
        match result {
            Err(CallError::TunnelUnavailable { kind, reason, .. }) => {
                assert_eq!(kind, fake::KIND);
                reason
            }
            other => panic!("expected tunnel-unavailable, got {:?}", other.err()),
        }
    }

    /// An HTTP/1 upstream on loopback that answers every request with `direct`.
    async fn direct_upstream() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(fake::respond(stream, "direct"));
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn a_ready_tunnel_carries_the_call() {
        let rig = Rig::new("http://crm.internal", "fail");
        rig.tunnel.set_state(TunnelState::Ready);
        let response = rig.call().await.expect("a response");
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"through the tunnel");
        assert_eq!(rig.tunnel.dials(), 1);
        assert_eq!(rig.dials_with_outcome("ok"), 1);
    }

    #[tokio::test]
    async fn a_tunnel_that_is_not_ready_fails_closed_without_dialing() {
        let rig = Rig::new("http://crm.internal", "fail");
        rig.tunnel
            .set_state(TunnelState::Degraded("the relay is gone".into()));
        assert_eq!(unavailable(rig.call().await), "the relay is gone");
        assert_eq!(rig.tunnel.dials(), 0);
        assert_eq!(rig.fallbacks(), 0);
    }

    #[tokio::test]
    async fn fallback_direct_goes_around_a_tunnel_that_is_down_and_counts_it() {
        let upstream = direct_upstream().await;
        let rig = Rig::new(&upstream, "direct");
        rig.tunnel.set_state(TunnelState::Connecting);
        let response = rig.call().await.expect("a direct response");
        assert_eq!(response.body, b"direct");
        assert_eq!(rig.tunnel.dials(), 0);
        assert_eq!(rig.fallbacks(), 1);

        // Once the tunnel is ready, calls take it again.
        rig.tunnel.set_state(TunnelState::Ready);
        let response = rig.call().await.expect("a response through the tunnel");
        assert_eq!(response.body, b"through the tunnel");
        assert_eq!(rig.fallbacks(), 1);
    }

    #[tokio::test]
    async fn a_tunnel_lost_before_the_dial_is_unavailable_not_transport() {
        // `fallback: direct` too: a tunnel found down by the dial is never gone around.
        let upstream = direct_upstream().await;
        let rig = Rig::new(&upstream, "direct");
        rig.tunnel.set_state(TunnelState::Ready);
        rig.tunnel.fail_dials(Some(DialErrorKind::NotReady));
        let reason = unavailable(rig.call().await);
        assert!(
            reason.contains("the fake tunnel fails this dial"),
            "{reason}"
        );
        assert_eq!(rig.tunnel.dials(), 1);
        assert_eq!(rig.fallbacks(), 0);
        assert_eq!(rig.dials_with_outcome("not_ready"), 1);
    }

    #[tokio::test]
    async fn a_refused_dial_is_a_transport_error() {
        let rig = Rig::new("http://crm.internal", "fail");
        rig.tunnel.set_state(TunnelState::Ready);
        rig.tunnel.fail_dials(Some(DialErrorKind::Refused));
        match rig.call().await {
            Err(CallError::Transport { detail, .. }) => {
                assert!(
                    detail.contains("the fake tunnel fails this dial"),
                    "{detail}"
                );
            }
            other => panic!("expected a transport error, got {:?}", other.err()),
        }
        assert_eq!(rig.tunnel.dials(), 1);
        assert_eq!(rig.dials_with_outcome("refused"), 1);
    }

    fn retries(rig: &Rig) -> u64 {
        rig.metrics
            .tunnel_retries
            .get_or_create(&rig.labels())
            .get()
    }

    /// A tunnel's far end dying breaks the connections open through it: an idempotent
    /// call is sent once more and answered through the tunnel when it is still up.
    #[tokio::test]
    async fn an_idempotent_call_whose_tunnel_connection_broke_is_sent_once_more() {
        let rig = Rig::new("http://crm.internal", "fail");
        rig.tunnel.set_state(TunnelState::Ready);
        rig.tunnel.break_dials(1);
        let response = rig.call().await.expect("the retry's answer");
        assert_eq!(response.body, b"through the tunnel");
        assert_eq!(rig.tunnel.dials(), 2);
        assert_eq!(retries(&rig), 1);
    }

    /// Broken again on a fresh connection: the tunnel dials fine, so it is the API
    /// behind it closing — a transport error, as without the retry.
    #[tokio::test]
    async fn a_second_break_on_a_fresh_connection_is_a_transport_error() {
        let rig = Rig::new("http://crm.internal", "fail");
        rig.tunnel.set_state(TunnelState::Ready);
        rig.tunnel.break_dials(2);
        match rig.call().await {
            Err(CallError::Transport { detail, .. }) => {
                assert!(detail.contains("connection closed"), "{detail}");
            }
            other => panic!("expected a transport error, got {:?}", other.err()),
        }
        assert_eq!(rig.tunnel.dials(), 2);
        assert_eq!(retries(&rig), 1);
    }

    /// A ready tunnel with one pooled connection whose far end then died with the
    /// tunnel, which its supervisor has not noticed yet (the state is still ready).
    async fn with_a_pooled_connection_cut() -> Rig {
        let rig = Rig::new("http://crm.internal", "fail");
        rig.tunnel.set_state(TunnelState::Ready);
        let first = rig.call().await.expect("a first answer");
        assert_eq!(first.body, b"through the tunnel");
        rig.tunnel.cut_open_connections();
        rig
    }

    /// The retry dials afresh: a dial that finds the tunnel down fails closed.
    #[tokio::test]
    async fn a_retry_whose_dial_finds_the_tunnel_down_is_tunnel_unavailable() {
        let rig = with_a_pooled_connection_cut().await;
        rig.tunnel.fail_dials(Some(DialErrorKind::NotReady));
        let reason = unavailable(rig.call().await);
        assert!(
            reason.contains("the fake tunnel fails this dial"),
            "{reason}"
        );
        assert_eq!(rig.tunnel.dials(), 2);
        assert_eq!(retries(&rig), 1);
    }

    /// Broken again while the tunnel's supervisor learns that its far end died: the
    /// call waits for that verdict and fails closed.
    #[tokio::test]
    async fn a_second_break_as_the_tunnel_goes_down_is_tunnel_unavailable() {
        let rig = Rig::new("http://crm.internal", "fail");
        rig.tunnel.set_state(TunnelState::Ready);
        rig.tunnel.break_dials(2);
        // The supervisor's verdict comes once the retry has dialed its fresh connection.
        let verdict = async {
            while rig.tunnel.dials() < 2 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            rig.tunnel
                .set_state(TunnelState::Degraded("the connector is gone".into()));
        };
        let (answer, ()) = tokio::join!(rig.call(), verdict);
        let reason = unavailable(answer);
        assert!(
            reason.contains("broke before any answer, twice"),
            "{reason}"
        );
        assert!(reason.contains("the connector is gone"), "{reason}");
        assert_eq!(retries(&rig), 1);
    }

    /// A pooled connection cut under a call: the retry's fresh connection answers.
    #[tokio::test]
    async fn a_pooled_connection_cut_under_a_call_is_replaced_by_a_fresh_one() {
        let rig = with_a_pooled_connection_cut().await;
        let again = rig.call().await.expect("the retry's answer");
        assert_eq!(again.body, b"through the tunnel");
        assert_eq!(rig.tunnel.dials(), 2);
        assert_eq!(retries(&rig), 1);
    }

    /// The retry takes the route as it stands: a tunnel known down by then fails closed,
    /// and nothing is dialed.
    #[tokio::test]
    async fn the_retry_fails_closed_when_the_tunnel_went_down_meanwhile() {
        let rig = Rig::new("http://crm.internal", "fail");
        rig.tunnel.set_state(TunnelState::Ready);
        rig.tunnel.break_dials(1);
        rig.tunnel
            .go_down_on_break(TunnelState::Degraded("the connector is gone".into()));
        assert_eq!(unavailable(rig.call().await), "the connector is gone");
        assert_eq!(rig.tunnel.dials(), 1);
        assert_eq!(retries(&rig), 1);
    }

    /// A call that is not idempotent may have been applied before the break: it is not
    /// repeated, and stays a transport error.
    #[tokio::test]
    async fn a_post_whose_connection_broke_is_not_repeated() {
        let rig = Rig::new("http://crm.internal", "fail");
        rig.tunnel.set_state(TunnelState::Ready);
        rig.tunnel.break_dials(1);
        match rig.call_operation("post-ping").await {
            Err(CallError::Transport { .. }) => {}
            other => panic!("expected a transport error, got {:?}", other.err()),
        }
        assert_eq!(rig.tunnel.dials(), 1);
        assert_eq!(retries(&rig), 0);
    }
}
