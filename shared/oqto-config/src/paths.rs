//! Where the runner's files live: an explicit snapshot of the environment, and the
//! precedence rules for the config file, the socket, the data and the state directories.
//!
//! Nothing here reads the process environment except [`Environment::capture`]; everything
//! else takes an [`Environment`], so tests inject one.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// The longest Unix socket path in bytes: `sun_path` holds 108 bytes including the NUL.
pub const SOCKET_PATH_MAX: usize = 107;

/// The runner's view of its environment, taken once at start-up.
///
/// Its `Debug` output lists variable names only: values can be API keys.
#[derive(Clone)]
pub struct Environment {
    vars: BTreeMap<OsString, OsString>,
    uid: u32,
    current_exe: Option<PathBuf>,
    cwd: Option<PathBuf>,
    run_user_root: PathBuf,
    group_lookup: fn(&str) -> Option<u32>,
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Environment")
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .field("uid", &self.uid)
            .field("current_exe", &self.current_exe)
            .field("cwd", &self.cwd)
            .field("run_user_root", &self.run_user_root)
            .finish_non_exhaustive()
    }
}

impl Environment {
    /// The process's environment variables, real uid, executable path, working directory,
    /// `/run/user` and the system group database.
    pub fn capture() -> Self {
        Self {
            vars: std::env::vars_os().collect(),
            uid: nix::unistd::getuid().as_raw(),
            current_exe: std::env::current_exe().ok(),
            cwd: std::env::current_dir().ok(),
            run_user_root: PathBuf::from("/run/user"),
            group_lookup: system_group,
        }
    }

    /// No variables, no executable or working directory, no groups: a base for tests.
    /// `/run/user` is still the real one; see [`Environment::with_run_user_root`].
    pub fn empty(uid: u32) -> Self {
        Self {
            vars: BTreeMap::new(),
            uid,
            current_exe: None,
            cwd: None,
            run_user_root: PathBuf::from("/run/user"),
            group_lookup: |_| None,
        }
    }

    #[must_use]
    pub fn with_var(mut self, name: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// The same machine with exactly these variables (a harness's own environment).
    #[must_use]
    pub fn with_vars(mut self, vars: BTreeMap<OsString, OsString>) -> Self {
        self.vars = vars;
        self
    }

    #[must_use]
    pub fn without_var(mut self, name: &str) -> Self {
        self.vars.remove(OsStr::new(name));
        self
    }

    #[must_use]
    pub fn with_current_exe(mut self, exe: impl Into<PathBuf>) -> Self {
        self.current_exe = Some(exe.into());
        self
    }

    #[must_use]
    pub fn with_cwd(mut self, cwd: impl Into<PathBuf>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// Where per-user runtime directories are (`/run/user`), for the socket fallback.
    #[must_use]
    pub fn with_run_user_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.run_user_root = root.into();
        self
    }

    /// How group names in `allow_groups` become gids.
    #[must_use]
    pub fn with_group_lookup(mut self, lookup: fn(&str) -> Option<u32>) -> Self {
        self.group_lookup = lookup;
        self
    }

    /// A variable's value, `None` when unset.
    pub fn var(&self, name: &str) -> Option<&OsStr> {
        self.vars.get(OsStr::new(name)).map(OsString::as_os_str)
    }

    /// A variable's value, `None` when unset or empty.
    pub fn var_nonempty(&self, name: &str) -> Option<&OsStr> {
        self.var(name).filter(|v| !v.is_empty())
    }

    /// Every variable, sorted by name.
    pub fn vars(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.as_os_str(), v.as_os_str()))
    }

    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The runner's own executable, when known.
    pub fn current_exe(&self) -> Option<&Path> {
        self.current_exe.as_deref()
    }

    pub fn cwd(&self) -> Option<&Path> {
        self.cwd.as_deref()
    }

    /// The gid of a group name.
    pub fn group_gid(&self, name: &str) -> Option<u32> {
        (self.group_lookup)(name)
    }

    /// `HOME`, if set to an absolute path.
    pub fn home(&self) -> Option<PathBuf> {
        self.absolute_var("HOME")
    }

    /// An XDG base directory variable: per the spec, unset, empty and relative values are
    /// ignored.
    pub fn absolute_var(&self, name: &str) -> Option<PathBuf> {
        self.var_nonempty(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    }

    /// `$XDG_<NAME>` or `$HOME/<fallback>`.
    fn xdg_dir(
        &self,
        xdg: &'static str,
        fallback: &str,
        what: &'static str,
    ) -> Result<PathBuf, PathError> {
        self.absolute_var(xdg)
            .or_else(|| self.home().map(|home| home.join(fallback)))
            .ok_or(PathError::NoHome { what, xdg })
    }

    /// A path from the command line, made absolute against the working directory.
    fn absolute(&self, path: &Path) -> PathBuf {
        match &self.cwd {
            Some(cwd) if path.is_relative() => normalize(&cwd.join(path)),
            _ => path.to_owned(),
        }
    }
}

