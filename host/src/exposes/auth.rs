//! Inbound authentication of an exposed adapter (`exposes[].authentication`).
//!
//! Owns: checking a caller's credentials against values resolved from binds, in
//! constant time. Must not touch: outbound credentials (consumes/auth). A scheme this
//! build cannot check is refused at start-up: an adapter is never served unprotected
//! because its protection was not understood.

use base64::Engine as _;
use http::header::{HeaderName, AUTHORIZATION, WWW_AUTHENTICATE};
use http::HeaderValue;
use ikanos_spec::binds::{Secret, Secrets};
use ikanos_spec::model::{ApiKeyPlacement, Authentication, Template};
use subtle::ConstantTimeEq;

pub enum InboundAuth {
    None,
    /// The full expected `Authorization` value (`Bearer …` or `Basic …`).
    Authorization {
        expected: Secret,
        challenge: &'static str,
    },
    ApiKeyHeader {
        name: HeaderName,
        expected: Secret,
    },
    ApiKeyQuery {
        name: String,
        expected: Secret,
    },
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

impl InboundAuth {
    pub fn resolve(auth: Option<&Authentication>, secrets: &Secrets) -> Result<Self, String> {
        let none = |_: &str| None;
        let render = |t: &Template, field: &str| {
            secrets
                .render(t, &none)
                .map_err(|e| format!("authentication.{field}: {e}"))
        };
        Ok(match auth {
            None => InboundAuth::None,
            Some(Authentication::Bearer { token }) => InboundAuth::Authorization {
                expected: Secret::new(format!("Bearer {}", render(token, "token")?.expose())),
                challenge: "Bearer",
            },
            Some(Authentication::Basic { username, password }) => {
                let pair = format!(
                    "{}:{}",
                    render(username, "username")?.expose(),
                    render(password, "password")?.expose()
                );
                InboundAuth::Authorization {
                    expected: Secret::new(format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(pair)
                    )),
                    challenge: "Basic realm=\"ikanos\"",
                }
            }
            Some(Authentication::ApiKey {
                key,
                value,
                placement,
            }) => {
                let name = render(key, "key")?.expose().to_string();
                let expected = render(value, "value")?;
                match placement {
                    ApiKeyPlacement::Header => InboundAuth::ApiKeyHeader {
                        name: HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                            format!("authentication.key: '{name}' is not a header name")
                        })?,
                        expected,
                    },
                    ApiKeyPlacement::Query => InboundAuth::ApiKeyQuery { name, expected },
                }
            }
            Some(Authentication::Digest { .. }) => {
                return Err("inbound digest authentication is not supported by this build".into())
            }
            Some(Authentication::OAuth2 { .. }) => {
                return Err("inbound oauth2 authentication is not supported by this build".into())
            }
        })
    }

    /// Ok, or the `WWW-Authenticate` challenge for a 401.
    pub fn check(&self, parts: &http::request::Parts) -> Result<(), Option<HeaderValue>> {
        match self {
            InboundAuth::None => Ok(()),
            InboundAuth::Authorization {
                expected,
                challenge,
            } => {
                let given = parts
                    .headers
                    .get(AUTHORIZATION)
                    .map(|v| v.as_bytes())
                    .unwrap_or_default();
                if same(given, expected.expose().as_bytes()) {
                    Ok(())
                } else {
                    Err(Some(HeaderValue::from_static(challenge)))
                }
            }
            InboundAuth::ApiKeyHeader { name, expected } => {
                let given = parts
                    .headers
                    .get(name)
                    .map(|v| v.as_bytes())
                    .unwrap_or_default();
                if same(given, expected.expose().as_bytes()) {
                    Ok(())
                } else {
                    Err(None)
                }
            }
            InboundAuth::ApiKeyQuery { name, expected } => {
                let ok = parts
                    .uri
                    .query()
                    .map(|q| {
                        url::form_urlencoded::parse(q.as_bytes()).any(|(k, v)| {
                            k == name.as_str() && same(v.as_bytes(), expected.expose().as_bytes())
                        })
                    })
                    .unwrap_or(false);
                if ok {
                    Ok(())
                } else {
                    Err(None)
                }
            }
        }
    }

    pub fn challenge_header() -> HeaderName {
        WWW_AUTHENTICATE
    }
}
