//! Server-to-client messages of the MCP adapter.
//!
//! Owns: the handshake revisions' sessions (their revision, log level, resource
//! subscriptions, and the server-initiated stream of each — the `GET` stream over
//! HTTP, stdout over stdio — with a bounded replay buffer for `Last-Event-ID`), the
//! 2026-07-28 `subscriptions/listen` streams, fanning change events out to whichever
//! of these asked for them, the file watch behind `notifications/resources/updated`,
//! and turning a running request's progress reports into `notifications/progress` and
//! `notifications/message`. Must not touch: sockets and framing (the transports'), or
//! what a method answers (`McpServer`).
//!
//! The hub outlives one version of a capability: `ikanos serve` hands it to the
//! version that replaces this one, so sessions and listen streams carry on and hear
//! `list_changed` instead of a 404 that makes every client start over.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::protocol::{self, RpcError};
use super::McpServer;
use crate::runtime::Progress;

/// Sessions kept at once; past it the least recently used one is forgotten.
const MAX_SESSIONS: usize = 10_000;
/// A session unused this long is forgotten (its client gets 404 and starts anew).
const SESSION_IDLE: Duration = Duration::from_secs(3600);
/// Server-initiated messages a session keeps for a client that reconnects with
/// `Last-Event-ID`; older ones are gone (the client refetches what it lists).
const REPLAY: usize = 256;
/// Messages waiting for a slow stream reader before its stream is ended: a client
/// that stopped reading must not make the host hold memory for it.
pub const STREAM_BUFFER: usize = 256;
/// Open `subscriptions/listen` streams at once, per adapter.
const MAX_LISTENS: usize = 1024;
/// How often subscribed files are checked for changes.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

pub const SUBSCRIPTION_ID_META: &str = "io.modelcontextprotocol/subscriptionId";
pub const LOG_LEVEL_META: &str = "io.modelcontextprotocol/logLevel";

/// RFC 5424 severities, as MCP names them (ordered: a level admits itself and above).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
    Critical,
    Alert,
    Emergency,
}

impl LogLevel {
    const ALL: [(&'static str, LogLevel); 8] = [
        ("debug", LogLevel::Debug),
        ("info", LogLevel::Info),
        ("notice", LogLevel::Notice),
        ("warning", LogLevel::Warning),
        ("error", LogLevel::Error),
        ("critical", LogLevel::Critical),
        ("alert", LogLevel::Alert),
        ("emergency", LogLevel::Emergency),
    ];

    pub fn parse(s: &str) -> Result<LogLevel, RpcError> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, l)| *l)
            .ok_or_else(|| {
                RpcError::invalid_params(format!(
                    "unknown log level '{s}' (one of: debug, info, notice, warning, error, critical, alert, emergency)"
                ))
            })
    }

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, l)| *l == self)
            .map_or("info", |(n, _)| n)
    }

    fn of(level: tracing::Level) -> LogLevel {
        match level {
            tracing::Level::TRACE | tracing::Level::DEBUG => LogLevel::Debug,
            tracing::Level::INFO => LogLevel::Info,
            tracing::Level::WARN => LogLevel::Warning,
            tracing::Level::ERROR => LogLevel::Error,
        }
    }
}

/// Something about the adapter changed that clients may have asked to hear of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    ToolsListChanged,
    PromptsListChanged,
    ResourcesListChanged,
    ResourceUpdated(String),
}

impl Change {
    fn notification(&self, meta: Option<&Value>) -> Value {
        let (method, mut params) = match self {
            Change::ToolsListChanged => ("notifications/tools/list_changed", json!({})),
            Change::PromptsListChanged => ("notifications/prompts/list_changed", json!({})),
            Change::ResourcesListChanged => ("notifications/resources/list_changed", json!({})),
            Change::ResourceUpdated(uri) => {
                ("notifications/resources/updated", json!({ "uri": uri }))
            }
        };
        if let Some(m) = meta {
            params["_meta"] = m.clone();
        }
        json!({ "jsonrpc": "2.0", "method": method, "params": params })
    }
}

/// A notification for the client, as a JSON-RPC message.
pub fn notification(method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "method": method, "params": params })
}

/// One handshake session.
pub struct Session {
    pub version: String,
    last_used: Mutex<Instant>,
    log_level: Mutex<Option<LogLevel>>,
    subscriptions: Mutex<BTreeSet<String>>,
    outbox: Mutex<Outbox>,
}

/// The session's server-initiated messages: numbered, the last few kept for replay,
/// and handed to the live stream when one is attached.
#[derive(Default)]
struct Outbox {
    next: u64,
    replay: VecDeque<(u64, Arc<Value>)>,
    live: Option<mpsc::Sender<(u64, Arc<Value>)>>,
}

