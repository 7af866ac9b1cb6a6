//! The SSH tunnel (`tunnel.type: ssh`) against stock OpenSSH: sshd as the relay and
//! `ssh -N -R` as the private side's connector.
//!
//! Every scenario runs on a [`Site`]: three network namespaces made by the test — `priv`
//! (the private API on its own loopback and the connector in a restart loop), `relay`
//! (sshd, no forwarding) and the public side (the `ikanos` host, with no route to
//! `priv`). Without root or iproute2 the same scenarios run on loopback, and say so.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use crate::support::fixtures::{self, Capability, ExtraBind, HttpConsumes, Tunnel, TOKEN};
use crate::support::netns::{self, Topology};
use crate::support::openssh::{self, keygen, Connector, InNamespace, Sshd, SshdOptions};
use crate::support::upstream::Upstream;
use crate::support::*;

fn skip_without_openssh() -> bool {
    let missing = !openssh::available();
    if missing {
        eprintln!("SKIP: OpenSSH (sshd, ssh) is not installed; scripts/setup installs it");
    }
    missing
}

/// Where a scenario's machines live: namespaces when the test may make them (see the
/// module comment), else loopback.
struct Site {
    topology: Option<Topology>,
    next_forward: AtomicU16,
}

impl Site {
    fn new() -> Site {
        let topology = if netns::available() {
            Some(Topology::new())
        } else {
            eprintln!(
                "NOTE: not root or no iproute2: this SSH scenario runs on loopback, \
                 not across network namespaces"
            );
            None
        };
        Site {
            topology,
            next_forward: AtomicU16::new(18080),
        }
    }

    /// An API on the private side, which the public side cannot reach.
    fn private_api(&self) -> Upstream {
        let Some(t) = &self.topology else {
            return Upstream::bearer();
        };
        let api = netns::in_namespace(&t.private, Upstream::bearer);
        assert!(
            !t.public_reaches_private(),
            "the public side must have no route to the private network"
        );
        // Whatever answers a direct attempt (nothing, or the machine's own network),
        // it is not the private API.
        let direct: std::net::SocketAddr = format!("{}:{}", t.private_addr, api.addr.port())
            .parse()
            .unwrap();
        let _ = std::net::TcpStream::connect_timeout(&direct, Duration::from_millis(300));
        assert_eq!(api.connections(), 0);
        api
    }

    /// A port for the connector to listen on at the relay.
    fn forward_port(&self) -> u16 {
        match self.topology {
            // The relay's loopback belongs to this test alone.
            Some(_) => self.next_forward.fetch_add(1, Ordering::SeqCst),
            None => openssh::port(),
        }
    }

    fn sshd(
        &self,
        dir: &Path,
        authorized_keys: &[String],
        extra_config: &str,
        host_ca: Option<&Path>,
    ) -> Sshd {
        let names;
        let namespace = match &self.topology {
            Some(t) => {
                names = [t.relay_public_addr.as_str(), t.relay_private_addr.as_str()];
                Some(InNamespace {
                    ns: &t.relay,
                    reach: &t.relay_public_addr,
                    names: &names,
                })
            }
            None => None,
        };
        Sshd::start_with(
            dir,
            authorized_keys,
            SshdOptions {
                extra_config,
                host_ca,
                namespace,
            },
        )
    }

    /// The relay's address as the host dials it.
    fn relay(&self, sshd: &Sshd) -> String {
        match &self.topology {
            Some(t) => format!("{}:{}", t.relay_public_addr, sshd.port),
            None => format!("127.0.0.1:{}", sshd.port),
        }
    }

    /// `ssh -N -R` on the private side: in a restart loop (3 s pause, long enough for
    /// the host to notice a dead connector before the loop replaces it) as it would run
    /// for real, or a single connector on loopback.
    fn connector(&self, sshd: &Sshd, key: &Path, forward: u16, api: u16) -> Connector {
        match &self.topology {
            Some(t) => Connector::start_loop_in(
                &t.private,
                sshd,
                &t.relay_private_addr,
                key,
                forward,
                api,
                3,
            ),
            None => Connector::start(sshd, key, forward, api),
        }
    }
}

