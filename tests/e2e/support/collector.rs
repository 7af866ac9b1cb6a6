//! A loopback OTLP/HTTP receiver for the tests: takes `POST /v1/traces` in OTLP's
//! protobuf or JSON encoding, decodes it with OpenTelemetry's own message definitions
//! (`opentelemetry-proto`), answers as a collector does, and keeps every span. Plain
//! HTTP, or HTTPS with a certificate from a test CA.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;

#[derive(Debug, Clone)]
pub struct Span {
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    /// OTLP's `SpanKind` number (2 server, 3 client, 1 internal).
    pub kind: i32,
    /// Every attribute and event attribute, as `key=value` text.
    pub attributes: Vec<String>,
    /// `service.name` of the resource the span came with.
    pub service: String,
}

/// One export the collector received.
#[derive(Debug, Clone)]
pub struct Export {
    pub path: String,
    pub content_type: String,
    /// Why the body did not decode, if it did not.
    pub error: Option<String>,
}

pub struct Collector {
    pub addr: SocketAddr,
    /// `https://localhost:PORT` for a TLS collector.
    base: String,
    spans: Arc<Mutex<Vec<Span>>>,
    exports: Arc<Mutex<Vec<Export>>>,
}

#[derive(Default)]
struct Store {
    spans: Arc<Mutex<Vec<Span>>>,
    exports: Arc<Mutex<Vec<Export>>>,
}

impl Collector {
    /// Over plain HTTP.
    pub fn start() -> Collector {
        Self::listen(None)
    }

    /// Over HTTPS, presenting `acceptor`'s certificate (issued for `localhost`).
    pub fn start_tls(acceptor: tokio_rustls::TlsAcceptor) -> Collector {
        Self::listen(Some(acceptor))
    }

    fn listen(tls: Option<tokio_rustls::TlsAcceptor>) -> Collector {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let base = match tls {
            Some(_) => format!("https://localhost:{}", addr.port()),
            None => format!("http://{addr}"),
        };
        let store = Arc::new(Store::default());
        let (spans, exports) = (store.spans.clone(), store.exports.clone());
        super::serve_on_thread(listener, None, move |tcp| {
            let (store, tls) = (store.clone(), tls.clone());
            async move {
                let svc = service_fn(move |req| {
                    let store = store.clone();
                    async move { Ok::<_, Infallible>(receive(&store, req).await) }
                });
                let http = hyper::server::conn::http1::Builder::new();
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                    None => {
                        let _ = http.serve_connection(TokioIo::new(tcp), svc).await;
                    }
                }
            }
        });
        Collector {
            addr,
            base,
            spans,
            exports,
        }
    }

    /// The base URL to give the host (it adds `/v1/traces`).
    pub fn endpoint(&self) -> String {
        self.base.clone()
    }

    pub fn spans(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }

    pub fn exports(&self) -> Vec<Export> {
        self.exports.lock().unwrap().clone()
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
                "spans not exported: {spans:?}, exports: {:?}",
                self.exports()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

async fn receive(
    store: &Store,
    req: http::Request<hyper::body::Incoming>,
) -> http::Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let json = content_type.starts_with("application/json");
    let decoded = if json {
        serde_json::from_slice::<ExportTraceServiceRequest>(&body).map_err(|e| e.to_string())
    } else {
        ExportTraceServiceRequest::decode(body.as_ref()).map_err(|e| e.to_string())
    };
    let error = decoded.as_ref().err().cloned();
    store.exports.lock().unwrap().push(Export {
        path: path.clone(),
        content_type: content_type.clone(),
        error: error.clone(),
    });
    let status = match (&decoded, path.as_str()) {
        (Ok(request), "/v1/traces") => {
            store.spans.lock().unwrap().extend(spans_of(request));
            http::StatusCode::OK
        }
        (Ok(_), _) => http::StatusCode::NOT_FOUND,
        (Err(_), _) => http::StatusCode::BAD_REQUEST,
    };
    let (body, ct) = if json {
        (Bytes::from_static(b"{}"), "application/json")
    } else {
        (
            Bytes::from(ExportTraceServiceResponse::default().encode_to_vec()),
            "application/x-protobuf",
        )
    };
    let mut resp = http::Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(ct),
    );
    resp
}

fn text(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn spans_of(request: &ExportTraceServiceRequest) -> Vec<Span> {
    let mut out = Vec::new();
    for rs in &request.resource_spans {
        let service = rs
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .map(|kv| text(&kv.value))
            .unwrap_or_default();
        for ss in &rs.scope_spans {
            for sp in &ss.spans {
                let attributes = sp
                    .attributes
                    .iter()
                    .chain(sp.events.iter().flat_map(|e| &e.attributes))
                    .map(|kv| format!("{}={}", kv.key, text(&kv.value)))
                    .collect();
                out.push(Span {
                    name: sp.name.clone(),
                    trace_id: hex::encode(&sp.trace_id),
                    span_id: hex::encode(&sp.span_id),
                    parent_span_id: hex::encode(&sp.parent_span_id),
                    kind: sp.kind,
                    attributes,
                    service: service.clone(),
                });
            }
        }
    }
    out
}
