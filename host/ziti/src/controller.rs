//! The Ziti controller's client REST API (legacy API sessions, `/edge/client/v1`) over
//! mutual TLS with the identity's certificate.
//!
//! Owns: the response envelope (`data`, `meta`, `error{code,message}`), `GET /version`,
//! `POST /authenticate?method=cert`, `GET /current-api-session` (refresh), service
//! lookup by name, `POST /sessions` (Dial) and the edge routers a session names.
//! Must not touch: edge routers themselves (channel.rs) or readiness (provider.rs).
//! Tokens are secrets: never in an error or a log line.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use serde_json::{json, Value};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// When the controller does not say how long an API session lasts (its default).
const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(30 * 60);
pub(crate) const DEFAULT_EDGE_PATH: &str = "/edge/client/v1";

#[derive(Debug, Clone, thiserror::Error)]
pub enum ControllerError {
    #[error("controller {0} unreachable: {1}")]
    Unreachable(String, String),
    #[error("controller {url} answered {status}{}: {message}", code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Refused {
        url: String,
        status: u16,
        code: Option<String>,
        message: String,
    },
    #[error("controller {0}: unexpected answer: {1}")]
    Protocol(String, String),
    #[error("{0}")]
    Unsupported(String),
}

impl ControllerError {
    /// The API session is no longer valid (expired, deleted, identity revoked).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, ControllerError::Refused { status: 401, .. })
    }
}

/// `GET /version`.
#[derive(Debug, Clone)]
pub struct Version {
    pub version: String,
    pub(crate) capabilities: Vec<String>,
}

/// An API session: the token every later call and the router Hello carry.
#[derive(Clone)]
pub struct ApiSession {
    pub token: String,
    pub identity_name: String,
    pub(crate) lifetime: Duration,
}

