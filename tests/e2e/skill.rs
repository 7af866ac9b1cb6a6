//! Skill adapters (`exposes` entries of `type: skill`), end to end: the catalogue,
//! details, folder listings, files and ZIP downloads upstream's `SkillServerAdapter`
//! serves, under `ikanos run` and on `ikanos serve`'s shared listener; and hostile
//! requests — path traversal (plain, percent-encoded, through a symbolic link), other
//! methods, a rebinding Host, missing credentials — and folders outside the
//! capability's folder in `ikanos serve`.

use std::io::{Read, Write};
use std::path::Path;

use crate::support::serve::ServeBuilder;
use crate::support::*;

/// The capability: a REST adapter (one `call` operation, so no component is needed)
/// and a skill adapter with a folder skill and a descriptive one. `skill_auth` is an
/// `authentication` block for the skill adapter (indented for it), `location` the
/// folder skill's location.
pub(crate) fn capability(location: &str, skill_auth: &str) -> String {
    format!(
        r#"ikanos: "1.0.0-beta5"
info:
  display: "Skills"
capability:
  exposes:
  - type: rest
    namespace: ships-rest
    port: 0
    resources:
      ships:
        path: /ships
        operations:
          list-ships:
            method: GET
            call: registry.list-ships
  - type: skill
    namespace: ship-skills
    port: 0
    description: "Ship skills"
{skill_auth}    skills:
      fleet-ops:
        description: "Fleet management"
        license: Apache-2.0
        allowed-tools: "list-ships"
        argument-hint: "a ship"
        user-invocable: true
        metadata:
          author: test
        location: "{location}"
        tools:
          list-ships:
            description: "List ships"
            from:
              sourceNamespace: ships-rest
              action: list-ships
          guide:
            description: "How to plan"
            instruction: guide.md
      onboarding:
        description: "Descriptive only"
  consumes:
  - type: http
    namespace: registry
    baseUri: "http://127.0.0.1:9/api"
    resources:
      ships:
        path: ships
        operations:
          list-ships:
            method: GET
"#
    )
}

