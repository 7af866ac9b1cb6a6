//! Tunnels: how a consumed namespace reaches an API on a private network.
//!
//! Owns: the `Tunnel` contract every overlay implements (one small async trait: dial
//! `host:port` on the far side and report a state), the registry of providers compiled
//! into this binary (one cargo feature each), sharing one running tunnel among every
//! consumes entry that names the same (type, identity, endpoint), and the route each
//! namespace gets. Must not touch: request contents or the credentials added to them.
//!
//! Rules the rest of the host relies on:
//! - No `tunnel:` block → direct.
//! - A type with no provider in this build → unavailable, with the reason
//!   `No Tunnel provider for type 'X'`; calls fail at once and nothing is dialed.
//! - A tunnel that is not ready → calls fail at once (`fallback: fail`, the default)
//!   or go direct with a warning and a count (`fallback: direct`).
//! - Start-up never waits for a tunnel: providers connect in the background.
//! - A key of a `tunnel:` block its provider does not take is refused — by
//!   `validate`/`lint` at the key, with a did-you-mean hint, and at run time by making
//!   the namespace unavailable — the same way for every provider (`settings.rs`).
//! - A dial's error kind, not its text, decides what the call answers (see
//!   [`Tunnel::dial`]).

mod connector;
#[cfg(test)]
pub(crate) mod fake;
#[cfg(feature = "test-tunnel")]
pub mod relay;
// Shared by the providers: unused in a build that has none.
#[cfg(feature = "rathole")]
pub mod rathole;
#[cfg_attr(
    not(any(
        feature = "ssh",
        feature = "ziti",
        feature = "rathole",
        feature = "test-tunnel"
    )),
    allow(dead_code)
)]
mod settings;
#[cfg(feature = "ssh")]
pub mod ssh;
#[cfg_attr(
    not(any(feature = "ssh", feature = "ziti", feature = "test-tunnel")),
    allow(dead_code)
)]
mod supervisor;
#[cfg(feature = "ziti")]
pub mod ziti;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use ikanos_spec::binds::{Secret, Secrets};
use ikanos_spec::model::{Fallback, Pos, Tunnel as TunnelSpec};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

pub use connector::{TunnelConnector, TunnelMetrics};
pub use settings::SettingsProblem;

/// A byte stream to the far side of a tunnel.
pub trait TunnelIo: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> TunnelIo for T {}
pub type TunnelStream = Box<dyn TunnelIo>;

/// Where a tunnel stands. `Degraded` carries a reason a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelState {
    Connecting,
    Ready,
    Degraded(String),
    Closed,
}

impl TunnelState {
    pub fn is_ready(&self) -> bool {
        matches!(self, TunnelState::Ready)
    }

    /// `connecting`, `ready`, `degraded`, `closed`.
    pub fn name(&self) -> &'static str {
        match self {
            TunnelState::Connecting => "connecting",
            TunnelState::Ready => "ready",
            TunnelState::Degraded(_) => "degraded",
            TunnelState::Closed => "closed",
        }
    }

    pub fn reason(&self) -> Option<String> {
        match self {
            TunnelState::Ready => None,
            TunnelState::Connecting => Some("the tunnel is connecting".into()),
            TunnelState::Degraded(r) => Some(r.clone()),
            TunnelState::Closed => Some("the tunnel is closed".into()),
        }
    }
}

/// Set a tunnel's state, waking watchers only when it really changed (readiness and
/// the state gauges follow every change).
pub(crate) fn publish(tx: &watch::Sender<TunnelState>, state: TunnelState) {
    tx.send_if_modified(|s| {
        let changed = *s != state;
        *s = state;
        changed
    });
}

/// What kind of failure a dial met. The kind decides what the call answers (see
/// [`Tunnel::dial`]) and is the `outcome` label of `ikanos_tunnel_dial_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialErrorKind {
    /// The tunnel cannot carry streams now (not connected, session lost, nothing
    /// listening behind the far end): the call fails closed as `tunnel-unavailable`.
    NotReady,
    /// The far end refused this destination (the overlay's policy or the relay said no).
    Refused,
    /// The far end forbids this destination by configuration (SSH `permitopen`).
    Prohibited,
    /// No answer in time.
    Timeout,
    /// The stream broke while it was being opened.
    Io,
    /// The far end answered something the protocol does not allow.
    Protocol,
}

