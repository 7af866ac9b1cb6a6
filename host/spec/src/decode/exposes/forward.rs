//! Decoding a REST resource's `forward` block (`targetNamespace`, `trustedHeaders`).
//!
//! Owns: its shape, and a warning for trusted headers that a proxy never passes on
//! (hop-by-hop and transport headers). Must not touch: whether the target exists
//! (`check`).

use super::*;

impl Decoder<'_> {
    pub(super) fn forward(&mut self, f: &Node, field: &str, d: &mut DExposes) -> Option<Forward> {
        let ffield = format!("{field}.forward");
        if !self.expect_map(f, &ffield) {
            return None;
        }
        self.known_keys(f, &["targetNamespace", "trustedHeaders"], &ffield);
        let target = self.req_string(f, "targetNamespace", &ffield);
        if !target.value.is_empty() {
            d.forwards
                .push((format!("{ffield}.targetNamespace"), target.clone()));
        }
        let mut trusted_headers = Vec::new();
        if let Some(list) = f.get("trustedHeaders") {
            let lfield = format!("{ffield}.trustedHeaders");
            match &list.value {
                Value::Seq(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let ifield = format!("{lfield}[{i}]");
                        let Some(h) = self.string(item, &ifield) else {
                            continue;
                        };
                        if http_token(&h.value).is_none() {
                            self.err(
                                h.pos,
                                format!("{ifield}: '{}' is not a header name", h.value),
                            );
                            continue;
                        }
                        if Forward::NEVER_FORWARDED.contains(&h.value.to_ascii_lowercase().as_str())
                        {
                            self.warn(
                                h.pos,
                                format!("{ifield}: '{}' is a hop-by-hop or transport header; it is never forwarded", h.value),
                            );
                            continue;
                        }
                        trusted_headers.push(h);
                    }
                }
                Value::Null => {}
                _ => self.err(
                    list.pos,
                    format!(
                        "{lfield}: expected a list of header names, found {}",
                        list.kind()
                    ),
                ),
            }
        }
        Some(Forward {
            target,
            trusted_headers,
        })
    }
}

/// `name` when it is an HTTP token (RFC 9110 §5.6.2).
fn http_token(name: &str) -> Option<&str> {
    (!name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)))
    .then_some(name)
}
