//! Fuzz entry points: one function per fuzz target of the `fuzz/` workspace, taking the
//! fuzzer's bytes. The targets are one-liners calling these, and the saved regression
//! seeds (`fuzz/regressions/<target>/`) run through the same functions in `cargo test`.
//!
//! Owns: turning bytes into the loader's inputs and the properties checked on every
//! run. Must not touch: the disk — imports are served from a virtual folder built from
//! the input, so a fuzzed `from: /dev/stdin` reads nothing real.
//! Not a stable interface: hidden from the documentation, for the fuzz targets only.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use crate::imports::Files;

/// Where the virtual folder is; nothing on the disk is read there.
const ROOT: &str = "/fuzz";

/// `loader`: bytes → `load` (YAML → model → imports → checks) → lint, and every
/// message rendered. Must never panic.
///
/// Input: the capability file, then optionally `\0`-separated shared files, each
/// `relative/path\n` followed by its text, importable with `from: ./relative/path`.
/// Invalid UTF-8 is replaced, so the parser sees every input.
pub fn loader(data: &[u8]) {
    let mut parts = data.split(|b| *b == 0);
    let main = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let file = Path::new(ROOT).join("capability.yaml");
    let mut files = HashMap::from([(file.clone(), main.clone().into_owned())]);
    for part in parts {
        let (name, text) = match part.iter().position(|b| *b == b'\n') {
            Some(i) => (&part[..i], &part[i + 1..]),
            None => (part, &[][..]),
        };
        if let Some(path) = normalize(&Path::new(ROOT).join(text_of(name).as_ref())) {
            files.insert(path, text_of(text).into_owned());
        }
    }
    // Every lint rule runs over the raw document, loadable or not (as `ikanos lint`).
    if let Ok(doc) = crate::yaml::parse(&main) {
        for finding in crate::lint::document(&file, &doc.root, crate::lint::RuleSet::All) {
            let _ = finding.to_string();
        }
    }
    match crate::load_with(&file, &main, &Virtual(files)) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                assert_eq!(w.severity, crate::Severity::Warning, "{w}");
                let _ = w.to_string();
            }
            for finding in crate::lint::imported(&loaded.capability) {
                let _ = finding.to_string();
            }
        }
        Err(diags) => {
            // A refused file with no error to show would fail `ikanos validate` silently.
            assert!(
                diags.0.iter().any(|d| d.severity == crate::Severity::Error),
                "refused without an error: {diags}"
            );
            let _ = diags.to_string();
            let _ = crate::lint::from_diagnostics(&diags.0);
        }
    }
}

fn text_of(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// `a/./b/../c` → `a/c`, lexically (the virtual folder has no symbolic links).
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir => out.push("/"),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// The virtual folder: the files of the input, nothing else.
struct Virtual(HashMap<PathBuf, String>);

impl Files for Virtual {
    fn canonicalize(&self, path: &Path) -> std::io::Result<PathBuf> {
        normalize(path)
            .filter(|p| self.0.contains_key(p))
            .ok_or_else(|| std::io::ErrorKind::NotFound.into())
    }

    fn read_to_string(&self, path: &Path) -> std::io::Result<String> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| std::io::ErrorKind::NotFound.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every saved seed of `fuzz/regressions/loader` (crash inputs and a small corpus
    /// sample) runs here; a missing or empty folder fails rather than passing silently.
    #[test]
    fn loader_regression_seeds() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/loader");
        let mut seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        seeds.sort();
        assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
        for seed in seeds {
            println!("{}", seed.display());
            loader(&std::fs::read(&seed).unwrap());
        }
    }

    #[test]
    fn imports_are_served_from_the_input_only() {
        let shared = "consumes:\n  - type: http\n    namespace: api\n    baseUri: http://example.test\n    resources: {}\n";
        let main = "ikanos: 1.0.0-beta5\ncapability:\n  consumes:\n    - from: ./shared.yaml\n      import: api\n  exposes: []\n";
        let mut files = HashMap::new();
        let file = Path::new(ROOT).join("capability.yaml");
        files.insert(file.clone(), main.to_string());
        files.insert(Path::new(ROOT).join("shared.yaml"), shared.to_string());
        let virt = Virtual(files);
        let err = |r: Result<crate::Loaded, crate::Diagnostics>| match r {
            Ok(_) => String::new(),
            Err(d) => d.to_string(),
        };
        let served = err(crate::load_with(&file, main, &virt));
        assert!(!served.contains("cannot read"), "{served}");
        let outside = main.replace("./shared.yaml", "/etc/hostname");
        let refused = err(crate::load_with(&file, &outside, &virt));
        assert!(refused.contains("cannot read '/etc/hostname'"), "{refused}");
    }
}
