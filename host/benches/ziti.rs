//! Benchmark: one exposed operation calling one consumed operation, with the consumed
//! API reached directly and through the embedded OpenZiti client in the same run, then
//! bulk transfers both ways through the Ziti path with end-to-end encryption — all on
//! loopback. The Ziti path is: ikanos (this crate's client) → TLS → the test edge router
//! (tests/e2e/support/ziti) → TLS → a far end hosting the service → the API. Two far
//! ends, each measured: the real C SDK (libziti 0.29.3 through
//! `tests/ziti/libziti_host.py`), and `zitinet/rust_host.rs`, which does the same in
//! Rust on a thread of its own (libziti's own TLS caps what it can carry; see there).
//!
//! Run: `cargo bench -p ikanos --bench ziti` (options: `-- --seconds 10 --connections 8`).
//! Needs libziti from the openziti==0.6.0 wheel (scripts/setup installs it).

mod common;

/// The test network the end-to-end tests use.
#[allow(dead_code)]
mod zitinet;
use zitinet as support;

use std::time::Duration;

use common::*;
use ikanos_ziti::channel::Channel;
use ikanos_ziti::crypto::SessionKeys;
use ikanos_ziti::edge::{self, Destination, ZitiStream};
use support::ziti::{libziti_host, Permission, ZitiTestNet};

const BULK_BYTES: usize = 256 << 20;

/// The far end of a bench channel: answer the client's Hello, accept its Connect with
/// a key pair of its own; the connection id and the far end's session keys.
async fn accept_hello_and_connect<R, W>(r: &mut R, w: &mut W) -> (u32, SessionKeys)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    use bytes::Bytes;
    use ikanos_ziti::channel::{content, header, read_message, Message};
    use ikanos_ziti::crypto::KeyPair;
    use tokio::io::AsyncWriteExt;
    let hello = read_message(r).await.unwrap().unwrap().unwrap();
    let ok = Message::new(content::RESULT)
        .with_i32(header::REPLY_FOR, hello.sequence)
        .with(header::RESULT_SUCCESS, Bytes::from_static(&[1]));
    w.write_all(&ok.to_bytes()).await.unwrap();
    w.flush().await.unwrap();
    let connect = read_message(r).await.unwrap().unwrap().unwrap();
    let conn = connect.conn_id().unwrap();
    let client_pk: [u8; 32] = connect
        .header(header::PUBLIC_KEY)
        .unwrap()
        .as_ref()
        .try_into()
        .unwrap();
    let host = KeyPair::generate();
    let keys = host.server_session_keys(&client_pk);
    let connected = Message::new(content::STATE_CONNECTED)
        .with_i32(header::REPLY_FOR, connect.sequence)
        .with_u32(header::CONN_ID, conn)
        .with(header::PUBLIC_KEY, Bytes::copy_from_slice(host.public()));
    w.write_all(&connected.to_bytes()).await.unwrap();
    (conn, keys)
}

/// The client side of a bench channel: open the channel over `io` and dial one
/// end-to-end encrypted connection through it.
async fn client_connect(io: tokio::io::DuplexStream) -> ZitiStream {
    let channel = Channel::open("bench".into(), io, "api", Duration::from_secs(5))
        .await
        .unwrap();
    edge::connect(
        &channel,
        "session",
        "bench",
        Destination {
            host: "bulk.internal",
            port: 9,
        },
        true,
        Duration::from_secs(5),
    )
    .await
    .unwrap()
}

/// The client's receive path alone: channel decoding, connection dispatch and e2ee
/// opening of BULK_BYTES, with a far end in the same process sealing and framing them
/// (no TLS, no router, no libziti). Bytes per second.
async fn client_receive_path() -> f64 {
    use ikanos_ziti::channel::{content, header, read_message, Message};
    use ikanos_ziti::crypto::Sealer;
    use ikanos_ziti::edge::MAX_DATA;
    use tokio::io::AsyncWriteExt;
    let (ours, theirs) = tokio::io::duplex(4 << 20);
    tokio::spawn(async move {
        let (mut r, w) = tokio::io::split(theirs);
        let mut w = tokio::io::BufWriter::with_capacity(1 << 20, w);
        let (conn, keys) = accept_hello_and_connect(&mut r, &mut w).await;
        let (mut sealer, stream_header) = Sealer::new(&keys.tx);
        let data = |seq: u32, body: Vec<u8>| {
            Message::new(content::DATA)
                .with_u32(header::CONN_ID, conn)
                .with_u32(header::SEQ, seq)
                .body(body)
                .to_bytes()
        };
        w.write_all(&data(1, stream_header.to_vec())).await.unwrap();
        let chunk = vec![b'b'; MAX_DATA];
        let mut left = BULK_BYTES;
        let mut seq = 2;
        while left > 0 {
            let n = left.min(chunk.len());
            w.write_all(&data(seq, sealer.seal(&chunk[..n])))
                .await
                .unwrap();
            left -= n;
            seq += 1;
        }
        let closed = Message::new(content::STATE_CLOSED).with_u32(header::CONN_ID, conn);
        w.write_all(&closed.to_bytes()).await.unwrap();
        w.flush().await.unwrap();
        // Keep reading (the client's header and close) until it hangs up.
        while let Ok(Ok(Some(_))) = read_message(&mut r).await {}
    });
    let stream = client_connect(ours).await;
    read_rate(stream, BULK_BYTES).await
}

