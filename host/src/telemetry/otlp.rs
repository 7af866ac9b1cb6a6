//! The OTLP/HTTP span exporter: where spans go, in which encoding, over what TLS.
//!
//! Owns: the endpoint in force — `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) or
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (plus `/v1/traces`) win over the file's
//! `exporters.otlp.endpoint` (plus `/v1/traces`), as upstream's OpenTelemetry
//! autoconfiguration lets the environment override the file; the encoding
//! (`OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf`, default, or `http/json`); and TLS
//! for `https` collectors: webpki and system roots, plus a private CA from
//! `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE` / `OTEL_EXPORTER_OTLP_CERTIFICATE` (the
//! standard variables; upstream's file format has no key for one). Must not touch:
//! what spans contain. An endpoint is shown as scheme, host and port only.

use std::path::PathBuf;
use std::time::Duration;

use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};

use crate::consumes::{ClientSettings, TlsError};

/// How long one export may take before the batch processor moves on.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The collector spans go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The full URL spans are POSTed to (`…/v1/traces`).
    url: String,
    /// Where it was set: the variable's name, or `file:line:col: KEY` of the file's
    /// key.
    pub origin: String,
}

impl Endpoint {
    /// The file's `exporters.otlp.endpoint`, rendered (binds substituted) and checked;
    /// `origin` is `file:line:col: KEY`. The reason of a refusal never repeats
    /// the value, which may come from a bind.
    pub fn from_file(rendered: &str, origin: String) -> Result<Endpoint, OtlpError> {
        ikanos_spec::model::check_otlp_endpoint(rendered).map_err(|why| OtlpError::Endpoint {
            origin: origin.clone(),
            why,
        })?;
        Ok(Endpoint {
            url: traces_url(rendered),
            origin,
        })
    }

    /// `scheme://host:port`, for logs.
    pub fn shown(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(u) => format!(
                "{}://{}:{}",
                u.scheme(),
                u.host_str().unwrap_or(""),
                u.port_or_known_default().unwrap_or(0)
            ),
            Err(_) => "(unparsable endpoint)".into(),
        }
    }
}

/// `base` + `/v1/traces`, as OTLP/HTTP exporters build the traces URL from the
/// generic endpoint.
fn traces_url(base: &str) -> String {
    format!("{}/v1/traces", base.trim_end_matches('/'))
}

#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("{origin} {why}")]
    Endpoint { origin: String, why: &'static str },
    #[error("OTEL_EXPORTER_OTLP_PROTOCOL '{0}' is not supported (use http/protobuf or http/json: this host exports OTLP over HTTP)")]
    Protocol(String),
    #[error("{var}: {source}")]
    Certificate {
        var: &'static str,
        #[source]
        source: TlsError,
    },
    #[error("cannot set up the OTLP exporter: {0}")]
    Exporter(String),
}

fn env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// The endpoint the environment sets, if any.
pub fn from_env() -> Result<Option<Endpoint>, OtlpError> {
    const SIGNAL: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
    const GENERIC: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
    let (var, url) = if let Some(v) = env(SIGNAL) {
        (SIGNAL, v)
    } else if let Some(v) = env(GENERIC) {
        let url = traces_url(&v);
        (GENERIC, url)
    } else {
        return Ok(None);
    };
    ikanos_spec::model::check_otlp_endpoint(&url).map_err(|why| OtlpError::Endpoint {
        origin: var.into(),
        why,
    })?;
    Ok(Some(Endpoint {
        url,
        origin: var.into(),
    }))
}

/// The encoding `OTEL_EXPORTER_OTLP_PROTOCOL` asks for.
fn protocol() -> Result<Protocol, OtlpError> {
    match env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .as_deref()
    {
        None | Some("http/protobuf") => Ok(Protocol::HttpBinary),
        Some("http/json") => Ok(Protocol::HttpJson),
        Some(other) => Err(OtlpError::Protocol(other.into())),
    }
}

/// The private CA the environment names for the collector, if any.
fn private_ca() -> Option<(&'static str, PathBuf)> {
    [
        "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
    ]
    .into_iter()
    .find_map(|var| env(var).map(|path| (var, PathBuf::from(path))))
}

/// The exporter for `endpoint`. Its HTTP client is blocking because the SDK's batch
/// processor exports from a thread of its own, outside tokio; TLS is the host's own
/// rustls set-up (ring), as for consumed APIs.
pub fn exporter(endpoint: &Endpoint) -> Result<opentelemetry_otlp::SpanExporter, OtlpError> {
    let protocol = protocol()?;
    let ca = private_ca();
    let tls = crate::consumes::tls_config(
        &ClientSettings::default(),
        ca.as_ref().map(|(_, path)| path),
    )
    .map_err(|source| OtlpError::Certificate {
        var: ca.as_ref().map_or("OTLP exporter TLS", |(var, _)| var),
        source,
    })?;
    let client = reqwest::blocking::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| OtlpError::Exporter(e.to_string()))?;
    opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(protocol)
        .with_endpoint(endpoint.url.clone())
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| OtlpError::Exporter(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_endpoint_is_the_collectors_base_url() {
        let e = Endpoint::from_file("https://otel.example.com:4318/", "f.yaml:3:4".into()).unwrap();
        assert_eq!(e.url, "https://otel.example.com:4318/v1/traces");
        assert_eq!(e.shown(), "https://otel.example.com:4318");
        let e = Endpoint::from_file("http://collector/otlp", "f.yaml:3:4".into()).unwrap();
        assert_eq!(e.url, "http://collector/otlp/v1/traces");
        assert_eq!(e.shown(), "http://collector:80");
    }

    #[test]
    fn a_bad_endpoint_is_refused_at_its_origin_without_its_value() {
        for bad in [
            "grpc://collector:4317",
            "collector:4318",
            "https://user:s3cr3t@collector:4318",
            "http://collector:4318/?token=s3cr3t",
        ] {
            let e = Endpoint::from_file(bad, "f.yaml:3:4: endpoint".into()).unwrap_err();
            let msg = e.to_string();
            assert!(msg.starts_with("f.yaml:3:4: endpoint "), "{msg}");
            assert!(!msg.contains("s3cr3t") && !msg.contains(bad), "{msg}");
        }
    }
}
