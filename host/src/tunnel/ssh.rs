//! `tunnel.type: ssh` — an embedded SSH client dialing through a relay that runs stock
//! OpenSSH sshd, to which the private network keeps an outbound `ssh -N -R` open.
//!
//! Owns: one SSH session per (relay, identity), kept open with keepalives (the tunnel
//! supervisor reconnects it, reloads and stops it); readiness (authenticated *and* a
//! probe channel to the forwarded target opens); `direct-tcpip` channels as tunnel
//! streams; host key pinning; re-arming TCP_QUICKACK so small request/response exchanges
//! do not wait 40 ms for a delayed ACK. Must not touch: HTTP, TLS (they run inside the
//! channel), the reconnect loop, or the file format beyond its own keys.
//!
//! ```yaml
//! tunnel:
//!   type: ssh
//!   relay: "relay.example.net:22"          # the relay's sshd
//!   user: "ikanos"                          # login on the relay
//!   target: "127.0.0.1:18080"               # where the connector's `ssh -R` listens, on the relay
//!   hostKey: "ssh-ed25519 AAAAC3Nza…"       # the relay's host key, pinned — or:
//!   hostCa: "ssh-ed25519 AAAAC3Nza…"        # a CA whose host certificate for the relay's name is trusted
//!   identity: "{{secrets.SSH_KEY}}"         # OpenSSH private key text, or a path to it
//!   certificate: "{{secrets.SSH_CERT}}"     # optional OpenSSH user certificate (text or path)
//!   fallback: fail
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ikanos_spec::binds::Secret;
use ikanos_spec::model::Tunnel as TunnelSpec;
use russh::keys::{
    Certificate, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate,
};
use russh::{client, ChannelOpenFailure};
use serde::Deserialize;
use tokio::sync::watch;

use super::supervisor::{Link, Session, SessionEnd, Supervisor};
use super::{
    DialError, DialErrorKind, SettingsProblem, Tunnel, TunnelConfig, TunnelProvider, TunnelState,
    TunnelStream,
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// russh can wait on a channel open until the connection fails: always bound it.
const CHANNEL_OPEN_TIMEOUT: Duration = Duration::from_secs(5);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);
const KEEPALIVE_MAX: usize = 3;
/// How often readiness is re-checked with a probe channel while the session is up.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// Every this many probes, check that the connector behind the relay answers.
const DEEP_PROBE_EVERY: u64 = 3;
/// How long the far end gets to answer a deep probe.
const DEEP_PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a channel the host is done with is left for the far side to close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// After the far side's EOF, how long its CHANNEL_CLOSE (which follows) gets to arrive.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// At most this much is read from a channel the host is done with: a far side that
/// keeps sending is not read to its end, the channel is closed from here instead.
const CLOSE_DRAIN_MAX: usize = 64 << 10;
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Keeps one SSH session per (relay, user, identity, pinned host key), however many
/// consumes entries — with whatever targets — use it.
#[derive(Default)]
pub struct SshProvider {
    sessions: Mutex<std::collections::HashMap<String, std::sync::Weak<SshSession>>>,
}

/// The provider-specific keys of a `tunnel:` block of type `ssh`, as written. Every
/// field is optional here so that a missing key gets the message below that says what
/// it is for; an unknown key is refused by the shared decoder.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SshKeys {
    relay: Option<String>,
    user: Option<String>,
    target: Option<String>,
    host_key: Option<String>,
    host_ca: Option<String>,
    /// An OpenSSH user certificate: its text or a path to it.
    certificate: Option<String>,
}

/// The provider-specific part of a `tunnel:` block, checked.
#[derive(Clone)]
struct Settings {
    relay: String,
    user: String,
    target_host: String,
    target_port: u16,
    host: HostTrust,
    certificate: Option<String>,
}

/// How the relay's host key is trusted.
#[derive(Clone)]
enum HostTrust {
    /// `hostKey`: exactly this key.
    Pinned(PublicKey),
    /// `hostCa`: a host certificate signed by this CA, valid now, naming `name`.
    Ca { ca: PublicKey, name: String },
}

impl HostTrust {
    fn fingerprint(&self) -> String {
        match self {
            HostTrust::Pinned(k) => k.fingerprint(Default::default()).to_string(),
            HostTrust::Ca { ca, .. } => format!("ca:{}", ca.fingerprint(Default::default())),
        }
    }
}

