//! A private CA made for one test, and a server certificate it signs: what an HTTPS
//! upstream or an HTTPS OTLP collector in a test presents, and what the host under
//! test must be told to trust (the CA's PEM).

use std::sync::Arc;

/// A CA that no system trusts, and a TLS acceptor whose certificate it signed.
pub struct PrivateCa {
    /// The CA certificate, PEM: the bundle the host is given.
    pub ca_pem: String,
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// The server certificate and its private key, PEM (for servers the test does not
    /// run itself).
    pub leaf_pem: String,
    pub key_pem: String,
}

impl PrivateCa {
    /// A server certificate for `hostname`, offering `alpn` protocols.
    pub fn server(hostname: &str, alpn: &[&[u8]]) -> PrivateCa {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // What OpenSSL-based clients (rathole's native-tls) insist on: a CA with its own
        // name (rcgen names every certificate alike, and OpenSSL then takes the leaf
        // for self-signed) and key usages.
        ca_params.distinguished_name = rcgen::DistinguishedName::new();
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "ikanos test CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf_params = CertificateParams::new(vec![hostname.to_string()]).unwrap();
        leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        leaf_params.distinguished_name = rcgen::DistinguishedName::new();
        leaf_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, hostname);
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
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
            leaf_pem: leaf.pem(),
            key_pem: leaf_key.serialize_pem(),
        }
    }
}
