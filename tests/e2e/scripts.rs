//! Script steps (`type: script`, JavaScript) run by the real `ikanos` binary in its
//! built-in interpreter component: a call step's output shaped by a script with a
//! dependency and `with`, upstream's binding and result rules, hostile scripts
//! contained while a neighbour keeps answering, and the languages and files refused at
//! load with the step's place in the file.

use std::path::Path;

use crate::support::upstream::{Auth, Upstream};
use crate::support::*;

/// Scripts beside the capability file, under `scripts/`.
const SCRIPTS: &[(&str, &str)] = &[
    (
        "lib/strings.js",
        "function initials(name) { return name.split(' ').map(function (w) { return w[0]; }).join(''); }\n",
    ),
    (
        "initials.js",
        "var people = context['list'];\n\
         var out = [];\n\
         for (var i = 0; i < people.length; i++) {\n\
           out.push({ id: people[i].id, initials: context['prefix'] + initials(people[i].name) });\n\
         }\n\
         result = { count: out.length, people: out, half: 1.5, seen: Object.keys(context).sort() };\n",
    ),
    ("nothing.js", "var unused = 1;\n"),
    ("null.js", "result = null;\n"),
    ("throws.js", "throw new TypeError('no ships today');\n"),
    ("syntax.js", "result = {;\n"),
    ("loop.js", "while (true) {}\n"),
    (
        "memory.js",
        "var hoard = [];\nwhile (true) { hoard.push(new ArrayBuffer(4 * 1024 * 1024)); }\n",
    ),
    ("recursion.js", "function down(n) { return down(n + 1) + 1; }\nresult = down(0);\n"),
    ("huge.js", "result = 'x'.repeat(2 * 1024 * 1024);\n"),
    (
        "escape.js",
        "var seen = {};\n\
         ['fetch', 'require', 'process', 'Deno', 'XMLHttpRequest', 'WebSocket', 'importScripts', 'Java', 'Polyglot', 'load', 'readFile', 'os', 'std']\n\
           .forEach(function (name) { seen[name] = typeof globalThis[name]; });\n\
         result = { globals: seen, dynamicImport: 'pending' };\n\
         import('fs').then(function () { result.dynamicImport = 'loaded'; },\n\
                           function () { result.dynamicImport = 'refused'; });\n",
    ),
];

/// A REST operation `name` at `/name` whose only step (after listing customers when
/// `with_call`) is script `file`.
fn operation(name: &str, file: &str, with_call: bool) -> String {
    let call = if with_call {
        "                list:\n                  type: call\n                  call: crm.list-customers\n"
    } else {
        ""
    };
    format!(
        r#"        {name}:
          path: "/{name}"
          description: "Runs {file}."
          inputParameters:
            prefix:
              in: query
              type: string
              description: "Put before each initial."
          operations:
            run-{name}:
              method: GET
              description: "Runs {file}."
              steps:
{call}                shape:
                  type: script
                  language: javascript
                  location: "file:///./scripts"
                  file: {file}
                  dependencies: [lib/strings.js]
                  with:
                    prefix: "{{{{prefix}}}}:"
                    fixed: 7
              mappings:
                - target: shaped
                  value: "$.shape"
"#
    )
}

fn capability(upstream: &str) -> String {
    let mut text = format!(
        r#"ikanos: "1.0.0-beta5"
info:
  display: "Script steps"
  description: "Script steps shaping a consumed call."
capability:
  consumes:
    - type: http
      namespace: crm
      description: "The CRM."
      baseUri: "{upstream}"
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
      namespace: scripts
      resources:
"#
    );
    text.push_str(&operation("initials", "initials.js", true));
    for (name, file) in [
        ("nothing", "nothing.js"),
        ("null", "null.js"),
        ("throws", "throws.js"),
        ("syntax", "syntax.js"),
        ("loop", "loop.js"),
        ("memory", "memory.js"),
        ("recursion", "recursion.js"),
        ("huge", "huge.js"),
        ("escape", "escape.js"),
    ] {
        text.push_str(&operation(name, file, false));
    }
    text
}

fn write_scripts(dir: &Path) {
    for (name, text) in SCRIPTS {
        let path = dir.join("scripts").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

struct Rig {
    _upstream: Upstream,
    host: Host,
    base: String,
    _dir: tempfile::TempDir,
}

fn rig() -> Rig {
    let upstream = Upstream::start(Auth::default());
    let dir = tempfile::tempdir().unwrap();
    write_scripts(dir.path());
    let file = write(
        dir.path(),
        "scripts.ikanos.yaml",
        &capability(&upstream.base()),
    );
    let host = HostBuilder::new(&file)
        .arg("--cpu-limit")
        .arg("500ms")
        .arg("--memory-limit-mib")
        .arg("64")
        .arg("--max-response-body")
        .arg("1048576")
        .start(1);
    let base = host.rest_url("scripts");
    Rig {
        _upstream: upstream,
        host,
        base,
        _dir: dir,
    }
}

fn error_text(r: &Resp) -> String {
    r.json()["error"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_script_shapes_a_call_steps_output_with_its_dependency_and_with() {
    let rig = rig();
    let r = get(&format!("{}/initials?prefix=crm", rig.base));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        serde_json::json!({"shaped": {
            "count": 3,
            "people": [
                {"id": "1", "initials": "crm:AL"},
                {"id": "2", "initials": "crm:GH"},
                {"id": "3", "initials": "crm:AT"},
            ],
            // A fraction stays a number with a fraction; whole numbers are integers.
            "half": 1.5,
            // The runtime parameters (the input), every earlier step's output, then `with`.
            "seen": ["fixed", "list", "prefix"],
        }})
    );

    // No `result`: the step stores nothing, and the mapping has nothing to map (upstream
    // then answers the last call's response; with no call, "Unable to handle").
    let r = get(&format!("{}/nothing", rig.base));
    assert_eq!(r.status, 404, "{}", r.body);
    // `result = null` is a result: JSON null, stored and mapped.
    let r = get(&format!("{}/null", rig.base));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), serde_json::json!({"shaped": null}));

    let metrics = get(&format!("{}/metrics", rig.host.control_url())).body;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("ikanos_script_runs_total{")
                && l.contains("step=\"shape\"")
                && l.contains("outcome=\"ok\"")),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("ikanos_step_duration_seconds_count{")
                && l.contains("kind=\"script\"")),
        "{metrics}"
    );
}