/// The client's send path alone: e2ee sealing, framing and the channel writer for
/// BULK_BYTES, with a far end in the same process decoding and opening them. Bytes per
/// second until the far end has opened the last byte.
async fn client_send_path() -> f64 {
    use ikanos_ziti::channel::{content, header, read_message, Message};
    use ikanos_ziti::crypto::{Opened, Opener};
    use tokio::io::AsyncWriteExt;
    let (ours, theirs) = tokio::io::duplex(4 << 20);
    let far = tokio::spawn(async move {
        let (r, mut w) = tokio::io::split(theirs);
        let mut r = tokio::io::BufReader::with_capacity(1 << 20, r);
        let (conn, keys) = accept_hello_and_connect(&mut r, &mut w).await;
        let mut opener = Opener::new(&keys.rx);
        let mut total = 0usize;
        while let Ok(Ok(Some(m))) = read_message(&mut r).await {
            if m.content_type != content::DATA {
                continue;
            }
            if !m.body.is_empty() {
                if let Opened::Message(p) = opener.open(m.body.to_vec()).unwrap() {
                    total += p.len();
                }
            }
            if m.header_u32(header::FLAGS).unwrap_or(0) & 1 != 0 {
                break;
            }
        }
        let closed = Message::new(content::STATE_CLOSED).with_u32(header::CONN_ID, conn);
        w.write_all(&closed.to_bytes()).await.unwrap();
        total
    });
    let mut stream = client_connect(ours).await;
    let started = std::time::Instant::now();
    write_bulk(&mut stream).await;
    stream.shutdown().await.unwrap();
    let total = far.await.unwrap();
    assert_eq!(total, BULK_BYTES, "the whole upload arrived");
    total as f64 / started.elapsed().as_secs_f64()
}

/// Write BULK_BYTES in 256 KiB writes.
async fn write_bulk<S: tokio::io::AsyncWrite + Unpin>(stream: &mut S) {
    use tokio::io::AsyncWriteExt;
    let chunk = vec![b'u'; 256 << 10];
    let mut left = BULK_BYTES;
    while left > 0 {
        let n = left.min(chunk.len());
        stream.write_all(&chunk[..n]).await.unwrap();
        left -= n;
    }
}

/// Bytes per second writing BULK_BYTES to an upload's far side (common's bulk_sink,
/// directly or through a far end) until it has read them all and said so. The length
/// goes first, so no half-close is needed: libziti's socket bridge (the Python SDK's)
/// closes the whole connection when the dialer half-closes.
async fn upload_rate<S>(mut stream: S) -> f64
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = std::time::Instant::now();
    stream
        .write_all(&(BULK_BYTES as u64).to_le_bytes())
        .await
        .unwrap();
    write_bulk(&mut stream).await;
    let mut count = [0u8; 8];
    stream.read_exact(&mut count).await.unwrap();
    assert_eq!(
        u64::from_le_bytes(count),
        BULK_BYTES as u64,
        "the whole upload arrived"
    );
    BULK_BYTES as f64 / started.elapsed().as_secs_f64()
}

/// The embedded Ziti client for `service`, once ready.
async fn ready_tunnel(
    service: &str,
    identity: &std::path::Path,
) -> std::sync::Arc<dyn ikanos::tunnel::Tunnel> {
    use ikanos::tunnel::{TunnelConfig, TunnelProvider};
    let tunnel = ikanos::tunnel::ziti::ZitiProvider
        .start(TunnelConfig {
            service: Some(service.into()),
            identity: Some(ikanos::spec::binds::Secret::new(
                identity.display().to_string(),
            )),
            extra: serde_json::Map::new(),
        })
        .expect("starting the Ziti tunnel");
    let mut state = tunnel.state();
    while !state.borrow_and_update().is_ready() {
        state.changed().await.unwrap();
    }
    tunnel
}

/// The two far ends, by the suffix of the services they host.
const FAR_ENDS: [(&str, &str); 2] = [("libziti host", ""), ("Rust host", "-rs")];

