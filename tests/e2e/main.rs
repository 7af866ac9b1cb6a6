//! End-to-end tests: the real `ikanos` binary, real wasm components built for
//! wasm32-wasip2, and a real HTTP upstream on loopback.

mod support;

mod auth;
mod control;
mod examples;
mod lifecycle;
mod sandbox;
mod validate;
