//! Decoding a control entry's `management` block (upstream's `ControlManagementSpec`).
//!
//! Owns: its keys, `info` (which turns `/status` on; default false, as upstream), and
//! a warning at each toggle this host does not act on. Must not touch: the control
//! port itself.

use super::*;

const KEYS: &[&str] = &["health", "info", "reload", "validate", "logs", "scripting"];

impl Decoder<'_> {
    /// `management.info`, false when absent.
    pub(super) fn management(&mut self, n: &Node, field: &str) -> bool {
        let Some(m) = n.get("management") else {
            return false;
        };
        let mfield = format!("{field}.management");
        if matches!(m.value, Value::Null) || !self.expect_map(m, &mfield) {
            return false;
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
        for key in ["reload", "validate", "logs", "scripting"] {
            self.not_applied(
                m,
                key,
                &mfield,
                "upstream's config, logs and scripting endpoints are not served by this host",
            );
        }
        info
    }
}
