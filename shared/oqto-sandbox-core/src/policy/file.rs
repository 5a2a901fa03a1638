//! A policy file as written: TOML with every key known, every value checked, and spans
//! kept so that each later error and each rule can name its file and line.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// A policy file. Unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// `false` runs commands without a sandbox (system and user files only).
    pub enabled: Option<Spanned<bool>>,
    /// The profile this file starts from.
    pub profile: Option<Spanned<String>>,
    pub isolate_network: Option<Spanned<bool>>,
    pub isolate_pid: Option<Spanned<bool>>,
    #[serde(default)]
    pub allow_read: Vec<Spanned<String>>,
    #[serde(default)]
    pub allow_write: Vec<Spanned<String>>,
    #[serde(default)]
    pub read_only: Vec<Spanned<String>>,
    #[serde(default)]
    pub deny_read: Vec<Spanned<String>>,
    #[serde(default)]
    pub env_allow: Vec<Spanned<String>>,
    /// Custom profiles.
    #[serde(default)]
    pub profiles: BTreeMap<Spanned<String>, ProfileDef>,
}

/// A `[profiles.NAME]` table: the rule keys of a file, plus `extends`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileDef {
    /// The profile this one starts from; without it, the closed policy (isolated, nothing
    /// allowed).
    pub extends: Option<Spanned<String>>,
    pub isolate_network: Option<Spanned<bool>>,
    pub isolate_pid: Option<Spanned<bool>>,
    #[serde(default)]
    pub allow_read: Vec<Spanned<String>>,
    #[serde(default)]
    pub allow_write: Vec<Spanned<String>>,
    #[serde(default)]
    pub read_only: Vec<Spanned<String>>,
    #[serde(default)]
    pub deny_read: Vec<Spanned<String>>,
    #[serde(default)]
    pub env_allow: Vec<Spanned<String>>,
}

/// The rule keys a file and a profile share, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct RuleKeys<'a> {
    pub isolate_network: Option<&'a Spanned<bool>>,
    pub isolate_pid: Option<&'a Spanned<bool>>,
    pub allow_read: &'a [Spanned<String>],
    pub allow_write: &'a [Spanned<String>],
    pub read_only: &'a [Spanned<String>],
    pub deny_read: &'a [Spanned<String>],
    pub env_allow: &'a [Spanned<String>],
}

impl PolicyFile {
    pub fn rules(&self) -> RuleKeys<'_> {
        RuleKeys {
            isolate_network: self.isolate_network.as_ref(),
            isolate_pid: self.isolate_pid.as_ref(),
            allow_read: &self.allow_read,
            allow_write: &self.allow_write,
            read_only: &self.read_only,
            deny_read: &self.deny_read,
            env_allow: &self.env_allow,
        }
    }
}

impl ProfileDef {
    pub fn rules(&self) -> RuleKeys<'_> {
        RuleKeys {
            isolate_network: self.isolate_network.as_ref(),
            isolate_pid: self.isolate_pid.as_ref(),
            allow_read: &self.allow_read,
            allow_write: &self.allow_write,
            read_only: &self.read_only,
            deny_read: &self.deny_read,
            env_allow: &self.env_allow,
        }
    }
}

/// A problem in a policy file, with its place.
#[derive(Debug, PartialEq, Eq)]
pub struct FileError {
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for FileError {}

/// A parsed file and its text (to turn spans into lines).
#[derive(Debug)]
pub struct Parsed {
    pub path: PathBuf,
    pub text: String,
    pub doc: PolicyFile,
}

impl Parsed {
    /// Parses `text` read from `path`.
    pub fn parse(path: &Path, text: String) -> Result<Self, FileError> {
        let doc: PolicyFile = toml::from_str(&text).map_err(|e| toml_error(path, &text, &e))?;
        Ok(Self {
            path: path.to_path_buf(),
            text,
            doc,
        })
    }

    /// The 1-based line of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        line_col(&self.text, offset).0
    }

    /// An error at a span of this file.
    pub fn error_at(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> FileError {
        let (line, column) = line_col(&self.text, span.start);
        FileError {
            file: self.path.clone(),
            line: Some(line),
            column: Some(column),
            message: message.into(),
        }
    }
}

fn toml_error(path: &Path, text: &str, err: &toml::de::Error) -> FileError {
    let (line, column) = match err.span() {
        Some(span) => {
            let (l, c) = line_col(text, span.start);
            (Some(l), Some(c))
        }
        None => (None, None),
    };
    FileError {
        file: path.to_path_buf(),
        line,
        column,
        message: err.message().trim_end().to_owned(),
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Parsed, FileError> {
        Parsed::parse(Path::new("/p/sandbox.toml"), text.to_owned())
    }

    #[test]
    fn a_full_file_parses() {
        let p = parse(
            "enabled = true\nprofile = \"dev2\"\nisolate_network = true\ndeny_read = [\"~/.x\"]\n\
             [profiles.dev2]\nextends = \"development\"\nallow_write = [\"~/data\"]\n",
        )
        .unwrap();
        assert_eq!(p.doc.profile.as_ref().unwrap().get_ref(), "dev2");
        assert_eq!(p.doc.deny_read.len(), 1);
        assert_eq!(p.line_of(p.doc.deny_read[0].span().start), 4);
        let (name, def) = p.doc.profiles.iter().next().unwrap();
        assert_eq!(name.get_ref(), "dev2");
        assert_eq!(def.allow_write.len(), 1);
    }

    #[test]
    fn unknown_top_level_key_names_its_line() {
        let err = parse("profile = \"strict\"\n\nisolate_net = true\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.message.contains("unknown field `isolate_net`"), "{err}");
        assert!(
            err.to_string().starts_with("/p/sandbox.toml:3:1: "),
            "{err}"
        );
    }

    #[test]
    fn unknown_profile_key_names_its_line() {
        let err = parse("[profiles.x]\nextends = \"strict\"\nallow_writes = []\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(
            err.message.contains("unknown field `allow_writes`"),
            "{err}"
        );
    }

    #[test]
    fn bad_value_type_names_its_line() {
        let err = parse("profile = \"strict\"\nisolate_network = \"yes\"\n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        assert!(err.message.contains("bool"), "{err}");
        let err = parse("deny_read = \"~/.ssh\"\n").unwrap_err();
        assert_eq!(err.line, Some(1), "{err}");
        assert!(err.message.contains("sequence"), "{err}");
    }

    #[test]
    fn broken_toml_names_its_line() {
        let err = parse("profile = \"strict\"\ndeny_read = [\n").unwrap_err();
        assert!(err.line.is_some_and(|l| l >= 2), "{err}");
    }
}
