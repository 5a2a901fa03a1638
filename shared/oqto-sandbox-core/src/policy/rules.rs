//! Concrete policies and their meet: the lattice the whole sandbox rests on.
//!
//! A [`Policy`] is a set of concrete rules, each remembering where it came from. Two
//! policies combine with [`Policy::meet`], which keeps only what *both* permit: allow-lists
//! are intersected (by coverage, so `/a/b` survives against `/a`), deny-lists and
//! read-only lists are united, isolation is on when either asks for it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::paths::is_within;

/// Which policy layer a rule came from, weakest authority first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// No file and no flag said anything: the default profile.
    Default,
    /// The system policy (`/etc/oqto/sandbox.toml`).
    System,
    /// The user policy (`~/.config/oqto/sandbox.toml`).
    User,
    /// `--profile` on the command line.
    Flag,
    /// A `--config FILE`.
    Config,
    /// The workspace policy (`<workspace>/.oqto/sandbox.toml`).
    Workspace,
    /// `--expose`, `--deny` and `--pass-env`: the program that starts `oqto-sandbox` (the
    /// runner), added after the merge.
    Caller,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Default => "default",
            Level::System => "system",
            Level::User => "user",
            Level::Flag => "--profile",
            Level::Config => "--config",
            Level::Workspace => "workspace",
            Level::Caller => "caller",
        })
    }
}

/// Where one rule came from: a layer, its file and line, and the profile it was part of.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Origin {
    pub level: Level,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Set when the rule is part of a profile (built-in or defined in a file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

impl Origin {
    pub fn new(level: Level) -> Self {
        Self {
            level,
            file: None,
            line: None,
            profile: None,
        }
    }

    #[must_use]
    pub fn at(mut self, file: &Path, line: usize) -> Self {
        self.file = Some(file.to_path_buf());
        self.line = Some(line);
        self
    }

    #[must_use]
    pub fn in_profile(mut self, name: &str) -> Self {
        self.profile = Some(name.to_owned());
        self
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(profile) = &self.profile {
            write!(f, "profile {profile} via ")?;
        }
        write!(f, "{}", self.level)?;
        if let Some(file) = &self.file {
            write!(f, " {}", file.display())?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
        }
        Ok(())
    }
}

/// The origins of one rule (several layers may say the same thing): a set, in order.
///
/// A sorted vector rather than a `BTreeSet`: nearly every rule has one origin, and a
/// policy has dozens of rules, copied a few times during a merge. A `BTreeSet` allocates
/// room for eleven origins per rule, which made loading the policy most of the memory
/// (and the page faults) of a sandbox start.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Origins(Vec<Origin>);

impl Origins {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `origin` unless it is there already; says whether it was added.
    pub fn insert(&mut self, origin: Origin) -> bool {
        match self.0.binary_search(&origin) {
            Ok(_) => false,
            Err(at) => {
                self.0.reserve_exact(1);
                self.0.insert(at, origin);
                true
            }
        }
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Origin> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<const N: usize> From<[Origin; N]> for Origins {
    fn from(origins: [Origin; N]) -> Self {
        let mut out = Self(Vec::with_capacity(N));
        out.extend(origins);
        out
    }
}

impl Extend<Origin> for Origins {
    fn extend<I: IntoIterator<Item = Origin>>(&mut self, iter: I) {
        for origin in iter {
            self.insert(origin);
        }
    }
}

impl<'a> IntoIterator for &'a Origins {
    type Item = &'a Origin;
    type IntoIter = std::slice::Iter<'a, Origin>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// A yes/no rule and where its value came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Flag {
    pub value: bool,
    pub from: Origins,
}

impl Flag {
    pub fn new(value: bool, origin: Origin) -> Self {
        Self {
            value,
            from: Origins::from([origin]),
        }
    }

    /// The more restrictive of two isolation flags: on when either is on.
    fn meet_isolation(&self, other: &Flag) -> Flag {
        match (self.value, other.value) {
            (a, b) if a == b => Flag {
                value: a,
                from: {
                    let mut from = self.from.clone();
                    from.extend(other.from.iter().cloned());
                    from
                },
            },
            (true, false) => self.clone(),
            _ => other.clone(),
        }
    }
}

/// A name pattern for `env_allow`: `NAME`, `PREFIX*`, `*SUFFIX` (and `*` for everything).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EnvPattern {
    Exact(String),
    Prefix(String),
    Suffix(String),
}

impl EnvPattern {
    /// Parses a pattern; names are letters, digits and `_`, with one `*` at either end.
    pub fn parse(text: &str) -> Result<Self, String> {
        let valid = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let pattern = if text == "*" {
            EnvPattern::Prefix(String::new())
        } else if let Some(prefix) = text.strip_suffix('*') {
            EnvPattern::Prefix(prefix.to_owned())
        } else if let Some(suffix) = text.strip_prefix('*') {
            EnvPattern::Suffix(suffix.to_owned())
        } else {
            EnvPattern::Exact(text.to_owned())
        };
        let body = match &pattern {
            EnvPattern::Exact(s) | EnvPattern::Prefix(s) | EnvPattern::Suffix(s) => s,
        };
        if (text != "*" && body.is_empty()) || !valid(body) {
            return Err(format!(
                "bad variable pattern {text:?}: use NAME, PREFIX* or *SUFFIX (letters, digits, _)"
            ));
        }
        Ok(pattern)
    }

    /// Whether the variable `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            EnvPattern::Exact(s) => name == s,
            EnvPattern::Prefix(p) => name.starts_with(p.as_str()),
            EnvPattern::Suffix(s) => name.ends_with(s.as_str()),
        }
    }

    /// Whether every name `other` matches is also matched by `self`.
    pub fn covers(&self, other: &EnvPattern) -> bool {
        match (self, other) {
            (EnvPattern::Prefix(p), _) if p.is_empty() => true,
            (_, EnvPattern::Exact(name)) => self.matches(name),
            (EnvPattern::Prefix(p), EnvPattern::Prefix(q)) => q.starts_with(p.as_str()),
            (EnvPattern::Suffix(s), EnvPattern::Suffix(t)) => t.ends_with(s.as_str()),
            _ => false,
        }
    }
}

