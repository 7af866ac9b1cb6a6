//! Decoding one YAML document into model pieces.
//!
//! Owns: the shape of every section (required keys, unknown keys where the upstream
//! schema forbids them, value types and enums, identifier patterns, baseUri syntax)
//! and the side facts the cross-checks need but the model does not keep (call sites
//! and their `with` keys, listening sockets, every template with its scope).
//! Decoders never stop at the first problem: a missing required value gets a
//! placeholder and an error, so that later checks still run and every problem of a
//! file is reported in one go.
//! Must not touch: other files (imports only appear here as `Item::Import`) and
//! cross-references between sections (that is `check`).

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

use crate::diagnostic::{did_you_mean, Sink};
use crate::location::{self, Location};
use crate::model::*;
use crate::yaml::{Entry, Node, Value};

static KEBAB: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9-]+$").expect("constant regex"));
static PARAM_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9\-_*]+$").expect("constant regex"));
static BIND_VAR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Z][A-Z0-9_]*$").expect("constant regex"));
static BASE_URI: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^https?://[^/]+(/[^{]*)?$").expect("constant regex"));
static CALL_TARGET: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9-]+\.[a-zA-Z0-9-]+$").expect("constant regex"));
static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$")
        .expect("constant regex")
});
static LOOPBACK_URI: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:|/|$)").expect("constant regex")
});

/// One decoded document (a capability file or a shared file), imports not yet inlined.
#[derive(Debug)]
pub(crate) struct Document {
    pub file: PathBuf,
    pub version: Option<Spanned<String>>,
    pub info: Option<Info>,
    /// A `capability:` key is present (shared files must not have one).
    pub has_capability: bool,
    /// Root-level sections (name, position of the key), for the "one section" rule.
    pub root_sections: Vec<(&'static str, Pos)>,
    pub binds: Vec<Item<Bind>>,
    pub consumes: Vec<Item<DConsumes>>,
    pub exposes: Vec<Item<DExposes>>,
    pub aggregates: Vec<Item<DAggregate>>,
}

#[derive(Debug, Clone)]
pub(crate) enum Item<T> {
    Inline(T),
    Import(ImportEntry),
}

/// `{from, import, as?, description?}` in a section list.
#[derive(Debug, Clone)]
pub(crate) struct ImportEntry {
    pub from: Spanned<String>,
    pub import: Spanned<String>,
    pub alias: Option<Spanned<String>>,
    pub pos: Pos,
    /// The entry's field path, e.g. `capability.consumes[1]`.
    pub field: String,
}

/// A consumes entry and what the checks need to know about it.
#[derive(Debug, Clone)]
pub(crate) struct DConsumes {
    pub model: Consumes,
    pub field: String,
    pub refs: Vec<RefSite>,
    /// Field path of each resource / operation, same indices as the model.
    pub resource_fields: Vec<String>,
}

/// An exposes entry of any type.
#[derive(Debug, Clone)]
pub(crate) struct DExposes {
    /// None for types this host has no model for (never the case today) or broken entries.
    pub model: Option<Exposes>,
    pub field: String,
    pub namespace: Option<Spanned<String>>,
    pub listen: Option<Listen>,
    pub calls: Vec<CallSite>,
    pub flow_refs: Vec<(String, Spanned<String>)>,
    pub forwards: Vec<(String, Spanned<String>)>,
    pub refs: Vec<RefSite>,
    pub resource_fields: Vec<String>,
}

/// A socket an exposes entry listens on.
#[derive(Debug, Clone)]
pub(crate) struct Listen {
    pub address: Option<Spanned<String>>,
    pub port: Spanned<u16>,
}

#[derive(Debug, Clone)]
pub(crate) struct DAggregate {
    pub namespace: Option<Spanned<String>>,
    pub flows: Vec<Spanned<String>>,
    pub calls: Vec<CallSite>,
}

/// `call: ns.op` somewhere (exposed operation, MCP tool, step, aggregate flow).
#[derive(Debug, Clone)]
pub(crate) struct CallSite {
    pub field: String,
    pub target: Spanned<String>,
    /// Keys of the accompanying `with:` — values the caller supplies by name.
    pub with_keys: Vec<String>,
}

/// A template and the names its flat `{{x}}` references may use besides bind keys.
#[derive(Debug, Clone)]
pub(crate) struct RefSite {
    pub field: String,
    pub template: Template,
    pub scope: Scope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Authentication, tunnel identity: binds only.
    Binds,
    /// A consumes entry's parameters (namespace level when resource is None, resource
    /// level when operation is None); indices into that entry's model.
    Consumed { resource: Option<usize>, operation: Option<usize> },
    /// An exposes rest entry's parameters.
    Exposed { resource: Option<usize>, operation: Option<usize> },
}

pub(crate) struct Decoder<'a> {
    file: &'a Path,
    sink: &'a mut Sink,
}

/// Keys of a mapping node (empty for anything else).
fn entries(n: &Node) -> &[Entry] {
    n.as_map().unwrap_or(&[])
}

impl<'a> Decoder<'a> {
    pub fn new(file: &'a Path, sink: &'a mut Sink) -> Self {
        Decoder { file, sink }
    }

    fn err(&mut self, pos: Pos, msg: impl Into<String>) {
        self.sink.error(self.file, pos, msg);
    }

    fn warn(&mut self, pos: Pos, msg: impl Into<String>) {
        self.sink.warn(self.file, pos, msg);
    }

    fn spanned<T>(&self, value: T, pos: Pos) -> Spanned<T> {
        Spanned { value, pos, file: self.file.to_path_buf() }
    }

    /// The node as a mapping, or an error naming the field.
    fn expect_map(&mut self, n: &Node, field: &str) -> bool {
        match n.value {
            Value::Map(_) => true,
            _ => {
                self.err(n.pos, format!("{field}: expected a mapping, found {}", n.kind()));
                false
            }
        }
    }