/// The skill's folder `dir/skills/fleet-ops` with three files, and a secret beside
/// the capability that a symbolic link in the folder points at.
pub(crate) fn skill_folder(dir: &Path) {
    let skill = dir.join("skills/fleet-ops");
    std::fs::create_dir_all(skill.join("docs")).unwrap();
    std::fs::write(skill.join("SKILL.md"), "# Fleet ops\n").unwrap();
    std::fs::write(skill.join("guide.md"), "Plan the voyage.\n").unwrap();
    std::fs::write(skill.join("docs/usage.md"), "usage\n").unwrap();
    std::fs::write(dir.join("secret.txt"), "top secret\n").unwrap();
    std::os::unix::fs::symlink(dir.join("secret.txt"), skill.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(dir, skill.join("up")).unwrap();
}

fn start(dir: &Path, skill_auth: &str) -> (Host, String) {
    skill_folder(dir);
    let file = write(
        dir,
        "skills.ikanos.yaml",
        &capability("file:///./skills/fleet-ops", skill_auth),
    );
    let host = HostBuilder::new(&file).start(1);
    let addr = host
        .adapter_addr("skill", "ship-skills")
        .expect("the skill adapter listens");
    (host, addr)
}

/// A raw HTTP/1.1 GET, so that the path reaches the host exactly as written (`..`
/// included): status and body.
fn raw_get(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    (status, body)
}

#[test]
fn skills_are_catalogued_detailed_listed_read_and_downloaded() {
    let dir = tempfile::tempdir().unwrap();
    let (host, addr) = start(dir.path(), "");
    let base = format!("http://{addr}");

    let catalog = get(&format!("{base}/skills"));
    assert_eq!(catalog.status, 200, "{}", catalog.body);
    let v = catalog.json();
    assert_eq!(v["count"], 2);
    assert_eq!(v["skills"][0]["name"], "fleet-ops");
    assert_eq!(v["skills"][0]["license"], "Apache-2.0");
    assert_eq!(
        v["skills"][0]["tools"],
        serde_json::json!(["list-ships", "guide"])
    );
    assert_eq!(v["skills"][1]["name"], "onboarding");
    assert_eq!(v["skills"][1]["tools"], serde_json::json!([]));
    assert!(v["skills"][1].get("license").is_none());

    let detail = get(&format!("{base}/skills/fleet-ops")).json();
    assert_eq!(detail["description"], "Fleet management");
    assert_eq!(detail["allowed-tools"], "list-ships");
    assert_eq!(detail["argument-hint"], "a ship");
    assert_eq!(detail["user-invocable"], true);
    assert_eq!(detail["metadata"]["author"], "test");
    assert_eq!(detail["tools"][0]["type"], "derived");
    assert_eq!(
        detail["tools"][0]["invocationRef"],
        serde_json::json!({"targetNamespace": "ships-rest", "action": "list-ships", "mode": "rest"})
    );
    assert_eq!(detail["tools"][1]["type"], "instruction");
    assert_eq!(detail["tools"][1]["instruction"], "guide.md");

    let contents = get(&format!("{base}/skills/fleet-ops/contents")).json();
    assert_eq!(contents["name"], "fleet-ops");
    let paths: Vec<&str> = contents["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["SKILL.md", "docs/usage.md", "guide.md"],
        "links are not listed"
    );
    assert_eq!(contents["files"][0]["size"], 12);
    assert_eq!(contents["files"][0]["type"], "text/markdown");

    let file = get(&format!("{base}/skills/fleet-ops/contents/docs/usage.md"));
    assert_eq!((file.status, file.body.as_str()), (200, "usage\n"));
    assert_eq!(file.header("content-type"), Some("text/markdown"));

    // The download is a ZIP that a stock unzip tool reads back.
    let zip_path = dir.path().join("download.zip");
    let mut resp = ureq::get(&format!("{base}/skills/fleet-ops/download"))
        .call()
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/zip");
    std::fs::write(&zip_path, resp.body_mut().read_to_vec().unwrap()).unwrap();
    let (code, listing) = output_of(
        std::process::Command::new("python3").args([
            "-c",
            "import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(sorted((n, z.read(n).decode()) for n in z.namelist()))",
            zip_path.to_str().unwrap(),
        ]),
        "python3 zipfile",
    );
    assert_eq!(code, 0, "{listing}");
    assert_eq!(
        listing.trim(),
        "[('SKILL.md', '# Fleet ops\\n'), ('docs/usage.md', 'usage\\n'), ('guide.md', 'Plan the voyage.\\n')]"
    );

    for (path, status, error) in [
        ("/skills/nope", 404, "skill not found: nope"),
        ("/skills/nope/contents", 404, "skill not found: nope"),
        (
            "/skills/onboarding/contents",
            404,
            "no location configured for skill: onboarding",
        ),
        (
            "/skills/onboarding/download",
            404,
            "no location configured for skill: onboarding",
        ),
        (
            "/skills/fleet-ops/contents/missing.md",
            404,
            "file not found: missing.md",
        ),
        (
            "/skills/fleet-ops/contents/docs",
            404,
            "file not found: docs",
        ),
        ("/other", 404, "no skill endpoint at /other; see /skills"),
    ] {
        let r = get(&format!("{base}{path}"));
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (status, Some(error)),
            "{path}"
        );
    }

    let ready = get(&format!("{}/health/ready", host.control_url())).json();
    let skill = ready["adapters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "skill")
        .cloned()
        .unwrap();
    assert_eq!(skill["namespace"], "ship-skills");
    assert_eq!(skill["state"], "listening");
    let metrics = get(&format!("{}/metrics", host.control_url())).body;
    assert!(
        metrics.contains("ikanos_adapter_type=\"skill\",ikanos_operation_id=\"catalog\""),
        "{metrics}"
    );
}

#[test]
fn skill_files_stay_inside_their_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (_host, addr) = start(dir.path(), "");
    for path in [
        "/skills/fleet-ops/contents/../../secret.txt",
        "/skills/fleet-ops/contents/%2e%2e/%2e%2e/secret.txt",
        "/skills/fleet-ops/contents/..%2F..%2Fsecret.txt",
        "/skills/fleet-ops/contents/docs/..%5C..%5Csecret.txt",
        "/skills/fleet-ops/contents/./guide.md",
    ] {
        let (status, body) = raw_get(&addr, path, &[]);
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("unsafe path segment"), "{path}: {body}");
        assert!(!body.contains("top secret"), "{path}: {body}");
    }
    // Symbolic links that lead out of the folder, to a file or through a folder.
    for path in [
        "/skills/fleet-ops/contents/link.txt",
        "/skills/fleet-ops/contents/up/secret.txt",
    ] {
        let (status, body) = raw_get(&addr, path, &[]);
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body.contains("resolves outside the skill's folder"),
            "{path}: {body}"
        );
    }
    // Read-only, and only for loopback names on a loopback listener.
    let r = send(
        "DELETE",
        &format!("http://{addr}/skills/fleet-ops"),
        &[],
        "",
    );
    assert_eq!((r.status, r.header("allow")), (405, Some("GET")));
    let (status, _) = raw_get(&addr, "/skills", &[("Origin", "http://evil.example")]);
    assert_eq!(status, 403);
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET /skills HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
}

