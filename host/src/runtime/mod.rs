//! The wasm runtime: one engine per host, one pre-instantiated component per
//! capability, one fresh instance per request.
//!
//! Owns: wasmtime configuration (pooling allocator, epoch interruption), the linker
//! (WASI with no ambient authority + our WIT imports), component loading and caching,
//! per-request limits (memory, CPU time, wall time, outbound calls, concurrency) and
//! mapping guest failures to typed errors. Must not touch: HTTP serving (exposes) or
//! building outbound requests (consumes) — it only hands calls through.

pub mod bindings;
mod cache;
mod output;
pub mod scripting;
mod wasi_http;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::sync::Semaphore;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store,
    UpdateDeadline,
};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

pub use bindings::{HandlerError, InboundRequest, InboundResponse};
pub use cache::{ComponentCache, Origin};
use output::CapturedOutput;

use crate::consumes::OutboundCalls;
use crate::telemetry::{CapabilityLabels, Metrics};

/// How often the engine's epoch advances. CPU time limits are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Per-capability limits. The defaults are meant to be safe for untrusted code.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Linear memory one instance may grow to.
    pub memory_bytes: usize,
    /// Time the component may spend executing per request (time waiting on outbound
    /// calls does not count). Exceeding it answers 504.
    pub cpu_time: Duration,
    /// Wall-clock time for the whole request, queueing and outbound calls included.
    pub request_timeout: Duration,
    /// Outbound calls one request may make.
    pub max_outbound_calls: u32,
    /// Requests the capability runs at once; more wait (within `request_timeout`).
    pub max_concurrency: usize,
    /// Largest inbound request body handed to the component.
    pub max_request_body: usize,
    /// Largest response body the component may return.
    pub max_response_body: usize,
    /// stdout/stderr bytes kept per request (the rest is dropped and counted).
    pub max_captured_output: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            cpu_time: Duration::from_secs(1),
            request_timeout: Duration::from_secs(30),
            max_outbound_calls: 32,
            max_concurrency: 64,
            max_request_body: 4 << 20,
            max_response_body: 16 << 20,
            max_captured_output: 64 << 10,
        }
    }
}

/// Sizing of the pooling allocator, shared by every capability in the host.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Component instances alive at once, host-wide.
    pub max_instances: u32,
    /// Upper bound for any capability's `Limits::memory_bytes`.
    pub max_memory_bytes: usize,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_instances: 1000,
            max_memory_bytes: 256 << 20,
        }
    }
}

#[derive(Debug, Error)]
pub enum LoadError {
    #[error("cannot read component {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid WebAssembly component: {reason}")]
    Invalid { path: String, reason: String },
    #[error("component {path} does not fit the ikanos:capability@0.1.0 world: {reason}")]
    Incompatible { path: String, reason: String },
}

/// The shared engine and linker.
pub struct Runtime {
    engine: Engine,
    linker: Linker<GuestState>,
    pool: PoolSettings,
    /// Pre-instantiated components by SHA-256 of their bytes, while some capability
    /// uses them: capabilities built from the same component share its compiled code
    /// (and the one mapping of it) instead of each loading a copy.
    shared: Mutex<HashMap<String, WeakEntry>>,
    /// The built-in declarative engine while some capability uses it, with its SHA-256:
    /// every capability with a declarative operation uses it, so its 1.6 MB are not
    /// hashed again for each one.
    declarative: Mutex<Option<(Weak<bindings::CapabilityPre<GuestState>>, String)>>,
    /// Links the script interpreter (WASI only; nothing is granted per store).
    script_linker: Linker<scripting::ScriptState>,
    /// The JavaScript interpreter for script steps while some capability uses it.
    javascript: Mutex<Weak<scripting::ScriptInterpreter>>,
}

