//! Decoding a control entry's `management` block (upstream's `ControlManagementSpec`).
//!
//! Owns: its keys, `info` (which turns `/status` on; default false, as upstream),
//! `scripting` (script step governance: checked here, applied by the host), and a
//! warning at each toggle this host does not act on. Must not touch: the control port
//! itself.

use super::*;

const KEYS: &[&str] = &["health", "info", "reload", "validate", "logs", "scripting"];

impl Decoder<'_> {
    /// `management.info` (false when absent) and `management.scripting`.
    pub(super) fn management(
        &mut self,
        n: &Node,
        field: &str,
    ) -> (bool, Option<ScriptingSettings>) {
        let Some(m) = n.get("management") else {
            return (false, None);
        };
        let mfield = format!("{field}.management");
        if matches!(m.value, Value::Null) || !self.expect_map(m, &mfield) {
            return (false, None);
        }
        self.known_keys(m, KEYS, &mfield);
        let info = self.opt_bool(m, "info", &mfield).unwrap_or(false);
        if self.opt_bool(m, "health", &mfield) == Some(false) {
            self.not_applied(
                m,
                "health",
                &mfield,
                "/health/live and /health/ready are always served (probes and `ikanos serve` rely on them)",
            );
        }
        for key in ["reload", "validate", "logs"] {
            self.not_applied(
                m,
                key,
                &mfield,
                "upstream's config and logs endpoints are not served by this host",
            );
        }
        let scripting = m
            .get("scripting")
            .filter(|s| !matches!(s.value, Value::Null))
            .and_then(|s| self.scripting(s, &format!("{mfield}.scripting")));
        (info, scripting)
    }

    /// `management.scripting`, with upstream's defaults and the checks its `PUT
    /// /scripting` makes (languages known, positive limits, a `file:` location).
    fn scripting(&mut self, s: &Node, field: &str) -> Option<ScriptingSettings> {
        if !self.expect_map(s, field) {
            return None;
        }
        self.known_keys(
            s,
            &[
                "enabled",
                "defaultLocation",
                "defaultLanguage",
                "timeout",
                "statementLimit",
                "allowedLanguages",
            ],
            field,
        );
        let mut out = ScriptingSettings {
            enabled: self.opt_bool(s, "enabled", field),
            ..ScriptingSettings::default()
        };
        let language = |d: &mut Self, v: &Spanned<String>, what: &str| {
            if SCRIPT_LANGUAGES.contains(&v.value.as_str()) {
                true
            } else {
                d.err(
                    v.pos,
                    format!(
                        "{field}.{what}: unsupported language '{}' (supported: {})",
                        v.value,
                        SCRIPT_LANGUAGES.join(", ")
                    ),
                );
                false
            }
        };
        if let Some(l) = self.opt_string(s, "defaultLanguage", field) {
            if language(self, &l, "defaultLanguage") {
                out.default_language = Some(l.value);
            }
        }
        if let Some(l) = self.opt_string(s, "defaultLocation", field) {
            match crate::location::parse(&l.value, false) {
                Ok(crate::location::Location::Relative(_) | crate::location::Location::Absolute(_)) => {
                    out.default_location = Some(l.value)
                }
                _ => self.err(
                    l.pos,
                    format!("{field}.defaultLocation: '{}' is not a file: folder URI (e.g. file:///./scripts)", l.value),
                ),
            }
        }
        for (key, slot) in [
            ("timeout", &mut out.timeout_ms),
            ("statementLimit", &mut out.statement_limit),
        ] {
            if let Some(v) = s.get(key) {
                match v.value {
                    Value::Int(i, _) if i >= 1 => *slot = i as u64,
                    _ => self.err(
                        v.pos,
                        format!("{field}.{key}: must be an integer greater than or equal to 1"),
                    ),
                }
            }
        }
        if let Some(list) = s
            .get("allowedLanguages")
            .filter(|l| !matches!(l.value, Value::Null))
        {
            match &list.value {
                Value::Seq(items) => {
                    for item in items {
                        if let Some(l) = self.string(item, &format!("{field}.allowedLanguages")) {
                            if language(self, &l, "allowedLanguages") {
                                out.allowed_languages.push(l.value);
                            }
                        }
                    }
                }
                _ => self.err(
                    list.pos,
                    format!("{field}.allowedLanguages: must be a list"),
                ),
            }
        }
        Some(out)
    }
}
