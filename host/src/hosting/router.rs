//! Routing requests of `ikanos serve` to capabilities.
//!
//! Owns: the shared listener's rule — the first path segment names the capability,
//! `/{capability}/{operation path}` — and the handlers of capabilities' own ports. Both
//! look the capability up in the registry on every request and hold that version until
//! the answer is written, so a capability replaced meanwhile finishes the requests it
//! started. Must not touch: what a request means (the REST and MCP adapters' job).
//!
//! MCP on the shared listener: `/{capability}/mcp/{namespace}` is that MCP adapter's
//! endpoint, and `/{capability}/mcp` the capability's first MCP adapter (the path
//! `ikanos run` serves MCP at, under the capability's prefix). Both reach the adapter
//! as `/mcp`. These two paths go to MCP whenever the capability has an MCP adapter
//! (with that namespace); every other path is REST's, except `/{capability}/skills…`,
//! which goes to the capability's first skill adapter when no REST operation is there.
//!
//! Why a path prefix rather than the Host header: it needs no DNS entry or wildcard
//! certificate per capability and works through any proxy; a Host-based scheme can be
//! put in front by a proxy that rewrites to the prefix.

use std::sync::Arc;

use http::{StatusCode, Uri};
use serde_json::json;

use super::{Hosting, Serving, State};
use crate::exposes::mcp::http::HttpTransport;
use crate::exposes::{HttpAdapter, Planned};
use crate::server::{self, Request, Response};

fn not_serving(name: &str, why: &str) -> Response {
    server::json(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({ "error": format!("capability '{name}' is not serving: {why}"), "status": 503 }),
    )
}

/// Errors are boxed: a response is large next to an `Arc`.
fn lookup(hosting: &Hosting, name: &str) -> Result<Arc<Serving>, Box<Response>> {
    match hosting.tenant(name).as_deref().map(|t| &t.state) {
        Some(State::Serving(s)) => Ok(s.clone()),
        Some(State::Failed(why)) => Err(Box::new(not_serving(name, why))),
        None => Err(Box::new(server::json(
            StatusCode::NOT_FOUND,
            &json!({ "error": format!("no capability '{name}' on this host"), "status": 404 }),
        ))),
    }
}

/// The handler of a port a capability's file declares for its adapter `namespace`.
pub(super) fn own_port_handler(
    hosting: Arc<Hosting>,
    name: String,
    namespace: String,
) -> server::Handler {
    Arc::new(move |req| {
        let serving = lookup(&hosting, &name);
        let namespace = namespace.clone();
        let name = name.clone();
        Box::pin(async move {
            let serving = match serving {
                Ok(s) => s,
                Err(resp) => return *resp,
            };
            match serving
                .adapters
                .iter()
                .find(|a| a.namespace == namespace)
                .and_then(Planned::http)
            {
                Some(adapter) => adapter.handle(req).await,
                None => not_serving(
                    &name,
                    &format!("it no longer exposes adapter '{namespace}'"),
                ),
            }
        })
    })
}

/// The shared listener: `/{capability}/rest/of/path?query` → that capability's REST
/// adapter serving `/rest/of/path?query` (the first adapter that has an operation at
/// that path, else the first adapter, which answers 404 in its own words).
pub fn shared_handler(hosting: Arc<Hosting>) -> server::Handler {
    Arc::new(move |req| {
        let hosting = hosting.clone();
        Box::pin(async move { route(&hosting, req).await })
    })
}

async fn route(hosting: &Hosting, req: Request) -> Response {
    let path = req.uri().path();
    let trimmed = path.trim_start_matches('/');
    let (name, rest) = match trimmed.split_once('/') {
        Some((n, r)) => (n.to_string(), format!("/{r}")),
        None => (trimmed.to_string(), "/".to_string()),
    };
    if name.is_empty() {
        let names: Vec<String> = hosting.tenants().iter().map(|t| t.name.clone()).collect();
        return server::json(
            StatusCode::NOT_FOUND,
            &json!({ "error": "name a capability: /{capability}/{path}", "capabilities": names, "status": 404 }),
        );
    }
    let serving = match lookup(hosting, &name) {
        Ok(s) => s,
        Err(resp) => return *resp,
    };
    let mcp = mcp_adapter(&serving, &rest);
    let rest = if mcp.is_some() {
        "/mcp".to_string()
    } else {
        rest
    };
    let (mut parts, body) = req.into_parts();
    let rewritten = match parts.uri.query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.clone(),
    };
    parts.uri = match rewritten.parse::<Uri>() {
        Ok(u) => u,
        Err(_) => {
            return server::json(
                StatusCode::BAD_REQUEST,
                &json!({ "error": "the request path is not valid", "status": 400 }),
            )
        }
    };
    let req = http::Request::from_parts(parts, body);
    if let Some(mcp) = mcp {
        return mcp.handle(req).await;
    }
    let rest_adapters = || {
        serving.adapters.iter().filter_map(|a| match a.http() {
            Some(HttpAdapter::Rest(r)) => Some(r),
            Some(HttpAdapter::Mcp(_) | HttpAdapter::Skill(_)) | None => None,
        })
    };
    let skill = serving.adapters.iter().find_map(|a| match a.http() {
        Some(HttpAdapter::Skill(s)) if s.serves(&rest) => Some(s),
        _ => None,
    });
    if let Some(skill) = skill {
        if !rest_adapters().any(|a| a.serves(&rest)) {
            return skill.handle(req).await;
        }
    }
    // With one REST adapter it answers whatever the path (its own 404 included), so
    // only several need the path matched to choose.
    let adapter = if rest_adapters().nth(1).is_none() {
        rest_adapters().next()
    } else {
        rest_adapters()
            .find(|a| a.serves(&rest))
            .or_else(|| rest_adapters().next())
    };
    match adapter {
        Some(a) => a.handle(req).await,
        None => {
            let mcp: Vec<String> = mcp_adapters(&serving)
                .map(|(ns, _)| format!("/{name}/mcp/{ns}"))
                .collect();
            server::json(
                StatusCode::NOT_FOUND,
                &json!({ "error": format!("capability '{name}' exposes nothing at {rest}"), "mcp": mcp, "status": 404 }),
            )
        }
    }
}

/// The MCP adapters served over HTTP, by namespace.
fn mcp_adapters(serving: &Serving) -> impl Iterator<Item = (&str, &Arc<HttpTransport>)> {
    serving.adapters.iter().filter_map(|a| match a.http() {
        Some(HttpAdapter::Mcp(t)) => Some((a.namespace.as_str(), t)),
        Some(HttpAdapter::Rest(_) | HttpAdapter::Skill(_)) | None => None,
    })
}

/// The MCP adapter a path under the capability's prefix names: `/mcp` (the first one)
/// or `/mcp/{namespace}`.
fn mcp_adapter<'s>(serving: &'s Serving, rest: &str) -> Option<&'s Arc<HttpTransport>> {
    let mut mcp = mcp_adapters(serving);
    match rest.strip_prefix("/mcp") {
        Some("" | "/") => mcp.next().map(|(_, t)| t),
        Some(tail) => {
            let namespace = tail.strip_prefix('/')?.trim_end_matches('/');
            mcp.find(|(ns, _)| *ns == namespace).map(|(_, t)| t)
        }
        None => None,
    }
}
