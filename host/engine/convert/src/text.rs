//! Text helpers shared by the text formats: body decoding and Java's string rules.
//!
//! Owns: how bytes become text (upstream reads every text format through a `Reader`:
//! UTF-8, malformed bytes replaced, as Java's decoder does) and `String#trim` semantics.

use std::borrow::Cow;

/// The body as text: UTF-8, a leading byte-order mark dropped, malformed sequences
/// replaced by U+FFFD (Java's `InputStreamReader` default).
pub(crate) fn decode(body: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(strip_bom(body))
}

pub(crate) fn strip_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)
}

/// Java's `String#trim`: strips every char `<= ' '` at both ends (not Unicode spaces).
pub(crate) fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// Java's `String#isBlank`: empty or only `Character#isWhitespace` chars.
pub(crate) fn java_is_blank(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_whitespace() && c != '\u{a0}' && c != '\u{2007}' && c != '\u{202f}')
}
