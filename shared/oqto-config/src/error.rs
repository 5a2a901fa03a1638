//! Configuration errors, located by file, line, column and key.

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::paths::PathError;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    /// `--config FILE` names a file that does not exist. (A missing file at the default
    /// location is not an error: the defaults apply.)
    #[error("config file {} does not exist", path.display())]
    Missing { path: PathBuf },
    /// A syntax error, an unknown key, a value of the wrong type or out of range.
    #[error(transparent)]
    Invalid(#[from] Box<Invalid>),
    /// A path could not be worked out (no `HOME`, a socket path too long).
    #[error(transparent)]
    Path(#[from] PathError),
}

/// A problem in the file's text, with where it is.
///
/// Displayed as `runner.toml:12:1: runner.idle_timout: unknown field …`: the file as given,
/// the 1-based line and column (in characters), the dotted key when one applies, the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub file: PathBuf,
    /// 1-based line and column of the offending key or value; `None` if unknown.
    pub location: Option<(usize, usize)>,
    /// The dotted key the problem is about (`runner.idle_timeout`, `harness.pi.args[1]`).
    pub key: Option<String>,
    pub message: String,
}

impl std::error::Error for Invalid {}

impl From<Invalid> for ConfigError {
    fn from(invalid: Invalid) -> Self {
        ConfigError::Invalid(Box::new(invalid))
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, column)) = self.location {
            write!(f, ":{line}:{column}")?;
        }
        f.write_str(": ")?;
        // Name the key unless the message already does (serde's "unknown field `x`" for a
        // top-level key).
        if let Some(key) = self
            .key
            .as_ref()
            .filter(|key| !self.message.contains(&format!("`{key}`")))
        {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl Invalid {
    /// A problem with the value or key at `span` of `text`.
    pub(super) fn at(
        file: &Path,
        text: &str,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_owned(),
            location: Some(line_column(text, span.start)),
            key: Some(key.into()),
            message: message.into(),
        }
    }

    /// An error from the TOML parser or from serde, located by its span; the key is found by
    /// walking the document to the spanned key or value.
    pub(super) fn from_toml(file: &Path, text: &str, err: &toml::de::Error) -> Self {
        let span = err.span();
        let key = span.as_ref().and_then(|s| key_at(text, s.start));
        Self {
            file: file.to_owned(),
            location: span.map(|s| line_column(text, s.start)),
            key,
            message: err.message().trim().replace('\n', " "),
        }
    }
}

/// 1-based line and column (counted in characters) of byte offset `pos` in `text`.
pub(super) fn line_column(text: &str, pos: usize) -> (usize, usize) {
    let mut pos = pos.min(text.len());
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    let before = &text[..pos];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The dotted key whose key or value covers byte offset `pos`, if the text parses.
fn key_at(text: &str, pos: usize) -> Option<String> {
    let doc = DeTable::parse(text).ok()?;
    find_in_table(doc.get_ref(), pos, "")
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn find_in_table(table: &DeTable<'_>, pos: usize, prefix: &str) -> Option<String> {
    // Keys and leaf values first, anywhere below: a table's own span may cover its children.
    for (key, value) in table {
        let path = join(prefix, key.get_ref());
        if key.span().contains(&pos) {
            return Some(path);
        }
        if let Some(found) = find_in_value(value, pos, &path) {
            return Some(found);
        }
    }
    None
}

fn find_in_value(value: &Spanned<DeValue<'_>>, pos: usize, path: &str) -> Option<String> {
    match value.get_ref() {
        DeValue::Table(table) => find_in_table(table, pos, path)
            .or_else(|| value.span().contains(&pos).then(|| path.to_owned())),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(found) = find_in_value(item, pos, &format!("{path}[{i}]")) {
                    return Some(found);
                }
            }
            value.span().contains(&pos).then(|| path.to_owned())
        }
        _ => value.span().contains(&pos).then(|| path.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        // "bé = " is 6 bytes but 5 characters.
        assert_eq!(line_column(text, 12), (2, 6));
        assert_eq!(line_column(text, 999), (3, 1));
    }

    #[test]
    fn keys_are_found_by_offset() {
        let text = "[runner]\nmax_sessions = \"ten\"\n\n[harness.x]\nargs = [\"a\", 5]\n";
        let at = |needle: &str| key_at(text, text.find(needle).unwrap());
        assert_eq!(at("max_sessions").as_deref(), Some("runner.max_sessions"));
        assert_eq!(at("\"ten\"").as_deref(), Some("runner.max_sessions"));
        assert_eq!(at("5]").as_deref(), Some("harness.x.args[1]"));
        assert_eq!(at("args").as_deref(), Some("harness.x.args"));
    }

    #[test]
    fn display_names_file_line_column_and_key() {
        let e = Invalid {
            file: "runner.toml".into(),
            location: Some((12, 1)),
            key: Some("runner.idle_timout".into()),
            message: "unknown field `idle_timout`".into(),
        };
        assert_eq!(
            e.to_string(),
            "runner.toml:12:1: runner.idle_timout: unknown field `idle_timout`"
        );
        let top = Invalid {
            key: Some("idle_timout".into()),
            ..e
        };
        assert_eq!(
            top.to_string(),
            "runner.toml:12:1: unknown field `idle_timout`"
        );
    }
}
