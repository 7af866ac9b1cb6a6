//! The `ikanos serve` host configuration: refused with its lines when bad, capabilities
//! configured from it, and draining on SIGTERM.

use std::time::Duration;

use crate::support::fixtures::TOKEN;
use crate::support::serve::{hostile_folder, ServeBuilder};
use crate::support::*;

use super::harness::*;

#[test]
fn a_bad_host_configuration_is_refused_with_its_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = ServeBuilder::new(dir.path())
        .config(
            &dir.path().join("host.yaml"),
            "control:\n  token: \"inline-secret-value-here\"\ndefaults:\n  limits:\n    cpuTime: soon\ncapabilities:\n  x:\n    limitz: {}\n",
        )
        .run_to_exit();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("host.yaml:2:10: control.token: write where the token is"),
        "{out}"
    );
    assert!(
        out.contains("host.yaml:5:14: defaults.limits.cpuTime: 'soon'"),
        "{out}"
    );
    assert!(out.contains("host.yaml:8:5: unknown key 'limitz'"), "{out}");
    assert!(!out.contains("inline-secret-value-here"), "{out}");

    let (code, out) = ServeBuilder::new(&dir.path().join("missing")).run_to_exit();
    assert_eq!(code, 1);
    assert!(out.contains("does not exist"), "{out}");
}

#[test]
fn configured_capabilities_and_draining_on_sigterm() {
    let upstream = crm();
    let gate = Gate::start();
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps");
    std::fs::create_dir(&caps).unwrap();
    hostile_folder(&caps, "alpha", "Alpha", &upstream.base(), None, TOKEN);
    // `ext` lives outside the folder and is named in the host configuration, served on
    // the shared listener only.
    let ext = hostile_folder(
        dir.path(),
        "elsewhere",
        "Ext",
        &upstream.base(),
        Some(&gate.base()),
        TOKEN,
    );
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, "admin-token-0123456789abcdef").unwrap();
    let mut serve = ServeBuilder::new(&caps)
        .config(
            &dir.path().join("host.yaml"),
            &format!(
                "control:\n  token: {{file: admin-token}}\ncapabilities:\n  ext:\n    file: \"{}\"\n    component: \"elsewhere/elsewhere.wasm\"\n    ownListeners: false\n    limits: {{maxConcurrency: 3}}\n",
                ext.display()
            ),
        )
        .start();
    let c = serve.capability("ext").expect("ext is loaded");
    assert_eq!(c["state"], "ready", "{c}");
    assert_eq!(c["limits"]["maxConcurrency"], 3, "{c}");
    assert!(
        c["adapters"][0].get("address").is_none(),
        "no own port: {c}"
    );
    echo_ok(&serve, "ext", "configured");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let r = agent
        .put(&format!("{}/capabilities/ext", serve.control))
        .header("authorization", "Bearer admin-token-0123456789abcdef")
        .send("x")
        .unwrap();
    assert_eq!(
        r.status(),
        409,
        "configured capabilities change in the configuration"
    );

    // A request held in flight, then SIGTERM: readiness goes 503, the request finishes,
    // the process exits cleanly.
    let held = {
        let url = serve.url("ext", "/call?ns=gate&op=hold");
        std::thread::spawn(move || post(&url, "text/plain", ""))
    };
    gate.wait_arrived(1, &serve);
    serve.signal(libc::SIGTERM);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = get(&format!("{}/health/ready", serve.control));
        if r.status == 503 {
            assert_eq!(r.json()["status"], "DRAINING");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "readiness never went 503: {}",
            r.body
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!held.is_finished());
    gate.open();
    let r = held.join().unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["body"], "released");
    assert_eq!(
        serve.wait_exit(Duration::from_secs(60)),
        Some(0),
        "{}",
        serve.all_output()
    );
    assert!(serve.all_output().contains("stopped"));
}

/// A capability's own `type: control` entry is not served by `ikanos serve` (the host's
/// control port serves every capability): the file's setting, authentication included,
/// is named in a warning at its line instead of being silently dropped.
#[test]
fn a_capabilitys_own_control_entry_is_reported_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps");
    std::fs::create_dir(&caps).unwrap();
    let control = "    - type: \"control\"\n      port: 0\n      authentication:\n        type: \"bearer\"\n        token: \"{{secrets.CRM_TOKEN}}\"\n";
    let capability = crate::support::serve::hostile_capability("Ctl", "http://127.0.0.1:1", None)
        .exposes(crate::support::fixtures::Exposes::Literal(control.into()));
    crate::support::serve::capability_folder(&caps, "ctl", TOKEN, &capability);
    let serve = ServeBuilder::new(&caps).start();
    let line = serve.wait_for_log(Duration::from_secs(30), |l| {
        l.contains("type: control is not served by `ikanos serve`")
    });
    assert!(line.contains("ctl.ikanos.yaml:"), "{line}");
    assert!(!serve.all_output().contains(TOKEN));
}
