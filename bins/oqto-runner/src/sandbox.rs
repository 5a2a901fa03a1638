//! Starting harnesses through `oqto-sandbox`.
//!
//! Every harness runs as `oqto-sandbox --profile P --workspace CWD [caller options] --
//! <harness argv>`. There is no fallback: when `oqto-sandbox` is missing or the policy
//! cannot be loaded, the harness does not start and the session says why. Only
//! `enabled = false` in the user's or the system's sandbox policy runs harnesses
//! unconfined, and then the stored policy says so.
//!
//! The runner adds, as the caller (see docs/sandbox.md, "Caller options"):
//! - `--expose` for the harness's install directory (and its script interpreter's) when it
//!   lies outside the system directories, so a pi installed in the repository's
//!   `.local/pi` or a harness in `target/debug` can run under any profile;
//! - `--deny` for the runner's own directories (socket, data, state): an agent must not
//!   reach the runner's socket (it could start sessions of its own) or other sessions'
//!   history and logs;
//! - `--pass-env` for the variables the harness's `env` table in runner.toml sets: the
//!   owner wrote them for that harness. Inherited variables still pass only when the
//!   sandbox policy's `env_allow` lets them.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

use oqto_sandbox_core::PolicyArgs;

use crate::config::{Config, Environment};

/// Variables `oqto-sandbox` reads to find and expand the policy, passed to it from the
/// runner's environment even when the harness does not inherit them. They do not reach
/// the harness unless the policy's `env_allow` lets them.
pub const POLICY_VARS: &[&str] = &[
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
    "OQTO_SANDBOX_SYSTEM_CONFIG",
    "OQTO_SANDBOX_BWRAP",
];

/// System directories every profile shows read-only; nothing in them needs exposing.
const SYSTEM_DIRS: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc"];

/// A harness command line wrapped in `oqto-sandbox`, and the policy it runs under.
#[derive(Debug)]
pub struct Confined {
    /// `oqto-sandbox`, its options, `--`, then the harness's argv.
    pub argv: Vec<OsString>,
    /// The environment to start `oqto-sandbox` with: the harness's plus what the policy
    /// lookup needs.
    pub env: BTreeMap<OsString, OsString>,
    /// `oqto-sandbox explain --json` for the same options (version 1 of that format).
    pub policy: serde_json::Value,
}

/// What to confine.
#[derive(Debug)]
pub struct Request<'a> {
    pub profile: &'a str,
    /// The session's working directory: the sandbox's workspace.
    pub cwd: &'a Path,
    pub harness_argv: Vec<OsString>,
    /// The harness's environment.
    pub env: BTreeMap<OsString, OsString>,
    /// The runner's own environment (for [`POLICY_VARS`]).
    pub runner_env: &'a Environment,
    /// Names of variables the runner sets for the harness itself.
    pub pass_env: Vec<String>,
    /// `--tty`: the command runs on a terminal the runner made for it (a terminal, never a
    /// harness, whose stdio are pipes), and keeps it as its controlling terminal.
    pub tty: bool,
}

/// Wraps the harness command line; `Err` is a message for the session's `reason`.
pub fn confine(config: &Config, mut req: Request<'_>) -> Result<Confined, String> {
    let program = config.sandbox_program(req.runner_env).map_err(|e| {
        format!(
            "cannot start the harness confined: {e}; build or install oqto-sandbox next to oqto-runner, or set runner.sandbox_command"
        )
    })?;
    for name in POLICY_VARS {
        if let Some(value) = req.runner_env.var(name) {
            req.env
                .entry(OsString::from(name))
                .or_insert_with(|| value.to_owned());
        }
    }
    let home = req.env.get(OsStr::new("HOME")).map(PathBuf::from);
    let path_var = req.env.get(OsStr::new("PATH")).map(OsString::as_os_str);
    let harness = Path::new(&req.harness_argv[0]);
    let expose = install_dirs(harness, path_var, home.as_deref());
    let own = [
        config.paths.socket.parent().map(Path::to_path_buf),
        Some(config.paths.data_dir.clone()),
        Some(config.paths.state_dir.clone()),
    ];
    let deny: Vec<PathBuf> = own
        .into_iter()
        .flatten()
        .filter(|dir| !req.cwd.starts_with(dir))
        .collect();
    let options = PolicyArgs {
        profile: Some(req.profile.to_owned()),
        configs: Vec::new(),
        workspace: Some(req.cwd.to_path_buf()),
        expose,
        deny,
        pass_env: req.pass_env,
        tty: req.tty,
    };
    let vars: Vec<(OsString, OsString)> = req
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let policy = oqto_sandbox_core::explain_json(vars, req.cwd.to_path_buf(), &options)
        .map_err(|e| format!("sandbox policy: {e:#}"))?;
    let mut argv = vec![program.path.clone().into_os_string()];
    argv.extend(options.to_args());
    argv.push("--".into());
    argv.extend(req.harness_argv);
    Ok(Confined {
        argv,
        env: req.env,
        policy,
    })
}

