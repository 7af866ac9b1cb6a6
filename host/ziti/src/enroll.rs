//! `ikanos ziti enroll`: a one-time enrollment token (JWT) → a new key, a CSR with
//! CN = the identity id, the certificate the controller signs → an identity file.
//!
//! Owns: reading and verifying the JWT (its signature against the controller's TLS
//! certificate, which is then pinned for the rest of the exchange), the CA bundle from
//! `/.well-known/est/cacerts` (PKCS#7), the key and CSR, the identity JSON.
//! Must not touch: the tunnel at run time. Only the `ott` method (no `ottca`/`ca`
//! third-party CA enrollment yet).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

const TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("the enrollment token is not a JWT: {0}")]
    Jwt(String),
    #[error("enrollment method '{0}' is not supported yet (only 'ott')")]
    Method(String),
    #[error("the enrollment token's signature does not verify against controller {0}'s certificate: {1}")]
    Signature(String, String),
    #[error("controller {0}: {1}")]
    Controller(String, String),
    #[error("making the key or the CSR: {0}")]
    Csr(String),
}

/// The claims that matter.
#[derive(Debug)]
pub(crate) struct Claims {
    pub controller: String,
    pub identity_id: String,
    pub token: String,
    pub method: String,
    pub expires: Option<i64>,
}

fn b64(part: &str) -> Result<Vec<u8>, EnrollError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|e| EnrollError::Jwt(e.to_string()))
}

/// Split and decode a JWT: (algorithm, claims, signed part, signature).
pub(crate) fn parse_jwt(jwt: &str) -> Result<(String, Claims, String, Vec<u8>), EnrollError> {
    let jwt = jwt.trim();
    let mut parts = jwt.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(EnrollError::Jwt(
            "expected three dot-separated parts".into(),
        ));
    };
    let header: serde_json::Value =
        serde_json::from_slice(&b64(h)?).map_err(|e| EnrollError::Jwt(e.to_string()))?;
    let claims: serde_json::Value =
        serde_json::from_slice(&b64(p)?).map_err(|e| EnrollError::Jwt(e.to_string()))?;
    let text = |k: &str| {
        claims
            .get(k)
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or_else(|| EnrollError::Jwt(format!("claim '{k}' missing")))
    };
    let alg = header
        .get("alg")
        .and_then(|v| v.as_str())
        .unwrap_or("none")
        .to_string();
    Ok((
        alg,
        Claims {
            controller: text("iss")?.trim_end_matches('/').to_string(),
            identity_id: text("sub")?,
            token: text("jti")?,
            method: text("em")?,
            expires: claims.get("exp").and_then(|v| v.as_i64()),
        },
        format!("{h}.{p}"),
        b64(s)?,
    ))
}

/// Check a JWT signature with the public key of `cert` (ES256/ES384/RS256…).
pub(crate) fn verify_signature(
    alg: &str,
    signed: &str,
    sig: &[u8],
    cert: &[u8],
) -> Result<(), String> {
    use ring::signature as sig_alg;
    let (_, parsed) =
        x509_parser::parse_x509_certificate(cert).map_err(|e| format!("bad certificate: {e}"))?;
    let key = parsed.public_key().subject_public_key.data.to_vec();
    let algorithm: &dyn sig_alg::VerificationAlgorithm = match alg {
        "ES256" => &sig_alg::ECDSA_P256_SHA256_FIXED,
        "ES384" => &sig_alg::ECDSA_P384_SHA384_FIXED,
        "RS256" => &sig_alg::RSA_PKCS1_2048_8192_SHA256,
        "RS384" => &sig_alg::RSA_PKCS1_2048_8192_SHA384,
        "RS512" => &sig_alg::RSA_PKCS1_2048_8192_SHA512,
        "PS256" => &sig_alg::RSA_PSS_2048_8192_SHA256,
        "EdDSA" => &sig_alg::ED25519,
        other => return Err(format!("algorithm '{other}' is not accepted")),
    };
    sig_alg::UnparsedPublicKey::new(algorithm, key)
        .verify(signed.as_bytes(), sig)
        .map_err(|_| "bad signature".to_string())
}

