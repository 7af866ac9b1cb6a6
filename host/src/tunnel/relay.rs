//! `tunnel.type: test-relay` — a tunnel provider for tests only (cargo feature
//! `test-tunnel`).
//!
//! Owns: a deliberately small overlay protocol spoken to a loopback relay that the
//! tests run in place of a private network's connector. It exercises everything the
//! host does with a real overlay — background connection, keepalives, readiness,
//! reconnect with jittered backoff, dialing `host:port` by name, identity rotation —
//! while the tests decide when the relay is up, down or refusing.
//! Must not touch: anything outside the tunnel contract.
//!
//! Protocol (one line each, `\n`-terminated):
//! - control connection: `HELLO <identity>` → `OK` | `DENY <reason>`; then `PING` →
//!   `PONG` every 100 ms. No `PONG` within 3 s, or EOF, ends the session.
//! - each dial, on a new connection: `DIAL <identity> <service> <host>:<port>` → `OK`
//!   followed by the raw stream, or `ERR <reason>`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ikanos_spec::model::Tunnel as TunnelSpec;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::supervisor::{Link, Session, SessionEnd, Supervisor};
use super::{
    DialError, DialErrorKind, SettingsProblem, Tunnel, TunnelConfig, TunnelProvider, TunnelState,
    TunnelStream,
};

const KEEPALIVE: Duration = Duration::from_millis(100);
// Generous: a loaded CI machine must not make a healthy loopback session flap. A
// relay that goes away closes the connection and is noticed at once anyway.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(3);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

pub struct RelayProvider;

/// The provider-specific keys of a `tunnel:` block of type `test-relay`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RelayKeys {
    /// `IP:PORT` of the test relay.
    relay: Option<String>,
}

fn relay_addr(
    extra: &serde_json::Map<String, serde_json::Value>,
) -> Result<String, Vec<SettingsProblem>> {
    let keys: RelayKeys = super::settings::decode("test-relay", extra)?;
    let relay = keys.relay.ok_or_else(|| {
        vec![SettingsProblem::block(
            "tunnel.relay (HOST:PORT of the test relay) is required",
        )]
    })?;
    relay.parse::<std::net::SocketAddr>().map_err(|_| {
        vec![SettingsProblem::block(format!(
            "tunnel.relay '{relay}' is not an IP:PORT address"
        ))]
    })?;
    Ok(relay)
}

impl TunnelProvider for RelayProvider {
    fn kind(&self) -> &'static str {
        "test-relay"
    }

    fn check(&self, spec: &TunnelSpec) -> Vec<SettingsProblem> {
        relay_addr(&spec.extra_values()).err().unwrap_or_default()
    }

    fn endpoint(&self, config: &TunnelConfig) -> String {
        relay_addr(&config.extra).unwrap_or_default()
    }

    fn start(&self, config: TunnelConfig) -> Result<Arc<dyn Tunnel>, String> {
        let relay = relay_addr(&config.extra).map_err(|p| SettingsProblem::join(&p))?;
        let tunnel = Arc::new(RelayTunnel {
            relay,
            service: config.service.unwrap_or_default(),
            identity: Mutex::new(
                config
                    .identity
                    .map(|s| s.expose().to_string())
                    .unwrap_or_default(),
            ),
            state: watch::channel(TunnelState::Connecting).0,
            supervisor: Supervisor::default(),
        });
        tunnel
            .supervisor
            .spawn(tunnel.clone(), &tunnel.state, BACKOFF_MIN, BACKOFF_MAX);
        Ok(tunnel)
    }
}

struct RelayTunnel {
    relay: String,
    service: String,
    identity: Mutex<String>,
    state: watch::Sender<TunnelState>,
    supervisor: Supervisor,
}

