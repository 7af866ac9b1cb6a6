//! Benchmark: what a script step costs. The real `ikanos` binary serves three REST
//! operations of one declarative capability against one loopback upstream (the
//! customer list): the list mapped with JSONPath (`call` + `outputParameters`, no
//! script), the same call followed by a script step that reshapes the list, and a
//! script step alone (`result = 1`, no call). Same host, same run, alternating rounds.
//!
//! Reports requests/s and latency per operation at 1 and at `--connections`
//! connections, the host's own mean time of a script step (`ikanos_step_duration_seconds`
//! of kind `script`: a fresh interpreter instance, a new realm, the evaluation), the
//! largest linear memory a script instance had (`ikanos_script_memory_bytes`), and the
//! process's resident memory before and after.
//!
//! Run: `cargo bench -p ikanos --bench scripts` (options: `-- --seconds 5 --connections 8`).

mod common;

use std::time::Duration;

use common::*;

const RESHAPE: &str = "var out = [];\n\
for (var i = 0; i < context['list'].length; i++) {\n\
  var c = context['list'][i];\n\
  out.push({ id: c.id, name: c.name.toUpperCase() });\n\
}\n\
result = out;\n";

fn capability(upstream: &str) -> String {
    let op = |name: &str, body: &str| {
        format!(
            r#"        {name}:
          path: "/{name}"
          description: "{name}"
          operations:
            get-{name}:
              method: GET
              description: "{name}"
{body}"#
        )
    };
    let mapped = op(
        "mapped",
        r#"              call: crm.list-customers
              outputParameters:
                - type: array
                  mapping: "$"
                  items:
                    type: object
                    properties:
                      id:
                        type: string
                        mapping: "$.id"
                      name:
                        type: string
                        mapping: "$.name"
"#,
    );
    let scripted = op(
        "scripted",
        r#"              steps:
                list:
                  type: call
                  call: crm.list-customers
                reshape:
                  type: script
                  language: javascript
                  location: "file:///./scripts"
                  file: reshape.js
              mappings:
                - target: customers
                  value: "$.reshape"
"#,
    );
    let alone = op(
        "alone",
        r#"              steps:
                one:
                  type: script
                  language: javascript
                  location: "file:///./scripts"
                  file: one.js
              mappings:
                - target: one
                  value: "$.one"
"#,
    );
    format!(
        r#"ikanos: "1.0.0-beta5"
info:
  display: "Script step bench"
  description: "Script steps against a JSONPath mapping."
binds:
  - namespace: secrets
    description: "The bench token."
    location: "file:///./secrets.yaml"
    keys:
      CRM_TOKEN: "crm-bearer-token"
capability:
  consumes:
    - type: http
      namespace: crm
      description: "The CRM."
      baseUri: "http://{upstream}"
      authentication:
        type: bearer
        token: "{{{{secrets.CRM_TOKEN}}}}"
      resources:
        customers:
          path: "/customers"
          description: "Customers."
          operations:
            list-customers:
              method: GET
              description: "List customers."
  exposes:
    - type: rest
      address: "127.0.0.1"
      port: 0
      namespace: bench
      resources:
{mapped}{scripted}{alone}"#
    )
}

fn main() {
    let seconds = arg("--seconds", 5);
    let connections = arg("--connections", 8) as usize;
    let up = upstream();
    let secrets = format!("crm-bearer-token: \"{TOKEN}\"\n");
    let host = start_declarative(
        &capability(&up.to_string()),
        &[
            ("secrets.yaml", &secrets),
            ("scripts/reshape.js", RESHAPE),
            ("scripts/one.js", "result = 1;\n"),
        ],
        &[],
    );
    let base = host.rest.clone();
    let targets = [
        ("call + JSONPath mapping", "/mapped"),
        ("call + script step", "/scripted"),
        ("script step alone", "/alone"),
    ];
    for (name, path) in &targets {
        let body = fetch(&format!("http://{base}{path}"));
        assert!(!body.contains("error"), "{name}: {body}");
    }
    println!("{}", machine_line());
    let rss_before = vm_rss_kib(host.pid());
    let metrics = format!("http://{}/metrics", host.control);
    for (label, conns) in [("1 connection", 1), ("connections", connections)] {
        println!("{label} ({conns}), {seconds}s per operation, 2 alternating rounds:");
        let mut runs: Vec<Vec<Run>> = targets.iter().map(|_| Vec::new()).collect();
        for (_, path) in &targets {
            load(&base, path, conns, Duration::from_secs(1));
        }
        let before = fetch(&metrics);
        for _ in 0..2 {
            for (i, (_, path)) in targets.iter().enumerate() {
                runs[i].push(load(&base, path, conns, Duration::from_secs(seconds)));
            }
        }
        let after = fetch(&metrics);
        let merged: Vec<Run> = runs.into_iter().map(merge).collect();
        for ((name, _), run) in targets.iter().zip(&merged) {
            report(name, run);
        }
        // Mean and count of a histogram over the rounds.
        let mean = |before: &str, after: &str, name: &str| {
            let (s0, n0) = metric_sum_count(before, name);
            let (s1, n1) = metric_sum_count(after, name);
            ((s1 - s0) / (n1 - n0).max(1.0), n1 - n0)
        };
        // The step histogram holds call steps too; the script-only figure comes from
        // the lines of kind "script".
        let script_lines = |text: &str| -> String {
            text.lines()
                .filter(|l| {
                    !l.starts_with("ikanos_step_duration_seconds") || l.contains("kind=\"script\"")
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let (step, steps) = mean(
            &script_lines(&before),
            &script_lines(&after),
            "ikanos_step_duration_seconds",
        );
        let (memory, _) = mean(&before, &after, "ikanos_script_memory_bytes");
        println!(
            "script step, the host's mean: {:.1} µs (of {steps:.0}); interpreter instance's largest linear memory, mean: {:.2} MiB",
            step * 1e6,
            memory / (1024.0 * 1024.0)
        );
        println!(
            "p50 added by the script step to the call: {:+.1} µs; requests/s with / without: {:.2}x",
            (merged[1].pct(0.5).as_secs_f64() - merged[0].pct(0.5).as_secs_f64()) * 1e6,
            merged[1].rps() / merged[0].rps()
        );
    }
    let rss_after = vm_rss_kib(host.pid());
    println!(
        "ikanos VmRSS: {:.1} MiB after start, {:.1} MiB after the runs",
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0
    );
}
