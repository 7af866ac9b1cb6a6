//! Bind resolution at run time (`ikanos run`): bind declarations → secret values.
//!
//! Owns: reading bind sources (a flat YAML/JSON file, or environment variables),
//! keeping the values out of every message (`Secret` prints `<redacted>`, errors name
//! keys and files, never values), and rendering templates with them.
//! Relative file locations are read through a `cap_std::fs::Dir` opened on the
//! declaring file's folder, so `..` and symlinks that lead outside it are refused by
//! the OS-level lookup, not only by a string test. An absolute `file:///…` location is
//! the operator's explicit choice and is read as is.
//! Must not touch: the loader's diagnostics (a capability reaching here already
//! loaded) or the network.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::location::{self, Location};
use crate::model::{Bind, Capability, Pos, Spanned, Template, TemplatePart};
use crate::yaml::{self, Value};

/// A secret or setting read from a bind. Debug and Display never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a value (e.g. a rendered header) so that it stays redacted in logs.
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// The value itself: use it only where it must go on the wire or into a provider.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Every bind variable of a capability, by namespace and flat.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    by_ns: BTreeMap<String, BTreeMap<String, Secret>>,
    /// `{{VAR}}` without a namespace: all binds merged, later declarations win (as upstream).
    flat: BTreeMap<String, Secret>,
}

impl Secrets {
    /// `namespace` Some: that bind's variable; None: the flat view.
    pub fn get(&self, namespace: Option<&str>, name: &str) -> Option<&Secret> {
        match namespace {
            Some(ns) => self.by_ns.get(ns)?.get(name),
            None => self.flat.get(name),
        }
    }

    /// Render a template. Refs with a namespace → binds. Flat refs → a bind variable of
    /// that name if one exists, else `params(name)`.
    pub fn render(
        &self,
        t: &Template,
        params: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Secret, RenderError> {
        let mut out = String::with_capacity(t.raw.value.len());
        for part in &t.parts {
            match part {
                TemplatePart::Literal(s) => out.push_str(s),
                TemplatePart::Ref {
                    namespace: Some(ns),
                    name,
                } => match self.get(Some(ns), name) {
                    Some(v) => out.push_str(v.expose()),
                    None => return Err(RenderError::new(t, part)),
                },
                TemplatePart::Ref {
                    namespace: None,
                    name,
                } => match self.get(None, name) {
                    Some(v) => out.push_str(v.expose()),
                    None => match params(name) {
                        Some(v) => out.push_str(&v),
                        None => return Err(RenderError::new(t, part)),
                    },
                },
            }
        }
        Ok(Secret(out))
    }

    /// Number of variables resolved (flat view).
    pub fn len(&self) -> usize {
        self.flat.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flat.is_empty()
    }
}

/// A template reference with no value. Names the reference, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{pos}: unresolved reference '{reference}'", file.display())]
pub struct RenderError {
    pub file: PathBuf,
    pub pos: Pos,
    /// As written, e.g. `{{secrets.TOKEN}}`.
    pub reference: String,
}

impl RenderError {
    fn new(t: &Template, part: &TemplatePart) -> Self {
        RenderError {
            file: t.raw.file.clone(),
            pos: t.raw.pos,
            reference: part.display(),
        }
    }
}

/// Where a bind problem is: `file:line:col: binds[0] 'ns'` (the common message head).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindSite {
    pub file: PathBuf,
    pub pos: Pos,
    /// Field path of the bind, e.g. `binds[0]`.
    pub field: String,
    pub namespace: String,
}

impl fmt::Display for BindSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {} '{}'",
            self.file.display(),
            self.pos,
            self.field,
            self.namespace
        )
    }
}

/// Why a bind could not be resolved. Messages never contain a bind value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    #[error("{site} key {var}: key '{key}' not found in {location}")]
    KeyNotFound {
        site: Box<BindSite>,
        var: String,
        key: String,
        location: String,
    },
    #[error("{site} key {var}: key '{key}' in {location} holds {kind}; bind files map keys to single values")]
    NotScalar {
        site: Box<BindSite>,
        var: String,
        key: String,
        location: String,
        kind: &'static str,
    },
    #[error("{site} file {location}: {reason}")]
    File {
        site: Box<BindSite>,
        location: String,
        reason: String,
    },
    #[error("{site} file {location}: path escapes the capability folder")]
    Escapes {
        site: Box<BindSite>,
        location: String,
    },
    #[error("{site} file {location}: not a flat YAML or JSON map ({reason})")]
    Format {
        site: Box<BindSite>,
        location: String,
        reason: String,
    },
    #[error("{site} key {var}: environment variable {env} is not set")]
    EnvNotSet {
        site: Box<BindSite>,
        var: String,
        env: String,
    },
    #[error("{site}: location '{location}' is not supported by this host (file: or env:// only)")]
    Unsupported {
        site: Box<BindSite>,
        location: String,
    },
}

