//! The host configuration of `ikanos serve`: one YAML file naming the listeners, the
//! control port and its admin token, where capabilities come from, and the limits and
//! grants of each capability.
//!
//! Owns: the file's keys, their defaults and decoding them with `file:line:col`
//! problems (all of them, not just the first). Must not touch: loading capabilities or
//! anything at run time. The admin token is read here from an environment variable or
//! a file, never from the YAML itself, and is only ever held as a `Secret`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ikanos_spec::binds::Secret;
use ikanos_spec::model::Pos;
use ikanos_spec::yaml::{self, Entry, Node, Value};
use thiserror::Error;

use crate::package::oci::ArtifactRef;
use crate::runtime::{Limits, PoolSettings};

/// Shortest admin token accepted: a guessable token on a control port is an open door.
pub const MIN_TOKEN_LEN: usize = 16;

/// The admin token read from a file or the environment: surrounding whitespace (a
/// trailing newline) removed, and long enough.
pub fn admin_token(raw: &str) -> Result<Secret, String> {
    let token = raw.trim();
    if token.chars().count() < MIN_TOKEN_LEN {
        return Err(format!(
            "the admin token must be at least {MIN_TOKEN_LEN} characters"
        ));
    }
    Ok(Secret::new(token.to_string()))
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
}

/// Limits one capability gets; every field optional so defaults and overrides merge.
#[derive(Debug, Clone, Default)]
pub struct LimitsPatch {
    pub memory_mib: Option<usize>,
    pub cpu_time: Option<Duration>,
    pub request_timeout: Option<Duration>,
    pub upstream_timeout: Option<Duration>,
    pub connect_timeout: Option<Duration>,
    pub max_outbound_calls: Option<u32>,
    pub max_concurrency: Option<usize>,
    pub max_request_body: Option<usize>,
    pub max_response_body: Option<usize>,
}

impl LimitsPatch {
    fn over(&self, base: &LimitsPatch) -> LimitsPatch {
        LimitsPatch {
            memory_mib: self.memory_mib.or(base.memory_mib),
            cpu_time: self.cpu_time.or(base.cpu_time),
            request_timeout: self.request_timeout.or(base.request_timeout),
            upstream_timeout: self.upstream_timeout.or(base.upstream_timeout),
            connect_timeout: self.connect_timeout.or(base.connect_timeout),
            max_outbound_calls: self.max_outbound_calls.or(base.max_outbound_calls),
            max_concurrency: self.max_concurrency.or(base.max_concurrency),
            max_request_body: self.max_request_body.or(base.max_request_body),
            max_response_body: self.max_response_body.or(base.max_response_body),
        }
    }
}

/// Per-capability settings as written (under `defaults:` or `capabilities.NAME:`).
#[derive(Debug, Clone, Default)]
pub struct TenantPatch {
    /// A capability file outside the capabilities folder (only under `capabilities.NAME`).
    pub file: Option<PathBuf>,
    pub component: Option<PathBuf>,
    pub limits: LimitsPatch,
    /// Host environment variables the capability's binds may read.
    pub env: Option<Vec<String>>,
    /// Serve the capability's REST adapters on the ports its file declares, besides
    /// the shared listener.
    pub own_listeners: Option<bool>,
    /// PEM CA bundles trusted for consumed namespaces (private PKI), by namespace
    /// (only under `capabilities.NAME`: trust is per capability).
    pub ca_bundles: BTreeMap<String, PathBuf>,
    /// A capability artifact in a registry (only under `capabilities.NAME`, not with `file`).
    pub from: Option<ArtifactRef>,
    /// Where the relative bind files of a `from` capability are (they never travel).
    pub binds: Option<PathBuf>,
    /// How often a `from` tag is checked for a new digest; zero: only at start and on
    /// SIGHUP. Default [`DEFAULT_REFRESH`].
    pub refresh: Option<Duration>,
}

/// How often a `from: oci://…:TAG` is checked for a moved tag, unless `refresh` says.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(60);

