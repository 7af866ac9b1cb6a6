//! Diagnostics: what `load` reports about a capability file.
//!
//! Owns: the `Diagnostic` record, its `file:line:col:` rendering, the sorted list type
//! returned on failure, and the internal `Sink` every stage writes into.
//! Must not touch: files or the model; stages decide *what* to report, this module
//! only decides how a report looks and in which order reports come out.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::model::Pos;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in a capability file (or in a file it imports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the problem is in: for imported entries, the imported file.
    pub file: PathBuf,
    /// 1-based line and column. Line 0 means "the whole file" (e.g. it cannot be read).
    pub pos: Pos,
    pub severity: Severity,
    pub message: String,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.file.display())?;
        if self.pos.line > 0 {
            write!(f, "{}:{}:", self.pos.line, self.pos.col)?;
        }
        match self.severity {
            Severity::Error => write!(f, " {}", self.message),
            Severity::Warning => write!(f, " warning: {}", self.message),
        }
    }
}

/// Every diagnostic of a failed load (errors and warnings), sorted by file, line, column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Collects diagnostics from every stage so that one run reports every problem.
#[derive(Debug, Default)]
pub(crate) struct Sink {
    diags: Vec<Diagnostic>,
}

impl Sink {
    pub fn error(&mut self, file: &Path, pos: Pos, message: impl Into<String>) {
        self.push(file, pos, Severity::Error, message.into());
    }

    pub fn warn(&mut self, file: &Path, pos: Pos, message: impl Into<String>) {
        self.push(file, pos, Severity::Warning, message.into());
    }

    /// An error, or only a warning when `soft` (used for checks whose outcome depends
    /// on a file that is not there, e.g. a shared file loaded on its own).
    pub fn report(&mut self, soft: bool, file: &Path, pos: Pos, message: impl Into<String>) {
        let sev = if soft {
            Severity::Warning
        } else {
            Severity::Error
        };
        self.push(file, pos, sev, message.into());
    }

    fn push(&mut self, file: &Path, pos: Pos, severity: Severity, message: String) {
        self.diags.push(Diagnostic {
            file: file.to_path_buf(),
            pos,
            severity,
            message,
        });
    }

    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(Diagnostic::is_error)
    }

    /// Sorted (file, line, col, then errors before warnings) and without exact repeats
    /// (a shared file imported twice would otherwise report its problems twice).
    pub fn finish(mut self) -> Vec<Diagnostic> {
        self.diags.sort_by(|a, b| {
            (&a.file, a.pos, a.severity, &a.message).cmp(&(&b.file, b.pos, b.severity, &b.message))
        });
        self.diags.dedup();
        self.diags
    }
}

/// Edit distance, for "did you mean" hints on misspelt keys and names.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The closest candidate within a distance that still reads as a typo, if any.
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| {
            (
                edit_distance(&word.to_ascii_lowercase(), &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// ` (did you mean 'x'?)` or nothing. Public so the host's checks of what the spec
/// leaves open (a tunnel provider's own keys) hint the same way.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match suggest(word, candidates) {
        Some(s) => format!(" (did you mean '{s}'?)"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: u32, col: u32) -> Pos {
        Pos { line, col }
    }

    #[test]
    fn display_and_order() {
        let mut s = Sink::default();
        s.warn(Path::new("b.yaml"), p(1, 1), "later file");
        s.error(Path::new("a.yaml"), p(10, 2), "second");
        s.error(Path::new("a.yaml"), p(2, 9), "first");
        s.error(Path::new("a.yaml"), p(2, 9), "first");
        s.error(Path::new("a.yaml"), Pos::default(), "whole file");
        assert!(s.has_errors());
        let d = Diagnostics(s.finish());
        assert_eq!(
            d.to_string(),
            "a.yaml: whole file\na.yaml:2:9: first\na.yaml:10:2: second\nb.yaml:1:1: warning: later file"
        );
        assert_eq!(d.errors().count(), 3);
    }

    #[test]
    fn suggestions() {
        assert_eq!(edit_distance("methd", "method"), 1);
        assert_eq!(suggest("methd", ["method", "path"]), Some("method"));
        assert_eq!(suggest("zzzzzz", ["method", "path"]), None);
        assert_eq!(
            did_you_mean("baseUrl", ["baseUri", "namespace"]),
            " (did you mean 'baseUri'?)"
        );
    }
}
