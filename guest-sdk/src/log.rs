//! Log records for the host's tracing output, tagged there with the capability.
//!
//! Owns: the wrappers over the WIT `log` import. Use the functions with a ready
//! message, or the macros of the same name with `format!` arguments:
//!
//! ```no_run
//! use ikanos_guest::log;
//! log::info("starting");
//! let id = 7;
//! log::warn!("customer {id} has no email");
//! ```
//!
//! Outside wasm32 (native unit tests) records go to stderr as `[level] message`.

/// Logs `message` at trace level.
pub fn trace(message: &str) {
    imp::log(Level::Trace, message)
}

/// Logs `message` at debug level.
pub fn debug(message: &str) {
    imp::log(Level::Debug, message)
}

/// Logs `message` at info level.
pub fn info(message: &str) {
    imp::log(Level::Info, message)
}

/// Logs `message` at warn level.
pub fn warn(message: &str) {
    imp::log(Level::Warn, message)
}

/// Logs `message` at error level.
pub fn error(message: &str) {
    imp::log(Level::Error, message)
}

#[derive(Clone, Copy)]
enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::Level;
    use crate::__bindings::ikanos::capability::log as wit;

    pub(super) fn log(level: Level, message: &str) {
        let level = match level {
            Level::Trace => wit::Level::Trace,
            Level::Debug => wit::Level::Debug,
            Level::Info => wit::Level::Info,
            Level::Warn => wit::Level::Warn,
            Level::Error => wit::Level::Error,
        };
        wit::log(level, message);
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::Level;

    pub(super) fn log(level: Level, message: &str) {
        let level = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        eprintln!("[{level}] {message}");
    }
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log_trace {
    ($($arg:tt)+) => { $crate::log::trace(&::std::format!($($arg)+)) };
}
#[doc(hidden)]
#[macro_export]
macro_rules! __log_debug {
    ($($arg:tt)+) => { $crate::log::debug(&::std::format!($($arg)+)) };
}
#[doc(hidden)]
#[macro_export]
macro_rules! __log_info {
    ($($arg:tt)+) => { $crate::log::info(&::std::format!($($arg)+)) };
}
#[doc(hidden)]
#[macro_export]
macro_rules! __log_warn {
    ($($arg:tt)+) => { $crate::log::warn(&::std::format!($($arg)+)) };
}
#[doc(hidden)]
#[macro_export]
macro_rules! __log_error {
    ($($arg:tt)+) => { $crate::log::error(&::std::format!($($arg)+)) };
}

/// `debug!("…", args)`: [`debug`](fn@debug) with `format!` arguments.
#[doc(inline)]
pub use crate::__log_debug as debug;
/// `error!("…", args)`: [`error`](fn@error) with `format!` arguments.
#[doc(inline)]
pub use crate::__log_error as error;
/// `info!("…", args)`: [`info`](fn@info) with `format!` arguments.
#[doc(inline)]
pub use crate::__log_info as info;
/// `trace!("…", args)`: [`trace`](fn@trace) with `format!` arguments.
#[doc(inline)]
pub use crate::__log_trace as trace;
/// `warn!("…", args)`: [`warn`](fn@warn) with `format!` arguments.
#[doc(inline)]
pub use crate::__log_warn as warn;

#[cfg(test)]
mod tests {
    #[test]
    fn functions_and_macros_run_natively() {
        super::trace("t");
        super::debug("d");
        super::info("i");
        super::warn("w");
        super::error("e");
        let n = 3;
        crate::log::info!("n = {n}");
        crate::log::error!("{} {}", 1, 2);
    }
}
