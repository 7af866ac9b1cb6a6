//! Telemetry: the Prometheus registry every part of the host records into, and log set-up.
//!
//! Owns: metric names, labels and buckets (one place, so `/metrics` stays coherent),
//! and the tracing subscriber; traces in submodules: `traces` (the pipeline and what a
//! capability's settings change), `propagation` (trace context in headers), `otlp`
//! (the exporter), `buffer` (the local buffer behind `/traces`). Must not touch:
//! requests, secrets (label values are namespaces, operation names, methods, addresses
//! and status codes — never values).

pub mod buffer;
pub mod otlp;
pub mod propagation;
pub mod traces;

use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum AdapterType {
    rest,
    mcp,
    skill,
}

/// One inbound request handled by an exposed adapter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub capability: String,
    pub ikanos_adapter_type: AdapterType,
    pub ikanos_operation_id: String,
    pub http_request_method: String,
    pub http_response_status_code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub capability: String,
    pub ikanos_adapter_type: AdapterType,
    pub ikanos_operation_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub capability: String,
    pub ikanos_adapter_type: AdapterType,
    pub ikanos_operation_id: String,
    /// trap, cpu_deadline, memory_limit, timeout, handler, overloaded, ...
    pub error_type: String,
}

/// One outbound call to a consumed API.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClientLabels {
    pub capability: String,
    pub ikanos_namespace: String,
    pub ikanos_operation_id: String,
    pub http_request_method: String,
    pub server_address: String,
    /// `direct`, or `tunnel:<type>`.
    pub ikanos_route: String,
    /// The upstream status, or the error kind when there was no response.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClientDurationLabels {
    pub capability: String,
    pub ikanos_namespace: String,
    pub ikanos_operation_id: String,
    pub ikanos_route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CapabilityLabels {
    pub capability: String,
}

/// One script step run: how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScriptLabels {
    pub capability: String,
    /// The step's name as written in the file.
    pub step: String,
    pub language: String,
    /// `ok`, `error` (the script threw or does not parse), `cpu_limit`,
    /// `memory_limit`, `output_too_large`, `trap`, `refused` (language not run here).
    pub outcome: &'static str,
}

/// An outgoing `wasi:http` request the host refused to send.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EgressRefusedLabels {
    pub capability: String,
    /// `undeclared_origin` (no consumes entry has its scheme, host and port),
    /// `undeclared_operation` (the origin is declared, no operation has its method and
    /// path), `limit` (the request's outbound call budget is spent) or `invalid`
    /// (a request the host cannot send: no authority, a body over the limit).
    /// Never the guest's URL: that is unbounded, the file's names are not.
    pub reason: &'static str,
}

/// One orchestration step of a declarative operation (upstream's `step.duration`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    pub capability: String,
    /// The step's name as written in the file.
    pub step: String,
    /// `call`, `lookup`, `script` …
    pub kind: String,
    /// `ok` or `error`.
    pub outcome: &'static str,
}

/// A change to a hosted capability (`ikanos serve`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CapabilityLoadLabels {
    pub capability: String,
    /// loaded, replaced, failed or removed.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub capability: String,
    pub ikanos_namespace: String,
    pub ikanos_route: String,
}

