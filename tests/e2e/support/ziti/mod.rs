//! An OpenZiti test network written here: a controller (edge client REST API over
//! mutual TLS) and one or more edge routers (channel v2, Dial relayed to a host that
//! Bound the service at any running router), on loopback, with their own CA. They run
//! inside the test process and share one model, so a test can stop and restart each on
//! the SAME port. The real C SDK
//! (libziti 0.29.3 from the `openziti==0.6.0` wheel, driven through ctypes by the
//! scripts in `tests/ziti/`) authenticates, dials and hosts through them
//! (`tests/e2e/ziti_testnet.rs`), which is what says they are faithful.
//!
//! ```ignore
//! use crate::support::ziti::*;
//! let net = ZitiTestNet::start();                          // controller + router up
//! net.create_service("crm", true);                         // encryptionRequired
//! let json = net.create_identity("crm-host");              // identity JSON text (pem:)
//! let file = net.identity_file("ikanos");                  // its file (created if new)
//! net.write_identity("ikanos", &dir.join("id.json"));      // …or a copy where you want
//! net.grant("crm-host", "crm", Permission::Bind);
//! net.grant("ikanos", "crm", Permission::Dial);            // revoke_grant undoes
//! let host = libziti_host(&net.identity_file("crm-host"), "crm", "127.0.0.1:8000");
//! net.wait_for_terminator("crm");                          // the host has Bound
//! // … dial "crm" with the ikanos identity; it reaches 127.0.0.1:8000 through libziti
//! let mut d = libziti_dial(&file, "crm", "/path", 1);      // or the real C SDK dials
//! let (code, out) = d.wait_exit(Duration::from_secs(60)); // `RESPONSE 200 "…"` lines
//! net.stop_router(); net.start_router();                   // the first router: same port, Binds gone
//! net.stop_controller(); net.start_controller();           // same port, data kept
//! net.freeze_router(); net.thaw_router();                  // hung: sockets open, silent
//! net.add_router("router-b", 10);                          // a second router (cost 10), up
//! net.set_router_cost(ROUTER_NAME, 20);                    // the first one's cost (0)
//! net.stop_router_named("router-b"); net.start_router_named("router-b");
//! net.router_url_of("router-b"); net.router_running_named("router-b");
//! net.router_dials("router-b"); net.router_hellos("router-b"); // per-router counters
//! net.terminators_at("router-b", "crm"); net.router_channels_at("router-b");
//! net.revoke_identity("ikanos");                           // INVALID_AUTH, channels closed
//! net.expire_api_sessions();                               // 401 UNAUTHORIZED → re-auth
//! net.expire_api_sessions_of("ikanos");                    // …only this identity's
//! net.delete_service_sessions();                           // router: "Invalid Session"
//! net.create_expired_identity("stale");                    // certificate expired in 2021
//! net.set_api_session_ttl(Duration::from_secs(90));        // for sessions made from now
//! let jwt = net.enrollment_jwt("new-id");                  // one-time token (RS256)
//! net.observed(|o| (o.dials, o.dials_relayed, o.hellos_accepted, o.requests.clone()));
//! net.router_relayed(b"plaintext");                        // did any Data body hold it?
//! net.terminators("crm"); net.router_channels();           // all routers' state now
//! net.wait_until("why", |n| n.router_channels() == 0);     // poll, 60 s limit
//! net.controller_url(); net.router_url(); net.ca_pem();    // https://127.0.0.1:P, tls://…
//! ```
//!
//! libziti (`libziti_path()`) comes from scripts/setup; a test that needs it fails
//! loudly when it is missing.
//!
//! What it does not implement: OIDC/HA login, MFA, posture checks, configs, service
//! policies as roles (grants are direct), edge router policies (every identity may use
//! every router), real links between routers (a Dial at one router reaches a host bound
//! at another through the shared state), ConnectV2, xgress flow control, the management API.

pub mod channel;
pub mod controller;
pub mod http;
pub mod libziti;
pub mod model;
pub mod pki;
pub mod router;

#[allow(unused_imports)]
pub use libziti::{
    libziti_dial, libziti_dial_gated, libziti_dial_lengths, libziti_dial_until_eof, libziti_enroll,
    libziti_host, libziti_load, libziti_path, Gate, LibZitiProcess,
};
pub use model::{Observed, Permission};

use model::{Identity, Model, Service};
use pki::{Issued, Pki};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

