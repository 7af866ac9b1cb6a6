//! Isolation between capabilities served together: secrets, consumes, imports, tunnel
//! sessions and trusted CAs stay with the capability that declares them, even when the
//! namespace names are the same.

use crate::support::fixtures::{
    self, Binds, Capability, ConsumedOp, Consumes, HttpConsumes, BEARER_CRM_TOKEN, TOKEN,
};
use crate::support::rules::Rules;
use crate::support::serve::{capability_folder, hostile_folder, ServeBuilder};
use crate::support::upstream::{Auth, Upstream};
use crate::support::*;

use super::harness::*;

/// Capabilities attack a neighbour that uses the same names; each attack is a
/// named rule in one table: a broken rule is reported by name, and the others still run.
#[test]
fn capabilities_never_reach_each_others_secrets_or_consumes_even_with_the_same_names() {
    // Two upstreams, each accepting only its own capability's token.
    let (token_a, token_b) = ("token-of-a-1111111111", "token-of-b-2222222222");
    let host_secret = "host-secret-3333333333";
    let up_a = Upstream::start(Auth {
        bearer: Some(token_a.into()),
        ..Auth::default()
    });
    let up_b = Upstream::start(Auth {
        bearer: Some(token_b.into()),
        ..Auth::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps");
    std::fs::create_dir(&caps).unwrap();
    let hostile = |display: &str, crm: &Upstream| Capability::hostile(display, &crm.base());
    // Same bind namespace (`secrets`), same key, same consumes namespace (`crm`).
    hostile_folder(&caps, "a", "A", &up_a.base(), None, token_a);
    // B also consumes `billing`, which A does not declare.
    let billing = HttpConsumes {
        namespace: "billing".into(),
        description: "B's billing".into(),
        base_uri: up_b.base(),
        tunnel: None,
        authentication: Some(BEARER_CRM_TOKEN),
        operations: vec![ConsumedOp::new(
            "invoices",
            "/invoices",
            "list-invoices",
            "GET",
            &[],
        )],
    };
    capability_folder(&caps, "b", token_b, &hostile("B", &up_b).consumes(billing));
    // C tries to read B's secrets file from its own folder, D through an absolute path,
    // E through an environment variable the host holds but did not grant.
    let b_secrets = format!("file://{}", caps.join("b/secrets.yaml").display());
    for (name, location) in [("c", "file:///./../b/secrets.yaml"), ("d", &b_secrets)] {
        let reading = hostile(name, &up_b).bind_location(Some(location));
        capability_folder(&caps, name, "unused", &reading);
    }
    let from_env = |display: &str, var: &str| {
        hostile(display, &up_b)
            .bind_location(None)
            .bind_keys(&[("CRM_TOKEN", var)])
    };
    capability_folder(&caps, "e", "unused", &from_env("E", "HOST_SECRET_TOKEN"));
    // F is granted the variable by the host configuration.
    capability_folder(&caps, "f", "unused", &from_env("F", "GRANTED_TOKEN"));
    // G sits directly in the shared folder and reaches into B's folder from there.
    std::fs::copy(&components().hostile, caps.join("g.wasm")).unwrap();
    hostile("G", &up_b)
        .bind_location(Some("file:///./b/secrets.yaml"))
        .write(&caps, "g.ikanos.yaml");
    // H imports a bind declaration that sits in B's folder.
    std::fs::write(
        caps.join("b/shared-binds.yml"),
        "ikanos: \"1.0.0-beta5\"\nbinds:\n  - namespace: shared-secrets\n    location: file:///./secrets.yaml\n    keys:\n      CRM_TOKEN: crm-bearer-token\n",
    )
    .unwrap();
    let importing_binds = hostile("H", &up_b).binds(Binds::Import {
        name: "shared-secrets".into(),
        from: "../b/shared-binds.yml".into(),
        alias: "secrets".into(),
    });
    capability_folder(&caps, "h", "unused", &importing_binds);
    // I imports B's consumes entry (and would send its own token to B's upstream).
    std::fs::write(
        caps.join("b/shared-consumes.yml"),
        format!("ikanos: \"1.0.0-beta5\"\nconsumes:\n  - namespace: billing\n    type: http\n    baseUri: {}\n    resources:\n      invoices:\n        path: /invoices\n        operations:\n          list-invoices:\n            method: GET\n", up_b.base()),
    )
    .unwrap();
    let importing_consumes = Capability::new("I")
        .consumes(Consumes::Import {
            name: "billing".into(),
            from: "../b/shared-consumes.yml".into(),
        })
        .consumes(fixtures::crm(&up_a.base()))
        .exposes(fixtures::hostile_rest());
    capability_folder(&caps, "i", "unused", &importing_consumes);

    let serve = ServeBuilder::new(&caps)
        .config(
            &dir.path().join("host.yaml"),
            "capabilities:\n  f:\n    env: [GRANTED_TOKEN]\n",
        )
        .env("HOST_SECRET_TOKEN", host_secret)
        .env("GRANTED_TOKEN", token_b)
        .start();

    // What the neighbours may do, they can.
    for _ in 0..3 {
        assert_eq!(call(&serve, "a", "ns=crm&op=list-customers")["status"], 200);
        assert_eq!(call(&serve, "b", "ns=crm&op=list-customers")["status"], 200);
        assert_eq!(
            call(&serve, "b", "ns=billing&op=list-invoices")["status"],
            200
        );
    }
    // F was granted its variable.
    let v = call(&serve, "f", "ns=crm&op=list-customers");
    assert_eq!(
        v["status"],
        200,
        "{v} {:?} {:?}",
        up_b.requests().last(),
        serve.capability("f")
    );
    // Separate connection pools: each upstream saw only its own capability's connections.
    assert!(up_a.connections() >= 1);

    let mut rules = Rules::new("isolation");
    // A cannot name B's consumes, nor smuggle B's token as a parameter it does not declare.
    for (rule, query, error) in [
        (
            "a cannot call b's consumes entry `billing`",
            "ns=billing&op=list-invoices".to_string(),
            "unknown-operation",
        ),
        (
            "a cannot smuggle b's token as an undeclared parameter",
            format!("ns=crm&op=list-customers&p_Authorization=Bearer%20{token_b}"),
            "invalid-input",
        ),
    ] {
        let got = try_call(&serve, "a", &query);
        let refused = got.as_ref().is_ok_and(|v| v["error"] == error);
        let got = got.map_or_else(|e| e, |v| v.to_string());
        rules.check(rule, format!("error {error}"), got, refused);
    }
    let seen = |up: &Upstream| -> String {
        up.requests()
            .iter()
            .map(|r| format!("{} {:?} {:?}", r.path, r.query, r.headers))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (at_a, at_b) = (seen(&up_a), seen(&up_b));
    rules.check(
        "a's refused calls never reach its upstream, which sees only a's token",
        "3 requests with a's token, none with b's or to /invoices",
        format!("{} requests:\n{at_a}", up_a.requests().len()),
        up_a.requests().len() == 3
            && at_a.contains(token_a)
            && !at_a.contains(token_b)
            && !at_a.contains("/invoices"),
    );
    rules.check(
        "b's upstream never sees a's token",
        "b's token only",
        &at_b,
        at_b.contains(token_b) && !at_b.contains(token_a),
    );

    // C, D, E, G, H and I fail to load, naming why, without B's or the host's secret.
    for (rule, name, says, at) in [
        (
            "c cannot read b's secrets through ../",
            "c",
            "outside the capability's folder",
            "c.ikanos.yaml:",
        ),
        (
            "d cannot read b's secrets through an absolute path",
            "d",
            "outside the capability's folder",
            "d.ikanos.yaml:",
        ),
        (
            "e cannot read a host variable it was not granted",
            "e",
            "does not grant to this capability",
            "e.ikanos.yaml:",
        ),
        (
            "g in the shared folder cannot read b's folder",
            "g",
            "reads only the files beside it",
            "g.ikanos.yaml:",
        ),
        (
            "h cannot import b's binds",
            "h",
            "declared in a file this capability may not use",
            "b/shared-binds.yml:4:15",
        ),
        (
            "i cannot import b's consumes entry",
            "i",
            "consumes entry declared in a file this capability may not use",
            "b/shared-consumes.yml:5:",
        ),
    ] {
        let c = serve.capability(name);
        let failed = c.as_ref().is_some_and(|c| {
            c["state"] == "failed"
                && c["error"]
                    .as_str()
                    .is_some_and(|e| e.contains(says) && e.contains(at))
        });
        rules.check(
            rule,
            format!("state failed, error saying {says:?} at {at:?}"),
            c.map_or_else(|| "no such capability".to_string(), |c| c.to_string()),
            failed,
        );
    }

    let everything = format!(
        "{}\n{}\n{}",
        serve.all_output(),
        get(&format!("{}/status", serve.control)).body,
        metrics(&serve)
    );
    let leaked: Vec<&str> = [token_a, token_b, host_secret]
        .into_iter()
        .filter(|secret| everything.contains(secret))
        .collect();
    rules.check(
        "no token or host secret in the logs, /status or /metrics",
        "none of them",
        format!("{leaked:?} in:\n{everything}"),
        leaked.is_empty(),
    );
    rules.assert_all_hold();
}

#[cfg(feature = "test-tunnel")]
#[test]
fn two_capabilities_with_the_same_tunnel_block_get_a_session_each() {
    use crate::support::relay::Relay;
    let private = crm();
    let relay = Relay::start(0, &["same-identity"]);
    relay.map("crm.internal:80", private.addr);
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path();
    let tunnel = fixtures::relay_tunnel(&relay.addr.to_string(), "fail");
    for name in ["one", "two"] {
        let folder = caps.join(name);
        std::fs::create_dir(&folder).unwrap();
        std::fs::copy(&components().hostile, folder.join(format!("{name}.wasm"))).unwrap();
        let file = fixtures::hostile_tunnelled(
            &folder,
            &format!("{name}.ikanos.yaml"),
            name,
            "http://crm.internal",
            tunnel.clone(),
            &[("RELAY_ID", "relay-id", "same-identity".to_string())],
        );
        assert!(file.is_file());
    }
    let serve = ServeBuilder::new(caps).start();
    for name in ["one", "two"] {
        serve.wait_for(name, "ready", |c| c.is_some_and(|c| c["state"] == "ready"));
        assert_eq!(
            call(&serve, name, "ns=crm&op=list-customers")["status"],
            200
        );
    }
    // Same type, identity and endpoint: one session per capability all the same.
    assert_eq!(relay.hellos(), vec!["same-identity", "same-identity"]);
    assert_eq!(private.requests().len(), 2);
}

#[test]
fn trust_in_a_private_ca_is_granted_per_capability() {
    let up = crate::auth::tls_upstream_for("localhost");
    let base = format!("https://localhost:{}", up.port);
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps");
    std::fs::create_dir(&caps).unwrap();
    hostile_folder(&caps, "trusting", "Trusting", &base, None, TOKEN);
    hostile_folder(&caps, "plain", "Plain", &base, None, TOKEN);
    write(dir.path(), "private-ca.pem", &up.ca_pem);
    let serve = ServeBuilder::new(&caps)
        .config(
            &dir.path().join("host.yaml"),
            "capabilities:\n  trusting:\n    caBundles: {crm: private-ca.pem}\n",
        )
        .start();
    let v = call(&serve, "trusting", "ns=crm&op=list-customers");
    assert_eq!(v["status"], 200, "{v}");
    // The other capability does not inherit that trust.
    let v = call(&serve, "plain", "ns=crm&op=list-customers");
    assert_transport_error(&v, "certificate");
    assert_eq!(up.versions.lock().unwrap().as_slice(), ["HTTP/2.0"]);
}
