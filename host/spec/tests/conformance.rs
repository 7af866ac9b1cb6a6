//! Every public upstream sample must load: the loader must not reject what the
//! upstream format allows. The corpus lives outside the repository; skip without it.

use std::path::{Path, PathBuf};

use ikanos_spec::model::{Exposes, Fallback, Handler};

fn samples_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/ikanos-samples"
    ));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: conformance corpus not found at {}",
            dir.display()
        );
        None
    }
}

fn sample_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            (name.ends_with(".yml") || name.ends_with(".yaml")) && name != "ikanos-rules.yml"
        })
        .collect();
    files.sort();
    files
}

/// The upstream negative lint fixture for `ikanos-tunnel-identity-must-bind`: its
/// identity names a bind namespace that does not exist. The upstream schema accepts
/// the file (only the lint rule rejects it), so loading it succeeds with exactly this
/// warning.
const UNBOUND_FIXTURE: &str = "spectral-tunnel-identity-unbound.yaml";
const UNBOUND_WARNING: &str = "22:19: warning: capability.consumes[0].tunnel.identity: unresolvable reference '{{secrets.ZITI_IDENTITY}}': no bind namespace 'secrets'; the tunnel can never become ready (`ikanos-tunnel-identity-must-bind`)";

#[test]
fn every_sample_loads_without_errors() {
    let Some(dir) = samples_dir() else { return };
    let files = sample_files(&dir);
    assert!(
        files.len() >= 20,
        "expected the whole corpus, found {} files",
        files.len()
    );
    let mut failures = Vec::new();
    for f in &files {
        let unbound = f.ends_with(UNBOUND_FIXTURE);
        match ikanos_spec::load(f) {
            Ok(l) => {
                for w in &l.warnings {
                    eprintln!("{w}");
                }
                if unbound {
                    let expected = format!("{}:{UNBOUND_WARNING}", f.display());
                    assert!(
                        l.warnings.iter().any(|w| w.to_string() == expected),
                        "expected `{expected}` among {:?}",
                        l.warnings
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                    );
                }
            }
            Err(d) => failures.push(d.to_string()),
        }
    }
    assert!(
        failures.is_empty(),
        "samples failed to load:\n{}",
        failures.join("\n")
    );
}

#[test]
fn samples_decode_to_the_expected_model() {
    let Some(dir) = samples_dir() else { return };
    let load = |name: &str| {
        ikanos_spec::load(&dir.join(name))
            .unwrap_or_else(|d| panic!("{d}"))
            .capability
    };

    let tunnel = load("reverse-tunnel-ziti.yml");
    let t = tunnel.consumes[0].tunnel.as_ref().expect("tunnel");
    assert_eq!(
        (t.kind.value.as_str(), t.fallback),
        ("ziti", Fallback::Fail)
    );
    assert_eq!(
        t.service.as_ref().map(|s| s.value.as_str()),
        Some("crm-api")
    );
    assert_eq!(tunnel.binds[0].keys.len(), 2);

    // Imports are inlined and keep the shared file as their source.
    let step10 = load("step-10-shipyard-rest-adapter.yml");
    let names: Vec<&str> = step10
        .consumes
        .iter()
        .map(|c| c.namespace.value.as_str())
        .collect();
    assert_eq!(names, ["registry", "legacy"]);
    assert!(step10.consumes[1]
        .namespace
        .file
        .ends_with("shared/legacy-consumes.yaml"));
    let rest = step10
        .exposes
        .iter()
        .find_map(|e| match e {
            Exposes::Rest(r) => Some(r),
            _ => None,
        })
        .expect("a rest adapter");
    let handlers: Vec<(&str, &Handler)> = rest
        .resources
        .iter()
        .flat_map(|r| &r.operations)
        .map(|o| (o.name.value.as_str(), &o.handler))
        .collect();
    assert!(handlers.iter().any(|(n, h)| *n == "get-ship-with-crew"
        && matches!(h, Handler::Ref(r) if r.value == "crew-resolver.resolve-crew-for-ship")));
    assert!(handlers.iter().any(|(n, h)| *n == "list-ships"
        && matches!(h, Handler::Call(c) if c.value == "registry.list-ships")));

    let serve = load("serve-http.ikanos.yaml");
    let kinds: Vec<&str> = serve
        .exposes
        .iter()
        .map(|e| match e {
            Exposes::Rest(_) => "rest",
            Exposes::Mcp { .. } => "mcp",
            Exposes::Control(_) => "control",
            Exposes::Skill { .. } => "skill",
        })
        .collect();
    assert_eq!(kinds, ["rest", "skill", "control"]);
}
