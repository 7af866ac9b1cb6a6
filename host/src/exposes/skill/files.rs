//! A skill's folder on disk: resolving a requested file inside it, listing it and
//! packing it as a ZIP — the file-system half of the skill adapter.
//!
//! Owns: confinement (upstream's `SafePathResolver`, stricter): every requested segment
//! is a plain name (`[A-Za-z0-9._-]`, never `.` or `..`), the folder and the file are
//! resolved through symbolic links and the file must stay inside the folder, and in
//! `ikanos serve` the folder itself must stay inside the capability's folder. Listings
//! and downloads walk the folder without following symbolic links. Sizes are capped.
//! Must not touch: HTTP (the adapter maps [`FileError`] to statuses).

use std::io::Read as _;
use std::path::{Path, PathBuf};

/// Largest single file served from `/contents/{file}`.
pub const MAX_FILE: u64 = 16 << 20;
/// Largest folder packed by `/download` (sum of file sizes).
pub const MAX_DOWNLOAD: u64 = 64 << 20;
/// Most files listed or packed.
pub const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// A request segment that is not a plain file name.
    #[error("unsafe path segment in request: '{0}'")]
    UnsafeSegment(String),
    /// The resolved file leaves the skill's folder (a symbolic link).
    #[error("the requested file resolves outside the skill's folder")]
    Escape,
    #[error("location directory not found for skill '{0}'")]
    NoFolder(String),
    /// The skill's folder resolves outside the capability's folder (`ikanos serve`).
    #[error("the folder of skill '{0}' is outside the capability's folder; not served")]
    FolderOutside(String),
    #[error("file not found: {0}")]
    NotFound(String),
    #[error("{what} is larger than {limit} bytes; not served")]
    TooLarge { what: String, limit: u64 },
    #[error("skill '{0}' has more than {MAX_ENTRIES} files; not served")]
    TooMany(String),
    #[error("reading the skill's folder failed: {0}")]
    Io(String),
}

/// Is `segment` a plain file name as requests may name one?
pub fn safe_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A skill's folder as configured, and the folder it must stay in (`ikanos serve`).
#[derive(Debug, Clone)]
pub struct Folder {
    pub skill: String,
    pub path: PathBuf,
    /// The capability's folder, when the host confines tenants to it.
    pub confine: Option<PathBuf>,
}

impl Folder {
    /// The folder, resolved through symbolic links and checked against the confinement.
    pub fn root(&self) -> Result<PathBuf, FileError> {
        let real = self
            .path
            .canonicalize()
            .map_err(|_| FileError::NoFolder(self.skill.clone()))?;
        if !real.is_dir() {
            return Err(FileError::NoFolder(self.skill.clone()));
        }
        if let Some(confine) = &self.confine {
            let confine = confine.canonicalize().map_err(|e| {
                FileError::Io(format!("cannot resolve the capability's folder: {e}"))
            })?;
            if !real.starts_with(&confine) {
                return Err(FileError::FolderOutside(self.skill.clone()));
            }
        }
        Ok(real)
    }

