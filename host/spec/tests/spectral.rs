//! Differential test: `ikanos_spec::lint::document` against the real Spectral CLI
//! (`@stoplight/spectral-cli`, pinned in tests/spectral and installed by
//! scripts/setup) running upstream's `ikanos-rules.yml` with upstream's custom
//! functions, on every public sample and on generated edge cases for every rule.
//!
//! Owns: running both linters on the same files and comparing their verdicts.
//! Must not touch: the CLI (tests/e2e/lint.rs checks that `ikanos lint` prints these
//! findings) or rule-level expectations of this project's own rule (tests/lint.rs).
//!
//! A verdict is the set of (rule, severity, line) per file. Lines, because Spectral's
//! ranges are 0-based (`line + 1` is ours) and its columns differ on purpose: for a
//! mapping or a list held by a key Spectral starts just after the colon where we
//! print the key's column. A set, because Spectral merges results of one rule at one
//! path with one message, and this host reports each offending reference of
//! `ikanos-tunnel-identity-must-bind` once with its own detail. Messages are checked
//! too: ours starts with Spectral's (rules backed by a function add upstream's detail).
//! One rule is compared at another line on purpose: this host reports
//! `ikanos-tunnel-fallback-direct-warns` at the `fallback` value instead of the
//! baseUri, so Spectral's result is moved to that entry's `tunnel.fallback`.
//!
//! Both rule sets are compared: the default (Spectral skips the three rules marked
//! `recommended: false`) and `extends: [[ikanos-rules.yml, all]]` (`RuleSet::All`).
//!
//! The ruleset is read from the shared corpus (../shared/conformance), which is not
//! part of the repository: without it the test says so and passes. Upstream's custom
//! functions, which the ruleset loads from `./functions`, are the test fixture
//! tests/spectral/functions (Apache-2.0, see its README).

mod spectral_cases;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use ikanos_spec::lint::{self, RuleSet, Severity};
use ikanos_spec::yaml::{self, Node, Value};

/// (rule, severity, 1-based line)
type Verdict = (String, Severity, u32);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn corpus() -> Option<PathBuf> {
    let dir = repo_root().join("../shared/conformance/ikanos-samples");
    if dir.join("ikanos-rules.yml").is_file() {
        // Spectral reports files by their canonical path.
        Some(dir.canonicalize().expect("canonical corpus path"))
    } else {
        eprintln!(
            "SKIP: {} is absent (the shared conformance corpus, with upstream's ruleset, is not part of the repository)",
            dir.display()
        );
        None
    }
}

fn spectral_bin() -> PathBuf {
    let bin = repo_root().join("tests/spectral/node_modules/.bin/spectral");
    assert!(
        bin.is_file(),
        "{} is missing: run scripts/setup (it runs npm ci in tests/spectral)",
        bin.display()
    );
    bin
}

