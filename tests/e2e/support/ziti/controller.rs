//! The test controller: the OpenZiti edge client REST API (legacy API sessions) over
//! HTTPS with optional client certificates, on loopback. Every response carries the
//! `{data, meta, error}` envelope and a `ziti-instance-id` header, as the real one's.
//!
//! Routes, each at the root and under `/edge/client/v1`: `GET /version`,
//! `POST /authenticate?method=cert` (mutual TLS), `GET|DELETE /current-api-session`,
//! `GET /current-api-session/service-updates`, `GET /current-identity`,
//! `GET /current-identity/edge-routers`, `GET /services` (`filter=name="…"`, paging),
//! `POST /sessions` and `GET /sessions`, `POST /enroll?method=ott&token=…` (CSR in,
//! certificate out) and `GET /.well-known/est/cacerts` (PKCS#7, base64).
//!
//! Owns the REST surface only: the data and its rules are model.rs's.

use super::http::{self, Request, Response};
use super::model::{Model, Permission, Refusal};
use super::Shared;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub const EDGE_CLIENT_PREFIX: &str = "/edge/client/v1";
const UNAUTHORIZED_MSG: &str =
    "The request could not be completed. The session is not authorized or the credentials are invalid";

/// Serve one accepted TLS connection until it closes.
pub async fn serve_connection(
    shared: Arc<Shared>,
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
) {
    let peer_cert: Option<Vec<u8>> = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec());
    http::serve(tls, move |req| handle(&shared, &req, peer_cert.as_deref())).await;
}

pub fn handle(shared: &Shared, req: &Request, peer_cert: Option<&[u8]>) -> Response {
    let mut model = shared.model.lock().unwrap();
    model.observed.requests.push(request_line(req));
    let path = req.path();
    let path = path.strip_prefix(EDGE_CLIENT_PREFIX).unwrap_or(path);
    let path = if path.is_empty() { "/" } else { path };
    let mut resp = route(shared, &mut model, req, path, peer_cert);
    resp.headers
        .push(("ziti-instance-id".into(), shared.instance_id.clone()));
    resp
}

/// How a request is logged: `METHOD target`, and for a new service session its type
/// (`POST /edge/client/v1/sessions Dial`), so a test can count the dialing side's
/// without the hosting side's (libziti binding again).
fn request_line(req: &Request) -> String {
    let mut line = format!("{} {}", req.method, req.target);
    if req.method == "POST" && req.path().ends_with("/sessions") {
        if let Ok(body) = serde_json::from_slice::<Value>(&req.body) {
            if let Some(kind) = body["type"].as_str() {
                line.push(' ');
                line.push_str(kind);
            }
        }
    }
    line
}

fn route(
    shared: &Shared,
    model: &mut Model,
    req: &Request,
    path: &str,
    peer: Option<&[u8]>,
) -> Response {
    match (req.method.as_str(), path) {
        ("GET", "/" | "/version") => ok(version(shared)),
        ("POST", "/authenticate") => authenticate(model, req, peer),
        ("POST", "/enroll") => enroll(shared, model, req),
        ("GET", "/.well-known/est/cacerts") => Response::new(
            200,
            "application/pkcs7-mime",
            pkcs7_certs_only_base64(shared.pki.ca_der()),
        ),
        (method, path) => {
            // Everything else needs a live API session.
            let token = req.header("zt-session").unwrap_or("").to_string();
            let session = match model.live_api_session(&token) {
                Ok(s) => s.clone(),
                Err(_) => return error(401, "UNAUTHORIZED", UNAUTHORIZED_MSG),
            };
            // As on the real controller, an API session expires after a period
            // without activity: each authenticated request extends it.
            let ttl = model.api_session_ttl;
            if let Some(s) = model.api_sessions.get_mut(&token) {
                s.expires_at = SystemTime::now() + ttl;
            }
            match (method, path) {
                ("GET", "/current-api-session") => ok(api_session_json(model, &session.token)),
                ("DELETE", "/current-api-session") => {
                    model.api_sessions.remove(&session.token);
                    model
                        .sessions
                        .retain(|_, s| s.api_session_token != session.token);
                    shared.sessions_changed();
                    ok(json!({}))
                }
                ("GET", "/current-api-session/service-updates") => {
                    ok(json!({ "lastChangeAt": time(model.last_change) }))
                }
                ("GET", "/current-identity") => {
                    let i = &model.identities[&session.identity_id];
                    ok(json!({
                        "id": i.id, "name": i.name, "type": {"id": "Default", "name": "Default"},
                        "appData": {}, "isAdmin": false, "isDefaultAdmin": false, "disabled": false,
                        "defaultHostingPrecedence": "default", "defaultHostingCost": 0,
                        "serviceHostingPrecedences": {}, "serviceHostingCosts": {},
                    }))
                }
                ("GET", "/current-identity/edge-routers") => list(req, edge_routers_json(shared)),
                ("GET", "/services") => services(model, req, &session.identity_id),
                ("POST", "/sessions") => create_session(shared, model, req, &session.token),
                ("GET", "/sessions") => {
                    let items = model
                        .sessions
                        .values()
                        .filter(|s| s.api_session_token == session.token)
                        .map(|s| session_json(shared, model, &s.token))
                        .collect();
                    list(req, items)
                }
                _ => error(404, "NOT_FOUND", &format!("no route for {method} {path}")),
            }
        }
    }
}

