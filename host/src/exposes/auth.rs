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
    /// An OAuth 2.1 resource server (bearer JWTs).
    OAuth2(super::oauth2::Shared),
    /// HTTP Digest (RFC 7616).
    Digest(Box<super::digest::DigestAuth>),
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
            Some(Authentication::Digest { username, password }) => {
                InboundAuth::Digest(Box::new(super::digest::DigestAuth::new(
                    render(username, "username")?,
                    render(password, "password")?,
                )))
            }
            Some(Authentication::OAuth2 {
                authorization_server,
                resource,
                audience,
                scopes,
                token_validation,
                ..
            }) => InboundAuth::OAuth2(std::sync::Arc::new(super::oauth2::OAuth2::new(
                authorization_server,
                resource,
                audience.as_deref(),
                scopes,
                token_validation.as_ref().map(|t| t.value.as_str()),
            )?)),
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
            InboundAuth::Digest(digest) => digest.check(parts).map_err(Some),
            // Checked (asynchronously) by `inbound::authenticate`; never let in here.
            InboundAuth::OAuth2(_) => Err(None),
        }
    }

    pub fn challenge_header() -> HeaderName {
        WWW_AUTHENTICATE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_authorization_header_must_match_whole() {
        let auth = InboundAuth::Authorization {
            expected: Secret::new("Bearer s3cret".into()),
            challenge: "Bearer",
        };
        assert!(auth
            .check(&parts("/", &[("authorization", "Bearer s3cret")]))
            .is_ok());
        for given in [
            "Bearer s3cre",
            "Bearer s3cret2",
            "bearer s3cret",
            "Basic s3cret",
        ] {
            let refused = auth.check(&parts("/", &[("authorization", given)]));
            assert_eq!(refused.unwrap_err().unwrap(), "Bearer", "{given}");
        }
        assert!(auth.check(&parts("/", &[])).is_err());
    }

    #[test]
    fn api_keys_are_checked_in_their_header_or_query_parameter() {
        let header = InboundAuth::ApiKeyHeader {
            name: HeaderName::from_static("x-api-key"),
            expected: Secret::new("k1".into()),
        };
        assert!(header.check(&parts("/", &[("x-api-key", "k1")])).is_ok());
        // No challenge for API keys: there is no standard scheme to name.
        assert_eq!(
            header.check(&parts("/?x-api-key=k1", &[])).unwrap_err(),
            None
        );
        let query = InboundAuth::ApiKeyQuery {
            name: "key".into(),
            expected: Secret::new("k 1".into()),
        };
        assert!(query.check(&parts("/?a=b&key=k%201", &[])).is_ok());
        assert!(query.check(&parts("/?key=k2", &[])).is_err());
        assert!(query.check(&parts("/", &[("key", "k 1")])).is_err());
        assert!(InboundAuth::None.check(&parts("/", &[])).is_ok());
    }
}
