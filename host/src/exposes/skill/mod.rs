//! The skill adapter (`exposes` entry of `type: skill`, upstream's `SkillServerAdapter`):
//! a read-only catalogue of agent skills over HTTP.
//!
//! Serves `GET /skills` (catalogue), `/skills/{name}` (detail with its tools),
//! `/skills/{name}/download` (the skill's folder as a ZIP), `/skills/{name}/contents`
//! (its files) and `/skills/{name}/contents/{file…}` (one file), with the JSON shapes
//! upstream serves. It runs no tools: a `from` tool points agents at a sibling REST
//! operation or MCP tool, an `instruction` tool at a file in the skill's folder.
//!
//! Owns: routing these paths, the shared inbound pipeline (request id, DNS-rebinding
//! check, authentication) and the mapping of file errors to statuses. Must not touch:
//! the file system beyond the skill's folder (`files` confines every read), the
//! component or outbound calls.

mod files;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use ikanos_spec::model::{ExposedSkill, Exposes, ExposesSkill, SkillToolSource};
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};
use tracing::Instrument;

use self::files::{FileError, Folder};
use super::auth::InboundAuth;
use super::inbound::{self, Inbound};
use crate::capability::{BindPolicy, LoadedCapability};
use crate::server::{self, Response};
use crate::telemetry::traces::Side;
use crate::telemetry::{AdapterType, Metrics};

struct Skill {
    name: String,
    detail: Bytes,
    folder: Option<Folder>,
}

pub struct SkillAdapter {
    capability: String,
    namespace: String,
    auth: InboundAuth,
    catalog: Bytes,
    skills: Vec<Skill>,
    metrics: Arc<Metrics>,
}

/// Which endpoint a path names (also the operation label of metrics).
enum Route<'a> {
    Catalog,
    Detail(&'a str),
    Download(&'a str),
    Contents(&'a str),
    File(&'a str, Vec<String>),
}

/// What a route reads from the skill's folder.
enum Disk {
    Download,
    Contents,
    File(Vec<String>),
}

impl Route<'_> {
    fn label(&self) -> &'static str {
        match self {
            Route::Catalog => "catalog",
            Route::Detail(_) => "detail",
            Route::Download(_) => "download",
            Route::Contents(_) => "contents",
            Route::File(..) => "file",
        }
    }
}

/// `/skills…` split into a route; None when it names no endpoint. Segments are
/// percent-decoded one by one, so `%2F` never becomes a separator.
fn parse_route(path: &str) -> Option<Route<'_>> {
    let rest = path.strip_prefix("/skills")?;
    if rest.is_empty() || rest == "/" {
        return Some(Route::Catalog);
    }
    let rest = rest.strip_prefix('/')?;
    let (name, tail) = match rest.split_once('/') {
        Some((n, t)) => (n, Some(t)),
        None => (rest, None),
    };
    match tail {
        None | Some("") => Some(Route::Detail(name)),
        Some("download") => Some(Route::Download(name)),
        Some("contents") | Some("contents/") => Some(Route::Contents(name)),
        Some(t) => {
            let file = t.strip_prefix("contents/")?;
            let segments = file
                .split('/')
                .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
                .collect();
            Some(Route::File(name, segments))
        }
    }
}

fn opt(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        map.insert(key.to_string(), v);
    }
}

