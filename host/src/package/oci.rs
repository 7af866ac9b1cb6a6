//! Capabilities as OCI artifacts, through `oci-client` (ORAS's Rust client).
//!
//! The artifact (OCI image manifest 1.1):
//! - `artifactType` [`ARTIFACT_TYPE`]; config [`CONFIG_MEDIA_TYPE`]: JSON naming the
//!   capability, its `ikanos:` version, the capability file's and the component's paths.
//! - One layer per file, in order: the capability file ([`CAPABILITY_MEDIA_TYPE`]), the
//!   component ([`COMPONENT_MEDIA_TYPE`], `application/wasm` as the CNCF Wasm OCI
//!   artifact layout has it), then every other file ([`ASSET_MEDIA_TYPE`]) by path.
//!   Each layer's `org.opencontainers.image.title` is its path, as ORAS writes it, so
//!   `oras pull` unpacks the same folder.
//! - Manifest annotations: `org.opencontainers.image.title` (the name),
//!   [`NAME_ANNOTATION`], [`VERSION_ANNOTATION`]. No creation time: the same files
//!   always make the same digest, so re-pushing an unchanged folder moves no tag.
//!
//! A pull checks everything before it writes anything: the manifest's digest (against
//! the reference when pinned by digest), the media types, each title (a plain relative
//! path, unique, not hidden), exactly one capability file and at most one component,
//! sizes, and every blob's digest while it streams (oci-client).
//!
//! Registries: HTTPS, except plain HTTP for a loopback registry (127.0.0.0/8, ::1,
//! `localhost`, as Docker treats them) and the `HOST:PORT`s listed in
//! `IKANOS_REGISTRY_PLAIN_HTTP` (comma-separated). Credentials: anonymous, or HTTP basic
//! from `IKANOS_REGISTRY_USERNAME` / `IKANOS_REGISTRY_PASSWORD` (token exchange as the
//! registry asks, by oci-client).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{OciDescriptor, OciImageManifest, OCI_IMAGE_MEDIA_TYPE};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::store::{self, safe_relative, sha256_hex};
use super::{FileKind, PackageError, Packed, PackedFile};

pub const ARTIFACT_TYPE: &str = "application/vnd.ikanos.capability.v1";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.ikanos.capability.config.v1+json";
pub const CAPABILITY_MEDIA_TYPE: &str = "application/vnd.ikanos.capability.file.v1+yaml";
pub const COMPONENT_MEDIA_TYPE: &str = "application/wasm";
pub const ASSET_MEDIA_TYPE: &str = "application/vnd.ikanos.capability.asset.v1";
pub const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";
pub const NAME_ANNOTATION: &str = "io.ikanos.capability.name";
pub const VERSION_ANNOTATION: &str = "io.ikanos.capability.ikanos";

/// The largest artifact a pull accepts (all files together), and the largest manifest.
const MAX_ARTIFACT_BYTES: u64 = 512 << 20;
const MAX_FILES: usize = 10_000;

/// `oci://REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]`, registry always written out.
#[derive(Debug, Clone)]
pub struct ArtifactRef {
    reference: Reference,
    text: String,
}

impl std::fmt::Display for ArtifactRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for ArtifactRef {
    type Err = PackageError;

    fn from_str(text: &str) -> Result<Self, PackageError> {
        let bad = |why: &str| PackageError::Reference(text.to_string(), why.to_string());
        let rest = text
            .strip_prefix("oci://")
            .ok_or_else(|| bad("write oci://REGISTRY/NAME:TAG"))?;
        let registry = rest.split('/').next().unwrap_or_default();
        // A bare `crm:1` would mean Docker Hub: a capability's origin is never implied.
        if !rest.contains('/')
            || !(registry.contains('.') || registry.contains(':') || registry == "localhost")
        {
            return Err(bad(
                "name the registry (oci://REGISTRY/NAME:TAG, e.g. oci://127.0.0.1:5000/crm:1)",
            ));
        }
        let reference: Reference = rest.parse().map_err(|e| bad(&format!("{e}")))?;
        Ok(ArtifactRef {
            reference,
            text: text.to_string(),
        })
    }
}

