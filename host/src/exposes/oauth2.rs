//! Inbound OAuth 2.1 (`authentication: {type: oauth2}` on an exposed adapter): this
//! host as a resource server, as upstream's `OAuth2AuthenticationRestlet` and
//! `McpOAuth2Restlet` are. A request carries `Authorization: Bearer <JWT>`; the JWT is
//! checked against the authorization server's JWKS (found through its RFC 8414
//! metadata, `…/.well-known/oauth-authorization-server`, else OpenID discovery):
//! signature, `exp`/`nbf`, `iss` equal to `authorizationServerUri`, `aud` containing
//! `audience` (default `resource`), and every declared scope in `scope` (else 403
//! `insufficient_scope`). Failures answer 401 with a Bearer challenge that names, for
//! MCP, the RFC 9728 metadata this adapter serves at
//! `/.well-known/oauth-protected-resource[path of resource]`.
//!
//! Owns: discovery, the key cache (refreshed when a token names an unknown key, at most
//! once every 30 s), token checks, the metadata document. Must not touch: other schemes
//! (`auth.rs`) or what an adapter does once a caller is let in. Tokens never reach logs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderValue;
use http_body_util::{BodyExt, Full};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::consumes::client::{self, ClientSettings, HttpClient};

/// Least time between two JWKS fetches caused by unknown key ids (a flood of forged
/// tokens must not become a flood of requests to the authorization server).
const REFRESH_FLOOR: Duration = Duration::from_secs(30);
/// Largest metadata or JWKS document read.
const MAX_DOCUMENT: usize = 1 << 20;

pub struct OAuth2 {
    issuer: String,
    resource: String,
    audience: String,
    scopes: Vec<String>,
    metadata_path: String,
    metadata_url: String,
    client: HttpClient,
    keys: Mutex<Keys>,
}

#[derive(Default)]
struct Keys {
    set: Option<JwkSet>,
    fetched: Option<Instant>,
}

/// Why a caller is not let in.
pub enum Denied {
    /// 401 with this `WWW-Authenticate` value.
    Unauthorized(HeaderValue),
    /// 403 `insufficient_scope` with this `WWW-Authenticate` value.
    Forbidden(HeaderValue),
}

impl OAuth2 {
    /// Settings from the file; `Err` names what is wrong (at start-up).
    pub fn new(
        issuer: &str,
        resource: &str,
        audience: Option<&str>,
        scopes: &[String],
        token_validation: Option<&str>,
    ) -> Result<OAuth2, String> {
        match token_validation.unwrap_or("jwks") {
            "jwks" => {}
            "introspection" => {
                return Err("authentication.tokenValidation: 'introspection' is not supported (upstream does not support it either); use 'jwks'".into())
            }
            other => {
                return Err(format!(
                    "authentication.tokenValidation: '{other}' is not one of jwks, introspection"
                ))
            }
        }
        let resource_url = url::Url::parse(resource)
            .map_err(|e| format!("authentication.resource: '{resource}' is not a URI: {e}"))?;
        url::Url::parse(issuer).map_err(|e| {
            format!("authentication.authorizationServerUri: '{issuer}' is not a URI: {e}")
        })?;
        let path = resource_url.path().trim_end_matches('/');
        let metadata_path = format!("/.well-known/oauth-protected-resource{path}");
        let authority = &resource_url[url::Position::BeforeHost..url::Position::AfterPort];
        let metadata_url = format!("{}://{authority}{metadata_path}", resource_url.scheme());
        let client = client::build(&ClientSettings::default(), None)
            .map_err(|e| format!("authentication: {e}"))?;
        Ok(OAuth2 {
            issuer: issuer.to_owned(),
            resource: resource.to_owned(),
            audience: audience.unwrap_or(resource).to_owned(),
            scopes: scopes.to_vec(),
            metadata_path,
            metadata_url,
            client,
            keys: Mutex::new(Keys::default()),
        })
    }

    /// The path of this resource's RFC 9728 metadata.
    pub fn metadata_path(&self) -> &str {
        &self.metadata_path
    }

    /// The RFC 9728 protected-resource metadata.
    pub fn metadata(&self) -> Value {
        let mut m = json!({
            "resource": self.resource,
            "authorization_servers": [self.issuer],
        });
        if !self.scopes.is_empty() {
            m["scopes_supported"] = json!(self.scopes);
        }
        m["bearer_methods_supported"] = json!(["header"]);
        m
    }

