//! The policy: files and profiles in, one effective [`Policy`] out.
//!
//! Each layer (system file, user file, `--profile`, each `--config`, workspace file) is
//! expanded into concrete rules first: its `profile` (or, without one, the profile in force)
//! plus its own keys. The effective policy is then the [meet](Policy::meet) of all layers,
//! so no layer can loosen what another one restricts.

pub mod file;
pub mod profiles;
pub mod rules;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use toml::Spanned;

pub use file::{FileError, Parsed};
pub use rules::{EnvPattern, Flag, Level, Origin, Origins, Policy, Rules};

use crate::paths::{Vars, expand};
use file::{ProfileDef, RuleKeys};
use profiles::{Builtin, DEFAULT_PROFILE, builtin};

/// What went wrong while loading the policy.
#[derive(Debug)]
pub enum LoadError {
    /// A file could not be read.
    Read { file: PathBuf, error: io::Error },
    /// A file is malformed or says something not allowed.
    File(FileError),
    /// `--profile` names no profile.
    UnknownFlagProfile { name: String, known: Vec<String> },
    /// A bad `--expose`, `--deny` or `--pass-env`.
    Caller(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Read { file, error } => write!(f, "reading {}: {error}", file.display()),
            LoadError::File(e) => write!(f, "{e}"),
            LoadError::UnknownFlagProfile { name, known } => write!(
                f,
                "--profile {name:?}: no such profile (known: {})",
                known.join(", ")
            ),
            LoadError::Caller(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for LoadError {}

impl From<FileError> for LoadError {
    fn from(e: FileError) -> Self {
        LoadError::File(e)
    }
}

/// Where the policy comes from for one invocation.
#[derive(Clone, Debug)]
pub struct Sources {
    /// The system policy file (read when it exists).
    pub system: PathBuf,
    /// The user policy file (read when it exists).
    pub user: PathBuf,
    /// `--profile`.
    pub flag_profile: Option<String>,
    /// `--config` files (each must exist).
    pub configs: Vec<PathBuf>,
    /// The workspace (its `.oqto/sandbox.toml` is read when it exists).
    pub workspace: PathBuf,
    /// The caller's additions (`--expose`, `--deny`, `--pass-env`, `--tty`).
    pub caller: Caller,
}

/// What the program starting `oqto-sandbox` adds after the merge. It is the machine
/// owner's own process (the runner), which could run the command unconfined anyway, so
/// these are not subject to the meet; a workspace file cannot reach them. Denials still win
/// over `expose`, as every denial does.
#[derive(Clone, Debug, Default)]
pub struct Caller {
    /// Made visible read-only.
    pub expose: Vec<PathBuf>,
    /// Hidden.
    pub deny: Vec<PathBuf>,
    /// Variables passed in, by exact name.
    pub pass_env: Vec<String>,
    /// The command keeps the caller's session, for a terminal made for it alone (no
    /// `--new-session`).
    pub tty: bool,
}

impl Caller {
    /// Adds the caller's rules to the merged `policy`.
    fn apply(&self, policy: &mut Policy) -> Result<(), LoadError> {
        let origin = Origin::new(Level::Caller);
        for path in &self.expose {
            if !path.is_absolute() || !exposable(path) {
                return Err(LoadError::Caller(format!(
                    "--expose {}: must be an absolute path other than /, /dev and /proc",
                    path.display()
                )));
            }
            rules::add(&mut policy.allow_read, path.clone(), origin.clone());
        }
        for path in &self.deny {
            if !path.is_absolute() {
                return Err(LoadError::Caller(format!(
                    "--deny {}: must be an absolute path",
                    path.display()
                )));
            }
            rules::add(&mut policy.deny_read, path.clone(), origin.clone());
        }
        for name in &self.pass_env {
            match EnvPattern::parse(name) {
                Ok(pattern @ EnvPattern::Exact(_)) => {
                    rules::add(&mut policy.env_allow, pattern, origin.clone());
                }
                _ => {
                    return Err(LoadError::Caller(format!(
                        "--pass-env {name:?}: must be a variable name (letters, digits, _), not a pattern"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Whether the sandbox runs at all, and who said so.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Enabled {
    pub value: bool,
    pub from: Origin,
}

/// One layer as `explain` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LayerInfo {
    pub level: Level,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Whether the file exists (always true for `--profile`).
    pub present: bool,
    /// The profile the layer starts from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// The result of loading: the merged policy and how it came about.
#[derive(Clone, Debug)]
pub struct Effective {
    pub enabled: Enabled,
    pub policy: Policy,
    pub layers: Vec<LayerInfo>,
    /// The profile layers without their own `profile` start from, and where it was chosen.
    pub base_profile: (String, Origin),
    pub workspace: PathBuf,
    /// `--tty`: the command stays in the caller's session (no `--new-session`), so the
    /// terminal the caller made for it alone can be its controlling terminal.
    pub tty: bool,
}

/// The workspace policy file of `workspace`.
pub fn workspace_file(workspace: &Path) -> PathBuf {
    workspace.join(".oqto/sandbox.toml")
}

/// Reads `path`; `None` when it does not exist. Any other failure is an error, never a
/// silently skipped file.
fn read_optional(path: &Path) -> Result<Option<Parsed>, LoadError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(Parsed::parse(path, text)?)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(LoadError::Read {
            file: path.to_path_buf(),
            error,
        }),
    }
}

/// A custom profile and the file that defines it.
struct Custom<'a> {
    file: &'a Parsed,
    level: Level,
    def: &'a ProfileDef,
}

/// The profiles a layer may name: built-ins, the system and user files' own, and (for a
/// `--config` or workspace file) that file's own.
struct Registry<'a> {
    shared: BTreeMap<String, Custom<'a>>,
    vars: &'a Vars,
}

impl<'a> Registry<'a> {
    fn register(
        map: &mut BTreeMap<String, Custom<'a>>,
        file: &'a Parsed,
        level: Level,
    ) -> Result<(), FileError> {
        for (name, def) in &file.doc.profiles {
            if builtin(name.get_ref()).is_some() {
                return Err(file.error_at(
                    name.span(),
                    format!(
                        "profile `{}` is built in and cannot be redefined; pick another name",
                        name.get_ref()
                    ),
                ));
            }
            if let Some(prev) = map.get(name.get_ref()) {
                return Err(file.error_at(
                    name.span(),
                    format!(
                        "profile `{}` is already defined in {}",
                        name.get_ref(),
                        prev.file.path.display()
                    ),
                ));
            }
            map.insert(name.get_ref().clone(), Custom { file, level, def });
        }
        Ok(())
    }

    fn names(&self, own: Option<&BTreeMap<String, Custom<'a>>>) -> Vec<String> {
        let mut names: Vec<String> = profiles::BUILTINS
            .iter()
            .map(|b| b.name.to_owned())
            .collect();
        names.extend(self.shared.keys().cloned());
        if let Some(own) = own {
            names.extend(own.keys().cloned());
        }
        names
    }

    /// Expands profile `name` into concrete rules. `origin` says where it was named; `at`
    /// is the file and span to blame when the name is unknown.
    fn expand(
        &self,
        name: &str,
        origin: &Origin,
        own: Option<&BTreeMap<String, Custom<'a>>>,
        blame: Option<(&Parsed, std::ops::Range<usize>)>,
        stack: &mut Vec<String>,
    ) -> Result<Policy, LoadError> {
        if let Some(b) = builtin(name) {
            return Ok(self.expand_builtin(b, &origin.clone().in_profile(name)));
        }
        let custom = own
            .and_then(|o| o.get(name))
            .or_else(|| self.shared.get(name));
        let Some(custom) = custom else {
            let known = self.names(own);
            return Err(match blame {
                Some((file, span)) => file
                    .error_at(
                        span,
                        format!("unknown profile `{name}` (known: {})", known.join(", ")),
                    )
                    .into(),
                None => LoadError::UnknownFlagProfile {
                    name: name.to_owned(),
                    known,
                },
            });
        };
        if stack.iter().any(|n| n == name) {
            let span = custom.def.extends.as_ref().map_or(0..0, Spanned::span);
            return Err(custom
                .file
                .error_at(
                    span,
                    format!(
                        "profile `{name}` extends itself ({} -> {name})",
                        stack.join(" -> ")
                    ),
                )
                .into());
        }
        stack.push(name.to_owned());
        let at = Origin::new(custom.level).in_profile(name);
        let mut policy = match &custom.def.extends {
            Some(parent) => {
                let origin = at
                    .clone()
                    .at(&custom.file.path, custom.file.line_of(parent.span().start));
                let own_map = if matches!(custom.level, Level::Config | Level::Workspace) {
                    own
                } else {
                    None
                };
                self.expand(
                    parent.get_ref(),
                    &origin,
                    own_map,
                    Some((custom.file, parent.span())),
                    stack,
                )?
            }
            None => Policy::closed(&at.clone().at(&custom.file.path, 0)),
        };
        stack.pop();
        apply(&mut policy, custom.def.rules(), custom.file, &at, self.vars)?;
        Ok(policy)
    }

    fn expand_builtin(&self, b: &Builtin, origin: &Origin) -> Policy {
        let mut p = Policy::closed(origin);
        p.isolate_network = Flag::new(b.isolate_network, origin.clone());
        p.isolate_pid = Flag::new(b.isolate_pid, origin.clone());
        let paths = |list: &[&str], out: &mut Rules<PathBuf>| {
            for t in list {
                let path = expand(t, self.vars).expect("built-in paths are valid");
                rules::add(out, path, origin.clone());
            }
        };
        paths(b.allow_read, &mut p.allow_read);
        paths(b.allow_write, &mut p.allow_write);
        paths(b.read_only, &mut p.read_only);
        paths(b.deny_read, &mut p.deny_read);
        for group in b.env_allow {
            for pattern in *group {
                let pattern = EnvPattern::parse(pattern).expect("built-in patterns are valid");
                rules::add(&mut p.env_allow, pattern, origin.clone());
            }
        }
        p
    }
}

/// A list of paths in a file, where it goes, and whether it exposes paths.
type List<'a, 'b> = (&'a [Spanned<String>], &'b mut Rules<PathBuf>, bool);

/// Adds a file's (or profile's) own keys to `policy`: booleans replace, lists add.
fn apply(
    policy: &mut Policy,
    keys: RuleKeys<'_>,
    file: &Parsed,
    origin: &Origin,
    vars: &Vars,
) -> Result<(), FileError> {
    let at = |span: std::ops::Range<usize>| origin.clone().at(&file.path, file.line_of(span.start));
    if let Some(v) = keys.isolate_network {
        policy.isolate_network = Flag::new(*v.get_ref(), at(v.span()));
    }
    if let Some(v) = keys.isolate_pid {
        policy.isolate_pid = Flag::new(*v.get_ref(), at(v.span()));
    }
    let lists: [List<'_, '_>; 4] = [
        (keys.allow_read, &mut policy.allow_read, true),
        (keys.allow_write, &mut policy.allow_write, true),
        (keys.read_only, &mut policy.read_only, false),
        (keys.deny_read, &mut policy.deny_read, false),
    ];
    for (list, out, exposes) in lists {
        for item in list {
            let path = expand(item.get_ref(), vars).map_err(|m| file.error_at(item.span(), m))?;
            if exposes && !exposable(&path) {
                return Err(file.error_at(
                    item.span(),
                    format!(
                        "{} cannot be exposed: `/`, /dev and /proc are set up by the sandbox itself",
                        path.display()
                    ),
                ));
            }
            rules::add(out, path, at(item.span()));
        }
    }
    for item in keys.env_allow {
        let pattern =
            EnvPattern::parse(item.get_ref()).map_err(|m| file.error_at(item.span(), m))?;
        rules::add(&mut policy.env_allow, pattern, at(item.span()));
    }
    Ok(())
}

/// `/`, `/dev` and `/proc` (and what is beneath the last two) are the sandbox's own.
fn exposable(path: &Path) -> bool {
    path != Path::new("/") && !path.starts_with("/dev") && !path.starts_with("/proc")
}

/// Loads every layer and merges them.
#[allow(clippy::too_many_lines)] // one pass over the layers, in the documented order
pub fn load(sources: &Sources, vars: &Vars) -> Result<Effective, LoadError> {
    let system = read_optional(&sources.system)?;
    let user = read_optional(&sources.user)?;
    let mut configs = Vec::new();
    for path in &sources.configs {
        match read_optional(path)? {
            Some(parsed) => configs.push(parsed),
            None => {
                return Err(LoadError::Read {
                    file: path.clone(),
                    error: io::Error::new(io::ErrorKind::NotFound, "no such file (from --config)"),
                });
            }
        }
    }
    let ws_path = workspace_file(&sources.workspace);
    let workspace = read_optional(&ws_path)?;

    let mut shared = BTreeMap::new();
    for (file, level) in [(&system, Level::System), (&user, Level::User)] {
        if let Some(file) = file {
            Registry::register(&mut shared, file, level)?;
        }
    }
    let registry = Registry { shared, vars };

    // Only the system and user files may switch the sandbox off.
    for file in configs.iter().chain(workspace.iter()) {
        if let Some(enabled) = &file.doc.enabled {
            return Err(file
                .error_at(
                    enabled.span(),
                    "`enabled` can only be set in the system or user policy: a workspace or --config policy can only tighten",
                )
                .into());
        }
    }
    let enabled = [(&system, Level::System), (&user, Level::User)]
        .into_iter()
        .find_map(|(file, level)| {
            let file = file.as_ref()?;
            let v = file.doc.enabled.as_ref()?;
            Some(Enabled {
                value: *v.get_ref(),
                from: Origin::new(level).at(&file.path, file.line_of(v.span().start)),
            })
        })
        .unwrap_or(Enabled {
            value: true,
            from: Origin::new(Level::Default),
        });

    // The profile layers without their own `profile` start from.
    let named = |file: &Option<Parsed>, level: Level| {
        let file = file.as_ref()?;
        let p = file.doc.profile.as_ref()?;
        Some((
            p.get_ref().clone(),
            Origin::new(level).at(&file.path, file.line_of(p.span().start)),
        ))
    };
    let base_profile = sources
        .flag_profile
        .clone()
        .map(|p| (p, Origin::new(Level::Flag)))
        .or_else(|| named(&user, Level::User))
        .or_else(|| named(&system, Level::System))
        .unwrap_or_else(|| (DEFAULT_PROFILE.to_owned(), Origin::new(Level::Default)));
    let base = registry.expand(
        &base_profile.0,
        &base_profile.1,
        None,
        blame_profile(&base_profile.1, system.as_ref(), user.as_ref()),
        &mut Vec::new(),
    )?;

    let mut layers = Vec::new();
    let mut infos = Vec::new();
    let files: Vec<(Level, &PathBuf, Option<&Parsed>)> = [
        (Level::System, &sources.system, system.as_ref()),
        (Level::User, &sources.user, user.as_ref()),
    ]
    .into_iter()
    .chain(configs.iter().map(|c| (Level::Config, &c.path, Some(c))))
    .chain([(Level::Workspace, &ws_path, workspace.as_ref())])
    .collect();
    for (level, path, file) in files {
        let Some(file) = file else {
            infos.push(LayerInfo {
                level,
                file: Some(path.clone()),
                present: false,
                profile: None,
            });
            continue;
        };
        let mut own = BTreeMap::new();
        if matches!(level, Level::Config | Level::Workspace) {
            Registry::register(&mut own, file, level)?;
        }
        let (profile, mut policy) = match &file.doc.profile {
            Some(name) => {
                let origin = Origin::new(level).at(&file.path, file.line_of(name.span().start));
                let policy = registry.expand(
                    name.get_ref(),
                    &origin,
                    Some(&own),
                    Some((file, name.span())),
                    &mut Vec::new(),
                )?;
                (name.get_ref().clone(), policy)
            }
            None => (base_profile.0.clone(), base.clone()),
        };
        apply(
            &mut policy,
            file.doc.rules(),
            file,
            &Origin::new(level),
            vars,
        )?;
        infos.push(LayerInfo {
            level,
            file: Some(path.clone()),
            present: true,
            profile: Some(profile),
        });
        layers.push(policy);
    }
    if let Some(name) = &sources.flag_profile {
        // The owner's own keys (system and user files) ride on whichever profile is asked
        // for, so `--profile development` keeps a user's `allow_read` additions.
        let mut flagged = base.clone();
        for (file, level) in [(&system, Level::System), (&user, Level::User)] {
            if let Some(file) = file {
                apply(
                    &mut flagged,
                    file.doc.rules(),
                    file,
                    &Origin::new(level),
                    vars,
                )?;
            }
        }
        layers.push(flagged);
        infos.insert(
            2,
            LayerInfo {
                level: Level::Flag,
                file: None,
                present: true,
                profile: Some(name.clone()),
            },
        );
    }
    // The system and user files are the owner's own choices and may loosen the default
    // profile; without either, the default profile is the floor every other layer meets.
    let floor = (system.is_none() && user.is_none()).then(|| base.clone());
    let mut policy = layers
        .iter()
        .fold(floor, |acc, layer| {
            Some(match acc {
                None => layer.clone(),
                Some(acc) => acc.meet(layer),
            })
        })
        .unwrap_or(base);
    sources.caller.apply(&mut policy)?;
    Ok(Effective {
        enabled,
        policy,
        layers: infos,
        base_profile,
        workspace: sources.workspace.clone(),
        tty: sources.caller.tty,
    })
}

/// The file and span of a `profile` key, to blame an unknown name on.
fn blame_profile<'a>(
    origin: &Origin,
    system: Option<&'a Parsed>,
    user: Option<&'a Parsed>,
) -> Option<(&'a Parsed, std::ops::Range<usize>)> {
    let file = match origin.level {
        Level::System => system?,
        Level::User => user?,
        _ => return None,
    };
    Some((file, file.doc.profile.as_ref()?.span()))
}
