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
//! Requests carry the declared inputs the caller supplied, as strings (an MCP argument
//! that is not a JSON string arrives as its JSON text), and the raw body.

use serde_json::Value;

/// The parsed definition of one exposed operation, tool or resource.
#[derive(Debug, Clone)]
pub struct Definition {
    raw: Value,
}

impl Definition {
    /// Parse the JSON the host hands over.
    pub fn parse(json: &str) -> Result<Definition, FlowError> {
        let raw = serde_json::from_str(json)
            .map_err(|e| FlowError::Internal(format!("unreadable definition: {e}")))?;
        Ok(Definition { raw })
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
    fn convert(&mut self, format: &str, body: &[u8], schema: Option<&Value>)
        -> Result<Value, String>;
    /// A step finished (for the host's spans and step metrics).
    fn step_finished(&mut self, step: &str, kind: &str, nanos: u64, ok: bool);
}

/// Run one request against its definition.
pub fn run(definition: &Definition, request: Request<'_>, env: &mut dyn Env) -> Result<Output, FlowError> {
    let _ = (request, env);
    Err(FlowError::Internal(format!(
        "declarative operation '{}' is not run yet",
        definition.raw["name"].as_str().unwrap_or("?")
    )))
}
