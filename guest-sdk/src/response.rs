//! Owns: [`Response`], what a handler returns on success.

use serde::Serialize;

use crate::__private::InboundResponse;

/// The successful answer of a handler: status (default 200), content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Response {
    /// A 200 `application/json` response holding `value` serialized.
    ///
    /// Serialization cannot fail for ordinary data; if it does (for example a map with
    /// non-string keys) the response becomes a 500 `text/plain` naming the problem.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Response::bytes("application/json", body),
            Err(e) => Response::text(&format!("could not serialize the response as JSON: {e}"))
                .with_status(500),
        }
    }

    /// A 200 `text/plain; charset=utf-8` response.
    pub fn text(text: &str) -> Self {
        Response::bytes("text/plain; charset=utf-8", text.as_bytes().to_vec())
    }

    /// A 200 response with the given content type and body.
    pub fn bytes(content_type: impl Into<String>, body: Vec<u8>) -> Self {
        Response {
            status: 200,
            content_type: content_type.into(),
            body,
        }
    }

    /// The same response with another HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The `Content-Type`.
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    pub(crate) fn into_wit(self) -> InboundResponse {
        InboundResponse {
            status: self.status,
            content_type: self.content_type,
            body: self.body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders() {
        let r = Response::json(&serde_json::json!({"a": [1, 2]}));
        assert_eq!((r.status(), r.content_type()), (200, "application/json"));
        assert_eq!(r.body(), br#"{"a":[1,2]}"#);

        let r = Response::text("hé").with_status(201);
        assert_eq!(
            (r.status(), r.content_type()),
            (201, "text/plain; charset=utf-8")
        );
        assert_eq!(r.body(), "hé".as_bytes());

        let r = Response::bytes("image/png", vec![1, 2, 3]).into_wit();
        assert_eq!(
            (r.status, r.content_type.as_str(), r.body),
            (200, "image/png", vec![1, 2, 3])
        );
    }

    #[test]
    fn unserializable_json_becomes_500() {
        let mut m = std::collections::HashMap::new();
        m.insert(vec![1u8], 1);
        let r = Response::json(&m);
        assert_eq!(r.status(), 500);
        assert_eq!(r.content_type(), "text/plain; charset=utf-8");
    }
}
