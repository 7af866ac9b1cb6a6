//! Fuzz entry points: one function per fuzz target of the `fuzz/` workspace, taking the
//! fuzzer's bytes. The targets are one-liners calling these, and the saved regression
//! seeds (`fuzz/regressions/<target>/`) run through the same functions in `cargo test`.
//!
//! Owns: playing the far end (an edge router, and the hosting side's encryption) from
//! fuzzed bytes, and the properties checked on every run. Must not touch: sockets or
//! the controller — everything runs over in-memory pipes on a paused-clock runtime, so
//! a run is deterministic and a router that never answers costs no real time.
//! Compiled for tests and under `--cfg fuzzing` (cargo fuzz) only.

use std::future::Future;
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use crypto_secretstream::{Key, PushStream, Tag};
use rand_core::OsRng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, DuplexStream};

use crate::channel::{content, header, read_message, Channel, Message};
use crate::crypto::KeyPair;
use crate::edge::{self, Destination};

/// `ziti_channel`: the channel v2 frame codec on a stream of bytes as a router sends
/// them. Every frame that decodes must re-encode to exactly the bytes it came from
/// (the encoding is canonical) and decode again to the same message.
pub fn channel(data: &[u8]) {
    let mut rest = data;
    loop {
        let before = rest;
        let msg = match now(read_message(&mut rest)) {
            Ok(Ok(Some(msg))) => msg,
            // A clean end, a refused frame, or a truncated one: the channel ends here.
            Ok(Ok(None)) | Ok(Err(_)) | Err(_) => return,
        };
        let consumed = &before[..before.len() - rest.len()];
        let encoded = msg.to_bytes();
        assert_eq!(encoded.as_ref(), consumed, "re-encoding differs: {msg:?}");
        let again = now(read_message(&mut encoded.as_ref()));
        assert_eq!(
            again.ok().and_then(Result::ok).flatten().as_ref(),
            Some(&msg)
        );
        let _ = (
            msg.conn_id(),
            msg.reply_for(),
            msg.header_i32(header::ERROR_CODE),
        );
        let _ = (msg.header_bool(header::RESULT_SUCCESS), msg.body_text());
    }
}

/// Poll a future that cannot wait (it reads from memory) to its end.
fn now<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("reading from a slice never waits"),
    }
}

/// One runtime for every run: current-thread, clock paused (it jumps to the next timer
/// when every task waits, so a Connect nobody answers times out at once).
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime")
});

/// Bit 0 of the mode byte: the client asks for end-to-end encryption.
const ENCRYPT: u8 = 1;
/// Bit 1: the router side really encrypts (see [`edge`]).
const SEAL: u8 = 2;
const TIMEOUT: Duration = Duration::from_secs(10);