impl ArtifactRef {
    /// The repository's last segment: `oci://r/team/crm:1` → `crm`.
    pub fn name(&self) -> &str {
        self.reference
            .repository()
            .rsplit('/')
            .next()
            .unwrap_or_default()
    }

    /// The registry (`HOST[:PORT]`).
    pub fn registry(&self) -> &str {
        self.reference.resolve_registry()
    }

    /// Pinned by digest: never changes, never re-checked.
    pub fn digest(&self) -> Option<&str> {
        self.reference.digest()
    }

    /// The same repository at `digest`.
    pub fn at(&self, digest: &str) -> String {
        format!(
            "oci://{}/{}@{digest}",
            self.reference.registry(),
            self.reference.repository()
        )
    }

    fn error(&self, e: impl std::fmt::Display) -> PackageError {
        let mut message = e.to_string();
        let refused = ["Not authorized", "UNAUTHORIZED", "code: 401", "DENIED"];
        if refused.iter().any(|r| message.contains(r)) {
            message.push_str(if std::env::var_os("IKANOS_REGISTRY_USERNAME").is_some() {
                " (the registry refused the credentials in IKANOS_REGISTRY_USERNAME/IKANOS_REGISTRY_PASSWORD)"
            } else {
                " (give the registry's credentials in IKANOS_REGISTRY_USERNAME and IKANOS_REGISTRY_PASSWORD)"
            });
        }
        PackageError::Registry {
            reference: self.text.clone(),
            message,
        }
    }
}

