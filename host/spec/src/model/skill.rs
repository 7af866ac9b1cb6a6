//! The model of an `exposes` entry of `type: skill`: a catalogue of agent skills
//! (upstream's `SkillServerSpec`, `ExposedSkillSpec`, `SkillToolSpec`).
//!
//! Owns: the typed shape the skill adapter serves — metadata, an optional folder of
//! files, and tools that point at a sibling adapter's operation or tool (`from`) or at
//! an instruction file in the folder (`instruction`). Must not touch: files or sockets
//! (the adapter reads the folder at request time, confined to it).

use std::path::PathBuf;

use super::{Authentication, Pos, Spanned};

/// `exposes[]` with `type: skill`.
#[derive(Debug, Clone)]
pub struct ExposesSkill {
    pub namespace: Spanned<String>,
    /// `address`, default `127.0.0.1` when absent.
    pub address: Option<Spanned<String>>,
    /// 0 asks the OS for a free port.
    pub port: Spanned<u16>,
    pub description: Option<String>,
    /// Who may read the catalogue; None means anyone.
    pub authentication: Option<Authentication>,
    /// `skills`, in file order (keys are the skill names).
    pub skills: Vec<ExposedSkill>,
    pub pos: Pos,
}

/// `skills.NAME`: Agent Skills frontmatter, a folder and tools.
#[derive(Debug, Clone)]
pub struct ExposedSkill {
    pub name: Spanned<String>,
    pub description: String,
    pub license: Option<String>,
    pub compatibility: Option<String>,
    /// `metadata`: string values, in file order.
    pub metadata: Vec<(String, String)>,
    /// `allowed-tools`.
    pub allowed_tools: Option<String>,
    /// `argument-hint`.
    pub argument_hint: Option<String>,
    /// `user-invocable`.
    pub user_invocable: Option<bool>,
    /// `disable-model-invocation`.
    pub disable_model_invocation: Option<bool>,
    /// `location: file:///…`: the folder with `SKILL.md` and supporting files.
    /// Relative locations are resolved against the declaring file's folder.
    pub location: Option<Spanned<PathBuf>>,
    pub tools: Vec<SkillTool>,
    pub pos: Pos,
}

/// `tools.NAME` of a skill.
#[derive(Debug, Clone)]
pub struct SkillTool {
    pub name: Spanned<String>,
    pub description: String,
    pub source: SkillToolSource,
    pub pos: Pos,
}

/// Where a skill tool comes from: exactly one of `from` and `instruction`.
#[derive(Debug, Clone)]
pub enum SkillToolSource {
    /// `from: {sourceNamespace, action}`: an operation (rest) or tool (mcp) of a
    /// sibling exposes entry.
    From {
        namespace: Spanned<String>,
        action: Spanned<String>,
    },
    /// `instruction`: a file path relative to the skill's `location`.
    Instruction(Spanned<String>),
}
