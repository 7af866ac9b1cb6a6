//! MCP resources and prompts declared in the capability file.
//!
//! Owns: listing resources (a `location` file is one resource; a folder gives one
//! resource per file, at `URI/relative/path`), URI templates (`{name}` placeholders;
//! over a folder they select a file in it), reading them from disk at request time
//! confined to their folder, and rendering prompt templates (`{{arg}}`). Dynamic
//! resources (`call`/`steps`) are resolved to the name and inputs the declarative engine
//! runs (the server runs it). Must not touch: the component, outbound calls or
//! transports.

use std::path::{Component, Path, PathBuf};
use std::sync::LazyLock;

use base64::Engine as _;
use ikanos_spec::model::{Handler, McpPrompt, McpPromptBody, McpResource, McpResourceSource};
use regex::Regex;
use serde_json::{json, Map, Value};

use super::protocol::RpcError;

/// Largest resource or prompt file served.
const MAX_FILE: u64 = 16 << 20;

pub struct Resources {
    /// Concrete resources: (descriptor for `resources/list`, where its content is).
    fixed: Vec<(Value, Source)>,
    /// URI templates: (descriptor for `resources/templates/list`, matcher, source).
    templates: Vec<(Value, Regex, Source)>,
}

#[derive(Clone)]
enum Source {
    File {
        path: PathBuf,
        mime: Option<String>,
    },
    /// A template over a folder: the captured values, joined by `/`, name a file in it.
    Folder {
        root: PathBuf,
        /// `root` resolved once, for the check that a file stays inside it.
        canonical_root: Option<PathBuf>,
        mime: Option<String>,
    },
    /// `call`/`steps`: the declarative engine answers.
    Dynamic {
        name: String,
        handler: Handler,
        mime: Option<String>,
    },
}

/// Where a resource's content comes from.
enum Located {
    File {
        path: PathBuf,
        mime: Option<String>,
    },
    Dynamic {
        name: String,
        handler: Handler,
        inputs: Vec<(String, String)>,
        mime: Option<String>,
    },
}

/// What reading a resource gives.
pub enum Read {
    /// The `contents` result, read here.
    Content(Value),
    /// A dynamic resource: run resource `name` with `inputs` (the URI template's values).
    Dynamic {
        name: String,
        handler: Handler,
        inputs: Vec<(String, String)>,
        mime: Option<String>,
    },
}

/// A dynamic resource's answer as the `contents` result: text when it is UTF-8, a
/// base64 `blob` otherwise (binary resources).
pub fn dynamic_contents(uri: &str, mime: Option<&str>, content_type: &str, body: Vec<u8>) -> Value {
    let mut content = Map::new();
    content.insert("uri".into(), json!(uri));
    let mime = mime.unwrap_or(content_type);
    if !mime.is_empty() {
        content.insert("mimeType".into(), json!(mime));
    }
    let binary = !(mime.starts_with("text/")
        || mime.contains("json")
        || mime.contains("xml")
        || mime.contains("yaml"));
    match String::from_utf8(body) {
        Ok(text) if !binary => content.insert("text".into(), json!(text)),
        Ok(text) => content.insert(
            "blob".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(text.as_bytes())),
        ),
        Err(e) => content.insert(
            "blob".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(e.as_bytes())),
        ),
    };
    json!({ "contents": [Value::Object(content)] })
}

/// The `{name}` placeholders of a URI template, in order.
fn placeholder_names(uri: &str) -> Vec<String> {
    PLACEHOLDER
        .captures_iter(uri)
        .map(|c| c[2].to_owned())
        .collect()
}

fn descriptor(r: &McpResource, uri_key: &str, uri: &str, name: &str, mime: Option<&str>) -> Value {
    let mut d = json!({ uri_key: uri, "name": name });
    if let Some(t) = &r.display {
        d["title"] = json!(t);
    }
    if let Some(desc) = &r.description {
        d["description"] = json!(desc);
    }
    if let Some(m) = mime {
        d["mimeType"] = json!(m);
    }
    d
}

