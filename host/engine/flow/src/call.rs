//! One consumed call: `with` merged into the parameters, the consumed operation found,
//! its body template rendered, the call made through [`Env`], the response converted.
//!
//! Owns: upstream's `mergeWithParameters`, the engine side of `findClientRequestFor`
//! (the host builds the URL, headers and authentication), and turning [`CallFailure`]s
//! into [`FlowError`]s. Must not touch: what happens to the response (`engine`, `steps`).
//!
//! Parameters handed to the host: every parameter the consumed operation declares without
//! a fixed `value`, when the request-scoped map holds a value for it that is not null and
//! still contains no `{{` (upstream leaves such optional parameters out). The host rejects
//! undeclared names, so nothing else is sent.

use serde_json::{Map, Value};

use crate::definition::Consumed;
use crate::template::{param_text, render, Layered, Params, Vars};
use crate::{CallFailure, Env, FlowError, Upstream};

/// `mergeWithParameters(with, target, namespace)`.
pub fn merge_with(
    with: Option<&Map<String, Value>>,
    target: &mut Layered<'_>,
    namespace: Option<&str>,
) -> Result<(), FlowError> {
    let Some(with) = with else { return Ok(()) };
    for (key, raw) in with {
        match raw {
            Value::String(s) => {
                if let Some(param) = namespace.and_then(|ns| ns_ref(s, ns)) {
                    if let Some(v) = target.var(param).filter(|v| !v.is_null()).cloned() {
                        target.insert(key, v);
                    }
                } else {
                    let v = render(s, target)
                        .map_err(|e| FlowError::InvalidInput(format!("with '{key}': {}", e.0)))?;
                    target.insert(key, Value::String(v));
                }
            }
            other => target.insert(key, other.clone()),
        }
    }
    Ok(())
}

/// `ns.param` → `param` when `s` starts with `ns.`.
pub fn ns_ref<'a>(s: &'a str, ns: &str) -> Option<&'a str> {
    s.strip_prefix(ns)?.strip_prefix('.')
}

/// A completed call.
#[derive(Debug)]
pub struct Done<'d> {
    pub consumed: &'d Consumed,
    pub upstream: Upstream,
}

impl Done<'_> {
    pub fn has_body(&self) -> bool {
        !self.upstream.body.is_empty()
    }

    /// The upstream's Content-Type, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.upstream
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    /// `resolveBinaryMediaType`: declared `outputMediaType`, else the upstream's type, else
    /// application/octet-stream.
    pub fn binary_media_type(&self) -> String {
        if let Some(t) = self
            .consumed
            .output_media_type
            .as_deref()
            .filter(|t| !t.trim().is_empty())
        {
            return t.trim().to_string();
        }
        self.content_type()
            .unwrap_or("application/octet-stream")
            .to_string()
    }
}

/// Find `ns.op`; None when the reference is not two tokens or nothing is declared there
/// (upstream's `findClientRequestFor` returning null).
pub fn find<'d>(
    consumes: &'d std::collections::HashMap<String, std::collections::HashMap<String, Consumed>>,
    reference: &str,
) -> Option<(&'d str, &'d str, &'d Consumed)> {
    let mut tokens = reference.split('.');
    let (ns, op) = (tokens.next()?, tokens.next()?);
    if tokens.next().is_some() {
        return None;
    }
    let (ns_key, ops) = consumes.get_key_value(ns)?;
    let (op_key, consumed) = ops.get_key_value(op)?;
    Some((ns_key.as_str(), op_key.as_str(), consumed))
}

/// Make the call. `params` is the request-scoped map after every `with`.
pub fn perform<'d>(
    env: &mut dyn Env,
    ns: &str,
    op: &str,
    consumed: &'d Consumed,
    params: &(impl Vars + ?Sized),
) -> Result<Done<'d>, FlowError> {
    let reference = format!("{ns}.{op}");
    let mut supplied = Vec::new();
    for (name, fixed) in &consumed.inputs {
        if *fixed {
            continue;
        }
        if let Some(text) = params.var(name).and_then(param_text) {
            if !text.contains("{{") {
                supplied.push((name.clone(), text));
            }
        }
    }
    let body = match &consumed.body {
        None => None,
        Some(Value::Object(m)) if host_built(m) => Some(template_values(m, params)?),
        Some(spec) => {
            let template = match spec {
                Value::String(s) => s.clone(),
                Value::Object(m) => {
                    // Structured {type, data}: the data as JSON, then rendered.
                    serde_json::to_string(m.get("data").unwrap_or(&Value::Null))
                        .unwrap_or_else(|_| "null".to_string())
                }
                other => other.to_string(),
            };
            let rendered = render(&template, params)
                .map_err(|e| FlowError::InvalidInput(format!("{reference}: body: {}", e.0)))?;
            if rendered.contains("{{") && rendered.contains("}}") {
                return Err(FlowError::InvalidInput(format!(
                    "Unresolved template parameters in body of {reference}"
                )));
            }
            Some(rendered.into_bytes())
        }
    };
    let upstream = env
        .call(ns, op, supplied, body)
        .map_err(|f| failure(&reference, f))?;
    Ok(Done { consumed, upstream })
}

