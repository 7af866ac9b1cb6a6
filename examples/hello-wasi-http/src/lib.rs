//! A standard `wasi:http` component doing what the `hello` example does:
//! `GET /hello/{name}?greeting=…` answers `{"message":"<greeting>, <name>!"}` (greeting
//! `Hello` when absent or blank); any other path is 404. Written against the
//! `wasi:http/proxy` world with the `wasip2` crate only, so any wasi:http host
//! (`wasmtime serve`, Spin, …) runs it: the proxy benchmark's `wasmtime serve` anchor.
//!
//! Owns: this component's request handling; nothing of the ikanos contract.

use std::borrow::Cow;
use std::io::Write as _;

use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

wasip2::http::proxy::export!(Hello);

struct Hello;

impl wasip2::exports::http::incoming_handler::Guest for Hello {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let target = request.path_with_query().unwrap_or_default();
        let (status, body) = match (request.method(), greet(&target)) {
            (Method::Get, Some(message)) => {
                (200, serde_json::json!({ "message": message }).to_string())
            }
            _ => (404, r#"{"error":"not found"}"#.to_string()),
        };
        let headers =
            Fields::from_list(&[("content-type".to_string(), b"application/json".to_vec())])
                .expect("a valid header");
        let response = OutgoingResponse::new(headers);
        response.set_status_code(status).expect("a valid status");
        let out_body = response.body().expect("the response body");
        ResponseOutparam::set(response_out, Ok(response));
        let mut stream = out_body.write().expect("the body stream");
        // The host went away: nothing left to answer.
        let written = stream.write_all(body.as_bytes());
        if written
            .and_then(|_| std::io::Write::flush(&mut stream))
            .is_err()
        {
            return;
        }
        drop(stream);
        let _ = OutgoingBody::finish(out_body, None);
    }
}

/// The greeting for `/hello/{name}[?greeting=…]`, or `None` for any other path.
fn greet(target: &str) -> Option<String> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let name = path.strip_prefix("/hello/")?;
    if name.is_empty() || name.contains('/') {
        return None;
    }
    let name = percent_encoding::percent_decode_str(name)
        .decode_utf8()
        .ok()?;
    let greeting = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "greeting")
        .map(|(_, v)| v)
        .filter(|g| !g.trim().is_empty())
        .unwrap_or(Cow::Borrowed("Hello"));
    Some(format!("{greeting}, {name}!"))
}

#[cfg(test)]
mod tests {
    use super::greet;

    #[test]
    fn greets_like_the_hello_example() {
        assert_eq!(greet("/hello/Ada").as_deref(), Some("Hello, Ada!"));
        assert_eq!(
            greet("/hello/Ada%20L?greeting=Hi").as_deref(),
            Some("Hi, Ada L!")
        );
        assert_eq!(
            greet("/hello/Ada?greeting=%20").as_deref(),
            Some("Hello, Ada!")
        );
        assert_eq!(greet("/hello/"), None);
        assert_eq!(greet("/other"), None);
    }
}
