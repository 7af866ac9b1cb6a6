//! The Ziti benchmark's second far end: a hosting side written in Rust that does what
//! tests/ziti/libziti_host.py does with the real C SDK. It Binds one service at the test
//! router with a public key (end-to-end encryption required), and for each Dial opens a
//! TCP connection to its target and relays both ways: what the dialer sends is opened
//! and written to the target (the dialer's FIN half-closes it), what the target sends is
//! sealed and sent to the dialer (its end of stream becomes FIN).
//!
//! Why it exists: the libziti far end spends its event-loop thread in mbedTLS's portable
//! ChaCha20 (it negotiates TLS 1.2 ECDHE-ECDSA-CHACHA20-POLY1305 with the router; `perf`
//! puts ~90 % of that thread there), which caps a transfer near 0.3 Gbit/s whatever the
//! dialer does. This far end runs on one thread of its own (as a separate process would)
//! so the bench can show what the ikanos client and the rest of the path (TLS, router,
//! TLS) carry. It reuses the client's channel, framing and crypto, which the end-to-end
//! tests prove against libziti and libsodium.
//!
//! Owns only the bench's far end: nothing in ikanos hosts (Binds) services.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ikanos_ziti::channel::{content, header, Channel, Inbox, Message, FLAG_FIN};
use ikanos_ziti::crypto::{KeyPair, Opened, Opener, Sealer, SessionKeys};
use ikanos_ziti::edge::{data_frame, MAX_DATA};
use ikanos_ziti::identity::Identity;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Edge content types only a hosting side uses (the client has no names for them).
const DIAL_SUCCESS: i32 = 60788;
const BIND: i32 = 60790;
const TIMEOUT: Duration = Duration::from_secs(5);

/// Host on a thread of its own: identity file `identity`, the router on
/// 127.0.0.1:`router_port`, API session `api_token`, Bind session `bind_token`, each
/// Dial relayed to `target`. Returns once the router confirmed the Bind.
pub fn start(
    identity: &Path,
    router_port: u16,
    api_token: String,
    bind_token: String,
    target: SocketAddr,
) {
    let identity = Identity::load(&identity.display().to_string()).expect("the far end's identity");
    let (bound, is_bound) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(host(
                identity,
                router_port,
                api_token,
                bind_token,
                target,
                bound,
            ))
    });
    is_bound
        .recv_timeout(Duration::from_secs(10))
        .expect("the Rust far end bound its service");
}

async fn host(
    identity: Identity,
    router_port: u16,
    api_token: String,
    bind_token: String,
    target: SocketAddr,
    bound: std::sync::mpsc::Sender<()>,
) {
    let tls = identity.tls_config(&[b"ziti-edge"]).unwrap();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", router_port))
        .await
        .expect("the far end reaches the router");
    tcp.set_nodelay(true).unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .expect("TLS to the router");
    let channel = Channel::open("far end".into(), stream, &api_token, TIMEOUT)
        .await
        .expect("the router accepts the far end's Hello");
    let (bind_conn, mut dials) = channel.register_conn();
    let keys = KeyPair::generate();
    let bind = Message::new(BIND)
        .with_u32(header::CONN_ID, bind_conn)
        .with(header::PUBLIC_KEY, Bytes::copy_from_slice(keys.public()))
        .body(Bytes::from(bind_token));
    let reply = channel.request(bind, TIMEOUT).await.expect("Bind answered");
    assert_eq!(
        reply.content_type,
        content::STATE_CONNECTED,
        "Bind refused: {}",
        reply.body_text()
    );
    bound.send(()).unwrap();
    while let Some(dial) = dials.recv().await {
        if dial.content_type != content::DIAL {
            continue;
        }
        let dialer: [u8; 32] = dial
            .header(header::PUBLIC_KEY)
            .expect("the dialer's public key (the service requires e2ee)")
            .as_ref()
            .try_into()
            .unwrap();
        let session = keys.server_session_keys(&dialer);
        let (conn, inbox) = channel.register_conn();
        let accepted = Message::new(DIAL_SUCCESS)
            .with_i32(header::REPLY_FOR, dial.sequence)
            .with_u32(header::CONN_ID, bind_conn)
            .body(Bytes::copy_from_slice(&conn.to_le_bytes()));
        channel.send(accepted).await.unwrap();
        let far = FarConn {
            channel: channel.clone(),
            conn,
            seq: 1,
        };
        tokio::spawn(relay(far, inbox, session, target));
    }
}

/// One accepted connection's sending side.
struct FarConn {
    channel: Arc<Channel>,
    conn: u32,
    seq: u32,
}

impl FarConn {
    async fn send(&mut self, body: Bytes, flags: u32) -> bool {
        let frame = data_frame(&self.channel, self.conn, self.seq, body, flags);
        self.seq += 1;
        self.channel.outbox().send(frame).await.is_ok()
    }
}

/// Relay one accepted connection to `target` until both directions are done.
async fn relay(mut far: FarConn, mut inbox: Inbox, keys: SessionKeys, target: SocketAddr) {
    match inbox.recv().await {
        Some(m) if m.content_type == content::STATE_CONNECTED => {}
        other => panic!("expected StateConnected for the dial, got {other:?}"),
    }
    let (mut sealer, stream_header) = Sealer::new(&keys.tx);
    far.send(Bytes::copy_from_slice(&stream_header), 0).await;
    let tcp = tokio::net::TcpStream::connect(target).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (mut from_target, mut to_target) = tcp.into_split();

    // Dialer → target: open each Data body; FIN half-closes the target; StateClosed ends.
    let mut opener = Opener::new(&keys.rx);
    let inbound = tokio::spawn(async move {
        while let Some(m) = inbox.recv().await {
            if m.content_type == content::STATE_CLOSED {
                break;
            }
            if m.content_type != content::DATA {
                continue;
            }
            if !m.body.is_empty() {
                match opener
                    .open(m.body.to_vec())
                    .expect("the dialer's data opens")
                {
                    Opened::Header => {}
                    Opened::Message(p) | Opened::Final(p) => {
                        if to_target.write_all(&p).await.is_err() {
                            break;
                        }
                    }
                }
            }
            if m.header_u32(header::FLAGS).unwrap_or(0) & FLAG_FIN != 0 {
                let _ = to_target.shutdown().await;
            }
        }
    });

    // Target → dialer: seal what it sends; its end of stream is our FIN.
    let mut buf = vec![0u8; MAX_DATA];
    loop {
        match from_target.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if !far.send(Bytes::from(sealer.seal(&buf[..n])), 0).await {
                    break;
                }
            }
        }
    }
    far.send(Bytes::new(), FLAG_FIN).await;
    let _ = inbound.await;
    far.channel.unregister_conn(far.conn);
}