/// Resolve every bind of `cap` with the process environment.
pub fn resolve(cap: &Capability) -> Result<Secrets, BindError> {
    resolve_with_env(cap, &|name| std::env::var(name).ok())
}

/// Resolve every bind of `cap`; `env` looks environment variables up (tests inject it).
pub fn resolve_with_env(
    cap: &Capability,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Secrets, BindError> {
    resolve_rebased(cap, env, None)
}

/// Where the relative bind files of a capability that travelled without them (pulled
/// from a registry, carried in a `.wasm`) are: a relative location declared in a file
/// under `from` is read from the same place under `to`. Binds stay references; where
/// they point is the operator's choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebase {
    pub from: PathBuf,
    pub to: PathBuf,
}

impl Rebase {
    /// The folder a relative location declared in `declared_in` is read from.
    pub fn base_for(rebase: Option<&Rebase>, declared_in: &Path) -> PathBuf {
        let base = location::base_dir(declared_in);
        match rebase {
            Some(r) => match base.strip_prefix(&r.from) {
                Ok(rest) => r.to.join(rest),
                Err(_) => base,
            },
            None => base,
        }
    }
}

/// [`resolve_with_env`], with relative bind files read where `rebase` says.
pub fn resolve_rebased(
    cap: &Capability,
    env: &dyn Fn(&str) -> Option<String>,
    rebase: Option<&Rebase>,
) -> Result<Secrets, BindError> {
    let mut secrets = Secrets::default();
    for bind in &cap.binds {
        let values = resolve_bind(bind, &cap.file, env, rebase)?;
        for (var, value) in values {
            secrets.flat.insert(var.clone(), value.clone());
            secrets
                .by_ns
                .entry(bind.namespace.value.clone())
                .or_default()
                .insert(var, value);
        }
    }
    Ok(secrets)
}

fn site(bind: &Bind, file: &Path, pos: Pos) -> Box<BindSite> {
    Box::new(BindSite {
        file: file.to_path_buf(),
        pos,
        field: bind.field.clone(),
        namespace: bind.namespace.value.clone(),
    })
}

fn resolve_bind(
    bind: &Bind,
    cap_file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    rebase: Option<&Rebase>,
) -> Result<Vec<(String, Secret)>, BindError> {
    // Imported binds resolve against the file that declared them; their namespace may
    // carry the importer's position (`as:`), so ask the location and keys instead.
    let file = bind
        .location
        .as_ref()
        .map(|l| l.file.as_path())
        .or_else(|| bind.keys.first().map(|(k, _)| k.file.as_path()))
        .filter(|f| !f.as_os_str().is_empty())
        .unwrap_or(cap_file);
    let parsed = match &bind.location {
        None => Location::Env,
        Some(loc) => location::parse(&loc.value, false).map_err(|_| BindError::Unsupported {
            site: site(bind, file, loc.pos),
            location: loc.value.clone(),
        })?,
    };
    match parsed {
        Location::Env => bind
            .keys
            .iter()
            .map(|(var, env_name)| match env(&env_name.value) {
                Some(v) => Ok((var.value.clone(), Secret(v))),
                None => Err(BindError::EnvNotSet {
                    site: site(bind, file, var.pos),
                    var: var.value.clone(),
                    env: env_name.value.clone(),
                }),
            })
            .collect(),
        Location::Other(_) => {
            let loc = bind
                .location
                .as_ref()
                .map_or_else(String::new, |l| l.value.clone());
            let pos = bind.location.as_ref().map_or(bind.pos, |l| l.pos);
            Err(BindError::Unsupported {
                site: site(bind, file, pos),
                location: loc,
            })
        }
        Location::Relative(rel) => {
            let loc_pos = bind
                .location
                .as_ref()
                .map_or(bind.pos, |l: &Spanned<String>| l.pos);
            let shown = shown_relative(&rel);
            let text =
                read_confined(&Rebase::base_for(rebase, file), &rel).map_err(|e| match e {
                    ReadError::Escapes => BindError::Escapes {
                        site: site(bind, file, loc_pos),
                        location: shown.clone(),
                    },
                    ReadError::Io(reason) => BindError::File {
                        site: site(bind, file, loc_pos),
                        location: shown.clone(),
                        reason,
                    },
                })?;
            from_text(bind, file, loc_pos, &shown, &text)
        }
        Location::Absolute(abs) => {
            let loc_pos = bind.location.as_ref().map_or(bind.pos, |l| l.pos);
            let shown = abs.display().to_string();
            let text = std::fs::read_to_string(&abs).map_err(|e| BindError::File {
                site: site(bind, file, loc_pos),
                location: shown.clone(),
                reason: crate::imports::io_reason(&e),
            })?;
            from_text(bind, file, loc_pos, &shown, &text)
        }
    }
}

