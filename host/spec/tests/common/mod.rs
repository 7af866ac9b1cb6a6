//! Helpers shared by the spec crate's test files: edit a fixture, load a file that
//! must fail.

use std::path::Path;

use ikanos_spec::load_str;

/// `base` with `from` replaced by `to` (which must occur exactly once).
pub fn edit(base: &str, from: &str, to: &str) -> String {
    assert_eq!(
        base.matches(from).count(),
        1,
        "fixture edit '{from}' must match once"
    );
    base.replacen(from, to, 1)
}

/// The full diagnostic output of `text`, loaded as `file`, which must fail.
pub fn errors(file: &str, text: &str) -> String {
    match load_str(Path::new(file), text) {
        Ok(_) => panic!("expected errors, the file loaded"),
        Err(d) => d.to_string(),
    }
}
