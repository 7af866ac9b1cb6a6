//! Several `ikanos serve` hosts behind a load balancer, on one machine: the scale-out
//! shape of a deployment (tests/e2e/scale.rs, and `cargo bench --bench scale`).
//!
//! Machines, all made here and removed on drop:
//! - `priv`: the private API, and `ssh -N -R` to the relay in a restart loop (the
//!   private side dials out; nothing dials in).
//! - `relay`: stock OpenSSH sshd, no forwarding (netns::Topology).
//! - one namespace per replica, on a LAN bridge in the root namespace
//!   (169.254.252.0/24): replica `i` at .10+i, the relay at .2, and the root side at .1,
//!   where the OCI registry (docker-registry) listens. Each replica pulls the
//!   capability from the registry itself and opens its own SSH session to the relay
//!   (one session per replica).
//! - HAProxy in the root namespace on 127.0.0.1: round robin over the replicas' shared
//!   listeners, each checked with `GET /health/ready/crm` on its control port (ready =
//!   the capability's tunnel is up), and a 502/503/504 retried on another replica.
//!
//! One replica's tunnel is cut with a blackhole route to the relay inside its namespace
//! (a partition of that host alone: its control port still answers, now 503).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::fixtures::{self, Tunnel};
use super::netns::{self, ip, Topology};
use super::openssh::{keygen, Connector, InNamespace, Sshd, SshdOptions};
use super::registry::Registry;
use super::upstream::Upstream;
use super::{components, free_port, get, spawn_logged, try_get, Process};

/// One fleet at a time: they share the LAN's addresses.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const LAN: &str = "169.254.252";
/// The capability every replica serves, as the registry names it.
pub const NAME: &str = "crm";

/// The bridge and the replicas' namespaces (the relay's leg too).
struct Lan {
    bridge: String,
    namespaces: Vec<String>,
    relay_leg: String,
    relay_ns: String,
}

impl Lan {
    fn new(replicas: usize, relay_ns: &str) -> Lan {
        let id = std::process::id() % 10_000;
        let bridge = format!("ikb{id}");
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&["addr", "add", &format!("{LAN}.1/24"), "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        let mut namespaces = Vec::new();
        let leg = |ns: &str, name: &str, addr: &str| {
            let (outer, inner) = (format!("{name}o"), format!("{name}i"));
            ip(&[
                "link", "add", &outer, "type", "veth", "peer", "name", &inner,
            ]);
            ip(&["link", "set", &outer, "master", &bridge]);
            ip(&["link", "set", &outer, "up"]);
            ip(&["link", "set", &inner, "netns", ns]);
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                &inner,
            ]);
            ip(&["-n", ns, "link", "set", &inner, "up"]);
            outer
        };
        for i in 0..replicas {
            let ns = format!("ikh{id}-{i}");
            ip(&["netns", "add", &ns]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            leg(&ns, &format!("ikl{id}{i}"), &replica_addr(i));
            namespaces.push(ns);
        }
        let relay_leg = leg(relay_ns, &format!("ikl{id}r"), &format!("{LAN}.2"));
        Lan {
            bridge,
            namespaces,
            relay_leg,
            relay_ns: relay_ns.to_string(),
        }
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.relay_leg])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
        let _ = &self.relay_ns;
    }
}

pub fn replica_addr(i: usize) -> String {
    format!("{LAN}.{}", 10 + i)
}

/// HAProxy over the replicas.
struct Balancer {
    process: Process,
    port: u16,
    socket: PathBuf,
}

impl Balancer {
    fn start(dir: &Path, replicas: usize) -> Balancer {
        let port = free_port();
        let socket = dir.join("haproxy.sock");
        let servers: String = (0..replicas)
            .map(|i| format!("  server r{i} {}:8080 check port 9090\n", replica_addr(i)))
            .collect();
        let config = format!(
            "global\n  stats socket {} mode 600 level admin\n  maxconn 2000\n\
             defaults\n  mode http\n  timeout connect 2s\n  timeout client 30s\n  timeout server 5s\n  timeout check 2s\n\
               retries 3\n  option redispatch 1\n  retry-on conn-failure empty-response response-timeout 502 503 504\n\
             frontend crm\n  bind 127.0.0.1:{port}\n  default_backend replicas\n\
             backend replicas\n  balance roundrobin\n  option httpchk GET /health/ready/{NAME}\n  http-check expect status 200\n\
               default-server inter 300ms fall 2 rise 2\n{servers}",
            socket.display()
        );
        let file = dir.join("haproxy.cfg");
        std::fs::write(&file, config).unwrap();
        let process = spawn_logged(
            Command::new(haproxy()).arg("-db").arg("-f").arg(&file),
            "haproxy",
        );
        let b = Balancer {
            process,
            port,
            socket,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "haproxy did not listen:\n{}",
                b.process.all_output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        b
    }

    /// `show stat` of the runtime API: each replica's (status — UP, DOWN, … —, requests
    /// sent to it so far).
    fn stat(&self) -> Vec<(String, u64)> {
        use std::io::{Read, Write};
        let Ok(mut s) = std::os::unix::net::UnixStream::connect(&self.socket) else {
            return Vec::new();
        };
        let _ = s.write_all(b"show stat\n");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        let mut states = Vec::new();
        for line in out.lines().filter(|l| l.starts_with("replicas,r")) {
            let fields: Vec<&str> = line.split(',').collect();
            let sent = fields.get(7).and_then(|f| f.parse().ok()).unwrap_or(0);
            states.push((fields.get(17).copied().unwrap_or("?").to_string(), sent));
        }
        states
    }
}

pub fn haproxy() -> &'static str {
    "/usr/sbin/haproxy"
}

