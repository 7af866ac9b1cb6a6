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

/// Serves `tunnel.type: rathole`; `hosted` (in `ikanos serve`) refuses to open listeners.
#[derive(Default)]
pub struct RatholeProvider {
    pub hosted: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RatholeKeys {
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
    match keys.listen.as_deref() {
        None => problems.push(SettingsProblem::block(
            "tunnel.listen (HOST:PORT where the rathole client connects, its `remote_addr`) is required for type 'rathole'",
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
                k.listen.unwrap_or_default(),
                config.service.clone().unwrap_or_default()
            ),
            Err(_) => String::new(),
        }
    }

    fn start(&self, config: TunnelConfig) -> Result<Arc<dyn Tunnel>, String> {
        if self.hosted {
            return Err("a rathole listener is host infrastructure: `ikanos serve` does not let a capability's file open one (host-configured rathole listeners are not built yet); run it with `ikanos run`".into());
        }
        let keys = keys(&config.extra).map_err(|p| SettingsProblem::join(&p))?;
        let service = config
            .service
            .clone()
            .ok_or("tunnel.service is required for type 'rathole'")?;
        let token = config
            .identity
            .clone()
            .ok_or("tunnel.identity (the service's token) is required for type 'rathole'")?;
        let transport = match keys.transport.as_deref().unwrap_or("tcp") {
            "noise" => Transport::Noise(Arc::new(
                transport::noise_key(keys.noise_private_key.as_deref().unwrap_or_default())
                    .map_err(|e| format!("tunnel.noisePrivateKey: {e}"))?,
            )),
            "tls" => Transport::Tls(transport::tls(
                keys.tls_certificate.as_deref().unwrap_or_default(),
                keys.tls_key.as_deref().unwrap_or_default(),
            )?),
            _ => Transport::Tcp,
        };
        let listen = keys.listen.unwrap_or_default();
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
        if keys.listen.as_deref() != Some(self.listener.addr.as_str()) {
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

    #[tokio::test]
    async fn the_hosted_provider_opens_no_listener() {
        let p = RatholeProvider { hosted: true };
        let config = TunnelConfig {
            service: Some("crm".into()),
            identity: Some(ikanos_spec::binds::Secret::new("t".into())),
            extra: extra(&[("listen", "127.0.0.1:0")]),
        };
        let err = p.start(config).err().unwrap();
        assert!(err.contains("host infrastructure"), "{err}");
    }
}
