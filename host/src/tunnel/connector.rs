//! The HTTP client's view of a tunnel: a connector that dials through it.
//!
//! Owns: turning a request URI into a tunnel dial (`host:port` as written, never
//! resolved here), per-namespace tunnel metrics (dials by outcome, dial latency,
//! bytes in and out). Must not touch: TLS (hyper-rustls wraps this connector, so TLS
//! runs end to end inside the tunnel with the real hostname as SNI) or routing
//! decisions (consumes decides whether to use it).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tracing::Instrument;

use super::{Tunnel, TunnelStream};
use crate::telemetry::{Metrics, TunnelDialLabels, TunnelLabels};

/// Handles to one namespace's tunnel metrics, resolved once.
#[derive(Clone)]
pub struct TunnelMetrics {
    metrics: Arc<Metrics>,
    labels: TunnelLabels,
    dial_duration: Histogram,
    bytes_in: Counter,
    bytes_out: Counter,
    pub fallback_direct: Counter,
    /// Idempotent calls sent once more because their tunnel connection broke.
    pub retries: Counter,
}

impl TunnelMetrics {
    pub fn new(metrics: Arc<Metrics>, labels: TunnelLabels) -> Self {
        TunnelMetrics {
            dial_duration: metrics.tunnel_dial_duration.get_or_create_owned(&labels),
            bytes_in: metrics.tunnel_bytes_received.get_or_create_owned(&labels),
            bytes_out: metrics.tunnel_bytes_sent.get_or_create_owned(&labels),
            fallback_direct: metrics.tunnel_fallback_direct.get_or_create_owned(&labels),
            retries: metrics.tunnel_retries.get_or_create_owned(&labels),
            metrics,
            labels,
        }
    }

    fn dial(&self, outcome: &str) {
        let labels = TunnelDialLabels {
            tunnel: self.labels.clone(),
            outcome: outcome.to_string(),
        };
        self.metrics.tunnel_dials.get_or_create(&labels).inc();
    }
}

/// A `tower::Service<Uri>` that opens connections through a tunnel.
#[derive(Clone)]
pub struct TunnelConnector {
    tunnel: Arc<dyn Tunnel>,
    metrics: TunnelMetrics,
}

impl TunnelConnector {
    pub fn new(tunnel: Arc<dyn Tunnel>, metrics: TunnelMetrics) -> Self {
        TunnelConnector { tunnel, metrics }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<http::Uri> for TunnelConnector {
    type Response = TunnelConn;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<TunnelConn, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or("the URI has no host")?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = uri
                .port_u16()
                .unwrap_or(if uri.scheme_str() == Some("https") {
                    443
                } else {
                    80
                });
            let started = Instant::now();
            let span = tracing::info_span!("tunnel_dial", %host, port);
            match this.tunnel.dial(&host, port).instrument(span).await {
                Ok(stream) => {
                    this.metrics
                        .dial_duration
                        .observe(started.elapsed().as_secs_f64());
                    this.metrics.dial("ok");
                    Ok(TunnelConn {
                        io: TokioIo::new(Counting {
                            inner: stream,
                            bytes_in: this.metrics.bytes_in.clone(),
                            bytes_out: this.metrics.bytes_out.clone(),
                        }),
                    })
                }
                Err(e) => {
                    this.metrics.dial(e.kind.label());
                    Err(Box::new(e) as BoxError)
                }
            }
        })
    }
}

/// A tunnel stream as hyper sees it.
pub struct TunnelConn {
    io: TokioIo<Counting>,
}

impl Connection for TunnelConn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for TunnelConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for TunnelConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Counts the bytes that cross the tunnel.
struct Counting {
    inner: TunnelStream,
    bytes_in: Counter,
    bytes_out: Counter,
}

impl AsyncRead for Counting {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.bytes_in.inc_by((buf.filled().len() - before) as u64);
        r
    }
}

impl AsyncWrite for Counting {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            self.bytes_out.inc_by(*n as u64);
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
