//! Start-up and shut-down: the compile cache, clear start-up errors, and draining.

use std::time::Duration;

use crate::support::fixtures::{self, Capability, HOSTILE_DISPLAY, TOKEN};
use crate::support::*;

#[test]
fn the_second_start_uses_the_compiled_cache() {
    let c = components();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let file = fixtures::hostile(dir.path(), "http://127.0.0.1:1");
    let cache_arg = cache.display().to_string();

    let mut first = HostBuilder::new(&file)
        .component(&c.hostile)
        .arg("--cache-dir")
        .arg(cache_arg.clone())
        .start(1);
    let line = first.wait_for_log(Duration::from_secs(5), |l| l.contains("component ready"));
    assert!(
        line.contains("origin=\"compiled\"") || line.contains("origin=compiled"),
        "{line}"
    );
    assert_eq!(first.terminate(Duration::from_secs(30)), Some(0));
    assert_eq!(
        std::fs::read_dir(&cache).unwrap().count(),
        1,
        "one cache entry"
    );

    let mut second = HostBuilder::new(&file)
        .component(&c.hostile)
        .arg("--cache-dir")
        .arg(cache_arg)
        .start(1);
    let line = second.wait_for_log(Duration::from_secs(5), |l| l.contains("component ready"));
    assert!(
        line.contains("origin=\"cache\"") || line.contains("origin=cache"),
        "{line}"
    );
    assert_eq!(
        get(&format!("{}/healthy", second.rest_url("hostile"))).status,
        200
    );
    assert_eq!(second.terminate(Duration::from_secs(30)), Some(0));
}

#[test]
fn sigterm_lets_in_flight_requests_finish() {
    let mut rig = hostile_rig(&[]);
    let upstream = &rig.upstream;
    let base = rig.base.clone();
    let in_flight = std::thread::spawn({
        let base = base.clone();
        move || {
            post(
                &format!("{base}/call?ns=crm&op=get-slow&p_ms=1500"),
                "text/plain",
                "",
            )
        }
    });
    // Wait until the upstream has the request, so it is truly in flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !upstream.requests().iter().any(|r| r.path == "/slow") {
        assert!(
            std::time::Instant::now() < deadline,
            "the slow call never reached the upstream"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        rig.host.terminate(Duration::from_secs(30)),
        Some(0),
        "{}",
        rig.host.all_output()
    );
    let r = in_flight.join().unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], 200);
    assert!(rig.host.all_output().contains("draining"));
}

#[test]
fn start_up_errors_name_the_file_the_field_and_the_bind() {
    let c = components();
    let dir = tempfile::tempdir().unwrap();
    let file = fixtures::hostile(dir.path(), "http://127.0.0.1:1");
    let hostile = c.hostile.display().to_string();

    // Missing secrets file.
    std::fs::remove_file(dir.path().join("secrets.yaml")).unwrap();
    let (code, out) = HostBuilder::new(&file)
        .arg("--component")
        .arg(hostile.clone())
        .run_to_exit();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("hostile.ikanos.yaml")
            && out.contains("secrets")
            && out.contains("secrets.yaml"),
        "{out}"
    );

    // Missing key.
    write(dir.path(), "secrets.yaml", "other-key: x\n");
    let (code, out) = HostBuilder::new(&file)
        .arg("--component")
        .arg(hostile.clone())
        .run_to_exit();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("crm-bearer-token") && out.contains("CRM_TOKEN"),
        "{out}"
    );

    // A bind that tries to leave the capability folder.
    let escaping = Capability::hostile(HOSTILE_DISPLAY, "http://127.0.0.1:1")
        .bind_location(Some("file:///./../outside.yaml"))
        .write(dir.path(), "escape.ikanos.yaml");
    let (code, out) = HostBuilder::new(&escaping)
        .arg("--component")
        .arg(hostile.clone())
        .run_to_exit();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("escape"), "{out}");

    // No component.
    fixtures::secrets(dir.path());
    let (code, out) = HostBuilder::new(&file).run_to_exit();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("--component"), "{out}");

    // Not a component.
    let junk = write(dir.path(), "junk.wasm", "not wasm");
    let (code, out) = HostBuilder::new(&file)
        .arg("--component")
        .arg(junk.display().to_string())
        .run_to_exit();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("junk.wasm"), "{out}");

    // Port already taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut busy = Capability::hostile(HOSTILE_DISPLAY, "http://127.0.0.1:1");
    busy.rest().port = port;
    let busy = busy.write(dir.path(), "busy.ikanos.yaml");
    let (code, out) = HostBuilder::new(&busy)
        .arg("--component")
        .arg(hostile)
        .run_to_exit();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("127.0.0.1:{port}")) && out.contains("hostile"),
        "{out}"
    );
    assert!(!out.contains(TOKEN));
}

/// SIGTERM at any moment of start-up ends in a clean exit: here while the component
/// compiles (no cache), before any listener exists. Killed by the signal's default
/// action, the process would have no exit code.
#[test]
fn sigterm_during_start_up_exits_cleanly() {
    let c = components();
    let dir = tempfile::tempdir().unwrap();
    let file = fixtures::hostile(dir.path(), "http://127.0.0.1:1");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ikanos"));
    cmd.arg("run")
        .arg(&file)
        .arg("--component")
        .arg(&c.hostile)
        .args(["--no-cache", "--control", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut host = spawn_logged(&mut cmd, "ikanos");
    host.wait_for_log(Duration::from_secs(30), |l| {
        l.contains("compiling component")
    });
    host.signal(libc::SIGTERM);
    assert_eq!(
        host.wait_exit(Duration::from_secs(30)),
        Some(0),
        "{}",
        host.all_output()
    );
    let out = host.all_output();
    // "stopped during start-up", or "stopped" after a drain if the compile won the race.
    assert!(out.contains("stopped"), "{out}");
}