impl Runtime {
    pub fn new(pool: PoolSettings) -> wasmtime::Result<Arc<Self>> {
        let mut pooling = PoolingAllocationConfig::default();
        pooling
            .total_component_instances(pool.max_instances)
            .total_core_instances(pool.max_instances * 4)
            .total_memories(pool.max_instances)
            .total_tables(pool.max_instances * 2)
            .total_stacks(pool.max_instances)
            .max_memories_per_component(2)
            .max_tables_per_component(4)
            .max_core_instances_per_component(16)
            .max_memory_size(pool.max_memory_bytes)
            // Reset a freed slot by rewriting only its dirty pages (PAGEMAP_SCAN, Linux
            // 6.7+) and keep them resident, instead of madvise: madvise on a
            // multi-threaded process costs a TLB shootdown on every core, and the next
            // request pays page faults again. Where the ioctl is missing this falls back
            // to madvise, batched.
            .pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(2 << 20)
            .table_keep_resident(64 << 10)
            .decommit_batch_size(16);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
        // `IKANOS_WASM_PROFILER=perfmap` names the guests' compiled functions for
        // `perf` (/tmp/perf-PID.map): a profiling aid, off unless asked for.
        if std::env::var("IKANOS_WASM_PROFILER").as_deref() == Ok("perfmap") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config)?;
        start_epoch_ticker(&engine);

        let mut linker = Linker::<GuestState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        // A component's own HTTP requests go out only as `consumes::egress` allows.
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        bindings::Capability::add_to_linker::<GuestState, HasSelf<GuestState>>(&mut linker, |s| s)?;
        bindings::engine::ikanos::capability::definition::add_to_linker::<
            GuestState,
            HasSelf<GuestState>,
        >(&mut linker, |s| s)?;
        bindings::engine::ikanos::capability::scripting::add_to_linker::<
            GuestState,
            HasSelf<GuestState>,
        >(&mut linker, |s| s)?;
        let script_linker = scripting::ScriptInterpreter::linker(&engine)?;
        Ok(Arc::new(Runtime {
            engine,
            linker,
            pool,
            shared: Mutex::new(HashMap::new()),
            declarative: Mutex::new(None),
            script_linker,
            javascript: Mutex::new(Weak::new()),
        }))
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Read, compile (or fetch from the cache) and pre-instantiate a component.
    /// `on_compile` runs just before a slow compilation starts (for a progress display).
    pub fn load(
        &self,
        path: &Path,
        cache: &ComponentCache,
        on_compile: impl FnOnce(),
    ) -> Result<LoadedComponent, LoadError> {
        let shown = path.display().to_string();
        let wasm = std::fs::read(path).map_err(|source| LoadError::Read {
            path: shown.clone(),
            source,
        })?;
        self.load_bytes(&shown, &wasm, cache, on_compile)
    }

