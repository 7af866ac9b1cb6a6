//! Script steps (`type: script`): the host side of the declarative engine's
//! `scripting` import.
//!
//! Owns: the JavaScript interpreter component (`declarative::SCRIPT_JS_WASM`, boa),
//! compiled once per process and shared by every capability while one uses it; one
//! fresh instance per script step, in a store of its own with no WASI grants (no
//! files, network, environment or arguments), the capability's memory limit, and the
//! CPU time the request has left; the language policy (JavaScript runs here, Python and
//! Groovy are refused when the capability loads); the `ikanos_script_runs` metric; and
//! each capability's governance (`management.scripting`, `/scripting`'s state).
//! Must not touch: step semantics (the engine's `flow` crate) or script files (read at
//! load by `declarative`, never by a guest).

use std::time::Duration;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime::Store;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::{is_cpu_deadline, limit_cpu, MemoryLimiter};

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
    /// It ran longer than the scripting `timeout`.
    Timeout(Duration),
    /// Loops in one function call ran more iterations than the `statementLimit`.
    StatementLimit(u64),
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
            ScriptFailure::Timeout(_) => "timeout",
            ScriptFailure::StatementLimit(_) => "statement_limit",
        }
    }
}

/// Read after "Script step 'NAME' " (upstream's messages begin so).
impl std::fmt::Display for ScriptFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScriptFailure::Threw(m) => write!(f, "failed: {m}"),
            ScriptFailure::CpuLimit(limit) => write!(
                f,
                "was stopped: the request's CPU time limit of {limit:?} ran out"
            ),
            ScriptFailure::MemoryLimit(bytes) => write!(
                f,
                "was stopped: it exceeded the memory limit of {} MiB",
                bytes >> 20
            ),
            ScriptFailure::OutputTooLarge { bytes, limit } => write!(
                f,
                "gave a result of {bytes} bytes, over the limit of {limit} bytes"
            ),
            ScriptFailure::Trap(m) => write!(f, "failed: the interpreter trapped: {m}"),
            ScriptFailure::Timeout(limit) => {
                write!(f, "exceeded the timeout limit ({} ms)", limit.as_millis())
            }
            ScriptFailure::StatementLimit(limit) => write!(
                f,
                "exceeded the statement limit ({limit}; counted as loop iterations per function call)"
            ),
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
    /// The scripting `timeout`: wall time for this script.
    pub wall: Duration,
    /// The scripting `statementLimit`, applied to the loop iterations of each function
    /// call (boa's loop iteration limit: boa counts no statements).
    pub loop_iterations: u64,
}

/// The interpreter and the governance a capability's script steps run under.
pub struct Scripts {
    pub interpreter: std::sync::Arc<ScriptInterpreter>,
    pub governance: std::sync::Arc<Governance>,
}

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
    /// (None when the script assigned no `result`), the CPU ticks it used and the
    /// largest linear memory it had.
    pub async fn evaluate(
        &self,
        sources: &[String],
        context: &str,
        budget: &Budget,
    ) -> (Result<Option<String>, ScriptFailure>, u64, usize) {
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
                peak: 0,
            },
            ticks: 0,
        };
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|s| &mut s.limiter);
        // As for components: a tick of CPU at a time, what the request has left.
        limit_cpu(&mut store, budget.ticks_left, |s| &mut s.ticks);
        let run = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            instance
                .ikanos_capability_interpreter()
                .call_evaluate(&mut store, sources, context, budget.loop_iterations)
                .await
        };
        // The instance yields at every epoch tick, so a spinning script is stopped here
        // on time; dropping the call drops its instance.
        let outcome = tokio::time::timeout(budget.wall, run).await;
        let Ok(outcome) = outcome else {
            let state = store.data();
            return (
                Err(ScriptFailure::Timeout(budget.wall)),
                state.ticks,
                state.limiter.peak,
            );
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
            // Boa's runtime limits are not catchable; the loop limit is ours.
            Ok(Err(message)) if message.starts_with("RuntimeLimit") && message.contains("loop") => {
                Err(ScriptFailure::StatementLimit(budget.loop_iterations))
            }
            Ok(Err(message)) => Err(ScriptFailure::Threw(message)),
            Err(trap) if is_cpu_deadline(&trap) => Err(ScriptFailure::CpuLimit(budget.cpu_time)),
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
        (result, ticks, store.data().limiter.peak)
    }
}

