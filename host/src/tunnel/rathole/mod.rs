//! `tunnel.type: rathole` — the private side runs a stock `rathole` client that dials
//! *this host* (no relay, no controller): the host is a rathole 0.5 server.
//!
//! ```yaml
//! tunnel:
//!   type: rathole
//!   service: crm                              # the client's [client.services.crm]
//!   identity: "{{secrets.RATHOLE_TOKEN}}"     # the service's token, through binds
//!   listen: "0.0.0.0:2333"                    # where rathole clients connect (its bind_addr)
//!   transport: noise                          # tcp (default) | noise | tls
//!   noisePrivateKey: "{{secrets.RATHOLE_KEY}}" # noise: this side's private key (base64)
//!   tlsCertificate: "{{secrets.RATHOLE_CERT}}" # tls: PEM chain (text or path)
//!   tlsKey: "{{secrets.RATHOLE_TLS_KEY}}"     # tls: PEM key (text or path)
//! ```
//!
//! The client decides where a data channel goes (its `local_addr`): the baseUri's host
//! and port name the API for TLS and the Host header, not a destination the host picks.
//! Services on one `listen` address share one listener; a newer authenticated client of
//! a service replaces the older (rathole's own rule). Readiness is the service's
//! control channel: up while an authenticated client holds it.
//!
//! Owns: the provider's keys and refusing bad ones, and the `Tunnel` of one service.
//! The listener and protocol live in `server`, `protocol` and `transport`.
//!
//! `ikanos serve`: a listener is host infrastructure, so a hosted capability's file may
//! not open one; its rathole tunnels are unavailable with the reason (host-configured
//! listeners are not built yet).

mod protocol;
mod server;
mod transport;

use std::sync::Arc;

use ikanos_spec::model::Tunnel as TunnelSpec;
use serde::Deserialize;
use tokio::sync::watch;

use super::{
    settings, DialError, SettingsProblem, Tunnel, TunnelConfig, TunnelProvider, TunnelState,
    TunnelStream,
};
use server::{Listener, Service};
use transport::Transport;

/// Serves `tunnel.type: rathole`. `hosted`: the capability runs in `ikanos serve`, where
/// listeners are the host configuration's and a file names one (`listener: NAME`).
#[derive(Default)]
pub struct RatholeProvider {
    pub hosted: Option<Hosted>,
}

/// What `ikanos serve` gives one capability: the host's listeners, and its name (grants
/// are per capability).
#[derive(Clone)]
pub struct Hosted {
    pub listeners: Arc<std::collections::BTreeMap<String, HostListener>>,
    pub capability: String,
}

/// A listener of the host configuration (`tunnels.rathole.NAME`).
#[derive(Clone, Debug)]
pub struct HostListener {
    pub listen: String,
    pub transport: ListenerTransport,
    /// Service → the capabilities that may use it.
    pub services: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Debug)]
pub enum ListenerTransport {
    Tcp,
    /// The private key, base64 (as `rathole --genkey` prints it).
    Noise(ikanos_spec::binds::Secret),
    /// PEM files.
    Tls {
        certificate: String,
        key: String,
    },
}

impl ListenerTransport {
    fn build(&self) -> Result<Transport, String> {
        Ok(match self {
            ListenerTransport::Tcp => Transport::Tcp,
            ListenerTransport::Noise(key) => Transport::Noise(Arc::new(
                transport::noise_key(key.expose()).map_err(|e| format!("noisePrivateKey: {e}"))?,
            )),
            ListenerTransport::Tls { certificate, key } => {
                Transport::Tls(transport::tls(certificate, key)?)
            }
        })
    }
}

