//! A real HTTP/1.1 upstream on 127.0.0.1 for the tests: a small CRM API that checks
//! credentials the way a real API would, and records every request it receives.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use md5::{Digest, Md5};

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// Read a whole request (its body included) as the upstreams record it.
    pub async fn read(req: http::Request<hyper::body::Incoming>) -> Recorded {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes().to_vec())
            .unwrap_or_default();
        Recorded {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().map(str::to_string),
            headers: parts
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What credentials the upstream demands (none when all are None).
#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub bearer: Option<String>,
    pub basic: Option<(String, String)>,
    pub apikey_header: Option<(String, String)>,
    pub apikey_query: Option<(String, String)>,
    pub digest: Option<(String, String)>,
}

pub struct Upstream {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    connections: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Upstream {
    /// The test CRM wanting the test's bearer token (`fixtures::TOKEN`).
    pub fn bearer() -> Upstream {
        Upstream::start(Auth {
            bearer: Some(super::fixtures::TOKEN.into()),
            ..Auth::default()
        })
    }

    pub fn start(auth: Auth) -> Upstream {
        let std_listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("binding the upstream");
        let addr = std_listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (reqs, conns) = (requests.clone(), connections.clone());
        let auth = Arc::new(auth);
        let thread = super::serve_on_thread(std_listener, Some(rx), move |stream| {
            conns.fetch_add(1, Ordering::SeqCst);
            let (reqs, auth) = (reqs.clone(), auth.clone());
            async move {
                let svc = service_fn(move |req| handle(req, reqs.clone(), auth.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            }
        });
        Upstream {
            addr,
            requests,
            connections,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn customers() -> serde_json::Value {
    serde_json::json!([
        {"id": "1", "name": "Ada Lovelace", "email": "ada@example.test"},
        {"id": "2", "name": "Grace Hopper", "email": "grace@example.test"},
        {"id": "3", "name": "Alan Turing", "email": "alan@example.test"},
    ])
}

fn resp(status: u16, content_type: &str, body: impl Into<Bytes>) -> http::Response<Full<Bytes>> {
    http::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .unwrap()
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

const NONCE: &str = "dcd98b7102dd2f0e8b11d0f600bfb0c093";
const REALM: &str = "crm@test";

fn digest_ok(header: &str, method: &str, user: &str, pass: &str) -> bool {
    let Some(rest) = header.strip_prefix("Digest ") else {
        return false;
    };
    let mut f = std::collections::HashMap::new();
    for part in rest.split(',') {
        if let Some((k, v)) = part.trim().split_once('=') {
            f.insert(k.trim().to_string(), v.trim().trim_matches('"').to_string());
        }
    }
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    if get("username") != user || get("realm") != REALM || get("nonce") != NONCE {
        return false;
    }
    let ha1 = md5_hex(&format!("{user}:{REALM}:{pass}"));
    let ha2 = md5_hex(&format!("{method}:{}", get("uri")));
    let expected = md5_hex(&format!(
        "{ha1}:{NONCE}:{}:{}:{}:{ha2}",
        get("nc"),
        get("cnonce"),
        get("qop")
    ));
    expected == get("response")
}

fn authorized(auth: &Auth, req: &Recorded) -> Result<(), Box<http::Response<Full<Bytes>>>> {
    let deny = || Box::new(resp(401, "application/json", r#"{"error":"unauthorized"}"#));
    let authz = req.header("authorization").unwrap_or("");
    if let Some(t) = &auth.bearer {
        if authz != format!("Bearer {t}") {
            return Err(deny());
        }
    }
    if let Some((u, p)) = &auth.basic {
        use base64::Engine as _;
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        );
        if authz != want {
            return Err(deny());
        }
    }
    if let Some((k, v)) = &auth.apikey_header {
        if req.header(k) != Some(v.as_str()) {
            return Err(deny());
        }
    }
    if let Some((k, v)) = &auth.apikey_query {
        let ok = req
            .query
            .as_deref()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .any(|(a, b)| a == k.as_str() && b == v.as_str())
            })
            .unwrap_or(false);
        if !ok {
            return Err(deny());
        }
    }
    if let Some((u, p)) = &auth.digest {
        if !digest_ok(authz, &req.method, u, p) {
            let mut r = deny();
            r.headers_mut().insert(
                "www-authenticate",
                format!(r#"Digest realm="{REALM}", qop="auth", nonce="{NONCE}", opaque="5ccc069c403ebaf9f0171e9517f40e41""#).parse().unwrap(),
            );
            return Err(r);
        }
    }
    Ok(())
}

async fn handle(
    req: http::Request<hyper::body::Incoming>,
    log: Arc<Mutex<Vec<Recorded>>>,
    auth: Arc<Auth>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let rec = Recorded::read(req).await;
    log.lock().unwrap().push(rec.clone());
    if let Err(denied) = authorized(&auth, &rec) {
        return Ok(*denied);
    }
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
    let path: Vec<&str> = rec.path.split('/').filter(|s| !s.is_empty()).collect();
    Ok(match (rec.method.as_str(), path.as_slice()) {
        ("GET", ["customers"]) => {
            let mut list = customers().as_array().unwrap().clone();
            if let Some(limit) = q("limit").and_then(|l| l.parse::<usize>().ok()) {
                list.truncate(limit);
            }
            resp(
                200,
                "application/json",
                serde_json::Value::Array(list).to_string(),
            )
        }
        ("GET", ["customers", id]) => match customers()
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == *id)
        {
            Some(c) => resp(200, "application/json", c.to_string()),
            None => resp(404, "application/json", r#"{"error":"no such customer"}"#),
        },
        (_, ["slow"]) => {
            let ms = q("ms").and_then(|m| m.parse().ok()).unwrap_or(1000);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            resp(200, "text/plain", "slow")
        }
        // `n` generated records, for declarative operations over large answers.
        ("GET", ["records"]) => {
            let n = q("n").and_then(|m| m.parse().ok()).unwrap_or(10usize);
            let records: Vec<serde_json::Value> = (0..n)
                .map(|i| {
                    serde_json::json!({
                        "id": format!("r{i}"),
                        "name": format!("record {i}"),
                        "tags": ["alpha", "beta", "gamma"],
                        "nested": {"x": {"y": i, "z": [i, i + 1]}},
                    })
                })
                .collect();
            resp(
                200,
                "application/json",
                serde_json::Value::Array(records).to_string(),
            )
        }
        (_, ["big"]) => {
            let n = q("bytes").and_then(|m| m.parse().ok()).unwrap_or(1 << 20);
            resp(200, "application/octet-stream", vec![b'y'; n])
        }
        _ => {
            let echo = serde_json::json!({
                "method": rec.method,
                "path": rec.path,
                "query": rec.query,
                "headers": rec.headers.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
                "body": String::from_utf8_lossy(&rec.body),
            });
            resp(200, "application/json", echo.to_string())
        }
    })
}
