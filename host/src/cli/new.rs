//! `ikanos new NAME --lang rust|python|js`: a capability project that builds with its
//! own `./build` and runs with `ikanos run NAME.ikanos.yaml`.
//!
//! Owns: the project templates (`host/templates/new`) and writing them into a new
//! folder. The guest SDK of the language and the WIT contract are copied in from this
//! build of ikanos (the same files the repository's examples use), so the project
//! needs nothing of the repository; the build scripts of the Python and JavaScript
//! projects are the examples' own. Must not touch: anything outside the new folder,
//! which must not exist yet (nothing is ever overwritten).

use std::path::{Path, PathBuf};

use clap::ValueEnum;

/// The language of a new capability's component.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Lang {
    /// Rust with the guest SDK (cargo, wasm32-wasip2).
    Rust,
    /// Python with the Python guest SDK (componentize-py 0.25.1, installed on first build).
    Python,
    /// JavaScript with the JavaScript guest SDK (componentize-js 0.23.0, via npm).
    Js,
}

impl Lang {
    fn shown(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
        }
    }
}

const CAPABILITY: &str = include_str!("../../templates/new/capability.ikanos.yaml");
const SECRETS: &str = include_str!("../../templates/new/secrets.yaml");
const GITIGNORE: &str = include_str!("../../templates/new/gitignore");
const IKANOSIGNORE: &str = include_str!("../../templates/new/ikanosignore");
const WIT: &str = include_str!("../../../wit/capability.wit");

const RUST: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../../templates/new/Cargo.toml.rust"),
    ),
    ("src/lib.rs", include_str!("../../templates/new/lib.rs")),
    ("build", include_str!("../../templates/new/build.rust")),
    (
        "ikanos-guest/Cargo.toml",
        include_str!("../../templates/new/sdk-Cargo.toml"),
    ),
    (
        "ikanos-guest/src/lib.rs",
        include_str!("../../../guest-sdk/src/lib.rs"),
    ),
    (
        "ikanos-guest/src/consumes.rs",
        include_str!("../../../guest-sdk/src/consumes.rs"),
    ),
    (
        "ikanos-guest/src/definition.rs",
        include_str!("../../../guest-sdk/src/definition.rs"),
    ),
    (
        "ikanos-guest/src/error.rs",
        include_str!("../../../guest-sdk/src/error.rs"),
    ),
    (
        "ikanos-guest/src/log.rs",
        include_str!("../../../guest-sdk/src/log.rs"),
    ),
    (
        "ikanos-guest/src/request.rs",
        include_str!("../../../guest-sdk/src/request.rs"),
    ),
    (
        "ikanos-guest/src/response.rs",
        include_str!("../../../guest-sdk/src/response.rs"),
    ),
];

const PYTHON: &[(&str, &str)] = &[
    ("app.py", include_str!("../../templates/new/app.py")),
    ("build", include_str!("../../../examples/crm-python/build")),
    (
        "ikanos_guest/__init__.py",
        include_str!("../../../guest-sdk-python/ikanos_guest/__init__.py"),
    ),
    (
        "ikanos_guest/_wit.py",
        include_str!("../../../guest-sdk-python/ikanos_guest/_wit.py"),
    ),
    (
        "ikanos_guest/consumes.py",
        include_str!("../../../guest-sdk-python/ikanos_guest/consumes.py"),
    ),
    (
        "ikanos_guest/errors.py",
        include_str!("../../../guest-sdk-python/ikanos_guest/errors.py"),
    ),
    (
        "ikanos_guest/log.py",
        include_str!("../../../guest-sdk-python/ikanos_guest/log.py"),
    ),
    (
        "ikanos_guest/messages.py",
        include_str!("../../../guest-sdk-python/ikanos_guest/messages.py"),
    ),
];

const JS: &[(&str, &str)] = &[
    ("app.js", include_str!("../../templates/new/app.js")),
    ("build", include_str!("../../../examples/crm-js/build")),
    (
        "package.json",
        include_str!("../../templates/new/package.json"),
    ),
    (
        "package-lock.json",
        include_str!("../../../examples/crm-js/package-lock.json"),
    ),
    (
        "ikanos-guest/index.js",
        include_str!("../../../guest-sdk-js/index.js"),
    ),
    (
        "ikanos-guest/consumes.js",
        include_str!("../../../guest-sdk-js/consumes.js"),
    ),
    (
        "ikanos-guest/errors.js",
        include_str!("../../../guest-sdk-js/errors.js"),
    ),
    (
        "ikanos-guest/log.js",
        include_str!("../../../guest-sdk-js/log.js"),
    ),
    (
        "ikanos-guest/request.js",
        include_str!("../../../guest-sdk-js/request.js"),
    ),
    (
        "ikanos-guest/response.js",
        include_str!("../../../guest-sdk-js/response.js"),
    ),
];

/// Why no project was written.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    #[error("'{0}' is not a capability name: use lowercase letters, digits and '-', starting with a letter (at most 64)")]
    Name(String),
    #[error("{0} exists already; `ikanos new` writes only into a new folder")]
    Exists(PathBuf),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Write project `name` in `lang` into `parent/name`; returns the folder.
