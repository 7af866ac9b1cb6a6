//! The private side of a rathole tunnel: a stock `rathole` 0.5.0 client (installed by
//! scripts/setup under the tools folder) in a network namespace `priv` that can reach
//! the host but that nothing reaches: its API listens on priv's own loopback.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::netns::ip;
use super::{spawn_logged, tools_dir, Process};

/// The rathole binary, when scripts/setup installed it.
pub fn binary() -> Option<PathBuf> {
    let p = tools_dir().join("rathole-0.5.0/bin/rathole");
    p.is_file().then_some(p)
}

/// `priv` joined to the root namespace (the host's side) by one veth pair.
pub struct PrivateSite {
    pub ns: String,
    veth: String,
    /// The host's address, as the client dials it.
    pub host_addr: String,
    /// priv's address on the link (its API is not on it).
    pub private_addr: String,
}

impl PrivateSite {
    pub fn new() -> PrivateSite {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}{}", std::process::id() % 10_000, n);
        let ns = format!("ikq{id}");
        let (outer, inner) = (format!("ikw{id}a"), format!("ikw{id}b"));
        let base = (n % 64) * 4;
        let (host, private) = (
            format!("169.254.253.{}", base + 1),
            format!("169.254.253.{}", base + 2),
        );
        ip(&["netns", "add", &ns]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ip(&[
            "link", "add", &outer, "type", "veth", "peer", "name", &inner,
        ]);
        ip(&["link", "set", &inner, "netns", &ns]);
        ip(&["addr", "add", &format!("{host}/30"), "dev", &outer]);
        ip(&["link", "set", &outer, "up"]);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{private}/30"),
            "dev",
            &inner,
        ]);
        ip(&["-n", &ns, "link", "set", &inner, "up"]);
        PrivateSite {
            ns,
            veth: outer,
            host_addr: host,
            private_addr: private,
        }
    }
}

impl Drop for PrivateSite {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .output();
    }
}

/// How the client speaks to the host.
pub enum ClientTransport<'a> {
    Tcp,
    /// The host's Noise public key (base64).
    Noise(&'a str),
    /// The CA file the host's certificate chains to, and the name on it.
    Tls {
        ca: &'a Path,
        hostname: &'a str,
    },
}

/// A client configuration: `services` as (name, token, local address).
pub fn client_config(
    dir: &Path,
    file: &str,
    remote: &str,
    transport: ClientTransport,
    services: &[(&str, &str, String)],
) -> PathBuf {
    let mut text = format!(
        "[client]\nremote_addr = \"{remote}\"\nretry_interval = 1\nheartbeat_timeout = 20\n\n"
    );
    match transport {
        ClientTransport::Tcp => text.push_str("[client.transport]\ntype = \"tcp\"\n\n"),
        ClientTransport::Noise(public) => text.push_str(&format!(
            "[client.transport]\ntype = \"noise\"\n[client.transport.noise]\nremote_public_key = \"{public}\"\n\n"
        )),
        ClientTransport::Tls { ca, hostname } => text.push_str(&format!(
            "[client.transport]\ntype = \"tls\"\n[client.transport.tls]\ntrusted_root = \"{}\"\nhostname = \"{hostname}\"\n\n",
            ca.display()
        )),
    }
    for (name, token, local) in services {
        text.push_str(&format!(
            "[client.services.{name}]\ntoken = \"{token}\"\nlocal_addr = \"{local}\"\n\n"
        ));
    }
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

/// `rathole --client CONFIG`, inside `ns` (or here).
pub fn client(ns: Option<&str>, config: &Path) -> Process {
    let bin = binary().expect("rathole is installed");
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.arg("--client").arg(config).env("RUST_LOG", "info");
    spawn_logged(&mut cmd, "rathole --client")
}

/// `rathole --genkey`: (private, public), base64.
pub fn genkey() -> (String, String) {
    let out = Command::new(binary().expect("rathole is installed"))
        .arg("--genkey")
        .output()
        .expect("running rathole --genkey");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let after = |label: &str| {
        let i = lines
            .iter()
            .position(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no {label} in {text}"));
        lines[i + 1].to_string()
    };
    (after("Private Key"), after("Public Key"))
}