impl DialErrorKind {
    /// The metrics label (`not_ready`, `refused`, …); these values are part of the
    /// metrics contract and must not change.
    pub fn label(self) -> &'static str {
        match self {
            DialErrorKind::NotReady => "not_ready",
            DialErrorKind::Refused => "refused",
            DialErrorKind::Prohibited => "prohibited",
            DialErrorKind::Timeout => "timeout",
            DialErrorKind::Io => "io",
            DialErrorKind::Protocol => "protocol",
        }
    }
}

/// Why a dial through a tunnel failed.
#[derive(Debug, Clone)]
pub struct DialError {
    pub kind: DialErrorKind,
    pub message: String,
}

impl DialError {
    pub fn new(kind: DialErrorKind, message: impl Into<String>) -> Self {
        DialError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for DialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DialError {}

/// One running tunnel: an overlay session through which streams are dialed.
#[async_trait::async_trait]
pub trait Tunnel: Send + Sync + 'static {
    /// Open a stream to `host:port` on the far side. The hostname goes to the overlay
    /// as written in the baseUri: it is never resolved by this host's DNS.
    ///
    /// The error's kind is a promise to the caller:
    /// - [`DialErrorKind::NotReady`]: the tunnel went down (or was never up). The call
    ///   fails closed and answers `tunnel-unavailable`, exactly as a call made while the
    ///   state said so; it is never retried around the tunnel, whatever `fallback` says.
    /// - every other kind: the tunnel works but this stream could not be opened; the
    ///   call answers `transport`.
    async fn dial(&self, host: &str, port: u16) -> Result<TunnelStream, DialError>;

    /// The current state, and changes to it.
    fn state(&self) -> watch::Receiver<TunnelState>;

    /// Take new credentials (a re-rendered `tunnel:` block: identity, certificate…)
    /// without a restart: new sessions use them, streams already open finish on the
    /// old session.
    async fn reload(&self, config: TunnelConfig) -> Result<(), String>;

    /// Close the session; the state becomes `Closed`.
    async fn stop(&self);
}

/// What a provider gets to start one tunnel.
pub struct TunnelConfig {
    pub service: Option<String>,
    /// The rendered `tunnel.identity` (a bind value: never logged).
    pub identity: Option<Secret>,
    /// Provider-specific keys of the `tunnel:` block.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A kind of overlay compiled into this binary.
pub trait TunnelProvider: Send + Sync + 'static {
    /// The `tunnel.type` it serves.
    fn kind(&self) -> &'static str;

    /// Problems with the provider-specific part of a `tunnel:` block (for `validate`
    /// and `lint`). The keys are decoded with [`settings::decode`], so an unknown key
    /// is refused the same way by every provider.
    fn check(&self, spec: &TunnelSpec) -> Vec<SettingsProblem>;

    /// What identifies the far end (relay, controller…): tunnels with the same type,
    /// identity and endpoint are shared.
    fn endpoint(&self, config: &TunnelConfig) -> String;

    /// Start a tunnel. Returns at once; connecting happens in the background. Settings
    /// `check` would refuse (an unknown key among them) are refused here too, with the
    /// same messages: the namespace is then unavailable, never started half-configured.
    fn start(&self, config: TunnelConfig) -> Result<Arc<dyn Tunnel>, String>;
}

/// The route of one consumed namespace.
#[derive(Clone)]
pub enum Route {
    Direct,
    /// Through a running tunnel.
    Tunnel {
        kind: String,
        tunnel: Arc<dyn Tunnel>,
        fallback: Fallback,
    },
    /// Calls fail at once with `tunnel-unavailable`; nothing is dialed.
    Unavailable {
        kind: String,
        reason: String,
    },
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

impl Route {
    /// `direct` or `tunnel:<type>`, for metrics and status.
    pub fn label(&self) -> String {
        match self {
            Route::Direct => "direct".to_string(),
            Route::Tunnel { kind, .. } | Route::Unavailable { kind, .. } => {
                format!("tunnel:{kind}")
            }
        }
    }

