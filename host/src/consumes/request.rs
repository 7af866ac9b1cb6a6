//! Building one outbound HTTP request from a declared consumed operation.
//!
//! Owns: merging declared parameters (namespace → resource → operation), checking what
//! the component supplied against them, and placing each value in the path, query,
//! headers, cookies or body. Must not touch: sockets or routing. Pure, so it is tested
//! without a network.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, COOKIE, USER_AGENT};
use http::{HeaderMap, Method};
use http_body_util::Full;
use ikanos_spec::binds::Secrets;
use ikanos_spec::model::{
    Consumes, FormBody, ParamIn, Pos, RequestBody, Spanned, Template, TemplatePart,
};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use url::Url;

use super::auth::{Auth, DigestChallenge};
use super::environment::{ConsumedEnvironment, EnvValue};

/// Characters left as they are in a path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

const HOST_USER_AGENT: &str = concat!("ikanos/", env!("CARGO_PKG_VERSION"));

/// Headers a parameter may never set: they belong to the transport or the host.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
];

#[derive(Debug, Clone)]
struct DeclaredParam {
    name: String,
    location: ParamIn,
    value: Option<Template>,
    /// `in: environment` without a `value`: the variable's value, read at load.
    environment: Option<EnvValue>,
}

/// A consumed operation with everything that does not change per call worked out.
#[derive(Debug, Clone)]
pub struct PreparedOperation {
    name: String,
    method: Method,
    base: Url,
    /// The resource path template, e.g. `/customers/{{id}}`.
    path: String,
    params: Vec<DeclaredParam>,
    body: Option<RequestBody>,
}

/// Every operation of a consumes entry, by name. `environment` holds the values of its
/// `in: environment` parameters (read at load; see `environment`).
pub fn prepare(
    consumes: &Consumes,
    environment: &ConsumedEnvironment,
) -> std::collections::HashMap<String, PreparedOperation> {
    let mut out = std::collections::HashMap::new();
    for resource in &consumes.resources {
        for op in &resource.operations {
            // Later levels override earlier ones by name.
            let mut params: Vec<DeclaredParam> = Vec::new();
            for p in consumes
                .input_parameters
                .iter()
                .chain(&resource.input_parameters)
                .chain(&op.input_parameters)
            {
                let declared = DeclaredParam {
                    name: p.name.value.clone(),
                    location: p.location,
                    value: p.value.clone(),
                    environment: match (p.location, &p.value) {
                        (ParamIn::Environment, None) => environment.get(&p.name.value).cloned(),
                        _ => None,
                    },
                };
                match params.iter_mut().find(|q| q.name == declared.name) {
                    Some(existing) => *existing = declared,
                    None => params.push(declared),
                }
            }
            for name in resource.path_placeholders() {
                if !params.iter().any(|p| p.name == name) {
                    params.push(DeclaredParam {
                        name,
                        location: ParamIn::Path,
                        value: None,
                        environment: None,
                    });
                }
            }
            out.insert(
                op.name.value.clone(),
                PreparedOperation {
                    name: op.name.value.clone(),
                    method: crate::http_method(op.method),
                    base: consumes.base_uri.value.clone(),
                    path: resource.path.value.clone(),
                    params,
                    body: op.body.clone(),
                },
            );
        }
    }
    out
}

/// The base of a `forward` (pass-through) request to `baseUri` itself: the namespace's
/// own parameters (fixed values) and nothing of its resources.
pub fn prepare_forward(
    consumes: &Consumes,
    environment: &ConsumedEnvironment,
) -> PreparedOperation {
    PreparedOperation {
        name: "forward".to_string(),
        method: Method::GET,
        base: consumes.base_uri.value.clone(),
        path: String::new(),
        params: consumes
            .input_parameters
            .iter()
            .map(|p| DeclaredParam {
                name: p.name.value.clone(),
                location: p.location,
                value: p.value.clone(),
                environment: match (p.location, &p.value) {
                    (ParamIn::Environment, None) => environment.get(&p.name.value).cloned(),
                    _ => None,
                },
            })
            .collect(),
        body: None,
    }
}

