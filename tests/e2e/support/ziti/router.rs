//! The test edge router: TLS with ALPN `ziti-edge` and a mandatory client certificate
//! from the network's CA, channel v2 frames, and the edge protocol an SDK speaks:
//! Hello (API session token checked against the model and the certificate's identity)
//! → Result with ReplyFor; Latency answered; Bind → StateConnected (a terminator),
//! Unbind or StateClosed removes it; Connect from a dialer → service session checked →
//! Dial to a bound host carrying the dialer's PublicKey → DialSuccess → StateConnected
//! to both sides (the dialer gets the host's Bind PublicKey) → Data, FIN and StateClosed
//! relayed between the two connections. Data bodies are relayed as they are (ciphertext
//! when the SDKs run end-to-end encryption) and recorded for the tests.
//!
//! Refusals use the real router's words where SDKs act on them: a session token it
//! does not accept is answered with StateClosed "Invalid Session", so SDKs fetch a new
//! one. Owns connections and circuits; the data it validates against is model.rs's.
//! Several routers may run (each its own `RouterState`, its `RouterNode` in mod.rs): a
//! Connect with no terminator at this router goes to one at another running router,
//! the circuit's two channels then living at different routers.

use super::channel::{content, header, Message, FLAG_FIN};
use super::model::Permission;
use super::{RouterNode, Shared};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

pub const INVALID_SESSION: &str = "Invalid Session";
/// How long the router waits for a hosting SDK to answer a Dial.
const DIAL_TIMEOUT: Duration = Duration::from_secs(15);

/// A bound service on one channel (a real router calls it a terminator).
#[derive(Clone)]
pub struct Terminator {
    pub service_id: String,
    pub identity_name: String,
    pub terminator_identity: Option<String>,
    pub session_token: String,
    pub bind_conn_id: u32,
    pub public_key: Option<Vec<u8>>,
    channel: Arc<Chan>,
}

/// The router's state for one run (everything goes when it stops, as for a real one).
pub struct RouterState {
    shared: Arc<Shared>,
    node: Arc<RouterNode>,
    next_channel: AtomicU64,
    pub terminators: Mutex<Vec<Terminator>>,
    pub channels: Mutex<Vec<Arc<Chan>>>,
}

impl RouterState {
    pub fn new(shared: Arc<Shared>, node: Arc<RouterNode>) -> Arc<RouterState> {
        Arc::new(RouterState {
            shared,
            node,
            next_channel: AtomicU64::new(1),
            terminators: Mutex::new(Vec::new()),
            channels: Mutex::new(Vec::new()),
        })
    }

    pub fn terminator_count(&self, service_id: &str) -> usize {
        self.terminators
            .lock()
            .unwrap()
            .iter()
            .filter(|t| t.service_id == service_id)
            .count()
    }

    /// After the router stopped: close every channel it held, so circuits it carried
    /// end at their other side (which may be at another router) and its terminators go.
    pub fn close_all(&self) {
        let chans: Vec<Arc<Chan>> = self.channels.lock().unwrap().clone();
        for chan in chans {
            close_channel(self, &chan);
        }
    }
}

/// The other end of a relayed edge connection.
struct Link {
    peer: Arc<Chan>,
    peer_conn: u32,
    /// Edge sequence numbers for what we send to the peer on `peer_conn`.
    peer_seq: AtomicU32,
}

/// One SDK's channel.
pub struct Chan {
    pub id: u64,
    pub identity_id: String,
    pub identity_name: String,
    pub api_session_token: String,
    tx: mpsc::UnboundedSender<Message>,
    seq: AtomicI32,
    waiters: Mutex<HashMap<i32, oneshot::Sender<Message>>>,
    links: Mutex<HashMap<u32, Arc<Link>>>,
    closed: AtomicBool,
}

impl Chan {
    /// Queue `msg` with this channel's next sequence number; returns that number.
    fn send(&self, mut msg: Message) -> i32 {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst);
        msg.seq = seq;
        let _ = self.tx.send(msg);
        seq
    }

    /// Queue `msg` and return a receiver for the message that replies to it.
    fn send_for_reply(&self, mut msg: Message) -> oneshot::Receiver<Message> {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst);
        msg.seq = seq;
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().unwrap().insert(seq, tx);
        let _ = self.tx.send(msg);
        rx
    }
}

