//! An OpenZiti test network written here: a controller (edge client REST API over
//! mutual TLS) and an edge router (channel v2, Dial relayed to a host that Bound the
//! service), on loopback, with their own CA. They run inside the test process and share
//! one model, so a test can stop and restart either on the SAME port. The real C SDK
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
//! net.stop_router(); net.start_router();                   // same port, Binds gone
//! net.stop_controller(); net.start_controller();           // same port, data kept
//! net.freeze_router(); net.thaw_router();                  // hung: sockets open, silent
//! net.revoke_identity("ikanos");                           // INVALID_AUTH, channels closed
//! net.expire_api_sessions();                               // 401 UNAUTHORIZED → re-auth
//! net.expire_api_sessions_of("ikanos");                    // …only this identity's
//! net.delete_service_sessions();                           // router: "Invalid Session"
//! net.create_expired_identity("stale");                    // certificate expired in 2021
//! net.set_api_session_ttl(Duration::from_secs(90));        // for sessions made from now
//! let jwt = net.enrollment_jwt("new-id");                  // one-time token (RS256)
//! net.observed(|o| (o.dials, o.dials_relayed, o.hellos_accepted, o.requests.clone()));
//! net.router_relayed(b"plaintext");                        // did any Data body hold it?
//! net.terminators("crm"); net.router_channels();           // router state now
//! net.wait_until("why", |n| n.router_channels() == 0);     // poll, 60 s limit
//! net.controller_url(); net.router_url(); net.ca_pem();    // https://127.0.0.1:P, tls://…
//! ```
//!
//! libziti (`libziti_path()`) comes from scripts/setup; a test that needs it fails
//! loudly when it is missing.
//!
//! What it does not implement: OIDC/HA login, MFA, posture checks, configs, service
//! policies as roles (grants are direct), more than one router, links between routers,
//! ConnectV2, xgress flow control, the management API.

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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

pub const ROUTER_NAME: &str = "ikanos-test-router";