    /// The built-in declarative engine (`crate::declarative::ENGINE_WASM`), compiled
    /// (or read from the cache) by the first capability that needs it, shared while in use.
    pub fn load_engine(&self, cache: &ComponentCache) -> Result<LoadedComponent, LoadError> {
        let live = self
            .declarative
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|(pre, sha256)| Some((pre.upgrade()?, sha256.clone())));
        if let Some((pre, sha256)) = live {
            return Ok(LoadedComponent {
                pre: Entry::Capability(pre),
                origin: Origin::Shared,
                load_time: Duration::ZERO,
                sha256,
            });
        }
        let loaded = self.load_bytes(
            crate::declarative::ENGINE_NAME,
            crate::declarative::ENGINE_WASM,
            cache,
            || {},
        )?;
        let Entry::Capability(pre) = &loaded.pre else {
            return Err(LoadError::Incompatible {
                path: crate::declarative::ENGINE_NAME.into(),
                reason: "the built-in engine exports wasi:http instead of the handler".into(),
            });
        };
        // `load_bytes` already kept one copy if another thread loaded it meanwhile.
        *self.declarative.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Arc::downgrade(pre), loaded.sha256.clone()));
        Ok(loaded)
    }

    /// The JavaScript interpreter for script steps
    /// (`crate::declarative::SCRIPT_JS_WASM`), compiled (or read from the cache) by
    /// the first capability with a script step, shared while in use.
    pub fn load_javascript(
        &self,
        cache: &ComponentCache,
    ) -> Result<Arc<scripting::ScriptInterpreter>, LoadError> {
        let mut live = self.javascript.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(interpreter) = live.upgrade() {
            return Ok(interpreter);
        }
        let shown = crate::declarative::SCRIPT_JS_NAME.to_string();
        let (component, _origin) = cache
            .load(&self.engine, crate::declarative::SCRIPT_JS_WASM, || {})
            .map_err(|e| LoadError::Invalid {
                path: shown.clone(),
                reason: format!("{e:#}"),
            })?;
        let interpreter = scripting::ScriptInterpreter::new(&self.script_linker, &component)
            .map_err(|e| LoadError::Incompatible {
                path: shown,
                reason: format!("{e:#}"),
            })?;
        let interpreter = Arc::new(interpreter);
        *live = Arc::downgrade(&interpreter);
        Ok(interpreter)
    }

    /// As `load`, for a component already in memory (the embedded engine); `shown`
    /// names it in errors.
    pub fn load_bytes(
        &self,
        shown: &str,
        wasm: &[u8],
        cache: &ComponentCache,
        on_compile: impl FnOnce(),
    ) -> Result<LoadedComponent, LoadError> {
        let shown = shown.to_owned();
        let started = Instant::now();
        let sha256 = sha256_hex(wasm);
        if let Some(pre) = self.shared_pre(&sha256) {
            return Ok(LoadedComponent {
                pre,
                origin: Origin::Shared,
                load_time: started.elapsed(),
                sha256,
            });
        }
        let (component, origin) =
            cache
                .load(&self.engine, wasm, on_compile)
                .map_err(|e| LoadError::Invalid {
                    path: shown.clone(),
                    reason: format!("{e:#}"),
                })?;
        let pre =
            Entry::of(&self.linker, &component).map_err(|reason| LoadError::Incompatible {
                path: shown.clone(),
                reason,
            })?;
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        // Another thread may have loaded the same bytes meanwhile: keep one copy.
        let pre = match shared.get(&sha256).and_then(WeakEntry::upgrade) {
            Some(existing) => existing,
            None => {
                shared.retain(|_, w| w.alive());
                shared.insert(sha256.clone(), pre.downgrade());
                pre
            }
        };
        Ok(LoadedComponent {
            pre,
            origin,
            load_time: started.elapsed(),
            sha256,
        })
    }

    fn shared_pre(&self, sha256: &str) -> Option<Entry> {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sha256)
            .and_then(WeakEntry::upgrade)
    }

    /// Distinct components loaded and in use right now.
    pub fn shared_components(&self) -> usize {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|w| w.alive())
            .count()
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Advance the epoch from a plain thread; it ends when the engine is dropped.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("ikanos-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => return,
            }
        })
        .expect("spawning the epoch thread");
}

/// A component's entry point, by the world it exports.
#[derive(Clone)]
enum Entry {
    /// `ikanos:capability/handler`: the host hands it each operation's inputs.
    Capability(Arc<bindings::CapabilityPre<GuestState>>),
    /// `wasi:http/incoming-handler`: a standard `wasi:http` component.
    Http(Arc<wasmtime_wasi_http::p2::bindings::ProxyPre<GuestState>>),
}

enum WeakEntry {
    Capability(Weak<bindings::CapabilityPre<GuestState>>),
    Http(Weak<wasmtime_wasi_http::p2::bindings::ProxyPre<GuestState>>),
}

