//! `ikanos serve` routing: a folder served on the shared listener by path prefix and on
//! own ports, with a broken capability reported beside working ones.

use crate::support::fixtures::TOKEN;
use crate::support::serve::{hostile_folder, hostile_text, ServeBuilder};
use crate::support::*;

use super::harness::*;

#[test]
fn a_folder_is_served_on_the_shared_listener_and_own_ports_with_a_broken_capability_reported() {
    let upstream = crm();
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps");
    std::fs::create_dir(&caps).unwrap();
    hostile_folder(&caps, "alpha", "Alpha", &upstream.base(), None, TOKEN);
    hostile_folder(&caps, "beta", "Beta", &upstream.base(), None, TOKEN);
    // A capability file directly in the folder, beside its component and secrets.
    write(
        &caps,
        "secrets.yaml",
        &format!("crm-bearer-token: \"{TOKEN}\"\n"),
    );
    std::fs::copy(&components().hostile, caps.join("gamma.wasm")).unwrap();
    write(
        &caps,
        "gamma.ikanos.yaml",
        &hostile_text("Gamma", &upstream.base(), None),
    );
    // Broken: a reference to an undeclared bind.
    std::fs::create_dir(caps.join("broken")).unwrap();
    write(
        &caps.join("broken"),
        "broken.ikanos.yaml",
        "ikanos: \"1.0.0-beta5\"\ninfo:\n  display: \"Broken\"\n  description: \"x\"\ncapability:\n  exposes: 7\n",
    );

    let serve = ServeBuilder::new(&caps).start();

    for name in ["alpha", "beta", "gamma"] {
        echo_ok(&serve, name, &format!("{name}-1"));
        let v = call(&serve, name, "ns=crm&op=list-customers&p_limit=2");
        assert_eq!(v["status"], 200, "{v}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(v["body"].as_str().unwrap()).unwrap()[1]
                ["name"],
            "Grace Hopper"
        );
    }
    // Each capability also on the port its file declares (port 0: a port of its own).
    let own = serve.own_url("alpha", "hostile");
    let r = get(&format!("{own}/healthy"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_ne!(own, serve.own_url("beta", "hostile"));

    // Unknown capability, and the prefix alone.
    let r = get(&serve.url("nobody", "/healthy"));
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body.contains("no capability 'nobody'"), "{}", r.body);
    let r = get(&format!("{}/", serve.shared));
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["capabilities"].as_array().unwrap().len(), 4);
    // A path the capability does not expose: its own 404.
    let r = get(&serve.url("alpha", "/nowhere"));
    assert_eq!(r.status, 404);
    assert!(
        r.body.contains("no operation is exposed at /nowhere"),
        "{}",
        r.body
    );

    // The broken one: reported with file:line, answers 503, the others are unaffected.
    let r = get(&serve.url("broken", "/healthy"));
    assert_eq!(r.status, 503, "{}", r.body);
    let ready = get(&format!("{}/health/ready", serve.control));
    assert_eq!(
        ready.status, 200,
        "one broken capability leaves the host ready: {}",
        ready.body
    );
    let ready = ready.json();
    assert_eq!(ready["status"], "DEGRADED");
    let broken = ready["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "broken")
        .unwrap()
        .clone();
    assert_eq!(broken["state"], "failed");
    assert!(
        broken["error"]
            .as_str()
            .unwrap()
            .contains("broken.ikanos.yaml:6:"),
        "{broken}"
    );
    assert_eq!(
        get(&format!("{}/health/ready/broken", serve.control)).status,
        503
    );
    assert!(
        metrics(&serve)
            .contains("ikanos_capability_loads_total{capability=\"broken\",outcome=\"failed\"} 1"),
        "a failed load is counted"
    );
    assert_eq!(
        get(&format!("{}/health/ready/alpha", serve.control)).status,
        200
    );
    assert_eq!(
        get(&format!("{}/health/ready/nobody", serve.control)).status,
        404
    );

    let status = serve.status();
    assert_eq!(status["counts"]["ready"], 3, "{status}");
    assert_eq!(status["counts"]["failed"], 1, "{status}");
    // Three capabilities, one component: compiled code loaded once and shared.
    assert_eq!(status["host"]["components"], 1, "{status}");
    let origins: Vec<String> = ["alpha", "beta", "gamma"]
        .iter()
        .map(|n| {
            serve.capability(n).unwrap()["component"]["origin"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        origins.iter().filter(|o| *o == "shared").count(),
        2,
        "{origins:?}"
    );
    let alpha = serve.capability("alpha").unwrap();
    assert_eq!(alpha["state"], "ready");
    assert_eq!(
        alpha["limits"]["maxConcurrency"], 16,
        "safe default: {alpha}"
    );
    assert_eq!(alpha["consumes"][0]["namespace"], "crm");

    // Metrics carry the capability.
    let m = metrics(&serve);
    for name in ["alpha", "beta", "gamma"] {
        let needle = format!("ikanos_capability_active{{capability=\"{name}\"}} 1");
        assert!(m.contains(&needle), "missing {needle} in\n{m}");
        assert!(
            m.contains(&format!("ikanos_request_total{{capability=\"{name}\",ikanos_adapter_type=\"rest\",ikanos_operation_id=\"echo\"")),
            "{m}"
        );
    }
    assert!(!serve.all_output().contains(TOKEN));
    assert!(!m.contains(TOKEN));
}
