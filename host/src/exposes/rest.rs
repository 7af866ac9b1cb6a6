//! The REST adapter: serves each exposed operation at its declared method and path.
//!
//! Owns: route matching, extracting declared inputs (path, query, header, cookie,
//! body), checking them (type, pattern), request ids, and mapping the component's
//! answer or failure to an HTTP response and `ikanos_request_*` metrics. Must not
//! touch: secrets (only literal declared values are handed to the component) or
//! outbound calls.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use ikanos_spec::model::{ExposedParam, ExposesRest, Handler, ParamIn, TemplatePart};
use percent_encoding::percent_decode_str;
use regex::Regex;
use serde_json::json;
use tracing::Instrument;

use super::auth::InboundAuth;
use super::forward::ForwardRoute;
use super::inbound::InboundBody;
use super::inbound::{self, Inbound};
use crate::capability::{LoadedCapability, Unrunnable};
use crate::runtime::{HandlerError, InboundRequest, InvokeError};
use crate::server::{self, Response};
use crate::telemetry::traces::Side;
use crate::telemetry::{AdapterType, Metrics};

#[derive(Debug)]
enum Segment {
    Literal(String),
    Param(String),
}

struct Input {
    name: String,
    location: ParamIn,
    ty: String,
    pattern: Option<Regex>,
    fixed: Option<String>,
}

struct Operation {
    name: String,
    handler: Handler,
    inputs: Vec<Input>,
}

struct RouteEntry {
    segments: Vec<Segment>,
    methods: Vec<(Method, Arc<Operation>)>,
    /// `forward`: what no operation answers goes to a consumed namespace.
    forward: Option<ForwardRoute>,
}

pub struct RestAdapter {
    capability: Arc<LoadedCapability>,
    namespace: String,
    routes: Vec<RouteEntry>,
    auth: InboundAuth,
    metrics: Arc<Metrics>,
}

fn parse_path(path: &str) -> Vec<Segment> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let inner = s
                .strip_prefix("{{")
                .and_then(|x| x.strip_suffix("}}"))
                .or_else(|| s.strip_prefix('{').and_then(|x| x.strip_suffix('}')));
            match inner {
                Some(name) => Segment::Param(name.trim().to_string()),
                None => Segment::Literal(s.to_string()),
            }
        })
        .collect()
}

fn input(p: &ExposedParam, operation: &str) -> Result<Input, String> {
    let pattern = match &p.pattern {
        Some(pat) => Some(Regex::new(pat).map_err(|e| format!("operation '{operation}' input '{}': pattern is not a valid regular expression: {e}", p.name.value))?),
        None => None,
    };
    let fixed = match &p.value {
        None => None,
        Some(t) => {
            // A fixed value that names a bind would hand a secret to the component.
            if t.parts
                .iter()
                .any(|part| matches!(part, TemplatePart::Ref { .. }))
            {
                return Err(format!(
                    "{}:{}: operation '{operation}' input '{}': a fixed exposed value may not reference binds, because the component would see it",
                    t.raw.file.display(),
                    t.raw.pos,
                    p.name.value
                ));
            }
            Some(t.raw.value.clone())
        }
    };
    Ok(Input {
        name: p.name.value.clone(),
        location: p.location,
        ty: p.ty.clone(),
        pattern,
        fixed,
    })
}