fn version(shared: &Shared) -> Value {
    let base = shared.controller_url();
    json!({
        "version": "v0.0.0-ikanos-test", "revision": "test", "buildDate": "2026-11-25 00:00:00",
        "runtimeVersion": "test", "capabilities": [],
        "apiVersions": {
            "edge": {"v1": {"path": EDGE_CLIENT_PREFIX, "apiBaseUrls": [format!("{base}{EDGE_CLIENT_PREFIX}")]}},
            "edge-client": {"v1": {"path": EDGE_CLIENT_PREFIX, "apiBaseUrls": [format!("{base}{EDGE_CLIENT_PREFIX}")]}}
        }
    })
}

fn authenticate(model: &mut Model, req: &Request, peer: Option<&[u8]>) -> Response {
    if req.query("method").as_deref() != Some("cert") {
        return error(
            400,
            "INVALID_AUTH_METHOD",
            "only method=cert is supported here",
        );
    }
    let Some(cert) = peer else {
        return invalid_auth("no client certificate was presented");
    };
    // Only certificates this network issued (so signed by its CA) are known.
    let Some(identity) = model.identity_by_cert(cert).cloned() else {
        return invalid_auth("the client certificate belongs to no identity");
    };
    if identity.revoked {
        return invalid_auth("the identity is revoked");
    }
    if let Some(why) = outside_validity(cert) {
        return invalid_auth(&why);
    }
    let token = model.open_api_session(&identity.id);
    ok(api_session_json(model, &token))
}

fn api_session_json(model: &Model, token: &str) -> Value {
    let s = &model.api_sessions[token];
    let i = &model.identities[&s.identity_id];
    let remaining = s
        .expires_at
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
        .as_secs();
    json!({
        "id": s.id, "token": s.token,
        "identity": {"id": i.id, "name": i.name, "entity": "identities", "_links": {}},
        "identityId": i.id,
        "createdAt": time(s.created_at), "updatedAt": time(s.created_at),
        "expiresAt": time(s.expires_at), "expirationSeconds": remaining,
        "cachedLastActivityAt": time(SystemTime::now()),
        "lastActivityAt": time(SystemTime::now()),
        "authQueries": [], "isMfaComplete": false, "isMfaRequired": false,
        "configTypes": [], "authenticatorId": format!("auth-{}", i.id),
    })
}

/// Every edge router, in the order they were added, with its cost and whether it is
/// connected to the controller now (a real controller reports `isOnline: false` once
/// a router disconnects, and keeps listing it).
fn edge_routers_json(shared: &Shared) -> Vec<Value> {
    use std::sync::atomic::Ordering;
    shared
        .router_nodes()
        .iter()
        .map(|r| {
            let url = r.url();
            let online = r.online.load(Ordering::SeqCst);
            json!({
                "name": r.name, "hostname": "127.0.0.1",
                "isOnline": online,
                "cost": r.cost.load(Ordering::SeqCst),
                "noTraversal": false, "disabled": false,
                "supportedProtocols": {"tls": url}, "urls": {"tls": url},
                "syncStatus": if online { "SYNC_DONE" } else { "SYNC_DISCONNECTED" },
            })
        })
        .collect()
}