impl Session {
    fn new(version: String) -> Session {
        Session {
            version,
            last_used: Mutex::new(Instant::now()),
            log_level: Mutex::new(None),
            subscriptions: Mutex::new(BTreeSet::new()),
            outbox: Mutex::new(Outbox::default()),
        }
    }

    pub fn log_level(&self) -> Option<LogLevel> {
        *self.log_level.lock().unwrap()
    }

    pub fn set_log_level(&self, level: LogLevel) {
        *self.log_level.lock().unwrap() = Some(level);
    }

    fn subscribe(&self, uri: &str) {
        self.subscriptions.lock().unwrap().insert(uri.to_owned());
    }

    fn unsubscribe(&self, uri: &str) {
        self.subscriptions.lock().unwrap().remove(uri);
    }

    /// Attach the session's stream (replacing any earlier one, which then ends:
    /// each message goes out on one stream only). With `after`, the kept messages
    /// numbered above it are sent first (`Last-Event-ID`).
    pub fn attach(&self, after: Option<u64>) -> mpsc::Receiver<(u64, Arc<Value>)> {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let mut outbox = self.outbox.lock().unwrap();
        if let Some(after) = after {
            for (seq, msg) in outbox.replay.iter().filter(|(seq, _)| *seq > after) {
                // The buffer holds REPLAY < STREAM_BUFFER messages, so this fits.
                let _ = tx.try_send((*seq, msg.clone()));
            }
        }
        outbox.live = Some(tx);
        rx
    }

    /// Queue a server-initiated message: kept for replay and sent to the live stream.
    pub fn push(&self, message: Value) {
        let mut outbox = self.outbox.lock().unwrap();
        outbox.next += 1;
        let seq = outbox.next;
        let message = Arc::new(message);
        outbox.replay.push_back((seq, message.clone()));
        while outbox.replay.len() > REPLAY {
            outbox.replay.pop_front();
        }
        if let Some(live) = &outbox.live {
            if live.try_send((seq, message)).is_err() {
                // Gone, or not reading: end the stream; the client may come back with
                // Last-Event-ID and get what it missed from the replay buffer.
                outbox.live = None;
            }
        }
    }
}

/// What a `subscriptions/listen` stream asked to hear.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub tools: bool,
    pub prompts: bool,
    pub resources: bool,
    pub uris: BTreeSet<String>,
}

impl Filter {
    /// The request's `notifications` object; unknown keys are ignored (the spec
    /// says a server honours the subset it supports).
    pub fn parse(params: Option<&Value>) -> Result<Filter, RpcError> {
        let n = params.and_then(|p| p.get("notifications")).ok_or_else(|| {
            RpcError::invalid_params("params.notifications (an object) is required")
        })?;
        if !n.is_object() {
            return Err(RpcError::invalid_params(
                "params.notifications must be an object",
            ));
        }
        let flag = |k: &str| n.get(k).and_then(Value::as_bool).unwrap_or(false);
        let uris = match n.get("resourceSubscriptions") {
            None | Some(Value::Null) => BTreeSet::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|u| {
                    u.as_str().map(str::to_owned).ok_or_else(|| {
                        RpcError::invalid_params("resourceSubscriptions must be strings")
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(RpcError::invalid_params(
                    "resourceSubscriptions must be an array of URIs",
                ))
            }
        };
        Ok(Filter {
            tools: flag("toolsListChanged"),
            prompts: flag("promptsListChanged"),
            resources: flag("resourcesListChanged"),
            uris,
        })
    }

    /// The acknowledged subset, in the wire's shape (false flags and empty lists left out).
    pub fn to_json(&self) -> Value {
        let mut v = json!({});
        for (key, on) in [
            ("toolsListChanged", self.tools),
            ("promptsListChanged", self.prompts),
            ("resourcesListChanged", self.resources),
        ] {
            if on {
                v[key] = json!(true);
            }
        }
        if !self.uris.is_empty() {
            v["resourceSubscriptions"] = json!(self.uris);
        }
        v
    }

    fn wants(&self, change: &Change) -> bool {
        match change {
            Change::ToolsListChanged => self.tools,
            Change::PromptsListChanged => self.prompts,
            Change::ResourcesListChanged => self.resources,
            Change::ResourceUpdated(uri) => self.uris.contains(uri),
        }
    }
}

struct Listen {
    key: u64,
    filter: Filter,
    meta: Value,
    tx: mpsc::Sender<Value>,
}

/// A listen stream's receiving end; dropping it ends the subscription.
pub struct ListenStream {
    pub messages: mpsc::Receiver<Value>,
    /// `_meta` of every message on the stream (the subscription id).
    pub meta: Value,
    hub: Weak<Hub>,
    key: u64,
}

impl Drop for ListenStream {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            hub.listens.lock().unwrap().retain(|l| l.key != self.key);
        }
    }
}

