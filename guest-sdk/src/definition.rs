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
