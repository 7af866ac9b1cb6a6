//! Decoding one YAML document into model pieces.
//!
//! Owns: the shape of every section (required keys, unknown keys where the upstream
//! schema forbids them, value types and enums, identifier patterns, baseUri syntax)
//! and the side facts the cross-checks need but the model does not keep (call sites
//! and their `with` keys, listening sockets, every template with its scope).
//! Decoders never stop at the first problem: a missing required value gets a
//! placeholder and an error, so that later checks still run and every problem of a
//! file is reported in one go.
//! This file holds the shared helpers, the document root, info, binds and
//! aggregates; `consumes` and `exposes` live in the submodules of those names.
//! Must not touch: other files (imports only appear here as `Item::Import`) and
//! cross-references between sections (that is `check`).

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

use crate::diagnostic::{did_you_mean, Sink};
use crate::location::{self, Location};
use crate::model::*;
use crate::yaml::{Entry, Node, Value};

mod consumes;
mod exposes;

static KEBAB: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9-]+$").expect("constant regex"));
/// Where a consumed parameter may go (the schema's ConsumedInputParameter.in).
pub(crate) const CONSUMED_PLACES: &[(&str, ParamIn)] = &[
    ("query", ParamIn::Query),
    ("header", ParamIn::Header),
    ("path", ParamIn::Path),
    ("cookie", ParamIn::Cookie),
    ("body", ParamIn::Body),
    ("environment", ParamIn::Environment),
];

/// Where an exposed input may come from (ExposedInputParameter.in): the same, less
/// `environment` (kept last above for this).
pub(crate) const EXPOSED_PLACES: &[(&str, ParamIn)] = CONSUMED_PLACES.split_at(5).0;

