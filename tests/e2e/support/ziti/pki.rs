//! The test network's own certificate authority (rcgen): one CA per `ZitiTestNet`,
//! server certificates for the controller and the router (127.0.0.1 and localhost),
//! client certificates for identities, and certificates for enrollment CSRs.
//!
//! Owns key material only; knows nothing about identities, services or the wire.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate and its private key, in the forms the tests and servers need.
#[derive(Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl Issued {
    pub fn rustls_chain(&self) -> Vec<CertificateDer<'static>> {
        vec![CertificateDer::from(self.cert_der.clone())]
    }
    pub fn rustls_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::try_from(self.key_der.clone()).expect("a PKCS#8 key")
    }

    /// An RS256 signature (RSASSA-PKCS1-v1_5, SHA-256) with this certificate's RSA
    /// key (see `Pki::server_rsa`).
    pub fn sign_rs256(&self, msg: &[u8]) -> Vec<u8> {
        let rng = ring::rand::SystemRandom::new();
        let key =
            ring::signature::RsaKeyPair::from_pkcs8(&self.key_der).expect("an RSA PKCS#8 key");
        let mut sig = vec![0u8; key.public().modulus_len()];
        key.sign(&ring::signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig)
            .expect("signing");
        sig
    }
}

pub struct Pki {
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
    ca_der: Vec<u8>,
}

/// Certificate parameters for a loopback server (127.0.0.1 and localhost) named
/// `common_name`.
fn server_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("server params");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let key = KeyPair::generate().expect("a CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("self-signing the CA");
        Pki {
            ca_pem: cert.pem(),
            ca_der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
        }
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// A server certificate for 127.0.0.1 and localhost.
    pub fn server(&self, common_name: &str) -> Issued {
        let mut params = server_params(common_name);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        self.sign(params)
    }

    /// A server certificate like `server`, with an RSA key: the controller's, because
    /// SDKs verify enrollment JWTs against it and libziti 0.29.3 (mbedtls
    /// `pk_verify`) checks EC signatures only in DER form while JWS ES256 is r || s;
    /// an RS256 signature means the same to both.
    pub fn server_rsa(&self, common_name: &str) -> Issued {
        let mut params = server_params(common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::from_pem_and_sign_algo(rsa_key_pem(), &rcgen::PKCS_RSA_SHA256)
            .expect("the RSA key");
        self.sign_with(params, key)
    }

    /// A client certificate whose common name is the identity's id, as the real
    /// controller issues them.
    pub fn client(&self, identity_id: &str) -> Issued {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params
            .distinguished_name
            .push(DnType::CommonName, identity_id);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    /// A client certificate valid only during 2020 (so expired).
    pub fn client_expired(&self, identity_id: &str) -> Issued {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params
            .distinguished_name
            .push(DnType::CommonName, identity_id);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Issued {
        self.sign_with(params, KeyPair::generate().expect("a leaf key"))
    }

    fn sign_with(&self, params: CertificateParams, key: KeyPair) -> Issued {
        let cert = params.signed_by(&key, &self.issuer).expect("signing");
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        }
    }

    /// Sign a client certificate for a PEM CSR (enrollment), with the identity id as
    /// its common name whatever the CSR asked for; the CSR's own signature must hold.
    /// Returns (PEM, DER). Read with x509-parser rather than rcgen's CSR support, which
    /// refuses the extensions libziti's CSRs carry.
    pub fn sign_csr(&self, csr_pem: &str, identity_id: &str) -> Result<(String, Vec<u8>), String> {
        use x509_parser::prelude::FromDer;
        let der = match rustls_pemfile::read_one(&mut csr_pem.as_bytes()) {
            Ok(Some(rustls_pemfile::Item::Csr(der))) => der,
            _ => return Err("the body is not a PEM certificate request".into()),
        };
        let (_, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(&der)
            .map_err(|e| format!("the CSR does not parse: {e}"))?;
        csr.verify_signature()
            .map_err(|e| format!("the CSR's signature does not verify: {e}"))?;
        let spki =
            rcgen::SubjectPublicKeyInfo::from_der(csr.certification_request_info.subject_pki.raw)
                .map_err(|e| format!("the CSR's public key is not usable: {e}"))?;
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params
            .distinguished_name
            .push(DnType::CommonName, identity_id);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params
            .signed_by(&spki, &self.issuer)
            .map_err(|e| format!("signing the CSR failed: {e}"))?;
        Ok((cert.pem(), cert.der().to_vec()))
    }
}

/// One 2048-bit RSA key per test process, from `openssl genpkey` (ring cannot make
/// RSA keys; scripts/setup installs openssl).
fn rsa_key_pem() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let out = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .output()
            .expect("running openssl genpkey (scripts/setup installs openssl)");
        assert!(
            out.status.success(),
            "openssl genpkey failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("PEM text")
    })
}