    /// The tunnel's current state (`Ready` for direct routes).
    pub fn state(&self) -> TunnelState {
        match self {
            Route::Direct => TunnelState::Ready,
            Route::Tunnel { tunnel, .. } => tunnel.state().borrow().clone(),
            Route::Unavailable { reason, .. } => TunnelState::Degraded(reason.clone()),
        }
    }
}

/// What `ikanos serve`'s host configuration declares for tunnels: rathole listeners.
#[derive(Clone, Default, Debug)]
pub struct HostedTunnels {
    #[cfg(feature = "rathole")]
    pub rathole: Arc<std::collections::BTreeMap<String, rathole::HostListener>>,
}

/// (type, SHA-256 of the identity, endpoint): what makes two tunnels the same.
type TunnelKey = (String, String, String);

/// The providers of this build and the tunnels running in this process.
pub struct TunnelRegistry {
    providers: Vec<Box<dyn TunnelProvider>>,
    running: Mutex<HashMap<TunnelKey, Arc<dyn Tunnel>>>,
}

impl Default for TunnelRegistry {
    fn default() -> Self {
        Self::builtin()
    }
}

impl TunnelRegistry {
    /// Every provider compiled into this binary.
    pub fn builtin() -> Self {
        Self::with_providers(vec![
            #[cfg(feature = "ssh")]
            Box::<ssh::SshProvider>::default(),
            #[cfg(feature = "rathole")]
            Box::<rathole::RatholeProvider>::default(),
            #[cfg(feature = "ziti")]
            Box::new(ziti::ZitiProvider),
            #[cfg(feature = "test-tunnel")]
            Box::new(relay::RelayProvider),
        ])
    }

    /// The providers a capability hosted by `ikanos serve` gets: the same, except that
    /// its file may not open a listener (a rathole server is host infrastructure): it
    /// names one of the host's, if granted.
    #[cfg_attr(not(feature = "rathole"), allow(unused_variables))]
    pub fn hosted(rathole: &HostedTunnels, capability: &str) -> Self {
        Self::with_providers(vec![
            #[cfg(feature = "ssh")]
            Box::<ssh::SshProvider>::default(),
            #[cfg(feature = "rathole")]
            Box::new(rathole::RatholeProvider {
                hosted: Some(rathole::Hosted {
                    listeners: rathole.rathole.clone(),
                    capability: capability.to_string(),
                }),
            }),
            #[cfg(feature = "ziti")]
            Box::new(ziti::ZitiProvider),
            #[cfg(feature = "test-tunnel")]
            Box::new(relay::RelayProvider),
        ])
    }

    /// A registry of exactly these providers (tests bring their own).
    pub fn with_providers(providers: Vec<Box<dyn TunnelProvider>>) -> Self {
        TunnelRegistry {
            providers,
            running: Mutex::new(HashMap::new()),
        }
    }

    fn provider(&self, kind: &str) -> Option<&dyn TunnelProvider> {
        self.providers
            .iter()
            .find(|p| p.kind() == kind)
            .map(|p| p.as_ref())
    }

    pub fn has_provider(&self, kind: &str) -> bool {
        self.provider(kind).is_some()
    }

    /// Provider-specific problems of a `tunnel:` block (empty when there is no
    /// provider), each at the position of the key at fault, or of the block.
    pub fn check(&self, spec: &TunnelSpec) -> Vec<(Pos, String)> {
        let Some(provider) = self.provider(&spec.kind.value) else {
            return Vec::new();
        };
        provider
            .check(spec)
            .into_iter()
            .map(|problem| {
                let at_key = problem.key.as_ref().and_then(|key| {
                    spec.extra
                        .iter()
                        .find(|(k, _)| k.value == *key)
                        .map(|(k, _)| k.pos)
                });
                (at_key.unwrap_or(spec.pos), problem.message)
            })
            .collect()
    }

    /// The message used in `validate`, `/health/ready` and call errors alike.
    pub fn missing_provider_message(kind: &str) -> String {
        format!("No Tunnel provider for type '{kind}'")
    }