/// A request ready to send, kept as parts so that a Digest challenge can be answered
/// by sending it again.
pub struct BuiltRequest {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl BuiltRequest {
    pub fn to_request(&self) -> http::Request<Full<Bytes>> {
        let mut req = http::Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        // A Url always parses as a Uri.
        *req.uri_mut() = self
            .url
            .as_str()
            .parse()
            .expect("a parsed URL is a valid URI");
        *req.headers_mut() = self.headers.clone();
        req
    }

    pub fn with_digest(
        &self,
        auth: &Auth,
        challenge: &DigestChallenge,
    ) -> Result<http::Request<Full<Bytes>>, String> {
        let mut req = self.to_request();
        let path = match self.url.query() {
            Some(q) => format!("{}?{}", self.url.path(), q),
            None => self.url.path().to_string(),
        };
        let value = auth.digest_answer(challenge, self.method.as_str(), &path, &self.body)?;
        req.headers_mut().insert(http::header::AUTHORIZATION, value);
        Ok(req)
    }
}

impl PreparedOperation {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path the operation is declared at: `baseUri`'s path + the resource's template.
    pub fn template(&self) -> String {
        format!("{}{}", self.base.path().trim_end_matches('/'), self.path)
    }

    /// This operation as the base of a component's own `wasi:http` request that matched
    /// it: sent with the component's method to `baseUri` (the component's path and query
    /// are added to it), carrying only the parameters the file fixes (values, binds,
    /// environment) and the namespace's authentication, under this operation's name.
    pub fn for_egress(&self, method: Method) -> Self {
        PreparedOperation {
            name: self.name.clone(),
            method,
            base: self.base.clone(),
            path: String::new(),
            params: self
                .params
                .iter()
                .filter(|p| {
                    p.location != ParamIn::Path && (p.value.is_some() || p.environment.is_some())
                })
                .cloned()
                .collect(),
            body: None,
        }
    }

    /// Does a request for `method` to `path` (absolute, percent-encoded as sent) match
    /// this operation: its method, and `baseUri`'s path followed by the resource's path
    /// template, segment by segment? A `{{name}}` placeholder matches one non-empty
    /// segment (with the template's own text around it); `.` and `..` segments never
    /// match, so no path that an upstream would normalise elsewhere gets through.
    pub fn matches(&self, method: &Method, path: &str) -> bool {
        if *method != self.method {
            return false;
        }
        let template = self.template();
        let wanted: Vec<&str> = template.trim_start_matches('/').split('/').collect();
        let given: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        wanted.len() == given.len()
            && wanted
                .iter()
                .zip(&given)
                .all(|(t, g)| segment_matches(t, g))
    }

    /// The same operation sent with another method (a forwarded request's).
    pub fn with_method(&self, method: Method) -> Self {
        PreparedOperation {
            method,
            ..self.clone()
        }
    }