/// Sessions and subscription streams of one MCP adapter, across its versions.
#[derive(Default)]
pub struct Hub {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    listens: Mutex<Vec<Listen>>,
    next_listen: std::sync::atomic::AtomicU64,
    /// The version serving now: resolves subscribed URIs to files for the watch.
    server: Mutex<Weak<McpServer>>,
    watching: Mutex<bool>,
    /// Size and modification time of each watched URI's file, as last seen.
    files: Mutex<BTreeMap<String, Option<FileState>>>,
}

type FileState = (SystemTime, u64);

impl Hub {
    /// `server` is the version serving from now on.
    pub fn serve(self: &Arc<Self>, server: &Arc<McpServer>) {
        *self.server.lock().unwrap() = Arc::downgrade(server);
        if !self.subscribed_uris().is_empty() {
            self.ensure_watch();
        }
    }

    pub fn open_session(&self, version: String) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut sessions = self.sessions.lock().unwrap();
        let now = Instant::now();
        sessions.retain(|_, s| now.duration_since(*s.last_used.lock().unwrap()) < SESSION_IDLE);
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| *s.last_used.lock().unwrap())
                .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(id.clone(), Arc::new(Session::new(version)));
        id
    }

    /// The session, marked used; None when unknown or idle too long.
    pub fn session(&self, id: &str) -> Option<Arc<Session>> {
        let mut sessions = self.sessions.lock().unwrap();
        let s = sessions.get(id)?.clone();
        let now = Instant::now();
        let mut last = s.last_used.lock().unwrap();
        if now.duration_since(*last) >= SESSION_IDLE {
            drop(last);
            sessions.remove(id);
            return None;
        }
        *last = now;
        drop(last);
        Some(s)
    }

    /// A session no transport lists (stdio's one implicit session).
    pub fn detached_session(version: String) -> Arc<Session> {
        Arc::new(Session::new(version))
    }

    /// End a session (its stream ends with it). False when there was none.
    pub fn close_session(&self, id: &str) -> bool {
        self.sessions.lock().unwrap().remove(id).is_some()
    }

    /// Register stdio's session so it hears changes too.
    pub fn adopt_session(&self, id: &str, session: Arc<Session>) {
        self.sessions.lock().unwrap().insert(id.to_owned(), session);
    }

    /// `resources/subscribe` for `session`.
    pub fn subscribe(self: &Arc<Self>, session: &Session, uri: &str) {
        session.subscribe(uri);
        self.baseline(uri);
        self.ensure_watch();
    }

    /// The file state of `uri` now: a change is judged against the state at the time
    /// of subscribing, not at the watch's next round.
    fn baseline(&self, uri: &str) {
        let state = self.file_state(uri);
        self.files
            .lock()
            .unwrap()
            .entry(uri.to_owned())
            .or_insert(state);
    }

    fn file_state(&self, uri: &str) -> Option<FileState> {
        let server = self.server.lock().unwrap().upgrade()?;
        let file: PathBuf = server.resource_file(uri)?;
        let m = std::fs::metadata(file).ok()?;
        Some((m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
    }

    pub fn unsubscribe(&self, session: &Session, uri: &str) {
        session.unsubscribe(uri);
    }

    /// Open a `subscriptions/listen` stream with JSON-RPC id `id`.
    pub fn listen(self: &Arc<Self>, id: &Value, filter: Filter) -> Result<ListenStream, RpcError> {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let meta = json!({ SUBSCRIPTION_ID_META: id });
        let key = self
            .next_listen
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        {
            let mut listens = self.listens.lock().unwrap();
            listens.retain(|l| !l.tx.is_closed());
            if listens.len() >= MAX_LISTENS {
                return Err(RpcError::new(
                    protocol::INTERNAL_ERROR,
                    "Subscription limit reached",
                ));
            }
            // The acknowledgement is the stream's first message.
            let mut params = json!({ "notifications": filter.to_json() });
            params["_meta"] = meta.clone();
            let _ = tx.try_send(notification(
                "notifications/subscriptions/acknowledged",
                params,
            ));
            let watch = !filter.uris.is_empty();
            for uri in &filter.uris {
                self.baseline(uri);
            }
            listens.push(Listen {
                key,
                filter,
                meta: meta.clone(),
                tx,
            });
            if watch {
                drop(listens);
                self.ensure_watch();
            }
        }
        Ok(ListenStream {
            messages: rx,
            meta,
            hub: Arc::downgrade(self),
            key,
        })
    }

    /// Tell everyone who asked. Handshake sessions hear every list change (they
    /// cannot choose) and the updates of the URIs they subscribed to; a listen stream
    /// hears what its filter names. A listen stream that does not keep up is ended.
    pub fn publish(&self, change: &Change) {
        let sessions: Vec<Arc<Session>> = self.sessions.lock().unwrap().values().cloned().collect();
        for s in sessions {
            let wanted = match change {
                Change::ResourceUpdated(uri) => s.subscriptions.lock().unwrap().contains(uri),
                _ => true,
            };
            if wanted {
                s.push(change.notification(None));
            }
        }
        self.listens.lock().unwrap().retain(|l| {
            if !l.filter.wants(change) {
                return !l.tx.is_closed();
            }
            l.tx.try_send(change.notification(Some(&l.meta))).is_ok()
        });
    }

    /// A new version replaced this adapter's capability: its lists may have changed,
    /// and so may what any subscribed resource reads.
    pub fn announce_replacement(&self, has_resources: bool, has_prompts: bool) {
        self.publish(&Change::ToolsListChanged);
        if has_resources {
            self.publish(&Change::ResourcesListChanged);
        }
        if has_prompts {
            self.publish(&Change::PromptsListChanged);
        }
        for uri in self.subscribed_uris() {
            self.publish(&Change::ResourceUpdated(uri));
        }
    }

    /// End every listen stream gracefully (their transports send the final result).
    pub fn close_listens(&self) {
        self.listens.lock().unwrap().clear();
    }

    fn subscribed_uris(&self) -> BTreeSet<String> {
        let mut uris: BTreeSet<String> = self
            .listens
            .lock()
            .unwrap()
            .iter()
            .flat_map(|l| l.filter.uris.iter().cloned())
            .collect();
        for s in self.sessions.lock().unwrap().values() {
            uris.extend(s.subscriptions.lock().unwrap().iter().cloned());
        }
        uris
    }

    /// Watch subscribed file resources while there are any: one task per hub,
    /// checking size and modification time each interval (a stat per URI, no
    /// platform watcher to hold per tenant). It ends when nothing is subscribed,
    /// or the adapter is gone.
    fn ensure_watch(self: &Arc<Self>) {
        let mut watching = self.watching.lock().unwrap();
        if *watching {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        *watching = true;
        let hub = Arc::downgrade(self);
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(WATCH_INTERVAL).await;
                let Some(hub) = hub.upgrade() else { return };
                // Decided under the flag's lock: a subscription made meanwhile either
                // is seen here or finds the flag down and starts a new watch.
                let mut watching = hub.watching.lock().unwrap();
                let uris = hub.subscribed_uris();
                if uris.is_empty() {
                    *watching = false;
                    hub.files.lock().unwrap().clear();
                    return;
                }
                drop(watching);
                hub.files.lock().unwrap().retain(|u, _| uris.contains(u));
                for uri in uris {
                    let now = hub.file_state(&uri);
                    let before = hub.files.lock().unwrap().insert(uri.clone(), now);
                    if before.is_some_and(|b| b != now) {
                        hub.publish(&Change::ResourceUpdated(uri));
                    }
                }
            }
        });
    }
}