fn service_json(model: &Model, service_id: &str, identity_id: &str) -> Value {
    let s = &model.services[service_id];
    let perms: Vec<&str> = model
        .permissions(identity_id, service_id)
        .into_iter()
        .map(Permission::as_str)
        .collect();
    json!({
        "id": s.id, "name": s.name, "permissions": perms,
        "encryptionRequired": s.encryption_required,
        "config": {}, "configs": [], "roleAttributes": [],
        "postureQueries": [], "terminatorStrategy": "smartrouting",
        "createdAt": time(s.updated_at), "updatedAt": time(s.updated_at),
    })
}

fn services(model: &Model, req: &Request, identity_id: &str) -> Response {
    let wanted_name = match req.query("filter") {
        None => None,
        Some(f) => match parse_name_filter(&f) {
            Some(name) => Some(name),
            None => return error(400, "INVALID_FILTER", &format!("unsupported filter: {f}")),
        },
    };
    let items = model
        .services
        .values()
        .filter(|s| !model.permissions(identity_id, &s.id).is_empty())
        .filter(|s| wanted_name.as_deref().is_none_or(|n| n == s.name))
        .map(|s| service_json(model, &s.id, identity_id))
        .collect();
    list(req, items)
}

/// `name="X"` or `name = "X"`, the only filter the SDKs send.
fn parse_name_filter(f: &str) -> Option<String> {
    let rest = f
        .trim()
        .strip_prefix("name")?
        .trim_start()
        .strip_prefix('=')?;
    let rest = rest.trim();
    let inner = rest.strip_prefix('"')?.strip_suffix('"')?;
    Some(inner.to_string())
}

fn create_session(shared: &Shared, model: &mut Model, req: &Request, api_token: &str) -> Response {
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                400,
                "COULD_NOT_PARSE_BODY",
                &format!("body is not JSON: {e}"),
            )
        }
    };
    let service_id = body["serviceId"].as_str().unwrap_or("").to_string();
    let Some(kind) = body["type"].as_str().and_then(Permission::parse) else {
        return error(400, "COULD_NOT_VALIDATE", "type must be Dial or Bind");
    };
    let identity_id = model.api_sessions[api_token].identity_id.clone();
    if !model.services.contains_key(&service_id) {
        return error(404, "NOT_FOUND", &format!("no service {service_id}"));
    }
    if !model.permissions(&identity_id, &service_id).contains(&kind) {
        return error(
            403,
            "UNAUTHORIZED",
            &format!("identity may not {} service {service_id}", kind.as_str()),
        );
    }
    let token = model.open_session(api_token, &service_id, kind);
    let mut resp = ok(session_json(shared, model, &token));
    resp.status = 201;
    resp
}

fn session_json(shared: &Shared, model: &Model, token: &str) -> Value {
    let s = &model.sessions[token];
    let svc = &model.services[&s.service_id];
    json!({
        "id": s.id, "token": s.token, "type": s.kind.as_str(),
        "serviceId": s.service_id, "service": {"id": svc.id, "name": svc.name},
        "apiSessionId": model.api_sessions.get(&s.api_session_token).map(|a| a.id.clone()),
        "edgeRouters": edge_routers_json(shared),
        "createdAt": time(SystemTime::now()), "updatedAt": time(SystemTime::now()),
    })
}

fn enroll(shared: &Shared, model: &mut Model, req: &Request) -> Response {
    if req.query("method").as_deref() != Some("ott") {
        return error(
            400,
            "INVALID_ENROLLMENT_METHOD",
            "only method=ott is supported here",
        );
    }
    let token = req.query("token").unwrap_or_default();
    let Some(e) = model.enrollments.get(&token).cloned() else {
        return error(
            400,
            "INVALID_ENROLLMENT_TOKEN",
            "The supplied token is not valid",
        );
    };
    if SystemTime::now() >= e.expires_at {
        model.enrollments.remove(&token);
        return error(
            400,
            "INVALID_ENROLLMENT_TOKEN",
            "The enrollment token has expired",
        );
    }
    let csr = String::from_utf8_lossy(&req.body).into_owned();
    let (pem, der) = match shared.pki.sign_csr(&csr, &e.identity_id) {
        Ok(c) => c,
        Err(msg) => return error(400, "COULD_NOT_PROCESS_CSR", &msg),
    };
    model.enrollments.remove(&token);
    if let Some(i) = model.identities.get_mut(&e.identity_id) {
        i.certs.push(der);
    }
    let wants_json = req
        .header("accept")
        .is_some_and(|a| a.contains("application/json"));
    if wants_json {
        ok(json!({"cert": pem, "ca": shared.pki.ca_pem()}))
    } else {
        Response::new(200, "application/x-pem-file", pem)
    }
}

