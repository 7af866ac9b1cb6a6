//! Orchestrated operations: `steps` run in order (`call`, `lookup`, `script`),
//! each output stored by step name for later steps, templates and `mappings`
//! (upstream `OperationStepExecutor.executeSteps` and `StepExecutionContext`).
//!
//! Owns: step order, the runtime parameter map (inputs, then each call step's output
//! under its name; lookups are only in the step context, as upstream), reporting each
//! step to [`Env::step_finished`]. Must not touch: the final response (`engine`).

use std::collections::HashMap;
use std::time::Instant;

use serde_json::{Map, Value};

use crate::call::{self, Done};
use crate::definition::{Consumed, Step};
use crate::jsonpath::PathCache;
use crate::lookup;
use crate::mapping;
use crate::template::{render, Layered, Params};
use crate::{Env, FlowError};

/// What the steps left behind.
pub struct Outcome<'d> {
    /// The last call step's response.
    pub last: Option<Done<'d>>,
    /// Step outputs by step name (`StepExecutionContext`).
    pub outputs: Map<String, Value>,
}

pub fn execute<'d>(
    env: &mut dyn Env,
    consumes: &'d HashMap<String, HashMap<String, Consumed>>,
    steps: &[Step],
    base: &Params,
    namespace: Option<&str>,
    paths: &mut PathCache,
) -> Result<Outcome<'d>, FlowError> {
    let mut runtime = base.clone();
    let mut out = Outcome {
        last: None,
        outputs: Map::new(),
    };
    for step in steps {
        let started = Instant::now();
        let (kind, result) = match step {
            Step::Call { name, call, with } => (
                "call",
                call_step(
                    env,
                    consumes,
                    name,
                    call.as_deref(),
                    with.as_ref(),
                    &mut runtime,
                    namespace,
                    paths,
                    &mut out,
                ),
            ),
            Step::Lookup {
                name,
                index,
                matches,
                lookup_value,
                output,
            } => (
                "lookup",
                lookup_step(
                    name,
                    index.as_deref(),
                    matches.as_deref(),
                    lookup_value.as_deref(),
                    output.as_deref(),
                    &runtime,
                    &mut out,
                ),
            ),
            Step::Script {
                name,
                language,
                sources,
                with,
            } => (
                "script",
                script_step(
                    env,
                    name,
                    language.as_deref(),
                    sources,
                    with.as_ref(),
                    &mut runtime,
                    &mut out,
                ),
            ),
        };
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        env.step_finished(step.name(), kind, nanos, result.is_ok());
        result?;
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn call_step<'d>(
    env: &mut dyn Env,
    consumes: &'d HashMap<String, HashMap<String, Consumed>>,
    name: &str,
    reference: Option<&str>,
    with: Option<&Map<String, Value>>,
    runtime: &mut Params,
    namespace: Option<&str>,
    paths: &mut PathCache,
    out: &mut Outcome<'d>,
) -> Result<(), FlowError> {
    let done = {
        let mut step_params = Layered::new(runtime);
        call::merge_with(with, &mut step_params, namespace)?;
        let Some((ns, op, consumed)) = reference.and_then(|r| call::find(consumes, r)) else {
            return Err(FlowError::InvalidInput(format!(
                "Invalid call format: {} (step '{name}')",
                reference.unwrap_or("null")
            )));
        };
        call::perform(env, ns, op, consumed, &step_params)?
    };
    // Upstream stores the output only when the response parses; the engine converts it
    // with the declared outputRawFormat first.
    if done.has_body() {
        if let Ok(raw) = call::to_json(env, &done) {
            let output = mapping::step_output(&done.consumed.output, raw, paths)
                .map_err(|e| FlowError::InvalidInput(format!("step '{name}': {}", e.0)))?;
            runtime.insert(name, output.clone());
            out.outputs.insert(name.to_string(), output);
        }
    }
    out.last = Some(done);
    Ok(())
}

/// A script step (upstream `ScriptStepExecutor`): its `context` is the runtime
/// parameters, then every step output, then its `with` entries (strings rendered as
/// templates against what came before); a `result` it assigned is stored under its
/// name, as a call step's output is, and nothing when it assigned none.
fn script_step(
    env: &mut dyn Env,
    name: &str,
    language: Option<&str>,
    sources: &[String],
    with: Option<&Map<String, Value>>,
    runtime: &mut Params,
    out: &mut Outcome<'_>,
) -> Result<(), FlowError> {
    let Some(language) = language else {
        return Err(FlowError::Internal(format!(
            "Script step '{name}' has no 'language'"
        )));
    };
    let mut bindings = Params(runtime.0.clone());
    for (key, value) in &out.outputs {
        bindings.insert(key, value.clone());
    }
    for (key, raw) in with.into_iter().flatten() {
        let value = match raw {
            Value::String(template) => Value::String(render(template, &bindings).map_err(|e| {
                FlowError::InvalidInput(format!("step '{name}': with '{key}': {}", e.0))
            })?),
            other => other.clone(),
        };
        bindings.insert(key, value);
    }
    let context = Value::Object(bindings.0);
    if let Some(result) = env.run_script(name, language, sources, &context)? {
        runtime.insert(name, result.clone());
        out.outputs.insert(name.to_string(), result);
    }
    Ok(())
}

fn lookup_step(
    name: &str,
    index: Option<&str>,
    matches: Option<&str>,
    lookup_value: Option<&str>,
    output: Option<&[String]>,
    runtime: &Params,
    out: &mut Outcome<'_>,
) -> Result<(), FlowError> {
    let Some(index_data) = index.and_then(|i| out.outputs.get(i)) else {
        return Err(FlowError::InvalidInput(format!(
            "Lookup step references non-existent step: {} (step '{name}')",
            index.unwrap_or("null")
        )));
    };
    let Some(field) = matches else {
        return Ok(());
    };
    let result = match mapping::from_steps(lookup_value, &out.outputs) {
        Some(Value::Array(values)) => {
            let found = lookup::lookup_many(index_data, field, values, output);
            (!found.is_empty()).then_some(Value::Array(found))
        }
        Some(v) => lookup::lookup_one(index_data, field, &crate::definition::as_text(v), output),
        None => match lookup_value {
            Some(t) => {
                let resolved = render(t, runtime)
                    .map_err(|e| FlowError::InvalidInput(format!("step '{name}': {}", e.0)))?;
                lookup::lookup_one(index_data, field, &resolved, output)
            }
            None => None,
        },
    };
    if let Some(r) = result {
        out.outputs.insert(name.to_string(), r);
    }
    Ok(())
}