fn plain_http(registry: &str) -> bool {
    let host = registry
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(registry, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    loopback
        || std::env::var("IKANOS_REGISTRY_PLAIN_HTTP").is_ok_and(|list| {
            list.split(',')
                .map(str::trim)
                .any(|entry| !entry.is_empty() && entry == registry)
        })
}

/// A client for one registry, with the credentials the environment gives.
pub struct Registry {
    client: Client,
    auth: RegistryAuth,
}

impl Registry {
    pub fn for_ref(r: &ArtifactRef) -> Registry {
        // reqwest is built without a default crypto provider (ring is the host's).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let registry = r.reference.resolve_registry().to_string();
        let config = ClientConfig {
            protocol: if plain_http(&registry) {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            read_timeout: Some(std::time::Duration::from_secs(60)),
            platform_resolver: None,
            user_agent: concat!("ikanos/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        let auth = match (
            std::env::var("IKANOS_REGISTRY_USERNAME"),
            std::env::var("IKANOS_REGISTRY_PASSWORD"),
        ) {
            (Ok(user), Ok(password)) if !user.is_empty() => RegistryAuth::Basic(user, password),
            _ => RegistryAuth::Anonymous,
        };
        Registry {
            client: Client::new(config),
            auth,
        }
    }

    /// The manifest digest a reference names now (a HEAD request; a pinned reference
    /// names its own digest).
    pub async fn resolve(&self, r: &ArtifactRef) -> Result<String, PackageError> {
        if let Some(d) = r.digest() {
            return Ok(d.to_string());
        }
        self.client
            .fetch_manifest_digest(&r.reference, &self.auth)
            .await
            .map_err(|e| r.error(e))
    }

    /// Push `packed` as `r`; the manifest's digest.
    pub async fn push(&self, packed: &Packed, r: &ArtifactRef) -> Result<String, PackageError> {
        let (manifest, config, layers) = build(packed);
        let image = &r.reference;
        self.client
            .store_auth_if_needed(image.resolve_registry(), &self.auth)
            .await;
        for (descriptor, data) in layers
            .iter()
            .map(|(d, f)| (d, f.data.clone()))
            .chain(std::iter::once((&manifest.config, config.clone())))
        {
            // Unchanged files are already there: send only what the registry lacks.
            if !self
                .client
                .blob_exists(image, &descriptor.digest)
                .await
                .unwrap_or(false)
            {
                self.client
                    .push_blob(image, data, &descriptor.digest)
                    .await
                    .map_err(|e| r.error(e))?;
            }
        }
        let body = serde_json::to_vec(&manifest).expect("a manifest serializes");
        let digest = format!("sha256:{}", sha256_hex(&body));
        self.client
            .push_manifest_raw(
                image,
                body,
                http::HeaderValue::from_static(OCI_IMAGE_MEDIA_TYPE),
            )
            .await
            .map_err(|e| r.error(e))?;
        Ok(digest)
    }

    /// Fetch and check the artifact `r` names; its digest and files.
    pub async fn pull(&self, r: &ArtifactRef) -> Result<Pulled, PackageError> {
        let (body, digest) = self
            .client
            .pull_manifest_raw(&r.reference, &self.auth, &[OCI_IMAGE_MEDIA_TYPE])
            .await
            .map_err(|e| r.error(e))?;
        let actual = format!("sha256:{}", sha256_hex(&body));
        let expected = r.digest().unwrap_or(&digest);
        if actual != expected || actual != digest {
            return Err(PackageError::Digest {
                reference: r.to_string(),
                expected: expected.to_string(),
                actual,
            });
        }
        let manifest: OciImageManifest =
            serde_json::from_slice(&body).map_err(|e| PackageError::NotACapability {
                reference: r.to_string(),
                why: format!("its manifest is not an OCI image manifest ({e})"),
            })?;
        let layers = check_manifest(&manifest).map_err(|why| PackageError::NotACapability {
            reference: r.to_string(),
            why,
        })?;
        let mut files = Vec::with_capacity(layers.len());
        for (descriptor, path, kind) in layers {
            let mut data = Vec::with_capacity(usize::try_from(descriptor.size).unwrap_or(0));
            self.client
                .pull_blob(&r.reference, &descriptor, &mut data)
                .await
                .map_err(|e| r.error(e))?;
            if data.len() as i64 != descriptor.size {
                return Err(r.error(format!(
                    "{path}: {} bytes, the manifest says {}",
                    data.len(),
                    descriptor.size
                )));
            }
            files.push(PackedFile { path, kind, data });
        }
        Ok(Pulled { digest, files })
    }

    /// The artifact `r` names, in the store (fetched unless already there and whole).
    pub async fn pull_to_store(
        &self,
        r: &ArtifactRef,
        store: &Path,
    ) -> Result<StoredArtifact, PackageError> {
        let digest = self.resolve(r).await?;
        let key = digest.replace(':', "-");
        if !safe_relative(&key) {
            return Err(r.error(format!("the registry named a strange digest '{digest}'")));
        }
        if let Some(folder) = store::existing(store, &key) {
            return StoredArtifact::at(folder, digest, false);
        }
        let pulled = self.pull(r).await?;
        if pulled.digest != digest {
            // The tag moved between the two requests: take what was fetched.
            tracing::info!(reference = %r, from = %digest, to = %pulled.digest, "the tag moved while pulling");
        }
        let key = pulled.digest.replace(':', "-");
        let folder = store::put(store, &key, &pulled.files)?;
        StoredArtifact::at(folder, pulled.digest, true)
    }
}

/// An artifact's files, checked.
pub struct Pulled {
    pub digest: String,
    pub files: Vec<PackedFile>,
}

impl Pulled {
    pub fn capability(&self) -> &PackedFile {
        &self.files[0]
    }
}

/// A pulled artifact in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredArtifact {
    pub digest: String,
    pub folder: PathBuf,
    pub file: PathBuf,
    /// Fetched now (false: it was in the store already).
    pub fetched: bool,
}

impl StoredArtifact {
    fn at(folder: PathBuf, digest: String, fetched: bool) -> Result<Self, PackageError> {
        let file = std::fs::read_dir(&folder)
            .map_err(|e| PackageError::io(&folder, e))?
            .flatten()
            .map(|e| e.path())
            .find(|p| crate::capability::is_capability_file(p))
            .ok_or_else(|| PackageError::NoCapabilityFile(folder.display().to_string()))?;
        Ok(StoredArtifact {
            digest,
            folder,
            file,
            fetched,
        })
    }
}

#[derive(serde::Serialize)]
struct ArtifactConfig<'a> {
    name: &'a str,
    ikanos: &'a str,
    capability: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    component: Option<&'a str>,
}

fn media_type(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Capability => CAPABILITY_MEDIA_TYPE,
        FileKind::Component => COMPONENT_MEDIA_TYPE,
        FileKind::Asset => ASSET_MEDIA_TYPE,
    }
}

