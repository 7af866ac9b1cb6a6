//! Owns: [`Error`], what a handler returns on failure, and its mapping to the WIT
//! `handler-error` variant.

use std::fmt;

use crate::__private::HandlerError;
use crate::CallError;

/// A handler failure. The host answers HTTP 400, 404, 502, 500 and 503 respectively,
/// with the message in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The caller's input is missing or malformed (HTTP 400).
    InvalidInput(String),
    /// The thing asked for does not exist (HTTP 404).
    NotFound(String),
    /// A consumed API failed or answered something unusable (HTTP 502).
    Upstream(String),
    /// A bug or an unexpected condition in the component (HTTP 500).
    Internal(String),
    /// A consumed API cannot be reached now: its tunnel is down and the host fails
    /// closed (HTTP 503; the caller may try again later).
    Unavailable(String),
}

impl Error {
    /// The message, whatever the kind.
    pub fn message(&self) -> &str {
        match self {
            Error::InvalidInput(m)
            | Error::NotFound(m)
            | Error::Upstream(m)
            | Error::Internal(m)
            | Error::Unavailable(m) => m,
        }
    }

    pub(crate) fn into_wit(self) -> HandlerError {
        match self {
            Error::InvalidInput(m) => HandlerError::InvalidInput(m),
            Error::NotFound(m) => HandlerError::NotFound(m),
            Error::Upstream(m) => HandlerError::Upstream(m),
            Error::Internal(m) => HandlerError::Internal(m),
            Error::Unavailable(m) => HandlerError::Unavailable(m),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Error::InvalidInput(_) => "invalid input",
            Error::NotFound(_) => "not found",
            Error::Upstream(_) => "upstream error",
            Error::Internal(_) => "internal error",
            Error::Unavailable(_) => "unavailable",
        };
        write!(f, "{kind}: {}", self.message())
    }
}

impl std::error::Error for Error {}

/// A failed consumed call is an upstream failure, except a tunnel that is down, which
/// makes the capability unavailable for now; the message is the call error's kind and
/// reason, e.g. `timeout: …`.
impl From<CallError> for Error {
    fn from(e: CallError) -> Self {
        match e {
            CallError::TunnelUnavailable(_) => Error::Unavailable(e.to_string()),
            _ => Error::Upstream(e.to_string()),
        }
    }
}

/// JSON handled with `serde_json` directly in a handler is the component's own
/// business, so a failure there is internal. (The SDK's own helpers pick the precise
/// kind: [`Request::json`](crate::Request::json) gives `InvalidInput`,
/// [`UpstreamResponse::json`](crate::UpstreamResponse::json) gives `Upstream`.)
impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Internal(format!("JSON error: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_to_wit() {
        assert_eq!(
            Error::InvalidInput("a".into()).into_wit(),
            HandlerError::InvalidInput("a".into())
        );
        assert_eq!(
            Error::NotFound("b".into()).into_wit(),
            HandlerError::NotFound("b".into())
        );
        assert_eq!(
            Error::Upstream("c".into()).into_wit(),
            HandlerError::Upstream("c".into())
        );
        assert_eq!(
            Error::Internal("d".into()).into_wit(),
            HandlerError::Internal("d".into())
        );
        assert_eq!(
            Error::Unavailable("e".into()).into_wit(),
            HandlerError::Unavailable("e".into())
        );
    }

    #[test]
    fn conversions() {
        let e: Error = CallError::Timeout("after 5s".into()).into();
        assert_eq!(e, Error::Upstream("timeout: after 5s".into()));
        let e: Error = CallError::TunnelUnavailable("no connector".into()).into();
        assert_eq!(
            e,
            Error::Unavailable("tunnel-unavailable: no connector".into())
        );
        let e: Error = serde_json::from_str::<u8>("x").unwrap_err().into();
        assert!(
            matches!(e, Error::Internal(ref m) if m.starts_with("JSON error: ")),
            "{e:?}"
        );
        assert_eq!(Error::NotFound("x".into()).to_string(), "not found: x");
        assert_eq!(Error::NotFound("x".into()).message(), "x");
    }
}
