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
    ("forever.js", "while (true) {}\n"),
    // Under the statement limit in every call frame (boa counts loop iterations per
    // function call), 8.1 billion iterations in all: only the CPU limit stops it.
    (
        "loop.js",
        "function inner() { for (var j = 0; j < 90000; j++) {} }\nfor (var i = 0; i < 90000; i++) { inner(); }\n",
    ),
    (
        "memory.js",
        "var hoard = [];\nwhile (true) { hoard.push(new ArrayBuffer(4 * 1024 * 1024)); }\n",
    ),
    ("recursion.js", "function down(n) { return down(n + 1) + 1; }\nresult = down(0);\n"),
    // 2 MiB without a loop: 21 doublings.
    (
        "huge.js",
        "var s = 'x';\ns += s; s += s; s += s; s += s; s += s; s += s; s += s;\ns += s; s += s; s += s; s += s; s += s; s += s; s += s;\ns += s; s += s; s += s; s += s; s += s; s += s; s += s;\nresult = s;\n",
    ),
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
        ("forever", "forever.js"),
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

    // A loop that never ends meets upstream's default statement limit first.
    let r = get(&format!("{}/forever", rig.base));
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(
        error_text(&r).contains("exceeded the statement limit (100000"),
        "{}",
        r.body
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
    assert!(text.contains("over the limit of 1048576 bytes"), "{text}");

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
    for outcome in [
        "cpu_limit",
        "statement_limit",
        "memory_limit",
        "output_too_large",
    ] {
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
        // `validate` says the same, at the operation's line and column.
        let (code, out, _) = run_cli(&["validate", path.to_str().unwrap()]);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.lines().any(|l| l.contains("scripts.ikanos.yaml:")
                && l.contains(expected)
                && l.split(':')
                    .nth(1)
                    .is_some_and(|n| n.parse::<u32>().is_ok())),
            "{language} {file}: {out}"
        );
    }
}

/// A capability whose control entry (behind a bearer token) declares
/// `management.scripting`: `settings` are its keys (YAML at their indentation). Its
/// script steps name neither language nor location, so the defaults apply.
fn governed(dir: &Path, settings: &str) -> std::path::PathBuf {
    fixtures::secrets(dir);
    write_scripts(dir);
    std::fs::write(
        dir.join("scripts/count.js"),
        "var n = 0;\nfor (var i = 0; i < Number(context['times']); i++) { n++; }\nresult = n;\n",
    )
    .unwrap();
    let op = |name: &str, file: &str| {
        format!(
            r#"        {name}:
          path: "/{name}"
          description: "Runs {file}."
          inputParameters:
            times:
              in: query
              type: string
              description: "How many."
          operations:
            run-{name}:
              method: GET
              description: "Runs {file}."
              steps:
                shape:
                  type: script
                  file: {file}
              mappings:
                - target: shaped
                  value: "$.shape"
"#
        )
    };
    let text = format!(
        r#"ikanos: "1.0.0-beta5"
info:
  display: "Governed scripts"
  description: "Script steps under the control port's governance."
binds:
  - namespace: secrets
    description: "The test token."
    location: "{location}"
    keys:
      CRM_TOKEN: "crm-bearer-token"
capability:
  exposes:
    - type: control
      address: "127.0.0.1"
      port: 0
      authentication:
        type: bearer
        token: "{{{{secrets.CRM_TOKEN}}}}"
      management:
        scripting:
{settings}    - type: rest
      address: "127.0.0.1"
      port: 0
      namespace: governed
      resources:
{count}{spin}"#,
        location = fixtures::SECRETS_LOCATION,
        count = op("count", "count.js"),
        spin = op("spin", "loop.js"),
    );
    write(dir, "governed.ikanos.yaml", &text)
}

