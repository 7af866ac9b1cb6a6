//! Write Ikanos capabilities in Rust, as WebAssembly components for the `ikanos` host.
//!
//! Owns: the guest-side SDK. It hides the bindings generated from `wit/capability.wit`
//! (world `ikanos:capability/capability`) behind plain Rust types: [`Request`],
//! [`Response`], [`Error`], the [`consumes`] call builder, [`log`] and the
//! [`capability!`] macro that exports the component.
//!
//! A capability component has no ambient authority. Everything that reaches the outside
//! goes through [`consumes::call`], naming an operation that the capability file
//! declares under `capability.consumes`; the host builds the HTTP request, adds the
//! authentication and routes it. Secrets never enter the component.
//!
//! # Example
//!
//! One function per exposed operation, registered with [`capability!`]:
//!
//! ```no_run
//! use ikanos_guest::{capability, consumes, log, Error, Request, Response};
//! use ikanos_guest::serde_json::{json, Value};
//!
//! // GET /customers?limit=… (exposed operation `list-customers`)
//! fn list_customers(req: Request) -> Result<Response, Error> {
//!     let limit: u32 = req.input_as("limit")?.unwrap_or(10);
//!     let customers: Value = consumes::call("crm", "list-customers")
//!         .param("limit", limit)
//!         .send()?             // CallError -> Error::Upstream
//!         .error_for_status()? // non-2xx    -> Error::Upstream
//!         .json()?;            // bad JSON   -> Error::Upstream
//!     Ok(Response::json(&customers))
//! }
//!
//! // GET /customers/{{id}} (exposed operation `get-customer`)
//! fn get_customer(req: Request) -> Result<Response, Error> {
//!     let id = req.require("id")?; // missing -> Error::InvalidInput (HTTP 400)
//!     let upstream = consumes::call("crm", "get-customer").param("id", id).send()?;
//!     if upstream.status == 404 {
//!         return Err(Error::NotFound(format!("no customer {id}"))); // HTTP 404
//!     }
//!     log::info!("fetched customer {id}");
//!     let customer: Value = upstream.error_for_status()?.json()?;
//!     Ok(Response::json(&json!({ "customer": customer })))
//! }
//!
//! capability! {
//!     "list-customers" => list_customers,
//!     "get-customer" => get_customer,
//! }
//! ```
//!
//! Build it as a `cdylib` for `wasm32-wasip2`, which produces a component:
//!
//! ```text
//! [lib]
//! crate-type = ["cdylib"]
//!
//! $ cargo build --release --target wasm32-wasip2
//! ```
//!
//! An exposed operation with no registered handler answers `handler-error::not-found`
//! (HTTP 404). [`Error`] variants become HTTP 400, 404, 502, 500 and 503 (a tunnel that is
//! down: `CallError::TunnelUnavailable` converts to `Error::Unavailable`); a panic traps the
//! instance and the host answers 500.
//!
//! # Native builds
//!
//! The crate also compiles for the host platform so that handlers and helpers can be
//! unit-tested with `cargo test`. Outside wasm32, [`consumes::call`] returns
//! [`CallError::Transport`] without doing anything, [`log`] writes to stderr, and
//! [`capability!`] defines the dispatcher but exports nothing.

#![warn(missing_docs)]

// Lets the generated bindings name this crate as `::ikanos_guest`, the same path that
// works from the dependent crates where `capability!` expands.
extern crate self as ikanos_guest;

mod error;
mod request;
mod response;

pub mod consumes;
pub mod log;

pub use error::Error;
pub use request::Request;
pub use response::Response;

/// Re-export of `serde_json`, so that capabilities need not depend on it themselves.
pub use serde_json;

pub use consumes::{CallError, UpstreamResponse};

/// Bindings generated from `wit/capability.wit`. Not part of the public API.
#[doc(hidden)]
#[allow(missing_docs, clippy::all, unsafe_op_in_unsafe_fn)]
#[cfg(not(feature = "engine"))]
pub mod __bindings {
    wit_bindgen::generate!({
        world: "capability",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "::ikanos_guest::__bindings",
        runtime_path: "::ikanos_guest::__private::wit_bindgen::rt",
        additional_derives: [PartialEq, Eq],
    });
}

/// Bindings of world `engine` (`capability` plus the `definition` import), for the
/// host's declarative engine only. Not part of the public API.
#[cfg(feature = "engine")]
#[doc(hidden)]
#[allow(missing_docs, clippy::all, unsafe_op_in_unsafe_fn)]
pub mod __bindings {
    wit_bindgen::generate!({
        world: "engine",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "::ikanos_guest::__bindings",
        runtime_path: "::ikanos_guest::__private::wit_bindgen::rt",
        additional_derives: [PartialEq, Eq],
    });
}

#[cfg(feature = "engine")]
pub mod definition;

// The export macro wit-bindgen generates is named after the world; the SDK's macros
// use one name for both.
#[cfg(not(feature = "engine"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __export_world_impl {
    ($($t:tt)*) => { $crate::__export_capability_impl!($($t)*); };
}
#[cfg(feature = "engine")]
#[doc(hidden)]
#[macro_export]
macro_rules! __export_world_impl {
    ($($t:tt)*) => { $crate::__export_engine_impl!($($t)*); };
}

