//! The trace pipeline: one OpenTelemetry tracer provider for the process, installed
//! with the log subscriber before anything loads, then set to a capability's settings
//! once its file is read (`ikanos run`), or left at the host's (`ikanos serve`).
//!
//! Owns: whether spans are recorded at all ([`recording`]: only when something
//! consumes them — an OTLP exporter or the local buffer — so that a host with neither
//! builds no spans), the sampler (parent-based: a caller's decision is followed, new
//! traces are kept at the `sampling` ratio), the span processors, the service name,
//! and the order of precedence between the file and the environment. Must not touch:
//! header formats (`propagation`), the buffer's bounds (`buffer`), TLS and endpoints
//! (`otlp`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use ikanos_spec::model::Propagation;
use opentelemetry::trace::{Link, SpanKind, TraceId, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, Sampler, SamplingResult, SdkTracerProvider, ShouldSample, SpanData,
    SpanProcessor,
};
use tracing_subscriber::filter::{FilterExt, LevelFilter, Targets};
use tracing_subscriber::Layer;

use super::buffer::TraceBuffer;
use super::otlp::{self, Endpoint, OtlpError};
use super::propagation;

/// What a process traces, from a capability's control entry or the host's defaults.
#[derive(Debug, Clone)]
pub struct TraceSettings {
    /// `observability.enabled`: false records nothing and propagates nothing.
    pub enabled: bool,
    /// The share of new traces recorded (0.0 ..= 1.0).
    pub sampling: f64,
    pub propagation: Propagation,
    /// `Some(buffer-size)`: keep the last finished traces for `/traces`.
    pub buffer: Option<usize>,
    /// The file's collector; the environment's wins over it.
    pub otlp: Option<Endpoint>,
    /// `service.name` of exported spans; `OTEL_SERVICE_NAME` wins over it.
    pub service_name: String,
}

impl TraceSettings {
    /// The host's own settings, which no file changes: every trace, W3C, no local
    /// buffer, export when the environment names a collector.
    pub fn host_defaults() -> TraceSettings {
        TraceSettings {
            enabled: true,
            sampling: 1.0,
            propagation: Propagation::W3c,
            buffer: None,
            otlp: None,
            service_name: "ikanos".into(),
        }
    }
}

/// The outcome of [`apply`].
#[derive(Debug)]
pub struct Applied {
    /// The buffer `/traces` reads, when one was asked for and spans are recorded.
    pub buffer: Option<Arc<TraceBuffer>>,
    /// `OTEL_SDK_DISABLED=true`, the standard switch, turned spans off.
    pub sdk_disabled: bool,
}

/// The root sampler's ratio, as `f64` bits: set by [`apply`], read on every new trace.
#[derive(Debug, Clone)]
struct RootRatio(Arc<AtomicU64>);

impl ShouldSample for RootRatio {
    fn should_sample(
        &self,
        parent_context: Option<&opentelemetry::Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let ratio = f64::from_bits(self.0.load(Ordering::Relaxed));
        Sampler::TraceIdRatioBased(ratio).should_sample(
            parent_context,
            trace_id,
            name,
            span_kind,
            attributes,
            links,
        )
    }
}

/// The provider's one processor: the ones [`apply`] installs, swapped at run time
/// (the provider itself is fixed once the subscriber is installed).
#[derive(Debug, Clone, Default)]
struct Slot(Arc<RwLock<Vec<Box<dyn SpanProcessor>>>>);

impl Slot {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Box<dyn SpanProcessor>>> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl SpanProcessor for Slot {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        for p in self.read().iter() {
            p.on_start(span, cx);
        }
    }

    fn on_end(&self, span: SpanData) {
        let processors = self.read();
        if let Some((last, others)) = processors.split_last() {
            for p in others {
                p.on_end(span.clone());
            }
            last.on_end(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.read().iter().try_for_each(|p| p.force_flush())
    }

    /// Every processor is shut down (each flushes what it holds), even after one
    /// failed; the first failure is returned.
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let mut outcome = Ok(());
        for p in self.read().iter() {
            let one = p.shutdown_with_timeout(timeout);
            if outcome.is_ok() {
                outcome = one;
            }
        }
        outcome
    }
}

struct Pipeline {
    provider: SdkTracerProvider,
    ratio: Arc<AtomicU64>,
    processors: Slot,
}

static PIPELINE: OnceLock<Pipeline> = OnceLock::new();
static RECORDING: AtomicBool = AtomicBool::new(false);

fn pipeline() -> &'static Pipeline {
    PIPELINE.get_or_init(|| {
        let ratio = Arc::new(AtomicU64::new(1.0f64.to_bits()));
        let processors = Slot::default();
        let provider = SdkTracerProvider::builder()
            .with_sampler(Sampler::ParentBased(Box::new(RootRatio(ratio.clone()))))
            .with_span_processor(processors.clone())
            .build();
        Pipeline {
            provider,
            ratio,
            processors,
        }
    })
}

/// Whether spans are recorded now (something consumes them).
pub fn recording() -> bool {
    RECORDING.load(Ordering::Relaxed)
}

/// The OpenTelemetry layer of the log subscriber, and the provider to shut down at
/// exit (it flushes what is queued for export). Spans of the host's own work (target
/// `ikanos`, INFO and above) reach it only while [`recording`].
pub(super) fn layer<S>() -> (impl Layer<S>, SdkTracerProvider)
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let p = pipeline();
    let only_while_recording = tracing_subscriber::filter::filter_fn(|_| recording())
        .with_max_level_hint(LevelFilter::INFO);
    let filter = Targets::new()
        .with_target("ikanos", tracing::Level::INFO)
        .and(only_while_recording);
    let layer = tracing_opentelemetry::layer()
        .with_tracer(p.provider.tracer("ikanos"))
        .with_filter(filter);
    (layer, p.provider.clone())
}

