//! A standard `wasi:http` component doing what the `crm-sidecar` example does, written
//! against the `wasi:http/proxy` world with the `wasip2` crate only: it knows nothing
//! of ikanos and would run the same under `wasmtime serve`.
//!
//! - `GET /customers[?limit=N]` fetches `{origin}/customers[?limit=N]` (`limit` must
//!   be a non-negative integer: 400 before any call otherwise);
//! - `GET /customers/{id}` fetches `{origin}/customers/{id}`;
//!
//! both with a plain `wasi:http/outgoing-handler` request carrying no credentials. The
//! CRM's origin (with a base path, if any) is the `x-crm-origin` request header when present (a capability file
//! can fix it as an input's `value`), else `http://127.0.0.1:18081` (the demo CRM).
//! Under ikanos the host sends the request only because the capability file declares
//! that origin and path under `consumes`, and adds the declared bearer token itself;
//! anything else it refuses (`HttpRequestDenied` here → 502).
//!
//! Answers: the CRM's JSON as is; its 404 → 404; any other non-2xx → 502; a refused
//! or failed request → 502; a tunnel that is down (`DestinationUnavailable`) → 503.
//!
//! Owns: this component's request handling; nothing of the ikanos contract.

use std::io::{Read as _, Write as _};

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};

wasip2::http::proxy::export!(Crm);

const DEFAULT_ORIGIN: &str = "http://127.0.0.1:18081";

struct Crm;

impl wasip2::exports::http::incoming_handler::Guest for Crm {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let target = request.path_with_query().unwrap_or_default();
        let origin = header(&request, "x-crm-origin").unwrap_or_else(|| DEFAULT_ORIGIN.into());
        let (status, body) = match request.method() {
            Method::Get => route(&origin, &target),
            _ => (405, error("only GET is served")),
        };
        respond(response_out, status, &body);
    }
}

/// The answer for `GET target`.
fn route(origin: &str, target: &str) -> (u16, String) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let upstream_path = if path == "/customers" {
        let limit = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "limit");
        match limit {
            None => "/customers".to_string(),
            Some((_, v)) => match v.parse::<u32>() {
                Ok(n) => format!("/customers?limit={n}"),
                Err(_) => {
                    return (
                        400,
                        error(&format!("limit must be a non-negative integer, got `{v}`")),
                    )
                }
            },
        }
    } else if let Some(id) = path
        .strip_prefix("/customers/")
        .filter(|id| !id.is_empty() && !id.contains('/'))
    {
        format!("/customers/{id}")
    } else {
        return (404, error("not found"));
    };
    match fetch(origin, &upstream_path) {
        Ok((status, body)) if (200..300).contains(&status) => (200, body),
        Ok((404, _)) => (404, error("the CRM has no such customer")),
        Ok((status, _)) => (502, error(&format!("the CRM answered HTTP {status}"))),
        Err(ErrorCode::DestinationUnavailable) => (503, error("the CRM is unreachable right now")),
        Err(code) => (
            502,
            error(&format!("the request to the CRM failed: {code:?}")),
        ),
    }
}

/// `GET {origin}{path}` over `wasi:http/outgoing-handler`: status and body.
fn fetch(origin: &str, path: &str) -> Result<(u16, String), ErrorCode> {
    let (scheme, rest) = match origin.split_once("://") {
        Some(("https", a)) => (Scheme::Https, a),
        Some((_, a)) => (Scheme::Http, a),
        None => (Scheme::Http, origin),
    };
    // An origin may carry a base path (`http://crm.internal/api`).
    let (authority, base) = rest.split_once('/').unwrap_or((rest, ""));
    let base = base.trim_end_matches('/');
    let path = if base.is_empty() {
        path.to_string()
    } else {
        format!("/{base}{path}")
    };
    let headers = Fields::from_list(&[("accept".to_string(), b"application/json".to_vec())])
        .map_err(|_| ErrorCode::InternalError(Some("a header".into())))?;
    let request = OutgoingRequest::new(headers);
    let invalid = |_| ErrorCode::HttpRequestUriInvalid;
    request
        .set_method(&Method::Get)
        .map_err(|_| ErrorCode::HttpRequestMethodInvalid)?;
    request.set_scheme(Some(&scheme)).map_err(invalid)?;
    request
        .set_authority(Some(authority.trim_end_matches('/')))
        .map_err(invalid)?;
    request.set_path_with_query(Some(&path)).map_err(invalid)?;
    let pending = outgoing_handler::handle(request, None)?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or(ErrorCode::HttpResponseIncomplete)?
        .map_err(|_| ErrorCode::HttpResponseIncomplete)??;
    let status = response.status();
    let body = response
        .consume()
        .map_err(|_| ErrorCode::HttpResponseIncomplete)?;
    let mut bytes = Vec::new();
    {
        let mut stream = body
            .stream()
            .map_err(|_| ErrorCode::HttpResponseIncomplete)?;
        stream
            .read_to_end(&mut bytes)
            .map_err(|_| ErrorCode::HttpResponseIncomplete)?;
    }
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

fn header(request: &IncomingRequest, name: &str) -> Option<String> {
    let values = request.headers().get(name);
    values
        .first()
        .and_then(|v| String::from_utf8(v.clone()).ok())
}

fn error(message: &str) -> String {
    format!("{{\"error\":{}}}", json_string(message))
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn respond(out: ResponseOutparam, status: u16, body: &str) {
    let headers = Fields::from_list(&[("content-type".to_string(), b"application/json".to_vec())])
        .expect("a valid header");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("a valid status");
    let out_body = response.body().expect("the response body");
    ResponseOutparam::set(out, Ok(response));
    let mut stream = out_body.write().expect("the body stream");
    // The host went away: nothing left to answer.
    if stream
        .write_all(body.as_bytes())
        .and_then(|_| std::io::Write::flush(&mut stream))
        .is_err()
    {
        return;
    }
    drop(stream);
    let _ = OutgoingBody::finish(out_body, None);
}

#[cfg(test)]
mod tests {
    use super::json_string;

    #[test]
    fn escapes_json_strings() {
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