    /// Build the request for one call. Errors are messages for `invalid-input`.
    pub fn build(
        &self,
        secrets: &Secrets,
        auth: &Auth,
        supplied: &[(String, String)],
        body: Option<Vec<u8>>,
        request_id: &str,
    ) -> Result<BuiltRequest, String> {
        let values = self.values(secrets, supplied)?;

        let mut url = self.base.clone();
        let path = self.render_path(&values)?;
        let joined = format!("{}{}", url.path().trim_end_matches('/'), path);
        url.set_path(&joined);

        let mut headers = HeaderMap::new();
        let mut cookies = Vec::new();
        let mut body_fields = serde_json::Map::new();
        {
            let mut query = url.query_pairs_mut();
            for p in &self.params {
                let Some(vals) = values.get(p.name.as_str()) else {
                    continue;
                };
                for v in vals {
                    match p.location {
                        ParamIn::Query => {
                            query.append_pair(&p.name, v);
                        }
                        ParamIn::Header => {
                            let name = header_name(&p.name)?;
                            let value = HeaderValue::from_str(v).map_err(|_| {
                                format!(
                                    "header parameter '{}' has characters a header cannot carry",
                                    p.name
                                )
                            })?;
                            headers.append(name, value);
                        }
                        ParamIn::Cookie => {
                            if v.contains([';', '\r', '\n']) {
                                return Err(format!(
                                    "cookie parameter '{}' may not contain ';' or line breaks",
                                    p.name
                                ));
                            }
                            cookies.push(format!("{}={}", p.name, v));
                        }
                        ParamIn::Body => {
                            body_fields
                                .insert(p.name.clone(), serde_json::Value::String(v.clone()));
                        }
                        // The path is rendered above; `environment` parameters only feed
                        // templates (upstream sends only header and query parameters of
                        // its own maps) and are never sent.
                        ParamIn::Path | ParamIn::Environment => {}
                    }
                }
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        if !cookies.is_empty() {
            let value = HeaderValue::from_str(&cookies.join("; "))
                .map_err(|_| "cookie values are not valid in a header".to_string())?;
            headers.insert(COOKIE, value);
        }

        let body = match (&self.body, body) {
            // The host builds form and multipart bodies itself (names, encoding and the
            // boundary must match the Content-Type); a call body only adds template values.
            (Some(RequestBody::Form(_) | RequestBody::Multipart(_)), supplied) => {
                let extra = self.template_values(supplied.as_deref())?;
                self.declared_body(secrets, &values, &extra, &mut headers)?
            }
            (declared, Some(b)) => {
                let ct = match declared {
                    Some(RequestBody::Json(_)) => Some("application/json"),
                    Some(RequestBody::Text { kind, .. }) => Some(kind.content_type()),
                    _ => None,
                };
                match ct {
                    Some(ct) => {
                        headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
                    }
                    None if !headers.contains_key(CONTENT_TYPE) => {
                        let ct = if serde_json::from_slice::<serde_json::Value>(&b).is_ok() {
                            "application/json"
                        } else {
                            "application/octet-stream"
                        };
                        headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
                    }
                    None => {}
                }
                Bytes::from(b)
            }
            (_, None) if !body_fields.is_empty() => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Bytes::from(serde_json::Value::Object(body_fields).to_string())
            }
            (_, None) => self.declared_body(secrets, &values, &[], &mut headers)?,
        };

        headers.insert(USER_AGENT, HeaderValue::from_static(HOST_USER_AGENT));
        if let Ok(v) = HeaderValue::from_str(request_id) {
            headers.insert(HeaderName::from_static("x-request-id"), v);
        }
        // Authentication last, so no parameter can replace it.
        auth.apply(&mut url, &mut headers);
        Ok(BuiltRequest {
            method: self.method.clone(),
            url,
            headers,
            body,
        })
    }

    /// Caller values checked against the declaration, plus fixed values rendered.
    fn values(
        &self,
        secrets: &Secrets,
        supplied: &[(String, String)],
    ) -> Result<BTreeMap<&str, Vec<String>>, String> {
        let mut values: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (name, value) in supplied {
            let Some(p) = self.params.iter().find(|p| p.name == *name) else {
                let declared: Vec<_> = self
                    .params
                    .iter()
                    .filter(|p| p.value.is_none())
                    .map(|p| p.name.as_str())
                    .collect();
                return Err(format!(
                    "operation '{}' declares no parameter '{}' (it takes: {})",
                    self.name,
                    name,
                    if declared.is_empty() {
                        "none".to_string()
                    } else {
                        declared.join(", ")
                    }
                ));
            };
            if p.value.is_some() {
                return Err(format!(
                    "parameter '{name}' is fixed by the capability file and cannot be set"
                ));
            }
            if p.location == ParamIn::Environment {
                return Err(format!(
                    "parameter '{name}' is read from the host's environment (in: environment) and cannot be set"
                ));
            }
            let slot = values.entry(p.name.as_str()).or_default();
            if !slot.is_empty() && p.location != ParamIn::Query {
                return Err(format!("parameter '{name}' was given more than once"));
            }
            slot.push(value.clone());
        }
        // `in: environment` values join the map first, so that every other parameter's
        // template (and the body) can use them, as upstream's parameter map does.
        for p in &self.params {
            if let Some(v) = &p.environment {
                values.insert(p.name.as_str(), vec![v.expose().to_string()]);
            }
        }
        let lookup = |n: &str| {
            supplied
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
                .or_else(|| {
                    self.params
                        .iter()
                        .find(|p| p.name == n)
                        .and_then(|p| p.environment.as_ref())
                        .map(|v| v.expose().to_string())
                })
        };
        for p in &self.params {
            if let Some(t) = &p.value {
                let rendered = secrets
                    .render(t, &lookup)
                    .map_err(|e| format!("parameter '{}': {e}", p.name))?;
                values.insert(p.name.as_str(), vec![rendered.expose().to_string()]);
            }
        }
        Ok(values)
    }

    /// Substitute `{{name}}` / `{name}` placeholders with percent-encoded values.
    fn render_path(&self, values: &BTreeMap<&str, Vec<String>>) -> Result<String, String> {
        let mut out = String::with_capacity(self.path.len());
        let mut rest = self.path.as_str();
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let (open, close) = if rest[start..].starts_with("{{") {
                (2, "}}")
            } else {
                (1, "}")
            };
            let after = &rest[start + open..];
            let Some(end) = after.find(close) else {
                out.push_str(&rest[start..]);
                return Ok(out);
            };
            let name = after[..end].trim();
            let value = values
                .get(name)
                .and_then(|v| v.first())
                .ok_or_else(|| format!("path parameter '{name}' is missing"))?;
            if value.is_empty() {
                return Err(format!("path parameter '{name}' is empty"));
            }
            // URL parsers resolve `.` and `..` segments (even percent-encoded), which
            // would let a value step outside the declared resource path.
            if value == "." || value == ".." {
                return Err(format!("path parameter '{name}' may not be '.' or '..'"));
            }
            out.extend(utf8_percent_encode(value, SEGMENT));
            rest = &after[end + close.len()..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// A call body for an operation whose declared body is a form or multipart one: a
    /// JSON object of template values (names its templates use that are not parameters
    /// of the call, e.g. the declarative engine's request-scoped values). Strings are
    /// taken as they are, other JSON values as their JSON text, null as "".
    fn template_values(&self, supplied: Option<&[u8]>) -> Result<Vec<(String, String)>, String> {
        let Some(bytes) = supplied.filter(|b| !b.is_empty()) else {
            return Ok(Vec::new());
        };
        let kind = self.body.as_ref().map(RequestBody::kind).unwrap_or("");
        let shape = || {
            format!(
                "operation '{}' declares a {kind} body, which the host builds from the capability file; a call body must be a JSON object of template values for it",
                self.name
            )
        };
        let serde_json::Value::Object(map) =
            serde_json::from_slice::<serde_json::Value>(bytes).map_err(|_| shape())?
        else {
            return Err(shape());
        };
        Ok(map
            .into_iter()
            .map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                };
                (k, text)
            })
            .collect())
    }

