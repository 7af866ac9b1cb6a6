//! The sandbox: inputs reach the component, misbehaving components are contained,
//! and a component reaches nothing the capability file does not declare.

use std::time::Duration;

use crate::support::fixtures::{self, TOKEN};
use crate::support::rules::Rules;
use crate::support::*;

fn call(base: &str, query: &str, body: &str) -> serde_json::Value {
    let r = post(&format!("{base}/call?{query}"), "application/json", body);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

#[test]
fn declared_inputs_reach_the_component_and_are_checked() {
    let rig = hostile_rig(&[]);
    let r = to_echo(
        &rig.base,
        "/echo/a%2Fb?n=5&flag=true&undeclared=x",
        &[("X-Tag", "blue")],
        "{\"k\":1}",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["operation"], "echo");
    assert_eq!(v["inputs"]["id"], "a/b");
    assert_eq!(v["inputs"]["n"], "5");
    assert_eq!(v["inputs"]["flag"], "true");
    assert_eq!(v["inputs"]["X-Tag"], "blue");
    assert!(
        v["inputs"].get("undeclared").is_none(),
        "undeclared query parameters are not passed: {v}"
    );
    assert_eq!(v["body"], "{\"k\":1}");

    let r = to_echo(&rig.base, "/echo/x?n=five", &[], "");
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("'n' must be of type integer"),
        "{}",
        r.body
    );

    let r = get(&format!("{}/nowhere", rig.base));
    assert_eq!(r.status, 404);
    assert!(r.json()["requestId"].is_string());
    let r = request("DELETE", &format!("{}/healthy", rig.base));
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET"));

    let r = get_with(
        &format!("{}/healthy", rig.base),
        &[("x-request-id", "req-42")],
    );
    assert_eq!(r.header("x-request-id"), Some("req-42"));

    // The component's own status codes and errors.
    assert_eq!(get(&format!("{}/status?code=201", rig.base)).status, 201);
    let r = get(&format!("{}/undeclared-op", rig.base));
    assert_eq!(
        r.status, 404,
        "an operation without a handler is the component's not-found: {}",
        r.body
    );
}