/// What one capability runs with, defaults and override merged.
#[derive(Debug, Clone)]
pub struct TenantSettings {
    pub component: Option<PathBuf>,
    pub limits: Limits,
    pub upstream_timeout: Duration,
    pub connect_timeout: Duration,
    pub env: Vec<String>,
    pub own_listeners: bool,
    pub ca_bundles: BTreeMap<String, PathBuf>,
}

#[derive(Debug)]
pub struct HostConfig {
    /// The shared listener (`/{capability}/…`); None: only per-capability ports.
    pub listen: Option<String>,
    pub control: String,
    pub admin_token: Option<Secret>,
    /// Where capabilities are discovered (and where the admin API writes).
    pub dir: Option<PathBuf>,
    pub watch: bool,
    pub drain_timeout: Duration,
    pub pool: PoolSettings,
    pub defaults: TenantPatch,
    pub capabilities: BTreeMap<String, TenantPatch>,
    /// Tunnel infrastructure of the host (`tunnels.rathole`: listeners rathole clients
    /// dial, each service granted to named capabilities).
    pub tunnels: crate::tunnel::HostedTunnels,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            listen: None,
            control: "127.0.0.1:9090".into(),
            admin_token: None,
            dir: None,
            watch: true,
            drain_timeout: Duration::from_secs(30),
            pool: PoolSettings::default(),
            defaults: TenantPatch::default(),
            capabilities: BTreeMap::new(),
            tunnels: crate::tunnel::HostedTunnels::default(),
        }
    }
}

/// The host's defaults for untrusted code: `ikanos run`'s limits, with fewer requests
/// at once so that one capability cannot hold a large share of the instance pool.
pub fn safe_limits() -> Limits {
    Limits {
        max_concurrency: 16,
        ..Limits::default()
    }
}

impl HostConfig {
    /// Defaults, then `defaults:`, then `capabilities.NAME:`.
    pub fn settings_for(&self, name: &str) -> TenantSettings {
        let empty = TenantPatch::default();
        let own = self.capabilities.get(name).unwrap_or(&empty);
        let l = own.limits.over(&self.defaults.limits);
        let base = safe_limits();
        let limits = Limits {
            memory_bytes: l.memory_mib.map_or(base.memory_bytes, |m| m << 20),
            cpu_time: l.cpu_time.unwrap_or(base.cpu_time),
            request_timeout: l.request_timeout.unwrap_or(base.request_timeout),
            max_outbound_calls: l.max_outbound_calls.unwrap_or(base.max_outbound_calls),
            max_concurrency: l.max_concurrency.unwrap_or(base.max_concurrency).max(1),
            max_request_body: l.max_request_body.unwrap_or(base.max_request_body),
            max_response_body: l.max_response_body.unwrap_or(base.max_response_body),
            ..base
        };
        TenantSettings {
            component: own
                .component
                .clone()
                .or_else(|| self.defaults.component.clone()),
            limits,
            upstream_timeout: l
                .upstream_timeout
                .unwrap_or(crate::consumes::OutboundSettings::default().request_timeout),
            connect_timeout: l
                .connect_timeout
                .unwrap_or(crate::consumes::ClientSettings::default().connect_timeout),
            env: own
                .env
                .clone()
                .or_else(|| self.defaults.env.clone())
                .unwrap_or_default(),
            own_listeners: own
                .own_listeners
                .or(self.defaults.own_listeners)
                .unwrap_or(true),
            ca_bundles: own.ca_bundles.clone(),
        }
    }

    /// The largest memory limit any configured capability asks for (sizes the pool).
    pub fn largest_memory_limit(&self) -> usize {
        std::iter::once(&self.defaults)
            .chain(self.capabilities.values())
            .filter_map(|p| p.limits.memory_mib)
            .map(|m| m << 20)
            .max()
            .unwrap_or(safe_limits().memory_bytes)
    }