impl Settings {
    fn target(&self) -> String {
        format!("{}:{}", self.target_host, self.target_port)
    }
}

/// Trimmed, and absent when blank.
fn given(value: Option<String>) -> Option<String> {
    value
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn settings(
    extra: &serde_json::Map<String, serde_json::Value>,
) -> Result<Settings, Vec<SettingsProblem>> {
    let keys: SshKeys = super::settings::decode("ssh", extra)?;
    checked(keys).map_err(|problems| problems.into_iter().map(SettingsProblem::block).collect())
}

/// What the keys mean: required ones present, addresses and host keys that parse.
fn checked(keys: SshKeys) -> Result<Settings, Vec<String>> {
    let mut problems = Vec::new();
    let mut required = |key: &str, value: Option<String>| {
        let value = given(value);
        if value.is_none() {
            problems.push(format!("tunnel.{key} is required for type 'ssh'"));
        }
        value
    };
    let (relay, user, target) = (
        required("relay", keys.relay),
        required("user", keys.user),
        required("target", keys.target),
    );
    let (host_key, host_ca) = (given(keys.host_key), given(keys.host_ca));
    let mut split = |what: &str, v: &str| match v
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
    {
        Some(hp) => Some(hp),
        None => {
            problems.push(format!("tunnel.{what} '{v}' is not HOST:PORT"));
            None
        }
    };
    let relay_host = relay
        .as_deref()
        .and_then(|r| split("relay", r))
        .map(|(h, _)| h);
    let relay_ok = relay_host.is_some();
    let target = target.as_deref().and_then(|t| split("target", t));
    let mut key = |what: &str, k: &str| match PublicKey::from_openssh(k) {
        Ok(k) => Some(k),
        Err(e) => {
            problems.push(format!(
                "tunnel.{what} is not an OpenSSH public key ('ssh-ed25519 AAAA…'): {e}"
            ));
            None
        }
    };
    let host = match (host_key, host_ca) {
        (Some(k), None) => key("hostKey", &k).map(HostTrust::Pinned),
        (None, Some(c)) => key("hostCa", &c).map(|ca| HostTrust::Ca {
            ca,
            name: relay_host.clone().unwrap_or_default(),
        }),
        (Some(_), Some(_)) => {
            problems.push(
                "tunnel.hostKey and tunnel.hostCa exclude each other: pin the key or trust a CA"
                    .into(),
            );
            None
        }
        (None, None) => {
            problems.push("tunnel.hostKey (the relay's host key) or tunnel.hostCa (its host CA) is required for type 'ssh'".into());
            None
        }
    };
    match (relay, user, target, host) {
        (Some(relay), Some(user), Some((target_host, target_port)), Some(host))
            if relay_ok && problems.is_empty() =>
        {
            Ok(Settings {
                relay,
                user,
                target_host,
                target_port,
                host,
                certificate: keys.certificate,
            })
        }
        _ => Err(problems),
    }
}

/// An optional OpenSSH user certificate: its text (`ssh-ed25519-cert-v01@openssh.com …`)
/// or a path to it.
fn certificate(value: Option<&str>) -> Result<Option<Certificate>, String> {
    let Some(value) = value.map(str::trim) else {
        return Ok(None);
    };
    let text = if value.contains("-cert-v01@openssh.com ") {
        value.to_string()
    } else {
        std::fs::read_to_string(value)
            .map_err(|e| format!("tunnel.certificate: cannot read the certificate file: {e}"))?
    };
    Certificate::from_openssh(text.trim())
        .map(Some)
        .map_err(|e| format!("tunnel.certificate is not an OpenSSH certificate: {e}"))
}

/// The identity is the private key's OpenSSH text, or a path to a file holding it.
fn private_key(identity: Option<&Secret>) -> Result<PrivateKey, String> {
    let identity =
        identity.ok_or("tunnel.identity (the SSH private key) is required for type 'ssh'")?;
    let text = identity.expose().trim();
    let pem = if text.starts_with("-----BEGIN") {
        text.to_string()
    } else {
        std::fs::read_to_string(text)
            .map_err(|e| format!("tunnel.identity: cannot read the key file: {e}"))?
    };
    // The key text is a secret: never echo the parser's view of it.
    russh::keys::decode_secret_key(&pem, None)
        .map_err(|_| "tunnel.identity is not an unencrypted OpenSSH private key".to_string())
}

impl TunnelProvider for SshProvider {
    fn kind(&self) -> &'static str {
        "ssh"
    }

    fn check(&self, spec: &TunnelSpec) -> Vec<SettingsProblem> {
        let mut problems = settings(&spec.extra_values()).err().unwrap_or_default();
        if spec.identity.is_none() {
            problems.push(SettingsProblem::block(
                "tunnel.identity (the SSH private key, through binds) is required for type 'ssh'",
            ));
        }
        problems
    }

    fn endpoint(&self, config: &TunnelConfig) -> String {
        // Settings that do not decode never start a tunnel: no endpoint to share.
        match settings(&config.extra) {
            Ok(s) => format!("{}@{}/{}", s.user, s.relay, s.target()),
            Err(_) => String::new(),
        }
    }

    fn start(&self, config: TunnelConfig) -> Result<Arc<dyn Tunnel>, String> {
        let settings = settings(&config.extra).map_err(|p| SettingsProblem::join(&p))?;
        let key = private_key(config.identity.as_ref())?;
        let cert = certificate(settings.certificate.as_deref())?;
        let session_key = format!(
            "{}@{}#{}#{}",
            settings.user,
            settings.relay,
            key.public_key().fingerprint(Default::default()),
            settings.host.fingerprint()
        );
        let session = {
            let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            match sessions
                .get(&session_key)
                .and_then(std::sync::Weak::upgrade)
            {
                Some(s) => s,
                None => {
                    let s = Arc::new(SshSession {
                        relay: settings.relay.clone(),
                        user: settings.user.clone(),
                        host: settings.host.clone(),
                        key: Mutex::new(Arc::new(key)),
                        cert: Mutex::new(cert),
                        state: watch::channel(TunnelState::Connecting).0,
                        handle: Mutex::new(None),
                        supervisor: Supervisor::default(),
                    });
                    s.supervisor
                        .spawn(s.clone(), &s.state, BACKOFF_MIN, BACKOFF_MAX);
                    sessions.insert(session_key, Arc::downgrade(&s));
                    s
                }
            }
        };
        let route = Arc::new(SshRoute {
            session,
            settings,
            state: watch::channel(TunnelState::Connecting).0,
            stopped: watch::channel(false).0,
        });
        tokio::spawn(route.clone().watch_target());
        Ok(route)
    }
}

