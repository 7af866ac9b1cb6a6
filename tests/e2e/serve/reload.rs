//! `ikanos serve` reloads through the folder watch: capabilities added, replaced and
//! removed while a neighbour's request is held in flight.

use crate::support::fixtures::TOKEN;
use crate::support::serve::{hostile_folder, hostile_text, write_atomic, ServeBuilder};
use crate::support::*;

use super::harness::*;

#[test]
fn the_folder_watch_adds_replaces_and_removes_while_requests_are_in_flight() {
    let upstream = crm();
    let gate = Gate::start();
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path();
    hostile_folder(
        caps,
        "alpha",
        "Alpha v1",
        &upstream.base(),
        Some(&gate.base()),
        TOKEN,
    );
    hostile_folder(caps, "beta", "Beta v1", &upstream.base(), None, TOKEN);
    let serve = ServeBuilder::new(caps).start();
    let (alpha1, beta1) = (generation(&serve, "alpha"), generation(&serve, "beta"));

    // A request of alpha held at its upstream, through the shared listener; another
    // through alpha's own port.
    let held_shared = {
        let url = serve.url("alpha", "/call?ns=gate&op=hold");
        std::thread::spawn(move || post(&url, "text/plain", ""))
    };
    let held_own = {
        let url = format!("{}/call?ns=gate&op=hold", serve.own_url("alpha", "hostile"));
        std::thread::spawn(move || post(&url, "text/plain", ""))
    };
    gate.wait_arrived(2, &serve);

    // Replace the neighbour, and alpha itself, while alpha's requests are held.
    write_atomic(
        &caps.join("beta/beta.ikanos.yaml"),
        &hostile_text("Beta v2", &upstream.base(), None),
    );
    serve.wait_for("beta", "replaced", |c| {
        c.is_some_and(|c| c["display"] == "Beta v2")
    });
    assert!(generation(&serve, "beta") > beta1);
    echo_ok(&serve, "beta", "after-replace");
    write_atomic(
        &caps.join("alpha/alpha.ikanos.yaml"),
        &hostile_text("Alpha v2", &upstream.base(), Some(&gate.base())),
    );
    serve.wait_for("alpha", "replaced", |c| {
        c.is_some_and(|c| c["display"] == "Alpha v2")
    });
    assert!(generation(&serve, "alpha") > alpha1);
    // New requests reach the new version; the held ones are still held.
    echo_ok(&serve, "alpha", "new-version");
    assert!(!held_shared.is_finished() && !held_own.is_finished());

    // Add a capability: a new folder.
    hostile_folder(caps, "gamma", "Gamma", &upstream.base(), None, TOKEN);
    serve.wait_for("gamma", "loaded", |c| {
        c.is_some_and(|c| c["state"] == "ready")
    });
    echo_ok(&serve, "gamma", "added");

    // Remove the neighbour: its file goes.
    std::fs::remove_file(caps.join("beta/beta.ikanos.yaml")).unwrap();
    serve.wait_for("beta", "removed", |c| c.is_none());
    assert_eq!(get(&serve.url("beta", "/healthy")).status, 404);

    // The held requests finish with their answers, on the version they started on.
    gate.open();
    for held in [held_shared, held_own] {
        let r = held.join().unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        assert_eq!(v["status"], 200, "{v}");
        assert_eq!(v["body"], "released", "{v}");
    }
    echo_ok(&serve, "alpha", "still-there");
    let out = serve.all_output();
    assert!(
        out.contains("capability replaced capability=alpha"),
        "{out}"
    );
    assert!(
        out.contains("removed: its file is gone capability=beta"),
        "{out}"
    );
    let m = metrics(&serve);
    assert!(
        m.contains("ikanos_capability_active{capability=\"beta\"} 0"),
        "a removed capability is no longer active"
    );
    for needle in [
        "ikanos_capability_loads_total{capability=\"alpha\",outcome=\"loaded\"} 1",
        "ikanos_capability_loads_total{capability=\"alpha\",outcome=\"replaced\"} 1",
        "ikanos_capability_loads_total{capability=\"beta\",outcome=\"replaced\"} 1",
        "ikanos_capability_loads_total{capability=\"beta\",outcome=\"removed\"} 1",
        "ikanos_capability_loads_total{capability=\"gamma\",outcome=\"loaded\"} 1",
    ] {
        assert!(m.contains(needle), "missing {needle} in\n{m}");
    }
}
