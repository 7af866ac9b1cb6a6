//! The HTTP listener loop shared by every adapter and the control port.
//!
//! Owns: accepting connections, HTTP/1.1 and HTTP/2 (h2c), slow-header protection, and
//! graceful shutdown (stop accepting, let in-flight requests finish within a drain
//! time). Must not touch: what a request means — that is the handler's job.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub type Response = http::Response<Body>;
pub type Request = http::Request<Incoming>;
pub type Handler =
    Arc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Response> + Send>> + Send + Sync>;

/// A response body: whole (every adapter's answers), or a stream of chunks for answers
/// that are written while the request runs (MCP's SSE streams).
///
/// Why a two-case enum instead of a boxed body: nearly every answer is whole, and
/// `Full` keeps its exact length (no chunked encoding) at no allocation; only the MCP
/// streams pay for the channel.
pub struct Body(BodyKind);

enum BodyKind {
    Full(Full<Bytes>),
    /// Chunks as the writer sends them; the body ends when the sender is dropped.
    Stream(tokio::sync::mpsc::Receiver<Bytes>),
}

impl Body {
    /// A body of chunks sent on the returned sender (at most `buffer` waiting): the
    /// writer stops when `send` fails, i.e. when the client went away.
    pub fn channel(buffer: usize) -> (tokio::sync::mpsc::Sender<Bytes>, Body) {
        let (tx, rx) = tokio::sync::mpsc::channel(buffer);
        (tx, Body(BodyKind::Stream(rx)))
    }
}

impl From<Full<Bytes>> for Body {
    fn from(full: Full<Bytes>) -> Body {
        Body(BodyKind::Full(full))
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Body {
        Body(BodyKind::Full(Full::new(bytes)))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        match &mut self.get_mut().0 {
            BodyKind::Full(full) => Pin::new(full).poll_frame(cx),
            BodyKind::Stream(rx) => rx
                .poll_recv(cx)
                .map(|chunk| chunk.map(|c| Ok(hyper::body::Frame::data(c)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            BodyKind::Full(full) => full.is_end_stream(),
            BodyKind::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match &self.0 {
            BodyKind::Full(full) => full.size_hint(),
            BodyKind::Stream(_) => hyper::body::SizeHint::default(),
        }
    }
}

/// Resolves when the listener a request arrived on starts shutting down (a request
/// extension set by [`serve`]): long-lived answers (SSE streams) end then, instead of
/// holding the drain open until its time is up.
#[derive(Clone)]
pub struct Closing(watch::Receiver<bool>);

impl Closing {
    pub async fn wait(mut self) {
        // An error means the sender is gone: the listener is gone too.
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// Marks a request that arrived on a loopback listener (a request extension set by
/// [`serve`]; absent on other listeners, which so pay nothing for it).
#[derive(Debug, Clone, Copy)]
pub struct LoopbackListener;

/// Tells every listener to stop accepting and drain.
#[derive(Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            tx: Arc::new(watch::channel(false).0),
        }
    }
}

impl Shutdown {
    pub fn trigger(&self) {
        let _ = self.tx.send(true);
    }

    fn subscribe(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }
}

/// `HOST:PORT` (IPv6 hosts may be bracketed) as (host, port).
pub fn split_host_port(addr: &str) -> Result<(String, u16), String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("address '{addr}': expected HOST:PORT"))?;
    let port = port
        .parse()
        .map_err(|_| format!("address '{addr}': '{port}' is not a port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_string(), port))
}

/// Bind `address:port`. Port 0 asks the OS for a free port; the bound address is returned.
pub async fn bind(address: &str, port: u16) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind((address, port)).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Serve `handler` on `listener` until `shutdown`, then drain for at most `drain`.
pub fn serve(
    name: String,
    listener: TcpListener,
    handler: Handler,
    shutdown: &Shutdown,
    drain: Duration,
) -> JoinHandle<()> {
    let mut stop = shutdown.subscribe();
    let loopback = listener.local_addr().is_ok_and(|a| a.ip().is_loopback());
    tokio::spawn(async move {
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30));
        let graceful = GracefulShutdown::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, _peer) = match accepted {
                        Ok(x) => x,
                        Err(e) => {
                            // Out of file descriptors and the like: back off, keep serving.
                            tracing::warn!(listener = %name, error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let handler = handler.clone();
                    let closing = Closing(stop.clone());
                    let service = service_fn(move |mut req: Request| {
                        let handler = handler.clone();
                        req.extensions_mut().insert(closing.clone());
                        // The DNS-rebinding rule depends on it: loopback listeners
                        // take loopback names only.
                        if loopback {
                            req.extensions_mut().insert(LoopbackListener);
                        }
                        async move {
                            crate::workers::active();
                            let response = handler(req).await;
                            crate::workers::active();
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let builder = builder.clone();
                    let watcher = graceful.watcher();
                    // The connection is served on a serving thread when the process has
                    // them (crate::workers): the socket leaves this runtime's reactor
                    // here and joins that thread's there.
                    let Ok(stream) = stream.into_std() else { continue };
                    let connection = move || async move {
                        let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
                            return;
                        };
                        let conn = builder.serve_connection(TokioIo::new(stream), service);
                        if let Err(e) = watcher.watch(conn.into_owned()).await {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                    };
                    if let Err(connection) = crate::workers::dispatch(connection) {
                        tokio::spawn(connection());
                    }
                }
                _ = stop.changed() => break,
            }
        }
        drop(listener);
        tokio::select! {
            _ = graceful.shutdown() => tracing::debug!(listener = %name, "drained"),
            _ = tokio::time::sleep(drain) => tracing::warn!(listener = %name, ?drain, "drain time over; closing remaining connections"),
        }
    })
}

/// A JSON response with the given status.
pub fn json(status: http::StatusCode, value: &serde_json::Value) -> Response {
    let mut resp = http::Response::new(Body::from(Bytes::from(value.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}