/// Which side of an HTTP exchange a span stands for.
#[derive(Debug, Clone, Copy)]
pub enum Side {
    /// An inbound request: a 5xx is an error (a 4xx is the caller's).
    Server,
    /// A consumed call: a 4xx or 5xx is an error, and so is no answer.
    Client,
}

/// The outcome of an HTTP exchange on its span, as OpenTelemetry's HTTP conventions
/// have it: `http.response.status_code`, and an error status (what `/traces` shows as
/// `ERROR`). `status` None: no response came.
pub fn record_status(span: &tracing::Span, side: Side, status: Option<u16>) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    if !recording() {
        return;
    }
    if let Some(code) = status {
        span.set_attribute("http.response.status_code", i64::from(code));
    }
    let failed_from = match side {
        Side::Server => 500,
        Side::Client => 400,
    };
    match status {
        Some(code) if code < failed_from => {}
        Some(code) => span.set_status(opentelemetry::trace::Status::error(format!("HTTP {code}"))),
        None => span.set_status(opentelemetry::trace::Status::error("no response")),
    }
}

fn sdk_disabled() -> bool {
    std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Trace as `settings` say from now on. The environment keeps upstream's precedence:
/// `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT` over the file's endpoint (said in a
/// warning), `OTEL_SERVICE_NAME` over the service name, and `OTEL_SDK_DISABLED=true`
/// over everything that records spans. Blocking: it may flush the processors it
/// replaces.
pub fn apply(settings: &TraceSettings) -> Result<Applied, OtlpError> {
    let sdk_disabled = sdk_disabled();
    let record = settings.enabled && !sdk_disabled;
    let endpoint = match otlp::from_env()? {
        Some(env) => {
            if let Some(file) = &settings.otlp {
                tracing::warn!(
                    "{} is overridden by {}: spans go to {} (the environment wins over the file, as upstream)",
                    file.origin,
                    env.origin,
                    env.shown()
                );
            }
            Some(env)
        }
        None => settings.otlp.clone(),
    };
    let mut processors: Vec<Box<dyn SpanProcessor>> = Vec::new();
    let mut buffer = None;
    if record {
        let service = std::env::var("OTEL_SERVICE_NAME")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| settings.service_name.clone());
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(service)
            .build();
        if let Some(e) = &endpoint {
            let mut export = BatchSpanProcessor::builder(otlp::exporter(e)?).build();
            export.set_resource(&resource);
            processors.push(Box::new(export));
            tracing::info!(collector = %e.shown(), origin = %e.origin, sampling = settings.sampling, "exporting traces over OTLP/HTTP (metrics stay on the control port's /metrics)");
        }
        if let Some(size) = settings.buffer {
            let b = TraceBuffer::new(size);
            processors.push(Box::new(b.processor()));
            buffer = Some(b);
        }
    } else if sdk_disabled && (endpoint.is_some() || settings.buffer.is_some()) {
        tracing::info!("OTEL_SDK_DISABLED=true: no spans are recorded or exported");
    }
    let p = pipeline();
    p.ratio.store(
        settings.sampling.clamp(0.0, 1.0).to_bits(),
        Ordering::Relaxed,
    );
    propagation::set(settings.enabled.then_some(settings.propagation));
    RECORDING.store(!processors.is_empty(), Ordering::Relaxed);
    let replaced = std::mem::replace(
        &mut *p.processors.0.write().unwrap_or_else(|e| e.into_inner()),
        processors,
    );
    // Outside the lock: shutting an exporter down flushes what it queued.
    for old in replaced {
        let _ = old.shutdown();
    }
    Ok(Applied {
        buffer,
        sdk_disabled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::Tracer as _;

    /// The sampler the pipeline uses, on a provider of its own: a new trace is kept
    /// at the ratio, a caller's decision is followed either way.
    #[test]
    fn new_traces_follow_the_ratio_and_callers_decisions_are_kept() {
        let ratio = Arc::new(AtomicU64::new(0.0f64.to_bits()));
        let buffer = TraceBuffer::new(100);
        let provider = SdkTracerProvider::builder()
            .with_sampler(Sampler::ParentBased(Box::new(RootRatio(ratio.clone()))))
            .with_span_processor(buffer.processor())
            .build();
        let tracer = provider.tracer("test");
        for _ in 0..20 {
            tracer.in_span("request", |_| {});
        }
        assert_eq!(buffer.len(), 0, "ratio 0: no new trace");
        let caller = |sampled: bool| {
            opentelemetry::Context::new().with_remote_span_context(
                opentelemetry::trace::SpanContext::new(
                    TraceId::from(0x4bf92f3577b34da6a3ce929d0e0e4736u128),
                    opentelemetry::trace::SpanId::from(0xf067aa0ba902b7u64),
                    if sampled {
                        opentelemetry::trace::TraceFlags::SAMPLED
                    } else {
                        opentelemetry::trace::TraceFlags::NOT_SAMPLED
                    },
                    true,
                    Default::default(),
                ),
            )
        };
        use opentelemetry::trace::TraceContextExt as _;
        tracer.start_with_context("request", &caller(true));
        assert_eq!(buffer.len(), 1, "a sampled caller is followed at ratio 0");
        ratio.store(1.0f64.to_bits(), Ordering::Relaxed);
        tracer.start_with_context("request", &caller(false));
        assert_eq!(
            buffer.len(),
            1,
            "an unsampled caller is followed at ratio 1"
        );
        for _ in 0..5 {
            tracer.in_span("request", |_| {});
        }
        assert_eq!(buffer.len(), 6, "ratio 1: every new trace");
    }
}
