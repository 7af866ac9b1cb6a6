//! Benchmark: one exposed operation calling one consumed operation, with the consumed
//! API reached three ways in the same run — through the embedded SSH tunnel, through
//! an `ssh -L` sidecar on the same relay (the guide's Path B), and directly — all on
//! loopback against stock OpenSSH (sshd as the relay, `ssh -N -R` as the connector).
//!
//! Run: `cargo bench -p ikanos --bench ssh` (options: `-- --seconds 10 --connections 8`).
//! Needs /usr/sbin/sshd and ssh (scripts/setup installs them).

mod common;

// The same OpenSSH set-up the end-to-end tests use.
#[allow(dead_code)]
#[path = "../../tests/e2e/support/openssh.rs"]
mod openssh;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const BULK_BYTES: usize = 256 << 20;

fn main() {
    if !openssh::available() {
        println!("SKIP: needs OpenSSH (sshd and ssh); scripts/setup installs them");
        return;
    }
    let seconds = arg("--seconds", 10);
    let connections = arg("--connections", 8) as usize;
    let rounds = arg("--rounds", 2);
    let up = upstream();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // The relay, the connector (private side) and the host's key.
    let forward = openssh::port();
    // A second forwarded port for the bulk transfer.
    let bulk_forward = openssh::port();
    let (connector_key, connector_pub) = openssh::keygen(d, "connector");
    let (host_key, host_pub) = openssh::keygen(d, "host");
    let sshd = openssh::Sshd::start(
        d,
        &[
            format!(
                "restrict,port-forwarding,permitlisten=\"127.0.0.1:{forward}\",permitlisten=\"127.0.0.1:{bulk_forward}\" {connector_pub}"
            ),
            format!("restrict,port-forwarding,permitopen=\"127.0.0.1:{forward}\",permitopen=\"127.0.0.1:{bulk_forward}\" {host_pub}"),
        ],
    );
    let _connector = openssh::Connector::start(&sshd, &connector_key, forward, up.port());
    let bulk_source = bulk_source(BULK_BYTES);
    let _bulk_connector =
        openssh::Connector::start(&sshd, &connector_key, bulk_forward, bulk_source.port());

    // Path B: an `ssh -L` sidecar with the host's key, on the same relay.
    let sidecar = openssh::port();
    let bulk_sidecar = openssh::port();
    let sidecar_child = Command::new("ssh")
        .args([
            "-N",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "ExitOnForwardFailure=yes",
        ])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", sshd.known_hosts.display()))
        .arg("-i")
        .arg(&host_key)
        .arg("-p")
        .arg(sshd.port.to_string())
        .arg("-L")
        .arg(format!("127.0.0.1:{sidecar}:127.0.0.1:{forward}"))
        .arg("-L")
        .arg(format!("127.0.0.1:{bulk_sidecar}:127.0.0.1:{bulk_forward}"))
        .arg("root@127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the ssh -L sidecar");
    // Ended on every exit, a panic included.
    let _sidecar = KillOnDrop(sidecar_child);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", sidecar)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the sidecar did not come up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let secrets = format!("crm-bearer-token: \"{TOKEN}\"\n");
    let direct = start_ikanos(
        |t| t.replace("http://127.0.0.1:18081", &format!("http://{up}")),
        &[("secrets.yaml", secrets.clone())],
    );
    let via_sidecar = start_ikanos(
        |t| {
            t.replace(
                "http://127.0.0.1:18081",
                &format!("http://127.0.0.1:{sidecar}"),
            )
        },
        &[("secrets.yaml", secrets.clone())],
    );
    let tunnel_block = ssh_tunnel_block(sshd.port, forward, &sshd.host_key);
    let embedded = start_ikanos_tunnelled(
        &tunnel_block,
        "SSH_KEY",
        "ssh-key",
        &host_key.display().to_string(),
        &secrets,
    );

    let path = "/customers";
    let targets = [
        ("direct", direct.rest.clone()),
        ("ssh -L sidecar (Path B)", via_sidecar.rest.clone()),
        ("embedded SSH tunnel", embedded.rest.clone()),
        // Without ikanos: the load straight into the SSH path, to see what is OpenSSH's.
        ("no ikanos: ssh -L → ssh -R", format!("127.0.0.1:{sidecar}")),
    ];
    check_targets(&targets, path);
    println!("{}", setup_line(connections, seconds, rounds));
    single_connection(&targets, path, seconds);
    println!("{connections} connections:");
    warm_up(&targets, path, connections);
    let merged = alternating_rounds(&targets, path, connections, seconds, rounds);
    report_all(&targets, &merged);
    println!(
        "embedded vs sidecar throughput: {:.2}x; p50 overhead of the embedded tunnel over direct: {:+.1} µs",
        merged[2].rps() / merged[1].rps(),
        (merged[2].pct(0.5).as_secs_f64() - merged[0].pct(0.5).as_secs_f64()) * 1e6
    );
    // Bulk: one stream of BULK_BYTES from the private side, read to the end.
    println!("bulk transfer of {} MiB (best of 3):", BULK_BYTES >> 20);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use ikanos::tunnel::{TunnelConfig, TunnelProvider};
        let direct = best_of(3, BULK_BYTES, || {
            tokio::net::TcpStream::connect(("127.0.0.1", bulk_source.port()))
        })
        .await;
        let sidecar_rate = best_of(3, BULK_BYTES, || {
            tokio::net::TcpStream::connect(("127.0.0.1", bulk_sidecar))
        })
        .await;
        let provider = ikanos::tunnel::ssh::SshProvider::default();
        let mut extra = serde_json::Map::new();
        extra.insert("relay".into(), format!("127.0.0.1:{}", sshd.port).into());
        extra.insert("user".into(), "root".into());
        extra.insert("target".into(), format!("127.0.0.1:{bulk_forward}").into());
        extra.insert("hostKey".into(), sshd.host_key.clone().into());
        let tunnel = provider
            .start(TunnelConfig {
                service: None,
                identity: Some(ikanos::spec::binds::Secret::new(
                    host_key.display().to_string(),
                )),
                extra,
            })
            .expect("starting the SSH tunnel");
        let mut state = tunnel.state();
        while !state.borrow_and_update().is_ready() {
            state.changed().await.unwrap();
        }
        let embedded = best_of(3, BULK_BYTES, || async {
            tunnel
                .dial("crm.internal", 443)
                .await
                .map_err(std::io::Error::other)
        })
        .await;
        for (name, rate) in [
            ("direct", direct),
            ("ssh -L sidecar (Path B)", sidecar_rate),
            ("embedded SSH tunnel", embedded),
        ] {
            println!("{name:<26} {:>8.2} Gbit/s", rate * 8.0 / 1e9);
        }
        println!(
            "embedded vs sidecar bulk throughput: {:.2}x",
            embedded / sidecar_rate
        );
        tunnel.stop().await;
    });
}
