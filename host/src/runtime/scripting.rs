//! Script steps (`type: script`): the host side of the declarative engine's
//! `scripting` import.
//!
//! Owns: the JavaScript interpreter component (`declarative::SCRIPT_JS_WASM`, boa),
//! compiled once per process and shared by every capability while one uses it; one
//! fresh instance per script step, in a store of its own with no WASI grants (no
//! files, network, environment or arguments), the capability's memory limit, and the
//! CPU time the request has left; the language policy (JavaScript runs here, Python and
//! Groovy are refused when the capability loads); the `ikanos_script_runs` metric.
//! Must not touch: step semantics (the engine's `flow` crate) or script files (read at
//! load by `declarative`, never by a guest).

use std::time::Duration;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::{MemoryLimiter, EPOCH_TICK};

mod wit {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "script-interpreter",
        exports: { default: async },
    });
}

/// The one language this host interprets; the others are refused at load.
pub const JAVASCRIPT: &str = "javascript";

/// The JavaScript interpreter, ready to instantiate.
pub struct ScriptInterpreter {
    pre: wit::ScriptInterpreterPre<ScriptState>,
}

/// A script instance's store: WASI with nothing granted, its memory limiter and its
/// share of the request's CPU time.
pub struct ScriptState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    ticks: u64,
}

impl WasiView for ScriptState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// How one script step ended, short of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptFailure {
    /// It threw, or does not parse: the interpreter's message.
    Threw(String),
    /// It ran out of the request's CPU time.
    CpuLimit(Duration),
    /// It asked for more memory than the capability's limit.
    MemoryLimit(usize),
    /// Its result's JSON is larger than a response may be.
    OutputTooLarge { bytes: usize, limit: usize },
    /// The interpreter trapped (a wasm stack overflow, a bug): the trap's summary.
    Trap(String),
}

impl ScriptFailure {
    /// The `outcome` label of `ikanos_script_runs`.
    pub fn outcome(&self) -> &'static str {
        match self {
            ScriptFailure::Threw(_) => "error",
            ScriptFailure::CpuLimit(_) => "cpu_limit",
            ScriptFailure::MemoryLimit(_) => "memory_limit",
            ScriptFailure::OutputTooLarge { .. } => "output_too_large",
            ScriptFailure::Trap(_) => "trap",
        }
    }
}

impl std::fmt::Display for ScriptFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScriptFailure::Threw(m) => f.write_str(m),
            ScriptFailure::CpuLimit(limit) => {
                write!(
                    f,
                    "stopped: the request's CPU time limit of {limit:?} ran out"
                )
            }
            ScriptFailure::MemoryLimit(bytes) => {
                write!(
                    f,
                    "stopped: it exceeded the memory limit of {} MiB",
                    bytes >> 20
                )
            }
            ScriptFailure::OutputTooLarge { bytes, limit } => write!(
                f,
                "its result of {bytes} bytes exceeds the limit of {limit} bytes"
            ),
            ScriptFailure::Trap(m) => write!(f, "the interpreter trapped: {m}"),
        }
    }
}

/// What a script may use of the request it runs in.
pub struct Budget {
    pub memory_bytes: usize,
    /// Epoch ticks of CPU time the request has left.
    pub ticks_left: u64,
    /// The request's whole CPU limit, for messages.
    pub cpu_time: Duration,
    pub max_output: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("CPU time limit exceeded")]
struct OutOfTicks;

impl ScriptInterpreter {
    /// Link `component` (compiled for `linker`'s engine) against WASI only.
    pub fn new(
        linker: &Linker<ScriptState>,
        component: &wasmtime::component::Component,
    ) -> wasmtime::Result<Self> {
        let pre = wit::ScriptInterpreterPre::new(linker.instantiate_pre(component)?)?;
        Ok(ScriptInterpreter { pre })
    }

    /// A linker with WASI (nothing granted per store) for interpreter components.
    pub fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<ScriptState>> {
        let mut linker = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        Ok(linker)
    }

    /// Evaluate `sources` with `context` in a fresh instance. Returns the result's JSON
    /// (None when the script assigned no `result`) and the CPU ticks it used.
    pub async fn evaluate(
        &self,
        sources: &[String],
        context: &str,
        budget: &Budget,
    ) -> (Result<Option<String>, ScriptFailure>, u64) {
        let state = ScriptState {
            // Nothing is granted: no preopens, env, args, network or name lookups;
            // output goes nowhere.
            wasi: WasiCtxBuilder::new()
                .allow_tcp(false)
                .allow_udp(false)
                .allow_ip_name_lookup(false)
                .build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                max_memory: budget.memory_bytes,
                hit: false,
            },
            ticks: 0,
        };
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|s| &mut s.limiter);
        let ticks_left = budget.ticks_left;
        // As for components (`Sandbox::new_store`): count ticks while wasm runs, yield
        // to the serving thread at each, stop when the request's CPU time is spent.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut cx| {
            let state = cx.data_mut();
            state.ticks += 1;
            if state.ticks > ticks_left {
                return Err(OutOfTicks.into());
            }
            Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(tokio::task::yield_now()),
            ))
        });
        let outcome = match self.pre.instantiate_async(&mut store).await {
            Ok(instance) => {
                instance
                    .ikanos_capability_interpreter()
                    .call_evaluate(&mut store, sources, context)
                    .await
            }
            Err(e) => Err(e),
        };
        let ticks = store.data().ticks;
        let result = match outcome {
            Ok(Ok(Some(json))) if json.len() > budget.max_output => {
                Err(ScriptFailure::OutputTooLarge {
                    bytes: json.len(),
                    limit: budget.max_output,
                })
            }
            Ok(Ok(result)) => Ok(result),
            // The interpreter turned a refused allocation into an exception (an
            // ArrayBuffer's RangeError): the limit is the cause, say so.
            Ok(Err(_)) if store.data().limiter.hit => {
                Err(ScriptFailure::MemoryLimit(budget.memory_bytes))
            }
            Ok(Err(message)) => Err(ScriptFailure::Threw(message)),
            Err(trap) if trap.chain().any(|e| e.is::<OutOfTicks>()) => {
                Err(ScriptFailure::CpuLimit(budget.cpu_time))
            }
            Err(_) if store.data().limiter.hit => {
                Err(ScriptFailure::MemoryLimit(budget.memory_bytes))
            }
            Err(trap) => Err(ScriptFailure::Trap(
                match trap.downcast_ref::<wasmtime::Trap>() {
                    Some(t) => t.to_string(),
                    None => format!("{trap:#}"),
                },
            )),
        };
        (result, ticks)
    }
}

/// Epoch ticks in `cpu_time`.
pub fn ticks_in(cpu_time: Duration) -> u64 {
    (cpu_time.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
}