/// `ziti_edge`: a channel and one edge connection against a router that answers the
/// Hello, reads the Connect, then sends the fuzzed frames and hangs up; the client
/// connects, reads the stream to its end, writes, half-closes and drops it.
///
/// Input: a mode byte (bits above), then the router's bytes. With `SEAL` (and
/// `ENCRYPT`), the router decodes its bytes into frames and plays a hosting side that
/// encrypts for real: `StateConnected` frames carry its public key, and before the
/// first Data body it sends the stream header, then each Data body is sealed (as the
/// final message when the frame's sequence is odd) — so decrypted bytes, not only
/// forgeries, reach the connection.
pub fn edge(data: &[u8]) {
    let Some((&mode, script)) = data.split_first() else {
        return;
    };
    let script = script.to_vec();
    RUNTIME.block_on(async move {
        let (ours, theirs) = tokio::io::duplex(64 << 10);
        let router = tokio::spawn(router(theirs, mode, script));
        if let Ok(channel) = Channel::open("fuzz".into(), ours, "api", TIMEOUT).await {
            client(&channel, mode & ENCRYPT != 0).await;
            channel.close("fuzz run over".into());
        }
        // The router ends when the client's writer hangs up; with it, every task of
        // this run (the channel's reader ends at the router's hang-up).
        router.await.expect("the router side does not panic");
        // Sleeping lets the paused clock run the tasks' timers out.
        for _ in 0..100 {
            if RUNTIME.metrics().num_alive_tasks() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("a task of the channel outlived it");
    });
}

async fn client(channel: &std::sync::Arc<Channel>, encrypt: bool) {
    let destination = Destination {
        host: "fuzz.internal",
        port: 443,
    };
    match edge::connect(channel, "svc", "fuzz", destination, encrypt, TIMEOUT).await {
        Ok(mut stream) => {
            let mut got = Vec::new();
            let _ = stream.read_to_end(&mut got).await;
            let _ = stream.write_all(b"request").await;
            let _ = stream.shutdown().await;
        }
        Err(e) => {
            let _ = (e.to_string(), e.is_invalid_session());
        }
    }
}

async fn router(stream: DuplexStream, mode: u8, script: Vec<u8>) {
    let (mut r, mut w) = tokio::io::split(stream);
    let Some(hello) = next(&mut r).await else {
        return;
    };
    let ok = Message::new(content::RESULT)
        .with_i32(header::REPLY_FOR, hello.sequence)
        .with(header::RESULT_SUCCESS, Bytes::from_static(&[1]));
    if w.write_all(&ok.to_bytes()).await.is_err() {
        return;
    }
    if let Some(connect) = next(&mut r).await {
        let key = connect
            .header(header::PUBLIC_KEY)
            .and_then(|k| <[u8; 32]>::try_from(k.as_ref()).ok());
        let bytes = match key {
            Some(client_pk) if mode & SEAL != 0 => sealed(&script, &client_pk),
            _ => script,
        };
        let _ = w.write_all(&bytes).await;
    }
    // Hang up our direction; read what the client still sends until it hangs up too.
    let _ = w.shutdown().await;
    while next(&mut r).await.is_some() {}
}

async fn next<R: AsyncRead + Unpin>(r: &mut R) -> Option<Message> {
    read_message(r).await.ok()?.ok()?
}

/// The script's frames with the hosting side's key and its Data bodies encrypted; the
/// bytes after the last whole frame are sent as they are.
fn sealed(script: &[u8], client_pk: &[u8; 32]) -> Vec<u8> {
    // One hosting-side key for every run: a fresh one costs a scalar multiplication.
    static HOST: LazyLock<KeyPair> = LazyLock::new(KeyPair::generate);
    let host = &*HOST;
    let keys = host.server_session_keys(client_pk);
    let mut push: Option<PushStream> = None;
    let mut out = Vec::new();
    let mut rest = script;
    while let Ok(Ok(Some(mut msg))) = now(read_message(&mut rest)) {
        if msg.content_type == content::STATE_CONNECTED {
            msg.headers.retain(|(k, _)| *k != header::PUBLIC_KEY);
            msg.headers
                .push((header::PUBLIC_KEY, Bytes::copy_from_slice(host.public())));
        }
        if msg.content_type == content::DATA && !msg.body.is_empty() {
            let push = push.get_or_insert_with(|| {
                let (header, push) = PushStream::init(OsRng, &Key::from(keys.tx));
                let first = Message {
                    body: Bytes::copy_from_slice(header.as_ref()),
                    ..msg.clone()
                };
                out.extend_from_slice(&first.to_bytes());
                push
            });
            let tag = if msg.sequence & 1 == 1 {
                Tag::Final
            } else {
                Tag::Message
            };
            let mut body = msg.body.to_vec();
            push.push(&mut body, &[], tag)
                .expect("secretstream push into a Vec");
            msg.body = body.into();
        }
        out.extend_from_slice(&msg.to_bytes());
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Run `target` on every saved seed of `fuzz/regressions/<target>` (crash inputs
    /// and a small corpus sample); a missing or empty folder fails rather than passing
    /// silently. Each seed's path is printed first, so a failure names it.
    fn replay(target: &str, run: impl Fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/regressions")
            .join(target);
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        assert!(!paths.is_empty(), "no seeds in {}", dir.display());
        for path in paths {
            println!("{}", path.display());
            run(&std::fs::read(&path).unwrap());
        }
    }

    #[test]
    fn ziti_channel_regression_seeds() {
        replay("ziti_channel", super::channel);
    }

    #[test]
    fn ziti_edge_regression_seeds() {
        replay("ziti_edge", super::edge);
    }
}
