//! The rathole server side: one listener per address, shared by every service on it,
//! accepting a stock `rathole` client's control channels and data channels.
//!
//! Owns: accepting connections (and their transport handshake), the control channel
//! handshake (service digest, nonce, token check in constant time), one control channel
//! per service (a newer authenticated client replaces the older, as rathole's own server
//! does), heartbeats, asking the client for data channels and keeping a few ready, and
//! the state each service publishes. Must not touch: what a data channel carries (HTTP,
//! TLS to the real host run inside it) or the file format.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use ikanos_spec::binds::Secret;
use subtle::ConstantTimeEq;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify};

use super::protocol::{self, Ack, ControlChannelCmd, DataChannelCmd, Digest, Hello};
use super::transport::Transport;
use crate::tunnel::{publish, DialError, DialErrorKind, TunnelState, TunnelStream};

/// How long a new connection gets for its transport handshake and its hello.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Heartbeats on a control channel; the client drops a channel that stays silent for
/// its `heartbeat_timeout` (40 s by default).
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// Data channels kept open ahead of calls (rathole's own server keeps 8).
const POOL_SIZE: usize = 4;
/// How long a dial waits for the client to open a data channel.
const DATA_CHANNEL_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a held control channel is probed: the oldest ready data channel is
/// replaced by a fresh one, which a live client opens at once (the client connects to
/// its local service and closes again: one short connection there per probe).
const PROBE_INTERVAL: Duration = Duration::from_secs(5);
/// Data channels asked for and not opened for this long: the client is not answering
/// (frozen, or its process wedged) even though its connection stays up.
const UNANSWERED_AFTER: Duration = Duration::from_secs(5);
/// A dead peer (pulled cable, partition) is noticed within about this long: TCP
/// keepalive probes and TCP_USER_TIMEOUT on every accepted connection.
const DEAD_PEER_AFTER: Duration = Duration::from_secs(6);

/// One service on a listener: its token, its state and its current control channel.
pub struct Service {
    pub name: String,
    token: Mutex<Secret>,
    pub state: watch::Sender<TunnelState>,
    control: Mutex<Option<Arc<Control>>>,
    /// Tunnels using it (a replaced capability's old and new versions, for a moment).
    users: std::sync::atomic::AtomicUsize,
}

impl Service {
    fn disconnected(name: &str) -> TunnelState {
        TunnelState::Degraded(format!(
            "no rathole client is connected for service '{name}'"
        ))
    }

    /// Take a new token: the current control channel (authenticated with the old one)
    /// is dropped, so the client must prove the new one.
    pub fn set_token(&self, token: Secret) {
        {
            let mut current = self.token.lock().unwrap_or_else(|p| p.into_inner());
            if current.expose() == token.expose() {
                return;
            }
            *current = token;
        }
        if let Some(old) = self
            .control
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            old.close();
            publish(&self.state, TunnelState::Degraded(format!("the token of service '{}' changed: waiting for the client to authenticate with the new one", self.name)));
        }
    }

    /// A data channel to the client's local service, ready for the payload.
    pub async fn dial(&self) -> Result<TunnelStream, DialError> {
        let control = self
            .control
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| {
                DialError::new(
                    DialErrorKind::NotReady,
                    Service::disconnected(&self.name)
                        .reason()
                        .unwrap_or_default(),
                )
            })?;
        control.dial().await
    }
}

/// An authenticated control channel and the data channels it brought.
struct Control {
    session_key: Digest,
    service: String,
    /// Requests for data channels (each one a CreateDataChannel to the client).
    ask: mpsc::UnboundedSender<()>,
    pool: Mutex<VecDeque<TunnelStream>>,
    arrived: Notify,
    closed: watch::Sender<bool>,
    /// Data channels asked for and opened so far (the probe compares them).
    asked: std::sync::atomic::AtomicU64,
    opened: std::sync::atomic::AtomicU64,
}

impl Control {
    fn close(&self) {
        let _ = self.closed.send(true);
        self.arrived.notify_waiters();
    }

    fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    async fn dial(&self) -> Result<TunnelStream, DialError> {
        // One taken, one asked for: the pool stays full.
        let _ = self.ask.send(());
        let deadline = tokio::time::Instant::now() + DATA_CHANNEL_TIMEOUT;
        loop {
            if self.is_closed() {
                return Err(DialError::new(
                    DialErrorKind::NotReady,
                    format!(
                        "the rathole client of service '{}' disconnected",
                        self.service
                    ),
                ));
            }
            let waiting = self.arrived.notified();
            let ready = self
                .pool
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front();
            if let Some(mut ch) = ready {
                match protocol::send(&mut ch, &DataChannelCmd::StartForwardTcp).await {
                    Ok(()) => return Ok(ch),
                    // A channel that died while it waited: the next one.
                    Err(_) => {
                        let _ = self.ask.send(());
                        continue;
                    }
                }
            }
            if tokio::time::timeout_at(deadline, waiting).await.is_err() {
                return Err(DialError::new(
                    DialErrorKind::Timeout,
                    format!(
                        "the rathole client of service '{}' opened no data channel within {}s",
                        self.service,
                        DATA_CHANNEL_TIMEOUT.as_secs()
                    ),
                ));
            }
        }
    }
}

/// A listening address and the services on it.
pub struct Listener {
    pub addr: String,
    transport: Transport,
    services: Mutex<HashMap<Digest, Weak<Service>>>,
    sessions: Mutex<HashMap<Digest, Weak<Control>>>,
    accept: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Every listener of this process, by address: services of one address share it.
static LISTENERS: Mutex<Vec<Weak<Listener>>> = Mutex::new(Vec::new());

impl Listener {
    /// The listener on `addr` (started if new); its transport must match.
    pub fn get_or_start(addr: &str, transport: Transport) -> Result<Arc<Listener>, String> {
        let mut all = LISTENERS.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|w| w.strong_count() > 0);
        if let Some(l) = all
            .iter()
            .filter_map(Weak::upgrade)
            .find(|l| l.addr == addr)
        {
            if l.transport.kind() != transport.kind() {
                return Err(format!(
                    "the rathole listener {addr} speaks {}, not {}",
                    l.transport.kind(),
                    transport.kind()
                ));
            }
            return Ok(l);
        }
        let listener = Arc::new(Listener {
            addr: addr.to_string(),
            transport,
            services: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            accept: Mutex::new(None),
        });
        let task = tokio::spawn(accept_loop(Arc::downgrade(&listener)));
        *listener.accept.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        all.push(Arc::downgrade(&listener));
        Ok(listener)
    }

    /// Service `name` with `token` on this listener: new, or the one already there
    /// shared (a capability replaced by `ikanos serve` registers it again before its
    /// old version stops; the client stays connected). The newest token wins.
    pub fn add_service(&self, name: &str, token: Secret) -> Result<Arc<Service>, String> {
        let digest = protocol::digest(name.as_bytes());
        let mut services = self.services.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = services.get(&digest).and_then(Weak::upgrade) {
            existing
                .users
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            existing.set_token(token);
            return Ok(existing);
        }
        let service = Arc::new(Service {
            name: name.to_string(),
            token: Mutex::new(token),
            state: watch::channel(Service::disconnected(name)).0,
            control: Mutex::new(None),
            users: std::sync::atomic::AtomicUsize::new(1),
        });
        services.insert(digest, Arc::downgrade(&service));
        Ok(service)
    }

    /// A tunnel stopped using `service`: when it was the last, the service goes and its
    /// client is disconnected.
    pub fn remove_service(&self, service: &Service) {
        let mut services = self.services.lock().unwrap_or_else(|p| p.into_inner());
        if service
            .users
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst)
            > 1
        {
            return;
        }
        let digest = protocol::digest(service.name.as_bytes());
        services.remove(&digest);
        drop(services);
        if let Some(c) = service
            .control
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            c.close();
        }
        publish(&service.state, TunnelState::Closed);
    }

    /// Every service on this listener now.
    fn services(&self) -> Vec<Arc<Service>> {
        self.services
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter_map(Weak::upgrade)
            .collect()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(t) = self.accept.lock().unwrap_or_else(|p| p.into_inner()).take() {
            t.abort();
        }
    }
}

fn tune(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let sock = socket2::SockRef::from(stream);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(2))
        .with_interval(Duration::from_secs(1))
        .with_retries(3);
    let _ = sock.set_tcp_keepalive(&keepalive);
    let _ = sock.set_tcp_user_timeout(Some(DEAD_PEER_AFTER));
}