pub fn create(name: &str, lang: Lang, parent: &Path) -> Result<PathBuf, NewError> {
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !valid {
        return Err(NewError::Name(name.to_string()));
    }
    let dir = parent.join(name);
    if dir.exists() {
        return Err(NewError::Exists(dir));
    }
    let fill = |text: &str| {
        text.replace("__NAME__", name)
            .replace("__CRATE__", &name.replace('-', "_"))
            .replace("__LANG__", lang.shown())
    };
    let mut files: Vec<(String, String)> = vec![
        (format!("{name}.ikanos.yaml"), fill(CAPABILITY)),
        ("secrets.yaml".into(), SECRETS.into()),
        (".gitignore".into(), GITIGNORE.into()),
        (".ikanosignore".into(), fill(IKANOSIGNORE)),
        ("wit/capability.wit".into(), WIT.into()),
    ];
    let own = match lang {
        Lang::Rust => RUST,
        Lang::Python => PYTHON,
        Lang::Js => JS,
    };
    for (path, text) in own {
        let text = match (lang, *path) {
            // The lock is the crm-js example's: only the project's own name differs.
            (Lang::Js, "package-lock.json") => {
                text.replacen("\"name\": \"crm-js\"", &format!("\"name\": \"{name}\""), 2)
            }
            (Lang::Js, "app.js") | (Lang::Python, "app.py") => fill(text),
            (Lang::Js | Lang::Python, _) => text.to_string(),
            (Lang::Rust, _) if path.starts_with("ikanos-guest/src/") => text.to_string(),
            (Lang::Rust, _) => fill(text),
        };
        files.push((path.to_string(), text));
    }
    let write = |path: &Path, text: &str| -> Result<(), NewError> {
        let failed = |source| NewError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        std::fs::write(path, text).map_err(failed)
    };
    std::fs::create_dir_all(parent).map_err(|source| NewError::Write {
        path: parent.to_path_buf(),
        source,
    })?;
    // Created here, so a folder that appears meanwhile is never written into.
    std::fs::create_dir(&dir).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => NewError::Exists(dir.clone()),
        _ => NewError::Write {
            path: dir.clone(),
            source,
        },
    })?;
    for (path, text) in &files {
        write(&dir.join(path), text)?;
    }
    make_executable(&dir.join("build")).map_err(|source| NewError::Write {
        path: dir.join("build"),
        source,
    })?;
    Ok(dir)
}

#[cfg(unix)]
fn make_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> std::io::Result<()> {
    Ok(())
}

/// What to do next, for the terminal.
pub fn next_steps(dir: &Path, name: &str, lang: Lang) -> String {
    let tool = match lang {
        Lang::Rust => "cargo and the wasm32-wasip2 target (added if missing)",
        Lang::Python => "python3 with venv; componentize-py 0.25.1 is installed on the first build",
        Lang::Js => "node and npm; componentize-js 0.23.0 is installed on the first build",
    };
    format!(
        "created {dir} ({lang} capability)\n\n  cd {dir}\n  ./build                     # needs {tool}\n  ikanos run {name}.ikanos.yaml\n  curl http://127.0.0.1:8081/hello/Ada\n",
        dir = dir.display(),
        lang = lang.shown(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_names_and_existing_folders() {
        let tmp = tempfile::tempdir().unwrap();
        for bad in [
            "",
            "Crm",
            "1crm",
            "crm_x",
            "crm/../x",
            "crm-",
            &"a".repeat(65),
        ] {
            assert!(
                matches!(create(bad, Lang::Rust, tmp.path()), Err(NewError::Name(_))),
                "{bad}"
            );
        }
        std::fs::create_dir(tmp.path().join("taken")).unwrap();
        assert!(matches!(
            create("taken", Lang::Python, tmp.path()),
            Err(NewError::Exists(_))
        ));
        assert_eq!(
            std::fs::read_dir(tmp.path().join("taken")).unwrap().count(),
            0
        );
    }

    #[test]
    fn every_language_gets_a_file_that_validates_and_an_executable_build() {
        let tmp = tempfile::tempdir().unwrap();
        for (name, lang) in [
            ("a-rust", Lang::Rust),
            ("a-py", Lang::Python),
            ("a-js", Lang::Js),
        ] {
            let dir = create(name, lang, tmp.path()).unwrap();
            let file = dir.join(format!("{name}.ikanos.yaml"));
            let loaded = ikanos_spec::load(&file).expect("the new capability file loads");
            assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(!text.contains("__NAME__") && text.contains(&format!("namespace: {name}")));
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("build"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o111, 0o111);
            assert!(dir.join("wit/capability.wit").is_file());
            // Built, it travels as its file and its component: no source, no secrets.
            std::fs::write(dir.join(format!("{name}.wasm")), b"\0asm\x0d\0\x01\0").unwrap();
            let packed = crate::package::select(&dir, None).unwrap();
            let paths: Vec<_> = packed.files.iter().map(|f| f.path.clone()).collect();
            assert_eq!(
                paths,
                [format!("{name}.ikanos.yaml"), format!("{name}.wasm")]
            );
        }
    }
}