/// `/skills/{name}`: the skill's frontmatter and its tools (upstream's `DetailResource`).
fn detail(skill: &ExposedSkill, modes: &HashMap<String, &'static str>) -> Value {
    let mut d = Map::new();
    d.insert("name".into(), json!(skill.name.value));
    d.insert("description".into(), json!(skill.description));
    opt(&mut d, "license", skill.license.as_ref().map(|v| json!(v)));
    opt(
        &mut d,
        "compatibility",
        skill.compatibility.as_ref().map(|v| json!(v)),
    );
    opt(
        &mut d,
        "argument-hint",
        skill.argument_hint.as_ref().map(|v| json!(v)),
    );
    opt(
        &mut d,
        "allowed-tools",
        skill.allowed_tools.as_ref().map(|v| json!(v)),
    );
    opt(
        &mut d,
        "user-invocable",
        skill.user_invocable.map(|v| json!(v)),
    );
    opt(
        &mut d,
        "disable-model-invocation",
        skill.disable_model_invocation.map(|v| json!(v)),
    );
    if !skill.metadata.is_empty() {
        let meta: Map<String, Value> = skill
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        d.insert("metadata".into(), Value::Object(meta));
    }
    let tools: Vec<Value> = skill
        .tools
        .iter()
        .map(|t| match &t.source {
            SkillToolSource::From { namespace, action } => json!({
                "name": t.name.value,
                "description": t.description,
                "type": "derived",
                "invocationRef": {
                    "targetNamespace": namespace.value,
                    "action": action.value,
                    "mode": modes.get(&namespace.value).copied().unwrap_or("unknown"),
                },
            }),
            SkillToolSource::Instruction(file) => json!({
                "name": t.name.value,
                "description": t.description,
                "type": "instruction",
                "instruction": file.value,
            }),
        })
        .collect();
    d.insert("tools".into(), Value::Array(tools));
    Value::Object(d)
}

/// `/skills`: name, description, license and tool names of every skill.
fn catalog(spec: &ExposesSkill) -> Value {
    let skills: Vec<Value> = spec
        .skills
        .iter()
        .map(|s| {
            let mut e = Map::new();
            e.insert("name".into(), json!(s.name.value));
            e.insert("description".into(), json!(s.description));
            opt(&mut e, "license", s.license.as_ref().map(|v| json!(v)));
            let tools: Vec<&str> = s.tools.iter().map(|t| t.name.value.as_str()).collect();
            e.insert("tools".into(), json!(tools));
            Value::Object(e)
        })
        .collect();
    json!({ "count": skills.len(), "skills": skills })
}

fn error(status: StatusCode, request_id: &str, message: &str) -> Response {
    server::json(
        status,
        &json!({ "error": message, "status": status.as_u16(), "requestId": request_id }),
    )
}

fn bytes_response(content_type: &'static str, body: Vec<u8>) -> Response {
    let mut resp = http::Response::new(Bytes::from(body).into());
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    resp
}

impl SkillAdapter {
    pub fn new(
        capability: &LoadedCapability,
        spec: &ExposesSkill,
        metrics: Arc<Metrics>,
    ) -> Result<Self, String> {
        let at = |msg: String| {
            format!(
                "{}:{}: skill adapter '{}': {msg}",
                spec.namespace.file.display(),
                spec.pos,
                spec.namespace.value
            )
        };
        let auth =
            InboundAuth::resolve(spec.authentication.as_ref(), &capability.secrets).map_err(at)?;
        let modes: HashMap<String, &'static str> = capability
            .model
            .exposes
            .iter()
            .filter_map(|e| match e {
                Exposes::Rest(r) => Some((r.namespace.value.clone(), "rest")),
                Exposes::Mcp(m) => Some((m.namespace.value.clone(), "mcp")),
                Exposes::Skill(_) | Exposes::Control(_) => None,
            })
            .collect();
        let confine: Option<PathBuf> = match &capability.binds {
            BindPolicy::Trusted => None,
            BindPolicy::Confined { folder, .. } => Some(folder.clone()),
        };
        let mut skills = Vec::new();
        for s in &spec.skills {
            let folder = s.location.as_ref().map(|l| Folder {
                skill: s.name.value.clone(),
                path: l.value.clone(),
                confine: confine.clone(),
            });
            // A folder that exists but lies outside the capability's folder is refused
            // at start-up, naming where it is declared (a missing one answers 404).
            if let (Some(f), Some(l)) = (&folder, &s.location) {
                if let Err(e @ FileError::FolderOutside(_)) = f.root() {
                    return Err(format!("{}:{}: {e}", l.file.display(), l.pos));
                }
                if confine.is_some() && lexically_outside(&l.value, confine.as_deref()) {
                    return Err(format!(
                        "{}:{}: {}",
                        l.file.display(),
                        l.pos,
                        FileError::FolderOutside(s.name.value.clone())
                    ));
                }
            }
            skills.push(Skill {
                name: s.name.value.clone(),
                detail: Bytes::from(detail(s, &modes).to_string()),
                folder,
            });
        }
        Ok(SkillAdapter {
            capability: capability.name.clone(),
            namespace: spec.namespace.value.clone(),
            auth,
            catalog: Bytes::from(catalog(spec).to_string()),
            skills,
            metrics,
        })
    }