/// Support for [`capability!`]. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::__bindings::exports::ikanos::capability::handler::{
        Guest, HandlerError, InboundRequest, InboundResponse,
    };
    pub use wit_bindgen;

    use crate::{Error, Request, Response};

    /// Converts the WIT request, runs `dispatch` and converts its answer back.
    pub fn handle(
        request: InboundRequest,
        dispatch: impl FnOnce(Request) -> Result<Response, Error>,
    ) -> Result<InboundResponse, HandlerError> {
        dispatch(Request::from_wit(request))
            .map(Response::into_wit)
            .map_err(Error::into_wit)
    }

    /// The answer for an operation that no handler is registered for.
    pub fn no_handler(operation: &str) -> Result<Response, Error> {
        Err(Error::NotFound(format!(
            "the component has no handler for operation `{operation}`"
        )))
    }
}

/// Exports the component, routing each exposed operation to one handler function.
///
/// Each entry maps an exposed operation key (as written in the capability file) to a
/// function `fn(Request) -> Result<Response, Error>` (or a closure that captures
/// nothing). Operations without an entry answer [`Error::NotFound`] naming the
/// operation. Use it once per crate, at module level.
///
/// ```no_run
/// # use ikanos_guest::{capability, Error, Request, Response};
/// fn ping(_req: Request) -> Result<Response, Error> {
///     Ok(Response::text("pong"))
/// }
///
/// capability! {
///     "ping" => ping,
///     "version" => |_req| Ok(Response::text("1.0")),
/// }
/// ```
///
/// On targets other than wasm32 the macro defines the dispatcher but exports nothing.
#[macro_export]
macro_rules! capability {
    ($($operation:literal => $handler:expr),+ $(,)?) => {
        // `pub` so that the handlers count as used in native builds too, where nothing
        // is exported.
        #[doc(hidden)]
        pub struct __IkanosCapability;

        impl $crate::__private::Guest for __IkanosCapability {
            fn handle(
                request: $crate::__private::InboundRequest,
            ) -> ::core::result::Result<
                $crate::__private::InboundResponse,
                $crate::__private::HandlerError,
            > {
                $crate::__private::handle(request, |request: $crate::Request| {
                    let operation = ::std::string::String::from(request.operation());
                    match operation.as_str() {
                        $(
                            $operation => {
                                let handler: fn($crate::Request) -> ::core::result::Result<
                                    $crate::Response,
                                    $crate::Error,
                                > = $handler;
                                handler(request)
                            }
                        )+
                        other => $crate::__private::no_handler(other),
                    }
                })
            }
        }

        #[cfg(target_arch = "wasm32")]
        $crate::__export_world_impl!(__IkanosCapability with_types_in $crate::__bindings);
    };
}

/// Exports the component with one function that answers every operation (the host's
/// declarative engine reads what to do from [`definition`] instead of matching names).
#[macro_export]
macro_rules! capability_fn {
    ($handler:expr) => {
        #[doc(hidden)]
        pub struct __IkanosCapability;

        impl $crate::__private::Guest for __IkanosCapability {
            fn handle(
                request: $crate::__private::InboundRequest,
            ) -> ::core::result::Result<
                $crate::__private::InboundResponse,
                $crate::__private::HandlerError,
            > {
                let handler: fn($crate::Request) -> ::core::result::Result<
                    $crate::Response,
                    $crate::Error,
                > = $handler;
                $crate::__private::handle(request, handler)
            }
        }

        #[cfg(target_arch = "wasm32")]
        $crate::__export_world_impl!(__IkanosCapability with_types_in $crate::__bindings);
    };
}

#[cfg(test)]
mod tests {
    use super::__private::{Guest, HandlerError, InboundRequest};

    fn hello(req: crate::Request) -> Result<crate::Response, crate::Error> {
        let name = req.require("name")?;
        Ok(crate::Response::text(&format!("hi {name}")).with_status(201))
    }

    capability! {
        "hello" => hello,
        "fail" => |_req| Err(crate::Error::Internal("boom".into())),
    }

    fn inbound(operation: &str, inputs: &[(&str, &str)]) -> InboundRequest {
        InboundRequest {
            operation: operation.into(),
            inputs: inputs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: None,
        }
    }

    #[test]
    fn dispatches_to_the_registered_handler() {
        let out = __IkanosCapability::handle(inbound("hello", &[("name", "ada")])).unwrap();
        assert_eq!(out.status, 201);
        assert_eq!(out.content_type, "text/plain; charset=utf-8");
        assert_eq!(out.body, b"hi ada");
    }

    #[test]
    fn maps_handler_errors() {
        match __IkanosCapability::handle(inbound("hello", &[])) {
            Err(HandlerError::InvalidInput(m)) => assert!(m.contains("`name`"), "{m}"),
            other => panic!("unexpected {other:?}"),
        }
        match __IkanosCapability::handle(inbound("fail", &[])) {
            Err(HandlerError::Internal(m)) => assert_eq!(m, "boom"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unknown_operation_is_not_found_and_named() {
        match __IkanosCapability::handle(inbound("nope", &[])) {
            Err(HandlerError::NotFound(m)) => assert!(m.contains("`nope`"), "{m}"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
