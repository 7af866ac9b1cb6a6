//! One edge connection over a router channel: Connect → StateConnected/StateClosed,
//! then Data both ways (end-to-end encrypted when the service requires it), FIN to
//! half-close, StateClosed to end. Presented as an `AsyncRead + AsyncWrite` stream.
//!
//! Owns: the connection's id, its Data sequence numbers, its sink (inbox) on the
//! channel, and its two secretstreams. Must not touch: channel framing or the
//! controller.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::PollSender;

use crate::channel::{content, header, Channel, ChannelError, Inbox, Message, FLAG_FIN};
use crate::crypto::{KeyPair, Opened, Opener, Sealer, OVERHEAD};

/// Largest plaintext per Data message (one secretstream push each).
pub const MAX_DATA: usize = 64 * 1024 - OVERHEAD;

#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// The router (or the hosting side) refused the connection; the text is theirs.
    #[error("edge router {router} refused the connection: {reason}")]
    Refused { router: String, reason: String },
    #[error("edge router {0}: unexpected answer to Connect (content type {1})")]
    Unexpected(String, i32),
    #[error("the service requires end-to-end encryption but the hosting side sent no public key")]
    NoPeerKey,
    #[error("end-to-end encryption: {0}")]
    Crypto(#[from] super::crypto::CryptoError),
}

impl EdgeError {
    /// The router says the service session is no longer valid: get a new one.
    pub fn is_invalid_session(&self) -> bool {
        match self {
            EdgeError::Refused { reason, .. } => {
                let r = reason.to_ascii_lowercase();
                r.contains("session")
                    && (r.contains("invalid") || r.contains("not found") || r.contains("expired"))
            }
            _ => false,
        }
    }

    /// The router says nothing hosts the service (`service … has no terminators`, as
    /// OpenZiti's controller words it): nothing listens behind the far end.
    pub fn is_no_terminators(&self) -> bool {
        match self {
            EdgeError::Refused { reason, .. } => {
                reason.to_ascii_lowercase().contains("has no terminators")
            }
            _ => false,
        }
    }
}

/// Where the far side should connect, for intercept/forwardAddress hosting.
pub struct Destination<'a> {
    pub host: &'a str,
    pub port: u16,
}

/// Dial a service over `channel` with a Dial session `token`.
pub async fn connect(
    channel: &Arc<Channel>,
    token: &str,
    caller: &str,
    destination: Destination<'_>,
    encrypt: bool,
    timeout: Duration,
) -> Result<ZitiStream, EdgeError> {
    let (conn_id, inbox) = channel.register_conn();
    let keys = encrypt.then(KeyPair::generate);
    let app_data = serde_json::json!({
        "dst_protocol": "tcp",
        "dst_hostname": destination.host,
        "dst_port": destination.port.to_string(),
    });
    let mut msg = Message::new(content::CONNECT)
        .with_u32(header::CONN_ID, conn_id)
        .with_u32(header::SEQ, 0)
        .with(header::APP_DATA, Bytes::from(app_data.to_string()))
        .body(Bytes::copy_from_slice(token.as_bytes()));
    if !caller.is_empty() {
        msg = msg.with(header::CALLER_ID, Bytes::copy_from_slice(caller.as_bytes()));
    }
    if let Some(k) = &keys {
        msg = msg.with(header::PUBLIC_KEY, Bytes::copy_from_slice(k.public()));
    }
    let reply = match channel.request(msg, timeout).await {
        Ok(r) => r,
        Err(e) => {
            channel.unregister_conn(conn_id);
            return Err(e.into());
        }
    };
    let fail = |e: EdgeError| {
        channel.unregister_conn(conn_id);
        Err(e)
    };
    match reply.content_type {
        content::STATE_CONNECTED => {}
        content::STATE_CLOSED => {
            return fail(EdgeError::Refused {
                router: channel.router.clone(),
                reason: reply.body_text(),
            })
        }
        other => return fail(EdgeError::Unexpected(channel.router.clone(), other)),
    }
    let mut seq = 1u32;
    let (sealer, opener) = match (keys, reply.header(header::PUBLIC_KEY)) {
        (Some(keys), Some(peer)) => {
            let session = match keys.client_session_keys(peer) {
                Ok(s) => s,
                Err(e) => return fail(e.into()),
            };
            let (sealer, stream_header) = Sealer::new(&session.tx);
            let first = Message::new(content::DATA)
                .with_u32(header::CONN_ID, conn_id)
                .with_u32(header::SEQ, seq)
                .body(Bytes::copy_from_slice(&stream_header));
            seq += 1;
            if let Err(e) = channel.send(first).await {
                return fail(e.into());
            }
            (Some(sealer), Some(Opener::new(&session.rx)))
        }
        (Some(_), None) => return fail(EdgeError::NoPeerKey),
        (None, _) => (None, None),
    };
    // Data that raced ahead of the reply is already in the inbox, in order.
    Ok(ZitiStream {
        channel: channel.clone(),
        conn_id,
        seq,
        inbox,
        pending: Bytes::new(),
        read_done: false,
        write_done: false,
        remote_closed: false,
        opener,
        sealer,
        out: PollSender::new(channel.outbox()),
    })
}