async fn accept_loop(listener: Weak<Listener>) {
    let Some(addr) = listener.upgrade().map(|l| l.addr.clone()) else {
        return;
    };
    let mut delay = Duration::from_millis(200);
    let socket = loop {
        match TcpListener::bind(&addr).await {
            Ok(s) => {
                if let Some(l) = listener.upgrade() {
                    for service in l.services() {
                        publish(&service.state, Service::disconnected(&service.name));
                    }
                }
                tracing::info!(tunnel = "rathole", addr = %addr, "listening for rathole clients");
                break s;
            }
            Err(e) => {
                let Some(l) = listener.upgrade() else { return };
                let why = format!("cannot listen on {addr} for rathole clients: {e}");
                tracing::warn!(tunnel = "rathole", "{why}; retrying");
                for service in l.services() {
                    publish(&service.state, TunnelState::Degraded(why.clone()));
                }
                drop(l);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    };
    loop {
        let (stream, peer) = match socket.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(tunnel = "rathole", error = %e, "accepting a rathole connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(l) = listener.upgrade() else { return };
        tune(&stream);
        tokio::spawn(async move {
            // Only the handshake is timed: an authenticated control channel is then held
            // for as long as its client keeps it.
            let outcome = tokio::time::timeout(HANDSHAKE_TIMEOUT, l.handshake(stream)).await;
            match outcome {
                Ok(Ok(None)) => {}
                Ok(Ok(Some(held))) => l.hold(held).await,
                Ok(Err(why)) => {
                    tracing::warn!(tunnel = "rathole", peer = %peer, "refused a rathole connection: {why}")
                }
                Err(_) => {
                    tracing::warn!(tunnel = "rathole", peer = %peer, "a rathole connection did not complete its handshake within {}s", HANDSHAKE_TIMEOUT.as_secs())
                }
            }
        });
    }
}

impl Listener {
    /// The transport handshake and the hello: a data channel joins its control
    /// channel's pool; a control channel is authenticated and returned to be held.
    async fn handshake(self: &Arc<Self>, stream: TcpStream) -> Result<Option<Held>, String> {
        let mut conn = self.transport.accept(stream).await?;
        match protocol::read_hello(&mut conn)
            .await
            .map_err(|e| e.to_string())?
        {
            Hello::ControlChannelHello(_, digest) => {
                self.control_channel(conn, digest).await.map(Some)
            }
            Hello::DataChannelHello(_, key) => {
                let control = self
                    .sessions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&key)
                    .and_then(Weak::upgrade)
                    .filter(|c| !c.is_closed());
                match control {
                    Some(c) => {
                        c.pool.lock().unwrap_or_else(|p| p.into_inner()).push_back(conn);
                        c.opened.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        c.arrived.notify_waiters();
                        Ok(None)
                    }
                    None => Err("a data channel for no live control channel (a stale or forged session key)".into()),
                }
            }
        }
    }

    async fn control_channel(
        self: &Arc<Self>,
        mut conn: TunnelStream,
        digest: Digest,
    ) -> Result<Held, String> {
        let mut nonce = [0u8; 32];
        rand_fill(&mut nonce);
        protocol::send(
            &mut conn,
            &Hello::ControlChannelHello(protocol::PROTOCOL_VERSION, nonce),
        )
        .await
        .map_err(|e| e.to_string())?;
        let service = self
            .services
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&digest)
            .and_then(Weak::upgrade);
        let Some(service) = service else {
            let _ = protocol::send(&mut conn, &Ack::ServiceNotExist).await;
            return Err(format!(
                "a client asked for a service this listener does not serve (sha256 {})",
                hex::encode(digest)
            ));
        };
        let protocol::Auth(offered) = protocol::read_auth(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let expected = {
            let token = service.token.lock().unwrap_or_else(|p| p.into_inner());
            protocol::session_key(token.expose().as_bytes(), &nonce)
        };
        if !bool::from(expected.ct_eq(&offered)) {
            let _ = protocol::send(&mut conn, &Ack::AuthFailed).await;
            // Said in readiness only while no client holds the service: a stale client
            // retrying with an old token must not unready the one that has the new one.
            let held = service
                .control
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some();
            if !held {
                publish(
                    &service.state,
                    TunnelState::Degraded(format!(
                        "no rathole client is connected for service '{}' (a client offered a wrong token)",
                        service.name
                    )),
                );
            }
            return Err(format!(
                "a client for service '{}' offered a wrong token",
                service.name
            ));
        }
        protocol::send(&mut conn, &Ack::Ok)
            .await
            .map_err(|e| e.to_string())?;
        let (ask, asks) = mpsc::unbounded_channel();
        let control = Arc::new(Control {
            session_key: expected,
            service: service.name.clone(),
            ask,
            pool: Mutex::new(VecDeque::new()),
            arrived: Notify::new(),
            asked: std::sync::atomic::AtomicU64::new(0),
            opened: std::sync::atomic::AtomicU64::new(0),
            closed: watch::channel(false).0,
        });
        {
            let mut current = service.control.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(old) = current.replace(control.clone()) {
                tracing::warn!(tunnel = "rathole", service = %service.name, "another client authenticated for this service: it replaces the previous one");
                old.close();
            }
        }
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(control.session_key, Arc::downgrade(&control));
        tracing::info!(tunnel = "rathole", service = %service.name, listener = %self.addr, "rathole client connected");
        publish(&service.state, TunnelState::Ready);
        for _ in 0..POOL_SIZE {
            let _ = control.ask.send(());
        }
        Ok(Held {
            conn,
            control,
            asks,
            service,
        })
    }

    /// Hold an authenticated control channel until it ends, then say why.
    async fn hold(&self, held: Held) {
        let Held {
            conn,
            control,
            asks,
            service,
        } = held;
        let why = run_control(conn, &control, asks, &service).await;
        control.close();
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&control.session_key);
        let mut current = service.control.lock().unwrap_or_else(|p| p.into_inner());
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &control)) {
            *current = None;
            tracing::warn!(tunnel = "rathole", service = %service.name, "rathole client disconnected: {why}");
            publish(
                &service.state,
                TunnelState::Degraded(format!(
                    "the rathole client of service '{}' disconnected ({why})",
                    service.name
                )),
            );
        }
    }
}

