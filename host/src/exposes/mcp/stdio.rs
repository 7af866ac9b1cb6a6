//! MCP over stdio: one JSON-RPC message per line on stdin, answers on stdout.
//!
//! Owns: reading and bounding lines, answering each request on its own task (a slow
//! tool does not hold up a `ping`), writing whole lines to stdout, the revision
//! negotiated by `initialize` for this connection, and ending when stdin closes (the
//! client's way to stop its server), and the connection's one implicit session: its
//! server-initiated messages (list changes, resource updates), a request's progress
//! and log notifications, and `subscriptions/listen` streams are lines on stdout too.
//! Must not touch: what a method does. Nothing but MCP messages may reach stdout: logs
//! go to stderr and the component's output is captured by the runtime.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::notifications::{Hub, Session, STREAM_BUFFER};
use super::protocol::{self, Era, Message, RpcError};
use super::{Context, McpServer};

/// Longest line accepted; a longer one is answered with a parse error and skipped.
const MAX_LINE: usize = 4 << 20;

/// Serve the process's stdin/stdout until stdin closes and every answer is written.
pub async fn serve(server: Arc<McpServer>) {
    serve_on(server, tokio::io::stdin(), tokio::io::stdout()).await
}

pub(crate) async fn serve_on(
    server: Arc<McpServer>,
    input: impl AsyncRead + Unpin,
    mut output: impl AsyncWrite + Unpin + Send + 'static,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            let mut line = msg.to_string().into_bytes();
            line.push(b'\n');
            if output.write_all(&line).await.is_err() || output.flush().await.is_err() {
                break;
            }
        }
    });
    let negotiated: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    // The connection's session, made by `initialize`: it holds the log level and
    // subscriptions, and its server-initiated messages are written as they come.
    let mut session: Option<Arc<Session>> = None;
    let session_key = format!("stdio-{}", uuid::Uuid::new_v4().simple());
    let mut tasks = JoinSet::new();
    // Streams that last as long as the connection (the session's, listen streams):
    // stopped when stdin closes, not waited for.
    let mut streams = JoinSet::new();
    let mut reader = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .await;
        match read {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "reading MCP messages from stdin failed");
                break;
            }
        }
        if line.len() > MAX_LINE && line.last() != Some(&b'\n') {
            // Skip the rest of the oversized line.
            let mut rest = Vec::new();
            let _ = reader.read_until(b'\n', &mut rest).await;
            let _ = tx.send(protocol::failure(
                &Value::Null,
                &RpcError::parse(format!("message longer than {MAX_LINE} bytes")),
            ));
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let value: Value = match serde_json::from_slice(&line) {
            Ok(v) => v,
            Err(e) => {
                let _ = tx.send(protocol::failure(&Value::Null, &RpcError::parse(e)));
                continue;
            }
        };
        let (id, method, params) = match protocol::classify(value) {
            Ok(Message::Request { id, method, params }) => (id, method, params),
            Ok(Message::Notification | Message::Response) => continue,
            Err((id, e)) => {
                let _ = tx.send(protocol::failure(&id, &e));
                continue;
            }
        };
        let era = if protocol::has_envelope(params.as_ref()) {
            match protocol::modern_version(params.as_ref()) {
                Ok(v) => Era::Modern(v),
                Err(e) => {
                    let _ = tx.send(protocol::failure(&id, &e));
                    continue;
                }
            }
        } else if method == "initialize" {
            let v = protocol::negotiate_initialize(params.as_ref()).to_string();
            *negotiated.lock().unwrap() = Some(v.clone());
            let s = Hub::detached_session(v.clone());
            server.hub().adopt_session(&session_key, s.clone());
            let mut messages = s.attach(None);
            let out = tx.clone();
            streams.spawn(async move {
                while let Some((_, msg)) = messages.recv().await {
                    if out.send((*msg).clone()).is_err() {
                        return;
                    }
                }
            });
            session = Some(s);
            Era::Handshake(v)
        } else {
            let v = negotiated.lock().unwrap().clone();
            Era::Handshake(v.unwrap_or_else(|| protocol::HANDSHAKE_VERSIONS[0].to_string()))
        };
        let mut trace_headers = http::HeaderMap::new();
        if let Some(meta) = protocol::meta(params.as_ref()) {
            for key in ["traceparent", "tracestate"] {
                if let Some(v) = meta
                    .get(key)
                    .and_then(Value::as_str)
                    .and_then(|v| http::HeaderValue::from_str(v).ok())
                {
                    trace_headers.insert(key, v);
                }
            }
        }
        if era.is_modern() && method == "subscriptions/listen" {
            match server.listen(&id, params.as_ref()) {
                Ok(mut stream) => {
                    let (server, out) = (server.clone(), tx.clone());
                    streams.spawn(async move {
                        while let Some(msg) = stream.messages.recv().await {
                            if out.send(msg).is_err() {
                                return;
                            }
                        }
                        let _ = out.send(server.listen_ended(&id, &stream.meta));
                    });
                }
                Err(e) => {
                    let _ = tx.send(protocol::failure(&id, &e));
                }
            }
            continue;
        }
        let mut ctx = Context {
            era,
            request_id: uuid::Uuid::new_v4().to_string(),
            transport: "STDIO",
            trace_headers,
            session: session.clone(),
            notices: None,
        };
        let (sink, mut notices) = mpsc::channel(STREAM_BUFFER);
        match server.notices(&ctx.era, ctx.session.as_deref(), params.as_ref(), sink) {
            Ok(n) => ctx.notices = n,
            Err(e) => {
                let _ = tx.send(protocol::failure(&id, &e));
                continue;
            }
        }
        let (server, tx) = (server.clone(), tx.clone());
        tasks.spawn(async move {
            // Notifications go out as lines while the request runs, all of them
            // before its answer.
            let run = server.request(&method, params, &ctx);
            tokio::pin!(run);
            let outcome = loop {
                tokio::select! {
                    outcome = &mut run => break outcome,
                    Some(n) = notices.recv() => { let _ = tx.send(n); }
                }
            };
            while let Ok(n) = notices.try_recv() {
                let _ = tx.send(n);
            }
            let answer = match outcome {
                Ok(result) => protocol::success(&id, result),
                Err(e) => protocol::failure(&id, &e),
            };
            let _ = tx.send(answer);
        });
        // Reap finished tasks so the set does not grow with the connection's age.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    streams.abort_all();
    while streams.join_next().await.is_some() {}
    server.hub().close_session(&session_key);
    drop(tx);
    let _ = writer.await;
}
