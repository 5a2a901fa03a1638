//! The file as written: a serde model of `runner.toml`, nothing filled in or checked
//! beyond types. Every table denies unknown keys; values keep their spans so that the
//! conversion in `super` can point at them.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use toml::Spanned;

use super::harness::HarnessKind;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    #[serde(default)]
    pub runner: RawRunner,
    #[serde(default)]
    pub harness: BTreeMap<Spanned<String>, Spanned<RawHarness>>,
    #[serde(default)]
    pub permissions: super::permissions::PermissionTable,
}

/// The keys of `[runner]`, in the order of [`RawRunner`]'s fields (a test checks this).
pub(super) const RUNNER_KEYS: &[&str] = &[
    "socket",
    "data_dir",
    "idle_timeout",
    "silence_timeout",
    "ready_timeout",
    "shutdown_grace",
    "max_line",
    "ring_events",
    "ring_bytes",
    "subscriber_queue",
    "max_sessions",
    "default_harness",
    "default_sandbox_profile",
    "sandbox_command",
    "allow_uids",
    "allow_groups",
    "terminal_scrollback",
    "terminal_idle_timeout",
    "max_terminals",
    "files_idle_timeout",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawRunner {
    pub socket: Option<Spanned<String>>,
    pub data_dir: Option<Spanned<String>>,
    pub idle_timeout: Option<Spanned<Scalar>>,
    pub silence_timeout: Option<Spanned<Scalar>>,
    pub ready_timeout: Option<Spanned<Scalar>>,
    pub shutdown_grace: Option<Spanned<Scalar>>,
    pub max_line: Option<Spanned<Scalar>>,
    pub ring_events: Option<Spanned<i64>>,
    pub ring_bytes: Option<Spanned<Scalar>>,
    pub subscriber_queue: Option<Spanned<i64>>,
    pub max_sessions: Option<Spanned<i64>>,
    pub default_harness: Option<Spanned<String>>,
    pub default_sandbox_profile: Option<Spanned<String>>,
    pub sandbox_command: Option<Spanned<String>>,
    pub allow_uids: Option<Vec<Spanned<i64>>>,
    pub allow_groups: Option<Vec<Spanned<Scalar>>>,
    pub terminal_scrollback: Option<Spanned<Scalar>>,
    pub terminal_idle_timeout: Option<Spanned<Scalar>>,
    pub max_terminals: Option<Spanned<i64>>,
    pub files_idle_timeout: Option<Spanned<Scalar>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHarness {
    pub kind: Option<Spanned<HarnessKind>>,
    pub command: Option<Spanned<String>>,
    pub args: Option<Vec<Spanned<String>>>,
    pub env: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    pub env_inherit: Option<Vec<Spanned<String>>>,
    pub enabled: Option<Spanned<bool>>,
}

/// A value that may be written as a string or an integer: sizes (`"16MiB"` or `16777216`),
/// durations (strings; an integer gets a helpful error later) and groups (name or gid).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Scalar {
    Int(i64),
    Str(String),
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;

        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an integer")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                i64::try_from(v)
                    .map(Scalar::Int)
                    .map_err(|_| E::custom("integer too large"))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.to_owned()))
            }
        }

        deserializer.deserialize_any(ScalarVisitor)
    }
}
