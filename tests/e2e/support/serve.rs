//! A real `ikanos serve` child process for the multi-tenant tests, and the capability
//! folders they serve.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::fixtures::{Capability, ConsumedOp, HttpConsumes};
use super::{field, get, output_of, shared_cache_dir, spawn_logged, Process};

/// A running `ikanos serve` (its `Process` methods through Deref).
pub struct Serve {
    process: Process,
    /// Base URL of the shared listener.
    pub shared: String,
    /// Base URL of the control port.
    pub control: String,
}

pub struct ServeBuilder {
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl ServeBuilder {
    /// Serve the capabilities of `dir`.
    pub fn new(dir: &Path) -> Self {
        ServeBuilder {
            args: vec!["--dir".into(), dir.display().to_string()],
            env: Vec::new(),
        }
    }

    /// Serve no folder: capabilities come from the arguments or configuration given.
    pub fn bare() -> Self {
        ServeBuilder {
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    /// A host configuration file with `text`, written beside (not inside) the folder.
    pub fn config(self, path: &Path, text: &str) -> Self {
        std::fs::write(path, text).expect("writing the host configuration");
        self.arg("--config").arg(path.display().to_string())
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ikanos"));
        cmd.arg("serve")
            .args(["--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"])
            .args(["--log-level", "info,guest=trace"])
            .arg("--cache-dir")
            .arg(shared_cache_dir())
            .args(&self.args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Start, and wait until the initial capabilities are loaded and the shared
    /// listener and control port listen.
    pub fn start(self) -> Serve {
        let mut process = spawn_logged(&mut self.command(), "ikanos serve");
        let (shared, control) = process.wait_for_start("ikanos serve", |lines| {
            let addr = |adapter: &str| {
                lines
                    .iter()
                    .find(|l| {
                        l.contains("listening") && l.contains(&format!("adapter=\"{adapter}\""))
                    })
                    .and_then(|l| field(l, "addr"))
            };
            Some((addr("shared")?, addr("control")?))
        });
        Serve {
            process,
            shared: format!("http://{shared}"),
            control: format!("http://{control}"),
        }
    }

    /// Run to completion (start-up failures): exit code and all output.
    pub fn run_to_exit(self) -> (i32, String) {
        output_of(&mut self.command(), "ikanos serve")
    }
}

impl Serve {
    /// `/status` as JSON.
    pub fn status(&self) -> serde_json::Value {
        let r = get(&format!("{}/status", self.control));
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    }

    /// One capability's entry in `/status` (None when absent).
    pub fn capability(&self, name: &str) -> Option<serde_json::Value> {
        self.status()["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
    }

    /// Poll `/status` until capability `name`'s entry satisfies `pred`.
    pub fn wait_for(
        &self,
        name: &str,
        what: &str,
        pred: impl Fn(Option<&serde_json::Value>) -> bool,
    ) -> Option<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let c = self.capability(name);
            if pred(c.as_ref()) {
                return c;
            }
            assert!(
                Instant::now() < deadline,
                "capability '{name}' never became {what}: {c:?}; output:\n{}",
                self.all_output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The URL of `path` of capability `name` on the shared listener.
    pub fn url(&self, name: &str, path: &str) -> String {
        format!("{}/{name}{path}", self.shared)
    }

    /// Base URL of capability `name`'s own port for its REST adapter `namespace`.
    pub fn own_url(&self, name: &str, namespace: &str) -> String {
        let c = self.capability(name).expect("capability present");
        let a = c["adapters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["namespace"] == namespace)
            .unwrap_or_else(|| panic!("no adapter {namespace}: {c}"));
        format!("http://{}", a["address"].as_str().expect("an own port"))
    }
}

impl std::ops::Deref for Serve {
    type Target = Process;
    fn deref(&self) -> &Process {
        &self.process
    }
}

impl std::ops::DerefMut for Serve {
    fn deref_mut(&mut self) -> &mut Process {
        &mut self.process
    }
}

/// A consumes entry `gate` with one operation `hold` (GET /hold) against `base`.
pub fn gate_consumes(base: &str) -> HttpConsumes {
    HttpConsumes {
        namespace: "gate".into(),
        description: "An upstream that answers when the test says so.".into(),
        base_uri: base.into(),
        tunnel: None,
        authentication: None,
        operations: vec![ConsumedOp::new("hold", "/hold", "hold", "GET", &[])],
    }
}

/// The hostile capability (display `display`) in its own folder `dir/name/`, with the
/// test CRM at `crm`, optionally the gate upstream, its component and its secrets
/// (`token` as the CRM bearer token).
pub fn hostile_folder(
    dir: &Path,
    name: &str,
    display: &str,
    crm: &str,
    gate: Option<&str>,
    token: &str,
) -> PathBuf {
    capability_folder(dir, name, token, &hostile_capability(display, crm, gate))
}

/// `capability` in its own folder `dir/name/` with the hostile component and its
/// secrets (`token` as the CRM bearer token); the file's path.
pub fn capability_folder(dir: &Path, name: &str, token: &str, capability: &Capability) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("secrets.yaml"),
        format!("crm-bearer-token: \"{token}\"\n"),
    )
    .unwrap();
    std::fs::copy(
        &super::components().hostile,
        folder.join(format!("{name}.wasm")),
    )
    .unwrap();
    let file = folder.join(format!("{name}.ikanos.yaml"));
    write_atomic(&file, &capability.render());
    file
}

/// The hostile capability, with the gate upstream at `gate` consumed too.
pub fn hostile_capability(display: &str, crm: &str, gate: Option<&str>) -> Capability {
    let capability = Capability::hostile(display, crm);
    match gate {
        Some(gate) => capability.consumes(gate_consumes(gate)),
        None => capability,
    }
}

/// The text of the hostile capability file.
pub fn hostile_text(display: &str, crm: &str, gate: Option<&str>) -> String {
    hostile_capability(display, crm, gate).render()
}

/// Replace a file the way editors and deploy tools do: a new file renamed over it.
pub fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}