static PARAM_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9\-_*]+$").expect("constant regex"));
static BIND_VAR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Z][A-Z0-9_]*$").expect("constant regex"));
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
    /// Each flow as written, for the declarative engine.
    pub definitions: Vec<serde_json::Value>,
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
    /// Authentication: binds only.
    Binds,
    /// `tunnel.identity`: binds only, but an unresolved reference is a warning here.
    /// The upstream schema accepts such a file (its lint rule
    /// `ikanos-tunnel-identity-must-bind` is what rejects it), and at run time the
    /// tunnel simply never becomes ready, which fails closed.
    TunnelIdentity,
    /// A consumes entry's parameters (namespace level when resource is None, resource
    /// level when operation is None); indices into that entry's model.
    Consumed {
        resource: Option<usize>,
        operation: Option<usize>,
    },
    /// An exposes rest entry's parameters.
    Exposed {
        resource: Option<usize>,
        operation: Option<usize>,
    },
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

    /// A key this host accepts (upstream files carry it) but does not act on: said at
    /// the key's position, never dropped silently.
    fn not_applied(&mut self, n: &Node, key: &str, field: &str, why: &str) {
        if let Some(v) = n.get(key) {
            self.warn(
                v.pos,
                format!("{field}.{key}: not applied by this host: {why}"),
            );
        }
    }

    /// `maxBinarySize` (upstream's `BinarySize` grammar), in bytes.
    fn binary_size(&mut self, n: &Node, field: &str) -> Option<Spanned<u64>> {
        let v = n.get("maxBinarySize")?;
        let text = v.scalar_text();
        match text.as_deref().and_then(parse_binary_size) {
            Some(bytes) => Some(self.spanned(bytes, v.pos)),
            None => {
                self.err(
                    v.pos,
                    format!(
                        "{field}.maxBinarySize: '{}' is not a size: expected a number optionally suffixed with B, KiB, MiB or GiB (e.g. '512KiB', '10MiB', '1GiB')",
                        text.unwrap_or_else(|| v.kind().to_string())
                    ),
                );
                None
            }
        }
    }

    fn spanned<T>(&self, value: T, pos: Pos) -> Spanned<T> {
        Spanned {
            value,
            pos,
            file: self.file.to_path_buf(),
        }
    }

    /// The node as a mapping, or an error naming the field.
    fn expect_map(&mut self, n: &Node, field: &str) -> bool {
        match n.value {
            Value::Map(_) => true,
            _ => {
                self.err(
                    n.pos,
                    format!("{field}: expected a mapping, found {}", n.kind()),
                );
                false
            }
        }
    }

    /// Report keys of `n` outside `allowed`, with a spelling hint.
    fn known_keys(&mut self, n: &Node, allowed: &[&str], field: &str) {
        for e in entries(n) {
            if !allowed.contains(&e.key.as_str()) {
                let hint = did_you_mean(&e.key, allowed.iter().copied());
                self.err(
                    e.key_pos,
                    format!("unknown key '{}' in {field}{hint}", e.key),
                );
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
                self.err(
                    n.pos,
                    format!(
                        "{field}: expected a string, found {} (quote it: \"{text}\")",
                        n.kind()
                    ),
                );
                None
            }
            _ => {
                self.err(
                    n.pos,
                    format!("{field}: expected a string, found {}", n.kind()),
                );
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
            self.err(
                s.pos,
                format!(
                    "{field}: {what} '{}' must match ^[a-zA-Z0-9-]+$ (letters, digits, '-')",
                    s.value
                ),
            );
        }
    }

    fn enum_value<T: Copy>(&mut self, n: &Node, field: &str, options: &[(&str, T)]) -> Option<T> {
        let s = self.string(n, field)?;
        if let Some((_, v)) = options.iter().find(|(k, _)| *k == s.value) {
            return Some(*v);
        }
        let names: Vec<&str> = options.iter().map(|(k, _)| *k).collect();
        let hint = did_you_mean(&s.value, names.iter().copied());
        self.err(
            n.pos,
            format!(
                "{field}: '{}' is not one of {}{hint}",
                s.value,
                names.join(", ")
            ),
        );
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
                    self.err(
                        n.pos,
                        format!("{field}: {i} is not a port number (0-65535; 0 picks a free port)"),
                    );
                    None
                }
            },
            _ => {
                self.err(
                    n.pos,
                    format!("{field}: expected a port number, found {}", n.kind()),
                );
                None
            }
        }
    }

    fn address(&mut self, parent: &Node, field: &str) -> Option<Spanned<String>> {
        let a = self.opt_string(parent, "address", field)?;
        let v = a.value.as_str();
        if v.parse::<std::net::IpAddr>().is_err() && !HOSTNAME.is_match(v) {
            self.err(
                a.pos,
                format!("{field}.address: '{v}' is not a hostname or an IP address"),
            );
        }
        Some(a)
    }

    /// `key: {name: {...}}` collections: entries whose value is a mapping.
    /// A parameter's required `in`, one of `places`.
    fn param_location(&mut self, p: &Node, pfield: &str, places: &[(&str, ParamIn)]) -> ParamIn {
        self.required(p, "in", pfield)
            .and_then(|i| self.enum_value(i, &format!("{pfield}.in"), places))
            .unwrap_or(ParamIn::Query)
    }

    /// A parameter's optional fixed `value`, a template whose references are checked later.
    fn param_value(
        &mut self,
        p: &Node,
        pfield: &str,
        scope: Scope,
        refs: &mut Vec<RefSite>,
    ) -> Option<Template> {
        let value = match p.get("value") {
            Some(v) if !matches!(v.value, Value::Null) => {
                self.template(v, &format!("{pfield}.value"))
            }
            _ => None,
        };
        if let Some(t) = &value {
            refs.push(RefSite {
                field: format!("{pfield}.value"),
                template: t.clone(),
                scope,
            });
        }
        value
    }

    /// The `inputParameters` entries of `n` that are mappings, each with its field path
    /// (`FIELD.inputParameters.NAME`). Names must follow the upstream schema's pattern;
    /// a bad name or a non-mapping entry is reported here.
    fn input_parameters<'n>(&mut self, n: &'n Node, field: &str) -> Vec<(&'n Entry, String)> {
        let mut out = Vec::new();
        for e in self.named(n, "inputParameters", field) {
            let pfield = format!("{field}.inputParameters.{}", e.key);
            if !PARAM_NAME.is_match(&e.key) {
                self.err(
                    e.key_pos,
                    format!(
                        "{field}.inputParameters: parameter name '{}' must match ^[a-zA-Z0-9-_*]+$",
                        e.key
                    ),
                );
            }
            if self.expect_map(&e.value, &pfield) {
                out.push((e, pfield));
            }
        }
        out
    }

    fn named<'n>(&mut self, parent: &'n Node, key: &str, field: &str) -> Vec<&'n Entry> {
        let Some(n) = parent.get(key) else {
            return Vec::new();
        };
        if matches!(n.value, Value::Null) {
            return Vec::new();
        }
        if !self.expect_map(n, &format!("{field}.{key}")) {
            return Vec::new();
        }
        entries(n).iter().collect()
    }

    /// The entries of `named(parent, key)` named in kebab-case (`what`, e.g. "tool
    /// name") whose values are mappings, each with its name and field path; a bad name
    /// is reported (the entry is kept), a value that is no mapping reported and skipped.
    fn named_maps<'n>(
        &mut self,
        parent: &'n Node,
        key: &str,
        what: &str,
        field: &str,
    ) -> Vec<(Spanned<String>, &'n Node, String)> {
        let mut out = Vec::new();
        for e in self.named(parent, key, field) {
            let efield = format!("{field}.{key}.{}", e.key);
            let name = self.spanned(e.key.clone(), e.key_pos);
            self.kebab(&name, what, &format!("{field}.{key}"));
            if self.expect_map(&e.value, &efield) {
                out.push((name, &e.value, efield));
            }
        }
        out
    }

    // ----- document -----

    pub fn document(&mut self, root: &Node) -> Option<Document> {
        if root.as_map().is_none() {
            self.err(
                root.pos,
                format!(
                    "expected a mapping with 'ikanos:' at the top level, found {}",
                    root.kind()
                ),
            );
            return None;
        }
        self.known_keys(
            root,
            &[
                "ikanos",
                "info",
                "binds",
                "capability",
                "consumes",
                "exposes",
                "aggregates",
            ],
            "the document",
        );
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
            if let Some(name) = ["binds", "consumes", "exposes", "aggregates"]
                .into_iter()
                .find(|s| *s == e.key)
            {
                doc.root_sections.push((name, e.key_pos));
            }
        }
        self.sections(root, "", &mut doc);
        if let Some(cap) = root.get("capability") {
            if self.expect_map(cap, "capability") {
                self.known_keys(
                    cap,
                    &["binds", "exposes", "consumes", "aggregates"],
                    "capability",
                );
                self.sections(cap, "capability.", &mut doc);
                if cap.get("consumes").is_none() && cap.get("exposes").is_none() {
                    self.err(
                        cap.pos,
                        "capability: declares neither consumes nor exposes".to_string(),
                    );
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
            self.err(
                n.pos,
                format!("ikanos: expected a version string, found {}", n.kind()),
            );
            return None;
        };
        if !SUPPORTED_VERSIONS.contains(&text.as_str()) {
            self.err(
                n.pos,
                format!(
                    "ikanos: unsupported version '{text}' (supported: {})",
                    SUPPORTED_VERSIONS.join(", ")
                ),
            );
            return None;
        }
        Some(self.spanned(text, n.pos))
    }

    fn info(&mut self, n: &Node) -> Option<Info> {
        if !self.expect_map(n, "info") {
            return None;
        }
        self.known_keys(
            n,
            &[
                "display",
                "description",
                "tags",
                "created",
                "modified",
                "version",
                "stakeholders",
            ],
            "info",
        );
        let display = self.opt_string(n, "display", "info").map(|s| s.value);
        let description = self.opt_string(n, "description", "info").map(|s| s.value);
        Some(Info {
            display,
            description,
        })
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
        let Some(n) = parent.get(key) else {
            return Vec::new();
        };
        match &n.value {
            Value::Seq(items) => {
                if items.is_empty() {
                    self.err(
                        n.pos,
                        format!(
                            "{prefix}{key}: the list is empty (remove the key or add an entry)"
                        ),
                    );
                }
                items.iter().enumerate().collect()
            }
            Value::Null => Vec::new(),
            _ => {
                self.err(
                    n.pos,
                    format!("{prefix}{key}: expected a list, found {}", n.kind()),
                );
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
        Some(ImportEntry {
            from,
            import,
            alias,
            pos: n.pos,
            field: field.to_string(),
        })
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
                    let Some(provider) = self.string(&e.value, &format!("{kfield}.{}", e.key))
                    else {
                        continue;
                    };
                    if !PARAM_NAME.is_match(&provider.value) {
                        self.err(
                            provider.pos,
                            format!(
                                "{kfield}.{}: provider key '{}' must match ^[a-zA-Z0-9-_*]+$",
                                e.key, provider.value
                            ),
                        );
                    }
                    keys.push((self.spanned(e.key.clone(), e.key_pos), provider));
                }
            }
        }
        Some(Bind {
            namespace,
            location,
            keys,
            pos: n.pos,
            field: field.to_string(),
        })
    }

    // ----- aggregates -----

    /// Aggregates: names and call targets for the checks, each flow as written for the
    /// declarative engine.
    fn aggregate(&mut self, n: &Node, field: &str) -> Option<DAggregate> {
        let namespace = self.opt_string(n, "namespace", field);
        if let Some(ns) = &namespace {
            self.kebab(ns, "namespace", &format!("{field}.namespace"));
        }
        let mut flows = Vec::new();
        let mut definitions = Vec::new();
        let mut calls = Vec::new();
        let mut unused_refs = Vec::new();
        for e in self.named(n, "flows", field) {
            let ffield = format!("{field}.flows.{}", e.key);
            flows.push(self.spanned(e.key.clone(), e.key_pos));
            definitions.push(e.value.to_json());
            if e.value.as_map().is_some() {
                // `ref` is listed so that it gets the specific message below, not a
                // second "unknown key".
                self.known_keys(
                    &e.value,
                    &[
                        "description",
                        "tags",
                        "semantics",
                        "outputMediaType",
                        "inputParameters",
                        "call",
                        "with",
                        "steps",
                        "mappings",
                        "outputParameters",
                        "ref",
                    ],
                    &ffield,
                );
                if let Some(r) = entries(&e.value).iter().find(|x| x.key == "ref") {
                    self.err(
                        r.key_pos,
                        format!("{ffield}.ref: an aggregate flow cannot use 'ref' (flows do not nest, so a flow can never refer to itself or to another flow; declare its 'call' or 'steps')"),
                    );
                }
                self.handler(&e.value, &ffield, &mut calls, &mut unused_refs);
            }
        }
        Some(DAggregate {
            namespace,
            flows,
            definitions,
            calls,
        })
    }
}