/// The directories a harness program needs to be visible to run: its install prefix, and
/// its script interpreter's (`#!/usr/bin/env node`), unless they are system directories
/// (always visible). Never the home directory or an ancestor of it: that would show all of
/// home under a profile that hides it.
pub fn install_dirs(program: &Path, path_var: Option<&OsStr>, home: Option<&Path>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut programs = vec![program.to_path_buf()];
    if let Some(interpreter) = interpreter(program, path_var) {
        programs.push(interpreter);
    }
    for program in programs {
        let mut paths = vec![program.clone()];
        if let Ok(real) = std::fs::canonicalize(&program) {
            if real != program {
                paths.push(real);
            }
        }
        for path in paths {
            if let Some(dir) = prefix_of(&path, home) {
                if !out.iter().any(|d| dir.starts_with(d)) {
                    out.retain(|d| !d.starts_with(&dir));
                    out.push(dir);
                }
            }
        }
    }
    out
}

/// The install prefix of one program path: `<prefix>` for `<prefix>/bin/x`, the directory
/// above the first `node_modules` for a file inside one, else the program's directory.
fn prefix_of(path: &Path, home: Option<&Path>) -> Option<PathBuf> {
    let dir = path.parent()?;
    let covers_home = |p: &Path| home.is_some_and(|h| h.starts_with(p));
    let allowed = |p: &Path| {
        p.is_absolute()
            && p != Path::new("/")
            && !covers_home(p)
            && !SYSTEM_DIRS.iter().any(|s| p.starts_with(s))
    };
    let node_root = path
        .components()
        .position(|c| c == Component::Normal(OsStr::new("node_modules")))
        .map(|i| path.components().take(i).collect::<PathBuf>());
    let candidates = [
        node_root,
        (dir.file_name() == Some(OsStr::new("bin")))
            .then(|| dir.parent().map(Path::to_path_buf))
            .flatten(),
        Some(dir.to_path_buf()),
    ];
    candidates.into_iter().flatten().find(|p| allowed(p))
}

/// The interpreter of a `#!` script: the absolute path it names, or for `/usr/bin/env NAME`
/// the program `NAME` found on `path_var`.
fn interpreter(program: &Path, path_var: Option<&OsStr>) -> Option<PathBuf> {
    let mut head = [0u8; 256];
    let n = std::fs::File::open(program).ok()?.read(&mut head).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = line.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split_whitespace();
    let first = PathBuf::from(words.next()?);
    if first.file_name() != Some(OsStr::new("env")) {
        return first.is_absolute().then_some(first);
    }
    let name = words.find(|w| !w.starts_with('-'))?;
    which::which_in(name, path_var, "/").ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn file(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_local_npm_prefix_is_exposed_with_its_interpreter() {
        let t = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(t.path()).unwrap();
        let cli = root.join("repo/.local/pi/lib/node_modules/@scope/pi/dist/cli.js");
        file(&cli, "#!/usr/bin/env node\nconsole.log(1)\n");
        std::fs::create_dir_all(root.join("repo/.local/pi/bin")).unwrap();
        symlink(&cli, root.join("repo/.local/pi/bin/pi")).unwrap();
        let node = root.join("nodes/v20/bin/node");
        file(&node, "");
        std::fs::set_permissions(&node, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let path = std::env::join_paths([root.join("nodes/v20/bin"), "/usr/bin".into()]).unwrap();
        let home = root.join("home");
        let dirs = install_dirs(
            &root.join("repo/.local/pi/bin/pi"),
            Some(&path),
            Some(&home),
        );
        assert_eq!(
            dirs,
            [root.join("repo/.local/pi"), root.join("nodes/v20")],
            "the prefix covers lib/node_modules; node's prefix comes from PATH"
        );
    }

    #[test]
    fn system_dirs_home_and_its_ancestors_are_never_exposed() {
        let t = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(t.path()).unwrap();
        let home = root.join("home");
        // ~/bin/agent: the prefix would be home itself, so only ~/bin is exposed.
        file(&home.join("bin/agent"), "");
        assert_eq!(
            install_dirs(&home.join("bin/agent"), None, Some(&home)),
            [home.join("bin")]
        );
        // A program directly in home, or in /: nothing.
        file(&home.join("agent"), "");
        assert!(install_dirs(&home.join("agent"), None, Some(&home)).is_empty());
        assert!(install_dirs(Path::new("/agent"), None, Some(&home)).is_empty());
        // Under /usr (visible anyway), and a shebang to a system interpreter.
        assert!(install_dirs(Path::new("/usr/bin/sh"), None, Some(&home)).is_empty());
        file(&root.join("tools/run.sh"), "#!/bin/sh -e\necho\n");
        assert_eq!(
            install_dirs(&root.join("tools/run.sh"), None, Some(&home)),
            [root.join("tools")]
        );
        // A cargo build directory: the directory itself.
        file(&root.join("repo/target/debug/oqto-fake-agent"), "\x7fELF");
        assert_eq!(
            install_dirs(
                &root.join("repo/target/debug/oqto-fake-agent"),
                None,
                Some(&home)
            ),
            [root.join("repo/target/debug")]
        );
    }
}