/// `./x.yaml` for messages (the way upstream files spell it).
fn shown_relative(rel: &Path) -> String {
    let s = rel.display().to_string();
    if s.starts_with("./") || s.starts_with("../") {
        s
    } else {
        format!("./{s}")
    }
}

enum ReadError {
    Escapes,
    Io(String),
}

/// Read `rel` below `dir` without letting `..` or symlinks lead outside `dir`.
fn read_confined(dir: &Path, rel: &Path) -> Result<String, ReadError> {
    if location::escapes(rel) {
        return Err(ReadError::Escapes);
    }
    let root = cap_std::fs::Dir::open_ambient_dir(dir, cap_std::ambient_authority())
        .map_err(|e| ReadError::Io(crate::imports::io_reason(&e)))?;
    root.read_to_string(rel).map_err(|e| {
        // cap-std reports an attempt to leave the directory as PermissionDenied
        // without an OS error code; a real EACCES carries one.
        if e.kind() == std::io::ErrorKind::PermissionDenied && e.raw_os_error().is_none() {
            ReadError::Escapes
        } else {
            ReadError::Io(crate::imports::io_reason(&e))
        }
    })
}

/// Pick the bind's keys out of a flat YAML or JSON map.
fn from_text(
    bind: &Bind,
    file: &Path,
    loc_pos: Pos,
    shown: &str,
    text: &str,
) -> Result<Vec<(String, Secret)>, BindError> {
    let map = parse_flat(text).map_err(|reason| BindError::Format {
        site: site(bind, file, loc_pos),
        location: shown.to_string(),
        reason,
    })?;
    bind.keys
        .iter()
        .map(|(var, key)| match map.get(key.value.as_str()) {
            Some(Ok(v)) => Ok((var.value.clone(), Secret(v.clone()))),
            Some(Err(kind)) => Err(BindError::NotScalar {
                site: site(bind, file, var.pos),
                var: var.value.clone(),
                key: key.value.clone(),
                location: shown.to_string(),
                kind,
            }),
            None => Err(BindError::KeyNotFound {
                site: site(bind, file, var.pos),
                var: var.value.clone(),
                key: key.value.clone(),
                location: shown.to_string(),
            }),
        })
        .collect()
}

/// key → scalar text, or the kind of the non-scalar value. The reason of a parse
/// failure carries a position only: parser messages can quote the file's text.
fn parse_flat(text: &str) -> Result<BTreeMap<String, Result<String, &'static str>>, String> {
    // YAML first: it reads JSON too and keeps numbers as written (`1.10` stays `1.10`).
    let parsed = match yaml::parse(text) {
        Ok(p) => p,
        Err((pos, _)) => {
            // Some JSON is not YAML (e.g. tab indentation): give JSON a chance.
            if text.trim_start().starts_with('{') {
                if let Ok(serde_json::Value::Object(map)) =
                    serde_json::from_str::<serde_json::Value>(text)
                {
                    return Ok(map.into_iter().map(|(k, v)| (k, json_scalar(v))).collect());
                }
            }
            return Err(format!(
                "syntax error at line {}, column {}",
                pos.line, pos.col
            ));
        }
    };
    let entries = match &parsed.root.value {
        Value::Map(m) => m,
        Value::Null => return Ok(BTreeMap::new()),
        _ => return Err(format!("the top level is {}", parsed.root.kind())),
    };
    Ok(entries
        .iter()
        .map(|e| {
            let v = match &e.value.value {
                Value::Seq(_) | Value::Map(_) => Err(e.value.kind()),
                Value::Null => Ok(String::new()),
                _ => Ok(e.value.scalar_text().unwrap_or_default()),
            };
            (e.key.clone(), v)
        })
        .collect())
}

fn json_scalar(v: serde_json::Value) -> Result<String, &'static str> {
    match v {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Null => Ok(String::new()),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Array(_) => Err("a list"),
        serde_json::Value::Object(_) => Err("a mapping"),
    }
}
