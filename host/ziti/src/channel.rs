//! The channel to one edge router: channel v2 framing over TLS (ALPN `ziti-edge`),
//! Hello, replies matched by ReplyFor, latency probes answered and sent, and the
//! hand-off of each connection's messages to its sink.
//!
//! Owns: the wire codec, the TLS connection, sequence numbers, connection ids.
//! Must not touch: what a connection's messages mean (edge.rs) or the controller.
//!
//! Frame (all integers little-endian): magic `03 06 09 0C`, content type i32, sequence
//! i32, headers length i32, body length i32, then headers `{key i32, len i32, bytes}`,
//! then the body.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};

pub(crate) const MAGIC: [u8; 4] = [0x03, 0x06, 0x09, 0x0C];
const PREFIX: usize = 20;
/// A router sends no header block this large; refuse anything bigger outright.
const MAX_HEADERS: usize = 1 << 20;
/// Bodies are at most one Data frame of a peer; 16 MiB bounds a hostile router.
const MAX_BODY: usize = 16 << 20;
/// What a frame's buffer starts at; it grows as the frame's bytes arrive.
const INITIAL_FRAME_BUFFER: usize = 64 << 10;

/// Channel content types.
pub mod content {
    pub const HELLO: i32 = 0;
    pub const RESULT: i32 = 2;
    pub const LATENCY: i32 = 3;
    pub const LATENCY_RESPONSE: i32 = 4;
    pub const HEARTBEAT: i32 = 5;
    // Edge content types.
    pub const CONNECT: i32 = 60783;
    pub const STATE_CONNECTED: i32 = 60784;
    pub const STATE_CLOSED: i32 = 60785;
    pub const DATA: i32 = 60786;
    pub const DIAL: i32 = 60787;
    pub const STATE_SESSION_ENDED: i32 = 60792;
}

/// Header keys.
pub mod header {
    pub const REPLY_FOR: i32 = 1;
    pub const RESULT_SUCCESS: i32 = 2;
    pub const LATENCY_PROBE_TIME: i32 = 128;
    pub const CONN_ID: i32 = 1000;
    pub const SEQ: i32 = 1001;
    pub const SESSION_TOKEN: i32 = 1002;
    pub const PUBLIC_KEY: i32 = 1003;
    pub const CALLER_ID: i32 = 1008;
    pub const FLAGS: i32 = 1010;
    pub const APP_DATA: i32 = 1011;
    pub const ERROR_CODE: i32 = 1014;
}

/// Edge `Flags` bits.
pub const FLAG_FIN: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("edge router {0} did not answer within {1:?}")]
    Timeout(String, Duration),
    #[error("edge router {0} refused the Hello: {1}")]
    HelloRefused(String, String),
    #[error("the channel to edge router {0} is closed: {1}")]
    Closed(String, String),
}

/// One channel message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub content_type: i32,
    pub sequence: i32,
    pub headers: Vec<(i32, Bytes)>,
    pub body: Bytes,
}

impl Message {
    pub fn new(content_type: i32) -> Self {
        Message {
            content_type,
            ..Default::default()
        }
    }

    pub fn with(mut self, key: i32, value: impl Into<Bytes>) -> Self {
        self.headers.push((key, value.into()));
        self
    }

    pub fn with_u32(self, key: i32, value: u32) -> Self {
        self.with(key, Bytes::copy_from_slice(&value.to_le_bytes()))
    }

    pub fn with_i32(self, key: i32, value: i32) -> Self {
        self.with(key, Bytes::copy_from_slice(&value.to_le_bytes()))
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    pub fn header(&self, key: i32) -> Option<&Bytes> {
        self.headers.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    pub fn header_u32(&self, key: i32) -> Option<u32> {
        self.header(key)
            .and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok())
            .map(u32::from_le_bytes)
    }

    pub(crate) fn header_i32(&self, key: i32) -> Option<i32> {
        self.header_u32(key).map(|v| v as i32)
    }

    pub(crate) fn header_bool(&self, key: i32) -> Option<bool> {
        self.header(key).and_then(|v| v.first()).map(|b| *b != 0)
    }

    pub(crate) fn reply_for(&self) -> Option<i32> {
        self.header_i32(header::REPLY_FOR)
    }

    pub fn conn_id(&self) -> Option<u32> {
        self.header_u32(header::CONN_ID)
    }

    /// The body as text, for error messages a router puts there.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim().to_string()
    }

