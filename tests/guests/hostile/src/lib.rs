//! `hostile`: a capability component that misbehaves on request, for the host's
//! end-to-end tests. Built to `tests/guests/target/wasm32-wasip2/release/hostile.wasm`.
//!
//! Owns: the exact behaviour of each exposed operation key below. The host's tests
//! assert on these, so change them only together with those tests.
//!
//! | operation   | inputs                              | behaviour |
//! |-------------|-------------------------------------|-----------|
//! | `healthy`   | —                                   | 200 `application/json` `{"ok":true}` |
//! | `echo`      | any                                 | 200 JSON `{"operation": "<key>", "inputs": {"<name>": "<value>", …}, "body": "<body>" \| null}`; a repeated input name keeps its last value; a body that is not UTF-8 is decoded lossily (U+FFFD) |
//! | `spin`      | —                                   | loops forever (`black_box` keeps the loop); ends only when the host interrupts it (fuel or epoch deadline) |
//! | `grow`      | —                                   | allocates 1 MiB chunks forever, writing every byte of each and keeping them all; never returns normally: once the host's memory limit refuses `memory.grow`, Rust's alloc-error handler aborts (wasm `unreachable` trap; std prints its out-of-memory message to stderr first) |
//! | `trap`      | —                                   | panics with `hostile guest: trap requested` (message on stderr; panic=abort, so a wasm `unreachable` trap) |
//! | `recurse`   | —                                   | unbounded non-tail recursion; traps with `call stack exhausted` (wasmtime's stack-overflow trap; checked under wasmtime 48 defaults) |
//! | `call`      | `ns`, `op`, `p_<name>`…, body       | calls consumed operation `ns`.`op` with every `p_<name>` input as param `<name>` and the request body as the call body (an absent or empty body: no call body). Success: 200 JSON `{"status": <u16>, "headers": {"<lowercased name>": "<value>", …}, "body": "<upstream body, lossy UTF-8>"}` (repeated headers joined with `", "`). Call error: 200 JSON `{"error": "<kind>", "reason": "<reason>"}` with kind one of `unknown-operation`, `invalid-input`, `tunnel-unavailable`, `timeout`, `transport`, `denied`. Missing `ns`/`op`: `invalid-input` handler error (400) |
//! | `flood`     | `ns`, `op`, `n` (default 1000)      | calls consumed operation `ns`.`op` (no params, no body) `n` times in a row, going on after errors; 200 JSON `{"ok": <calls that got a response>, "errors": {"<kind>": <count>, …}, "last_error": "<reason>" \| null}` |
//! | `print`     | —                                   | writes `stdout-line from guest\n` to stdout, `stderr-line from guest\n` to stderr, logs `log-line from guest` at info through the `log` import; 200 `text/plain; charset=utf-8` `printed` |
//! | `env-probe` | —                                   | 200 JSON `{"env": <count of env vars>, "args": <count of args>, "read_root": <read_dir("/") ok>, "read_etc_passwd": <read("/etc/passwd") ok>, "tcp": <TcpStream::connect("127.0.0.1:9") ok>}` — all 0/false under a host with no ambient authority |
//! | `big`       | `size` (bytes, default 10485760)    | 200 `application/octet-stream`, `size` bytes of `x`; a `size` that is not a `usize` is an `invalid-input` handler error (400) |
//! | `status`    | `code`                              | answers HTTP `code` with `text/plain; charset=utf-8` body `status`; a missing or non-`u16` `code` is an `invalid-input` handler error (400) |
//! | other       | —                                   | `not-found` handler error naming the operation (the SDK's default) |

use std::hint::black_box;

use ikanos_guest::serde_json::{json, Map, Value};
use ikanos_guest::{capability, consumes, log, Error, Request, Response};

const MIB: usize = 1 << 20;

fn healthy(_req: Request) -> Result<Response, Error> {
    Ok(Response::json(&json!({ "ok": true })))
}

fn echo(req: Request) -> Result<Response, Error> {
    let inputs: Map<String, Value> = req
        .inputs()
        .map(|(n, v)| (n.to_owned(), Value::from(v)))
        .collect();
    let body = req
        .body()
        .map(|b| Value::from(String::from_utf8_lossy(b).into_owned()));
    Ok(Response::json(&json!({
        "operation": req.operation(),
        "inputs": inputs,
        "body": body.unwrap_or(Value::Null),
    })))
}