/// russh's callbacks: only the host key check matters here.
struct Client {
    trust: HostTrust,
    mismatch: Arc<Mutex<Option<String>>>,
}

impl Client {
    fn refuse(&self, reason: String) -> bool {
        *self.mismatch.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
        false
    }

    fn accepts(&self, key: &PublicKeyOrCertificate) -> bool {
        match (&self.trust, key) {
            (HostTrust::Pinned(pinned), PublicKeyOrCertificate::PublicKey { key, .. }) => {
                key.key_data() == pinned.key_data()
                    || self.refuse(format!(
                        "the relay's host key {} is not the pinned tunnel.hostKey; refusing it",
                        key.fingerprint(Default::default())
                    ))
            }
            (HostTrust::Pinned(_), PublicKeyOrCertificate::Certificate(_)) => {
                self.refuse("the relay presented a host certificate but tunnel.hostKey pins a plain key".into())
            }
            (HostTrust::Ca { .. }, PublicKeyOrCertificate::PublicKey { .. }) => {
                self.refuse("the relay presented no host certificate, and tunnel.hostCa trusts only certificates".into())
            }
            (HostTrust::Ca { ca, name }, PublicKeyOrCertificate::Certificate(cert)) => {
                let fingerprint = ca.fingerprint(Default::default());
                if let Err(e) = cert.validate([&fingerprint]) {
                    return self.refuse(format!("the relay's host certificate is not valid for tunnel.hostCa: {e}"));
                }
                if cert.cert_type() != russh::keys::ssh_key::certificate::CertType::Host {
                    return self.refuse("the relay's certificate is not a host certificate".into());
                }
                cert.valid_principals().iter().any(|p| p == name)
                    || self.refuse(format!("the relay's host certificate does not name '{name}'"))
            }
        }
    }
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(self.accepts(key))
    }
}