    pub(crate) fn encode(&self, out: &mut BytesMut) {
        let headers_len: usize = self.headers.iter().map(|(_, v)| 8 + v.len()).sum();
        out.reserve(PREFIX + headers_len + self.body.len());
        out.put_slice(&MAGIC);
        out.put_i32_le(self.content_type);
        out.put_i32_le(self.sequence);
        out.put_i32_le(headers_len as i32);
        out.put_i32_le(self.body.len() as i32);
        for (k, v) in &self.headers {
            out.put_i32_le(*k);
            out.put_i32_le(v.len() as i32);
            out.put_slice(v);
        }
        out.put_slice(&self.body);
    }

    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.freeze()
    }
}

/// Why a frame could not be decoded (the channel is then unusable).
#[derive(Debug, PartialEq, Eq)]
pub struct FrameError(pub(crate) String);

/// Split the fixed prefix: (content type, sequence, headers length, body length).
pub(crate) fn decode_prefix(p: &[u8; PREFIX]) -> Result<(i32, i32, usize, usize), FrameError> {
    if p[..4] != MAGIC {
        return Err(FrameError(format!(
            "magic {:02x?} is not channel v2 (03 06 09 0c)",
            &p[..4]
        )));
    }
    let mut b = &p[4..];
    let (ct, seq, hl, bl) = (
        b.get_i32_le(),
        b.get_i32_le(),
        b.get_i32_le(),
        b.get_i32_le(),
    );
    let hl = usize::try_from(hl)
        .ok()
        .filter(|l| *l <= MAX_HEADERS)
        .ok_or_else(|| FrameError(format!("headers length {hl} out of range")))?;
    let bl = usize::try_from(bl)
        .ok()
        .filter(|l| *l <= MAX_BODY)
        .ok_or_else(|| FrameError(format!("body length {bl} out of range")))?;
    Ok((ct, seq, hl, bl))
}

pub(crate) fn decode_headers(mut b: &[u8]) -> Result<Vec<(i32, Bytes)>, FrameError> {
    let mut headers = Vec::new();
    while !b.is_empty() {
        if b.len() < 8 {
            return Err(FrameError("truncated header entry".into()));
        }
        let key = b.get_i32_le();
        let len = b.get_i32_le();
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= b.len())
            .ok_or_else(|| FrameError(format!("header {key} length {len} out of range")))?;
        headers.push((key, Bytes::copy_from_slice(&b[..len])));
        b = &b[len..];
    }
    Ok(headers)
}

/// Read one message; `Ok(None)` at a clean end of stream between frames.
pub async fn read_message<R: AsyncRead + Unpin>(
    r: &mut R,
) -> std::io::Result<Result<Option<Message>, FrameError>> {
    let mut prefix = [0u8; PREFIX];
    let mut filled = 0;
    while filled < PREFIX {
        match r.read(&mut prefix[filled..]).await? {
            // An end of stream is clean only between frames; inside a prefix the frame
            // was cut, which the caller must not take for an orderly close.
            0 if filled == 0 => return Ok(Ok(None)),
            0 => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("stream ended {filled} bytes into a {PREFIX}-byte frame prefix"),
                ))
            }
            n => filled += n,
        }
    }
    let (content_type, sequence, hl, bl) = match decode_prefix(&prefix) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    // The buffer grows with the bytes that arrive rather than with the length the
    // prefix claims: a peer announcing a 16 MiB body and sending nothing must not make
    // this side allocate 16 MiB per frame.
    let want = hl + bl;
    let mut rest = Vec::with_capacity(want.min(INITIAL_FRAME_BUFFER));
    (&mut *r).take(want as u64).read_to_end(&mut rest).await?;
    if rest.len() < want {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("stream ended {} bytes into a {want}-byte frame", rest.len()),
        ));
    }
    let mut rest = Bytes::from(rest);
    let body = rest.split_off(hl);
    let headers = match decode_headers(&rest) {
        Ok(h) => h,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(Some(Message {
        content_type,
        sequence,
        headers,
        body,
    })))
}

