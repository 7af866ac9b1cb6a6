//! Reading a Server-Sent Events stream in a test: each event reaches a channel as the
//! server writes it, so a test can wait for one without waiting for the stream's end.

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::Duration;

/// One `event: message` of an MCP stream.
#[derive(Debug)]
pub struct Event {
    pub id: Option<String>,
    pub data: serde_json::Value,
}

pub struct Sse {
    pub status: u16,
    pub content_type: String,
    events: mpsc::Receiver<Event>,
    /// Everything received so far, for failure messages.
    seen: std::cell::RefCell<Vec<String>>,
}

/// Send a request and read its answer as an SSE stream on a thread of its own.
pub fn open(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Sse {
    let mut b = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(180)))
        .build()
        .into();
    let resp = agent
        .run(b.body(body.to_string()).unwrap())
        .expect("SSE request failed");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let (tx, rx) = mpsc::channel();
    let reader = resp.into_body().into_reader();
    std::thread::spawn(move || {
        let mut id = None;
        let mut data = String::new();
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { return };
            if line.is_empty() {
                if !data.is_empty() {
                    let value = serde_json::from_str(&data)
                        .unwrap_or_else(|e| panic!("SSE data is not JSON ({e}): {data}"));
                    if tx
                        .send(Event {
                            id: id.take(),
                            data: value,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
                data.clear();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            } else if let Some(v) = line.strip_prefix("id:") {
                id = Some(v.trim().to_string());
            }
        }
    });
    Sse {
        status,
        content_type,
        events: rx,
        seen: Default::default(),
    }
}

impl Sse {
    /// The next event, or None when the stream ended or none came within `within`.
    pub fn next(&self, within: Duration) -> Option<Event> {
        let e = self.events.recv_timeout(within).ok()?;
        self.seen.borrow_mut().push(e.data.to_string());
        Some(e)
    }

    /// The first event `wanted` accepts, skipping others; panics with what was seen.
    pub fn until(&self, within: Duration, wanted: impl Fn(&Event) -> bool) -> Event {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.next(left) {
                Some(e) if wanted(&e) => return e,
                Some(_) => {}
                None => panic!(
                    "no such SSE event within {within:?}; seen: {:?}",
                    self.seen.borrow()
                ),
            }
        }
    }
}