#[test]
fn a_script_that_throws_or_does_not_parse_fails_its_request_with_the_message() {
    let rig = rig();
    let r = get(&format!("{}/throws", rig.base));
    assert_eq!(r.status, 500, "{}", r.body);
    let text = error_text(&r);
    assert!(
        text.contains("Script step 'shape' failed") && text.contains("TypeError: no ships today"),
        "{text}"
    );
    let r = get(&format!("{}/syntax", rig.base));
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(error_text(&r).contains("SyntaxError"), "{}", r.body);
}

/// Hostile scripts are stopped at the request's limits with a clear error and a
/// metric; a neighbour on the same host keeps being answered while one spins.
#[test]
fn hostile_scripts_are_contained_and_neighbours_keep_answering() {
    let rig = rig();
    let spinning = std::thread::spawn({
        let base = rig.base.clone();
        move || get(&format!("{base}/loop"))
    });
    for _ in 0..5 {
        let r = get(&format!("{}/initials?prefix=n", rig.base));
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let spun = spinning.join().unwrap();
    assert_eq!(spun.status, 504, "{}", spun.body);
    assert!(
        error_text(&spun).contains("CPU time limit"),
        "{}",
        spun.body
    );

    let r = get(&format!("{}/memory", rig.base));
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(
        error_text(&r).contains("memory limit of 64 MiB"),
        "{}",
        r.body
    );

    // Boa's own recursion limit throws a RangeError before the wasm stack runs out.
    let r = get(&format!("{}/recursion", rig.base));
    assert_eq!(r.status, 500, "{}", r.body);
    let text = error_text(&r);
    assert!(text.contains("Script step 'shape'"), "{text}");

    // A result larger than a response may be (1 MiB here) is refused.
    let r = get(&format!("{}/huge", rig.base));
    assert_eq!(r.status, 500, "{}", r.body);
    let text = error_text(&r);
    assert!(
        text.contains("exceeds the limit of 1048576 bytes"),
        "{text}"
    );

    // Nothing reaches out: no network, file, process or module globals, no dynamic import.
    let r = get(&format!("{}/escape", rig.base));
    assert_eq!(r.status, 200, "{}", r.body);
    let shaped = &r.json()["shaped"];
    for (name, kind) in shaped["globals"].as_object().unwrap() {
        assert_eq!(kind, "undefined", "global {name} is reachable: {shaped}");
    }
    assert_eq!(shaped["dynamicImport"], "refused", "{shaped}");

    let r = get(&format!("{}/initials?prefix=after", rig.base));
    assert_eq!(r.status, 200, "{}", r.body);

    let metrics = get(&format!("{}/metrics", rig.host.control_url())).body;
    for outcome in ["cpu_limit", "memory_limit", "output_too_large"] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("ikanos_script_runs_total{")
                    && l.contains(&format!("outcome=\"{outcome}\""))
                    && !l.ends_with(" 0")),
            "no {outcome} in {metrics}"
        );
    }
}

/// What this host cannot run is refused when the capability loads, naming the file,
/// the line and column of the operation, the step and why.
#[test]
fn languages_and_files_that_cannot_run_are_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    write_scripts(dir.path());
    let cases: &[(&str, &str, &str)] = &[
        (
            "language: python",
            "file: initials.js",
            "Python script steps are not run by this host",
        ),
        (
            "language: groovy",
            "file: initials.js",
            "Groovy is not supported by this host",
        ),
        (
            "language: javascript",
            "file: missing.js",
            "cannot read 'missing.js'",
        ),
        (
            "language: javascript",
            "file: ../scripts.ikanos.yaml",
            "leaves the script location",
        ),
    ];
    for (language, file, expected) in cases {
        let text = capability("http://127.0.0.1:9")
            .replace("language: javascript", language)
            .replacen("file: initials.js", file, 1);
        let path = write(dir.path(), "scripts.ikanos.yaml", &text);
        let (code, output) = HostBuilder::new(&path).run_to_exit();
        assert_ne!(code, 0, "{output}");
        assert!(output.contains(expected), "{language} {file}: {output}");
        assert!(
            output.contains("scripts.ikanos.yaml:") && output.contains("script step 'shape'"),
            "{output}"
        );
    }
}