impl fmt::Display for EnvPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvPattern::Exact(s) => f.write_str(s),
            EnvPattern::Prefix(p) => write!(f, "{p}*"),
            EnvPattern::Suffix(s) => write!(f, "*{s}"),
        }
    }
}

impl Serialize for EnvPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A set of rules of one kind, each with its origins.
pub type Rules<T> = BTreeMap<T, Origins>;

/// One concrete policy: what a layer permits, or the effective result of merging layers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// A private network namespace (loopback only).
    pub isolate_network: Flag,
    /// A private pid namespace (host processes invisible).
    pub isolate_pid: Flag,
    /// Paths visible read-only (beyond the system directories).
    pub allow_read: Rules<PathBuf>,
    /// Paths writable (beyond the workspace).
    pub allow_write: Rules<PathBuf>,
    /// Paths kept read-only even inside a writable path or the workspace.
    pub read_only: Rules<PathBuf>,
    /// Paths hidden: an empty directory or an empty file in their place.
    pub deny_read: Rules<PathBuf>,
    /// Variables passed into the sandbox.
    pub env_allow: Rules<EnvPattern>,
}

impl Policy {
    /// The most restrictive policy: isolated, nothing allowed. A profile without
    /// `extends` starts here.
    pub fn closed(origin: &Origin) -> Self {
        Self {
            isolate_network: Flag::new(true, origin.clone()),
            isolate_pid: Flag::new(true, origin.clone()),
            allow_read: Rules::new(),
            allow_write: Rules::new(),
            read_only: Rules::new(),
            deny_read: Rules::new(),
            env_allow: Rules::new(),
        }
    }

    /// The greatest policy both `self` and `other` permit.
    #[must_use]
    pub fn meet(&self, other: &Policy) -> Policy {
        Policy {
            isolate_network: self.isolate_network.meet_isolation(&other.isolate_network),
            isolate_pid: self.isolate_pid.meet_isolation(&other.isolate_pid),
            allow_read: intersect(&self.visible(), &other.visible(), |q, p| is_within(p, q)),
            allow_write: intersect(&self.allow_write, &other.allow_write, |q, p| {
                is_within(p, q)
            }),
            read_only: unite(&self.read_only, &other.read_only),
            deny_read: unite(&self.deny_read, &other.deny_read),
            env_allow: intersect(&self.env_allow, &other.env_allow, EnvPattern::covers),
        }
        .tidy()
    }

    /// Everything readable: a writable path is readable too, so a policy that writes `~`
    /// and one that reads `~` agree that `~` is readable.
    fn visible(&self) -> Rules<PathBuf> {
        unite(&self.allow_read, &self.allow_write)
    }

    /// Drops read rules that a write rule already covers (they change nothing).
    fn tidy(mut self) -> Self {
        let writes: Vec<PathBuf> = self.allow_write.keys().cloned().collect();
        self.allow_read
            .retain(|p, _| !writes.iter().any(|w| is_within(p, w)));
        self
    }

    /// Whether `path` is writable by this policy (the workspace aside).
    pub fn writable(&self, path: &Path) -> bool {
        under_any(&self.allow_write, path)
            && !under_any(&self.read_only, path)
            && !under_any(&self.deny_read, path)
    }

    /// Whether `path` is readable by this policy (system directories and workspace aside).
    pub fn readable(&self, path: &Path) -> bool {
        (under_any(&self.allow_read, path) || under_any(&self.allow_write, path))
            && !under_any(&self.deny_read, path)
    }