/// Check a Noise private key's form (for the host configuration's decoder).
pub fn check_noise_key(base64_text: &str) -> Result<(), String> {
    transport::noise_key(base64_text).map(|_| ())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RatholeKeys {
    listener: Option<String>,
    listen: Option<String>,
    transport: Option<String>,
    noise_private_key: Option<String>,
    tls_certificate: Option<String>,
    tls_key: Option<String>,
}

/// Keys whose value is a secret: written as a bind reference, never inline.
const SECRET_KEYS: &[&str] = &["noisePrivateKey", "tlsKey"];

fn keys(
    extra: &serde_json::Map<String, serde_json::Value>,
) -> Result<RatholeKeys, Vec<SettingsProblem>> {
    let keys: RatholeKeys = settings::decode("rathole", extra)?;
    let mut problems = Vec::new();
    let problem = |key: &str, message: String| SettingsProblem {
        key: Some(key.to_string()),
        message,
    };
    if keys.listener.is_some() {
        // A listener of the host configuration: its address and transport are the host's.
        for (key, present) in [
            ("listen", keys.listen.is_some()),
            ("transport", keys.transport.is_some()),
            ("noisePrivateKey", keys.noise_private_key.is_some()),
            ("tlsCertificate", keys.tls_certificate.is_some()),
            ("tlsKey", keys.tls_key.is_some()),
        ] {
            if present {
                problems.push(problem(key, format!("tunnel.{key}: the listener named by tunnel.listener sets it (in the host configuration); give one or the other")));
            }
        }
        return if problems.is_empty() {
            Ok(keys)
        } else {
            Err(problems)
        };
    }
    match keys.listen.as_deref() {
        None => problems.push(SettingsProblem::block(
            "tunnel.listen (HOST:PORT where the rathole client connects, its `remote_addr`; `ikanos run`) or tunnel.listener (a listener of `ikanos serve`'s host configuration) is required for type 'rathole'",
        )),
        Some(l) if crate::server::split_host_port(l).is_err() => {
            problems.push(problem("listen", format!("tunnel.listen: '{l}' is not HOST:PORT")))
        }
        _ => {}
    }
    let transport = keys.transport.as_deref().unwrap_or("tcp");
    let needs: &[&str] = match transport {
        "tcp" => &[],
        "noise" => &["noisePrivateKey"],
        "tls" => &["tlsCertificate", "tlsKey"],
        other => {
            problems.push(problem(
                "transport",
                format!("tunnel.transport: '{other}' is not one of tcp, noise, tls"),
            ));
            &[]
        }
    };
    let given = [
        ("noisePrivateKey", keys.noise_private_key.is_some()),
        ("tlsCertificate", keys.tls_certificate.is_some()),
        ("tlsKey", keys.tls_key.is_some()),
    ];
    for (key, present) in given {
        if present && !needs.contains(&key) {
            problems.push(problem(
                key,
                format!("tunnel.{key} is for another transport than '{transport}'"),
            ));
        }
        if !present && needs.contains(&key) {
            problems.push(SettingsProblem::block(format!(
                "tunnel.{key} is required with transport '{transport}'"
            )));
        }
    }
    if problems.is_empty() {
        Ok(keys)
    } else {
        Err(problems)
    }
}

impl TunnelProvider for RatholeProvider {
    fn kind(&self) -> &'static str {
        "rathole"
    }

    fn check(&self, spec: &TunnelSpec) -> Vec<SettingsProblem> {
        let mut problems = keys(&spec.extra_values()).err().unwrap_or_default();
        if spec.identity.is_none() {
            problems.push(SettingsProblem::block(
                "tunnel.identity (the service's token, through binds) is required for type 'rathole'",
            ));
        }
        if spec.service.is_none() {
            problems.push(SettingsProblem::block(
                "tunnel.service (the rathole service name the client offers) is required for type 'rathole'",
            ));
        }
        for (k, v) in &spec.extra {
            let inline = v.as_str().is_some_and(|s| !s.contains("{{"));
            if SECRET_KEYS.contains(&k.value.as_str()) && inline {
                problems.push(SettingsProblem {
                    key: Some(k.value.clone()),
                    message: format!(
                        "tunnel.{}: a private key comes from binds ({{{{secrets.NAME}}}}), never written in the file",
                        k.value
                    ),
                });
            }
        }
        problems
    }

    fn endpoint(&self, config: &TunnelConfig) -> String {
        match keys(&config.extra) {
            Ok(k) => format!(
                "{}#{}",
                k.listener.or(k.listen).unwrap_or_default(),
                config.service.clone().unwrap_or_default()
            ),
            Err(_) => String::new(),
        }
    }

    fn start(&self, config: TunnelConfig) -> Result<Arc<dyn Tunnel>, String> {
        let keys = keys(&config.extra).map_err(|p| SettingsProblem::join(&p))?;
        let service = config
            .service
            .clone()
            .ok_or("tunnel.service is required for type 'rathole'")?;
        let token = config
            .identity
            .clone()
            .ok_or("tunnel.identity (the service's token) is required for type 'rathole'")?;
        let (listen, transport) = match (&self.hosted, &keys.listener) {
            (None, Some(name)) => {
                return Err(format!("tunnel.listener '{name}' names a listener of `ikanos serve`'s host configuration; `ikanos run` opens its own: give tunnel.listen"))
            }
            (Some(_), None) => {
                return Err("a rathole listener is host infrastructure: under `ikanos serve` a capability names one of the host configuration's (tunnel.listener: NAME, from tunnels.rathole) instead of opening its own with tunnel.listen".into())
            }
            (Some(hosted), Some(name)) => {
                let l = hosted.listeners.get(name).ok_or_else(|| {
                    let known: Vec<&str> = hosted.listeners.keys().map(String::as_str).collect();
                    format!("tunnel.listener: the host configuration has no rathole listener '{name}' (it has: {})", if known.is_empty() { "none".to_string() } else { known.join(", ") })
                })?;
                let granted = l
                    .services
                    .get(&service)
                    .is_some_and(|caps| caps.iter().any(|c| c == &hosted.capability));
                if !granted {
                    return Err(format!(
                        "service '{service}' of rathole listener '{name}' is not granted to capability '{}' (tunnels.rathole.{name}.services.{service} in the host configuration)",
                        hosted.capability
                    ));
                }
                (l.listen.clone(), l.transport.build()?)
            }
            (None, None) => {
                let transport = match keys.transport.as_deref().unwrap_or("tcp") {
                    "noise" => ListenerTransport::Noise(ikanos_spec::binds::Secret::new(
                        keys.noise_private_key.clone().unwrap_or_default(),
                    )),
                    "tls" => ListenerTransport::Tls {
                        certificate: keys.tls_certificate.clone().unwrap_or_default(),
                        key: keys.tls_key.clone().unwrap_or_default(),
                    },
                    _ => ListenerTransport::Tcp,
                };
                (
                    keys.listen.clone().unwrap_or_default(),
                    transport.build().map_err(|e| format!("tunnel.{e}"))?,
                )
            }
        };
        let listener = Listener::get_or_start(&listen, transport)?;
        let service = listener.add_service(&service, token)?;
        let state = service.state.subscribe();
        Ok(Arc::new(RatholeTunnel {
            listener,
            service,
            state,
        }))
    }
}

