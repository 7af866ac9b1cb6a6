//! The declarative engine's wasm component (world `ikanos:capability/engine`), built
//! for wasm32-wasip2 by `host/build.rs` and embedded in the `ikanos` binary.
//!
//! Owns: the glue between the WIT imports/exports (through the guest SDK) and the
//! pure `flow` and `convert` crates. Must not touch: semantics (in `flow`) or format
//! rules (in `convert`). It sees only what the host hands over: the operation's
//! definition, the request, and consumed responses; never a secret.

use ikanos_flow::{CallFailure, Definition, Env, FlowError, Output, Upstream};
use ikanos_guest::{consumes, definition, CallError, Error, Request, Response};
use serde_json::Value;

/// What the engine component may do: consumed calls through the host, conversions
/// in-process, step timings reported to the host.
struct Host;

impl Env for Host {
    fn call(
        &mut self,
        namespace: &str,
        operation: &str,
        params: Vec<(String, String)>,
        body: Option<Vec<u8>>,
    ) -> Result<Upstream, CallFailure> {
        let mut call = consumes::call(namespace, operation);
        for (name, value) in params {
            call = call.param(name, value);
        }
        if let Some(body) = body {
            call = call.body(body);
        }
        match call.send() {
            Ok(r) => Ok(Upstream {
                status: r.status,
                headers: r.headers,
                body: r.body,
            }),
            Err(e) => Err(match e {
                CallError::UnknownOperation(r) => CallFailure::UnknownOperation(r),
                CallError::InvalidInput(r) => CallFailure::InvalidInput(r),
                CallError::TunnelUnavailable(r) => CallFailure::TunnelUnavailable(r),
                CallError::Timeout(r) => CallFailure::Timeout(r),
                CallError::Transport(r) => CallFailure::Transport(r),
                CallError::Denied(r) => CallFailure::Denied(r),
            }),
        }
    }

    fn convert(
        &mut self,
        format: &str,
        body: &[u8],
        schema: Option<&Value>,
    ) -> Result<Value, String> {
        // The host replaces an avro/protobuf schema path with {path, source}: the
        // engine has no file system.
        let options = match schema {
            Some(Value::Object(m)) if m.contains_key("source") => ikanos_convert::Options {
                schema: m.get("path").cloned(),
                schema_source: m.get("source").and_then(Value::as_str).map(str::to_owned),
            },
            other => ikanos_convert::Options {
                schema: other.cloned(),
                ..Default::default()
            },
        };
        ikanos_convert::to_json(format, body, &options).map_err(|e| e.to_string())
    }

    fn step_finished(&mut self, step: &str, kind: &str, nanos: u64, ok: bool) {
        definition::record_step(step, kind, nanos, ok);
    }

    fn run_script(
        &mut self,
        step: &str,
        language: &str,
        sources: &[String],
        context: &Value,
    ) -> Result<Option<Value>, FlowError> {
        let result = definition::run_script(step, language, sources, &context.to_string())
            // The host's messages name the step ("Script step 'x' failed: …").
            .map_err(|e| match e {
                definition::ScriptError::Failed(m) | definition::ScriptError::Refused(m) => {
                    FlowError::Internal(m)
                }
            })?;
        result
            .map(|json| {
                serde_json::from_str(&json).map_err(|e| {
                    FlowError::Internal(format!(
                        "Script step '{step}': its result is not JSON: {e}"
                    ))
                })
            })
            .transpose()
    }
}

fn run(request: Request) -> Result<Response, Error> {
    let definition = Definition::parse(&definition::get()).map_err(to_error)?;
    let inputs: Vec<(String, String)> = request
        .inputs()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let flow_request = ikanos_flow::Request {
        inputs: &inputs,
        body: request.body(),
    };
    let Output {
        status,
        content_type,
        body,
        ..
    } = ikanos_flow::run(&definition, flow_request, &mut Host).map_err(to_error)?;
    Ok(Response::bytes(content_type, body).with_status(status))
}

fn to_error(e: FlowError) -> Error {
    match e {
        FlowError::InvalidInput(m) => Error::InvalidInput(m),
        FlowError::NotFound(m) => Error::NotFound(m),
        FlowError::Upstream(m) => Error::Upstream(m),
        FlowError::Internal(m) => Error::Internal(m),
        FlowError::Unavailable(m) => Error::Unavailable(m),
    }
}

ikanos_guest::capability_fn!(run);
