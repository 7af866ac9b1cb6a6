//! The control port of `ikanos serve`: health, metrics and status for every capability,
//! and the admin API that adds, replaces and removes them.
//!
//! Owns: the JSON shapes of `/health/*`, `/status` and `/capabilities/*`, the readiness
//! rule of a multi-tenant host, and admin authentication (a bearer token compared in
//! constant time). Must not touch: capability traffic. Nothing here reveals a secret:
//! names, files, states and reasons only; the token is never logged or echoed.
//!
//! Readiness: `/health/ready` is 200 while the host serves (not draining), whatever
//! state single capabilities are in — one tenant's broken tunnel or file must not take
//! every tenant off a load balancer — and lists each capability with its state.
//! `/health/ready?require=all` is 200 only while every capability is ready (replicas
//! that each serve the same capabilities, behind one balancer: a replica whose tunnel
//! is down leaves it). `/health/ready/{name}` is one capability's readiness
//! (200/503/404), for a balancer per capability.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{check_name, Applied, Hosting, Source, State, Tenant};
use crate::exposes::{AdapterState, AdapterStatus};
use crate::server::{self, Request, Response};

/// Largest capability file the admin API takes.
const MAX_FILE_UPLOAD: usize = 1 << 20;
/// Largest component the admin API takes.
const MAX_COMPONENT_UPLOAD: usize = 64 << 20;

pub fn handler(hosting: Arc<Hosting>) -> server::Handler {
    Arc::new(move |req| {
        let hosting = hosting.clone();
        Box::pin(async move { handle(&hosting, req).await })
    })
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    server::json(
        status,
        &json!({ "error": message.into(), "status": status.as_u16() }),
    )
}

async fn handle(hosting: &Arc<Hosting>, req: Request) -> Response {
    if let Err(refusal) = crate::exposes::inbound::check_rebinding(&req) {
        return refusal.render(|status, message| error(status, message));
    }
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    let read = method == Method::GET || method == Method::HEAD;
    match segments.as_slice() {
        ["health", "live"] if read => server::json(StatusCode::OK, &json!({ "status": "UP" })),
        ["health", "ready"] if read => {
            // `?require=all`: ready only while every capability is (one bit for a
            // balancer in front of replicas that each serve the same capabilities).
            let all = req
                .uri()
                .query()
                .is_some_and(|q| q.split('&').any(|kv| kv == "require=all"));
            let (ready, body) = readiness(hosting, all);
            server::json(
                if ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                },
                &body,
            )
        }
        ["health", "ready", name] if read => match hosting.tenant(name) {
            None => error(StatusCode::NOT_FOUND, format!("no capability '{name}'")),
            Some(t) => {
                // The status code and the body come from one reading.
                let body = tenant_health(hosting, &t, &hosting.adapter_status(&t));
                server::json(
                    if body["ready"] == true {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    },
                    &body,
                )
            }
        },
        ["metrics"] if read => crate::control::metrics_response(&hosting.metrics),
        ["status"] | ["capabilities"] if read => server::json(StatusCode::OK, &status(hosting)),
        ["capabilities", name] if read => match hosting.tenant(name) {
            Some(t) => server::json(StatusCode::OK, &tenant_status(hosting, &t)),
            None => error(StatusCode::NOT_FOUND, format!("no capability '{name}'")),
        },
        ["capabilities", ..] => {
            if let Err(resp) = authorize(hosting, &req) {
                return *resp;
            }
            admin(hosting, req, &segments[1..]).await
        }
        _ if !read => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "only /capabilities/* takes changes, with the admin token",
        ),
        _ => server::json(
            StatusCode::NOT_FOUND,
            &json!({ "error": format!("no such control endpoint: {path}"), "endpoints": ["/health/live", "/health/ready", "/health/ready/{name}", "/metrics", "/status", "/capabilities/{name}"] }),
        ),
    }
}

