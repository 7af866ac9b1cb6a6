//! The far side of the `test-relay` tunnel provider: a loopback relay standing in for
//! a private network's connector. Tests start, stop and restart it, choose which
//! identities it accepts, and map `host:port` names to real upstreams. It speaks the
//! protocol documented in host/src/tunnel/relay.rs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[derive(Default)]
struct Shared {
    accept: Vec<String>,
    targets: HashMap<String, SocketAddr>,
    hellos: Vec<String>,
    dials: Vec<(String, String, String)>,
}

pub struct Relay {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    /// Start on `port` (0: any free port), accepting sessions for `identities`.
    pub fn start(port: u16, identities: &[&str]) -> Relay {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("binding the relay");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Mutex::new(Shared {
            accept: identities.iter().map(|s| s.to_string()).collect(),
            ..Shared::default()
        }));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let s = shared.clone();
        let thread =
            super::serve_on_thread(listener, Some(rx), move |stream| serve(stream, s.clone()));
        Relay {
            addr,
            shared,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    /// Route dials for `name` (`host:port` as written in the baseUri) to `to`.
    pub fn map(&self, name: &str, to: SocketAddr) {
        self.shared
            .lock()
            .unwrap()
            .targets
            .insert(name.to_string(), to);
    }

    pub fn accept(&self, identity: &str) {
        self.shared
            .lock()
            .unwrap()
            .accept
            .push(identity.to_string());
    }

    /// Identities that opened a control session, in order.
    pub fn hellos(&self) -> Vec<String> {
        self.shared.lock().unwrap().hellos.clone()
    }

    /// (identity, service, target) of every dial.
    pub fn dials(&self) -> Vec<(String, String, String)> {
        self.shared.lock().unwrap().dials.clone()
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn serve(stream: tokio::net::TcpStream, shared: Arc<Mutex<Shared>>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut first = String::new();
    if reader.read_line(&mut first).await.unwrap_or(0) == 0 {
        return;
    }
    let words: Vec<&str> = first.trim_end().split(' ').collect();
    match words.as_slice() {
        ["HELLO", identity] | ["HELLO", identity, ..] => {
            let ok = shared.lock().unwrap().accept.iter().any(|a| a == identity);
            shared.lock().unwrap().hellos.push(identity.to_string());
            if !ok {
                let _ = write.write_all(b"DENY unknown identity\n").await;
                return;
            }
            let _ = write.write_all(b"OK\n").await;
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) if line.trim_end() == "PING" => {
                        if write.write_all(b"PONG\n").await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => return,
                }
            }
        }
        ["DIAL", identity, service, target] => {
            let to = {
                let mut s = shared.lock().unwrap();
                s.dials.push((
                    identity.to_string(),
                    service.to_string(),
                    target.to_string(),
                ));
                if s.accept.iter().any(|a| a == identity) {
                    s.targets.get(*target).copied()
                } else {
                    None
                }
            };
            let Some(to) = to else {
                let _ = write
                    .write_all(b"ERR no route to that target for this identity\n")
                    .await;
                return;
            };
            let Ok(mut upstream) = tokio::net::TcpStream::connect(to).await else {
                let _ = write
                    .write_all(b"ERR the target refused the connection\n")
                    .await;
                return;
            };
            if write.write_all(b"OK\n").await.is_err() {
                return;
            }
            let mut client = reader
                .into_inner()
                .reunite(write)
                .expect("halves of one stream");
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
        _ => {}
    }
}
