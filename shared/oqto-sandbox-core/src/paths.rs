//! Paths in policies: `~`, a few `$VARIABLES`, and lexical normalization. Policies are
//! merged on these absolute, normalized paths; symlinks are resolved only when the mounts
//! are built.

use std::os::unix::ffi::OsStrExt as _;
use std::path::{Component, Path, PathBuf};

use crate::host::Host;

/// The values the placeholders of a policy path expand to.
#[derive(Clone, Debug)]
pub struct Vars {
    pub home: PathBuf,
    pub config_home: PathBuf,
    pub cache_home: PathBuf,
    pub data_home: PathBuf,
    pub pi_agent_dir: PathBuf,
    pub workspace: PathBuf,
}

impl Vars {
    pub fn new(host: &Host, workspace: &Path) -> Self {
        Self {
            home: host.home.clone(),
            config_home: host.config_home.clone(),
            cache_home: host.cache_home.clone(),
            data_home: host.data_home.clone(),
            pi_agent_dir: host.pi_agent_dir.clone(),
            workspace: workspace.to_path_buf(),
        }
    }

    fn lookup(&self, name: &str) -> Option<&Path> {
        Some(match name {
            "HOME" => &self.home,
            "XDG_CONFIG_HOME" => &self.config_home,
            "XDG_CACHE_HOME" => &self.cache_home,
            "XDG_DATA_HOME" => &self.data_home,
            "PI_CODING_AGENT_DIR" => &self.pi_agent_dir,
            "WORKSPACE" => &self.workspace,
            _ => return None,
        })
    }
}

/// The placeholders a policy path may start with.
pub const PLACEHOLDERS: &[&str] = &[
    "~",
    "$HOME",
    "$XDG_CONFIG_HOME",
    "$XDG_CACHE_HOME",
    "$XDG_DATA_HOME",
    "$PI_CODING_AGENT_DIR",
    "$WORKSPACE",
];

/// Expands a policy path (`/abs`, `~`, `~/x`, `$VAR`, `$VAR/x`) into an absolute, normalized
/// path. Relative paths, `..` and unknown variables are errors.
pub fn expand(template: &str, vars: &Vars) -> Result<PathBuf, String> {
    let (base, rest): (PathBuf, &str) = if template == "~" {
        (vars.home.clone(), "")
    } else if let Some(rest) = template.strip_prefix("~/") {
        (vars.home.clone(), rest)
    } else if let Some(var) = template.strip_prefix('$') {
        let (name, rest) = var.split_once('/').unwrap_or((var, ""));
        let value = vars.lookup(name).ok_or_else(|| {
            format!(
                "unknown variable `${name}` in path {template:?}: a path may start with {}",
                PLACEHOLDERS.join(", ")
            )
        })?;
        (value.to_path_buf(), rest)
    } else if template.starts_with('/') {
        (PathBuf::from("/"), template)
    } else {
        return Err(format!(
            "path {template:?} is relative: write an absolute path, or start it with {}",
            PLACEHOLDERS.join(", ")
        ));
    };
    normalize(&base.join(rest.trim_start_matches('/')))
        .ok_or_else(|| format!("path {template:?} contains `..`: write it without"))
}

/// Removes `.` components and repeated or trailing slashes; `None` when a `..` remains.
pub fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => out.push(part),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Whether `path` is `dir` or beneath it (component-wise).
///
/// Plans compare every mount against every denied path, so this is hot: for the clean,
/// absolute paths that policies and `realpath` produce, a byte comparison gives the same
/// answer as [`Path::starts_with`] without parsing components; anything else takes the
/// component-wise route.
pub fn is_within(path: &Path, dir: &Path) -> bool {
    let (p, d) = (path.as_os_str().as_bytes(), dir.as_os_str().as_bytes());
    if !(is_clean(p) && is_clean(d)) {
        return path.starts_with(dir);
    }
    is_within_clean(path, dir)
}

