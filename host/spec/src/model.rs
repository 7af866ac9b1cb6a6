//! The validated model of a capability file.
//!
//! Owns: the typed shape the rest of the host consumes. Every field that a user can
//! get wrong keeps its position (`Spanned`) so that later stages (bind resolution,
//! lint, run-time errors) can still name file, line and field.
//! Must not touch: files, environment, network. Built only by `load`.

use std::fmt;
use std::path::PathBuf;

mod forward;
mod observability;
mod skill;
pub use forward::Forward;
pub use observability::{
    check_otlp_endpoint, Observability, Propagation, DEFAULT_TRACE_BUFFER, TRACE_BUFFER_RANGE,
};
pub use skill::{ExposedSkill, ExposesSkill, SkillTool, SkillToolSource};

/// A 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A value with the place it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub pos: Pos,
    /// The file the value was read from (imports can pull values from other files).
    pub file: PathBuf,
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// A string that may contain Mustache references: `{{ns.KEY}}`, `{{KEY}}` or `{{param}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub raw: Spanned<String>,
    pub parts: Vec<TemplatePart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    Literal(String),
    /// `{{name}}` (namespace None) or `{{ns.name}}`.
    Ref {
        namespace: Option<String>,
        name: String,
    },
}

/// The whole capability document after imports are inlined.
#[derive(Debug, Clone)]
pub struct Capability {
    /// The capability file, as given.
    pub file: PathBuf,
    /// The `ikanos:` version string (one of `SUPPORTED_VERSIONS`).
    pub version: Spanned<String>,
    pub info: Option<Info>,
    pub binds: Vec<Bind>,
    pub consumes: Vec<Consumes>,
    pub exposes: Vec<Exposes>,
    /// `aggregates[]`: reusable flows that operations and tools use through `ref`.
    pub aggregates: Vec<Aggregate>,
}

/// `aggregates[]` entry: named flows (`call`/`steps`, outputs, `semantics`), kept as
/// written (JSON) for the declarative engine, which merges them into the operations
/// that `ref` them.
#[derive(Debug, Clone)]
pub struct Aggregate {
    pub namespace: String,
    pub flows: Vec<(String, serde_json::Value)>,
}

impl Capability {
    /// The flow `ref: namespace.flow` points at.
    pub fn aggregate_flow(&self, target: &str) -> Option<&serde_json::Value> {
        Aggregate::flow(&self.aggregates, target)
    }
}

impl Aggregate {
    /// The flow `namespace.flow` among `aggregates`.
    pub fn flow<'a>(aggregates: &'a [Aggregate], target: &str) -> Option<&'a serde_json::Value> {
        let (ns, flow) = target.split_once('.')?;
        aggregates
            .iter()
            .filter(|a| a.namespace == ns)
            .flat_map(|a| &a.flows)
            .find(|(name, _)| name == flow)
            .map(|(_, v)| v)
    }
}

#[derive(Debug, Clone)]
pub struct Info {
    pub display: Option<String>,
    pub description: Option<String>,
}

/// `binds[]`: where secrets and settings come from.
#[derive(Debug, Clone)]
pub struct Bind {
    pub namespace: Spanned<String>,
    /// `file:///./x.yaml`, `file:///abs/x.json`, `env://`; None means environment variables.
    pub location: Option<Spanned<String>>,
    /// (variable name used in `{{...}}`, provider key in the file or env var name).
    pub keys: Vec<(Spanned<String>, Spanned<String>)>,
    pub pos: Pos,
    /// Where the bind was declared in its file, e.g. `binds[0]` or `capability.binds[1]`
    /// (bind errors at run time name it).
    pub field: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}

/// Where a parameter goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamIn {
    Query,
    Header,
    Path,
    Cookie,
    Body,
    Environment,
}

impl ParamIn {
    /// The `in:` value as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamIn::Query => "query",
            ParamIn::Header => "header",
            ParamIn::Path => "path",
            ParamIn::Cookie => "cookie",
            ParamIn::Body => "body",
            ParamIn::Environment => "environment",
        }
    }
}

