//! A Ziti identity file: `{"ztAPI": "https://ctrl:1280", "id": {"cert", "key", "ca"}}`
//! with each of cert/key/ca as `pem:<PEM>`, `file://path` or a plain path; and the TLS
//! client configurations built from it (controller: mutual TLS; router: the same plus
//! ALPN `ziti-edge`), both trusting only `id.ca`.
//!
//! Owns: parsing and checking the identity (certificate validity dates included).
//! Must not touch: the network. Never echoes key material in an error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read the identity file {0}: {1}")]
    Read(String, String),
    #[error("the identity is not JSON: {0}")]
    Json(String),
    #[error("the identity has no {0}")]
    Missing(&'static str),
    #[error("identity {field}: cannot read {path}: {error}")]
    Material {
        field: &'static str,
        path: String,
        error: String,
    },
    #[error("identity {0}: no PEM {1} in it")]
    Pem(&'static str, &'static str),
    #[error("identity ztAPI '{0}' is not an https:// URL")]
    Url(String),
    #[error("identity id.cert/id.key cannot be used for TLS: {0}")]
    Tls(String),
}

/// What an identity file holds, parsed.
pub struct Identity {
    /// The controller's base URL (`https://host:port`), without a trailing slash.
    pub controller: String,
    pub(crate) certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    pub(crate) ca: Vec<CertificateDer<'static>>,
    /// The client certificate's validity, as UNIX seconds.
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
    pub(crate) subject: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("controller", &self.controller)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// The bound `tunnel.identity`: the identity JSON itself, or a path to it.
    pub fn load(value: &str) -> Result<Identity, IdentityError> {
        let value = value.trim();
        if value.starts_with('{') {
            Self::parse(value, None)
        } else {
            let path = value.strip_prefix("file://").unwrap_or(value);
            let text = std::fs::read_to_string(path)
                .map_err(|e| IdentityError::Read(path.to_string(), e.kind().to_string()))?;
            Self::parse(&text, Path::new(path).parent())
        }
    }