    fn declared_body(
        &self,
        secrets: &Secrets,
        values: &BTreeMap<&str, Vec<String>>,
        extra: &[(String, String)],
        headers: &mut HeaderMap,
    ) -> Result<Bytes, String> {
        let lookup = |n: &str| values.get(n).and_then(|v| v.first().cloned());
        // Form and multipart templates: binds first (as everywhere), then the call's
        // parameters, then the extra template values; `{{a.b}}` that names no bind is
        // looked up as the name `a.b` (a step output in the engine's map).
        let form_render = |t: &Template, encode: bool| -> Result<String, String> {
            let mut out = String::new();
            for part in &t.parts {
                let (ns, name) = match part {
                    TemplatePart::Literal(l) => {
                        out.push_str(l);
                        continue;
                    }
                    TemplatePart::Ref { namespace, name } => (namespace.as_deref(), name),
                };
                let key = match ns {
                    Some(ns) => format!("{ns}.{name}"),
                    None => name.clone(),
                };
                let value = secrets
                    .get(ns, name)
                    .map(|s| s.expose().to_string())
                    .or_else(|| lookup(&key))
                    .or_else(|| {
                        extra
                            .iter()
                            .find(|(k, _)| *k == key)
                            .map(|(_, v)| v.clone())
                    })
                    .ok_or_else(|| {
                        format!(
                            "body: {}:{}: unresolved reference '{}'",
                            t.raw.file.display(),
                            t.raw.pos,
                            part.display()
                        )
                    })?;
                if encode {
                    out.extend(url::form_urlencoded::byte_serialize(value.as_bytes()));
                } else {
                    out.push_str(&value);
                }
            }
            Ok(out)
        };
        let render = |t: &Template| {
            secrets
                .render(t, &lookup)
                .map(|s| s.expose().to_string())
                .map_err(|e| format!("body: {e}"))
        };
        match &self.body {
            None => Ok(Bytes::new()),
            Some(RequestBody::Json(data)) => {
                let rendered = render_json(data, &|s| {
                    if s.contains("{{") {
                        let t = Template::parse(Spanned {
                            value: s.to_string(),
                            pos: Pos::default(),
                            file: Default::default(),
                        });
                        render(&t)
                    } else {
                        Ok(s.to_string())
                    }
                })?;
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Ok(Bytes::from(rendered.to_string()))
            }
            Some(RequestBody::Text { kind, data }) => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind.content_type()));
                Ok(Bytes::from(render(data)?))
            }
            Some(RequestBody::Raw(t)) => Ok(Bytes::from(render(t)?)),
            Some(RequestBody::Form(form)) => {
                let encoded = match form {
                    // Substituted values are form-encoded, so that a value cannot add fields.
                    FormBody::Encoded(t) => form_render(t, true)?,
                    FormBody::Fields(fields) => {
                        let mut ser = url::form_urlencoded::Serializer::new(String::new());
                        for (name, t) in fields {
                            ser.append_pair(name, &form_render(t, false)?);
                        }
                        ser.finish()
                    }
                };
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                Ok(Bytes::from(encoded))
            }
            Some(RequestBody::Multipart(parts)) => {
                let mut rendered = Vec::with_capacity(parts.len());
                for p in parts {
                    let filename = p
                        .filename
                        .as_ref()
                        .map(|f| form_render(f, false))
                        .transpose()?;
                    rendered.push(Part {
                        name: &p.name,
                        value: form_render(&p.value, false)?,
                        filename,
                        content_type: p.content_type.as_deref(),
                    });
                }
                let (boundary, body) = multipart(&rendered, &self.name);
                let ct =
                    HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}"))
                        .map_err(|_| {
                            "multipart boundary is not a valid header value".to_string()
                        })?;
                headers.insert(CONTENT_TYPE, ct);
                Ok(Bytes::from(body))
            }
        }
    }
}