/// Messages for one edge connection, in arrival order.
pub type Inbox = mpsc::Receiver<Message>;
/// How many messages a connection may have waiting before the channel's reader waits
/// for it (backpressure reaches the router through TCP).
const INBOX_DEPTH: usize = 64;
const OUTBOX_DEPTH: usize = 256;

/// A live channel to one edge router.
pub struct Channel {
    pub router: String,
    sequence: AtomicI32,
    next_conn: AtomicU32,
    out: mpsc::Sender<Bytes>,
    pending: Mutex<HashMap<i32, oneshot::Sender<Message>>>,
    conns: Mutex<HashMap<u32, mpsc::Sender<Message>>>,
    /// `Some(reason)` once the channel is closed.
    closed: watch::Sender<Option<String>>,
}

impl Channel {
    /// Open the channel over an established (TLS) stream and say Hello with the API
    /// session token.
    pub async fn open<S>(
        router: String,
        stream: S,
        api_token: &str,
        timeout: Duration,
    ) -> Result<Arc<Channel>, ChannelError>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (reader, writer) = tokio::io::split(stream);
        let (out, outbox) = mpsc::channel(OUTBOX_DEPTH);
        let channel = Arc::new(Channel {
            router: router.clone(),
            sequence: AtomicI32::new(1),
            next_conn: AtomicU32::new(1),
            out,
            pending: Mutex::new(HashMap::new()),
            conns: Mutex::new(HashMap::new()),
            closed: watch::channel(None).0,
        });
        tokio::spawn(write_loop(channel.clone(), writer, outbox));
        tokio::spawn(read_loop(channel.clone(), reader));
        let hello = Message::new(content::HELLO)
            .with(
                header::SESSION_TOKEN,
                Bytes::copy_from_slice(api_token.as_bytes()),
            )
            .body(Bytes::from_static(b"ikanos"));
        let reply = channel.request(hello, timeout).await?;
        if reply.content_type != content::RESULT
            || reply.header_bool(header::RESULT_SUCCESS) != Some(true)
        {
            let why = reply.body_text();
            channel.close(format!("Hello refused: {why}"));
            return Err(ChannelError::HelloRefused(router, why));
        }
        Ok(channel)
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<i32, oneshot::Sender<Message>>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_conns(&self) -> std::sync::MutexGuard<'_, HashMap<u32, mpsc::Sender<Message>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn closed_reason(&self) -> Option<String> {
        self.closed.borrow().clone()
    }

    pub fn is_closed(&self) -> bool {
        self.closed.borrow().is_some()
    }

    /// Resolves when the channel closes, with the reason.
    pub async fn wait_closed(&self) -> String {
        let mut rx = self.closed.subscribe();
        loop {
            if let Some(r) = rx.borrow_and_update().clone() {
                return r;
            }
            if rx.changed().await.is_err() {
                return "channel dropped".into();
            }
        }
    }

    /// Close the channel: pending requests fail, connection inboxes end.
    pub fn close(&self, reason: String) {
        self.closed.send_if_modified(|c| {
            if c.is_none() {
                *c = Some(reason);
                true
            } else {
                false
            }
        });
        self.lock_pending().clear();
        self.lock_conns().clear();
    }

    fn closed_error(&self) -> ChannelError {
        ChannelError::Closed(
            self.router.clone(),
            self.closed_reason().unwrap_or_else(|| "closed".into()),
        )
    }

    pub(crate) fn next_sequence(&self) -> i32 {
        self.sequence.fetch_add(1, Ordering::Relaxed)
    }

    /// A new connection id and the inbox its messages will arrive in. Registered before
    /// anything is sent, so no reply can be missed.
    pub fn register_conn(&self) -> (u32, Inbox) {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(INBOX_DEPTH);
        if !self.is_closed() {
            self.lock_conns().insert(id, tx);
        }
        (id, rx)
    }

    /// Whether any connection still uses this channel.
    pub fn has_conns(&self) -> bool {
        !self.lock_conns().is_empty()
    }

    pub fn unregister_conn(&self, id: u32) {
        self.lock_conns().remove(&id);
    }

    /// A sender of encoded frames (for connections that write with backpressure).
    pub fn outbox(&self) -> mpsc::Sender<Bytes> {
        self.out.clone()
    }

    /// Send without waiting for a reply.
    pub async fn send(&self, mut msg: Message) -> Result<(), ChannelError> {
        if self.is_closed() {
            return Err(self.closed_error());
        }
        msg.sequence = self.next_sequence();
        self.out
            .send(msg.to_bytes())
            .await
            .map_err(|_| self.closed_error())
    }

    /// Best effort, never waits (used from Drop).
    pub(crate) fn try_send(&self, mut msg: Message) {
        msg.sequence = self.next_sequence();
        let _ = self.out.try_send(msg.to_bytes());
    }

    /// Send and wait for the message whose ReplyFor is this one's sequence.
    pub async fn request(
        &self,
        mut msg: Message,
        timeout: Duration,
    ) -> Result<Message, ChannelError> {
        if self.is_closed() {
            return Err(self.closed_error());
        }
        let seq = self.next_sequence();
        msg.sequence = seq;
        let (tx, rx) = oneshot::channel();
        self.lock_pending().insert(seq, tx);
        if self.out.send(msg.to_bytes()).await.is_err() {
            self.lock_pending().remove(&seq);
            return Err(self.closed_error());
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(self.closed_error()),
            Err(_) => {
                self.lock_pending().remove(&seq);
                Err(ChannelError::Timeout(self.router.clone(), timeout))
            }
        }
    }

    /// A latency probe: proves the router still answers on this channel.
    pub async fn probe(&self, timeout: Duration) -> Result<(), ChannelError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        // The time goes in header 128 (LatencyProbeTime: headers 128–255 are reflected
        // in replies) as the C SDK sends it, and in the body; any reply counts.
        let stamp = Bytes::copy_from_slice(&now.to_le_bytes());
        let msg = Message::new(content::LATENCY)
            .with(header::LATENCY_PROBE_TIME, stamp.clone())
            .body(stamp);
        self.request(msg, timeout).await.map(|_| ())
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    channel: Arc<Channel>,
    writer: W,
    mut outbox: mpsc::Receiver<Bytes>,
) {
    let mut writer = tokio::io::BufWriter::with_capacity(256 * 1024, writer);
    let mut closed = channel.closed.subscribe();
    loop {
        let frame = tokio::select! {
            f = outbox.recv() => f,
            _ = closed.wait_for(|c| c.is_some()) => None,
        };
        let Some(frame) = frame else { break };
        let mut result = writer.write_all(&frame).await;
        // Write whatever else is queued, then flush once.
        while result.is_ok() {
            match outbox.try_recv() {
                Ok(f) => result = writer.write_all(&f).await,
                Err(_) => break,
            }
        }
        if let Err(e) = result.and(writer.flush().await) {
            channel.close(format!("write failed: {e}"));
            break;
        }
    }
    let _ = writer.shutdown().await;
}

