//! Telemetry: the Prometheus registry every part of the host records into, and log set-up.
//!
//! Owns: metric names, labels and buckets (one place, so `/metrics` stays coherent),
//! and the tracing subscriber. Must not touch: requests, secrets (label values are
//! namespaces, operation names, methods, addresses and status codes — never values).

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub capability: String,
    pub ikanos_namespace: String,
    pub ikanos_route: String,
}

#[derive(Clone)]
pub struct Buckets(&'static [f64]);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

/// Request latencies: 100 µs … ~52 s.
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
    pub instances: Family<CapabilityLabels, Counter>,
    pub instances_active: Family<CapabilityLabels, Gauge>,
    pub instantiation_duration: Family<CapabilityLabels, Histogram>,
    pub consumes_ready: Family<RouteLabels, Gauge>,
}

impl Metrics {
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
        let consumes_ready = Family::<RouteLabels, Gauge>::default();
        registry.register(
            "ikanos_consumes_ready",
            "1 when a consumed namespace can be called (its route is ready), else 0",
            consumes_ready.clone(),
        );
        Arc::new(Metrics {
            registry,
            requests,
            request_duration,
            request_errors,
            client_calls,
            client_duration,
            capability_active,
            instances,
            instances_active,
            instantiation_duration,
            consumes_ready,
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

/// Logs go to stderr; `RUST_LOG` (or `--log-level`) filters them.
pub fn init_logging(level: &str, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},wasmtime=warn,cranelift=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