fn descriptor(media_type: &str, data: &[u8], title: Option<&str>) -> OciDescriptor {
    OciDescriptor {
        media_type: media_type.to_string(),
        digest: format!("sha256:{}", sha256_hex(data)),
        size: data.len() as i64,
        annotations: title.map(|t| BTreeMap::from([(TITLE_ANNOTATION.to_string(), t.to_string())])),
        ..OciDescriptor::default()
    }
}

/// The manifest, the config blob and each layer's descriptor with its file.
fn build(packed: &Packed) -> (OciImageManifest, Vec<u8>, Vec<(OciDescriptor, &PackedFile)>) {
    let config = serde_json::to_vec(&ArtifactConfig {
        name: &packed.name,
        ikanos: &packed.ikanos,
        capability: &packed.capability().path,
        component: packed.component().map(|c| c.path.as_str()),
    })
    .expect("the config serializes");
    let layers: Vec<_> = packed
        .files
        .iter()
        .map(|f| (descriptor(media_type(f.kind), &f.data, Some(&f.path)), f))
        .collect();
    let manifest = OciImageManifest {
        schema_version: 2,
        media_type: Some(OCI_IMAGE_MEDIA_TYPE.to_string()),
        config: descriptor(CONFIG_MEDIA_TYPE, &config, None),
        layers: layers.iter().map(|(d, _)| d.clone()).collect(),
        subject: None,
        artifact_type: Some(ARTIFACT_TYPE.to_string()),
        annotations: Some(BTreeMap::from([
            (TITLE_ANNOTATION.to_string(), packed.name.clone()),
            (NAME_ANNOTATION.to_string(), packed.name.clone()),
            (VERSION_ANNOTATION.to_string(), packed.ikanos.clone()),
        ])),
    };
    (manifest, config, layers)
}

