//! Upstream Ikanos's declarative semantics, as pure functions over JSON values:
//! `call` + `with`, `outputParameters` (JSONPath `mapping`, `value`, `const`, nested
//! objects and arrays), mocks, `steps` (`call`, `lookup`), `mappings`, and `ref` to an
//! aggregate function. It runs inside the engine component; everything that leaves the
//! component goes through [`Env`].
//!
//! Owns: reading a [`Definition`] and running it. Must not touch: the wire (the host
//! builds every request and adds authentication), format conversion (`ikanos-convert`,
//! reached through [`Env::convert`]).
//!
//! # The definition the host hands over
//!
//! One JSON object per exposed operation, tool or dynamic resource, built once when
//! the capability loads:
//!
//! ```json
//! {
//!   "adapter": "rest" | "mcp" | "mcp-resource",
//!   "name": "get-ship",                  // operation, tool or resource key
//!   "operation": { … },                  // the entry as written in the file, as JSON
//!   "resourceInputParameters": [ … ],    // REST: the resource's inputParameters
//!   "function": { … } | null,            // the aggregate function when `ref` is used
//!   "consumes": {                        // every consumed operation, by namespace
//!     "registry": {
//!       "get-ship": {                    // as written in the file, minus nothing secret:
//!         "method": "GET",               // authentication, tunnel and baseUri are left out
//!         "inputParameters": [ … ],      // namespace, resource and operation levels merged
//!         "outputRawFormat": "xml",
//!         "outputParameters": [ … ], …
//!       }
//!     }
//!   }
//! }
//! ```
//!
//! Additions to that layout (all optional):
//!
//! ```json
//! {
//!   "namespace": "shipyard-tools",       // the exposing adapter's namespace: `with` values
//!                                        // written `shipyard-tools.imo` refer to input `imo`
//!                                        // (upstream's exposeNamespace); without it they are
//!                                        // plain templates, as upstream with a null namespace
//!   "function": { … },                   // as written under the aggregate's `flows`; its
//!                                        // namespace is the part of the operation's `ref`
//!                                        // before the first dot
//!   "maxBinaryBytes": 10485760,          // the adapter's maxBinarySize, parsed by the
//!                                        // host (default 10 MiB)
//!   "consumes": { "ns": { "op": {
//!     "body": "…" | { "type": …, "data": … },   // see "Consumed request bodies"
//!     "maxBinaryBytes": 1024,            // the operation's own maxBinarySize (wins)
//!     "outputSchema": …, "outputMediaType": "image/png" } } }
//! }
//! ```
//!
//! `maxBinarySize` is enforced here because the answer to an oversized binary response
//! depends on the exposing adapter, as upstream's: a REST operation answers 500
//! `text/plain` "Upstream response exceeded maxBinarySize (limit=N bytes)", an MCP tool an
//! `isError` result with that text, an MCP resource read fails with "Binary response of
//! S bytes exceeds the maxBinarySize cap of N bytes". Only binary responses
//! (`outputRawFormat: binary`) are capped, as upstream. The host has already read the
//! body under its own response-body limit (`maxResponseBody`), which applies first.
//!
//! # Consumed request bodies
//!
//! A consumed operation's `body` is rendered here against the request-scoped map and
//! passed as the call body (a bare string, `json`, `text`, `xml`, `sparql`: the host sends
//! it with the declared type's Content-Type). `formUrlEncoded` and `multipartForm` bodies
//! are not: the host builds them from the file's declaration, so that field encoding,
//! the multipart boundary and the Content-Type agree, and so that bind values (which the
//! engine never sees) can fill them. For those the engine passes, as the call body, a
//! JSON object holding for every `{{name}}` the body's `data` uses its value in the
//! request-scoped map, rendered as upstream renders it ("" when absent); the host
//! renders each template with bind values first, then the call's parameters, then these.
//! `in: environment` parameters count as fixed: the host reads them at load and never
//! takes a value for them from a caller.
//!
//! Requests carry the declared inputs the caller supplied, as strings (an MCP argument
//! that is not a JSON string arrives as its JSON text), and the raw body. For an MCP
//! resource the inputs are the URI template's variables.
//!
//! # The answer
//!
//! [`Output::status`] is the consumed upstream's status when the answer comes from a call
//! (upstream forwards it on REST; an MCP host marks the tool result `isError` when it is
//! ≥ 400), 200 for mocks and `mappings`, 204 for a REST mock that built nothing. MCP
//! resources always answer 200. An empty body on an MCP tool means an empty content list.
//! [`Output::binary`] is set when the consumed operation declares
//! `outputRawFormat: binary`: the body is the upstream's bytes and `content_type` the
//! declared `outputMediaType`, else the upstream's type, else application/octet-stream
//! (an MCP resource's `mimeType` wins). [`FlowError::Upstream`] on an MCP tool stands for
//! upstream's `isError` results ("No response received: …").
//!
//! Modules: `definition` (typed reading), `template` (Mustache), `jsonpath` (Jayway
//! bridge), `mapping` (outputParameters, mappings), `mock`, `call` (one consumed call),
//! `steps`, `lookup`, `aggregate` (`ref`), `engine` (each adapter's answer).

