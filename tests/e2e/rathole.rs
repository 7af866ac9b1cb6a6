//! `tunnel.type: rathole`: the host is a rathole server and a stock `rathole` 0.5.0
//! client on the private side dials it — no relay. The client and the private API run
//! in a namespace `priv` that reaches the host over its own link while nothing reaches
//! the API (it listens on priv's loopback); the host runs in the root namespace. A decoy
//! listens at the baseUri's address on the host's side: it must never be called.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::fixtures::{self, Tunnel, TOKEN};
use crate::support::rathole::{self, client, client_config, ClientTransport, PrivateSite};
use crate::support::upstream::Upstream;
use crate::support::*;

const SERVICE_TOKEN: &str = "rathole-service-token-0123456789";

fn skip() -> bool {
    if rathole::binary().is_none() {
        eprintln!("SKIP: rathole 0.5.0 is not installed; scripts/setup installs it");
        return true;
    }
    if !netns::available() {
        eprintln!("SKIP: not root or no iproute2: the rathole tests need network namespaces");
        return true;
    }
    false
}

struct Rig {
    site: PrivateSite,
    private: Upstream,
    decoy: Upstream,
    host: Host,
    listen: String,
    dir: tempfile::TempDir,
    file: std::path::PathBuf,
}

/// The hostile capability whose `crm` goes through rathole service `crm` on `listen`,
/// with `extra` tunnel keys and binds, run by a real `ikanos run`.
fn rig(extra: &[(&str, String)], binds: &[fixtures::ExtraBind]) -> Rig {
    let site = PrivateSite::new();
    let private = netns::in_namespace(&site.ns, Upstream::bearer);
    let decoy = Upstream::bearer();
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("{}:{}", site.host_addr, free_port());
    let mut tunnel = Tunnel::new("rathole")
        .set("service", "crm")
        .set("identity", "{{secrets.RATHOLE_TOKEN}}")
        .set("listen", &listen);
    for (k, v) in extra {
        tunnel = tunnel.set(k, v.clone());
    }
    let mut all: Vec<fixtures::ExtraBind> =
        vec![("RATHOLE_TOKEN", "rathole-token", SERVICE_TOKEN.to_string())];
    all.extend(binds.iter().cloned());
    let file = fixtures::hostile_tunnelled(
        dir.path(),
        "rh.ikanos.yaml",
        "Over rathole",
        &decoy.base(),
        tunnel,
        &all,
    );
    let host = HostBuilder::new(&file)
        .component(&components().hostile)
        .start(1);
    Rig {
        site,
        private,
        decoy,
        host,
        listen,
        dir,
        file,
    }
}

impl Rig {
    fn client(&self, file: &str, token: &str, transport: ClientTransport) -> Process {
        let config = client_config(
            self.dir.path(),
            file,
            &self.listen,
            transport,
            &[(
                "crm",
                token,
                format!("127.0.0.1:{}", self.private.addr.port()),
            )],
        );
        client(Some(&self.site.ns), &config)
    }