pub const ROUTER_NAME: &str = "ikanos-test-router";

/// One edge router of the network: what stays when it stops (name, port, certificate,
/// cost, counters) and, while it runs, its state. The controller lists every router
/// with `isOnline` following whether it runs, as a real controller reports a router
/// that disconnected from it.
pub struct RouterNode {
    pub name: String,
    pub port: u16,
    pub tls: Issued,
    pub cost: AtomicI64,
    pub online: AtomicBool,
    /// While true this router reads and writes nothing (a hung router process).
    pub frozen: tokio::sync::watch::Sender<bool>,
    /// The running router's state (terminators, channels); None while stopped.
    pub running: Mutex<Option<Arc<router::RouterState>>>,
    /// Connect requests (dials) that arrived at this router, over all its runs.
    pub dials: AtomicUsize,
    /// Hellos this router accepted (SDK channels opened), over all its runs.
    pub hellos: AtomicUsize,
}

impl RouterNode {
    pub fn url(&self) -> String {
        format!("tls://127.0.0.1:{}", self.port)
    }
}

/// What the controller and the routers share.
pub struct Shared {
    pub model: Mutex<Model>,
    pub pki: Pki,
    pub controller_tls: Issued,
    pub controller_port: u16,
    pub instance_id: String,
    /// Every edge router, the first one (`ROUTER_NAME`) made by `start`.
    pub routers: Mutex<Vec<Arc<RouterNode>>>,
    /// Bumped whenever sessions may have become invalid; router channels re-check.
    pub generation: tokio::sync::watch::Sender<u64>,
}

impl Shared {
    pub fn controller_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.controller_port)
    }
    pub fn router_url(&self) -> String {
        self.router(ROUTER_NAME).url()
    }
    pub fn router(&self, name: &str) -> Arc<RouterNode> {
        self.routers
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("no router {name}"))
    }
    pub fn router_nodes(&self) -> Vec<Arc<RouterNode>> {
        self.routers.lock().unwrap().clone()
    }
    pub fn sessions_changed(&self) {
        self.generation.send_modify(|g| *g += 1);
    }
}

/// A server on its own thread and runtime; stopping it closes its listener and
/// every connection it holds.
struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub struct ZitiTestNet {
    shared: Arc<Shared>,
    controller: Mutex<Option<Running>>,
    /// Running routers by name.
    routers: Mutex<std::collections::HashMap<String, Running>>,
    dir: tempfile::TempDir,
}

/// A port for the controller or the router that stays theirs while they are stopped:
/// below the kernel's ephemeral range (so no `bind(…:0)` and no outgoing connection's
/// source port can take it), picked at random (other test processes on this machine
/// pick from the same range) and never handed out twice in this process.
fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (low, high) = (10_000u16, ephemeral_low.max(20_000) - 1);
    let mut given = GIVEN.lock().unwrap();
    for _ in 0..1000 {
        let random = u16::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..2].try_into().unwrap());
        let candidate = low + random % (high - low);
        if given.contains(&candidate) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", candidate)).is_ok() {
            given.push(candidate);
            return candidate;
        }
    }
    panic!("no free port found between {low} and {high} on 127.0.0.1");
}