fn to_echo(base: &str, path_query: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!("{base}{path_query}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .run(req.body(body.to_string()).unwrap())
        .expect("request");
    let status = r.status().as_u16();
    let hs = r
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    Resp {
        status,
        headers: hs,
        body: r.body_mut().read_to_string().unwrap_or_default(),
    }
}

/// Per-core serving with one serving thread: a spinning guest and every other
/// connection (the control port's too) share that thread. The guest yields it at each
/// epoch tick, so while it spins, neighbours are answered — the spinner is still
/// running when they are done — and it is stopped at its CPU limit all the same.
#[test]
fn one_serving_thread_is_shared_by_a_spinning_guest_and_its_neighbours() {
    serving_thread_shared_with_a_spinner(&["--worker-threads", "1"]);
}

/// The same with the work-stealing pool (`--serving shared`) on one thread.
#[test]
fn the_shared_pool_on_one_thread_is_shared_by_a_spinning_guest_and_its_neighbours() {
    serving_thread_shared_with_a_spinner(&["--worker-threads", "1", "--serving", "shared"]);
}

fn serving_thread_shared_with_a_spinner(serving: &[&str]) {
    let mut args = vec!["--cpu-limit", "5s"];
    args.extend_from_slice(serving);
    let rig = hostile_rig(&args);
    let base = rig.base.clone();
    let spinning = std::thread::spawn({
        let base = base.clone();
        move || get(&format!("{base}/spin"))
    });
    // Wait until the spinner's instance is alive (read from the control port, served
    // on the same thread).
    let metrics = format!("{}/metrics", rig.host.control_url());
    loop {
        let text = get(&metrics).body;
        if text
            .lines()
            .any(|l| l.starts_with("ikanos_instances_active{") && !l.ends_with(" 0"))
        {
            break;
        }
        assert!(
            !spinning.is_finished(),
            "the spinner ended before it was seen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..10 {
        let r = get(&format!("{base}/healthy"));
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert!(
        !spinning.is_finished(),
        "the neighbours were answered only after the spinner ended"
    );
    let spin = spinning.join().unwrap();
    assert_eq!(spin.status, 504, "{}", spin.body);
}

#[test]
fn runaway_components_are_stopped_while_neighbours_keep_answering() {
    let rig = hostile_rig(&["--cpu-limit", "300ms", "--memory-limit-mib", "32"]);
    let base = rig.base.clone();
    let spinning = std::thread::spawn({
        let base = base.clone();
        move || get(&format!("{base}/spin"))
    });
    let growing = std::thread::spawn({
        let base = base.clone();
        move || get(&format!("{base}/grow"))
    });
    // While those run, healthy requests keep succeeding.
    for _ in 0..20 {
        let r = get(&format!("{base}/healthy"));
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["ok"], true);
    }
    let spin = spinning.join().unwrap();
    assert_eq!(spin.status, 504, "{}", spin.body);
    assert!(
        spin.json()["error"]
            .as_str()
            .unwrap()
            .contains("CPU time limit"),
        "{}",
        spin.body
    );
    assert!(spin.json()["requestId"].is_string());
    let grow = growing.join().unwrap();
    assert_eq!(grow.status, 500, "{}", grow.body);
    assert!(
        grow.json()["error"]
            .as_str()
            .unwrap()
            .contains("memory limit of 32 MiB"),
        "{}",
        grow.body
    );

    let trap = get(&format!("{base}/trap"));
    assert_eq!(trap.status, 500);
    assert!(
        trap.json()["error"].as_str().unwrap().contains("trapped"),
        "{}",
        trap.body
    );
    let deep = get(&format!("{base}/recurse"));
    assert_eq!(deep.status, 500, "{}", deep.body);

    // The host survived all of it.
    assert_eq!(get(&format!("{base}/healthy")).status, 200);
    let metrics = get(&format!("{}/metrics", rig.host.control_url())).body;
    for kind in ["cpu_deadline", "memory_limit", "trap"] {
        assert!(
            metrics.contains(&format!("error_type=\"{kind}\"")),
            "no {kind} error counted:\n{metrics}"
        );
    }
}

#[test]
fn a_component_has_no_ambient_authority_and_its_output_is_captured() {
    let rig = hostile_rig(&[]);
    let r = get(&format!("{}/env-probe", rig.base));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["env"], 0, "{v}");
    assert_eq!(v["read_root"], false, "{v}");
    assert_eq!(v["read_etc_passwd"], false, "{v}");
    assert_eq!(v["tcp"], false, "{v}");

    assert_eq!(get(&format!("{}/print", rig.base)).status, 200);
    for needle in [
        "stdout-line from guest",
        "stderr-line from guest",
        "log-line from guest",
    ] {
        let line = rig
            .host
            .wait_for_log(Duration::from_secs(10), |l| l.contains(needle));
        assert!(
            line.contains("hostile"),
            "guest output is tagged with the capability: {line}"
        );
    }
}

#[test]
fn calls_place_parameters_and_authentication_as_declared() {
    let rig = hostile_rig(&[]);
    let v = call(
        &rig.base,
        "ns=crm&op=post-echo&p_section=a%20b&p_q=x%26y&p_X-Trace-Tag=t1&p_session=s1",
        "{\"hello\":\"world\"}",
    );
    assert_eq!(v["status"], 200, "{v}");
    let seen = rig.upstream.requests();
    let req = seen.last().unwrap();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/echo/a%20b");
    assert_eq!(req.query.as_deref(), Some("q=x%26y"));
    assert_eq!(req.header("x-trace-tag"), Some("t1"));
    assert_eq!(req.header("cookie"), Some("session=s1"));
    assert_eq!(
        req.header("api-version"),
        Some("2024-01"),
        "fixed values are added by the host"
    );
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.body, b"{\"hello\":\"world\"}");
    assert!(
        !v.to_string().contains(TOKEN) || v["body"].as_str().unwrap().contains(TOKEN),
        "only the upstream's echo may carry it"
    );

    // Without a trace exporter the caller's trace still reaches the upstream.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let r = to_echo(
        &rig.base,
        "/call?ns=crm&op=list-customers",
        &[("traceparent", &format!("00-{trace}-00f067aa0ba902b7-01"))],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let tp = rig
        .upstream
        .requests()
        .last()
        .unwrap()
        .header("traceparent")
        .map(str::to_string);
    let tp = tp.expect("traceparent reaches the upstream");
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!((parts[0], parts[1], parts[3]), ("00", trace, "01"), "{tp}");
    assert_ne!(parts[2], "00f067aa0ba902b7", "a fresh parent id: {tp}");

    // An upstream error status is a response, not a call error.
    let v = call(&rig.base, "ns=crm&op=get-customer&p_id=99", "");
    assert_eq!(v["status"], 404, "{v}");
    let v = call(&rig.base, "ns=crm&op=list-customers&p_limit=2", "");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(v["body"].as_str().unwrap())
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

/// Each way a component might reach past its declaration is a named rule: a broken
/// one is reported by name, and the others still run.
#[test]
fn a_component_reaches_nothing_undeclared() {
    let rig = hostile_rig(&[]);
    let before = rig.upstream.requests().len();
    let mut rules = Rules::new("sandbox");
    for (rule, query, error, reason) in [
        (
            "no consumes namespace the file does not declare",
            "ns=evil&op=list-customers",
            "unknown-operation",
            Some("no consumes namespace 'evil'"),
        ),
        (
            "no operation the file does not declare",
            "ns=crm&op=delete-everything",
            "unknown-operation",
            None,
        ),
        (
            "no parameter the file does not declare, such as Authorization",
            "ns=crm&op=list-customers&p_Authorization=Bearer%20stolen",
            "invalid-input",
            Some("declares no parameter 'Authorization'"),
        ),
        (
            "no other value for a fixed parameter",
            "ns=crm&op=post-echo&p_section=x&p_Api-Version=1999",
            "invalid-input",
            Some("fixed"),
        ),
        (
            "no call without its path parameter",
            "ns=crm&op=get-customer",
            "invalid-input",
            None,
        ),
    ] {
        let r = post(
            &format!("{}/call?{query}", rig.base),
            "application/json",
            "",
        );
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
        let explained =
            reason.is_none_or(|want| v["reason"].as_str().is_some_and(|said| said.contains(want)));
        let refused = r.status == 200 && v["error"] == error && explained;
        rules.check(
            rule,
            format!(
                "HTTP 200, error {error}{}",
                reason.map_or_else(String::new, |r| format!(", reason with {r:?}"))
            ),
            format!("HTTP {}: {}", r.status, r.body),
            refused,
        );
    }
    let reached = rig.upstream.requests().len() - before;
    rules.check(
        "refused calls never reach the wire",
        "no upstream request",
        format!("{reached} upstream requests"),
        reached == 0,
    );
    rules.check(
        "the token never reaches the logs",
        "no token in the output",
        rig.host.all_output(),
        !rig.host.all_output().contains(TOKEN),
    );
    rules.assert_all_hold();
}

#[test]
fn upstream_failures_map_to_typed_errors() {
    let rig = hostile_rig(&[
        "--upstream-timeout",
        "300ms",
        "--max-response-body",
        "100000",
    ]);
    let v = call(&rig.base, "ns=crm&op=get-slow&p_ms=3000", "");
    assert_eq!(v["error"], "timeout", "{v}");
    let v = call(&rig.base, "ns=crm&op=get-big&p_bytes=200000", "");
    assert_eq!(v["error"], "transport", "{v}");
    // The component's own response is limited too.
    let r = get(&format!("{}/big?size=200001", rig.base));
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(r.body.contains("exceeds the limit"), "{}", r.body);

    // A consumed API that is down.
    let c = components();
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let file = fixtures::hostile(dir.path(), &format!("http://127.0.0.1:{port}"));
    let host = HostBuilder::new(&file).component(&c.hostile).start(1);
    let v = call(&host.rest_url("hostile"), "ns=crm&op=list-customers", "");
    assert_transport_error(&v, "connect");
}

#[test]
fn request_budgets_are_enforced() {
    let rig = hostile_rig(&["--max-outbound-calls", "0", "--max-request-body", "1000"]);
    let v = call(&rig.base, "ns=crm&op=list-customers", "");
    assert_eq!(v["error"], "denied", "{v}");
    assert!(
        v["reason"].as_str().unwrap().contains("outbound calls"),
        "{v}"
    );
    assert!(
        rig.upstream.requests().is_empty(),
        "a denied call never reaches the wire"
    );

    let big = "x".repeat(1001);
    let r = post(&format!("{}/echo/a", rig.base), "text/plain", &big);
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(
        r.json()["error"].as_str().unwrap().contains("1000 bytes"),
        "{}",
        r.body
    );
    let r = post(&format!("{}/echo/a", rig.base), "text/plain", &big[..1000]);
    assert_eq!(r.status, 200, "{}", r.body);
}

/// The states (`R`, `S`, …) of the host's serving threads (`ikanos-serve-N`).
fn serving_thread_states(pid: u32) -> Vec<char> {
    let mut states = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("ikanos-serve-") {
            continue;
        }
        // `PID (COMM) STATE …`: the state follows the last ')'.
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        if let Some(state) = stat
            .rsplit(')')
            .next()
            .and_then(|s| s.trim().chars().next())
        {
            states.push(state);
        }
    }
    states
}