/// The certificates of a PKCS#7 "certs-only" SignedData (what EST `cacerts` returns).
pub(crate) fn pkcs7_certificates(der: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    /// (tag, content, whole TLV length).
    fn tlv(b: &[u8]) -> Result<(u8, &[u8], usize), String> {
        let short = || "truncated DER".to_string();
        let tag = *b.first().ok_or_else(short)?;
        let first = *b.get(1).ok_or_else(short)?;
        let (len, head) = if first < 0x80 {
            (first as usize, 2)
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 {
                return Err("unsupported DER length".into());
            }
            let bytes = b.get(2..2 + n).ok_or_else(short)?;
            (
                bytes.iter().fold(0usize, |a, x| (a << 8) | *x as usize),
                2 + n,
            )
        };
        let content = b.get(head..head + len).ok_or_else(short)?;
        Ok((tag, content, head + len))
    }
    let (tag, content_info, _) = tlv(der)?;
    if tag != 0x30 {
        return Err("not a PKCS#7 ContentInfo".into());
    }
    let (_, _, oid_len) = tlv(content_info)?; // contentType
    let (tag, explicit, _) = tlv(&content_info[oid_len..])?;
    if tag != 0xA0 {
        return Err("PKCS#7 without content".into());
    }
    let (_, signed_data, _) = tlv(explicit)?;
    let mut rest = signed_data;
    while !rest.is_empty() {
        let (tag, content, len) = tlv(rest)?;
        if tag == 0xA0 {
            let mut certs = Vec::new();
            let mut c = content;
            while !c.is_empty() {
                let (_, _, l) = tlv(c)?;
                certs.push(c[..l].to_vec());
                c = &c[l..];
            }
            return Ok(certs);
        }
        rest = &rest[len..];
    }
    Err("PKCS#7 SignedData holds no certificates".into())
}

/// Accepts the first certificate it sees and records it, then only that one: the
/// controller's certificate is trusted because the token's signature verifies with it.
#[derive(Debug)]
struct PinFirst(Mutex<Option<Vec<u8>>>);

