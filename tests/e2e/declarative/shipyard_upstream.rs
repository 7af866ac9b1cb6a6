//! The "shipyard": one loopback HTTP/1.1 server standing in for every API the public
//! Ikanos samples consume, with upstream's own mock data (`shipyard-data.json`, taken
//! from the Microcks examples upstream's tutorial integration tests run against).
//!
//! Routes (full paths; the tests rewrite each sample's `baseUri` host to this server):
//! - Maritime Registry (JSON) under `/rest/naftiko-shipyard-maritime-registry-api/1.0.0-alpha2`:
//!   `GET /ships[?status=]`, `GET /ships/{imo}`, `POST /voyages`, `GET /voyages/{id}`,
//!   `GET /crew`, `GET /cargo`. Checks `Authorization: Bearer <registry_bearer>` when set.
//! - Legacy Dockyard (XML) under `/rest/naftiko-shipyard-legacy-dockyard-api/1.0.0-alpha2`:
//!   `GET /vessels[?status=]`. Checks `X-Dock-Key` when set.
//! - The samples' `mock-api` (a Notion-like database query): `POST /v1databases/{id}/query`
//!   (upstream joins baseUri and path with no separator) and `POST /v1/databases/{id}/query`;
//!   checks the JSON filter body.
//! - serve-http's backend: `GET /v1ping` and `GET /v1/ping`.
//! - The photo library: `GET /photos/{anything}/binary` (JPEG bytes).
//! - The Notion API behind register's forward: `/rest/Notion+API/1.0.0/users/me`, basic auth.
//! - A minimal OAuth 2.1 authorization server for e2e-exposed-oauth2: RFC 8414 metadata
//!   and a JWKS (one ES256 key) under `/realms/e2e-test`; `mint_token` signs access tokens.
//!
//! Every request is recorded (see `requests` / `take_requests`), whatever it was answered.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

pub use crate::support::upstream::Recorded;

/// The shipyard's data (upstream's Microcks examples, plus this fixture's own data for the
/// APIs upstream has no mock of; see NOTES.md).
pub fn data() -> &'static Value {
    static DATA: OnceLock<Value> = OnceLock::new();
    DATA.get_or_init(|| {
        serde_json::from_str(include_str!("shipyard-data.json")).expect("shipyard-data.json")
    })
}

/// What the shipyard demands of its callers (nothing when all are None).
#[derive(Debug, Clone, Default)]
pub struct ShipyardAuth {
    /// `Authorization: Bearer <this>` on every Maritime Registry request.
    pub registry_bearer: Option<String>,
    /// `X-Dock-Key: <this>` on every Legacy Dockyard request.
    pub dock_key: Option<String>,
    /// HTTP basic credentials on the Notion API.
    pub basic: Option<(String, String)>,
}

/// The realm path of the authorization server (e2e-exposed-oauth2's `authorizationServerUri`
/// is rewritten to `base() + REALM`).
pub const REALM: &str = "/realms/e2e-test";

struct State {
    auth: ShipyardAuth,
    base: String,
    log: Mutex<Vec<Recorded>>,
    key: ring::signature::EcdsaKeyPair,
    /// The same key as PKCS#8, for signing tokens with `jsonwebtoken`.
    pkcs8: Vec<u8>,
}

