//! Inlining `{from, import, as}` entries.
//!
//! Owns: finding the shared file an import names (relative to the importing file),
//! checking it is a shared file of the right section, picking the entry whose
//! namespace is `import`, renaming it to `as`, following imports inside shared files,
//! and refusing cycles. Problems inside a shared file are reported against that file;
//! problems with the import itself against the import entry.
//! Must not touch: cross-references between entries (that is `check`), which run
//! once on the merged result.
//!
//! Files are reached through [`Files`] (the disk, or the fuzz targets' virtual folder)
//! so that a loader run can be made without touching the disk.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use crate::decode::{DAggregate, DConsumes, DExposes, Decoder, Document, ImportEntry, Item};
use crate::diagnostic::{did_you_mean, Sink};
use crate::location::{self, Location};
use crate::model::{Bind, Exposes, Info, Spanned};
use crate::yaml;

/// A document with every import replaced by the entry it names.
#[derive(Debug)]
pub(crate) struct Merged {
    pub file: PathBuf,
    pub version: Option<Spanned<String>>,
    pub info: Option<Info>,
    /// Loaded on its own, a shared file has no binds or consumes of its importer:
    /// cross-reference problems are then only warnings.
    pub standalone: bool,
    pub binds: Vec<Bind>,
    pub consumes: Vec<DConsumes>,
    pub exposes: Vec<DExposes>,
    pub aggregates: Vec<DAggregate>,
}

/// Parse and decode one file's text. None when it is not YAML or has no document shape.
pub(crate) fn read_document(file: &Path, text: &str, sink: &mut Sink) -> Option<Document> {
    let parsed = match yaml::parse(text) {
        Ok(p) => p,
        Err((pos, msg)) => {
            sink.error(file, pos, format!("YAML syntax error: {msg}"));
            return None;
        }
    };
    for (pos, msg) in &parsed.problems {
        sink.error(file, *pos, msg.clone());
    }
    if parsed.extra_documents > 0 {
        sink.warn(
            file,
            parsed.root.pos,
            format!(
                "the file holds {} YAML documents; only the first is read",
                parsed.extra_documents + 1
            ),
        );
    }
    Decoder::new(file, sink).document(&parsed.root)
}

/// Where imported files come from: the disk for every real load; the fuzz targets
/// (`crate::fuzzing`) serve a virtual folder instead, so a fuzzed `from:` cannot read
/// (or block on) whatever the machine has at that path.
pub(crate) trait Files {
    fn canonicalize(&self, path: &Path) -> std::io::Result<PathBuf>;
    fn read_to_string(&self, path: &Path) -> std::io::Result<String>;
}

pub(crate) struct Disk;

impl Files for Disk {
    fn canonicalize(&self, path: &Path) -> std::io::Result<PathBuf> {
        std::fs::canonicalize(path)
    }
    fn read_to_string(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

pub(crate) fn merge(doc: Document, files: &dyn Files, sink: &mut Sink) -> Merged {
    let standalone = !doc.has_capability;
    if standalone && doc.root_sections.len() > 1 {
        let names: Vec<&str> = doc.root_sections.iter().map(|(n, _)| *n).collect();
        let pos = doc.root_sections[1].1;
        sink.error(
            &doc.file,
            pos,
            format!(
                "a shared file holds exactly one section (found {}); put them under 'capability:' for a capability",
                names.join(", ")
            ),
        );
    }
    let start = files
        .canonicalize(&doc.file)
        .unwrap_or_else(|_| doc.file.clone());
    let mut r = Resolver {
        files,
        cache: HashMap::new(),
        stack: vec![start],
        sink,
    };
    let doc = Rc::new(doc);
    let binds = r.section::<Bind>(&doc);
    let consumes = r.section::<DConsumes>(&doc);
    let exposes = r.section::<DExposes>(&doc);
    let aggregates = r.section::<DAggregate>(&doc);
    Merged {
        file: doc.file.clone(),
        version: doc.version.clone(),
        info: doc.info.clone(),
        standalone,
        binds,
        consumes,
        exposes,
        aggregates,
    }
}

/// What imports need to know about each kind of section entry.
trait Section: Clone + Sized {
    const NAME: &'static str;
    fn items(doc: &Document) -> &[Item<Self>];
    fn namespace(&self) -> Option<&str>;
    fn rename(&mut self, to: Spanned<String>);
}

impl Section for Bind {
    const NAME: &'static str = "binds";
    fn items(doc: &Document) -> &[Item<Self>] {
        &doc.binds
    }
    fn namespace(&self) -> Option<&str> {
        Some(&self.namespace.value)
    }
    fn rename(&mut self, to: Spanned<String>) {
        self.namespace = to;
    }
}

impl Section for DConsumes {
    const NAME: &'static str = "consumes";
    fn items(doc: &Document) -> &[Item<Self>] {
        &doc.consumes
    }
    fn namespace(&self) -> Option<&str> {
        Some(&self.model.namespace.value)
    }
    fn rename(&mut self, to: Spanned<String>) {
        self.model.namespace = to;
    }
}

impl Section for DExposes {
    const NAME: &'static str = "exposes";
    fn items(doc: &Document) -> &[Item<Self>] {
        &doc.exposes
    }
    fn namespace(&self) -> Option<&str> {
        self.namespace.as_ref().map(|n| n.value.as_str())
    }
    fn rename(&mut self, to: Spanned<String>) {
        match &mut self.model {
            Some(Exposes::Rest(r)) => r.namespace = to.clone(),
            Some(Exposes::Mcp(m)) => m.namespace = to.clone(),
            _ => {}
        }
        self.namespace = Some(to);
    }
}

impl Section for DAggregate {
    const NAME: &'static str = "aggregates";
    fn items(doc: &Document) -> &[Item<Self>] {
        &doc.aggregates
    }
    fn namespace(&self) -> Option<&str> {
        self.namespace.as_ref().map(|n| n.value.as_str())
    }
    fn rename(&mut self, to: Spanned<String>) {
        self.namespace = Some(to);
    }
}

struct Resolver<'s> {
    files: &'s dyn Files,
    /// Shared files read so far (None: unreadable or not a document), by canonical path.
    cache: HashMap<PathBuf, Option<Rc<Document>>>,
    /// Canonical paths of the files being imported from, outermost first.
    stack: Vec<PathBuf>,
    sink: &'s mut Sink,
}

impl Resolver<'_> {
    fn section<T: Section>(&mut self, doc: &Rc<Document>) -> Vec<T> {
        let mut out = Vec::new();
        for item in T::items(doc) {
            match item {
                Item::Inline(v) => out.push(v.clone()),
                Item::Import(entry) => {
                    if let Some(v) = self.import::<T>(entry, &doc.file) {
                        out.push(v);
                    }
                }
            }
        }
        out
    }

