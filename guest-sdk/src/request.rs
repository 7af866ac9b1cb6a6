//! Owns: [`Request`], the inbound call to one exposed operation, and its input lookups.

use std::str::FromStr;

use serde::de::DeserializeOwned;

use crate::__private::InboundRequest;
use crate::Error;

/// One call to an exposed operation, as the host hands it to the component.
///
/// `inputs` are the declared input parameters the caller supplied (path, query,
/// header, cookie), by their declared name; the host has already checked them against
/// the capability file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    operation: String,
    inputs: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl Request {
    /// A request for `operation` with no inputs and no body. Meant for unit tests of
    /// handlers; the host builds the real ones.
    pub fn new(operation: impl Into<String>) -> Self {
        Request {
            operation: operation.into(),
            inputs: Vec::new(),
            body: None,
        }
    }

    /// Adds an input (builder style, for tests).
    pub fn with_input(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.inputs.push((name.into(), value.into()));
        self
    }

    /// Sets the body (builder style, for tests).
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    pub(crate) fn from_wit(request: InboundRequest) -> Self {
        Request {
            operation: request.operation,
            inputs: request.inputs,
            body: request.body,
        }
    }

    /// The exposed operation key, e.g. `get-customer`.
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// The value of input `name`, if the caller supplied it (the first one if repeated).
    pub fn input(&self, name: &str) -> Option<&str> {
        self.inputs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of input `name`, or [`Error::InvalidInput`] naming the missing input.
    pub fn require(&self, name: &str) -> Result<&str, Error> {
        self.input(name)
            .ok_or_else(|| Error::InvalidInput(format!("missing required input `{name}`")))
    }

    /// Input `name` parsed as `T`: `Ok(None)` when absent, [`Error::InvalidInput`]
    /// naming the input when it does not parse.
    pub fn input_as<T: FromStr>(&self, name: &str) -> Result<Option<T>, Error>
    where
        T::Err: std::fmt::Display,
    {
        match self.input(name) {
            None => Ok(None),
            Some(raw) => raw.parse::<T>().map(Some).map_err(|e| {
                Error::InvalidInput(format!("input `{name}` has an invalid value `{raw}`: {e}"))
            }),
        }
    }

    /// Like [`input_as`](Self::input_as), but a missing input is an error too.
    pub fn require_as<T: FromStr>(&self, name: &str) -> Result<T, Error>
    where
        T::Err: std::fmt::Display,
    {
        self.input_as(name)?
            .ok_or_else(|| Error::InvalidInput(format!("missing required input `{name}`")))
    }

    /// All supplied inputs as `(name, value)`, in the order the host gave them.
    pub fn inputs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.inputs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The request body, if any.
    pub fn body(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }

    /// The body parsed as JSON; [`Error::InvalidInput`] when it is missing or malformed.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let body = self
            .body()
            .ok_or_else(|| Error::InvalidInput("a JSON request body is required".into()))?;
        serde_json::from_slice(body)
            .map_err(|e| Error::InvalidInput(format!("the request body is not valid JSON: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> Request {
        Request::new("op")
            .with_input("id", "42")
            .with_input("id", "43")
            .with_input("name", "x")
    }

    #[test]
    fn lookups() {
        let r = req();
        assert_eq!(r.operation(), "op");
        assert_eq!(r.input("id"), Some("42"));
        assert_eq!(r.input("ID"), None);
        assert_eq!(r.require("name").unwrap(), "x");
        let err = r.require("missing").unwrap_err();
        assert_eq!(
            err,
            Error::InvalidInput("missing required input `missing`".into())
        );
        assert_eq!(r.inputs().count(), 3);
    }

    #[test]
    fn typed_lookups() {
        let r = req();
        assert_eq!(r.input_as::<u32>("id").unwrap(), Some(42));
        assert_eq!(r.input_as::<u32>("absent").unwrap(), None);
        match r.input_as::<u32>("name") {
            Err(Error::InvalidInput(m)) => {
                assert!(m.contains("`name`") && m.contains("`x`"), "{m}")
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(r.require_as::<i64>("id").unwrap(), 42);
        assert!(matches!(
            r.require_as::<i64>("absent"),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn json_body() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct In {
            a: u8,
        }
        let r = Request::new("op").with_body(&br#"{"a":7}"#[..]);
        assert_eq!(r.body(), Some(&br#"{"a":7}"#[..]));
        assert_eq!(r.json::<In>().unwrap(), In { a: 7 });
        assert!(matches!(
            Request::new("op").json::<In>(),
            Err(Error::InvalidInput(_))
        ));
        let bad = Request::new("op").with_body("{");
        assert!(matches!(bad.json::<In>(), Err(Error::InvalidInput(_))));
    }
}
