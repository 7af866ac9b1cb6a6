//! A typed builder for the capability files the end-to-end tests write: the parts a
//! test changes (binds, consumes entries with their tunnel and authentication, REST and
//! MCP exposes) as values, rendered to YAML in a fixed layout. Knows no test data (that
//! is `fixtures`) and nothing of how the host reads a file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::write;

/// A capability file: the test header with one `binds` entry, then the consumes and
/// exposes entries in the order they were added.
#[derive(Clone)]
pub struct Capability {
    display: String,
    binds: Binds,
    consumes: Vec<Consumes>,
    exposes: Vec<Exposes>,
}

/// The capability's one `binds` entry.
#[derive(Clone)]
pub enum Binds {
    /// Namespace `secrets`: keys (variable, key) read from `location`, or from the
    /// host's environment when there is no location line.
    Secrets {
        location: Option<String>,
        keys: Vec<(String, String)>,
    },
    /// A bind entry imported from another file under another name.
    Import {
        name: String,
        from: String,
        alias: String,
    },
}

/// One `consumes` entry.
#[derive(Clone)]
pub enum Consumes {
    Http(HttpConsumes),
    /// An entry imported from another file.
    Import {
        name: String,
        from: String,
    },
}

/// An HTTP API the capability consumes.
#[derive(Clone)]
pub struct HttpConsumes {
    pub namespace: String,
    pub description: String,
    pub base_uri: String,
    pub tunnel: Option<Tunnel>,
    pub authentication: Option<Authentication>,
    pub operations: Vec<ConsumedOp>,
}

/// One consumed operation in its own resource.
#[derive(Clone, Copy)]
pub struct ConsumedOp {
    pub resource: &'static str,
    pub path: &'static str,
    pub name: &'static str,
    pub method: &'static str,
    pub inputs: &'static [ConsumedInput],
}

/// A consumed operation's input: (name, in, fixed value).
pub type ConsumedInput = (&'static str, &'static str, Option<&'static str>);

impl ConsumedOp {
    pub const fn new(
        resource: &'static str,
        path: &'static str,
        name: &'static str,
        method: &'static str,
        inputs: &'static [ConsumedInput],
    ) -> Self {
        ConsumedOp {
            resource,
            path,
            name,
            method,
            inputs,
        }
    }
}

/// A consumes entry's `tunnel` block: its type and its settings, in order.
#[derive(Clone)]
pub struct Tunnel {
    kind: String,
    settings: Vec<(String, String)>,
}

/// An `authentication` block, of a consumes entry (what the host adds) or of an
/// exposes entry (what the host checks).
#[derive(Clone, Copy)]
pub enum Authentication {
    Bearer {
        token: &'static str,
    },
    Basic {
        username: &'static str,
        password: &'static str,
    },
    Digest {
        username: &'static str,
        password: &'static str,
    },
    ApiKey {
        key: &'static str,
        value: &'static str,
        placement: Option<&'static str>,
    },
}

/// One `exposes` entry.
#[derive(Clone)]
pub enum Exposes {
    Rest(RestExposes),
    Mcp(McpExposes),
    /// An entry written out as YAML, for an adapter only one test declares.
    Literal(String),
}

/// A REST adapter on 127.0.0.1 with one resource per operation.
#[derive(Clone)]
pub struct RestExposes {
    pub namespace: String,
    pub port: u16,
    pub authentication: Option<Authentication>,
    pub operations: Vec<Op<'static>>,
}

/// One exposed REST operation in its own resource named like it: path, name, method,
/// inputs as (name, in, type).
#[derive(Clone, Copy)]
pub struct Op<'a> {
    pub path: &'a str,
    pub name: &'a str,
    pub method: &'a str,
    pub inputs: &'a [(&'a str, &'a str, &'a str)],
}

impl<'a> Op<'a> {
    pub const fn new(
        path: &'a str,
        name: &'a str,
        method: &'a str,
        inputs: &'a [(&'a str, &'a str, &'a str)],
    ) -> Self {
        Op {
            path,
            name,
            method,
            inputs,
        }
    }
}

/// How an MCP adapter is reached.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum McpTransport {
    /// Streamable HTTP on 127.0.0.1, port 0.
    Http,
    Stdio,
}

/// An MCP adapter: its socket, namespace and authentication typed, the rest of the
/// entry (tools, resources, prompts) as YAML.
#[derive(Clone, Copy)]
pub struct McpExposes {
    pub namespace: &'static str,
    pub transport: McpTransport,
    pub authentication: Option<Authentication>,
    /// The entry's lines after its namespace and authentication.
    pub body: &'static str,
}

impl Capability {
    /// The test header with `binds`; nothing consumed or exposed.
    pub fn with_binds(display: &str, binds: Binds) -> Self {
        Capability {
            display: display.into(),
            binds,
            consumes: Vec::new(),
            exposes: Vec::new(),
        }
    }

