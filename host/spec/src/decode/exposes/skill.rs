//! Decoding an `exposes` entry of `type: skill` (upstream's `ExposesSkill`,
//! `ExposedSkill` and `SkillTool` schema definitions), keys checked as strictly as the
//! rest of the decoder.
//!
//! Owns: the shape of the entry, of each skill and of each tool — exactly one of
//! `from` and `instruction`, `instruction` only with a skill `location`, instruction
//! paths that stay inside the folder, the schema's length limits. Must not touch:
//! whether a `from` target exists (that needs the sibling entries: `check::skill`)
//! or the folder's files (the adapter reads them at request time).

use super::*;

/// The schema's `maxLength`s.
const MAX_DESCRIPTION: usize = 1024;
const MAX_COMPATIBILITY: usize = 500;
const MAX_ALLOWED_TOOLS: usize = 1024;

/// Is `path` a relative path whose every segment is a plain file name (no `.`, `..`,
/// empty segments, backslashes or absolute roots)?
fn safe_relative(path: &str) -> bool {
    !path.is_empty()
        && path.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

impl Decoder<'_> {
    pub(super) fn exposes_skill(&mut self, n: &Node, field: &str, d: &mut DExposes) {
        self.known_keys(
            n,
            &[
                "type",
                "address",
                "port",
                "namespace",
                "description",
                "authentication",
                "skills",
            ],
            field,
        );
        let namespace = self.req_string(n, "namespace", field);
        self.kebab(&namespace, "namespace", &format!("{field}.namespace"));
        let (address, port) = self.listen(n, field, true);
        let port = port.unwrap_or_else(|| self.spanned(0, n.pos));
        let description = self.opt_string(n, "description", field).map(|s| s.value);
        let authentication = n
            .get("authentication")
            .and_then(|a| self.authentication(a, &format!("{field}.authentication"), &mut d.refs));
        if self.required(n, "skills", field).is_some() {
            let named = self.named(n, "skills", field);
            if named.is_empty() {
                if let Some(s) = n.get("skills") {
                    self.err(s.pos, format!("{field}.skills: declare at least one skill"));
                }
            }
        }
        let mut skills = Vec::new();
        for (name, value, sfield) in self.named_maps(n, "skills", "skill name", field) {
            skills.push(self.exposed_skill(value, name, &sfield));
        }
        d.namespace = Some(namespace.clone());
        d.listen = Some(Listen {
            address: address.clone(),
            port: port.clone(),
        });
        d.model = Some(Exposes::Skill(ExposesSkill {
            namespace,
            address,
            port,
            description,
            authentication,
            skills,
            pos: n.pos,
        }));
    }

    fn max_len(&mut self, s: &Option<Spanned<String>>, max: usize, field: &str) {
        if let Some(s) = s {
            let len = s.value.chars().count();
            if len > max {
                self.err(
                    s.pos,
                    format!("{field}: {len} characters, more than the {max} allowed"),
                );
            }
        }
    }

    fn exposed_skill(&mut self, n: &Node, name: Spanned<String>, field: &str) -> ExposedSkill {
        self.known_keys(
            n,
            &[
                "description",
                "license",
                "compatibility",
                "metadata",
                "allowed-tools",
                "argument-hint",
                "user-invocable",
                "disable-model-invocation",
                "location",
                "tools",
            ],
            field,
        );
        let description = Some(self.req_string(n, "description", field));
        self.max_len(
            &description,
            MAX_DESCRIPTION,
            &format!("{field}.description"),
        );
        let compatibility = self.opt_string(n, "compatibility", field);
        self.max_len(
            &compatibility,
            MAX_COMPATIBILITY,
            &format!("{field}.compatibility"),
        );
        let allowed_tools = self.opt_string(n, "allowed-tools", field);
        self.max_len(
            &allowed_tools,
            MAX_ALLOWED_TOOLS,
            &format!("{field}.allowed-tools"),
        );
        let mut metadata = Vec::new();
        for e in self.named(n, "metadata", field) {
            let mfield = format!("{field}.metadata.{}", e.key);
            if let Some(v) = self.string(&e.value, &mfield) {
                metadata.push((e.key.clone(), v.value));
            }
        }
        let location = self.file_location(n, field);
        if let Some(t) = n.get("tools") {
            if matches!(&t.value, Value::Map(m) if m.is_empty()) {
                self.err(t.pos, format!("{field}.tools: declare at least one tool"));
            }
        }
        let mut tools = Vec::new();
        for (tname, value, tfield) in self.named_maps(n, "tools", "tool name", field) {
            if let Some(tool) = self.skill_tool(value, tname, &tfield, location.is_some()) {
                tools.push(tool);
            }
        }
        ExposedSkill {
            name,
            description: description.map(|d| d.value).unwrap_or_default(),
            license: self.opt_string(n, "license", field).map(|s| s.value),
            compatibility: compatibility.map(|s| s.value),
            metadata,
            allowed_tools: allowed_tools.map(|s| s.value),
            argument_hint: self.opt_string(n, "argument-hint", field).map(|s| s.value),
            user_invocable: self.opt_bool(n, "user-invocable", field),
            disable_model_invocation: self.opt_bool(n, "disable-model-invocation", field),
            location,
            tools,
            pos: n.pos,
        }
    }

    fn skill_tool(
        &mut self,
        n: &Node,
        name: Spanned<String>,
        field: &str,
        has_location: bool,
    ) -> Option<SkillTool> {
        self.known_keys(n, &["description", "from", "instruction"], field);
        let description = self.req_string(n, "description", field).value;
        let source = match (n.get("from"), n.get("instruction")) {
            (Some(_), Some(i)) => {
                self.err(
                    i.pos,
                    format!("{field}: 'from' and 'instruction' are alternatives; keep only one"),
                );
                return None;
            }
            (None, None) => {
                self.err(
                    n.pos,
                    format!("{field}: declare 'from' (a sibling adapter's operation or tool) or 'instruction' (a file in the skill's location)"),
                );
                return None;
            }
            (Some(f), None) => {
                let ffield = format!("{field}.from");
                if !self.expect_map(f, &ffield) {
                    return None;
                }
                self.known_keys(f, &["sourceNamespace", "action"], &ffield);
                let namespace = self.req_string(f, "sourceNamespace", &ffield);
                let action = self.req_string(f, "action", &ffield);
                SkillToolSource::From { namespace, action }
            }
            (None, Some(i)) => {
                let ifield = format!("{field}.instruction");
                let path = self.string(i, &ifield)?;
                if !has_location {
                    self.err(
                        i.pos,
                        format!("{ifield}: an instruction is a file in the skill's folder, and this skill has no 'location'"),
                    );
                }
                if !safe_relative(&path.value) {
                    self.err(
                        i.pos,
                        format!(
                            "{ifield}: '{}' must be a relative path inside the skill's folder (segments of letters, digits, '.', '_', '-'; no '..')",
                            path.value
                        ),
                    );
                }
                SkillToolSource::Instruction(path)
            }
        };
        Some(SkillTool {
            name,
            description,
            source,
            pos: n.pos,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::safe_relative;

    #[test]
    fn instruction_paths_stay_inside_the_folder() {
        for ok in ["SKILL.md", "docs/usage.md", "a-b_c.1/x.txt"] {
            assert!(safe_relative(ok), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./x",
            "a\\b",
            "a b",
            "..",
            "%2e%2e/x",
        ] {
            assert!(!safe_relative(bad), "{bad}");
        }
    }
}
