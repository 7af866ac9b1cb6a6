//! Inbound HTTP Digest authentication (RFC 7616) on an exposed adapter
//! (`authentication: {type: digest, username, password}`), as upstream's Restlet
//! `ChallengeAuthenticator` offers it: challenge `Digest realm="ikanos", qop="auth",
//! algorithm=MD5`; answers with `algorithm=MD5` or `SHA-256` accepted.
//!
//! Owns: nonces and the response check. Nonces are stateless: a timestamp and an HMAC of
//! it under a key made at start-up, valid for five minutes (an expired one is answered
//! with `stale=true`, so clients retry without asking the user again). Must not touch:
//! other schemes. The password never leaves this module; the comparison is constant
//! time. Replays inside a nonce's lifetime are not tracked (`nc` is not remembered).

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use http::HeaderValue;
use ikanos_spec::binds::Secret;
use md5::{Digest as _, Md5};
use sha2::Sha256;
use subtle::ConstantTimeEq;

const REALM: &str = "ikanos";
const NONCE_LIFETIME_SECS: u64 = 300;

pub struct DigestAuth {
    username: Secret,
    password: Secret,
    /// Signs nonces; made at start-up, never leaves the process.
    key: [u8; 32],
}

impl DigestAuth {
    pub fn new(username: Secret, password: Secret) -> DigestAuth {
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        DigestAuth {
            username,
            password,
            key,
        }
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    fn sign(&self, stamp: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(stamp.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    fn nonce(&self) -> String {
        let stamp = Self::now().to_string();
        format!("{stamp}.{}", self.sign(&stamp))
    }

    /// Ok(true) for a nonce this process made that is still fresh, Ok(false) for one
    /// that was ours but expired, Err for anything else.
    fn check_nonce(&self, nonce: &str) -> Result<bool, ()> {
        let (stamp, mac) = nonce.split_once('.').ok_or(())?;
        if !bool::from(self.sign(stamp).as_bytes().ct_eq(mac.as_bytes())) {
            return Err(());
        }
        let at: u64 = stamp.parse().map_err(|_| ())?;
        Ok(Self::now().saturating_sub(at) <= NONCE_LIFETIME_SECS)
    }

    pub fn challenge(&self, stale: bool) -> HeaderValue {
        let stale = if stale { ", stale=true" } else { "" };
        HeaderValue::from_str(&format!(
            "Digest realm=\"{REALM}\", qop=\"auth\", algorithm=MD5, nonce=\"{}\", opaque=\"{REALM}\"{stale}",
            self.nonce()
        ))
        .expect("a challenge is ASCII")
    }

    /// Let the caller in, or the challenge to answer with.
    pub fn check(&self, parts: &http::request::Parts) -> Result<(), HeaderValue> {
        let Some(given) = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| (v.len() > 7 && v[..7].eq_ignore_ascii_case("digest ")).then(|| &v[7..]))
        else {
            return Err(self.challenge(false));
        };
        let p = params(given);
        let get = |k: &str| {
            p.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.as_str())
        };
        let (Some(user), Some(realm), Some(nonce), Some(uri), Some(response)) = (
            get("username"),
            get("realm"),
            get("nonce"),
            get("uri"),
            get("response"),
        ) else {
            return Err(self.challenge(false));
        };
        let fresh = match self.check_nonce(nonce) {
            Ok(fresh) => fresh,
            Err(()) => return Err(self.challenge(false)),
        };
        // The answer must be for this request's target.
        let target = parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/");
        if realm != REALM || uri != target {
            return Err(self.challenge(false));
        }
        let hash: fn(&str) -> String = match get("algorithm").unwrap_or("MD5") {
            a if a.eq_ignore_ascii_case("MD5") => |s| hex::encode(Md5::digest(s.as_bytes())),
            a if a.eq_ignore_ascii_case("SHA-256") => {
                |s| hex::encode(<Sha256 as sha2::Digest>::digest(s.as_bytes()))
            }
            _ => return Err(self.challenge(false)),
        };
        let ha1 = hash(&format!("{user}:{REALM}:{}", self.password.expose()));
        let ha2 = hash(&format!("{}:{uri}", parts.method.as_str()));
        let expected = match (get("qop"), get("nc"), get("cnonce")) {
            (Some("auth"), Some(nc), Some(cnonce)) => {
                hash(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
            }
            _ => return Err(self.challenge(false)),
        };
        let user_ok: bool = user
            .as_bytes()
            .ct_eq(self.username.expose().as_bytes())
            .into();
        let response_ok: bool = expected
            .as_bytes()
            .ct_eq(response.to_ascii_lowercase().as_bytes())
            .into();
        if !(user_ok && response_ok) {
            return Err(self.challenge(false));
        }
        if !fresh {
            return Err(self.challenge(true));
        }
        Ok(())
    }
}

/// `k=v, k="v"` pairs of a Digest credential.
fn params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((name, after)) = rest.split_once('=') else {
            break;
        };
        let name = name.trim().trim_start_matches(',').trim().to_owned();
        let after = after.trim_start();
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &q[end.min(q.len())..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        out.push((name, value));
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str, authorization: Option<&str>) -> http::request::Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        if let Some(a) = authorization {
            b = b.header("authorization", a);
        }
        b.body(()).unwrap().into_parts().0
    }