    fn reason(&self) -> String {
        let v = get(&format!("{}/health/ready", self.host.control_url())).json();
        v["consumes"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn wait_reason(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.reason().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "the reason never said '{needle}': {}\n{}",
                self.reason(),
                self.host.all_output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn a_stock_rathole_client_carries_the_calls_and_readiness_follows_it() {
    if skip() {
        return;
    }
    let rig = rig(&[], &[]);
    // Nothing reaches the private API from the host's side but the tunnel.
    let direct = format!("{}:{}", rig.site.private_addr, rig.private.addr.port());
    assert!(std::net::TcpStream::connect_timeout(
        &direct.parse().unwrap(),
        Duration::from_millis(300)
    )
    .is_err());
    let v = wait_ready(&rig.host, 503);
    assert_eq!(v["consumes"][0]["route"], "tunnel:rathole");
    assert!(
        rig.reason()
            .contains("no rathole client is connected for service 'crm'"),
        "{v}"
    );
    assert_eq!(list_customers(&rig.host)["error"], "tunnel-unavailable");

    let mut c = rig.client("client.toml", SERVICE_TOKEN, ClientTransport::Tcp);
    wait_ready(&rig.host, 200);
    let v = list_customers(&rig.host);
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(list_names_declarative(&rig.host), (200, expected_names()));
    assert_eq!(
        rig.private.requests()[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    // Many calls, several at once: data channels are asked for and reused as needed.
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = format!("{}/customers", rig.host.rest_url("crm-declarative"));
            std::thread::spawn(move || (0..25).filter(|_| get(&url).status == 200).count())
        })
        .collect();
    let ok: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(ok, 100);

    // The client dies: not ready, calls fail closed, the decoy sees nothing.
    c.signal(libc::SIGKILL);
    c.wait_exit(Duration::from_secs(10));
    wait_ready(&rig.host, 503);
    rig.wait_reason("disconnected");
    assert_eq!(list_customers(&rig.host)["error"], "tunnel-unavailable");
    // It comes back by itself when restarted.
    let _c = rig.client("client.toml", SERVICE_TOKEN, ClientTransport::Tcp);
    wait_ready(&rig.host, 200);
    assert_eq!(list_customers(&rig.host)["status"], 200);
    assert_eq!(
        rig.decoy.connections(),
        0,
        "the public address must see nothing"
    );
    let m = get(&format!("{}/metrics", rig.host.control_url())).body;
    assert!(
        m.contains("ikanos_tunnel_type=\"rathole\",outcome=\"ok\""),
        "{m}"
    );
    assert!(
        !rig.host.all_output().contains(SERVICE_TOKEN),
        "the token reached the logs"
    );
}

#[test]
fn a_wrong_token_and_an_unknown_service_are_refused() {
    if skip() {
        return;
    }
    let rig = rig(&[], &[]);
    let wrong = rig.client(
        "wrong.toml",
        "not-the-token-at-all-0000000000",
        ClientTransport::Tcp,
    );
    rig.host.wait_for_log(Duration::from_secs(20), |l| {
        l.contains("offered a wrong token")
    });
    assert_eq!(
        get(&format!("{}/health/ready", rig.host.control_url())).status,
        503
    );
    drop(wrong);
    // A service this host does not serve.
    let config = client_config(
        rig.dir.path(),
        "other.toml",
        &rig.listen,
        ClientTransport::Tcp,
        &[(
            "billing",
            SERVICE_TOKEN,
            format!("127.0.0.1:{}", rig.private.addr.port()),
        )],
    );
    let other = client(Some(&rig.site.ns), &config);
    rig.host
        .wait_for_log(Duration::from_secs(20), |l| l.contains("does not serve"));
    assert_eq!(
        get(&format!("{}/health/ready", rig.host.control_url())).status,
        503
    );
    drop(other);
    assert!(rig.private.requests().is_empty());
}

#[test]
fn two_clients_racing_for_one_service_the_newer_one_holds_it() {
    if skip() {
        return;
    }
    let rig = rig(&[], &[]);
    let first = rig.client("a.toml", SERVICE_TOKEN, ClientTransport::Tcp);
    wait_ready(&rig.host, 200);
    let _second = rig.client("b.toml", SERVICE_TOKEN, ClientTransport::Tcp);
    rig.host.wait_for_log(Duration::from_secs(20), |l| {
        l.contains("replaces the previous one")
    });
    // The replaced client reconnects and replaces the other in turn (rathole's rule):
    // whichever holds it, calls go through.
    for _ in 0..20 {
        let v = list_customers(&rig.host);
        assert!(
            v["status"] == 200 || v["error"] == "tunnel-unavailable",
            "{v}"
        );
    }
    drop(first);
    wait_ready(&rig.host, 200);
    assert_eq!(list_customers(&rig.host)["status"], 200);
}

#[test]
fn noise_with_the_right_key_works_and_with_another_key_does_not() {
    if skip() {
        return;
    }
    let (private_key, public_key) = rathole::genkey();
    let (_, other_public) = rathole::genkey();
    let rig = rig(
        &[
            ("transport", "noise".into()),
            ("noisePrivateKey", "{{secrets.RATHOLE_KEY}}".into()),
        ],
        &[("RATHOLE_KEY", "rathole-key", private_key.clone())],
    );
    let wrong = rig.client(
        "wrong.toml",
        SERVICE_TOKEN,
        ClientTransport::Noise(&other_public),
    );
    rig.host.wait_for_log(Duration::from_secs(20), |l| {
        l.contains("noise handshake failed")
    });
    assert_eq!(
        get(&format!("{}/health/ready", rig.host.control_url())).status,
        503
    );
    drop(wrong);
    let _right = rig.client(
        "right.toml",
        SERVICE_TOKEN,
        ClientTransport::Noise(&public_key),
    );
    wait_ready(&rig.host, 200);
    assert_eq!(list_names_declarative(&rig.host), (200, expected_names()));
    assert!(!rig.host.all_output().contains(&private_key));
}

#[test]
fn the_token_rotates_on_sighup_and_the_client_follows_a_host_restart() {
    if skip() {
        return;
    }
    let mut rig = rig(&[], &[]);
    let _old = rig.client("old.toml", SERVICE_TOKEN, ClientTransport::Tcp);
    wait_ready(&rig.host, 200);
    // New token in the bind file, SIGHUP: the old client is dropped, a client with the
    // new token is let in.
    let rotated = "rotated-rathole-token-9876543210";
    let secrets = std::fs::read_to_string(rig.dir.path().join("secrets.yaml")).unwrap();
    std::fs::write(
        rig.dir.path().join("secrets.yaml"),
        secrets.replace(SERVICE_TOKEN, rotated),
    )
    .unwrap();
    rig.host.signal(libc::SIGHUP);
    wait_ready(&rig.host, 503);
    let _new = rig.client("new.toml", rotated, ClientTransport::Tcp);
    wait_ready(&rig.host, 200);
    assert_eq!(list_customers(&rig.host)["status"], 200);

    // The host restarts on the same address: the client reconnects by itself.
    let control = rig.host.control_url();
    assert_eq!(rig.host.terminate(Duration::from_secs(30)), Some(0));
    let _ = control;
    rig.host = HostBuilder::new(&rig.file)
        .component(&components().hostile)
        .start(1);
    wait_ready(&rig.host, 200);
    assert_eq!(list_customers(&rig.host)["status"], 200);
    let _ = Path::new(".");
}

#[test]
fn ikanos_serve_does_not_let_a_capability_open_a_listener() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("rh");
    std::fs::create_dir_all(&folder).unwrap();
    let tunnel = Tunnel::new("rathole")
        .set("service", "crm")
        .set("identity", "{{secrets.RATHOLE_TOKEN}}")
        .set("listen", format!("127.0.0.1:{}", free_port()));
    fixtures::hostile_tunnelled(
        &folder,
        "rh.ikanos.yaml",
        "Hosted",
        "http://127.0.0.1:9",
        tunnel,
        &[("RATHOLE_TOKEN", "rathole-token", SERVICE_TOKEN.to_string())],
    );
    std::fs::copy(&components().hostile, folder.join("rh.wasm")).unwrap();
    let serve = serve::ServeBuilder::new(dir.path()).start();
    let c = serve.wait_for("rh", "listed", |c| c.is_some()).unwrap();
    assert!(
        c["consumes"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("host infrastructure"),
        "{c}"
    );
}

#[test]
fn tls_between_the_client_and_the_host_with_the_hosts_certificate() {
    if skip() {
        return;
    }
    let pki = crate::support::tls::PrivateCa::server("rathole.host.test", &[]);
    let dir = tempfile::tempdir().unwrap();
    let cert = write(dir.path(), "host-cert.pem", &pki.leaf_pem);
    let key = write(dir.path(), "host-key.pem", &pki.key_pem);
    let ca = write(dir.path(), "ca.pem", &pki.ca_pem);
    let rig = rig(
        &[
            ("transport", "tls".into()),
            ("tlsCertificate", "{{secrets.RH_CERT}}".into()),
            ("tlsKey", "{{secrets.RH_KEY}}".into()),
        ],
        &[
            ("RH_CERT", "rathole-cert", cert.display().to_string()),
            ("RH_KEY", "rathole-key", key.display().to_string()),
        ],
    );
    // A client that expects another name is refused by its own check: never ready.
    let wrong = rig.client(
        "wrong.toml",
        SERVICE_TOKEN,
        ClientTransport::Tls {
            ca: &ca,
            hostname: "other.host.test",
        },
    );
    rig.host.wait_for_log(Duration::from_secs(20), |l| {
        l.contains("TLS handshake failed")
    });
    assert_eq!(
        get(&format!("{}/health/ready", rig.host.control_url())).status,
        503
    );
    drop(wrong);
    let right = rig.client(
        "right.toml",
        SERVICE_TOKEN,
        ClientTransport::Tls {
            ca: &ca,
            hostname: "rathole.host.test",
        },
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&format!("{}/health/ready", rig.host.control_url())).status != 200 {
        assert!(
            Instant::now() < deadline,
            "never ready; the client said:\n{}\nthe host:\n{}",
            right.all_output(),
            rig.host.all_output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(list_customers(&rig.host)["status"], 200);
}

#[test]
fn the_crm_rathole_example_runs_end_to_end_with_tls_inside_the_tunnel() {
    if skip() {
        return;
    }
    let site = PrivateSite::new();
    // The private CRM speaks HTTPS as crm.internal, a name that resolves nowhere.
    let tls = netns::in_namespace(&site.ns, || crate::auth::tls_upstream_for("crm.internal"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (private_key, public_key) = rathole::genkey();
    let listen = format!("{}:{}", site.host_addr, free_port());
    let file = example(d, "examples/crm-rathole/crm-rathole.ikanos.yaml", |t| {
        t.replace("0.0.0.0:2333", &listen)
    });
    write(
        d,
        "rathole-secrets.yaml",
        &format!("crm-bearer-token: \"{TOKEN}\"\nrathole-token: \"{SERVICE_TOKEN}\"\nrathole-noise-private-key: \"{private_key}\"\n"),
    );
    let ca = write(d, "ca.pem", &tls.ca_pem);
    let host = HostBuilder::new(&file)
        .component(&components().crm_sidecar)
        .arg("--ca-bundle")
        .arg(format!("crm={}", ca.display()))
        .start(1);
    // The example's client configuration, filled in as its comments say.
    let text =
        std::fs::read_to_string(repo_root().join("examples/crm-rathole/rathole-client.toml"))
            .unwrap()
            .replace("ikanos.example.net:2333", &listen)
            .replace("REPLACE-WITH-THE-HOSTS-PUBLIC-KEY", &public_key)
            .replace("REPLACE-WITH-THE-SERVICE-TOKEN", SERVICE_TOKEN)
            .replace("crm.internal:443", &format!("127.0.0.1:{}", tls.port));
    let config = write(d, "rathole-client.toml", &text);
    let mut c = client(Some(&site.ns), &config);
    wait_ready(&host, 200);
    let customers = format!("{}/customers", host.rest_url("crm-api"));
    let r = get(&customers);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "[]");
    assert_eq!(tls.versions.lock().unwrap().as_slice(), ["HTTP/2.0"]);
    // The client goes away: the component answers 503 (fail closed), not 502.
    c.signal(libc::SIGKILL);
    c.wait_exit(Duration::from_secs(10));
    wait_ready(&host, 503);
    let r = get(&customers);
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("tunnel-unavailable"), "{}", r.body);
}

#[test]
fn ikanos_serve_lets_a_capability_use_a_service_of_the_hosts_listener_granted_to_it() {
    if skip() {
        return;
    }
    let site = PrivateSite::new();
    let private = netns::in_namespace(&site.ns, Upstream::bearer);
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps");
    let listen = format!("{}:{}", site.host_addr, free_port());
    for name in ["granted", "other"] {
        let folder = caps.join(name);
        std::fs::create_dir_all(&folder).unwrap();
        let tunnel = Tunnel::new("rathole")
            .set("service", "crm")
            .set("identity", "{{secrets.RATHOLE_TOKEN}}")
            .set("listener", "edge");
        fixtures::hostile_tunnelled(
            &folder,
            &format!("{name}.ikanos.yaml"),
            name,
            "http://127.0.0.1:9",
            tunnel,
            &[("RATHOLE_TOKEN", "rathole-token", SERVICE_TOKEN.to_string())],
        );
        std::fs::copy(&components().hostile, folder.join(format!("{name}.wasm"))).unwrap();
    }
    let config = format!(
        "tunnels:\n  rathole:\n    edge:\n      listen: \"{listen}\"\n      services:\n        crm: [granted]\n"
    );
    let serve = serve::ServeBuilder::new(&caps)
        .config(&dir.path().join("host.yaml"), &config)
        .start();
    let other = serve.wait_for("other", "listed", |c| c.is_some()).unwrap();
    let reason = other["consumes"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains("not granted to capability 'other'"),
        "{other}"
    );
    let granted = serve.capability("granted").unwrap();
    assert!(
        granted["consumes"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("no rathole client"),
        "{granted}"
    );

    let config = client_config(
        dir.path(),
        "client.toml",
        &listen,
        ClientTransport::Tcp,
        &[(
            "crm",
            SERVICE_TOKEN,
            format!("127.0.0.1:{}", private.addr.port()),
        )],
    );
    let _client = client(Some(&site.ns), &config);
    serve.wait_for("granted", "ready", |c| {
        c.is_some_and(|c| c["ready"] == true)
    });
    let r = post(
        &serve.url("granted", "/call?ns=crm&op=list-customers"),
        "text/plain",
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], 200, "{}", r.body);
    assert_eq!(private.requests().len(), 1);
    assert_eq!(
        get(&format!("{}/health/ready/other", serve.control)).status,
        503
    );

    // The capability is replaced (its file changes): the new version registers the same
    // service before the old one stops, and it serves through the same client.
    let generation = serve.capability("granted").unwrap()["generation"].clone();
    let file = caps.join("granted/granted.ikanos.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replacen("display: \"granted\"", "display: \"granted again\"", 1),
    )
    .unwrap();
    serve.wait_for("granted", "replaced", |c| {
        c.is_some_and(|c| c["generation"] != generation)
    });
    serve.wait_for("granted", "ready", |c| {
        c.is_some_and(|c| c["ready"] == true)
    });
    let r = post(
        &serve.url("granted", "/call?ns=crm&op=list-customers"),
        "text/plain",
        "",
    );
    assert_eq!(r.json()["status"], 200, "{}", r.body);

    // The token rotates: a new value in the capability's bind file, SIGHUP. The client
    // with the old token is dropped (and keeps retrying, refused, without unreadying the
    // new one); a client with the new token is let in.
    let rotated = "rotated-in-serve-0123456789";
    let secrets = caps.join("granted/secrets.yaml");
    let text = std::fs::read_to_string(&secrets).unwrap();
    std::fs::write(&secrets, text.replace(SERVICE_TOKEN, rotated)).unwrap();
    serve.signal(libc::SIGHUP);
    serve.wait_for("granted", "unready", |c| {
        c.is_some_and(|c| c["ready"] == false)
    });
    let config = client_config(
        dir.path(),
        "rotated.toml",
        &listen,
        ClientTransport::Tcp,
        &[("crm", rotated, format!("127.0.0.1:{}", private.addr.port()))],
    );
    let _rotated = client(Some(&site.ns), &config);
    serve.wait_for("granted", "ready", |c| {
        c.is_some_and(|c| c["ready"] == true)
    });
    // Stays ready while the stale client keeps being refused.
    for _ in 0..30 {
        assert_eq!(
            get(&format!("{}/health/ready/granted", serve.control)).status,
            200
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(serve.all_output().contains("offered a wrong token"));
    let r = post(
        &serve.url("granted", "/call?ns=crm&op=list-customers"),
        "text/plain",
        "",
    );
    assert_eq!(r.json()["status"], 200, "{}", r.body);
    assert!(!serve.all_output().contains(rotated));
}

#[test]
fn a_frozen_client_is_noticed_although_its_connection_stays_up() {
    if skip() {
        return;
    }
    let rig = rig(&[], &[]);
    let c = rig.client("client.toml", SERVICE_TOKEN, ClientTransport::Tcp);
    wait_ready(&rig.host, 200);
    c.signal(libc::SIGSTOP);
    // The kernel keeps its TCP connection alive; the probe's data channel never comes.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !rig.reason().contains("opened no data channel") {
        assert!(
            Instant::now() < deadline,
            "never noticed: {}\n{}",
            rig.reason(),
            rig.host.all_output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(list_customers(&rig.host)["error"], "tunnel-unavailable");
    c.signal(libc::SIGCONT);
    wait_ready(&rig.host, 200);
    assert_eq!(list_customers(&rig.host)["status"], 200);
}