impl std::fmt::Debug for ApiSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiSession")
            .field("identity_name", &self.identity_name)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct Service {
    pub(crate) id: String,
    pub can_dial: bool,
    pub encryption_required: bool,
    /// Posture checks this identity does not pass (not supported by this client).
    pub failing_posture: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EdgeRouter {
    pub name: String,
    /// `host:port` of its `tls` listener.
    pub address: String,
    pub host: String,
    pub cost: i64,
    pub online: bool,
}

/// A Dial session for one service: its token and the routers that serve it.
#[derive(Clone)]
pub struct ServiceSession {
    pub token: String,
    pub routers: Vec<EdgeRouter>,
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

pub struct Controller {
    base: String,
    edge_path: std::sync::Mutex<String>,
    client: Client<Https, Full<Bytes>>,
}

impl Controller {
    pub fn new(base: &str, tls: Arc<rustls::ClientConfig>) -> Controller {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(REQUEST_TIMEOUT));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        Controller {
            base: base.trim_end_matches('/').to_string(),
            edge_path: std::sync::Mutex::new(DEFAULT_EDGE_PATH.to_string()),
            client,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn edge(&self, path: &str) -> String {
        let edge = self
            .edge_path
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        format!("{edge}{path}")
    }

    async fn call(
        &self,
        method: http::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<Value, ControllerError> {
        let url = format!("{}{}", self.base, path);
        let mut req = http::Request::builder()
            .method(method)
            .uri(&url)
            .header(http::header::ACCEPT, "application/json");
        if let Some(t) = token {
            req = req.header("zt-session", t);
        }
        let body = match body {
            Some(v) => {
                req = req.header(http::header::CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(v.to_string()))
            }
            None => Full::new(Bytes::new()),
        };
        let req = req
            .body(body)
            .map_err(|e| ControllerError::Protocol(self.base.clone(), e.to_string()))?;
        let exchange = async {
            let resp = self.client.request(req).await.map_err(|e| {
                ControllerError::Unreachable(self.base.clone(), crate::error_chain(&e))
            })?;
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| ControllerError::Unreachable(self.base.clone(), e.to_string()))?
                .to_bytes();
            Ok::<_, ControllerError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| {
                ControllerError::Unreachable(
                    self.base.clone(),
                    format!("no answer within {REQUEST_TIMEOUT:?}"),
                )
            })??;
        let envelope: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            let error = envelope.get("error");
            let text = |k: &str| {
                error
                    .and_then(|e| e.get(k))
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            };
            return Err(ControllerError::Refused {
                url: format!("{} {path}", self.base),
                status,
                code: text("code"),
                message: text("message").unwrap_or_else(|| "no error message".into()),
            });
        }
        Ok(envelope)
    }

    fn data(&self, envelope: &Value, what: &str) -> Result<Value, ControllerError> {
        envelope
            .get("data")
            .cloned()
            .filter(|d| !d.is_null())
            .ok_or_else(|| ControllerError::Protocol(self.base.clone(), format!("{what}: no data")))
    }

    /// `GET /version`: the edge client API's path and the controller's capabilities.
    pub async fn version(&self) -> Result<Version, ControllerError> {
        let env = self.call(http::Method::GET, "/version", None, None).await?;
        let data = self.data(&env, "version")?;
        let edge_path = data
            .pointer("/apiVersions/edge/v1/path")
            .and_then(|v| v.as_str())
            .unwrap_or(DEFAULT_EDGE_PATH)
            .trim_end_matches('/')
            .to_string();
        *self.edge_path.lock().unwrap_or_else(|p| p.into_inner()) = edge_path;
        Ok(Version {
            version: data
                .get("version")
                .and_then(|v| v.as_str())
                .unwrap_or("unknown")
                .to_string(),
            capabilities: data
                .get("capabilities")
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// `POST /authenticate?method=cert` (the TLS client certificate is the credential).
    pub async fn authenticate(&self, version: &Version) -> Result<ApiSession, ControllerError> {
        let body = json!({
            "sdkInfo": {"type": "ikanos", "version": env!("CARGO_PKG_VERSION"), "appId": "ikanos", "appVersion": env!("CARGO_PKG_VERSION")},
            "envInfo": {"os": std::env::consts::OS, "arch": std::env::consts::ARCH},
            "configTypes": []
        });
        let result = self
            .call(
                http::Method::POST,
                &self.edge("/authenticate?method=cert"),
                None,
                Some(body),
            )
            .await;
        let env = match result {
            Ok(env) => env,
            Err(ControllerError::Refused { status: 404 | 405, .. })
                if version.capabilities.iter().any(|c| c == "OIDC_AUTH") =>
            {
                return Err(ControllerError::Unsupported(format!(
                    "controller {} accepts only OIDC authentication, which this client does not support yet",
                    self.base
                )))
            }
            Err(e) => return Err(e),
        };
        let data = self.data(&env, "authenticate")?;
        let session = self.api_session(&data)?;
        let mfa = data
            .get("authQueries")
            .and_then(|v| v.as_array())
            .map(|a| !a.is_empty())
            .unwrap_or(false);
        if mfa {
            return Err(ControllerError::Unsupported(format!(
                "controller {} asks this identity for MFA, which this client does not support yet",
                self.base
            )));
        }
        Ok(session)
    }

    fn api_session(&self, data: &Value) -> Result<ApiSession, ControllerError> {
        let token = data.get("token").and_then(|v| v.as_str()).ok_or_else(|| {
            ControllerError::Protocol(self.base.clone(), "API session without a token".into())
        })?;
        let lifetime = data
            .get("expirationSeconds")
            .and_then(|v| v.as_u64())
            .map(Duration::from_secs)
            .or_else(|| {
                let expires = data.get("expiresAt")?.as_str()?;
                let at =
                    humantime::parse_rfc3339_weak(expires.trim_end_matches('Z').split('.').next()?)
                        .ok()?;
                at.duration_since(std::time::SystemTime::now()).ok()
            })
            .unwrap_or(DEFAULT_SESSION_LIFETIME);
        let identity = data.get("identity");
        let text = |k: &str| {
            identity
                .and_then(|i| i.get(k))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        Ok(ApiSession {
            token: token.to_string(),
            identity_name: text("name"),
            lifetime,
        })
    }

    /// `GET /current-api-session`: keeps the session alive and says how long it lasts.
    pub async fn refresh(&self, session: &ApiSession) -> Result<ApiSession, ControllerError> {
        let env = self
            .call(
                http::Method::GET,
                &self.edge("/current-api-session"),
                Some(&session.token),
                None,
            )
            .await?;
        let data = self.data(&env, "current-api-session")?;
        let mut fresh = self.api_session(&data).unwrap_or_else(|_| session.clone());
        // The token does not change on refresh; some controllers omit it here.
        fresh.token = session.token.clone();
        Ok(fresh)
    }

    /// The service named `name`, as this identity sees it.
    pub async fn service(
        &self,
        session: &ApiSession,
        name: &str,
    ) -> Result<Option<Service>, ControllerError> {
        let filter = format!("name=\"{}\"", name.replace('"', "\\\""));
        let path = format!(
            "/services?filter={}",
            percent_encoding::utf8_percent_encode(&filter, percent_encoding::NON_ALPHANUMERIC)
        );
        let env = self
            .call(
                http::Method::GET,
                &self.edge(&path),
                Some(&session.token),
                None,
            )
            .await?;
        let list = self.data(&env, "services")?;
        let Some(found) = list.as_array().and_then(|a| {
            a.iter()
                .find(|s| s.get("name").and_then(|n| n.as_str()) == Some(name))
        }) else {
            return Ok(None);
        };
        let id = found.get("id").and_then(|v| v.as_str()).ok_or_else(|| {
            ControllerError::Protocol(self.base.clone(), "service without an id".into())
        })?;
        let can_dial = found
            .get("permissions")
            .and_then(|p| p.as_array())
            .map(|p| p.iter().any(|v| v.as_str() == Some("Dial")))
            .unwrap_or(false);
        let failing_posture = found
            .get("postureQueries")
            .and_then(|p| p.as_array())
            .map(|sets| {
                sets.iter()
                    .filter(|set| set.get("isPassing").and_then(|v| v.as_bool()) == Some(false))
                    .map(|set| {
                        set.get("policyId")
                            .and_then(|v| v.as_str())
                            .unwrap_or("?")
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(Service {
            id: id.to_string(),
            can_dial,
            encryption_required: found
                .get("encryptionRequired")
                .and_then(|v| v.as_bool())
                .unwrap_or(true),
            failing_posture,
        }))
    }

    /// `POST /sessions {"serviceId", "type": "Dial"}`.
    pub async fn dial_session(
        &self,
        session: &ApiSession,
        service: &Service,
    ) -> Result<ServiceSession, ControllerError> {
        let env = self
            .call(
                http::Method::POST,
                &self.edge("/sessions"),
                Some(&session.token),
                Some(json!({"serviceId": service.id, "type": "Dial"})),
            )
            .await?;
        let data = self.data(&env, "sessions")?;
        let token = data
            .get("token")
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
                ControllerError::Protocol(self.base.clone(), "session without a token".into())
            })?
            .to_string();
        let routers = data
            .get("edgeRouters")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(edge_router).collect())
            .unwrap_or_default();
        Ok(ServiceSession { token, routers })
    }
}

/// A router entry with a `tls` address (from `urls` or `supportedProtocols`).
fn edge_router(v: &Value) -> Option<EdgeRouter> {
    let url = v
        .pointer("/urls/tls")
        .or_else(|| v.pointer("/supportedProtocols/tls"))
        .and_then(|u| u.as_str())?;
    let address = url
        .strip_prefix("tls://")?
        .trim_end_matches('/')
        .to_string();
    let host = match address.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => {
            h.trim_start_matches('[').trim_end_matches(']').to_string()
        }
        _ => return None,
    };
    Some(EdgeRouter {
        name: v
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or(&address)
            .to_string(),
        address,
        host,
        cost: v.get("cost").and_then(|c| c.as_i64()).unwrap_or(0),
        online: v.get("isOnline").and_then(|o| o.as_bool()).unwrap_or(true),
    })
}

/// Online routers first, cheapest first; offline ones last (tried only if nothing else
/// works: a controller's view of "online" can lag).
pub fn order_routers(mut routers: Vec<EdgeRouter>) -> Vec<EdgeRouter> {
    routers.sort_by_key(|r| (!r.online, r.cost));
    routers
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A controller stand-in for the error paths the test network does not model
    /// (OIDC-only, MFA, posture): mutual TLS with its own CA, canned answers by path.
    async fn canned(
        answers: Vec<(&'static str, u16, Value)>,
    ) -> (String, Arc<rustls::ClientConfig>) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["127.0.0.1".into()])
            .unwrap()
            .signed_by(&server_key, &issuer)
            .unwrap();
        let client_key = KeyPair::generate().unwrap();
        let client = CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .signed_by(&client_key, &issuer)
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server_config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![server.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(server_key.serialize_der()).unwrap(),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let answers = Arc::new(answers);
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, answers) = (acceptor.clone(), answers.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let answers = answers.clone();
                            async move {
                                let path =
                                    req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("");
                                let (status, body) = answers
                                    .iter()
                                    .find(|(p, _, _)| path.starts_with(p))
                                    .map(|(_, s, b)| (*s, b.to_string()))
                                    .unwrap_or((
                                        404,
                                        json!({"error": {"code": "NOT_FOUND", "message": "no"}})
                                            .to_string(),
                                    ));
                                Ok::<_, std::convert::Infallible>(
                                    http::Response::builder()
                                        .status(status)
                                        .body(Full::new(Bytes::from(body)))
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        let identity = serde_json::json!({
            "ztAPI": format!("https://{addr}"),
            "id": {"cert": format!("pem:{}", client.pem()), "key": format!("pem:{}", client_key.serialize_pem()), "ca": format!("pem:{}", ca.pem())}
        });
        let id = super::super::identity::Identity::load(&identity.to_string()).unwrap();
        (id.controller.clone(), id.tls_config(&[]).unwrap())
    }

    #[tokio::test]
    async fn oidc_only_mfa_and_posture_fail_with_a_clear_reason() {
        let version = json!({"data": {"version": "v2", "capabilities": ["OIDC_AUTH", "HA_CONTROLLER"],
            "apiVersions": {"edge": {"v1": {"path": "/edge/client/v1"}}}}});
        let (url, tls) = canned(vec![("/version", 200, version.clone())]).await;
        let c = Controller::new(&url, tls);
        let v = c.version().await.unwrap();
        let e = c.authenticate(&v).await.unwrap_err();
        assert!(
            e.to_string().contains("accepts only OIDC authentication"),
            "{e}"
        );

        let mfa = json!({"data": {"token": "t", "expirationSeconds": 1800, "identity": {"id": "i", "name": "n"},
            "authQueries": [{"typeId": "MFA", "provider": "ziti"}]}});
        let (url, tls) = canned(vec![
            ("/version", 200, version.clone()),
            ("/edge/client/v1/authenticate", 200, mfa),
        ])
        .await;
        let c = Controller::new(&url, tls);
        let v = c.version().await.unwrap();
        let e = c.authenticate(&v).await.unwrap_err();
        assert!(e.to_string().contains("MFA"), "{e}");

        let ok = json!({"data": {"token": "t", "expirationSeconds": 60, "identity": {"id": "i", "name": "n"}}});
        let services = json!({"data": [{"id": "s1", "name": "crm", "permissions": ["Dial"], "encryptionRequired": true,
            "postureQueries": [{"policyId": "p-1", "isPassing": false, "postureQueries": []}]}]});
        let (url, tls) = canned(vec![
            ("/version", 200, version),
            ("/edge/client/v1/authenticate", 200, ok),
            ("/edge/client/v1/services", 200, services),
            (
                "/edge/client/v1/current-api-session",
                401,
                json!({"error": {"code": "UNAUTHORIZED", "message": "expired"}}),
            ),
        ])
        .await;
        let c = Controller::new(&url, tls);
        let v = c.version().await.unwrap();
        let api = c.authenticate(&v).await.unwrap();
        assert_eq!(api.lifetime, Duration::from_secs(60));
        let svc = c.service(&api, "crm").await.unwrap().unwrap();
        assert!(svc.can_dial && svc.encryption_required);
        assert_eq!(svc.failing_posture, ["p-1"]);
        assert!(c.service(&api, "other").await.unwrap().is_none());
        let e = c.refresh(&api).await.unwrap_err();
        assert!(e.is_unauthorized(), "{e}");
        assert!(e.to_string().contains("401 (UNAUTHORIZED): expired"), "{e}");
    }

    #[test]
    fn routers_from_a_session_ordered_by_cost() {
        let data = json!([
            {"name": "b", "urls": {"tls": "tls://b.example:3022"}, "cost": 10, "isOnline": true},
            {"name": "off", "supportedProtocols": {"tls": "tls://o:3022"}, "cost": 0, "isOnline": false},
            {"name": "a", "urls": {"tls": "tls://[::1]:3023"}, "cost": 1},
            {"name": "ws-only", "urls": {"ws": "ws://w:3023"}}
        ]);
        let routers: Vec<_> = data
            .as_array()
            .unwrap()
            .iter()
            .filter_map(edge_router)
            .collect();
        assert_eq!(routers.len(), 3);
        assert_eq!(routers[2].host, "::1");
        let names: Vec<_> = order_routers(routers).into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["a", "b", "off"]);
    }
}