/// One capability's script governance: its control entry's `management.scripting`
/// (upstream's defaults when it declares none), changed at run time by `PUT
/// /scripting`, and the execution statistics `GET /scripting` shows.
pub struct Governance {
    /// Whether the file declared `management.scripting` (`/scripting` answers 404
    /// otherwise, as upstream).
    declared: bool,
    /// `IKANOS_SCRIPTING` is not `false` (read once, when the capability loads).
    environment_permits: bool,
    settings: std::sync::RwLock<ikanos_spec::model::ScriptingSettings>,
    executions: std::sync::atomic::AtomicU64,
    errors: std::sync::atomic::AtomicU64,
    total_nanos: std::sync::atomic::AtomicU64,
    last_execution: std::sync::Mutex<Option<String>>,
}

impl Governance {
    pub fn new(declared: Option<&ikanos_spec::model::ScriptingSettings>) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Governance {
            declared: declared.is_some(),
            // Upstream's environment switch: `IKANOS_SCRIPTING=false` turns script
            // steps off where the file does not say.
            environment_permits: !std::env::var("IKANOS_SCRIPTING")
                .is_ok_and(|v| v.eq_ignore_ascii_case("false")),
            settings: std::sync::RwLock::new(declared.cloned().unwrap_or_default()),
            executions: Default::default(),
            errors: Default::default(),
            total_nanos: Default::default(),
            last_execution: Default::default(),
        })
    }

    /// The settings as they are now (read on every script run: no copy).
    fn settings(&self) -> std::sync::RwLockReadGuard<'_, ikanos_spec::model::ScriptingSettings> {
        self.settings.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn declared(&self) -> bool {
        self.declared
    }

    /// Upstream `requireScriptingPermitted`: the control entry's `enabled` wins over
    /// the environment.
    pub fn require_permitted(&self, step: &str) -> Result<(), String> {
        let how = match self.settings().enabled {
            Some(true) => return Ok(()),
            Some(false) => "via management.scripting.enabled=false on the control adapter.",
            None if self.environment_permits => return Ok(()),
            None => "via IKANOS_SCRIPTING=false.",
        };
        Err(format!(
            "Script step '{step}' requires scripting support. Scripting is disabled {how} Enable it to use script steps."
        ))
    }

    /// Upstream's allowed-languages check (made when the step runs: `PUT` may change it).
    pub fn require_allowed(&self, step: &str, language: &str) -> Result<(), String> {
        let allowed = &self.settings().allowed_languages;
        if allowed.is_empty() || allowed.iter().any(|l| l == language) {
            Ok(())
        } else {
            Err(format!(
                "Script step '{step}' uses language '{language}' which is not in the allowed languages: [{}]",
                allowed.join(", ")
            ))
        }
    }

    pub fn default_language(&self) -> Option<String> {
        self.settings().default_language.clone()
    }

    pub fn default_location(&self) -> Option<String> {
        self.settings().default_location.clone()
    }

    /// Wall time per script.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.settings().timeout_ms)
    }

    pub fn statement_limit(&self) -> u64 {
        self.settings().statement_limit
    }

    /// Count one script run.
    pub fn record(&self, took: Duration, error: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        self.executions.fetch_add(1, Relaxed);
        if error {
            self.errors.fetch_add(1, Relaxed);
        }
        self.total_nanos
            .fetch_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX), Relaxed);
        *self
            .last_execution
            .lock()
            .unwrap_or_else(|p| p.into_inner()) =
            Some(humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string());
    }

    /// `GET /scripting` (upstream `ScriptingResource.getScripting`).
    pub fn to_json(&self) -> serde_json::Value {
        use std::sync::atomic::Ordering::Relaxed;
        let s = self.settings();
        let mut out = serde_json::Map::new();
        if let Some(enabled) = s.enabled {
            out.insert("enabled".into(), enabled.into());
        }
        if let Some(l) = &s.default_location {
            out.insert("defaultLocation".into(), l.clone().into());
        }
        if let Some(l) = &s.default_language {
            out.insert("defaultLanguage".into(), l.clone().into());
        }
        out.insert("timeout".into(), s.timeout_ms.into());
        out.insert("statementLimit".into(), s.statement_limit.into());
        if !s.allowed_languages.is_empty() {
            out.insert(
                "allowedLanguages".into(),
                s.allowed_languages.clone().into(),
            );
        }
        let executions = self.executions.load(Relaxed);
        let average_ms = if executions == 0 {
            0.0
        } else {
            self.total_nanos.load(Relaxed) as f64 / 1e6 / executions as f64
        };
        let mut stats = serde_json::json!({
            "totalExecutions": executions,
            "totalErrors": self.errors.load(Relaxed),
            "averageDurationMs": (average_ms * 100.0).round() / 100.0,
        });
        if let Some(at) = self
            .last_execution
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            stats["lastExecutionAt"] = at.into();
        }
        out.insert("stats".into(), stats);
        serde_json::Value::Object(out)
    }

    /// `PUT /scripting` (upstream `ScriptingResource.putScripting`): every key is
    /// checked before any is applied, so a refused update changes nothing.
    /// `defaultLocation` and `defaultLanguage` are refused: this host reads script
    /// files when the capability loads, so they change with the file (and a reload).
    pub fn update(&self, body: &serde_json::Value) -> Result<(), String> {
        use ikanos_spec::model::SCRIPT_LANGUAGES;
        let Some(update) = body.as_object() else {
            return Err("the body must be a JSON object".into());
        };
        // One write lock for the check and the change: two PUTs never lose one.
        let mut settings = self.settings.write().unwrap_or_else(|p| p.into_inner());
        let mut next = settings.clone();
        for (key, value) in update {
            match key.as_str() {
                "enabled" => {
                    next.enabled = Some(
                        value
                            .as_bool()
                            .ok_or("'enabled' must be true or false")?,
                    )
                }
                "timeout" | "statementLimit" => {
                    let n = value.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
                        format!("'{key}' must be an integer greater than or equal to 1")
                    })?;
                    if key == "timeout" {
                        next.timeout_ms = n;
                    } else {
                        next.statement_limit = n;
                    }
                }
                "allowedLanguages" => {
                    let items = value
                        .as_array()
                        .ok_or("'allowedLanguages' must be an array")?;
                    let mut languages = Vec::new();
                    for item in items {
                        let l = item.as_str().unwrap_or_default();
                        if !SCRIPT_LANGUAGES.contains(&l) {
                            return Err(format!(
                                "Unsupported language '{}'. Supported: [{}]",
                                item.as_str().map_or_else(|| item.to_string(), str::to_owned),
                                SCRIPT_LANGUAGES.join(", ")
                            ));
                        }
                        languages.push(l.to_owned());
                    }
                    next.allowed_languages = languages;
                }
                "defaultLocation" | "defaultLanguage" => {
                    return Err(format!(
                        "'{key}' is applied when the capability loads (this host reads script files then): change it in the file and reload"
                    ))
                }
                other => {
                    return Err(format!(
                        "unknown key '{other}' (expected enabled, timeout, statementLimit, allowedLanguages)"
                    ))
                }
            }
        }
        *settings = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::runtime::{ComponentCache, PoolSettings, Runtime};

    fn budget() -> Budget {
        Budget {
            memory_bytes: 64 << 20,
            ticks_left: crate::runtime::ticks_in(Duration::from_secs(5)),
            cpu_time: Duration::from_secs(5),
            max_output: 1 << 20,
            wall: Duration::from_secs(30),
            loop_iterations: 100_000,
        }
    }

    /// One compiled interpreter while any capability holds it, each step in a fresh
    /// instance (nothing a script leaves in its globals reaches the next one), and a
    /// new one once the last holder is gone.
    #[tokio::test]
    async fn the_interpreter_is_shared_and_each_step_starts_fresh() {
        let runtime = Runtime::new(PoolSettings {
            max_instances: 2,
            ..PoolSettings::default()
        })
        .unwrap();
        let cache = ComponentCache::new(None);
        let first = runtime.load_javascript(&cache).unwrap();
        let second = runtime.load_javascript(&cache).unwrap();
        assert!(Arc::ptr_eq(&first, &second));

        let (result, _, peak) = first
            .evaluate(
                &["var kept = 'left behind'; result = context.x * 2;".into()],
                r#"{"x": 21}"#,
                &budget(),
            )
            .await;
        assert_eq!(result, Ok(Some("42".into())));
        assert!(peak > 0);
        let (result, _, _) = second
            .evaluate(&["result = typeof kept;".into()], "{}", &budget())
            .await;
        assert_eq!(result, Ok(Some("\"undefined\"".into())));

        drop((first, second));
        // The runtime keeps only a weak reference: nothing holds the old one.
        let again = runtime.load_javascript(&cache).unwrap();
        assert_eq!(Arc::strong_count(&again), 1);
    }
}
