//! A loopback OTLP/HTTP collector for the tests: accepts `POST /v1/traces` with
//! `application/json` bodies (OTLP's JSON encoding) and keeps every span it receives.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

#[derive(Debug, Clone)]
pub struct Span {
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
}

pub struct Collector {
    pub addr: SocketAddr,
    spans: Arc<Mutex<Vec<Span>>>,
}

impl Collector {
    pub fn start() -> Collector {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let spans = Arc::new(Mutex::new(Vec::new()));
        let store = spans.clone();
        super::serve_on_thread(listener, None, move |stream| {
            let store = store.clone();
            async move {
                let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let store = store.clone();
                    async move {
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                            store.lock().unwrap().extend(spans_of(&v));
                        }
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(
                            b"{}",
                        ))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            }
        });
        Collector { addr, spans }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }

    /// The spans named `names` of trace `trace`, in that order, once all were exported
    /// (panics after 20 s).
    pub fn wait_for_spans(&self, trace: &str, names: &[&str]) -> Vec<Span> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let spans = self.spans();
            let found: Option<Vec<Span>> = names
                .iter()
                .map(|name| {
                    spans
                        .iter()
                        .find(|s| s.name == *name && s.trace_id == trace)
                        .cloned()
                })
                .collect();
            if let Some(found) = found {
                return found;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "spans not exported: {spans:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

fn spans_of(v: &serde_json::Value) -> Vec<Span> {
    let s = |x: &serde_json::Value| x.as_str().unwrap_or_default().to_lowercase();
    let mut out = Vec::new();
    for rs in v["resourceSpans"].as_array().into_iter().flatten() {
        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
            for sp in ss["spans"].as_array().into_iter().flatten() {
                out.push(Span {
                    name: s(&sp["name"]),
                    trace_id: s(&sp["traceId"]),
                    span_id: s(&sp["spanId"]),
                    parent_span_id: s(&sp["parentSpanId"]),
                });
            }
        }
    }
    out
}
