//! Hostile guests under `ikanos serve`: runaway, trapping and flooding capabilities are
//! contained by their own limits while a neighbour keeps answering.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::support::fixtures::TOKEN;
use crate::support::serve::{hostile_folder, ServeBuilder};
use crate::support::*;

use super::harness::*;

/// A neighbour (the hostile component's capability `name`, well-behaved) answering on
/// the shared listener at `url` until `stop`: an echo and a consumed call per round,
/// each checked. Joins to the number of rounds; panics on any wrong answer.
fn neighbour_of(url: &str, name: &str, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u32> {
    let (url, name) = (url.to_string(), name.to_string());
    std::thread::spawn(move || {
        let mut answered = 0u32;
        while !stop.load(Ordering::SeqCst) {
            let id = format!("n{answered}");
            let r = post(&format!("{url}/{name}/echo/{id}?n=1"), "text/plain", &id);
            assert_eq!(r.status, 200, "the neighbour failed: {}", r.body);
            let v = r.json();
            assert_eq!(v["inputs"]["id"], id.as_str());
            assert_eq!(v["body"], id.as_str());
            let r = post(
                &format!("{url}/{name}/call?ns=crm&op=get-customer&p_id=3"),
                "text/plain",
                "",
            );
            assert_eq!(r.status, 200, "the neighbour's call failed: {}", r.body);
            assert!(r.json()["body"].as_str().unwrap().contains("Alan Turing"));
            answered += 1;
        }
        answered
    })
}

#[test]
fn hostile_capabilities_are_contained_while_a_neighbour_keeps_answering() {
    let upstream = crm();
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps");
    std::fs::create_dir(&caps).unwrap();
    hostile_folder(&caps, "bad", "Bad", &upstream.base(), None, TOKEN);
    hostile_folder(&caps, "good", "Good", &upstream.base(), None, TOKEN);
    let serve = ServeBuilder::new(&caps)
        .config(
            &dir.path().join("host.yaml"),
            "capabilities:\n  bad:\n    limits:\n      cpuTime: 200ms\n      memoryMib: 16\n      maxConcurrency: 2\n      requestTimeout: 10s\n      maxResponseBody: 1048576\n      maxOutboundCalls: 5\n      maxRequestBody: 1000\n",
        )
        .start();
    let bad = serve.capability("bad").unwrap();
    assert_eq!(bad["limits"]["cpuTimeMs"], 200, "{bad}");
    assert_eq!(bad["limits"]["memoryBytes"], 16 << 20, "{bad}");
    assert_eq!(bad["limits"]["maxConcurrency"], 2, "{bad}");

    // The neighbour answers correctly the whole time, on the shared listener.
    let stop = Arc::new(AtomicBool::new(false));
    let neighbour = neighbour_of(&serve.shared, "good", stop.clone());

    let expect = |path: &str, method: &str, status: u16, says: &str| {
        let r = if method == "GET" {
            get(&serve.url("bad", path))
        } else {
            post(&serve.url("bad", path), "text/plain", "")
        };
        assert_eq!(r.status, status, "{path}: {}", r.body);
        let v = r.json();
        assert!(v["error"].as_str().unwrap().contains(says), "{path}: {v}");
        assert!(v["requestId"].is_string(), "{v}");
    };
    expect("/spin", "GET", 504, "CPU time limit of 200ms");
    expect("/grow", "GET", 500, "memory limit of 16 MiB");
    expect("/recurse", "GET", 500, "trapped");
    expect("/trap", "GET", 500, "trapped");
    expect(
        "/big?size=4194304",
        "GET",
        500,
        "exceeds the limit of 1048576 bytes",
    );
    // A request body over the capability's limit.
    let r = post(
        &serve.url("bad", "/echo/x"),
        "text/plain",
        &"b".repeat(2000),
    );
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.body.contains("exceeds 1000 bytes"), "{}", r.body);
    // A slow upstream: the request's own time limit ends it. (10 s, well above the CPU
    // limit, so that a loaded machine still hits the CPU limit first in /spin.)
    expect(
        "/call?ns=crm&op=get-slow&p_ms=60000",
        "POST",
        504,
        "time limit of 10s",
    );
    // A flood of outbound calls: the budget stops it after 5.
    let r = post(
        &serve.url("bad", "/flood?ns=crm&op=list-customers&n=200"),
        "text/plain",
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["ok"], 5, "{v}");
    assert_eq!(v["errors"]["denied"], 195, "{v}");
    // More spinning requests than it may run at once: each contained, none leaks out.
    let spinners: Vec<_> = (0..4)
        .map(|_| {
            let url = serve.url("bad", "/spin");
            std::thread::spawn(move || get(&url).status)
        })
        .collect();
    for s in spinners {
        assert_eq!(s.join().unwrap(), 504);
    }
    // Still serving after all that.
    assert_eq!(get(&serve.url("bad", "/healthy")).status, 200);

    stop.store(true, Ordering::SeqCst);
    let answered = neighbour
        .join()
        .expect("the neighbour kept answering correctly");
    assert!(answered > 0);

    let m = metrics(&serve);
    for kind in [
        "cpu_deadline",
        "memory_limit",
        "trap",
        "response_too_large",
        "timeout",
    ] {
        assert!(
            m.lines().any(
                |l| l.starts_with("ikanos_request_errors_total{capability=\"bad\"")
                    && l.contains(&format!("error_type=\"{kind}\""))
            ),
            "no {kind} error counted for bad:\n{m}"
        );
    }
    assert!(
        !m.lines()
            .any(|l| l.starts_with("ikanos_request_errors_total{capability=\"good\"")),
        "the neighbour had errors:\n{m}"
    );
    // Upstream calls the flood made: 5 (plus the neighbour's and the slow one).
    let listed = upstream
        .requests()
        .iter()
        .filter(|r| r.path == "/customers")
        .count();
    assert_eq!(listed, 5);
}