fn system_group(name: &str) -> Option<u32> {
    nix::unistd::Group::from_name(name)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw())
}

/// Removes `.` and `..` components lexically (without touching the file system).
pub(super) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Why a path could not be worked out.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error("cannot locate the {what}: neither {xdg} nor HOME is set to an absolute path")]
    NoHome {
        what: &'static str,
        xdg: &'static str,
    },
    #[error(
        "socket path {} is {len} bytes long, but a Unix socket path must be shorter than 108 bytes; choose a shorter one with --socket or `socket` in runner.toml",
        path.display()
    )]
    SocketTooLong { path: PathBuf, len: usize },
}

/// Paths given on the command line (`--socket`, `--data-dir`, `--config`); they win over
/// the file and the environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    pub socket: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub config: Option<PathBuf>,
}

/// Which rule chose the socket path (for `doctor` and logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketSource {
    /// `--socket`.
    Flag,
    /// `socket` in `runner.toml`.
    Config,
    /// `$XDG_RUNTIME_DIR/oqto/runner.sock`.
    XdgRuntimeDir,
    /// `/run/user/<uid>/oqto/runner.sock`: `XDG_RUNTIME_DIR` was unset (cron, `su`) but the
    /// user's runtime directory exists and is private.
    RunUser,
    /// `$XDG_STATE_HOME/oqto/run/runner.sock`: no runtime directory at all.
    StateDir,
}

impl fmt::Display for SocketSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SocketSource::Flag => "--socket",
            SocketSource::Config => "runner.toml",
            SocketSource::XdgRuntimeDir => "XDG_RUNTIME_DIR",
            SocketSource::RunUser => "/run/user fallback (XDG_RUNTIME_DIR unset)",
            SocketSource::StateDir => "state directory fallback (no runtime directory)",
        })
    }
}

/// The config file to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigFile {
    pub path: PathBuf,
    /// Named by `--config`: a missing file is then an error, not the defaults.
    pub explicit: bool,
}

/// The resolved locations of everything the runner reads and writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// The config file (which need not exist when it is the default one).
    pub config_file: PathBuf,
    /// The Unix socket clients connect to; its directory is created 0700.
    pub socket: PathBuf,
    pub socket_source: SocketSource,
    /// History database and other durable data.
    pub data_dir: PathBuf,
    /// Logs and other state worth keeping across restarts but not backing up.
    pub state_dir: PathBuf,
    /// Files the runner can make again (the demo model's pi agent directory).
    pub cache_dir: PathBuf,
}

impl Paths {
    /// `--config` > `$XDG_CONFIG_HOME/oqto/runner.toml` > `$HOME/.config/oqto/runner.toml`.
    pub fn config_file(flag: Option<&Path>, env: &Environment) -> Result<ConfigFile, PathError> {
        if let Some(path) = flag {
            return Ok(ConfigFile {
                path: env.absolute(path),
                explicit: true,
            });
        }
        let dir = env.xdg_dir("XDG_CONFIG_HOME", ".config", "config file")?;
        Ok(ConfigFile {
            path: dir.join("oqto").join("runner.toml"),
            explicit: false,
        })
    }

    /// Resolves every path. `config_socket` and `config_data_dir` are the file's values
    /// (already absolute).
    pub fn resolve(
        overrides: &Overrides,
        config_socket: Option<&Path>,
        config_data_dir: Option<&Path>,
        config_file: &Path,
        env: &Environment,
    ) -> Result<Self, PathError> {
        let (socket, socket_source) = socket_path(overrides.socket.as_deref(), config_socket, env)?;
        Ok(Self {
            config_file: config_file.to_owned(),
            socket,
            socket_source,
            data_dir: data_dir(overrides.data_dir.as_deref(), config_data_dir, env)?,
            state_dir: state_dir(env)?,
            cache_dir: env
                .xdg_dir("XDG_CACHE_HOME", ".cache", "cache directory")?
                .join("oqto"),
        })
    }
}