impl RestAdapter {
    pub fn new(
        capability: Arc<LoadedCapability>,
        spec: &ExposesRest,
        metrics: Arc<Metrics>,
    ) -> Result<Self, String> {
        let mut routes = Vec::new();
        for resource in &spec.resources {
            let mut methods = Vec::new();
            for op in &resource.operations {
                // Operation inputs override resource inputs of the same name.
                let mut inputs: Vec<Input> = Vec::new();
                for p in resource.input_parameters.iter().chain(&op.input_parameters) {
                    let i = input(p, &op.name.value)?;
                    inputs.retain(|existing| existing.name != i.name);
                    inputs.push(i);
                }
                methods.push((
                    crate::http_method(op.method),
                    Arc::new(Operation {
                        name: op.name.value.clone(),
                        handler: op.handler.clone(),
                        inputs,
                    }),
                ));
            }
            let segments = parse_path(&resource.path.value);
            let forward = resource.forward.as_ref().map(|f| {
                let params: Vec<Option<&str>> = segments
                    .iter()
                    .map(|s| match s {
                        Segment::Param(p) => Some(p.as_str()),
                        Segment::Literal(_) => None,
                    })
                    .collect();
                ForwardRoute::new(f, &params)
            });
            routes.push(RouteEntry {
                segments,
                methods,
                forward,
            });
        }
        // Literal segments win over parameters: `/customers/search` before `/customers/{id}`.
        routes.sort_by_key(|r| {
            std::cmp::Reverse(
                r.segments
                    .iter()
                    .filter(|s| matches!(s, Segment::Literal(_)))
                    .count(),
            )
        });
        let auth = InboundAuth::resolve(spec.authentication.as_ref(), &capability.secrets)
            .map_err(|e| {
                format!(
                    "{}:{}: rest adapter '{}': {e}",
                    spec.namespace.file.display(),
                    spec.pos,
                    spec.namespace.value
                )
            })?;
        Ok(RestAdapter {
            capability,
            namespace: spec.namespace.value.clone(),
            routes,
            auth,
            metrics,
        })
    }

    /// Whether some exposed operation lives at `path` (any method); the shared
    /// listener of `ikanos serve` uses it to pick among a capability's adapters.
    pub fn serves(&self, path: &str) -> bool {
        self.find(path).is_some()
    }