async fn read_loop<R: AsyncRead + Unpin>(channel: Arc<Channel>, reader: R) {
    let mut reader = tokio::io::BufReader::with_capacity(256 * 1024, reader);
    let reason = loop {
        let msg = match read_message(&mut reader).await {
            Ok(Ok(Some(m))) => m,
            Ok(Ok(None)) => break "the router closed the connection".to_string(),
            Ok(Err(FrameError(what))) => break format!("bad frame from the router: {what}"),
            Err(e) => break format!("read failed: {e}"),
        };
        if let Some(reply_for) = msg.reply_for() {
            let waiter = channel.lock_pending().remove(&reply_for);
            if let Some(w) = waiter {
                let _ = w.send(msg);
                continue;
            }
        }
        match msg.content_type {
            content::LATENCY => {
                let answer = Message::new(content::LATENCY_RESPONSE)
                    .with_i32(header::REPLY_FOR, msg.sequence)
                    .body(msg.body.clone());
                channel.try_send(answer);
            }
            content::HEARTBEAT | content::LATENCY_RESPONSE | content::RESULT => {}
            _ => {
                let Some(id) = msg.conn_id() else { continue };
                let sink = channel.lock_conns().get(&id).cloned();
                if let Some(sink) = sink {
                    // Waiting here is the backpressure: a slow reader slows the router.
                    if sink.send(msg).await.is_err() {
                        channel.unregister_conn(id);
                    }
                }
            }
        }
    };
    channel.close(reason);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_documented_layout() {
        let msg = Message {
            content_type: content::CONNECT,
            sequence: 7,
            headers: vec![(header::CONN_ID, Bytes::from_static(&[1, 0, 0, 0]))],
            body: Bytes::from_static(b"tok"),
        };
        let bytes = msg.to_bytes();
        let expect: Vec<u8> = [
            &MAGIC[..],
            &60783i32.to_le_bytes(),
            &7i32.to_le_bytes(),
            &12i32.to_le_bytes(),
            &3i32.to_le_bytes(),
            &1000i32.to_le_bytes(),
            &4i32.to_le_bytes(),
            &[1, 0, 0, 0],
            b"tok",
        ]
        .concat();
        assert_eq!(bytes.as_ref(), expect.as_slice());
    }

    #[tokio::test]
    async fn round_trips_and_refuses_garbage() {
        let msg = Message::new(content::DATA)
            .with_u32(header::CONN_ID, 3)
            .with_u32(header::SEQ, 9)
            .with_u32(header::FLAGS, FLAG_FIN)
            .with_i32(header::REPLY_FOR, -2)
            .body(vec![5u8; 100_000]);
        let mut wire = msg.to_bytes().to_vec();
        wire.extend_from_slice(&Message::new(content::HELLO).to_bytes());
        let mut r = wire.as_slice();
        let back = read_message(&mut r).await.unwrap().unwrap().unwrap();
        assert_eq!(back, msg);
        assert_eq!(back.conn_id(), Some(3));
        assert_eq!(back.header_u32(header::FLAGS), Some(FLAG_FIN));
        assert_eq!(back.reply_for(), Some(-2));
        assert_eq!(
            read_message(&mut r)
                .await
                .unwrap()
                .unwrap()
                .unwrap()
                .content_type,
            content::HELLO
        );
        assert!(read_message(&mut r).await.unwrap().unwrap().is_none());

        let mut bad = msg.to_bytes().to_vec();
        bad[0] = 0x42;
        assert!(read_message(&mut bad.as_slice()).await.unwrap().is_err());
        let mut huge = msg.to_bytes().to_vec();
        huge[16..20].copy_from_slice(&i32::MAX.to_le_bytes());
        assert!(read_message(&mut huge.as_slice()).await.unwrap().is_err());
        assert!(decode_headers(&[1, 0, 0, 0, 9, 0, 0, 0, 1]).is_err());
    }

    /// A stream cut inside a frame is an error, never an orderly close: inside the
    /// 20-byte prefix (which once read as a clean end) and inside the frame's rest.
    #[tokio::test]
    async fn a_cut_frame_is_an_error_not_a_close() {
        let wire = Message::new(content::DATA).body(vec![1u8; 64]).to_bytes();
        for cut in [1, 7, PREFIX - 1, PREFIX + 3, wire.len() - 1] {
            let err = read_message(&mut &wire[..cut]).await.unwrap_err();
            assert_eq!(
                err.kind(),
                std::io::ErrorKind::UnexpectedEof,
                "cut at {cut}"
            );
        }
        assert!(read_message(&mut &wire[..0])
            .await
            .unwrap()
            .unwrap()
            .is_none());
    }

    /// A prefix claiming a 16 MiB body followed by a few bytes allocates for the bytes
    /// that came, not for the claim: the read fails at the cut with a small buffer.
    #[tokio::test]
    async fn a_claimed_length_is_not_allocated_up_front() {
        let mut wire = Message::new(content::DATA).to_bytes().to_vec();
        wire[16..20].copy_from_slice(&(MAX_BODY as i32).to_le_bytes());
        wire.extend_from_slice(&[0u8; 100]);
        let err = read_message(&mut wire.as_slice()).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("100 bytes into a 16777216-byte frame"),
            "{err}"
        );
    }

    /// A router on the other end of a duplex pipe: Hello answered, a request matched
    /// by ReplyFor, a Latency probe from the router answered, data routed by ConnId.
    #[tokio::test]
    async fn hello_replies_latency_and_conn_routing() {
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let router = tokio::spawn(async move {
            let (mut r, mut w) = tokio::io::split(theirs);
            let hello = read_message(&mut r).await.unwrap().unwrap().unwrap();
            assert_eq!(hello.content_type, content::HELLO);
            assert_eq!(
                hello.header(header::SESSION_TOKEN).unwrap().as_ref(),
                b"api-token"
            );
            let ok = Message::new(content::RESULT)
                .with_i32(header::REPLY_FOR, hello.sequence)
                .with(header::RESULT_SUCCESS, Bytes::from_static(&[1]));
            w.write_all(&ok.to_bytes()).await.unwrap();
            // Ask the client for latency; it must answer with ReplyFor = 77.
            let mut probe = Message::new(content::LATENCY).body(Bytes::from_static(b"t"));
            probe.sequence = 77;
            w.write_all(&probe.to_bytes()).await.unwrap();
            let answer = read_message(&mut r).await.unwrap().unwrap().unwrap();
            assert_eq!(answer.content_type, content::LATENCY_RESPONSE);
            assert_eq!(answer.reply_for(), Some(77));
            // A request from the client, answered out of order after unrelated data.
            let req = read_message(&mut r).await.unwrap().unwrap().unwrap();
            let data = Message::new(content::DATA)
                .with_u32(header::CONN_ID, 1)
                .body("d");
            w.write_all(&data.to_bytes()).await.unwrap();
            let reply =
                Message::new(content::STATE_CONNECTED).with_i32(header::REPLY_FOR, req.sequence);
            w.write_all(&reply.to_bytes()).await.unwrap();
            (r, w)
        });
        let channel = Channel::open("r1".into(), ours, "api-token", Duration::from_secs(5))
            .await
            .unwrap();
        let (id, mut inbox) = channel.register_conn();
        assert_eq!(id, 1);
        let reply = channel
            .request(Message::new(content::CONNECT), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(reply.content_type, content::STATE_CONNECTED);
        assert_eq!(inbox.recv().await.unwrap().body.as_ref(), b"d");
        let (r, w) = router.await.unwrap();
        drop((r, w));
        let reason = channel.wait_closed().await;
        assert!(reason.contains("closed"), "{reason}");
        assert!(inbox.recv().await.is_none());
    }

    #[tokio::test]
    async fn refused_hello_is_an_error_with_the_reason() {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        tokio::spawn(async move {
            let (mut r, mut w) = tokio::io::split(theirs);
            let hello = read_message(&mut r).await.unwrap().unwrap().unwrap();
            let no = Message::new(content::RESULT)
                .with_i32(header::REPLY_FOR, hello.sequence)
                .with(header::RESULT_SUCCESS, Bytes::from_static(&[0]))
                .body("invalid api session");
            w.write_all(&no.to_bytes()).await.unwrap();
            let _ = read_message(&mut r).await;
        });
        let err = Channel::open("r1".into(), ours, "t", Duration::from_secs(5))
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("invalid api session"), "{err}");
    }
}