fn spin(_req: Request) -> Result<Response, Error> {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

fn grow(_req: Request) -> Result<Response, Error> {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let chunk = vec![0xA5u8; MIB];
        chunks.push(black_box(chunk));
        black_box(&mut chunks);
    }
}

fn trap(_req: Request) -> Result<Response, Error> {
    panic!("hostile guest: trap requested");
}

#[allow(unconditional_recursion)]
fn deeper(depth: u64) -> u64 {
    // The result goes through `black_box` after the call, so the call is never in
    // tail position and cannot become a loop.
    let below = deeper(black_box(depth.wrapping_add(1)));
    black_box(below).wrapping_add(depth)
}

fn recurse(_req: Request) -> Result<Response, Error> {
    let depth = deeper(black_box(0));
    Ok(Response::json(&json!({ "depth": depth })))
}

fn call(req: Request) -> Result<Response, Error> {
    let mut call = consumes::call(req.require("ns")?, req.require("op")?);
    for (name, value) in req.inputs() {
        if let Some(param) = name.strip_prefix("p_") {
            call = call.param(param, value);
        }
    }
    if let Some(body) = req.body().filter(|b| !b.is_empty()) {
        call = call.body(body);
    }
    let answer = match call.send() {
        Ok(upstream) => {
            let mut headers = Map::new();
            for (name, value) in &upstream.headers {
                let name = name.to_ascii_lowercase();
                let joined = match headers.get(&name).and_then(Value::as_str) {
                    Some(previous) => format!("{previous}, {value}"),
                    None => value.clone(),
                };
                headers.insert(name, Value::from(joined));
            }
            json!({
                "status": upstream.status,
                "headers": headers,
                "body": String::from_utf8_lossy(&upstream.body),
            })
        }
        Err(e) => json!({ "error": e.kind(), "reason": e.reason() }),
    };
    Ok(Response::json(&answer))
}

fn flood(req: Request) -> Result<Response, Error> {
    let (ns, op) = (req.require("ns")?, req.require("op")?);
    let n = req.input_as::<u32>("n")?.unwrap_or(1000);
    let mut ok = 0u32;
    let mut errors = Map::new();
    let mut last_error = Value::Null;
    for _ in 0..n {
        match consumes::call(ns, op).send() {
            Ok(_) => ok += 1,
            Err(e) => {
                let count = errors.get(e.kind()).and_then(Value::as_u64).unwrap_or(0);
                errors.insert(e.kind().to_string(), Value::from(count + 1));
                last_error = Value::from(e.reason().to_string());
            }
        }
    }
    Ok(Response::json(
        &json!({ "ok": ok, "errors": errors, "last_error": last_error }),
    ))
}

fn print(_req: Request) -> Result<Response, Error> {
    println!("stdout-line from guest");
    eprintln!("stderr-line from guest");
    log::info("log-line from guest");
    Ok(Response::text("printed"))
}

fn env_probe(_req: Request) -> Result<Response, Error> {
    Ok(Response::json(&json!({
        "env": std::env::vars_os().count(),
        "args": std::env::args_os().count(),
        "read_root": std::fs::read_dir("/").is_ok(),
        "read_etc_passwd": std::fs::read("/etc/passwd").is_ok(),
        "tcp": std::net::TcpStream::connect("127.0.0.1:9").is_ok(),
    })))
}

fn big(req: Request) -> Result<Response, Error> {
    let size = req.input_as::<usize>("size")?.unwrap_or(10 * MIB);
    Ok(Response::bytes(
        "application/octet-stream",
        vec![b'x'; size],
    ))
}

fn status(req: Request) -> Result<Response, Error> {
    let code = req.require_as::<u16>("code")?;
    Ok(Response::text("status").with_status(code))
}

capability! {
    "healthy" => healthy,
    "echo" => echo,
    "spin" => spin,
    "grow" => grow,
    "trap" => trap,
    "recurse" => recurse,
    "call" => call,
    "flood" => flood,
    "print" => print,
    "env-probe" => env_probe,
    "big" => big,
    "status" => status,
}