pub fn tls_config(shared: &Shared, node: &RouterNode) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(
            shared.pki.ca_der().to_vec(),
        ))
        .expect("the CA certificate");
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .expect("a client verifier");
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(node.tls.rustls_chain(), node.tls.rustls_key())
        .expect("the router certificate");
    config.alpn_protocols = vec![b"ziti-edge".to_vec()];
    Arc::new(config)
}

/// Serve one TCP connection: TLS, then the channel until either side closes.
pub async fn serve_connection(
    state: Arc<RouterState>,
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
) {
    let _ = tcp.set_nodelay(true);
    thawed(&state.node).await;
    let Ok(tls) = acceptor.accept(tcp).await else {
        return;
    };
    let peer_cert = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    let (mut rd, mut wr) = tokio::io::split(tls);

    // The first message must be a Hello with a live API session of this certificate's
    // identity.
    let hello = match Message::read(&mut rd).await {
        Ok(Some(m)) if m.content == content::HELLO => m,
        _ => return,
    };
    let token = hello.string(header::SESSION_TOKEN).unwrap_or_default();
    let who = {
        let mut model = state.shared.model.lock().unwrap();
        let who = match model.live_api_session(&token) {
            Ok(s) => {
                let identity = &model.identities[&s.identity_id];
                if identity.certs.contains(&peer_cert) {
                    Ok((identity.id.clone(), identity.name.clone()))
                } else {
                    Err("certificate does not belong to the API session's identity".to_string())
                }
            }
            Err(r) => Err(format!(
                "invalid api session ({})",
                super::controller::refusal_text(&r)
            )),
        };
        match &who {
            Ok(_) => {
                model.observed.hellos_accepted += 1;
                state.node.hellos.fetch_add(1, Ordering::SeqCst);
            }
            Err(_) => model.observed.hellos_refused += 1,
        }
        who
    };
    let (identity_id, identity_name) = match who {
        Ok(w) => w,
        Err(reason) => {
            let reply = Message::new(content::RESULT)
                .reply_to(&hello)
                .with_bool(header::RESULT_SUCCESS, false)
                .with_body(reason.into_bytes());
            let _ = wr.write_all(&reply.encode()).await;
            let _ = wr.shutdown().await;
            return;
        }
    };

    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let chan = Arc::new(Chan {
        id: state.next_channel.fetch_add(1, Ordering::SeqCst),
        identity_id,
        identity_name,
        api_session_token: token,
        tx,
        seq: AtomicI32::new(1),
        waiters: Mutex::new(HashMap::new()),
        links: Mutex::new(HashMap::new()),
        closed: AtomicBool::new(false),
    });
    state.channels.lock().unwrap().push(chan.clone());

    let node = state.node.clone();
    let writer = tokio::spawn(async move {
        let mut out = tokio::io::BufWriter::new(wr);
        while let Some(m) = rx.recv().await {
            thawed(&node).await;
            if out.write_all(&m.encode()).await.is_err() {
                return;
            }
            while let Ok(m) = rx.try_recv() {
                if out.write_all(&m.encode()).await.is_err() {
                    return;
                }
            }
            if out.flush().await.is_err() {
                return;
            }
        }
    });

    chan.send(
        Message::new(content::RESULT)
            .reply_to(&hello)
            .with_bool(header::RESULT_SUCCESS, true)
            .with_bytes(header::HELLO_VERSION, b"v0.0.0-ikanos-test".to_vec()),
    );

    let mut generation = state.shared.generation.subscribe();
    loop {
        tokio::select! {
            read = Message::read(&mut rd) => {
                match read {
                    Ok(Some(msg)) => {
                        thawed(&state.node).await;
                        on_message(&state, &chan, msg)
                    }
                    _ => break,
                }
            }
            changed = generation.changed() => {
                if changed.is_err() || !still_valid(&state, &chan) {
                    break;
                }
            }
        }
    }
    close_channel(&state, &chan);
    writer.abort();
}

/// Returns at once unless the router is frozen; then when it is thawed.
async fn thawed(node: &RouterNode) {
    let mut frozen = node.frozen.subscribe();
    let _ = frozen.wait_for(|f| !*f).await;
}