/// `Authorization: Bearer TOKEN`: 401 when absent, 403 when wrong or when no token is
/// configured (the admin API is then off).
/// Errors are boxed: a response is large next to `()`.
fn authorize(hosting: &Hosting, req: &Request) -> Result<(), Box<Response>> {
    let Some(expected) = &hosting.config.admin_token else {
        return Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "the admin API is off: no admin token is configured (control.token)",
        )));
    };
    let given = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    let Some(given) = given else {
        let mut resp = error(
            StatusCode::UNAUTHORIZED,
            "the admin API needs a bearer token",
        );
        resp.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer realm=\"ikanos-admin\""),
        );
        return Err(Box::new(resp));
    };
    // Digests first, so the comparison takes the same time whatever the lengths.
    let a = Sha256::digest(given.trim().as_bytes());
    let b = Sha256::digest(expected.expose().as_bytes());
    if bool::from(a.ct_eq(&b)) {
        Ok(())
    } else {
        tracing::warn!("admin API: wrong token");
        Err(Box::new(error(StatusCode::FORBIDDEN, "wrong admin token")))
    }
}

/// Where the admin API keeps capability `name`'s files: its folder when it has one,
/// else `DIR/NAME.ikanos.yaml` beside the others.
fn file_for(hosting: &Hosting, name: &str) -> Result<Source, Box<Response>> {
    if let Some(t) = hosting.tenant(name) {
        if t.source.configured {
            return Err(Box::new(error(
                StatusCode::CONFLICT,
                format!("capability '{name}' is named in the host configuration; change it there"),
            )));
        }
        if !t.source.file.as_os_str().is_empty() {
            return Ok(t.source.clone());
        }
    }
    let Some(dir) = &hosting.config.dir else {
        return Err(Box::new(error(
            StatusCode::CONFLICT,
            "this host has no capabilities folder to write to (capabilitiesDir / --dir)",
        )));
    };
    let folder = dir.join(name);
    Ok(if folder.is_dir() {
        Source {
            file: folder.join(format!("{name}.ikanos.yaml")),
            folder: Some(folder),
            configured: false,
            binds: None,
        }
    } else {
        Source {
            file: dir.join(format!("{name}.ikanos.yaml")),
            folder: None,
            configured: false,
            binds: None,
        }
    })
}

/// Write through a hidden temporary file and rename, so the folder watch and readers
/// never see half a file.
fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let tmp = dir.join(format!(".upload-{}.tmp", uuid::Uuid::new_v4()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

async fn body(req: Request, limit: usize) -> Result<Bytes, Response> {
    match Limited::new(req.into_body(), limit).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body exceeds {limit} bytes"),
        )),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("reading the body failed: {e}"),
        )),
    }
}

