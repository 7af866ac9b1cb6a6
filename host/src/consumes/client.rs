//! The pooled HTTP client of one consumed namespace.
//!
//! Owns: TLS trust (webpki roots + the system store + an optional per-namespace CA
//! bundle for private PKI; `tls_config` is also the OTLP exporter's), HTTP/1.1 and
//! HTTP/2 (ALPN), connection pooling and the connect timeout. Must not touch: request
//! contents or routing decisions.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::RootCertStore;
use thiserror::Error;

use crate::tunnel::TunnelConnector;

pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;
/// A client whose connections are streams through a tunnel; TLS runs inside them.
pub type TunnelClient = Client<HttpsConnector<TunnelConnector>, Full<Bytes>>;

#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub connect_timeout: Duration,
    /// Idle pooled connections are closed after this long.
    pub pool_idle_timeout: Duration,
    pub pool_max_idle_per_host: usize,
    /// Also trust the operating system's certificate store.
    pub system_roots: bool,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            connect_timeout: Duration::from_secs(5),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 64,
            system_roots: true,
        }
    }
}

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read CA bundle {path}: {source}")]
    ReadBundle {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("CA bundle {path} holds no usable PEM certificate")]
    EmptyBundle { path: PathBuf },
    #[error("CA bundle {path}: {reason}")]
    BadCertificate { path: PathBuf, reason: String },
    #[error("TLS set-up failed: {0}")]
    Config(String),
}

/// The public roots (webpki, plus the system store when asked), read once per process
/// and shared by every client that adds no CA bundle of its own: public roots are the
/// same for every namespace and capability, and a host with hundreds of capabilities
/// would otherwise read the system store and keep a copy of it for each one.
fn public_roots(system_roots: bool) -> Arc<RootCertStore> {
    static WITH_SYSTEM: std::sync::OnceLock<Arc<RootCertStore>> = std::sync::OnceLock::new();
    static WEBPKI_ONLY: std::sync::OnceLock<Arc<RootCertStore>> = std::sync::OnceLock::new();
    let cell = if system_roots {
        &WITH_SYSTEM
    } else {
        &WEBPKI_ONLY
    };
    cell.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if system_roots {
            // A missing or partly unreadable system store is not fatal: webpki roots remain.
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
        Arc::new(roots)
    })
    .clone()
}

fn roots(
    settings: &ClientSettings,
    ca_bundle: Option<&PathBuf>,
) -> Result<Arc<RootCertStore>, TlsError> {
    let public = public_roots(settings.system_roots);
    let Some(path) = ca_bundle else {
        return Ok(public);
    };
    let mut roots = (*public).clone();
    add_bundle(&mut roots, path)?;
    Ok(Arc::new(roots))
}

fn add_bundle(roots: &mut RootCertStore, path: &Path) -> Result<(), TlsError> {
    let pem = std::fs::read(path).map_err(|source| TlsError::ReadBundle {
        path: path.into(),
        source,
    })?;
    let mut added = 0;
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| TlsError::BadCertificate {
            path: path.into(),
            reason: e.to_string(),
        })?;
        roots.add(cert).map_err(|e| TlsError::BadCertificate {
            path: path.into(),
            reason: e.to_string(),
        })?;
        added += 1;
    }
    if added == 0 {
        return Err(TlsError::EmptyBundle { path: path.into() });
    }
    Ok(())
}

/// The TLS set-up of every client the host makes (consumed APIs, and the OTLP
/// exporter's collector): ring, webpki roots, the system store when asked, and a
/// private CA bundle when given.
pub fn tls_config(
    settings: &ClientSettings,
    ca_bundle: Option<&PathBuf>,
) -> Result<rustls::ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots(settings, ca_bundle)?)
        .with_no_client_auth())
}

/// A client that keeps no idle connection: every request dials afresh (the retry of a
/// call whose pooled connection broke).
pub fn unpooled<C>(settings: &ClientSettings, connector: C) -> Client<C, Full<Bytes>>
where
    C: hyper_util::client::legacy::connect::Connect + Clone,
{
    let settings = ClientSettings {
        pool_max_idle_per_host: 0,
        ..settings.clone()
    };
    pooled(&settings, connector)
}

/// A client with a pool of its own over `connector` (callers make one per serving
/// thread, and a fresh set after an identity rotation, so no idle connection of the
/// old session is reused).
pub fn pooled<C>(settings: &ClientSettings, connector: C) -> Client<C, Full<Bytes>>
where
    C: hyper_util::client::legacy::connect::Connect + Clone,
{
    Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(settings.pool_idle_timeout)
        .pool_max_idle_per_host(settings.pool_max_idle_per_host)
        .build(connector)
}

/// The direct connector: TCP (TLS for https) straight to the baseUri's host. One per
/// namespace, shared by its per-thread pools (the TLS configuration is built once).
pub fn direct_connector(
    settings: &ClientSettings,
    ca_bundle: Option<&PathBuf>,
) -> Result<HttpsConnector<HttpConnector>, TlsError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(settings.connect_timeout));
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config(settings, ca_bundle)?)
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(http))
}

/// The direct client (one pool).
pub fn build(
    settings: &ClientSettings,
    ca_bundle: Option<&PathBuf>,
) -> Result<HttpClient, TlsError> {
    Ok(pooled(settings, direct_connector(settings, ca_bundle)?))
}

/// The connector of a tunnel client: the same TLS over streams dialed through
/// `connector`, so an `https` baseUri keeps its real hostname for SNI and certificate
/// checks.
pub fn tunnel_connector(
    settings: &ClientSettings,
    ca_bundle: Option<&PathBuf>,
    connector: TunnelConnector,
) -> Result<HttpsConnector<TunnelConnector>, TlsError> {
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config(settings, ca_bundle)?)
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(connector))
}