    /// The file `segments` name inside the folder (already percent-decoded).
    pub fn file(&self, segments: &[String]) -> Result<PathBuf, FileError> {
        if let Some(bad) = segments.iter().find(|s| !safe_segment(s)) {
            return Err(FileError::UnsafeSegment(bad.clone()));
        }
        let shown = segments.join("/");
        if segments.is_empty() {
            return Err(FileError::NotFound(shown));
        }
        let root = self.root()?;
        let candidate = segments.iter().fold(root.clone(), |p, s| p.join(s));
        let real = match candidate.canonicalize() {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(FileError::NotFound(shown))
            }
            Err(e) => return Err(FileError::Io(e.to_string())),
        };
        if !real.starts_with(&root) {
            return Err(FileError::Escape);
        }
        if !real.is_file() {
            return Err(FileError::NotFound(shown));
        }
        Ok(real)
    }

    /// The bytes of a file [`Folder::file`] resolved, up to [`MAX_FILE`].
    pub fn read(&self, segments: &[String]) -> Result<Vec<u8>, FileError> {
        let path = self.file(segments)?;
        read_capped(&path, MAX_FILE, &segments.join("/"))
    }

    /// Regular files under the folder: (relative path with `/`, size), sorted by path.
    /// Symbolic links are not followed (neither into folders nor to files).
    pub fn list(&self) -> Result<Vec<(String, PathBuf, u64)>, FileError> {
        let root = self.root()?;
        let mut out = Vec::new();
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            let entries =
                std::fs::read_dir(root.join(&rel)).map_err(|e| FileError::Io(e.to_string()))?;
            for entry in entries {
                let entry = entry.map_err(|e| FileError::Io(e.to_string()))?;
                let kind = entry
                    .file_type()
                    .map_err(|e| FileError::Io(e.to_string()))?;
                let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                let child = rel.join(&name);
                if kind.is_dir() {
                    stack.push(child);
                } else if kind.is_file() {
                    let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                    let shown = child
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/");
                    out.push((shown, root.join(&child), size));
                    if out.len() > MAX_ENTRIES {
                        return Err(FileError::TooMany(self.skill.clone()));
                    }
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The folder as a ZIP archive (stored entries), up to [`MAX_DOWNLOAD`] bytes of files.
    pub fn zip(&self) -> Result<Vec<u8>, FileError> {
        let files = self.list()?;
        let total: u64 = files.iter().map(|f| f.2).sum();
        if total > MAX_DOWNLOAD {
            return Err(FileError::TooLarge {
                what: format!("the folder of skill '{}'", self.skill),
                limit: MAX_DOWNLOAD,
            });
        }
        let mut zip = Zip::default();
        let mut budget = MAX_DOWNLOAD;
        for (name, path, _) in files {
            let data = read_capped(&path, budget, &name)?;
            budget -= data.len() as u64;
            zip.add(&name, &data);
        }
        Ok(zip.finish())
    }
}

fn read_capped(path: &Path, limit: u64, shown: &str) -> Result<Vec<u8>, FileError> {
    let file = std::fs::File::open(path).map_err(|e| FileError::Io(e.to_string()))?;
    let mut data = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut data)
        .map_err(|e| FileError::Io(e.to_string()))?;
    if data.len() as u64 > limit {
        return Err(FileError::TooLarge {
            what: shown.to_string(),
            limit,
        });
    }
    Ok(data)
}

/// The media type of a file, by extension (`application/octet-stream` otherwise).
pub fn media_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "md" | "markdown" => "text/markdown",
        "txt" | "text" => "text/plain",
        "json" => "application/json",
        "yaml" | "yml" => "application/yaml",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "csv" => "text/csv",
        "xml" => "application/xml",
        "js" => "text/javascript",
        "py" => "text/x-python",
        "sh" => "application/x-sh",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

/// A ZIP archive of stored (uncompressed) entries with UTF-8 names: what every unzip
/// tool reads, without a compression dependency.
#[derive(Default)]
struct Zip {
    out: Vec<u8>,
    central: Vec<u8>,
    count: u16,
}

const DOS_DATE_1980_01_01: u16 = (1 << 5) | 1;
const UTF8_NAMES: u16 = 1 << 11;

impl Zip {
    fn add(&mut self, name: &str, data: &[u8]) {
        let crc = crc32fast::hash(data);
        let offset = self.out.len() as u32;
        let size = data.len() as u32;
        let name = name.as_bytes();
        // Local file header.
        self.out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        self.out.extend_from_slice(&10u16.to_le_bytes()); // version needed
        self.out.extend_from_slice(&UTF8_NAMES.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes()); // stored
        self.out.extend_from_slice(&0u16.to_le_bytes()); // time
        self.out
            .extend_from_slice(&DOS_DATE_1980_01_01.to_le_bytes());
        self.out.extend_from_slice(&crc.to_le_bytes());
        self.out.extend_from_slice(&size.to_le_bytes());
        self.out.extend_from_slice(&size.to_le_bytes());
        self.out
            .extend_from_slice(&(name.len() as u16).to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes()); // extra
        self.out.extend_from_slice(name);
        self.out.extend_from_slice(data);
        // Central directory entry.
        let c = &mut self.central;
        c.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        c.extend_from_slice(&20u16.to_le_bytes()); // version made by
        c.extend_from_slice(&10u16.to_le_bytes()); // version needed
        c.extend_from_slice(&UTF8_NAMES.to_le_bytes());
        c.extend_from_slice(&0u16.to_le_bytes());
        c.extend_from_slice(&0u16.to_le_bytes());
        c.extend_from_slice(&DOS_DATE_1980_01_01.to_le_bytes());
        c.extend_from_slice(&crc.to_le_bytes());
        c.extend_from_slice(&size.to_le_bytes());
        c.extend_from_slice(&size.to_le_bytes());
        c.extend_from_slice(&(name.len() as u16).to_le_bytes());
        c.extend_from_slice(&[0; 12]); // extra, comment, disk, internal attributes, external (4)
        c.extend_from_slice(&offset.to_le_bytes());
        c.extend_from_slice(name);
        self.count += 1;
    }

    fn finish(mut self) -> Vec<u8> {
        let offset = self.out.len() as u32;
        let size = self.central.len() as u32;
        self.out.append(&mut self.central);
        self.out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        self.out.extend_from_slice(&[0; 4]); // disk numbers
        self.out.extend_from_slice(&self.count.to_le_bytes());
        self.out.extend_from_slice(&self.count.to_le_bytes());
        self.out.extend_from_slice(&size.to_le_bytes());
        self.out.extend_from_slice(&offset.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes()); // comment
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(path: &Path, confine: Option<&Path>) -> Folder {
        Folder {
            skill: "s".into(),
            path: path.to_path_buf(),
            confine: confine.map(Path::to_path_buf),
        }
    }

    fn segs(p: &str) -> Vec<String> {
        p.split('/').map(str::to_string).collect()
    }

    #[test]
    fn files_resolve_inside_the_folder_only() {
        let dir = tempfile::tempdir().unwrap();
        let skill = dir.path().join("skill");
        std::fs::create_dir_all(skill.join("docs")).unwrap();
        std::fs::write(skill.join("SKILL.md"), "# s").unwrap();
        std::fs::write(skill.join("docs/a.md"), "a").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "no").unwrap();
        let f = folder(&skill, None);
        assert_eq!(f.read(&segs("SKILL.md")).unwrap(), b"# s");
        assert_eq!(f.read(&segs("docs/a.md")).unwrap(), b"a");
        for bad in ["../secret.txt", "docs/../../secret.txt", ".", "a b", "x%2F"] {
            assert!(
                matches!(f.read(&segs(bad)), Err(FileError::UnsafeSegment(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            f.read(&segs("nope.md")),
            Err(FileError::NotFound(_))
        ));
        assert!(matches!(f.read(&segs("docs")), Err(FileError::NotFound(_))));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("secret.txt"), skill.join("link.txt"))
                .unwrap();
            std::os::unix::fs::symlink(dir.path(), skill.join("up")).unwrap();
            assert!(matches!(f.read(&segs("link.txt")), Err(FileError::Escape)));
            assert!(matches!(
                f.read(&segs("up/secret.txt")),
                Err(FileError::Escape)
            ));
            // Listings and downloads do not follow links.
            let listed: Vec<String> = f.list().unwrap().into_iter().map(|e| e.0).collect();
            assert_eq!(listed, ["SKILL.md", "docs/a.md"]);
        }
    }

    #[test]
    fn a_folder_outside_the_capability_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cap = dir.path().join("cap");
        let other = dir.path().join("other");
        std::fs::create_dir_all(&cap).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        assert!(matches!(
            folder(&other, Some(&cap)).root(),
            Err(FileError::FolderOutside(_))
        ));
        assert!(matches!(
            folder(&cap.join("../other"), Some(&cap)).root(),
            Err(FileError::FolderOutside(_))
        ));
        assert!(folder(&cap, Some(&cap)).root().is_ok());
        assert!(matches!(
            folder(&cap.join("missing"), Some(&cap)).root(),
            Err(FileError::NoFolder(_))
        ));
    }

    #[test]
    fn the_zip_has_every_file_with_its_crc() {
        let mut z = Zip::default();
        z.add("a.txt", b"hello");
        z.add("d/b.md", b"");
        let bytes = z.finish();
        assert_eq!(&bytes[..4], b"PK\x03\x04");
        // End of central directory: two entries.
        let eocd = bytes.len() - 22;
        assert_eq!(&bytes[eocd..eocd + 4], b"PK\x05\x06");
        assert_eq!(u16::from_le_bytes([bytes[eocd + 10], bytes[eocd + 11]]), 2);
        assert_eq!(
            u32::from_le_bytes(bytes[14..18].try_into().unwrap()),
            crc32fast::hash(b"hello")
        );
    }
}