    fn find(&self, path: &str) -> Option<(&RouteEntry, HashMap<String, String>)> {
        let parts: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        'routes: for route in &self.routes {
            let greedy = route.forward.as_ref().is_some_and(ForwardRoute::greedy);
            if route.segments.len() != parts.len()
                && !(greedy && parts.len() > route.segments.len())
            {
                continue;
            }
            let mut captures = HashMap::new();
            for (seg, part) in route.segments.iter().zip(&parts) {
                match seg {
                    Segment::Literal(l) if l == part => {}
                    Segment::Literal(_) => continue 'routes,
                    Segment::Param(name) => {
                        captures.insert(name.clone(), part.clone());
                    }
                }
            }
            return Some((route, captures));
        }
        None
    }

    /// The checked inputs of the operation at this request's method and path, as `call`
    /// extracts them before running it (None: no operation there). For the fuzz
    /// targets, whose capability has no component for `call` to reach.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn inputs_for(
        &self,
        parts: &http::request::Parts,
        body: &Bytes,
    ) -> Option<Result<Vec<(String, String)>, String>> {
        let (route, captures) = self.find(parts.uri.path())?;
        let (_, op) = route.methods.iter().find(|(m, _)| *m == parts.method)?;
        Some(extract_inputs(op, parts, &captures, body))
    }

    /// Answer one request (routing, inbound authentication, the component, metrics).
    pub async fn handle<B: InboundBody>(&self, req: http::Request<B>) -> Response {
        let started = Instant::now();
        let inbound = Inbound::begin(&req);
        let request_id = inbound.request_id.as_str();
        let method = req.method().clone();
        let span = tracing::info_span!("request", otel.kind = "server", capability = %self.capability.name, adapter = "rest", namespace = %self.namespace, %method, path = %req.uri().path(), request_id = %request_id);
        crate::telemetry::propagation::continue_from(&span, req.headers());
        let (operation, response) = self.route(req, request_id).instrument(span.clone()).await;
        let response = inbound.finish(response);
        let status = response.status().as_u16();
        crate::telemetry::traces::record_status(&span, Side::Server, Some(status));
        self.metrics.record_request(
            &self.capability.name,
            AdapterType::rest,
            operation.as_deref().unwrap_or("unmatched"),
            method.as_str(),
            status,
            started.elapsed(),
        );
        span.in_scope(|| {
            tracing::info!(
                status,
                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                "handled"
            )
        });
        response
    }

    /// Returns the matched operation's name (for metrics) and the response.
    async fn route<B: InboundBody>(
        &self,
        req: http::Request<B>,
        request_id: &str,
    ) -> (Option<String>, Response) {
        let (parts, body) = req.into_parts();
        if let Err(refusal) = inbound::authenticate(&self.auth, &parts).await {
            return (
                None,
                refusal.render(|status, message| error(status, request_id, message.into())),
            );
        }
        let req = http::Request::from_parts(parts, body);
        let Some((route, captures)) = self.find(req.uri().path()) else {
            return (
                None,
                error(
                    StatusCode::NOT_FOUND,
                    request_id,
                    format!("no operation is exposed at {}", req.uri().path()),
                ),
            );
        };
        let Some((_, op)) = route.methods.iter().find(|(m, _)| *m == req.method()) else {
            if let Some(forward) = &route.forward {
                return (
                    Some("forward".into()),
                    self.forward(forward, req, request_id).await,
                );
            }
            let allow = route
                .methods
                .iter()
                .map(|(m, _)| m.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let mut resp = error(
                StatusCode::METHOD_NOT_ALLOWED,
                request_id,
                format!("{} is not allowed here; use {allow}", req.method()),
            );
            if let Ok(v) = HeaderValue::from_str(&allow) {
                resp.headers_mut().insert(http::header::ALLOW, v);
            }
            return (None, resp);
        };
        let name = Some(op.name.clone());
        let response = match self.call(op, req, captures, request_id).await {
            Ok(r) => r,
            Err((status, kind, message)) => {
                if let Some(kind) = kind {
                    self.metrics.record_error(
                        &self.capability.name,
                        AdapterType::rest,
                        &op.name,
                        kind,
                    );
                }
                if status.is_server_error() {
                    tracing::warn!(operation = %op.name, status = status.as_u16(), error = %message, "request failed");
                }
                error(status, request_id, message)
            }
        };
        (name, response)
    }

    async fn forward<B: InboundBody>(
        &self,
        forward: &ForwardRoute,
        req: http::Request<B>,
        request_id: &str,
    ) -> Response {
        match forward.forward(&self.capability, req, request_id).await {
            Ok(r) => r,
            Err((status, kind, message)) => {
                if let Some(kind) = kind {
                    let name = &self.capability.name;
                    self.metrics
                        .record_error(name, AdapterType::rest, "forward", kind);
                }
                error(status, request_id, message)
            }
        }
    }

    async fn call<B: InboundBody>(
        &self,
        op: &Operation,
        req: http::Request<B>,
        captures: HashMap<String, String>,
        request_id: &str,
    ) -> Result<Response, (StatusCode, Option<&'static str>, String)> {
        let bad = |msg: String| (StatusCode::BAD_REQUEST, Some("invalid_input"), msg);
        let sandbox = match self
            .capability
            .runner(&self.namespace, &op.name, &op.handler)
        {
            Ok(s) => s,
            Err(Unrunnable::NoComponent) => {
                return Err((
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Some("no_component"),
                    "no component is loaded".into(),
                ))
            }
        };

        let (parts, body) = req.into_parts();
        let limit = sandbox.limits().max_request_body;
        let body = inbound::read_body(body, limit)
            .await
            .map_err(|refusal| (refusal.status(), refusal.metric_kind(), refusal.message()))?;

        let inputs = extract_inputs(op, &parts, &captures, &body).map_err(bad)?;
        let traceparent = crate::telemetry::propagation::inbound(&parts.headers);
        if sandbox.serves_wasi_http() {
            let request = wasi_http_request(op, &parts, &inputs, body).map_err(bad)?;
            return match sandbox
                .invoke_http(request_id, traceparent.as_deref(), request)
                .await
            {
                Ok(answer) => Ok(wasi_http_response(answer)),
                Err(e) => Err(invoke_error(e)),
            };
        }
        let request = InboundRequest {
            operation: op.name.clone(),
            inputs,
            body: if body.is_empty() {
                None
            } else {
                Some(body.to_vec())
            },
        };
        match sandbox
            .invoke(request_id, traceparent.as_deref(), request)
            .await
        {
            Ok(resp) => {
                let status = StatusCode::from_u16(resp.status)
                    .ok()
                    .filter(|s| s.as_u16() >= 200)
                    .ok_or_else(|| {
                        (
                            StatusCode::INTERNAL_SERVER_ERROR,
                            Some("bad_response"),
                            format!(
                                "the component answered with an invalid status {}",
                                resp.status
                            ),
                        )
                    })?;
                let content_type = HeaderValue::from_str(&resp.content_type).map_err(|_| {
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Some("bad_response"),
                        "the component answered with an invalid content type".to_string(),
                    )
                })?;
                let mut out = http::Response::new(Bytes::from(resp.body).into());
                *out.status_mut() = status;
                out.headers_mut()
                    .insert(http::header::CONTENT_TYPE, content_type);
                Ok(out)
            }
            Err(e) => Err(invoke_error(e)),
        }
    }
}