type Handle = Arc<client::Handle<Client>>;

/// One authenticated SSH connection to a relay, shared by every route that uses the
/// same relay, user, identity and host key.
struct SshSession {
    relay: String,
    user: String,
    host: HostTrust,
    key: Mutex<Arc<PrivateKey>>,
    cert: Mutex<Option<Certificate>>,
    /// `Ready` while authenticated; routes add their own target check on top.
    state: watch::Sender<TunnelState>,
    handle: Mutex<Option<Handle>>,
    supervisor: Supervisor,
}

/// Re-arms TCP_QUICKACK after every read on the SSH socket. sshd keeps Nagle on for
/// non-interactive sessions; with delayed ACKs on our side every small exchange would
/// stall about 40 ms (measured, see shared notes).
struct QuickAck(tokio::net::TcpStream);

impl tokio::io::AsyncRead for QuickAck {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let r = std::pin::Pin::new(&mut self.0).poll_read(cx, buf);
        if r.is_ready() {
            let _ = socket2::SockRef::from(&self.0).set_tcp_quickack(true);
        }
        r
    }
}

impl tokio::io::AsyncWrite for QuickAck {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// A refused channel open, typed: no connector behind the relay means the tunnel
/// cannot carry streams (`NotReady`, fail closed); a forbidden destination is
/// `Prohibited`.
fn open_failure(e: &russh::Error, target: &str) -> DialError {
    match e {
        russh::Error::ChannelOpenFailure(ChannelOpenFailure::ConnectFailed) => DialError::new(
            DialErrorKind::NotReady,
            format!("the relay cannot reach {target}: no connector is listening there"),
        ),
        russh::Error::ChannelOpenFailure(ChannelOpenFailure::AdministrativelyProhibited) => {
            DialError::new(
                DialErrorKind::Prohibited,
                format!("the relay refused to open {target}: administratively prohibited (check permitopen)"),
            )
        }
        other => DialError::new(
            DialErrorKind::Io,
            format!("opening a channel to {target}: {other}"),
        ),
    }
}

impl SshSession {
    fn handle(&self) -> Option<Handle> {
        self.handle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn connect(&self) -> Result<Handle, String> {
        let relay = &self.relay;
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(relay))
            .await
            .map_err(|_| format!("relay {relay} did not accept within {CONNECT_TIMEOUT:?}"))?
            .map_err(|e| format!("relay {relay} unreachable: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let mut config = client::Config {
            keepalive_interval: Some(KEEPALIVE_INTERVAL),
            keepalive_max: KEEPALIVE_MAX,
            nodelay: true,
            ..client::Config::default()
        };
        if matches!(self.host, HostTrust::Ca { .. }) {
            // Ask for the host certificate: it is what a host CA vouches for.
            config.preferred.host_key_certificates =
                std::borrow::Cow::Owned(config.preferred.key.to_vec());
        }
        let config = Arc::new(config);
        let mismatch = Arc::new(Mutex::new(None));
        let handler = Client {
            trust: self.host.clone(),
            mismatch: mismatch.clone(),
        };
        let handshake = client::connect_stream(config, QuickAck(tcp), handler);
        let mut handle = match tokio::time::timeout(CONNECT_TIMEOUT, handshake).await {
            Err(_) => {
                return Err(format!(
                    "relay {relay}: the SSH handshake did not finish within {CONNECT_TIMEOUT:?}"
                ))
            }
            Ok(Err(e)) => {
                let reason = mismatch.lock().unwrap_or_else(|p| p.into_inner()).take();
                return Err(
                    reason.unwrap_or_else(|| format!("relay {relay}: SSH handshake failed: {e}"))
                );
            }
            Ok(Ok(h)) => h,
        };
        let key = self.key.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let cert = self.cert.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let auth = match cert {
            Some(cert) => {
                handle
                    .authenticate_openssh_cert(self.user.clone(), key, cert)
                    .await
            }
            None => {
                let hash = handle
                    .best_supported_rsa_hash()
                    .await
                    .ok()
                    .flatten()
                    .flatten();
                handle
                    .authenticate_publickey(
                        self.user.clone(),
                        PrivateKeyWithHashAlg::new(key, hash),
                    )
                    .await
            }
        }
        .map_err(|e| format!("relay {relay}: authentication failed: {e}"))?;
        if !matches!(auth, client::AuthResult::Success) {
            return Err(format!(
                "relay {relay} refused the key for user '{}'",
                self.user
            ));
        }
        Ok(Arc::new(handle))
    }
}

impl Session for SshSession {
    /// One connection: connect, authenticate, then watch it until it ends.
    async fn run(&self, link: &Link<'_>) -> String {
        let handle = match self.connect().await {
            Ok(h) => h,
            Err(reason) => return reason,
        };
        *self.handle.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle.clone());
        link.ready();
        let mut tick = tokio::time::interval(PROBE_INTERVAL);
        loop {
            tick.tick().await;
            if handle.is_closed() {
                return format!("relay {}: the SSH session closed", self.relay);
            }
        }
    }

