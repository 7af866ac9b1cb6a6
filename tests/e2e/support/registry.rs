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

    /// Start on `host:port` (an address of a network the test made).
    pub fn start_on(dir: &Path, host: &str, port: u16) -> Registry {
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
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
                storage.display()
            ),
        )
        .unwrap();
        let process = spawn_logged(
            Command::new(bin).arg("serve").arg(&config),
            "docker-registry",
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let up = ureq::get(&format!("http://{addr}/v2/"))
                .call()
                .is_ok_and(|r| r.status() == 200);
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
