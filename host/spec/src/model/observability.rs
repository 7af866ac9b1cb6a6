//! A control entry's `observability` block (upstream's `ObservabilitySpec`), decoded.
//!
//! Owns: the typed settings and upstream's defaults (everything on, sampling 1.0, W3C
//! propagation, a buffer of 100 traces, no OTLP endpoint). Must not touch: how the host
//! applies them (that is the host's telemetry module).

use super::{Pos, Spanned, Template};

/// Upstream's default `traces.local.buffer-size`.
pub const DEFAULT_TRACE_BUFFER: usize = 100;
/// The schema's bounds of `traces.local.buffer-size`.
pub const TRACE_BUFFER_RANGE: std::ops::RangeInclusive<usize> = 10..=10_000;

/// How trace context travels in HTTP headers (`traces.propagation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// W3C Trace Context: `traceparent` / `tracestate`.
    #[default]
    W3c,
    /// Zipkin B3: the `X-B3-*` headers out (upstream's `b3multi`); in, the single `b3`
    /// header or the `X-B3-*` ones.
    B3,
}

impl Propagation {
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::W3c => "w3c",
            Propagation::B3 => "b3",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Observability {
    /// `enabled` (default true): false turns spans, propagation, `/metrics` and
    /// `/traces` off, as upstream's no-op telemetry does.
    pub enabled: bool,
    /// `metrics.local.enabled` (default true): whether `/metrics` is served.
    pub metrics_local: bool,
    /// `traces.sampling`, 0.0 ..= 1.0 (default 1.0): the share of new traces recorded.
    pub sampling: Option<Spanned<f64>>,
    /// `traces.propagation` (default w3c).
    pub propagation: Propagation,
    /// `traces.local.enabled` (default true): whether `/traces` is served.
    pub traces_local: bool,
    /// `traces.local.buffer-size` (default 100, 10 ..= 10000): traces `/traces` keeps.
    pub buffer_size: usize,
    /// `exporters.otlp.endpoint`: the collector's base URL; may name binds.
    pub otlp_endpoint: Option<Template>,
    /// Where the block is written; None when the control entry has none (defaults).
    pub pos: Option<Pos>,
}

impl Default for Observability {
    fn default() -> Self {
        Observability {
            enabled: true,
            metrics_local: true,
            sampling: None,
            propagation: Propagation::W3c,
            traces_local: true,
            buffer_size: DEFAULT_TRACE_BUFFER,
            otlp_endpoint: None,
            pos: None,
        }
    }
}

impl Observability {
    /// The sampling ratio in force (upstream's default 1.0).
    pub fn sampling_ratio(&self) -> f64 {
        self.sampling.as_ref().map_or(1.0, |s| s.value)
    }

    /// Whether `/metrics` is served.
    pub fn serves_metrics(&self) -> bool {
        self.enabled && self.metrics_local
    }

    /// Whether `/traces` is served (and spans are kept for it).
    pub fn serves_traces(&self) -> bool {
        self.enabled && self.traces_local
    }
}

/// Whether `raw` can be an OTLP/HTTP collector's base URL: http or https, a host, no
/// credentials (they would end up in logs; `OTEL_EXPORTER_OTLP_HEADERS` carries a
/// collector's token), no query or fragment. The reason does not repeat the value, so
/// a rendered endpoint that came from a bind is never echoed.
pub fn check_otlp_endpoint(raw: &str) -> Result<url::Url, &'static str> {
    let url = url::Url::parse(raw)
        .map_err(|_| "is not a URL (expected http://HOST:PORT or https://HOST:PORT)")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("is not an http:// or https:// URL: this host exports OTLP over HTTP");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("names no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("carries credentials: put the collector's token in OTEL_EXPORTER_OTLP_HEADERS instead, so it stays out of files and logs");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(
            "has a query or fragment: give the collector's base URL (the host adds /v1/traces)",
        );
    }
    Ok(url)
}
