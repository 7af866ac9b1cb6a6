//! Cross-checks of skill adapters: a tool's `from` names a sibling `rest` or `mcp`
//! exposes entry and an operation (rest) or tool (mcp) in it — upstream's
//! `SkillServerAdapter.validateSkills`, made a load-time error with a position.
//!
//! Must not touch: the shape of the entry (decode) or the skill's files.

use crate::diagnostic::{did_you_mean, Sink};
use crate::imports::Merged;
use crate::model::{Exposes, SkillToolSource};

/// The actions a sibling entry offers: operation names (rest) or tool names (mcp).
fn actions(e: &Exposes) -> Option<(&'static str, Vec<&str>)> {
    match e {
        Exposes::Rest(r) => Some((
            "rest",
            r.resources
                .iter()
                .flat_map(|res| res.operations.iter().map(|o| o.name.value.as_str()))
                .collect(),
        )),
        Exposes::Mcp(m) => Some((
            "mcp",
            m.tools.iter().map(|t| t.name.value.as_str()).collect(),
        )),
        Exposes::Skill(_) | Exposes::Control(_) => None,
    }
}

pub(crate) fn run(m: &Merged, sink: &mut Sink) {
    let siblings: Vec<(&str, &'static str, Vec<&str>)> = m
        .exposes
        .iter()
        .filter_map(|e| {
            let model = e.model.as_ref()?;
            let (kind, names) = actions(model)?;
            Some((e.namespace.as_ref()?.value.as_str(), kind, names))
        })
        .collect();
    for e in &m.exposes {
        let Some(Exposes::Skill(skill)) = &e.model else {
            continue;
        };
        for s in &skill.skills {
            for t in &s.tools {
                let SkillToolSource::From { namespace, action } = &t.source else {
                    continue;
                };
                let field = format!(
                    "{}.skills.{}.tools.{}.from",
                    e.field, s.name.value, t.name.value
                );
                let Some((_, kind, names)) =
                    siblings.iter().find(|(ns, _, _)| *ns == namespace.value)
                else {
                    let hint = did_you_mean(&namespace.value, siblings.iter().map(|s| s.0));
                    let declared: Vec<&str> = siblings.iter().map(|s| s.0).collect();
                    sink.report(
                        m.standalone,
                        &namespace.file,
                        namespace.pos,
                        format!(
                            "{field}.sourceNamespace: no rest or mcp exposes entry '{}' (declared: {}){hint}",
                            namespace.value,
                            if declared.is_empty() { "none".to_string() } else { declared.join(", ") }
                        ),
                    );
                    continue;
                };
                if !names.contains(&action.value.as_str()) {
                    let what = if *kind == "rest" { "operation" } else { "tool" };
                    let hint = did_you_mean(&action.value, names.iter().copied());
                    sink.report(
                        m.standalone,
                        &action.file,
                        action.pos,
                        format!(
                            "{field}.action: {kind} entry '{}' has no {what} '{}'{hint}",
                            namespace.value, action.value
                        ),
                    );
                }
            }
        }
    }
}