    /// Whether the variable `name` is passed in.
    pub fn env_allowed(&self, name: &str) -> bool {
        self.env_allow.keys().any(|p| p.matches(name))
    }
}

fn under_any(rules: &Rules<PathBuf>, path: &Path) -> bool {
    rules.keys().any(|dir| is_within(path, dir))
}

/// Adds `rule` with `origin` to `rules`.
pub fn add<T: Ord>(rules: &mut Rules<T>, rule: T, origin: Origin) {
    rules.entry(rule).or_default().insert(origin);
}

/// Every rule of either side, origins merged.
fn unite<T: Ord + Clone>(a: &Rules<T>, b: &Rules<T>) -> Rules<T> {
    let mut out = a.clone();
    for (rule, from) in b {
        out.entry(rule.clone())
            .or_default()
            .extend(from.iter().cloned());
    }
    out
}

/// The rules of each side that the other side also permits (`covers(q, p)`: q permits all
/// that p does). Sound: whatever the result permits, both sides permit.
fn intersect<T: Ord + Clone>(
    a: &Rules<T>,
    b: &Rules<T>,
    covers: impl Fn(&T, &T) -> bool,
) -> Rules<T> {
    let mut out = Rules::new();
    for (x, y) in [(a, b), (b, a)] {
        for (rule, from) in x {
            if y.keys().any(|other| covers(other, rule)) {
                out.entry(rule.clone())
                    .or_insert_with(Origins::new)
                    .extend(from.iter().cloned());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(level: Level) -> Origin {
        Origin::new(level)
    }

    fn paths(list: &[&str], level: Level) -> Rules<PathBuf> {
        list.iter()
            .map(|p| (PathBuf::from(p), Origins::from([origin(level)])))
            .collect()
    }

    fn policy(level: Level, write: &[&str], deny: &[&str], net: bool) -> Policy {
        let mut p = Policy::closed(&origin(level));
        p.isolate_network = Flag::new(net, origin(level));
        p.allow_write = paths(write, level);
        p.deny_read = paths(deny, level);
        p
    }

    #[test]
    fn meet_narrows_writes_and_unites_denials() {
        let user = policy(Level::User, &["/h/.cache", "/h/proj"], &["/h/.ssh"], false);
        let ws = policy(Level::Workspace, &["/", "/h/.cache/x"], &["/h/.aws"], true);
        let m = user.meet(&ws);
        let writes: Vec<_> = m.allow_write.keys().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(writes, ["/h/.cache", "/h/.cache/x", "/h/proj"]);
        assert!(
            !m.writable(Path::new("/etc")),
            "the workspace's `/` did not survive"
        );
        assert_eq!(m.deny_read.len(), 2);
        assert!(m.isolate_network.value);
        assert_eq!(
            m.isolate_network.from,
            Origins::from([origin(Level::Workspace)])
        );
    }

    #[test]
    fn equal_flags_keep_both_origins() {
        let a = policy(Level::User, &[], &[], false);
        let b = policy(Level::System, &[], &[], false);
        let m = a.meet(&b);
        assert!(!m.isolate_network.value);
        assert_eq!(m.isolate_network.from.len(), 2);
    }

    #[test]
    fn env_patterns_parse_match_and_cover() {
        let p = |s| EnvPattern::parse(s).unwrap();
        assert!(p("LC_*").matches("LC_ALL"));
        assert!(p("*_API_KEY").matches("OPENAI_API_KEY"));
        assert!(!p("PATH").matches("PATHX"));
        assert!(p("*").covers(&p("*_KEY")));
        assert!(p("LC_*").covers(&p("LC_A*")));
        assert!(!p("LC_A*").covers(&p("LC_*")));
        assert!(p("*_KEY").covers(&p("*_API_KEY")));
        assert!(!p("A*").covers(&p("*A")));
        for bad in ["", "A*B", "**", "A-B", "*A*"] {
            assert!(EnvPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn env_meet_keeps_the_narrower_pattern() {
        let mut a = Policy::closed(&origin(Level::User));
        add(
            &mut a.env_allow,
            EnvPattern::parse("LC_*").unwrap(),
            origin(Level::User),
        );
        let mut b = Policy::closed(&origin(Level::Workspace));
        add(
            &mut b.env_allow,
            EnvPattern::parse("LC_ALL").unwrap(),
            origin(Level::Workspace),
        );
        add(
            &mut b.env_allow,
            EnvPattern::parse("SECRET").unwrap(),
            origin(Level::Workspace),
        );
        let m = a.meet(&b);
        assert!(m.env_allowed("LC_ALL"));
        assert!(!m.env_allowed("LC_CTYPE"));
        assert!(!m.env_allowed("SECRET"));
    }
}
