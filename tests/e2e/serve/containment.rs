//! Hostile guests under `ikanos serve`: runaway, trapping and flooding capabilities are
//! contained by their own limits while a neighbour keeps answering.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::support::fixtures::TOKEN;
use crate::support::serve::{hostile_folder, ServeBuilder};
use crate::support::*;

use super::harness::*;

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
    let neighbour = {
        let (stop, url) = (stop.clone(), serve.shared.clone());
        std::thread::spawn(move || {
            let mut answered = 0u32;
            while !stop.load(Ordering::SeqCst) {
                let id = format!("n{answered}");
                let r = post(&format!("{url}/good/echo/{id}?n=1"), "text/plain", &id);
                assert_eq!(r.status, 200, "the neighbour failed: {}", r.body);
                let v = r.json();
                assert_eq!(v["inputs"]["id"], id.as_str());
                assert_eq!(v["body"], id.as_str());
                let r = post(
                    &format!("{url}/good/call?ns=crm&op=get-customer&p_id=3"),
                    "text/plain",
                    "",
                );
                assert_eq!(r.status, 200, "the neighbour's call failed: {}", r.body);
                assert!(r.json()["body"].as_str().unwrap().contains("Alan Turing"));
                answered += 1;
            }
            answered
        })
    };

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
