//! Every public upstream sample must load: the loader must not reject what the
//! upstream format allows. The corpus lives outside the repository; skip without it.

use std::path::PathBuf;

fn samples_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/conformance/ikanos-samples"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: conformance corpus not found at {}", dir.display());
        None
    }
}

fn sample_files(dir: &std::path::Path) -> Vec<PathBuf> {
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

#[test]
fn every_sample_loads_without_errors() {
    let Some(dir) = samples_dir() else { return };
    let files = sample_files(&dir);
    assert!(files.len() >= 20, "expected the whole corpus, found {} files", files.len());
    let mut failures = Vec::new();
    for f in &files {
        match ikanos_spec::load(f) {
            Ok(l) => {
                for w in &l.warnings {
                    eprintln!("{w}");
                }
            }
            Err(d) => failures.push(d.to_string()),
        }
    }
    assert!(failures.is_empty(), "samples failed to load:\n{}", failures.join("\n"));
}