    fn import<T: Section>(&mut self, entry: &ImportEntry, importer: &Path) -> Option<T> {
        let from = &entry.from;
        let err = |r: &mut Self, pos, msg: String| r.sink.error(&from.file, pos, msg);
        let path = match location::parse(&from.value, true) {
            Ok(Location::Relative(p)) => clean(&location::base_dir(importer).join(p)),
            Ok(Location::Absolute(p)) => p,
            Ok(_) => {
                err(
                    self,
                    from.pos,
                    format!(
                        "{}.from: '{}' is not a file; imports read local files",
                        entry.field, from.value
                    ),
                );
                return None;
            }
            Err(e) => {
                err(self, from.pos, format!("{}.from: {e}", entry.field));
                return None;
            }
        };
        let canonical = match self.files.canonicalize(&path) {
            Ok(c) => c,
            Err(e) => {
                err(
                    self,
                    from.pos,
                    format!(
                        "{}.from: cannot read '{}': {}",
                        entry.field,
                        path.display(),
                        io_reason(&e)
                    ),
                );
                return None;
            }
        };
        if let Some(i) = self.stack.iter().position(|p| *p == canonical) {
            let chain: Vec<String> = self.stack[i..]
                .iter()
                .chain(std::iter::once(&canonical))
                .map(|p| {
                    p.file_name().map_or_else(
                        || p.display().to_string(),
                        |n| n.to_string_lossy().into_owned(),
                    )
                })
                .collect();
            err(
                self,
                entry.pos,
                format!("{}: import cycle: {}", entry.field, chain.join(" -> ")),
            );
            return None;
        }
        let doc = self.read(&path, &canonical)?;
        if doc.has_capability {
            err(
                self,
                from.pos,
                format!("{}.from: '{}' is a capability; imports read shared files (one section, no 'capability:')", entry.field, from.value),
            );
            return None;
        }
        if !doc.root_sections.iter().any(|(n, _)| *n == T::NAME) {
            let found: Vec<&str> = doc.root_sections.iter().map(|(n, _)| *n).collect();
            err(
                self,
                from.pos,
                format!(
                    "{}.from: '{}' holds {}, not {}",
                    entry.field,
                    from.value,
                    if found.is_empty() {
                        "no section".to_string()
                    } else {
                        found.join(", ")
                    },
                    T::NAME
                ),
            );
            return None;
        }
        let wanted = entry.import.value.as_str();
        let mut names = Vec::new();
        let mut found: Option<T> = None;
        for item in T::items(&doc) {
            match item {
                Item::Inline(v) => {
                    if v.namespace() == Some(wanted) {
                        found = Some(v.clone());
                        break;
                    }
                    names.extend(v.namespace().map(str::to_string));
                }
                Item::Import(inner) => {
                    let name = inner.alias.as_ref().unwrap_or(&inner.import);
                    if name.value == wanted {
                        self.stack.push(canonical.clone());
                        let inner_found = self.import::<T>(inner, &doc.file);
                        self.stack.pop();
                        // None: the inner import already reported why.
                        found = Some(inner_found?);
                        break;
                    }
                    names.push(name.value.clone());
                }
            }
        }
        let Some(mut v) = found else {
            let hint = did_you_mean(wanted, names.iter().map(String::as_str));
            let list = if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            };
            err(
                self,
                entry.import.pos,
                format!("{}.import: '{}' has no {} entry with namespace '{wanted}' (found: {list}){hint}", entry.field, from.value, T::NAME),
            );
            return None;
        };
        if let Some(alias) = &entry.alias {
            v.rename(alias.clone());
        }
        Some(v)
    }

    fn read(&mut self, path: &Path, canonical: &Path) -> Option<Rc<Document>> {
        if let Some(d) = self.cache.get(canonical) {
            return d.clone();
        }
        let doc = match self.files.read_to_string(canonical) {
            Ok(text) => read_document(path, &text, self.sink).map(Rc::new),
            Err(e) => {
                self.sink.error(
                    path,
                    Default::default(),
                    format!("cannot read: {}", io_reason(&e)),
                );
                None
            }
        };
        self.cache.insert(canonical.to_path_buf(), doc.clone());
        doc
    }
}

/// `a/./b` → `a/b`, so messages show the path the way a person would write it.
fn clean(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// An io error without the "(os error 2)" tail.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