/// `PUT /capabilities/{name}` (capability file as the body), `PUT
/// /capabilities/{name}/component` (the .wasm), `POST /capabilities/{name}/reload`,
/// `DELETE /capabilities/{name}`.
async fn admin(hosting: &Arc<Hosting>, req: Request, rest: &[&str]) -> Response {
    let method = req.method().clone();
    let Some(name) = rest.first().map(|n| n.to_string()) else {
        return error(StatusCode::METHOD_NOT_ALLOWED, "use /capabilities/{name}");
    };
    if let Err(why) = check_name(&name) {
        return error(StatusCode::BAD_REQUEST, why);
    }
    let action = rest.get(1).copied();
    match (method, action, rest.len()) {
        (Method::PUT, None, 1) => {
            let source = match file_for(hosting, &name) {
                Ok(s) => s,
                Err(r) => return *r,
            };
            let bytes = match body(req, MAX_FILE_UPLOAD).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            if let Err(e) = write_atomic(&source.file, &bytes) {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot write {}: {e}", source.file.display()),
                );
            }
            // Not forced: the folder watch may have loaded the new file already.
            applied(hosting, &name, hosting.apply(&name, source, false).await)
        }
        (Method::PUT, Some("component"), 2) => {
            let source = match file_for(hosting, &name) {
                Ok(s) => s,
                Err(r) => return *r,
            };
            let bytes = match body(req, MAX_COMPONENT_UPLOAD).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let target = hosting
                .config
                .settings_for(&name)
                .component
                .unwrap_or_else(|| {
                    // The first candidate: `NAME.wasm` beside the capability file.
                    crate::capability::component_candidates(&source.file).remove(0)
                });
            if let Err(e) = write_atomic(&target, &bytes) {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot write {}: {e}", target.display()),
                );
            }
            if !source.file.is_file() {
                return server::json(
                    StatusCode::ACCEPTED,
                    &json!({ "capability": name, "component": target.display().to_string(), "state": "waiting for its capability file" }),
                );
            }
            applied(hosting, &name, hosting.apply(&name, source, false).await)
        }
        (Method::POST, Some("reload"), 2) => match hosting.discover().remove(&name) {
            Some(Ok(source)) => applied(hosting, &name, hosting.apply(&name, source, true).await),
            Some(Err(why)) => error(StatusCode::UNPROCESSABLE_ENTITY, why),
            None => error(StatusCode::NOT_FOUND, format!("no capability file for '{name}'")),
        },
        (Method::DELETE, None, 1) => {
            let source = hosting.tenant(&name).map(|t| t.source.clone());
            let existed = source.is_some();
            if let Some(s) = &source {
                if s.configured {
                    return error(StatusCode::CONFLICT, format!("capability '{name}' is named in the host configuration; remove it there"));
                }
                // Only the capability file goes: its component and binds stay, and the
                // folder watch sees the capability gone.
                if !s.file.as_os_str().is_empty() {
                    if let Err(e) = std::fs::remove_file(&s.file) {
                        if e.kind() != std::io::ErrorKind::NotFound {
                            return error(
                                StatusCode::INTERNAL_SERVER_ERROR,
                                format!("cannot remove {}: {e}", s.file.display()),
                            );
                        }
                    }
                }
            }
            // The folder watch may have removed it first: it existed, so it is removed.
            if hosting.remove(&name).await || existed {
                server::json(StatusCode::OK, &json!({ "capability": name, "state": "removed" }))
            } else {
                error(StatusCode::NOT_FOUND, format!("no capability '{name}'"))
            }
        }
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "use PUT /capabilities/{name}, PUT /capabilities/{name}/component, POST /capabilities/{name}/reload or DELETE /capabilities/{name}",
        ),
    }
}