impl Entry {
    /// Pre-instantiate `component` as whichever world it exports; a component that
    /// exports neither is refused with both reasons.
    fn of(
        linker: &Linker<GuestState>,
        component: &wasmtime::component::Component,
    ) -> Result<Entry, String> {
        let pre = linker
            .instantiate_pre(component)
            .map_err(|e| format!("{e:#}"))?;
        let as_capability = match bindings::CapabilityPre::new(pre.clone()) {
            Ok(p) => return Ok(Entry::Capability(Arc::new(p))),
            Err(e) => e,
        };
        match wasmtime_wasi_http::p2::bindings::ProxyPre::new(pre) {
            Ok(p) => Ok(Entry::Http(Arc::new(p))),
            Err(_) => Err(format!(
                "it exports neither ikanos:capability/handler nor wasi:http/incoming-handler@0.2: {as_capability:#}"
            )),
        }
    }

    fn downgrade(&self) -> WeakEntry {
        match self {
            Entry::Capability(p) => WeakEntry::Capability(Arc::downgrade(p)),
            Entry::Http(p) => WeakEntry::Http(Arc::downgrade(p)),
        }
    }
}

impl WeakEntry {
    fn upgrade(&self) -> Option<Entry> {
        match self {
            WeakEntry::Capability(w) => w.upgrade().map(Entry::Capability),
            WeakEntry::Http(w) => w.upgrade().map(Entry::Http),
        }
    }

    fn alive(&self) -> bool {
        match self {
            WeakEntry::Capability(w) => w.strong_count() > 0,
            WeakEntry::Http(w) => w.strong_count() > 0,
        }
    }
}

pub struct LoadedComponent {
    pre: Entry,
    pub origin: Origin,
    pub load_time: Duration,
    pub sha256: String,
}

/// Per-store state: WASI with nothing granted, plus what our imports need.
pub struct GuestState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    /// `wasi:http`, and what every outbound call of the request shares: the
    /// capability's outbound path, the request's id, trace, call budget and observer.
    pub(crate) http: wasi_http::HttpState,
    pub(crate) capability: Arc<str>,
    pub(crate) limits: Arc<Limits>,
    /// The operation's definition, for the declarative engine's instances only.
    pub(crate) definition: Option<Arc<str>>,
    pub(crate) metrics: Arc<Metrics>,
    cpu_ticks: u64,
    /// The interpreter and governance for the engine's script steps, when the
    /// capability has any.
    pub(crate) scripts: Option<Arc<scripting::Scripts>>,
}

impl GuestState {
    /// What a script step run by this request may use: the capability's memory limit,
    /// the CPU time the request has left, a response's size for its result.
    pub(crate) fn script_budget(&self, governance: &scripting::Governance) -> scripting::Budget {
        scripting::Budget {
            memory_bytes: self.limits.memory_bytes,
            ticks_left: ticks_in(self.limits.cpu_time).saturating_sub(self.cpu_ticks),
            cpu_time: self.limits.cpu_time,
            max_output: self.limits.max_response_body,
            wall: governance.timeout(),
            loop_iterations: governance.statement_limit(),
        }
    }

    /// Count CPU ticks a script step used against the request's budget.
    pub(crate) fn charge_ticks(&mut self, ticks: u64) {
        self.cpu_ticks = self.cpu_ticks.saturating_add(ticks);
    }
}

/// What a request reports while it runs, for callers that stream it (MCP).
///
/// Only names the file declared (consumed operations, steps), statuses, times and the
/// component's own log lines: never URLs, headers or bodies, so nothing a bind put on
/// the wire (a key in a query string, a token) can reach the client through it.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A consumed operation answered (`status`) or failed (`None`).
    Call {
        operation: String,
        status: Option<u16>,
        elapsed: Duration,
    },
    /// A declarative step finished.
    Step { step: String, ok: bool },
    /// The component logged a line (already capped in length).
    Log {
        level: tracing::Level,
        message: String,
    },
}

/// The sending end of a request's progress reports.
#[derive(Debug, Clone)]
pub struct Observer(tokio::sync::mpsc::Sender<Progress>);

