//! Runs the real OpenZiti C SDK (libziti 0.29.3, shipped in the PyPI wheel
//! `openziti==0.6.0`, which scripts/setup installs) as child processes through the
//! ctypes scripts in `tests/ziti/`: `libziti_host.py` (Bind/Listen/Accept, relaying to a
//! loopback server) and `libziti_dial.py` (Connect + HTTP GET). A test can kill them.
//!
//! Owns process handling only. A missing library is a failure, not a skip: the test
//! network's fidelity rests on it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where scripts/setup puts the wheel: `$IKANOS_TOOLS_DIR` or `~/.cache/ikanos`.
pub fn wheel_dir() -> PathBuf {
    let base = std::env::var_os("IKANOS_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".cache/ikanos")
        });
    base.join("openziti-0.6.0")
}

/// The path of libziti.so (`$IKANOS_LIBZITI` overrides); panics with what to run
/// when it is not there.
pub fn libziti_path() -> PathBuf {
    let path = std::env::var_os("IKANOS_LIBZITI")
        .map(PathBuf::from)
        .unwrap_or_else(|| wheel_dir().join("openziti/lib/libziti.so"));
    assert!(
        path.is_file(),
        "libziti.so (the real OpenZiti C SDK 0.29.3, from the PyPI wheel openziti==0.6.0) is not at {}; \
         run scripts/setup, which installs it there (or set IKANOS_LIBZITI)",
        path.display()
    );
    path
}

fn script(name: &str) -> PathBuf {
    super::super::repo_root().join("tests/ziti").join(name)
}

/// A running libziti script; killed when dropped.
pub struct LibZitiProcess {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    what: String,
}

impl LibZitiProcess {
    fn spawn(script_name: &str, args: &[&str]) -> LibZitiProcess {
        let lib = libziti_path();
        let mut cmd = Command::new("python3");
        cmd.arg("-u")
            .arg(script(script_name))
            .arg(&lib)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // libziti's own log (stderr) at INFO unless the caller asked for more.
        if std::env::var_os("ZITI_LOG").is_none() {
            cmd.env("ZITI_LOG", "3");
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting python3 {script_name}: {e}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        for (stream, tag) in [
            (
                Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
                "",
            ),
            (Box::new(child.stderr.take().unwrap()), "stderr: "),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push(format!("{tag}{line}"));
                }
            });
        }
        LibZitiProcess {
            child,
            lines,
            what: format!("{script_name} {}", args.join(" ")),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it printed so far (stderr lines prefixed `stderr: `).
    pub fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Stdout lines so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| !l.starts_with("stderr: "))
            .cloned()
            .collect()
    }

    /// Wait for a stdout line starting with `prefix`; panic on `ERROR`, on exit or
    /// after `within`.
    pub fn wait_for(&mut self, prefix: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let lines = self.stdout_lines();
            if let Some(l) = lines.iter().find(|l| l.starts_with(prefix)) {
                return l.clone();
            }
            if let Some(l) = lines.iter().find(|l| l.starts_with("ERROR")) {
                panic!("{} failed: {l}\noutput:\n{}", self.what, self.output());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "{} exited ({status}) before printing {prefix}; output:\n{}",
                    self.what,
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not print {prefix} in time; output:\n{}",
                self.what,
                self.output()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Wait for it to exit (killing it after `within`): exit code and output.
    pub fn wait_exit(&mut self, within: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the reader threads drain the pipes.
                std::thread::sleep(Duration::from_millis(100));
                return (status.code(), self.output());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return (None, self.output());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// How it exited, once it has (None while it runs).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LibZitiProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// libziti hosting `service` with `identity`, relaying each accepted connection to
/// `target` (`host:port`); returns once the router accepted the Bind.
pub fn libziti_host(identity: &Path, service: &str, target: &str) -> LibZitiProcess {
    let mut p = LibZitiProcess::spawn(
        "libziti_host.py",
        &[&identity.display().to_string(), service, target],
    );
    p.wait_for("BOUND", Duration::from_secs(60));
    p
}

/// libziti dialing `service` with `identity` and GETting `path` `count` times; the
/// process (wait on it with `wait_exit`, read `RESPONSE` lines).
pub fn libziti_dial(identity: &Path, service: &str, path: &str, count: usize) -> LibZitiProcess {
    dial_script(identity, service, path, &["--count", &count.to_string()])
}

/// `libziti_dial.py` for `service` with `identity`, GETting `path`, with `options`.
fn dial_script(identity: &Path, service: &str, path: &str, options: &[&str]) -> LibZitiProcess {
    let identity = identity.display().to_string();
    let mut args = vec![identity.as_str(), service, "--path", path];
    args.extend_from_slice(options);
    LibZitiProcess::spawn("libziti_dial.py", &args)
}

/// libziti authenticating and loading its services, then staying up (`LOADED`).
pub fn libziti_load(identity: &Path) -> LibZitiProcess {
    LibZitiProcess::spawn(
        "libziti_dial.py",
        &[&identity.display().to_string(), "-", "--load-only"],
    )
}

/// Like `libziti_dial`, but before round i > 0 it prints `WAITING i` and waits for
/// `gate.open(i)`, so a test can change the network between rounds of one SDK context.
pub fn libziti_dial_gated(
    identity: &Path,
    service: &str,
    path: &str,
    count: usize,
    gate: &Gate,
) -> LibZitiProcess {
    let count = count.to_string();
    let gate = gate.dir.path().display().to_string();
    dial_script(
        identity,
        service,
        path,
        &["--count", &count, "--gate", &gate],
    )
}

/// Lets a gated dialer go on to its next round.
pub struct Gate {
    dir: tempfile::TempDir,
}

impl Gate {
    pub fn new() -> Gate {
        Gate {
            dir: tempfile::tempdir().expect("a gate dir"),
        }
    }
    pub fn open(&self, round: usize) {
        std::fs::write(self.dir.path().join(format!("round-{round}")), b"go").unwrap();
    }
}

/// libziti enrolling with the one-time token in `jwt_file`, writing the identity
/// JSON it gets to `out` (`ENROLLED` on success).
pub fn libziti_enroll(jwt_file: &Path, out: &Path) -> LibZitiProcess {
    LibZitiProcess::spawn(
        "libziti_enroll.py",
        &[&jwt_file.display().to_string(), &out.display().to_string()],
    )
}

/// One GET with `Connection: close`, read until end of stream: the upstream's close
/// must travel back as FIN through both SDKs and the router.
pub fn libziti_dial_until_eof(identity: &Path, service: &str, path: &str) -> LibZitiProcess {
    dial_script(identity, service, path, &["--until-eof"])
}

/// Like `libziti_dial`, printing `RESPONSE <status> <body length>` (large bodies).
pub fn libziti_dial_lengths(
    identity: &Path,
    service: &str,
    path: &str,
    count: usize,
) -> LibZitiProcess {
    dial_script(
        identity,
        service,
        path,
        &["--count", &count.to_string(), "--lengths"],
    )
}