fn applied(hosting: &Hosting, name: &str, outcome: Applied) -> Response {
    let tenant = hosting.tenant(name);
    // Unchanged: the folder watch got there first; its outcome is the tenant's state.
    let failed_already = tenant
        .as_ref()
        .is_some_and(|t| t.serving().is_none() || t.last_error.is_some());
    let status = match &outcome {
        Applied::Loaded => StatusCode::CREATED,
        Applied::Replaced => StatusCode::OK,
        Applied::Unchanged if failed_already => StatusCode::UNPROCESSABLE_ENTITY,
        Applied::Unchanged => StatusCode::OK,
        Applied::Failed(_) => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let mut body = tenant
        .map(|t| tenant_status(hosting, &t))
        .unwrap_or_else(|| json!({ "name": name }));
    body["outcome"] = json!(match &outcome {
        Applied::Loaded => "loaded",
        Applied::Replaced => "replaced",
        Applied::Unchanged => "unchanged",
        Applied::Failed(_) => "failed",
    });
    if let Applied::Failed(why) = outcome {
        body["error"] = json!(why);
    }
    server::json(status, &body)
}

/// One capability's health; its `state` and `ready` come from one reading of its
/// consumed namespaces.
fn tenant_health(hosting: &Hosting, t: &Tenant, adapters: &[AdapterStatus]) -> Value {
    let consumes = t.serving().map(|s| s.capability.outbound.status());
    let ready = hosting.ready_given(consumes.as_deref(), adapters);
    let state = match &t.state {
        State::Failed(_) => CapabilityState::Failed,
        State::Serving(_) if ready => CapabilityState::Ready,
        State::Serving(_) => CapabilityState::Degraded,
    };
    let mut v = json!({ "name": t.name, "state": state, "ready": ready });
    match &t.state {
        State::Failed(why) => v["error"] = json!(why),
        State::Serving(_) => v["consumes"] = json!(consumes),
    }
    // Adapters this host cannot serve (MCP over stdio), with why: reported, not
    // awaited — they do not make the capability not ready.
    let unserved: Vec<_> = adapters
        .iter()
        .filter(|a| match a.state {
            AdapterState::Unsupported => true,
            AdapterState::Listening => false,
        })
        .collect();
    if !unserved.is_empty() {
        v["unservedAdapters"] = json!(unserved);
    }
    if let Some(e) = &t.last_error {
        v["lastError"] = json!(e);
    }
    // A capability from a registry: what it was pulled from, the digest it runs, and a
    // failed check of its tag while this version serves.
    if let Some(from) = hosting
        .config
        .capabilities
        .get(&t.name)
        .and_then(|c| c.from.as_ref())
    {
        v["from"] = json!(from.to_string());
        if let Some(d) = hosting.pulls.digest(&t.name) {
            v["digest"] = json!(d);
        }
        if let Some(e) = hosting.pulls.last_error(&t.name) {
            v["pullError"] = json!(e);
        }
    }
    v
}

/// Where one hosted capability stands (`state` of `/health/ready` and `/status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum CapabilityState {
    Ready,
    Degraded,
    Failed,
}

fn readiness(hosting: &Hosting, require_all: bool) -> (bool, Value) {
    let tenants = hosting.tenants();
    let draining = hosting.is_draining();
    let capabilities: Vec<Value> = tenants
        .iter()
        .map(|t| tenant_health(hosting, t, &hosting.adapter_status(t)))
        .collect();
    let all_ready = capabilities.iter().all(|c| c["ready"] == true);
    let body = json!({
        "status": if draining { "DRAINING" } else if all_ready { "UP" } else { "DEGRADED" },
        "draining": draining,
        "capabilities": capabilities,
    });
    (!draining && (all_ready || !require_all), body)
}

fn tenant_status(hosting: &Hosting, t: &Tenant) -> Value {
    let adapters = hosting.adapter_status(t);
    let mut v = tenant_health(hosting, t, &adapters);
    v["file"] = json!(t.source.file.display().to_string());
    v["generation"] = json!(t.generation);
    v["loadedAt"] = json!(t
        .loaded_at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0));
    if let Some(s) = t.serving() {
        let cap = &s.capability;
        v["ikanos"] = json!(cap.model.version.value);
        v["display"] = json!(cap.model.info.as_ref().and_then(|i| i.display.clone()));
        v["adapters"] = json!(adapters);
        crate::control::add_sandbox_status(&mut v, cap);
    }
    v
}

fn status(hosting: &Hosting) -> Value {
    let capabilities: Vec<Value> = hosting
        .tenants()
        .iter()
        .map(|t| tenant_status(hosting, t))
        .collect();
    let count = |state: &str| capabilities.iter().filter(|c| c["state"] == state).count();
    json!({
        "host": {
            "version": env!("CARGO_PKG_VERSION"),
            "uptimeSeconds": hosting.started.elapsed().as_secs(),
            "draining": hosting.is_draining(),
            "listen": hosting.shared_address.lock().unwrap_or_else(|p| p.into_inner()).map(|a| a.to_string()),
            "capabilitiesDir": hosting.config.dir.as_ref().map(|d| d.display().to_string()),
            "components": hosting.runtime().shared_components(),
        },
        "counts": { "ready": count("ready"), "degraded": count("degraded"), "failed": count("failed") },
        "capabilities": capabilities,
    })
}