/// An authenticated control channel, to be held.
struct Held {
    conn: TunnelStream,
    control: Arc<Control>,
    asks: mpsc::UnboundedReceiver<()>,
    service: Arc<Service>,
}

/// Hold a control channel: send data channel requests and heartbeats until the client
/// goes, the channel is replaced or the service stops. Why it ended.
async fn run_control(
    conn: TunnelStream,
    control: &Control,
    mut asks: mpsc::UnboundedReceiver<()>,
    service: &Service,
) -> String {
    use std::sync::atomic::Ordering::SeqCst;
    use tokio::io::AsyncReadExt;
    let (mut reader, mut writer) = tokio::io::split(conn);
    let mut closed = control.closed.subscribe();
    let mut heartbeat = tokio::time::interval(HEARTBEAT_INTERVAL);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut probe = tokio::time::interval(PROBE_INTERVAL);
    probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Since when, and up to which ask, data channels have been owed (None: none are).
    let mut owed_since: Option<(tokio::time::Instant, u64)> = None;
    let mut byte = [0u8; 1];
    loop {
        tokio::select! {
            ask = asks.recv() => {
                if ask.is_none() { return "stopped".into(); }
                control.asked.fetch_add(1, SeqCst);
                if let Err(e) = protocol::send(&mut writer, &ControlChannelCmd::CreateDataChannel).await {
                    return format!("writing to it failed: {e}");
                }
            }
            _ = probe.tick() => {
                // Refresh the oldest ready channel: a live client opens the new one at once.
                let oldest = {
                    let mut pool = control.pool.lock().unwrap_or_else(|p| p.into_inner());
                    if pool.len() >= POOL_SIZE { pool.pop_front() } else { None }
                };
                if let Some(mut oldest) = oldest {
                    // Started, then closed: the client ends it as a finished forward (a
                    // channel closed before its command would be a warning in its log).
                    let _ = protocol::send(&mut oldest, &DataChannelCmd::StartForwardTcp).await;
                    drop(oldest);
                    let _ = control.ask.send(());
                }
                let (asked, opened) = (control.asked.load(SeqCst), control.opened.load(SeqCst));
                match owed_since {
                    // Everything asked for before the wait began has arrived.
                    Some((_, owed)) if opened >= owed => owed_since = None,
                    None if opened < asked => owed_since = Some((tokio::time::Instant::now(), asked)),
                    _ => {}
                }
                match owed_since {
                    Some((since, _)) if since.elapsed() >= UNANSWERED_AFTER => publish(
                        &service.state,
                        TunnelState::Degraded(format!(
                            "the rathole client of service '{}' holds its connection but opened no data channel for {}s (frozen?)",
                            service.name,
                            since.elapsed().as_secs()
                        )),
                    ),
                    _ => publish(&service.state, TunnelState::Ready),
                }
            }
            _ = heartbeat.tick() => {
                if let Err(e) = protocol::send(&mut writer, &ControlChannelCmd::HeartBeat).await {
                    return format!("writing to it failed: {e}");
                }
            }
            read = reader.read(&mut byte) => {
                // A client never writes on its control channel after the handshake.
                return match read {
                    Ok(0) => "it closed the connection".into(),
                    Ok(_) => "it sent bytes on its control channel".into(),
                    Err(e) => format!("the connection failed: {e}"),
                };
            }
            _ = async { let _ = closed.wait_for(|c| *c).await; } => return "replaced or stopped".into(),
        }
    }
}

fn rand_fill(buf: &mut [u8]) {
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(buf)
        .expect("the system's random source works");
}
