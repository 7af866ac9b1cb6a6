//! Where a `from:` import or a bind `location:` points.
//!
//! Owns: the spelling rules shared by imports and binds — `file:///./x`, `file://./x`
//! and `file:x` are relative to the declaring file's folder, `file:///abs/x` is
//! absolute, `env://` means environment variables — and the lexical "does this
//! relative path climb out of its folder" test.
//! Must not touch: the file system (callers open files, with or without confinement).

use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// Relative to the folder of the file that declares it.
    Relative(PathBuf),
    Absolute(PathBuf),
    Env,
    /// Any other scheme (e.g. `vault://`): valid upstream, not provided by this host.
    Other(String),
}

/// Parse a location. `plain_paths` accepts a bare path (imports allow `./shared/x.yml`).
pub fn parse(s: &str, plain_paths: bool) -> Result<Location, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty location".into());
    }
    if let Some(rest) = s.strip_prefix("file:") {
        return parse_file(rest);
    }
    if s == "env:" || s.starts_with("env://") {
        return Ok(Location::Env);
    }
    if let Some(scheme) = scheme_of(s) {
        return Ok(Location::Other(scheme.to_string()));
    }
    if plain_paths {
        let p = PathBuf::from(s);
        return Ok(if p.is_absolute() {
            Location::Absolute(p)
        } else {
            Location::Relative(p)
        });
    }
    Err(format!(
        "'{s}' is not a location URI (expected file:, env:// or another scheme://)"
    ))
}

fn scheme_of(s: &str) -> Option<&str> {
    let (scheme, _) = s.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    // One letter before ':' is a Windows drive, not a scheme.
    (first.is_ascii_alphabetic()
        && scheme.len() > 1
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-')))
    .then_some(scheme)
}

fn parse_file(rest: &str) -> Result<Location, String> {
    let Some(after) = rest.strip_prefix("//") else {
        // `file:rel.yaml` or `file:/abs.yaml`
        if rest.is_empty() {
            return Err("empty file location".into());
        }
        let p = PathBuf::from(rest);
        return Ok(if p.is_absolute() {
            Location::Absolute(p)
        } else {
            Location::Relative(p)
        });
    };
    // `file:///./x` and `file:///../x`: relative, the way upstream documents them.
    if let Some(rel) = after
        .strip_prefix('/')
        .filter(|r| r.starts_with("./") || r.starts_with("../"))
    {
        return Ok(Location::Relative(PathBuf::from(rel)));
    }
    if after.starts_with('/') {
        return Ok(Location::Absolute(PathBuf::from(after)));
    }
    // `file://./x`
    if after.starts_with("./") || after.starts_with("../") {
        return Ok(Location::Relative(PathBuf::from(after)));
    }
    if let Some(path) = after.strip_prefix("localhost/") {
        return Ok(Location::Absolute(PathBuf::from(format!("/{path}"))));
    }
    Err(format!(
        "'file://{after}' names a remote host; only local files are supported"
    ))
}

/// True when the relative path climbs above its starting folder (`../x`, `a/../../x`)
/// or is not relative at all.
pub(crate) fn escapes(rel: &Path) -> bool {
    let mut depth: usize = 0;
    for c in rel.components() {
        match c {
            Component::CurDir => {}
            Component::Normal(_) => depth += 1,
            Component::ParentDir => {
                if depth == 0 {
                    return true;
                }
                depth -= 1;
            }
            Component::RootDir | Component::Prefix(_) => return true,
        }
    }
    false
}

/// The folder relative locations in `file` resolve against.
pub fn base_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings() {
        let rel = |s: &str| Location::Relative(PathBuf::from(s));
        assert_eq!(
            parse("file:///./shared/s.yaml", false),
            Ok(rel("./shared/s.yaml"))
        );
        assert_eq!(parse("file://./s.yaml", false), Ok(rel("./s.yaml")));
        assert_eq!(parse("file:s.yaml", false), Ok(rel("s.yaml")));
        assert_eq!(
            parse("file:///app/s.yaml", false),
            Ok(Location::Absolute("/app/s.yaml".into()))
        );
        assert_eq!(
            parse("file:/app/s.yaml", false),
            Ok(Location::Absolute("/app/s.yaml".into()))
        );
        assert_eq!(parse("env://", false), Ok(Location::Env));
        assert_eq!(
            parse("vault://x", false),
            Ok(Location::Other("vault".into()))
        );
        assert_eq!(parse("./shared/x.yml", true), Ok(rel("./shared/x.yml")));
        assert!(parse("./shared/x.yml", false).is_err());
        assert!(parse("file://host/x", false).is_err());
    }

    #[test]
    fn escape_test() {
        assert!(escapes(Path::new("../x")));
        assert!(escapes(Path::new("a/../../x")));
        assert!(escapes(Path::new("/x")));
        assert!(!escapes(Path::new("./a/../x")));
        assert!(!escapes(Path::new("shared/x.yaml")));
    }
}