/// An open edge connection.
pub struct ZitiStream {
    channel: Arc<Channel>,
    conn_id: u32,
    seq: u32,
    inbox: Inbox,
    /// Plaintext received but not yet read.
    pending: Bytes,
    read_done: bool,
    write_done: bool,
    /// The far side sent StateClosed: nothing to tell it on drop.
    remote_closed: bool,
    opener: Option<Opener>,
    sealer: Option<Sealer>,
    out: PollSender<Bytes>,
}

/// The encoded Data message number `seq` of connection `conn_id` on `channel`, with the
/// edge `flags` (FIN) when not 0, ready for the channel's outbox.
pub fn data_frame(channel: &Channel, conn_id: u32, seq: u32, body: Bytes, flags: u32) -> Bytes {
    let mut msg = Message::new(content::DATA)
        .with_u32(header::CONN_ID, conn_id)
        .with_u32(header::SEQ, seq)
        .body(body);
    if flags != 0 {
        msg = msg.with_u32(header::FLAGS, flags);
    }
    msg.sequence = channel.next_sequence();
    let mut buf = BytesMut::with_capacity(msg.body.len() + 96);
    msg.encode(&mut buf);
    buf.freeze()
}

impl ZitiStream {
    fn data(&mut self, body: Bytes, flags: u32) -> Bytes {
        let frame = data_frame(&self.channel, self.conn_id, self.seq, body, flags);
        self.seq = self.seq.wrapping_add(1);
        frame
    }

    fn broken(&self, what: &str) -> std::io::Error {
        let reason = self
            .channel
            .closed_reason()
            .unwrap_or_else(|| "closed".into());
        std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            format!(
                "{what}: the channel to edge router {} is closed: {reason}",
                self.channel.router
            ),
        )
    }
}

impl AsyncRead for ZitiStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.pending.is_empty() {
                let n = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if this.read_done {
                return Poll::Ready(Ok(()));
            }
            let Some(msg) = ready!(this.inbox.poll_recv(cx)) else {
                if this.channel.is_closed() {
                    return Poll::Ready(Err(this.broken("read")));
                }
                this.read_done = true;
                continue;
            };
            match msg.content_type {
                content::DATA => {
                    let fin = msg.header_u32(header::FLAGS).unwrap_or(0) & FLAG_FIN != 0;
                    if !msg.body.is_empty() {
                        match this.opener.as_mut() {
                            None => this.pending = msg.body,
                            Some(o) => match o.open(msg.body.to_vec()) {
                                Ok(Opened::Header) => {}
                                Ok(Opened::Message(m)) => this.pending = m.into(),
                                Ok(Opened::Final(m)) => {
                                    this.pending = m.into();
                                    this.read_done = true;
                                }
                                Err(e) => {
                                    return Poll::Ready(Err(std::io::Error::new(
                                        std::io::ErrorKind::InvalidData,
                                        e.to_string(),
                                    )))
                                }
                            },
                        }
                    }
                    if fin {
                        this.read_done = true;
                    }
                }
                content::STATE_CLOSED | content::STATE_SESSION_ENDED => {
                    this.read_done = true;
                    this.write_done = true;
                    this.remote_closed = true;
                    this.channel.unregister_conn(this.conn_id);
                }
                _ => {}
            }
        }
    }
}