/// `formUrlEncoded` and `multipartForm` bodies are built by the host from the file's
/// declaration (field encoding, boundary and Content-Type must agree); the engine hands
/// over only the values their templates use.
fn host_built(body: &Map<String, Value>) -> bool {
    matches!(
        body.get("type").and_then(Value::as_str),
        Some("formUrlEncoded" | "multipartForm")
    )
}

/// The call body for a host-built body: a JSON object with, for every `{{name}}` in the
/// body's `data`, its value in the request-scoped map rendered as upstream would ("" when
/// absent). The host renders the declared body with bind values first, then the call's
/// parameters, then these.
fn template_values(
    body: &Map<String, Value>,
    params: &(impl Vars + ?Sized),
) -> Result<Vec<u8>, FlowError> {
    let mut names = Vec::new();
    collect_names(body.get("data").unwrap_or(&Value::Null), &mut names);
    let mut out = Map::new();
    for name in names {
        let probe = format!("{{{{{name}}}}}");
        let value = render(&probe, params)
            .map_err(|e| FlowError::InvalidInput(format!("body: {}", e.0)))?;
        let value = if value == probe { String::new() } else { value };
        out.insert(name, Value::String(value));
    }
    Ok(Value::Object(out).to_string().into_bytes())
}

/// The names of the `{{name}}` references in every string of `v` (`{{{name}}}` and
/// `{{& name}}` included; comments and sections skipped).
fn collect_names(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            let mut rest = s.as_str();
            while let Some(start) = rest.find("{{") {
                let after = &rest[start + 2..];
                let Some(end) = after.find("}}") else { break };
                let inner = after[..end]
                    .trim_start_matches('{')
                    .trim_start_matches('&')
                    .trim();
                if !inner.is_empty()
                    && !inner.starts_with(['!', '#', '^', '/', '>', '='])
                    && !out.iter().any(|n| n == inner)
                {
                    out.push(inner.to_string());
                }
                rest = &after[end + 2..];
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_names(i, out)),
        Value::Object(m) => m.values().for_each(|i| collect_names(i, out)),
        _ => {}
    }
}

fn failure(reference: &str, f: CallFailure) -> FlowError {
    match f {
        CallFailure::UnknownOperation(m) => {
            FlowError::InvalidInput(format!("Invalid call format: {reference} ({m})"))
        }
        CallFailure::InvalidInput(m) => FlowError::InvalidInput(format!(
            "Error resolving request parameters for {reference}: {m}"
        )),
        CallFailure::TunnelUnavailable(m) => {
            FlowError::Unavailable(format!("{reference}: tunnel unavailable: {m}"))
        }
        CallFailure::Timeout(m) => FlowError::Upstream(format!("{reference}: timed out: {m}")),
        CallFailure::Transport(m) => FlowError::Upstream(format!(
            "Error while handling an HTTP client call to {reference}: {m}"
        )),
        CallFailure::Denied(m) => FlowError::Internal(format!("{reference}: call denied: {m}")),
    }
}

/// The response as JSON, through `Env::convert` with the declared `outputRawFormat`.
pub fn to_json(env: &mut dyn Env, done: &Done<'_>) -> Result<Value, String> {
    let format = done
        .consumed
        .output_raw_format
        .as_deref()
        .filter(|f| !f.trim().is_empty())
        .unwrap_or("json")
        .to_ascii_lowercase();
    env.convert(
        &format,
        &done.upstream.body,
        done.consumed.output_schema.as_ref(),
    )
}

/// A parameter map from the request inputs.
pub fn params_from(inputs: &[(String, String)]) -> Params {
    let mut p = Params::new();
    for (k, v) in inputs {
        p.insert(k, Value::String(v.clone()));
    }
    p
}
