//! A real OCI registry on loopback: Debian's `docker-registry` (the CNCF Distribution
//! registry 2.8), storing on the file system in a folder of the test's, no TLS (a
//! loopback registry is spoken to over plain HTTP, as Docker does).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::ports::free_port;
use super::{spawn_logged, Process};

pub struct Registry {
    process: Process,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Where it stores blobs and manifests.
    pub storage: PathBuf,
}

impl Registry {
    /// Start one storing under `dir`; waits until `/v2/` answers.
    pub fn start(dir: &Path) -> Registry {
        Self::start_at(dir, free_port())
    }

    /// Start (or start again) on `port`.
    pub fn start_at(dir: &Path, port: u16) -> Registry {
        Self::start_on(dir, "127.0.0.1", port)
    }

    /// Start one that wants HTTP basic credentials `user`/`password` (an htpasswd file
    /// with a bcrypt hash, made with Python's `crypt`, as the registry requires).
    pub fn start_with_auth(dir: &Path, user: &str, password: &str) -> Registry {
        let out = Command::new("python3")
            .args(["-W", "ignore", "-c", "import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))"])
            .arg(password)
            .output()
            .expect("running python3");
        let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(hash.starts_with("$2"), "no bcrypt hash: {hash}");
        let htpasswd = dir.join("htpasswd");
        std::fs::write(&htpasswd, format!("{user}:{hash}\n")).unwrap();
        Self::launch(dir, "127.0.0.1", free_port(), Some(&htpasswd))
    }

    /// Start on `host:port` (an address of a network the test made).
    pub fn start_on(dir: &Path, host: &str, port: u16) -> Registry {
        Self::launch(dir, host, port, None)
    }

    fn launch(dir: &Path, host: &str, port: u16, htpasswd: Option<&Path>) -> Registry {
        let bin = "/usr/bin/docker-registry";
        assert!(
            Path::new(bin).is_file(),
            "{bin} is missing: run scripts/setup (it installs Debian's docker-registry)"
        );
        let storage = dir.join("registry-data");
        let addr = format!("{host}:{port}");
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{}",
                storage.display(),
                htpasswd.map_or(String::new(), |p| format!(
                    "auth:\n  htpasswd:\n    realm: ikanos-test\n    path: {}\n",
                    p.display()
                ))
            ),
        )
        .unwrap();
        let process = spawn_logged(
            Command::new(bin).arg("serve").arg(&config),
            "docker-registry",
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // Up: it answers /v2/ (401 when it wants credentials).
            let up = match ureq::get(&format!("http://{addr}/v2/")).call() {
                Ok(r) => r.status() == 200,
                Err(ureq::Error::StatusCode(401)) => true,
                Err(_) => false,
            };
            if up {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not answer on {addr}:\n{}",
                process.all_output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            process,
            addr,
            storage,
        }
    }

    pub fn reference(&self, repo_tag: &str) -> String {
        format!("oci://{}/{repo_tag}", self.addr)
    }

    /// Does any blob or manifest the registry stores contain `needle`?
    pub fn stores(&self, needle: &str) -> bool {
        fn walk(dir: &Path, needle: &[u8]) -> bool {
            std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        walk(&p, needle)
                    } else {
                        std::fs::read(&p)
                            .is_ok_and(|d| d.windows(needle.len()).any(|w| w == needle))
                    }
                })
        }
        walk(&self.storage, needle.as_bytes())
    }

    /// Stop it (its storage stays, for a restart on the same port).
    pub fn stop(&mut self) {
        self.process.signal(libc::SIGTERM);
        self.process.wait_exit(Duration::from_secs(10));
    }
}