pub struct Shipyard {
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

impl Shipyard {
    pub fn start(auth: ShipyardAuth) -> Shipyard {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding the shipyard");
        let addr = listener.local_addr().unwrap();
        let rng = ring::rand::SystemRandom::new();
        let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("an ES256 key");
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng)
            .expect("an ES256 key");
        let state = Arc::new(State {
            auth,
            base: format!("http://{addr}"),
            log: Mutex::new(Vec::new()),
            key,
            pkcs8: pkcs8.as_ref().to_vec(),
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        let st = state.clone();
        let thread = crate::support::serve_on_thread(listener, Some(rx), move |stream| {
            let st = st.clone();
            async move {
                let svc = service_fn(move |req| handle(req, st.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            }
        });
        Shipyard {
            state,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn base(&self) -> String {
        self.state.base.clone()
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.log.lock().unwrap().clone()
    }

    /// Every request received since the last call (the log is emptied).
    pub fn take_requests(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.state.log.lock().unwrap())
    }

    /// The issuer the authorization server advertises (`base() + REALM`).
    pub fn issuer(&self) -> String {
        format!("{}{REALM}", self.state.base)
    }

    /// An ES256 access token for `audience`, issued by `issuer()`, valid for an hour.
    pub fn mint_token(&self, audience: &str, subject: &str) -> String {
        let now = now_secs();
        self.mint(&json!({
            "iss": self.issuer(), "aud": audience, "sub": subject,
            "iat": now, "nbf": now - 5, "exp": now + 3600, "scope": "openid",
        }))
    }

    /// An ES256 token with `claims`, signed by the authorization server's key (the
    /// one its JWKS publishes), with `jsonwebtoken`.
    pub fn mint(&self, claims: &Value) -> String {
        sign_es256(&self.state.pkcs8, claims)
    }

    /// A token with `claims` under the same key id, signed by a key nobody published.
    pub fn mint_forged(&self, claims: &Value) -> String {
        let rng = ring::rand::SystemRandom::new();
        let other = ring::signature::EcdsaKeyPair::generate_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .expect("an ES256 key");
        sign_es256(other.as_ref(), claims)
    }
}

/// Seconds since the epoch, for token claims.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sign_es256(pkcs8: &[u8], claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("shipyard".into());
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_ec_der(pkcs8),
    )
    .expect("signing a token")
}

impl Drop for Shipyard {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type Answer = http::Response<Full<Bytes>>;

fn resp(status: u16, content_type: &str, body: impl Into<Bytes>) -> Answer {
    http::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .unwrap()
}

fn json_resp(status: u16, v: &Value) -> Answer {
    resp(status, "application/json", v.to_string())
}

fn unauthorized(why: &str) -> Answer {
    json_resp(401, &json!({"error": "unauthorized", "message": why}))
}

fn jwks(key: &ring::signature::EcdsaKeyPair) -> Value {
    use ring::signature::KeyPair as _;
    // An uncompressed P-256 point: 0x04 || X (32 bytes) || Y (32 bytes).
    let p = key.public_key().as_ref();
    json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "shipyard", "use": "sig", "alg": "ES256",
        "x": b64url(&p[1..33]), "y": b64url(&p[33..65]),
    }]})
}

async fn handle(
    req: http::Request<hyper::body::Incoming>,
    st: Arc<State>,
) -> Result<Answer, Infallible> {
    let rec = Recorded::read(req).await;
    st.log.lock().unwrap().push(rec.clone());
    Ok(route(&rec, &st))
}