/// One service of one listener.
struct RatholeTunnel {
    listener: Arc<Listener>,
    service: Arc<Service>,
    state: watch::Receiver<TunnelState>,
}

#[async_trait::async_trait]
impl Tunnel for RatholeTunnel {
    async fn dial(&self, _host: &str, _port: u16) -> Result<TunnelStream, DialError> {
        self.service.dial().await
    }

    fn state(&self) -> watch::Receiver<TunnelState> {
        self.state.clone()
    }

    async fn reload(&self, config: TunnelConfig) -> Result<(), String> {
        let keys = keys(&config.extra).map_err(|p| SettingsProblem::join(&p))?;
        if keys.listener.is_none() && keys.listen.as_deref() != Some(self.listener.addr.as_str()) {
            return Err("tunnel.listen changed: restart to listen elsewhere".into());
        }
        let token = config
            .identity
            .ok_or("tunnel.identity (the service's token) is required for type 'rathole'")?;
        self.service.set_token(token);
        Ok(())
    }

    async fn stop(&self) {
        self.listener.remove_service(&self.service);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extra(pairs: &[(&str, &str)]) -> serde_json::Map<String, serde_json::Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect()
    }

    fn messages(pairs: &[(&str, &str)]) -> Vec<String> {
        keys(&extra(pairs))
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.message)
            .collect()
    }

    #[test]
    fn keys_are_checked_for_their_transport() {
        assert!(messages(&[("listen", "0.0.0.0:2333")]).is_empty());
        assert!(messages(&[])[0].contains("tunnel.listen"));
        assert!(messages(&[("listen", "nowhere")])[0].contains("not HOST:PORT"));
        assert!(
            messages(&[("listen", "0.0.0.0:1"), ("transport", "quic")])[0]
                .contains("not one of tcp, noise, tls")
        );
        let m = messages(&[("listen", "0.0.0.0:1"), ("transport", "noise")]);
        assert_eq!(
            m,
            ["tunnel.noisePrivateKey is required with transport 'noise'"]
        );
        let m = messages(&[("listen", "0.0.0.0:1"), ("tlsKey", "{{s.K}}")]);
        assert_eq!(m, ["tunnel.tlsKey is for another transport than 'tcp'"]);
    }

    #[test]
    fn a_noise_key_is_32_bytes_of_base64() {
        use base64::Engine;
        let good = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(transport::noise_key(&good).unwrap(), vec![7u8; 32]);
        assert!(transport::noise_key("not base64!")
            .unwrap_err()
            .contains("not base64"));
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
        assert!(transport::noise_key(&short)
            .unwrap_err()
            .contains("16 bytes"));
    }

    fn config(pairs: &[(&str, &str)]) -> TunnelConfig {
        TunnelConfig {
            service: Some("crm".into()),
            identity: Some(ikanos_spec::binds::Secret::new("t".into())),
            extra: extra(pairs),
        }
    }

    #[tokio::test]
    async fn a_hosted_capability_uses_only_the_listeners_and_services_granted_to_it() {
        let listeners = std::collections::BTreeMap::from([(
            "edge".to_string(),
            HostListener {
                listen: "127.0.0.1:0".into(),
                transport: ListenerTransport::Tcp,
                services: std::collections::BTreeMap::from([(
                    "crm".to_string(),
                    vec!["a".to_string()],
                )]),
            },
        )]);
        let hosted = |capability: &str| RatholeProvider {
            hosted: Some(Hosted {
                listeners: Arc::new(listeners.clone()),
                capability: capability.into(),
            }),
        };
        let err = hosted("a")
            .start(config(&[("listen", "127.0.0.1:0")]))
            .err()
            .unwrap();
        assert!(err.contains("host infrastructure"), "{err}");
        let err = hosted("b")
            .start(config(&[("listener", "edge")]))
            .err()
            .unwrap();
        assert!(err.contains("not granted to capability 'b'"), "{err}");
        let err = hosted("a")
            .start(config(&[("listener", "other")]))
            .err()
            .unwrap();
        assert!(
            err.contains("no rathole listener 'other' (it has: edge)"),
            "{err}"
        );
        let err = RatholeProvider::default()
            .start(config(&[("listener", "edge")]))
            .err()
            .unwrap();
        assert!(err.contains("give tunnel.listen"), "{err}");
        assert!(messages(&[("listener", "edge"), ("transport", "tcp")])[0]
            .contains("the listener named by tunnel.listener sets it"));
        let tunnel = hosted("a")
            .start(config(&[("listener", "edge")]))
            .expect("granted");
        tunnel.stop().await;
    }
}