/// `/scripting` shows and changes the governance, behind the control port's
/// authentication, with upstream's shape and checks; each setting is enforced on the
/// next script step: the statement limit (loop iterations here), the timeout, the
/// allowed languages and the switch.
#[test]
fn the_control_port_governs_script_steps() {
    let dir = tempfile::tempdir().unwrap();
    let file = governed(
        dir.path(),
        "          defaultLocation: \"file:///./scripts\"\n          defaultLanguage: javascript\n          timeout: 5000\n          statementLimit: 1000\n          allowedLanguages: [javascript]\n",
    );
    let host = HostBuilder::new(&file)
        .arg("--cpu-limit")
        .arg("2s")
        .start(1);
    let base = host.rest_url("governed");
    let scripting = format!("{}/scripting", host.control_url());
    let auth = [("authorization", format!("Bearer {}", fixtures::TOKEN))];
    let auth: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let put = |body: &str| {
        send(
            "PUT",
            &scripting,
            &[auth[0], ("content-type", "application/json")],
            body,
        )
    };

    // The defaults give the steps their language and folder.
    let r = get(&format!("{base}/count?times=10"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), serde_json::json!({"shaped": 10}));

    assert_eq!(get(&scripting).status, 401);
    assert_eq!(put(r#"{"enabled": false}"#).status, 200);
    assert_eq!(
        send("PUT", &scripting, &[], r#"{"enabled": false}"#).status,
        401
    );
    assert_eq!(put(r#"{"enabled": true}"#).status, 200);
    let shown = get_with(&scripting, &auth);
    assert_eq!(shown.status, 200, "{}", shown.body);
    let v = shown.json();
    assert_eq!(v["enabled"], true, "{v}");
    assert_eq!(v["defaultLocation"], "file:///./scripts", "{v}");
    assert_eq!(v["defaultLanguage"], "javascript", "{v}");
    assert_eq!(v["timeout"], 5000, "{v}");
    assert_eq!(v["statementLimit"], 1000, "{v}");
    assert_eq!(
        v["allowedLanguages"],
        serde_json::json!(["javascript"]),
        "{v}"
    );
    assert_eq!(v["stats"]["totalExecutions"], 1, "{v}");
    assert_eq!(v["stats"]["totalErrors"], 0, "{v}");
    assert!(v["stats"]["lastExecutionAt"].is_string(), "{v}");

    // statementLimit: 1,000 iterations pass, 5,000 do not, until the limit is raised.
    let r = get(&format!("{base}/count?times=5000"));
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(
        error_text(&r).contains("Script step 'shape' exceeded the statement limit (1000"),
        "{}",
        r.body
    );
    assert_eq!(put(r#"{"statementLimit": 100000}"#).status, 200);
    assert_eq!(
        get(&format!("{base}/count?times=5000")).json()["shaped"],
        5000
    );

    // timeout: a spinning script is stopped at the governance's wall time, before the
    // request's CPU limit (2 s).
    assert_eq!(
        put(r#"{"timeout": 200, "statementLimit": 1000000000000}"#).status,
        200
    );
    let r = get(&format!("{base}/spin"));
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(
        error_text(&r).contains("Script step 'shape' exceeded the timeout limit (200 ms)"),
        "{}",
        r.body
    );

    // allowedLanguages and enabled, checked when the step runs.
    assert_eq!(put(r#"{"allowedLanguages": ["python"]}"#).status, 200);
    let r = get(&format!("{base}/count?times=1"));
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(
        error_text(&r)
            .contains("uses language 'javascript' which is not in the allowed languages: [python]"),
        "{}",
        r.body
    );
    assert_eq!(
        put(r#"{"allowedLanguages": ["javascript"], "enabled": false}"#).status,
        200
    );
    let r = get(&format!("{base}/count?times=1"));
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(
        error_text(&r).contains(
            "Scripting is disabled via management.scripting.enabled=false on the control adapter"
        ),
        "{}",
        r.body
    );

    // Refused updates change nothing.
    for (body, why) in [
        (
            r#"{"timeout": 0}"#,
            "'timeout' must be an integer greater than or equal to 1",
        ),
        (
            r#"{"statementLimit": "many"}"#,
            "'statementLimit' must be an integer",
        ),
        (
            r#"{"allowedLanguages": ["cobol"]}"#,
            "Unsupported language 'cobol'",
        ),
        (
            r#"{"defaultLocation": "file:///tmp"}"#,
            "applied when the capability loads",
        ),
        (r#"{"enabled": true, "timeout": -1}"#, "'timeout' must be"),
        ("not json", "not JSON"),
    ] {
        let r = put(body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(r.body.contains(why), "{body}: {}", r.body);
    }
    let v = get_with(&scripting, &auth).json();
    assert_eq!(
        (v["enabled"].clone(), v["timeout"].clone()),
        (false.into(), 200.into()),
        "{v}"
    );
    assert!(v["stats"]["totalErrors"].as_u64().unwrap() >= 4, "{v}");

    let metrics = get_with(&format!("{}/metrics", host.control_url()), &auth).body;
    for outcome in ["statement_limit", "timeout", "refused"] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("ikanos_script_runs_total{")
                    && l.contains(&format!("outcome=\"{outcome}\""))),
            "no {outcome} in {metrics}"
        );
    }
}

/// `enabled: false` in the file refuses a capability with script steps at load, with
/// upstream's message; a file without `management.scripting` has no `/scripting`.
#[test]
fn scripting_disabled_in_the_file_refuses_script_steps_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let file = governed(
        dir.path(),
        "          enabled: false\n          defaultLocation: \"file:///./scripts\"\n          defaultLanguage: javascript\n",
    );
    let (code, output) = HostBuilder::new(&file).run_to_exit();
    assert_ne!(code, 0, "{output}");
    assert!(
        output.contains("Script step 'shape' requires scripting support. Scripting is disabled via management.scripting.enabled=false on the control adapter."),
        "{output}"
    );
    assert!(output.contains("governed.ikanos.yaml:"), "{output}");

    let rig = rig();
    let r = get(&format!("{}/scripting", rig.host.control_url()));
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body.contains("Scripting is not configured"), "{}", r.body);
}

/// A script step's keys are upstream's: a misspelt one stops the load at its line and
/// column (it would otherwise leave a dependency out unseen), in `run` and `validate`.
#[test]
fn an_unknown_key_in_a_script_step_is_refused_at_its_position() {
    let dir = tempfile::tempdir().unwrap();
    write_scripts(dir.path());
    let text = capability("http://127.0.0.1:9").replacen(
        "dependencies: [lib/strings.js]",
        "dependecies: [lib/strings.js]",
        1,
    );
    let path = write(dir.path(), "scripts.ikanos.yaml", &text);
    let line = text
        .lines()
        .position(|l| l.contains("dependecies"))
        .unwrap()
        + 1;
    // validate first: were the key accepted, `run` would go on serving.
    let (code, out, _) = run_cli(&["validate", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    let (code, output) = HostBuilder::new(&path).run_to_exit();
    assert_ne!(code, 0, "{output}");
    for text in [output, out] {
        assert!(
            text.contains(&format!("scripts.ikanos.yaml:{line}:"))
                && text.contains("unknown key 'dependecies'")
                && text.contains("did you mean 'dependencies'"),
            "{text}"
        );
    }
}
