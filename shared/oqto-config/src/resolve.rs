//! The conversion from the raw file to [`Config`]: every default filled in, every value
//! checked, every problem pointed at.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::raw::{RawFile, RawHarness, RawRunner, Scalar};
use super::{
    Access, BUILTIN_HARNESSES, Command, Config, ConfigError, DEFAULT_HARNESS,
    DEFAULT_SANDBOX_PROFILE, Environment, Harness, HarnessEnv, HarnessKind, Invalid, Limits,
    Overrides, PathError, Paths, ProgramNotFound, Timeouts, format_duration, format_size,
    harness_env_inherit, parse_duration, parse_size, paths, resolve_sandbox,
};

/// `[a-z0-9_-]{1,64}`: harness and sandbox profile names.
fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// `[A-Za-z_][A-Za-z0-9_]*`: environment variable names.
fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

const NAME_RULE: &str = "lowercase letters, digits, `_` and `-`, at most 64";

/// Harnesses by name.
type Harnesses = BTreeMap<String, Harness>;
/// Where each `[harness.NAME] enabled` key is, by harness name.
type EnabledSpans = BTreeMap<String, Range<usize>>;

/// The conversion from the raw file, with what it needs to point at problems.
pub(super) struct Ctx<'a> {
    pub file: &'a Path,
    pub text: &'a str,
    pub env: &'a Environment,
}