    /// Parse identity JSON; relative material paths resolve against `dir`.
    pub(crate) fn parse(text: &str, dir: Option<&Path>) -> Result<Identity, IdentityError> {
        let json: serde_json::Value =
            serde_json::from_str(text).map_err(|e| IdentityError::Json(e.to_string()))?;
        let controller = json
            .get("ztAPI")
            .and_then(|v| v.as_str())
            .ok_or(IdentityError::Missing("ztAPI"))?
            .trim_end_matches('/')
            .to_string();
        let parsed =
            url::Url::parse(&controller).map_err(|_| IdentityError::Url(controller.clone()))?;
        if parsed.scheme() != "https" || parsed.host_str().is_none() {
            return Err(IdentityError::Url(controller));
        }
        let id = json.get("id").ok_or(IdentityError::Missing("id"))?;
        let field = |name: &'static str, label: &'static str| -> Result<String, IdentityError> {
            let v = id
                .get(name)
                .and_then(|v| v.as_str())
                .ok_or(IdentityError::Missing(label))?;
            material(v, label, dir)
        };
        let cert_pem = field("cert", "id.cert")?;
        let key_pem = field("key", "id.key")?;
        let ca_pem = field("ca", "id.ca")?;
        let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_bytes())
            .filter_map(Result::ok)
            .collect();
        if certs.is_empty() {
            return Err(IdentityError::Pem("id.cert", "CERTIFICATE"));
        }
        let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
            .ok()
            .flatten()
            .ok_or(IdentityError::Pem("id.key", "PRIVATE KEY"))?;
        let ca: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut ca_pem.as_bytes())
            .filter_map(Result::ok)
            .collect();
        if ca.is_empty() {
            return Err(IdentityError::Pem("id.ca", "CERTIFICATE"));
        }
        let (not_before, not_after, subject) = validity(&certs[0])?;
        let identity = Identity {
            controller,
            certs,
            key,
            ca,
            not_before,
            not_after,
            subject,
        };
        // Fail now, not at the first handshake, when the key does not fit.
        identity.tls_config(&[])?;
        Ok(identity)
    }

    /// Why the certificate cannot be used now, if it cannot.
    pub fn validity_problem(&self, now: i64) -> Option<String> {
        let at = |t: i64| {
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64),
            )
            .to_string()
        };
        if now >= self.not_after {
            Some(format!(
                "the identity's certificate ({}) expired at {}",
                self.subject,
                at(self.not_after)
            ))
        } else if now < self.not_before {
            Some(format!(
                "the identity's certificate ({}) is not valid before {}",
                self.subject,
                at(self.not_before)
            ))
        } else {
            None
        }
    }

    /// A TLS client configuration: this identity's certificate, trusting `id.ca` only.
    pub fn tls_config(&self, alpn: &[&[u8]]) -> Result<Arc<ClientConfig>, IdentityError> {
        let mut roots = RootCertStore::empty();
        for c in &self.ca {
            roots
                .add(c.clone())
                .map_err(|e| IdentityError::Tls(format!("id.ca: {e}")))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| IdentityError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(self.certs.clone(), self.key.clone_key())
            // rustls's message can quote the key type, never the key.
            .map_err(|e| IdentityError::Tls(e.to_string()))?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

/// `pem:<PEM>`, `file://path` or a plain path (relative to the identity file's folder).
fn material(value: &str, field: &'static str, dir: Option<&Path>) -> Result<String, IdentityError> {
    if let Some(pem) = value.strip_prefix("pem:") {
        return Ok(pem.to_string());
    }
    if value.trim_start().starts_with("-----BEGIN") {
        return Ok(value.to_string());
    }
    let raw = value.strip_prefix("file://").unwrap_or(value);
    let mut path = PathBuf::from(raw);
    if path.is_relative() {
        if let Some(d) = dir {
            path = d.join(path);
        }
    }
    std::fs::read_to_string(&path).map_err(|e| IdentityError::Material {
        field,
        path: path.display().to_string(),
        error: e.kind().to_string(),
    })
}

fn validity(cert: &CertificateDer<'_>) -> Result<(i64, i64, String), IdentityError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| IdentityError::Tls(format!("id.cert is not an X.509 certificate: {e}")))?;
    let v = parsed.validity();
    Ok((
        v.not_before.timestamp(),
        v.not_after.timestamp(),
        parsed.subject().to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CA and a client identity signed by it, as PEM (ca, cert, key).
    fn make_identity_pems(not_after_year: i32) -> (String, String, String) {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "test ca");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "ikanos-test");
        params.not_after = rcgen::date_time_ymd(not_after_year, 1, 1);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (ca.pem(), cert.pem(), key.serialize_pem())
    }

    #[test]
    fn loads_pem_file_and_path_forms() {
        let (ca, cert, key) = make_identity_pems(2100);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), &ca).unwrap();
        std::fs::write(dir.path().join("key.pem"), &key).unwrap();
        let json = serde_json::json!({
            "ztAPI": "https://127.0.0.1:1280/",
            "id": {"cert": format!("pem:{cert}"), "key": "key.pem",
                   "ca": format!("file://{}", dir.path().join("ca.pem").display())}
        });
        let file = dir.path().join("id.json");
        std::fs::write(&file, json.to_string()).unwrap();
        let id = Identity::load(file.to_str().unwrap()).unwrap();
        assert_eq!(id.controller, "https://127.0.0.1:1280");
        assert!(id.subject.contains("ikanos-test"), "{}", id.subject);
        assert!(id.validity_problem(1_800_000_000).is_none());
        let expired = id.validity_problem(i64::from(u32::MAX) * 2).unwrap();
        assert!(expired.contains("expired at 2100-01-01"), "{expired}");
        // The JSON text itself works too (relative paths then need pem: forms).
        let inline = serde_json::json!({
            "ztAPI": "https://ctrl.example:1280",
            "id": {"cert": format!("pem:{cert}"), "key": format!("pem:{key}"), "ca": format!("pem:{ca}")}
        });
        assert!(Identity::load(&inline.to_string()).is_ok());
    }

    #[test]
    fn clear_errors_without_secrets() {
        let (ca, cert, key) = make_identity_pems(2100);
        let err = |v: serde_json::Value| Identity::load(&v.to_string()).unwrap_err().to_string();
        assert!(err(serde_json::json!({"id": {}})).contains("ztAPI"));
        assert!(err(serde_json::json!({"ztAPI": "http://x:1", "id": {}})).contains("https"));
        let e = err(
            serde_json::json!({"ztAPI": "https://x:1", "id": {"cert": format!("pem:{cert}"), "key": "/nonexistent/k.pem", "ca": format!("pem:{ca}")}}),
        );
        assert!(
            e.contains("id.key") && e.contains("/nonexistent/k.pem"),
            "{e}"
        );
        let e = err(
            serde_json::json!({"ztAPI": "https://x:1", "id": {"cert": format!("pem:{cert}"), "key": "pem:garbage", "ca": format!("pem:{ca}")}}),
        );
        assert!(e.contains("id.key"), "{e}");
        // A key that does not match: never quoted.
        let (_, _, other_key) = make_identity_pems(2100);
        let r = Identity::load(&serde_json::json!({"ztAPI": "https://x:1", "id": {"cert": format!("pem:{cert}"), "key": format!("pem:{other_key}"), "ca": format!("pem:{ca}")}}).to_string());
        if let Err(e) = r {
            assert!(!e.to_string().contains("PRIVATE KEY"), "{e}");
        }
        let _ = key;
        assert!(Identity::load("/nonexistent/identity.json")
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/identity.json"));
    }
}