impl Observer {
    /// An observer and its receiving end, holding at most `buffer` unread reports.
    pub fn channel(buffer: usize) -> (Observer, tokio::sync::mpsc::Receiver<Progress>) {
        let (tx, rx) = tokio::sync::mpsc::channel(buffer);
        (Observer(tx), rx)
    }

    /// Report without waiting: a report that does not fit is dropped, because a slow
    /// reader must never slow (or hold memory for) the guest.
    pub fn report(&self, progress: Progress) {
        let _ = self.0.try_send(progress);
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

struct MemoryLimiter {
    max_memory: usize,
    hit: bool,
    /// The largest linear memory granted (the initial size included).
    peak: usize,
}

/// Tables are small in practice; this only stops a table bomb.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.hit = true;
            return Ok(false);
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }
    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// The reason a request to the component did not produce a response.
#[derive(Debug, Error)]
pub enum InvokeError {
    /// The component answered with its own error.
    #[error("{}", handler_error_text(.0))]
    Handler(HandlerError),
    #[error("the component trapped: {0}")]
    Trap(String),
    #[error("the component exceeded its CPU time limit of {0:?}")]
    CpuDeadline(Duration),
    #[error("the component exceeded its memory limit of {} MiB", .0 >> 20)]
    MemoryLimit(usize),
    #[error("the request exceeded its time limit of {0:?}")]
    Timeout(Duration),
    #[error("the capability is overloaded: {0}")]
    Overloaded(String),
    #[error("the component's response of {0} bytes exceeds the limit of {1} bytes")]
    ResponseTooLarge(usize, usize),
}

impl InvokeError {
    /// The short name used in metrics (`error_type`).
    pub fn kind(&self) -> &'static str {
        match self {
            InvokeError::Handler(_) => "handler",
            InvokeError::Trap(_) => "trap",
            InvokeError::CpuDeadline(_) => "cpu_deadline",
            InvokeError::MemoryLimit(_) => "memory_limit",
            InvokeError::Timeout(_) => "timeout",
            InvokeError::Overloaded(_) => "overloaded",
            InvokeError::ResponseTooLarge(..) => "response_too_large",
        }
    }
}

fn handler_error_text(e: &HandlerError) -> String {
    match e {
        HandlerError::InvalidInput(m) => format!("invalid input: {m}"),
        HandlerError::NotFound(m) => format!("not found: {m}"),
        HandlerError::Upstream(m) => format!("upstream error: {m}"),
        HandlerError::Internal(m) => format!("internal error: {m}"),
        HandlerError::Unavailable(m) => format!("unavailable: {m}"),
    }
}

/// Marker error raised from the epoch callback when the CPU budget is spent.
#[derive(Debug, Error)]
#[error("CPU time limit exceeded")]
struct CpuDeadlineExceeded;

/// Epoch ticks in `cpu_time`.
pub(crate) fn ticks_in(cpu_time: Duration) -> u64 {
    (cpu_time.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
}

/// Stop `store` with [`CpuDeadlineExceeded`] once it has run `max_ticks` epoch ticks,
/// counted in the state's `ticks`.
///
/// The callback runs only while wasm executes and each epoch tick passes, so counting
/// its calls measures CPU time in the guest, not time spent waiting on outbound calls.
/// Yielding on every tick keeps one busy guest from holding an executor thread. The
/// yield is tokio's own (`yield_now`), which wakes the guest only after the thread has
/// polled its sockets and timers: a plain yield would let a spinning guest run again at
/// once, and with a serving thread to itself a neighbour's socket would be looked at
/// only every few dozen slices (1.2 s per neighbouring request measured, instead of
/// milliseconds).
fn limit_cpu<T: 'static>(store: &mut Store<T>, max_ticks: u64, ticks: fn(&mut T) -> &mut u64) {
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |mut cx| {
        let spent = ticks(cx.data_mut());
        *spent += 1;
        if *spent > max_ticks {
            return Err(CpuDeadlineExceeded.into());
        }
        Ok(UpdateDeadline::YieldCustom(
            1,
            Box::pin(tokio::task::yield_now()),
        ))
    });
}