/// A declarative-only capability (no component: the built-in engine runs it) whose file
/// makes the host compute a lot: a JSONPath mapping over a large upstream answer
/// (`$..*` for every one of thousands of records), and a lookup whose index and values
/// are a large array. Tenant-controlled computation, so it must meet the same limits as
/// component code.
const DECLARATIVE_BOMB: &str = r#"ikanos: "1.0.0-beta5"
info:
  display: "Declarative bomb"
  description: "Mappings and lookups over large answers."
binds:
  - namespace: secrets
    location: "file:///./secrets.yaml"
    keys:
      CRM_TOKEN: crm-bearer-token
capability:
  consumes:
    - type: http
      namespace: data
      baseUri: "BASE"
      authentication:
        type: bearer
        token: "{{secrets.CRM_TOKEN}}"
      resources:
        records:
          path: "/records"
          operations:
            list-records:
              method: GET
              inputParameters:
                n:
                  in: query
  exposes:
    - type: rest
      port: 0
      namespace: bomb
      resources:
        mapping:
          path: "/mapping"
          operations:
            mapping-bomb:
              method: GET
              call: data.list-records
              with:
                n: "30000"
              outputParameters:
                - type: array
                  mapping: "$[*]"
                  items:
                    type: object
                    properties:
                      a:
                        type: array
                        mapping: "$..*"
                      b:
                        type: array
                        mapping: "$..*"
                      c:
                        type: array
                        mapping: "$..*"
                      d:
                        type: array
                        mapping: "$..*"
        lookup:
          path: "/lookup"
          operations:
            lookup-huge:
              method: GET
              steps:
                list:
                  type: call
                  call: data.list-records
                  with:
                    n: "60000"
                resolve:
                  type: lookup
                  index: list
                  match: id
                  lookupValue: "$.list[*].id"
                  outputParameters:
                    - name
                    - tags
              mappings:
                - target: found
                  value: "$.resolve"
              outputParameters:
                found:
                  type: array
        small:
          path: "/small"
          operations:
            small:
              method: GET
              call: data.list-records
              with:
                n: "2"
              outputParameters:
                - type: array
                  mapping: "$[*]"
                  items:
                    type: object
                    properties:
                      id:
                        type: string
                        mapping: "$.id"
