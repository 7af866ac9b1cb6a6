//! The `definition` import of world `engine` (feature `engine`): what the exposed
//! operation being run declares, and step timings reported back to the host.
//!
//! Owns: the wrappers over the WIT `definition` import. Only the host's declarative
//! engine uses it.

/// The current request's operation definition, as JSON (see `host/engine/flow`).
pub fn get() -> String {
    imp::get()
}

/// Reports one finished orchestration step to the host (span and step metric).
pub fn record_step(step: &str, kind: &str, nanos: u64, ok: bool) {
    imp::record_step(step, kind, nanos, ok)
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use crate::__bindings::ikanos::capability::definition as wit;

    pub(super) fn get() -> String {
        wit::get()
    }

    pub(super) fn record_step(step: &str, kind: &str, nanos: u64, ok: bool) {
        wit::record_step(step, kind, nanos, ok)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    pub(super) fn get() -> String {
        "{}".to_owned()
    }

    pub(super) fn record_step(_step: &str, _kind: &str, _nanos: u64, _ok: bool) {}
}

/// Why the host could not give a script step's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptError {
    /// The script threw or does not parse (the interpreter's message).
    Failed(String),
    /// Stopped at a limit, or its language refused.
    Refused(String),
}

/// Has the host run script step `step` (`sources` in order, as `language`) with
/// `context` (JSON) bound to `context`; the JSON of its `result`, if it assigned one.
pub fn run_script(
    step: &str,
    language: &str,
    sources: &[String],
    context: &str,
) -> Result<Option<String>, ScriptError> {
    imp_script::run_script(step, language, sources, context)
}

#[cfg(target_arch = "wasm32")]
mod imp_script {
    use super::ScriptError;
    use crate::__bindings::ikanos::capability::scripting as wit;

    pub(super) fn run_script(
        step: &str,
        language: &str,
        sources: &[String],
        context: &str,
    ) -> Result<Option<String>, ScriptError> {
        wit::run(step, language, sources, context).map_err(|e| match e {
            wit::ScriptError::Failed(m) => ScriptError::Failed(m),
            wit::ScriptError::Refused(m) => ScriptError::Refused(m),
        })
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp_script {
    use super::ScriptError;

    pub(super) fn run_script(
        _step: &str,
        _language: &str,
        _sources: &[String],
        _context: &str,
    ) -> Result<Option<String>, ScriptError> {
        Err(ScriptError::Refused(
            "script steps run only inside the ikanos host".into(),
        ))
    }
}