/// What one request may send while it runs, and where.
#[derive(Clone)]
pub struct RequestNotices {
    sink: mpsc::Sender<Value>,
    progress_token: Option<Value>,
    log_level: Option<LogLevel>,
    logger: String,
}

impl RequestNotices {
    /// `None` when the request asked for nothing (no progress token, no log level):
    /// then nothing is streamed and the answer stays one JSON body.
    pub fn new(
        sink: mpsc::Sender<Value>,
        progress_token: Option<Value>,
        log_level: Option<LogLevel>,
        logger: &str,
    ) -> Option<RequestNotices> {
        (progress_token.is_some() || log_level.is_some()).then(|| RequestNotices {
            sink,
            progress_token,
            log_level,
            logger: logger.to_owned(),
        })
    }

    /// Send `notifications/message` when `level` passes the request's threshold.
    pub fn log(&self, level: LogLevel, data: Value) {
        if self.log_level.is_some_and(|min| level >= min) {
            let params = json!({ "level": level.as_str(), "logger": self.logger, "data": data });
            let _ = self
                .sink
                .try_send(notification("notifications/message", params));
        }
    }

    fn progress(&self, done: u64, message: String) {
        if let Some(token) = &self.progress_token {
            let params = json!({ "progressToken": token, "progress": done, "message": message });
            let _ = self
                .sink
                .try_send(notification("notifications/progress", params));
        }
    }