impl Ctx<'_> {
    fn invalid(&self, span: Range<usize>, key: &str, message: impl Into<String>) -> ConfigError {
        Invalid::at(self.file, self.text, span, key, message).into()
    }

    pub(super) fn resolve(
        &self,
        raw: &RawFile,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let r = &raw.runner;
        let paths = self.paths(r, overrides)?;
        let timeouts = self.timeouts(r)?;
        let limits = self.limits(r)?;
        let access = self.access(r)?;
        let (harnesses, enabled_spans) = self.harnesses(&raw.harness)?;

        let default_harness = match &r.default_harness {
            Some(name) => self.name("runner.default_harness", name)?,
            None => DEFAULT_HARNESS.to_owned(),
        };
        match (harnesses.get(&default_harness), &r.default_harness) {
            (None, Some(value)) => {
                let known: Vec<&str> = harnesses.keys().map(String::as_str).collect();
                return Err(self.invalid(
                    value.span(),
                    "runner.default_harness",
                    format!(
                        "no harness named `{default_harness}` (known: {})",
                        known.join(", ")
                    ),
                ));
            }
            (Some(h), Some(value)) if !h.enabled => {
                return Err(self.invalid(
                    value.span(),
                    "runner.default_harness",
                    format!("the harness `{default_harness}` is disabled"),
                ));
            }
            (Some(h), None) if !h.enabled => {
                let span = enabled_spans.get(&default_harness).cloned().unwrap_or(0..0);
                return Err(self.invalid(
                    span,
                    &format!("harness.{default_harness}.enabled"),
                    format!(
                        "`{default_harness}` is the default harness; set `runner.default_harness` to another one before disabling it"
                    ),
                ));
            }
            _ => {}
        }

        let default_sandbox_profile = match &r.default_sandbox_profile {
            Some(name) => self.name("runner.default_sandbox_profile", name)?,
            None => DEFAULT_SANDBOX_PROFILE.to_owned(),
        };
        let sandbox_command = match &r.sandbox_command {
            Some(value) => Some(
                Command::parse(value.get_ref(), self.env)
                    .map_err(|why| self.invalid(value.span(), "runner.sandbox_command", why))?,
            ),
            None => None,
        };
        let sandbox = resolve_sandbox(sandbox_command.as_ref(), self.env);

        Ok(Config {
            file: Some(self.file.to_owned()),
            paths,
            timeouts,
            limits,
            access,
            default_harness,
            default_sandbox_profile,
            sandbox,
            sandbox_command,
            harnesses,
            permissions: raw.permissions.policy(Some(self.file.to_owned())),
        })
    }

    fn paths(&self, r: &RawRunner, overrides: &Overrides) -> Result<Paths, ConfigError> {
        let socket = self.path("runner.socket", r.socket.as_ref())?;
        let data_dir = self.path("runner.data_dir", r.data_dir.as_ref())?;
        Paths::resolve(
            overrides,
            socket.as_deref(),
            data_dir.as_deref(),
            self.file,
            self.env,
        )
        .map_err(|e| match (&e, &r.socket) {
            // A socket path from the file that is too long: point at it.
            (PathError::SocketTooLong { .. }, Some(value)) if overrides.socket.is_none() => {
                self.invalid(value.span(), "runner.socket", e.to_string())
            }
            _ => e.into(),
        })
    }

    /// An absolute path, or `~/…` expanded with `HOME`.
    fn path(
        &self,
        key: &str,
        value: Option<&Spanned<String>>,
    ) -> Result<Option<PathBuf>, ConfigError> {
        let Some(value) = value else {
            return Ok(None);
        };
        let text = value.get_ref().as_str();
        let bad = |message: String| self.invalid(value.span(), key, message);
        if text.contains('\0') {
            return Err(bad("must not contain a NUL character".into()));
        }
        let path = if let Some(rest) = text.strip_prefix("~/") {
            let home = self
                .env
                .home()
                .ok_or_else(|| bad(format!("cannot expand `{text}`: HOME is not set")))?;
            home.join(rest)
        } else if text.starts_with('/') {
            PathBuf::from(text)
        } else {
            return Err(bad(format!(
                "must be an absolute path or start with `~/`, got `{text}`"
            )));
        };
        Ok(Some(paths::normalize(&path)))
    }

    fn timeouts(&self, r: &RawRunner) -> Result<Timeouts, ConfigError> {
        let d = Timeouts::default();
        let day = Duration::from_secs(86_400);
        let required = |key, value, default, max| {
            self.duration(key, value, default, max, false)
                .map(|v| v.unwrap_or(default))
        };
        Ok(Timeouts {
            idle: self.duration(
                "runner.idle_timeout",
                r.idle_timeout.as_ref(),
                d.idle.unwrap_or_default(),
                30 * day,
                true,
            )?,
            silence: self.duration(
                "runner.silence_timeout",
                r.silence_timeout.as_ref(),
                d.silence.unwrap_or_default(),
                30 * day,
                true,
            )?,
            ready: required(
                "runner.ready_timeout",
                r.ready_timeout.as_ref(),
                d.ready,
                Duration::from_secs(3600),
            )?,
            shutdown_grace: required(
                "runner.shutdown_grace",
                r.shutdown_grace.as_ref(),
                d.shutdown_grace,
                Duration::from_secs(600),
            )?,
            terminal_idle: match &r.terminal_idle_timeout {
                Some(value) => self.duration(
                    "runner.terminal_idle_timeout",
                    Some(value),
                    Duration::ZERO,
                    30 * day,
                    true,
                )?,
                None => d.terminal_idle,
            },
            files_idle: required(
                "runner.files_idle_timeout",
                r.files_idle_timeout.as_ref(),
                d.files_idle,
                30 * day,
            )?,
        })
    }

    /// A duration string; `"off"` or zero gives `None` when `can_disable`.
    fn duration(
        &self,
        key: &str,
        value: Option<&Spanned<Scalar>>,
        default: Duration,
        max: Duration,
        can_disable: bool,
    ) -> Result<Option<Duration>, ConfigError> {
        let Some(value) = value else {
            return Ok(Some(default));
        };
        let bad = |message: String| self.invalid(value.span(), key, message);
        let text = match value.get_ref() {
            Scalar::Str(text) => text.as_str(),
            Scalar::Int(n) => {
                let hint = if can_disable { ", or \"off\"" } else { "" };
                return Err(bad(format!(
                    "expected a duration string such as \"30s\", \"5m\" or \"1h30m\"{hint}, got the integer {n}"
                )));
            }
        };
        if can_disable && text.trim() == "off" {
            return Ok(None);
        }
        let duration =
            parse_duration(text).map_err(|why| bad(format!("invalid duration `{text}`: {why}")))?;
        if duration.is_zero() {
            if can_disable {
                return Ok(None);
            }
            return Err(bad("must be greater than 0".into()));
        }
        if duration > max {
            return Err(bad(format!(
                "must be at most {}, got `{text}`",
                format_duration(max)
            )));
        }
        Ok(Some(duration))
    }

    fn limits(&self, r: &RawRunner) -> Result<Limits, ConfigError> {
        let d = Limits::default();
        Ok(Limits {
            max_line: self.size(
                "runner.max_line",
                r.max_line.as_ref(),
                d.max_line,
                (4 << 10)..=(1 << 30),
            )?,
            ring_events: self.count(
                "runner.ring_events",
                r.ring_events.as_ref(),
                d.ring_events,
                16..=1 << 20,
            )?,
            ring_bytes: self.size(
                "runner.ring_bytes",
                r.ring_bytes.as_ref(),
                d.ring_bytes,
                (64 << 10)..=(1 << 30),
            )?,
            subscriber_queue: self.count(
                "runner.subscriber_queue",
                r.subscriber_queue.as_ref(),
                d.subscriber_queue,
                16..=1 << 20,
            )?,
            max_sessions: self.count(
                "runner.max_sessions",
                r.max_sessions.as_ref(),
                d.max_sessions,
                1..=4096,
            )?,
            terminal_scrollback: self.size(
                "runner.terminal_scrollback",
                r.terminal_scrollback.as_ref(),
                d.terminal_scrollback,
                (64 << 10)..=(256 << 20),
            )?,
            max_terminals: self.count(
                "runner.max_terminals",
                r.max_terminals.as_ref(),
                d.max_terminals,
                1..=4096,
            )?,
        })
    }

    /// A byte size: an integer, or a string such as `"16MiB"`.
    fn size(
        &self,
        key: &str,
        value: Option<&Spanned<Scalar>>,
        default: usize,
        range: RangeInclusive<u64>,
    ) -> Result<usize, ConfigError> {
        let Some(value) = value else {
            return Ok(default);
        };
        let bad = |message: String| self.invalid(value.span(), key, message);
        let (bytes, shown) = match value.get_ref() {
            Scalar::Int(n) => (u64::try_from(*n).ok(), n.to_string()),
            Scalar::Str(text) => (
                Some(parse_size(text).map_err(|why| bad(format!("invalid size `{text}`: {why}")))?),
                format!("`{text}`"),
            ),
        };
        match bytes
            .filter(|b| range.contains(b))
            .and_then(|b| usize::try_from(b).ok())
        {
            Some(bytes) => Ok(bytes),
            None => Err(bad(format!(
                "must be between {} and {}, got {shown}",
                format_size(*range.start()),
                format_size(*range.end())
            ))),
        }
    }

    fn count(
        &self,
        key: &str,
        value: Option<&Spanned<i64>>,
        default: usize,
        range: RangeInclusive<i64>,
    ) -> Result<usize, ConfigError> {
        let Some(value) = value else {
            return Ok(default);
        };
        let n = *value.get_ref();
        if !range.contains(&n) {
            return Err(self.invalid(
                value.span(),
                key,
                format!(
                    "must be between {} and {}, got {n}",
                    range.start(),
                    range.end()
                ),
            ));
        }
        usize::try_from(n).map_err(|_| self.invalid(value.span(), key, "out of range"))
    }

    fn name(&self, key: &str, value: &Spanned<String>) -> Result<String, ConfigError> {
        let name = value.get_ref();
        if is_valid_name(name) {
            Ok(name.clone())
        } else {
            Err(self.invalid(
                value.span(),
                key,
                format!("invalid name `{name}`: use {NAME_RULE}"),
            ))
        }
    }

    fn access(&self, r: &RawRunner) -> Result<Access, ConfigError> {
        let id_range = 0..=i64::from(u32::MAX - 1);
        let id = |key: String, value: &Spanned<i64>| {
            let n = *value.get_ref();
            u32::try_from(n)
                .ok()
                .filter(|_| id_range.contains(&n))
                .ok_or_else(|| self.invalid(value.span(), &key, format!("{n} is not a valid id")))
        };
        let mut uids = BTreeSet::new();
        for (i, value) in r.allow_uids.iter().flatten().enumerate() {
            uids.insert(id(format!("runner.allow_uids[{i}]"), value)?);
        }
        let mut gids = BTreeSet::new();
        for (i, value) in r.allow_groups.iter().flatten().enumerate() {
            let key = format!("runner.allow_groups[{i}]");
            let gid = match value.get_ref() {
                Scalar::Int(n) => id(key, &Spanned::new(value.span(), *n))?,
                Scalar::Str(name) => self.env.group_gid(name).ok_or_else(|| {
                    self.invalid(value.span(), &key, format!("unknown group `{name}`"))
                })?,
            };
            gids.insert(gid);
        }
        Ok(Access {
            allow_uids: uids.into_iter().collect(),
            allow_groups: gids.into_iter().collect(),
        })
    }

    /// The built-in harnesses, overlaid with the `[harness.NAME]` tables. Also returns the
    /// span of each `enabled` key, for the default-harness check.
    fn harnesses(
        &self,
        raw: &BTreeMap<Spanned<String>, Spanned<RawHarness>>,
    ) -> Result<(Harnesses, EnabledSpans), ConfigError> {
        let mut out = BTreeMap::new();
        let mut enabled_spans = BTreeMap::new();
        for (name, table) in raw {
            let harness = self.harness(name, table)?;
            if let Some(enabled) = &table.get_ref().enabled {
                enabled_spans.insert(harness.name.clone(), enabled.span());
            }
            out.insert(harness.name.clone(), harness);
        }
        for name in BUILTIN_HARNESSES.iter().copied() {
            if !out.contains_key(name) {
                let harness = Harness::builtin(name, self.env).expect("a built-in name");
                out.insert(name.to_owned(), harness);
            }
        }
        Ok((out, enabled_spans))
    }

    fn harness(
        &self,
        name: &Spanned<String>,
        table: &Spanned<RawHarness>,
    ) -> Result<Harness, ConfigError> {
        let key = format!("harness.{}", name.get_ref());
        if !is_valid_name(name.get_ref()) {
            return Err(self.invalid(
                name.span(),
                &key,
                format!("invalid harness name `{}`: use {NAME_RULE}", name.get_ref()),
            ));
        }
        let name = name.get_ref().clone();
        let raw = table.get_ref();
        let builtin_kind = crate::harness::builtin_kind(&name);
        let kind = match (builtin_kind, &raw.kind) {
            (Some(builtin), Some(kind)) if *kind.get_ref() != builtin => {
                return Err(self.invalid(
                    kind.span(),
                    &format!("{key}.kind"),
                    format!("the built-in harness `{name}` has kind \"{builtin}\""),
                ));
            }
            (Some(builtin), _) => builtin,
            (None, Some(kind)) => *kind.get_ref(),
            (None, None) => {
                return Err(self.invalid(
                    table.span(),
                    &key,
                    "missing `kind` (\"pi\", \"native\" or \"acp\")",
                ));
            }
        };
        let command = match &raw.command {
            Some(value) => Some(
                Command::parse(value.get_ref(), self.env)
                    .map_err(|why| self.invalid(value.span(), &format!("{key}.command"), why))?,
            ),
            None => None,
        };
        if command.is_none()
            && builtin_kind.is_none()
            && matches!(kind, HarnessKind::Native | HarnessKind::Acp)
        {
            return Err(self.invalid(table.span(), &key, "missing `command`: the program to run"));
        }
        let args = match raw.args.as_deref() {
            Some(args) => self.args(&key, Some(args))?,
            None => crate::harness::builtin_args(&name),
        };
        let env = self.env_table(&key, raw.env.as_ref())?;
        let env_inherit = match &raw.env_inherit {
            None => harness_env_inherit(&name, kind),
            Some(list) => self.env_inherit(&key, list)?,
        };
        let mut harness = Harness {
            name,
            kind,
            builtin: builtin_kind.is_some(),
            enabled: raw.enabled.as_ref().is_none_or(|e| *e.get_ref()),
            command,
            program: Err(ProgramNotFound {
                program: String::new(),
                tried: Vec::new(),
            }),
            args,
            env: HarnessEnv(env),
            env_inherit,
        };
        harness.locate(self.env);
        Ok(harness)
    }

    fn args(&self, key: &str, raw: Option<&[Spanned<String>]>) -> Result<Vec<String>, ConfigError> {
        let mut args = Vec::new();
        for (i, arg) in raw.into_iter().flatten().enumerate() {
            if arg.get_ref().contains('\0') {
                return Err(self.invalid(
                    arg.span(),
                    &format!("{key}.args[{i}]"),
                    "must not contain a NUL character",
                ));
            }
            args.push(arg.get_ref().clone());
        }
        Ok(args)
    }

    fn env_table(
        &self,
        key: &str,
        raw: Option<&BTreeMap<Spanned<String>, Spanned<String>>>,
    ) -> Result<BTreeMap<String, String>, ConfigError> {
        let mut env = BTreeMap::new();
        for (var, value) in raw.into_iter().flatten() {
            let var_key = format!("{key}.env.{}", var.get_ref());
            if !is_env_name(var.get_ref()) {
                return Err(self.invalid(
                    var.span(),
                    &var_key,
                    format!("invalid variable name `{}`", var.get_ref()),
                ));
            }
            if value.get_ref().contains('\0') {
                return Err(self.invalid(
                    value.span(),
                    &var_key,
                    "must not contain a NUL character",
                ));
            }
            env.insert(var.get_ref().clone(), value.get_ref().clone());
        }
        Ok(env)
    }

    fn env_inherit(&self, key: &str, list: &[Spanned<String>]) -> Result<Vec<String>, ConfigError> {
        let mut names = Vec::new();
        for (i, pattern) in list.iter().enumerate() {
            let text = pattern.get_ref();
            let stem = text.strip_suffix('*').unwrap_or(text);
            if !is_env_name(stem) {
                return Err(self.invalid(
                    pattern.span(),
                    &format!("{key}.env_inherit[{i}]"),
                    format!("invalid variable name `{text}` (a name, or a prefix followed by `*`)"),
                ));
            }
            names.push(text.clone());
        }
        Ok(names)
    }
}