/// The layers of an Ikanos artifact, each with its path and kind, or why it is not one.
fn check_manifest(
    manifest: &OciImageManifest,
) -> Result<Vec<(OciDescriptor, String, FileKind)>, String> {
    if manifest.config.media_type != CONFIG_MEDIA_TYPE
        && manifest.artifact_type.as_deref() != Some(ARTIFACT_TYPE)
    {
        return Err(format!(
            "artifact type {} with config {}; an Ikanos capability has {ARTIFACT_TYPE}",
            manifest.artifact_type.as_deref().unwrap_or("(none)"),
            manifest.config.media_type
        ));
    }
    if manifest.layers.len() > MAX_FILES {
        return Err(format!(
            "{} files; at most {MAX_FILES}",
            manifest.layers.len()
        ));
    }
    let mut total: u64 = 0;
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for (i, layer) in manifest.layers.iter().enumerate() {
        let kind = match layer.media_type.as_str() {
            CAPABILITY_MEDIA_TYPE => FileKind::Capability,
            COMPONENT_MEDIA_TYPE => FileKind::Component,
            ASSET_MEDIA_TYPE => FileKind::Asset,
            other => return Err(format!("layer {i} has media type {other}, unknown here")),
        };
        let path = layer
            .annotations
            .as_ref()
            .and_then(|a| a.get(TITLE_ANNOTATION))
            .ok_or_else(|| format!("layer {i} has no {TITLE_ANNOTATION}"))?;
        if !safe_relative(path) {
            return Err(format!(
                "layer {i} is titled '{path}'; a file of a capability is a plain relative path"
            ));
        }
        if !seen.insert(path.clone()) {
            return Err(format!("two layers are titled '{path}'"));
        }
        let size =
            u64::try_from(layer.size).map_err(|_| format!("layer {i} has a negative size"))?;
        total = total.saturating_add(size);
        if total > MAX_ARTIFACT_BYTES {
            return Err(format!("larger than {} MiB", MAX_ARTIFACT_BYTES >> 20));
        }
        out.push((layer.clone(), path.clone(), kind));
    }
    let count = |k| out.iter().filter(|(_, _, kind)| *kind == k).count();
    if count(FileKind::Capability) != 1 || out.first().map(|l| l.2) != Some(FileKind::Capability) {
        return Err("it must hold exactly one capability file, as its first layer".into());
    }
    let capability = &out[0].1;
    if capability.contains('/') || !crate::capability::is_capability_name(capability) {
        return Err(format!(
            "its capability file '{capability}' is not NAME.ikanos.yaml at the top"
        ));
    }
    if count(FileKind::Component) > 1 {
        return Err("it holds more than one component".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed() -> Packed {
        Packed {
            name: "crm".into(),
            ikanos: "1.0.0-beta5".into(),
            files: vec![
                PackedFile {
                    path: "crm.ikanos.yaml".into(),
                    kind: FileKind::Capability,
                    data: b"ikanos: x\n".to_vec(),
                },
                PackedFile {
                    path: "crm.wasm".into(),
                    kind: FileKind::Component,
                    data: b"\0asm".to_vec(),
                },
                PackedFile {
                    path: "docs/a.md".into(),
                    kind: FileKind::Asset,
                    data: b"a".to_vec(),
                },
            ],
            left_behind: vec![],
        }
    }

    #[test]
    fn references_name_their_registry() {
        let r: ArtifactRef = "oci://127.0.0.1:5000/team/crm:1".parse().unwrap();
        assert_eq!(r.name(), "crm");
        assert_eq!(r.digest(), None);
        for bad in [
            "crm:1",
            "oci://crm:1",
            "oci://crm/x:1",
            "http://r.io/x:1",
            "oci://r.io/X:1",
        ] {
            assert!(bad.parse::<ArtifactRef>().is_err(), "{bad}");
        }
        let pinned: ArtifactRef = format!("oci://r.example/crm@sha256:{}", "a".repeat(64))
            .parse()
            .unwrap();
        assert!(pinned.digest().is_some());
    }

    #[test]
    fn loopback_registries_speak_plain_http() {
        assert!(plain_http("127.0.0.1:5000"));
        assert!(plain_http("localhost:5000"));
        assert!(plain_http("[::1]:5000"));
        assert!(!plain_http("registry.example:5000"));
        assert!(!plain_http("10.0.0.1:5000"));
    }

    #[test]
    fn the_same_files_make_the_same_manifest_and_it_checks() {
        let (a, ca, _) = build(&packed());
        let (b, cb, _) = build(&packed());
        assert_eq!(
            serde_json::to_vec(&a).unwrap(),
            serde_json::to_vec(&b).unwrap()
        );
        assert_eq!(ca, cb);
        let layers = check_manifest(&a).unwrap();
        let paths: Vec<_> = layers.iter().map(|l| l.1.as_str()).collect();
        assert_eq!(paths, ["crm.ikanos.yaml", "crm.wasm", "docs/a.md"]);
        assert_eq!(a.artifact_type.as_deref(), Some(ARTIFACT_TYPE));
    }

    #[test]
    fn a_manifest_that_would_write_outside_its_folder_is_refused() {
        let (mut m, _, _) = build(&packed());
        m.layers[2]
            .annotations
            .as_mut()
            .unwrap()
            .insert(TITLE_ANNOTATION.into(), "../../etc/cron.d/x".into());
        assert!(check_manifest(&m)
            .unwrap_err()
            .contains("plain relative path"));
        let (mut m, _, _) = build(&packed());
        m.layers[2]
            .annotations
            .as_mut()
            .unwrap()
            .insert(TITLE_ANNOTATION.into(), "crm.wasm".into());
        assert!(check_manifest(&m).unwrap_err().contains("two layers"));
        let (mut m, _, _) = build(&packed());
        m.layers[1].media_type = "application/vnd.oci.image.layer.v1.tar".into();
        assert!(check_manifest(&m).unwrap_err().contains("unknown here"));
        let (mut m, _, _) = build(&packed());
        m.layers.swap(0, 2);
        assert!(check_manifest(&m).is_err());
        let (mut m, _, _) = build(&packed());
        m.config.media_type = "application/vnd.oci.image.config.v1+json".into();
        m.artifact_type = None;
        assert!(check_manifest(&m).unwrap_err().contains(ARTIFACT_TYPE));
    }
}