/// The relay's authorized_keys: the connector may only listen on `forward`, the host
/// may only open `open`.
fn least_privilege(forward: u16, open: u16, connector_pub: &str, host_pub: &str) -> Vec<String> {
    vec![
        format!("restrict,port-forwarding,permitlisten=\"127.0.0.1:{forward}\" {connector_pub}"),
        format!("restrict,port-forwarding,permitopen=\"127.0.0.1:{open}\" {host_pub}"),
    ]
}

/// The `ssh` tunnel through `relay` to `127.0.0.1:{forward}` as `root`, with the
/// identity bound as `SSH_KEY` and the relay's host key pinned.
fn ssh_tunnel(relay: &str, forward: u16, host_key: &str) -> Tunnel {
    Tunnel::new("ssh")
        .set("identity", "{{secrets.SSH_KEY}}")
        .set("relay", relay)
        .set("user", "root")
        .set("target", format!("127.0.0.1:{forward}"))
        .set("hostKey", host_key)
}

/// The bind of the private key at `key` as `SSH_KEY`.
fn ssh_key_bind(key: &Path) -> ExtraBind<'static> {
    ("SSH_KEY", "ssh-key", key.display().to_string())
}

/// The hostile capability whose `crm` goes through `tunnel` (baseUri `base`).
fn capability_over(base: &str, tunnel: Tunnel, key: &Path) -> Capability {
    fixtures::hostile_tunnelled_capability("Over SSH", base, tunnel, &[ssh_key_bind(key)])
}

/// `capability_over` written as `dir/name`, with the key in secrets.yaml beside it.
fn write_capability_over(
    dir: &Path,
    name: &str,
    base: &str,
    tunnel: Tunnel,
    key: &Path,
) -> PathBuf {
    fixtures::secrets_with(dir, &[ssh_key_bind(key)]);
    capability_over(base, tunnel, key).write(dir, name)
}

struct Rig {
    /// The capability the host runs.
    capability: Capability,
    host_pub: String,
    private: Upstream,
    decoy: Upstream,
    sshd: Sshd,
    connector_key: PathBuf,
    forward: u16,
    host: Host,
    _dir: tempfile::TempDir,
    site: Site,
}

/// sshd with least-privilege keys, the connector, and a host whose `crm` goes over SSH.
fn rig(pin: Option<&str>, permit_open: Option<u16>) -> Option<(Rig, Connector)> {
    if skip_without_openssh() {
        return None;
    }
    let c = components();
    let site = Site::new();
    let private = site.private_api();
    let decoy = Upstream::bearer();
    let dir = tempfile::tempdir().unwrap();
    let forward = site.forward_port();
    let (connector_key, connector_pub) = keygen(dir.path(), "connector");
    let (host_key, host_pub) = keygen(dir.path(), "host");
    let open = permit_open.unwrap_or(forward);
    let sshd = site.sshd(
        dir.path(),
        &least_privilege(forward, open, &connector_pub, &host_pub),
        "",
        None,
    );
    let connector = site.connector(&sshd, &connector_key, forward, private.addr.port());
    let pinned = pin
        .map(str::to_string)
        .unwrap_or_else(|| sshd.host_key.clone());
    let capability = capability_over(
        &decoy.base(),
        ssh_tunnel(&site.relay(&sshd), forward, &pinned),
        &host_key,
    );
    fixtures::secrets_with(dir.path(), &[ssh_key_bind(&host_key)]);
    let file = capability.write(dir.path(), "ssh.ikanos.yaml");
    let host = HostBuilder::new(&file).component(&c.hostile).start(1);
    Some((
        Rig {
            capability,
            host_pub,
            private,
            decoy,
            sshd,
            connector_key,
            forward,
            host,
            _dir: dir,
            site,
        },
        connector,
    ))
}