/// Bind `port` again after a stop (the previous listener may take a moment to go).
fn bind_port(port: u16) -> std::net::TcpListener {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match std::net::TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => return l,
            Err(e) => {
                assert!(Instant::now() < deadline, "binding 127.0.0.1:{port}: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl ZitiTestNet {
    /// A new network with its own CA, the controller and the router both running.
    pub fn start() -> ZitiTestNet {
        let pki = Pki::new("ikanos ziti test network");
        let controller_tls = pki.server_rsa("ikanos-test-controller");
        let shared = Arc::new(Shared {
            model: Mutex::new(Model::new()),
            controller_tls,
            pki,
            controller_port: free_port(),
            instance_id: format!("ikanos-test-{}", std::process::id()),
            routers: Mutex::new(Vec::new()),
            generation: tokio::sync::watch::channel(0).0,
        });
        let net = ZitiTestNet {
            shared,
            controller: Mutex::new(None),
            routers: Mutex::new(Default::default()),
            dir: tempfile::tempdir().expect("a temp dir for identities"),
        };
        net.start_controller();
        net.add_router(ROUTER_NAME, 0);
        net
    }

    /// Another edge router named `name` with `cost`, on its own port with its own
    /// server certificate, started. Every identity may use every router (as with an
    /// `#all` edge router policy); a Dial at one reaches a host bound at any running one.
    pub fn add_router(&self, name: &str, cost: i64) {
        {
            let mut routers = self.shared.routers.lock().unwrap();
            assert!(
                routers.iter().all(|r| r.name != name),
                "router {name} exists"
            );
            routers.push(Arc::new(RouterNode {
                name: name.to_string(),
                port: free_port(),
                tls: self.shared.pki.server(name),
                cost: AtomicI64::new(cost),
                online: AtomicBool::new(false),
                frozen: tokio::sync::watch::channel(false).0,
                running: Mutex::new(None),
                dials: AtomicUsize::new(0),
                hellos: AtomicUsize::new(0),
            }));
        }
        self.start_router_named(name);
    }

    /// Change the cost the controller reports for router `name`.
    pub fn set_router_cost(&self, name: &str, cost: i64) {
        self.shared.router(name).cost.store(cost, Ordering::SeqCst);
    }

    pub fn controller_url(&self) -> String {
        self.shared.controller_url()
    }
    pub fn controller_port(&self) -> u16 {
        self.shared.controller_port
    }
    pub fn router_url(&self) -> String {
        self.shared.router_url()
    }
    pub fn router_port(&self) -> u16 {
        self.shared.router(ROUTER_NAME).port
    }
    pub fn router_url_of(&self, name: &str) -> String {
        self.shared.router(name).url()
    }
    /// Connect requests (dials) that arrived at router `name` so far.
    pub fn router_dials(&self, name: &str) -> usize {
        self.shared.router(name).dials.load(Ordering::SeqCst)
    }
    /// Hellos (SDK channels) router `name` accepted so far.
    pub fn router_hellos(&self, name: &str) -> usize {
        self.shared.router(name).hellos.load(Ordering::SeqCst)
    }
    pub fn ca_pem(&self) -> String {
        self.shared.pki.ca_pem().to_string()
    }
    /// The controller's TLS certificate (enrollment JWTs are signed with its key).
    pub fn controller_cert_pem(&self) -> String {
        self.shared.controller_tls.cert_pem.clone()
    }
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn start_controller(&self) {
        let mut slot = self.controller.lock().unwrap();
        if slot.is_some() {
            return;
        }
        let shared = self.shared.clone();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = controller::AnyClientCert::new(&provider);
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                shared.controller_tls.rustls_chain(),
                shared.controller_tls.rustls_key(),
            )
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = bind_port(shared.controller_port);
        let (stop, stop_rx) = tokio::sync::oneshot::channel();
        let thread = super::serve_on_thread(listener, Some(stop_rx), move |tcp| {
            let (acceptor, shared) = (acceptor.clone(), shared.clone());
            async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    controller::serve_connection(shared, tls).await;
                }
            }
        });
        *slot = Some(Running {
            stop: Some(stop),
            thread: Some(thread),
        });
    }

    /// Stop the controller: its port refuses connections until `start_controller`.
    /// The data (identities, sessions) is kept, as a real controller's database is.
    pub fn stop_controller(&self) {
        if let Some(r) = self.controller.lock().unwrap().take() {
            r.stop();
        }
    }

    /// Start the first router (`ROUTER_NAME`) again on its port.
    pub fn start_router(&self) {
        self.start_router_named(ROUTER_NAME);
    }

    /// Stop the first router: every channel drops, its terminators go.
    pub fn stop_router(&self) {
        self.stop_router_named(ROUTER_NAME);
    }

    pub fn start_router_named(&self, name: &str) {
        let mut slots = self.routers.lock().unwrap();
        if slots.contains_key(name) {
            return;
        }
        let node = self.shared.router(name);
        let state = router::RouterState::new(self.shared.clone(), node.clone());
        let acceptor = tokio_rustls::TlsAcceptor::from(router::tls_config(&self.shared, &node));
        let listener = bind_port(node.port);
        let (stop, stop_rx) = tokio::sync::oneshot::channel();
        let st = state.clone();
        let thread = super::serve_on_thread(listener, Some(stop_rx), move |tcp| {
            router::serve_connection(st.clone(), acceptor.clone(), tcp)
        });
        *node.running.lock().unwrap() = Some(state);
        node.online.store(true, Ordering::SeqCst);
        slots.insert(
            name.to_string(),
            Running {
                stop: Some(stop),
                thread: Some(thread),
            },
        );
    }

    /// Stop router `name`: its port refuses connections, every channel drops, its
    /// terminators go, and circuits it carried end at their other router too (with
    /// StateClosed, as a real fabric tears a circuit down). The controller reports it
    /// `isOnline: false` until `start_router_named`.
    pub fn stop_router_named(&self, name: &str) {
        let Some(r) = self.routers.lock().unwrap().remove(name) else {
            return;
        };
        let node = self.shared.router(name);
        node.online.store(false, Ordering::SeqCst);
        let state = node.running.lock().unwrap().take();
        r.stop();
        if let Some(state) = state {
            state.close_all();
        }
    }

    /// Freeze the first router as if its process hung (SIGSTOP): connections stay open,
    /// nothing is read, answered or relayed (latency probes included) until `thaw_router`.
    pub fn freeze_router(&self) {
        self.shared.router(ROUTER_NAME).frozen.send_replace(true);
    }

    pub fn thaw_router(&self) {
        self.shared.router(ROUTER_NAME).frozen.send_replace(false);
    }

    pub fn router_running(&self) -> bool {
        self.router_running_named(ROUTER_NAME)
    }
    pub fn router_running_named(&self, name: &str) -> bool {
        self.routers.lock().unwrap().contains_key(name)
    }
    pub fn controller_running(&self) -> bool {
        self.controller.lock().unwrap().is_some()
    }

    pub fn create_service(&self, name: &str, encryption_required: bool) -> String {
        let mut m = self.shared.model.lock().unwrap();
        assert!(m.service_by_name(name).is_none(), "service {name} exists");
        let id = m.new_id("svc-");
        m.services.insert(
            id.clone(),
            Service {
                id: id.clone(),
                name: name.to_string(),
                encryption_required,
                updated_at: SystemTime::now(),
            },
        );
        m.touch();
        id
    }

    pub fn service_id(&self, name: &str) -> String {
        let m = self.shared.model.lock().unwrap();
        m.service_id(name)
    }

    /// A new identity with a certificate from the network's CA; returns its identity
    /// JSON (`ztAPI`, `id.cert/key/ca` as `pem:` values), as `ziti edge enroll` writes.
    pub fn create_identity(&self, name: &str) -> String {
        self.add_identity(name, |pki, id| pki.client(id))
    }

    /// A new identity whose certificate expired (valid 2020-01-01 to 2021-01-01): the
    /// controller refuses it with INVALID_AUTH, the router at the TLS handshake.
    pub fn create_expired_identity(&self, name: &str) -> String {
        self.add_identity(name, |pki, id| pki.client_expired(id))
    }

    /// Register identity `name` with the certificate `issue` makes for its id; write its
    /// identity file and return the JSON.
    fn add_identity(&self, name: &str, issue: impl FnOnce(&Pki, &str) -> Issued) -> String {
        let mut m = self.shared.model.lock().unwrap();
        assert!(m.identity_by_name(name).is_none(), "identity {name} exists");
        let id = m.new_id("id-");
        let cert = issue(&self.shared.pki, &id);
        m.identities.insert(
            id.clone(),
            Identity {
                id: id.clone(),
                name: name.to_string(),
                certs: vec![cert.cert_der.clone()],
                revoked: false,
                grants: Default::default(),
            },
        );
        let json = self.identity_json_for(&cert);
        std::fs::write(self.dir.path().join(format!("{name}.json")), &json)
            .expect("writing the identity file");
        json
    }

    fn identity_json_for(&self, cert: &Issued) -> String {
        let url = self.controller_url();
        serde_json::json!({
            "ztAPI": url,
            "ztAPIs": [url],
            "configTypes": [],
            "id": {
                "cert": format!("pem:{}", cert.cert_pem),
                "key": format!("pem:{}", cert.key_pem),
                "ca": format!("pem:{}", self.shared.pki.ca_pem()),
            }
        })
        .to_string()
    }

    /// The identity file of `name` (created on first use).
    pub fn identity_file(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.json"));
        if !path.exists() {
            self.create_identity(name);
        }
        path
    }

    /// Write `name`'s identity JSON to `path`.
    pub fn write_identity(&self, name: &str, path: &std::path::Path) {
        let text = std::fs::read_to_string(self.identity_file(name)).unwrap();
        std::fs::write(path, text).expect("writing the identity file");
    }

    pub fn grant(&self, identity: &str, service: &str, permission: Permission) {
        let mut m = self.shared.model.lock().unwrap();
        let service_id = m.service_id(service);
        let id = m.identity_id(identity);
        m.identities
            .get_mut(&id)
            .unwrap()
            .grants
            .insert((service_id, permission));
        m.touch();
    }

    /// Take a grant away: sessions under it stop working at the router.
    pub fn revoke_grant(&self, identity: &str, service: &str, permission: Permission) {
        {
            let mut m = self.shared.model.lock().unwrap();
            let service_id = m.service_by_name(service).unwrap().id.clone();
            let id = m.identity_by_name(identity).unwrap().id.clone();
            m.identities
                .get_mut(&id)
                .unwrap()
                .grants
                .remove(&(service_id, permission));
            m.touch();
        }
        self.shared.sessions_changed();
    }

    /// Revoke an identity: authentication is refused (INVALID_AUTH), its API
    /// sessions and service sessions are deleted and the router drops its channels.
    pub fn revoke_identity(&self, name: &str) {
        {
            let mut m = self.shared.model.lock().unwrap();
            let id = m.identity_id(name);
            m.identities.get_mut(&id).unwrap().revoked = true;
            m.api_sessions.retain(|_, s| s.identity_id != id);
            m.sessions.retain(|_, s| s.identity_id != id);
            m.touch();
        }
        self.shared.sessions_changed();
    }

    /// Undo `revoke_identity` (its old sessions stay gone).
    pub fn restore_identity(&self, name: &str) {
        let mut m = self.shared.model.lock().unwrap();
        let id = m.identity_by_name(name).unwrap().id.clone();
        m.identities.get_mut(&id).unwrap().revoked = false;
    }

    /// Expire every API session now: REST calls with them get 401 UNAUTHORIZED, the
    /// router drops channels opened with them, SDKs must authenticate again.
    pub fn expire_api_sessions(&self) {
        {
            let mut m = self.shared.model.lock().unwrap();
            let now = SystemTime::now();
            for s in m.api_sessions.values_mut() {
                s.expires_at = now;
            }
        }
        self.shared.sessions_changed();
    }

    /// Expire the API sessions of identity `name` only.
    pub fn expire_api_sessions_of(&self, name: &str) {
        {
            let mut m = self.shared.model.lock().unwrap();
            let id = m.identity_id(name);
            let now = SystemTime::now();
            for s in m.api_sessions.values_mut().filter(|s| s.identity_id == id) {
                s.expires_at = now;
            }
        }
        self.shared.sessions_changed();
    }

    /// Delete every service session: the router answers Connect with "Invalid
    /// Session" and SDKs must fetch new ones (`POST /sessions`).
    pub fn delete_service_sessions(&self) {
        self.shared.model.lock().unwrap().sessions.clear();
        self.shared.sessions_changed();
    }

    /// Delete the service sessions of identity `name` only (the others' Binds and
    /// their terminators stay).
    pub fn delete_service_sessions_of(&self, name: &str) {
        {
            let mut m = self.shared.model.lock().unwrap();
            let id = m.identity_id(name);
            m.sessions.retain(|_, s| s.identity_id != id);
        }
        self.shared.sessions_changed();
    }

    /// An API session for identity `name` and a `kind` session on `service`, as the
    /// controller hands them out after certificate authentication and `POST /sessions`;
    /// (API session token, service session token). For a hosting side written here (the
    /// Ziti benchmark's far end), which talks to the router only.
    pub fn open_sessions(&self, name: &str, service: &str, kind: Permission) -> (String, String) {
        let mut m = self.shared.model.lock().unwrap();
        let identity = m.identity_id(name);
        let service = m.service_id(service);
        assert!(
            m.permissions(&identity, &service).contains(&kind),
            "{name} may not {} {service}",
            kind.as_str()
        );
        let api = m.open_api_session(&identity);
        let session = m.open_session(&api, &service, kind);
        (api, session)
    }

    /// Lifetime of API sessions created from now on (default 30 minutes).
    pub fn set_api_session_ttl(&self, ttl: Duration) {
        self.shared.model.lock().unwrap().api_session_ttl = ttl;
    }

    /// A one-time enrollment token (JWT, RS256 signed with the controller's TLS key)
    /// for identity `name`, created without a certificate when it does not exist yet.
    pub fn enrollment_jwt(&self, name: &str) -> String {
        let mut m = self.shared.model.lock().unwrap();
        let id = match m.identity_by_name(name) {
            Some(i) => i.id.clone(),
            None => {
                let id = m.new_id("id-");
                m.identities.insert(
                    id.clone(),
                    Identity {
                        id: id.clone(),
                        name: name.to_string(),
                        certs: Vec::new(),
                        revoked: false,
                        grants: Default::default(),
                    },
                );
                id
            }
        };
        let token = m.new_token();
        let expires_at = SystemTime::now() + Duration::from_secs(3600);
        m.enrollments.insert(
            token.clone(),
            model::Enrollment {
                token: token.clone(),
                identity_id: id.clone(),
                expires_at,
            },
        );
        let exp = expires_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = serde_json::json!({
            "iss": self.controller_url(), "sub": id, "jti": token, "em": "ott",
            "exp": exp, "aud": "",
        });
        self.shared.pki_sign_jwt(&claims)
    }

    /// Read the observations (counters, relayed bytes, controller requests).
    pub fn observed<T>(&self, f: impl FnOnce(&Observed) -> T) -> T {
        f(&self.shared.model.lock().unwrap().observed)
    }

    /// Did the router relay `needle` anywhere in a Data body?
    /// How many controller requests (`METHOD path?query`) start with `prefix`.
    pub fn requests_starting(&self, prefix: &str) -> usize {
        self.observed(|o| o.requests.iter().filter(|r| r.starts_with(prefix)).count())
    }

    pub fn router_relayed(&self, needle: &[u8]) -> bool {
        self.observed(|o| o.relayed.windows(needle.len()).any(|w| w == needle))
    }

    /// Terminators (Binds) the running routers hold for `service`, all together.
    pub fn terminators(&self, service: &str) -> usize {
        let names: Vec<String> = self
            .shared
            .router_nodes()
            .iter()
            .map(|r| r.name.clone())
            .collect();
        names.iter().map(|n| self.terminators_at(n, service)).sum()
    }

    /// Terminators (Binds) router `name` holds for `service` (0 while it is stopped).
    pub fn terminators_at(&self, name: &str, service: &str) -> usize {
        let id = self.service_id(service);
        match &*self.shared.router(name).running.lock().unwrap() {
            Some(r) => r.terminator_count(&id),
            None => 0,
        }
    }

    /// Channels (SDK connections past Hello) the running routers hold, all together.
    pub fn router_channels(&self) -> usize {
        self.shared
            .router_nodes()
            .iter()
            .map(|r| self.router_channels_at(&r.name))
            .sum()
    }

    /// Channels router `name` holds (0 while it is stopped).
    pub fn router_channels_at(&self, name: &str) -> usize {
        match &*self.shared.router(name).running.lock().unwrap() {
            Some(r) => r.channels.lock().unwrap().len(),
            None => 0,
        }
    }

    /// Poll `cond` until it holds; panic with `what` after 60 s.
    pub fn wait_until(&self, what: &str, cond: impl Fn(&ZitiTestNet) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !cond(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting until {what}; routers (name, running, channels, hellos, dials): {:?}; controller saw: {:?}",
                self.shared
                    .router_nodes()
                    .iter()
                    .map(|r| (
                        r.name.clone(),
                        self.router_running_named(&r.name),
                        self.router_channels_at(&r.name),
                        r.hellos.load(Ordering::SeqCst),
                        r.dials.load(Ordering::SeqCst)
                    ))
                    .collect::<Vec<_>>(),
                self.observed(|o| o.requests.clone())
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn wait_for_terminator(&self, service: &str) {
        self.wait_until(&format!("service {service} is bound"), |n| {
            n.terminators(service) > 0
        });
    }
}

impl Shared {
    /// An RS256 JWT over `claims`, signed with the controller's TLS key (what SDKs
    /// verify an enrollment token against).
    fn pki_sign_jwt(&self, claims: &serde_json::Value) -> String {
        use base64::Engine;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "controller"});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = self.controller_tls.sign_rs256(input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }
}

impl Drop for ZitiTestNet {
    fn drop(&mut self) {
        for r in self.shared.router_nodes() {
            self.stop_router_named(&r.name);
        }
        self.stop_controller();
    }
}