    fn challenge(&self, error: Option<(&str, &str)>, scope: Option<&str>) -> HeaderValue {
        let mut params = Vec::new();
        if let Some((code, description)) = error {
            params.push(format!("error=\"{code}\""));
            params.push(format!(
                "error_description=\"{}\"",
                description.replace('"', "'")
            ));
        }
        if let Some(scope) = scope {
            params.push(format!("scope=\"{scope}\""));
        }
        params.push(format!("resource_metadata=\"{}\"", self.metadata_url));
        HeaderValue::from_str(&format!("Bearer {}", params.join(", ")))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }

    /// Let the caller in, or say why not.
    pub async fn check(&self, parts: &http::request::Parts) -> Result<(), Denied> {
        let token = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                (v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ")).then(|| v[7..].trim())
            });
        let Some(token) = token else {
            return Err(Denied::Unauthorized(self.challenge(None, None)));
        };
        let invalid =
            |why: &str| Denied::Unauthorized(self.challenge(Some(("invalid_token", why)), None));
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| invalid("the token is not a JWT"))?;
        let key = self
            .key(header.kid.as_deref(), header.alg)
            .await
            .map_err(|why| {
                tracing::warn!(issuer = %self.issuer, "inbound OAuth2: {why}");
                invalid("the token's signing key is not known")
            })?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[self.issuer.trim_end_matches('/'), self.issuer.as_str()]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                invalid(match e.kind() {
                    K::ExpiredSignature => "Token expired",
                    K::ImmatureSignature => "Token not valid yet",
                    K::InvalidIssuer => "Invalid issuer",
                    K::InvalidAudience => "Invalid audience",
                    K::InvalidSignature => "Signature verification failed",
                    K::MissingRequiredClaim(_) => "A required claim is missing",
                    _ => "Token validation failed",
                })
            })?
            .claims;
        let granted: Vec<&str> = claims["scope"]
            .as_str()
            .map(|s| s.split_whitespace().collect())
            .unwrap_or_default();
        if let Some(missing) = self.scopes.iter().find(|s| !granted.contains(&s.as_str())) {
            let wanted = self.scopes.join(" ");
            return Err(Denied::Forbidden(self.challenge(
                Some((
                    "insufficient_scope",
                    &format!("Required scope '{missing}' not present in token"),
                )),
                Some(&wanted),
            )));
        }
        Ok(())
    }

    /// The decoding key for `kid`, fetching the JWKS the first time and again (rate
    /// limited) when the key is not in the cached set.
    async fn key(&self, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey, String> {
        let mut keys = self.keys.lock().await;
        let find = |set: &JwkSet| -> Option<DecodingKey> {
            let jwk = match kid {
                Some(kid) => set.find(kid),
                None => set.keys.first(),
            }?;
            DecodingKey::from_jwk(jwk).ok()
        };
        if let Some(k) = keys.set.as_ref().and_then(find) {
            return Ok(k);
        }
        if keys.fetched.is_some_and(|t| t.elapsed() < REFRESH_FLOOR) {
            return Err(format!(
                "no key {kid:?} ({alg:?}) in the JWKS, fetched less than 30 s ago"
            ));
        }
        keys.fetched = Some(Instant::now());
        let set = self.fetch_jwks().await?;
        let found = find(&set);
        keys.set = Some(set);
        found.ok_or_else(|| format!("no key {kid:?} ({alg:?}) in the authorization server's JWKS"))
    }

    async fn fetch_jwks(&self) -> Result<JwkSet, String> {
        let base = self.issuer.trim_end_matches('/');
        let mut jwks_uri = None;
        for well_known in ["oauth-authorization-server", "openid-configuration"] {
            let url = format!("{base}/.well-known/{well_known}");
            if let Ok(doc) = self.get_json(&url).await {
                if let Some(uri) = doc["jwks_uri"].as_str() {
                    jwks_uri = Some(uri.to_owned());
                    break;
                }
            }
        }
        let uri = jwks_uri.ok_or_else(|| {
            format!("no jwks_uri in the metadata of {base} (.well-known/oauth-authorization-server or openid-configuration)")
        })?;
        let doc = self.get_json(&uri).await?;
        serde_json::from_value(doc).map_err(|e| format!("{uri}: not a JWK set: {e}"))
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let uri: http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let req = http::Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("{url}: {e}"))?;
        let resp = tokio::time::timeout(Duration::from_secs(10), self.client.request(req))
            .await
            .map_err(|_| format!("{url}: no answer within 10 s"))?
            .map_err(|e| format!("{url}: {}", crate::error_chain(&e)))?;
        if !resp.status().is_success() {
            return Err(format!("{url}: status {}", resp.status()));
        }
        let body = http_body_util::Limited::new(resp.into_body(), MAX_DOCUMENT)
            .collect()
            .await
            .map_err(|e| format!("{url}: {e}"))?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|e| format!("{url}: not JSON: {e}"))
    }
}

/// Keep the type small where adapters hold it.
pub type Shared = Arc<OAuth2>;
