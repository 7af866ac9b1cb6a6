//! Trace context in and out of HTTP headers, in the format the capability's control
//! entry names (`observability.traces.propagation`): W3C Trace Context (`traceparent`,
//! `tracestate`) or Zipkin B3 (`X-B3-*` out, as upstream's `b3multi`; the single `b3`
//! header or the `X-B3-*` ones in). Without a control entry, W3C.
//!
//! Owns: reading the caller's context, continuing it in a request span, and writing
//! the context of a consumed call into its request — with spans when they are recorded
//! (`super::traces`), otherwise by passing the caller's trace on with a fresh parent
//! id. Must not touch: anything else in a request; header values are never logged.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::LazyLock;

use ikanos_spec::model::Propagation;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The format in force: one process runs one capability's settings (`ikanos run`) or
/// the host's defaults (`ikanos serve`), set before requests are served.
static FORMAT: AtomicU8 = AtomicU8::new(W3C);
const W3C: u8 = 0;
const B3: u8 = 1;
/// `observability.enabled: false`: no context is read or written, as upstream's no-op
/// telemetry.
const OFF: u8 = 2;

static TRACE_CONTEXT: LazyLock<opentelemetry_sdk::propagation::TraceContextPropagator> =
    LazyLock::new(opentelemetry_sdk::propagation::TraceContextPropagator::new);
static B3_MULTI: B3Headers = B3Headers;

/// Set the format; None turns propagation off.
pub(super) fn set(format: Option<Propagation>) {
    let v = match format {
        Some(Propagation::W3c) => W3C,
        Some(Propagation::B3) => B3,
        None => OFF,
    };
    FORMAT.store(v, Ordering::Relaxed);
}

fn format() -> u8 {
    FORMAT.load(Ordering::Relaxed)
}

fn propagator(format: u8) -> Option<&'static dyn TextMapPropagator> {
    match format {
        W3C => Some(&*TRACE_CONTEXT),
        B3 => Some(&B3_MULTI),
        _ => None,
    }
}

/// Zipkin's B3 headers. Written here: the one Rust implementation
/// (`opentelemetry-zipkin`'s) is deprecated with that whole crate as of 0.33. Out: the
/// multi-header form (`x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled`), as upstream's
/// `b3multi`; in: the single `b3` header first, else the multi-header form. A missing
/// or unknown sampling decision reads as not sampled, as upstream's (Java) B3
/// propagator reads it.
#[derive(Debug)]
struct B3Headers;

const B3_SINGLE: &str = "b3";
const B3_TRACE_ID: &str = "x-b3-traceid";
const B3_SPAN_ID: &str = "x-b3-spanid";
const B3_SAMPLED: &str = "x-b3-sampled";
const B3_FLAGS: &str = "x-b3-flags";
static B3_FIELDS: LazyLock<[String; 4]> =
    LazyLock::new(|| [B3_SINGLE, B3_TRACE_ID, B3_SPAN_ID, B3_SAMPLED].map(String::from));

impl B3Headers {
    fn lower_hex(s: &str) -> bool {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    /// 32 hex digits, or 16 (a 64-bit id, zero-padded).
    fn trace_id(s: &str) -> Option<TraceId> {
        (matches!(s.len(), 16 | 32) && Self::lower_hex(s))
            .then(|| TraceId::from_hex(s).ok())
            .flatten()
    }

    fn span_id(s: &str) -> Option<SpanId> {
        (s.len() == 16 && Self::lower_hex(s))
            .then(|| SpanId::from_hex(s).ok())
            .flatten()
    }

    /// `1`, `true` and `d` (debug) are sampled; `0` and `false` are not.
    fn sampled(s: &str) -> Option<bool> {
        match s {
            "1" | "true" | "d" => Some(true),
            "0" | "false" => Some(false),
            _ => None,
        }
    }

    fn context(trace_id: TraceId, span_id: SpanId, sampled: bool) -> Option<SpanContext> {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::NOT_SAMPLED
        };
        let sc = SpanContext::new(trace_id, span_id, flags, true, TraceState::default());
        sc.is_valid().then_some(sc)
    }