/// What the fleet needs that scripts/setup installs; None when all is there.
pub fn missing() -> Option<String> {
    if !netns::available() {
        return Some("not root, or no iproute2: the fleet needs network namespaces".into());
    }
    for (tool, what) in [
        (haproxy(), "haproxy"),
        ("/usr/bin/docker-registry", "docker-registry"),
        ("/usr/sbin/sshd", "openssh-server"),
    ] {
        if !Path::new(tool).is_file() {
            return Some(format!(
                "{what} is not installed; scripts/setup installs it"
            ));
        }
    }
    None
}

pub struct Replica {
    pub process: Process,
    pub control: String,
}

pub struct Fleet {
    pub replicas: Vec<Replica>,
    balancer: Balancer,
    pub private: Upstream,
    pub registry: Registry,
    /// The artifact every replica pulled (oci://…:TAG).
    pub reference: String,
    /// How long each replica took from its start to ready (pull included).
    pub start_to_ready: Vec<Duration>,
    _connector: Connector,
    _sshd: Sshd,
    lan: Lan,
    _topology: Topology,
    _dir: tempfile::TempDir,
    _one: std::sync::MutexGuard<'static, ()>,
}

/// A new folder `dir/name` holding `capability` and its secrets.yaml; the folder.
fn capability_folder(
    dir: &Path,
    name: &str,
    host_key: &Path,
    relay: &str,
    forward: u16,
    pin: &str,
) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    let key = ("SSH_KEY", "ssh-key", host_key.display().to_string());
    let tunnel = Tunnel::new("ssh")
        .set("identity", "{{secrets.SSH_KEY}}")
        .set("relay", relay)
        .set("user", "root")
        .set("target", format!("127.0.0.1:{forward}"))
        .set("hostKey", pin);
    // The baseUri names a loopback port nothing listens on inside a replica: an answer
    // can only come through the tunnel.
    let capability = fixtures::hostile_tunnelled_capability(
        "Scaled out",
        "http://127.0.0.1:9",
        tunnel,
        &[(key.0, key.1, key.2.clone())],
    );
    fixtures::secrets_with(&folder, &[(key.0, key.1, key.2.clone())]);
    capability.write(&folder, &format!("{NAME}.ikanos.yaml"));
    folder
}