/// `{name}` / `{+name}` placeholders of an RFC 6570 template as a regex: simple ones
/// match one path segment, `{+name}` and `{name*}` any rest.
static PLACEHOLDER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{([+#]?)([A-Za-z0-9_.]+)(\*?)\}").unwrap());

fn template_regex(uri: &str) -> Option<Regex> {
    if !PLACEHOLDER.is_match(uri) {
        return None;
    }
    let mut pattern = String::from("^");
    let mut last = 0;
    for c in PLACEHOLDER.captures_iter(uri) {
        let m = c.get(0).unwrap();
        pattern.push_str(&regex::escape(&uri[last..m.start()]));
        let greedy = !c[1].is_empty() || !c[3].is_empty();
        pattern.push_str(if greedy { "(.+)" } else { "([^/]+)" });
        last = m.end();
    }
    pattern.push_str(&regex::escape(&uri[last..]));
    pattern.push('$');
    Regex::new(&pattern).ok()
}

fn guess_mime(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("json") => "application/json",
        Some("md" | "markdown") => "text/markdown",
        Some("yaml" | "yml") => "application/yaml",
        Some("html" | "htm") => "text/html",
        Some("csv") => "text/csv",
        Some("xml") => "application/xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("pdf") => "application/pdf",
        _ => "text/plain",
    }
}

/// Regular files under `root`, as paths relative to it, sorted (symlinks not followed).
fn files_under(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in std::fs::read_dir(root.join(&rel))? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let child = rel.join(entry.file_name());
            if kind.is_dir() {
                stack.push(child);
            } else if kind.is_file() {
                out.push(child);
            }
        }
    }
    out.sort();
    Ok(out)
}

impl Resources {
    pub fn new(specs: &[McpResource]) -> Result<Resources, String> {
        let mut fixed = Vec::new();
        let mut templates = Vec::new();
        for r in specs {
            let name = r.name.value.as_str();
            let uri = r.uri.value.as_str();
            let at = format!("{}:{}: resource '{name}'", r.name.file.display(), r.pos);
            let source = match &r.source {
                McpResourceSource::Dynamic(h) => Source::Dynamic {
                    name: name.to_owned(),
                    handler: h.clone(),
                    mime: r.mime_type.clone(),
                },
                McpResourceSource::Location(path) => {
                    let meta = std::fs::metadata(&path.value)
                        .map_err(|e| format!("{at}: location {}: {e}", path.value.display()))?;
                    if meta.is_dir() {
                        if template_regex(uri).is_none() {
                            // One resource per file of the folder.
                            let files = files_under(&path.value).map_err(|e| {
                                format!("{at}: reading {}: {e}", path.value.display())
                            })?;
                            for rel in files {
                                let rel_uri = rel
                                    .components()
                                    .map(|c| c.as_os_str().to_string_lossy())
                                    .collect::<Vec<_>>()
                                    .join("/");
                                let file_uri = format!("{}/{rel_uri}", uri.trim_end_matches('/'));
                                let file = path.value.join(&rel);
                                let mime = r
                                    .mime_type
                                    .clone()
                                    .unwrap_or_else(|| guess_mime(&file).into());
                                let d = descriptor(
                                    r,
                                    "uri",
                                    &file_uri,
                                    &format!("{name}/{rel_uri}"),
                                    Some(&mime),
                                );
                                fixed.push((
                                    d,
                                    Source::File {
                                        path: file,
                                        mime: Some(mime),
                                    },
                                ));
                            }
                            continue;
                        }
                        Source::Folder {
                            root: path.value.clone(),
                            canonical_root: std::fs::canonicalize(&path.value).ok(),
                            mime: r.mime_type.clone(),
                        }
                    } else {
                        Source::File {
                            path: path.value.clone(),
                            mime: Some(
                                r.mime_type
                                    .clone()
                                    .unwrap_or_else(|| guess_mime(&path.value).into()),
                            ),
                        }
                    }
                }
            };
            let mime = match &source {
                Source::File { mime, .. } | Source::Folder { mime, .. } => mime.clone(),
                Source::Dynamic { mime, .. } => mime.clone(),
            };
            match template_regex(uri) {
                Some(re) => templates.push((
                    descriptor(r, "uriTemplate", uri, name, mime.as_deref()),
                    re,
                    source,
                )),
                None => fixed.push((descriptor(r, "uri", uri, name, mime.as_deref()), source)),
            }
        }
        Ok(Resources { fixed, templates })
    }