/// Did `trap` come from [`limit_cpu`]?
fn is_cpu_deadline(trap: &wasmtime::Error) -> bool {
    trap.chain().any(|e| e.is::<CpuDeadlineExceeded>())
}

/// One capability's component, ready to serve requests.
pub struct Sandbox {
    runtime: Arc<Runtime>,
    pre: Entry,
    limits: Arc<Limits>,
    capability: Arc<str>,
    outbound: Arc<dyn OutboundCalls>,
    metrics: Arc<Metrics>,
    concurrency: Semaphore,
    active: AtomicU64,
    scripts: Option<Arc<scripting::Scripts>>,
}

impl Sandbox {
    pub fn new(
        runtime: Arc<Runtime>,
        component: LoadedComponent,
        limits: Limits,
        capability: &str,
        outbound: Arc<dyn OutboundCalls>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, String> {
        if limits.memory_bytes > runtime.pool.max_memory_bytes {
            return Err(format!(
                "memory limit {} MiB is above the host's pool maximum of {} MiB",
                limits.memory_bytes >> 20,
                runtime.pool.max_memory_bytes >> 20
            ));
        }
        Ok(Sandbox {
            runtime,
            pre: component.pre,
            concurrency: Semaphore::new(limits.max_concurrency),
            limits: Arc::new(limits),
            capability: capability.into(),
            outbound,
            metrics,
            active: AtomicU64::new(0),
            scripts: None,
        })
    }

    /// Let this sandbox's instances run script steps.
    pub fn with_scripts(mut self, scripts: Arc<scripting::Scripts>) -> Self {
        self.scripts = Some(scripts);
        self
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Instances alive right now.
    pub fn active_instances(&self) -> u64 {
        self.active.load(Ordering::Relaxed)
    }

    /// Run one request in a fresh instance. `traceparent` is the caller's W3C trace
    /// context, carried to the upstream calls the component makes.
    pub async fn invoke(
        &self,
        request_id: &str,
        traceparent: Option<&str>,
        request: InboundRequest,
    ) -> Result<InboundResponse, InvokeError> {
        self.invoke_with(request_id, traceparent, request, None)
            .await
    }

    /// As `invoke`, handing the instance an operation definition (the declarative
    /// engine reads it through the `definition` import).
    pub async fn invoke_with(
        &self,
        request_id: &str,
        traceparent: Option<&str>,
        request: InboundRequest,
        definition: Option<Arc<str>>,
    ) -> Result<InboundResponse, InvokeError> {
        self.invoke_observed(request_id, traceparent, request, definition, None)
            .await
    }

    /// As `invoke_with`, reporting the request's progress to `observer` as it runs.
    pub async fn invoke_observed(
        &self,
        request_id: &str,
        traceparent: Option<&str>,
        request: InboundRequest,
        definition: Option<Arc<str>>,
        observer: Option<Observer>,
    ) -> Result<InboundResponse, InvokeError> {
        let Entry::Capability(pre) = &self.pre else {
            return Err(InvokeError::Handler(HandlerError::Internal(format!(
                "operation '{}' reaches a wasi:http component only over REST",
                request.operation
            ))));
        };
        let mut run = self
            .admit(request_id, traceparent, definition, observer)
            .await?;
        let started = Instant::now();
        let instance = pre.instantiate_async(&mut run.store).await;
        let (instance, _active) = self.instantiated(instance, started)?;

        let call = instance
            .ikanos_capability_handler()
            .call_handle(&mut run.store, &request);
        let outcome = tokio::time::timeout_at(run.deadline, call).await;
        self.flush_output(request_id, &run.stdout, &run.stderr);

        match outcome {
            Err(_) => Err(InvokeError::Timeout(self.limits.request_timeout)),
            Ok(Ok(Ok(response))) => {
                if response.body.len() > self.limits.max_response_body {
                    Err(InvokeError::ResponseTooLarge(
                        response.body.len(),
                        self.limits.max_response_body,
                    ))
                } else {
                    Ok(response)
                }
            }
            Ok(Ok(Err(handler_error))) => Err(InvokeError::Handler(handler_error)),
            Ok(Err(trap)) => Err(self.classify_trap(&run.store, trap)),
        }
    }

    /// Does this sandbox run a standard `wasi:http` component (see [`Sandbox::invoke_http`])?
    pub fn serves_wasi_http(&self) -> bool {
        matches!(self.pre, Entry::Http(_))
    }

    /// Run one HTTP request in a fresh instance of a `wasi:http` component, under the
    /// same limits as any request; its own outgoing requests go through the declared
    /// consumes (`consumes::egress`). The caller chooses what of its request the
    /// component sees.
    pub async fn invoke_http(
        &self,
        request_id: &str,
        traceparent: Option<&str>,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, InvokeError> {
        let Entry::Http(pre) = &self.pre else {
            return Err(InvokeError::Handler(HandlerError::Internal(
                "this component does not export wasi:http/incoming-handler".into(),
            )));
        };
        let mut run = self.admit(request_id, traceparent, None, None).await?;
        let started = Instant::now();
        let proxy = pre.instantiate_async(&mut run.store).await;
        let (proxy, _active) = self.instantiated(proxy, started)?;
        let served = wasi_http::run_proxy(
            &mut run.store,
            proxy,
            request,
            self.limits.max_response_body,
        );
        let outcome = tokio::time::timeout_at(run.deadline, served).await;
        self.flush_output(request_id, &run.stdout, &run.stderr);
        match outcome {
            Err(_) => Err(InvokeError::Timeout(self.limits.request_timeout)),
            Ok(Err(trap)) => Err(self.classify_trap(&run.store, trap)),
            Ok(Ok(Ok(response))) => Ok(response),
            Ok(Ok(Err(wasi_http::ProxyFailure::TooLarge(max)))) => {
                Err(InvokeError::ResponseTooLarge(max + 1, max))
            }
            Ok(Ok(Err(wasi_http::ProxyFailure::NoResponse(why)))) => Err(InvokeError::Handler(
                HandlerError::Internal(format!("the component gave no response: {why}")),
            )),
        }
    }

    /// Wait for a concurrency slot (within the request's time) and make the request's
    /// store.
    async fn admit(
        &self,
        request_id: &str,
        traceparent: Option<&str>,
        definition: Option<Arc<str>>,
        observer: Option<Observer>,
    ) -> Result<Admitted<'_>, InvokeError> {
        let deadline = tokio::time::Instant::now() + self.limits.request_timeout;
        let permit = tokio::time::timeout_at(deadline, self.concurrency.acquire())
            .await
            .map_err(|_| InvokeError::Timeout(self.limits.request_timeout))?
            .map_err(|_| InvokeError::Overloaded("the capability is shutting down".into()))?;
        let stdout = CapturedOutput::new(self.limits.max_captured_output);
        let stderr = CapturedOutput::new(self.limits.max_captured_output);
        let mut store = self.new_store(request_id, traceparent, &stdout, &stderr, definition);
        // Who hears of the request's progress while it runs (MCP progress and log
        // notifications); `None` for callers that only want the answer.
        store.data_mut().http.egress.observer = observer;
        Ok(Admitted {
            _permit: permit,
            store,
            stdout,
            stderr,
            deadline,
        })
    }

    /// Record an instantiation that started at `started`; a failed one means the pool
    /// is full (the only resource it can run out of).
    fn instantiated<I>(
        &self,
        instance: wasmtime::Result<I>,
        started: Instant,
    ) -> Result<(I, ActiveGuard<'_>), InvokeError> {
        let labels = CapabilityLabels {
            capability: self.capability.to_string(),
        };
        self.metrics
            .instantiation_duration
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        let instance = instance
            .map_err(|e| InvokeError::Overloaded(format!("cannot create an instance: {e:#}")))?;
        self.metrics.instances.get_or_create(&labels).inc();
        Ok((
            instance,
            ActiveGuard::new(&self.active, &self.metrics, &labels),
        ))
    }

    fn new_store(
        &self,
        request_id: &str,
        traceparent: Option<&str>,
        stdout: &CapturedOutput,
        stderr: &CapturedOutput,
        definition: Option<Arc<str>>,
    ) -> Store<GuestState> {
        // Nothing is granted: no preopens, env, args, network or name lookups.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = GuestState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                max_memory: self.limits.memory_bytes,
                hit: false,
                peak: 0,
            },
            http: wasi_http::HttpState {
                ctx: wasmtime_wasi_http::WasiHttpCtx::new(),
                egress: wasi_http::Egress {
                    outbound: self.outbound.clone(),
                    request_id: request_id.into(),
                    traceparent: traceparent.map(Into::into),
                    calls: Default::default(),
                    max_calls: self.limits.max_outbound_calls,
                    max_body: self.limits.max_request_body,
                    observer: None,
                },
            },
            capability: self.capability.clone(),
            limits: self.limits.clone(),
            definition,
            metrics: self.metrics.clone(),
            cpu_ticks: 0,
            scripts: self.scripts.clone(),
        };
        let mut store = Store::new(self.runtime.engine(), state);
        store.limiter(|s| &mut s.limiter);
        limit_cpu(&mut store, ticks_in(self.limits.cpu_time), |s| {
            &mut s.cpu_ticks
        });
        store
    }