/// `--socket` > `socket` in the file > `$XDG_RUNTIME_DIR/oqto/runner.sock` >
/// `/run/user/<uid>/oqto/runner.sock` (if that directory is ours and private) >
/// `$XDG_STATE_HOME/oqto/run/runner.sock` (`$HOME/.local/state/oqto/run/runner.sock`).
///
/// Whichever wins must be shorter than 108 bytes.
pub fn socket_path(
    flag: Option<&Path>,
    configured: Option<&Path>,
    env: &Environment,
) -> Result<(PathBuf, SocketSource), PathError> {
    let (path, source) = if let Some(path) = flag {
        (env.absolute(path), SocketSource::Flag)
    } else if let Some(path) = configured {
        (path.to_owned(), SocketSource::Config)
    } else if let Some(dir) = env.absolute_var("XDG_RUNTIME_DIR") {
        (dir.join("oqto/runner.sock"), SocketSource::XdgRuntimeDir)
    } else {
        let run_user = env.run_user_root.join(env.uid.to_string());
        if is_private_dir(&run_user, env.uid) {
            (run_user.join("oqto/runner.sock"), SocketSource::RunUser)
        } else {
            let state = env.xdg_dir("XDG_STATE_HOME", ".local/state", "runner socket")?;
            (state.join("oqto/run/runner.sock"), SocketSource::StateDir)
        }
    };
    let len = path.as_os_str().len();
    if len > SOCKET_PATH_MAX {
        return Err(PathError::SocketTooLong { path, len });
    }
    Ok((path, source))
}

/// `--data-dir` > `data_dir` in the file > `$XDG_DATA_HOME/oqto` > `$HOME/.local/share/oqto`.
pub fn data_dir(
    flag: Option<&Path>,
    configured: Option<&Path>,
    env: &Environment,
) -> Result<PathBuf, PathError> {
    if let Some(path) = flag {
        return Ok(env.absolute(path));
    }
    if let Some(path) = configured {
        return Ok(path.to_owned());
    }
    Ok(env
        .xdg_dir("XDG_DATA_HOME", ".local/share", "data directory")?
        .join("oqto"))
}

/// `$XDG_STATE_HOME/oqto` > `$HOME/.local/state/oqto`.
pub fn state_dir(env: &Environment) -> Result<PathBuf, PathError> {
    Ok(env
        .xdg_dir("XDG_STATE_HOME", ".local/state", "state directory")?
        .join("oqto"))
}

