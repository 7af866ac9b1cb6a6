//! Calls to the operations the capability file declares under `capability.consumes`.
//!
//! Owns: the [`call`] builder, [`UpstreamResponse`] and [`CallError`], over the WIT
//! `consumes.call` import. The host builds the HTTP request from the declaration
//! (path, query, headers, authentication, tunnel), so the component only names the
//! operation and passes parameter values.
//!
//! ```no_run
//! # use ikanos_guest::{consumes, Error};
//! # fn f() -> Result<(), Error> {
//! let created = consumes::call("crm", "create-customer")
//!     .json_body(&ikanos_guest::serde_json::json!({ "name": "Ada" }))
//!     .send()?
//!     .error_for_status()?;
//! println!("{}", created.text()?);
//! # Ok(()) }
//! ```

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::Error;

/// Starts a call to consumed operation `operation` of consumes namespace `namespace`
/// (e.g. `call("crm", "list-customers")`). Nothing happens until [`Call::send`].
pub fn call(namespace: &str, operation: &str) -> Call {
    Call {
        namespace: namespace.to_owned(),
        operation: operation.to_owned(),
        params: Vec::new(),
        body: None,
        body_error: None,
    }
}

/// A consumed call being built; see [`call`].
#[derive(Debug, Clone)]
#[must_use = "a call does nothing until `.send()`"]
pub struct Call {
    namespace: String,
    operation: String,
    params: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    body_error: Option<String>,
}

impl Call {
    /// Adds parameter `name`. The capability file decides where it goes (path, query,
    /// header, cookie, body); names it does not declare make the call fail with
    /// [`CallError::InvalidInput`].
    pub fn param(mut self, name: impl Into<String>, value: impl ToString) -> Self {
        self.params.push((name.into(), value.to_string()));
        self
    }

    /// Sets the request body, sent as is with the operation's declared content type.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self.body_error = None;
        self
    }

    /// Sets the request body to `value` serialized as JSON. If serialization fails,
    /// [`send`](Self::send) returns [`CallError::InvalidInput`] without calling out.
    pub fn json_body<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => {
                self.body = Some(body);
                self.body_error = None;
            }
            Err(e) => {
                self.body = None;
                self.body_error = Some(format!("could not serialize the body as JSON: {e}"));
            }
        }
        self
    }

    /// Calls the operation and waits for the upstream's answer. Any HTTP status is an
    /// `Ok`; use [`UpstreamResponse::error_for_status`] to treat non-2xx as an error.
    pub fn send(self) -> Result<UpstreamResponse, CallError> {
        if let Some(reason) = self.body_error {
            return Err(CallError::InvalidInput(reason));
        }
        imp::send(self.namespace, self.operation, self.params, self.body)
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::{CallError, UpstreamResponse};
    use crate::__bindings::ikanos::capability::consumes as wit;

    pub(super) fn send(
        namespace: String,
        operation: String,
        params: Vec<(String, String)>,
        body: Option<Vec<u8>>,
    ) -> Result<UpstreamResponse, CallError> {
        let request = wit::OutboundRequest {
            namespace,
            operation,
            params,
            body,
        };
        match wit::call(&request) {
            Ok(r) => Ok(UpstreamResponse {
                status: r.status,
                headers: r.headers,
                body: r.body,
            }),
            Err(e) => Err(match e {
                wit::CallError::UnknownOperation(r) => CallError::UnknownOperation(r),
                wit::CallError::InvalidInput(r) => CallError::InvalidInput(r),
                wit::CallError::TunnelUnavailable(r) => CallError::TunnelUnavailable(r),
                wit::CallError::Timeout(r) => CallError::Timeout(r),
                wit::CallError::Transport(r) => CallError::Transport(r),
                wit::CallError::Denied(r) => CallError::Denied(r),
            }),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::{CallError, UpstreamResponse};

    pub(super) fn send(
        namespace: String,
        operation: String,
        _params: Vec<(String, String)>,
        _body: Option<Vec<u8>>,
    ) -> Result<UpstreamResponse, CallError> {
        Err(CallError::Transport(format!(
            "cannot call `{namespace}.{operation}`: consumed calls only work inside the ikanos host (wasm32)"
        )))
    }
}

/// What the upstream answered. Every status, 2xx or not, arrives here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamResponse {
    /// The HTTP status.
    pub status: u16,
    /// Response headers as `(name, value)`, in the order the host gave them.
    pub headers: Vec<(String, String)>,
    /// The response body.
    pub body: Vec<u8>,
}

impl UpstreamResponse {
    /// The first header called `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// `self` if the status is 2xx, else [`Error::Upstream`] naming the status.
    pub fn error_for_status(self) -> Result<Self, Error> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(Error::Upstream(format!(
                "the upstream answered HTTP {}",
                self.status
            )))
        }
    }

    /// The body as UTF-8 text; [`Error::Upstream`] if it is not UTF-8.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.body)
            .map_err(|e| Error::Upstream(format!("the upstream body is not UTF-8: {e}")))
    }

    /// The body parsed as JSON; [`Error::Upstream`] if it is not valid JSON for `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::Upstream(format!("the upstream body is not the expected JSON: {e}"))
        })
    }
}