/// What the controller and the router share.
pub struct Shared {
    pub model: Mutex<Model>,
    pub pki: Pki,
    pub controller_tls: Issued,
    pub router_tls: Issued,
    pub controller_port: u16,
    pub router_port: u16,
    pub instance_id: String,
    pub router_online: AtomicBool,
    /// Bumped whenever sessions may have become invalid; router channels re-check.
    pub generation: tokio::sync::watch::Sender<u64>,
    /// While true the router reads and writes nothing (a hung router process).
    pub router_frozen: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    pub fn controller_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.controller_port)
    }
    pub fn router_url(&self) -> String {
        format!("tls://127.0.0.1:{}", self.router_port)
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
    router: Option<Arc<router::RouterState>>,
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
    router: Mutex<Option<Running>>,
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
        let router_tls = pki.server(ROUTER_NAME);
        let shared = Arc::new(Shared {
            model: Mutex::new(Model::new()),
            controller_tls,
            router_tls,
            pki,
            controller_port: free_port(),
            router_port: free_port(),
            instance_id: format!("ikanos-test-{}", std::process::id()),
            router_online: AtomicBool::new(false),
            generation: tokio::sync::watch::channel(0).0,
            router_frozen: tokio::sync::watch::channel(false).0,
        });
        let net = ZitiTestNet {
            shared,
            controller: Mutex::new(None),
            router: Mutex::new(None),
            dir: tempfile::tempdir().expect("a temp dir for identities"),
        };
        net.start_controller();
        net.start_router();
        net
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
        self.shared.router_port
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
            router: None,
        });
    }

    /// Stop the controller: its port refuses connections until `start_controller`.
    /// The data (identities, sessions) is kept, as a real controller's database is.
    pub fn stop_controller(&self) {
        if let Some(r) = self.controller.lock().unwrap().take() {
            r.stop();
        }
    }

    pub fn start_router(&self) {
        let mut slot = self.router.lock().unwrap();
        if slot.is_some() {
            return;
        }
        let state = router::RouterState::new(self.shared.clone());
        let acceptor = tokio_rustls::TlsAcceptor::from(router::tls_config(&self.shared));
        let listener = bind_port(self.shared.router_port);
        let (stop, stop_rx) = tokio::sync::oneshot::channel();
        let st = state.clone();
        let thread = super::serve_on_thread(listener, Some(stop_rx), move |tcp| {
            router::serve_connection(st.clone(), acceptor.clone(), tcp)
        });
        self.shared.router_online.store(true, Ordering::SeqCst);
        *slot = Some(Running {
            stop: Some(stop),
            thread: Some(thread),
            router: Some(state),
        });
    }

    /// Stop the router: every channel drops, its terminators go.
    pub fn stop_router(&self) {
        if let Some(r) = self.router.lock().unwrap().take() {
            self.shared.router_online.store(false, Ordering::SeqCst);
            r.stop();
        }
    }

    /// Freeze the router as if its process hung (SIGSTOP): connections stay open,
    /// nothing is read, answered or relayed (latency probes included) until `thaw_router`.
    pub fn freeze_router(&self) {
        self.shared.router_frozen.send_replace(true);
    }

    pub fn thaw_router(&self) {
        self.shared.router_frozen.send_replace(false);
    }

    pub fn router_running(&self) -> bool {
        self.router.lock().unwrap().is_some()
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
        m.service_by_name(name)
            .unwrap_or_else(|| panic!("no service {name}"))
            .id
            .clone()
    }

    /// A new identity with a certificate from the network's CA; returns its identity
    /// JSON (`ztAPI`, `id.cert/key/ca` as `pem:` values), as `ziti edge enroll` writes.
    pub fn create_identity(&self, name: &str) -> String {
        let mut m = self.shared.model.lock().unwrap();
        assert!(m.identity_by_name(name).is_none(), "identity {name} exists");
        let id = m.new_id("id-");
        let cert = self.shared.pki.client(&id);
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

    /// A new identity whose certificate expired (valid 2020-01-01 to 2021-01-01): the
    /// controller refuses it with INVALID_AUTH, the router at the TLS handshake.
    pub fn create_expired_identity(&self, name: &str) -> String {
        let mut m = self.shared.model.lock().unwrap();
        assert!(m.identity_by_name(name).is_none(), "identity {name} exists");
        let id = m.new_id("id-");
        let cert = self.shared.pki.client_expired(&id);
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
        let service_id = m
            .service_by_name(service)
            .unwrap_or_else(|| panic!("no service {service}"))
            .id
            .clone();
        let id = m
            .identity_by_name(identity)
            .unwrap_or_else(|| panic!("no identity {identity}"))
            .id
            .clone();
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
            let id = m
                .identity_by_name(name)
                .unwrap_or_else(|| panic!("no identity {name}"))
                .id
                .clone();
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
            let id = m
                .identity_by_name(name)
                .unwrap_or_else(|| panic!("no identity {name}"))
                .id
                .clone();
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
    pub fn router_relayed(&self, needle: &[u8]) -> bool {
        self.observed(|o| o.relayed.windows(needle.len()).any(|w| w == needle))
    }

    /// Terminators (Binds) the running router holds for `service`.
    pub fn terminators(&self, service: &str) -> usize {
        let id = self.service_id(service);
        match &*self.router.lock().unwrap() {
            Some(r) => r.router.as_ref().unwrap().terminator_count(&id),
            None => 0,
        }
    }

    /// Channels (SDK connections past Hello) the running router holds.
    pub fn router_channels(&self) -> usize {
        match &*self.router.lock().unwrap() {
            Some(r) => r.router.as_ref().unwrap().channels.lock().unwrap().len(),
            None => 0,
        }
    }

    /// Poll `cond` until it holds; panic with `what` after 60 s.
    pub fn wait_until(&self, what: &str, cond: impl Fn(&ZitiTestNet) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !cond(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting until {what}; controller saw: {:?}",
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
        self.stop_router();
        self.stop_controller();
    }
}