    /// Report keys of `n` outside `allowed`, with a spelling hint.
    fn known_keys(&mut self, n: &Node, allowed: &[&str], field: &str) {
        for e in entries(n) {
            if !allowed.contains(&e.key.as_str()) {
                let hint = did_you_mean(&e.key, allowed.iter().copied());
                self.err(e.key_pos, format!("unknown key '{}' in {field}{hint}", e.key));
            }
        }
    }

    fn required<'n>(&mut self, n: &'n Node, key: &str, field: &str) -> Option<&'n Node> {
        let v = n.get(key);
        if v.is_none() && n.as_map().is_some() {
            self.err(n.pos, format!("missing required key '{key}' in {field}"));
        }
        v
    }

    /// A string value; other scalars are refused with a hint to quote them.
    fn string(&mut self, n: &Node, field: &str) -> Option<Spanned<String>> {
        match &n.value {
            Value::Str(s) => Some(self.spanned(s.clone(), n.pos)),
            Value::Int(..) | Value::Float(..) | Value::Bool(_) => {
                let text = n.scalar_text().unwrap_or_default();
                self.err(n.pos, format!("{field}: expected a string, found {} (quote it: \"{text}\")", n.kind()));
                None
            }
            _ => {
                self.err(n.pos, format!("{field}: expected a string, found {}", n.kind()));
                None
            }
        }
    }

    /// An optional string field; `key:` with nothing after it counts as absent.
    fn opt_string(&mut self, parent: &Node, key: &str, field: &str) -> Option<Spanned<String>> {
        match parent.get(key) {
            None => None,
            Some(n) if matches!(n.value, Value::Null) => None,
            Some(n) => self.string(n, &format!("{field}.{key}")),
        }
    }

    /// A required string field; placeholder "" (and an error) when missing or mistyped.
    fn req_string(&mut self, parent: &Node, key: &str, field: &str) -> Spanned<String> {
        let pos = parent.pos;
        match self.required(parent, key, field) {
            Some(n) => self.string(n, &format!("{field}.{key}")),
            None => None,
        }
        .unwrap_or_else(|| self.spanned(String::new(), pos))
    }

    fn kebab(&mut self, s: &Spanned<String>, what: &str, field: &str) {
        if !s.value.is_empty() && !KEBAB.is_match(&s.value) {
            self.err(s.pos, format!("{field}: {what} '{}' must match ^[a-zA-Z0-9-]+$ (letters, digits, '-')", s.value));
        }
    }

    fn enum_value<T: Copy>(&mut self, n: &Node, field: &str, options: &[(&str, T)]) -> Option<T> {
        let s = self.string(n, field)?;
        if let Some((_, v)) = options.iter().find(|(k, _)| *k == s.value) {
            return Some(*v);
        }
        let names: Vec<&str> = options.iter().map(|(k, _)| *k).collect();
        let hint = did_you_mean(&s.value, names.iter().copied());
        self.err(n.pos, format!("{field}: '{}' is not one of {}{hint}", s.value, names.join(", ")));
        None
    }

    fn template(&mut self, n: &Node, field: &str) -> Option<Template> {
        self.string(n, field).map(Template::parse)
    }

    fn port(&mut self, n: &Node, field: &str) -> Option<Spanned<u16>> {
        match n.value {
            Value::Int(i, _) => match u16::try_from(i) {
                Ok(p) => Some(self.spanned(p, n.pos)),
                Err(_) => {
                    self.err(n.pos, format!("{field}: {i} is not a port number (0-65535; 0 picks a free port)"));
                    None
                }
            },
            _ => {
                self.err(n.pos, format!("{field}: expected a port number, found {}", n.kind()));
                None
            }
        }
    }

    fn address(&mut self, parent: &Node, field: &str) -> Option<Spanned<String>> {
        let a = self.opt_string(parent, "address", field)?;
        let v = a.value.as_str();
        if v.parse::<std::net::IpAddr>().is_err() && !HOSTNAME.is_match(v) {
            self.err(a.pos, format!("{field}.address: '{v}' is not a hostname or an IP address"));
        }
        Some(a)
    }

    /// `key: {name: {...}}` collections: entries whose value is a mapping.
    fn named<'n>(&mut self, parent: &'n Node, key: &str, field: &str) -> Vec<&'n Entry> {
        let Some(n) = parent.get(key) else { return Vec::new() };
        if matches!(n.value, Value::Null) {
            return Vec::new();
        }
        if !self.expect_map(n, &format!("{field}.{key}")) {
            return Vec::new();
        }
        entries(n).iter().collect()
    }

    // ----- document -----

    pub fn document(&mut self, root: &Node) -> Option<Document> {
        if !root.as_map().is_some() {
            self.err(root.pos, format!("expected a mapping with 'ikanos:' at the top level, found {}", root.kind()));
            return None;
        }
        self.known_keys(root, &["ikanos", "info", "binds", "capability", "consumes", "exposes", "aggregates"], "the document");
        let version = self.version(root);
        let info = root.get("info").and_then(|n| self.info(n));
        let mut doc = Document {
            file: self.file.to_path_buf(),
            version,
            info,
            has_capability: root.get("capability").is_some(),
            root_sections: Vec::new(),
            binds: Vec::new(),
            consumes: Vec::new(),
            exposes: Vec::new(),
            aggregates: Vec::new(),
        };
        for e in entries(root) {
            if let Some(name) = ["binds", "consumes", "exposes", "aggregates"].into_iter().find(|s| *s == e.key) {
                doc.root_sections.push((name, e.key_pos));
            }
        }
        self.sections(root, "", &mut doc);
        if let Some(cap) = root.get("capability") {
            if self.expect_map(cap, "capability") {
                self.known_keys(cap, &["binds", "exposes", "consumes", "aggregates"], "capability");
                self.sections(cap, "capability.", &mut doc);
                if cap.get("consumes").is_none() && cap.get("exposes").is_none() {
                    self.err(cap.pos, "capability: declares neither consumes nor exposes".to_string());
                }
            }
        } else if doc.root_sections.is_empty() {
            self.err(
                root.pos,
                "missing required key 'capability' (or, for a shared file, one of consumes, exposes, aggregates, binds)",
            );
        }
        Some(doc)
    }

    fn version(&mut self, root: &Node) -> Option<Spanned<String>> {
        let n = self.required(root, "ikanos", "the document")?;
        let Some(text) = n.scalar_text() else {
            self.err(n.pos, format!("ikanos: expected a version string, found {}", n.kind()));
            return None;
        };
        if !SUPPORTED_VERSIONS.contains(&text.as_str()) {
            self.err(
                n.pos,
                format!("ikanos: unsupported version '{text}' (supported: {})", SUPPORTED_VERSIONS.join(", ")),
            );
            return None;
        }
        Some(self.spanned(text, n.pos))
    }

    fn info(&mut self, n: &Node) -> Option<Info> {
        if !self.expect_map(n, "info") {
            return None;
        }
        self.known_keys(n, &["display", "description", "tags", "created", "modified", "version", "stakeholders"], "info");
        let display = self.opt_string(n, "display", "info").map(|s| s.value);
        let description = self.opt_string(n, "description", "info").map(|s| s.value);
        Some(Info { display, description })
    }

    fn sections(&mut self, parent: &Node, prefix: &str, doc: &mut Document) {
        for (i, item) in self.list(parent, "binds", prefix) {
            let field = format!("{prefix}binds[{i}]");
            if let Some(it) = self.item(item, &field, |d, n, f| d.bind(n, f)) {
                doc.binds.push(it);
            }
        }
        for (i, item) in self.list(parent, "consumes", prefix) {
            let field = format!("{prefix}consumes[{i}]");
            if let Some(it) = self.item(item, &field, |d, n, f| d.consumes(n, f)) {
                doc.consumes.push(it);
            }
        }
        for (i, item) in self.list(parent, "exposes", prefix) {
            let field = format!("{prefix}exposes[{i}]");
            if let Some(it) = self.item(item, &field, |d, n, f| d.exposes(n, f)) {
                doc.exposes.push(it);
            }
        }
        for (i, item) in self.list(parent, "aggregates", prefix) {
            let field = format!("{prefix}aggregates[{i}]");
            if let Some(it) = self.item(item, &field, |d, n, f| d.aggregate(n, f)) {
                doc.aggregates.push(it);
            }
        }
    }

    fn list<'n>(&mut self, parent: &'n Node, key: &str, prefix: &str) -> Vec<(usize, &'n Node)> {
        let Some(n) = parent.get(key) else { return Vec::new() };
        match &n.value {
            Value::Seq(items) => {
                if items.is_empty() {
                    self.err(n.pos, format!("{prefix}{key}: the list is empty (remove the key or add an entry)"));
                }
                items.iter().enumerate().collect()
            }
            Value::Null => Vec::new(),
            _ => {
                self.err(n.pos, format!("{prefix}{key}: expected a list, found {}", n.kind()));
                Vec::new()
            }
        }
    }

    /// A list entry: an import entry or an inline one decoded by `inline`.
    fn item<T>(
        &mut self,
        n: &Node,
        field: &str,
        inline: impl FnOnce(&mut Self, &Node, &str) -> Option<T>,
    ) -> Option<Item<T>> {
        if !self.expect_map(n, field) {
            return None;
        }
        if n.get("import").is_some() || n.get("from").is_some() {
            return self.import_entry(n, field).map(Item::Import);
        }
        inline(self, n, field).map(Item::Inline)
    }

    fn import_entry(&mut self, n: &Node, field: &str) -> Option<ImportEntry> {
        self.known_keys(n, &["from", "import", "as", "description"], field);
        let from = self.req_string(n, "from", field);
        let import = self.req_string(n, "import", field);
        let alias = self.opt_string(n, "as", field);
        self.kebab(&import, "import", &format!("{field}.import"));
        if let Some(a) = &alias {
            self.kebab(a, "as", &format!("{field}.as"));
        }
        if from.value.is_empty() || import.value.is_empty() {
            return None;
        }
        Some(ImportEntry { from, import, alias, pos: n.pos, field: field.to_string() })
    }

    // ----- binds -----

    fn bind(&mut self, n: &Node, field: &str) -> Option<Bind> {
        self.known_keys(n, &["namespace", "description", "location", "keys"], field);
        let namespace = self.req_string(n, "namespace", field);
        self.kebab(&namespace, "namespace", &format!("{field}.namespace"));
        let location = self.opt_string(n, "location", field);
        if let Some(loc) = &location {
            match location::parse(&loc.value, false) {
                Err(e) => self.err(loc.pos, format!("{field}.location: {e}")),
                Ok(Location::Other(scheme)) => self.warn(
                    loc.pos,
                    format!("{field}.location: '{scheme}:' locations are not provided by this host; binds in it cannot be resolved at run time"),
                ),
                Ok(Location::Relative(p)) if location::escapes(&p) => self.warn(
                    loc.pos,
                    format!("{field}.location: '{}' climbs out of the capability folder; it will be refused at run time (use an absolute file:/// location)", loc.value),
                ),
                Ok(_) => {}
            }
        }
        let mut keys = Vec::new();
        if let Some(k) = self.required(n, "keys", field) {
            let kfield = format!("{field}.keys");
            if self.expect_map(k, &kfield) {
                for e in entries(k) {
                    if !BIND_VAR.is_match(&e.key) {
                        self.err(
                            e.key_pos,
                            format!("{kfield}: variable name '{}' must match ^[A-Z][A-Z0-9_]*$ (upper case, digits, '_')", e.key),
                        );
                    }
                    let Some(provider) = self.string(&e.value, &format!("{kfield}.{}", e.key)) else { continue };
                    if !PARAM_NAME.is_match(&provider.value) {
                        self.err(
                            provider.pos,
                            format!("{kfield}.{}: provider key '{}' must match ^[a-zA-Z0-9-_*]+$", e.key, provider.value),
                        );
                    }
                    keys.push((self.spanned(e.key.clone(), e.key_pos), provider));
                }
            }
        }
        Some(Bind { namespace, location, keys, pos: n.pos, field: field.to_string() })
    }

    // ----- consumes -----

    fn consumes(&mut self, n: &Node, field: &str) -> Option<DConsumes> {
        self.known_keys(
            n,
            &["namespace", "type", "description", "baseUri", "inputParameters", "authentication", "tunnel", "resources"],
            field,
        );
        if let Some(t) = self.required(n, "type", field) {
            if let Some(t) = self.string(t, &format!("{field}.type")) {
                if t.value != "http" {
                    self.err(t.pos, format!("{field}.type: unsupported consumes type '{}' (this host supports 'http')", t.value));
                }
            }
        }
        let namespace = self.req_string(n, "namespace", field);
        self.kebab(&namespace, "namespace", &format!("{field}.namespace"));
        let base_uri = self.base_uri(n, field);
        let description = self.opt_string(n, "description", field).map(|s| s.value);
        let mut refs = Vec::new();
        let ns_scope = Scope::Consumed { resource: None, operation: None };
        let input_parameters = self.consumed_params(n, field, ns_scope, &mut refs);
        let authentication = n.get("authentication").and_then(|a| self.authentication(a, &format!("{field}.authentication"), &mut refs));
        let tunnel = n.get("tunnel").and_then(|t| self.tunnel(t, &format!("{field}.tunnel"), &base_uri, &mut refs));
        let mut resources = Vec::new();
        let mut resource_fields = Vec::new();
        for e in self.named(n, "resources", field) {
            let rfield = format!("{field}.resources.{}", e.key);
            let name = self.spanned(e.key.clone(), e.key_pos);
            self.kebab(&name, "resource name", &format!("{field}.resources"));
            if !self.expect_map(&e.value, &rfield) {
                continue;
            }
            let idx = resources.len();
            resources.push(self.consumed_resource(&e.value, name, &rfield, idx, &mut refs));
            resource_fields.push(rfield);
        }
        let model = Consumes {
            namespace,
            base_uri,
            description,
            input_parameters,
            authentication,
            tunnel,
            resources,
            pos: n.pos,
        };
        Some(DConsumes { model, field: field.to_string(), refs, resource_fields })
    }

    fn base_uri(&mut self, n: &Node, field: &str) -> Spanned<url::Url> {
        let placeholder = || url::Url::parse("http://invalid.invalid/").expect("constant URL");
        let raw = self.req_string(n, "baseUri", field);
        let pos = raw.pos;
        let f = format!("{field}.baseUri");
        let v = raw.value.as_str();
        let url = if v.is_empty() {
            None
        } else if !v.starts_with("http://") && !v.starts_with("https://") {
            self.err(pos, format!("{f}: '{v}' is not an http(s) URL"));
            None
        } else if v.contains('{') {
            self.err(pos, format!("{f}: '{v}' holds a template; put placeholders in resource paths"));
            None
        } else if !BASE_URI.is_match(v) {
            self.err(pos, format!("{f}: '{v}' is not an http(s) URL"));
            None
        } else {
            match url::Url::parse(v) {
                Err(e) => {
                    self.err(pos, format!("{f}: '{v}' is not a valid URL ({e})"));
                    None
                }
                Ok(u) if u.host_str().is_none_or(str::is_empty) => {
                    self.err(pos, format!("{f}: '{v}' has no host"));
                    None
                }
                Ok(u) if u.query().is_some() => {
                    self.err(pos, format!("{f}: '{v}' has a query string; declare query values as inputParameters with in: query"));
                    None
                }
                Ok(u) if u.fragment().is_some() => {
                    self.err(pos, format!("{f}: '{v}' has a fragment (#…); remove it"));
                    None
                }
                Ok(u) => Some(u),
            }
        };
        Spanned { value: url.unwrap_or_else(placeholder), pos, file: self.file.to_path_buf() }
    }

    fn consumed_params(&mut self, n: &Node, field: &str, scope: Scope, refs: &mut Vec<RefSite>) -> Vec<ConsumedParam> {
        let mut out = Vec::new();
        for e in self.named(n, "inputParameters", field) {
            let pfield = format!("{field}.inputParameters.{}", e.key);
            if !PARAM_NAME.is_match(&e.key) {
                self.err(e.key_pos, format!("{field}.inputParameters: parameter name '{}' must match ^[a-zA-Z0-9-_*]+$", e.key));
            }
            if !self.expect_map(&e.value, &pfield) {
                continue;
            }
            let p = &e.value;
            self.known_keys(p, &["in", "value"], &pfield);
            let location = self
                .required(p, "in", &pfield)
                .and_then(|i| {
                    self.enum_value(
                        i,
                        &format!("{pfield}.in"),
                        &[
                            ("query", ParamIn::Query),
                            ("header", ParamIn::Header),
                            ("path", ParamIn::Path),
                            ("cookie", ParamIn::Cookie),
                            ("body", ParamIn::Body),
                            ("environment", ParamIn::Environment),
                        ],
                    )
                })
                .unwrap_or(ParamIn::Query);
            let value = match p.get("value") {
                Some(v) if !matches!(v.value, Value::Null) => self.template(v, &format!("{pfield}.value")),
                _ => None,
            };
            if let Some(t) = &value {
                refs.push(RefSite { field: format!("{pfield}.value"), template: t.clone(), scope });
            }
            out.push(ConsumedParam { name: self.spanned(e.key.clone(), e.key_pos), location, value });
        }
        out
    }

    fn consumed_resource(
        &mut self,
        n: &Node,
        name: Spanned<String>,
        field: &str,
        idx: usize,
        refs: &mut Vec<RefSite>,
    ) -> ConsumedResource {
        self.known_keys(n, &["display", "tags", "description", "path", "inputParameters", "operations"], field);
        let path = self.req_string(n, "path", field);
        let scope = Scope::Consumed { resource: Some(idx), operation: None };
        let input_parameters = self.consumed_params(n, field, scope, refs);
        let mut operations = Vec::new();
        if self.required(n, "operations", field).is_some() {
            let ops = self.named(n, "operations", field);
            if ops.is_empty() && n.get("operations").is_some_and(|o| o.as_map().is_some()) {
                self.err(n.pos, format!("{field}.operations: declare at least one operation"));
            }
            for e in ops {
                let ofield = format!("{field}.operations.{}", e.key);
                let oname = self.spanned(e.key.clone(), e.key_pos);
                self.kebab(&oname, "operation name", &format!("{field}.operations"));
                if !self.expect_map(&e.value, &ofield) {
                    continue;
                }
                let oidx = operations.len();
                operations.push(self.consumed_operation(&e.value, oname, &ofield, idx, oidx, refs));
            }
        }
        ConsumedResource { name, path, input_parameters, operations }
    }

    fn method(&mut self, n: &Node, field: &str) -> HttpMethod {
        self.required(n, "method", field)
            .and_then(|m| {
                self.enum_value(
                    m,
                    &format!("{field}.method"),
                    &[
                        ("GET", HttpMethod::Get),
                        ("POST", HttpMethod::Post),
                        ("PUT", HttpMethod::Put),
                        ("PATCH", HttpMethod::Patch),
                        ("DELETE", HttpMethod::Delete),
                    ],
                )
            })
            .unwrap_or(HttpMethod::Get)
    }

    fn consumed_operation(
        &mut self,
        n: &Node,
        name: Spanned<String>,
        field: &str,
        ridx: usize,
        oidx: usize,
        refs: &mut Vec<RefSite>,
    ) -> ConsumedOperation {
        self.known_keys(
            n,
            &[
                "display",
                "tags",
                "description",
                "method",
                "inputParameters",
                "outputRawFormat",
                "outputMediaType",
                "maxBinarySize",
                "outputSchema",
                "outputParameters",
                "body",
            ],
            field,
        );
        let method = self.method(n, field);
        let description = self.opt_string(n, "description", field).map(|s| s.value);
        let scope = Scope::Consumed { resource: Some(ridx), operation: Some(oidx) };
        let input_parameters = self.consumed_params(n, field, scope, refs);
        const FORMATS: &[&str] =
            &["json", "xml", "avro", "protobuf", "csv", "tsv", "psv", "yaml", "html", "markdown", "binary"];
        let output_raw_format = match self.opt_string(n, "outputRawFormat", field) {
            Some(f) if FORMATS.contains(&f.value.as_str()) => f.value,
            Some(f) => {
                let hint = did_you_mean(&f.value, FORMATS.iter().copied());
                self.err(f.pos, format!("{field}.outputRawFormat: '{}' is not one of {}{hint}", f.value, FORMATS.join(", ")));
                "json".into()
            }
            None => "json".into(),
        };
        let body = n.get("body").and_then(|b| self.body(b, &format!("{field}.body"), scope, refs));
        ConsumedOperation { name, method, description, input_parameters, body, output_raw_format, pos: n.pos }
    }

    fn body(&mut self, n: &Node, field: &str, scope: Scope, refs: &mut Vec<RefSite>) -> Option<RequestBody> {
        match &n.value {
            Value::Null => None,
            Value::Str(_) => {
                let t = self.template(n, field)?;
                refs.push(RefSite { field: field.to_string(), template: t.clone(), scope });
                Some(RequestBody::Raw(t))
            }
            Value::Map(_) => {
                let kind = self.req_string(n, "type", field);
                match kind.value.as_str() {
                    "json" => {
                        self.known_keys(n, &["type", "data"], field);
                        let data = self.required(n, "data", field)?;
                        self.json_templates(data, &format!("{field}.data"), scope, refs);
                        Some(RequestBody::Json(data.to_json()))
                    }
                    "text" | "xml" | "sparql" => {
                        self.known_keys(n, &["type", "data"], field);
                        let data = self.required(n, "data", field)?;
                        let t = self.template(data, &format!("{field}.data"))?;
                        refs.push(RefSite { field: format!("{field}.data"), template: t.clone(), scope });
                        Some(RequestBody::Text(t))
                    }
                    // Parsed leniently: the host does not send these yet.
                    "formUrlEncoded" | "multipartForm" => Some(RequestBody::Other { kind: kind.value }),
                    "" => None,
                    other => {
                        const KINDS: &[&str] = &["json", "text", "xml", "sparql", "formUrlEncoded", "multipartForm"];
                        let hint = did_you_mean(other, KINDS.iter().copied());
                        self.err(kind.pos, format!("{field}.type: unknown body type '{other}' (one of {}){hint}", KINDS.join(", ")));
                        None
                    }
                }
            }
            _ => {
                self.err(n.pos, format!("{field}: expected a string or a mapping with type and data, found {}", n.kind()));
                None
            }
        }
    }

    /// String leaves of a JSON body may hold references; record each with its position.
    fn json_templates(&mut self, n: &Node, field: &str, scope: Scope, refs: &mut Vec<RefSite>) {
        match &n.value {
            Value::Str(s) => {
                let t = Template::parse(self.spanned(s.clone(), n.pos));
                if !t.is_literal() {
                    refs.push(RefSite { field: field.to_string(), template: t, scope });
                }
            }
            Value::Seq(items) => {
                for (i, it) in items.iter().enumerate() {
                    self.json_templates(it, &format!("{field}[{i}]"), scope, refs);
                }
            }
            Value::Map(es) => {
                for e in es {
                    self.json_templates(&e.value, &format!("{field}.{}", e.key), scope, refs);
                }
            }
            _ => {}
        }
    }

    fn authentication(&mut self, n: &Node, field: &str, refs: &mut Vec<RefSite>) -> Option<Authentication> {
        if !self.expect_map(n, field) {
            return None;
        }
        let kind = self.req_string(n, "type", field);
        let mut tpl = |d: &mut Self, key: &str| -> Template {
            let f = format!("{field}.{key}");
            let t = match d.required(n, key, field) {
                Some(v) => d.template(v, &f),
                None => None,
            };
            let t = t.unwrap_or_else(|| Template::parse(d.spanned(String::new(), n.pos)));
            refs.push(RefSite { field: f, template: t.clone(), scope: Scope::Binds });
            t
        };
        Some(match kind.value.as_str() {
            "bearer" => {
                self.known_keys(n, &["type", "token"], field);
                Authentication::Bearer { token: tpl(self, "token") }
            }
            "basic" => {
                self.known_keys(n, &["type", "username", "password"], field);
                Authentication::Basic { username: tpl(self, "username"), password: tpl(self, "password") }
            }
            "digest" => {
                self.known_keys(n, &["type", "username", "password"], field);
                Authentication::Digest { username: tpl(self, "username"), password: tpl(self, "password") }
            }
            "apikey" => {
                self.known_keys(n, &["type", "key", "value", "placement"], field);
                let key = tpl(self, "key");
                let value = tpl(self, "value");
                let placement = match n.get("placement") {
                    None => ApiKeyPlacement::Header,
                    Some(p) => self
                        .enum_value(
                            p,
                            &format!("{field}.placement"),
                            &[("header", ApiKeyPlacement::Header), ("query", ApiKeyPlacement::Query)],
                        )
                        .unwrap_or(ApiKeyPlacement::Header),
                };
                Authentication::ApiKey { key, value, placement }
            }
            "oauth2" => {
                self.known_keys(
                    n,
                    &["type", "authorizationServerUri", "resource", "scopes", "audience", "tokenEndpoint", "tokenValidation"],
                    field,
                );
                self.req_string(n, "authorizationServerUri", field);
                self.req_string(n, "resource", field);
                Authentication::OAuth2 { pos: n.pos }
            }
            "" => return None,
            other => {
                const KINDS: &[&str] = &["bearer", "basic", "digest", "apikey", "oauth2"];
                let hint = did_you_mean(other, KINDS.iter().copied());
                self.err(kind.pos, format!("{field}.type: unknown authentication type '{other}' (one of {}){hint}", KINDS.join(", ")));
                return None;
            }
        })
    }

    fn tunnel(&mut self, n: &Node, field: &str, base_uri: &Spanned<url::Url>, refs: &mut Vec<RefSite>) -> Option<Tunnel> {
        if !self.expect_map(n, field) {
            return None;
        }
        let kind = self.req_string(n, "type", field);
        let ziti = kind.value == "ziti";
        if ziti {
            // The upstream schema closes the ziti shape; other types are the provider's to check.
            self.known_keys(n, &["type", "service", "identity", "fallback"], field);
        }
        let service = if ziti { Some(self.req_string(n, "service", field)) } else { self.opt_string(n, "service", field) };
        let identity_node = if ziti { self.required(n, "identity", field) } else { n.get("identity") };
        let identity = identity_node.and_then(|i| self.template(i, &format!("{field}.identity")));
        if let Some(t) = &identity {
            refs.push(RefSite { field: format!("{field}.identity"), template: t.clone(), scope: Scope::Binds });
        }
        let fallback = match n.get("fallback") {
            None => Fallback::Fail,
            Some(f) => self
                .enum_value(f, &format!("{field}.fallback"), &[("fail", Fallback::Fail), ("direct", Fallback::Direct)])
                .unwrap_or(Fallback::Fail),
        };
        if fallback == Fallback::Direct && !LOOPBACK_URI.is_match(base_uri.value.as_str()) {
            let pos = n.get("fallback").map_or(n.pos, |f| f.pos);
            self.warn(
                pos,
                format!(
                    "{field}.fallback: 'direct' sends traffic for {} over the open network when the tunnel is down",
                    base_uri.value.as_str()
                ),
            );
        }
        let extra = entries(n)
            .iter()
            .filter(|e| !["type", "service", "identity", "fallback"].contains(&e.key.as_str()))
            .map(|e| (self.spanned(e.key.clone(), e.key_pos), e.value.to_json()))
            .collect();
        Some(Tunnel { kind, service, identity, fallback, extra, pos: n.pos })
    }

    // ----- exposes -----

    fn exposes(&mut self, n: &Node, field: &str) -> Option<DExposes> {
        let kind = self.req_string(n, "type", field);
        let mut d = DExposes {
            model: None,
            field: field.to_string(),
            namespace: None,
            listen: None,
            calls: Vec::new(),
            flow_refs: Vec::new(),
            forwards: Vec::new(),
            refs: Vec::new(),
            resource_fields: Vec::new(),
        };
        match kind.value.as_str() {
            "rest" => self.exposes_rest(n, field, &mut d),
            "mcp" => self.exposes_mcp(n, field, &mut d),
            "skill" => self.exposes_skill(n, field, &mut d),
            "control" => self.exposes_control(n, field, &mut d),
            "" => return None,
            other => {
                const KINDS: &[&str] = &["rest", "mcp", "skill", "control"];
                let hint = did_you_mean(other, KINDS.iter().copied());
                self.err(kind.pos, format!("{field}.type: unknown exposes type '{other}' (one of {}){hint}", KINDS.join(", ")));
                return None;
            }
        }
        Some(d)
    }

    fn listen(&mut self, n: &Node, field: &str, required: bool) -> (Option<Spanned<String>>, Option<Spanned<u16>>) {
        let address = self.address(n, field);
        let port_node = if required { self.required(n, "port", field) } else { n.get("port") };
        let port = port_node.and_then(|p| self.port(p, &format!("{field}.port")));
        (address, port)
    }

    fn exposes_rest(&mut self, n: &Node, field: &str, d: &mut DExposes) {
        self.known_keys(n, &["type", "address", "port", "namespace", "authentication", "maxBinarySize", "resources"], field);
        let namespace = self.req_string(n, "namespace", field);
        self.kebab(&namespace, "namespace", &format!("{field}.namespace"));
        let (address, port) = self.listen(n, field, true);
        let port = port.unwrap_or_else(|| self.spanned(0, n.pos));
        let authentication = n.get("authentication").and_then(|a| self.authentication(a, &format!("{field}.authentication"), &mut d.refs));
        let mut resources = Vec::new();
        for e in self.named(n, "resources", field) {
            let rfield = format!("{field}.resources.{}", e.key);
            let name = self.spanned(e.key.clone(), e.key_pos);
            self.kebab(&name, "resource name", &format!("{field}.resources"));
            if !self.expect_map(&e.value, &rfield) {
                continue;
            }
            let idx = resources.len();
            resources.push(self.exposed_resource(&e.value, name, &rfield, idx, d));
            d.resource_fields.push(rfield);
        }
        d.namespace = Some(namespace.clone());
        d.listen = Some(Listen { address: address.clone(), port: port.clone() });
        d.model = Some(Exposes::Rest(ExposesRest { namespace, address, port, authentication, resources, pos: n.pos }));
    }

    fn exposed_resource(&mut self, n: &Node, name: Spanned<String>, field: &str, idx: usize, d: &mut DExposes) -> ExposedResource {
        self.known_keys(n, &["display", "tags", "description", "path", "inputParameters", "operations", "forward"], field);
        let path = self.req_string(n, "path", field);
        let input_parameters =
            self.exposed_params(n, field, Scope::Exposed { resource: Some(idx), operation: None }, &mut d.refs);
        if n.get("operations").is_none() && n.get("forward").is_none() {
            self.err(n.pos, format!("{field}: declare 'operations' or 'forward'"));
        }
        if let Some(f) = n.get("forward") {
            let ffield = format!("{field}.forward");
            if self.expect_map(f, &ffield) {
                self.known_keys(f, &["targetNamespace", "trustedHeaders"], &ffield);
                let target = self.req_string(f, "targetNamespace", &ffield);
                if !target.value.is_empty() {
                    d.forwards.push((format!("{ffield}.targetNamespace"), target));
                }
            }
        }
        let mut operations = Vec::new();
        for e in self.named(n, "operations", field) {
            let ofield = format!("{field}.operations.{}", e.key);
            let oname = self.spanned(e.key.clone(), e.key_pos);
            self.kebab(&oname, "operation name", &format!("{field}.operations"));
            if !self.expect_map(&e.value, &ofield) {
                continue;
            }
            let oidx = operations.len();
            operations.push(self.exposed_operation(&e.value, oname, &ofield, idx, oidx, d));
        }
        ExposedResource { name, path, input_parameters, operations }
    }

    fn exposed_operation(
        &mut self,
        n: &Node,
        name: Spanned<String>,
        field: &str,
        ridx: usize,
        oidx: usize,
        d: &mut DExposes,
    ) -> ExposedOperation {
        self.known_keys(
            n,
            &[
                "display",
                "tags",
                "description",
                "method",
                "inputParameters",
                "ref",
                "call",
                "with",
                "outputParameters",
                "steps",
                "mappings",
                "responses",
                "responseBinary",
            ],
            field,
        );
        let method = self.method(n, field);
        let description = self.opt_string(n, "description", field).map(|s| s.value);
        let input_parameters =
            self.exposed_params(n, field, Scope::Exposed { resource: Some(ridx), operation: Some(oidx) }, &mut d.refs);
        let handler = self.handler(n, field, &mut d.calls, &mut d.flow_refs);
        ExposedOperation { name, method, description, input_parameters, handler, pos: n.pos }
    }

    /// `call` / `steps` / `ref` (alternatives) of an operation, tool or flow.
    fn handler(
        &mut self,
        n: &Node,
        field: &str,
        calls: &mut Vec<CallSite>,
        flow_refs: &mut Vec<(String, Spanned<String>)>,
    ) -> Handler {
        let present: Vec<&Entry> =
            entries(n).iter().filter(|e| ["call", "steps", "ref"].contains(&e.key.as_str())).collect();
        if present.len() > 1 {
            let names: Vec<&str> = present.iter().map(|e| e.key.as_str()).collect();
            self.err(present[1].key_pos, format!("{field}: '{}' are alternatives; keep only one", names.join("' and '")));
        }
        let mut handler = Handler::Component;
        if n.get("steps").is_some() {
            self.steps(n, field, calls);
            handler = Handler::Steps;
        }
        if let Some(r) = n.get("ref") {
            if let Some(r) = self.target(r, &format!("{field}.ref")) {
                flow_refs.push((format!("{field}.ref"), r.clone()));
                handler = Handler::Ref(r);
            }
        }
        if let Some(c) = self.call_site(n, field, calls) {
            handler = Handler::Call(c);
        }
        handler
    }

    /// `ns.name` targets of call/ref.
    fn target(&mut self, n: &Node, field: &str) -> Option<Spanned<String>> {
        let s = self.string(n, field)?;
        if !CALL_TARGET.is_match(&s.value) {
            self.err(s.pos, format!("{field}: '{}' must be 'namespace.name'", s.value));
            return None;
        }
        Some(s)
    }

    /// Records `call:` (and its `with:` keys) of `n`, if any.
    fn call_site(&mut self, n: &Node, field: &str, calls: &mut Vec<CallSite>) -> Option<Spanned<String>> {
        let c = n.get("call")?;
        let target = self.target(c, &format!("{field}.call"))?;
        let with_keys = n.get("with").map(|w| entries(w).iter().map(|e| e.key.clone()).collect()).unwrap_or_default();
        calls.push(CallSite { field: format!("{field}.call"), target: target.clone(), with_keys });
        Some(target)
    }

    /// Steps are parsed leniently; only their `call`s are recorded for checking.
    fn steps(&mut self, n: &Node, field: &str, calls: &mut Vec<CallSite>) {
        for e in self.named(n, "steps", field) {
            let sfield = format!("{field}.steps.{}", e.key);
            if e.value.get("call").is_some() {
                self.call_site(&e.value, &sfield, calls);
            }
        }
    }

    fn exposed_params(&mut self, n: &Node, field: &str, scope: Scope, refs: &mut Vec<RefSite>) -> Vec<ExposedParam> {
        let mut out = Vec::new();
        for e in self.named(n, "inputParameters", field) {
            let pfield = format!("{field}.inputParameters.{}", e.key);
            if !PARAM_NAME.is_match(&e.key) {
                self.err(e.key_pos, format!("{field}.inputParameters: parameter name '{}' must match ^[a-zA-Z0-9-_*]+$", e.key));
            }
            if !self.expect_map(&e.value, &pfield) {
                continue;
            }
            let p = &e.value;
            self.known_keys(p, &["in", "type", "description", "pattern", "value"], &pfield);
            let location = self
                .required(p, "in", &pfield)
                .and_then(|i| {
                    self.enum_value(
                        i,
                        &format!("{pfield}.in"),
                        &[
                            ("query", ParamIn::Query),
                            ("header", ParamIn::Header),
                            ("path", ParamIn::Path),
                            ("cookie", ParamIn::Cookie),
                            ("body", ParamIn::Body),
                        ],
                    )
                })
                .unwrap_or(ParamIn::Query);
            const TYPES: &[&str] = &["string", "number", "integer", "boolean", "array", "object"];
            let ty = match self.required(p, "type", &pfield).and_then(|t| self.string(t, &format!("{pfield}.type"))) {
                Some(t) if TYPES.contains(&t.value.as_str()) => t.value,
                Some(t) => {
                    let hint = did_you_mean(&t.value, TYPES.iter().copied());
                    self.err(t.pos, format!("{pfield}.type: '{}' is not one of {}{hint}", t.value, TYPES.join(", ")));
                    "string".into()
                }
                None => "string".into(),
            };
            let description = self.opt_string(p, "description", &pfield).map(|s| s.value);
            if description.is_none() {
                self.warn(p.pos, format!("{pfield}: no description (clients and agents show it)"));
            }
            let pattern = self.opt_string(p, "pattern", &pfield);
            if let Some(pt) = &pattern {
                if let Err(err) = Regex::new(&pt.value) {
                    let first = err.to_string().lines().last().unwrap_or_default().trim().to_string();
                    self.err(pt.pos, format!("{pfield}.pattern: not a valid regular expression: {first}"));
                }
            }
            let value = match p.get("value") {
                Some(v) if !matches!(v.value, Value::Null) => self.template(v, &format!("{pfield}.value")),
                _ => None,
            };
            if let Some(t) = &value {
                refs.push(RefSite { field: format!("{pfield}.value"), template: t.clone(), scope });
            }
            out.push(ExposedParam {
                name: self.spanned(e.key.clone(), e.key_pos),
                location,
                ty,
                description,
                pattern: pattern.map(|p| p.value),
                value,
            });
        }
        out
    }

    /// MCP bodies are not served yet: read the namespace, socket, authentication and
    /// call/ref targets, and accept everything else the upstream format allows.
    fn exposes_mcp(&mut self, n: &Node, field: &str, d: &mut DExposes) {
        let namespace = self.req_string(n, "namespace", field);
        self.kebab(&namespace, "namespace", &format!("{field}.namespace"));
        let stdio = match n.get("transport") {
            None => false,
            Some(t) => {
                self.enum_value(t, &format!("{field}.transport"), &[("http", false), ("stdio", true)]).unwrap_or(false)
            }
        };
        let (address, port) = self.listen(n, field, false);
        if !stdio && port.is_none() && n.get("port").is_none() {
            self.err(n.pos, format!("missing required key 'port' in {field} (needed unless transport: stdio)"));
        }
        if stdio && port.is_some() {
            self.warn(n.get("port").map_or(n.pos, |p| p.pos), format!("{field}.port: ignored with transport: stdio"));
        }
        if let Some(a) = n.get("authentication") {
            self.authentication(a, &format!("{field}.authentication"), &mut d.refs);
        }
        for section in ["tools", "resources"] {
            for e in self.named(n, section, field) {
                let tfield = format!("{field}.{section}.{}", e.key);
                if e.value.as_map().is_some() {
                    self.handler(&e.value, &tfield, &mut d.calls, &mut d.flow_refs);
                }
            }
        }
        if !stdio {
            if let Some(port) = port.clone() {
                d.listen = Some(Listen { address, port });
            }
        }
        d.namespace = Some(namespace.clone());
        d.model = Some(Exposes::Mcp { namespace, port, pos: n.pos });
    }

    fn exposes_skill(&mut self, n: &Node, field: &str, d: &mut DExposes) {
        let namespace = self.req_string(n, "namespace", field);
        self.kebab(&namespace, "namespace", &format!("{field}.namespace"));
        let (address, port) = self.listen(n, field, true);
        if let Some(a) = n.get("authentication") {
            self.authentication(a, &format!("{field}.authentication"), &mut d.refs);
        }
        if let Some(port) = port {
            d.listen = Some(Listen { address, port });
        }
        d.namespace = Some(namespace);
        d.model = Some(Exposes::Skill { pos: n.pos });
    }

    fn exposes_control(&mut self, n: &Node, field: &str, d: &mut DExposes) {
        self.known_keys(n, &["type", "address", "port", "authentication", "management", "observability"], field);
        let (address, port) = self.listen(n, field, true);
        let port = port.unwrap_or_else(|| self.spanned(0, n.pos));
        let authentication = n.get("authentication").and_then(|a| self.authentication(a, &format!("{field}.authentication"), &mut d.refs));
        d.listen = Some(Listen { address: address.clone(), port: port.clone() });
        d.model = Some(Exposes::Control(ExposesControl { address, port, authentication, pos: n.pos }));
    }

    // ----- aggregates -----

    /// Aggregates are not run by this host: keep the names and call targets only.
    fn aggregate(&mut self, n: &Node, field: &str) -> Option<DAggregate> {
        let namespace = self.opt_string(n, "namespace", field);
        if let Some(ns) = &namespace {
            self.kebab(ns, "namespace", &format!("{field}.namespace"));
        }
        let mut flows = Vec::new();
        let mut calls = Vec::new();
        let mut unused_refs = Vec::new();
        for e in self.named(n, "flows", field) {
            let ffield = format!("{field}.flows.{}", e.key);
            flows.push(self.spanned(e.key.clone(), e.key_pos));
            if e.value.as_map().is_some() {
                self.handler(&e.value, &ffield, &mut calls, &mut unused_refs);
            }
        }
        Some(DAggregate { namespace, flows, calls })
    }
}