impl ServerCertVerifier for PinFirst {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut pinned = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match pinned.as_ref() {
            None => {
                *pinned = Some(end_entity.as_ref().to_vec());
                Ok(ServerCertVerified::assertion())
            }
            Some(p) if p.as_slice() == end_entity.as_ref() => Ok(ServerCertVerified::assertion()),
            Some(_) => Err(rustls::Error::General(
                "the controller's certificate changed during enrollment".into(),
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

type Https = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

struct Pinned {
    base: String,
    pin: Arc<PinFirst>,
    client: hyper_util::client::legacy::Client<Https, Full<Bytes>>,
}

impl Pinned {
    fn new(base: &str) -> Result<Pinned, EnrollError> {
        let pin = Arc::new(PinFirst(Mutex::new(None)));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| EnrollError::Controller(base.into(), e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(pin.clone())
            .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_only()
            .enable_http1()
            .build();
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_max_idle_per_host(0)
                .build(https);
        Ok(Pinned {
            base: base.to_string(),
            pin,
            client,
        })
    }

    async fn call(
        &self,
        method: http::Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<(u16, Bytes), EnrollError> {
        let err = |e: String| EnrollError::Controller(self.base.clone(), e);
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(ct) = content_type {
            req = req.header(http::header::CONTENT_TYPE, ct);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| err(e.to_string()))?;
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| err(e.to_string()))?;
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| err(e.to_string()))?
                .to_bytes();
            Ok::<_, EnrollError>((status, bytes))
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| err(format!("no answer within {TIMEOUT:?}")))?
    }

    fn leaf(&self) -> Option<Vec<u8>> {
        self.pin.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Enroll with a one-time token; returns the identity file's JSON text.
pub async fn enroll(jwt: &str) -> Result<String, EnrollError> {
    let (alg, claims, signed, signature) = parse_jwt(jwt)?;
    if claims.method != "ott" {
        return Err(EnrollError::Method(claims.method));
    }
    if let Some(exp) = claims.expires {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        if exp < now {
            return Err(EnrollError::Jwt("the enrollment token has expired".into()));
        }
    }
    let controller = Pinned::new(&claims.controller)?;
    // The first request records the controller's certificate; the token must be signed
    // by its key before anything is trusted or sent.
    let (status, cacerts) = controller
        .call(
            http::Method::GET,
            "/.well-known/est/cacerts",
            None,
            Vec::new(),
        )
        .await?;
    let leaf = controller.leaf().ok_or_else(|| {
        EnrollError::Controller(claims.controller.clone(), "no TLS certificate seen".into())
    })?;
    verify_signature(&alg, &signed, &signature, &leaf)
        .map_err(|e| EnrollError::Signature(claims.controller.clone(), e))?;
    if status != 200 {
        return Err(EnrollError::Controller(
            claims.controller.clone(),
            format!("GET /.well-known/est/cacerts answered {status}"),
        ));
    }
    let b64: String = String::from_utf8_lossy(&cacerts)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| {
            EnrollError::Controller(
                claims.controller.clone(),
                format!("cacerts is not base64: {e}"),
            )
        })?;
    let ca_pem: String = pkcs7_certificates(&der)
        .map_err(|e| EnrollError::Controller(claims.controller.clone(), format!("cacerts: {e}")))?
        .iter()
        .map(|c| pem("CERTIFICATE", c))
        .collect();

    let key = rcgen::KeyPair::generate().map_err(|e| EnrollError::Csr(e.to_string()))?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| EnrollError::Csr(e.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, claims.identity_id.clone());
    let csr = params
        .serialize_request(&key)
        .and_then(|r| r.pem())
        .map_err(|e| EnrollError::Csr(e.to_string()))?;
    let path = format!(
        "{}/enroll?method=ott&token={}",
        super::controller::DEFAULT_EDGE_PATH,
        percent_encoding::utf8_percent_encode(&claims.token, percent_encoding::NON_ALPHANUMERIC)
    );
    let (status, body) = controller
        .call(
            http::Method::POST,
            &path,
            Some("application/x-pem-file"),
            csr.into_bytes(),
        )
        .await?;
    let text = String::from_utf8_lossy(&body).to_string();
    if !(200..300).contains(&status) {
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| {
                v.pointer("/error/message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| text.chars().take(200).collect());
        return Err(EnrollError::Controller(
            claims.controller.clone(),
            format!("enroll answered {status}: {message}"),
        ));
    }
    // Newer controllers wrap the certificate in the envelope; older ones send PEM.
    let cert = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => v
            .pointer("/data/cert")
            .and_then(|c| c.as_str())
            .map(str::to_string)
            .ok_or_else(|| {
                EnrollError::Controller(
                    claims.controller.clone(),
                    "enroll answer has no data.cert".into(),
                )
            })?,
        Err(_) => text,
    };
    if !cert.contains("-----BEGIN CERTIFICATE-----") {
        return Err(EnrollError::Controller(
            claims.controller.clone(),
            "enroll answer holds no PEM certificate".into(),
        ));
    }
    let identity = serde_json::json!({
        "ztAPI": claims.controller,
        "id": {
            "cert": format!("pem:{cert}"),
            "key": format!("pem:{}", key.serialize_pem()),
            "ca": format!("pem:{ca_pem}"),
        }
    });
    Ok(serde_json::to_string_pretty(&identity).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt_signed_by(key: &rcgen::KeyPair, claims: serde_json::Value) -> String {
        let e = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let header = e(br#"{"alg":"ES256","typ":"JWT"}"#);
        let body = e(claims.to_string().as_bytes());
        let signing = format!("{header}.{body}");
        let rng = ring::rand::SystemRandom::new();
        let pair = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &key.serialize_der(),
            &rng,
        )
        .unwrap();
        let sig = pair.sign(&rng, signing.as_bytes()).unwrap();
        format!("{signing}.{}", e(sig.as_ref()))
    }

    #[test]
    fn jwt_claims_and_signature_against_the_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let jwt = jwt_signed_by(
            &key,
            serde_json::json!({"iss": "https://127.0.0.1:1280/", "sub": "id-1", "jti": "tok", "em": "ott"}),
        );
        let (alg, claims, signed, sig) = parse_jwt(&jwt).unwrap();
        assert_eq!(
            (alg.as_str(), claims.identity_id.as_str()),
            ("ES256", "id-1")
        );
        assert_eq!(claims.controller, "https://127.0.0.1:1280");
        verify_signature(&alg, &signed, &sig, cert.der()).unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        let other_cert = rcgen::CertificateParams::new(vec!["x".into()])
            .unwrap()
            .self_signed(&other)
            .unwrap();
        assert!(verify_signature(&alg, &signed, &sig, other_cert.der()).is_err());
        assert!(verify_signature("none", &signed, &sig, cert.der()).is_err());
        assert!(parse_jwt("a.b").is_err());
    }

    #[test]
    fn certificates_out_of_pkcs7() {
        // A certs-only SignedData built by hand around two certificates.
        let certs: Vec<Vec<u8>> = (0..2)
            .map(|i| {
                let k = rcgen::KeyPair::generate().unwrap();
                rcgen::CertificateParams::new(vec![format!("ca{i}")])
                    .unwrap()
                    .self_signed(&k)
                    .unwrap()
                    .der()
                    .to_vec()
            })
            .collect();
        fn wrap(tag: u8, content: &[u8]) -> Vec<u8> {
            let mut out = vec![tag];
            let len = content.len();
            if len < 0x80 {
                out.push(len as u8);
            } else {
                out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
            }
            out.extend_from_slice(content);
            out
        }
        let signed_data = [
            wrap(0x02, &[1]),
            wrap(0x31, &[]),
            wrap(
                0x30,
                &wrap(
                    0x06,
                    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01],
                ),
            ),
            wrap(0xA0, &certs.concat()),
            wrap(0x31, &[]),
        ]
        .concat();
        let content_info = wrap(
            0x30,
            &[
                wrap(
                    0x06,
                    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02],
                ),
                wrap(0xA0, &wrap(0x30, &signed_data)),
            ]
            .concat(),
        );
        assert_eq!(pkcs7_certificates(&content_info).unwrap(), certs);
        assert!(pkcs7_certificates(&content_info[..20]).is_err());
    }
}