    /// `b3: {trace}-{span}[-{sampled}[-{parent}]]`.
    fn single(e: &dyn Extractor) -> Option<SpanContext> {
        let mut parts = e.get(B3_SINGLE)?.trim().split('-');
        let trace_id = Self::trace_id(parts.next()?)?;
        let span_id = Self::span_id(parts.next()?)?;
        let sampled = match parts.next() {
            Some(s) => Self::sampled(s)?,
            None => false,
        };
        if let Some(parent) = parts.next() {
            Self::span_id(parent)?;
        }
        if parts.next().is_some() {
            return None;
        }
        Self::context(trace_id, span_id, sampled)
    }

    fn multi(e: &dyn Extractor) -> Option<SpanContext> {
        let trace_id = Self::trace_id(e.get(B3_TRACE_ID)?.trim())?;
        let span_id = Self::span_id(e.get(B3_SPAN_ID)?.trim())?;
        let debug = e.get(B3_FLAGS).map(str::trim) == Some("1");
        let sampled = match e.get(B3_SAMPLED) {
            _ if debug => true,
            Some(s) => Self::sampled(s.trim())?,
            None => false,
        };
        Self::context(trace_id, span_id, sampled)
    }
}

impl TextMapPropagator for B3Headers {
    fn inject_context(&self, cx: &opentelemetry::Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let sc = span.span_context();
        if sc.is_valid() {
            injector.set(B3_TRACE_ID, sc.trace_id().to_string());
            injector.set(B3_SPAN_ID, sc.span_id().to_string());
            injector.set(B3_SAMPLED, if sc.is_sampled() { "1" } else { "0" }.into());
        }
    }

    fn extract_with_context(
        &self,
        cx: &opentelemetry::Context,
        extractor: &dyn Extractor,
    ) -> opentelemetry::Context {
        match Self::single(extractor).or_else(|| Self::multi(extractor)) {
            Some(sc) => cx.with_remote_span_context(sc),
            None => cx.clone(),
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&*B3_FIELDS)
    }
}

struct Headers<'a>(&'a http::HeaderMap);
struct HeadersMut<'a>(&'a mut http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(k, v);
        }
    }
}

/// The caller's trace context, when well formed, written as a W3C `traceparent`
/// whatever format it came in: the one shape the runtime carries to consumed calls.
pub fn inbound(headers: &http::HeaderMap) -> Option<String> {
    inbound_as(format(), headers)
}

fn inbound_as(format: u8, headers: &http::HeaderMap) -> Option<String> {
    match format {
        W3C => w3c_traceparent(headers),
        B3 => {
            let cx = B3_MULTI.extract(&Headers(headers));
            let sc = cx.span().span_context().clone();
            sc.is_valid().then(|| {
                format!(
                    "00-{}-{}-{:02x}",
                    sc.trace_id(),
                    sc.span_id(),
                    sc.trace_flags().to_u8()
                )
            })
        }
        _ => None,
    }
}

/// A well-formed `traceparent` (W3C trace context, version 00).
fn w3c_traceparent(headers: &http::HeaderMap) -> Option<String> {
    let v = headers.get("traceparent")?.to_str().ok()?.trim();
    let parts: Vec<&str> = v.split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let ok = parts.len() == 4
        && parts[0] == "00"
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
        && parts[1].bytes().any(|b| b != b'0')
        && parts[2].bytes().any(|b| b != b'0');
    ok.then(|| v.to_string())
}

/// Continue the caller's trace in `span` (when spans are recorded).
pub fn continue_from(span: &tracing::Span, headers: &http::HeaderMap) {
    if !super::traces::recording() {
        return;
    }
    if let Some(p) = propagator(format()) {
        let _ = span.set_parent(p.extract(&Headers(headers)));
    }
}

/// Write the trace context into an outgoing request: `span`'s when spans are
/// recorded; otherwise the caller's trace (`inbound`, from [`inbound`]) with a fresh
/// parent id, so the upstream still joins the caller's trace.
pub fn inject(span: &tracing::Span, inbound: Option<&str>, headers: &mut http::HeaderMap) {
    inject_as(format(), super::traces::recording(), span, inbound, headers);
}