    pub fn consumes(mut self, entry: impl Into<Consumes>) -> Self {
        self.consumes.push(entry.into());
        self
    }

    pub fn exposes(mut self, entry: impl Into<Exposes>) -> Self {
        self.exposes.push(entry.into());
        self
    }

    /// Replace the binds entry.
    pub fn binds(mut self, binds: Binds) -> Self {
        self.binds = binds;
        self
    }

    /// Read the `secrets` keys from `location`, or from the environment when `None`.
    pub fn bind_location(mut self, location: Option<&str>) -> Self {
        match &mut self.binds {
            Binds::Secrets { location: l, .. } => *l = location.map(str::to_string),
            Binds::Import { .. } => panic!("an imported binds entry has no location"),
        }
        self
    }

    /// One more `secrets` key: variable `var` read from key `key`.
    pub fn bind_key(mut self, var: &str, key: &str) -> Self {
        match &mut self.binds {
            Binds::Secrets { keys, .. } => keys.push((var.into(), key.into())),
            Binds::Import { .. } => panic!("an imported binds entry has no keys"),
        }
        self
    }

    /// The `secrets` keys as (variable, key), replacing the default `CRM_TOKEN`.
    pub fn bind_keys(mut self, new: &[(&str, &str)]) -> Self {
        match &mut self.binds {
            Binds::Secrets { keys, .. } => {
                *keys = new
                    .iter()
                    .map(|(v, k)| (v.to_string(), k.to_string()))
                    .collect()
            }
            Binds::Import { .. } => panic!("an imported binds entry has no keys"),
        }
        self
    }

    /// The consumes entry `namespace`, to change it.
    pub fn consumed(&mut self, namespace: &str) -> &mut HttpConsumes {
        self.consumes
            .iter_mut()
            .find_map(|c| match c {
                Consumes::Http(h) if h.namespace == namespace => Some(h),
                _ => None,
            })
            .unwrap_or_else(|| panic!("the capability consumes no '{namespace}'"))
    }

    /// The first REST exposes entry, to change it.
    pub fn rest(&mut self) -> &mut RestExposes {
        self.exposes
            .iter_mut()
            .find_map(|e| match e {
                Exposes::Rest(r) => Some(r),
                _ => None,
            })
            .expect("the capability exposes no REST adapter")
    }

    /// The first MCP exposes entry, to change it.
    pub fn mcp_adapter(&mut self) -> &mut McpExposes {
        self.exposes
            .iter_mut()
            .find_map(|e| match e {
                Exposes::Mcp(m) => Some(m),
                _ => None,
            })
            .expect("the capability exposes no MCP adapter")
    }

    /// The YAML text of the file.
    pub fn render(&self) -> String {
        let mut y = format!(
            "ikanos: \"1.0.0-beta5\"\ninfo:\n  display: \"{}\"\n  description: \"A capability written by the end-to-end tests.\"\nbinds:\n",
            self.display
        );
        self.binds.render(&mut y);
        y.push_str("capability:\n");
        if !self.consumes.is_empty() {
            y.push_str("  consumes:\n");
            for c in &self.consumes {
                c.render(&mut y);
            }
        }
        if !self.exposes.is_empty() {
            y.push_str("  exposes:\n");
            for e in &self.exposes {
                e.render(&mut y);
            }
        }
        y
    }

    /// Write the file as `dir/name`; its path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        write(dir, name, &self.render())
    }
}

impl Binds {
    fn render(&self, y: &mut String) {
        match self {
            Binds::Secrets { location, keys } => {
                y.push_str("  - namespace: \"secrets\"\n");
                if let Some(location) = location {
                    let _ = writeln!(y, "    location: \"{location}\"");
                }
                y.push_str("    keys:\n");
                for (var, key) in keys {
                    let _ = writeln!(y, "      {var}: \"{key}\"");
                }
            }
            Binds::Import { name, from, alias } => {
                let _ = write!(y, "  - import: {name}\n    from: {from}\n    as: {alias}\n");
            }
        }
    }
}

impl Consumes {
    fn render(&self, y: &mut String) {
        match self {
            Consumes::Http(h) => h.render(y),
            Consumes::Import { name, from } => {
                let _ = write!(y, "    - import: {name}\n      from: {from}\n");
            }
        }
    }
}

impl From<HttpConsumes> for Consumes {
    fn from(h: HttpConsumes) -> Self {
        Consumes::Http(h)
    }
}