/// One rendered multipart part.
struct Part<'a> {
    name: &'a str,
    value: String,
    filename: Option<String>,
    content_type: Option<&'a str>,
}

/// A `Content-Disposition` parameter value: quoted, with `"`, CR and LF percent-encoded
/// (as browsers encode them in `multipart/form-data`).
fn disposition_value(s: &str) -> String {
    s.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// `multipart/form-data` (RFC 7578): the boundary and the body. The boundary is derived
/// from the content (FNV-1a) and made longer until no part contains it.
fn multipart(parts: &[Part<'_>], salt: &str) -> (String, Vec<u8>) {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(salt.as_bytes());
    for p in parts {
        feed(p.name.as_bytes());
        feed(p.value.as_bytes());
    }
    let mut boundary = format!("ikanos-form-{hash:016x}");
    let mut round = 0u32;
    while parts.iter().any(|p| {
        p.value.contains(&boundary) || p.filename.as_deref().is_some_and(|f| f.contains(&boundary))
    }) {
        round += 1;
        boundary.push_str(&format!("{round:x}"));
    }
    let mut body = Vec::new();
    for p in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disposition = format!(
            "Content-Disposition: form-data; name=\"{}\"",
            disposition_value(p.name)
        );
        if let Some(f) = &p.filename {
            disposition.push_str(&format!("; filename=\"{}\"", disposition_value(f)));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(ct) = p.content_type {
            body.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(p.value.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (boundary, body)
}

fn render_json(
    v: &serde_json::Value,
    f: &dyn Fn(&str) -> Result<String, String>,
) -> Result<serde_json::Value, String> {
    Ok(match v {
        serde_json::Value::String(s) => serde_json::Value::String(f(s)?),
        serde_json::Value::Array(a) => serde_json::Value::Array(
            a.iter()
                .map(|x| render_json(x, f))
                .collect::<Result<_, _>>()?,
        ),
        serde_json::Value::Object(o) => {
            let mut m = serde_json::Map::new();
            for (k, x) in o {
                m.insert(k.clone(), render_json(x, f)?);
            }
            serde_json::Value::Object(m)
        }
        other => other.clone(),
    })
}

fn header_name(name: &str) -> Result<HeaderName, String> {
    let h = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("'{name}' is not a valid header name"))?;
    if RESERVED_HEADERS.contains(&h.as_str()) {
        return Err(format!("header '{name}' is reserved for the transport"));
    }
    Ok(h)
}

/// One path segment against one template segment (see [`PreparedOperation::matches`]).
fn segment_matches(template: &str, given: &str) -> bool {
    if given == "." || given == ".." {
        return false;
    }
    let (Some(open), Some(close)) = (template.find("{{"), template.rfind("}}")) else {
        return template == given;
    };
    let (prefix, suffix) = (&template[..open], &template[close + 2..]);
    given.len() > prefix.len() + suffix.len()
        && given.starts_with(prefix)
        && given.ends_with(suffix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const FILE: &str = r#"ikanos: "1.0.0-beta5"
info:
  display: "t"
  description: "t"
binds:
  - namespace: "cfg"
    keys:
      VERSION: "T_VERSION"
capability:
  consumes:
    - type: "http"
      namespace: "crm"
      baseUri: "http://crm.test/api/"
      inputParameters:
        Api-Version:
          in: "header"
          value: "{{cfg.VERSION}}"
      resources:
        customer:
          path: "/customers/{{id}}"
          operations:
            get-customer:
              method: "GET"
              inputParameters:
                id:
                  in: "path"
                tag:
                  in: "query"
                Host:
                  in: "header"
"#;

    fn op() -> (PreparedOperation, Secrets) {
        let loaded = ikanos_spec::load_str(Path::new("t.yaml"), FILE).expect("valid test file");
        let c = &loaded.capability;
        let secrets = ikanos_spec::binds::resolve_with_env(c, &|k| {
            (k == "T_VERSION").then(|| "7".to_string())
        })
        .unwrap();
        (
            prepare(&c.consumes[0], &ConsumedEnvironment::default())
                .remove("get-customer")
                .unwrap(),
            secrets,
        )
    }

    fn params(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn builds_path_query_and_fixed_headers() {
        let (op, secrets) = op();
        let req = op
            .build(
                &secrets,
                &Auth::None,
                &params(&[("id", "a/b c"), ("tag", "x&y"), ("tag", "z")]),
                None,
                "rid",
            )
            .unwrap();
        assert_eq!(
            req.url.as_str(),
            "http://crm.test/api/customers/a%2Fb%20c?tag=x%26y&tag=z"
        );
        assert_eq!(req.headers["api-version"], "7");
        assert_eq!(req.headers["x-request-id"], "rid");
        assert!(req.body.is_empty());
    }

    #[test]
    fn an_egress_request_matches_the_declared_method_and_path_only() {
        let (op, secrets) = op();
        let get = Method::GET;
        assert!(op.matches(&get, "/api/customers/7"));
        assert!(op.matches(&get, "/api/customers/a%2Fb"));
        for path in [
            "/customers/7",           // below baseUri's path only
            "/api/customers",         // the placeholder needs a segment
            "/api/customers/",        // … a non-empty one
            "/api/customers/7/notes", // nothing more
            "/api/customers/..",      // never a dot segment
            "/api/../api/customers/7",
            "/api/customers/7/../8",
        ] {
            assert!(!op.matches(&get, path), "{path}");
        }
        assert!(!op.matches(&Method::DELETE, "/api/customers/7"));
        assert_eq!(op.template(), "/api/customers/{{id}}");
        assert!(segment_matches("v{{n}}.json", "v2.json"));
        assert!(!segment_matches("v{{n}}.json", "v.json"));
        assert!(!segment_matches("v{{n}}.json", "x2.json"));

        // As the base of the component's own request: the fixed header and the
        // authentication, none of the caller-supplied parameters, under its own name.
        let egress = op.for_egress(Method::GET);
        assert_eq!(egress.name(), "get-customer");
        let req = egress
            .build(&secrets, &Auth::None, &[], None, "rid")
            .unwrap();
        assert_eq!(req.url.as_str(), "http://crm.test/api");
        assert_eq!(req.headers["api-version"], "7");
    }

    #[test]
    fn refuses_what_the_file_does_not_allow() {
        let (op, secrets) = op();
        let err = |p: &[(&str, &str)]| {
            op.build(&secrets, &Auth::None, &params(p), None, "r")
                .err()
                .unwrap()
        };
        assert!(err(&[]).contains("path parameter 'id' is missing"));
        assert!(err(&[("id", "1"), ("Authorization", "x")])
            .contains("declares no parameter 'Authorization'"));
        assert!(err(&[("id", "1"), ("Api-Version", "9")]).contains("fixed"));
        assert!(err(&[("id", "1"), ("id", "2")]).contains("more than once"));
        assert!(err(&[("id", "1"), ("Host", "evil.test")]).contains("reserved"));
        assert!(err(&[("id", "")]).contains("empty"));
        assert!(err(&[("id", "..")]).contains("may not be"));
        assert!(err(&[("id", ".")]).contains("may not be"));
    }

    #[test]
    fn a_body_gets_a_content_type() {
        let (op, secrets) = op();
        let json = op
            .build(
                &secrets,
                &Auth::None,
                &params(&[("id", "1")]),
                Some(b"{\"a\":1}".to_vec()),
                "r",
            )
            .unwrap();
        assert_eq!(json.headers[CONTENT_TYPE], "application/json");
        let raw = op
            .build(
                &secrets,
                &Auth::None,
                &params(&[("id", "1")]),
                Some(vec![0, 159]),
                "r",
            )
            .unwrap();
        assert_eq!(raw.headers[CONTENT_TYPE], "application/octet-stream");
    }

    #[test]
    fn environment_values_feed_templates_and_are_never_sent() {
        let file = r#"ikanos: "1.0.0-beta5"
info:
  display: "t"
capability:
  consumes:
    - type: "http"
      namespace: "crm"
      baseUri: "http://crm.test/"
      inputParameters:
        REGION:
          in: "environment"
        X-Region:
          in: "header"
          value: "eu-{{REGION}}"
      resources:
        r:
          path: "/r"
          operations:
            op:
              method: "GET"
"#;
        let loaded = ikanos_spec::load_str(Path::new("t.yaml"), file).expect("valid test file");
        let c = &loaded.capability;
        let env = super::super::environment::resolve(&c.consumes, &|_| {
            super::super::environment::Lookup::Value("west".into())
        })
        .unwrap();
        let op = prepare(&c.consumes[0], &env).remove("op").unwrap();
        let secrets = Secrets::default();
        let req = op.build(&secrets, &Auth::None, &[], None, "r").unwrap();
        assert_eq!(req.headers["x-region"], "eu-west");
        assert!(req.headers.get("region").is_none());
        assert_eq!(req.url.as_str(), "http://crm.test/r");
        let err = op
            .build(
                &secrets,
                &Auth::None,
                &params(&[("REGION", "x")]),
                None,
                "r",
            )
            .err()
            .unwrap();
        assert!(err.contains("environment"), "{err}");
    }

    const FORMS: &str = r#"ikanos: "1.0.0-beta5"
info:
  display: "t"
binds:
  - namespace: "creds"
    keys:
      SECRET: "T_SECRET"
capability:
  consumes:
    - type: "http"
      namespace: "idp"
      baseUri: "http://idp.test/"
      resources:
        token:
          path: "/token"
          operations:
            token:
              method: "POST"
              inputParameters:
                scope:
                  in: "query"
              body:
                type: "formUrlEncoded"
                data:
                  grant_type: "client_credentials"
                  client_secret: "{{creds.SECRET}}"
                  scope: "{{scope}} & more"
            encoded:
              method: "POST"
              inputParameters:
                scope:
                  in: "query"
              body:
                type: "formUrlEncoded"
                data: "grant_type=x&scope={{scope}}"
            upload:
              method: "POST"
              inputParameters:
                title:
                  in: "query"
                content:
                  in: "body"
              body:
                type: "multipartForm"
                data:
                  - name: "title"
                    value: "{{title}}"
                  - name: "file"
                    value: "{{content}}"
                    filename: "a\"b.txt"
                    contentType: "text/plain"
            xml:
              method: "POST"
              body:
                type: "xml"
                data: "<a/>"
"#;

    fn forms() -> (
        std::collections::HashMap<String, PreparedOperation>,
        Secrets,
    ) {
        let loaded = ikanos_spec::load_str(Path::new("t.yaml"), FORMS).expect("valid test file");
        let c = &loaded.capability;
        let secrets = ikanos_spec::binds::resolve_with_env(c, &|k| {
            (k == "T_SECRET").then(|| "s3&cr=t".to_string())
        })
        .unwrap();
        (
            prepare(&c.consumes[0], &ConsumedEnvironment::default()),
            secrets,
        )
    }

    #[test]
    fn form_bodies_encode_fields_with_binds_and_parameters() {
        let (ops, secrets) = forms();
        let req = ops["token"]
            .build(
                &secrets,
                &Auth::None,
                &params(&[("scope", "a b")]),
                None,
                "r",
            )
            .unwrap();
        assert_eq!(
            req.headers[CONTENT_TYPE],
            "application/x-www-form-urlencoded"
        );
        assert_eq!(
            std::str::from_utf8(&req.body).unwrap(),
            "grant_type=client_credentials&client_secret=s3%26cr%3Dt&scope=a+b+%26+more"
        );
        // A pre-encoded string: substituted values are encoded, so they add no field.
        let req = ops["encoded"]
            .build(
                &secrets,
                &Auth::None,
                &params(&[("scope", "r&admin=1")]),
                None,
                "r",
            )
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&req.body).unwrap(),
            "grant_type=x&scope=r%26admin%3D1"
        );
        // Template values from the call body (the engine's), after the parameters.
        let req = ops["token"]
            .build(
                &secrets,
                &Auth::None,
                &[],
                Some(br#"{"scope":"from-engine","creds.SECRET":"no"}"#.to_vec()),
                "r",
            )
            .unwrap();
        assert!(std::str::from_utf8(&req.body)
            .unwrap()
            .ends_with("client_secret=s3%26cr%3Dt&scope=from-engine+%26+more"));
        let err = ops["token"]
            .build(&secrets, &Auth::None, &[], Some(b"a=b".to_vec()), "r")
            .err()
            .unwrap();
        assert!(err.contains("JSON object of template values"), "{err}");
        let err = ops["token"]
            .build(&secrets, &Auth::None, &[], None, "r")
            .err()
            .unwrap();
        assert!(
            err.contains("unresolved reference '{{scope}}'") && err.contains("t.yaml:"),
            "{err}"
        );
    }

    #[test]
    fn multipart_bodies_carry_parts_and_a_matching_boundary() {
        let (ops, secrets) = forms();
        let req = ops["upload"]
            .build(
                &secrets,
                &Auth::None,
                &params(&[("title", "Q3")]),
                Some(br#"{"content":"line1\nline2"}"#.to_vec()),
                "r",
            )
            .unwrap();
        let ct = req.headers[CONTENT_TYPE].to_str().unwrap().to_string();
        let boundary = ct
            .strip_prefix("multipart/form-data; boundary=")
            .expect(&ct);
        let body = std::str::from_utf8(&req.body).unwrap();
        assert_eq!(
            body,
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nQ3\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a%22b.txt\"\r\nContent-Type: text/plain\r\n\r\nline1\nline2\r\n--{boundary}--\r\n"
            )
        );
        // A part that contains the boundary gets a longer one.
        let tricky = format!("x--{boundary}y");
        let req = ops["upload"]
            .build(
                &secrets,
                &Auth::None,
                &params(&[("title", &tricky)]),
                Some(br#"{"content":""}"#.to_vec()),
                "r",
            )
            .unwrap();
        let ct = req.headers[CONTENT_TYPE].to_str().unwrap().to_string();
        let other = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
        assert!(
            !tricky.contains(&format!("--{other}\r")) && !tricky.contains(other),
            "{other}"
        );
    }

    #[test]
    fn a_supplied_body_takes_the_declared_content_type() {
        let (ops, secrets) = forms();
        let req = ops["xml"]
            .build(&secrets, &Auth::None, &[], Some(b"<b/>".to_vec()), "r")
            .unwrap();
        assert_eq!(req.headers[CONTENT_TYPE], "application/xml");
        let req = ops["xml"]
            .build(&secrets, &Auth::None, &[], None, "r")
            .unwrap();
        assert_eq!(&req.body[..], b"<a/>");
        assert_eq!(req.headers[CONTENT_TYPE], "application/xml");
    }
}