    pub fn load(path: &Path) -> Result<HostConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(path, &text, &|name| std::env::var(name).ok())
    }

    /// Decode `text` (read from `path`); `env` looks up the token's variable.
    pub fn parse(
        path: &Path,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<HostConfig, ConfigError> {
        let mut d = Decoder {
            file: path,
            problems: Vec::new(),
        };
        let parsed = yaml::parse(text).map_err(|(pos, message)| {
            ConfigError::Invalid(vec![format!("{}:{pos}: {message}", path.display())])
        })?;
        for (pos, message) in &parsed.problems {
            d.problem(*pos, message.clone());
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let mut config = HostConfig::default();
        let root = &parsed.root;
        if matches!(root.value, Value::Null) {
            return Ok(config);
        }
        let Some(entries) = d.map(root, "the host configuration") else {
            return Err(ConfigError::Invalid(d.problems));
        };
        for e in entries {
            match e.key.as_str() {
                "listen" => config.listen = d.address(&e.value, "listen"),
                "control" => {
                    for c in d.map(&e.value, "control").unwrap_or_default() {
                        match c.key.as_str() {
                            "listen" => {
                                if let Some(a) = d.address(&c.value, "control.listen") {
                                    config.control = a;
                                }
                            }
                            "token" => config.admin_token = d.token(&c.value, base, env),
                            _ => d.unknown(c, "control", &["listen", "token"]),
                        }
                    }
                }
                "capabilitiesDir" => {
                    config.dir = d.string(&e.value, "capabilitiesDir").map(|s| base.join(s))
                }
                "watch" => config.watch = d.boolean(&e.value, "watch").unwrap_or(true),
                "drainTimeout" => {
                    if let Some(t) = d.duration(&e.value, "drainTimeout") {
                        config.drain_timeout = t;
                    }
                }
                "pool" => {
                    for p in d.map(&e.value, "pool").unwrap_or_default() {
                        match p.key.as_str() {
                            "maxInstances" => {
                                if let Some(n) = d.count(&p.value, "pool.maxInstances") {
                                    config.pool.max_instances =
                                        u32::try_from(n.max(1)).unwrap_or(u32::MAX);
                                }
                            }
                            "maxMemoryMib" => {
                                if let Some(n) = d.count(&p.value, "pool.maxMemoryMib") {
                                    config.pool.max_memory_bytes = n.max(1) << 20;
                                }
                            }
                            _ => d.unknown(p, "pool", &["maxInstances", "maxMemoryMib"]),
                        }
                    }
                }
                "defaults" => config.defaults = d.tenant(&e.value, "defaults", base, false),
                "capabilities" => {
                    for c in d.map(&e.value, "capabilities").unwrap_or_default() {
                        let field = format!("capabilities.{}", c.key);
                        if let Err(why) = super::check_name(&c.key) {
                            d.problem(c.key_pos, format!("{field}: {why}"));
                            continue;
                        }
                        let patch = d.tenant(&c.value, &field, base, true);
                        config.capabilities.insert(c.key.clone(), patch);
                    }
                }
                "tunnels" => config.tunnels = d.tunnels(&e.value, base, env),
                _ => d.unknown(
                    e,
                    "the host configuration",
                    &[
                        "tunnels",
                        "listen",
                        "control",
                        "capabilitiesDir",
                        "watch",
                        "drainTimeout",
                        "pool",
                        "defaults",
                        "capabilities",
                    ],
                ),
            }
        }
        if d.problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid(d.problems))
        }
    }
}

struct Decoder<'a> {
    file: &'a Path,
    problems: Vec<String>,
}

