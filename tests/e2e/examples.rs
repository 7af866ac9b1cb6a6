//! The two examples, run as a user would run them (only the ports are changed so
//! tests can run side by side).

use std::time::Duration;

use crate::support::fixtures::TOKEN;
use crate::support::upstream::{Auth, Upstream};
use crate::support::*;

#[test]
fn hello_example_answers_a_greeting() {
    let c = components();
    let dir = tempfile::tempdir().unwrap();
    let file = example(dir.path(), "examples/hello/hello.ikanos.yaml", |s| s);
    let mut host = HostBuilder::new(&file).component(&c.hello).start(1);
    let base = host.rest_url("hello");

    let r = get(&format!("{base}/hello/World"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["message"], "Hello, World!");
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert!(r.header("x-request-id").is_some());

    // Path segments are percent-decoded before they reach the component.
    let r = get(&format!("{base}/hello/Ada%20Lovelace?greeting=Bonjour"));
    assert_eq!(r.json()["message"], "Bonjour, Ada Lovelace!");
    assert_eq!(host.terminate(Duration::from_secs(30)), Some(0));
}

#[test]
fn crm_sidecar_example_reaches_the_crm_with_the_bound_token() {
    let c = components();
    let upstream = Upstream::start(Auth {
        bearer: Some(TOKEN.into()),
        ..Auth::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let base = upstream.base();
    let file = example(
        dir.path(),
        "examples/crm-sidecar/crm-sidecar.ikanos.yaml",
        |s| s.replace("http://127.0.0.1:18081", &base),
    );
    write(
        dir.path(),
        "secrets.yaml",
        &format!("crm-bearer-token: \"{TOKEN}\"\n"),
    );
    let mut host = HostBuilder::new(&file).component(&c.crm_sidecar).start(1);
    let api = host.rest_url("crm-api");

    let r = get(&format!("{api}/customers"));
    assert_eq!(r.status, 200, "{}", r.body);
    let list = r.json();
    let list = list
        .as_array()
        .unwrap_or_else(|| list["customers"].as_array().expect("a list of customers"));
    assert_eq!(list.len(), 3);

    let r = get(&format!("{api}/customers/2"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Grace Hopper"), "{}", r.body);

    let r = get(&format!("{api}/customers/99"));
    assert_eq!(r.status, 404, "{}", r.body);

    let seen = upstream.requests();
    assert!(seen.len() >= 3);
    for req in &seen {
        assert_eq!(
            req.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
    }
    assert_eq!(seen[1].path, "/customers/2");

    // The token never leaves the host except towards the CRM.
    let metrics = get(&format!("{}/metrics", host.control_url()));
    let status = get(&format!("{}/status", host.control_url()));
    assert!(!metrics.body.contains(TOKEN) && !status.body.contains(TOKEN));
    assert!(!r.body.contains(TOKEN));
    assert_eq!(host.terminate(Duration::from_secs(30)), Some(0));
    let logs = host.all_output();
    assert!(!logs.contains(TOKEN), "the token leaked into the logs");
}

#[test]
fn every_example_validates_and_lints_clean() {
    let root = repo_root().join("examples");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        if let Ok(inner) = std::fs::read_dir(&dir) {
            for f in inner {
                let f = f.unwrap().path();
                if f.to_string_lossy().ends_with(".ikanos.yaml") {
                    files.push(f.display().to_string());
                }
            }
        }
    }
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    for command in ["validate", "lint"] {
        let args: Vec<&str> = std::iter::once(command)
            .chain(files.iter().map(String::as_str))
            .collect();
        let (code, out, err) = run_cli(&args);
        assert_eq!(code, 0, "{command}: {out}{err}");
        // The one thing said: crm-ssh's and crm-rathole's tunnels (`type: ssh`,
        // `type: rathole` and their keys) are this host's, which upstream's schema (it
        // knows only `ziti`) does not allow.
        let unexpected: Vec<&str> = out
            .lines()
            .filter(|l| {
                !(command == "validate"
                    && (l.contains("crm-ssh.ikanos.yaml:")
                        || l.contains("crm-rathole.ikanos.yaml:"))
                    && l.contains(".tunnel")
                    && l.ends_with("(upstream schema ikanos-schema.json)"))
            })
            .collect();
        assert!(unexpected.is_empty(), "{command} found something: {out}");
    }
}