    /// The route of a consumes entry, starting (or sharing) its tunnel.
    pub fn route(&self, spec: Option<&TunnelSpec>, secrets: &Secrets) -> Route {
        let Some(spec) = spec else {
            return Route::Direct;
        };
        let kind = spec.kind.value.clone();
        let Some(provider) = self.provider(&kind) else {
            return Route::Unavailable {
                reason: Self::missing_provider_message(&kind),
                kind,
            };
        };
        let config = match render_config(spec, secrets) {
            Ok(c) => c,
            Err(reason) => return Route::Unavailable { kind, reason },
        };
        let key = (
            kind.clone(),
            identity_key(config.identity.as_ref()),
            provider.endpoint(&config),
        );
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = running.get(&key) {
            return Route::Tunnel {
                kind,
                tunnel: t.clone(),
                fallback: spec.fallback,
            };
        }
        match provider.start(config) {
            Ok(t) => {
                running.insert(key, t.clone());
                Route::Tunnel {
                    kind,
                    tunnel: t,
                    fallback: spec.fallback,
                }
            }
            Err(reason) => Route::Unavailable { kind, reason },
        }
    }

    /// Tunnels running in this process (for rotation and shutdown).
    pub fn running(&self) -> Vec<Arc<dyn Tunnel>> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

/// What a provider sees of a `tunnel:` block: every bind reference rendered — the
/// identity and provider keys alike (an SSH certificate, say) — so providers only ever
/// see values. Used at start and again on SIGHUP.
pub fn render_config(spec: &TunnelSpec, secrets: &Secrets) -> Result<TunnelConfig, String> {
    let identity = match &spec.identity {
        None => None,
        Some(t) => Some(
            secrets
                .render(t, &|_| None)
                .map_err(|e| format!("tunnel.identity: {e}"))?,
        ),
    };
    let mut extra = serde_json::Map::new();
    for (k, v) in &spec.extra {
        let value = match v.as_str() {
            Some(text) if text.contains("{{") => {
                let raw = ikanos_spec::model::Spanned {
                    value: text.to_string(),
                    pos: k.pos,
                    file: k.file.clone(),
                };
                let rendered = secrets
                    .render(&ikanos_spec::model::Template::parse(raw), &|_| None)
                    .map_err(|e| format!("tunnel.{}: {e}", k.value))?;
                serde_json::Value::String(rendered.expose().to_string())
            }
            _ => v.clone(),
        };
        extra.insert(k.value.clone(), value);
    }
    Ok(TunnelConfig {
        service: spec.service.as_ref().map(|s| s.value.clone()),
        identity,
        extra,
    })
}

/// Tunnels are shared by identity without keeping the identity itself as a map key.
fn identity_key(identity: Option<&Secret>) -> String {
    use sha2::Digest;
    match identity {
        None => String::new(),
        Some(s) => hex::encode(sha2::Sha256::digest(s.expose().as_bytes())),
    }
}

#[cfg(all(test, feature = "ssh"))]
mod tests {
    use super::*;
    use std::path::Path;

    /// The keys of an SSH tunnel whose `certificate` is misspelt (line 17, column 9).
    const MISSPELT: &str = r#"        type: "ssh"
        identity: "/etc/ikanos/ssh-key"
        relay: "relay.example.net:22"
        user: "ikanos"
        target: "127.0.0.1:18080"
        hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHh5fVpL0vXG9Sa8n4lQXfKxG6YkYpJr0N8u6cVQd3mS"
        certficate: "/etc/ikanos/ssh-key-cert.pub"
"#;

    const HINT: &str = "tunnel.certficate is not a key of type 'ssh' (did you mean 'certificate'?)";

    fn misspelt() -> TunnelSpec {
        let file = fake::capability("http://crm.internal", MISSPELT);
        let loaded = ikanos_spec::load_str(Path::new("t.yaml"), &file).expect("loads");
        loaded.capability.consumes[0]
            .tunnel
            .clone()
            .expect("a tunnel")
    }

    #[test]
    fn a_misspelt_provider_key_is_reported_at_the_key_with_a_hint() {
        let registry = TunnelRegistry::with_providers(vec![Box::<ssh::SshProvider>::default()]);
        assert_eq!(
            registry.check(&misspelt()),
            [(Pos { line: 17, col: 9 }, HINT.to_string())]
        );
    }

    #[test]
    fn at_run_time_a_misspelt_provider_key_makes_the_namespace_unavailable() {
        let registry = TunnelRegistry::with_providers(vec![Box::<ssh::SshProvider>::default()]);
        match registry.route(Some(&misspelt()), &Secrets::default()) {
            Route::Unavailable { kind, reason } => {
                assert_eq!(kind, "ssh");
                assert_eq!(reason, HINT);
            }
            other => panic!("expected an unavailable route, got {other:?}"),
        }
        assert!(registry.running().is_empty());
    }
}
