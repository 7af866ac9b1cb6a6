//! What the `ikanos serve` tests share: a gate upstream that holds requests until the
//! test releases them, the test CRM, and calls through a capability's `call` operation.
//! Only helpers live here; the scenarios live in the topic modules beside it.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use crate::support::fixtures::TOKEN;
use crate::support::serve::Serve;
use crate::support::upstream::{Auth, Upstream};
use crate::support::*;

/// An upstream whose `/hold` answers only once the test releases it: a request that is
/// provably in flight while the test changes the host, with no timing involved.
pub(crate) struct Gate {
    addr: std::net::SocketAddr,
    arrived: Arc<AtomicUsize>,
    release: Arc<tokio::sync::watch::Sender<bool>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Gate {
    pub(crate) fn start() -> Gate {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let arrived = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(tokio::sync::watch::channel(false).0);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (a, r) = (arrived.clone(), release.clone());
        let thread = serve_on_thread(listener, Some(rx), move |stream| {
            let (a, r) = (a.clone(), r.clone());
            async move {
                let svc = service_fn(move |_req| {
                    let (a, mut open) = (a.clone(), r.subscribe());
                    async move {
                        a.fetch_add(1, Ordering::SeqCst);
                        let _ = open.wait_for(|released| *released).await;
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from("released"))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            }
        });
        Gate {
            addr,
            arrived,
            release,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    pub(crate) fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Wait until `n` requests are held.
    pub(crate) fn wait_arrived(&self, n: usize, serve: &Serve) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while self.arrived.load(Ordering::SeqCst) < n {
            assert!(
                std::time::Instant::now() < deadline,
                "the held request never reached the gate; output:\n{}",
                serve.all_output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn open(&self) {
        let _ = self.release.send(true);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.open();
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub(crate) fn crm() -> Upstream {
    Upstream::start(Auth {
        bearer: Some(TOKEN.into()),
        ..Auth::default()
    })
}

/// A request through capability `name`'s `call` operation; its JSON answer.
pub(crate) fn call(serve: &Serve, name: &str, query: &str) -> serde_json::Value {
    try_call(serve, name, query).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `call`, for a table of rules: an answer other than 200 is an error naming it.
pub(crate) fn try_call(
    serve: &Serve,
    name: &str,
    query: &str,
) -> Result<serde_json::Value, String> {
    let r = post(
        &serve.url(name, &format!("/call?{query}")),
        "text/plain",
        "",
    );
    match r.status {
        200 => Ok(r.json()),
        status => Err(format!("HTTP {status}: {}", r.body)),
    }
}

pub(crate) fn echo_ok(serve: &Serve, name: &str, id: &str) {
    let r = post(
        &serve.url(name, &format!("/echo/{id}?n=7")),
        "text/plain",
        "hello",
    );
    assert_eq!(r.status, 200, "{name} echo: {}", r.body);
    let v = r.json();
    assert_eq!(v["inputs"]["id"], id, "{v}");
    assert_eq!(v["inputs"]["n"], "7", "{v}");
    assert_eq!(v["body"], "hello", "{v}");
}

pub(crate) fn generation(serve: &Serve, name: &str) -> u64 {
    serve.capability(name).expect("present")["generation"]
        .as_u64()
        .unwrap()
}

pub(crate) fn metrics(serve: &Serve) -> String {
    get(&format!("{}/metrics", serve.control)).body
}