/// The capability samples of the corpus and the files they import.
fn samples(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for d in [dir.to_path_buf(), dir.join("shared")] {
        for e in std::fs::read_dir(&d).expect("reading the corpus") {
            let p = e.expect("a corpus entry").path();
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            if (name.ends_with(".yml") || name.ends_with(".yaml")) && name != "ikanos-rules.yml" {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

fn severity(code: u64) -> Severity {
    match code {
        0 => Severity::Error,
        1 => Severity::Warn,
        2 => Severity::Info,
        _ => Severity::Hint,
    }
}

/// The value at `path` (Spectral's segments) in our tree.
fn node_at<'a>(root: &'a Node, path: &[String]) -> Option<&'a Node> {
    path.iter().try_fold(root, |n, seg| match &n.value {
        Value::Map(entries) => entries.iter().find(|e| &e.key == seg).map(|e| &e.value),
        Value::Seq(items) => items.get(seg.parse::<usize>().ok()?),
        _ => None,
    })
}

/// Where this host reports `ikanos-tunnel-fallback-direct-warns` for Spectral's
/// result at `…/consumes/i/baseUri`: the line of that entry's `tunnel.fallback`
/// (a scalar's own line, else its key's).
fn fallback_line(root: &Node, path: &[String]) -> Option<u32> {
    let entry = node_at(root, &path[..path.len().checked_sub(1)?])?;
    let tunnel = entry.get("tunnel")?;
    let e = tunnel.as_map()?.iter().find(|e| e.key == "fallback")?;
    Some(match e.value.value {
        Value::Str(_) => e.value.pos.line,
        _ => e.key_pos.line,
    })
}

struct SpectralResult {
    verdicts: BTreeSet<Verdict>,
    messages: Vec<(Verdict, String)>,
}

/// Runs Spectral with `ruleset` over `files` at once: verdicts and messages per file.
fn spectral(
    ruleset: &Path,
    files: &[PathBuf],
    roots: &BTreeMap<PathBuf, Node>,
) -> BTreeMap<PathBuf, SpectralResult> {
    let out = Command::new(spectral_bin())
        .arg("lint")
        .arg("--ruleset")
        .arg(ruleset)
        .args(["--format", "json", "--quiet"])
        .args(files)
        .output()
        .expect("running spectral");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let results: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "Spectral did not answer with JSON ({e}); exit {:?}\nstdout: {stdout}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let mut by_file: BTreeMap<PathBuf, SpectralResult> = files
        .iter()
        .map(|f| {
            (
                f.clone(),
                SpectralResult {
                    verdicts: BTreeSet::new(),
                    messages: Vec::new(),
                },
            )
        })
        .collect();
    for r in results.as_array().expect("a JSON array of results") {
        let file = PathBuf::from(r["source"].as_str().expect("source"));
        let code = r["code"].as_str().expect("code").to_string();
        let path: Vec<String> = r["path"]
            .as_array()
            .expect("path")
            .iter()
            .map(|s| s.as_str().map_or_else(|| s.to_string(), str::to_string))
            .collect();
        let mut line =
            u32::try_from(r["range"]["start"]["line"].as_u64().expect("line")).expect("line") + 1;
        if code == lint::FALLBACK_DIRECT_WARNS {
            let root = &roots[&file];
            line = fallback_line(root, &path).unwrap_or_else(|| {
                panic!("{}: no tunnel.fallback beside {path:?}", file.display())
            });
        }
        let v = (
            code,
            severity(r["severity"].as_u64().expect("severity")),
            line,
        );
        let entry = by_file.get_mut(&file).unwrap_or_else(|| {
            panic!(
                "Spectral reported on a file it was not given: {}",
                file.display()
            )
        });
        entry.verdicts.insert(v.clone());
        entry
            .messages
            .push((v, r["message"].as_str().expect("message").to_string()));
    }
    by_file
}

/// Our findings for `file`, upstream's rules only (ours has no Spectral counterpart).
fn ours(file: &Path, root: &Node, set: RuleSet) -> Vec<lint::Finding> {
    let upstream: BTreeSet<&str> = lint::RULES
        .iter()
        .filter(|r| r.upstream)
        .map(|r| r.name)
        .collect();
    lint::document(file, root, set)
        .into_iter()
        .filter(|f| upstream.contains(f.rule))
        .collect()
}

#[test]
fn lint_verdicts_are_spectrals_on_every_sample_and_edge_case() {
    let Some(corpus) = corpus() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let work = tmp.path().canonicalize().expect("canonical tempdir");
    // The ruleset as upstream ships it, beside upstream's functions.
    std::fs::copy(
        corpus.join("ikanos-rules.yml"),
        work.join("ikanos-rules.yml"),
    )
    .expect("copying the ruleset");
    let functions = work.join("functions");
    std::fs::create_dir(&functions).expect("mkdir");
    for e in std::fs::read_dir(repo_root().join("tests/spectral/functions"))
        .expect("tests/spectral/functions")
    {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "js") {
            std::fs::copy(&p, functions.join(p.file_name().expect("name")))
                .expect("copying a function");
        }
    }
    let all = work.join("all.yml");
    std::fs::write(&all, "extends: [[./ikanos-rules.yml, all]]\n").expect("writing all.yml");

    let samples = samples(&corpus);
    let cases_dir = work.join("cases");
    std::fs::create_dir(&cases_dir).expect("mkdir");
    let cases = spectral_cases::cases();
    let mut case_files = Vec::new();
    for c in &cases {
        let p = cases_dir.join(format!("{}.yaml", c.name));
        assert!(!p.exists(), "two cases are named {}", c.name);
        std::fs::write(&p, &c.text).expect("writing a case");
        case_files.push(p);
    }
    let files: Vec<PathBuf> = samples.iter().chain(&case_files).cloned().collect();
    let roots: BTreeMap<PathBuf, Node> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).expect("reading a file");
            let root = yaml::parse(&text)
                .unwrap_or_else(|(pos, m)| panic!("{}:{pos}: {m}", f.display()))
                .root;
            (f.clone(), root)
        })
        .collect();

    let mut mismatches = Vec::new();
    let mut findings = 0usize;
    let mut fired_in_all: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    for (ruleset, set) in [
        (work.join("ikanos-rules.yml"), RuleSet::Recommended),
        (all, RuleSet::All),
    ] {
        let theirs = spectral(&ruleset, &files, &roots);
        for f in &files {
            let mine = ours(f, &roots[f], set);
            let mine_v: BTreeSet<Verdict> = mine
                .iter()
                .map(|x| (x.rule.to_string(), x.severity, x.pos.line))
                .collect();
            let t = &theirs[f];
            findings += t.verdicts.len();
            if set == RuleSet::All {
                fired_in_all.insert(f.clone(), t.verdicts.iter().map(|v| v.0.clone()).collect());
            }
            if mine_v != t.verdicts {
                mismatches.push(format!(
                    "{} ({set:?}):\n  only Spectral: {:?}\n  only ours:     {:?}",
                    f.display(),
                    t.verdicts.difference(&mine_v).collect::<Vec<_>>(),
                    mine_v.difference(&t.verdicts).collect::<Vec<_>>()
                ));
                continue;
            }
            for (v, message) in &t.messages {
                let same = mine.iter().any(|x| {
                    (x.rule, x.severity, x.pos.line) == (v.0.as_str(), v.1, v.2)
                        && x.message.starts_with(message.as_str())
                });
                if !same {
                    mismatches.push(format!("{} ({set:?}): no finding {v:?} whose message starts with Spectral's {message:?}", f.display()));
                }
            }
        }
    }

    // Each case must do what it says for the rule it was written for, so that every
    // rule is seen both firing and quiet.
    let mut fires: BTreeSet<&str> = BTreeSet::new();
    let mut quiet: BTreeSet<&str> = BTreeSet::new();
    for (c, f) in cases.iter().zip(&case_files) {
        let fired = fired_in_all[f].contains(c.rule);
        if fired != c.fires {
            mismatches.push(format!(
                "case {} was written to {} {} but Spectral {}",
                c.name,
                if c.fires { "fire" } else { "not fire" },
                c.rule,
                if fired { "fired it" } else { "did not" }
            ));
        }
        if c.fires {
            fires.insert(c.rule)
        } else {
            quiet.insert(c.rule)
        };
    }
    for r in lint::RULES.iter().filter(|r| r.upstream) {
        if !fires.contains(r.name) {
            mismatches.push(format!("no generated case fires {}", r.name));
        }
        if !quiet.contains(r.name) {
            mismatches.push(format!("no generated case keeps {} quiet", r.name));
        }
    }

    eprintln!(
        "spectral differential: {} files ({} samples + {} generated cases) x 2 rule sets, {} Spectral findings, {} mismatches",
        files.len(),
        samples.len(),
        cases.len(),
        findings,
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "verdicts differ from Spectral's:\n{}",
        mismatches.join("\n")
    );
}
