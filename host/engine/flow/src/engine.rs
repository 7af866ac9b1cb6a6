//! How each exposure answers: REST operations (`ResourceRestlet`), MCP tools
//! (`ToolHandler`), MCP dynamic resources (`ResourceHandler.readDynamic`) — the choice
//! between mock, simple call, orchestration and `ref`, and the response each produces.
//!
//! Owns: statuses, content types and bodies of [`Output`]. Must not touch: the pieces
//! it combines (`call`, `steps`, `mapping`, `mock`, `aggregate`).

use serde_json::Value;

use crate::aggregate::{self, FlowResult};
use crate::call::{self, Done};
use crate::definition::{Adapter, CallSpec, Flow};
use crate::jsonpath::PathCache;
use crate::template::{render, Layered, Params};
use crate::{mapping, mock, steps, Definition, Env, FlowError, Output, Request};

const JSON: &str = "application/json";

struct Run<'a> {
    def: &'a Definition,
    env: &'a mut dyn Env,
    paths: PathCache,
}

pub fn run(def: &Definition, request: Request<'_>, env: &mut dyn Env) -> Result<Output, FlowError> {
    let mut r = Run {
        def,
        env,
        paths: PathCache::new(),
    };
    let params = call::params_from(request.inputs);
    match def.adapter {
        Adapter::Rest => r.rest(params),
        Adapter::Mcp => r.tool(params),
        Adapter::McpResource => r.resource(params),
    }
}

fn json_output(status: u16, v: &Value) -> Output {
    Output {
        status,
        content_type: JSON.to_string(),
        body: v.to_string().into_bytes(),
        binary: false,
    }
}

fn tmpl_err(label: &str) -> impl Fn(crate::template::TemplateError) -> FlowError + '_ {
    move |e| FlowError::InvalidInput(format!("{label}: {}", e.0))
}

