//! Authentication the host adds to outbound requests.
//!
//! Owns: bearer, basic, apikey (header or query) and digest, with the credentials
//! resolved from binds once at start-up. Must not touch: anything the component sees —
//! credentials stay in host memory, their header values are marked sensitive, and no
//! error or Debug output carries them.

use base64::Engine as _;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, StatusCode};
use ikanos_spec::binds::{Secret, Secrets};
use ikanos_spec::model::{ApiKeyPlacement, Authentication, Template};
use url::Url;

pub enum Auth {
    None,
    /// A ready `Authorization` value (bearer or basic).
    Header(HeaderValue),
    ApiKeyHeader {
        name: HeaderName,
        value: HeaderValue,
    },
    ApiKeyQuery {
        name: String,
        value: Secret,
    },
    Digest {
        username: Secret,
        password: Secret,
    },
}

/// A server's `WWW-Authenticate: Digest …` value.
pub struct DigestChallenge(String);

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Auth::None => "none",
            Auth::Header(_) => "authorization header",
            Auth::ApiKeyHeader { .. } => "apikey header",
            Auth::ApiKeyQuery { .. } => "apikey query",
            Auth::Digest { .. } => "digest",
        };
        write!(f, "Auth({kind}, <redacted>)")
    }
}

fn sensitive(value: &str, what: &str) -> Result<HeaderValue, String> {
    let mut v = HeaderValue::from_str(value)
        .map_err(|_| format!("the {what} has characters a header cannot carry"))?;
    v.set_sensitive(true);
    Ok(v)
}

impl Auth {
    /// Resolve credentials from binds. Errors name the field, never the value.
    pub fn resolve(auth: Option<&Authentication>, secrets: &Secrets) -> Result<Auth, String> {
        let no_params = |_: &str| None;
        let render = |t: &Template, field: &str| {
            secrets
                .render(t, &no_params)
                .map_err(|e| format!("{field}: {e}"))
        };
        Ok(match auth {
            None | Some(Authentication::OAuth2 { .. }) => Auth::None,
            Some(Authentication::Bearer { token }) => {
                let token = render(token, "token")?;
                Auth::Header(sensitive(
                    &format!("Bearer {}", token.expose()),
                    "bearer token",
                )?)
            }
            Some(Authentication::Basic { username, password }) => {
                let user = render(username, "username")?;
                let pass = render(password, "password")?;
                let encoded = base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    user.expose(),
                    pass.expose()
                ));
                Auth::Header(sensitive(&format!("Basic {encoded}"), "basic credentials")?)
            }
            Some(Authentication::Digest { username, password }) => Auth::Digest {
                username: render(username, "username")?,
                password: render(password, "password")?,
            },
            Some(Authentication::ApiKey {
                key,
                value,
                placement,
            }) => {
                let name = render(key, "key")?;
                let value = render(value, "value")?;
                match placement {
                    ApiKeyPlacement::Header => Auth::ApiKeyHeader {
                        name: HeaderName::from_bytes(name.expose().as_bytes())
                            .map_err(|_| "key: not a valid header name".to_string())?,
                        value: sensitive(value.expose(), "api key")?,
                    },
                    ApiKeyPlacement::Query => Auth::ApiKeyQuery {
                        name: name.expose().to_string(),
                        value,
                    },
                }
            }
        })
    }

    /// Add credentials to a request about to be sent. Replaces anything a parameter set.
    pub fn apply(&self, url: &mut Url, headers: &mut HeaderMap) {
        match self {
            Auth::None | Auth::Digest { .. } => {}
            Auth::Header(v) => {
                headers.insert(AUTHORIZATION, v.clone());
            }
            Auth::ApiKeyHeader { name, value } => {
                headers.insert(name.clone(), value.clone());
            }
            Auth::ApiKeyQuery { name, value } => {
                let others: Vec<(String, String)> = url
                    .query_pairs()
                    .filter(|(k, _)| k != name)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                url.query_pairs_mut()
                    .clear()
                    .extend_pairs(others)
                    .append_pair(name, value.expose());
            }
        }
    }

    /// A Digest challenge to answer, when this namespace uses digest and the server sent one.
    pub fn digest_challenge<B>(&self, response: &http::Response<B>) -> Option<DigestChallenge> {
        if !matches!(self, Auth::Digest { .. }) || response.status() != StatusCode::UNAUTHORIZED {
            return None;
        }
        response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.trim_start().to_ascii_lowercase().starts_with("digest "))
            .map(|v| DigestChallenge(v.to_string()))
    }

    pub fn digest_answer(
        &self,
        challenge: &DigestChallenge,
        method: &str,
        uri: &str,
        body: &[u8],
    ) -> Result<HeaderValue, String> {
        let Auth::Digest { username, password } = self else {
            return Err("digest answer requested for a non-digest namespace".into());
        };
        let mut prompt = digest_auth::parse(&challenge.0)
            .map_err(|e| format!("the server's Digest challenge is invalid: {e}"))?;
        let context = digest_auth::AuthContext::new_with_method(
            username.expose(),
            password.expose(),
            uri,
            Some(body),
            digest_auth::HttpMethod::from(method),
        );
        let answer = prompt
            .respond(&context)
            .map_err(|e| format!("cannot answer the Digest challenge: {e}"))?;
        sensitive(&answer.to_header_string(), "digest answer")
    }
}