impl Fleet {
    /// Start `replicas` hosts serving the capability from the registry, and the
    /// balancer; returns once every replica is ready and HAProxy has them all UP.
    pub fn start(replicas: usize) -> Fleet {
        let one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let topology = Topology::new();
        let lan = Lan::new(replicas, &topology.relay);
        let private = netns::in_namespace(&topology.private, Upstream::bearer);
        let (connector_key, connector_pub) = keygen(dir.path(), "connector");
        let (host_key, host_pub) = keygen(dir.path(), "host");
        let forward = 18080;
        let names = [
            topology.relay_public_addr.as_str(),
            topology.relay_private_addr.as_str(),
        ];
        let sshd = Sshd::start_with(
            dir.path(),
            &[
                format!(
                    "restrict,port-forwarding,permitlisten=\"127.0.0.1:{forward}\" {connector_pub}"
                ),
                format!("restrict,port-forwarding,permitopen=\"127.0.0.1:{forward}\" {host_pub}"),
            ],
            SshdOptions {
                extra_config: "MaxStartups 100\n",
                host_ca: None,
                namespace: Some(InNamespace {
                    ns: &topology.relay,
                    reach: &topology.relay_public_addr,
                    names: &names,
                }),
            },
        );
        let connector = Connector::start_loop_in(
            &topology.private,
            &sshd,
            &topology.relay_private_addr,
            &connector_key,
            forward,
            private.addr.port(),
            1,
        );

        // The registry on the LAN, and the capability pushed to it once.
        let registry = Registry::start_on(dir.path(), &format!("{LAN}.1"), free_port());
        let reference = registry.reference(&format!("team/{NAME}:1"));
        let folder = capability_folder(
            dir.path(),
            "source",
            &host_key,
            &format!("{LAN}.2:22"),
            forward,
            &sshd.host_key,
        );
        let pushed = Command::new(env!("CARGO_BIN_EXE_ikanos"))
            .arg("push")
            .arg(&folder)
            .arg(&reference)
            .arg("--component")
            .arg(&components().hostile)
            .env("IKANOS_REGISTRY_PLAIN_HTTP", &registry.addr)
            .output()
            .expect("running ikanos push");
        assert!(
            pushed.status.success(),
            "push: {}",
            String::from_utf8_lossy(&pushed.stderr)
        );

        // Each replica: its own artifact store and its own copy of the bind files.
        let mut started = Vec::new();
        for (i, ns) in lan.namespaces.iter().enumerate() {
            let binds = dir.path().join(format!("binds-{i}"));
            std::fs::create_dir_all(binds.join(NAME)).unwrap();
            std::fs::copy(
                folder.join("secrets.yaml"),
                binds.join(NAME).join("secrets.yaml"),
            )
            .unwrap();
            let addr = replica_addr(i);
            let process = spawn_logged(
                Command::new("ip")
                    .args(["netns", "exec", ns])
                    .arg(env!("CARGO_BIN_EXE_ikanos"))
                    .arg("serve")
                    .arg("--from")
                    .arg(&reference)
                    .arg("--binds")
                    .arg(&binds)
                    .args(["--listen", &format!("{addr}:8080")])
                    .args(["--control", &format!("{addr}:9090")])
                    .arg("--cache-dir")
                    .arg(super::shared_cache_dir())
                    .args(["--worker-threads", "1"])
                    .env(
                        "IKANOS_ARTIFACTS_DIR",
                        dir.path().join(format!("store-{i}")),
                    )
                    .env("IKANOS_REGISTRY_PLAIN_HTTP", &registry.addr)
                    .env_remove("RUST_LOG"),
                &format!("replica {i}"),
            );
            started.push((
                Instant::now(),
                Replica {
                    process,
                    control: format!("http://{addr}:9090"),
                },
            ));
        }
        // Ready: from the root namespace, as the balancer sees them.
        let mut start_to_ready = Vec::new();
        let mut replicas_ready = Vec::new();
        for (i, (at, r)) in started.into_iter().enumerate() {
            let deadline = Instant::now() + Duration::from_secs(300);
            loop {
                let ready =
                    try_get(&format!("{}/health/ready/{NAME}", r.control)).map_or(0, |r| r.status);
                if ready == 200 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "replica {i} never became ready:\n{}",
                    r.process.all_output()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            start_to_ready.push(at.elapsed());
            replicas_ready.push(r);
        }
        let balancer = Balancer::start(dir.path(), replicas);
        let fleet = Fleet {
            replicas: replicas_ready,
            balancer,
            private,
            registry,
            reference,
            start_to_ready,
            _connector: connector,
            _sshd: sshd,
            lan,
            _topology: topology,
            _dir: dir,
            _one: one,
        };
        fleet.wait_states(Duration::from_secs(60), |s| s.iter().all(|s| s == "UP"));
        fleet
    }

    /// The balancer's address for a capability path: `http://127.0.0.1:P/crm{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{NAME}{path}", self.balancer.port)
    }

    /// Each replica's state at the balancer.
    pub fn states(&self) -> Vec<String> {
        self.balancer.stat().into_iter().map(|(s, _)| s).collect()
    }

    /// How many requests the balancer has sent replica `i`.
    pub fn sent(&self, i: usize) -> u64 {
        self.balancer.stat().get(i).map_or(0, |s| s.1)
    }

    /// Wait until the balancer's states satisfy `pred`; how long it took.
    pub fn wait_states(&self, within: Duration, pred: impl Fn(&[String]) -> bool) -> Duration {
        let start = Instant::now();
        loop {
            let s = self.states();
            if s.len() == self.replicas.len() && pred(&s) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "the balancer's states stayed {s:?}; haproxy:\n{}",
                self.balancer.process.all_output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `/health/ready/crm` of replica `i`.
    pub fn ready(&self, i: usize) -> u16 {
        get(&format!("{}/health/ready/{NAME}", self.replicas[i].control)).status
    }

    /// Replica `i`'s `/metrics`.
    pub fn metrics(&self, i: usize) -> String {
        get(&format!("{}/metrics", self.replicas[i].control)).body
    }

    /// Requests replica `i` answered for the capability (its `ikanos_request_total`).
    pub fn answered(&self, i: usize) -> u64 {
        let m = self.metrics(i);
        m.lines()
            .filter(|l| {
                l.starts_with("ikanos_request_total{")
                    && l.contains(&format!("capability=\"{NAME}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// Cut (or restore) replica `i`'s route to the relay: its tunnel alone goes down.
    pub fn partition(&self, i: usize, cut: bool) {
        ip(&[
            "-n",
            &self.lan.namespaces[i],
            "route",
            if cut { "add" } else { "del" },
            "blackhole",
            &format!("{LAN}.2/32"),
        ]);
    }

    /// Resident memory of replica `i`'s `ikanos` (KiB).
    pub fn rss_kib(&self, i: usize) -> u64 {
        let pid = self.replicas[i].process.pid();
        // `ip netns exec` execs the program: the pid is ikanos's own.
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }
}