fn main() {
    if !support::libziti_available() {
        println!("SKIP: needs libziti (openziti==0.6.0); scripts/setup installs it");
        return;
    }
    let seconds = arg("--seconds", 10);
    let connections = arg("--connections", 8) as usize;
    let rounds = arg("--rounds", 2);
    let up = upstream();
    let bulk = bulk_source(BULK_BYTES);
    let sink = bulk_sink();

    // The real C SDK hosts crm, bulk and sink; the far end written here hosts the same
    // targets as crm-rs, bulk-rs and sink-rs. Every service requires e2ee.
    let net = ZitiTestNet::start();
    net.create_identity("ikanos");
    net.create_identity("libziti-host");
    net.create_identity("rust-host");
    let mut libziti_hosts = Vec::new();
    for (name, target) in [("crm", up), ("bulk", bulk), ("sink", sink)] {
        for (suffix, host) in [("", "libziti-host"), ("-rs", "rust-host")] {
            let service = format!("{name}{suffix}");
            net.create_service(&service, true);
            net.grant(host, &service, Permission::Bind);
            net.grant("ikanos", &service, Permission::Dial);
        }
        libziti_hosts.push(libziti_host(
            &net.identity_file("libziti-host"),
            name,
            &target.to_string(),
        ));
        let service = format!("{name}-rs");
        let (api_token, bind_token) = net.open_sessions("rust-host", &service, Permission::Bind);
        support::rust_host::start(
            &net.identity_file("rust-host"),
            net.router_port(),
            api_token,
            bind_token,
            target,
        );
        net.wait_for_terminator(name);
        net.wait_for_terminator(&service);
    }

    let secrets = format!("crm-bearer-token: \"{TOKEN}\"\n");
    let direct = start_ikanos(
        |t| t.replace("http://127.0.0.1:18081", &format!("http://{up}")),
        &[("secrets.yaml", secrets.clone())],
    );
    let identity = net.identity_file("ikanos");
    let mut children = vec![("direct".to_string(), direct)];
    for (far_end, suffix) in FAR_ENDS {
        let tunnel_block = ziti_tunnel_block(&format!("crm{suffix}"));
        let child = start_ikanos_tunnelled(
            &tunnel_block,
            "ZITI_IDENTITY",
            "ziti-identity",
            &identity.display().to_string(),
            &secrets,
        );
        children.push((format!("Ziti, {far_end}"), child));
    }
    let targets: Vec<(String, String)> = children
        .iter()
        .map(|(name, child)| (name.clone(), child.rest.clone()))
        .collect();

    let path = "/customers";
    check_targets(&targets, path);
    println!(
        "{}; every Ziti service requires end-to-end encryption",
        setup_line(connections, seconds, rounds)
    );
    let single = single_connection(&targets, path, seconds);
    println!("{connections} connections:");
    warm_up(&targets, path, connections);
    let merged = alternating_rounds(&targets, path, connections, seconds, rounds);
    report_all(&targets, &merged);
    for (i, (far_end, _)) in FAR_ENDS.iter().enumerate() {
        println!(
            "p50 overhead of the Ziti path ({far_end}) over direct: {:+.1} µs (one connection), {:+.1} µs ({connections} connections); throughput {:.2}x direct",
            (single[i + 1].pct(0.5).as_secs_f64() - single[0].pct(0.5).as_secs_f64()) * 1e6,
            (merged[i + 1].pct(0.5).as_secs_f64() - merged[0].pct(0.5).as_secs_f64()) * 1e6,
            merged[i + 1].rps() / merged[0].rps(),
        );
    }

    println!(
        "bulk transfer of {} MiB, best of 3 (down: from the far side; up: to it):",
        BULK_BYTES >> 20
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut rows = Vec::new();
        let (mut down, mut up) = (0.0f64, 0.0f64);
        for _ in 0..3 {
            let s = tokio::net::TcpStream::connect(bulk).await.unwrap();
            down = down.max(read_rate(s, BULK_BYTES).await);
            let s = tokio::net::TcpStream::connect(sink).await.unwrap();
            up = up.max(upload_rate(s).await);
        }
        rows.push(("direct (TCP)".to_string(), down, up));
        for (far_end, suffix) in FAR_ENDS {
            let bulk_tunnel = ready_tunnel(&format!("bulk{suffix}"), &identity).await;
            let sink_tunnel = ready_tunnel(&format!("sink{suffix}"), &identity).await;
            let (mut down, mut up) = (0.0f64, 0.0f64);
            for _ in 0..3 {
                let s = bulk_tunnel.dial("bulk.internal", 80).await.expect("dialing bulk");
                down = down.max(read_rate(s, BULK_BYTES).await);
                let s = sink_tunnel.dial("sink.internal", 80).await.expect("dialing sink");
                up = up.max(upload_rate(s).await);
            }
            bulk_tunnel.stop().await;
            sink_tunnel.stop().await;
            rows.push((format!("Ziti, {far_end}"), down, up));
        }
        let (mut down, mut up) = (0.0f64, 0.0f64);
        for _ in 0..3 {
            down = down.max(client_receive_path().await);
            up = up.max(client_send_path().await);
        }
        rows.push(("client alone".to_string(), down, up));
        for (name, down, up) in rows {
            println!(
                "{name:<22} down {:>6.2} Gbit/s   up {:>6.2} Gbit/s",
                down * 8.0 / 1e9,
                up * 8.0 / 1e9
            );
        }
        println!("(libziti host: the real C SDK Binds the services, tests/ziti/libziti_host.py relays to the target; Rust host: benches/zitinet/rust_host.rs does the same on a thread of its own; both through the test router, TLS on both legs)");
        println!("(client alone: its channel and e2ee, with the far end sealing or opening in the same process; no TLS, router or far end)");
    });
}