use std::collections::HashMap;

use serde_json::Value;

mod aggregate;
mod call;
pub mod definition;
mod engine;
pub mod jsonpath;
mod lookup;
mod mapping;
mod mock;
mod steps;
pub mod template;

#[cfg(test)]
mod tests;

use definition::{Adapter, Consumed, Flow};

/// The parsed definition of one exposed operation, tool or resource.
#[derive(Debug, Clone)]
pub struct Definition {
    raw: Value,
    adapter: Adapter,
    name: String,
    namespace: Option<String>,
    operation: Flow,
    function: Option<Flow>,
    consumes: HashMap<String, HashMap<String, Consumed>>,
    /// The exposing adapter's `maxBinarySize` in bytes (upstream's default 10 MiB).
    max_binary_bytes: u64,
}

/// Upstream's default `maxBinarySize` (`BinarySize.DEFAULT_MAX_BINARY_SIZE_BYTES`).
pub const DEFAULT_MAX_BINARY_BYTES: u64 = 10 * 1024 * 1024;

impl Definition {
    /// Parse the JSON the host hands over; shapes are checked here, once.
    pub fn parse(json: &str) -> Result<Definition, FlowError> {
        let raw: Value = serde_json::from_str(json)
            .map_err(|e| FlowError::Internal(format!("unreadable definition: {e}")))?;
        let name = raw.get("name").map(definition::as_text).unwrap_or_default();
        let ctx = format!("operation '{name}'");
        let adapter = definition::adapter(raw.get("adapter"))?;
        let operation = definition::flow(raw.get("operation").unwrap_or(&Value::Null), &ctx)?;
        let function = match raw.get("function") {
            None | Some(Value::Null) => None,
            Some(f) => Some(definition::flow(
                f,
                &format!(
                    "aggregate function '{}'",
                    operation.reference.as_deref().unwrap_or("?")
                ),
            )?),
        };
        let namespace = raw
            .get("namespace")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let consumes = definition::consumes(raw.get("consumes"))?;
        let max_binary_bytes = raw
            .get("maxBinaryBytes")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_MAX_BINARY_BYTES);
        Ok(Definition {
            max_binary_bytes,
            raw,
            adapter,
            name,
            namespace,
            operation,
            function,
            consumes,
        })
    }

    /// The definition as JSON.
    pub fn raw(&self) -> &Value {
        &self.raw
    }
}

/// One inbound request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Declared inputs the caller supplied, by declared name.
    pub inputs: &'a [(String, String)],
    pub body: Option<&'a [u8]>,
}

/// The answer: the host sends it as the HTTP response or the MCP result.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    /// The body is the upstream's raw bytes (`outputRawFormat: binary`), not text.
    pub binary: bool,
}

/// An upstream response to a consumed operation.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a consumed call produced no response (the host's `call-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallFailure {
    UnknownOperation(String),
    InvalidInput(String),
    TunnelUnavailable(String),
    Timeout(String),
    Transport(String),
    Denied(String),
}

/// Why a request failed; the host answers 400, 404, 502, 500 and 503 respectively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowError {
    InvalidInput(String),
    NotFound(String),
    Upstream(String),
    Internal(String),
    Unavailable(String),
}

/// What the engine may do outside pure computation.
pub trait Env {
    /// Call a declared consumed operation; the host builds and routes the request.
    fn call(
        &mut self,
        namespace: &str,
        operation: &str,
        params: Vec<(String, String)>,
        body: Option<Vec<u8>>,
    ) -> Result<Upstream, CallFailure>;
    /// Convert a body in `format` (`outputRawFormat`) to JSON.
    fn convert(
        &mut self,
        format: &str,
        body: &[u8],
        schema: Option<&Value>,
    ) -> Result<Value, String>;
    /// A step finished (for the host's spans and step metrics).
    fn step_finished(&mut self, step: &str, kind: &str, nanos: u64, ok: bool);
    /// Run script step `step`: `sources` in order as `language`, with `context` bound
    /// to the global `context`; the value it assigned to `result`, if any.
    fn run_script(
        &mut self,
        step: &str,
        language: &str,
        sources: &[String],
        context: &Value,
    ) -> Result<Option<Value>, FlowError>;
}

/// Run one request against its definition.
pub fn run(
    definition: &Definition,
    request: Request<'_>,
    env: &mut dyn Env,
) -> Result<Output, FlowError> {
    engine::run(definition, request, env)
}

impl std::fmt::Display for FlowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlowError::InvalidInput(m)
            | FlowError::NotFound(m)
            | FlowError::Upstream(m)
            | FlowError::Internal(m)
            | FlowError::Unavailable(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for FlowError {}