fn ok(data: Value) -> Response {
    let body =
        json!({"data": data, "meta": {"apiVersion": "0.0.1", "apiEnrichmentVersion": "0.0.1"}});
    Response::new(200, "application/json", body.to_string())
}

fn list(req: &Request, items: Vec<Value>) -> Response {
    let total = items.len();
    let limit: usize = req
        .query("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(10)
        .clamp(1, 500);
    let offset: usize = req
        .query("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = items.into_iter().skip(offset).take(limit).collect();
    let body = json!({
        "data": page,
        "meta": {"apiVersion": "0.0.1", "apiEnrichmentVersion": "0.0.1",
                 "pagination": {"limit": limit, "offset": offset, "totalCount": total},
                 "filterableFields": ["name"]},
    });
    Response::new(200, "application/json", body.to_string())
}

/// 401 INVALID_AUTH as the real controller sends it, with the cause.
fn invalid_auth(cause: &str) -> Response {
    let body = json!({
        "error": {"code": "INVALID_AUTH", "message": "The authentication request failed",
                  "cause": {"message": cause}, "requestId": "test"},
        "meta": {"apiVersion": "0.0.1", "apiEnrichmentVersion": "0.0.1"},
    });
    Response::new(401, "application/json", body.to_string())
}

/// Why `der` is not valid now (expired or not yet valid), if it is not.
fn outside_validity(der: &[u8]) -> Option<String> {
    use x509_parser::prelude::FromDer;
    let cert = match x509_parser::certificate::X509Certificate::from_der(der) {
        Ok((_, cert)) => cert,
        Err(e) => return Some(format!("the client certificate does not parse: {e}")),
    };
    let validity = cert.validity();
    if validity.is_valid() {
        None
    } else {
        Some(format!(
            "the client certificate is valid from {} to {} only",
            validity.not_before, validity.not_after
        ))
    }
}

/// Client certificates at the TLS layer: requested, not required (enrollment has
/// none), and not judged there — like the real controller, /authenticate decides, so
/// a refused certificate gets INVALID_AUTH rather than a TLS alert. The handshake
/// signature is still checked: the client must hold the certificate's key.
#[derive(Debug)]
pub struct AnyClientCert {
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl AnyClientCert {
    pub fn new(provider: &rustls::crypto::CryptoProvider) -> Arc<AnyClientCert> {
        Arc::new(AnyClientCert {
            algorithms: provider.signature_verification_algorithms,
        })
    }
}

impl rustls::server::danger::ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

pub fn error(status: u16, code: &str, message: &str) -> Response {
    let body = json!({
        "error": {"code": code, "message": message, "requestId": "test"},
        "meta": {"apiVersion": "0.0.1", "apiEnrichmentVersion": "0.0.1"},
    });
    Response::new(status, "application/json", body.to_string())
}

/// What the real controller says for a refused token, by reason.
pub fn refusal_text(r: &Refusal) -> &'static str {
    match r {
        Refusal::UnknownToken => "unknown token",
        Refusal::Expired => "expired",
        Refusal::Revoked => "revoked",
        Refusal::WrongService => "wrong session type",
    }
}

pub fn time(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// A degenerate PKCS#7 SignedData (certificates only) holding `cert_der`, base64 as
/// EST's `/cacerts` answers. DER is assembled by hand: five fixed wrappers.
fn pkcs7_certs_only_base64(cert_der: &[u8]) -> Vec<u8> {
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let n = content.len();
        if n < 0x80 {
            out.push(n as u8);
        } else {
            let bytes: Vec<u8> = n
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend_from_slice(content);
        out
    }
    const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
    const OID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
    let version = tlv(0x02, &[1]);
    let digest_algs = tlv(0x31, &[]);
    let content_info = tlv(0x30, &tlv(0x06, OID_DATA));
    let certs = tlv(0xa0, cert_der);
    let signer_infos = tlv(0x31, &[]);
    let signed_data = tlv(
        0x30,
        &[version, digest_algs, content_info, certs, signer_infos].concat(),
    );
    let outer = tlv(
        0x30,
        &[tlv(0x06, OID_SIGNED_DATA), tlv(0xa0, &signed_data)].concat(),
    );
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .encode(outer)
        .into_bytes()
}
