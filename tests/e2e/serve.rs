//! `ikanos serve`: many capabilities in one process. Folder loading, the shared
//! listener, changes through the folder watch and the admin API while a neighbour's
//! request is in flight, broken capabilities beside working ones, hostile guests
//! contained while a neighbour keeps answering, and isolation between capabilities that
//! use the same namespace names.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use crate::support::fixtures::TOKEN;
use crate::support::serve::{hostile_folder, hostile_text, write_atomic, Serve, ServeBuilder};
use crate::support::upstream::{Auth, Upstream};
use crate::support::*;

/// An upstream whose `/hold` answers only once the test releases it: a request that is
/// provably in flight while the test changes the host, with no timing involved.
struct Gate {
    addr: std::net::SocketAddr,
    arrived: Arc<AtomicUsize>,
    release: Arc<tokio::sync::watch::Sender<bool>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Gate {
    fn start() -> Gate {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let arrived = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(tokio::sync::watch::channel(false).0);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (a, r) = (arrived.clone(), release.clone());
        let thread = serve_on_thread(listener, Some(rx), move |stream| {
            let (a, r) = (a.clone(), r.clone());
            async move {
                let svc = service_fn(move |_req| {
                    let (a, mut open) = (a.clone(), r.subscribe());
                    async move {
                        a.fetch_add(1, Ordering::SeqCst);
                        let _ = open.wait_for(|released| *released).await;
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from("released"))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            }
        });
        Gate {
            addr,
            arrived,
            release,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Wait until `n` requests are held.
    fn wait_arrived(&self, n: usize, serve: &Serve) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while self.arrived.load(Ordering::SeqCst) < n {
            assert!(
                std::time::Instant::now() < deadline,
                "the held request never reached the gate; output:\n{}",
                serve.all_output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn open(&self) {
        let _ = self.release.send(true);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.open();
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn crm() -> Upstream {
    Upstream::start(Auth {
        bearer: Some(TOKEN.into()),
        ..Auth::default()
    })
}

/// A request through capability `name`'s `call` operation; its JSON answer.
fn call(serve: &Serve, name: &str, query: &str) -> serde_json::Value {
    let r = post(
        &serve.url(name, &format!("/call?{query}")),
        "text/plain",
        "",
    );
    assert_eq!(r.status, 200, "{}: {}", name, r.body);
    r.json()
}

fn echo_ok(serve: &Serve, name: &str, id: &str) {
    let r = post(
        &serve.url(name, &format!("/echo/{id}?n=7")),
        "text/plain",
        "hello",
    );
    assert_eq!(r.status, 200, "{name} echo: {}", r.body);
    let v = r.json();
    assert_eq!(v["inputs"]["id"], id, "{v}");
    assert_eq!(v["inputs"]["n"], "7", "{v}");
    assert_eq!(v["body"], "hello", "{v}");
}

fn generation(serve: &Serve, name: &str) -> u64 {
    serve.capability(name).expect("present")["generation"]
        .as_u64()
        .unwrap()
}

fn metrics(serve: &Serve) -> String {
    get(&format!("{}/metrics", serve.control)).body
}

#[test]
fn a_folder_is_served_on_the_shared_listener_and_own_ports_with_a_broken_capability_reported() {
    let upstream = crm();
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps");
    std::fs::create_dir(&caps).unwrap();
    hostile_folder(&caps, "alpha", "Alpha", &upstream.base(), None, TOKEN);
    hostile_folder(&caps, "beta", "Beta", &upstream.base(), None, TOKEN);
    // A capability file directly in the folder, beside its component and secrets.
    write(
        &caps,
        "secrets.yaml",
        &format!("crm-bearer-token: \"{TOKEN}\"\n"),
    );
    std::fs::copy(&components().hostile, caps.join("gamma.wasm")).unwrap();
    write(
        &caps,
        "gamma.ikanos.yaml",
        &hostile_text("Gamma", &upstream.base(), None),
    );
    // Broken: a reference to an undeclared bind.
    std::fs::create_dir(caps.join("broken")).unwrap();
    write(
        &caps.join("broken"),
        "broken.ikanos.yaml",
        "ikanos: \"1.0.0-beta5\"\ninfo:\n  display: \"Broken\"\n  description: \"x\"\ncapability:\n  exposes: 7\n",
    );

    let serve = ServeBuilder::new(&caps).start();

    for name in ["alpha", "beta", "gamma"] {
        echo_ok(&serve, name, &format!("{name}-1"));
        let v = call(&serve, name, "ns=crm&op=list-customers&p_limit=2");
        assert_eq!(v["status"], 200, "{v}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(v["body"].as_str().unwrap()).unwrap()[1]
                ["name"],
            "Grace Hopper"
        );
    }
    // Each capability also on the port its file declares (port 0: a port of its own).
    let own = serve.own_url("alpha", "hostile");
    let r = get(&format!("{own}/healthy"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_ne!(own, serve.own_url("beta", "hostile"));

    // Unknown capability, and the prefix alone.
    let r = get(&serve.url("nobody", "/healthy"));
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body.contains("no capability 'nobody'"), "{}", r.body);
    let r = get(&format!("{}/", serve.shared));
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["capabilities"].as_array().unwrap().len(), 4);
    // A path the capability does not expose: its own 404.
    let r = get(&serve.url("alpha", "/nowhere"));
    assert_eq!(r.status, 404);
    assert!(
        r.body.contains("no operation is exposed at /nowhere"),
        "{}",
        r.body
    );

    // The broken one: reported with file:line, answers 503, the others are unaffected.
    let r = get(&serve.url("broken", "/healthy"));
    assert_eq!(r.status, 503, "{}", r.body);
    let ready = get(&format!("{}/health/ready", serve.control));
    assert_eq!(
        ready.status, 200,
        "one broken capability leaves the host ready: {}",
        ready.body
    );
    let ready = ready.json();
    assert_eq!(ready["status"], "DEGRADED");
    let broken = ready["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "broken")
        .unwrap()
        .clone();
    assert_eq!(broken["state"], "failed");
    assert!(
        broken["error"]
            .as_str()
            .unwrap()
            .contains("broken.ikanos.yaml:6:"),
        "{broken}"
    );
    assert_eq!(
        get(&format!("{}/health/ready/broken", serve.control)).status,
        503
    );
    assert!(
        metrics(&serve)
            .contains("ikanos_capability_loads_total{capability=\"broken\",outcome=\"failed\"} 1"),
        "a failed load is counted"
    );
    assert_eq!(
        get(&format!("{}/health/ready/alpha", serve.control)).status,
        200
    );
    assert_eq!(
        get(&format!("{}/health/ready/nobody", serve.control)).status,
        404
    );

    let status = serve.status();
    assert_eq!(status["counts"]["ready"], 3, "{status}");
    assert_eq!(status["counts"]["failed"], 1, "{status}");
    // Three capabilities, one component: compiled code loaded once and shared.
    assert_eq!(status["host"]["components"], 1, "{status}");
    let origins: Vec<String> = ["alpha", "beta", "gamma"]
        .iter()
        .map(|n| {
            serve.capability(n).unwrap()["component"]["origin"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        origins.iter().filter(|o| *o == "shared").count(),
        2,
        "{origins:?}"
    );
    let alpha = serve.capability("alpha").unwrap();
    assert_eq!(alpha["state"], "ready");
    assert_eq!(
        alpha["limits"]["maxConcurrency"], 16,
        "safe default: {alpha}"
    );
    assert_eq!(alpha["consumes"][0]["namespace"], "crm");

    // Metrics carry the capability.
    let m = metrics(&serve);
    for name in ["alpha", "beta", "gamma"] {
        let needle = format!("ikanos_capability_active{{capability=\"{name}\"}} 1");
        assert!(m.contains(&needle), "missing {needle} in\n{m}");
        assert!(
            m.contains(&format!("ikanos_request_total{{capability=\"{name}\",ikanos_adapter_type=\"rest\",ikanos_operation_id=\"echo\"")),
            "{m}"
        );
    }
    assert!(!serve.all_output().contains(TOKEN));
    assert!(!m.contains(TOKEN));
}

#[test]
fn the_folder_watch_adds_replaces_and_removes_while_requests_are_in_flight() {
    let upstream = crm();
    let gate = Gate::start();
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path();
    hostile_folder(
        caps,
        "alpha",
        "Alpha v1",
        &upstream.base(),
        Some(&gate.base()),
        TOKEN,
    );
    hostile_folder(caps, "beta", "Beta v1", &upstream.base(), None, TOKEN);
    let serve = ServeBuilder::new(caps).start();
    let (alpha1, beta1) = (generation(&serve, "alpha"), generation(&serve, "beta"));

    // A request of alpha held at its upstream, through the shared listener; another
    // through alpha's own port.
    let held_shared = {
        let url = serve.url("alpha", "/call?ns=gate&op=hold");
        std::thread::spawn(move || post(&url, "text/plain", ""))
    };
    let held_own = {
        let url = format!("{}/call?ns=gate&op=hold", serve.own_url("alpha", "hostile"));
        std::thread::spawn(move || post(&url, "text/plain", ""))
    };
    gate.wait_arrived(2, &serve);

    // Replace the neighbour, and alpha itself, while alpha's requests are held.
    write_atomic(
        &caps.join("beta/beta.ikanos.yaml"),
        &hostile_text("Beta v2", &upstream.base(), None),
    );
    serve.wait_for("beta", "replaced", |c| {
        c.is_some_and(|c| c["display"] == "Beta v2")
    });
    assert!(generation(&serve, "beta") > beta1);
    echo_ok(&serve, "beta", "after-replace");
    write_atomic(
        &caps.join("alpha/alpha.ikanos.yaml"),
        &hostile_text("Alpha v2", &upstream.base(), Some(&gate.base())),
    );
    serve.wait_for("alpha", "replaced", |c| {
        c.is_some_and(|c| c["display"] == "Alpha v2")
    });
    assert!(generation(&serve, "alpha") > alpha1);
    // New requests reach the new version; the held ones are still held.
    echo_ok(&serve, "alpha", "new-version");
    assert!(!held_shared.is_finished() && !held_own.is_finished());

    // Add a capability: a new folder.
    hostile_folder(caps, "gamma", "Gamma", &upstream.base(), None, TOKEN);
    serve.wait_for("gamma", "loaded", |c| {
        c.is_some_and(|c| c["state"] == "ready")
    });
    echo_ok(&serve, "gamma", "added");

    // Remove the neighbour: its file goes.
    std::fs::remove_file(caps.join("beta/beta.ikanos.yaml")).unwrap();
    serve.wait_for("beta", "removed", |c| c.is_none());
    assert_eq!(get(&serve.url("beta", "/healthy")).status, 404);

    // The held requests finish with their answers, on the version they started on.
    gate.open();
    for held in [held_shared, held_own] {
        let r = held.join().unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        assert_eq!(v["status"], 200, "{v}");
        assert_eq!(v["body"], "released", "{v}");
    }
    echo_ok(&serve, "alpha", "still-there");
    let out = serve.all_output();
    assert!(
        out.contains("capability replaced capability=alpha"),
        "{out}"
    );
    assert!(
        out.contains("removed: its file is gone capability=beta"),
        "{out}"
    );
    let m = metrics(&serve);
    assert!(
        m.contains("ikanos_capability_active{capability=\"beta\"} 0"),
        "a removed capability is no longer active"
    );
    for needle in [
        "ikanos_capability_loads_total{capability=\"alpha\",outcome=\"loaded\"} 1",
        "ikanos_capability_loads_total{capability=\"alpha\",outcome=\"replaced\"} 1",
        "ikanos_capability_loads_total{capability=\"beta\",outcome=\"replaced\"} 1",
        "ikanos_capability_loads_total{capability=\"beta\",outcome=\"removed\"} 1",
        "ikanos_capability_loads_total{capability=\"gamma\",outcome=\"loaded\"} 1",
    ] {
        assert!(m.contains(needle), "missing {needle} in\n{m}");
    }
}

#[test]
fn the_admin_api_needs_the_token_and_changes_capabilities_without_dropping_requests() {
    let upstream = crm();
    let gate = Gate::start();
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps");
    std::fs::create_dir(&caps).unwrap();
    hostile_folder(
        &caps,
        "alpha",
        "Alpha",
        &upstream.base(),
        Some(&gate.base()),
        TOKEN,
    );
    let admin_token = "admin-7b1e0f5c-never-log-me";
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, format!("{admin_token}\n")).unwrap();
    // No folder watch: every change here goes through the API.
    let serve = ServeBuilder::new(&caps)
        .arg("--no-watch")
        .arg("--admin-token-file")
        .arg(token_file.display().to_string())
        .start();
    let api = |method: &str, path: &str, token: Option<&str>, body: &[u8]| -> Resp {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", serve.control));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut r = agent.run(req.body(body.to_vec()).unwrap()).unwrap();
        Resp {
            status: r.status().as_u16(),
            headers: r
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
            body: r.body_mut().read_to_string().unwrap_or_default(),
        }
    };

    // Reading needs no token; changing does.
    assert_eq!(api("GET", "/status", None, b"").status, 200);
    let text = hostile_text("Delta v1", &upstream.base(), None);
    let r = api("PUT", "/capabilities/delta", None, text.as_bytes());
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r
        .header("www-authenticate")
        .is_some_and(|h| h.starts_with("Bearer")));
    let r = api(
        "PUT",
        "/capabilities/delta",
        Some("wrong-token-0123456789"),
        text.as_bytes(),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = api(
        "DELETE",
        "/capabilities/alpha",
        Some("wrong-token-0123456789"),
        b"",
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(serve.capability("delta").is_none());
    assert!(serve.capability("alpha").is_some());
    let r = api("PUT", "/capabilities/Bad%20Name", Some(admin_token), b"");
    assert_eq!(r.status, 400, "{}", r.body);

    // Hold a request of alpha while delta is added, replaced and removed.
    let held = {
        let url = serve.url("alpha", "/call?ns=gate&op=hold");
        std::thread::spawn(move || post(&url, "text/plain", ""))
    };
    gate.wait_arrived(1, &serve);

    // Add: component first (nothing to load yet), then the file (its binds read
    // secrets.yaml beside it).
    write(
        &caps,
        "secrets.yaml",
        &format!("crm-bearer-token: \"{TOKEN}\"\n"),
    );
    let wasm = std::fs::read(&components().hostile).unwrap();
    let r = api(
        "PUT",
        "/capabilities/delta/component",
        Some(admin_token),
        &wasm,
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let r = api(
        "PUT",
        "/capabilities/delta",
        Some(admin_token),
        text.as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["outcome"], "loaded");
    assert_eq!(r.json()["state"], "ready");
    echo_ok(&serve, "delta", "v1");

    // Replace with a broken file: refused with file:line, the previous version serves on.
    let r = api(
        "PUT",
        "/capabilities/delta",
        Some(admin_token),
        b"ikanos: [\n",
    );
    assert_eq!(r.status, 422, "{}", r.body);
    let v = r.json();
    assert!(
        v["error"].as_str().unwrap().contains("delta.ikanos.yaml:"),
        "{v}"
    );
    assert_eq!(v["state"], "ready", "{v}");
    assert!(v["lastError"].is_string(), "{v}");
    echo_ok(&serve, "delta", "still-v1");

    // Replace with a good one.
    let r = api(
        "PUT",
        "/capabilities/delta",
        Some(admin_token),
        hostile_text("Delta v2", &upstream.base(), None).as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["outcome"], "replaced");
    assert_eq!(r.json()["display"], "Delta v2");
    assert!(r.json().get("lastError").is_none(), "{}", r.body);
    echo_ok(&serve, "delta", "v2");

    // Reload from disk, then remove.
    let r = api("POST", "/capabilities/delta/reload", Some(admin_token), b"");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api("DELETE", "/capabilities/delta", Some(admin_token), b"");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!caps.join("delta.ikanos.yaml").exists());
    assert_eq!(get(&serve.url("delta", "/healthy")).status, 404);
    let r = api("DELETE", "/capabilities/delta", Some(admin_token), b"");
    assert_eq!(r.status, 404, "{}", r.body);

    // Alpha's held request was never disturbed.
    assert!(!held.is_finished());
    gate.open();
    let r = held.join().unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["body"], "released");

    let out = serve.all_output();
    assert!(
        !out.contains(admin_token),
        "the admin token was logged:\n{out}"
    );
    assert!(out.contains("admin API: wrong token"), "{out}");
}

#[test]
fn hostile_capabilities_are_contained_while_a_neighbour_keeps_answering() {
    let upstream = crm();
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps");
    std::fs::create_dir(&caps).unwrap();
    hostile_folder(&caps, "bad", "Bad", &upstream.base(), None, TOKEN);
    hostile_folder(&caps, "good", "Good", &upstream.base(), None, TOKEN);
    let serve = ServeBuilder::new(&caps)
        .config(
            &dir.path().join("host.yaml"),
            "capabilities:\n  bad:\n    limits:\n      cpuTime: 200ms\n      memoryMib: 16\n      maxConcurrency: 2\n      requestTimeout: 10s\n      maxResponseBody: 1048576\n      maxOutboundCalls: 5\n      maxRequestBody: 1000\n",
        )
        .start();
    let bad = serve.capability("bad").unwrap();
    assert_eq!(bad["limits"]["cpuTimeMs"], 200, "{bad}");
    assert_eq!(bad["limits"]["memoryBytes"], 16 << 20, "{bad}");
    assert_eq!(bad["limits"]["maxConcurrency"], 2, "{bad}");

    // The neighbour answers correctly the whole time, on the shared listener.
    let stop = Arc::new(AtomicBool::new(false));
    let neighbour = {
        let (stop, url) = (stop.clone(), serve.shared.clone());
        std::thread::spawn(move || {
            let mut answered = 0u32;
            while !stop.load(Ordering::SeqCst) {
                let id = format!("n{answered}");
                let r = post(&format!("{url}/good/echo/{id}?n=1"), "text/plain", &id);
                assert_eq!(r.status, 200, "the neighbour failed: {}", r.body);
                let v = r.json();
                assert_eq!(v["inputs"]["id"], id.as_str());
                assert_eq!(v["body"], id.as_str());
                let r = post(
                    &format!("{url}/good/call?ns=crm&op=get-customer&p_id=3"),
                    "text/plain",
                    "",
                );
                assert_eq!(r.status, 200, "the neighbour's call failed: {}", r.body);
                assert!(r.json()["body"].as_str().unwrap().contains("Alan Turing"));
                answered += 1;
            }
            answered
        })
    };

    let expect = |path: &str, method: &str, status: u16, says: &str| {
        let r = if method == "GET" {
            get(&serve.url("bad", path))
        } else {
            post(&serve.url("bad", path), "text/plain", "")
        };
        assert_eq!(r.status, status, "{path}: {}", r.body);
        let v = r.json();
        assert!(v["error"].as_str().unwrap().contains(says), "{path}: {v}");
        assert!(v["requestId"].is_string(), "{v}");
    };
    expect("/spin", "GET", 504, "CPU time limit of 200ms");
    expect("/grow", "GET", 500, "memory limit of 16 MiB");
    expect("/recurse", "GET", 500, "trapped");
    expect("/trap", "GET", 500, "trapped");
    expect(
        "/big?size=4194304",
        "GET",
        500,
        "exceeds the limit of 1048576 bytes",
    );
    // A request body over the capability's limit.
    let r = post(
        &serve.url("bad", "/echo/x"),
        "text/plain",
        &"b".repeat(2000),
    );
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.body.contains("exceeds 1000 bytes"), "{}", r.body);
    // A slow upstream: the request's own time limit ends it. (10 s, well above the CPU
    // limit, so that a loaded machine still hits the CPU limit first in /spin.)
    expect(
        "/call?ns=crm&op=get-slow&p_ms=60000",
        "POST",
        504,
        "time limit of 10s",
    );
    // A flood of outbound calls: the budget stops it after 5.
    let r = post(
        &serve.url("bad", "/flood?ns=crm&op=list-customers&n=200"),
        "text/plain",
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["ok"], 5, "{v}");
    assert_eq!(v["errors"]["denied"], 195, "{v}");
    // More spinning requests than it may run at once: each contained, none leaks out.
    let spinners: Vec<_> = (0..4)
        .map(|_| {
            let url = serve.url("bad", "/spin");
            std::thread::spawn(move || get(&url).status)
        })
        .collect();
    for s in spinners {
        assert_eq!(s.join().unwrap(), 504);
    }
    // Still serving after all that.
    assert_eq!(get(&serve.url("bad", "/healthy")).status, 200);

    stop.store(true, Ordering::SeqCst);
    let answered = neighbour
        .join()
        .expect("the neighbour kept answering correctly");
    assert!(answered > 0);

    let m = metrics(&serve);
    for kind in [
        "cpu_deadline",
        "memory_limit",
        "trap",
        "response_too_large",
        "timeout",
    ] {
        assert!(
            m.lines().any(
                |l| l.starts_with("ikanos_request_errors_total{capability=\"bad\"")
                    && l.contains(&format!("error_type=\"{kind}\""))
            ),
            "no {kind} error counted for bad:\n{m}"
        );
    }
    assert!(
        !m.lines()
            .any(|l| l.starts_with("ikanos_request_errors_total{capability=\"good\"")),
        "the neighbour had errors:\n{m}"
    );
    // Upstream calls the flood made: 5 (plus the neighbour's and the slow one).
    let listed = upstream
        .requests()
        .iter()
        .filter(|r| r.path == "/customers")
        .count();
    assert_eq!(listed, 5);
}

#[test]
fn capabilities_never_reach_each_others_secrets_or_consumes_even_with_the_same_names() {
    // Two upstreams, each accepting only its own capability's token.
    let (token_a, token_b) = ("token-of-a-1111111111", "token-of-b-2222222222");
    let up_a = Upstream::start(Auth {
        bearer: Some(token_a.into()),
        ..Auth::default()
    });
    let up_b = Upstream::start(Auth {
        bearer: Some(token_b.into()),
        ..Auth::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps");
    std::fs::create_dir(&caps).unwrap();
    // Same bind namespace (`secrets`), same key, same consumes namespace (`crm`).
    hostile_folder(&caps, "a", "A", &up_a.base(), None, token_a);
    let b = hostile_folder(&caps, "b", "B", &up_b.base(), None, token_b);
    // B also consumes `billing`, which A does not declare.
    let text = std::fs::read_to_string(&b).unwrap().replace(
        "  exposes:\n",
        &format!("    - type: \"http\"\n      namespace: \"billing\"\n      description: \"B's billing\"\n      baseUri: \"{}\"\n      authentication:\n        type: \"bearer\"\n        token: \"{{{{secrets.CRM_TOKEN}}}}\"\n      resources:\n        invoices:\n          path: \"/invoices\"\n          operations:\n            list-invoices:\n              method: \"GET\"\n  exposes:\n", up_b.base()),
    );
    write_atomic(&b, &text);
    // C tries to read B's secrets file from its own folder, D through an absolute path,
    // E through an environment variable the host holds but did not grant.
    for (name, location) in [
        ("c", "file:///./../b/secrets.yaml".to_string()),
        (
            "d",
            format!("file://{}", caps.join("b/secrets.yaml").display()),
        ),
    ] {
        let f = hostile_folder(&caps, name, name, &up_b.base(), None, "unused");
        let t = std::fs::read_to_string(&f)
            .unwrap()
            .replace("file:///./secrets.yaml", &location);
        write_atomic(&f, &t);
    }
    // G sits directly in the shared folder and reaches into B's folder from there.
    std::fs::copy(&components().hostile, caps.join("g.wasm")).unwrap();
    write(
        &caps,
        "g.ikanos.yaml",
        &hostile_text("G", &up_b.base(), None)
            .replace("file:///./secrets.yaml", "file:///./b/secrets.yaml"),
    );
    // H imports a bind declaration that sits in B's folder.
    std::fs::write(
        caps.join("b/shared-binds.yml"),
        "ikanos: \"1.0.0-beta5\"\nbinds:\n  - namespace: shared-secrets\n    location: file:///./secrets.yaml\n    keys:\n      CRM_TOKEN: crm-bearer-token\n",
    )
    .unwrap();
    let h = hostile_folder(&caps, "h", "H", &up_b.base(), None, "unused");
    let t = std::fs::read_to_string(&h).unwrap().replace(
        "  - namespace: \"secrets\"\n    location: \"file:///./secrets.yaml\"\n    keys:\n      CRM_TOKEN: \"crm-bearer-token\"\n",
        "  - import: shared-secrets\n    from: ../b/shared-binds.yml\n    as: secrets\n",
    );
    write_atomic(&h, &t);
    // I imports B's consumes entry (and would send its own token to B's upstream).
    std::fs::write(
        caps.join("b/shared-consumes.yml"),
        format!("ikanos: \"1.0.0-beta5\"\nconsumes:\n  - namespace: billing\n    type: http\n    baseUri: {}\n    resources:\n      invoices:\n        path: /invoices\n        operations:\n          list-invoices:\n            method: GET\n", up_b.base()),
    )
    .unwrap();
    let i = hostile_folder(&caps, "i", "I", &up_a.base(), None, "unused");
    let t = std::fs::read_to_string(&i).unwrap().replace(
        "  consumes:\n",
        "  consumes:\n    - import: billing\n      from: ../b/shared-consumes.yml\n",
    );
    write_atomic(&i, &t);
    let e = hostile_folder(&caps, "e", "E", &up_b.base(), None, "unused");
    let t = std::fs::read_to_string(&e).unwrap().replace(
        "    location: \"file:///./secrets.yaml\"\n    keys:\n      CRM_TOKEN: \"crm-bearer-token\"\n",
        "    keys:\n      CRM_TOKEN: \"HOST_SECRET_TOKEN\"\n",
    );
    write_atomic(&e, &t);
    // F is granted the variable by the host configuration.
    let f = hostile_folder(&caps, "f", "F", &up_b.base(), None, "unused");
    let t = std::fs::read_to_string(&f).unwrap().replace(
        "    location: \"file:///./secrets.yaml\"\n    keys:\n      CRM_TOKEN: \"crm-bearer-token\"\n",
        "    keys:\n      CRM_TOKEN: \"GRANTED_TOKEN\"\n",
    );
    write_atomic(&f, &t);

    let serve = ServeBuilder::new(&caps)
        .config(
            &dir.path().join("host.yaml"),
            "capabilities:\n  f:\n    env: [GRANTED_TOKEN]\n",
        )
        .env("HOST_SECRET_TOKEN", "host-secret-3333333333")
        .env("GRANTED_TOKEN", token_b)
        .start();

    for _ in 0..3 {
        assert_eq!(call(&serve, "a", "ns=crm&op=list-customers")["status"], 200);
        assert_eq!(call(&serve, "b", "ns=crm&op=list-customers")["status"], 200);
        assert_eq!(
            call(&serve, "b", "ns=billing&op=list-invoices")["status"],
            200
        );
    }
    // A cannot name B's consumes, nor smuggle B's token as a parameter it does not declare.
    let v = call(&serve, "a", "ns=billing&op=list-invoices");
    assert_eq!(v["error"], "unknown-operation", "{v}");
    let v = call(
        &serve,
        "a",
        &format!("ns=crm&op=list-customers&p_Authorization=Bearer%20{token_b}"),
    );
    assert_eq!(v["error"], "invalid-input", "{v}");

    let seen = |up: &Upstream| -> String {
        up.requests()
            .iter()
            .map(|r| format!("{} {:?} {:?}", r.path, r.query, r.headers))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (at_a, at_b) = (seen(&up_a), seen(&up_b));
    assert_eq!(up_a.requests().len(), 3, "{at_a}");
    assert!(at_a.contains(token_a) && !at_a.contains(token_b), "{at_a}");
    assert!(!at_a.contains("/invoices"), "{at_a}");
    assert!(at_b.contains(token_b) && !at_b.contains(token_a), "{at_b}");
    // Separate connection pools: each upstream saw only its own capability's connections.
    assert!(up_a.connections() >= 1);

    // C, D, E and G fail to load, naming why, without B's or the host's secret in sight.
    for (name, says, at) in [
        ("c", "outside the capability's folder", "c.ikanos.yaml:"),
        ("d", "outside the capability's folder", "d.ikanos.yaml:"),
        ("e", "does not grant to this capability", "e.ikanos.yaml:"),
        ("g", "reads only the files beside it", "g.ikanos.yaml:"),
        (
            "h",
            "declared in a file this capability may not use",
            "b/shared-binds.yml:4:15",
        ),
        (
            "i",
            "consumes entry declared in a file this capability may not use",
            "b/shared-consumes.yml:5:",
        ),
    ] {
        let c = serve.capability(name).unwrap();
        assert_eq!(c["state"], "failed", "{c}");
        let err = c["error"].as_str().unwrap();
        assert!(err.contains(says), "{name}: {err}");
        assert!(err.contains(at), "{name}: {err}");
    }
    // F was granted its variable.
    let v = call(&serve, "f", "ns=crm&op=list-customers");
    assert_eq!(
        v["status"],
        200,
        "{v} {:?} {:?}",
        up_b.requests().last(),
        serve.capability("f")
    );

    let everything = format!(
        "{}\n{}\n{}",
        serve.all_output(),
        get(&format!("{}/status", serve.control)).body,
        metrics(&serve)
    );
    for secret in [token_a, token_b, "host-secret-3333333333"] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked:\n{everything}"
        );
    }
}

#[cfg(feature = "test-tunnel")]
#[test]
fn two_capabilities_with_the_same_tunnel_block_get_a_session_each() {
    use crate::support::relay::Relay;
    let private = crm();
    let relay = Relay::start(0, &["same-identity"]);
    relay.map("crm.internal:80", private.addr);
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path();
    let tunnel = format!(
        "      tunnel:\n        type: \"test-relay\"\n        service: \"crm-api\"\n        identity: \"{{{{secrets.RELAY_ID}}}}\"\n        fallback: \"fail\"\n        relay: \"{}\"\n",
        relay.addr
    );
    for name in ["one", "two"] {
        let folder = caps.join(name);
        std::fs::create_dir(&folder).unwrap();
        std::fs::copy(&components().hostile, folder.join(format!("{name}.wasm"))).unwrap();
        let file = crate::support::fixtures::hostile_tunnelled(
            &folder,
            &format!("{name}.ikanos.yaml"),
            name,
            "http://crm.internal",
            &tunnel,
            &[("RELAY_ID", "relay-id", "same-identity".to_string())],
        );
        assert!(file.is_file());
    }
    let serve = ServeBuilder::new(caps).start();
    for name in ["one", "two"] {
        serve.wait_for(name, "ready", |c| c.is_some_and(|c| c["state"] == "ready"));
        assert_eq!(
            call(&serve, name, "ns=crm&op=list-customers")["status"],
            200
        );
    }
    // Same type, identity and endpoint: one session per capability all the same.
    assert_eq!(relay.hellos(), vec!["same-identity", "same-identity"]);
    assert_eq!(private.requests().len(), 2);
}

#[test]
fn a_bad_host_configuration_is_refused_with_its_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = ServeBuilder::new(dir.path())
        .config(
            &dir.path().join("host.yaml"),
            "control:\n  token: \"inline-secret-value-here\"\ndefaults:\n  limits:\n    cpuTime: soon\ncapabilities:\n  x:\n    limitz: {}\n",
        )
        .run_to_exit();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("host.yaml:2:10: control.token: write where the token is"),
        "{out}"
    );
    assert!(
        out.contains("host.yaml:5:14: defaults.limits.cpuTime: 'soon'"),
        "{out}"
    );
    assert!(out.contains("host.yaml:8:5: unknown key 'limitz'"), "{out}");
    assert!(!out.contains("inline-secret-value-here"), "{out}");

    let (code, out) = ServeBuilder::new(&dir.path().join("missing")).run_to_exit();
    assert_eq!(code, 1);
    assert!(out.contains("does not exist"), "{out}");
}

#[test]
fn configured_capabilities_and_draining_on_sigterm() {
    let upstream = crm();
    let gate = Gate::start();
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps");
    std::fs::create_dir(&caps).unwrap();
    hostile_folder(&caps, "alpha", "Alpha", &upstream.base(), None, TOKEN);
    // `ext` lives outside the folder and is named in the host configuration, served on
    // the shared listener only.
    let ext = hostile_folder(
        dir.path(),
        "elsewhere",
        "Ext",
        &upstream.base(),
        Some(&gate.base()),
        TOKEN,
    );
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, "admin-token-0123456789abcdef").unwrap();
    let mut serve = ServeBuilder::new(&caps)
        .config(
            &dir.path().join("host.yaml"),
            &format!(
                "control:\n  token: {{file: admin-token}}\ncapabilities:\n  ext:\n    file: \"{}\"\n    component: \"elsewhere/elsewhere.wasm\"\n    ownListeners: false\n    limits: {{maxConcurrency: 3}}\n",
                ext.display()
            ),
        )
        .start();
    let c = serve.capability("ext").expect("ext is loaded");
    assert_eq!(c["state"], "ready", "{c}");
    assert_eq!(c["limits"]["maxConcurrency"], 3, "{c}");
    assert!(
        c["adapters"][0].get("address").is_none(),
        "no own port: {c}"
    );
    echo_ok(&serve, "ext", "configured");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let r = agent
        .put(&format!("{}/capabilities/ext", serve.control))
        .header("authorization", "Bearer admin-token-0123456789abcdef")
        .send("x")
        .unwrap();
    assert_eq!(
        r.status(),
        409,
        "configured capabilities change in the configuration"
    );

    // A request held in flight, then SIGTERM: readiness goes 503, the request finishes,
    // the process exits cleanly.
    let held = {
        let url = serve.url("ext", "/call?ns=gate&op=hold");
        std::thread::spawn(move || post(&url, "text/plain", ""))
    };
    gate.wait_arrived(1, &serve);
    serve.signal(libc::SIGTERM);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = get(&format!("{}/health/ready", serve.control));
        if r.status == 503 {
            assert_eq!(r.json()["status"], "DRAINING");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "readiness never went 503: {}",
            r.body
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!held.is_finished());
    gate.open();
    let r = held.join().unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["body"], "released");
    assert_eq!(
        serve.wait_exit(Duration::from_secs(60)),
        Some(0),
        "{}",
        serve.all_output()
    );
    assert!(serve.all_output().contains("stopped"));
}

#[test]
fn trust_in_a_private_ca_is_granted_per_capability() {
    let up = crate::auth::tls_upstream_for("localhost");
    let base = format!("https://localhost:{}", up.port);
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps");
    std::fs::create_dir(&caps).unwrap();
    hostile_folder(&caps, "trusting", "Trusting", &base, None, TOKEN);
    hostile_folder(&caps, "plain", "Plain", &base, None, TOKEN);
    write(dir.path(), "private-ca.pem", &up.ca_pem);
    let serve = ServeBuilder::new(&caps)
        .config(
            &dir.path().join("host.yaml"),
            "capabilities:\n  trusting:\n    caBundles: {crm: private-ca.pem}\n",
        )
        .start();
    let v = call(&serve, "trusting", "ns=crm&op=list-customers");
    assert_eq!(v["status"], 200, "{v}");
    // The other capability does not inherit that trust.
    let v = call(&serve, "plain", "ns=crm&op=list-customers");
    assert_transport_error(&v, "certificate");
    assert_eq!(up.versions.lock().unwrap().as_slice(), ["HTTP/2.0"]);
}

/// The MCP test capability of tests/e2e/mcp.rs (the crm-sidecar component's operations
/// as tools, a resource file and folder, a prompt) in its own folder `caps/name/`.
fn mcp_folder(caps: &std::path::Path, name: &str, transport: &str, crm: &Upstream) {
    let folder = caps.join(name);
    std::fs::create_dir_all(folder.join("notes")).unwrap();
    fixtures::secrets(&folder);
    write(&folder, "guide.md", crate::mcp::GUIDE);
    write(&folder.join("notes"), "hello.txt", "hello from a note\n");
    std::fs::copy(
        &components().crm_sidecar,
        folder.join(format!("{name}.wasm")),
    )
    .unwrap();
    let text = format!(
        "{}{}{}",
        fixtures::header("MCP test capability"),
        fixtures::crm_consumes(&crm.base()),
        crate::mcp::mcp_exposes(transport)
    );
    write_atomic(&folder.join(format!("{name}.ikanos.yaml")), &text);
}

#[test]
fn mcp_adapters_are_served_on_the_shared_listener_and_own_ports_and_stdio_is_reported() {
    use crate::mcp::{check_scenario, clients_dir, node, node_script, python, run_client};
    let upstream = crm();
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path();
    // The capability's name is the MCP server's name the clients check.
    mcp_folder(caps, "crm-mcp", "http", &upstream);
    mcp_folder(caps, "local", "stdio", &upstream);
    let serve = ServeBuilder::new(caps).start();
    serve.wait_for("crm-mcp", "ready", |c| {
        c.is_some_and(|c| c["state"] == "ready")
    });
    let py = clients_dir().join("python_client.py").display().to_string();

    // The shared listener: `/{capability}/mcp/{namespace}`, and `/{capability}/mcp`
    // for the first MCP adapter.
    let shared = serve.url("crm-mcp", "/mcp/crm-mcp");
    let out = run_client(
        &python(),
        &[py.clone(), "http".into(), shared, "auto".into()],
    );
    check_scenario(&out, "2026-07-28", &upstream);
    let first = serve.url("crm-mcp", "/mcp");
    let out = run_client(&python(), &[py, "http".into(), first, "legacy".into()]);
    check_scenario(&out, "2025-11-25", &upstream);
    assert_eq!(out["ping"], true);

    // Its own port, at `/mcp` as with `ikanos run`.
    let own = format!("{}/mcp", serve.own_url("crm-mcp", "crm-mcp"));
    let ts = node_script().display().to_string();
    let out = run_client(&node(), &[ts, "http".into(), own]);
    check_scenario(&out, "2025-11-25", &upstream);
    assert!(out["sessionId"].as_str().is_some_and(|s| !s.is_empty()));

    // A namespace the capability does not have.
    let r = post(&serve.url("crm-mcp", "/mcp/nope"), "application/json", "{}");
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body.contains("/crm-mcp/mcp/crm-mcp"), "{}", r.body);

    // Status and readiness: the HTTP adapter listens on its port; the stdio one is
    // reported with why, and does not make its capability not ready.
    let c = serve.capability("crm-mcp").unwrap();
    let adapter = &c["adapters"][0];
    assert_eq!(adapter["type"], "mcp", "{c}");
    assert_eq!(adapter["state"], "listening", "{c}");
    assert!(adapter["address"].is_string(), "{c}");
    let local = serve.capability("local").unwrap();
    assert_eq!(local["state"], "ready", "{local}");
    let stdio = &local["adapters"][0];
    assert_eq!(stdio["type"], "mcp", "{local}");
    assert_eq!(stdio["state"], "unsupported", "{local}");
    assert!(
        stdio["reason"]
            .as_str()
            .unwrap()
            .contains("transport: stdio is not served by `ikanos serve`"),
        "{local}"
    );
    let ready = get(&format!("{}/health/ready", serve.control));
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert!(
        ready.body.contains("transport: stdio is not served"),
        "{}",
        ready.body
    );
    assert_eq!(
        get(&format!("{}/health/ready/local", serve.control)).status,
        200
    );
    assert!(serve
        .all_output()
        .contains("mcp adapter not served: transport: stdio"));

    // MCP metrics carry the capability, as REST's do.
    let m = metrics(&serve);
    let line = m
        .lines()
        .find(|l| {
            l.starts_with("ikanos_request_total{capability=\"crm-mcp\",ikanos_adapter_type=\"mcp\",ikanos_operation_id=\"get-customer\"")
        })
        .unwrap_or_else(|| panic!("no get-customer line:\n{m}"));
    assert!(
        line.trim_end().ends_with(" 6"),
        "three clients, one ok and one failing call each: {line}"
    );
    assert!(
        m.contains(
            "ikanos_request_errors_total{capability=\"crm-mcp\",ikanos_adapter_type=\"mcp\""
        ),
        "{m}"
    );
    assert!(!serve.all_output().contains(TOKEN));
    assert!(!m.contains(TOKEN));
}

/// The hostile capability with an MCP entry too: tool `call` is the component's `call`
/// operation (`ns`, `op`: the consumed operation to call).
fn agent_text(display: &str, crm: &str, gate: &str) -> String {
    format!(
        "{}    - type: \"mcp\"\n      namespace: \"agents\"\n      port: 0\n      tools:\n        call:\n          description: \"Call a consumed operation.\"\n          inputParameters:\n            ns:\n              type: \"string\"\n              description: \"Namespace.\"\n            op:\n              type: \"string\"\n              description: \"Operation.\"\n          outputParameters:\n            status:\n              type: \"number\"\n              value: 200\n",
        hostile_text(display, crm, Some(gate))
    )
}

fn mcp_post(url: &str, headers: &[(&str, &str)], body: &serde_json::Value) -> Resp {
    crate::mcp::post(url, headers, body)
}

#[test]
fn replacing_an_mcp_capability_finishes_its_calls_and_ends_its_sessions() {
    let upstream = crm();
    let gate = Gate::start();
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path();
    let file = hostile_folder(caps, "agent", "Agent v1", &upstream.base(), None, TOKEN);
    write_atomic(
        &file,
        &agent_text("Agent v1", &upstream.base(), &gate.base()),
    );
    let serve = ServeBuilder::new(caps).start();
    serve.wait_for("agent", "loaded", |c| {
        c.is_some_and(|c| c["display"] == "Agent v1" && c["state"] == "ready")
    });
    let v1 = generation(&serve, "agent");
    let shared = serve.url("agent", "/mcp/agents");
    let own = format!("{}/mcp", serve.own_url("agent", "agents"));

    // A session of the handshake revisions on v1.
    let init = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}});
    let r = mcp_post(&shared, &[], &init);
    assert_eq!(r.status, 200, "{}", r.body);
    let session = r.header("mcp-session-id").expect("a session").to_string();
    let r = mcp_post(
        &shared,
        &[("mcp-session-id", &session)],
        &serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    assert_eq!(r.status, 202, "{}", r.body);

    // Two calls held at the gate: one in the session on the shared listener, one
    // stateless (2026-07-28) on the own port.
    let call = |id: u64, meta: bool| {
        let mut params =
            serde_json::json!({"name": "call", "arguments": {"ns": "gate", "op": "hold"}});
        if meta {
            params["_meta"] = crate::mcp::meta();
        }
        serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
    };
    let held_session = {
        let (url, body, session) = (shared.clone(), call(2, false), session.clone());
        std::thread::spawn(move || mcp_post(&url, &[("mcp-session-id", &session)], &body))
    };
    let held_stateless = {
        let (url, body) = (own.clone(), call(3, true));
        std::thread::spawn(move || {
            mcp_post(
                &url,
                &[
                    ("mcp-protocol-version", "2026-07-28"),
                    ("mcp-method", "tools/call"),
                    ("mcp-name", "call"),
                ],
                &body,
            )
        })
    };
    gate.wait_arrived(2, &serve);

    // Replace the capability while both are held.
    write_atomic(
        &file,
        &agent_text("Agent v2", &upstream.base(), &gate.base()),
    );
    serve.wait_for("agent", "replaced", |c| {
        c.is_some_and(|c| c["display"] == "Agent v2")
    });
    assert!(generation(&serve, "agent") > v1);
    assert!(!held_session.is_finished() && !held_stateless.is_finished());

    // The old session ended with its version: 404, as the spec says for an unknown
    // session; a new initialize opens one on the new version, on the same port.
    let list = serde_json::json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list"});
    let r = mcp_post(&shared, &[("mcp-session-id", &session)], &list);
    assert_eq!(r.status, 404, "{}", r.body);
    let r = mcp_post(&own, &[], &init);
    assert_eq!(r.status, 200, "{}", r.body);
    let fresh = r.header("mcp-session-id").expect("a session").to_string();
    let r = mcp_post(&own, &[("mcp-session-id", &fresh)], &list);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["result"]["tools"][0]["name"], "call", "{}", r.body);

    // The held calls finish on the version they started on, with their answers.
    gate.open();
    for held in [held_session, held_stateless] {
        let r = held.join().unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        assert_eq!(v["result"]["isError"], false, "{v}");
        assert!(
            v["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("released"),
            "{v}"
        );
    }
    let m = metrics(&serve);
    assert!(
        m.contains("ikanos_request_total{capability=\"agent\",ikanos_adapter_type=\"mcp\",ikanos_operation_id=\"call\",http_request_method=\"POST\",http_response_status_code=\"200\"} 2"),
        "{m}"
    );
}
