//! The local trace buffer behind the control port's `/traces` (upstream's
//! `TraceRingBuffer` fed by `TraceCapturingSpanProcessor`): the last `buffer-size`
//! finished traces, each a summary of its spans.
//!
//! Owns: grouping finished spans by trace id until the trace's root ends (a span with
//! no parent or a remote one, as upstream), and the bounds: `capacity` finished traces,
//! `max_spans` spans per trace, `max_pending` traces still open, and `max_bytes` for all
//! of it; past a bound the oldest goes first. A summary keeps ids, names, kinds,
//! durations and statuses only — never attributes or events, so nothing a request
//! carried (and no secret) can reach the buffer. Must not touch: export, sampling,
//! the JSON shapes (the control port's).

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanProcessor};

/// Spans kept per trace: a request makes a handful (the request, its consumed calls,
/// tunnel dials, declarative steps); a runaway one must not fill the buffer alone.
const MAX_SPANS_PER_TRACE: usize = 512;
/// Traces whose root has not ended yet (requests in flight, or spans orphaned by a
/// root that ended first).
const MAX_PENDING_TRACES: usize = 1024;
/// Memory for finished and pending traces together.
const MAX_BYTES: usize = 16 << 20;

/// One finished span, as `/traces/{id}` shows it.
#[derive(Debug, Clone)]
pub struct SpanSummary {
    pub span_id: SpanId,
    /// Invalid for a span without a parent; a root continuing a caller's trace keeps
    /// the caller's span id here.
    pub parent_span_id: SpanId,
    pub name: Cow<'static, str>,
    pub kind: &'static str,
    pub start: SystemTime,
    pub duration: Duration,
    /// `OK` or `ERROR` (an unset status counts as OK, as upstream).
    pub status: &'static str,
}

impl SpanSummary {
    fn of(span: &SpanData) -> SpanSummary {
        SpanSummary {
            span_id: span.span_context.span_id(),
            parent_span_id: span.parent_span_id,
            name: span.name.clone(),
            kind: match span.span_kind {
                SpanKind::Server => "SERVER",
                SpanKind::Client => "CLIENT",
                SpanKind::Producer => "PRODUCER",
                SpanKind::Consumer => "CONSUMER",
                SpanKind::Internal => "INTERNAL",
            },
            start: span.start_time,
            duration: span
                .end_time
                .duration_since(span.start_time)
                .unwrap_or_default(),
            status: match span.status {
                Status::Error { .. } => "ERROR",
                Status::Ok | Status::Unset => "OK",
            },
        }
    }

    /// What this summary costs in memory (names of spans are mostly static).
    fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + match &self.name {
                Cow::Owned(s) => s.capacity(),
                Cow::Borrowed(_) => 0,
            }
    }
}

/// One finished trace: its root span and every span of it that ended before the root.
#[derive(Debug)]
pub struct Trace {
    pub trace_id: TraceId,
    /// The root span (also in `spans`).
    pub root: SpanSummary,
    pub spans: Vec<SpanSummary>,
    /// Spans not kept because the trace had `MAX_SPANS_PER_TRACE` already.
    pub dropped_spans: usize,
    bytes: usize,
}

#[derive(Default)]
struct Pending {
    spans: Vec<SpanSummary>,
    dropped: usize,
    bytes: usize,
}

#[derive(Default)]
struct Inner {
    finished: VecDeque<Arc<Trace>>,
    pending: HashMap<TraceId, Pending>,
    /// Pending trace ids, oldest first (may name traces already finished or evicted).
    pending_order: VecDeque<TraceId>,
    bytes: usize,
}

pub struct TraceBuffer {
    capacity: usize,
    max_spans: usize,
    max_pending: usize,
    max_bytes: usize,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for TraceBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceBuffer")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

impl TraceBuffer {
    /// A buffer of the last `capacity` traces, with the host's other bounds.
    pub fn new(capacity: usize) -> Arc<TraceBuffer> {
        Self::with_bounds(capacity, MAX_SPANS_PER_TRACE, MAX_PENDING_TRACES, MAX_BYTES)
    }

    fn with_bounds(
        capacity: usize,
        max_spans: usize,
        max_pending: usize,
        max_bytes: usize,
    ) -> Arc<TraceBuffer> {
        Arc::new(TraceBuffer {
            capacity: capacity.max(1),
            max_spans: max_spans.max(1),
            max_pending: max_pending.max(1),
            max_bytes,
            inner: Mutex::new(Inner::default()),
        })
    }

