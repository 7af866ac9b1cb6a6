//! A tunnel provider for unit tests (`tunnel.type: fake`, `cfg(test)` only).
//!
//! Owns: a tunnel whose state and dial outcome the test sets through a [`FakeHandle`],
//! that counts its dials, and whose streams are in-memory pipes answered by a tiny
//! HTTP/1 responder; and a capability file to route through it. Must not touch: the
//! network — nothing here opens a socket.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use ikanos_spec::model::Tunnel as TunnelSpec;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use super::{
    DialError, DialErrorKind, SettingsProblem, Tunnel, TunnelConfig, TunnelProvider, TunnelState,
    TunnelStream,
};

/// The `tunnel.type` the fake provider serves.
pub const KIND: &str = "fake";

/// What the test holds: it sets the tunnel's state and dial outcome, and reads its dials.
#[derive(Clone)]
pub struct FakeHandle(Arc<Shared>);

struct Shared {
    state: watch::Sender<TunnelState>,
    dials: AtomicUsize,
    /// `Some(kind)`: every dial fails with this kind; `None`: dials succeed.
    fail_with: Mutex<Option<DialErrorKind>>,
    /// How many of the next dials give a connection whose far end reads the request
    /// and then hangs up without answering, as when the tunnel's far end dies.
    breaking: AtomicUsize,
    /// The state a breaking connection publishes just before it hangs up.
    down_on_break: Mutex<Option<TunnelState>>,
    /// Connections dialed before this generation hang up at their next request.
    cut_before: AtomicUsize,
}

impl FakeHandle {
    /// A tunnel that is connecting and whose dials succeed.
    pub fn new() -> Self {
        FakeHandle(Arc::new(Shared {
            state: watch::channel(TunnelState::Connecting).0,
            dials: AtomicUsize::new(0),
            fail_with: Mutex::new(None),
            breaking: AtomicUsize::new(0),
            down_on_break: Mutex::new(None),
            cut_before: AtomicUsize::new(0),
        }))
    }

    pub fn set_state(&self, state: TunnelState) {
        super::publish(&self.0.state, state);
    }

    /// Make every following dial fail with `kind` (`None`: succeed again). The state is
    /// left as it is, as when a tunnel drops between the state check and the dial.
    pub fn fail_dials(&self, kind: Option<DialErrorKind>) {
        *self.0.fail_with.lock().unwrap() = kind;
    }

    /// Make the next `n` dials give connections that break after reading the request.
    pub fn break_dials(&self, n: usize) {
        self.0.breaking.store(n, Ordering::SeqCst);
    }

    /// Make a breaking connection publish `state` before it hangs up: the tunnel's
    /// supervisor learning of the loss as the connections through it break.
    pub fn go_down_on_break(&self, state: TunnelState) {
        *self.0.down_on_break.lock().unwrap() = Some(state);
    }

    /// Make every connection open now hang up at its next request without answering
    /// (the far end died with them open); later dials are not affected.
    pub fn cut_open_connections(&self) {
        self.0
            .cut_before
            .store(self.0.dials.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// How many dials the tunnel was asked for.
    pub fn dials(&self) -> usize {
        self.0.dials.load(Ordering::SeqCst)
    }

    /// A provider whose every tunnel is this one.
    pub fn provider(&self) -> Box<dyn TunnelProvider> {
        Box::new(FakeProvider(self.clone()))
    }
}

struct FakeProvider(FakeHandle);

impl TunnelProvider for FakeProvider {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn check(&self, _: &TunnelSpec) -> Vec<SettingsProblem> {
        Vec::new()
    }

    fn endpoint(&self, _: &TunnelConfig) -> String {
        String::new()
    }

    fn start(&self, _: TunnelConfig) -> Result<Arc<dyn Tunnel>, String> {
        Ok(Arc::new(FakeTunnel(self.0.clone())))
    }
}

struct FakeTunnel(FakeHandle);

#[async_trait::async_trait]
impl Tunnel for FakeTunnel {
    async fn dial(&self, host: &str, port: u16) -> Result<TunnelStream, DialError> {
        let dial = self.0 .0.dials.fetch_add(1, Ordering::SeqCst);
        if let Some(kind) = *self.0 .0.fail_with.lock().unwrap() {
            return Err(DialError::new(
                kind,
                format!("the fake tunnel fails this dial to {host}:{port}"),
            ));
        }
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let breaking = &self.0 .0.breaking;
        if breaking
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            let down = self.0 .0.down_on_break.lock().unwrap().clone();
            let handle = self.0.clone();
            tokio::spawn(async move {
                hang_up_after_reading(theirs, move || {
                    if let Some(state) = down {
                        handle.set_state(state);
                    }
                })
                .await
            });
        } else {
            let handle = self.0.clone();
            let cut = move || dial < handle.0.cut_before.load(Ordering::SeqCst);
            tokio::spawn(respond_until_cut(theirs, cut));
        }
        Ok(Box::new(ours))
    }

    fn state(&self) -> watch::Receiver<TunnelState> {
        self.0 .0.state.subscribe()
    }

    async fn reload(&self, _: TunnelConfig) -> Result<(), String> {
        Ok(())
    }

    async fn stop(&self) {
        self.0.set_state(TunnelState::Closed);
    }
}

/// A capability file with one consumes namespace `crm` (operations `get-ping` and
/// `post-ping`)
/// whose `tunnel:` block holds `keys`, one `        key: value` line each, from line 11.
pub fn capability(base_uri: &str, keys: &str) -> String {
    format!(
        r#"ikanos: "1.0.0-beta5"
info:
  display: "t"
  description: "t"
capability:
  consumes:
    - type: "http"
      namespace: "crm"
      baseUri: "{base_uri}"
      tunnel:
{keys}      resources:
        ping:
          path: "/ping"
          operations:
            get-ping:
              method: "GET"
            post-ping:
              method: "POST"
"#
    )
}

/// Answer every HTTP/1 request on `io` with 200 and `body`: which path a call took.
pub async fn respond(io: impl AsyncRead + AsyncWrite + Send + Unpin + 'static, body: &'static str) {
    let service = hyper::service::service_fn(move |_req| async move {
        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(body))))
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// Read what the client sends first, run `before_hang_up`, then hang up without a word.
async fn hang_up_after_reading(mut io: impl AsyncRead + Unpin, before_hang_up: impl FnOnce()) {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    let _ = io.read(&mut buf).await;
    before_hang_up();
}

/// Answer like [`respond`] with `through the tunnel`, until `cut` says the connection
/// was cut: then hang up at the next request without answering.
async fn respond_until_cut(
    io: impl AsyncRead + AsyncWrite + Send + Unpin + 'static,
    cut: impl Fn() -> bool + Send + Sync + 'static,
) {
    let cut = Arc::new(cut);
    let service = hyper::service::service_fn(move |_req| {
        let cut = cut.clone();
        async move {
            if cut() {
                return Err("the far end is gone");
            }
            Ok(hyper::Response::new(Full::new(Bytes::from(
                "through the tunnel",
            ))))
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}
