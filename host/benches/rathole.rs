//! Benchmark: `tunnel.type: rathole` (this host as the rathole server) against the
//! stock rathole 0.5.0 server + client pair on the same path, in the same run, on
//! loopback. One exposed operation calls one consumed operation; the consumed API is
//! reached:
//! - directly;
//! - through the stock pair as a sidecar: the capability calls 127.0.0.1:PORT where the
//!   stock `rathole --server` exposes the service, whose client carries it to the API;
//! - through the embedded server: the stock client dials `ikanos` itself;
//! - and, to see what is rathole's own, the load straight into the stock pair.
//!
//! Then a bulk transfer (one stream from the private side, read to the end) through the
//! stock pair and through the embedded server (the provider in this process).
//!
//! Run: `cargo bench -p ikanos --bench rathole` (options: `-- --seconds 10
//! --connections 8 --rounds 2`). Needs rathole 0.5.0 (scripts/setup installs it).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const BULK_BYTES: usize = 256 << 20;
const SERVICE_TOKEN: &str = "bench-rathole-service-token";

fn rathole() -> Option<PathBuf> {
    let dir = std::env::var_os("IKANOS_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".cache/ikanos")
        });
    let p = dir.join("rathole-0.5.0/bin/rathole");
    p.is_file().then_some(p)
}

fn run_rathole(bin: &Path, mode: &str, config: &Path) -> KillOnDrop {
    KillOnDrop(
        Command::new(bin)
            .arg(mode)
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting rathole"),
    )
}

fn wait_port(port: u16) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A client configuration: services (name, local port) to `remote`.
fn client_config(dir: &Path, name: &str, remote: u16, services: &[(&str, u16)]) -> PathBuf {
    let mut text = format!("[client]\nremote_addr = \"127.0.0.1:{remote}\"\nretry_interval = 1\n[client.transport]\ntype = \"tcp\"\n");
    for (service, local) in services {
        text.push_str(&format!("[client.services.{service}]\ntoken = \"{SERVICE_TOKEN}\"\nlocal_addr = \"127.0.0.1:{local}\"\n"));
    }
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn main() {
    let Some(bin) = rathole() else {
        println!("SKIP: needs rathole 0.5.0; scripts/setup installs it");
        return;
    };
    let seconds = arg("--seconds", 10);
    let connections = arg("--connections", 8) as usize;
    let rounds = arg("--rounds", 2);
    let up = upstream();
    let bulk = bulk_source(BULK_BYTES);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // The stock pair: `rathole --server` exposing both services, its client beside.
    let (stock_control, stock_crm, stock_bulk) = (free_port(), free_port(), free_port());
    let server_config = d.join("server.toml");
    std::fs::write(
        &server_config,
        format!(
            "[server]\nbind_addr = \"127.0.0.1:{stock_control}\"\n[server.transport]\ntype = \"tcp\"\n\
             [server.services.crm]\ntoken = \"{SERVICE_TOKEN}\"\nbind_addr = \"127.0.0.1:{stock_crm}\"\n\
             [server.services.bulk]\ntoken = \"{SERVICE_TOKEN}\"\nbind_addr = \"127.0.0.1:{stock_bulk}\"\n"
        ),
    )
    .unwrap();
    let _stock_server = run_rathole(&bin, "--server", &server_config);
    wait_port(stock_control);
    let _stock_client = run_rathole(
        &bin,
        "--client",
        &client_config(
            d,
            "stock-client.toml",
            stock_control,
            &[("crm", up.port()), ("bulk", bulk.port())],
        ),
    );
    wait_port(stock_crm);

    // The embedded server: the same stock client program dials ikanos.
    let embedded_listen = free_port();
    let _embedded_client = run_rathole(
        &bin,
        "--client",
        &client_config(
            d,
            "embedded-client.toml",
            embedded_listen,
            &[("crm", up.port())],
        ),
    );
    let secrets = format!("crm-bearer-token: \"{TOKEN}\"\n");
    let block = format!(
        "      tunnel:\n        type: rathole\n        service: crm\n        identity: \"{{{{secrets.RATHOLE_TOKEN}}}}\"\n        listen: \"127.0.0.1:{embedded_listen}\"\n        fallback: \"fail\"\n"
    );
    let embedded = start_ikanos_tunnelled(
        &block,
        "RATHOLE_TOKEN",
        "rathole-token",
        SERVICE_TOKEN,
        &secrets,
    );
    let direct = start_ikanos(
        |t| t.replace("http://127.0.0.1:18081", &format!("http://{up}")),
        &[("secrets.yaml", secrets.clone())],
    );
    let via_stock = start_ikanos(
        |t| {
            t.replace(
                "http://127.0.0.1:18081",
                &format!("http://127.0.0.1:{stock_crm}"),
            )
        },
        &[("secrets.yaml", secrets.clone())],
    );

    let path = "/customers";
    let targets = [
        ("direct", direct.rest.clone()),
        ("stock rathole pair (sidecar)", via_stock.rest.clone()),
        ("embedded rathole server", embedded.rest.clone()),
        (
            "no ikanos: the stock pair",
            format!("127.0.0.1:{stock_crm}"),
        ),
    ];
    check_targets(&targets, path);
    println!("{}", setup_line(connections, seconds, rounds));
    single_connection(&targets, path, seconds);
    println!("{connections} connections:");
    warm_up(&targets, path, connections);
    let merged = alternating_rounds(&targets, path, connections, seconds, rounds);
    report_all(&targets, &merged);
    println!(
        "embedded vs stock pair: {:.2}x throughput; p50 overhead over direct: embedded {:+.1} µs, stock pair {:+.1} µs",
        merged[2].rps() / merged[1].rps(),
        (merged[2].pct(0.5).as_secs_f64() - merged[0].pct(0.5).as_secs_f64()) * 1e6,
        (merged[1].pct(0.5).as_secs_f64() - merged[0].pct(0.5).as_secs_f64()) * 1e6,
    );

    println!("bulk transfer of {} MiB (best of 3):", BULK_BYTES >> 20);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use ikanos::tunnel::{TunnelConfig, TunnelProvider};
        let direct = best_of(3, BULK_BYTES, || {
            tokio::net::TcpStream::connect(("127.0.0.1", bulk.port()))
        })
        .await;
        let stock = best_of(3, BULK_BYTES, || {
            tokio::net::TcpStream::connect(("127.0.0.1", stock_bulk))
        })
        .await;
        let embedded_bulk = free_port();
        let _bulk_client = run_rathole(
            &bin,
            "--client",
            &client_config(
                d,
                "bulk-client.toml",
                embedded_bulk,
                &[("bulk", bulk.port())],
            ),
        );
        let mut extra = serde_json::Map::new();
        extra.insert("listen".into(), format!("127.0.0.1:{embedded_bulk}").into());
        let tunnel = ikanos::tunnel::rathole::RatholeProvider::default()
            .start(TunnelConfig {
                service: Some("bulk".into()),
                identity: Some(ikanos::spec::binds::Secret::new(SERVICE_TOKEN.into())),
                extra,
            })
            .expect("starting the rathole tunnel");
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
            ("stock rathole pair", stock),
            ("embedded rathole server", embedded),
        ] {
            println!("{name:<26} {:>8.2} Gbit/s", rate * 8.0 / 1e9);
        }
        println!(
            "embedded vs stock pair bulk throughput: {:.2}x",
            embedded / stock
        );
        tunnel.stop().await;
    });
}