"#;

/// An aggregate whose flow refers to itself.
const RECURSIVE_AGGREGATE: &str = r#"ikanos: "1.0.0-beta5"
capability:
  consumes:
    - type: http
      namespace: data
      baseUri: "http://127.0.0.1:9"
      resources:
        records:
          path: "/records"
          operations:
            list:
              method: GET
  aggregates:
    - namespace: loop
      flows:
        again:
          description: "Refers to itself."
          ref: loop.again
  exposes:
    - type: rest
      port: 0
      namespace: api
      resources:
        r:
          path: /r
          operations:
            get-r:
              method: GET
              ref: loop.again
"#;

#[test]
fn hostile_declarative_files_are_contained_while_a_neighbour_keeps_answering() {
    let upstream = crm();
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps");
    std::fs::create_dir(&caps).unwrap();
    let folder = caps.join("bomb");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(
        folder.join("secrets.yaml"),
        format!("crm-bearer-token: \"{TOKEN}\"\n"),
    )
    .unwrap();
    std::fs::write(
        folder.join("bomb.ikanos.yaml"),
        DECLARATIVE_BOMB.replace("BASE", &upstream.base()),
    )
    .unwrap();
    hostile_folder(&caps, "good", "Good", &upstream.base(), None, TOKEN);
    // A flow that refers to itself: refused when the file loads, never run.
    let looped = caps.join("looped");
    std::fs::create_dir(&looped).unwrap();
    std::fs::write(looped.join("looped.ikanos.yaml"), RECURSIVE_AGGREGATE).unwrap();
    let serve = ServeBuilder::new(&caps)
        .config(
            &dir.path().join("host.yaml"),
            "capabilities:\n  bomb:\n    limits:\n      cpuTime: 300ms\n      memoryMib: 24\n      requestTimeout: 20s\n",
        )
        .start();
    let bomb = serve.capability("bomb").unwrap();
    assert_eq!(bomb["state"], "ready", "{bomb}");
    let looped = serve
        .wait_for("looped", "failed", |c| {
            c.is_some_and(|c| c["state"] == "failed")
        })
        .unwrap();
    let error = looped["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("looped.ikanos.yaml:18:11")
            && error.contains("an aggregate flow cannot use 'ref'"),
        "{looped}"
    );

    // It answers what is within its limits.
    let r = get(&serve.url("bomb", "/small"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), serde_json::json!([{"id": "r0"}, {"id": "r1"}]));

    let stop = Arc::new(AtomicBool::new(false));
    let neighbour = neighbour_of(&serve.shared, "good", stop.clone());

    // The bombs are stopped by the sandbox's limits, with the error named.
    for path in ["/mapping", "/lookup"] {
        let r = get(&serve.url("bomb", path));
        assert!(
            r.status == 500 || r.status == 504,
            "{path}: {} {}",
            r.status,
            r.body
        );
        let v = r.json();
        let error = v["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("memory limit of 24 MiB")
                || error.contains("CPU time limit of 300ms")
                || error.contains("exceeds the limit"),
            "{path}: {v}"
        );
        assert!(v["requestId"].is_string(), "{v}");
    }
    // Still serving after that.
    assert_eq!(get(&serve.url("bomb", "/small")).status, 200);

    stop.store(true, Ordering::SeqCst);
    let answered = neighbour
        .join()
        .expect("the neighbour kept answering correctly");
    assert!(answered > 0);
    let m = metrics(&serve);
    assert!(
        m.lines().any(
            |l| l.starts_with("ikanos_request_errors_total{capability=\"bomb\"")
                && (l.contains("error_type=\"memory_limit\"")
                    || l.contains("error_type=\"cpu_deadline\""))
        ),
        "no limit error counted for bomb:\n{m}"
    );
}