/// One consumed namespace's tunnel.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TunnelLabels {
    pub capability: String,
    pub ikanos_namespace: String,
    pub ikanos_tunnel_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TunnelDialLabels {
    #[prometheus(flatten)]
    pub tunnel: TunnelLabels,
    /// `ok`, or the failure kind (not_ready, refused, timeout, io, …).
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TunnelStateLabels {
    #[prometheus(flatten)]
    pub tunnel: TunnelLabels,
    /// connecting, ready, degraded, closed: exactly one of them is 1.
    pub state: &'static str,
}

#[derive(Clone)]
pub struct Buckets(&'static [f64]);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

/// Request latencies: 100 µs … ~52 s.
/// 1 MiB to 256 MiB, doubling.
const MEMORY_BYTES: &[f64] = &[
    1048576.0,
    2097152.0,
    4194304.0,
    8388608.0,
    16777216.0,
    33554432.0,
    67108864.0,
    134217728.0,
    268435456.0,
];

const LATENCY: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

pub struct Metrics {
    pub registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub request_duration: Family<OperationLabels, Histogram, Buckets>,
    pub request_errors: Family<ErrorLabels, Counter>,
    pub client_calls: Family<ClientLabels, Counter>,
    pub client_duration: Family<ClientDurationLabels, Histogram, Buckets>,
    pub capability_active: Family<CapabilityLabels, Gauge>,
    pub capability_loads: Family<CapabilityLoadLabels, Counter>,
    pub instances: Family<CapabilityLabels, Counter>,
    pub instances_active: Family<CapabilityLabels, Gauge>,
    pub instantiation_duration: Family<CapabilityLabels, Histogram>,
    pub step_duration: Family<StepLabels, Histogram, Buckets>,
    pub script_runs: Family<ScriptLabels, Counter>,
    pub egress_refused: Family<EgressRefusedLabels, Counter>,
    pub script_memory: Family<CapabilityLabels, Histogram, Buckets>,
    pub consumes_ready: Family<RouteLabels, Gauge>,
    pub tunnel_dials: Family<TunnelDialLabels, Counter>,
    pub tunnel_dial_duration: Family<TunnelLabels, Histogram, Buckets>,
    pub tunnel_state: Family<TunnelStateLabels, Gauge>,
    pub tunnel_fallback_direct: Family<TunnelLabels, Counter>,
    pub tunnel_retries: Family<TunnelLabels, Counter>,
    pub tunnel_bytes_received: Family<TunnelLabels, Counter>,
    pub tunnel_bytes_sent: Family<TunnelLabels, Counter>,
}

impl Metrics {
    /// One answered inbound request: `ikanos_requests_total` and its duration.
    pub fn record_request(
        &self,
        capability: &str,
        adapter: AdapterType,
        operation_id: &str,
        method: &str,
        status: u16,
        elapsed: std::time::Duration,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                capability: capability.to_string(),
                ikanos_adapter_type: adapter.clone(),
                ikanos_operation_id: operation_id.to_string(),
                http_request_method: method.to_string(),
                http_response_status_code: status,
            })
            .inc();
        self.request_duration
            .get_or_create(&OperationLabels {
                capability: capability.to_string(),
                ikanos_adapter_type: adapter,
                ikanos_operation_id: operation_id.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// One failed inbound request: `ikanos_request_errors_total` by `error_type`.
    pub fn record_error(
        &self,
        capability: &str,
        adapter: AdapterType,
        operation_id: &str,
        error_type: &str,
    ) {
        self.request_errors
            .get_or_create(&ErrorLabels {
                capability: capability.to_string(),
                ikanos_adapter_type: adapter,
                ikanos_operation_id: operation_id.to_string(),
                error_type: error_type.to_string(),
            })
            .inc();
    }

    pub fn new() -> Arc<Self> {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "ikanos_request",
            "Inbound requests handled by exposed adapters",
            requests.clone(),
        );
        let request_duration = Family::new_with_constructor(Buckets(LATENCY));
        registry.register(
            "ikanos_request_duration_seconds",
            "Time to answer an inbound request",
            request_duration.clone(),
        );
        let request_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "ikanos_request_errors",
            "Inbound requests that ended in an error, by error type",
            request_errors.clone(),
        );
        let client_calls = Family::<ClientLabels, Counter>::default();
        registry.register(
            "ikanos_http_client",
            "Outbound calls to consumed operations",
            client_calls.clone(),
        );
        let client_duration = Family::new_with_constructor(Buckets(LATENCY));
        registry.register(
            "ikanos_http_client_duration_seconds",
            "Time for an outbound call to a consumed operation",
            client_duration.clone(),
        );
        let capability_active = Family::<CapabilityLabels, Gauge>::default();
        registry.register(
            "ikanos_capability_active",
            "1 while the capability is loaded and serving",
            capability_active.clone(),
        );
        let capability_loads = Family::<CapabilityLoadLabels, Counter>::default();
        registry.register(
            "ikanos_capability_loads",
            "Capabilities loaded, replaced, removed or failed to load (ikanos serve)",
            capability_loads.clone(),
        );
        let instances = Family::<CapabilityLabels, Counter>::default();
        registry.register(
            "ikanos_instances",
            "Component instances created (one per request)",
            instances.clone(),
        );
        let instances_active = Family::<CapabilityLabels, Gauge>::default();
        registry.register(
            "ikanos_instances_active",
            "Component instances alive right now",
            instances_active.clone(),
        );
        // 1 µs … ~16 ms
        let instantiation_duration =
            Family::<CapabilityLabels, Histogram>::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_001, 2.0, 15))
            });
        registry.register(
            "ikanos_instantiation_duration_seconds",
            "Time to instantiate a component for one request",
            instantiation_duration.clone(),
        );
        let step_duration = Family::new_with_constructor(Buckets(LATENCY));
        registry.register(
            "ikanos_step_duration_seconds",
            "Time of one orchestration step of a declarative operation",
            step_duration.clone(),
        );
        let script_runs = Family::<ScriptLabels, Counter>::default();
        registry.register(
            "ikanos_script_runs",
            "Script steps run, by how they ended (limits and refusals included)",
            script_runs.clone(),
        );
        let egress_refused = Family::<EgressRefusedLabels, Counter>::default();
        registry.register(
            "ikanos_egress_refused",
            "Outgoing wasi:http requests of a component refused because no declared consumes operation matches them (or its call budget is spent)",
            egress_refused.clone(),
        );
        let script_memory = Family::new_with_constructor(Buckets(MEMORY_BYTES));
        registry.register(
            "ikanos_script_memory_bytes",
            "Largest linear memory of one script step's interpreter instance",
            script_memory.clone(),
        );
        let consumes_ready = Family::<RouteLabels, Gauge>::default();
        registry.register(
            "ikanos_consumes_ready",
            "1 when a consumed namespace can be called (its route is ready), else 0",
            consumes_ready.clone(),
        );
        let tunnel_dials = Family::<TunnelDialLabels, Counter>::default();
        registry.register(
            "ikanos_tunnel_dial",
            "Dials through a tunnel, by outcome",
            tunnel_dials.clone(),
        );
        let tunnel_dial_duration = Family::new_with_constructor(Buckets(LATENCY));
        registry.register(
            "ikanos_tunnel_dial_duration_seconds",
            "Time to open a stream through a tunnel",
            tunnel_dial_duration.clone(),
        );
        let tunnel_state = Family::<TunnelStateLabels, Gauge>::default();
        registry.register(
            "ikanos_tunnel_state",
            "1 for the tunnel's current state, 0 for the others",
            tunnel_state.clone(),
        );
        let tunnel_fallback_direct = Family::<TunnelLabels, Counter>::default();
        registry.register(
            "ikanos_tunnel_fallback_direct",
            "Calls sent directly because the tunnel was down (fallback: direct)",
            tunnel_fallback_direct.clone(),
        );
        let tunnel_retries = Family::<TunnelLabels, Counter>::default();
        registry.register(
            "ikanos_tunnel_retries",
            "Idempotent calls sent once more because the tunnel connection they went out on broke before any answer",
            tunnel_retries.clone(),
        );
        let tunnel_bytes_received = Family::<TunnelLabels, Counter>::default();
        registry.register(
            "ikanos_tunnel_received_bytes",
            "Bytes received through the tunnel",
            tunnel_bytes_received.clone(),
        );
        let tunnel_bytes_sent = Family::<TunnelLabels, Counter>::default();
        registry.register(
            "ikanos_tunnel_sent_bytes",
            "Bytes sent through the tunnel",
            tunnel_bytes_sent.clone(),
        );
        Arc::new(Metrics {
            registry,
            requests,
            request_duration,
            request_errors,
            client_calls,
            client_duration,
            capability_active,
            capability_loads,
            instances,
            instances_active,
            instantiation_duration,
            step_duration,
            script_runs,
            egress_refused,
            script_memory,
            consumes_ready,
            tunnel_dials,
            tunnel_dial_duration,
            tunnel_state,
            tunnel_fallback_direct,
            tunnel_retries,
            tunnel_bytes_received,
            tunnel_bytes_sent,
        })
    }

    /// The registry in the text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Flushes spans still queued for export when dropped (at the end of `ikanos run` and
/// `ikanos serve`).
pub struct TelemetryGuard {
    provider: opentelemetry_sdk::trace::SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// Logs go to stderr (`RUST_LOG` or `--log-level` filter them). Spans of the host's
/// own work (requests, consumed calls, tunnel dials, steps) go to the trace pipeline
/// whatever the log level, and are built only while something consumes them (see
/// [`traces`]). Until a capability's settings are applied, the host's own are: an OTLP
/// exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, W3C propagation.
pub fn init(level: &str, format: LogFormat) -> Result<TelemetryGuard, String> {
    use tracing_subscriber::filter::EnvFilter;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},wasmtime=warn,cranelift=warn")));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(true);
    let fmt = match format {
        LogFormat::Text => fmt.with_ansi(false).boxed(),
        LogFormat::Json => fmt.json().boxed(),
    };
    let (spans, provider) = traces::layer();
    let _ = tracing_subscriber::registry()
        .with(spans)
        .with(fmt.with_filter(filter))
        .try_init();
    let guard = TelemetryGuard { provider };
    traces::apply(&traces::TraceSettings::host_defaults()).map_err(|e| e.to_string())?;
    Ok(guard)
}
