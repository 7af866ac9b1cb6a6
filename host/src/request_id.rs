//! Request ids: one per inbound request, echoed in `x-request-id`, error bodies and logs.
//! Owns only the id format; must not touch requests themselves.

/// Accept a caller-supplied id if it is short and printable (so it is safe in logs and
/// headers); otherwise make a fresh one.
pub fn from_header(value: Option<&http::HeaderValue>) -> String {
    if let Some(v) = value.and_then(|v| v.to_str().ok()) {
        if !v.is_empty()
            && v.len() <= 128
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        {
            return v.to_owned();
        }
    }
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_safe_ids_and_replaces_unsafe_ones() {
        let ok = http::HeaderValue::from_static("abc-123");
        assert_eq!(from_header(Some(&ok)), "abc-123");
        let bad = http::HeaderValue::from_static("a b\"c");
        let fresh = from_header(Some(&bad));
        assert_eq!(fresh.len(), 36);
        assert_ne!(fresh, "a b\"c");
        assert_eq!(from_header(None).len(), 36);
    }
}