/// After the model changed: is the channel's API session still live? Binds whose
/// session went are closed (the host SDK rebinds with a fresh session).
fn still_valid(state: &RouterState, chan: &Arc<Chan>) -> bool {
    let model = state.shared.model.lock().unwrap();
    if model.live_api_session(&chan.api_session_token).is_err() {
        return false;
    }
    let mut terms = state.terminators.lock().unwrap();
    terms.retain(|t| {
        let keep = !Arc::ptr_eq(&t.channel, chan)
            || model
                .live_session(&t.session_token, Permission::Bind)
                .is_ok();
        if !keep {
            chan.send(
                Message::new(content::STATE_CLOSED)
                    .with_u32(header::CONN_ID, t.bind_conn_id)
                    .with_body(INVALID_SESSION.as_bytes().to_vec()),
            );
        }
        keep
    });
    true
}

fn close_channel(state: &RouterState, chan: &Arc<Chan>) {
    chan.closed.store(true, Ordering::SeqCst);
    state
        .terminators
        .lock()
        .unwrap()
        .retain(|t| !Arc::ptr_eq(&t.channel, chan));
    state
        .channels
        .lock()
        .unwrap()
        .retain(|c| !Arc::ptr_eq(c, chan));
    let links: Vec<Arc<Link>> = chan.links.lock().unwrap().drain().map(|(_, l)| l).collect();
    for link in links {
        link.peer.links.lock().unwrap().remove(&link.peer_conn);
        link.peer.send(
            Message::new(content::STATE_CLOSED)
                .with_u32(header::CONN_ID, link.peer_conn)
                .with_body(b"peer channel closed".to_vec()),
        );
    }
    chan.waiters.lock().unwrap().clear();
}

fn on_message(state: &Arc<RouterState>, chan: &Arc<Chan>, msg: Message) {
    // Replies to what the router sent (DialSuccess / DialFailed answer a Dial).
    if let Some(reply_for) = msg.i32(header::REPLY_FOR) {
        if let Some(waiter) = chan.waiters.lock().unwrap().remove(&reply_for) {
            let _ = waiter.send(msg);
            return;
        }
    }
    match msg.content {
        content::LATENCY | content::PING => {
            chan.send(
                Message::new(content::RESULT)
                    .reply_to(&msg)
                    .with_bool(header::RESULT_SUCCESS, true),
            );
        }
        content::HEARTBEAT => {}
        content::BIND => on_bind(state, chan, &msg),
        content::UNBIND => unbind(state, chan, msg.u32(header::CONN_ID).unwrap_or(0)),
        content::CONNECT => {
            let (state, chan) = (state.clone(), chan.clone());
            tokio::spawn(async move { on_connect(state, chan, msg).await });
        }
        content::DATA => relay(state, chan, msg),
        content::STATE_CLOSED => {
            let conn = msg.u32(header::CONN_ID).unwrap_or(0);
            unbind(state, chan, conn);
            if let Some(link) = chan.links.lock().unwrap().remove(&conn) {
                state.shared.model.lock().unwrap().observed.closes += 1;
                link.peer.links.lock().unwrap().remove(&link.peer_conn);
                link.peer.send(
                    Message::new(content::STATE_CLOSED)
                        .with_u32(header::CONN_ID, link.peer_conn)
                        .with_u32(header::SEQ, link.peer_seq.fetch_add(1, Ordering::SeqCst))
                        .with_body(msg.body.clone()),
                );
            }
        }
        content::UPDATE_BIND | content::UPDATE_TOKEN => {
            chan.send(
                Message::new(content::RESULT)
                    .reply_to(&msg)
                    .with_bool(header::RESULT_SUCCESS, true),
            );
        }
        _ => {}
    }
}