impl HttpConsumes {
    fn render(&self, y: &mut String) {
        let _ = write!(
            y,
            "    - type: \"http\"\n      namespace: \"{}\"\n      description: \"{}\"\n      baseUri: \"{}\"\n",
            self.namespace, self.description, self.base_uri
        );
        if let Some(tunnel) = &self.tunnel {
            tunnel.render(y);
        }
        if let Some(authentication) = &self.authentication {
            authentication.render(y);
        }
        y.push_str("      resources:\n");
        for op in &self.operations {
            let _ = write!(
                y,
                "        {}:\n          path: \"{}\"\n          operations:\n            {}:\n              method: \"{}\"\n",
                op.resource, op.path, op.name, op.method
            );
            if !op.inputs.is_empty() {
                y.push_str("              inputParameters:\n");
                for (name, place, value) in op.inputs {
                    let _ = write!(
                        y,
                        "                {name}:\n                  in: \"{place}\"\n"
                    );
                    if let Some(value) = value {
                        let _ = writeln!(y, "                  value: \"{value}\"");
                    }
                }
            }
        }
    }
}

impl Tunnel {
    pub fn new(kind: &str) -> Self {
        Tunnel {
            kind: kind.into(),
            settings: Vec::new(),
        }
    }

    /// Set `key` to `value`: in place when present, else last.
    pub fn set(mut self, key: &str, value: impl Into<String>) -> Self {
        let value = value.into();
        match self.settings.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.settings.push((key.into(), value)),
        }
        self
    }

    /// Add `key` right after the setting `after`.
    pub fn insert_after(mut self, after: &str, key: &str, value: impl Into<String>) -> Self {
        let at = self
            .settings
            .iter()
            .position(|(k, _)| k == after)
            .unwrap_or_else(|| panic!("the tunnel has no setting '{after}'"));
        self.settings.insert(at + 1, (key.into(), value.into()));
        self
    }

    pub fn remove(mut self, key: &str) -> Self {
        self.settings.retain(|(k, _)| k != key);
        self
    }

    fn render(&self, y: &mut String) {
        let _ = write!(y, "      tunnel:\n        type: \"{}\"\n", self.kind);
        for (k, v) in &self.settings {
            let _ = writeln!(y, "        {k}: \"{v}\"");
        }
    }
}

impl Authentication {
    fn render(&self, y: &mut String) {
        let (kind, fields): (&str, Vec<(&str, &str)>) = match *self {
            Authentication::Bearer { token } => ("bearer", vec![("token", token)]),
            Authentication::Basic { username, password } => (
                "basic",
                vec![("username", username), ("password", password)],
            ),
            Authentication::Digest { username, password } => (
                "digest",
                vec![("username", username), ("password", password)],
            ),
            Authentication::ApiKey {
                key,
                value,
                placement,
            } => {
                let mut fields = vec![("key", key), ("value", value)];
                fields.extend(placement.map(|p| ("placement", p)));
                ("apikey", fields)
            }
        };
        let _ = write!(y, "      authentication:\n        type: \"{kind}\"\n");
        for (k, v) in fields {
            let _ = writeln!(y, "        {k}: \"{v}\"");
        }
    }
}

impl Exposes {
    fn render(&self, y: &mut String) {
        match self {
            Exposes::Rest(r) => r.render(y),
            Exposes::Mcp(m) => m.render(y),
            Exposes::Literal(text) => y.push_str(text),
        }
    }
}

impl From<RestExposes> for Exposes {
    fn from(r: RestExposes) -> Self {
        Exposes::Rest(r)
    }
}

impl From<McpExposes> for Exposes {
    fn from(m: McpExposes) -> Self {
        Exposes::Mcp(m)
    }
}

impl RestExposes {
    fn render(&self, y: &mut String) {
        let _ = write!(
            y,
            "    - type: rest\n      address: \"127.0.0.1\"\n      port: {}\n      namespace: \"{}\"\n",
            self.port, self.namespace
        );
        if let Some(authentication) = &self.authentication {
            authentication.render(y);
        }
        y.push_str("      resources:\n");
        for op in &self.operations {
            let _ = write!(y, "        {}:\n          path: \"{}\"\n          operations:\n            {}:\n              method: \"{}\"\n", op.name, op.path, op.name, op.method);
            if !op.inputs.is_empty() {
                y.push_str("              inputParameters:\n");
                for (name, place, ty) in op.inputs {
                    let _ = write!(y, "                \"{name}\":\n                  in: \"{place}\"\n                  type: \"{ty}\"\n                  description: \"test input {name}\"\n");
                }
            }
        }
    }
}

impl McpExposes {
    fn render(&self, y: &mut String) {
        y.push_str("    - type: \"mcp\"\n");
        match self.transport {
            McpTransport::Stdio => y.push_str("      transport: \"stdio\"\n"),
            McpTransport::Http => y.push_str("      address: \"127.0.0.1\"\n      port: 0\n"),
        }
        let _ = writeln!(y, "      namespace: \"{}\"", self.namespace);
        if let Some(authentication) = &self.authentication {
            authentication.render(y);
        }
        y.push_str(self.body);
    }
}