/// Polls `/proc` until every serving thread of `pid` is seen sleeping in 20 samples in
/// a row (a busy-polling thread is runnable in every sample: it never sleeps).
fn serving_threads_fall_asleep(pid: u32) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut asleep_in_a_row = 0;
    while std::time::Instant::now() < deadline {
        let states = serving_thread_states(pid);
        assert!(
            !states.is_empty(),
            "no ikanos-serve threads in /proc/{pid}/task"
        );
        if states.iter().all(|s| *s == 'S') {
            asleep_in_a_row += 1;
            if asleep_in_a_row == 20 {
                return true;
            }
        } else {
            asleep_in_a_row = 0;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

/// Busy polling (`--busy-poll`, on by default) keeps a serving thread polling after a
/// request, and only then: with a window of 3 s the thread that served a request is
/// seen running right after it, while an idle host's serving threads sleep — also with
/// the default window after a burst of requests on a connection that stays open.
#[test]
fn serving_threads_busy_poll_after_activity_and_sleep_when_idle() {
    let rig = hostile_rig(&["--worker-threads", "2"]);
    let pid = rig.host.pid();
    assert!(
        serving_threads_fall_asleep(pid),
        "an idle host's serving threads do not sleep: {:?}",
        serving_thread_states(pid)
    );
    let agent = ureq::Agent::new_with_defaults();
    for _ in 0..50 {
        let r = agent.get(&format!("{}/healthy", rig.base)).call().unwrap();
        assert_eq!(r.status(), 200);
    }
    // The connection stays open (the agent keeps it), and nothing arrives on it.
    assert!(
        serving_threads_fall_asleep(pid),
        "serving threads still poll after the default window: {:?}",
        serving_thread_states(pid)
    );

    let long = hostile_rig(&["--worker-threads", "2", "--busy-poll", "3s"]);
    let pid = long.host.pid();
    assert_eq!(get(&format!("{}/healthy", long.base)).status, 200);
    let polling = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(5));
        serving_thread_states(pid).contains(&'R')
    });
    assert!(
        polling,
        "no serving thread polls after a request with --busy-poll 3s: {:?}",
        serving_thread_states(pid)
    );
}