fn on_bind(state: &RouterState, chan: &Arc<Chan>, msg: &Message) {
    let conn_id = msg.u32(header::CONN_ID).unwrap_or(0);
    let token = String::from_utf8_lossy(&msg.body).into_owned();
    let service_id = {
        let mut model = state.shared.model.lock().unwrap();
        match model.live_session(&token, Permission::Bind) {
            Ok(s) if s.api_session_token == chan.api_session_token => {
                let id = s.service_id.clone();
                model.observed.binds += 1;
                Some(id)
            }
            _ => None,
        }
    };
    let Some(service_id) = service_id else {
        chan.send(
            Message::new(content::STATE_CLOSED)
                .reply_to(msg)
                .with_u32(header::CONN_ID, conn_id)
                .with_body(INVALID_SESSION.as_bytes().to_vec()),
        );
        return;
    };
    state.terminators.lock().unwrap().push(Terminator {
        service_id,
        identity_name: chan.identity_name.clone(),
        terminator_identity: msg.string(header::TERMINATOR_IDENTITY),
        session_token: token,
        bind_conn_id: conn_id,
        public_key: msg.bytes(header::PUBLIC_KEY).map(<[u8]>::to_vec),
        channel: chan.clone(),
    });
    chan.send(
        Message::new(content::STATE_CONNECTED)
            .reply_to(msg)
            .with_u32(header::CONN_ID, conn_id),
    );
}

fn unbind(state: &RouterState, chan: &Arc<Chan>, conn_id: u32) {
    state
        .terminators
        .lock()
        .unwrap()
        .retain(|t| !(Arc::ptr_eq(&t.channel, chan) && t.bind_conn_id == conn_id));
}

fn relay(state: &RouterState, chan: &Arc<Chan>, msg: Message) {
    let conn = msg.u32(header::CONN_ID).unwrap_or(0);
    let Some(link) = chan.links.lock().unwrap().get(&conn).cloned() else {
        return;
    };
    {
        let mut model = state.shared.model.lock().unwrap();
        let recorded = &mut model.observed.relayed;
        let room = super::model::RELAYED_RECORD_LIMIT.saturating_sub(recorded.len());
        recorded.extend_from_slice(&msg.body[..msg.body.len().min(room)]);
        if msg.u32(header::FLAGS).is_some_and(|f| f & FLAG_FIN != 0) {
            model.observed.fins += 1;
        }
    }
    let flags = msg.u32(header::FLAGS);
    let mut out = Message::new(content::DATA)
        .with_u32(header::CONN_ID, link.peer_conn)
        .with_u32(header::SEQ, link.peer_seq.fetch_add(1, Ordering::SeqCst))
        .with_body(msg.body);
    // Flags (FIN: a half-close, the peer may still answer) travel unchanged.
    if let Some(flags) = flags {
        out = out.with_u32(header::FLAGS, flags);
    }
    link.peer.send(out);
}

/// Refuse a Connect with StateClosed carrying `reason` (what the SDK logs).
fn refuse(state: &RouterState, chan: &Chan, req: &Message, reason: &str) {
    state
        .shared
        .model
        .lock()
        .unwrap()
        .observed
        .dials_refused
        .push(reason.to_string());
    chan.send(
        Message::new(content::STATE_CLOSED)
            .reply_to(req)
            .with_u32(header::CONN_ID, req.u32(header::CONN_ID).unwrap_or(0))
            .with_body(reason.as_bytes().to_vec()),
    );
}