    pub fn is_empty(&self) -> bool {
        self.fixed.is_empty() && self.templates.is_empty()
    }

    pub fn list(&self) -> Value {
        Value::Array(self.fixed.iter().map(|(d, _)| d.clone()).collect())
    }

    pub fn templates(&self) -> Value {
        Value::Array(self.templates.iter().map(|(d, _, _)| d.clone()).collect())
    }

    /// Where `uri`'s content comes from: a file (and its MIME type), or a dynamic
    /// resource to run; `None` when no resource has that URI (or a template's values
    /// would lead out of its folder).
    fn locate(&self, uri: &str) -> Option<Located> {
        let (path, mime) =
            if let Some((_, source)) = self.fixed.iter().find(|(d, _)| d["uri"] == uri) {
                match source {
                    Source::File { path, mime } => (path.clone(), mime.clone()),
                    Source::Dynamic {
                        name,
                        handler,
                        mime,
                    } => {
                        return Some(Located::Dynamic {
                            name: name.clone(),
                            handler: handler.clone(),
                            inputs: Vec::new(),
                            mime: mime.clone(),
                        })
                    }
                    Source::Folder { .. } => return None,
                }
            } else {
                let (descriptor, re, source) =
                    self.templates.iter().find(|(_, re, _)| re.is_match(uri))?;
                match source {
                    Source::Dynamic {
                        name,
                        handler,
                        mime,
                    } => {
                        let template = descriptor["uriTemplate"].as_str().unwrap_or_default();
                        let caps = re.captures(uri)?;
                        let inputs = placeholder_names(template)
                            .into_iter()
                            .zip(caps.iter().skip(1))
                            .filter_map(|(n, m)| {
                                let v = percent_encoding::percent_decode_str(m?.as_str())
                                    .decode_utf8_lossy()
                                    .into_owned();
                                Some((n, v))
                            })
                            .collect();
                        return Some(Located::Dynamic {
                            name: name.clone(),
                            handler: handler.clone(),
                            inputs,
                            mime: mime.clone(),
                        });
                    }
                    Source::File { path, mime } => (path.clone(), mime.clone()),
                    Source::Folder {
                        root,
                        canonical_root,
                        mime,
                    } => {
                        let caps = re.captures(uri)?;
                        let rel: Vec<String> = caps
                            .iter()
                            .skip(1)
                            .flatten()
                            .map(|m| {
                                percent_encoding::percent_decode_str(m.as_str())
                                    .decode_utf8_lossy()
                                    .into_owned()
                            })
                            .collect();
                        let rel = PathBuf::from(rel.join("/"));
                        // Only plain names below the folder: no `..`, no absolute paths.
                        if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
                            return None;
                        }
                        let path = root.join(&rel);
                        // A symlinked folder inside may not lead out of it either.
                        let inside = match (std::fs::canonicalize(&path), canonical_root) {
                            (Ok(p), Some(r)) => p.starts_with(r),
                            _ => false,
                        };
                        if !inside {
                            return None;
                        }
                        let mime = mime.clone().or_else(|| Some(guess_mime(&path).into()));
                        (path, mime)
                    }
                }
            };
        Some(Located::File { path, mime })
    }

    /// `completion/complete` for argument `arg` of the resource template `template`:
    /// the values starting with `prefix`. A template over a folder with one placeholder
    /// completes to the files in it (one path segment for `{name}`, any depth for
    /// `{+name}`); other templates have no values to offer. An unknown template or
    /// argument is -32602.
    pub fn complete(
        &self,
        template: &str,
        arg: &str,
        prefix: &str,
    ) -> Result<Vec<String>, RpcError> {
        let Some((_, _, source)) = self
            .templates
            .iter()
            .find(|(d, _, _)| d["uriTemplate"] == template)
        else {
            return Err(RpcError::invalid_params(format!(
                "Unknown resource template: {template}"
            )));
        };
        let placeholders: Vec<_> = PLACEHOLDER.captures_iter(template).collect();
        let Some(this) = placeholders.iter().find(|c| &c[2] == arg) else {
            return Err(RpcError::invalid_params(format!(
                "resource template {template} has no argument '{arg}'"
            )));
        };
        let Source::Folder { root, .. } = source else {
            return Ok(Vec::new());
        };
        if placeholders.len() != 1 {
            return Ok(Vec::new());
        }
        let any_depth = !this[1].is_empty() || !this[3].is_empty();
        // A folder that cannot be listed offers nothing; reading says why.
        let files = files_under(root).unwrap_or_default();
        Ok(files
            .iter()
            .map(|rel| {
                rel.components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
            })
            .filter(|segments| any_depth || segments.len() == 1)
            .map(|segments| segments.join("/"))
            .filter(|v| v.starts_with(prefix))
            .collect())
    }

    /// Whether `uri` names a resource (what a subscription may name).
    pub fn read_target_exists(&self, uri: &str) -> bool {
        self.locate(uri).is_some()
    }

    /// The file behind `uri`, when it is a file resource (what a subscription watches).
    pub fn file_of(&self, uri: &str) -> Option<PathBuf> {
        match self.locate(uri)? {
            Located::File { path, .. } => Some(path),
            Located::Dynamic { .. } => None,
        }
    }

    /// The `contents` of `uri`. `not_found` is the error code for an unknown URI
    /// (it differs between protocol revisions).
    pub fn read(&self, uri: &str, not_found: i64) -> Result<Read, RpcError> {
        let unknown = || {
            let mut e = RpcError::new(not_found, format!("Resource not found: {uri}"));
            e.data = Some(json!({ "uri": uri }));
            e
        };
        let (path, mime) = match self.locate(uri).ok_or_else(unknown)? {
            Located::File { path, mime } => (path, mime),
            Located::Dynamic {
                name,
                handler,
                inputs,
                mime,
            } => {
                return Ok(Read::Dynamic {
                    name,
                    handler,
                    inputs,
                    mime,
                })
            }
        };
        let bytes = read_file(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => unknown(),
            _ => RpcError::new(
                super::protocol::INTERNAL_ERROR,
                format!("reading resource {uri} failed: {e}"),
            ),
        })?;
        let mut content = Map::new();
        content.insert("uri".into(), json!(uri));
        if let Some(m) = &mime {
            content.insert("mimeType".into(), json!(m));
        }
        match String::from_utf8(bytes) {
            Ok(text) => content.insert("text".into(), json!(text)),
            Err(e) => content.insert(
                "blob".into(),
                json!(base64::engine::general_purpose::STANDARD.encode(e.as_bytes())),
            ),
        };
        Ok(Read::Content(
            json!({ "contents": [Value::Object(content)] }),
        ))
    }
}

