//! A private CA made for one test, and a server certificate it signs: what an HTTPS
//! upstream or an HTTPS OTLP collector in a test presents, and what the host under
//! test must be told to trust (the CA's PEM).

use std::sync::Arc;

/// A CA that no system trusts, and a TLS acceptor whose certificate it signed.
pub struct PrivateCa {
    /// The CA certificate, PEM: the bundle the host is given.
    pub ca_pem: String,
    pub acceptor: tokio_rustls::TlsAcceptor,
}

impl PrivateCa {
    /// A server certificate for `hostname`, offering `alpn` protocols.
    pub fn server(hostname: &str, alpn: &[&[u8]]) -> PrivateCa {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec![hostname.to_string()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
            )
            .unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        PrivateCa {
            ca_pem: ca_cert.pem(),
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        }
    }
}