impl<'a> Run<'a> {
    /// The aggregate function `reference` names, run with `params`.
    fn run_ref(&mut self, reference: &str, params: &Params) -> Result<FlowResult<'a>, FlowError> {
        let def = self.def;
        let function = function(def, &self.label(), reference)?;
        aggregate::execute(
            self.env,
            &def.consumes,
            function,
            reference,
            params,
            &mut self.paths,
        )
    }

    /// The operation's `steps`, run with `params`.
    fn run_steps(&mut self, params: &Params) -> Result<steps::Outcome<'a>, FlowError> {
        let def = self.def;
        steps::execute(
            self.env,
            &def.consumes,
            &def.operation.steps,
            params,
            def.namespace.as_deref(),
            &mut self.paths,
        )
    }

    /// A `call` with its `with` over `params`; None when it names no consumed
    /// operation of the definition (the caller words that error).
    fn run_call(
        &mut self,
        spec: &CallSpec,
        params: &Params,
    ) -> Result<Option<Done<'a>>, FlowError> {
        let def = self.def;
        let operation = spec.operation.as_deref().unwrap_or("null");
        let mut layered = Layered::new(params);
        call::merge_with(spec.with.as_ref(), &mut layered, def.namespace.as_deref())?;
        match call::find(&def.consumes, operation) {
            Some((ns, name, consumed)) => {
                call::perform(self.env, ns, name, consumed, &layered).map(Some)
            }
            None => Ok(None),
        }
    }

    /// A tool's or resource's `call` that names no consumed operation.
    fn invalid_call(&self, spec: &CallSpec) -> FlowError {
        FlowError::InvalidInput(format!(
            "Invalid call for {}: {}",
            self.label(),
            spec.operation.as_deref().unwrap_or("null")
        ))
    }

    fn op(&self) -> &Flow {
        &self.def.operation
    }

    fn label(&self) -> String {
        let kind = match self.def.adapter {
            Adapter::Rest => "Operation",
            Adapter::Mcp => "Tool",
            Adapter::McpResource => "Resource",
        };
        format!("{kind} '{}'", self.def.name)
    }

    /// Params after `with` (`mergeWithParameters`), for REST and resources.
    fn merged(
        &self,
        params: &Params,
        with: Option<&serde_json::Map<String, Value>>,
    ) -> Result<Params, FlowError> {
        let mut layered = Layered::new(params);
        call::merge_with(with, &mut layered, self.def.namespace.as_deref())?;
        let mut out = params.clone();
        for (k, v) in layered.top.0 {
            out.insert(&k, v);
        }
        Ok(out)
    }

    // ---------------------------------------------------------------- REST

    fn rest(&mut self, inputs: Params) -> Result<Output, FlowError> {
        let def = self.def;
        let op = &def.operation;
        let params = self.merged(&inputs, op.with.as_ref())?;
        if let Some(reference) = op.reference.as_deref() {
            return match self.run_ref(reference, &params)? {
                FlowResult::Mock(v) => Ok(Output {
                    status: 200,
                    content_type: JSON.to_string(),
                    body: mock::jackson_pretty(&v).into_bytes(),
                    binary: false,
                }),
                FlowResult::Mapped(v) => Ok(json_output(200, &v)),
                FlowResult::Last(Some(done)) => self.rest_send(&done),
                FlowResult::Last(None) => Err(FlowError::Internal(format!(
                    "No result from aggregate function: {reference}"
                ))),
            };
        }
        if let Some(spec) = op.call.as_ref() {
            return match self.run_call(spec, &params)? {
                Some(done) => self.rest_send(&done),
                None if mock::can_build(&op.output) => self.rest_mock(&params),
                None => Err(FlowError::InvalidInput(format!(
                    "Invalid call format: {}",
                    spec.operation.as_deref().unwrap_or("null")
                ))),
            };
        }
        let outcome = self.run_steps(&params)?;
        if let Some(mapped) = mapping::step_mappings(&op.mappings, &outcome.outputs) {
            return Ok(json_output(200, &mapped));
        }
        match outcome.last {
            Some(done) => self.rest_send(&done),
            None if mock::can_build(&op.output) => self.rest_mock(&params),
            None => Err(FlowError::NotFound(
                "Unable to handle the request. Please check the capability specification."
                    .to_string(),
            )),
        }
    }

    fn rest_mock(&self, params: &Params) -> Result<Output, FlowError> {
        let label = self.label();
        match mock::build(&self.op().output, params).map_err(tmpl_err(&label))? {
            Some(v) => Ok(Output {
                status: 200,
                content_type: JSON.to_string(),
                body: mock::jackson_pretty(&v).into_bytes(),
                binary: false,
            }),
            None => Ok(Output {
                status: 204,
                content_type: String::new(),
                body: Vec::new(),
                binary: false,
            }),
        }
    }

    /// `sendResponse`: the upstream status; binary bytes, mapped JSON, or the raw body.
    fn rest_send(&mut self, done: &Done<'_>) -> Result<Output, FlowError> {
        let status = done.upstream.status;
        if done.consumed.is_binary() && done.has_body() {
            if let Some(limit) = self.over_binary_limit(done) {
                return Ok(Output {
                    status: 500,
                    content_type: "text/plain".to_string(),
                    body: exceeded(limit).into_bytes(),
                    binary: false,
                });
            }
            return Ok(binary_output(status, done, None));
        }
        let output = &self.def.operation.output;
        if !output.is_empty() && done.has_body() {
            let root = call::to_json(self.env, done).map_err(|e| {
                FlowError::Upstream(format!("Failed to map output parameters: {e}"))
            })?;
            let label = self.label();
            if let Some(v) = mapping::first_mapped_body(output, &root, &mut self.paths)
                .map_err(tmpl_err(&label))?
            {
                return Ok(json_output(status, &v));
            }
        }
        Ok(raw_output(status, done, "application/octet-stream"))
    }

    // ---------------------------------------------------------------- MCP tools

    fn tool(&mut self, arguments: Params) -> Result<Output, FlowError> {
        let def = self.def;
        let op = &def.operation;
        // Tool-level `with`: namespace references and templates resolve against the
        // arguments only (`ToolHandler.resolveWithValue`).
        let mut params = arguments.clone();
        if let Some(with) = op.with.as_ref() {
            for (key, raw) in with {
                match raw {
                    Value::String(s) => {
                        let ns_param = def.namespace.as_deref().and_then(|ns| call::ns_ref(s, ns));
                        let resolved = match ns_param {
                            Some(p) => arguments.get(p).filter(|v| !v.is_null()).cloned(),
                            None => Some(Value::String(
                                render(s, &arguments)
                                    .map_err(tmpl_err(&format!("with '{key}'")))?,
                            )),
                        };
                        if let Some(v) = resolved {
                            params.insert(key, v);
                        }
                    }
                    other => params.insert(key, other.clone()),
                }
            }
        }
        if let Some(reference) = op.reference.as_deref() {
            return match self.run_ref(reference, &params)? {
                FlowResult::Mock(v) | FlowResult::Mapped(v) => Ok(json_output(200, &v)),
                FlowResult::Last(done) => self.tool_result(done.as_ref()),
            };
        }
        if op.call.is_none() && op.steps.is_empty() {
            let label = self.label();
            let built = mock::build(&op.output, &params).map_err(tmpl_err(&label))?;
            return Ok(json_output(
                200,
                &built.unwrap_or_else(|| Value::Object(Default::default())),
            ));
        }
        if !op.steps.is_empty() {
            let outcome = self.run_steps(&params)?;
            if let Some(mapped) = mapping::step_mappings(&op.mappings, &outcome.outputs) {
                return Ok(json_output(200, &mapped));
            }
            return self.tool_result(outcome.last.as_ref());
        }
        let spec = op.call.as_ref().cloned().unwrap_or_default();
        let Some(done) = self.run_call(&spec, &params)? else {
            return Err(self.invalid_call(&spec));
        };
        self.tool_result(Some(&done))
    }

    /// `buildToolResult`. The host marks the MCP result as an error when status ≥ 400.
    fn tool_result(&mut self, done: Option<&Done<'_>>) -> Result<Output, FlowError> {
        let Some(done) = done else {
            return Err(FlowError::Upstream(
                "No response received: no matching client adapter found".to_string(),
            ));
        };
        let status = done.upstream.status;
        if !done.has_body() {
            if status < 400 {
                return Ok(Output {
                    status,
                    content_type: String::new(),
                    body: Vec::new(),
                    binary: false,
                });
            }
            return Ok(Output {
                status,
                content_type: "text/plain".to_string(),
                body: format!(
                    "No response entity received (HTTP {status} {})",
                    reason(status)
                )
                .into_bytes(),
                binary: false,
            });
        }
        if done.consumed.is_binary() {
            // `buildBinaryToolResult`: an error result, not a failure.
            if let Some(limit) = self.over_binary_limit(done) {
                return Ok(Output {
                    status: 500,
                    content_type: "text/plain".to_string(),
                    body: exceeded(limit).into_bytes(),
                    binary: false,
                });
            }
            return Ok(binary_output(status, done, None));
        }
        let output = &self.def.operation.output;
        if let Some(v) = self.first_mapped(output, done)? {
            return Ok(json_output(status, &v));
        }
        Ok(raw_output(status, done, "text/plain"))
    }

    /// `applyOutputMappings(text, outputParameters, outputRawFormat, outputSchema)`.
    fn first_mapped(
        &mut self,
        output: &[crate::definition::OutputParam],
        done: &Done<'_>,
    ) -> Result<Option<Value>, FlowError> {
        if output.is_empty() || !done.has_body() {
            return Ok(None);
        }
        let root = call::to_json(self.env, done)
            .map_err(|e| FlowError::Upstream(format!("Failed to map output parameters: {e}")))?;
        let label = self.label();
        mapping::first_mapped(output, &root, &mut self.paths).map_err(tmpl_err(&label))
    }

    // ---------------------------------------------------------------- MCP resources

    fn resource(&mut self, template_params: Params) -> Result<Output, FlowError> {
        let def = self.def;
        let op = &def.operation;
        let params = self.merged(&template_params, op.with.as_ref())?;
        let outcome_last;
        if let Some(spec) = op.call.as_ref() {
            let Some(done) = self.run_call(spec, &params)? else {
                return Err(self.invalid_call(spec));
            };
            outcome_last = Some(done);
        } else if !op.steps.is_empty() {
            outcome_last = self.run_steps(&params)?.last;
        } else {
            return Err(FlowError::InvalidInput(format!(
                "{} has neither call nor steps defined",
                self.label()
            )));
        }
        let mime = op.mime_type.clone();
        if let Some(done) = outcome_last.as_ref().filter(|d| d.consumed.is_binary()) {
            // `readBinaryDynamic`: the exception fails the read.
            if let Some(limit) = self.over_binary_limit(done) {
                return Err(FlowError::Internal(format!(
                    "Binary response of {} bytes exceeds the maxBinarySize cap of {limit} bytes",
                    done.upstream.body.len()
                )));
            }
            return Ok(binary_output(200, done, mime));
        }
        let mime = mime.unwrap_or_else(|| JSON.to_string());
        let body = match outcome_last.as_ref() {
            None => Vec::new(),
            Some(done) => match self.first_mapped(&op.output, done)? {
                Some(v) => v.to_string().into_bytes(),
                None => done.upstream.body.clone(),
            },
        };
        Ok(Output {
            status: 200,
            content_type: mime,
            body,
            binary: false,
        })
    }
}

