//! Resume tokens: `fake:<turns>:<messages>:<parts>`, plus `:fork:<message_id>` for a fork.
//!
//! The fake agent keeps no files, so its token carries everything it needs to continue: how
//! many turns it has run and how many message and part labels it has handed out, so a
//! resumed agent never reuses a label. `fake:<turns>` alone is accepted too (labels then
//! start again at `m1`/`p1`).

use std::fmt;

/// The counters a conversation continues from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resume {
    pub turns: u64,
    pub messages: u64,
    pub parts: u64,
    /// The message label a forked conversation branches before.
    pub fork: Option<String>,
}

/// Why a token was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadToken(pub String);

impl fmt::Display for BadToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "resume token `{}` is not `fake:<turns>[:<messages>:<parts>][:fork:<message_id>]`",
            self.0
        )
    }
}

impl std::error::Error for BadToken {}

impl Resume {
    /// Parses a token this agent handed out.
    pub fn parse(token: &str) -> Result<Self, BadToken> {
        let bad = || BadToken(token.to_owned());
        let rest = token.strip_prefix("fake:").ok_or_else(bad)?;
        let (counters, fork) = match rest.split_once(":fork:") {
            Some((counters, fork)) if !fork.is_empty() => (counters, Some(fork.to_owned())),
            Some(_) => return Err(bad()),
            None => (rest, None),
        };
        let numbers = counters
            .split(':')
            .map(str::parse::<u64>)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bad())?;
        let (turns, messages, parts) = match numbers[..] {
            [turns] => (turns, 0, 0),
            [turns, messages, parts] => (turns, messages, parts),
            _ => return Err(bad()),
        };
        Ok(Self {
            turns,
            messages,
            parts,
            fork,
        })
    }
}

impl fmt::Display for Resume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fake:{}:{}:{}", self.turns, self.messages, self.parts)?;
        if let Some(fork) = &self.fork {
            write!(f, ":fork:{fork}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for token in ["fake:0:0:0", "fake:3:9:14", "fake:2:4:6:fork:m3"] {
            assert_eq!(Resume::parse(token).unwrap().to_string(), token);
        }
    }

    #[test]
    fn short_form() {
        assert_eq!(
            Resume::parse("fake:7").unwrap(),
            Resume {
                turns: 7,
                ..Resume::default()
            }
        );
        assert_eq!(
            Resume::parse("fake:1:fork:m1").unwrap().fork.as_deref(),
            Some("m1")
        );
    }

    #[test]
    fn refused() {
        for token in [
            "",
            "fake:",
            "fake:x",
            "fake:1:2",
            "fake:1:2:3:4",
            "fake:1:fork:",
            "other:1",
            "fake:-1",
        ] {
            assert!(Resume::parse(token).is_err(), "{token:?} accepted");
        }
    }
}