fn invoke_error(e: InvokeError) -> (StatusCode, Option<&'static str>, String) {
    let kind = e.kind();
    let status = match &e {
        InvokeError::Handler(HandlerError::InvalidInput(_)) => StatusCode::BAD_REQUEST,
        InvokeError::Handler(HandlerError::NotFound(_)) => StatusCode::NOT_FOUND,
        InvokeError::Handler(HandlerError::Upstream(_)) => StatusCode::BAD_GATEWAY,
        InvokeError::Handler(HandlerError::Internal(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        InvokeError::Handler(HandlerError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
        InvokeError::Trap(_) | InvokeError::MemoryLimit(_) | InvokeError::ResponseTooLarge(..) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        InvokeError::CpuDeadline(_) | InvokeError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        InvokeError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Some(kind), e.to_string())
}

/// The request a standard `wasi:http` component sees for one exposed operation: the
/// caller's method and path (which matched the declared resource), and of the rest
/// only what the operation declares — its query and header inputs, its cookies, the
/// body with its content type. As with the WIT handler, nothing undeclared (the
/// caller's credentials among it) reaches the component.
fn wasi_http_request(
    op: &Operation,
    parts: &http::request::Parts,
    inputs: &[(String, String)],
    body: Bytes,
) -> Result<http::Request<Bytes>, String> {
    let location = |name: &str| {
        op.inputs
            .iter()
            .find(|i| i.name == name)
            .map(|i| i.location)
    };
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    let mut headers = http::HeaderMap::new();
    let mut cookies = Vec::new();
    for (name, value) in inputs {
        match location(name) {
            Some(ParamIn::Query) => {
                query.append_pair(name, value);
            }
            Some(ParamIn::Header) => {
                let name = http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("'{name}' is not a header name"))?;
                let value = HeaderValue::from_str(value)
                    .map_err(|_| format!("header '{name}' is not valid text"))?;
                headers.append(name, value);
            }
            Some(ParamIn::Cookie) => cookies.push(format!("{name}={value}")),
            _ => {}
        }
    }
    if !cookies.is_empty() {
        let value = HeaderValue::from_str(&cookies.join("; "))
            .map_err(|_| "a cookie input is not valid text".to_string())?;
        headers.insert(http::header::COOKIE, value);
    }
    if !body.is_empty() {
        if let Some(ct) = parts.headers.get(http::header::CONTENT_TYPE) {
            headers.insert(http::header::CONTENT_TYPE, ct.clone());
        }
    }
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.parse::<http::uri::Authority>().is_ok())
        .unwrap_or("localhost");
    let query = query.finish();
    let target = if query.is_empty() {
        format!("http://{host}{}", parts.uri.path())
    } else {
        format!("http://{host}{}?{query}", parts.uri.path())
    };
    let mut request = http::Request::new(body);
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = target
        .parse()
        .map_err(|_| "the request target is not a valid URI".to_string())?;
    *request.headers_mut() = headers;
    Ok(request)
}

/// A `wasi:http` component's answer as the caller gets it: its status, headers (not
/// the transport's or the connection's own, which the host's server sets: the ones a
/// forward never passes on either) and body.
fn wasi_http_response(answer: http::Response<Bytes>) -> Response {
    let (parts, body) = answer.into_parts();
    let mut out = http::Response::new(body.into());
    *out.status_mut() = parts.status;
    for (name, value) in &parts.headers {
        if !ikanos_spec::model::Forward::NEVER_FORWARDED.contains(&name.as_str()) {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    out
}

fn extract_inputs(
    op: &Operation,
    parts: &http::request::Parts,
    captures: &HashMap<String, String>,
    body: &Bytes,
) -> Result<Vec<(String, String)>, String> {
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let cookies: Vec<(String, String)> = parts
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| {
            kv.trim()
                .split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let json_body: Option<serde_json::Map<String, serde_json::Value>> =
        if op.inputs.iter().any(|i| i.location == ParamIn::Body) {
            serde_json::from_slice(body).ok()
        } else {
            None
        };

    let mut out = Vec::new();
    for input in &op.inputs {
        let value = if let Some(fixed) = &input.fixed {
            Some(fixed.clone())
        } else {
            match input.location {
                ParamIn::Path => captures.get(&input.name).cloned(),
                ParamIn::Query => query
                    .iter()
                    .find(|(k, _)| *k == input.name)
                    .map(|(_, v)| v.clone()),
                ParamIn::Header => match parts.headers.get(input.name.as_str()) {
                    Some(v) => Some(
                        v.to_str()
                            .map_err(|_| format!("header '{}' is not valid text", input.name))?
                            .to_string(),
                    ),
                    None => None,
                },
                ParamIn::Cookie => cookies
                    .iter()
                    .find(|(k, _)| *k == input.name)
                    .map(|(_, v)| v.clone()),
                ParamIn::Body => json_body
                    .as_ref()
                    .and_then(|m| m.get(&input.name))
                    .map(super::input_text),
                ParamIn::Environment => None,
            }
        };
        let Some(value) = value else {
            if input.location == ParamIn::Path {
                return Err(format!("path input '{}' is missing", input.name));
            }
            continue;
        };
        check_type(input, &value)?;
        if let Some(re) = &input.pattern {
            if !re.is_match(&value) {
                return Err(format!(
                    "input '{}' does not match the pattern {}",
                    input.name,
                    re.as_str()
                ));
            }
        }
        out.push((input.name.clone(), value));
    }
    Ok(out)
}

fn check_type(input: &Input, value: &str) -> Result<(), String> {
    let ok = match input.ty.as_str() {
        "integer" => value.parse::<i64>().is_ok(),
        "number" => value.parse::<f64>().map(|f| f.is_finite()).unwrap_or(false),
        "boolean" => value == "true" || value == "false",
        "array" | "object" => serde_json::from_str::<serde_json::Value>(value).is_ok_and(|v| {
            match input.ty.as_str() {
                "array" => v.is_array(),
                _ => v.is_object(),
            }
        }),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "input '{}' must be of type {}, got '{}'",
            input.name,
            input.ty,
            truncate(value, 64)
        ))
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn error(status: StatusCode, request_id: &str, message: String) -> Response {
    server::json(
        status,
        &json!({ "error": message, "status": status.as_u16(), "requestId": request_id }),
    )
}

#[cfg(test)]
mod tests {
    //! Routing and the inbound pipeline of the REST adapter, in process: operations
    //! declared with `call` need no component (the built-in engine runs them), so every
    //! decision before the call (auth, 404, 405, literal-before-parameter) is visible.

    use super::*;
    use crate::capability::{self, CapabilityOptions};
    use crate::runtime::{ComponentCache, PoolSettings, Runtime};
    use crate::tunnel::TunnelRegistry;
    use http_body_util::Full;

    const FILE: &str = r#"ikanos: "1.0.0-beta5"
info:
  display: "REST unit test"
  description: "Routing and inbound checks."
binds:
  - namespace: "secrets"
    location: "file:///./secrets.yaml"
    keys:
      INBOUND: "inbound-token"
capability:
  exposes:
    - type: "rest"
      address: "127.0.0.1"
      port: 0
      namespace: "api"
      authentication:
        type: "bearer"
        token: "{{secrets.INBOUND}}"
      resources:
        search:
          path: "/customers/search"
          operations:
            search-customers:
              method: "GET"
              call: "crm.list"
        customer:
          path: "/customers/{id}"
          inputParameters:
            id:
              in: "path"
              type: "string"
              description: "The customer."
          operations:
            get-customer:
              method: "GET"
              call: "crm.list"
            delete-customer:
              method: "DELETE"
              call: "crm.list"
  consumes:
    - type: "http"
      namespace: "crm"
      description: "Never reached by these tests."
      baseUri: "http://127.0.0.1:1"
      resources:
        customers:
          path: "/customers"
          operations:
            list:
              method: "GET"
"#;

    fn adapter() -> RestAdapter {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("unit.ikanos.yaml");
        std::fs::write(&file, FILE).unwrap();
        std::fs::write(
            dir.path().join("secrets.yaml"),
            "inbound-token: \"s3cret\"\n",
        )
        .unwrap();
        let runtime = Runtime::new(PoolSettings {
            max_instances: 2,
            ..PoolSettings::default()
        })
        .unwrap();
        let metrics = Metrics::new();
        let capability = capability::load(
            &file,
            &CapabilityOptions::default(),
            &runtime,
            &ComponentCache::new(None),
            &TunnelRegistry::builtin(),
            &metrics,
            |_| {},
        )
        .unwrap();
        let ikanos_spec::model::Exposes::Rest(spec) = &capability.model.exposes[0] else {
            panic!("the file exposes rest first");
        };
        let spec = spec.clone();
        RestAdapter::new(Arc::new(capability), &spec, metrics).unwrap()
    }

    fn request(method: &str, path: &str, token: Option<&str>) -> http::Request<Full<Bytes>> {
        let mut b = http::Request::builder()
            .method(method)
            .uri(path)
            .header("x-request-id", "unit-1");
        if let Some(t) = token {
            b = b.header(http::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        b.body(Full::new(Bytes::new())).unwrap()
    }

    async fn body_json(resp: Response) -> serde_json::Value {
        use http_body_util::BodyExt;
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_caller_without_the_token_gets_401_with_a_challenge_before_any_routing() {
        let a = adapter();
        for token in [None, Some("wrong")] {
            let resp = a.handle(request("GET", "/nowhere", token)).await;
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{token:?}");
            assert_eq!(resp.headers()[http::header::WWW_AUTHENTICATE], "Bearer");
            assert_eq!(resp.headers()["x-request-id"], "unit-1");
            let body = body_json(resp).await;
            assert_eq!(body["requestId"], "unit-1");
            assert!(!body.to_string().contains("s3cret"), "{body}");
        }
    }

    #[tokio::test]
    async fn an_unknown_path_is_404_and_a_wrong_method_405_with_allow() {
        let a = adapter();
        let resp = a.handle(request("GET", "/orders", Some("s3cret"))).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            body_json(resp).await["error"],
            "no operation is exposed at /orders"
        );
        let resp = a
            .handle(request("POST", "/customers/7", Some("s3cret")))
            .await;
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(resp.headers()[http::header::ALLOW], "GET, DELETE");
    }

    #[tokio::test]
    async fn literal_segments_win_over_parameters_and_captures_are_decoded() {
        let a = adapter();
        let (route, captures) = a.find("/customers/search").unwrap();
        assert!(matches!(&route.segments[1], Segment::Literal(l) if l == "search"));
        assert!(captures.is_empty());
        let (_, captures) = a.find("/customers/a%20b").unwrap();
        assert_eq!(captures["id"], "a b");
        assert!(a.find("/customers").is_none());
        assert!(a.find("/customers/1/extra").is_none());
        let (op, resp) = a
            .route(request("GET", "/customers/search", Some("s3cret")), "r")
            .await;
        assert_eq!(op.as_deref(), Some("search-customers"));
        // Declared with `call`: the engine ran it (the consumed API is not reachable).
        assert!(
            ![
                StatusCode::NOT_FOUND,
                StatusCode::METHOD_NOT_ALLOWED,
                StatusCode::NOT_IMPLEMENTED
            ]
            .contains(&resp.status()),
            "{}",
            resp.status()
        );
    }

    fn input(name: &str, location: ParamIn, ty: &str, pattern: Option<&str>) -> Input {
        Input {
            name: name.into(),
            location,
            ty: ty.into(),
            pattern: pattern.map(|p| Regex::new(p).unwrap()),
            fixed: None,
        }
    }

    fn inputs_of(
        inputs: Vec<Input>,
        req: http::Request<()>,
        body: &str,
    ) -> Result<Vec<(String, String)>, String> {
        let op = Operation {
            name: "op".into(),
            handler: Handler::Component,
            inputs,
        };
        let (parts, ()) = req.into_parts();
        let captures = HashMap::from([("id".to_string(), "42".to_string())]);
        extract_inputs(&op, &parts, &captures, &Bytes::from(body.to_string()))
    }

    #[test]
    fn inputs_come_from_every_place_and_are_checked_by_type_and_pattern() {
        let req = || {
            http::Request::builder()
                .uri("/x?limit=10&flag=true")
                .header("x-tag", "blue")
                .header(http::header::COOKIE, "a=1; session=abc")
                .body(())
                .unwrap()
        };
        let all = vec![
            input("id", ParamIn::Path, "integer", None),
            input("limit", ParamIn::Query, "integer", Some("^[0-9]{1,3}$")),
            input("flag", ParamIn::Query, "boolean", None),
            input("x-tag", ParamIn::Header, "string", None),
            input("session", ParamIn::Cookie, "string", None),
            input("filter", ParamIn::Body, "object", None),
            input("absent", ParamIn::Query, "string", None),
        ];
        let got = inputs_of(all, req(), r#"{"filter": {"name": "Ada"}}"#).unwrap();
        let got: HashMap<_, _> = got.into_iter().collect();
        assert_eq!(got["id"], "42");
        assert_eq!(got["limit"], "10");
        assert_eq!(got["flag"], "true");
        assert_eq!(got["x-tag"], "blue");
        assert_eq!(got["session"], "abc");
        assert_eq!(got["filter"], r#"{"name":"Ada"}"#);
        assert!(
            !got.contains_key("absent"),
            "an absent optional input is left out"
        );

        let wrong_type = inputs_of(
            vec![input("x-tag", ParamIn::Header, "integer", None)],
            req(),
            "",
        );
        assert_eq!(
            wrong_type.unwrap_err(),
            "input 'x-tag' must be of type integer, got 'blue'"
        );
        let no_match = inputs_of(
            vec![input("limit", ParamIn::Query, "string", Some("^[a-z]+$"))],
            req(),
            "",
        );
        assert_eq!(
            no_match.unwrap_err(),
            "input 'limit' does not match the pattern ^[a-z]+$"
        );
        let missing_path = inputs_of(
            vec![input("other", ParamIn::Path, "string", None)],
            req(),
            "",
        );
        assert_eq!(missing_path.unwrap_err(), "path input 'other' is missing");
    }

    /// A `wasi:http` component sees the caller's method and path and, of the rest,
    /// only the declared inputs: never the caller's credentials or other headers.
    #[test]
    fn a_wasi_http_component_sees_only_declared_inputs() {
        let input = |name: &str, location, fixed: Option<&str>| Input {
            name: name.into(),
            location,
            ty: "string".into(),
            pattern: None,
            fixed: fixed.map(Into::into),
        };
        let op = Operation {
            name: "get-customer".into(),
            handler: Handler::Component,
            inputs: vec![
                input("id", ParamIn::Path, None),
                input("fields", ParamIn::Query, None),
                input("x-tenant", ParamIn::Header, None),
                input("x-origin", ParamIn::Header, Some("http://crm")),
                input("session", ParamIn::Cookie, None),
            ],
        };
        let request = http::Request::builder()
            .method("POST")
            .uri("/customers/7?fields=name&debug=1")
            .header("host", "api.example")
            .header("authorization", "Bearer caller-token")
            .header("cookie", "session=abc; other=x")
            .header("x-tenant", "t1")
            .header("x-undeclared", "no")
            .header("content-type", "application/json")
            .body(())
            .unwrap();
        let (parts, ()) = request.into_parts();
        let captures = HashMap::from([("id".to_string(), "7".to_string())]);
        let body = Bytes::from_static(b"{}");
        let inputs = extract_inputs(&op, &parts, &captures, &body).unwrap();
        let seen = wasi_http_request(&op, &parts, &inputs, body).unwrap();
        assert_eq!(seen.method(), "POST");
        assert_eq!(
            seen.uri().to_string(),
            "http://api.example/customers/7?fields=name"
        );
        let headers: Vec<(&str, &str)> = seen
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            headers,
            [
                ("x-tenant", "t1"),
                ("x-origin", "http://crm"),
                ("cookie", "session=abc"),
                ("content-type", "application/json"),
            ]
        );
        assert_eq!(seen.body().as_ref(), b"{}");
    }
}