/// `capability.consumes[]` with `type: http`.
#[derive(Debug, Clone)]
pub struct Consumes {
    pub namespace: Spanned<String>,
    /// Parsed `baseUri`; the scheme is http or https, no query or fragment.
    pub base_uri: Spanned<url::Url>,
    /// `baseUri` exactly as written. `url::Url` normalises (lower-cases the host, adds
    /// a trailing `/`, rewrites `127.1` as `127.0.0.1`), but lint rules must judge the
    /// text the author wrote, as the upstream linter does.
    pub base_uri_raw: Spanned<String>,
    pub description: Option<String>,
    /// Parameters sent with every operation of this namespace.
    pub input_parameters: Vec<ConsumedParam>,
    pub authentication: Option<Authentication>,
    pub tunnel: Option<Tunnel>,
    pub resources: Vec<ConsumedResource>,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub struct ConsumedResource {
    pub name: Spanned<String>,
    /// Path template relative to `baseUri`, e.g. `/customers/{{id}}` (`{id}` is accepted too).
    pub path: Spanned<String>,
    pub input_parameters: Vec<ConsumedParam>,
    pub operations: Vec<ConsumedOperation>,
}

impl ConsumedResource {
    /// The names of the path's `{{name}}` / `{name}` placeholders. A placeholder that no
    /// `inputParameters` entry declares is an implicit path parameter, as upstream
    /// renders the path against every parameter of the call.
    pub fn path_placeholders(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = self.path.value.as_str();
        while let Some(start) = rest.find('{') {
            let double = rest[start..].starts_with("{{");
            let after = &rest[start + if double { 2 } else { 1 }..];
            let close = if double { "}}" } else { "}" };
            let Some(end) = after.find(close) else { break };
            let name = after[..end].trim();
            if !name.is_empty() && !out.iter().any(|n| n == name) {
                out.push(name.to_owned());
            }
            rest = &after[end + close.len()..];
        }
        out
    }
}

#[derive(Debug, Clone)]
pub struct ConsumedOperation {
    pub name: Spanned<String>,
    pub method: HttpMethod,
    pub description: Option<String>,
    pub input_parameters: Vec<ConsumedParam>,
    /// A fixed request body declared on the operation.
    pub body: Option<RequestBody>,
    /// `outputRawFormat`, default `json`.
    pub output_raw_format: String,
    /// `maxBinarySize` in bytes (binary responses; overrides the exposing adapter's).
    pub max_binary_size: Option<Spanned<u64>>,
    /// The operation as written (JSON), for the declarative engine.
    pub definition: serde_json::Value,
    pub pos: Pos,
}

/// `inputParameters` entry of a consumed namespace, resource or operation.
#[derive(Debug, Clone)]
pub struct ConsumedParam {
    pub name: Spanned<String>,
    pub location: ParamIn,
    /// A fixed value (may reference binds or other parameters). None: the caller supplies it.
    pub value: Option<Template>,
}

#[derive(Debug, Clone)]
pub enum RequestBody {
    /// `{type: json, data: …}`; string leaves may hold templates.
    Json(serde_json::Value),
    /// `{type: text | xml | sparql, data: "…"}`; the kind gives the content type.
    Text { kind: TextKind, data: Template },
    /// A bare string body.
    Raw(Template),
    /// `{type: formUrlEncoded, data: …}` (`application/x-www-form-urlencoded`).
    Form(FormBody),
    /// `{type: multipartForm, data: [parts]}` (`multipart/form-data`).
    Multipart(Vec<MultipartPart>),
}

impl RequestBody {
    /// The `type:` as written (`raw` for a bare string).
    pub fn kind(&self) -> &'static str {
        match self {
            RequestBody::Json(_) => "json",
            RequestBody::Text { kind, .. } => kind.as_str(),
            RequestBody::Raw(_) => "raw",
            RequestBody::Form(_) => "formUrlEncoded",
            RequestBody::Multipart(_) => "multipartForm",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    Text,
    Xml,
    Sparql,
}

impl TextKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TextKind::Text => "text",
            TextKind::Xml => "xml",
            TextKind::Sparql => "sparql",
        }
    }

    /// The content type the body is sent with (the schema's `RequestBodyText`).
    pub fn content_type(self) -> &'static str {
        match self {
            TextKind::Text => "text/plain; charset=utf-8",
            TextKind::Xml => "application/xml",
            TextKind::Sparql => "application/sparql-query",
        }
    }
}

/// `formUrlEncoded` data: a pre-encoded string, or fields whose values the host encodes.
#[derive(Debug, Clone)]
pub enum FormBody {
    Encoded(Template),
    /// (field name, value template), in file order.
    Fields(Vec<(String, Template)>),
}