impl Run<'_> {
    /// `resolveMaxBinaryBytes` + `readBoundedBytes`: the cap (the consumed operation's
    /// `maxBinarySize`, else the adapter's, else 10 MiB) when the binary body exceeds it.
    fn over_binary_limit(&self, done: &Done<'_>) -> Option<u64> {
        let limit = done
            .consumed
            .max_binary_bytes
            .unwrap_or(self.def.max_binary_bytes);
        (done.upstream.body.len() as u64 > limit).then_some(limit)
    }
}

/// Upstream's message for an oversized binary answer (REST body, MCP tool error text).
fn exceeded(limit: u64) -> String {
    format!("Upstream response exceeded maxBinarySize (limit={limit} bytes)")
}

/// The function a `ref` names.
fn function<'d>(def: &'d Definition, label: &str, reference: &str) -> Result<&'d Flow, FlowError> {
    def.function.as_ref().ok_or_else(|| {
        FlowError::Internal(format!(
            "{label} references aggregate function '{reference}' but the definition carries none"
        ))
    })
}

fn binary_output(status: u16, done: &Done<'_>, declared: Option<String>) -> Output {
    Output {
        status,
        content_type: declared.unwrap_or_else(|| done.binary_media_type()),
        body: done.upstream.body.clone(),
        binary: true,
    }
}

fn raw_output(status: u16, done: &Done<'_>, fallback: &str) -> Output {
    Output {
        status,
        content_type: done.content_type().unwrap_or(fallback).to_string(),
        body: done.upstream.body.clone(),
        binary: false,
    }
}

/// Restlet's reason phrases for the statuses upstreams commonly answer.
fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}