fn route(rec: &Recorded, st: &State) -> Answer {
    let d = data();
    let query: Vec<(String, String)> = rec
        .query
        .as_deref()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let q = |k: &str| query.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let reg = d["registryPrefix"].as_str().unwrap();
    let leg = d["legacyPrefix"].as_str().unwrap();
    let method = rec.method.as_str();

    if let Some(rest) = rec.path.strip_prefix(reg) {
        if let Some(t) = &st.auth.registry_bearer {
            if rec.header("authorization") != Some(format!("Bearer {t}").as_str()) {
                return unauthorized("the registry wants its bearer token");
            }
        }
        let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        return match (method, segs.as_slice()) {
            // Microcks: FALLBACK dispatcher, URI_PARAMS on `status`, fallback allShips.
            ("GET", ["ships"]) => {
                let all = d["ships"].as_array().unwrap();
                let list: Vec<Value> = match q("status").as_deref() {
                    Some(s @ ("active" | "maintenance")) => all
                        .iter()
                        .filter(|v| v["operational_status"] == s)
                        .cloned()
                        .collect(),
                    _ => all.clone(),
                };
                json_resp(200, &Value::Array(list))
            }
            ("GET", ["ships", imo]) => match d["shipDetails"].get(*imo) {
                Some(v) => json_resp(200, v),
                None => json_resp(404, &d["shipNotFound"]),
            },
            // Microcks example `created`: fields templated from the request body, the
            // rest fixed.
            ("POST", ["voyages"]) => match serde_json::from_slice::<Value>(&rec.body) {
                Ok(b) if b.is_object() => {
                    let c = &d["voyageCreated"];
                    let field = |k: &str| b.get(k).cloned().unwrap_or(Value::String(String::new()));
                    json_resp(
                        201,
                        &json!({
                            "voyageId": c["voyageId"],
                            "shipImo": field("shipImo"),
                            "departurePort": field("departurePort"),
                            "arrivalPort": field("arrivalPort"),
                            "departureDate": field("departureDate"),
                            "arrivalDate": field("arrivalDate"),
                            "crewIds": c["crewIds"],
                            "cargoIds": c["cargoIds"],
                            "status": c["status"],
                        }),
                    )
                }
                _ => json_resp(
                    400,
                    &json!({"error": "bad_request", "message": "the body is not a JSON object",
                            "received": String::from_utf8_lossy(&rec.body)}),
                ),
            },
            ("GET", ["voyages", id]) => match d["voyages"].get(*id) {
                Some(v) => json_resp(200, v),
                None => json_resp(404, &d["voyageNotFound"]),
            },
            ("GET", ["crew"]) => json_resp(200, &d["crew"]),
            ("GET", ["cargo"]) => json_resp(200, &d["cargo"]),
            _ => not_found(rec),
        };
    }

    if let Some(rest) = rec.path.strip_prefix(leg) {
        if let Some(k) = &st.auth.dock_key {
            if rec.header("x-dock-key") != Some(k.as_str()) {
                return resp(
                    401,
                    "application/xml",
                    "<error><code>unauthorized</code><message>X-Dock-Key is missing or wrong</message></error>",
                );
            }
        }
        let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        return match (method, segs.as_slice()) {
            ("GET", ["vessels"]) => {
                let xml = &d["legacyVesselsXml"];
                let which = match q("status").as_deref() {
                    Some(s @ ("active" | "laid_up")) => s.to_string(),
                    _ => "all".to_string(),
                };
                resp(
                    200,
                    "application/xml",
                    xml[which.as_str()].as_str().unwrap().to_string(),
                )
            }
            _ => not_found(rec),
        };
    }

    let segs: Vec<&str> = rec.path.split('/').filter(|s| !s.is_empty()).collect();
    match (method, segs.as_slice()) {
        ("POST", ["v1databases", _, "query"]) | ("POST", ["v1", "databases", _, "query"]) => {
            match serde_json::from_slice::<Value>(&rec.body) {
                Ok(b) if b == d["mockApiFilter"] => json_resp(200, &d["mockApiQuery"]),
                _ => json_resp(
                    400,
                    &json!({"error": "bad_request", "message": "expected the Committed filter",
                            "received": String::from_utf8_lossy(&rec.body)}),
                ),
            }
        }
        ("GET", ["v1ping"]) | ("GET", ["v1", "ping"]) => json_resp(200, &d["ping"]),
        ("GET", ["photos", _, "binary"]) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(d["photoBase64"].as_str().unwrap())
                .unwrap();
            resp(200, "image/jpeg", bytes)
        }
        (_, ["rest", "Notion+API" | "Notion%2BAPI", "1.0.0", "users", "me"]) => {
            if let Some((u, p)) = &st.auth.basic {
                let want = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
                );
                if rec.header("authorization") != Some(want.as_str()) {
                    return unauthorized("the Notion API wants basic credentials");
                }
            }
            json_resp(200, &d["notionMe"])
        }
        (
            "GET",
            ["realms", "e2e-test", ".well-known", "oauth-authorization-server" | "openid-configuration"],
        ) => {
            let iss = format!("{}{REALM}", st.base);
            json_resp(
                200,
                &json!({
                    "issuer": iss,
                    "jwks_uri": format!("{iss}/protocol/openid-connect/certs"),
                    "token_endpoint": format!("{iss}/protocol/openid-connect/token"),
                    "authorization_endpoint": format!("{iss}/protocol/openid-connect/auth"),
                    "response_types_supported": ["code"],
                    "id_token_signing_alg_values_supported": ["ES256"],
                    "subject_types_supported": ["public"],
                }),
            )
        }
        ("GET", ["realms", "e2e-test", "protocol", "openid-connect", "certs"]) => {
            json_resp(200, &jwks(&st.key))
        }
        _ => not_found(rec),
    }
}

fn not_found(rec: &Recorded) -> Answer {
    json_resp(
        404,
        &json!({"error": "not_found", "message": format!("the shipyard has no {} {}", rec.method, rec.path)}),
    )
}