async fn on_connect(state: Arc<RouterState>, dialer: Arc<Chan>, req: Message) {
    let dialer_conn = req.u32(header::CONN_ID).unwrap_or(0);
    let token = String::from_utf8_lossy(&req.body).into_owned();
    let checked = {
        let mut model = state.shared.model.lock().unwrap();
        model.observed.dials += 1;
        if let Some(app_data) = req.bytes(header::APP_DATA) {
            let text = String::from_utf8_lossy(app_data).into_owned();
            model.observed.app_data.push(text);
        }
        state.node.dials.fetch_add(1, Ordering::SeqCst);
        match model.live_session(&token, Permission::Dial) {
            Ok(s) if s.api_session_token == dialer.api_session_token => {
                let svc = &model.services[&s.service_id];
                Ok((svc.id.clone(), svc.name.clone(), svc.encryption_required))
            }
            _ => Err(()),
        }
    };
    let Ok((service_id, service_name, encryption_required)) = checked else {
        refuse(&state, &dialer, &req, INVALID_SESSION);
        return;
    };
    let dialer_key = req.bytes(header::PUBLIC_KEY).map(<[u8]>::to_vec);
    if encryption_required && dialer_key.is_none() {
        refuse(
            &state,
            &dialer,
            &req,
            &format!("service '{service_name}' requires end-to-end encryption and the dial carried no public key"),
        );
        return;
    }
    // A terminator at this router first, else at any other running router (a real
    // fabric routes the circuit over a link; here the channels are in one process).
    let wanted = req.string(header::TERMINATOR_IDENTITY);
    let usable = |t: &&Terminator| {
        t.service_id == service_id
            && !t.channel.closed.load(Ordering::SeqCst)
            && (wanted.is_none() || t.terminator_identity == wanted)
    };
    let usable_at = |r: &RouterState| r.terminators.lock().unwrap().iter().find(usable).cloned();
    let mut terminator = usable_at(&state);
    let mut across = false;
    if terminator.is_none() {
        for node in state.shared.router_nodes() {
            let other = node.running.lock().unwrap().clone();
            let Some(other) = other else { continue };
            if Arc::ptr_eq(&other, &state) {
                continue;
            }
            let found = usable_at(&other);
            if found.is_some() {
                terminator = found;
                across = true;
                break;
            }
        }
    }
    let Some(terminator) = terminator else {
        refuse(
            &state,
            &dialer,
            &req,
            &format!("service '{service_name}' has no terminators"),
        );
        return;
    };
    if encryption_required && terminator.public_key.is_none() {
        refuse(
            &state,
            &dialer,
            &req,
            &format!("service '{service_name}' requires end-to-end encryption and its host bound without a public key"),
        );
        return;
    }

    let host = terminator.channel.clone();
    let mut dial = Message::new(content::DIAL)
        .with_u32(header::CONN_ID, terminator.bind_conn_id)
        .with_u32(header::SEQ, 0)
        .with_bytes(header::CALLER_ID, dialer.identity_name.as_bytes().to_vec());
    if let Some(k) = &dialer_key {
        dial = dial.with_bytes(header::PUBLIC_KEY, k.clone());
    }
    if let Some(app_data) = req.bytes(header::APP_DATA) {
        dial = dial.with_bytes(header::APP_DATA, app_data.to_vec());
    }
    let reply = tokio::time::timeout(DIAL_TIMEOUT, host.send_for_reply(dial)).await;
    let answer = match reply {
        Ok(Ok(m)) => m,
        Ok(Err(_)) => {
            refuse(&state, &dialer, &req, "hosting channel closed during dial");
            return;
        }
        Err(_) => {
            refuse(
                &state,
                &dialer,
                &req,
                "timeout waiting for the hosting SDK to answer the dial",
            );
            return;
        }
    };
    if answer.content != content::DIAL_SUCCESS {
        let reason = String::from_utf8_lossy(&answer.body).into_owned();
        refuse(&state, &dialer, &req, &format!("dial failed: {reason}"));
        return;
    }
    let Some(host_conn) = answer
        .body
        .get(..4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    else {
        refuse(
            &state,
            &dialer,
            &req,
            "dial success without a connection id",
        );
        return;
    };

    // Link both ends first; then tell the dialer before the host, so that the host's
    // first Data (its stream header) can never reach the dialer before the dialer's
    // StateConnected, and the dialer's Data reaches the host only after the host's.
    dialer.links.lock().unwrap().insert(
        dialer_conn,
        Arc::new(Link {
            peer: host.clone(),
            peer_conn: host_conn,
            peer_seq: AtomicU32::new(1),
        }),
    );
    host.links.lock().unwrap().insert(
        host_conn,
        Arc::new(Link {
            peer: dialer.clone(),
            peer_conn: dialer_conn,
            peer_seq: AtomicU32::new(1),
        }),
    );
    let mut connected = Message::new(content::STATE_CONNECTED)
        .reply_to(&req)
        .with_u32(header::CONN_ID, dialer_conn)
        .with_u32(header::SEQ, 0);
    if let (Some(_), Some(k)) = (&dialer_key, &terminator.public_key) {
        connected = connected.with_bytes(header::PUBLIC_KEY, k.clone());
    }
    dialer.send(connected);
    host.send(
        Message::new(content::STATE_CONNECTED)
            .reply_to(&answer)
            .with_u32(header::CONN_ID, host_conn)
            .with_u32(header::SEQ, 0),
    );
    let mut model = state.shared.model.lock().unwrap();
    model.observed.dials_relayed += 1;
    if across {
        model.observed.dials_across_routers += 1;
    }
}