/// A real directory (not a symlink) owned by `uid`, of mode 0700 (as logind makes
/// `/run/user/<uid>`).
fn is_private_dir(path: &Path, uid: u32) -> bool {
    std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.mode() & 0o777 == 0o700)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn my_uid() -> u32 {
        nix::unistd::getuid().as_raw()
    }

    /// HOME set, nothing else, and a /run/user root that holds nothing.
    fn base(tmp: &Path) -> Environment {
        Environment::empty(my_uid())
            .with_var("HOME", "/home/ada")
            .with_run_user_root(tmp.join("run-user"))
    }

    #[test]
    fn config_file_precedence() {
        let tmp = tempfile::tempdir().unwrap();
        let env = base(tmp.path()).with_cwd("/work");
        let got = Paths::config_file(Some(Path::new("my.toml")), &env).unwrap();
        assert_eq!(
            got,
            ConfigFile {
                path: "/work/my.toml".into(),
                explicit: true
            }
        );
        let got = Paths::config_file(None, &env).unwrap();
        assert_eq!(got.path, Path::new("/home/ada/.config/oqto/runner.toml"));
        assert!(!got.explicit);
        let env = env.with_var("XDG_CONFIG_HOME", "/cfg");
        let got = Paths::config_file(None, &env).unwrap();
        assert_eq!(got.path, Path::new("/cfg/oqto/runner.toml"));
        // A relative XDG value is ignored, as the spec says.
        let env = env.with_var("XDG_CONFIG_HOME", "cfg");
        let got = Paths::config_file(None, &env).unwrap();
        assert_eq!(got.path, Path::new("/home/ada/.config/oqto/runner.toml"));
        let err = Paths::config_file(None, &Environment::empty(1)).unwrap_err();
        assert!(
            err.to_string().contains("XDG_CONFIG_HOME nor HOME"),
            "{err}"
        );
    }

    #[test]
    fn socket_precedence() {
        let tmp = tempfile::tempdir().unwrap();
        let env = base(tmp.path())
            .with_var("XDG_RUNTIME_DIR", "/run/user/1000")
            .with_cwd("/work");
        let flag = Path::new("s.sock");
        let conf = Path::new("/conf/runner.sock");
        assert_eq!(
            socket_path(Some(flag), Some(conf), &env).unwrap(),
            ("/work/s.sock".into(), SocketSource::Flag)
        );
        assert_eq!(
            socket_path(None, Some(conf), &env).unwrap(),
            (conf.into(), SocketSource::Config)
        );
        assert_eq!(
            socket_path(None, None, &env).unwrap(),
            (
                "/run/user/1000/oqto/runner.sock".into(),
                SocketSource::XdgRuntimeDir
            )
        );
    }

    #[test]
    fn socket_fallback_without_xdg_runtime_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("run-user");
        let mine = root.join(my_uid().to_string());
        let env = base(tmp.path()).with_var("XDG_RUNTIME_DIR", "");

        // No /run/user/<uid>: the state directory.
        assert_eq!(
            socket_path(None, None, &env).unwrap(),
            (
                "/home/ada/.local/state/oqto/run/runner.sock".into(),
                SocketSource::StateDir
            )
        );
        let with_state = env.clone().with_var("XDG_STATE_HOME", "/state");
        assert_eq!(
            socket_path(None, None, &with_state).unwrap().0,
            Path::new("/state/oqto/run/runner.sock")
        );

        // A private /run/user/<uid> of ours is used.
        fs::create_dir_all(&mine).unwrap();
        fs::set_permissions(&mine, fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(
            socket_path(None, None, &env).unwrap(),
            (mine.join("oqto/runner.sock"), SocketSource::RunUser)
        );

        // One that others can enter is not.
        fs::set_permissions(&mine, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            socket_path(None, None, &env).unwrap().1,
            SocketSource::StateDir
        );

        // Nor one owned by someone else (the uid does not match).
        fs::set_permissions(&mine, fs::Permissions::from_mode(0o700)).unwrap();
        let other = Environment::empty(my_uid().wrapping_add(1))
            .with_var("HOME", "/home/ada")
            .with_run_user_root(&root);
        assert_eq!(
            socket_path(None, None, &other).unwrap().1,
            SocketSource::StateDir
        );

        // Nothing at all to go on.
        let bare = Environment::empty(my_uid()).with_run_user_root(root.join("none"));
        let err = socket_path(None, None, &bare).unwrap_err();
        assert!(err.to_string().contains("runner socket"), "{err}");
    }

    #[test]
    fn too_long_socket_path_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let long = format!("/{}", "d".repeat(100));
        let env = base(tmp.path()).with_var("XDG_RUNTIME_DIR", &long);
        let err = socket_path(None, None, &env).unwrap_err();
        let PathError::SocketTooLong { len, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(*len, long.len() + "/oqto/runner.sock".len());
        assert!(err.to_string().contains("shorter than 108 bytes"), "{err}");
        // 107 bytes is the longest that fits.
        let exact = format!("/{}", "x".repeat(SOCKET_PATH_MAX - 1));
        assert!(socket_path(Some(Path::new(&exact)), None, &env).is_ok());
        let over = format!("{exact}y");
        assert!(socket_path(Some(Path::new(&over)), None, &env).is_err());
    }

    #[test]
    fn data_and_state_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let env = base(tmp.path()).with_cwd("/work");
        assert_eq!(
            data_dir(None, None, &env).unwrap(),
            Path::new("/home/ada/.local/share/oqto")
        );
        let xdg = env.clone().with_var("XDG_DATA_HOME", "/data");
        assert_eq!(data_dir(None, None, &xdg).unwrap(), Path::new("/data/oqto"));
        assert_eq!(
            data_dir(None, Some(Path::new("/conf/data")), &xdg).unwrap(),
            Path::new("/conf/data")
        );
        assert_eq!(
            data_dir(Some(Path::new("../d")), Some(Path::new("/conf/data")), &xdg).unwrap(),
            Path::new("/d")
        );
        assert_eq!(
            state_dir(&env).unwrap(),
            Path::new("/home/ada/.local/state/oqto")
        );
        let xdg = env.with_var("XDG_STATE_HOME", "/st");
        assert_eq!(state_dir(&xdg).unwrap(), Path::new("/st/oqto"));
    }

    #[test]
    fn debug_hides_values() {
        let env = Environment::empty(1).with_var("OPENAI_API_KEY", "sk-secret");
        let shown = format!("{env:?}");
        assert!(shown.contains("OPENAI_API_KEY"));
        assert!(!shown.contains("sk-secret"));
    }
}
