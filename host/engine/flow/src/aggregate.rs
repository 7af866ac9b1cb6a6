//! `ref` to an aggregate function (upstream `AggregateFlow.doExecute`, `FlowResult`).
//!
//! Upstream does not merge the operation's keys into the function at run time:
//! `AggregateRefResolver` only fills the operation's name and description from the
//! function when they are missing and derives MCP hints from `semantics` (explicit hints
//! win) — all load-time metadata the host owns. At run time the operation's parameters
//! (inputs plus its own `with`) are handed to the function, which merges its own `with`
//! (namespace references use the aggregate's namespace, the part of `ref` before the
//! first dot) and runs its own `call`/`steps`/`mappings`/`outputParameters`, or its
//! mock. What it returns is then answered by the exposing adapter (`engine`), which falls
//! back to the operation's own `outputParameters` on the function's last response.
//!
//! Owns: running the function. Must not touch: how the adapter answers.

use std::collections::HashMap;

use serde_json::Value;

use crate::call::{self, Done};
use crate::definition::{Consumed, Flow};
use crate::jsonpath::PathCache;
use crate::template::{Layered, Params};
use crate::{mapping, mock, steps, Env, FlowError};

/// `FlowResult`.
pub enum FlowResult<'d> {
    /// Mock mode built something.
    Mock(Value),
    /// `mappings` or the function's `outputParameters` produced a body.
    Mapped(Value),
    /// The last response, unmapped (or nothing, when no call ran).
    Last(Option<Done<'d>>),
}

/// Run the function `reference` (`namespace.name`) with the operation's parameters.
pub fn execute<'d>(
    env: &mut dyn Env,
    consumes: &'d HashMap<String, HashMap<String, Consumed>>,
    function: &Flow,
    reference: &str,
    params: &Params,
    paths: &mut PathCache,
) -> Result<FlowResult<'d>, FlowError> {
    let (namespace, name) = reference.split_once('.').unwrap_or((reference, reference));
    let merged = {
        let mut layered = Layered::new(params);
        call::merge_with(function.with.as_ref(), &mut layered, Some(namespace))?;
        let mut merged = params.clone();
        for (k, v) in layered.top.0 {
            merged.insert(&k, v);
        }
        merged
    };
    let has_call = function.call.is_some();
    if !has_call && function.steps.is_empty() {
        let built = mock::build(&function.output, &merged)
            .map_err(|e| FlowError::InvalidInput(format!("function '{reference}': {}", e.0)))?;
        return Ok(match built {
            Some(v) => FlowResult::Mock(v),
            None => FlowResult::Last(None),
        });
    }
    if !function.steps.is_empty() {
        let outcome = steps::execute(
            env,
            consumes,
            &function.steps,
            &merged,
            Some(namespace),
            paths,
        )?;
        if let Some(mapped) = mapping::step_mappings(&function.mappings, &outcome.outputs) {
            return Ok(FlowResult::Mapped(mapped));
        }
        return Ok(FlowResult::Last(outcome.last));
    }
    // Simple call mode.
    let spec = function.call.as_ref().cloned().unwrap_or_default();
    let operation = spec.operation.as_deref().unwrap_or("null");
    let mut layered = Layered::new(&merged);
    call::merge_with(spec.with.as_ref(), &mut layered, Some(namespace))?;
    let Some((ns, op, consumed)) = call::find(consumes, operation) else {
        return Err(FlowError::InvalidInput(format!(
            "Invalid call for Flow '{name}': {operation}"
        )));
    };
    let done = call::perform(env, ns, op, consumed, &layered)?;
    if !function.output.is_empty() && done.has_body() {
        let root = call::to_json(env, &done)
            .map_err(|e| FlowError::Upstream(format!("Failed to map output parameters: {e}")))?;
        if let Some(v) = mapping::first_mapped(&function.output, &root, paths)
            .map_err(|e| FlowError::InvalidInput(e.0))?
        {
            return Ok(FlowResult::Mapped(v));
        }
    }
    Ok(FlowResult::Last(Some(done)))
}