/// Why a consumed call produced no upstream response; mirrors the WIT `call-error`.
/// Every reason is human-readable and never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// No such namespace, or no such operation in it.
    UnknownOperation(String),
    /// A parameter is undeclared, missing, or not valid for its place.
    InvalidInput(String),
    /// The consumes entry routes through a tunnel that is not ready (fail closed).
    TunnelUnavailable(String),
    /// The upstream did not answer within the configured time.
    Timeout(String),
    /// Connecting, TLS or the HTTP exchange failed.
    Transport(String),
    /// The host's policy refused the call (for example a per-request call budget).
    Denied(String),
}

impl CallError {
    /// The WIT case name: `unknown-operation`, `invalid-input`, `tunnel-unavailable`,
    /// `timeout`, `transport` or `denied`.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::UnknownOperation(_) => "unknown-operation",
            CallError::InvalidInput(_) => "invalid-input",
            CallError::TunnelUnavailable(_) => "tunnel-unavailable",
            CallError::Timeout(_) => "timeout",
            CallError::Transport(_) => "transport",
            CallError::Denied(_) => "denied",
        }
    }

    /// The host's reason.
    pub fn reason(&self) -> &str {
        match self {
            CallError::UnknownOperation(r)
            | CallError::InvalidInput(r)
            | CallError::TunnelUnavailable(r)
            | CallError::Timeout(r)
            | CallError::Transport(r)
            | CallError::Denied(r) => r,
        }
    }
}

/// `<kind>: <reason>`, e.g. `timeout: no answer within 30s`.
impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind(), self.reason())
    }
}

impl std::error::Error for CallError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> UpstreamResponse {
        UpstreamResponse {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn upstream_response_helpers() {
        let r = resp(200, r#"{"a":1}"#);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("x-missing"), None);
        assert_eq!(r.text().unwrap(), r#"{"a":1}"#);
        assert_eq!(r.json::<serde_json::Value>().unwrap()["a"], 1);
        assert!(matches!(r.json::<Vec<u8>>(), Err(Error::Upstream(_))));
        assert!(r.clone().error_for_status().is_ok());
        assert_eq!(
            resp(503, "").error_for_status().unwrap_err(),
            Error::Upstream("the upstream answered HTTP 503".into())
        );
        assert!(resp(302, "").error_for_status().is_err());
        let bad = UpstreamResponse {
            status: 200,
            headers: vec![],
            body: vec![0xff],
        };
        assert!(matches!(bad.text(), Err(Error::Upstream(_))));
    }

    #[test]
    fn call_error_kinds() {
        let all = [
            (CallError::UnknownOperation("r".into()), "unknown-operation"),
            (CallError::InvalidInput("r".into()), "invalid-input"),
            (
                CallError::TunnelUnavailable("r".into()),
                "tunnel-unavailable",
            ),
            (CallError::Timeout("r".into()), "timeout"),
            (CallError::Transport("r".into()), "transport"),
            (CallError::Denied("r".into()), "denied"),
        ];
        for (e, kind) in all {
            assert_eq!(e.kind(), kind);
            assert_eq!(e.reason(), "r");
            assert_eq!(e.to_string(), format!("{kind}: r"));
        }
    }

    #[test]
    fn builder_and_native_send() {
        let c = call("crm", "get")
            .param("id", 7)
            .param("q", "x")
            .body("raw");
        assert_eq!(
            c.params,
            vec![("id".into(), "7".into()), ("q".into(), "x".into())]
        );
        assert_eq!(c.body.as_deref(), Some(&b"raw"[..]));
        let c = c.json_body(&serde_json::json!({"k": true}));
        assert_eq!(c.body.as_deref(), Some(&br#"{"k":true}"#[..]));
        match c.send() {
            Err(CallError::Transport(m)) => assert!(m.contains("`crm.get`"), "{m}"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unserializable_json_body_fails_locally() {
        let mut m = std::collections::HashMap::new();
        m.insert(vec![1u8], 1);
        match call("crm", "x").json_body(&m).send() {
            Err(CallError::InvalidInput(r)) => assert!(r.contains("serialize"), "{r}"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