#[test]
fn a_skill_adapter_checks_its_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let auth = "    authentication:\n      type: bearer\n      token: \"skill-token\"\n";
    let (_host, addr) = start(dir.path(), auth);
    let r = get(&format!("http://{addr}/skills"));
    assert_eq!(
        (r.status, r.header("www-authenticate")),
        (401, Some("Bearer"))
    );
    let r = get_with(
        &format!("http://{addr}/skills/fleet-ops/contents/guide.md"),
        &[("authorization", "Bearer wrong")],
    );
    assert_eq!(r.status, 401);
    let r = get_with(
        &format!("http://{addr}/skills/fleet-ops/contents/guide.md"),
        &[("authorization", "Bearer skill-token")],
    );
    assert_eq!((r.status, r.body.as_str()), (200, "Plan the voyage.\n"));
}

#[test]
fn skill_entries_are_checked_at_load_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let text = capability("file:///./skills/fleet-ops", "")
        .replace("        license: Apache-2.0\n", "        licence: Apache-2.0\n")
        .replace("              sourceNamespace: ships-rest\n", "              sourceNamespace: ships\n")
        .replace(
            "            instruction: guide.md\n",
            "            instruction: ../../etc/passwd\n",
        )
        .replace(
            "      onboarding:\n        description: \"Descriptive only\"\n",
            "      onboarding:\n        description: \"Descriptive only\"\n        tools:\n          both:\n            description: x\n            instruction: a.md\n            from:\n              sourceNamespace: ships-rest\n              action: list-ships\n",
        );
    let file = write(dir.path(), "bad.ikanos.yaml", &text);
    let (code, out, err) = run_cli(&["validate", file.to_str().unwrap()]);
    let all = format!("{out}{err}");
    assert_eq!(code, 1, "{all}");
    for needle in [
        "bad.ikanos.yaml:23:9: unknown key 'licence' in capability.exposes[1].skills.fleet-ops (did you mean 'license'?)",
        "bad.ikanos.yaml:34:32: capability.exposes[1].skills.fleet-ops.tools.list-ships.from.sourceNamespace: no rest or mcp exposes entry 'ships' (declared: ships-rest)",
        "bad.ikanos.yaml:38:26: capability.exposes[1].skills.fleet-ops.tools.guide.instruction: '../../etc/passwd' must be a relative path inside the skill's folder",
        "capability.exposes[1].skills.onboarding.tools.both: 'from' and 'instruction' are alternatives; keep only one",
    ] {
        assert!(all.contains(needle), "missing `{needle}` in:\n{all}");
    }
    let text = capability("file:///./skills/fleet-ops", "").replace(
        "              action: list-ships\n",
        "              action: list-shipz\n",
    );
    let file = write(dir.path(), "action.ikanos.yaml", &text);
    let (code, out, err) = run_cli(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        format!("{out}{err}").contains("action.ikanos.yaml:35:23: capability.exposes[1].skills.fleet-ops.tools.list-ships.from.action: rest entry 'ships-rest' has no operation 'list-shipz' (did you mean 'list-ships'?)"),
        "{out}{err}"
    );
}

#[test]
fn serve_routes_skills_and_confines_their_folders_to_the_capability() {
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps");
    let inside = caps.join("fleet");
    std::fs::create_dir_all(&inside).unwrap();
    skill_folder(&inside);
    write(
        &inside,
        "fleet.ikanos.yaml",
        &capability("file:///./skills/fleet-ops", ""),
    );
    // A neighbour whose skill folder is another folder of the host.
    let outside = caps.join("nosy");
    std::fs::create_dir_all(&outside).unwrap();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    write(
        &outside,
        "nosy.ikanos.yaml",
        &capability(&format!("file://{}", elsewhere.display()), "")
            .replace("ships-rest", "nosy-rest")
            .replace("ship-skills", "nosy-skills"),
    );
    let serve = ServeBuilder::new(&caps).start();
    serve.wait_for("fleet", "ready", |c| {
        c.is_some_and(|c| c["state"] == "ready")
    });
    let catalog = get(&serve.url("fleet", "/skills"));
    assert_eq!(catalog.status, 200, "{}", catalog.body);
    assert_eq!(catalog.json()["count"], 2);
    let file = get(&serve.url("fleet", "/skills/fleet-ops/contents/guide.md"));
    assert_eq!(
        (file.status, file.body.as_str()),
        (200, "Plan the voyage.\n")
    );
    let (status, body) = raw_get(
        serve.shared.trim_start_matches("http://"),
        "/fleet/skills/fleet-ops/contents/link.txt",
        &[],
    );
    assert_eq!(status, 400, "{body}");
    // The REST adapter still answers its own paths: the declarative engine runs the
    // operation, whose consumed API is not reachable in this test.
    assert_eq!(get(&serve.url("fleet", "/ships")).status, 502);

    let nosy = serve
        .wait_for("nosy", "failed", |c| {
            c.is_some_and(|c| c["state"] == "failed")
        })
        .unwrap();
    let error = nosy["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("nosy.ikanos.yaml:")
            && error.contains("the folder of skill 'fleet-ops' is outside the capability's folder"),
        "{nosy}"
    );
}
