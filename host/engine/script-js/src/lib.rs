//! The JavaScript interpreter for script steps: a wasm component (world
//! `ikanos:capability/script-interpreter`) built for wasm32-wasip2 by `host/build.rs`
//! and embedded in the `ikanos` binary; the host runs each script step in a fresh
//! instance of it.
//!
//! Owns: evaluating the step's sources in one realm with `context` bound, and turning
//! `result` into JSON. Must not touch: limits (the host's store enforces CPU time and
//! memory) or anything outside its instance — it imports nothing but the WASI its
//! runtime links, and the host grants that nothing (no files, network, environment).
//!
//! Upstream (GraalVM) semantics kept: sources are evaluated in order in one global
//! scope, `context` is the JSON of the bindings, a missing `result` is "no result"
//! while `result = null` is a JSON null; an exception fails the step with its message.
//! Promise jobs run after the last source, so `then` callbacks and async functions
//! finish before `result` is read. There is no module loader: `import()` rejects.

use boa_engine::property::Attribute;
use boa_engine::{js_string, Context, JsError, JsValue, Source};

wit_bindgen::generate!({
    world: "script-interpreter",
    path: "../../../wit",
});

use exports::ikanos::capability::interpreter::Guest;

struct Interpreter;

impl Guest for Interpreter {
    fn evaluate(
        sources: Vec<String>,
        context: String,
        loop_iteration_limit: u64,
    ) -> Result<Option<String>, String> {
        let mut realm = Context::default();
        let mut limits = realm.runtime_limits();
        limits.set_loop_iteration_limit(loop_iteration_limit);
        realm.set_runtime_limits(limits);
        let bindings: serde_json::Value =
            serde_json::from_str(&context).map_err(|e| format!("bad context: {e}"))?;
        let bindings =
            JsValue::from_json(&bindings, &mut realm).map_err(|e| message(e, &mut realm))?;
        realm
            .register_global_property(js_string!("context"), bindings, Attribute::all())
            .map_err(|e| message(e, &mut realm))?;
        for source in &sources {
            realm
                .eval(Source::from_bytes(source))
                .map_err(|e| message(e, &mut realm))?;
        }
        // Promise reactions (`then`, async functions) run before `result` is read.
        realm.run_jobs().map_err(|e| message(e, &mut realm))?;
        let global = realm.global_object();
        if !global
            .has_property(js_string!("result"), &mut realm)
            .map_err(|e| message(e, &mut realm))?
        {
            return Ok(None);
        }
        let result = global
            .get(js_string!("result"), &mut realm)
            .map_err(|e| message(e, &mut realm))?;
        if result.is_undefined() {
            return Ok(Some("null".into()));
        }
        let json = result
            .to_json(&mut realm)
            .map_err(|e| message(e, &mut realm))?
            .unwrap_or(serde_json::Value::Null);
        Ok(Some(integral(json).to_string()))
    }
}

/// JavaScript numbers are doubles, and boa gives `42` back as `42.0`; upstream
/// (GraalVM's `fitsInLong`) answers a whole number as an integer, so whole numbers
/// within ±2^53 become JSON integers here too.
fn integral(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
                Value::from(f as i64)
            }
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(integral).collect()),
        Value::Object(fields) => {
            Value::Object(fields.into_iter().map(|(k, v)| (k, integral(v))).collect())
        }
        other => other,
    }
}

/// A thrown value as text: an Error's `name: message`, anything else displayed.
fn message(e: JsError, realm: &mut Context) -> String {
    match e.try_native(realm) {
        Ok(native) => native.to_string(),
        Err(_) => e.to_string(),
    }
}

export!(Interpreter);