    /// The `buffer-size` it was made with.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Finished traces held.
    pub fn len(&self) -> usize {
        self.lock().finished.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Finished traces, most recent first.
    pub fn recent(&self) -> Vec<Arc<Trace>> {
        self.lock().finished.iter().rev().cloned().collect()
    }

    /// The most recent finished trace with id `id` (32 lowercase hex digits).
    pub fn find(&self, id: &str) -> Option<Arc<Trace>> {
        let id = TraceId::from_hex(id).ok()?;
        self.lock()
            .finished
            .iter()
            .rev()
            .find(|t| t.trace_id == id)
            .cloned()
    }

    /// The processor that feeds this buffer.
    pub fn processor(self: &Arc<Self>) -> BufferProcessor {
        BufferProcessor(self.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every update is
        // completed before the next bound check): keep serving it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, span: &SpanData) {
        let trace_id = span.span_context.trace_id();
        let summary = SpanSummary::of(span);
        let is_root = span.parent_span_id == SpanId::INVALID || span.parent_span_is_remote;
        let size = summary.bytes();
        let mut inner = self.lock();
        let inner = &mut *inner;
        if is_root {
            // The root is always kept: without it the trace has no summary.
            let mut p = inner.pending.remove(&trace_id).unwrap_or_default();
            p.spans.push(summary.clone());
            p.bytes += size;
            inner.bytes += size;
            inner.finished.push_back(Arc::new(Trace {
                trace_id,
                root: summary,
                spans: p.spans,
                dropped_spans: p.dropped,
                bytes: p.bytes,
            }));
        } else {
            if !inner.pending.contains_key(&trace_id) {
                while inner.pending.len() >= self.max_pending {
                    evict_oldest_pending(inner);
                }
                inner.pending_order.push_back(trace_id);
                // Ids of traces that finished stay in the queue until here: drop them
                // now and then, so the queue stays within twice the open traces.
                if inner.pending_order.len() > 2 * self.max_pending {
                    let pending = &inner.pending;
                    inner.pending_order.retain(|id| pending.contains_key(id));
                }
            }
            let p = inner.pending.entry(trace_id).or_default();
            if p.spans.len() >= self.max_spans {
                p.dropped += 1;
            } else {
                p.spans.push(summary);
                p.bytes += size;
                inner.bytes += size;
            }
        }
        while inner.finished.len() > self.capacity {
            evict_oldest_finished(inner);
        }
        while inner.bytes > self.max_bytes {
            if !inner.finished.is_empty() {
                evict_oldest_finished(inner);
            } else if !inner.pending.is_empty() {
                evict_oldest_pending(inner);
            } else {
                break;
            }
        }
    }
}

fn evict_oldest_finished(inner: &mut Inner) {
    if let Some(t) = inner.finished.pop_front() {
        inner.bytes -= t.bytes;
    }
}

fn evict_oldest_pending(inner: &mut Inner) {
    while let Some(id) = inner.pending_order.pop_front() {
        if let Some(p) = inner.pending.remove(&id) {
            inner.bytes -= p.bytes;
            return;
        }
    }
}

/// Feeds finished, sampled spans into a [`TraceBuffer`]; called on the thread that
/// ends the span, so it only takes a short lock.
#[derive(Debug, Clone)]
pub struct BufferProcessor(Arc<TraceBuffer>);

impl SpanProcessor for BufferProcessor {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        if span.span_context.is_sampled() {
            self.0.record(&span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, TraceFlags, TraceState};
    use opentelemetry::InstrumentationScope;

    fn span(trace: u128, id: u64, parent: u64, name: &'static str) -> SpanData {
        let now = SystemTime::now();
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(trace),
                SpanId::from(id),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::from(parent),
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: Cow::Borrowed(name),
            start_time: now,
            end_time: now + Duration::from_millis(3),
            attributes: vec![opentelemetry::KeyValue::new("secret", "never-kept")],
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        }
    }

    /// A request: two children end, then the root.
    fn request(p: &BufferProcessor, trace: u128) {
        p.on_end(span(trace, 2, 1, "consumed_call"));
        p.on_end(span(trace, 3, 1, "consumed_call"));
        p.on_end(span(trace, 1, 0, "request"));
    }

    #[test]
    fn a_trace_is_kept_when_its_root_ends_and_found_by_id() {
        let buffer = TraceBuffer::new(10);
        let p = buffer.processor();
        p.on_end(span(7, 2, 1, "consumed_call"));
        assert!(buffer.is_empty(), "not before its root ends");
        p.on_end(span(7, 1, 0, "request"));
        let t = buffer
            .find("00000000000000000000000000000007")
            .expect("kept");
        assert_eq!(t.root.name, "request");
        assert_eq!(t.spans.len(), 2);
        assert_eq!(t.spans[0].parent_span_id, SpanId::from(1));
        assert_eq!(t.root.duration, Duration::from_millis(3));
        assert!(buffer.find("00000000000000000000000000000008").is_none());
        assert!(buffer.find("not-an-id").is_none());
    }

    #[test]
    fn a_root_that_continues_a_callers_trace_ends_it() {
        let buffer = TraceBuffer::new(10);
        let mut root = span(9, 1, 0xcafe, "request");
        root.parent_span_is_remote = true;
        buffer.processor().on_end(root);
        let t = buffer.find("00000000000000000000000000000009").unwrap();
        assert_eq!(t.root.parent_span_id, SpanId::from(0xcafe));
    }

    #[test]
    fn unsampled_spans_are_not_kept() {
        let buffer = TraceBuffer::new(10);
        let mut s = span(5, 1, 0, "request");
        s.span_context = SpanContext::new(
            TraceId::from(5),
            SpanId::from(1),
            TraceFlags::NOT_SAMPLED,
            false,
            TraceState::default(),
        );
        buffer.processor().on_end(s);
        assert!(buffer.is_empty());
    }

    #[test]
    fn the_oldest_traces_go_first_past_the_capacity() {
        let buffer = TraceBuffer::new(10);
        let p = buffer.processor();
        for trace in 1..=25 {
            request(&p, trace);
        }
        let recent = buffer.recent();
        assert_eq!(recent.len(), 10);
        assert_eq!(buffer.capacity(), 10);
        let ids: Vec<u128> = recent
            .iter()
            .map(|t| u128::from_be_bytes(t.trace_id.to_bytes()))
            .collect();
        assert_eq!(
            ids,
            (16..=25).rev().collect::<Vec<_>>(),
            "most recent first"
        );
    }

    #[test]
    fn spans_past_the_per_trace_bound_are_counted_not_kept_and_the_root_stays() {
        let buffer = TraceBuffer::with_bounds(10, 4, 8, MAX_BYTES);
        let p = buffer.processor();
        for id in 2..12 {
            p.on_end(span(1, id, 1, "step"));
        }
        p.on_end(span(1, 1, 0, "request"));
        let t = buffer.recent().pop().unwrap();
        assert_eq!(t.spans.len(), 5, "4 children, then the root");
        assert_eq!(t.dropped_spans, 6);
        assert_eq!(t.root.name, "request");
    }

    #[test]
    fn open_traces_are_bounded_oldest_first() {
        let buffer = TraceBuffer::with_bounds(10, 16, 3, MAX_BYTES);
        let p = buffer.processor();
        // Five requests in flight: only the three latest keep their spans.
        for trace in 1..=5 {
            p.on_end(span(trace, 2, 1, "consumed_call"));
        }
        for trace in 1..=5 {
            p.on_end(span(trace, 1, 0, "request"));
        }
        let spans: Vec<(u128, usize)> = buffer
            .recent()
            .iter()
            .map(|t| (u128::from_be_bytes(t.trace_id.to_bytes()), t.spans.len()))
            .collect();
        assert_eq!(spans, vec![(5, 2), (4, 2), (3, 2), (2, 1), (1, 1)]);
        assert_eq!(buffer.lock().pending.len(), 0);
    }

    #[test]
    fn memory_is_bounded_whatever_the_count() {
        let one = SpanSummary::of(&span(1, 1, 0, "request")).bytes();
        // Room for 10 spans: three-span traces fit three at a time.
        let buffer = TraceBuffer::with_bounds(100, 16, 16, one * 10);
        let p = buffer.processor();
        for trace in 1..=20 {
            request(&p, trace);
            let inner = buffer.lock();
            assert!(inner.bytes <= one * 10, "{} > {}", inner.bytes, one * 10);
            let counted: usize = inner.finished.iter().map(|t| t.bytes).sum::<usize>()
                + inner.pending.values().map(|p| p.bytes).sum::<usize>();
            assert_eq!(inner.bytes, counted, "the count matches what is held");
        }
        assert_eq!(buffer.len(), 3);
        assert!(buffer.lock().pending_order.len() <= 2 * 16);
        assert_eq!(
            buffer.recent()[0].trace_id,
            TraceId::from(20),
            "the latest stays"
        );
    }
}