impl RelayTunnel {
    fn identity(&self) -> String {
        self.identity
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Session for RelayTunnel {
    /// One control session: HELLO, then keepalives until the relay stops answering.
    async fn run(&self, link: &Link<'_>) -> String {
        let relay = &self.relay;
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(relay)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return format!("relay {relay} unreachable: {e}"),
            Err(_) => return format!("relay {relay} did not accept within {CONNECT_TIMEOUT:?}"),
        };
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        if let Err(e) = write
            .write_all(format!("HELLO {}\n", self.identity()).as_bytes())
            .await
        {
            return format!("relay {relay}: {e}");
        }
        match tokio::time::timeout(KEEPALIVE_TIMEOUT, lines.next_line()).await {
            Ok(Ok(Some(l))) if l == "OK" => {}
            Ok(Ok(Some(l))) => {
                return format!(
                    "relay {relay} refused the session: {}",
                    l.trim_start_matches("DENY ").trim()
                )
            }
            _ => return format!("relay {relay} did not answer HELLO"),
        }
        link.ready();
        let mut tick = tokio::time::interval(KEEPALIVE);
        loop {
            tick.tick().await;
            if write.write_all(b"PING\n").await.is_err() {
                return format!("relay {relay} connection lost");
            }
            match tokio::time::timeout(KEEPALIVE_TIMEOUT, lines.next_line()).await {
                Ok(Ok(Some(l))) if l == "PONG" => {}
                Ok(Ok(Some(l))) => return format!("relay {relay} sent '{l}' instead of PONG"),
                Ok(Ok(None)) | Ok(Err(_)) => return format!("relay {relay} connection lost"),
                Err(_) => return format!("relay {relay} stopped answering keepalives"),
            }
        }
    }

    async fn ended(&self, end: SessionEnd<'_>) {
        if let SessionEnd::Retrying(reason) = end {
            tracing::warn!(tunnel = "test-relay", relay = %self.relay, reason = %reason, "tunnel session ended");
        }
    }
}

#[async_trait::async_trait]
impl Tunnel for RelayTunnel {
    async fn dial(&self, host: &str, port: u16) -> Result<TunnelStream, DialError> {
        if let Some(reason) = self.state.borrow().reason() {
            return Err(DialError::new(DialErrorKind::NotReady, reason));
        }
        let attempt = async {
            let mut stream = TcpStream::connect(&self.relay).await.map_err(|e| {
                DialError::new(DialErrorKind::Io, format!("relay {}: {e}", self.relay))
            })?;
            stream.set_nodelay(true).ok();
            let line = format!("DIAL {} {} {host}:{port}\n", self.identity(), self.service);
            stream
                .write_all(line.as_bytes())
                .await
                .map_err(|e| DialError::new(DialErrorKind::Io, e.to_string()))?;
            // Read the answer byte by byte so no stream data is consumed with it.
            let mut answer = Vec::new();
            let mut byte = [0u8; 1];
            loop {
                use tokio::io::AsyncReadExt;
                let n = stream
                    .read(&mut byte)
                    .await
                    .map_err(|e| DialError::new(DialErrorKind::Io, e.to_string()))?;
                if n == 0 {
                    return Err(DialError::new(
                        DialErrorKind::Io,
                        "the relay closed the dial",
                    ));
                }
                if byte[0] == b'\n' {
                    break;
                }
                answer.push(byte[0]);
                if answer.len() > 1024 {
                    return Err(DialError::new(
                        DialErrorKind::Protocol,
                        "the relay's answer is too long",
                    ));
                }
            }
            let answer = String::from_utf8_lossy(&answer).to_string();
            if answer == "OK" {
                Ok(Box::new(stream) as TunnelStream)
            } else {
                Err(DialError::new(
                    DialErrorKind::Refused,
                    format!(
                        "the relay refused {host}:{port}: {}",
                        answer.trim_start_matches("ERR ").trim()
                    ),
                ))
            }
        };
        tokio::time::timeout(DIAL_TIMEOUT, attempt)
            .await
            .unwrap_or_else(|_| {
                Err(DialError::new(
                    DialErrorKind::Timeout,
                    format!("no answer from the relay within {DIAL_TIMEOUT:?}"),
                ))
            })
    }

    fn state(&self) -> watch::Receiver<TunnelState> {
        self.state.subscribe()
    }

    async fn reload(&self, config: TunnelConfig) -> Result<(), String> {
        *self.identity.lock().unwrap_or_else(|p| p.into_inner()) = config
            .identity
            .map(|s| s.expose().to_string())
            .unwrap_or_default();
        self.supervisor.reload();
        Ok(())
    }

    async fn stop(&self) {
        self.supervisor.stop();
    }
}