    /// Whether `path` is one of this adapter's endpoints (`ikanos serve`'s shared
    /// listener uses it to pick among a capability's adapters).
    pub fn serves(&self, path: &str) -> bool {
        parse_route(path).is_some()
    }

    /// Answer one request (its path relative to the adapter).
    pub async fn handle<B>(&self, req: http::Request<B>) -> Response {
        let started = Instant::now();
        let inbound = Inbound::begin(&req);
        let request_id = inbound.request_id.clone();
        let method = req.method().clone();
        let span = tracing::info_span!("request", otel.kind = "server", capability = %self.capability, adapter = "skill", namespace = %self.namespace, %method, path = %req.uri().path(), request_id = %request_id);
        crate::telemetry::propagation::continue_from(&span, req.headers());
        let (label, resp) = self.route(req, &request_id).instrument(span.clone()).await;
        let resp = inbound.finish(resp);
        let status = resp.status().as_u16();
        crate::telemetry::traces::record_status(&span, Side::Server, Some(status));
        self.metrics.record_request(
            &self.capability,
            AdapterType::skill,
            label,
            method.as_str(),
            status,
            started.elapsed(),
        );
        span.in_scope(|| {
            tracing::info!(
                status,
                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                "handled"
            )
        });
        resp
    }

    async fn route<B>(&self, req: http::Request<B>, request_id: &str) -> (&'static str, Response) {
        let render = |status: StatusCode, message: &str| error(status, request_id, message);
        if let Err(refusal) = inbound::check_rebinding(&req) {
            return ("unmatched", refusal.render(render));
        }
        let (parts, _body) = req.into_parts();
        if let Err(refusal) = inbound::authenticate(&self.auth, &parts).await {
            return ("unmatched", refusal.render(render));
        }
        let path = parts.uri.path();
        let Some(route) = parse_route(path) else {
            return (
                "unmatched",
                render(
                    StatusCode::NOT_FOUND,
                    &format!("no skill endpoint at {path}; see /skills"),
                ),
            );
        };
        let label = route.label();
        if parts.method != Method::GET {
            let mut resp = render(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("{} is not allowed here; use GET", parts.method),
            );
            resp.headers_mut()
                .insert(http::header::ALLOW, HeaderValue::from_static("GET"));
            return (label, resp);
        }
        (label, self.answer(route, request_id).await)
    }

    fn skill(&self, name: &str) -> Option<&Skill> {
        let name = percent_decode_str(name).decode_utf8_lossy();
        self.skills.iter().find(|s| s.name == name)
    }