    async fn ended(&self, end: SessionEnd<'_>) {
        let handle = self.handle.lock().unwrap_or_else(|p| p.into_inner()).take();
        match end {
            SessionEnd::Retrying(reason) => {
                tracing::warn!(tunnel = "ssh", relay = %self.relay, reason = %reason, "tunnel session ended");
            }
            SessionEnd::Stopped => {
                if let Some(h) = handle {
                    let _ = h
                        .disconnect(russh::Disconnect::ByApplication, "", "en")
                        .await;
                }
            }
        }
    }
}

/// A `direct-tcpip` channel whose close is left to the far side. russh 0.65's client
/// forgets a channel only when the server closes it while it is open: when the client
/// closes first, the server's CHANNEL_CLOSE is ignored and the channel's entry (with its
/// message queue, a few KiB) stays in the session for as long as the session lives —
/// one a second per tunnel from the readiness probe alone (`cargo bench --bench soak`
/// measured the host's memory growing by about 5 MiB a minute with 25 SSH tunnels). So
/// a dropped channel sends EOF, reads until the far side's EOF, gives the server's
/// CHANNEL_CLOSE that follows a moment to be handled, and only then closes (at most
/// CLOSE_TIMEOUT and CLOSE_DRAIN_MAX bytes; outside a runtime it closes at once).
struct FarSideCloses(Option<russh::ChannelStream<client::Msg>>);

impl FarSideCloses {
    fn stream(&mut self) -> &mut russh::ChannelStream<client::Msg> {
        self.0.as_mut().expect("only taken on drop")
    }
}

impl Drop for FarSideCloses {
    fn drop(&mut self) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (Some(mut stream), Ok(runtime)) =
            (self.0.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        runtime.spawn(async move {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
                let _ = stream.shutdown().await;
                let mut buf = [0u8; 4096];
                let mut left = CLOSE_DRAIN_MAX;
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        // Still sending: not worth reading to its end.
                        Ok(n) if n >= left => return,
                        Ok(n) => left -= n,
                    }
                }
                tokio::time::sleep(CLOSE_GRACE).await;
            })
            .await;
        });
    }
}

impl tokio::io::AsyncRead for FarSideCloses {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(self.stream()).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for FarSideCloses {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(self.stream()).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(self.stream()).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(self.stream()).poll_shutdown(cx)
    }
}

/// One consumes entry's way through a shared session: channels to its `target`.
struct SshRoute {
    session: Arc<SshSession>,
    settings: Settings,
    /// Session state, narrowed by whether `target` answers.
    state: watch::Sender<TunnelState>,
    stopped: watch::Sender<bool>,
}

impl SshRoute {
    fn set(&self, state: TunnelState) {
        super::publish(&self.state, state);
    }

    async fn open_channel(&self, handle: &Handle) -> Result<TunnelStream, DialError> {
        let target = self.settings.target();
        let open = handle.channel_open_direct_tcpip(
            self.settings.target_host.clone(),
            u32::from(self.settings.target_port),
            "127.0.0.1",
            0,
        );
        match tokio::time::timeout(CHANNEL_OPEN_TIMEOUT, open).await {
            Ok(Ok(channel)) => Ok(Box::new(FarSideCloses(Some(channel.into_stream())))),
            Ok(Err(e)) => Err(open_failure(&e, &target)),
            Err(_) => Err(DialError::new(
                DialErrorKind::Timeout,
                format!("opening a channel to {target} took longer than {CHANNEL_OPEN_TIMEOUT:?}"),
            )),
        }
    }

