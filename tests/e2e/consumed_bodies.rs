//! Consumed-operation features end to end, through the real `ikanos` binary and a
//! recording loopback upstream: `in: environment` parameters (read at load, used in
//! templates, never sent; confined under `ikanos serve`), `formUrlEncoded` and
//! `multipartForm` request bodies (from the declarative engine and from a component),
//! and `maxBinarySize` on binary responses (REST and MCP answers as upstream's).

use crate::support::serve::ServeBuilder;
use crate::support::upstream::{Auth, Upstream};
use crate::support::*;

/// A REST operation `GET /region` that calls `up.echo`, whose header `X-Region` is
/// rendered from the `in: environment` parameter `IKANOS_T_REGION`.
fn env_capability(base: &str) -> String {
    format!(
        r#"ikanos: "1.0.0-beta5"
info:
  display: "env"
capability:
  exposes:
  - type: rest
    namespace: api
    port: 0
    resources:
      region:
        path: "/region"
        operations:
          get-region:
            method: GET
            call: up.echo
  consumes:
  - type: http
    namespace: up
    baseUri: "{base}"
    inputParameters:
      IKANOS_T_REGION:
        in: environment
      X-Region:
        in: header
        value: "eu-{{{{IKANOS_T_REGION}}}}"
    resources:
      echo:
        path: "/echo-env"
        operations:
          echo:
            method: GET
"#
    )
}

#[test]
fn environment_parameters_feed_templates_and_are_never_sent() {
    let up = Upstream::start(Auth::default());
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "env.ikanos.yaml", &env_capability(&up.base()));
    let host = HostBuilder::new(&file)
        .env("IKANOS_T_REGION", "west-7")
        .start(1);
    let r = get(&format!("{}/region", host.rest_url("api")));
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = up.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].header("x-region"), Some("eu-west-7"));
    assert_eq!(seen[0].header("ikanos_t_region"), None);
    assert_eq!(seen[0].query, None);
    assert!(
        !host.all_output().contains("west-7"),
        "the value is never logged"
    );
}

#[test]
fn a_missing_environment_variable_stops_the_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "env.ikanos.yaml",
        &env_capability("http://127.0.0.1:9"),
    );
    let (code, out) = HostBuilder::new(&file).run_to_exit();
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("env.ikanos.yaml:21:7"), "{out}");
    assert!(
        out.contains("environment variable 'IKANOS_T_REGION', which is not set"),
        "{out}"
    );
}

#[test]
fn serve_reads_only_granted_environment_variables() {
    let up = Upstream::start(Auth::default());
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps");
    for name in ["granted", "refused"] {
        std::fs::create_dir_all(caps.join(name)).unwrap();
        write(
            &caps.join(name),
            &format!("{name}.ikanos.yaml"),
            &env_capability(&up.base()),
        );
    }
    let serve = ServeBuilder::new(&caps)
        .config(
            &dir.path().join("host.yaml"),
            "capabilities:\n  granted:\n    env: [IKANOS_T_REGION]\n",
        )
        .env("IKANOS_T_REGION", "host-only-value")
        .start();
    let refused = serve
        .wait_for("refused", "failed", |c| {
            c.is_some_and(|c| c["state"] == "failed")
        })
        .unwrap();
    let error = refused["error"].as_str().unwrap_or_default();
    assert!(error.contains("refused.ikanos.yaml:21:7"), "{refused}");
    assert!(error.contains("does not grant"), "{refused}");
    assert!(!error.contains("host-only-value"), "{refused}");

    serve.wait_for("granted", "ready", |c| {
        c.is_some_and(|c| c["state"] == "ready")
    });
    let r = get(&serve.url("granted", "/region"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        up.requests()[0].header("x-region"),
        Some("eu-host-only-value")
    );
}