    /// Answer `challenge` the way a client library does (the `digest_auth` crate, not
    /// this module's code).
    fn answer(challenge: &HeaderValue, method: &str, uri: &str, user: &str, pass: &str) -> String {
        let mut prompt = digest_auth::parse(challenge.to_str().unwrap()).unwrap();
        let ctx = digest_auth::AuthContext::new_with_method(
            user,
            pass,
            uri,
            Option::<&[u8]>::None,
            digest_auth::HttpMethod::from(method),
        );
        prompt.respond(&ctx).unwrap().to_header_string()
    }

    #[test]
    fn a_client_librarys_answer_is_accepted_and_wrong_ones_are_challenged() {
        let auth = DigestAuth::new(Secret::new("ada".into()), Secret::new("s3cret".into()));
        let challenge = auth.check(&parts("GET", "/ships?x=1", None)).unwrap_err();
        let c = challenge.to_str().unwrap();
        assert!(
            c.starts_with("Digest realm=\"ikanos\", qop=\"auth\", algorithm=MD5, nonce=\""),
            "{c}"
        );
        let good = answer(&challenge, "GET", "/ships?x=1", "ada", "s3cret");
        assert!(auth.check(&parts("GET", "/ships?x=1", Some(&good))).is_ok());
        // Wrong password, wrong user, another target, another method: challenged again.
        for (method, uri, user, pass) in [
            ("GET", "/ships?x=1", "ada", "nope"),
            ("GET", "/ships?x=1", "bob", "s3cret"),
        ] {
            let bad = answer(&challenge, method, uri, user, pass);
            assert!(auth.check(&parts("GET", "/ships?x=1", Some(&bad))).is_err());
        }
        let elsewhere = answer(&challenge, "GET", "/other", "ada", "s3cret");
        assert!(auth
            .check(&parts("GET", "/ships?x=1", Some(&elsewhere)))
            .is_err());
        assert!(auth
            .check(&parts("DELETE", "/ships?x=1", Some(&good)))
            .is_err());
        // A nonce from another process (another key) is not accepted.
        let other = DigestAuth::new(Secret::new("ada".into()), Secret::new("s3cret".into()));
        let foreign = answer(
            &other.challenge(false),
            "GET",
            "/ships?x=1",
            "ada",
            "s3cret",
        );
        assert!(auth
            .check(&parts("GET", "/ships?x=1", Some(&foreign)))
            .is_err());
        // Garbage never panics.
        for junk in [
            "Digest",
            "Digest =",
            "Digest a=\"",
            "Digest ,,,",
            "Basic abc",
        ] {
            assert!(auth.check(&parts("GET", "/", Some(junk))).is_err());
        }
    }

    #[test]
    fn an_expired_nonce_is_answered_stale() {
        let auth = DigestAuth::new(Secret::new("ada".into()), Secret::new("s3cret".into()));
        let stamp = (DigestAuth::now() - NONCE_LIFETIME_SECS - 10).to_string();
        let old = format!("{stamp}.{}", auth.sign(&stamp));
        let challenge = HeaderValue::from_str(&format!(
            "Digest realm=\"ikanos\", qop=\"auth\", algorithm=MD5, nonce=\"{old}\", opaque=\"ikanos\""
        ))
        .unwrap();
        let late = answer(&challenge, "GET", "/", "ada", "s3cret");
        let refused = auth.check(&parts("GET", "/", Some(&late))).unwrap_err();
        assert!(
            refused.to_str().unwrap().ends_with("stale=true"),
            "{refused:?}"
        );
    }
}
