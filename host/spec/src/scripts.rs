//! Script step files (`type: script` with `location` and `file`, upstream
//! `ScriptStepExecutor.readScript` + `SafePathResolver`).
//!
//! Owns: turning a step's `location` (a `file:` folder, relative to the declaring
//! file's folder or absolute) and a file or dependency path into the file's text, never
//! leaving that folder (`..`, absolute paths and symlinks out are refused, through
//! cap-std). Must not touch: running the script.

use std::path::Path;

use crate::location::{self, Location};

/// Script files larger than this are refused: a script step is a transformation, not
/// a bundle.
pub const MAX_SCRIPT_BYTES: u64 = 1 << 20;

/// The text of `file` inside `location`, for a step declared in `declared_in`.
pub fn read(location: &str, file: &str, declared_in: &Path) -> Result<String, String> {
    let folder = match location::parse(location, false)? {
        Location::Relative(rel) => location::base_dir(declared_in).join(rel),
        Location::Absolute(path) => path,
        Location::Env | Location::Other(_) => {
            return Err(format!(
                "location '{location}' is not a folder: script steps read files (file:///…)"
            ))
        }
    };
    let rel = Path::new(file);
    if location::escapes(rel) {
        return Err(format!(
            "'{file}' leaves the script location {location} (only paths inside it are read)"
        ));
    }
    let root =
        cap_std::fs::Dir::open_ambient_dir(&folder, cap_std::ambient_authority()).map_err(|e| {
            format!(
                "cannot open the script location {location} ({}): {}",
                folder.display(),
                crate::imports::io_reason(&e)
            )
        })?;
    let refuse = |e: std::io::Error| {
        // cap-std reports an attempt to leave the folder (a symlink out) as
        // PermissionDenied without an OS error code.
        if e.kind() == std::io::ErrorKind::PermissionDenied && e.raw_os_error().is_none() {
            format!(
                "'{file}' leaves the script location {location} (only paths inside it are read)"
            )
        } else {
            format!(
                "cannot read '{file}' in {location} ({}): {}",
                folder.display(),
                crate::imports::io_reason(&e)
            )
        }
    };
    let meta = root.metadata(rel).map_err(refuse)?;
    if !meta.is_file() {
        return Err(format!("'{file}' in {location} is not a file"));
    }
    if meta.len() > MAX_SCRIPT_BYTES {
        return Err(format!(
            "'{file}' in {location} is {} bytes; script files are limited to {MAX_SCRIPT_BYTES}",
            meta.len()
        ));
    }
    root.read_to_string(rel).map_err(refuse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_inside_the_location_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("scripts")).unwrap();
        std::fs::write(dir.path().join("scripts/a.js"), "result = 1;").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "no").unwrap();
        let cap = dir.path().join("cap.yaml");
        assert_eq!(
            read("file:///./scripts", "a.js", &cap).unwrap(),
            "result = 1;"
        );
        let abs = format!("file://{}", dir.path().join("scripts").display());
        assert_eq!(read(&abs, "a.js", &cap).unwrap(), "result = 1;");
        let out = read("file:///./scripts", "../secret.txt", &cap).unwrap_err();
        assert!(out.contains("leaves the script location"), "{out}");
        let missing = read("file:///./scripts", "b.js", &cap).unwrap_err();
        assert!(missing.contains("cannot read 'b.js'"), "{missing}");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(
                dir.path().join("secret.txt"),
                dir.path().join("scripts/link.js"),
            )
            .unwrap();
            let link = read("file:///./scripts", "link.js", &cap).unwrap_err();
            assert!(link.contains("leaves the script location"), "{link}");
        }
        assert!(read("env://", "a.js", &cap)
            .unwrap_err()
            .contains("not a folder"));
    }
}
