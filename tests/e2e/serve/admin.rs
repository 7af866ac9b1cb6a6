//! The `ikanos serve` admin API: its token, and capability changes through it that
//! drop no request in flight.

use crate::support::fixtures::TOKEN;
use crate::support::serve::{hostile_folder, hostile_text, ServeBuilder};
use crate::support::*;

use super::harness::*;

#[test]
fn the_admin_api_needs_the_token_and_changes_capabilities_without_dropping_requests() {
    let upstream = crm();
    let gate = Gate::start();
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps");
    std::fs::create_dir(&caps).unwrap();
    hostile_folder(
        &caps,
        "alpha",
        "Alpha",
        &upstream.base(),
        Some(&gate.base()),
        TOKEN,
    );
    let admin_token = "admin-7b1e0f5c-never-log-me";
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, format!("{admin_token}\n")).unwrap();
    // No folder watch: every change here goes through the API.
    let serve = ServeBuilder::new(&caps)
        .arg("--no-watch")
        .arg("--admin-token-file")
        .arg(token_file.display().to_string())
        .start();
    let api = |method: &str, path: &str, token: Option<&str>, body: &[u8]| -> Resp {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", serve.control));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut r = agent.run(req.body(body.to_vec()).unwrap()).unwrap();
        Resp {
            status: r.status().as_u16(),
            headers: r
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
            body: r.body_mut().read_to_string().unwrap_or_default(),
        }
    };

    // Reading needs no token; changing does.
    assert_eq!(api("GET", "/status", None, b"").status, 200);
    let text = hostile_text("Delta v1", &upstream.base(), None);
    let r = api("PUT", "/capabilities/delta", None, text.as_bytes());
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r
        .header("www-authenticate")
        .is_some_and(|h| h.starts_with("Bearer")));
    let r = api(
        "PUT",
        "/capabilities/delta",
        Some("wrong-token-0123456789"),
        text.as_bytes(),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = api(
        "DELETE",
        "/capabilities/alpha",
        Some("wrong-token-0123456789"),
        b"",
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(serve.capability("delta").is_none());
    assert!(serve.capability("alpha").is_some());
    let r = api("PUT", "/capabilities/Bad%20Name", Some(admin_token), b"");
    assert_eq!(r.status, 400, "{}", r.body);

    // Hold a request of alpha while delta is added, replaced and removed.
    let held = {
        let url = serve.url("alpha", "/call?ns=gate&op=hold");
        std::thread::spawn(move || post(&url, "text/plain", ""))
    };
    gate.wait_arrived(1, &serve);

    // Add: component first (nothing to load yet), then the file (its binds read
    // secrets.yaml beside it).
    write(
        &caps,
        "secrets.yaml",
        &format!("crm-bearer-token: \"{TOKEN}\"\n"),
    );
    let wasm = std::fs::read(&components().hostile).unwrap();
    let r = api(
        "PUT",
        "/capabilities/delta/component",
        Some(admin_token),
        &wasm,
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let r = api(
        "PUT",
        "/capabilities/delta",
        Some(admin_token),
        text.as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["outcome"], "loaded");
    assert_eq!(r.json()["state"], "ready");
    echo_ok(&serve, "delta", "v1");

    // Replace with a broken file: refused with file:line, the previous version serves on.
    let r = api(
        "PUT",
        "/capabilities/delta",
        Some(admin_token),
        b"ikanos: [\n",
    );
    assert_eq!(r.status, 422, "{}", r.body);
    let v = r.json();
    assert!(
        v["error"].as_str().unwrap().contains("delta.ikanos.yaml:"),
        "{v}"
    );
    assert_eq!(v["state"], "ready", "{v}");
    assert!(v["lastError"].is_string(), "{v}");
    echo_ok(&serve, "delta", "still-v1");

    // Replace with a good one.
    let r = api(
        "PUT",
        "/capabilities/delta",
        Some(admin_token),
        hostile_text("Delta v2", &upstream.base(), None).as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["outcome"], "replaced");
    assert_eq!(r.json()["display"], "Delta v2");
    assert!(r.json().get("lastError").is_none(), "{}", r.body);
    echo_ok(&serve, "delta", "v2");

    // Reload from disk, then remove.
    let r = api("POST", "/capabilities/delta/reload", Some(admin_token), b"");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api("DELETE", "/capabilities/delta", Some(admin_token), b"");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!caps.join("delta.ikanos.yaml").exists());
    assert_eq!(get(&serve.url("delta", "/healthy")).status, 404);
    let r = api("DELETE", "/capabilities/delta", Some(admin_token), b"");
    assert_eq!(r.status, 404, "{}", r.body);

    // Alpha's held request was never disturbed.
    assert!(!held.is_finished());
    gate.open();
    let r = held.join().unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["body"], "released");

    let out = serve.all_output();
    assert!(
        !out.contains(admin_token),
        "the admin token was logged:\n{out}"
    );
    assert!(out.contains("admin API: wrong token"), "{out}");
}