impl AsyncWrite for ZitiStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        if this.write_done {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the Ziti connection is closed for writing",
            )));
        }
        if ready!(this.out.poll_reserve(cx)).is_err() {
            return Poll::Ready(Err(this.broken("write")));
        }
        let n = buf.len().min(MAX_DATA);
        let body = match this.sealer.as_mut() {
            Some(s) => Bytes::from(s.seal(&buf[..n])),
            None => Bytes::copy_from_slice(&buf[..n]),
        };
        let frame = this.data(body, 0);
        if this.out.send_item(frame).is_err() {
            return Poll::Ready(Err(this.broken("write")));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // The channel's writer flushes whenever its queue empties.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.write_done {
            return Poll::Ready(Ok(()));
        }
        if ready!(this.out.poll_reserve(cx)).is_err() {
            return Poll::Ready(Err(this.broken("shutdown")));
        }
        let frame = this.data(Bytes::new(), FLAG_FIN);
        let _ = this.out.send_item(frame);
        this.write_done = true;
        Poll::Ready(Ok(()))
    }
}

impl Drop for ZitiStream {
    fn drop(&mut self) {
        self.channel.unregister_conn(self.conn_id);
        if !self.remote_closed && !self.channel.is_closed() {
            let closed = Message::new(content::STATE_CLOSED)
                .with_u32(header::CONN_ID, self.conn_id)
                .with_u32(header::SEQ, self.seq);
            self.channel.try_send(closed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::read_message;
    use crate::crypto::{KeyPair, Opened, Opener, Sealer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A router and a hosting side on the other end of a pipe: checks what Connect
    /// carries, answers with the host's key, and exchanges encrypted Data both ways.
    #[tokio::test]
    async fn connect_data_fin_and_close_with_end_to_end_encryption() {
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let far = tokio::spawn(async move {
            let (mut r, mut w) = tokio::io::split(theirs);
            let next = |m: Option<Message>| m.unwrap();
            let hello = next(read_message(&mut r).await.unwrap().unwrap());
            let ok = Message::new(content::RESULT)
                .with_i32(header::REPLY_FOR, hello.sequence)
                .with(header::RESULT_SUCCESS, Bytes::from_static(&[1]));
            w.write_all(&ok.to_bytes()).await.unwrap();

            let connect = next(read_message(&mut r).await.unwrap().unwrap());
            assert_eq!(connect.content_type, content::CONNECT);
            assert_eq!(connect.body.as_ref(), b"svc-session-token");
            assert_eq!(connect.header_u32(header::SEQ), Some(0));
            assert_eq!(
                connect.header(header::CALLER_ID).unwrap().as_ref(),
                b"ikanos-test"
            );
            let app: serde_json::Value =
                serde_json::from_slice(connect.header(header::APP_DATA).unwrap()).unwrap();
            assert_eq!(
                app,
                serde_json::json!({"dst_protocol": "tcp", "dst_hostname": "crm.internal", "dst_port": "443"})
            );
            let conn_id = connect.conn_id().unwrap();
            let client_pk: [u8; 32] = connect
                .header(header::PUBLIC_KEY)
                .unwrap()
                .as_ref()
                .try_into()
                .unwrap();
            let host = KeyPair::generate();
            let keys = host.server_session_keys(&client_pk);
            let reply = Message::new(content::STATE_CONNECTED)
                .with_i32(header::REPLY_FOR, connect.sequence)
                .with_u32(header::CONN_ID, conn_id)
                .with(header::PUBLIC_KEY, Bytes::copy_from_slice(host.public()));
            w.write_all(&reply.to_bytes()).await.unwrap();

            // The client's stream header, then its request.
            let mut opener = Opener::new(&keys.rx);
            let first = next(read_message(&mut r).await.unwrap().unwrap());
            assert_eq!(first.header_u32(header::SEQ), Some(1));
            assert_eq!(opener.open(first.body.to_vec()).unwrap(), Opened::Header);
            let data = next(read_message(&mut r).await.unwrap().unwrap());
            assert_eq!(data.header_u32(header::SEQ), Some(2));
            assert!(
                !data.body.windows(4).any(|x| x == b"ping"),
                "plaintext on the wire"
            );
            assert_eq!(
                opener.open(data.body.to_vec()).unwrap(),
                Opened::Message(b"ping".to_vec())
            );
            let fin = next(read_message(&mut r).await.unwrap().unwrap());
            assert_eq!(fin.header_u32(header::FLAGS), Some(FLAG_FIN));

            // The host answers (header first), then closes.
            let (mut sealer, hdr) = Sealer::new(&keys.tx);
            for body in [hdr.to_vec(), sealer.seal(b"pong")] {
                let m = Message::new(content::DATA)
                    .with_u32(header::CONN_ID, conn_id)
                    .body(body);
                w.write_all(&m.to_bytes()).await.unwrap();
            }
            let closed = Message::new(content::STATE_CLOSED).with_u32(header::CONN_ID, conn_id);
            w.write_all(&closed.to_bytes()).await.unwrap();
            (r, w)
        });
        let channel = Channel::open("r1".into(), ours, "api", Duration::from_secs(5))
            .await
            .unwrap();
        let mut stream = connect(
            &channel,
            "svc-session-token",
            "ikanos-test",
            Destination {
                host: "crm.internal",
                port: 443,
            },
            true,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        stream.write_all(b"ping").await.unwrap();
        stream.shutdown().await.unwrap();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"pong");
        let _ = far.await.unwrap();
    }

    #[tokio::test]
    async fn a_refused_connect_carries_the_routers_reason() {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        tokio::spawn(async move {
            let (mut r, mut w) = tokio::io::split(theirs);
            let hello = read_message(&mut r).await.unwrap().unwrap().unwrap();
            let ok = Message::new(content::RESULT)
                .with_i32(header::REPLY_FOR, hello.sequence)
                .with(header::RESULT_SUCCESS, Bytes::from_static(&[1]));
            w.write_all(&ok.to_bytes()).await.unwrap();
            let connect = read_message(&mut r).await.unwrap().unwrap().unwrap();
            let no = Message::new(content::STATE_CLOSED)
                .with_i32(header::REPLY_FOR, connect.sequence)
                .body("Invalid Session");
            w.write_all(&no.to_bytes()).await.unwrap();
            let _ = read_message(&mut r).await;
        });
        let channel = Channel::open("r1".into(), ours, "api", Duration::from_secs(5))
            .await
            .unwrap();
        let err = connect(
            &channel,
            "t",
            "",
            Destination { host: "h", port: 1 },
            true,
            Duration::from_secs(5),
        )
        .await
        .err()
        .unwrap();
        assert!(err.is_invalid_session(), "{err}");
        assert!(!err.is_no_terminators(), "{err}");
        assert!(err.to_string().contains("Invalid Session"), "{err}");
        assert!(!channel.has_conns());
    }

    #[test]
    fn a_service_nothing_hosts_is_told_apart_from_other_refusals() {
        let refused = |reason: &str| EdgeError::Refused {
            router: "r1".into(),
            reason: reason.into(),
        };
        // OpenZiti's wording, and the test router's.
        assert!(refused(
            "dial failed: service 5VN4H4YQikdAwPFN3XWhYZ has no terminators for instanceId "
        )
        .is_no_terminators());
        assert!(refused("service 'crm' has no terminators").is_no_terminators());
        assert!(!refused("Invalid Session").is_no_terminators());
        assert!(!refused("no such service").is_no_terminators());
    }
}
