//! Authentication the host adds (basic, apikey in a header or the query, digest),
//! binds from the environment, and TLS to a private-PKI upstream over HTTP/2.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::support::fixtures::{
    self, Authentication, Capability, BEARER_CRM_TOKEN, HOSTILE_DISPLAY,
};
use crate::support::upstream::{Auth, Upstream};
use crate::support::*;

const USER: &str = "crm-user";
const PASS: &str = "pa55-w0rd-never-log-me";
const KEY: &str = "key-9d2f-never-log-me";

/// The hostile capability with `auth` as the crm authentication block and binds for
/// every credential.
fn capability(dir: &Path, base: &str, auth: Authentication) -> PathBuf {
    write(
        dir,
        "secrets.yaml",
        &format!(
            "crm-bearer-token: t\ncrm-user: \"{USER}\"\ncrm-pass: \"{PASS}\"\ncrm-key: \"{KEY}\"\n"
        ),
    );
    Capability::hostile("Auth test", base)
        .bind_key("CRM_USER", "crm-user")
        .bind_key("CRM_PASS", "crm-pass")
        .bind_key("CRM_KEY", "crm-key")
        .crm_authentication(auth)
        .write(dir, "auth.ikanos.yaml")
}

const BASIC: Authentication = Authentication::Basic {
    username: "{{secrets.CRM_USER}}",
    password: "{{secrets.CRM_PASS}}",
};

fn check(upstream_auth: Auth, block: Authentication) -> (Upstream, Host, tempfile::TempDir) {
    let c = components();
    let upstream = Upstream::start(upstream_auth);
    let dir = tempfile::tempdir().unwrap();
    let file = capability(dir.path(), &upstream.base(), block);
    let host = HostBuilder::new(&file).component(&c.hostile).start(1);
    let v = list_customers(&host);
    assert_eq!(v["status"], 200, "{v}");
    (upstream, host, dir)
}

fn assert_no_leak(host: &Host) {
    let out = host.all_output();
    for s in [PASS, KEY] {
        assert!(
            !out.contains(s),
            "a credential leaked into the logs:\n{out}"
        );
    }
}

#[test]
fn basic_authentication() {
    let (_u, host, _dir) = check(
        Auth {
            basic: Some((USER.into(), PASS.into())),
            ..Auth::default()
        },
        BASIC,
    );
    assert_no_leak(&host);
}

#[test]
fn apikey_goes_in_a_header_by_default() {
    let (u, host, _dir) = check(
        Auth {
            apikey_header: Some(("X-Api-Key".into(), KEY.into())),
            ..Auth::default()
        },
        Authentication::ApiKey {
            key: "X-Api-Key",
            value: "{{secrets.CRM_KEY}}",
            placement: None,
        },
    );
    assert!(u.requests()[0].query.is_none());
    assert_no_leak(&host);
}

#[test]
fn apikey_in_the_query() {
    let (u, host, _dir) = check(
        Auth {
            apikey_query: Some(("api_key".into(), KEY.into())),
            ..Auth::default()
        },
        Authentication::ApiKey {
            key: "api_key",
            value: "{{CRM_KEY}}",
            placement: Some("query"),
        },
    );
    assert_eq!(u.requests()[0].header("x-api-key"), None);
    // A failing call logs the operation, never the URL with its key.
    let r = post(
        &format!(
            "{}/call?ns=crm&op=get-slow&p_ms=10",
            host.rest_url("hostile")
        ),
        "text/plain",
        "",
    );
    assert_eq!(r.status, 200);
    assert_no_leak(&host);
}

#[test]
fn digest_authentication_answers_the_challenge() {
    let (u, host, _dir) = check(
        Auth {
            digest: Some((USER.into(), PASS.into())),
            ..Auth::default()
        },
        Authentication::Digest {
            username: "{{secrets.CRM_USER}}",
            password: "{{secrets.CRM_PASS}}",
        },
    );
    let seen = u.requests();
    assert_eq!(seen.len(), 2, "a challenge, then the answer");
    assert!(seen[0].header("authorization").is_none());
    assert!(seen[1]
        .header("authorization")
        .unwrap()
        .starts_with("Digest "));
    assert_no_leak(&host);
}