/// Read a regular file (not a symlink out of the folder, not a device), at most MAX_FILE.
fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "not a regular file",
        ));
    }
    if meta.len() > MAX_FILE {
        return Err(std::io::Error::other(format!(
            "the file is larger than {} MiB",
            MAX_FILE >> 20
        )));
    }
    std::fs::read(path)
}

pub struct Prompts {
    prompts: Vec<McpPrompt>,
}

static ARG_REF: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{\{\s*([A-Za-z0-9_*-]+)\s*\}\}").unwrap());

impl Prompts {
    pub fn new(prompts: &[McpPrompt]) -> Prompts {
        Prompts {
            prompts: prompts.to_vec(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }

    pub fn list(&self) -> Value {
        Value::Array(
            self.prompts
                .iter()
                .map(|p| {
                    let mut d = json!({ "name": p.name.value });
                    if let Some(t) = &p.display {
                        d["title"] = json!(t);
                    }
                    if let Some(desc) = &p.description {
                        d["description"] = json!(desc);
                    }
                    let args: Vec<Value> = p
                        .arguments
                        .iter()
                        .map(|a| {
                            let mut v = json!({ "name": a.name.value, "required": a.required });
                            if let Some(t) = &a.display {
                                v["title"] = json!(t);
                            }
                            if let Some(d) = &a.description {
                                v["description"] = json!(d);
                            }
                            v
                        })
                        .collect();
                    if !args.is_empty() {
                        d["arguments"] = Value::Array(args);
                    }
                    d
                })
                .collect(),
        )
    }

    /// `completion/complete` for argument `arg` of prompt `name`. Prompt arguments are
    /// free text in the file (no value set to offer), so a known argument completes to
    /// nothing; an unknown prompt or argument is -32602.
    pub fn complete(&self, name: &str, arg: &str) -> Result<Vec<String>, RpcError> {
        let p = self
            .prompts
            .iter()
            .find(|p| p.name.value == name)
            .ok_or_else(|| RpcError::invalid_params(format!("Unknown prompt: {name}")))?;
        if !p.arguments.iter().any(|a| a.name.value == arg) {
            return Err(RpcError::invalid_params(format!(
                "prompt '{name}' has no argument '{arg}'"
            )));
        }
        Ok(Vec::new())
    }

    /// `prompts/get`: the messages with `{{arg}}` replaced by the caller's values
    /// (an optional argument left out renders as nothing).
    pub fn get(&self, name: &str, arguments: Option<&Value>) -> Result<Value, RpcError> {
        let p = self
            .prompts
            .iter()
            .find(|p| p.name.value == name)
            .ok_or_else(|| RpcError::invalid_params(format!("Unknown prompt: {name}")))?;
        let empty = Map::new();
        let args = match arguments {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(m)) => m,
            Some(_) => return Err(RpcError::invalid_params("arguments must be an object")),
        };
        let mut values = std::collections::HashMap::new();
        for (k, v) in args {
            let Some(s) = v.as_str() else {
                return Err(RpcError::invalid_params(format!(
                    "argument '{k}' must be a string"
                )));
            };
            values.insert(k.as_str(), s);
        }
        if let Some(missing) = p
            .arguments
            .iter()
            .find(|a| a.required && !values.contains_key(a.name.value.as_str()))
        {
            return Err(RpcError::invalid_params(format!(
                "prompt '{name}': missing required argument '{}'",
                missing.name.value
            )));
        }
        let render = |text: &str| {
            ARG_REF
                .replace_all(text, |c: &regex::Captures| {
                    values.get(&c[1]).copied().unwrap_or_default().to_string()
                })
                .into_owned()
        };
        let messages: Vec<Value> = match &p.body {
            McpPromptBody::Template(msgs) => msgs
                .iter()
                .map(|(role, content)| {
                    json!({ "role": role, "content": { "type": "text", "text": render(content) } })
                })
                .collect(),
            McpPromptBody::Location(path) => {
                let bytes = read_file(&path.value).map_err(|e| {
                    RpcError::new(
                        super::protocol::INTERNAL_ERROR,
                        format!("prompt '{name}': reading its template failed: {e}"),
                    )
                })?;
                let text = String::from_utf8_lossy(&bytes);
                vec![json!({ "role": "user", "content": { "type": "text", "text": render(&text) } })]
            }
        };
        let mut out = json!({ "messages": messages });
        if let Some(d) = &p.description {
            out["description"] = json!(d);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_segments() {
        let re = template_regex("data://users/{userId}/profile").unwrap();
        assert!(re.is_match("data://users/42/profile"));
        assert!(!re.is_match("data://users/4/2/profile"));
        let re = template_regex("docs://guides/{+path}").unwrap();
        assert_eq!(&re.captures("docs://guides/a/b.md").unwrap()[1], "a/b.md");
        assert!(template_regex("docs://readme").is_none());
    }
}