    fn classify_trap(&self, store: &Store<GuestState>, trap: wasmtime::Error) -> InvokeError {
        if is_cpu_deadline(&trap) {
            return InvokeError::CpuDeadline(self.limits.cpu_time);
        }
        if store.data().limiter.hit {
            return InvokeError::MemoryLimit(self.limits.memory_bytes);
        }
        let summary = match trap.downcast_ref::<wasmtime::Trap>() {
            Some(t) => t.to_string(),
            None => trap.to_string(),
        };
        tracing::debug!(capability = &*self.capability, error = ?trap, "guest trap details");
        InvokeError::Trap(summary)
    }

    fn flush_output(&self, request_id: &str, stdout: &CapturedOutput, stderr: &CapturedOutput) {
        for (stream, out) in [("stdout", stdout), ("stderr", stderr)] {
            let (bytes, dropped) = out.take();
            for line in String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|l| !l.is_empty())
            {
                tracing::info!(target: "guest", capability = &*self.capability, request_id, stream, "{line}");
            }
            if dropped > 0 {
                tracing::warn!(target: "guest", capability = &*self.capability, request_id, stream, dropped, "guest output over the capture limit was dropped");
            }
        }
    }
}

/// One admitted request: its concurrency slot, store, captured output and deadline.
struct Admitted<'a> {
    _permit: tokio::sync::SemaphorePermit<'a>,
    store: Store<GuestState>,
    stdout: CapturedOutput,
    stderr: CapturedOutput,
    deadline: tokio::time::Instant,
}

/// Keeps `ikanos_instances_active` and the sandbox's counter right on every exit path.
struct ActiveGuard<'a> {
    counter: &'a AtomicU64,
    gauge: prometheus_client::metrics::gauge::Gauge,
}

impl<'a> ActiveGuard<'a> {
    fn new(counter: &'a AtomicU64, metrics: &Metrics, labels: &CapabilityLabels) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        let gauge = metrics.instances_active.get_or_create_owned(labels);
        gauge.inc();
        ActiveGuard { counter, gauge }
    }
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::Relaxed);
        self.gauge.dec();
    }
}