#[test]
fn wrong_credentials_are_the_upstreams_answer_not_a_host_error() {
    let c = components();
    let upstream = Upstream::start(Auth {
        basic: Some((USER.into(), "another".into())),
        ..Auth::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let file = capability(dir.path(), &upstream.base(), BASIC);
    let host = HostBuilder::new(&file).component(&c.hostile).start(1);
    assert_eq!(list_customers(&host)["status"], 401);
}

#[test]
fn binds_from_the_environment() {
    let c = components();
    let token = "env-token-never-log-me";
    let upstream = Upstream::start(Auth {
        bearer: Some(token.into()),
        ..Auth::default()
    });
    for location in [None, Some("env://")] {
        let dir = tempfile::tempdir().unwrap();
        let file = Capability::hostile(HOSTILE_DISPLAY, &upstream.base())
            .bind_location(location)
            .bind_keys(&[("CRM_TOKEN", "IKANOS_TEST_CRM_TOKEN")])
            .write(dir.path(), "env.ikanos.yaml");
        let host = HostBuilder::new(&file)
            .component(&c.hostile)
            .env("IKANOS_TEST_CRM_TOKEN", token)
            .start(1);
        assert_eq!(list_customers(&host)["status"], 200);
        assert!(!host.all_output().contains(token));

        // Unset: start-up fails and says which variable.
        let (code, out) = HostBuilder::new(&file)
            .arg("--component")
            .arg(c.hostile.display().to_string())
            .run_to_exit();
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("IKANOS_TEST_CRM_TOKEN"), "{out}");
    }
}

/// A private CA, a `localhost` certificate signed by it, and an HTTPS upstream that
/// speaks HTTP/2 and HTTP/1.1 (ALPN) and reports the version it saw.
pub struct TlsUpstream {
    pub port: u16,
    pub ca_pem: String,
    pub versions: Arc<Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<std::thread::JoinHandle<()>>,
}

impl TlsUpstream {
    /// Close the listener and every open connection (a backend that went down).
    pub fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}

fn tls_upstream() -> TlsUpstream {
    tls_upstream_for("localhost")
}

/// An HTTPS upstream on 127.0.0.1 whose certificate names `hostname`.
pub fn tls_upstream_for(hostname: &str) -> TlsUpstream {
    let crate::support::tls::PrivateCa {
        ca_pem, acceptor, ..
    } = crate::support::tls::PrivateCa::server(hostname, &[b"h2", b"http/1.1"]);

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let versions = Arc::new(Mutex::new(Vec::new()));
    let seen = versions.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let server = serve_on_thread(listener, Some(stopped), move |tcp| {
        let (acceptor, seen) = (acceptor.clone(), seen.clone());
        async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let svc =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    async move {
                        seen.lock().unwrap().push(format!("{:?}", req.version()));
                        Ok::<_, std::convert::Infallible>(http::Response::new(
                            http_body_util::Full::new(bytes::Bytes::from_static(b"[]")),
                        ))
                    }
                });
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
        }
    });
    TlsUpstream {
        port,
        ca_pem,
        versions,
        stop: Some(stop),
        server: Some(server),
    }
}

#[test]
fn https_to_a_private_ca_needs_its_bundle_and_speaks_http2() {
    let c = components();
    let up = tls_upstream();
    let dir = tempfile::tempdir().unwrap();
    let file = fixtures::hostile(dir.path(), &format!("https://localhost:{}", up.port));
    let ca = write(dir.path(), "private-ca.pem", &up.ca_pem);

    // Without the bundle the certificate is not trusted: a transport error, nothing served.
    let host = HostBuilder::new(&file).component(&c.hostile).start(1);
    let v = list_customers(&host);
    assert_transport_error(&v, "certificate");
    assert!(up.versions.lock().unwrap().is_empty());
    drop(host);

    let host = HostBuilder::new(&file)
        .component(&c.hostile)
        .arg("--ca-bundle")
        .arg(format!("crm={}", ca.display()))
        .start(1);
    let v = list_customers(&host);
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(up.versions.lock().unwrap().as_slice(), ["HTTP/2.0"]);

    // A bundle for a namespace that does not exist is a start-up error.
    let (code, out) = HostBuilder::new(&file)
        .arg("--component")
        .arg(c.hostile.display().to_string())
        .arg("--ca-bundle")
        .arg(format!("nope={}", ca.display()))
        .run_to_exit();
    assert_eq!(code, 1);
    assert!(out.contains("'nope'"), "{out}");
}

#[test]
fn exposed_adapters_check_their_declared_authentication() {
    let c = components();
    let dir = tempfile::tempdir().unwrap();
    fixtures::secrets(dir.path());
    let mut protected = Capability::hostile(HOSTILE_DISPLAY, "http://127.0.0.1:1");
    protected.rest().authentication = Some(BEARER_CRM_TOKEN);
    let file = protected.write(dir.path(), "protected.ikanos.yaml");
    let host = HostBuilder::new(&file).component(&c.hostile).start(1);
    let url = format!("{}/healthy", host.rest_url("hostile"));
    let r = get(&url);
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(
        get_with(&url, &[("authorization", "Bearer wrong")]).status,
        401
    );
    let ok = get_with(
        &url,
        &[("authorization", &format!("Bearer {}", fixtures::TOKEN))],
    );
    assert_eq!(ok.status, 200, "{}", ok.body);

    // Digest: curl's answer to the challenge is let in, a wrong password is not.
    protected.rest().authentication = Some(Authentication::Digest {
        username: "u",
        password: "{{secrets.CRM_TOKEN}}",
    });
    let file = protected.write(dir.path(), "digest.ikanos.yaml");
    let host = HostBuilder::new(&file).component(&c.hostile).start(1);
    let url = format!("{}/healthy", host.rest_url("hostile"));
    let r = get(&url);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|c| c.starts_with("Digest realm=\"ikanos\"")),
        "{:?}",
        r.header("www-authenticate")
    );
    assert_eq!(curl_digest(&url, "u", fixtures::TOKEN), 200);
    assert_eq!(curl_digest(&url, "u", "wrong"), 401);
}