impl Decoder<'_> {
    fn problem(&mut self, pos: Pos, message: String) {
        self.problems
            .push(format!("{}:{pos}: {message}", self.file.display()));
    }

    fn unknown(&mut self, e: &Entry, within: &str, known: &[&str]) {
        self.problem(
            e.key_pos,
            format!(
                "unknown key '{}' in {within} (expected one of: {})",
                e.key,
                known.join(", ")
            ),
        );
    }

    fn map<'n>(&mut self, n: &'n Node, field: &str) -> Option<&'n [Entry]> {
        match &n.value {
            Value::Map(entries) => Some(entries),
            _ => {
                self.problem(n.pos, format!("{field}: expected a mapping"));
                None
            }
        }
    }

    fn string(&mut self, n: &Node, field: &str) -> Option<String> {
        match &n.value {
            Value::Str(s) if !s.is_empty() => Some(s.clone()),
            Value::Int(_, raw) | Value::Float(_, raw) => Some(raw.clone()),
            _ => {
                self.problem(n.pos, format!("{field}: expected a non-empty string"));
                None
            }
        }
    }

    fn boolean(&mut self, n: &Node, field: &str) -> Option<bool> {
        match &n.value {
            Value::Bool(b) => Some(*b),
            _ => {
                self.problem(n.pos, format!("{field}: expected true or false"));
                None
            }
        }
    }

    fn count(&mut self, n: &Node, field: &str) -> Option<usize> {
        match &n.value {
            Value::Int(i, _) if *i >= 0 => usize::try_from(*i).ok(),
            _ => {
                self.problem(n.pos, format!("{field}: expected a whole number ≥ 0"));
                None
            }
        }
    }

    fn duration(&mut self, n: &Node, field: &str) -> Option<Duration> {
        let text = self.string(n, field)?;
        match humantime::parse_duration(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.problem(
                    n.pos,
                    format!("{field}: '{text}' is not a duration like 500ms, 2s or 1m ({e})"),
                );
                None
            }
        }
    }

    fn address(&mut self, n: &Node, field: &str) -> Option<String> {
        let a = self.string(n, field)?;
        if crate::server::split_host_port(&a).is_err() {
            self.problem(n.pos, format!("{field}: '{a}' is not HOST:PORT"));
            return None;
        }
        Some(a)
    }

    fn strings(&mut self, n: &Node, field: &str) -> Option<Vec<String>> {
        match &n.value {
            Value::Seq(items) => items
                .iter()
                .map(|i| self.string(i, field))
                .collect::<Option<Vec<_>>>(),
            _ => {
                self.problem(n.pos, format!("{field}: expected a list of names"));
                None
            }
        }
    }

    /// `token: {env: NAME}` or `token: {file: PATH}`; never the value itself.
    fn token(
        &mut self,
        n: &Node,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<Secret> {
        let (value, pos) = self.secret(n, "control.token", "the token", base, env)?;
        match admin_token(&value) {
            Ok(token) => Some(token),
            Err(why) => {
                self.problem(pos, format!("control.token: {why}"));
                None
            }
        }
    }

    /// A secret written as where it is — `{env: NAME}` or `{file: PATH}` — never as
    /// itself: its text and the position of the entry that names it.
    fn secret(
        &mut self,
        n: &Node,
        field: &str,
        what: &str,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<(String, Pos)> {
        if matches!(n.value, Value::Str(_)) {
            self.problem(n.pos, format!("{field}: write where {what} is ({{env: VARIABLE}} or {{file: PATH}}), not {what} itself: configuration files get copied and logged"));
            return None;
        }
        let entries = self.map(n, field)?;
        let [e] = entries else {
            self.problem(
                n.pos,
                format!("{field}: expected exactly one of env or file"),
            );
            return None;
        };
        let value = match e.key.as_str() {
            "env" => {
                let var = self.string(&e.value, &format!("{field}.env"))?;
                match env(&var) {
                    Some(v) => v,
                    None => {
                        self.problem(
                            e.value.pos,
                            format!("{field}.env: environment variable '{var}' is not set"),
                        );
                        return None;
                    }
                }
            }
            "file" => {
                let path = base.join(self.string(&e.value, &format!("{field}.file"))?);
                match std::fs::read_to_string(&path) {
                    Ok(v) => v,
                    Err(err) => {
                        self.problem(
                            e.value.pos,
                            format!("{field}.file: cannot read {}: {err}", path.display()),
                        );
                        return None;
                    }
                }
            }
            _ => {
                self.unknown(e, field, &["env", "file"]);
                return None;
            }
        };
        Some((value, e.value.pos))
    }

    /// `tunnels: {rathole: {NAME: {listen, transport, noisePrivateKey, tlsCertificate,
    /// tlsKey, services: {SERVICE: [CAPABILITY, …]}}}}`.
    fn tunnels(
        &mut self,
        n: &Node,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> crate::tunnel::HostedTunnels {
        #[cfg_attr(not(feature = "rathole"), allow(unused_mut))]
        let mut tunnels = crate::tunnel::HostedTunnels::default();
        for t in self.map(n, "tunnels").unwrap_or_default() {
            match t.key.as_str() {
                #[cfg(feature = "rathole")]
                "rathole" => {
                    let mut listeners = BTreeMap::new();
                    for l in self.map(&t.value, "tunnels.rathole").unwrap_or_default() {
                        let field = format!("tunnels.rathole.{}", l.key);
                        if let Some(listener) = self.rathole_listener(&l.value, &field, base, env) {
                            listeners.insert(l.key.clone(), listener);
                        }
                    }
                    tunnels.rathole = std::sync::Arc::new(listeners);
                }
                _ => self.unknown(t, "tunnels", &["rathole"]),
            }
        }
        tunnels
    }

    #[cfg(feature = "rathole")]
    fn rathole_listener(
        &mut self,
        n: &Node,
        field: &str,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<crate::tunnel::rathole::HostListener> {
        use crate::tunnel::rathole::{check_noise_key, HostListener, ListenerTransport};
        let (mut listen, mut transport, mut noise, mut cert, mut key) =
            (None, None, None, None, None);
        let mut services = BTreeMap::new();
        for e in self.map(n, field).unwrap_or_default() {
            let sub = format!("{field}.{}", e.key);
            match e.key.as_str() {
                "listen" => listen = self.address(&e.value, &sub),
                "transport" => transport = self.string(&e.value, &sub).map(|t| (t, e.value.pos)),
                "noisePrivateKey" => {
                    if let Some((k, pos)) = self.secret(&e.value, &sub, "the key", base, env) {
                        match check_noise_key(&k) {
                            Ok(()) => noise = Some(Secret::new(k.trim().to_string())),
                            Err(why) => self.problem(pos, format!("{sub}: {why}")),
                        }
                    }
                }
                "tlsCertificate" => cert = self.string(&e.value, &sub).map(|s| base.join(s)),
                "tlsKey" => key = self.string(&e.value, &sub).map(|s| base.join(s)),
                "services" => {
                    for s in self.map(&e.value, &sub).unwrap_or_default() {
                        let grant = format!("{sub}.{}", s.key);
                        if let Some(caps) = self.strings(&s.value, &grant) {
                            for c in &caps {
                                if let Err(why) = super::check_name(c) {
                                    self.problem(s.value.pos, format!("{grant}: {why}"));
                                }
                            }
                            services.insert(s.key.clone(), caps);
                        }
                    }
                }
                _ => self.unknown(
                    e,
                    field,
                    &[
                        "listen",
                        "transport",
                        "noisePrivateKey",
                        "tlsCertificate",
                        "tlsKey",
                        "services",
                    ],
                ),
            }
        }
        let Some(listen) = listen else {
            self.problem(
                n.pos,
                format!("{field}.listen (HOST:PORT where rathole clients connect) is required"),
            );
            return None;
        };
        let kind = transport.as_ref().map_or("tcp", |(t, _)| t.as_str());
        let transport = match (kind, noise, cert, key) {
            ("tcp", None, None, None) => ListenerTransport::Tcp,
            ("noise", Some(k), None, None) => ListenerTransport::Noise(k),
            ("tls", None, Some(c), Some(k)) => ListenerTransport::Tls {
                certificate: c.display().to_string(),
                key: k.display().to_string(),
            },
            ("tcp" | "noise" | "tls", ..) => {
                self.problem(n.pos, format!("{field}: transport '{kind}' takes {}", match kind {
                    "noise" => "noisePrivateKey (and no TLS keys)",
                    "tls" => "tlsCertificate and tlsKey (and no noisePrivateKey)",
                    _ => "no keys (noisePrivateKey is for noise, tlsCertificate and tlsKey for tls)",
                }));
                return None;
            }
            (other, ..) => {
                let pos = transport.as_ref().map_or(n.pos, |(_, p)| *p);
                self.problem(
                    pos,
                    format!("{field}.transport: '{other}' is not one of tcp, noise, tls"),
                );
                return None;
            }
        };
        Some(HostListener {
            listen,
            transport,
            services,
        })
    }

    fn tenant(&mut self, n: &Node, field: &str, base: &Path, named: bool) -> TenantPatch {
        let mut patch = TenantPatch::default();
        if matches!(n.value, Value::Null) {
            return patch;
        }
        let mut known = vec!["component", "limits", "env", "ownListeners"];
        if named {
            known.insert(0, "file");
            known.insert(1, "from");
            known.push("caBundles");
            known.push("binds");
            known.push("refresh");
        }
        for e in self.map(n, field).unwrap_or_default() {
            let sub = format!("{field}.{}", e.key);
            match e.key.as_str() {
                "file" if named => patch.file = self.string(&e.value, &sub).map(|s| base.join(s)),
                "from" if named => {
                    patch.from = self.string(&e.value, &sub).and_then(|s| {
                        s.parse::<ArtifactRef>()
                            .map_err(|err| self.problem(e.value.pos, format!("{sub}: {err}")))
                            .ok()
                    })
                }
                "binds" if named => patch.binds = self.string(&e.value, &sub).map(|s| base.join(s)),
                "refresh" if named => patch.refresh = self.duration(&e.value, &sub),
                "component" => patch.component = self.string(&e.value, &sub).map(|s| base.join(s)),
                "env" => patch.env = self.strings(&e.value, &sub),
                "ownListeners" => patch.own_listeners = self.boolean(&e.value, &sub),
                "caBundles" if named => {
                    for b in self.map(&e.value, &sub).unwrap_or_default() {
                        let field = format!("{sub}.{}", b.key);
                        if let Some(path) = self.string(&b.value, &field) {
                            patch.ca_bundles.insert(b.key.clone(), base.join(path));
                        }
                    }
                }
                "limits" => patch.limits = self.limits(&e.value, &sub),
                _ => self.unknown(e, field, &known),
            }
        }
        let key = |k: &str| self.entry_pos(n, k);
        match (&patch.file, &patch.from) {
            (Some(_), Some(_)) => {
                let pos = key("from");
                self.problem(pos, format!("{field}: give `file` (a capability on disk) or `from` (one in a registry), not both"));
            }
            (_, None) => {
                for k in ["binds", "refresh"] {
                    if let Some(pos) = self.entry_pos_opt(n, k) {
                        self.problem(
                            pos,
                            format!(
                                "{field}.{k}: only for a capability pulled with `from: oci://…`"
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
        patch
    }

    fn entry_pos_opt(&self, n: &Node, key: &str) -> Option<Pos> {
        match &n.value {
            Value::Map(entries) => entries.iter().find(|e| e.key == key).map(|e| e.key_pos),
            _ => None,
        }
    }

    fn entry_pos(&self, n: &Node, key: &str) -> Pos {
        self.entry_pos_opt(n, key).unwrap_or(n.pos)
    }

    fn limits(&mut self, n: &Node, field: &str) -> LimitsPatch {
        let mut l = LimitsPatch::default();
        for e in self.map(n, field).unwrap_or_default() {
            let sub = format!("{field}.{}", e.key);
            let v = &e.value;
            match e.key.as_str() {
                "memoryMib" => l.memory_mib = self.count(v, &sub),
                "cpuTime" => l.cpu_time = self.duration(v, &sub),
                "requestTimeout" => l.request_timeout = self.duration(v, &sub),
                "upstreamTimeout" => l.upstream_timeout = self.duration(v, &sub),
                "connectTimeout" => l.connect_timeout = self.duration(v, &sub),
                "maxOutboundCalls" => {
                    l.max_outbound_calls = self
                        .count(v, &sub)
                        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
                }
                "maxConcurrency" => l.max_concurrency = self.count(v, &sub),
                "maxRequestBody" => l.max_request_body = self.count(v, &sub),
                "maxResponseBody" => l.max_response_body = self.count(v, &sub),
                _ => self.unknown(
                    e,
                    field,
                    &[
                        "memoryMib",
                        "cpuTime",
                        "requestTimeout",
                        "upstreamTimeout",
                        "connectTimeout",
                        "maxOutboundCalls",
                        "maxConcurrency",
                        "maxRequestBody",
                        "maxResponseBody",
                    ],
                ),
            }
        }
        l
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "rathole")]
    #[test]
    fn rathole_listeners_decode_and_misuse_is_placed() {
        use crate::tunnel::rathole::ListenerTransport;
        let c = parse("tunnels:\n  rathole:\n    edge:\n      listen: \"0.0.0.0:2333\"\n      services:\n        crm: [crm, crm-staging]\n").unwrap();
        let edge = &c.tunnels.rathole["edge"];
        assert_eq!(edge.listen, "0.0.0.0:2333");
        assert!(matches!(edge.transport, ListenerTransport::Tcp));
        assert_eq!(edge.services["crm"], ["crm", "crm-staging"]);
        let e = parse("tunnels:\n  rathole:\n    edge:\n      listen: \"0.0.0.0:2333\"\n      transport: noise\n      noisePrivateKey: \"c2VjcmV0\"\n").unwrap_err().to_string();
        assert!(
            e.contains("host.yaml:6:24") && e.contains("not the key itself"),
            "{e}"
        );
        let e = parse("tunnels:\n  rathole:\n    edge:\n      listen: \"0.0.0.0:2333\"\n      transport: quic\n").unwrap_err().to_string();
        assert!(
            e.contains("host.yaml:5:18") && e.contains("not one of tcp, noise, tls"),
            "{e}"
        );
        let e = parse("tunnels:\n  rathole:\n    edge:\n      services: {}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen (HOST:PORT"), "{e}");
        let e = parse("tunnels:\n  wireguard: {}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown key 'wireguard' in tunnels"), "{e}");
    }

    #[test]
    fn a_capability_from_a_registry_decodes_and_misuse_is_placed() {
        let c = parse("capabilities:\n  crm:\n    from: \"oci://127.0.0.1:5000/crm:1\"\n    binds: secrets/crm\n    refresh: 5s\n").unwrap();
        let crm = &c.capabilities["crm"];
        assert_eq!(
            crm.from.as_ref().unwrap().to_string(),
            "oci://127.0.0.1:5000/crm:1"
        );
        assert_eq!(
            crm.binds.as_deref(),
            Some(Path::new("/etc/ikanos/secrets/crm"))
        );
        assert_eq!(crm.refresh, Some(Duration::from_secs(5)));
        let e = parse(
            "capabilities:\n  crm:\n    file: a.ikanos.yaml\n    from: \"oci://r.io/crm:1\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("host.yaml:4:5") && e.contains("not both"), "{e}");
        let e = parse("capabilities:\n  crm:\n    file: a.ikanos.yaml\n    refresh: 5s\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("host.yaml:4:5") && e.contains("only for a capability pulled"),
            "{e}"
        );
        let e = parse("capabilities:\n  crm:\n    from: \"crm:1\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("host.yaml:3:11") && e.contains("oci://REGISTRY/NAME:TAG"),
            "{e}"
        );
        let e = parse("defaults:\n  from: \"oci://r.io/crm:1\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown key 'from'"), "{e}");
    }

    fn parse(text: &str) -> Result<HostConfig, ConfigError> {
        HostConfig::parse(Path::new("/etc/ikanos/host.yaml"), text, &|v| {
            (v == "ADMIN").then(|| "a-long-enough-admin-token".to_string())
        })
    }

    #[test]
    fn a_full_file_decodes_and_merges_defaults_with_overrides() {
        let c = parse(
            "listen: \"127.0.0.1:8080\"\ncontrol:\n  listen: \"127.0.0.1:9191\"\n  token: {env: ADMIN}\ncapabilitiesDir: caps\nwatch: false\ndrainTimeout: 5s\npool: {maxInstances: 50, maxMemoryMib: 128}\ndefaults:\n  limits: {memoryMib: 32, cpuTime: 200ms}\n  env: [A]\ncapabilities:\n  crm:\n    limits: {maxConcurrency: 2, cpuTime: 2s}\n    ownListeners: false\n    caBundles: {crm: pki/ca.pem}\n",
        )
        .unwrap();
        assert_eq!(c.listen.as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(c.control, "127.0.0.1:9191");
        assert_eq!(
            c.admin_token.as_ref().map(|t| t.expose().to_string()),
            Some("a-long-enough-admin-token".into())
        );
        assert_eq!(c.dir, Some(PathBuf::from("/etc/ikanos/caps")));
        assert!(!c.watch);
        assert_eq!(c.pool.max_instances, 50);
        let crm = c.settings_for("crm");
        assert_eq!(crm.limits.memory_bytes, 32 << 20);
        assert_eq!(crm.limits.cpu_time, Duration::from_secs(2));
        assert_eq!(crm.limits.max_concurrency, 2);
        assert_eq!(crm.env, vec!["A".to_string()]);
        assert!(!crm.own_listeners);
        assert_eq!(
            crm.ca_bundles.get("crm"),
            Some(&PathBuf::from("/etc/ikanos/pki/ca.pem"))
        );
        let other = c.settings_for("other");
        assert_eq!(other.limits.cpu_time, Duration::from_millis(200));
        assert_eq!(other.limits.max_concurrency, 16);
        assert!(other.own_listeners);
        assert_eq!(c.largest_memory_limit(), 32 << 20);
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let Err(ConfigError::Invalid(p)) = parse(
            "listen: nowhere\ncontrol:\n  token: \"literal-token-value-here\"\ndefaults:\n  limits: {cpuTime: soon, memoryMb: 3}\ncapabilities:\n  \"Bad Name\": {}\nextra: 1\n",
        ) else {
            panic!("expected problems");
        };
        let all = p.join("\n");
        assert!(
            all.contains("host.yaml:1:9: listen: 'nowhere' is not HOST:PORT"),
            "{all}"
        );
        assert!(
            all.contains("host.yaml:3:10: control.token: write where the token is"),
            "{all}"
        );
        assert!(
            all.contains("host.yaml:5:21: defaults.limits.cpuTime: 'soon'"),
            "{all}"
        );
        assert!(
            all.contains("host.yaml:5:27: unknown key 'memoryMb'"),
            "{all}"
        );
        assert!(
            all.contains("host.yaml:7:3: capabilities.Bad Name:"),
            "{all}"
        );
        assert!(all.contains("host.yaml:8:1: unknown key 'extra'"), "{all}");
        assert!(!all.contains("literal-token-value-here"), "{all}");
    }

    #[test]
    fn short_or_missing_tokens_are_refused() {
        let Err(ConfigError::Invalid(p)) = parse("control:\n  token: {env: NOPE}\n") else {
            panic!()
        };
        assert!(p[0].contains("'NOPE' is not set"), "{p:?}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t"), "short\n").unwrap();
        let Err(ConfigError::Invalid(p)) = HostConfig::parse(
            &dir.path().join("h.yaml"),
            "control:\n  token: {file: t}\n",
            &|_| None,
        ) else {
            panic!()
        };
        assert!(p[0].contains("at least 16 characters"), "{p:?}");
    }
}
