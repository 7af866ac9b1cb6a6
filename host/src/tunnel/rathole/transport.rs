//! The transports a rathole client can speak to this host: plain TCP, Noise (the
//! `snowstorm` crate, as rathole itself uses, so the framing is the same), and TLS
//! (rustls; the client checks the certificate against its `trusted_root`).
//!
//! Owns: the server side of each transport's handshake. Must not touch: the rathole
//! messages that follow.

use std::sync::Arc;

use tokio::net::TcpStream;

use crate::tunnel::TunnelStream;

/// rathole's default Noise pattern (its `[transport.noise] pattern`).
pub const NOISE_PATTERN: &str = "Noise_NK_25519_ChaChaPoly_BLAKE2s";

#[derive(Clone)]
pub enum Transport {
    Tcp,
    /// The server's static X25519 private key (32 bytes).
    Noise(Arc<Vec<u8>>),
    Tls(tokio_rustls::TlsAcceptor),
}

impl Transport {
    pub fn kind(&self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Noise(_) => "noise",
            Transport::Tls(_) => "tls",
        }
    }

    pub async fn accept(&self, stream: TcpStream) -> Result<TunnelStream, String> {
        match self {
            Transport::Tcp => Ok(Box::new(stream)),
            Transport::Noise(key) => {
                let params = NOISE_PATTERN.parse().expect("rathole's pattern parses");
                let responder = snowstorm::Builder::new(params)
                    .local_private_key(key)
                    .build_responder()
                    .map_err(|e| format!("noise: {e}"))?;
                let stream = snowstorm::NoiseStream::handshake(stream, responder)
                    .await
                    .map_err(|e| format!("the noise handshake failed (a client with another server public key?): {e}"))?;
                Ok(Box::new(stream))
            }
            Transport::Tls(acceptor) => {
                let stream = acceptor
                    .accept(stream)
                    .await
                    .map_err(|e| format!("the TLS handshake failed: {e}"))?;
                Ok(Box::new(stream))
            }
        }
    }
}

/// A Noise private key as rathole writes it (`--genkey` prints base64): 32 bytes.
pub fn noise_key(base64_text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD
        .decode(base64_text.trim())
        .map_err(|e| format!("not base64 ({e}); `rathole --genkey` prints the key pair"))?;
    if key.len() != 32 {
        return Err(format!("{} bytes; an X25519 private key is 32", key.len()));
    }
    Ok(key)
}

/// A TLS server configuration from PEM text (or a path to it) of the certificate chain
/// and its private key.
pub fn tls(certificate: &str, key: &str) -> Result<tokio_rustls::TlsAcceptor, String> {
    let read = |what: &str, value: &str| -> Result<Vec<u8>, String> {
        if value.contains("-----BEGIN") {
            Ok(value.as_bytes().to_vec())
        } else {
            std::fs::read(value).map_err(|e| {
                format!("tlsCertificate/tlsKey: cannot read the {what} file {value}: {e}")
            })
        }
    };
    let chain: Vec<_> = rustls_pemfile::certs(&mut &read("certificate", certificate)?[..])
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tlsCertificate: {e}"))?;
    if chain.is_empty() {
        return Err("tlsCertificate: no certificate in it".into());
    }
    let key = rustls_pemfile::private_key(&mut &read("key", key)?[..])
        .map_err(|e| format!("tlsKey: {e}"))?
        .ok_or("tlsKey: no private key in it")?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| format!("tlsCertificate/tlsKey: {e}"))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