/// [`is_within`] for paths known to be clean (canonical, or normalized policy paths):
/// the byte comparison alone. Plans compare every mount with every denied path.
pub fn is_within_clean(path: &Path, dir: &Path) -> bool {
    let (p, d) = (path.as_os_str().as_bytes(), dir.as_os_str().as_bytes());
    debug_assert!(
        is_clean(p) && is_clean(d),
        "{} or {} is not clean",
        path.display(),
        dir.display()
    );
    p.starts_with(d) && (p.len() == d.len() || d == b"/" || p[d.len()] == b'/')
}

/// Whether `path` is absolute and clean (see [`is_within`]): what canonical paths and
/// normalized policy paths are.
pub fn is_clean_path(path: &Path) -> bool {
    is_clean(path.as_os_str().as_bytes())
}

/// Absolute, with no empty, `.` or `..` component and no trailing slash (except `/`).
fn is_clean(path: &[u8]) -> bool {
    if path == b"/" {
        return true;
    }
    path.first() == Some(&b'/')
        && path[1..]
            .split(|b| *b == b'/')
            .all(|part| !matches!(part, b"" | b"." | b".."))
}

/// The number of components: `/` is 0, `/a/b` is 2. Sorts mounts parents first.
pub fn depth(path: &Path) -> usize {
    path.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars {
            home: "/home/u".into(),
            config_home: "/home/u/.config".into(),
            cache_home: "/home/u/.cache".into(),
            data_home: "/home/u/.local/share".into(),
            pi_agent_dir: "/home/u/.pi/agent".into(),
            workspace: "/w".into(),
        }
    }

    #[test]
    fn placeholders_expand() {
        let v = vars();
        assert_eq!(expand("~", &v).unwrap(), Path::new("/home/u"));
        assert_eq!(expand("~/.ssh/", &v).unwrap(), Path::new("/home/u/.ssh"));
        assert_eq!(
            expand("$PI_CODING_AGENT_DIR/sessions", &v).unwrap(),
            Path::new("/home/u/.pi/agent/sessions")
        );
        assert_eq!(
            expand("$WORKSPACE/.git/hooks", &v).unwrap(),
            Path::new("/w/.git/hooks")
        );
        assert_eq!(expand("//etc/./x", &v).unwrap(), Path::new("/etc/x"));
        assert_eq!(expand("/", &v).unwrap(), Path::new("/"));
    }

    #[test]
    fn bad_paths_are_errors() {
        let v = vars();
        assert!(expand("relative/x", &v).unwrap_err().contains("relative"));
        assert!(expand("~/../etc", &v).unwrap_err().contains(".."));
        assert!(
            expand("$NOPE/x", &v)
                .unwrap_err()
                .contains("unknown variable")
        );
        assert!(expand("~user/x", &v).unwrap_err().contains("relative"));
    }

    #[test]
    fn within_is_component_wise() {
        assert!(is_within(Path::new("/a/b"), Path::new("/a")));
        assert!(is_within(Path::new("/a"), Path::new("/a")));
        assert!(!is_within(Path::new("/ab"), Path::new("/a")));
        assert!(is_within(Path::new("/a"), Path::new("/")));
        assert!(is_within(Path::new("/"), Path::new("/")));
        assert!(!is_within(Path::new("/"), Path::new("/a")));
        assert!(!is_within(Path::new("/a"), Path::new("/a/b")));
    }

    /// The byte comparison agrees with `Path::starts_with` everywhere, clean or not.
    #[test]
    fn within_agrees_with_components() {
        let parts = ["", "a", "ab", ".", "..", "a/b", "/"];
        let mut paths = vec![String::from("/")];
        for x in parts {
            for y in parts {
                paths.push(format!("/{x}"));
                paths.push(format!("/{x}/{y}"));
                paths.push(format!("{x}/{y}"));
                paths.push(format!("/{x}/{y}/"));
            }
        }
        for p in &paths {
            for d in &paths {
                assert_eq!(
                    is_within(Path::new(p), Path::new(d)),
                    Path::new(p).starts_with(d),
                    "{p:?} within {d:?}"
                );
            }
        }
        assert_eq!(depth(Path::new("/")), 0);
        assert_eq!(depth(Path::new("/a/b")), 2);
    }
}
