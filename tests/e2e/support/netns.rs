//! Network namespaces for tests that need separate hosts on one machine: a private
//! network, a relay, and the root namespace as the public side. Link-local addresses
//! (169.254.0.0/16) on veth pairs made by the test; no forwarding in the relay (set in
//! the namespace itself, whatever the machine's own setting), so the public side has no
//! route to the private one. Everything is removed on drop.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

pub fn available() -> bool {
    // Root, and iproute2 present.
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    root && Command::new("ip").arg("-V").output().is_ok()
}

/// `ip ARGS`, which must succeed.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("running ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Turn IPv4 and IPv6 forwarding off inside namespace `ns` (only there).
fn no_forwarding(ns: &str) {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.ip_forward=0",
            "net.ipv6.conf.all.forwarding=0",
        ])
        .output()
        .expect("running sysctl in the namespace");
    assert!(
        out.status.success(),
        "turning forwarding off in {ns}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `priv` ── relay ── root (public). Addresses: root 169.254.N.1 ↔ relay 169.254.N.2,
/// relay 169.254.N+1.1 ↔ priv 169.254.N+1.2.
pub struct Topology {
    pub relay: String,
    pub private: String,
    /// The relay's address as the public side sees it.
    pub relay_public_addr: String,
    /// The relay's address as the private side sees it.
    pub relay_private_addr: String,
    /// The private host's address (unreachable from the public side).
    pub private_addr: String,
}

impl Topology {
    pub fn new() -> Topology {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}{}", std::process::id() % 100_000, n);
        let (relay, private) = (format!("ikr{id}"), format!("ikp{id}"));
        let subnet = 10 + (std::process::id() as usize * 7 + n * 2) % 240;
        let (a, b) = (subnet, subnet + 1);
        for ns in [&relay, &private] {
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            // A new namespace starts with the machine's forwarding setting (1 on any
            // Docker or podman host): the topology sets its own and never reads or
            // changes the machine's.
            no_forwarding(ns);
        }
        // root <-> relay
        let (ra, rb) = (format!("ikv{id}a"), format!("ikv{id}b"));
        ip(&["link", "add", &ra, "type", "veth", "peer", "name", &rb]);
        ip(&["link", "set", &rb, "netns", &relay]);
        ip(&["addr", "add", &format!("169.254.{a}.1/30"), "dev", &ra]);
        ip(&["link", "set", &ra, "up"]);
        ip(&[
            "-n",
            &relay,
            "addr",
            "add",
            &format!("169.254.{a}.2/30"),
            "dev",
            &rb,
        ]);
        ip(&["-n", &relay, "link", "set", &rb, "up"]);
        // relay <-> private
        let (pa, pb) = (format!("ikv{id}c"), format!("ikv{id}d"));
        ip(&[
            "-n", &relay, "link", "add", &pa, "type", "veth", "peer", "name", &pb,
        ]);
        ip(&["-n", &relay, "link", "set", &pb, "netns", &private]);
        ip(&[
            "-n",
            &relay,
            "addr",
            "add",
            &format!("169.254.{b}.1/30"),
            "dev",
            &pa,
        ]);
        ip(&["-n", &relay, "link", "set", &pa, "up"]);
        ip(&[
            "-n",
            &private,
            "addr",
            "add",
            &format!("169.254.{b}.2/30"),
            "dev",
            &pb,
        ]);
        ip(&["-n", &private, "link", "set", &pb, "up"]);
        Topology {
            relay,
            private,
            relay_public_addr: format!("169.254.{a}.2"),
            relay_private_addr: format!("169.254.{b}.1"),
            private_addr: format!("169.254.{b}.2"),
        }
    }
}

impl Topology {
    /// Whether a packet from the public side could reach the private network: through
    /// a route via the relay, or because the relay forwards.
    pub fn public_reaches_private(&self) -> bool {
        let route = Command::new("ip")
            .args(["route", "get", &self.private_addr])
            .output()
            .expect("running ip route get");
        let via_relay = String::from_utf8_lossy(&route.stdout).contains(&self.relay_public_addr);
        let forwarding = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.relay,
                "sysctl",
                "-n",
                "net.ipv4.ip_forward",
            ])
            .output()
            .expect("running sysctl in the relay");
        via_relay || String::from_utf8_lossy(&forwarding.stdout).trim() != "0"
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of each veth, and so the pair.
        for ns in [&self.private, &self.relay] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Run `f` on a thread that lives in namespace `ns` (sockets it opens stay there).
pub fn in_namespace<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("opening the namespace");
        use std::os::fd::AsRawFd;
        // SAFETY: switches only this thread's network namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns into {path}");
        f()
    })
    .join()
    .expect("the namespace thread panicked")
}