    /// Turn the runtime's reports into notifications: every finished call or step
    /// advances progress by one; each is also a log line, as is the component's own.
    pub fn relay(&self, report: Progress, done: &mut u64) {
        match report {
            Progress::Call {
                operation,
                status,
                elapsed,
            } => {
                *done += 1;
                let ms = elapsed.as_secs_f64() * 1000.0;
                let (level, text) = match status {
                    Some(s) => (
                        if s < 400 {
                            LogLevel::Info
                        } else {
                            LogLevel::Warning
                        },
                        format!("called {operation}: {s} in {ms:.1} ms"),
                    ),
                    None => (
                        LogLevel::Warning,
                        format!("calling {operation} failed after {ms:.1} ms"),
                    ),
                };
                self.progress(*done, text.clone());
                self.log(level, json!(text));
            }
            Progress::Step { step, ok } => {
                *done += 1;
                let text = if ok {
                    format!("step '{step}' done")
                } else {
                    format!("step '{step}' failed")
                };
                self.progress(*done, text.clone());
                self.log(
                    if ok {
                        LogLevel::Debug
                    } else {
                        LogLevel::Warning
                    },
                    json!(text),
                );
            }
            Progress::Log { level, message } => self.log(LogLevel::of(level), json!(message)),
        }
    }
}

/// The request's `_meta.progressToken`, when it carries one (a string or an integer).
pub fn progress_token(params: Option<&Value>) -> Option<Value> {
    protocol::meta(params)
        .and_then(|m| m.get("progressToken"))
        .filter(|t| t.is_string() || t.is_i64() || t.is_u64())
        .cloned()
}

/// 2026-07-28: the log level a request opted in to in its `_meta`.
pub fn requested_log_level(params: Option<&Value>) -> Result<Option<LogLevel>, RpcError> {
    match protocol::meta(params).and_then(|m| m.get(LOG_LEVEL_META)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => LogLevel::parse(s).map(Some),
        Some(_) => Err(RpcError::invalid_params(format!(
            "_meta.{LOG_LEVEL_META} must be a log level name"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_after_an_event_id() {
        let s = Session::new("2025-11-25".into());
        for i in 0..3 {
            s.push(json!({ "n": i }));
        }
        let mut rx = s.attach(Some(1));
        let (seq, msg) = rx.try_recv().unwrap();
        assert_eq!((seq, msg["n"].as_i64()), (2, Some(1)));
        assert_eq!(rx.try_recv().unwrap().0, 3);
        assert!(rx.try_recv().is_err());
        s.push(json!({ "n": 3 }));
        assert_eq!(rx.try_recv().unwrap().0, 4);
    }

    #[test]
    fn the_replay_buffer_is_bounded() {
        let s = Session::new("2025-11-25".into());
        for i in 0..(REPLAY as u64 + 10) {
            s.push(json!({ "n": i }));
        }
        let mut rx = s.attach(Some(0));
        assert_eq!(rx.try_recv().unwrap().0, 11);
    }

    #[tokio::test]
    async fn listen_streams_get_only_what_they_asked_for() {
        let hub = Arc::new(Hub::default());
        let mut all = hub
            .listen(
                &json!(7),
                Filter::parse(Some(&json!({"notifications": {"toolsListChanged": true, "resourceSubscriptions": ["file:///a"]}}))).unwrap(),
            )
            .unwrap();
        let ack = all.messages.try_recv().unwrap();
        assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
        assert_eq!(ack["params"]["_meta"][SUBSCRIPTION_ID_META], 7);
        assert_eq!(
            ack["params"]["notifications"],
            json!({"toolsListChanged": true, "resourceSubscriptions": ["file:///a"]})
        );
        hub.publish(&Change::PromptsListChanged);
        hub.publish(&Change::ResourceUpdated("file:///b".into()));
        hub.publish(&Change::ResourceUpdated("file:///a".into()));
        let m = all.messages.try_recv().unwrap();
        assert_eq!(m["method"], "notifications/resources/updated");
        assert_eq!(m["params"]["uri"], "file:///a");
        assert!(all.messages.try_recv().is_err());
        drop(all);
        assert!(hub.listens.lock().unwrap().is_empty());
    }

    #[test]
    fn log_levels_order_and_parse() {
        assert!(LogLevel::parse("warning").unwrap() > LogLevel::Info);
        assert!(LogLevel::parse("verbose").is_err());
        assert_eq!(LogLevel::Emergency.as_str(), "emergency");
    }
}