    async fn answer(&self, route: Route<'_>, request_id: &str) -> Response {
        let json_bytes = |b: &Bytes| {
            let mut resp = http::Response::new(b.clone().into());
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        };
        let name = match &route {
            Route::Catalog => return json_bytes(&self.catalog),
            Route::Detail(n) | Route::Download(n) | Route::Contents(n) | Route::File(n, _) => *n,
        };
        let Some(skill) = self.skill(name) else {
            let shown = percent_decode_str(name).decode_utf8_lossy();
            return error(
                StatusCode::NOT_FOUND,
                request_id,
                &format!("skill not found: {shown}"),
            );
        };
        if let Route::Detail(_) = route {
            return json_bytes(&skill.detail);
        }
        let Some(folder) = skill.folder.clone() else {
            return error(
                StatusCode::NOT_FOUND,
                request_id,
                &format!("no location configured for skill: {}", skill.name),
            );
        };
        let skill_name = skill.name.clone();
        let work = match route {
            Route::Download(_) => Disk::Download,
            Route::Contents(_) => Disk::Contents,
            Route::File(_, segments) => Disk::File(segments),
            Route::Catalog | Route::Detail(_) => return json_bytes(&skill.detail),
        };
        // Disk work off the async workers.
        let outcome = tokio::task::spawn_blocking(move || match work {
            Disk::Download => folder
                .zip()
                .map(|zip| bytes_response("application/zip", zip)),
            Disk::Contents => folder.list().map(|files| {
                let files: Vec<Value> = files
                    .into_iter()
                    .map(|(path, _, size)| {
                        let kind = files::media_type(&path);
                        json!({ "path": path, "size": size, "type": kind })
                    })
                    .collect();
                server::json(
                    StatusCode::OK,
                    &json!({ "name": skill_name, "files": files }),
                )
            }),
            Disk::File(segments) => folder.read(&segments).map(|data| {
                let kind = files::media_type(segments.last().map_or("", String::as_str));
                bytes_response(kind, data)
            }),
        })
        .await;
        match outcome {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => {
                let status = match &e {
                    FileError::UnsafeSegment(_) | FileError::Escape => StatusCode::BAD_REQUEST,
                    FileError::NoFolder(_) | FileError::NotFound(_) => StatusCode::NOT_FOUND,
                    FileError::FolderOutside(_) => StatusCode::FORBIDDEN,
                    FileError::TooLarge { .. } | FileError::TooMany(_) | FileError::Io(_) => {
                        StatusCode::INTERNAL_SERVER_ERROR
                    }
                };
                if status.is_server_error() || status == StatusCode::FORBIDDEN {
                    tracing::warn!(error = %e, "skill request failed");
                }
                error(status, request_id, &e.to_string())
            }
            Err(e) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                request_id,
                &format!("reading the skill's folder failed: {e}"),
            ),
        }
    }
}

/// Does `path`, with `.` and `..` taken lexically, leave `folder`? (For folders that do
/// not exist yet and so cannot be resolved.)
fn lexically_outside(path: &std::path::Path, folder: Option<&std::path::Path>) -> bool {
    use std::path::Component;
    let Some(folder) = folder else { return false };
    let mut normal = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other.as_os_str()),
        }
    }
    let folder_abs = folder
        .canonicalize()
        .unwrap_or_else(|_| folder.to_path_buf());
    let path_abs = normal.canonicalize().unwrap_or(normal.clone());
    !(path_abs.starts_with(&folder_abs) || normal.starts_with(folder))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_the_upstream_paths() {
        assert!(matches!(parse_route("/skills"), Some(Route::Catalog)));
        assert!(matches!(parse_route("/skills/"), Some(Route::Catalog)));
        assert!(matches!(parse_route("/skills/a"), Some(Route::Detail("a"))));
        assert!(matches!(
            parse_route("/skills/a/download"),
            Some(Route::Download("a"))
        ));
        assert!(matches!(
            parse_route("/skills/a/contents"),
            Some(Route::Contents("a"))
        ));
        let Some(Route::File("a", segs)) = parse_route("/skills/a/contents/docs/x%2Fy.md") else {
            panic!("file route");
        };
        assert_eq!(
            segs,
            ["docs", "x/y.md"],
            "an encoded slash stays in its segment"
        );
        assert!(parse_route("/skillsx").is_none());
        assert!(parse_route("/other").is_none());
        assert!(parse_route("/skills/a/nope").is_none());
    }

    #[test]
    fn a_lexical_climb_out_of_the_folder_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let cap = dir.path().join("cap");
        std::fs::create_dir_all(&cap).unwrap();
        assert!(lexically_outside(&cap.join("../x"), Some(&cap)));
        assert!(!lexically_outside(&cap.join("skills/x"), Some(&cap)));
        assert!(!lexically_outside(&cap.join("../x"), None));
    }
}