/// One `multipartForm` part: a plain field, or a file when `filename` is given.
#[derive(Debug, Clone)]
pub struct MultipartPart {
    pub name: String,
    pub value: Template,
    pub filename: Option<Template>,
    /// The part's `Content-Type`; checked at load to be a valid header value.
    pub content_type: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Authentication {
    Bearer {
        token: Template,
    },
    Basic {
        username: Template,
        password: Template,
    },
    Digest {
        username: Template,
        password: Template,
    },
    /// `placement` defaults to header when absent.
    ApiKey {
        key: Template,
        value: Template,
        placement: ApiKeyPlacement,
    },
    /// OAuth 2.1 resource server (exposes only): bearer JWTs issued by
    /// `authorization_server`, validated against its JWKS.
    OAuth2 {
        /// `authorizationServerUri`: the issuer; its metadata gives the JWKS.
        authorization_server: String,
        /// `resource`: this server's canonical URI (RFC 8707, RFC 9728).
        resource: String,
        /// `audience`: the expected `aud`, default `resource`.
        audience: Option<String>,
        /// `scopes`: each one required in the token's `scope`.
        scopes: Vec<String>,
        /// `tokenValidation`: `jwks` (default) or `introspection`.
        token_validation: Option<Spanned<String>>,
        pos: Pos,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyPlacement {
    Header,
    Query,
}

/// `tunnel:` on a consumes entry. The type is kept as a string: which types exist
/// is decided by the providers compiled into the host, not by the file loader.
#[derive(Debug, Clone)]
pub struct Tunnel {
    pub kind: Spanned<String>,
    pub service: Option<Spanned<String>>,
    pub identity: Option<Template>,
    pub fallback: Fallback,
    /// Where the `fallback:` value is written; None when the key is absent (default `fail`).
    pub fallback_pos: Option<Pos>,
    /// Provider-specific keys beyond type/service/identity/fallback, kept for the
    /// provider to validate (e.g. SSH relay settings).
    pub extra: Vec<(Spanned<String>, serde_json::Value)>,
    pub pos: Pos,
}

impl Tunnel {
    /// The keys every `tunnel:` block may have, whatever its type; any other key is the
    /// provider's (`extra`).
    pub const COMMON_KEYS: [&'static str; 4] = ["type", "service", "identity", "fallback"];
}

impl Tunnel {
    /// The provider-specific keys as a plain map, as providers read them.
    pub fn extra_values(&self) -> serde_json::Map<String, serde_json::Value> {
        self.extra
            .iter()
            .map(|(k, v)| (k.value.clone(), v.clone()))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fallback {
    #[default]
    Fail,
    Direct,
}

#[derive(Debug, Clone)]
pub enum Exposes {
    Rest(ExposesRest),
    Mcp(ExposesMcp),
    Control(ExposesControl),
    Skill(ExposesSkill),
}

#[derive(Debug, Clone)]
pub struct ExposesRest {
    pub namespace: Spanned<String>,
    /// `address`, default `127.0.0.1` when absent (we do not listen on all interfaces unasked).
    pub address: Option<Spanned<String>>,
    /// 0 asks the OS for a free port.
    pub port: Spanned<u16>,
    /// Who may call this API (`bearer`, `basic`, `apikey`, `oauth2` …); None means anyone.
    pub authentication: Option<Authentication>,
    /// `maxBinarySize` in bytes: the cap on binary upstream responses (default 10 MiB).
    pub max_binary_size: Option<Spanned<u64>>,
    pub resources: Vec<ExposedResource>,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub struct ExposedResource {
    pub name: Spanned<String>,
    /// e.g. `/customers/{{id}}` or `/customers/{id}`.
    pub path: Spanned<String>,
    pub input_parameters: Vec<ExposedParam>,
    /// The resource's `inputParameters` as written (JSON), for the declarative engine.
    pub input_definition: serde_json::Value,
    pub operations: Vec<ExposedOperation>,
    /// `forward`: requests no operation answers are passed to a consumed namespace.
    pub forward: Option<Forward>,
}

#[derive(Debug, Clone)]
pub struct ExposedOperation {
    pub name: Spanned<String>,
    pub method: HttpMethod,
    pub description: Option<String>,
    pub input_parameters: Vec<ExposedParam>,
    pub handler: Handler,
    /// The operation as written (JSON), for the declarative engine.
    pub definition: serde_json::Value,
    pub pos: Pos,
}

/// Who answers an exposed operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handler {
    /// A `method` and no `call`/`steps`/`ref`: the wasm component's `handle` export.
    Component,
    /// `call: ns.op` (declarative forwarding upstream; parsed, not run by this host yet).
    Call(Spanned<String>),
    /// `steps:` orchestration (parsed, not run yet).
    Steps,
    /// `ref:` (parsed, not run yet).
    Ref(Spanned<String>),
}

#[derive(Debug, Clone)]
pub struct ExposedParam {
    pub name: Spanned<String>,
    pub location: ParamIn,
    /// `type`: string, number, integer, boolean, array, object.
    pub ty: String,
    pub description: Option<String>,
    /// `pattern`, a regular expression the value must match.
    pub pattern: Option<String>,
    /// A fixed value.
    pub value: Option<Template>,
}

/// `exposes[]` with `type: mcp`: tools, resources and prompts served over MCP.
#[derive(Debug, Clone)]
pub struct ExposesMcp {
    pub namespace: Spanned<String>,
    pub transport: McpTransport,
    /// `address`, default `127.0.0.1` (HTTP transport only).
    pub address: Option<Spanned<String>>,
    /// Required for the HTTP transport; 0 asks the OS for a free port.
    pub port: Option<Spanned<u16>>,
    /// Sent to clients as the server's `instructions`.
    pub description: Option<String>,
    /// Who may call this server (HTTP transport); None means anyone.
    pub authentication: Option<Authentication>,
    /// `ttlMs`: how long clients may cache list/read/discover results (2026-07-28).
    pub ttl_ms: Option<u64>,
    /// `cacheScope`: `public` or `private`.
    pub cache_scope: Option<String>,
    /// `maxBinarySize` in bytes: the cap on binary upstream responses (default 10 MiB).
    pub max_binary_size: Option<Spanned<u64>>,
    pub tools: Vec<McpTool>,
    pub resources: Vec<McpResource>,
    pub prompts: Vec<McpPrompt>,
    pub pos: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McpTransport {
    /// Streamable HTTP on `address:port`.
    Http,
    /// JSON-RPC lines on the process's stdin/stdout.
    Stdio,
}

/// `tools.NAME`. Handled by the component when it has no `call`/`steps`/`ref`
/// (the same rule as REST operations); the tool name is the operation key.
#[derive(Debug, Clone)]
pub struct McpTool {
    pub name: Spanned<String>,
    /// `display`, sent as the MCP `title`.
    pub display: Option<String>,
    pub description: Option<String>,
    pub input_parameters: Vec<McpToolParam>,
    pub hints: McpHints,
    pub handler: Handler,
    /// Mock `outputParameters` (object form) are declared; for a component tool
    /// they only document the result (the upstream schema asks for them).
    pub has_output_parameters: bool,
    /// The tool as written (JSON), for the declarative engine.
    pub definition: serde_json::Value,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub struct McpToolParam {
    pub name: Spanned<String>,
    /// `type`: string, number, integer, boolean, array, object.
    pub ty: String,
    pub description: Option<String>,
    /// `required`, default true (as the upstream schema says).
    pub required: bool,
}

/// `hints`: advisory tool annotations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct McpHints {
    pub read_only: Option<bool>,
    pub destructive: Option<bool>,
    pub idempotent: Option<bool>,
    pub open_world: Option<bool>,
}

/// `resources.NAME`.
#[derive(Debug, Clone)]
pub struct McpResource {
    pub name: Spanned<String>,
    pub display: Option<String>,
    /// The resource URI; `{param}` placeholders make it a template.
    pub uri: Spanned<String>,
    pub description: Option<String>,
    pub mime_type: Option<String>,
    pub source: McpResourceSource,
    /// The resource as written (JSON), for the declarative engine (dynamic resources).
    pub definition: serde_json::Value,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub enum McpResourceSource {
    /// `location: file:///…`: a file, or a folder whose files are each a resource.
    /// Relative locations are resolved against the declaring file's folder.
    Location(Spanned<PathBuf>),
    /// `call`/`steps` (dynamic; parsed, not run by this host yet).
    Dynamic(Handler),
}

/// `prompts.NAME`.
#[derive(Debug, Clone)]
pub struct McpPrompt {
    pub name: Spanned<String>,
    pub display: Option<String>,
    pub description: Option<String>,
    pub arguments: Vec<McpPromptArg>,
    pub body: McpPromptBody,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub struct McpPromptArg {
    pub name: Spanned<String>,
    pub display: Option<String>,
    pub description: Option<String>,
    /// `required`, default true.
    pub required: bool,
}

#[derive(Debug, Clone)]
pub enum McpPromptBody {
    /// Inline messages: (role `user`|`assistant`, content with `{{arg}}` placeholders).
    Template(Vec<(String, String)>),
    /// `location: file:///…`: the file's text is one `user` message.
    Location(Spanned<PathBuf>),
}

#[derive(Debug, Clone)]
pub struct ExposesControl {
    pub address: Option<Spanned<String>>,
    pub port: Spanned<u16>,
    /// Who may call the control port; None means anyone.
    pub authentication: Option<Authentication>,
    /// `management.info` (default false): `/status` is served only when true.
    pub management_info: bool,
    /// `management.scripting`: script step governance (upstream
    /// `ScriptingManagementSpec`), served at `/scripting`; None when not declared.
    pub scripting: Option<ScriptingSettings>,
    /// `observability`: upstream's defaults when the entry has none.
    pub observability: Observability,
    pub pos: Pos,
}

/// The languages a script step may name (upstream `ScriptingResource.SUPPORTED_LANGUAGES`).
pub const SCRIPT_LANGUAGES: &[&str] = &["javascript", "python", "groovy"];

/// A control entry's `management.scripting` (upstream `ScriptingManagementSpec`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptingSettings {
    /// None: enabled unless `IKANOS_SCRIPTING=false`.
    pub enabled: Option<bool>,
    /// The folder of a step without `location` (a `file:` URI).
    pub default_location: Option<String>,
    /// The language of a step without `language`.
    pub default_language: Option<String>,
    /// Wall time per script, in milliseconds (default 60,000).
    pub timeout_ms: u64,
    /// Upstream's statement budget (default 100,000); see the host's scripting module
    /// for how it is counted here.
    pub statement_limit: u64,
    /// Empty: every language this host runs.
    pub allowed_languages: Vec<String>,
}

impl Default for ScriptingSettings {
    fn default() -> Self {
        ScriptingSettings {
            enabled: None,
            default_location: None,
            default_language: None,
            timeout_ms: 60_000,
            statement_limit: 100_000,
            allowed_languages: Vec::new(),
        }
    }
}

impl Capability {
    /// The control entry's `management.scripting`, if it declares one.
    pub fn scripting(&self) -> Option<&ScriptingSettings> {
        self.exposes.iter().find_map(|e| match e {
            Exposes::Control(c) => c.scripting.as_ref(),
            _ => None,
        })
    }

    /// The consumed operation the host addresses as `namespace` + `operation`
    /// (operation names are unique within a namespace; `load` checks it).
    pub fn find_operation(
        &self,
        namespace: &str,
        operation: &str,
    ) -> Option<(&Consumes, &ConsumedResource, &ConsumedOperation)> {
        let c = self
            .consumes
            .iter()
            .find(|c| c.namespace.value == namespace)?;
        c.resources.iter().find_map(|r| {
            r.operations
                .iter()
                .find(|o| o.name.value == operation)
                .map(|o| (c, r, o))
        })
    }
}

/// Upstream's default `maxBinarySize` (`BinarySize.DEFAULT_MAX_BINARY_SIZE_BYTES`): 10 MiB.
pub const DEFAULT_MAX_BINARY_SIZE: u64 = 10 * 1024 * 1024;

/// Parse a `maxBinarySize` as upstream's `BinarySize.parse` does: a decimal number with
/// an optional `B`, `KiB`, `MiB` or `GiB` suffix (`512KiB`, `1.5MiB`, `4096`), rounded
/// down to whole bytes. None when it does not match or is too large.
pub fn parse_binary_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let multiplier: u64 = match unit {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (number, None),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if fraction.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let bytes = whole.parse::<u64>().ok()?.checked_mul(multiplier)?;
    let extra = match fraction {
        // At most 19 digits matter for a u64 multiplier; more only refine what is dropped.
        Some(f) => {
            let digits = &f[..f.len().min(18)];
            let scale = 10u128.pow(digits.len() as u32);
            (digits.parse::<u128>().ok()? * u128::from(multiplier) / scale) as u64
        }
        None => 0,
    };
    bytes.checked_add(extra)
}

/// The `ikanos:` versions this host reads.
pub const SUPPORTED_VERSIONS: &[&str] = &[
    "1.0.0-alpha3",
    "1.0.0-alpha4",
    "1.0.0-alpha5",
    "1.0.0-beta1",
    "1.0.0-beta2",
    "1.0.0-beta3",
    "1.0.0-beta4",
    "1.0.0-beta5",
];