    /// Readiness: the session is up *and* a probe channel to the target opens. Checked
    /// every second and whenever the session's state changes.
    async fn watch_target(self: Arc<Self>) {
        let mut session = self.session.state.subscribe();
        let mut stopped = self.stopped.subscribe();
        let mut tick = tokio::time::interval(PROBE_INTERVAL);
        let mut probes: u64 = 0;
        let mut answered: Result<(), String> = Ok(());
        loop {
            let state = session.borrow_and_update().clone();
            match (state.is_ready(), self.session.handle()) {
                (true, Some(handle)) => match self.open_channel(&handle).await {
                    Ok(stream) => {
                        // A channel opening proves the connector's port is bound on the
                        // relay, not that the connector behind it answers: a frozen
                        // connector keeps the port. So now and then push a few bytes
                        // through and wait for anything back (data or EOF).
                        // Between deep probes the last verdict stands.
                        if probes.is_multiple_of(DEEP_PROBE_EVERY) {
                            answered = answers(stream).await;
                        }
                        probes += 1;
                        match &answered {
                            Ok(()) => self.set(TunnelState::Ready),
                            Err(reason) => self.set(TunnelState::Degraded(reason.clone())),
                        }
                    }
                    Err(e) => {
                        // Check end to end as soon as the channel opens again.
                        probes = 0;
                        self.set(TunnelState::Degraded(e.message));
                    }
                },
                _ => {
                    probes = 0;
                    self.set(state);
                }
            }
            tokio::select! {
                _ = tick.tick() => {}
                _ = session.changed() => {}
                _ = stopped.changed() => {
                    self.set(TunnelState::Closed);
                    return;
                }
            }
        }
    }
}

/// Send a line no HTTP or TLS server accepts and wait for any reaction: a response
/// (400, a TLS alert) or EOF means bytes cross the connector; silence means it is frozen.
async fn answers(mut stream: TunnelStream) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        stream.write_all(b"IKANOS-PROBE\r\n\r\n").await?;
        let mut buf = [0u8; 64];
        stream.read(&mut buf).await
    };
    match tokio::time::timeout(DEEP_PROBE_TIMEOUT, exchange).await {
        Ok(_) => Ok(()),
        Err(_) => Err(format!(
            "the connector behind the relay does not answer (nothing came back within {DEEP_PROBE_TIMEOUT:?}; frozen?)"
        )),
    }
}

#[async_trait::async_trait]
impl Tunnel for SshRoute {
    async fn dial(&self, _host: &str, _port: u16) -> Result<TunnelStream, DialError> {
        // The relay reaches the private API only through the connector's forwarded
        // port: every stream goes to `target`, whatever the baseUri's host (which stays
        // in the Host header and TLS SNI).
        if let Some(reason) = self.state.borrow().reason() {
            return Err(DialError::new(DialErrorKind::NotReady, reason));
        }
        let Some(handle) = self.session.handle() else {
            return Err(DialError::new(DialErrorKind::NotReady, "no SSH session"));
        };
        let opened = self.open_channel(&handle).await;
        if let Err(e) = &opened {
            if e.kind == DialErrorKind::NotReady {
                // Fail closed at once for the calls that follow, not only at the next probe.
                self.set(TunnelState::Degraded(e.message.clone()));
            }
        }
        opened
    }

    fn state(&self) -> watch::Receiver<TunnelState> {
        self.state.subscribe()
    }

    async fn reload(&self, config: TunnelConfig) -> Result<(), String> {
        let key = private_key(config.identity.as_ref())?;
        // Only the credentials are taken: the relay, user and host trust stay.
        let keys: SshKeys =
            super::settings::decode("ssh", &config.extra).map_err(|p| SettingsProblem::join(&p))?;
        let cert = certificate(keys.certificate.as_deref())?;
        *self.session.key.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
        *self.session.cert.lock().unwrap_or_else(|p| p.into_inner()) = cert;
        self.session.supervisor.reload();
        Ok(())
    }

    async fn stop(&self) {
        let _ = self.stopped.send(true);
        self.session.supervisor.stop();
    }
}