#[test]
fn calls_cross_the_relay_and_survive_a_connector_restart() {
    let Some((rig, connector)) = rig(None, None) else {
        return;
    };
    let v = wait_ready(&rig.host, 200);
    assert_eq!(v["consumes"][0]["route"], "tunnel:ssh");
    let v = list_customers(&rig.host);
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(rig.private.requests().len(), 1);
    // A declarative operation takes the same tunnel.
    assert_eq!(list_names_declarative(&rig.host), (200, expected_names()));
    assert_eq!(rig.private.requests().len(), 2);
    assert_eq!(
        rig.private.requests()[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );

    // The connector dies: not ready, calls fail closed, nothing reaches the public address.
    connector.kill();
    let v = wait_ready(&rig.host, 503);
    let reason = v["consumes"][0]["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("no connector"), "{reason}");
    assert_eq!(list_customers(&rig.host)["error"], "tunnel-unavailable");
    let (status, v) = list_names_declarative(&rig.host);
    assert_eq!(status, 503, "{v}");
    assert!(v["error"].as_str().unwrap().contains("tunnel"), "{v}");

    // It comes back: ready again, without restarting the host.
    let _connector = rig.site.connector(
        &rig.sshd,
        &rig.connector_key,
        rig.forward,
        rig.private.addr.port(),
    );
    wait_ready(&rig.host, 200);
    assert_eq!(list_customers(&rig.host)["status"], 200);
    assert_eq!(
        rig.decoy.connections(),
        0,
        "the public address must see nothing"
    );
    let m = get(&format!("{}/metrics", rig.host.control_url())).body;
    assert!(m.contains("ikanos_tunnel_dial_total{capability=\"ssh\",ikanos_namespace=\"crm\",ikanos_tunnel_type=\"ssh\",outcome=\"ok\"}"), "{m}");
}

#[test]
fn an_unknown_host_key_is_refused() {
    let other =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHh5fVpL0vXG9Sa8n4lQXfKxG6YkYpJr0N8u6cVQd3mS other";
    let Some((rig, _connector)) = rig(Some(other), None) else {
        return;
    };
    let v = wait_ready(&rig.host, 503);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut reason = v["consumes"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    while !reason.contains("not the pinned") {
        assert!(Instant::now() < deadline, "{reason}");
        std::thread::sleep(Duration::from_millis(100));
        reason = wait_ready(&rig.host, 503)["consumes"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string();
    }
    assert_eq!(list_customers(&rig.host)["error"], "tunnel-unavailable");
    assert!(rig.private.requests().is_empty());
}

#[test]
fn a_destination_the_relay_does_not_permit_is_not_ready() {
    let Some((rig, _connector)) = rig(None, Some(9)) else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = wait_ready(&rig.host, 503);
        let reason = v["consumes"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if reason.contains("administratively prohibited") {
            break;
        }
        assert!(Instant::now() < deadline, "{reason}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(list_customers(&rig.host)["error"], "tunnel-unavailable");
}

#[test]
fn a_backend_down_behind_a_live_connector_fails_that_call_only() {
    let Some((rig, _connector)) = rig(None, None) else {
        return;
    };
    wait_ready(&rig.host, 200);
    let Rig {
        private,
        host,
        decoy,
        ..
    } = rig;
    drop(private);
    let v = list_customers(&host);
    assert_eq!(
        v["error"], "transport",
        "a 502 for this call, no fallback: {v}"
    );
    assert_eq!(decoy.connections(), 0);
}

#[test]
fn the_hosts_key_rotates_on_sighup_without_a_restart() {
    let Some((rig, _connector)) = rig(None, None) else {
        return;
    };
    wait_ready(&rig.host, 200);
    let dir = rig._dir.path();
    let (new_key, new_pub) = keygen(dir, "host-rotated");
    // Only the new key may open channels from now on (sshd reads this on every login).
    let keys = std::fs::read_to_string(dir.join("authorized_keys")).unwrap();
    let connector_line = keys.lines().next().unwrap().to_string();
    std::fs::write(
        dir.join("authorized_keys"),
        format!(
            "{connector_line}\nrestrict,port-forwarding,permitopen=\"127.0.0.1:{}\" {new_pub}\n",
            rig.forward
        ),
    )
    .unwrap();
    fixtures::secrets_with(dir, &[ssh_key_bind(&new_key)]);
    rig.host.signal(libc::SIGHUP);
    rig.host.wait_for_log(Duration::from_secs(10), |l| {
        l.contains("tunnel took the new identity")
    });
    rig.host.wait_for_log(Duration::from_secs(10), |l| {
        l.contains("reconnecting with a new identity")
    });
    wait_ready(&rig.host, 200);
    assert_eq!(list_customers(&rig.host)["status"], 200);
}

#[test]
fn one_session_per_relay_and_identity_whatever_the_targets() {
    let Some((rig, _connector)) = rig(None, None) else {
        return;
    };
    wait_ready(&rig.host, 200);
    assert_eq!(rig.sshd.logins(&rig.host_pub), 1);
    drop(rig.host);

    // A second consumes entry with its own connector and target, same relay and key.
    let dir = rig._dir.path();
    let second_api = rig.site.private_api();
    let forward2 = rig.site.forward_port();
    let keys = std::fs::read_to_string(dir.join("authorized_keys")).unwrap();
    let keys = keys
        .replace(
            &format!("permitlisten=\"127.0.0.1:{}\"", rig.forward),
            &format!(
                "permitlisten=\"127.0.0.1:{}\",permitlisten=\"127.0.0.1:{forward2}\"",
                rig.forward
            ),
        )
        .replace(
            &format!("permitopen=\"127.0.0.1:{}\"", rig.forward),
            &format!(
                "permitopen=\"127.0.0.1:{}\",permitopen=\"127.0.0.1:{forward2}\"",
                rig.forward
            ),
        );
    std::fs::write(dir.join("authorized_keys"), keys).unwrap();
    let _connector2 = rig.site.connector(
        &rig.sshd,
        &rig.connector_key,
        forward2,
        second_api.addr.port(),
    );
    let mut capability = rig.capability.clone();
    let crm = capability.consumed("crm").clone();
    let second = HttpConsumes {
        namespace: "crm2".into(),
        tunnel: crm
            .tunnel
            .clone()
            .map(|t| t.set("target", format!("127.0.0.1:{forward2}"))),
        ..crm
    };
    let file = capability.consumes(second).write(dir, "two.ikanos.yaml");
    let before = rig.sshd.logins(&rig.host_pub);
    let host = HostBuilder::new(&file)
        .component(&components().hostile)
        .start(1);
    wait_ready(&host, 200);
    for ns in ["crm", "crm2"] {
        let r = post(
            &format!(
                "{}/call?ns={ns}&op=list-customers",
                host.rest_url("hostile")
            ),
            "text/plain",
            "",
        );
        assert_eq!(r.json()["status"], 200, "{ns}: {}", r.body);
    }
    assert_eq!(rig.private.requests().len(), 1);
    assert_eq!(second_api.requests().len(), 1);
    assert_eq!(
        rig.sshd.logins(&rig.host_pub) - before,
        1,
        "both targets share one SSH session"
    );
}

#[test]
fn certificate_authentication_with_a_user_ca() {
    if skip_without_openssh() {
        return;
    }
    let site = Site::new();
    let (private, decoy) = (site.private_api(), Upstream::bearer());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let forward = site.forward_port();
    let (connector_key, connector_pub) = keygen(d, "connector");
    let (ca_key, _) = keygen(d, "user_ca");
    let (host_key, host_pub) = keygen(d, "host");
    let signed = std::process::Command::new("ssh-keygen")
        .args(["-q", "-s"])
        .arg(&ca_key)
        .args(["-I", "ikanos-host", "-n", "root", "-V", "+1h"])
        .arg(d.join("host.pub"))
        .status()
        .unwrap();
    assert!(signed.success());
    std::fs::write(
        d.join("principals"),
        format!("restrict,port-forwarding,permitopen=\"127.0.0.1:{forward}\" root\n"),
    )
    .unwrap();
    // The host's plain key is not authorized anywhere: only its certificate gets in.
    let sshd = site.sshd(
        d,
        &[format!(
            "restrict,port-forwarding,permitlisten=\"127.0.0.1:{forward}\" {connector_pub}"
        )],
        &format!(
            "TrustedUserCAKeys {}\nAuthorizedPrincipalsFile {}\n",
            d.join("user_ca.pub").display(),
            d.join("principals").display()
        ),
        None,
    );
    let _connector = site.connector(&sshd, &connector_key, forward, private.addr.port());
    let tunnel = ssh_tunnel(&site.relay(&sshd), forward, &sshd.host_key).insert_after(
        "identity",
        "certificate",
        "{{secrets.SSH_CERT}}",
    );
    let cert_bind = |name: &str| -> ExtraBind<'static> {
        ("SSH_CERT", "ssh-cert", d.join(name).display().to_string())
    };
    let binds = [ssh_key_bind(&host_key), cert_bind("host-cert.pub")];
    let file = fixtures::hostile_tunnelled(
        d,
        "cert.ikanos.yaml",
        "Over SSH",
        &decoy.base(),
        tunnel,
        &binds,
    );
    let host = HostBuilder::new(&file)
        .component(&components().hostile)
        .start(1);
    wait_ready(&host, 200);
    assert_eq!(list_customers(&host)["status"], 200);
    let logins = sshd.login_lines(&host_pub);
    assert!(
        !logins.is_empty() && logins.iter().all(|l| l.contains("ED25519-CERT")),
        "certificate logins only: {logins:?}"
    );
    assert_eq!(private.requests().len(), 1);

    // Rotate key and certificate together: rewrite the binds, SIGHUP, and the next
    // session logs in with the new certificate — no restart.
    let (_new_key, new_pub) = keygen(d, "host2");
    let signed = std::process::Command::new("ssh-keygen")
        .args(["-q", "-s"])
        .arg(&ca_key)
        .args(["-I", "ikanos-host-2", "-n", "root", "-V", "+1h"])
        .arg(d.join("host2.pub"))
        .status()
        .unwrap();
    assert!(signed.success());
    let secrets = std::fs::read_to_string(d.join("secrets.yaml")).unwrap();
    fixtures::secrets_with(
        d,
        &[ssh_key_bind(&d.join("host2")), cert_bind("host2-cert.pub")],
    );
    assert_ne!(
        std::fs::read_to_string(d.join("secrets.yaml")).unwrap(),
        secrets
    );
    host.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(20);
    while sshd.login_lines(&new_pub).is_empty() {
        assert!(
            Instant::now() < deadline,
            "no login with the rotated certificate; output:\n{}",
            host.all_output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(sshd
        .login_lines(&new_pub)
        .iter()
        .all(|l| l.contains("ED25519-CERT")));
    wait_ready(&host, 200);
    assert_eq!(list_customers(&host)["status"], 200);
}

#[test]
fn a_restart_loop_brings_a_killed_connector_back_by_itself() {
    let Some((rig, connector)) = rig(None, None) else {
        return;
    };
    if rig.site.topology.is_none() {
        eprintln!("SKIP: the private side's restart loop runs in the namespaced topology only");
        return;
    }
    let host = &rig.host;
    wait_ready(host, 200);
    assert_eq!(list_customers(host)["status"], 200);

    // The connector's ssh dies; the loop brings it back by itself after its pause.
    // Meanwhile the host reports it and fails closed, then recovers without a restart.
    assert!(connector.kill_session(), "the loop was running no ssh");
    let v = wait_ready(host, 503);
    assert!(
        v["consumes"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("no connector"),
        "{v}"
    );
    assert_eq!(list_customers(host)["error"], "tunnel-unavailable");
    wait_ready(host, 200);
    assert_eq!(list_customers(host)["status"], 200);
    assert_eq!(rig.private.requests().len(), 2);
    assert_eq!(
        rig.decoy.connections(),
        0,
        "the public address must see nothing"
    );
}

#[test]
fn a_frozen_connector_is_detected_and_reported() {
    let Some((rig, connector)) = rig(None, None) else {
        return;
    };
    wait_ready(&rig.host, 200);
    connector.signal(libc::SIGSTOP);
    // The forwarded port stays bound on the relay at first: the deep probe notices that
    // nothing answers behind it (and sshd may drop the frozen session later, which
    // frees the port: then the reason is that no connector listens).
    let started = Instant::now();
    let v = wait_ready(&rig.host, 503);
    let reason = v["consumes"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    eprintln!(
        "frozen connector: not ready after {:?}: {reason}",
        started.elapsed()
    );
    assert!(
        reason.contains("does not answer") || reason.contains("no connector"),
        "{reason}"
    );
    assert_eq!(list_customers(&rig.host)["error"], "tunnel-unavailable");
    connector.signal(libc::SIGCONT);
    wait_ready(&rig.host, 200);
    assert_eq!(list_customers(&rig.host)["status"], 200);
    assert_eq!(rig.decoy.connections(), 0);
}

#[test]
fn a_relay_host_certificate_is_trusted_through_its_ca() {
    if skip_without_openssh() {
        return;
    }
    let site = Site::new();
    let (private, decoy) = (site.private_api(), Upstream::bearer());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let forward = site.forward_port();
    let (connector_key, connector_pub) = keygen(d, "connector");
    let (host_key, host_pub) = keygen(d, "host");
    let (host_ca, host_ca_pub) = keygen(d, "host_ca");
    let sshd = site.sshd(
        d,
        &least_privilege(forward, forward, &connector_pub, &host_pub),
        "",
        Some(&host_ca),
    );
    let _connector = site.connector(&sshd, &connector_key, forward, private.addr.port());
    let relay = site.relay(&sshd);
    let write_with = |host_ca: &str, name: &str| {
        let tunnel = ssh_tunnel(&relay, forward, "unused")
            .remove("hostKey")
            .set("hostCa", host_ca);
        write_capability_over(d, name, &decoy.base(), tunnel, &host_key)
    };

    // Trusted through the CA: no key pinned anywhere.
    let file = write_with(&host_ca_pub, "ca.ikanos.yaml");
    let host = HostBuilder::new(&file)
        .component(&components().hostile)
        .start(1);
    wait_ready(&host, 200);
    assert_eq!(list_customers(&host)["status"], 200);
    drop(host);

    // Another CA: refused, not ready, with the reason.
    let (_, other_ca_pub) = keygen(d, "other_ca");
    let file = write_with(&other_ca_pub, "other.ikanos.yaml");
    let host = HostBuilder::new(&file)
        .component(&components().hostile)
        .start(1);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = wait_ready(&host, 503);
        let reason = v["consumes"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if reason.contains("not valid for tunnel.hostCa") {
            break;
        }
        assert!(Instant::now() < deadline, "{reason}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(list_customers(&host)["error"], "tunnel-unavailable");
    assert_eq!(private.requests().len(), 1);
}

#[test]
fn the_crm_ssh_example_runs_end_to_end_with_tls_inside_the_tunnel() {
    if skip_without_openssh() {
        return;
    }
    let site = Site::new();
    // The private CRM speaks HTTPS as crm.internal, a name that resolves nowhere.
    let tls = match &site.topology {
        Some(t) => {
            netns::in_namespace(&t.private, || crate::auth::tls_upstream_for("crm.internal"))
        }
        None => crate::auth::tls_upstream_for("crm.internal"),
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let forward = site.forward_port();
    let (connector_key, connector_pub) = keygen(d, "connector");
    let (host_key, host_pub) = keygen(d, "host");
    let sshd = site.sshd(
        d,
        &least_privilege(forward, forward, &connector_pub, &host_pub),
        "",
        None,
    );
    let connector = site.connector(&sshd, &connector_key, forward, tls.port);

    let file = example(d, "examples/crm-ssh/crm-ssh.ikanos.yaml", |text| {
        let host_key_line = text
            .lines()
            .find(|l| l.trim_start().starts_with("hostKey:"))
            .unwrap()
            .to_string();
        text.replace(
            "relay: \"relay.example.net:22\"",
            &format!("relay: \"{}\"", site.relay(&sshd)),
        )
        .replace("user: \"ikanos\"", "user: \"root\"")
        .replace(
            "target: \"127.0.0.1:18080\"",
            &format!("target: \"127.0.0.1:{forward}\""),
        )
        .replace(
            &host_key_line,
            &format!("        hostKey: \"{}\"", sshd.host_key),
        )
    });
    let host = start_tunnelled_crm_example(
        d,
        &file,
        "ssh-secrets.yaml",
        ("ssh-private-key", &host_key),
        &tls.ca_pem,
    );
    let customers = format!("{}/customers", host.rest_url("crm-api"));
    let r = get(&customers);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "[]");
    assert_eq!(tls.versions.lock().unwrap().as_slice(), ["HTTP/2.0"]);

    // The connector goes away: the example's own component answers 503 (the tunnel is
    // down, fail closed), not 502.
    connector.kill();
    wait_ready(&host, 503);
    let r = get(&customers);
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("tunnel-unavailable"), "{}", r.body);

    // It comes back; then the CRM itself goes down behind the live connector: 502 for
    // the call, and the tunnel stays ready.
    let _connector = site.connector(&sshd, &connector_key, forward, tls.port);
    wait_ready(&host, 200);
    assert_eq!(get(&customers).status, 200);
    tls.stop();
    let r = get(&customers);
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(r.body.contains("transport"), "{}", r.body);
    wait_ready(&host, 200);
}

#[test]
fn validate_and_lint_check_the_ssh_keys() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, _) = if openssh::available() {
        keygen(d, "host")
    } else {
        (d.join("host"), String::new())
    };
    let tunnel = ssh_tunnel("127.0.0.1:22", 18080, "unused").remove("hostKey");
    let file = write_capability_over(d, "nokey.ikanos.yaml", "http://127.0.0.1:1", tunnel, &key);
    for command in ["validate", "lint"] {
        let (code, out, _) = run_cli(&[command, file.to_str().unwrap()]);
        assert_eq!(code, 1, "{command}: {out}");
        assert!(
            out.contains("tunnel.hostKey (the relay's host key) or tunnel.hostCa"),
            "{command}: {out}"
        );
    }
    let (_, out, _) = run_cli(&["lint", file.to_str().unwrap()]);
    assert!(out.contains("error ikanos-tunnel-provider-keys"), "{out}");
}

#[test]
fn validate_and_lint_refuse_a_misspelt_ssh_key_at_its_line_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    // `certficate` is the tunnel block's 7th key: line 24 of the capability file.
    let tunnel = Tunnel::new("ssh")
        .set("identity", "{{secrets.SSH_KEY}}")
        .set("relay", "127.0.0.1:22")
        .set("user", "root")
        .set("target", "127.0.0.1:18080")
        .set(
            "hostKey",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHh5fVpL0vXG9Sa8n4lQXfKxG6YkYpJr0N8u6cVQd3mS",
        )
        .set("certficate", "/etc/ikanos/ssh-key-cert.pub");
    let file = fixtures::hostile_tunnelled(
        dir.path(),
        "typo.ikanos.yaml",
        "Typo",
        "http://127.0.0.1:1",
        tunnel,
        &[("SSH_KEY", "ssh-key", "/etc/ikanos/ssh-key".into())],
    );
    let at = format!("{}:24:9: ", file.display());
    let hint = "tunnel.certficate is not a key of type 'ssh' (did you mean 'certificate'?)";
    let (code, out, _) = run_cli(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("{at}capability.consumes 'crm'.tunnel: {hint}")),
        "{out}"
    );
    let (code, out, _) = run_cli(&["lint", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "{at}error ikanos-tunnel-provider-keys: consumes 'crm': {hint}"
        )),
        "{out}"
    );
}