fn inject_as(
    format: u8,
    recording: bool,
    span: &tracing::Span,
    inbound: Option<&str>,
    headers: &mut http::HeaderMap,
) {
    let Some(p) = propagator(format) else {
        return;
    };
    if recording {
        p.inject_context(&span.context(), &mut HeadersMut(headers));
    } else if let Some(caller) = inbound.and_then(passed_on) {
        let cx = opentelemetry::Context::new().with_remote_span_context(caller);
        p.inject_context(&cx, &mut HeadersMut(headers));
    }
}

/// The caller's context from [`inbound`]'s `traceparent`, under a fresh span id.
fn passed_on(traceparent: &str) -> Option<SpanContext> {
    let mut parts = traceparent.split('-').skip(1);
    let trace_id = TraceId::from_hex(parts.next()?).ok()?;
    let _caller_span = parts.next()?;
    let flags = u8::from_str_radix(parts.next()?, 16).ok()?;
    let sc = SpanContext::new(
        trace_id,
        RandomIdGenerator::default().new_span_id(),
        TraceFlags::new(flags),
        true,
        TraceState::default(),
    );
    sc.is_valid().then_some(sc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut m = http::HeaderMap::new();
        for (k, v) in pairs {
            m.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        m
    }

    #[test]
    fn only_well_formed_traceparents_are_carried() {
        let h = |v: &str| inbound_as(W3C, &headers(&[("traceparent", v)]));
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(h(good).as_deref(), Some(good));
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ] {
            assert_eq!(h(bad), None, "{bad}");
        }
    }

    /// B3 in (single or multi header), W3C shape inside, B3 multi out with the same
    /// trace, a fresh parent and the caller's sampling decision; no W3C header leaks.
    #[test]
    fn b3_is_read_in_either_form_and_written_as_multi_headers() {
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let multi = headers(&[
            ("x-b3-traceid", trace),
            ("x-b3-spanid", "00f067aa0ba902b7"),
            ("x-b3-sampled", "1"),
        ]);
        let single = headers(&[("b3", &format!("{trace}-00f067aa0ba902b7-1"))]);
        for h in [multi, single] {
            let tp = inbound_as(B3, &h).expect("b3 read");
            assert_eq!(tp, format!("00-{trace}-00f067aa0ba902b7-01"));
            let mut out = http::HeaderMap::new();
            inject_as(B3, false, &tracing::Span::none(), Some(&tp), &mut out);
            assert_eq!(out.get("x-b3-traceid").unwrap(), trace);
            assert_eq!(out.get("x-b3-sampled").unwrap(), "1");
            let parent = out.get("x-b3-spanid").unwrap().to_str().unwrap();
            assert_eq!(parent.len(), 16);
            assert_ne!(parent, "00f067aa0ba902b7");
            assert!(out.get("traceparent").is_none());
        }
        for bad in [
            headers(&[("b3", &format!("{trace}-00F067AA0BA902B7-1"))]),
            headers(&[("b3", &format!("{trace}-00f067aa0ba902b7-x"))]),
            headers(&[("b3", "0")]),
            headers(&[("x-b3-traceid", trace)]),
            headers(&[("x-b3-traceid", "abc"), ("x-b3-spanid", "00f067aa0ba902b7")]),
        ] {
            assert_eq!(inbound_as(B3, &bad), None, "{bad:?}");
        }
        // 64-bit trace ids are padded; no sampling decision reads as not sampled.
        let short = headers(&[
            ("x-b3-traceid", "a3ce929d0e0e4736"),
            ("x-b3-spanid", "00f067aa0ba902b7"),
        ]);
        assert_eq!(
            inbound_as(B3, &short).as_deref(),
            Some("00-0000000000000000a3ce929d0e0e4736-00f067aa0ba902b7-00")
        );
        // A W3C header alone is not B3.
        let w3c = headers(&[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )]);
        assert_eq!(inbound_as(B3, &w3c), None);
    }

    #[test]
    fn off_reads_and_writes_nothing() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(inbound_as(OFF, &headers(&[("traceparent", tp)])), None);
        let mut out = http::HeaderMap::new();
        inject_as(OFF, false, &tracing::Span::none(), Some(tp), &mut out);
        assert!(out.is_empty());
        inject_as(W3C, false, &tracing::Span::none(), Some(tp), &mut out);
        let written = out.get("traceparent").unwrap().to_str().unwrap();
        assert!(
            written.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-") && written.ends_with("-01"),
            "{written}"
        );
    }
}
